/* SPDX-License-Identifier: MIT */
/*
 * The overlay server's own user namespace, as a user.  It maps the user (as
 * root of the namespace) and, when the user has one, the subordinate range
 * the sandboxes use: the server holds every capability over the user's own
 * files (reads a 0000 file of an image, makes 0/0 whiteouts), may give
 * symlinks, fifos and sockets a subordinate owner, and has no power over any
 * other file of the host.
 */
#ifndef ISOFS_USERNS_H
#define ISOFS_USERNS_H

#include <stdbool.h>
#include <sys/types.h>

#include "idmap.h"

/* Unshares a user namespace mapping uid/gid (of the parent namespace) to 0. 0, or -errno. */
int userns_enter_self_mapped(uid_t uid, gid_t gid);

/*
 * Unshares a user namespace with `map` (IDMAP_SUBID: newuidmap/newgidmap,
 * run by a child of ours; IDMAP_SINGLE: the user alone; IDMAP_ROOT_RANGE:
 * nothing to do).  The caller must be single-threaded.  0, or -errno.
 */
int userns_enter_mapped(const struct idmap *map);

/* Whether we run in the initial user namespace (not in one of podman's, say). */
bool userns_is_initial(void);

/*
 * Whether the calling thread has capability `cap` over the host: in its
 * effective set, in the initial user namespace (what capable() checks).
 */
bool userns_host_capable(int cap);

#endif
