/* SPDX-License-Identifier: MIT */
/* The `isofs` command: global options, then one subcommand from the table. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

static const char main_usage[] =
	"Usage: isofs [--store DIR] COMMAND [ARGS…]\n"
	"\n"
	"A rootless sandbox manager: read-only images, copy-on-write views of them,\n"
	"and commands run in isolation inside those views.\n"
	"\n"
	"Commands:\n"
	"%s"
	"\n"
	"Options:\n"
	"  --store DIR    the store (default: $ISOFS_STORE, else /var/lib/isofs for root,\n"
	"                 else $XDG_DATA_HOME/isofs, i.e. ~/.local/share/isofs)\n"
	"  -h, --help     this help; `isofs COMMAND --help` for a command's\n"
	"  -V, --version  print the version\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 usage error.\n";

static const cli_command commands[] = {
	{ "image", cmd_image, "manage images: import, bootstrap, ls, inspect, rm", cmd_image_usage },
	{ "sandbox", cmd_sandbox, "persistent sandboxes: create, ls, rm, reset, diff, commit", cmd_sandbox_usage },
	{ "mount", cmd_mount, "mount a copy-on-write view of an image", cmd_mount_usage },
	{ "umount", cmd_umount, "unmount a view and wait for its server", cmd_umount_usage },
	{ "run", cmd_run, "run a command in a sandbox", cmd_run_usage },
	{ "serve", cmd_serve, "drive a sandbox with JSON frames on stdin/stdout", cmd_serve_usage },
	{ "exec", cmd_exec, "run a command beside the one running in a sandbox", cmd_exec_usage },
	{ "ps", cmd_ps, "list the sandboxes where commands run", cmd_ps_usage },
	{ NULL, NULL, NULL, NULL },
};

/* One line on stderr, whatever went into it: names from argv may hold newlines or escapes. */
static void print_error_line(const char *fmt, va_list ap, const char *suffix)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	for (char *c = line; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			*c = '?';
	fprintf(stderr, "isofs: %s%s\n", line, suffix ? suffix : "");
}

int cli_error(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	print_error_line(fmt, ap, NULL);
	va_end(ap);
	return code;
}

int cli_fail(const isofs_error *err)
{
	return cli_error(EXIT_FAIL, "%s", err->code ? err->message : "unknown error");
}

int cli_exec_failure_exit(const isofs_error *err)
{
	if (err->stage != ISOFS_STAGE_EXEC)
		return 125;
	return err->code == ENOENT ? 127 : 126;
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
	char suffix[128];
	va_list ap;

	snprintf(suffix, sizeof(suffix), " (see 'isofs %s--help')", command ? command : "");
	va_start(ap, fmt);
	print_error_line(fmt, ap, suffix);
	va_end(ap);
	return EXIT_USAGE;
}

const struct option cli_help_only[] = {
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cli_getopt(int argc, char **argv, const struct option *opts, const char *usage, const char *cmd,
		       int *ret_exit)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, "h", opts, NULL);
	if (c == 'h') {
		fputs(usage, stdout);
		*ret_exit = EXIT_OK;
		return '?';
	}
	if (c == '?' || c == ':') {
		if (optopt && optopt != '?')
			*ret_exit = cli_usage_error(cmd, "unknown option '-%c'", optopt);
		else
			*ret_exit = cli_usage_error(cmd, "unknown option, or one missing its value: '%s'",
						    argv[optind - 1]);
		return '?';
	}
	return c;
}

int cli_open_store(const struct cli_globals *g, isofs_store **ret_store)
{
	isofs_error err = { 0 };

	if (isofs_store_open(g->store, ret_store, &err) < 0)
		return cli_fail(&err);
	return EXIT_OK;
}

void cli_format_size(char *buf, size_t size, uint64_t bytes)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double) bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long) bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

static void print_command_list(FILE *f, const cli_command *table)
{
	for (const cli_command *c = table; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
}

int cli_dispatch(const struct cli_globals *g, const char *prefix, const cli_command *table, int argc, char **argv)
{
	if (argc < 1)
		return cli_usage_error(prefix, "missing command");
	for (const cli_command *c = table; c->name; c++) {
		if (strcmp(c->name, argv[0]) != 0)
			continue;
		/* Leaf commands take --help anywhere in their own option parsing. */
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			fputs(c->usage, stdout);
			return EXIT_OK;
		}
		optind = 0; /* glibc: full re-initialisation for the subcommand's getopt */
		return c->run(g, argc, argv);
	}
	return cli_usage_error(prefix, "unknown command '%s'", argv[0]);
}

/* Deep trees are walked with one fd per level: allow as many as the hard limit does. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_globals g = { 0 };
	char list[2048] = "";
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hV", options, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!*optarg)
				return cli_usage_error(NULL, "--store needs a directory");
			g.store = optarg;
			break;
		case 'h':
			for (const cli_command *cmd = commands; cmd->name; cmd++) {
				size_t n = strlen(list);
				snprintf(list + n, sizeof(list) - n, "  %-10s %s\n", cmd->name, cmd->summary);
			}
			printf(main_usage, list);
			return EXIT_OK;
		case 'V':
			printf("isofs %s\n", isofs_version());
			return EXIT_OK;
		case ':':
			return cli_usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return cli_usage_error(NULL, "unknown option '-%c'", optopt);
			return cli_usage_error(NULL, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "isofs: missing command; commands are:\n");
		print_command_list(stderr, commands);
		return EXIT_USAGE;
	}
	raise_fd_limit();
	return cli_dispatch(&g, NULL, commands, argc - optind, argv + optind);
}
