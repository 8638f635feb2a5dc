/* SPDX-License-Identifier: MIT */
/*
 * A blob of an OCI image layout being written: its bytes go to a temporary
 * file in blobs/sha256/ and are digested as they come; finishing renames it
 * to its digest, so a reader never sees half a blob under a valid name.  A
 * gzip blob (a layer) compresses what it is given and digests both sides:
 * the blob's digest, and the diff_id of the uncompressed tar.  The gzip
 * stream is deterministic: no name, mtime 0, the same bytes every time.
 */
#ifndef ISOFS_OCI_BLOB_H
#define ISOFS_OCI_BLOB_H

#include <stdbool.h>
#include <stdint.h>
#include <zlib.h>

#include "digest.h"
#include "isofs.h"

struct oci_blob {
	int dirfd;              /* blobs/sha256 (not owned) */
	int fd;                 /* the temporary file; -EBADF once finished */
	char tmpname[64];
	bool gzip;
	z_stream z;
	digest_ctx *stored;     /* of the bytes written to the file */
	digest_ctx *content;    /* of the bytes given (gzip only) */
	uint64_t size;          /* bytes written to the file */
	/* once finished: */
	char digest[DIGEST_STRING_MAX];
	char diff_id[DIGEST_STRING_MAX]; /* gzip: of the uncompressed bytes; else the digest */
};

/* Starts a blob in `blobs_fd` (blobs/sha256).  0, or -errno with err filled. */
int oci_blob_begin(int blobs_fd, bool gzip, struct oci_blob *ret, isofs_error *err);
/* Adds bytes.  0, or -errno (I/O, ENOMEM). */
int oci_blob_write(struct oci_blob *b, const void *buf, size_t len);
/* Flushes, syncs and renames the blob to its digest; fills digest, diff_id, size.  0, or -errno with err filled. */
int oci_blob_finish(struct oci_blob *b, isofs_error *err);
/* Releases a blob; an unfinished one's temporary file is removed. */
void oci_blob_discard(struct oci_blob *b);
#define _cleanup_oci_blob_ __attribute__((cleanup(oci_blob_discard)))

/* A whole blob from memory (a config, a manifest): its digest in ret_digest. */
int oci_blob_write_buffer(int blobs_fd, const void *buf, size_t len, char ret_digest[DIGEST_STRING_MAX],
			  isofs_error *err);

#endif
