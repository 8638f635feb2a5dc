/* SPDX-License-Identifier: MIT */
/* `isofs exec`: a command beside the one running in a sandbox, in its namespaces, root and mounts. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "env-list.h"
#include "relay.h"
#include "run-command.h"
#include "wire.h"

const char cmd_exec_usage[] =
	"Usage: isofs exec [OPTIONS] SANDBOX -- CMD [ARG…]\n"
	"\n"
	"Runs CMD in a sandbox where a command already runs (`isofs run --sandbox\n"
	"SANDBOX`, or an ephemeral sandbox by the name `isofs ps` shows): in its\n"
	"namespaces, root, mounts and cgroup, with the same confinement as the first\n"
	"command (nested user namespace, capabilities, no_new_privs, seccomp).  Only\n"
	"the user who started the sandbox may.  When the sandbox's own command ends,\n"
	"the sandbox ends and commands run by exec are killed.  A container image's\n"
	"Env, WorkingDir and User apply, as with podman exec.\n"
	"\n"
	"  -e, --env K=V|K       add to the clean environment (PATH, HOME, HOSTNAME, TERM);\n"
	"                        K alone: the caller's value of K\n"
	"  -w, --workdir DIR     working directory (default: the image's, else the user's home)\n"
	"  -u, --user USER[:GROUP]  run as this user: numbers, or names in the image's\n"
	"                        /etc/passwd and /etc/group (default: the image's, else root)\n"
	"  -t, --tty             a pty inside the sandbox; the terminal in raw mode\n"
	"  -i, --interactive     keep stdin (otherwise /dev/null)\n"
	"      --json            output as JSON frames (docs/protocol.md)\n"
	"\n"
	"Exit status: the command's; 128+N when killed by signal N; 125 when nothing\n"
	"runs in SANDBOX (or it cannot be reached), 126 when CMD cannot be executed,\n"
	"127 when it is not found.  SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and\n"
	"SIGUSR2 are forwarded to the command.\n";

struct exec_args {
	struct env_list env; /* -e, in order */
	const char *user;    /* -u as given: a name is looked up in the image */
	const char *sandbox;
	struct run_command c;
	isofs_image_defaults defaults;
	const char **merged_env;
};

static void exec_args_release(struct exec_args *a)
{
	env_list_free(&a->env);
	isofs_image_defaults_free(&a->defaults);
	free(a->merged_env);
}

/*
 * As podman exec: the running image's Env (below -e), WorkingDir and User
 * (unless -w, -u) apply to the new command too.
 */
static int apply_image_defaults(isofs_store *store, struct exec_args *a, const char *term, isofs_error *err)
{
	isofs_running *v = NULL;
	const char *image = NULL;
	size_t n = 0, k = 0, nimage = 0;
	int r = 0;

	if (isofs_ps(store, &v, &n, NULL) == 0)
		for (size_t i = 0; i < n && !image; i++)
			if (strcmp(v[i].name, a->sandbox) == 0)
				image = v[i].image;
	if (image)
		r = isofs_image_defaults_get(store, image, &a->defaults, err);
	if (r == 0 && !a->c.cwd)
		a->c.cwd = a->defaults.workdir;
	if (r == 0 && !a->c.has_user && (a->user || a->defaults.user)) {
		const char *user = a->user ? a->user : a->defaults.user;
		if (!image) {
			snprintf(err->message, sizeof(err->message), "--user '%s': no image known to look the name up in",
				 user);
			r = -(err->code = EINVAL);
		} else {
			r = isofs_image_user_resolve(store, image, user, &a->c.uid, &a->c.gid, err);
			a->c.has_user = r == 0;
		}
	}
	for (char **e = a->defaults.env; r == 0 && e && *e; e++)
		nimage++;
	if (r == 0 && !(a->merged_env = calloc(1 + nimage + a->env.n + 1, sizeof(char *)))) {
		snprintf(err->message, sizeof(err->message), "out of memory");
		r = -(err->code = ENOMEM);
	}
	if (r == 0) {
		if (term)
			a->merged_env[k++] = term;
		for (size_t i = 0; i < nimage; i++)
			a->merged_env[k++] = a->defaults.env[i];
		for (size_t i = 0; i < a->env.n; i++)
			a->merged_env[k++] = a->env.items[i];
		a->c.env = a->merged_env;
	}
	isofs_running_list_free(v, n);
	return r;
}

static int parse_args(int argc, char **argv, struct exec_args *a)
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "tty", no_argument, NULL, 't' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	/* '+': options end at SANDBOX; what follows it is the command's */
	while ((c = getopt_long(argc, argv, "+e:w:u:tih", opts, NULL)) != -1) {
		switch (c) {
		case 'e': {
			int r = env_list_add_option(&a->env, optarg, "exec ");
			if (r != 0)
				return r;
			break;
		}
		case 'w':
			if (optarg[0] != '/')
				return cli_usage_error("exec ", "--workdir '%s' must be absolute", optarg);
			a->c.cwd = optarg;
			break;
		case 'u':
			/* numbers now, a name (NAME[:GROUP]) in the image once it is known */
			if (parse_user_ids(optarg, &a->c.uid, &a->c.gid) == 0)
				a->c.has_user = true;
			else if (optarg[0] && optarg[0] != ':')
				a->user = optarg;
			else
				return cli_usage_error("exec ", "--user '%s': expected UID[:GID] or NAME[:GROUP]", optarg);
			break;
		case 't':
			a->c.tty = true;
			break;
		case 'i':
			a->c.interactive = true;
			break;
		case 'j':
			a->c.json = true;
			break;
		case 'h':
			fputs(cmd_exec_usage, stdout);
			return EXIT_OK;
		default:
			return cli_usage_error("exec ", "unknown option, or one missing its value: '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		return cli_usage_error("exec ", "missing SANDBOX before '--'");
	if (optind >= argc)
		return cli_usage_error("exec ", "missing SANDBOX");
	a->sandbox = argv[optind++];
	if (!isofs_name_is_valid(a->sandbox))
		return cli_usage_error("exec ", "invalid sandbox name '%s'", a->sandbox);
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc)
		return cli_usage_error("exec ", "missing the command ('-- CMD')");
	if (a->c.tty && a->c.json)
		return cli_usage_error("exec ", "--tty and --json do not go together");
	a->c.argv = (const char *const *) argv + optind;
	return -1; /* go on */
}

static int attach_failed(const struct exec_args *a, const isofs_error *err)
{
	if (a->c.json) {
		frame_emit(STDOUT_FILENO, wire_error_frame(125, err->message));
		frame_emit(STDOUT_FILENO, wire_exit_frame(125 << 8));
		return 125;
	}
	return cli_error(125, "%s", err->message);
}

int cmd_exec(const struct cli_globals *g, int argc, char **argv)
{
	__attribute__((cleanup(exec_args_release))) struct exec_args a = { 0 };
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	isofs_session *s = NULL;
	const char *term = getenv("TERM");
	char termenv[256] = "";
	int ex;

	ex = parse_args(argc, argv, &a);
	if (ex >= 0)
		return ex;
	/* As run does: the caller's TERM for a terminal, below the image's Env and --env */
	if (term && (a.c.tty || isatty(STDOUT_FILENO)))
		snprintf(termenv, sizeof(termenv), "TERM=%s", term);
	if (cli_open_store(g, &store) != EXIT_OK)
		return 125;
	if (isofs_session_attach(store, a.sandbox, &s, &err) < 0 ||
	    apply_image_defaults(store, &a, termenv[0] ? termenv : NULL, &err) < 0) {
		if (s)
			isofs_session_close(s);
		isofs_store_close(store);
		return attach_failed(&a, &err);
	}
	ex = run_command(s, &a.c);
	isofs_session_close(s);
	isofs_store_close(store);
	return ex;
}
