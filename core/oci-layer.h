/* SPDX-License-Identifier: MIT */
/*
 * One OCI layer blob (a tar, gzip'ed or zstd'ed) into a layer of the store:
 * extracted by the tree writer (every rule for hostile archives applies),
 * its AUFS-style deletions turned into the store's (".wh.NAME" → a whiteout,
 * ".wh..wh..opq" → an opaque directory), both digests verified before the
 * layer becomes visible.
 */
#ifndef ISOFS_OCI_LAYER_H
#define ISOFS_OCI_LAYER_H

#include <stdbool.h>
#include <stdint.h>

#include "isofs.h"

struct oci_blob {
	int fd;                 /* the blob, read from its current offset to its end */
	const char *what;       /* for messages: "layer 2 of 3 (sha256:…)" */
	const char *media_type; /* NULL: any compression libarchive detects */
	const char *digest;     /* the blob's own digest, NULL when unknown (a docker-archive's tar) */
	int64_t size;           /* its size, -1 when unknown */
	const char *diff_id;    /* the digest of the uncompressed tar */
};

/* Media types of layers isofs can import (OCI and Docker v2; gzip, zstd or none). */
bool oci_layer_media_type_is_supported(const char *media_type);

struct oci_progress {
	const isofs_import_options *opts; /* its progress callback, may be NULL */
	isofs_progress progress;          /* bytes of blobs read / to read, entries written */
};

/*
 * Extracts `blob` into a new layer in the making (layer-store.h: `ret_tmp`,
 * `ret_rootfd`), its entries' counts in `stats`; both digests and the size
 * checked (blob->digest NULL: that one is not computed — a blob the caller has
 * verified, or whose digest is unknown).  On any failure nothing is left.
 * The caller publishes it with layer_store_commit().
 */
struct store_tmpdir;
int oci_layer_extract(isofs_store *store, const struct oci_blob *blob, struct oci_progress *progress,
		      isofs_import_stats *stats, struct store_tmpdir *ret_tmp, int *ret_rootfd, isofs_error *err);

#endif
