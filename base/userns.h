/* SPDX-License-Identifier: MIT */
/*
 * The overlay server's own user namespace, as a user: it maps only that
 * user (as root of the namespace), so the server holds every capability over
 * its own files (reads a 0000 file of an image, makes 0/0 whiteouts) and over
 * nothing else.
 */
#ifndef ISOFS_USERNS_H
#define ISOFS_USERNS_H

#include <sys/types.h>

/* Unshares a user namespace mapping uid/gid (of the parent namespace) to 0. 0, or -errno. */
int userns_enter_self_mapped(uid_t uid, gid_t gid);

#endif
