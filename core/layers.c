/* SPDX-License-Identifier: MIT */
#include "layers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"

int layer_chain_get(isofs_store *store, const char *name, struct layer_chain *ret, isofs_error *err)
{
	struct layer_chain c = { 0 };
	char current[ISOFS_NAME_MAX + 1];
	int r;

	snprintf(current, sizeof(current), "%s", name);
	for (;;) {
		isofs_image_info info;

		if (c.n == LAYERS_MAX) {
			layer_chain_free(&c);
			return error_set(err, ELOOP, "image '%s' stacks more than %d layers", name, LAYERS_MAX);
		}
		r = isofs_image_get(store, current, &info, err);
		if (r < 0) {
			layer_chain_free(&c);
			return r;
		}
		c.paths[c.n] = info.rootfs;
		c.rootless[c.n] = info.rootless;
		info.rootfs = NULL;
		c.n++;
		if (!info.parent) {
			isofs_image_info_free(&info);
			break;
		}
		snprintf(current, sizeof(current), "%s", info.parent);
		isofs_image_info_free(&info);
	}
	*ret = c;
	return 0;
}

void layer_chain_free(struct layer_chain *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->paths[i]);
	c->n = 0;
}

enum layer_xns layer_caller_xns(void)
{
	return geteuid() == 0 ? LAYER_XNS_TRUSTED : LAYER_XNS_USER;
}

int layer_chain_open(const struct layer_chain *c, int *roots, isofs_error *err)
{
	for (int i = 0; i < c->n; i++) {
		roots[i] = open(c->paths[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (roots[i] < 0) {
			int e = errno;
			layer_roots_close(roots, i);
			return error_errno(err, e, "layer %s", c->paths[i]);
		}
	}
	return 0;
}

void layer_roots_close(int *roots, int n)
{
	for (int i = 0; i < n; i++)
		if (roots[i] >= 0)
			close(roots[i]);
}
