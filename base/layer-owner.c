/* SPDX-License-Identifier: MIT */
#include "layer-owner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

/*
 * By fd: its /proc link, followed (O_PATH fds have no f*xattr calls); by
 * (dirfd, name): the l* calls, which never follow the last component.
 */
static void xattr_path(char *buf, size_t size, int fd, int dirfd, const char *name)
{
	if (fd >= 0)
		snprintf(buf, size, "/proc/self/fd/%d", fd);
	else
		snprintf(buf, size, "/proc/self/fd/%d/%s", dirfd, name);
}

bool layer_owner_in_xattr(mode_t mode)
{
	return S_ISREG(mode) || S_ISDIR(mode);
}

void layer_owner_get(const struct idshift real[2], int fd, int dirfd, const char *name, const struct stat *st,
		     uid_t *ret_uid, gid_t *ret_gid)
{
	char path[64 + NAME_MAX], value[64];
	unsigned u, g;
	ssize_t n;

	*ret_uid = 0;
	*ret_gid = 0;
	if (!layer_owner_in_xattr(st->st_mode)) {
		uint32_t ru, rg;

		if (!real)
			return;
		if (idshift_to_inside(&real[0], st->st_uid, &ru) && idshift_to_inside(&real[1], st->st_gid, &rg)) {
			*ret_uid = ru;
			*ret_gid = rg;
		} else {
			/* not the user's, not the range's: nobody we can name */
			*ret_uid = IDMAP_OVERFLOW;
			*ret_gid = IDMAP_OVERFLOW;
		}
		return;
	}
	xattr_path(path, sizeof(path), fd, dirfd, name);
	n = fd >= 0 ? getxattr(path, LAYER_OWNER_XATTR, value, sizeof(value) - 1)
		    : lgetxattr(path, LAYER_OWNER_XATTR, value, sizeof(value) - 1);
	if (n <= 0)
		return;
	value[n] = '\0';
	if (sscanf(value, "%u:%u", &u, &g) == 2) {
		*ret_uid = u;
		*ret_gid = g;
	}
}

int layer_owner_chown(int fd, int dirfd, const char *name, uid_t uid, gid_t gid)
{
	int r = fd >= 0 ? fchownat(fd, "", uid, gid, AT_EMPTY_PATH) : fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
	return r < 0 ? -errno : 0;
}

int layer_owner_set(bool chown_special, int fd, int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	char path[64 + NAME_MAX], value[64];
	int r;

	if (!layer_owner_in_xattr(mode)) {
		if (chown_special)
			return layer_owner_chown(fd, dirfd, name, uid, gid);
		return uid == 0 && gid == 0 ? 0 : -EPERM;
	}
	xattr_path(path, sizeof(path), fd, dirfd, name);
	if (uid == 0 && gid == 0) {
		r = fd >= 0 ? removexattr(path, LAYER_OWNER_XATTR) : lremovexattr(path, LAYER_OWNER_XATTR);
		return r < 0 && errno != ENODATA ? -errno : 0;
	}
	snprintf(value, sizeof(value), "%u:%u", (unsigned) uid, (unsigned) gid);
	r = fd >= 0 ? setxattr(path, LAYER_OWNER_XATTR, value, strlen(value), 0)
		    : lsetxattr(path, LAYER_OWNER_XATTR, value, strlen(value), 0);
	return r < 0 ? -errno : 0;
}
