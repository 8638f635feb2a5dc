/* SPDX-License-Identifier: MIT */
/*
 * Owners.  Privileged, the upper layer holds real owners, as the sandbox gave
 * them.  Rootless, every real file belongs to the daemon's user, who stands
 * for root; any other owner is kept in user.isofs.owner ("UID:GID"), the same
 * form `isofs image import` writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "overlay.h"

#define OWNER_XATTR "user.isofs.owner"

static ssize_t xattr_get(int fd, int dirfd, const char *name, const char *key, char *buf, size_t size)
{
	char path[64 + NAME_MAX];

	if (fd >= 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		return getxattr(path, key, buf, size);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	return lgetxattr(path, key, buf, size);
}

static int xattr_set(int fd, int dirfd, const char *name, const char *key, const char *value)
{
	char path[64 + NAME_MAX];
	int r;

	if (fd >= 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		r = setxattr(path, key, value, strlen(value), 0);
	} else {
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
		r = lsetxattr(path, key, value, strlen(value), 0);
	}
	return r < 0 ? -errno : 0;
}

static int xattr_remove(int fd, int dirfd, const char *name, const char *key)
{
	char path[64 + NAME_MAX];
	int r;

	if (fd >= 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		r = removexattr(path, key);
	} else {
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
		r = lremovexattr(path, key);
	}
	return r < 0 && errno != ENODATA ? -errno : 0;
}

int ovl_set_owner(struct ovl_fs *fs, int fd, int dirfd, const char *name, uid_t uid, gid_t gid)
{
	char value[64];
	struct stat st;
	int r;

	if (fs->privileged) {
		/* AT_EMPTY_PATH: fd may be an O_PATH one (directories, removed files), which fchown refuses */
		r = fd >= 0 ? fchownat(fd, "", uid, gid, AT_EMPTY_PATH)
			    : fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
		return r < 0 ? -errno : 0;
	}
	/* Logical ids: the presented root is 0. */
	if (uid == fs->root_uid)
		uid = 0;
	if (gid == fs->root_gid)
		gid = 0;
	r = fd >= 0 ? fstat(fd, &st) : fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW);
	if (r < 0)
		return -errno;
	/*
	 * user.* xattrs exist on regular files and directories only: symlinks,
	 * fifos, sockets and devices belong to the presented root, and can
	 * belong to nobody else.
	 */
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return uid == 0 && gid == 0 ? 0 : -EPERM;
	if (uid == 0 && gid == 0)
		return xattr_remove(fd, dirfd, name, OWNER_XATTR);
	snprintf(value, sizeof(value), "%u:%u", (unsigned) uid, (unsigned) gid);
	return xattr_set(fd, dirfd, name, OWNER_XATTR, value);
}

void ovl_present_owner(struct ovl_fs *fs, int fd, int dirfd, const char *name, struct stat *st)
{
	char value[64];
	unsigned u, g;
	ssize_t n;

	if (fs->privileged)
		return;
	st->st_uid = fs->root_uid;
	st->st_gid = fs->root_gid;
	if (S_ISLNK(st->st_mode))
		return;
	n = xattr_get(fd, dirfd, name, OWNER_XATTR, value, sizeof(value) - 1);
	if (n <= 0)
		return;
	value[n] = '\0';
	if (sscanf(value, "%u:%u", &u, &g) == 2) {
		st->st_uid = u == 0 ? fs->root_uid : u;
		st->st_gid = g == 0 ? fs->root_gid : g;
	}
}
