/* SPDX-License-Identifier: MIT */
/*
 * OCI images.  Every source of one (a docker-archive, an oci-archive, an OCI
 * image layout directory, a registry) is brought to the one form, an OCI
 * image layout (image-layout spec: oci-layout, index.json, blobs/sha256/HEX),
 * and imported from there; every image leaves as one (export --format oci,
 * push).  Everything in a layout is hostile input: blobs are opened beneath
 * it only by valid digests, each verified (and its size) before it is used.
 */
#ifndef ISOFS_OCI_H
#define ISOFS_OCI_H

#include <stdbool.h>
#include <stdint.h>

#include "isofs.h"

#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_CONFIG "application/vnd.docker.container.image.v1+json"
#define DOCKER_MT_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define OCI_REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"

/* Largest manifest, index or config accepted (registries cap manifests at 4 MiB). */
#define OCI_JSON_MAX (4u << 20)

/*
 * Imports image NAME from the OCI image layout at `layout_fd`: the manifest
 * index.json names (`ref`: the one whose ref.name annotation is `ref`; NULL:
 * the only one, else -EINVAL with the list), each layer a layer of the store
 * shared by digest (layer-store.h) — a layer the store has already is neither
 * read nor required in blobs/ — and the image config kept.  `source` is what
 * `image inspect` shows as the origin.  `blobs_verified`: the layer blobs
 * were checked against their digests as they were written (a registry pull);
 * their diff_ids and sizes still are.
 */
int oci_layout_import(isofs_store *store, const char *name, int layout_fd, const char *ref, const char *source,
		      bool blobs_verified, const isofs_import_options *opts, isofs_import_stats *ret_stats,
		      isofs_error *err);

/*
 * Writes image IMAGE into the empty directory `dirfd` as an OCI image
 * layout: each layer of its chain, bottom first, an OCI layer (tar+gzip,
 * whiteouts and opaque directories as ".wh." entries, owners as the image
 * shows them), its config (the image's container config, diff_ids, history)
 * and manifest, index.json naming it `ref_name` when not NULL.  The same
 * image gives the same bytes every time.  `progress` (may be NULL): a stage
 * per layer to its callback.
 */
int oci_layout_write(isofs_store *store, const char *image, int dirfd, const char *ref_name,
		     const isofs_export_options *progress, isofs_error *err);

/* isofs_image_export_with() for the oci format: the layout written to a store temp dir, then tarred. */
int oci_archive_export(isofs_store *store, const char *name, const char *file, int stdout_fd,
		       const isofs_export_options *opts, isofs_error *err);

#endif
