/* SPDX-License-Identifier: MIT */
/*
 * Owners as the view presents them.  Privileged, the layers hold real owners,
 * as the sandbox gave them.  Rootless, logical owners in the layer format of
 * base/layer-owner.h: user.isofs.owner for files and directories, a real
 * subordinate id for symlinks, fifos and sockets when the server runs in the
 * namespace of the user's range (fs->special_owners).
 * Requests and replies speak the connection's ids, which fs->ids shifts from
 * the stored ones: no shift when the connection was made in the sandbox's
 * namespace, the subordinate map when it was made on the host (fusermount3),
 * or what uidmapping=/gidmapping= say; squash_to_* present one owner only.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer-owner.h"
#include "overlay.h"

/* In the namespace of the range, the server's real ids are logical ones: no shift. */
static const struct idshift same_ids[2];

static void logical_owner(struct ovl_fs *fs, int fd, int dirfd, const char *name, const struct stat *real,
			  uid_t *uid, gid_t *gid)
{
	layer_owner_get(fs->special_owners ? same_ids : NULL, fd, dirfd, name, real, uid, gid);
}

/* The connection's ids -> stored ones; an id no range has is stored as the overflow id, as fuse-overlayfs does. */
static void stored_ids(struct ovl_fs *fs, uid_t uid, gid_t gid, uid_t *ret_uid, gid_t *ret_gid)
{
	uint32_t u, g;

	*ret_uid = idshift_to_inside(&fs->ids[0], uid, &u) ? u : IDMAP_OVERFLOW;
	*ret_gid = idshift_to_inside(&fs->ids[1], gid, &g) ? g : IDMAP_OVERFLOW;
}

/* Stored ids -> as the connection shows them. */
static void presented_ids(struct ovl_fs *fs, uid_t uid, gid_t gid, struct stat *st)
{
	uint32_t u, g;

	st->st_uid = fs->squash_uid >= 0 ? (uid_t) fs->squash_uid
		     : idshift_to_outside(&fs->ids[0], uid, &u) ? u : IDMAP_OVERFLOW;
	st->st_gid = fs->squash_gid >= 0 ? (gid_t) fs->squash_gid
		     : idshift_to_outside(&fs->ids[1], gid, &g) ? g : IDMAP_OVERFLOW;
}

bool ovl_owner_is_default(struct ovl_fs *fs, uid_t uid, gid_t gid)
{
	uid_t su;
	gid_t sg;

	stored_ids(fs, uid, gid, &su, &sg);
	if (fs->privileged)
		return su == fs->caller_uid && sg == fs->caller_gid;
	return su == 0 && sg == 0;
}

int ovl_set_owner(struct ovl_fs *fs, int fd, int dirfd, const char *name, uid_t uid, gid_t gid)
{
	struct stat st;
	uid_t su;
	gid_t sg;

	stored_ids(fs, uid, gid, &su, &sg);
	if (fs->privileged)
		return layer_owner_chown(fd, dirfd, name, su, sg);
	if ((fd >= 0 ? fstat(fd, &st) : fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) < 0)
		return -errno;
	return layer_owner_set(fs->special_owners, fd, dirfd, name, st.st_mode, su, sg);
}

void ovl_present_owner(struct ovl_fs *fs, int fd, int dirfd, const char *name, struct stat *st)
{
	uid_t u = st->st_uid;
	gid_t g = st->st_gid;

	if (!fs->privileged)
		logical_owner(fs, fd, dirfd, name, st, &u, &g);
	presented_ids(fs, u, g, st);
}

void ovl_present_new_owner(struct ovl_fs *fs, mode_t mode, uid_t uid, gid_t gid, struct stat *st)
{
	uid_t su;
	gid_t sg;

	stored_ids(fs, uid, gid, &su, &sg);
	if (!fs->privileged && !layer_owner_in_xattr(mode) && !fs->special_owners)
		su = sg = 0; /* nowhere to keep another owner: made as root's */
	presented_ids(fs, su, sg, st);
}

int ovl_copy_owner(struct ovl_fs *fs, int from_fd, int to_fd)
{
	struct stat st;
	uid_t u;
	gid_t g;

	if (fstat(from_fd, &st) < 0)
		return -errno;
	if (fs->privileged)
		return layer_owner_chown(to_fd, -1, NULL, st.st_uid, st.st_gid);
	logical_owner(fs, from_fd, -1, NULL, &st, &u, &g);
	return layer_owner_set(fs->special_owners, to_fd, -1, NULL, st.st_mode, u, g);
}

int ovl_copy_real_owner(struct ovl_fs *fs, const struct stat *st, int dirfd, const char *name)
{
	/* rootless, files and directories keep theirs in user.isofs.owner, which the xattrs carry over */
	if (!fs->privileged && (layer_owner_in_xattr(st->st_mode) || !fs->special_owners))
		return 0;
	return layer_owner_chown(-1, dirfd, name, st->st_uid, st->st_gid);
}
