/* SPDX-License-Identifier: MIT */
/*
 * Running sessions, as the store records them in STORE/running/:
 *
 *   ID.sock   where the session's init takes commands from other clients
 *             (isofs exec); bound by the owner, listened on by the init
 *   ID.json   what `isofs ps` shows: the sandbox, the image, the init's host
 *             pid and start time (so that a dead one is never mistaken for
 *             a process that got its pid later)
 *
 * ID is the sandbox's name for a persistent sandbox the session holds, the
 * generated name of an ephemeral one, or a generated one for a session in a
 * mounted (shared) view.  Written by the owner, removed when the session
 * ends; an entry whose init is gone (its owner was killed) is ignored and
 * cleaned by whoever reads it.
 */
#ifndef ISOFS_SESSION_REGISTRY_H
#define ISOFS_SESSION_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "isofs.h"

#define REGISTRY_DIR "running"

/* A session's own entry, held by its owner. */
struct registration {
	int dirfd;                     /* O_PATH of STORE/running; -EBADF when none */
	char id[ISOFS_NAME_MAX + 1];
};

#define REGISTRATION_INIT { .dirfd = -EBADF }

struct registry_entry {
	const char *id;
	const char *sandbox;    /* NULL: a view named by its mountpoint alone */
	const char *image;      /* NULL when not known (a mountpoint) */
	const char *mountpoint; /* the view it runs in, NULL when its own */
	bool ephemeral;
	pid_t init;             /* host pid */
	uint64_t init_start;    /* process_start_time */
};

/*
 * ID.sock bound (0600, files of a dead session of the same ID replaced) and
 * listening: *ret_listen_fd goes to the init, which accepts on it.
 */
int registry_listen(isofs_store *store, const char *id, struct registration *reg, int *ret_listen_fd,
		    isofs_error *err);
/* ID.json, written atomically once the init runs. */
int registry_publish(isofs_store *store, struct registration *reg, const struct registry_entry *e);
/* Both files, when the session ends (no-op for none). */
void registry_remove(struct registration *reg);

/*
 * A socket connected to the init of the session `name` names: its ID, else
 * the one session running in sandbox `name`.  -ESRCH when nothing runs there
 * (-ENOENT when no sandbox has that name either), with a message.
 */
int registry_connect(isofs_store *store, const char *name, int *ret_fd, isofs_error *err);

#endif
