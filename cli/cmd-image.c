/* SPDX-License-Identifier: MIT */
/* `isofs image …`: import, bootstrap, ls, inspect, rm. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* The group's notes: its help lists the commands from the table below. */
const char cmd_image_usage[] =
	"Images are read-only root file systems (with their layers and, for a container\n"
	"image, its config).  Image names: 1-64 characters of A-Z a-z 0-9 . _ -,\n"
	"starting with a letter or digit.\n";

static const char import_usage[] =
	"Usage: isofs image import NAME SOURCE [--ref REF]\n"
	"\n"
	"Imports SOURCE as the read-only image NAME. SOURCE is a tar archive (plain, gzip,\n"
	"xz, zstd or bzip2, recognised by content), a directory (copied), or - for a tar\n"
	"stream on standard input. File types, modes (setuid, setgid, sticky), times,\n"
	"symlinks, hard links and xattrs are kept; owners, device nodes and fifos too when\n"
	"run as root. Run as a user, owners other than root are kept in the xattr\n"
	"user.isofs.owner (files, directories) or as the user's subordinate ids\n"
	"(symlinks, fifos; /etc/subuid), and device nodes are skipped; the summary\n"
	"counts each.\n"
	"Layer metadata in SOURCE (xattrs trusted.overlay.*, user.overlay.*, user.isofs.*)\n"
	"is never imported: it is dropped and counted as overlay xattrs dropped.\n"
	"\n"
	"An image archive is recognised by content and imported as the image it holds:\n"
	"a docker-archive (podman save, docker save), an oci-archive, an OCI image layout\n"
	"directory or a docker-dir directory. Each of its layers becomes a layer of the\n"
	"store, shared with every image that has it (stored once); .wh. whiteouts become\n"
	"the store's; every digest is verified. The image's config is kept: `isofs run\n"
	"NAME` without a command runs its Entrypoint and Cmd as its User, in its\n"
	"WorkingDir, with its Env. --ref picks one image of an archive holding several.\n"
	"A progress bar is drawn on a terminal; one summary line is printed at the end.\n";

static const char bootstrap_usage[] =
	"Usage: isofs image bootstrap NAME --busybox[=PATH]\n"
	"       isofs image bootstrap NAME --debian SUITE [--mirror URL]\n"
	"\n"
	"--busybox: /bin/busybox (the host's static busybox, Debian package busybox-static)\n"
	"with a link for every applet, /bin/sh among them, /etc/passwd, /etc/group,\n"
	"/etc/hosts and the usual empty directories.\n"
	"--debian: debootstrap --variant=minbase SUITE (needs root; default mirror\n"
	"http://deb.debian.org/debian).\n";

static const char ls_usage[] =
	"Usage: isofs image ls [--json | --quiet]\n"
	"\n"
	"Lists images: name, size on disk, number of entries, creation time (UTC).\n"
	"  --json       an array of objects (name, size, files, created, source, parent)\n"
	"  -q, --quiet  the names only, one a line\n";

static const char inspect_usage[] =
	"Usage: isofs image inspect NAME\n"
	"\n"
	"Prints an image's metadata as JSON: source, parent, size, files, the import's\n"
	"counters, the rootfs path; a container image's layers and config.\n";

static const char rm_usage[] =
	"Usage: isofs image rm NAME…\n"
	"\n"
	"Removes images; refused for an image other images are built on or sandboxes use.\n";

void cli_import_summary(const char *verb, const char *name, const isofs_import_stats *s)
{
	char size[32], extra[512] = "";
	size_t n = 0;

	cli_format_size(size, sizeof(size), s->bytes);
#define MORE(field, text)                                                                              \
	if (s->field && n < sizeof(extra))                                                                   \
		n += (size_t) snprintf(extra + n, sizeof(extra) - n, "%s%llu " text, n ? ", " : "; ",          \
				       (unsigned long long) s->field)
	MORE(devices_skipped, "device nodes skipped (not root)");
	MORE(sockets_skipped, "sockets skipped");
	MORE(owners_in_xattr, "owners kept in user.isofs.owner");
	MORE(owners_subordinate, "owners kept as subordinate ids");
	MORE(owners_dropped, "owners not kept");
	MORE(xattrs_dropped, "xattrs not kept");
	MORE(acls_dropped, "ACLs not kept");
	MORE(overlay_xattrs_dropped, "overlay xattrs dropped");
#undef MORE
	printf("%s image '%s': %llu entries (%llu files, %llu dirs, %llu symlinks, %llu hard links, %llu fifos, "
	       "%llu devices), %s%s\n",
	       verb, name, (unsigned long long) s->entries, (unsigned long long) s->files,
	       (unsigned long long) s->dirs, (unsigned long long) s->symlinks, (unsigned long long) s->hardlinks,
	       (unsigned long long) s->fifos, (unsigned long long) s->devices, size, extra);
}

static int image_import(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts_table[] = {
		{ "ref", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	isofs_import_options opts = { .progress = cli_progress_update };
	isofs_import_stats stats = { 0 };
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	cli_progress *bar;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt(argc, argv, opts_table, import_usage, "image import ", &ex)) != -1) {
		if (c != 'r')
			return ex;
		opts.ref = optarg;
	}
	if (argc - optind != 2)
		return cli_usage_error("image import ", "expected NAME SOURCE, got %d argument%s", argc - optind,
				       argc - optind == 1 ? "" : "s");
	if (!isofs_name_is_valid(argv[optind]))
		return cli_usage_error("image ", "invalid image name '%s'", argv[optind]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	bar = cli_progress_new("importing");
	opts.userdata = bar;
	r = isofs_image_import(store, argv[optind], argv[optind + 1], STDIN_FILENO, &opts, &stats, &err);
	cli_progress_done(bar);
	isofs_store_close(store);
	if (r < 0)
		return cli_fail(&err);
	cli_import_summary("imported", argv[optind], &stats);
	return EXIT_OK;
}

static int image_bootstrap(const struct cli_globals *g, int argc, char **argv)
{
	cli_progress *bar;
	static const struct option opts_table[] = {
		{ "busybox", optional_argument, NULL, 'b' },
		{ "debian", required_argument, NULL, 'd' },
		{ "mirror", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	isofs_import_options opts = { 0 };
	isofs_import_stats stats = { 0 };
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	bool busybox = false;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt(argc, argv, opts_table, bootstrap_usage, "image bootstrap ", &ex)) != -1) {
		switch (c) {
		case 'b':
			busybox = true;
			opts.busybox = optarg;
			break;
		case 'd':
			opts.suite = optarg;
			break;
		case 'm':
			opts.mirror = optarg;
			break;
		default:
			return ex;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("image bootstrap ", "expected one NAME, got %d", argc - optind);
	if (busybox == !!opts.suite)
		return cli_usage_error("image bootstrap ", "give exactly one of --busybox and --debian SUITE");
	if (opts.mirror && !opts.suite)
		return cli_usage_error("image bootstrap ", "--mirror goes with --debian");
	if (!isofs_name_is_valid(argv[optind]))
		return cli_usage_error("image ", "invalid image name '%s'", argv[optind]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	bar = cli_progress_new(busybox ? "bootstrapping" : "debootstrap");
	opts.progress = cli_progress_update;
	opts.userdata = bar;
	if (busybox)
		r = isofs_image_bootstrap_busybox(store, argv[optind], &opts, &stats, &err);
	else
		r = isofs_image_bootstrap_debian(store, argv[optind], &opts, &stats, &err);
	cli_progress_done(bar);
	isofs_store_close(store);
	if (r < 0)
		return cli_fail(&err);
	if (busybox)
		cli_import_summary("bootstrapped", argv[optind], &stats);
	else
		printf("bootstrapped image '%s': Debian %s (minbase)\n", argv[optind], opts.suite);
	return EXIT_OK;
}

static int image_ls(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts_table[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	isofs_image_info *infos = NULL;
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	bool json = false, quiet = false;
	size_t n = 0;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt_short(argc, argv, "hq", opts_table, ls_usage, "image ls ", &ex)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'q')
			quiet = true;
		else
			return ex;
	}
	if (json && quiet)
		return cli_usage_error("image ls ", "--json and --quiet do not go together");
	if (optind != argc)
		return cli_usage_error("image ls ", "unexpected argument '%s'", argv[optind]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	r = isofs_image_list(store, &infos, &n, &err);
	isofs_store_close(store);
	if (r < 0)
		return cli_fail(&err);

	if (quiet) {
		for (size_t i = 0; i < n; i++)
			puts(infos[i].name);
	} else if (json) {
		cJSON *arr = cJSON_CreateArray();
		char *text;
		for (size_t i = 0; arr && i < n; i++) {
			cJSON *o = cJSON_CreateObject();
			char created[32];
			time_t t = (time_t) infos[i].created;
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
			cJSON_AddStringToObject(o, "name", infos[i].name);
			if (infos[i].damaged) {
				cJSON_AddTrueToObject(o, "damaged");
				cJSON_AddItemToArray(arr, o);
				continue;
			}
			cJSON_AddNumberToObject(o, "size", (double) infos[i].size);
			cJSON_AddNumberToObject(o, "files", (double) infos[i].files);
			cJSON_AddStringToObject(o, "created", created);
			cJSON_AddNumberToObject(o, "created_unix", (double) infos[i].created);
			cJSON_AddStringToObject(o, "source", infos[i].source ? infos[i].source : "");
			if (infos[i].parent)
				cJSON_AddStringToObject(o, "parent", infos[i].parent);
			else
				cJSON_AddNullToObject(o, "parent");
			cJSON_AddItemToArray(arr, o);
		}
		text = arr ? cJSON_Print(arr) : NULL;
		cJSON_Delete(arr);
		if (!text) {
			isofs_image_info_list_free(infos, n);
			return cli_error(EXIT_FAIL, "out of memory");
		}
		puts(text);
		free(text);
	} else {
		printf("%-24s %10s %8s  %s\n", "NAME", "SIZE", "FILES", "CREATED");
		for (size_t i = 0; i < n; i++) {
			char size[32], created[32];
			time_t t = (time_t) infos[i].created;
			struct tm tm;

			if (infos[i].damaged) {
				printf("%-24s %10s %8s  %s\n", infos[i].name, "-", "-", "damaged: meta.json unreadable");
				continue;
			}
			gmtime_r(&t, &tm);
			strftime(created, sizeof(created), "%Y-%m-%d %H:%M:%S", &tm);
			cli_format_size(size, sizeof(size), infos[i].size);
			printf("%-24s %10s %8llu  %s\n", infos[i].name, size, (unsigned long long) infos[i].files,
			       created);
		}
	}
	isofs_image_info_list_free(infos, n);
	return EXIT_OK;
}

static int image_inspect(const struct cli_globals *g, int argc, char **argv)
{
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	char *json = NULL;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt(argc, argv, cli_help_only, inspect_usage, "image inspect ", &ex)) != -1)
		return ex;
	if (argc - optind != 1)
		return cli_usage_error("image inspect ", "expected one NAME, got %d", argc - optind);
	if (!isofs_name_is_valid(argv[optind]))
		return cli_usage_error("image ", "invalid image name '%s'", argv[optind]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	r = isofs_image_inspect_json(store, argv[optind], &json, &err);
	isofs_store_close(store);
	if (r < 0)
		return cli_fail(&err);
	puts(json);
	free(json);
	return EXIT_OK;
}

static int image_rm(const struct cli_globals *g, int argc, char **argv)
{
	isofs_store *store = NULL;
	int c, ex = EXIT_OK;

	while ((c = cli_getopt(argc, argv, cli_help_only, rm_usage, "image rm ", &ex)) != -1)
		return ex;
	if (optind >= argc)
		return cli_usage_error("image rm ", "expected at least one NAME");
	for (int i = optind; i < argc; i++)
		if (!isofs_name_is_valid(argv[i]))
			return cli_usage_error("image ", "invalid image name '%s'", argv[i]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	for (int i = optind; i < argc; i++) {
		isofs_error err = { 0 };
		if (isofs_image_remove(store, argv[i], &err) < 0)
			ex = cli_fail(&err);
	}
	isofs_store_close(store);
	return ex;
}

static const char export_usage[] =
	"Usage: isofs image export NAME FILE|- [--format tar|oci] [--ref REF]\n"
	"\n"
	"Writes the image to FILE (written under a temporary name and renamed when\n"
	"complete) or to stdout with -.\n"
	"  --format tar   (the default) all its layers flattened, as a pax tar;\n"
	"                 `isofs image import` reads it back to the same tree\n"
	"  --format oci   an OCI image layout in a tar (an oci-archive), one OCI layer\n"
	"                 per layer of the image: `podman load -i FILE`,\n"
	"                 `skopeo copy oci-archive:FILE …`; the same image gives the\n"
	"                 same bytes every time\n"
	"  --ref REF      with --format oci: the reference name the archive gives the\n"
	"                 image (org.opencontainers.image.ref.name; default NAME)\n";

static int image_export(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts_table[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "ref", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *format = "tar", *ref = NULL;
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt(argc, argv, opts_table, export_usage, "image export ", &ex)) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 'r')
			ref = optarg;
		else
			return ex;
	}
	if (strcmp(format, "tar") != 0 && strcmp(format, "oci") != 0)
		return cli_usage_error("image export ", "unknown format '%s' (tar or oci)", format);
	if (ref && strcmp(format, "oci") != 0)
		return cli_usage_error("image export ", "--ref goes with --format oci");
	if (argc - optind != 2)
		return cli_usage_error("image export ", "expected NAME FILE|-");
	if (!isofs_name_is_valid(argv[optind]))
		return cli_usage_error("image ", "invalid image name '%s'", argv[optind]);
	if (strcmp(argv[optind + 1], "-") == 0 && isatty(STDOUT_FILENO))
		return cli_usage_error("image export ", "refusing to write a tarball to a terminal");
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	{
		cli_progress *bar = cli_progress_new("exporting");
		isofs_export_options o = { .format = format, .ref_name = ref, .progress = cli_progress_update,
					   .userdata = bar };
		r = isofs_image_export_with(store, argv[optind], argv[optind + 1], STDOUT_FILENO, &o, &err);
		cli_progress_done(bar);
	}
	isofs_store_close(store);
	return r < 0 ? cli_fail(&err) : EXIT_OK;
}

const cli_command cmd_image_commands[] = {
	{ "import", image_import, "import a tar, a directory, - (stdin) or an image archive", import_usage },
	{ "bootstrap", image_bootstrap, "make an image from the host's busybox or with debootstrap",
	  bootstrap_usage },
	{ "ls", image_ls, "list images", ls_usage },
	{ "inspect", image_inspect, "an image's metadata as JSON", inspect_usage },
	{ "rm", image_rm, "remove images", rm_usage },
	{ "export", image_export, "write an image as a tar or an OCI archive", export_usage },
	{ "pull", cmd_image_pull, "pull an image from a registry", image_pull_usage },
	{ "push", cmd_image_push, "push an image to a registry", image_push_usage },
	{ NULL, NULL, NULL, NULL },
};

int cmd_image(const struct cli_globals *g, int argc, char **argv)
{
	return cli_dispatch(g, "image ", cmd_image_commands, argc - 1, argv + 1);
}
