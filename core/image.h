/* SPDX-License-Identifier: MIT */
#ifndef ISOFS_IMAGE_H
#define ISOFS_IMAGE_H

#include "isofs.h"

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
int image_commit(isofs_store *store, const char *name, const char *source, const char *parent,
		 struct store_tmpdir *tmp, int rootfd, const isofs_import_stats *stats, isofs_error *err);

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
