/* SPDX-License-Identifier: MIT */
/*
 * The store's content-addressed layers: STORE/layers/sha256/HEX/rootfs, one
 * per OCI layer, named by the digest of its uncompressed tar (its diff_id),
 * shared by every image that has it.  An image lists its layers in its
 * meta.json ("layers", bottom first); a layer nobody lists any more is
 * removed with the last image that did (layer_store_collect).
 *
 * A layer an import is about to use is held (a shared flock on its
 * directory) from the moment it is found or added until the image is
 * committed, so that a collection running meanwhile keeps it.
 */
#ifndef ISOFS_LAYER_STORE_H
#define ISOFS_LAYER_STORE_H

#include <stdbool.h>

#include "isofs.h"
#include "tree-write.h"

/* 1 when the store has layer `diff_id` ("sha256:HEX"), 0 when not. */
int layer_store_has(isofs_store *store, const char *diff_id);

/* 0 and a held fd of layer `diff_id`, -ENOENT when the store lacks it. */
int layer_store_hold(isofs_store *store, const char *diff_id, int *ret_fd);

/* The absolute path of the layer's root directory (malloc'ed). */
char *layer_store_rootfs(isofs_store *store, const char *diff_id);

#endif
