/* SPDX-License-Identifier: MIT */
/* `isofs ps`: the sandboxes where commands run, their init and commands. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

const char cmd_ps_usage[] =
	"Usage: isofs ps [--json]\n"
	"\n"
	"The sandboxes where commands run: the name `isofs exec` takes, the image, and\n"
	"for the sandbox's init (its pid 1) and each command it runs, the host's pid\n"
	"(as ps(1) shows it), when it started (UTC) and the command line.\n"
	"\n"
	"  --json   an array of objects (start times in ISO 8601 and unix seconds)\n";

static cJSON *process_json(const isofs_process *p)
{
	cJSON *o = cJSON_CreateObject();
	char when[32];

	cli_iso_time(p->started, when, sizeof(when));
	cJSON_AddNumberToObject(o, "pid", p->pid);
	cJSON_AddStringToObject(o, "started", when);
	cJSON_AddNumberToObject(o, "started_unix", (double) p->started);
	if (p->argv) {
		cJSON *argv = cJSON_AddArrayToObject(o, "argv");
		for (char **a = p->argv; *a; a++)
			cJSON_AddItemToArray(argv, cJSON_CreateString(*a));
	}
	return o;
}

static void add_string_or_null(cJSON *o, const char *key, const char *value)
{
	if (value)
		cJSON_AddStringToObject(o, key, value);
	else
		cJSON_AddNullToObject(o, key);
}

static int print_json(const isofs_running *v, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	char *text;

	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject(), *cmds;
		cJSON_AddStringToObject(o, "name", v[i].name);
		add_string_or_null(o, "sandbox", v[i].sandbox);
		add_string_or_null(o, "image", v[i].image);
		add_string_or_null(o, "mountpoint", v[i].mountpoint);
		cJSON_AddBoolToObject(o, "ephemeral", v[i].ephemeral);
		cJSON_AddItemToObject(o, "init", process_json(&v[i].init));
		cmds = cJSON_AddArrayToObject(o, "commands");
		for (size_t k = 0; k < v[i].ncommands; k++)
			cJSON_AddItemToArray(cmds, process_json(&v[i].commands[k]));
		cJSON_AddItemToArray(arr, o);
	}
	text = cJSON_Print(arr);
	cJSON_Delete(arr);
	if (!text)
		return cli_error(EXIT_FAIL, "out of memory");
	printf("%s\n", text);
	free(text);
	return EXIT_OK;
}

/* A command line as one string: arguments with spaces or nothing in them quoted, control bytes as '?'. */
static void print_argv(char *const *argv)
{
	for (char *const *a = argv; *a; a++) {
		bool quote = !**a || strpbrk(*a, " \t'\"$\\") != NULL;
		fputs(a == argv ? "" : " ", stdout);
		if (quote)
			putchar('\'');
		for (const char *c = *a; *c; c++)
			putchar((unsigned char) *c < 0x20 || *c == 0x7f ? '?' : *c);
		if (quote)
			putchar('\'');
	}
}

static void print_table(const isofs_running *v, size_t n)
{
	char when[32];

	printf("%-24s %-16s %-8s %-20s %s\n", "NAME", "IMAGE", "PID", "STARTED (UTC)", "COMMAND");
	for (size_t i = 0; i < n; i++) {
		cli_iso_time(v[i].init.started, when, sizeof(when));
		printf("%-24s %-16s %-8d %-20s (init%s%s)\n", v[i].name, v[i].image ? v[i].image : "-",
		       (int) v[i].init.pid, when, v[i].mountpoint ? " in the view at " : "",
		       v[i].mountpoint ? v[i].mountpoint : "");
		for (size_t k = 0; k < v[i].ncommands; k++) {
			const isofs_process *c = &v[i].commands[k];
			cli_iso_time(c->started, when, sizeof(when));
			printf("%-24s %-16s %-8d %-20s ", "", "", (int) c->pid, when);
			print_argv(c->argv);
			putchar('\n');
		}
	}
}

int cmd_ps(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	isofs_running *v = NULL;
	bool json = false;
	size_t n = 0;
	int c, ex, r;

	while ((c = cli_getopt(argc, argv, opts, cmd_ps_usage, "ps ", &ex)) != -1) {
		if (c != 'j')
			return ex;
		json = true;
	}
	if (optind < argc)
		return cli_usage_error("ps ", "unexpected argument '%s'", argv[optind]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	r = isofs_ps(store, &v, &n, &err);
	isofs_store_close(store);
	if (r < 0)
		return cli_fail(&err);
	if (json)
		ex = print_json(v, n);
	else
		print_table(v, n);
	isofs_running_list_free(v, n);
	return ex;
}
