/* SPDX-License-Identifier: MIT */
/* `isofs run`: a command in a sandbox, its output direct, through a pty, or as JSON frames. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "env-list.h"
#include "fs-util.h"
#include "relay.h"
#include "run-command.h"
#include "wire.h"

const char cmd_run_usage[] =
	"Usage: isofs run [OPTIONS] IMAGE [CMD [ARG…]]          a fresh ephemeral sandbox\n"
	"       isofs run [OPTIONS] --sandbox NAME [CMD [ARG…]] a persistent sandbox\n"
	"       isofs run [OPTIONS] MOUNTPOINT CMD [ARG…]       the view `isofs mount` made\n"
	"       isofs run [OPTIONS] DIRECTORY CMD [ARG…]        a copy-on-write view of any directory\n"
	"\n"
	"Runs CMD in new user, mount, PID, IPC and UTS namespaces, pivoted into a\n"
	"copy-on-write view: every write to an ephemeral sandbox is discarded at exit.\n"
	"Options come before the target; CMD may follow it or \"--\".  Without CMD, a\n"
	"container image's own command runs (its Entrypoint and Cmd).  A directory that\n"
	"is not an isofs mount is the read-only lower of an ephemeral sandbox: it is\n"
	"never written (--in-place: run in it directly, writes and all).\n"
	"Commands run in a nested user namespace where the sandbox's mounts are\n"
	"locked (no capability undoes :ro or a /proc mask), with a fresh session\n"
	"keyring and a default seccomp filter.\n"
	"\n"
	"  -e, --env K=V|K       add to the clean environment (PATH, HOME, HOSTNAME, TERM);\n"
	"                        K alone: the caller's value of K\n"
	"      --env-file FILE   lines K=V or K (# comments); -e wins over it\n"
	"  -w, --workdir DIR     working directory (default: the image's, else the user's home)\n"
	"  -u, --user USER[:GROUP]  run as this user: numbers, or names in the image's\n"
	"                        /etc/passwd and /etc/group (default: the image's, else root)\n"
	"      --hostname NAME   default: the sandbox's name\n"
	"      --net=none        a network namespace with loopback only (default: shared)\n"
	"      --net=private     a network namespace of its own, reaching out through\n"
	"                        slirp4netns (the host at 10.0.2.2, DNS 10.0.2.3)\n"
	"      --dns IP          a resolv.conf with this server (repeatable; default: the host's)\n"
	"      --bind HOST:SANDBOX[:ro]  bind a host path (read-only recursively with :ro)\n"
	"  -v, --volume HOST:SANDBOX[:ro|rw]  the same, as podman spells it (z, Z accepted)\n"
	"      --in-place        a DIRECTORY target is written in place, not copied on write\n"
	"      --ephemeral       a throwaway writable layer over a read-only view: every\n"
	"                        write discarded, the view untouched (kernel overlayfs on a\n"
	"                        tmpfs as large as /tmp; fast starts).  The view: MOUNTPOINT\n"
	"                        (isofs mount IMAGE DIR --read-only), or for an IMAGE one\n"
	"                        isofs keeps mounted between such runs\n"
	"      --view-idle SECS  with --ephemeral IMAGE: the kept view is detached once no\n"
	"                        run has started or ended for SECS (when it starts; default 60)\n"
	"      --home            toolbox-style: as yourself (your uid, gid and name), your home,\n"
	"                        $XDG_RUNTIME_DIR and X11 sockets bound, your session's variables;\n"
	"                        without CMD your login shell (root inside still works: sudo-less)\n"
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
	struct env_list env;      /* -e, in order */
	struct env_list env_file; /* --env-file: below -e, as podman has it */
	struct env_list home_env; /* --home: the caller's session, above the image's Env */
	const char *workdir;
	const char *user;         /* -u as given: a name is looked up in the image */
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
static int apply_image_defaults(isofs_store *store, struct run_args *a, const char *term, isofs_error *err)
{
	const char *image = a->sa.so.image;
	const char *user = a->user ? a->user : NULL;
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
				 "image '%s' names no command to run; give one after IMAGE", image);
		else
			snprintf(err->message, sizeof(err->message), "missing the command to run");
		r = -(err->code = EINVAL);
	}
	if (r == 0 && !a->argv)
		a->argv = a->defaults.argv;
	if (r == 0 && !a->workdir)
		a->workdir = a->defaults.workdir;
	if (r == 0 && !user)
		user = a->defaults.user;
	if (r == 0 && user && !a->has_user) {
		if (!image) {
			snprintf(err->message, sizeof(err->message),
				 "--user '%s': a name needs an image to look it up in (use UID[:GID])", user);
			r = -(err->code = EINVAL);
		} else {
			r = isofs_image_user_resolve(store, image, user, &a->uid, &a->gid, err);
			a->has_user = r == 0;
		}
	}
	/* the caller's TERM, the image's Env, --env-file, -e: later ones win */
	for (char **e = a->defaults.env; r == 0 && e && *e; e++)
		n++;
	if (r == 0) {
		a->merged_env = calloc(1 + n + a->home_env.n + a->env_file.n + a->env.n + 1, sizeof(char *));
		if (!a->merged_env) {
			snprintf(err->message, sizeof(err->message), "out of memory");
			r = -(err->code = ENOMEM);
		}
	}
	if (r == 0) {
		if (term)
			a->merged_env[k++] = term;
		for (size_t i = 0; i < n; i++)
			a->merged_env[k++] = a->defaults.env[i];
		for (size_t i = 0; i < a->home_env.n; i++)
			a->merged_env[k++] = a->home_env.items[i];
		for (size_t i = 0; i < a->env_file.n; i++)
			a->merged_env[k++] = a->env_file.items[i];
		for (size_t i = 0; i < a->env.n; i++)
			a->merged_env[k++] = a->env.items[i];
	}
	isofs_sandbox_info_free(&sb);
	return r;
}

static void run_args_release(struct run_args *a)
{
	isofs_image_defaults_free(&a->defaults);
	free(a->merged_env);
	env_list_free(&a->env);
	env_list_free(&a->env_file);
	env_list_free(&a->home_env);
}

/* The caller's login shell, or sh where the image lacks it. */
static char *home_shell_argv[] = { "/bin/sh", "-c", "[ -x \"$SHELL\" ] && exec \"$SHELL\" -l; exec /bin/sh -l", NULL };

/*
 * --home: as the caller (its own ids: the session keeps them), with its
 * session's variables, in the directory it is in when that is below its home.
 */
static int home_defaults(struct run_args *a)
{
	static const char *const passed[] = { "XDG_RUNTIME_DIR", "WAYLAND_DISPLAY", "DISPLAY", "DBUS_SESSION_BUS_ADDRESS",
					      "XAUTHORITY", "COLORTERM", "LANG" };
	struct passwd *pw = getpwuid(getuid());
	const char *pwd = getenv("PWD");
	char kv[PATH_MAX + 32];
	size_t n;
	int r = 0;

	if (!pw)
		return cli_error(125, "--home: uid %u has no passwd entry", (unsigned) getuid());
	if (!a->has_user && !a->user) {
		a->has_user = true;
		a->uid = getuid();
		a->gid = getgid();
	}
	snprintf(kv, sizeof(kv), "HOME=%s", pw->pw_dir);
	r = r ?: env_list_add_option(&a->home_env, kv, "run ");
	snprintf(kv, sizeof(kv), "USER=%s", pw->pw_name);
	r = r ?: env_list_add_option(&a->home_env, kv, "run ");
	snprintf(kv, sizeof(kv), "LOGNAME=%s", pw->pw_name);
	r = r ?: env_list_add_option(&a->home_env, kv, "run ");
	snprintf(kv, sizeof(kv), "SHELL=%s", pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh");
	r = r ?: env_list_add_option(&a->home_env, kv, "run ");
	for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++)
		r = r ?: env_list_add_option(&a->home_env, passed[i], "run ");
	if (r)
		return r;
	n = strlen(pw->pw_dir);
	if (!a->workdir)
		a->workdir = pwd && strncmp(pwd, pw->pw_dir, n) == 0 && (pwd[n] == '/' || !pwd[n]) ? pwd : pw->pw_dir;
	if (!a->argv)
		a->argv = home_shell_argv;
	return 0;
}

static int push(const char **list, size_t *n, const char *v, const char *what)
{
	if (*n >= CLI_MAX_LIST)
		return cli_usage_error("", "too many %s", what);
	list[(*n)++] = v;
	return 0;
}

/* UID[:GID] now; a name (NAME[:GROUP], UID:GROUP) once the image is known. */
static int parse_user(const char *s, struct run_args *a)
{
	char *end;

	a->user = s;
	if (!*s || *s == ':')
		return -1;
	(void) strtoul(s, &end, 10);
	if (end == s || (*end && *end != ':') || (*end == ':' && (end[1] < '0' || end[1] > '9')))
		return 0; /* a name: resolved in the image */
	if (parse_user_ids(s, &a->uid, &a->gid) < 0)
		return -1;
	a->has_user = true;
	return 0;
}

static int parse_args(int argc, char **argv, struct run_args *a)
{
	static const struct option opts[] = {
		CLI_SESSION_OPTIONS,
		{ "env", required_argument, NULL, 'e' },
		{ "env-file", required_argument, NULL, 'E' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "tty", no_argument, NULL, 't' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, r;

	/*
	 * Options come first (getopt stops at the first word that is not one);
	 * then the target (none with --sandbox), an optional "--", and the command,
	 * whose own "--" and options are its own.
	 */
	while ((c = getopt_long(argc, argv, "+e:w:u:v:tih", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if ((r = env_list_add_option(&a->env, optarg, "run ")) != 0)
				return r;
			break;
		case 'E':
			if ((r = env_list_add_file(&a->env_file, optarg, "run ")) != 0)
				return r;
			break;
		case 'w':
			if (optarg[0] != '/')
				return cli_usage_error("run ", "--workdir '%s' must be absolute", optarg);
			a->workdir = optarg;
			break;
		case 'u':
			if (parse_user(optarg, a) < 0)
				return cli_usage_error("run ", "--user '%s': expected UID[:GID] (below 65536) or NAME[:GROUP]",
						       optarg);
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
	{
		int ntarget = a->sa.so.sandbox || optind >= argc ? 0 : 1;
		r = cli_session_target(ntarget, argv + optind, &a->sa, "run ");
		if (r != 0)
			return r;
		optind += ntarget;
		if (optind < argc && strcmp(argv[optind], "--") == 0) {
			if (++optind >= argc)
				return cli_usage_error("run ", "missing the command after '--'");
		}
		a->argv = optind < argc ? argv + optind : NULL;
	}
	if (a->tty && a->json)
		return cli_usage_error("run ", "--tty and --json do not go together");
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
	case 'I':
		sa->so.in_place = true;
		return 0;
	case 'L':
		sa->so.ephemeral_layer = true;
		return 0;
	case 'K': {
		char *end;
		unsigned long v;
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (end == arg || *end || *arg == '-' || errno || v < 1 || v > 7 * 24 * 3600)
			return cli_usage_error(cmd, "--view-idle '%s': expected seconds, 1 to 604800", arg);
		sa->so.view_idle = (unsigned) v;
		return 0;
	}
	case 'O':
		sa->so.home = true;
		return 0;
	case 'n':
		sa->so.net_none = strcmp(arg, "none") == 0;
		sa->so.net_private = strcmp(arg, "private") == 0;
		if (!sa->so.net_none && !sa->so.net_private && strcmp(arg, "host") != 0)
			return cli_usage_error(cmd, "--net '%s': expected host, private or none", arg);
		return 0;
	case 'd':
		return push(sa->dns, &sa->so.ndns, arg, "--dns");
	case 'b':
		if (arg[0] != '/' || !strstr(arg, ":/"))
			return cli_usage_error(cmd, "--bind '%s': expected HOST:SANDBOX[:ro], both absolute", arg);
		return push(sa->binds, &sa->so.nbinds, arg, "--bind");
	case 'v':
		/* podman's -v HOST:SANDBOX[:OPTIONS]: a bind mount; named volumes are not isofs's */
		if (arg[0] != '/')
			return cli_usage_error(cmd, "--volume '%s': expected /HOST:/SANDBOX[:ro|rw] (named volumes are not "
						    "supported)", arg);
		if (!strstr(arg, ":/"))
			return cli_usage_error(cmd, "--volume '%s': expected /HOST:/SANDBOX[:ro|rw], both absolute", arg);
		return push(sa->binds, &sa->so.nbinds, arg, "--volume");
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
	if (sa->so.in_place && !sa->so.mountpoint)
		return cli_usage_error(cmd, "--in-place goes with a DIRECTORY target");
	if (sa->so.ephemeral_layer && sa->so.sandbox)
		return cli_usage_error(cmd, "--ephemeral goes with an IMAGE or a MOUNTPOINT (a read-only view of isofs "
					    "mount), not --sandbox");
	if (sa->so.view_idle && !(sa->so.ephemeral_layer && sa->so.image))
		return cli_usage_error(cmd, "--view-idle goes with --ephemeral IMAGE");
	if (sa->so.ephemeral_layer && sa->so.in_place)
		return cli_usage_error(cmd, "--ephemeral and --in-place do not go together");
	if (sa->so.net_none && sa->so.ndns)
		return cli_usage_error(cmd, "--dns needs the network (not --net=none)");
	sa->so.binds = sa->binds;
	sa->so.dns = sa->dns;
	sa->so.cap_add = sa->caps;
	sa->so.cap_drop = sa->cap_drops;
	return 0;
}

static void emit(char *frame)
{
	frame_emit(STDOUT_FILENO, frame);
}

int cmd_run(const struct cli_globals *g, int argc, char **argv)
{
	__attribute__((cleanup(run_args_release))) struct run_args a = { 0 };
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	isofs_session *s = NULL;
	const char *term = getenv("TERM");
	char termenv[256];
	int ex, r;

	ex = parse_args(argc, argv, &a);
	if (ex >= 0)
		return ex;
	if (term && (a.tty || isatty(STDOUT_FILENO)))
		snprintf(termenv, sizeof(termenv), "TERM=%s", term);
	else
		termenv[0] = '\0';
	if (a.sa.so.home && (ex = home_defaults(&a)) != 0)
		return ex;
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return a.json ? (emit(wire_error_frame(125, "cannot open the store")), emit(wire_exit_frame(125 << 8)), 125)
			      : 125;

	r = apply_image_defaults(store, &a, termenv[0] ? termenv : NULL, &err);
	if (r == -EINVAL && !a.argv) {
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
	if (isofs_session_idmap_note(s) && cli_log_enabled(g, ISOFS_LOG_WARNING))
		fprintf(stderr, "isofs: %s\n", isofs_session_idmap_note(s));

	{
		struct run_command c = {
			.argv = (const char *const *) a.argv,
			.env = a.merged_env,
			.cwd = a.workdir,
			.has_user = a.has_user,
			.uid = a.uid,
			.gid = a.gid,
			.tty = a.tty,
			.interactive = a.interactive,
			.json = a.json,
		};
		ex = run_command(s, &c);
	}
	isofs_session_close(s);
	isofs_store_close(store);
	return ex;
}
