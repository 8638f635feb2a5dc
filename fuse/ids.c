/* SPDX-License-Identifier: MIT */
/*
 * Owners as the view presents them.  Privileged, the layers hold real owners,
 * as the sandbox gave them.  Rootless, logical owners in the layer format of
 * base/layer-owner.h: user.isofs.owner for files and directories, a real
 * subordinate id for symlinks, fifos and sockets when the server runs in the
 * namespace of the user's range (fs->special_owners).
 * Requests and replies speak the connection's ids, which fs->conn turns into
 * logical ones: the same ids when the connection was made in the sandbox's
 * namespace, the subordinate map when it was made on the host (fusermount3).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer-owner.h"
#include "overlay.h"

/* The server's real ids are logical ones in the namespace of the range: nothing to translate. */
static const struct idmap same_ids = { .kind = IDMAP_ROOT_RANGE };

static void logical_owner(struct ovl_fs *fs, int fd, int dirfd, const char *name, const struct stat *real,
			  uid_t *uid, gid_t *gid)
{
	layer_owner_get(fs->special_owners ? &same_ids : NULL, fd, dirfd, name, real, uid, gid);
}

bool ovl_owner_is_default(struct ovl_fs *fs, uid_t uid, gid_t gid)
{
	uid_t lu;
	gid_t lg;

	if (fs->privileged)
		return uid == fs->caller_uid && gid == fs->caller_gid;
	return idmap_uid_to_logical(&fs->conn, uid, &lu) && idmap_gid_to_logical(&fs->conn, gid, &lg) && lu == 0 &&
	       lg == 0;
}

int ovl_set_owner(struct ovl_fs *fs, int fd, int dirfd, const char *name, uid_t uid, gid_t gid)
{
	struct stat st;
	uid_t lu;
	gid_t lg;

	if (fs->privileged)
		return layer_owner_chown(fd, dirfd, name, uid, gid);
	/* an id the sandbox's namespace has no name for: what chown(2) says there */
	if (!idmap_uid_to_logical(&fs->conn, uid, &lu) || !idmap_gid_to_logical(&fs->conn, gid, &lg))
		return -EINVAL;
	if ((fd >= 0 ? fstat(fd, &st) : fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) < 0)
		return -errno;
	return layer_owner_set(fs->special_owners, fd, dirfd, name, st.st_mode, lu, lg);
}

void ovl_present_owner(struct ovl_fs *fs, int fd, int dirfd, const char *name, struct stat *st)
{
	uid_t u;
	gid_t g;

	if (fs->privileged)
		return;
	logical_owner(fs, fd, dirfd, name, st, &u, &g);
	st->st_uid = idmap_uid_to_host(&fs->conn, u);
	st->st_gid = idmap_gid_to_host(&fs->conn, g);
}

void ovl_present_new_owner(struct ovl_fs *fs, mode_t mode, uid_t uid, gid_t gid, struct stat *st)
{
	st->st_uid = uid;
	st->st_gid = gid;
	if (!fs->privileged && !layer_owner_in_xattr(mode) && !fs->special_owners) {
		st->st_uid = idmap_uid_to_host(&fs->conn, 0);
		st->st_gid = idmap_gid_to_host(&fs->conn, 0);
	}
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
