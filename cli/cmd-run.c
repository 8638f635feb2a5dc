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
#include "relay.h"
#include "wire.h"

const char cmd_run_usage[] =
	"Usage: isofs run [OPTIONS] IMAGE -- CMD [ARG…]         a fresh ephemeral sandbox\n"
	"       isofs run [OPTIONS] --sandbox NAME -- CMD [ARG…] a persistent sandbox\n"
	"       isofs run [OPTIONS] MOUNTPOINT -- CMD [ARG…]     the view `isofs mount` made\n"
	"\n"
	"Runs CMD in new user, mount, PID, IPC and UTS namespaces, pivoted into a\n"
	"copy-on-write view: every write to an ephemeral sandbox is discarded at exit.\n"
	"Commands run in a nested user namespace where the sandbox's mounts are\n"
	"locked (no capability undoes :ro or a /proc mask), with a fresh session\n"
	"keyring and a default seccomp filter.\n"
	"\n"
	"  -e, --env K=V         add to the clean environment (PATH, HOME, HOSTNAME, TERM)\n"
	"  -w, --workdir DIR     working directory (default: the user's home)\n"
	"  -u, --user UID[:GID]  run as this user (default root of the sandbox)\n"
	"      --hostname NAME   default: the sandbox's name\n"
	"      --net=none        a network namespace with loopback only (default: shared)\n"
	"      --dns IP          a resolv.conf with this server (repeatable; default: the host's)\n"
	"      --bind HOST:SANDBOX[:ro]  bind a host path (read-only recursively with :ro)\n"
	"      --cap-drop CAP|ALL  drop a default capability (podman's: CHOWN DAC_OVERRIDE\n"
	"                        FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP SETGID SETPCAP\n"
	"                        SETUID SYS_CHROOT, over the sandbox's own ids only)\n"
	"      --cap-add CAP|ALL   add one (ALL: every capability); both repeatable\n"
	"      --seccomp=unconfined  no seccomp filter (default: keyctl, bpf, io_uring,\n"
	"                        mounts, new namespaces… refused; docs/security.md)\n"
	"      --memory SIZE     memory limit (k, m, g); --pids N: processes; --cpus N: CPU time\n"
	"                        (cgroup v2 where delegated; the v1 controllers as root); the\n"
	"                        overlay server and the tmpfs pages count against --memory\n"
	"      --tmp-size SIZE   size of the /tmp tmpfs (default a quarter of the RAM, at most 4g)\n"
	"      --shm-size SIZE   size of the /dev/shm tmpfs (default 64m)\n"
	"  -t, --tty             a pty inside the sandbox; the terminal in raw mode\n"
	"  -i, --interactive     keep stdin (otherwise /dev/null)\n"
	"      --json            output as JSON frames (docs/protocol.md)\n"
	"\n"
	"Exit status: the command's; 128+N when killed by signal N; 125 when the\n"
	"sandbox could not be set up, 126 when CMD cannot be executed, 127 when it is\n"
	"not found.  SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are\n"
	"forwarded to the command.\n";


struct run_args {
	struct session_args sa;
	const char *env[CLI_MAX_LIST + 2];
	size_t nenv;
	const char *workdir;
	bool has_user, tty, interactive, json;
	uid_t uid;
	gid_t gid;
	char **argv;
	/* From the image's config: what no option or command gave. */
	isofs_image_defaults defaults;
	const char **merged_env;
};

/*
 * The image's own Entrypoint + Cmd when no command is given, its Env below
 * --env, its WorkingDir and User unless -w and -u say otherwise (podman's
 * rules; a given command runs as it is, as with podman's --entrypoint).
 */
static int apply_image_defaults(isofs_store *store, struct run_args *a, isofs_error *err)
{
	const char *image = a->sa.so.image;
	isofs_sandbox_info sb = { 0 };
	size_t n = 0, k = 0;
	int r = 0;

	if (a->sa.so.sandbox) {
		r = isofs_sandbox_get(store, a->sa.so.sandbox, &sb, err);
		if (r < 0)
			return r;
		image = sb.image;
	}
	if (image)
		r = isofs_image_defaults_get(store, image, &a->defaults, err);
	if (r == 0 && !a->argv && !a->defaults.argv) {
		if (image)
			snprintf(err->message, sizeof(err->message),
				 "image '%s' names no command to run; give one after '--'", image);
		else
			snprintf(err->message, sizeof(err->message), "missing '-- CMD'");
		r = -(err->code = EINVAL);
	}
	if (r == 0 && !a->argv)
		a->argv = a->defaults.argv;
	if (r == 0 && !a->workdir)
		a->workdir = a->defaults.workdir;
	if (r == 0 && !a->has_user && a->defaults.user) {
		r = isofs_image_user_resolve(store, image, a->defaults.user, &a->uid, &a->gid, err);
		a->has_user = r == 0;
	}
	for (char **e = a->defaults.env; r == 0 && e && *e; e++)
		n++;
	if (r == 0 && n) {
		a->merged_env = calloc(n + a->nenv + 1, sizeof(char *));
		if (!a->merged_env) {
			snprintf(err->message, sizeof(err->message), "out of memory");
			r = -(err->code = ENOMEM);
		}
		for (size_t i = 0; r == 0 && i < n; i++)
			a->merged_env[k++] = a->defaults.env[i];
		for (size_t i = 0; r == 0 && i < a->nenv; i++)
			a->merged_env[k++] = a->env[i];
	}
	isofs_sandbox_info_free(&sb);
	return r;
}

static void run_args_release(struct run_args *a)
{
	isofs_image_defaults_free(&a->defaults);
	free(a->merged_env);
}

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
	if (*n >= CLI_MAX_LIST)
		return cli_usage_error("", "too many %s", what);
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
		CLI_SESSION_OPTIONS,
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "tty", no_argument, NULL, 't' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, r, dashdash = -1;

	/* Options end at "--": what follows is the command's; without one, the image's own command runs. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dashdash = i;
			break;
		}
	if (dashdash < 0)
		dashdash = argc;
	while ((c = getopt_long(dashdash, argv, "+e:w:u:tih", opts, NULL)) != -1) {
		switch (c) {
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
			r = cli_session_option(c, optarg, &a->sa, "run ");
			if (r == 1)
				return cli_usage_error("run ", "unknown option, or one missing its value: '%s'",
						       argv[optind - 1]);
			if (r != 0)
				return r;
		}
	}
	r = cli_session_target(dashdash - optind, argv + optind, &a->sa, "run ");
	if (r != 0)
		return r;
	if (dashdash < argc && dashdash + 1 >= argc)
		return cli_usage_error("run ", "missing the command after '--'");
	if (a->tty && a->json)
		return cli_usage_error("run ", "--tty and --json do not go together");
	a->argv = dashdash < argc ? argv + dashdash + 1 : NULL;
	return -1; /* go on */
}

/* "512m", "1.5g", "65536k": at least 1 MiB. */
static int parse_size(const char *arg, uint64_t *ret)
{
	char *end;
	double v = strtod(arg, &end);
	uint64_t mult = 1;

	if (*end == 'k' || *end == 'K')
		mult = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mult = 1024 * 1024, end++;
	else if (*end == 'g' || *end == 'G')
		mult = 1024ull * 1024 * 1024, end++;
	if (end == arg || *end || v < 1 || v * (double) mult < 1024 * 1024 || v * (double) mult > 1e18)
		return -1;
	*ret = (uint64_t) (v * (double) mult);
	return 0;
}

int cli_session_option(int c, const char *arg, struct session_args *sa, const char *cmd)
{
	switch (c) {
	case 's':
		if (!isofs_name_is_valid(arg))
			return cli_usage_error(cmd, "invalid sandbox name '%s'", arg);
		sa->so.sandbox = arg;
		return 0;
	case 'H':
		sa->so.hostname = arg;
		return 0;
	case 'n':
		if (strcmp(arg, "none") == 0)
			sa->so.net_none = true;
		else if (strcmp(arg, "host") != 0)
			return cli_usage_error(cmd, "--net '%s': expected none or host", arg);
		return 0;
	case 'd':
		return push(sa->dns, &sa->so.ndns, arg, "--dns");
	case 'b':
		if (arg[0] != '/' || !strstr(arg, ":/"))
			return cli_usage_error(cmd, "--bind '%s': expected HOST:SANDBOX[:ro], both absolute", arg);
		return push(sa->binds, &sa->so.nbinds, arg, "--bind");
	case 'c':
		return push(sa->caps, &sa->so.ncap_add, arg, "--cap-add");
	case 'D':
		return push(sa->cap_drops, &sa->so.ncap_drop, arg, "--cap-drop");
	case 'S':
		if (strcmp(arg, "unconfined") != 0)
			return cli_usage_error(cmd, "--seccomp '%s': expected unconfined", arg);
		sa->so.seccomp_unconfined = true;
		return 0;
	case 'M':
		if (parse_size(arg, &sa->so.memory) < 0)
			return cli_usage_error(cmd, "--memory '%s': expected a size of at least 1m (k, m, g)", arg);
		return 0;
	case 'T':
		if (parse_size(arg, &sa->so.tmp_size) < 0)
			return cli_usage_error(cmd, "--tmp-size '%s': expected a size of at least 1m (k, m, g)", arg);
		return 0;
	case 'Z':
		if (parse_size(arg, &sa->so.shm_size) < 0)
			return cli_usage_error(cmd, "--shm-size '%s': expected a size of at least 1m (k, m, g)", arg);
		return 0;
	case 'P': {
		char *end;
		unsigned long long v = strtoull(arg, &end, 10);
		if (end == arg || *end || v < 1)
			return cli_usage_error(cmd, "--pids '%s': expected a positive number", arg);
		sa->so.pids = v;
		return 0;
	}
	case 'C': {
		char *end;
		double v = strtod(arg, &end);
		if (end == arg || *end || v < 0.01 || v > 1024)
			return cli_usage_error(cmd, "--cpus '%s': expected a number of CPUs like 0.5 or 2", arg);
		sa->so.cpus = v;
		return 0;
	}
	default:
		return 1;
	}
}

int cli_session_target(int n, char **args, struct session_args *sa, const char *cmd)
{
	if (n > 0) {
		const char *target = args[0];
		if (sa->so.sandbox)
			return cli_usage_error(cmd, "--sandbox and a target '%s' together", target);
		if (strchr(target, '/') || strcmp(target, ".") == 0)
			sa->so.mountpoint = target;
		else if (isofs_name_is_valid(target))
			sa->so.image = target;
		else
			return cli_usage_error(cmd, "invalid image name '%s'", target);
	}
	if (n > 1)
		return cli_usage_error(cmd, "unexpected argument '%s'", args[1]);
	if (!sa->so.image && !sa->so.sandbox && !sa->so.mountpoint)
		return cli_usage_error(cmd, "missing IMAGE, --sandbox NAME or MOUNTPOINT");
	if (sa->so.net_none && sa->so.ndns)
		return cli_usage_error(cmd, "--dns needs the network (not --net=none)");
	sa->so.binds = sa->binds;
	sa->so.dns = sa->dns;
	sa->so.cap_add = sa->caps;
	sa->so.cap_drop = sa->cap_drops;
	return 0;
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

int cmd_run(const struct cli_globals *g, int argc, char **argv)
{
	__attribute__((cleanup(run_args_release))) struct run_args a = { 0 };
	isofs_exec_options eo = { 0 };
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	isofs_session *s = NULL;
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	struct termios saved_tio;
	bool raw = false;
	const char *term = getenv("TERM");
	char termenv[256];
	int ex, r, status = 0, pty = -1;
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

	ex = parse_args(argc, argv, &a);
	if (ex >= 0)
		return ex;
	if (term && (a.tty || isatty(STDOUT_FILENO)) && a.nenv < CLI_MAX_LIST + 1) {
		snprintf(termenv, sizeof(termenv), "TERM=%s", term);
		memmove(a.env + 1, a.env, a.nenv * sizeof(*a.env)); /* --env wins over the caller's TERM */
		a.env[0] = termenv;
		a.nenv++;
	}
	a.env[a.nenv] = NULL;
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return a.json ? (emit(wire_error_frame(125, "cannot open the store")), emit(wire_exit_frame(125 << 8)), 125)
			      : 125;

	r = apply_image_defaults(store, &a, &err);
	if (r < 0 && !a.argv) {
		isofs_store_close(store);
		return cli_usage_error("run ", "%s", err.message); /* no command, none from the image */
	}
	if (r == 0)
		r = isofs_session_start(store, &a.sa.so, &s, &err);
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
	eo.env = a.merged_env ? a.merged_env : a.env;
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
	}
	if (r < 0) {
		int code = cli_exec_failure_exit(&err);
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
		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
			struct termios rawt = saved_tio;
			cfmakeraw(&rawt);
			raw = tcsetattr(STDIN_FILENO, TCSANOW, &rawt) == 0;
		}
	}
	{
		struct relay rl = {
			.s = s,
			.json = a.json,
			.frames_fd = STDOUT_FILENO,
			.out_fd = a.tty ? pty : a.json ? out_pipe[0] : -1,
			.err_fd = a.json ? err_pipe[0] : -1,
			.pty = pty,
			.in_fd = a.tty ? STDIN_FILENO : -1,
			.in_to = pty,
			.feed_fd = -1,
			.sig_fd = sigpipe_fds[0],
		};
		r = relay_run(&rl, &status, &err);
		if (r < 0) {
			if (raw)
				tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
			raw = false;
			if (a.json)
				emit(wire_error_frame(125, err.message));
			else
				cli_error(125, "%s", err.message);
		}
	}
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	if (a.json)
		emit(wire_exit_frame(status));
	isofs_session_close(s);
	isofs_store_close(store);
	if (a.json && frames_lost())
		return cli_error(125, "the JSON frames could not be written to stdout: %s", strerror(frames_lost()));
	return status_to_exit(status);
}
