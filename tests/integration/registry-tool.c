/* SPDX-License-Identifier: MIT */
/*
 * The registry client without the store, for tests/integration/test-registry.sh:
 *
 *   registry-tool pull-layout REF DIR PARTIAL_DIR [OPTIONS]   REF as an OCI layout in the new DIR
 *   registry-tool push-layout LAYOUT REF [OPTIONS]            LAYOUT's only image to REF
 *
 * OPTIONS: --tls-verify=false, --platform P, --timeout S, --authfile F.
 * Errors: one line on stderr, exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "registry.h"

static int fail(const isofs_error *err)
{
	fprintf(stderr, "registry-tool: %s\n", err->message);
	return 1;
}

int main(int argc, char **argv)
{
	_cleanup_registry_client_ registry_client *c = NULL;
	isofs_registry_options o = { 0 };
	isofs_error err = { 0 };
	registry_platform platform;
	registry_ref ref;
	char digest[DIGEST_STRING_MAX];
	bool pull;
	int first;

	if (argc < 4 || (strcmp(argv[1], "pull-layout") && strcmp(argv[1], "push-layout"))) {
		fputs("usage: registry-tool pull-layout REF DIR PARTIAL_DIR [OPTIONS] | push-layout LAYOUT REF [OPTIONS]\n",
		      stderr);
		return 2;
	}
	pull = !strcmp(argv[1], "pull-layout");
	first = pull ? 5 : 4;
	if (pull && argc < 5)
		return 2;
	for (int i = first; i < argc; i++) {
		if (!strcmp(argv[i], "--tls-verify=false"))
			o.tls_insecure = true;
		else if (!strcmp(argv[i], "--platform") && i + 1 < argc)
			o.platform = argv[++i];
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			o.timeout = (unsigned) atoi(argv[++i]);
		else if (!strcmp(argv[i], "--authfile") && i + 1 < argc)
			o.authfile = argv[++i];
		else
			return 2;
	}
	if (registry_ref_parse(pull ? argv[2] : argv[3], &ref, &err) < 0 ||
	    registry_client_new(&ref, &o, !pull, &c, &err) < 0)
		return fail(&err);
	if (pull) {
		_cleanup_close_ int dirfd = -EBADF, partial = -EBADF;

		if (registry_platform_parse(o.platform, &platform, &err) < 0)
			return fail(&err);
		if (mkdir(argv[3], 0755) < 0 || (dirfd = open(argv[3], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		    (partial = open(argv[4], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			perror("registry-tool");
			return 1;
		}
		if (registry_pull_layout(c, &ref, &platform, NULL, dirfd, ref.tag[0] ? ref.tag : argv[2], partial,
					 digest, &err) < 0)
			return fail(&err);
	} else {
		_cleanup_close_ int dirfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dirfd < 0) {
			perror("registry-tool");
			return 1;
		}
		if (registry_push_layout(c, dirfd, NULL, ref.tag, digest, &err) < 0)
			return fail(&err);
	}
	printf("%s\n", digest);
	return 0;
}
