/* SPDX-License-Identifier: MIT */
/*
 * Owners in a rootless layer (one written without privileges: an image a
 * user imported, a user's sandbox).  An owner there is a logical one: the ids
 * of the sandbox's namespace, 0 being the user who owns the store.
 *  - Regular files and directories really belong to the user, who can always
 *    read, list and remove them without entering any namespace.  Any other
 *    owner is in user.isofs.owner ("UID:GID").
 *  - Symlinks, fifos, sockets and devices cannot carry user.* xattrs: their
 *    owner is a real id, a subordinate one of the user's range (chown by a
 *    process in the namespace that maps it), as in rootless containers'
 *    storage.  Without a range they belong to 0.
 * docs/overlay.md says why.  Privileged layers hold real owners, as is.
 */
#ifndef ISOFS_LAYER_OWNER_H
#define ISOFS_LAYER_OWNER_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "idmap.h"

#define LAYER_OWNER_XATTR "user.isofs.owner"

/* Whether an object of this type keeps its owner in LAYER_OWNER_XATTR (else in its real ids). */
bool layer_owner_in_xattr(mode_t mode);

/*
 * The logical owner of an object of a rootless layer, given by fd (any, O_PATH
 * too) or by (dirfd, name), `st` its stat as the reader sees it.  `real`:
 * how the reader's real ids are shifted from logical ones (the store's map
 * seen from the host; no range at all in the namespace of the range); NULL:
 * real ids are not owners (no range), symlinks and fifos belong to 0.
 */
void layer_owner_get(const struct idshift real[2], int fd, int dirfd, const char *name, const struct stat *st,
		     uid_t *ret_uid, gid_t *ret_gid);

/*
 * Records a logical owner on an object of type `mode`: the xattr, or a real
 * chown when `chown_special` (the caller is in the namespace of the range);
 * else only 0:0 can be recorded (-EPERM).  0, or -errno.
 */
int layer_owner_set(bool chown_special, int fd, int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid);

/* A real chown of an object by fd (AT_EMPTY_PATH, O_PATH fds too) or (dirfd, name), never through a symlink. */
int layer_owner_chown(int fd, int dirfd, const char *name, uid_t uid, gid_t gid);

#endif
