/* SPDX-License-Identifier: MIT */
#ifndef ISOFS_IMAGE_H
#define ISOFS_IMAGE_H

#include <cjson/cJSON.h>

#include "isofs.h"

/* The most layers an OCI image may have (the overlay stacks at most 127 lowers, a sandbox's upper included). */
#define LAYERS_MAX_OCI 100

/*
 * Fills the empty root directory `rootfd` (in a private temp dir; `workfd` is
 * that temp dir, for logs and scratch files).
 */
typedef int (*image_build_fn)(int rootfd, int workfd, void *ctx, isofs_import_stats *stats, isofs_error *err);

/*
 * Builds image NAME with `build` in a temp dir of the store, records its
 * metadata and makes it visible under images/NAME in one rename.  On any
 * failure nothing is left behind.
 */
int image_create(isofs_store *store, const char *name, const char *source, image_build_fn build, void *ctx,
		 isofs_import_stats *ret_stats, isofs_error *err);

/* The two halves of image_create, for images not built in place (a committed sandbox layer). */
struct store_tmpdir;
int image_begin(isofs_store *store, const char *name, struct store_tmpdir *ret_tmp, int *ret_rootfd,
		isofs_error *err);
/* An image made of the store's shared layers (layer-store.h), such as an OCI image. */
struct image_oci {
	const char *const *layers; /* diff_ids, bottom first: held by the caller until committed */
	size_t nlayers;
	const cJSON *config;        /* the container config (Env, Entrypoint, Cmd, WorkingDir, User, …) or NULL */
	const char *manifest_digest; /* where it came from, or NULL */
	const char *config_digest;
};
int image_commit(isofs_store *store, const char *name, const char *source, const char *parent,
		 struct store_tmpdir *tmp, int rootfd, const isofs_import_stats *stats, const struct image_oci *oci,
		 isofs_error *err);

/* The shared layers image `name` lists (diff_ids, bottom first); none for an image of its own rootfs. */
int image_layers_get(isofs_store *store, const char *name, char ***ret_layers, size_t *ret_n, isofs_error *err);
void image_layers_free(char **layers, size_t n);

/*
 * The container config of image `name`, or of the nearest image below it that
 * has one (a sandbox committed on an OCI image runs as that image did); NULL
 * (and 0) when none has.  The caller deletes it.
 */
int image_oci_config_get(isofs_store *store, const char *name, cJSON **ret_config, isofs_error *err);

/* Import counters as meta.json keeps them (an image's, a shared layer's). */
cJSON *image_stats_to_json(const isofs_import_stats *s);
void image_stats_add_json(isofs_import_stats *s, const cJSON *j);
void image_stats_add(isofs_import_stats *s, const isofs_import_stats *more);

/* -EINVAL with a message naming the rule when `name` is not a valid image name. */
int image_check_name(const char *name, isofs_error *err);

/*
 * "In use": a view of an image (a run, a mount) holds a shared lock on the
 * directory of every image of its chain for as long as it lives; removal takes
 * checks that none is held, or refuses.  Both under the store lock, so a view
 * never holds an image that is on its way out.
 */
/* 0 and the fd that holds the lock (shared). */
int image_hold(isofs_store *store, const char *name, int *ret_fd);
/* 0 when no view holds the image, -EBUSY when one does. */
int image_check_not_held(isofs_store *store, const char *name);

#endif
