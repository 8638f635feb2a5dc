/* SPDX-License-Identifier: MIT */
/* One command in a session, relayed to the terminal: what `isofs run` and `isofs exec` share. */
#ifndef ISOFS_CLI_RUN_COMMAND_H
#define ISOFS_CLI_RUN_COMMAND_H

#include <stdbool.h>
#include <sys/types.h>

#include "isofs.h"

struct run_command {
	const char *const *argv;
	const char *const *env;  /* "K=V", NULL-terminated */
	const char *cwd;         /* NULL: the user's home */
	bool has_user;
	uid_t uid;
	gid_t gid;
	bool tty, interactive, json;
};

/*
 * Runs the command in `s` and relays it (output direct, through the pty or
 * as JSON frames; stdin with -i; SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
 * SIGUSR2 forwarded) until it has exited.  Returns isofs's exit status: the
 * command's, 128+N for signal N, 125/126/127 when it could not be run.
 */
int run_command(isofs_session *s, const struct run_command *c);

/* "UID[:GID]" below 65536; -1 when malformed. */
int parse_user_ids(const char *s, uid_t *ret_uid, gid_t *ret_gid);

#endif
