/* SPDX-License-Identifier: MIT */
#include "layers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "image.h"
#include "layer-store.h"
#include "log.h"
#include "store.h"
#include "fd-util.h"

/* Appends an OCI image's shared layers, top first: they stand in for its own (empty) rootfs. */
static int chain_add_shared(isofs_store *store, struct layer_chain *c, const isofs_image_info *info, char **layers,
			    size_t n, isofs_error *err)
{
	for (size_t i = n; i-- > 0;) {
		if (c->n == LAYERS_MAX)
			return error_set(err, ELOOP, "image '%s' stacks more than %d layers", info->name, LAYERS_MAX);
		c->paths[c->n] = layer_store_rootfs(store, layers[i]);
		if (!c->paths[c->n])
			return error_set(err, ENOMEM, "out of memory");
		c->rootless[c->n] = info->rootless;
		c->image_of[c->n] = c->nimages - 1;
		c->n++;
	}
	return 0;
}

int layer_chain_get(isofs_store *store, const char *name, struct layer_chain *ret, isofs_error *err)
{
	struct layer_chain c = { 0 };
	char current[ISOFS_NAME_MAX + 1];
	int r;

	snprintf(current, sizeof(current), "%s", name);
	for (;;) {
		isofs_image_info info;
		char **layers = NULL;
		size_t nlayers = 0;

		if (c.n == LAYERS_MAX || c.nimages == LAYERS_MAX) {
			layer_chain_free(&c);
			return error_set(err, ELOOP, "image '%s' stacks more than %d layers", name, LAYERS_MAX);
		}
		r = isofs_image_get(store, current, &info, err);
		if (r == 0) {
			r = image_layers_get(store, current, &layers, &nlayers, err);
			if (r < 0)
				isofs_image_info_free(&info);
		}
		if (r < 0) {
			layer_chain_free(&c);
			return r;
		}
		snprintf(c.images[c.nimages++], sizeof(c.images[0]), "%s", current);
		if (nlayers > 0) {
			r = chain_add_shared(store, &c, &info, layers, nlayers, err);
			image_layers_free(layers, nlayers);
			if (r < 0) {
				isofs_image_info_free(&info);
				layer_chain_free(&c);
				return r;
			}
		} else {
			image_layers_free(layers, nlayers);
			c.paths[c.n] = info.rootfs;
			c.rootless[c.n] = info.rootless;
			c.image_of[c.n] = c.nimages - 1;
			info.rootfs = NULL;
			c.n++;
		}
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

int view_lowers_get(isofs_store *store, const char *image, const char *top, struct view_lowers *ret,
		    isofs_error *err)
{
	struct view_lowers v = { .nholds = 0 };
	int r;

	/* Under the store lock: no removal between reading the chain and holding it. */
	r = store_lock(store);
	if (r < 0)
		return error_errno(err, r, "store %s: lock", store->path);
	r = layer_chain_get(store, image, &v.chain, err);
	/* The images: a shared layer is kept by the image that lists it. */
	for (int i = 0; r == 0 && i < v.chain.nimages; i++) {
		r = image_hold(store, v.chain.images[i], &v.holds[v.nholds]);
		if (r < 0)
			r = error_errno(err, r, "image '%s'", v.chain.images[i]);
		else
			v.nholds++;
	}
	store_unlock(store);
	if (r == 0 && (r = store_stub_layer(store, &v.stub)) < 0)
		r = error_errno(err, r, "store %s: stub layer", store->path);
	if (r < 0) {
		view_lowers_free(&v);
		return r;
	}
	if (top)
		v.paths[v.n++] = top;
	for (int i = 0; i < v.chain.n; i++)
		v.paths[v.n++] = v.chain.paths[i];
	v.paths[v.n++] = v.stub;
	log_debug("view of image '%s': %d layer%s, top first%s", image, v.n, v.n == 1 ? "" : "s",
		  top ? " (the sandbox's upper, read-only, then the image's)" : "");
	for (int i = 0; i < v.n; i++)
		log_debug("  layer %d: %s%s", i, v.paths[i], v.paths[i] == v.stub ? " (the stub: mountpoints every sandbox needs)" : "");
	*ret = v;
	return 0;
}

int view_lowers_of_dir(isofs_store *store, const char *dir, struct view_lowers *ret, isofs_error *err)
{
	struct view_lowers v = { .nholds = 0 };
	int r;

	v.chain.paths[0] = strdup(dir);
	if (!v.chain.paths[0])
		return error_set(err, ENOMEM, "out of memory");
	v.chain.rootless[0] = geteuid() != 0;
	v.chain.n = 1;
	r = store_stub_layer(store, &v.stub);
	if (r < 0) {
		view_lowers_free(&v);
		return error_errno(err, r, "store %s: stub layer", store->path);
	}
	v.paths[v.n++] = v.chain.paths[0];
	v.paths[v.n++] = v.stub;
	*ret = v;
	return 0;
}

int view_lowers_take_holds(struct view_lowers *v, int *fds)
{
	int n = v->nholds;

	memcpy(fds, v->holds, sizeof(*fds) * (size_t) n);
	v->nholds = 0;
	return n;
}

void view_lowers_free(struct view_lowers *v)
{
	for (int i = 0; i < v->nholds; i++)
		close(v->holds[i]);
	v->nholds = 0;
	layer_chain_free(&v->chain);
	free(v->stub);
	v->stub = NULL;
	v->n = 0;
}
