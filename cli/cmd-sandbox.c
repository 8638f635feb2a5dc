/* SPDX-License-Identifier: MIT */
/* `isofs sandbox …`: create, ls, rm, reset, diff, commit. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "sandbox.h" /* sandbox_list_names */

/* The group's notes: its help lists the commands from the table at the end. */
const char cmd_sandbox_usage[] =
	"A persistent sandbox is an image plus the changes made in it (kept in\n"
	"STORE/sandboxes/NAME/upper).  Use one with `isofs mount IMAGE MOUNTPOINT\n"
	"--sandbox NAME` and `isofs run --sandbox NAME -- CMD`.\n";

static const char create_usage[] =
	"Usage: isofs sandbox create NAME IMAGE\n"
	"\n"
	"Creates the persistent sandbox NAME of IMAGE, with no changes yet.\n";

static const char ls_usage[] =
	"Usage: isofs sandbox ls [--json | --quiet]\n"
	"\n"
	"Lists sandboxes: name, image, size of the changes, state (idle, mounted,\n"
	"running), where mounted.  Detaches what a killed overlay server left mounted.\n"
	"  --json       an array of objects (name, image, changes, mountpoint, in_use,\n"
	"               running, created (ISO 8601, UTC), created_unix)\n"
	"  -q, --quiet  the names only, one a line (nothing measured or detached)\n";

static const char rm_usage[] =
	"Usage: isofs sandbox rm [--force] NAME…\n"
	"\n"
	"Removes sandboxes and their changes; refused for one in use (mounted, or a\n"
	"command running in it) unless --force, which unmounts it and ends the command.\n";

static const char reset_usage[] =
	"Usage: isofs sandbox reset NAME\n"
	"\n"
	"Drops every change: the sandbox is its image again.  Refused while in use.\n";

static const char diff_usage[] =
	"Usage: isofs sandbox diff [--json] NAME\n"
	"\n"
	"The changes against the image, one a line: \"A /path\" added, \"C /path\"\n"
	"changed, \"D /path\" deleted.  --json: an array of {\"kind\", \"path\"} objects.\n";

static const char commit_usage[] =
	"Usage: isofs sandbox commit NAME NEW_IMAGE\n"
	"\n"
	"Makes the changes the new image NEW_IMAGE, layered on the sandbox's image (the\n"
	"changes move, no copy); the sandbox then stands on NEW_IMAGE with no changes.\n"
	"Images stack this way up to 100 layers deep.  Refused while in use.\n";

static int sandbox_create(const struct cli_globals *g, int argc, char **argv)
{
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt(argc, argv, cli_help_only, create_usage, "sandbox create ", &ex)) != -1)
		return ex;
	if (argc - optind != 2)
		return cli_usage_error("sandbox ", "create: expected NAME IMAGE");
	if (!isofs_name_is_valid(argv[optind]) || !isofs_name_is_valid(argv[optind + 1]))
		return cli_usage_error("sandbox ", "invalid name '%s'",
				       isofs_name_is_valid(argv[optind]) ? argv[optind + 1] : argv[optind]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	r = isofs_sandbox_create(store, argv[optind], argv[optind + 1], &err);
	isofs_store_close(store);
	return r < 0 ? cli_fail(&err) : EXIT_OK;
}

static int sandbox_ls(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	isofs_sandbox_info *v = NULL;
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	bool json = false, quiet = false;
	size_t n = 0;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt_short(argc, argv, "hq", opts, ls_usage, "sandbox ls ", &ex)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'q')
			quiet = true;
		else
			return ex;
	}
	if (json && quiet)
		return cli_usage_error("sandbox ls ", "--json and --quiet do not go together");
	if (optind != argc)
		return cli_usage_error("sandbox ", "ls: unexpected argument '%s'", argv[optind]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	/* --quiet (shell completion): the names, cheaply */
	r = quiet ? sandbox_list_names(store, &v, &n, &err) : isofs_sandbox_list(store, &v, &n, &err);
	isofs_store_close(store);
	if (r < 0)
		return cli_fail(&err);
	if (quiet) {
		for (size_t i = 0; i < n; i++)
			puts(v[i].name);
	} else if (json) {
		cJSON *arr = cJSON_CreateArray();
		char *text;
		for (size_t i = 0; arr && i < n; i++) {
			cJSON *o = cJSON_CreateObject();
			char created[32];
			cJSON_AddStringToObject(o, "name", v[i].name);
			cJSON_AddStringToObject(o, "image", v[i].image);
			cJSON_AddNumberToObject(o, "changes", (double) v[i].changes);
			if (v[i].mountpoint)
				cJSON_AddStringToObject(o, "mountpoint", v[i].mountpoint);
			else
				cJSON_AddNullToObject(o, "mountpoint");
			cJSON_AddBoolToObject(o, "in_use", v[i].in_use);
			cJSON_AddBoolToObject(o, "running", v[i].in_use && !v[i].mountpoint);
			cli_iso_time(v[i].created, created, sizeof(created));
			cJSON_AddStringToObject(o, "created", created);
			cJSON_AddNumberToObject(o, "created_unix", (double) v[i].created);
			cJSON_AddItemToArray(arr, o);
		}
		text = arr ? cJSON_Print(arr) : NULL;
		cJSON_Delete(arr);
		if (text)
			puts(text);
		free(text);
	} else {
		printf("%-24s %-20s %10s  %-8s %s\n", "NAME", "IMAGE", "CHANGES", "STATE", "MOUNTED AT");
		for (size_t i = 0; i < n; i++) {
			char size[32];
			cli_format_size(size, sizeof(size), v[i].changes);
			printf("%-24s %-20s %10s  %-8s %s\n", v[i].name, v[i].image, size,
			       v[i].mountpoint ? "mounted" : v[i].in_use ? "running" : "idle",
			       v[i].mountpoint ? v[i].mountpoint : "-");
		}
	}
	isofs_sandbox_info_list_free(v, n);
	return EXIT_OK;
}

static int sandbox_rm(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	isofs_store *store = NULL;
	bool force = false;
	int c, ex = EXIT_OK;

	while ((c = cli_getopt(argc, argv, opts, rm_usage, "sandbox rm ", &ex)) != -1) {
		if (c != 'f')
			return ex;
		force = true;
	}
	if (optind >= argc)
		return cli_usage_error("sandbox ", "rm: expected at least one NAME");
	for (int i = optind; i < argc; i++)
		if (!isofs_name_is_valid(argv[i]))
			return cli_usage_error("sandbox ", "invalid sandbox name '%s'", argv[i]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	for (int i = optind; i < argc; i++) {
		isofs_error err = { 0 };
		if (isofs_sandbox_remove(store, argv[i], force, &err) < 0)
			ex = cli_fail(&err);
	}
	isofs_store_close(store);
	return ex;
}

static int sandbox_reset(const struct cli_globals *g, int argc, char **argv)
{
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt(argc, argv, cli_help_only, reset_usage, "sandbox reset ", &ex)) != -1)
		return ex;
	if (argc - optind != 1 || !isofs_name_is_valid(argv[optind]))
		return cli_usage_error("sandbox ", "reset: expected one valid NAME");
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	r = isofs_sandbox_reset(store, argv[optind], &err);
	isofs_store_close(store);
	return r < 0 ? cli_fail(&err) : EXIT_OK;
}

static int print_change(char kind, const char *path, void *userdata)
{
	cJSON *arr = userdata;

	if (arr) {
		cJSON *o = cJSON_CreateObject();
		char k[2] = { kind, 0 };
		cJSON_AddStringToObject(o, "kind", k);
		cJSON_AddStringToObject(o, "path", path);
		cJSON_AddItemToArray(arr, o);
	} else {
		printf("%c %s\n", kind, path);
	}
	return 0;
}

static int sandbox_diff(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	cJSON *arr = NULL;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt(argc, argv, opts, diff_usage, "sandbox diff ", &ex)) != -1) {
		if (c != 'j')
			return ex;
		arr = cJSON_CreateArray();
	}
	if (argc - optind != 1 || !isofs_name_is_valid(argv[optind])) {
		cJSON_Delete(arr);
		return cli_usage_error("sandbox ", "diff: expected one valid NAME");
	}
	if ((ex = cli_open_store(g, &store)) != EXIT_OK) {
		cJSON_Delete(arr);
		return ex;
	}
	r = isofs_sandbox_diff(store, argv[optind], print_change, arr, &err);
	isofs_store_close(store);
	if (r < 0) {
		cJSON_Delete(arr);
		return cli_fail(&err);
	}
	if (arr) {
		char *text = cJSON_Print(arr);
		if (text)
			puts(text);
		free(text);
		cJSON_Delete(arr);
	}
	return EXIT_OK;
}

static int sandbox_commit(const struct cli_globals *g, int argc, char **argv)
{
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt(argc, argv, cli_help_only, commit_usage, "sandbox commit ", &ex)) != -1)
		return ex;
	if (argc - optind != 2)
		return cli_usage_error("sandbox ", "commit: expected NAME NEW_IMAGE");
	for (int i = optind; i < argc; i++)
		if (!isofs_name_is_valid(argv[i]))
			return cli_usage_error("sandbox ", "invalid name '%s'", argv[i]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	r = isofs_sandbox_commit(store, argv[optind], argv[optind + 1], &err);
	isofs_store_close(store);
	if (r < 0)
		return cli_fail(&err);
	printf("committed sandbox '%s' as image '%s'\n", argv[optind], argv[optind + 1]);
	return EXIT_OK;
}

const cli_command cmd_sandbox_commands[] = {
	{ "create", sandbox_create, "a persistent sandbox of an image", create_usage },
	{ "ls", sandbox_ls, "list sandboxes", ls_usage },
	{ "rm", sandbox_rm, "remove sandboxes", rm_usage },
	{ "reset", sandbox_reset, "drop every change", reset_usage },
	{ "diff", sandbox_diff, "the changes against the image", diff_usage },
	{ "commit", sandbox_commit, "the changes as a new image", commit_usage },
	{ NULL, NULL, NULL, NULL },
};

int cmd_sandbox(const struct cli_globals *g, int argc, char **argv)
{
	return cli_dispatch(g, "sandbox ", cmd_sandbox_commands, argc - 1, argv + 1);
}
