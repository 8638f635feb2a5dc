/* SPDX-License-Identifier: MIT */
#include "stat-override.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

static const char *const names[] = {
	[STAT_OVERRIDE_PRIVILEGED] = "security.fuseoverlayfs.override_stat",
	[STAT_OVERRIDE_CONTAINERS] = "user.containers.override_stat",
	[STAT_OVERRIDE_USER] = "user.fuseoverlayfs.override_stat",
};

const char *stat_override_xattr(enum stat_override kind)
{
	return kind > STAT_OVERRIDE_NONE && kind <= STAT_OVERRIDE_USER ? names[kind] : NULL;
}

bool stat_override_is_xattr(const char *name)
{
	for (int k = STAT_OVERRIDE_PRIVILEGED; k <= STAT_OVERRIDE_USER; k++)
		if (strcmp(name, names[k]) == 0)
			return true;
	return false;
}

enum stat_override stat_override_of_layer(int rootfd)
{
	char path[32], v[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", rootfd);
	for (int k = STAT_OVERRIDE_PRIVILEGED; k <= STAT_OVERRIDE_USER; k++)
		if (getxattr(path, names[k], v, sizeof(v)) >= 0)
			return (enum stat_override) k;
	return STAT_OVERRIDE_NONE;
}

/* Digits in `base` up to `end` or `stop`, at most `max`; *p moves past them. */
static bool number(const char **p, const char *end, unsigned base, char stop, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	const char *s = *p;

	while (s < end && *s != stop) {
		unsigned d = (unsigned) (*s - '0');
		if (*s < '0' || d >= base || v > (max - d) / base)
			return false;
		v = v * base + d;
		s++;
	}
	if (s == *p)
		return false;
	*p = s;
	*ret = v;
	return true;
}

bool stat_override_parse(const char *value, size_t len, uid_t *uid, gid_t *gid, mode_t *perms)
{
	const char *p = value, *end = value + len;
	uint64_t u, g, m;

	if (!number(&p, end, 10, ':', UINT32_MAX - 1, &u) || p == end || *p++ != ':' ||
	    !number(&p, end, 10, ':', UINT32_MAX - 1, &g) || p == end || *p++ != ':' ||
	    !number(&p, end, 8, ':', 0177777, &m))
		return false;
	/* the mode may carry the type bits (fuse-overlayfs writes them) and more fields after it: the type stays the inode's */
	if (p != end && *p != ':')
		return false;
	*uid = (uid_t) u;
	*gid = (gid_t) g;
	*perms = (mode_t) m & 07777;
	return true;
}

static void xpath(char *buf, size_t size, int fd, int dirfd, const char *name)
{
	if (fd >= 0)
		snprintf(buf, size, "/proc/self/fd/%d", fd);
	else
		snprintf(buf, size, "/proc/self/fd/%d/%s", dirfd, name);
}

bool stat_override_get(enum stat_override kind, int fd, int dirfd, const char *name, uid_t *uid, gid_t *gid,
		       mode_t *perms)
{
	const char *x = stat_override_xattr(kind);
	char path[64 + NAME_MAX], v[64];
	ssize_t n;

	if (!x)
		return false;
	xpath(path, sizeof(path), fd, dirfd, name);
	/* by fd: the /proc link is followed to the object; by name: never the last component */
	n = fd >= 0 ? getxattr(path, x, v, sizeof(v)) : lgetxattr(path, x, v, sizeof(v));
	return n > 0 && stat_override_parse(v, (size_t) n, uid, gid, perms);
}

int stat_override_set(enum stat_override kind, int fd, int dirfd, const char *name, mode_t type, uid_t uid,
		      gid_t gid, mode_t perms)
{
	const char *x = stat_override_xattr(kind);
	char path[64 + NAME_MAX], v[64];
	int n, r;

	if (!x)
		return -EINVAL;
	xpath(path, sizeof(path), fd, dirfd, name);
	n = snprintf(v, sizeof(v), "%u:%u:%o", (unsigned) uid, (unsigned) gid, (unsigned) (type & S_IFMT) | (perms & 07777));
	r = fd >= 0 ? setxattr(path, x, v, (size_t) n, 0) : lsetxattr(path, x, v, (size_t) n, 0);
	return r < 0 ? -errno : 0;
}
