/* SPDX-License-Identifier: MIT */
/*
 * Stacks of layers as the overlay merges them, read without mounting: an
 * image's chain (its layer, its parent's, … down to a base image) and walks
 * of the merged tree, for export and diff.  Kernel overlayfs format: 0/0
 * whiteouts, opaque directories (trusted.overlay.opaque or
 * user.overlay.opaque), redirects of renamed directories.
 */
#ifndef ISOFS_LAYERS_H
#define ISOFS_LAYERS_H

#include <stdbool.h>
#include <sys/stat.h>

#include "isofs.h"

#define LAYERS_MAX 100 /* the deepest stack of images (the overlay takes up to 127 lowers) */

struct layer_chain {
	char *paths[LAYERS_MAX]; /* rootfs directories, top first */
	bool rootless[LAYERS_MAX];
	int n;
};

/* The layers of image `name`, top first. */
int layer_chain_get(isofs_store *store, const char *name, struct layer_chain *ret, isofs_error *err);
void layer_chain_free(struct layer_chain *c);

bool layer_is_whiteout(const struct stat *st);
/* Opaque marker of a directory (either xattr namespace). */
bool layer_dir_is_opaque(int dirfd);

/* An entry of the merged tree: `path` relative ("a/b"), the real object at (dirfd, name) in layer `layer`. */
typedef int (*merged_visit_fn)(void *ctx, const char *path, int dirfd, const char *name, const struct stat *st,
			       int layer);

/* Walks the merged tree of the layers (fds of their roots, top first), parents before children. */
int merged_walk(const int *rootfds, int n, merged_visit_fn visit, void *ctx);

#endif
