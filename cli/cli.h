/* SPDX-License-Identifier: MIT */
#ifndef ISOFS_CLI_H
#define ISOFS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "isofs.h"

/* Exit codes (documented in the README). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,  /* the command failed */
	EXIT_USAGE = 2, /* bad options or arguments */
};

struct cli_globals {
	const char *store; /* --store, NULL: the default */
	bool quiet;
	isofs_log_level log_level; /* --log-level, --debug; default warning */
};

/*
 * A command, or a group of them (`subcommands` set): its help is then made
 * from the table (each one's name and summary) with `usage` after it, the
 * group's notes.  The one place each text lives; `isofs help` prints the same.
 */
typedef struct cli_command {
	const char *name;
	int (*run)(const struct cli_globals *g, int argc, char **argv);
	const char *summary;
	const char *usage; /* full --help text (a group: its notes) */
	const struct cli_command *subcommands;
} cli_command;

/* Whether a message at `level` is to be said (--log-level). */
bool cli_log_enabled(const struct cli_globals *g, isofs_log_level level);
/* A command's --help on stdout: `prefix` is the group's words ("image "), or NULL. */
void cli_print_help(const char *prefix, const cli_command *c);

/* "isofs: <message>" on stderr; returns `code`. */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_fail(const isofs_error *err);
/* A time as --json gives it everywhere: ISO 8601, UTC ("2026-11-30T05:00:00Z"); "-" when it cannot be told. */
void cli_iso_time(int64_t t, char *buf, size_t size);
/* A usage error: names the problem and points to --help. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Finds `name` in a NULL-terminated table and runs it; prints help for --help / no args. */
int cli_dispatch(const struct cli_globals *g, const char *prefix, const cli_command *table, int argc, char **argv);

int cli_open_store(const struct cli_globals *g, isofs_store **ret_store);

/* "12.3 MiB" */
void cli_format_size(char *buf, size_t size, uint64_t bytes);
/* The exit status of a command that could not be run, from the stage the library says failed: 127 not found, 126 not executable, 125 setup. */
int cli_exec_failure_exit(const isofs_error *err);

/* Progress bar on stderr when it is a terminal; silent otherwise. */
typedef struct cli_progress cli_progress;
cli_progress *cli_progress_new(const char *label);
void cli_progress_update(const isofs_progress *p, void *userdata);
void cli_progress_done(cli_progress *bar);
/* What the bar counts after the bytes ("entries" unless set). */
void cli_progress_set_unit(cli_progress *bar, const char *unit);

/* getopt_long for a leaf command: 'h' prints `usage` (exit 0); returns the option, -1 at the end, '?' on error. */
#include <getopt.h>
int cli_getopt(int argc, char **argv, const struct option *opts, const char *usage, const char *cmd, int *ret_exit);
extern const struct option cli_help_only[];
/* The same with short options besides -h ("hq"). */
int cli_getopt_short(int argc, char **argv, const char *shortopts, const struct option *opts, const char *usage,
		     const char *cmd, int *ret_exit);

int cmd_image(const struct cli_globals *g, int argc, char **argv);
extern const char cmd_image_usage[];
/* "imported image 'x': N entries (…), SIZE" */
void cli_import_summary(const char *verb, const char *name, const isofs_import_stats *s);
int cmd_image_pull(const struct cli_globals *g, int argc, char **argv);
int cmd_image_push(const struct cli_globals *g, int argc, char **argv);
extern const char image_pull_usage[], image_push_usage[];
extern const cli_command cmd_image_commands[];
int cmd_sandbox(const struct cli_globals *g, int argc, char **argv);
extern const char cmd_sandbox_usage[];
extern const cli_command cmd_sandbox_commands[];
int cmd_mount(const struct cli_globals *g, int argc, char **argv);
extern const char cmd_mount_usage[];
int cmd_umount(const struct cli_globals *g, int argc, char **argv);
extern const char cmd_umount_usage[];
/* The options shared by `run` and `serve` that shape the sandbox. */
#define CLI_MAX_LIST 64
struct session_args {
	isofs_session_options so;
	const char *binds[CLI_MAX_LIST], *dns[CLI_MAX_LIST], *caps[CLI_MAX_LIST], *cap_drops[CLI_MAX_LIST];
};
/* Their long options, for a getopt_long table (the values cli_session_option takes). */
#define CLI_SESSION_OPTIONS                                       \
	{ "sandbox", required_argument, NULL, 's' },              \
	{ "hostname", required_argument, NULL, 'H' },             \
	{ "net", required_argument, NULL, 'n' },                  \
	{ "dns", required_argument, NULL, 'd' },                  \
	{ "bind", required_argument, NULL, 'b' },                 \
	{ "volume", required_argument, NULL, 'v' },               \
	{ "in-place", no_argument, NULL, 'I' },                   \
	{ "ephemeral", no_argument, NULL, 'L' },                  \
	{ "view-idle", required_argument, NULL, 'K' },            \
	{ "home", no_argument, NULL, 'O' },                       \
	{ "cap-add", required_argument, NULL, 'c' },              \
	{ "cap-drop", required_argument, NULL, 'D' },             \
	{ "seccomp", required_argument, NULL, 'S' },              \
	{ "memory", required_argument, NULL, 'M' },               \
	{ "pids", required_argument, NULL, 'P' },                 \
	{ "cpus", required_argument, NULL, 'C' },                 \
	{ "tmp-size", required_argument, NULL, 'T' },             \
	{ "shm-size", required_argument, NULL, 'Z' }
/* 0 when `c` was one (sandbox s, hostname H, net n, dns d, bind b, cap-add c, cap-drop D, seccomp S, …), 1 when not, else an exit code. */
int cli_session_option(int c, const char *arg, struct session_args *sa, const char *cmd);
/* The positional target (IMAGE or MOUNTPOINT, or none with --sandbox); 0 or an exit code. */
int cli_session_target(int n, char **args, struct session_args *sa, const char *cmd);

int cmd_run(const struct cli_globals *g, int argc, char **argv);
extern const char cmd_run_usage[];
int cmd_serve(const struct cli_globals *g, int argc, char **argv);
extern const char cmd_serve_usage[];
int cmd_exec(const struct cli_globals *g, int argc, char **argv);
extern const char cmd_exec_usage[];
int cmd_ps(const struct cli_globals *g, int argc, char **argv);
extern const char cmd_ps_usage[];

#endif
