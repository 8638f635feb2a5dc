/* SPDX-License-Identifier: MIT */
/* `isofs exec`: a command beside the one running in a sandbox, in its namespaces, root and mounts. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
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
	"the sandbox ends and commands run by exec are killed.\n"
	"\n"
	"  -e, --env K=V         add to the clean environment (PATH, HOME, HOSTNAME, TERM)\n"
	"  -w, --workdir DIR     working directory (default: the user's home)\n"
	"  -u, --user UID[:GID]  run as this user (default root of the sandbox)\n"
	"  -t, --tty             a pty inside the sandbox; the terminal in raw mode\n"
	"  -i, --interactive     keep stdin (otherwise /dev/null)\n"
	"      --json            output as JSON frames (docs/protocol.md)\n"
	"\n"
	"Exit status: the command's; 128+N when killed by signal N; 125 when nothing\n"
	"runs in SANDBOX (or it cannot be reached), 126 when CMD cannot be executed,\n"
	"127 when it is not found.  SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and\n"
	"SIGUSR2 are forwarded to the command.\n";

struct exec_args {
	const char *env[CLI_MAX_LIST + 2];
	size_t nenv;
	const char *sandbox;
	struct run_command c;
};

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
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return cli_usage_error("exec ", "--env '%s': expected K=V", optarg);
			if (a->nenv >= CLI_MAX_LIST)
				return cli_usage_error("exec ", "too many --env");
			a->env[a->nenv++] = optarg;
			break;
		case 'w':
			if (optarg[0] != '/')
				return cli_usage_error("exec ", "--workdir '%s' must be absolute", optarg);
			a->c.cwd = optarg;
			break;
		case 'u':
			if (parse_user_ids(optarg, &a->c.uid, &a->c.gid) < 0)
				return cli_usage_error("exec ", "--user '%s': expected UID[:GID] below 65536", optarg);
			a->c.has_user = true;
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
	struct exec_args a = { 0 };
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	isofs_session *s = NULL;
	const char *term = getenv("TERM");
	char termenv[256];
	int ex;

	ex = parse_args(argc, argv, &a);
	if (ex >= 0)
		return ex;
	/* As run does: the caller's TERM for a terminal, below --env */
	if (term && (a.c.tty || isatty(STDOUT_FILENO))) {
		snprintf(termenv, sizeof(termenv), "TERM=%s", term);
		memmove(a.env + 1, a.env, a.nenv * sizeof(*a.env));
		a.env[0] = termenv;
		a.nenv++;
	}
	a.env[a.nenv] = NULL;
	a.c.env = a.env;
	if (cli_open_store(g, &store) != EXIT_OK)
		return 125;
	if (isofs_session_attach(store, a.sandbox, &s, &err) < 0) {
		isofs_store_close(store);
		return attach_failed(&a, &err);
	}
	ex = run_command(s, &a.c);
	isofs_session_close(s);
	isofs_store_close(store);
	return ex;
}
