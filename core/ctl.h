/* SPDX-License-Identifier: MIT */
/*
 * The control channel between a session's owner and the sandbox's init: one
 * SOCK_SEQPACKET message per request or event, fds passed alongside.  Pure
 * encode/decode of exec requests is separate from the socket I/O.
 */
#ifndef ISOFS_CTL_H
#define ISOFS_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_MAX_PAYLOAD (192u * 1024u) /* below the socket's default send buffer */
#define CTL_MAX_FDS 4

enum ctl_type {
	CTL_READY = 1,     /* init -> owner: the sandbox is set up */
	CTL_FAILED,        /* init/manager -> owner: setup failed; payload: the reason */
	CTL_EXEC,          /* owner -> init: run a command; fds: stdin, stdout, stderr */
	CTL_STARTED,       /* init -> owner: a = pid in the sandbox; fd: the pty master with a tty */
	CTL_EXEC_FAILED,   /* init -> owner: a = errno, b = 0 setup / 1 exec; payload: the reason */
	CTL_EXITED,        /* init -> owner: a = wait status */
	CTL_SIGNAL,        /* owner -> init: a = signal for the command */
	CTL_FUSE_FD,       /* init -> manager: fd: the mounted /dev/fuse; manager -> init: served (no fd) */
	CTL_INIT_PID,      /* manager -> owner: a = the init's pid on the host (for isofs ps) */
	CTL_ENDED,         /* init -> owner, once it shut its writing: all killed and reaped, clients told */
};
/*
 * A client of the exec socket (session-registry.h) speaks the owner's part:
 * CTL_READY (accepted) or CTL_FAILED (refused) first, then CTL_EXEC,
 * CTL_SIGNAL and their answers.
 */

struct ctl_msg {
	uint32_t type;
	int32_t a, b;
	uint32_t len;      /* of payload */
	char *payload;     /* NUL-terminated, malloc'ed on receive */
	int fds[CTL_MAX_FDS];
	int nfds;
};

int ctl_send(int sock, uint32_t type, int32_t a, int32_t b, const void *payload, size_t len, const int *fds,
	     int nfds);
/* Receives one message (payload and fds owned by the caller); 0 at EOF, 1 on a message.  *ret is empty unless 1. */
int ctl_recv(int sock, struct ctl_msg *ret);
void ctl_msg_clear(struct ctl_msg *m);

/*
 * In the manager or the init, when setting the sandbox up failed: tells the
 * owner (CTL_FAILED: the message and its errno `code`, positive; EIO when 0)
 * and exits 125.  One convention for every stage: the owner reports both.
 */
void __attribute__((noreturn, format(printf, 3, 4))) ctl_fail(int ctl, int code, const char *fmt, ...);

/* An exec request: flags, ids, argv, env (K=V), cwd. */
enum {
	EXEC_NEW_SESSION = 1 << 0, /* setsid(): no way back to the caller's terminal */
	EXEC_TTY = 1 << 1,         /* a pty of the sandbox's own */
	EXEC_HAS_USER = 1 << 2,
};

struct exec_request {
	unsigned flags;
	uid_t uid;
	gid_t gid;
	char **argv;  /* NULL-terminated */
	char **env;   /* NULL-terminated */
	char *cwd;    /* NULL: the user's home, else / */
	char *blob;   /* decoded: the storage argv/env/cwd point into */
};

int exec_request_encode(const struct exec_request *req, char **ret_buf, size_t *ret_len);
int exec_request_decode(const char *buf, size_t len, struct exec_request *ret);
void exec_request_free(struct exec_request *req);

#endif
