/* SPDX-License-Identifier: MIT */
/* `isofs mount` and `isofs umount`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

const char cmd_mount_usage[] =
	"Usage: isofs mount IMAGE MOUNTPOINT [--sandbox NAME] [--read-only]\n"
	"       isofs mount --sandbox NAME MOUNTPOINT [--read-only]   an existing sandbox\n"
	"\n"
	"Mounts a writable copy-on-write view of IMAGE at MOUNTPOINT and returns once it\n"
	"is ready; the overlay server runs in the background (its log:\n"
	"STORE/sandboxes/NAME/daemon.log).  Changes go to sandbox NAME, created when it\n"
	"does not exist; without --sandbox a new sandbox is made and its name printed.\n"
	"A sandbox is mounted once at a time: a second mount of it fails.\n"
	"\n"
	"  --sandbox NAME   the sandbox that keeps the changes\n"
	"  --read-only      a read-only view (of the sandbox with --sandbox, else of the image)\n"
	"\n"
	"As root the view serves every user (allow_other); as a user, the user alone,\n"
	"who sees what root owns in the image as their own.\n";

const char cmd_umount_usage[] =
	"Usage: isofs umount MOUNTPOINT\n"
	"\n"
	"Unmounts a view made by `isofs mount` and waits for its server to finish and\n"
	"exit.  A view whose server died (the mountpoint then fails with \"Transport\n"
	"endpoint is not connected\") is detached and cleaned, with a note; the answer\n"
	"is the same when another command (sandbox ls) detached it first.  A\n"
	"mountpoint where no view was mounted is refused (\"not mounted\").  A server\n"
	"that does not exit (a process in another mount namespace holds a copy of the\n"
	"mount) has its FUSE connection aborted through fusectl as root; a user is\n"
	"told how to end it.\n";

int cmd_mount(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts_table[] = {
		{ "sandbox", required_argument, NULL, 's' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	isofs_mount_options opts = { 0 };
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	char *sandbox = NULL;
	const char *image;
	int c, ex, r;

	while ((c = cli_getopt(argc, argv, opts_table, cmd_mount_usage, "mount ", &ex)) != -1) {
		switch (c) {
		case 's':
			if (!isofs_name_is_valid(optarg))
				return cli_usage_error("mount ", "invalid sandbox name '%s'", optarg);
			opts.sandbox = optarg;
			break;
		case 'r':
			opts.read_only = true;
			break;
		default:
			return ex;
		}
	}
	/* With --sandbox, the IMAGE of an existing sandbox may be left out. */
	if (argc - optind != 2 && !(opts.sandbox && argc - optind == 1))
		return cli_usage_error("mount ", "expected %sMOUNTPOINT, got %d argument%s",
				       opts.sandbox ? "[IMAGE] " : "IMAGE ", argc - optind, argc - optind == 1 ? "" : "s");
	image = argc - optind == 2 ? argv[optind++] : NULL;
	if (image && !isofs_name_is_valid(image))
		return cli_usage_error("mount ", "invalid image name '%s'", image);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	r = isofs_mount(store, image, argv[optind], &opts, &sandbox, &err);
	isofs_store_close(store);
	if (r < 0)
		return cli_fail(&err);
	if (sandbox)
		printf("%s\n", sandbox);
	free(sandbox);
	return EXIT_OK;
}

int cmd_umount(const struct cli_globals *g, int argc, char **argv)
{
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	int c, ex, r;

	while ((c = cli_getopt(argc, argv, cli_help_only, cmd_umount_usage, "umount ", &ex)) != -1)
		return ex;
	if (argc - optind != 1)
		return cli_usage_error("umount ", "expected one MOUNTPOINT, got %d", argc - optind);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	r = isofs_umount(store, argv[optind], &err);
	isofs_store_close(store);
	if (r == ISOFS_UMOUNT_ABORTED)
		fprintf(stderr, "isofs: %s: the overlay server did not exit after the unmount (a copy of the mount in "
			"another mount namespace kept it alive); its FUSE connection was aborted through fusectl\n",
			argv[optind]);
	if (r == ISOFS_UMOUNT_SERVER_DIED)
		fprintf(stderr, "isofs: %s: its overlay server had died (killed or crashed); it is unmounted now, and "
			"what had been written is in the sandbox\n", argv[optind]);
	return r < 0 ? cli_fail(&err) : EXIT_OK;
}
