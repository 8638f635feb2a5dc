/* SPDX-License-Identifier: MIT */
#ifndef ISOFS_SANDBOX_H
#define ISOFS_SANDBOX_H

#include "isofs.h"

/*
 * A sandbox's directory: STORE/sandboxes/NAME/ with meta.json, upper/, work/,
 * lock (flock'ed by the server while mounted), mount.json (where, which pid)
 * and daemon.log.
 */
#define SANDBOX_LOCK "lock"
#define SANDBOX_MOUNT "mount.json"
#define SANDBOX_LOG "daemon.log"
#define SANDBOX_OWNER "owner.pid" /* the pid of the session that runs in it (for rm --force) */

/* Opens the sandbox directory (O_PATH). */
int sandbox_open_dir(isofs_store *store, const char *name, int *ret_fd, isofs_error *err);

/*
 * The sandbox's lock (SANDBOX_LOCK in its directory dfd), held exclusively
 * for as long as something serves or runs it: a mount's server, a run's
 * session.  The one protocol: take it, or see that it is held.
 */
int sandbox_lock_open(int dfd, int *ret_fd);
/* 0 and the fd holding it, or -EBUSY while held. */
int sandbox_lock_take(int dfd, int *ret_fd);
bool sandbox_lock_held(int dfd);
/* Unmounts (lazily) what killed overlay servers left mounted; their records stay for `isofs umount`. */
int mount_clean_stale(isofs_store *store);
/* The sandboxes without measuring their changes (cheap). */
int sandbox_list_names(isofs_store *store, isofs_sandbox_info **ret, size_t *ret_n, isofs_error *err);
/* A fresh name "IMAGE-xxxxxx" (malloc'ed). */
char *sandbox_generate_name(const char *image);

#endif
