/* SPDX-License-Identifier: MIT */
/*
 * Stat overrides: the owner and permission bits of an object kept in an xattr
 * ("UID:GID:MODE", MODE octal) instead of in the inode, as fuse-overlayfs
 * writes them with xattr_permissions=1|2 and containers/storage with
 * force_mask.  A layer uses them when its root carries one of the xattrs
 * (fuse-overlayfs decides so too); objects without it show their real stat.
 * The values come from layers, hostile input: parsed strictly.
 */
#ifndef ISOFS_STAT_OVERRIDE_H
#define ISOFS_STAT_OVERRIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum stat_override {
	STAT_OVERRIDE_NONE,
	STAT_OVERRIDE_PRIVILEGED, /* security.fuseoverlayfs.override_stat (xattr_permissions=1) */
	STAT_OVERRIDE_CONTAINERS, /* user.containers.override_stat (containers/storage's force_mask) */
	STAT_OVERRIDE_USER,       /* user.fuseoverlayfs.override_stat (xattr_permissions=2) */
};

/* The xattr of a kind (NULL for none). */
const char *stat_override_xattr(enum stat_override kind);
/* Whether `name` is one of the override xattrs: layer metadata, never shown or set through a view. */
bool stat_override_is_xattr(const char *name);
/* The kind a layer uses, from its root (an O_PATH fd is fine), in fuse-overlayfs's order. */
enum stat_override stat_override_of_layer(int rootfd);
/* Parses a value: true with the ids and permission bits (a mode's type bits are ignored). */
bool stat_override_parse(const char *value, size_t len, uid_t *uid, gid_t *gid, mode_t *perms);
/*
 * The override of an object by fd (any, O_PATH too) or (dirfd, name): true
 * when it has a valid one.  A malformed value counts as none.
 */
bool stat_override_get(enum stat_override kind, int fd, int dirfd, const char *name, uid_t *uid, gid_t *gid,
		       mode_t *perms);
/* Writes an override of an object of `type` (the mode with its type bits, as fuse-overlayfs writes it).  0, or -errno. */
int stat_override_set(enum stat_override kind, int fd, int dirfd, const char *name, mode_t type, uid_t uid,
		      gid_t gid, mode_t perms);

#endif
