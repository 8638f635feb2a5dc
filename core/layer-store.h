/* SPDX-License-Identifier: MIT */
/*
 * The store's content-addressed layers: STORE/layers/sha256/HEX/rootfs, one
 * per OCI layer, named by the digest of its uncompressed tar (its diff_id),
 * shared by every image that has it.  An image lists its layers in its
 * meta.json ("layers", bottom first); a layer no image lists any more goes
 * with the last image that did (layer_store_collect).
 *
 * A layer an import is about to use is held (a shared flock on its
 * directory) from the moment it is found or added until the image that lists
 * it is committed, so that a collection running meanwhile keeps it.  Holding
 * and collecting both happen under the store lock.
 */
#ifndef ISOFS_LAYER_STORE_H
#define ISOFS_LAYER_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "isofs.h"
#include "store.h"

/* 1 when the store has layer `diff_id` ("sha256:HEX"), 0 when not (or it is not a valid digest). */
int layer_store_has(isofs_store *store, const char *diff_id);

/* 0 and a held fd of layer `diff_id`; -ENOENT when the store lacks it (or it is being removed). */
int layer_store_hold(isofs_store *store, const char *diff_id, int *ret_fd);

/* The absolute path of the layer's root directory (malloc'ed), NULL when out of memory or not a digest. */
char *layer_store_rootfs(isofs_store *store, const char *diff_id);

/* Disk use and entries of a layer, as measured when it was added (0, 0 when unknown); its import counters added to add_stats. */
void layer_store_usage(isofs_store *store, const char *diff_id, uint64_t *ret_bytes, uint64_t *ret_files,
		       isofs_import_stats *add_stats);

/* A new layer in the making: a temp dir of the store with an empty root directory (rootfd). */
int layer_store_begin(isofs_store *store, store_tmpdir *ret_tmp, int *ret_rootfd, isofs_error *err);

/*
 * Publishes the layer built in `tmp` as `diff_id` and holds it (ret_held_fd).
 * Another import that published the same layer meanwhile wins: this one is
 * dropped, theirs held.  The caller has verified that the tar it was built
 * from has that digest.  `synced`: the caller has made its file system
 * durable since the layer was written (one syncfs for several layers);
 * otherwise it is done here, before the layer becomes visible.
 */
int layer_store_commit(isofs_store *store, const char *diff_id, store_tmpdir *tmp, int rootfd,
		       const isofs_import_stats *stats, bool synced, int *ret_held_fd, isofs_error *err);

/* Removes every layer no image lists and nobody holds (after an image removal). */
int layer_store_collect(isofs_store *store, isofs_error *err);

#endif
