/* SPDX-License-Identifier: MIT */
/* `isofs run`: a command in a sandbox, its output direct, through a pty, or as JSON frames. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "fs-util.h"
#include "wire.h"

const char cmd_run_usage[] =
	"Usage: isofs run [OPTIONS] IMAGE -- CMD [ARG…]         a fresh ephemeral sandbox\n"
	"       isofs run [OPTIONS] --sandbox NAME -- CMD [ARG…] a persistent sandbox\n"
	"       isofs run [OPTIONS] MOUNTPOINT -- CMD [ARG…]     the view `isofs mount` made\n"
	"\n"
	"Runs CMD in new user, mount, PID, IPC and UTS namespaces, pivoted into a\n"
	"copy-on-write view: every write to an ephemeral sandbox is discarded at exit.\n"
	"\n"
	"  -e, --env K=V         add to the clean environment (PATH, HOME, HOSTNAME, TERM)\n"
	"  -w, --workdir DIR     working directory (default: the user's home)\n"
	"  -u, --user UID[:GID]  run as this user (default root of the sandbox)\n"
	"      --hostname NAME   default: the sandbox's name\n"
	"      --net=none        a network namespace with loopback only (default: shared)\n"
	"      --dns IP          a resolv.conf with this server (repeatable; default: the host's)\n"
	"      --bind HOST:SANDBOX[:ro]  bind a host path (read-only recursively with :ro)\n"
	"      --cap-add CAP     keep this capability (all are dropped otherwise)\n"
	"  -t, --tty             a pty inside the sandbox; the terminal in raw mode\n"
	"  -i, --interactive     keep stdin (otherwise /dev/null)\n"
	"      --json            output as JSON frames (docs/protocol.md)\n"
	"\n"
	"Exit status: the command's; 128+N when killed by signal N; 125 when the\n"
	"sandbox could not be set up, 126 when CMD cannot be executed, 127 when it is\n"
	"not found.  SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are\n"
	"forwarded to the command.\n";

#define MAX_LIST 64

struct run_args {
	isofs_session_options so;
	const char *binds[MAX_LIST], *dns[MAX_LIST], *caps[MAX_LIST], *env[MAX_LIST + 2];
	size_t nenv;
	const char *workdir;
	bool has_user, tty, interactive, json;
	uid_t uid;
	gid_t gid;
	char **argv;
};

static int sigpipe_fds[2] = { -1, -1 };

static void on_signal(int sig)
{
	unsigned char c = (unsigned char) sig;
	int saved = errno;
	(void) write(sigpipe_fds[1], &c, 1);
	errno = saved;
}

static int push(const char **list, size_t *n, const char *v, const char *what)
{
	if (*n >= MAX_LIST)
		return cli_usage_error("run ", "too many %s", what);
	list[(*n)++] = v;
	return 0;
}

static int parse_user(const char *s, struct run_args *a)
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
	a->has_user = true;
	a->uid = (uid_t) u;
	a->gid = (gid_t) g;
	return 0;
}

static int parse_args(int argc, char **argv, struct run_args *a)
{
	static const struct option opts[] = {
		{ "sandbox", required_argument, NULL, 's' },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "net", required_argument, NULL, 'n' },
		{ "dns", required_argument, NULL, 'd' },
		{ "bind", required_argument, NULL, 'b' },
		{ "cap-add", required_argument, NULL, 'c' },
		{ "tty", no_argument, NULL, 't' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ex = EXIT_USAGE;
	int dashdash = -1;

	/* Options end at "--": what follows is the command's. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dashdash = i;
			break;
		}
	if (dashdash < 0) {
		for (int i = 1; i < argc; i++)
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				fputs(cmd_run_usage, stdout);
				return EXIT_OK;
			}
		return cli_usage_error("run ", "missing '-- CMD'");
	}
	while ((c = getopt_long(dashdash, argv, "+e:w:u:tih", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!isofs_name_is_valid(optarg))
				return cli_usage_error("run ", "invalid sandbox name '%s'", optarg);
			a->so.sandbox = optarg;
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return cli_usage_error("run ", "--env '%s': expected K=V", optarg);
			if (push(a->env, &a->nenv, optarg, "--env") != 0)
				return EXIT_USAGE;
			break;
		case 'w':
			if (optarg[0] != '/')
				return cli_usage_error("run ", "--workdir '%s' must be absolute", optarg);
			a->workdir = optarg;
			break;
		case 'u':
			if (parse_user(optarg, a) < 0)
				return cli_usage_error("run ", "--user '%s': expected UID[:GID] below 65536", optarg);
			break;
		case 'H':
			a->so.hostname = optarg;
			break;
		case 'n':
			if (strcmp(optarg, "none") == 0)
				a->so.net_none = true;
			else if (strcmp(optarg, "host") != 0)
				return cli_usage_error("run ", "--net '%s': expected none or host", optarg);
			break;
		case 'd':
			if (push(a->dns, &a->so.ndns, optarg, "--dns") != 0)
				return EXIT_USAGE;
			break;
		case 'b':
			if (push(a->binds, &a->so.nbinds, optarg, "--bind") != 0)
				return EXIT_USAGE;
			break;
		case 'c':
			if (push(a->caps, &a->so.ncap_add, optarg, "--cap-add") != 0)
				return EXIT_USAGE;
			break;
		case 't':
			a->tty = true;
			break;
		case 'i':
			a->interactive = true;
			break;
		case 'j':
			a->json = true;
			break;
		case 'h':
			fputs(cmd_run_usage, stdout);
			return EXIT_OK;
		default:
			return cli_usage_error("run ", "unknown option, or one missing its value: '%s'", argv[optind - 1]);
		}
	}
	if (optind < dashdash) {
		const char *target = argv[optind++];
		if (a->so.sandbox)
			return cli_usage_error("run ", "--sandbox and a target '%s' together", target);
		if (strchr(target, '/') || strcmp(target, ".") == 0)
			a->so.mountpoint = target;
		else if (isofs_name_is_valid(target))
			a->so.image = target;
		else
			return cli_usage_error("run ", "invalid image name '%s'", target);
	}
	if (optind < dashdash)
		return cli_usage_error("run ", "unexpected argument '%s' before '--'", argv[optind]);
	if (!a->so.image && !a->so.sandbox && !a->so.mountpoint)
		return cli_usage_error("run ", "missing IMAGE, --sandbox NAME or MOUNTPOINT");
	if (dashdash + 1 >= argc)
		return cli_usage_error("run ", "missing the command after '--'");
	if (a->tty && a->json)
		return cli_usage_error("run ", "--tty and --json do not go together");
	if (a->so.net_none && a->so.ndns)
		return cli_usage_error("run ", "--dns needs the network (not --net=none)");
	a->argv = argv + dashdash + 1;
	a->so.binds = a->binds;
	a->so.dns = a->dns;
	a->so.cap_add = a->caps;
	(void) ex;
	return -1; /* go on */
}

static int status_to_exit(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 125;
}

/* 127 not found, 126 cannot execute, 125 setup: from isofs_session_exec's error. */
static int exec_failure_exit(int r)
{
	if (r == -ENOENT)
		return 127;
	if (r == -ECANCELED || r == -EPIPE || r == -E2BIG || r == -ENOMEM)
		return 125;
	return 126;
}

static void emit(char *frame)
{
	if (frame) {
		(void) write_all(STDOUT_FILENO, frame, strlen(frame));
		free(frame);
	}
}

/* Moves bytes from `from` to `to` (or into frames); false at EOF. */
static bool pump(int from, int to, struct wire_stream *ws)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		if (ws)
			emit(wire_log_frames(ws, NULL, 0, true));
		return false;
	}
	if (ws)
		emit(wire_log_frames(ws, buf, (size_t) n, false));
	else
		(void) write_all(to, buf, (size_t) n);
	return true;
}

static void set_winsize(int pty)
{
	struct winsize ws;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		(void) ioctl(pty, TIOCSWINSZ, &ws);
}

int cmd_run(const struct cli_globals *g, int argc, char **argv)
{
	struct run_args a = { 0 };
	isofs_exec_options eo = { 0 };
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	isofs_session *s = NULL;
	struct wire_stream out_ws = { .name = "stdout" }, err_ws = { .name = "stderr" };
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	struct termios saved_tio;
	bool raw = false, exited = false, out_open = false, err_open = false, in_open = false;
	const char *term = getenv("TERM");
	char termenv[256];
	int ex, r, status = 0, pty = -1;
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

	ex = parse_args(argc, argv, &a);
	if (ex >= 0)
		return ex;
	if (term && (a.tty || isatty(STDOUT_FILENO)) && a.nenv < MAX_LIST + 1) {
		snprintf(termenv, sizeof(termenv), "TERM=%s", term);
		memmove(a.env + 1, a.env, a.nenv * sizeof(*a.env)); /* --env wins over the caller's TERM */
		a.env[0] = termenv;
		a.nenv++;
	}
	a.env[a.nenv] = NULL;
	a.so.quiet = a.json;
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return a.json ? (emit(wire_error_frame(125, "cannot open the store")), emit(wire_exit_frame(125 << 8)), 125)
			      : 125;

	r = isofs_session_start(store, &a.so, &s, &err);
	if (r < 0) {
		isofs_store_close(store);
		if (a.json) {
			emit(wire_error_frame(125, err.message));
			emit(wire_exit_frame(125 << 8));
			return 125;
		}
		cli_fail(&err);
		return 125;
	}
	if (isofs_session_idmap_note(s))
		fprintf(stderr, "isofs: %s\n", isofs_session_idmap_note(s));

	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		isofs_session_close(s);
		isofs_store_close(store);
		return cli_error(125, "pipe: %s", strerror(errno));
	}
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) {
		struct sigaction sa = { .sa_handler = on_signal };
		sigemptyset(&sa.sa_mask);
		sigaction(forwarded[i], &sa, NULL);
	}

	eo.argv = (const char *const *) a.argv;
	eo.env = a.env;
	eo.cwd = a.workdir;
	eo.has_user = a.has_user;
	eo.uid = a.uid;
	eo.gid = a.gid;
	eo.tty = a.tty;
	eo.new_session = !a.tty;
	eo.stdin_fd = a.interactive ? STDIN_FILENO : -1;
	eo.stdout_fd = STDOUT_FILENO;
	eo.stderr_fd = STDERR_FILENO;
	if (a.json) {
		if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
			isofs_session_close(s);
			isofs_store_close(store);
			return cli_error(125, "pipe: %s", strerror(errno));
		}
		eo.stdout_fd = out_pipe[1];
		eo.stderr_fd = err_pipe[1];
	}
	r = isofs_session_exec(s, &eo, &err);
	if (a.json) {
		close(out_pipe[1]);
		close(err_pipe[1]);
		out_open = err_open = true;
	}
	if (r < 0) {
		int code = exec_failure_exit(r);
		if (a.json) {
			emit(wire_error_frame(code, err.message));
			emit(wire_exit_frame(code << 8));
		} else {
			cli_error(code, "%s", err.message);
		}
		isofs_session_close(s);
		isofs_store_close(store);
		return code;
	}
	if (a.tty) {
		pty = isofs_session_pty_fd(s);
		in_open = true;
		out_open = true;
		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
			struct termios rawt = saved_tio;
			cfmakeraw(&rawt);
			raw = tcsetattr(STDIN_FILENO, TCSANOW, &rawt) == 0;
			set_winsize(pty);
		}
	}

	while (!exited || out_open || err_open) {
		struct pollfd p[5];
		int np = 0, iev = -1, iout = -1, ierr = -1, iin = -1;

		p[np++] = (struct pollfd){ sigpipe_fds[0], POLLIN, 0 };
		if (!exited)
			p[iev = np++] = (struct pollfd){ isofs_session_event_fd(s), POLLIN, 0 };
		if (out_open)
			p[iout = np++] = (struct pollfd){ a.tty ? pty : out_pipe[0], POLLIN, 0 };
		if (err_open)
			p[ierr = np++] = (struct pollfd){ err_pipe[0], POLLIN, 0 };
		if (in_open && !exited)
			p[iin = np++] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 };
		if (poll(p, (nfds_t) np, exited ? 2000 : -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (np > 0 && exited && !(p[0].revents || (iout >= 0 && p[iout].revents) || (ierr >= 0 && p[ierr].revents)))
			break; /* output still open after the command ended: a descendant holds it; stop */
		if (p[0].revents & POLLIN) {
			unsigned char c;
			while (read(sigpipe_fds[0], &c, 1) == 1) {
				if (c == SIGWINCH) {
					if (pty >= 0)
						set_winsize(pty);
				} else {
					(void) isofs_session_signal(s, c);
				}
			}
		}
		if (iout >= 0 && p[iout].revents)
			out_open = pump(a.tty ? pty : out_pipe[0], STDOUT_FILENO, a.json ? &out_ws : NULL);
		if (ierr >= 0 && p[ierr].revents)
			err_open = pump(err_pipe[0], STDERR_FILENO, a.json ? &err_ws : NULL);
		if (iin >= 0 && p[iin].revents)
			in_open = pump(STDIN_FILENO, pty, NULL);
		if (iev >= 0 && p[iev].revents) {
			r = isofs_session_wait(s, &status, &err);
			exited = true;
			if (r < 0) {
				if (raw)
					tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
				raw = false;
				if (a.json)
					emit(wire_error_frame(125, err.message));
				else
					cli_error(125, "%s", err.message);
				status = 125 << 8;
			}
		}
	}
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	if (a.json)
		emit(wire_exit_frame(status));
	isofs_session_close(s);
	isofs_store_close(store);
	return status_to_exit(status);
}
