/* SPDX-License-Identifier: MIT */
/* One command in a session, relayed to the terminal (run-command.h). */
#include "run-command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "relay.h"
#include "wire.h"

static int sigpipe_fds[2] = { -1, -1 };

static void on_signal(int sig)
{
	unsigned char c = (unsigned char) sig;
	int saved = errno;
	(void) write(sigpipe_fds[1], &c, 1);
	errno = saved;
}

static int status_to_exit(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 125;
}

static void emit(char *frame)
{
	frame_emit(STDOUT_FILENO, frame);
}

int parse_user_ids(const char *s, uid_t *ret_uid, gid_t *ret_gid)
{
	char *end;
	unsigned long u = strtoul(s, &end, 10), g;

	if (end == s || (*end && *end != ':'))
		return -1;
	g = u;
	if (*end == ':') {
		const char *gs = end + 1;
		g = strtoul(gs, &end, 10);
		if (end == gs || *end)
			return -1;
	}
	if (u > 65535 || g > 65535)
		return -1;
	*ret_uid = (uid_t) u;
	*ret_gid = (gid_t) g;
	return 0;
}

int run_command(isofs_session *s, const struct run_command *c)
{
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
	isofs_exec_options eo = { 0 };
	isofs_error err = { 0 };
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	struct termios saved_tio;
	bool raw = false;
	int r, status = 0, pty = -1;

	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return cli_error(125, "pipe: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) {
		struct sigaction sa = { .sa_handler = on_signal };
		sigemptyset(&sa.sa_mask);
		sigaction(forwarded[i], &sa, NULL);
	}

	eo.argv = c->argv;
	eo.env = c->env;
	eo.cwd = c->cwd;
	eo.has_user = c->has_user;
	eo.uid = c->uid;
	eo.gid = c->gid;
	eo.tty = c->tty;
	eo.new_session = !c->tty;
	eo.stdin_fd = c->interactive ? STDIN_FILENO : -1;
	eo.stdout_fd = STDOUT_FILENO;
	eo.stderr_fd = STDERR_FILENO;
	if (c->json) {
		if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0)
			return cli_error(125, "pipe: %s", strerror(errno));
		eo.stdout_fd = out_pipe[1];
		eo.stderr_fd = err_pipe[1];
	}
	r = isofs_session_exec(s, &eo, &err);
	if (c->json) {
		close(out_pipe[1]);
		close(err_pipe[1]);
	}
	if (r < 0) {
		int code = cli_exec_failure_exit(&err);
		if (c->json) {
			emit(wire_error_frame(code, err.message));
			emit(wire_exit_frame(code << 8));
		} else {
			cli_error(code, "%s", err.message);
		}
		return code;
	}
	if (c->tty) {
		pty = isofs_session_pty_fd(s);
		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
			struct termios rawt = saved_tio;
			cfmakeraw(&rawt);
			raw = tcsetattr(STDIN_FILENO, TCSANOW, &rawt) == 0;
		}
	}
	{
		struct relay rl = {
			.s = s,
			.json = c->json,
			.frames_fd = STDOUT_FILENO,
			.out_fd = c->tty ? pty : c->json ? out_pipe[0] : -1,
			.err_fd = c->json ? err_pipe[0] : -1,
			.pty = pty,
			.in_fd = c->tty && c->interactive ? STDIN_FILENO : -1, /* -t alone: a terminal, no input (podman's) */
			.in_to = pty,
			.feed_fd = -1,
			.sig_fd = sigpipe_fds[0],
		};
		r = relay_run(&rl, &status, &err);
		if (r < 0) {
			if (raw)
				tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
			raw = false;
			if (c->json)
				emit(wire_error_frame(125, err.message));
			else
				cli_error(125, "%s", err.message);
		}
	}
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	if (c->json)
		emit(wire_exit_frame(status));
	if (c->json && frames_lost())
		return cli_error(125, "the JSON frames could not be written to stdout: %s", strerror(frames_lost()));
	return status_to_exit(status);
}
