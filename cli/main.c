/* SPDX-License-Identifier: MIT */
/* The `isofs` command: global options, then one subcommand from the table. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

static const char main_usage[] =
	"Usage: isofs [--store DIR] [--log-level LEVEL | --debug] COMMAND [ARGS…]\n"
	"       isofs help [COMMAND [SUBCOMMAND]]\n"
	"\n"
	"A rootless sandbox manager: read-only images, copy-on-write views of them,\n"
	"and commands run in isolation inside those views.\n"
	"\n"
	"Commands:\n"
	"%s"
	"\n"
	"Options (before COMMAND):\n"
	"  --store DIR        the store (default: $ISOFS_STORE, else /var/lib/isofs for root,\n"
	"                     else $XDG_DATA_HOME/isofs, i.e. ~/.local/share/isofs)\n"
	"  --log-level LEVEL  error, warning (the default), info or debug: what isofs says\n"
	"                     on stderr, and an overlay server in its daemon.log\n"
	"  --debug            --log-level debug: the store, the layers of each view, the\n"
	"                     overlay server's options, the ids and cgroups of a sandbox\n"
	"  -h, --help         this help; `isofs help COMMAND` or `isofs COMMAND --help`\n"
	"                     for a command's\n"
	"  -V, --version      print the version\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 usage error (run: the command's, 125-127\n"
	"when it could not be run).  Manual pages: isofs(1), isofs-COMMAND(1).\n";

static const cli_command commands[] = {
	{ "image", cmd_image, "images", cmd_image_usage, cmd_image_commands },
	{ "sandbox", cmd_sandbox, "persistent sandboxes", cmd_sandbox_usage, cmd_sandbox_commands },
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

void cli_iso_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t) t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "-");
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
	return cli_getopt_short(argc, argv, "h", opts, usage, cmd, ret_exit);
}

int cli_getopt_short(int argc, char **argv, const char *shortopts, const struct option *opts, const char *usage,
		     const char *cmd, int *ret_exit)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, shortopts, opts, NULL);
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

/* One line per command; a group's summary names its subcommands (they come from its table: none is left out). */
static void format_command_list(char *buf, size_t size, const cli_command *table)
{
	size_t n = 0;

	buf[0] = '\0';
	for (const cli_command *c = table; c->name && n < size; c++) {
		n += (size_t) snprintf(buf + n, size - n, "  %-10s %s%s", c->name, c->summary, c->subcommands ? ":" : "");
		for (const cli_command *s = c->subcommands; s && s->name && n < size; s++)
			n += (size_t) snprintf(buf + n, size - n, "%s %s", s == c->subcommands ? "" : ",", s->name);
		if (n < size)
			n += (size_t) snprintf(buf + n, size - n, "\n");
	}
}

void cli_print_help(const char *prefix, const cli_command *c)
{
	char list[4096];

	if (!c->subcommands) {
		fputs(c->usage, stdout);
		return;
	}
	format_command_list(list, sizeof(list), c->subcommands);
	printf("Usage: isofs %s%s COMMAND [ARGS…]\n\nCommands:\n%s\n%s\n"
	       "`isofs help %s%s COMMAND` or `isofs %s%s COMMAND --help`: a command's usage.\n",
	       prefix ? prefix : "", c->name, list, c->usage, prefix ? prefix : "", c->name, prefix ? prefix : "",
	       c->name);
}

static const cli_command *find_command(const cli_command *table, const char *name)
{
	for (const cli_command *c = table; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* `isofs help [COMMAND [SUBCOMMAND]]`: what `isofs [COMMAND [SUBCOMMAND]] --help` prints. */
static int cmd_help(int argc, char **argv)
{
	const cli_command *c, *sub;
	char list[4096];

	if (argc == 1) {
		format_command_list(list, sizeof(list), commands);
		printf(main_usage, list);
		return EXIT_OK;
	}
	if (argc > 3)
		return cli_usage_error(NULL, "help: expected at most COMMAND SUBCOMMAND, got %d arguments", argc - 1);
	c = find_command(commands, argv[1]);
	if (!c)
		return cli_usage_error(NULL, "help: unknown command '%s'", argv[1]);
	if (argc == 2) {
		cli_print_help(NULL, c);
		return EXIT_OK;
	}
	if (!c->subcommands)
		return cli_usage_error(NULL, "help: '%s' has no subcommands", c->name);
	sub = find_command(c->subcommands, argv[2]);
	if (!sub)
		return cli_usage_error(NULL, "help: unknown command '%s %s'", c->name, argv[2]);
	cli_print_help(NULL, sub);
	return EXIT_OK;
}

/* The library's messages: one line each on stderr (an overlay server's: its daemon.log). */
static void print_log(isofs_log_level level, const char *message, void *userdata)
{
	(void) userdata;
	fprintf(stderr, "isofs: %s%s%s\n", level == ISOFS_LOG_ERROR ? "" : isofs_log_level_name(level),
		level == ISOFS_LOG_ERROR ? "" : ": ", message);
}

bool cli_log_enabled(const struct cli_globals *g, isofs_log_level level)
{
	return level <= g->log_level;
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
			cli_print_help(prefix, c);
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
		{ "log-level", required_argument, NULL, 'L' },
		{ "debug", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_globals g = { .log_level = ISOFS_LOG_WARNING };
	char list[4096];
	int c, level;

	/*
	 * Started with stdin, stdout or stderr closed, the first files isofs
	 * opens would get those numbers: a store lock written to as stdout, an
	 * fd the overlay server keeps then replaced by its /dev/null.  They get
	 * /dev/null opened the other way round, so that a read of stdin or a
	 * write to stdout still fails (EBADF) as on a closed fd: frames that
	 * cannot be written are an error (docs/protocol.md).
	 */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY) != fd)
			return 125;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hV", options, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!*optarg)
				return cli_usage_error(NULL, "--store needs a directory");
			g.store = optarg;
			break;
		case 'L':
			level = isofs_log_level_from_name(optarg);
			if (level < 0)
				return cli_usage_error(NULL, "--log-level '%s': expected error, warning, info or debug",
						       optarg);
			g.log_level = (isofs_log_level) level;
			break;
		case 'D':
			g.log_level = ISOFS_LOG_DEBUG;
			break;
		case 'h':
			return cmd_help(1, argv);
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
		format_command_list(list, sizeof(list), commands);
		fprintf(stderr, "isofs: missing command; commands are:\n%s", list);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0)
		return cmd_help(argc - optind, argv + optind);
	isofs_log_set(g.log_level, print_log, NULL);
	raise_fd_limit();
	return cli_dispatch(&g, NULL, commands, argc - optind, argv + optind);
}
