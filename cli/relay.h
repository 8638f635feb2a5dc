/* SPDX-License-Identifier: MIT */
#ifndef ISOFS_CLI_RELAY_H
#define ISOFS_CLI_RELAY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "isofs.h"

#define SIGWINCH_MARK SIGWINCH /* on sig_fd: resize the pty rather than forward */

struct relay {
	isofs_session *s;
	bool json;                 /* out_fd/err_fd become log frames on frames_fd */
	int frames_fd;
	int out_fd, err_fd;        /* read ends of the command's output (-1: none) */
	int pty;                   /* the pty master with -t (also out_fd) */
	int in_fd, in_to;          /* our input copied to the command's (pty) */
	const unsigned char *feed; /* or this data written to feed_fd, then EOF */
	size_t feed_len;
	int feed_fd;
	int sig_fd;                /* signal numbers to forward, one byte each (-1: none) */
};

/* Until the command has exited and its output is drained; *ret_status a waitpid status. */
int relay_run(struct relay *rl, int *ret_status, isofs_error *err);

/* Writes a JSON frame (and frees it); a frame that cannot be written is remembered. */
void frame_emit(int fd, char *frame);
/* 0, or the errno of the first frame that could not be written: the output was lost. */
int frames_lost(void);

#endif
