/* SPDX-License-Identifier: MIT */
/* `isofs image pull` and `isofs image push`: images from and to registries. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char image_pull_usage[] =
	"Usage: isofs image pull [OPTIONS] [NAME] REF\n"
	"\n"
	"Pulls REF from its registry (OCI distribution API) and imports it as image NAME.\n"
	"REF is [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]: without a registry (a first\n"
	"component with '.' or ':', or localhost) it is docker.io, where a one-component\n"
	"repository is library/REPOSITORY; the tag is latest when neither a tag nor a\n"
	"digest is given. NAME defaults to the repository's last component, '-' and the\n"
	"tag (debian:bookworm: debian-bookworm), or the digest's first 12 hex digits.\n"
	"Every blob is verified (digest and size) before it is used; layers the store\n"
	"has are not downloaded; a download interrupted half way is resumed by the next\n"
	"pull (partial blobs in STORE/downloads, removed after a week unused).\n"
	"\n"
	"  --platform OS/ARCH[/VARIANT]  the image chosen from a multi-platform index\n"
	"                                (default: the host's, linux/amd64 here)\n"
	"  --authfile FILE               credentials (auth.json of podman login); default:\n"
	"                                $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,\n"
	"                                ~/.config/containers/auth.json, ~/.docker/config.json\n"
	"  --tls-verify=false            do not verify TLS certificates; plain http when the\n"
	"                                registry does not speak TLS\n"
	"  --timeout SECONDS             to connect, and that a transfer may stall\n"
	"                                (default $ISOFS_REGISTRY_TIMEOUT, else 30)\n";

const char image_push_usage[] =
	"Usage: isofs image push [OPTIONS] NAME REF\n"
	"\n"
	"Pushes image NAME to REF ([REGISTRY/]REPOSITORY[:TAG], as for pull): its layers\n"
	"and config the registry does not have, then its manifest under the tag.\n"
	"\n"
	"  --authfile FILE               credentials, as for pull\n"
	"  --tls-verify=false            do not verify TLS certificates; plain http when the\n"
	"                                registry does not speak TLS\n"
	"  --timeout SECONDS             to connect, and that a transfer may stall\n"
	"                                (default $ISOFS_REGISTRY_TIMEOUT, else 30)\n";

static const struct option registry_opts[] = {
	{ "platform", required_argument, NULL, 'p' },
	{ "authfile", required_argument, NULL, 'a' },
	{ "tls-verify", optional_argument, NULL, 't' },
	{ "timeout", required_argument, NULL, 'T' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_timeout(const char *s, const char *cmd, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 86400 || s[0] == '-')
		return cli_usage_error(cmd, "invalid timeout '%s': seconds, 1-86400", s);
	*ret = (unsigned) v;
	return EXIT_OK;
}

/* The options both take; 'p' only for pull.  EXIT_OK or an exit code. */
static int parse_options(int argc, char **argv, const char *usage, const char *cmd, bool pull,
			 isofs_registry_options *o)
{
	const char *env = getenv("ISOFS_REGISTRY_TIMEOUT");
	int c, ex = EXIT_OK;

	if (env && *env && (ex = parse_timeout(env, cmd, &o->timeout)) != EXIT_OK)
		return ex;
	while ((c = cli_getopt(argc, argv, registry_opts, usage, cmd, &ex)) != -1) {
		switch (c) {
		case 'p':
			if (!pull)
				return cli_usage_error(cmd, "--platform is for pull");
			o->platform = optarg;
			break;
		case 'a':
			o->authfile = optarg;
			break;
		case 't':
			if (!optarg || !strcmp(optarg, "true"))
				o->tls_insecure = false;
			else if (!strcmp(optarg, "false"))
				o->tls_insecure = true;
			else
				return cli_usage_error(cmd, "--tls-verify is true or false, not '%s'", optarg);
			break;
		case 'T':
			if ((ex = parse_timeout(optarg, cmd, &o->timeout)) != EXIT_OK)
				return ex;
			break;
		default:
			return ex;
		}
	}
	return EXIT_OK;
}

/* The download's bar, then the import's (each drawn on a terminal only). */
struct pull_bars {
	cli_progress *download, *import;
};

static void on_import_progress(const isofs_progress *p, void *userdata)
{
	struct pull_bars *b = userdata;

	if (b->download) {
		cli_progress_done(b->download);
		b->download = NULL;
	}
	cli_progress_update(p, b->import);
}

int cmd_image_pull(const struct cli_globals *g, int argc, char **argv)
{
	isofs_registry_options o = { 0 };
	isofs_import_stats stats = { 0 };
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	struct pull_bars bars;
	char *name = NULL;
	int ex, n, r;

	if ((ex = parse_options(argc, argv, image_pull_usage, "image pull ", true, &o)) != EXIT_OK)
		return ex;
	n = argc - optind;
	if (n != 1 && n != 2)
		return cli_usage_error("image pull ", "expected [NAME] REF, got %d argument%s", n, n == 1 ? "" : "s");
	if (n == 2 && !isofs_name_is_valid(argv[optind]))
		return cli_usage_error("image ", "invalid image name '%s'", argv[optind]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	bars.download = cli_progress_new("pulling");
	cli_progress_set_unit(bars.download, "blobs");
	bars.import = cli_progress_new("importing");
	o.progress = cli_progress_update;
	o.userdata = bars.download;
	o.import.progress = on_import_progress;
	o.import.userdata = &bars;
	r = isofs_image_pull(store, n == 2 ? argv[optind] : NULL, argv[argc - 1], &o, &stats, &name, &err);
	cli_progress_done(bars.download);
	cli_progress_done(bars.import);
	isofs_store_close(store);
	if (r < 0)
		return cli_fail(&err);
	cli_import_summary("pulled", name, &stats);
	free(name);
	return EXIT_OK;
}

int cmd_image_push(const struct cli_globals *g, int argc, char **argv)
{
	isofs_registry_options o = { 0 };
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	cli_progress *bar;
	char *digest = NULL;
	int ex, r;

	if ((ex = parse_options(argc, argv, image_push_usage, "image push ", false, &o)) != EXIT_OK)
		return ex;
	if (argc - optind != 2)
		return cli_usage_error("image push ", "expected NAME REF, got %d argument%s", argc - optind,
				       argc - optind == 1 ? "" : "s");
	if (!isofs_name_is_valid(argv[optind]))
		return cli_usage_error("image ", "invalid image name '%s'", argv[optind]);
	if ((ex = cli_open_store(g, &store)) != EXIT_OK)
		return ex;
	bar = cli_progress_new("pushing");
	cli_progress_set_unit(bar, "blobs");
	o.progress = cli_progress_update;
	o.userdata = bar;
	r = isofs_image_push(store, argv[optind], argv[optind + 1], &o, &digest, &err);
	cli_progress_done(bar);
	isofs_store_close(store);
	if (r < 0)
		return cli_fail(&err);
	printf("pushed image '%s' to %s (%s)\n", argv[optind], argv[optind + 1], digest);
	free(digest);
	return EXIT_OK;
}
