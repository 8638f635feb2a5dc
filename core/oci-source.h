/* SPDX-License-Identifier: MIT */
/*
 * What an import source directory holds, told by content: an OCI image
 * layout (oci-layout, index.json, blobs/), a docker-archive unpacked
 * (manifest.json listing images, `podman save`, `docker save`), a
 * containers/image "dir:" directory (`podman save --format docker-dir`:
 * manifest.json, version, blobs by hex) — or a root file system.
 */
#ifndef ISOFS_OCI_SOURCE_H
#define ISOFS_OCI_SOURCE_H

#include "isofs.h"

enum oci_source_kind {
	OCI_SOURCE_NONE, /* a root file system */
	OCI_SOURCE_LAYOUT,
	OCI_SOURCE_DOCKER_ARCHIVE,
	OCI_SOURCE_DIR,
};

/*
 * The kind of the directory `dirfd`; -EBADMSG (with a message) for one that
 * has only an image archive's names but whose manifest cannot be read: a
 * corrupt archive is refused, not imported as a root file system.
 */
int oci_source_detect(int dirfd, enum oci_source_kind *ret_kind, isofs_error *err);

/* Imports image NAME from the source directory `dirfd` of `kind` (oci.h has the rules). */
int oci_source_import(isofs_store *store, const char *name, int dirfd, enum oci_source_kind kind, const char *ref,
		      const char *source, const isofs_import_options *opts, isofs_import_stats *ret_stats,
		      isofs_error *err);

const char *oci_source_kind_name(enum oci_source_kind kind);

#endif
