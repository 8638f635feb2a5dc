/* SPDX-License-Identifier: MIT */
/* Running a host program (debootstrap, mmdebstrap, busybox --list, newuidmap, fusermount3) and waiting for it. */
#ifndef ISOFS_SPAWN_UTIL_H
#define ISOFS_SPAWN_UTIL_H

#include <sys/types.h>

struct spawn_options {
	int out_fd;         /* stdout, -1: /dev/null (stdin is always /dev/null) */
	int err_fd;         /* stderr, -1: /dev/null */
	/*
	 * -1, or an fd the program and whatever it starts inherit: a temporary
	 * directory's flock then stays held while any of them runs, so no other
	 * command cleans that directory under them.
	 */
	int hold_fd;
	char *const *envp;  /* NULL: ours */
};
#define SPAWN_OPTIONS_INIT { .out_fd = -1, .err_fd = -1, .hold_fd = -1, .envp = NULL }

/*
 * Starts `program` (a path, or a name looked up in $PATH) with argv, in a
 * process group of its own watched by a guard process (the pid returned):
 * if we die first, the whole group is killed, and so is whatever the program
 * leaves running in it when it ends.  Nothing it starts outlives the command
 * that asked for it.
 */
int spawn_start(const char *program, char *const argv[], const struct spawn_options *o, pid_t *ret_pid);
/* Its exit status (128+N when killed by signal N; 127 when it could not be run) or -errno. */
int spawn_wait_pid(pid_t pid);
/* Both. */
int spawn_wait(const char *program, char *const argv[], const struct spawn_options *o);

#endif
