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

#endif
