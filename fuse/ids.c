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
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer-owner.h"
#include "overlay.h"
#include "stat-override.h"

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
	if (fs->layers[OVL_UPPER].override)
		return false; /* every new object gets its override */
	if (fs->privileged)
		return su == fs->caller_uid && sg == fs->caller_gid;
	return su == 0 && sg == 0;
}

void ovl_stored_attrs(struct ovl_fs *fs, int layer, int fd, int dirfd, const char *name, const struct stat *real,
		      uid_t *uid, gid_t *gid, mode_t *perms)
{
	if (stat_override_get(fs->layers[layer].override, fd, dirfd, name, uid, gid, perms))
		return;
	*perms = real->st_mode & 07777;
	*uid = real->st_uid;
	*gid = real->st_gid;
	if (!fs->privileged)
		logical_owner(fs, fd, dirfd, name, real, uid, gid);
}

int ovl_store_attrs(struct ovl_fs *fs, int fd, int dirfd, const char *name, mode_t type, uid_t uid, gid_t gid,
		    mode_t perms, unsigned what)
{
	enum stat_override ov = fs->layers[OVL_UPPER].override;
	int r = 0;

	if (ov && !S_ISLNK(type))
		return stat_override_set(ov, fd, dirfd, name, type, uid, gid, perms);
	if (what & OVL_ATTR_OWNER) {
		r = fs->privileged ? layer_owner_chown(fd, dirfd, name, uid, gid)
				   : layer_owner_set(fs->special_owners, fd, dirfd, name, type, uid, gid);
		/* a copy keeps what its source could keep: a symlink of another's without a range is root's */
		if (r == -EPERM && (what & OVL_ATTR_COPY) && !fs->privileged && !layer_owner_in_xattr(type))
			r = 0;
		if (r < 0)
			return r;
	}
	/* after chown, which clears setuid and setgid */
	if ((what & OVL_ATTR_MODE) && !S_ISLNK(type)) {
		char path[32];

		/* by fd: its /proc link (an O_PATH fd has no fchmod) */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (fd >= 0 ? chmod(path, perms) < 0 : fchmodat(dirfd, name, perms, 0) < 0)
			return -errno;
	}
	return 0;
}

int ovl_set_owner(struct ovl_fs *fs, int fd, int dirfd, const char *name, uid_t uid, gid_t gid)
{
	struct stat st;
	uid_t su, cu;
	gid_t sg, cg;
	mode_t perms;

	stored_ids(fs, uid, gid, &su, &sg);
	/* a plain chown needs no stat: every create and chown of a privileged view takes this path */
	if (fs->privileged && !fs->layers[OVL_UPPER].override)
		return layer_owner_chown(fd, dirfd, name, su, sg);
	if ((fd >= 0 ? fstat(fd, &st) : fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) < 0)
		return -errno;
	perms = st.st_mode & 07777;
	/* an override keeps owner and mode in one value: the mode it has now goes with the new owner */
	if (fs->layers[OVL_UPPER].override)
		ovl_stored_attrs(fs, OVL_UPPER, fd, dirfd, name, &st, &cu, &cg, &perms);
	return ovl_store_attrs(fs, fd, dirfd, name, st.st_mode, su, sg, perms, OVL_ATTR_OWNER);
}

int ovl_set_mode(struct ovl_fs *fs, int fd, int dirfd, const char *name, mode_t perms)
{
	struct stat st;
	uid_t u;
	gid_t g;
	mode_t cur;

	if ((fd >= 0 ? fstat(fd, &st) : fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode))
		return -EOPNOTSUPP;
	ovl_stored_attrs(fs, OVL_UPPER, fd, dirfd, name, &st, &u, &g, &cur);
	return ovl_store_attrs(fs, fd, dirfd, name, st.st_mode, u, g, perms & 07777, OVL_ATTR_MODE);
}

void ovl_present_owner(struct ovl_fs *fs, int layer, int fd, int dirfd, const char *name, struct stat *st)
{
	uid_t u = st->st_uid;
	gid_t g = st->st_gid;
	mode_t perms = st->st_mode & 07777;

	if (fs->layers[layer].override || !fs->privileged)
		ovl_stored_attrs(fs, layer, fd, dirfd, name, st, &u, &g, &perms);
	st->st_mode = (st->st_mode & S_IFMT) | perms;
	presented_ids(fs, u, g, st);
}

void ovl_present_new_owner(struct ovl_fs *fs, mode_t mode, uid_t uid, gid_t gid, struct stat *st)
{
	uid_t su;
	gid_t sg;

	stored_ids(fs, uid, gid, &su, &sg);
	if (!fs->privileged && !fs->layers[OVL_UPPER].override && !layer_owner_in_xattr(mode) && !fs->special_owners)
		su = sg = 0; /* nowhere to keep another owner: made as root's */
	presented_ids(fs, su, sg, st);
}

int ovl_copy_attrs(struct ovl_fs *fs, int layer, int from_fd, int from_dirfd, const char *from_name,
		   const struct stat *from, int to_fd, int to_dirfd, const char *to_name)
{
	uid_t u;
	gid_t g;
	mode_t perms;

	ovl_stored_attrs(fs, layer, from_fd, from_dirfd, from_name, from, &u, &g, &perms);
	return ovl_store_attrs(fs, to_fd, to_dirfd, to_name, from->st_mode, u, g, perms,
			       OVL_ATTR_OWNER | OVL_ATTR_MODE | OVL_ATTR_COPY);
}
