/* SPDX-License-Identifier: MIT */
#include "oci-blob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"

/* Temporary names begin with '.': never a digest's hex, never taken for a blob. */
static int open_tmp(int dirfd, char *name, size_t size)
{
	static atomic_uint seq;

	for (int tries = 0; tries < 100; tries++) {
		int fd;

		snprintf(name, size, ".tmp-%d-%u", (int) getpid(), atomic_fetch_add(&seq, 1));
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}

int oci_blob_begin(int blobs_fd, bool gzip, struct oci_blob *ret, isofs_error *err)
{
	struct oci_blob b = { .dirfd = blobs_fd, .fd = -EBADF };
	int r;

	*ret = b;
	r = digest_new(&ret->stored, err);
	if (r == 0 && gzip)
		r = digest_new(&ret->content, err);
	if (r < 0)
		return r;
	/* windowBits 15 + 16: a gzip wrapper; zlib writes its header without a name and with mtime 0 */
	if (gzip && deflateInit2(&ret->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return error_set(err, ENOMEM, "out of memory");
	ret->gzip = gzip; /* from here on discard ends the stream */
	ret->fd = open_tmp(blobs_fd, ret->tmpname, sizeof(ret->tmpname));
	if (ret->fd < 0)
		return error_errno(err, -ret->fd, "writing a blob");
	return 0;
}

static int store(struct oci_blob *b, const void *buf, size_t len)
{
	int r = write_all(b->fd, buf, len);

	if (r < 0)
		return r;
	digest_update(b->stored, buf, len);
	b->size += len;
	return 0;
}

/* Runs deflate over what z holds until it wants more input (Z_NO_FLUSH) or has ended (Z_FINISH). */
static int deflate_out(struct oci_blob *b, int flush)
{
	unsigned char out[65536];
	int z;

	do {
		b->z.next_out = out;
		b->z.avail_out = sizeof(out);
		z = deflate(&b->z, flush);
		if (z == Z_STREAM_ERROR)
			return -EIO;
		if (sizeof(out) - b->z.avail_out > 0) {
			int r = store(b, out, sizeof(out) - b->z.avail_out);
			if (r < 0)
				return r;
		}
	} while (b->z.avail_out == 0 || (flush == Z_FINISH && z != Z_STREAM_END));
	return 0;
}

int oci_blob_write(struct oci_blob *b, const void *buf, size_t len)
{
	if (!b->gzip)
		return store(b, buf, len);
	digest_update(b->content, buf, len);
	while (len > 0) {
		/* avail_in is an unsigned int: large buffers in pieces */
		size_t piece = len > (1u << 30) ? (1u << 30) : len;
		int r;

		b->z.next_in = (unsigned char *) (uintptr_t) buf;
		b->z.avail_in = (unsigned) piece;
		r = deflate_out(b, Z_NO_FLUSH);
		if (r < 0)
			return r;
		buf = (const char *) buf + piece;
		len -= piece;
	}
	return 0;
}

int oci_blob_finish(struct oci_blob *b, isofs_error *err)
{
	int r = 0;

	if (b->gzip) {
		b->z.next_in = NULL;
		b->z.avail_in = 0;
		r = deflate_out(b, Z_FINISH);
		if (r < 0)
			return error_errno(err, -r, "writing a blob");
	}
	if (fsync(b->fd) < 0)
		return error_errno(err, errno, "writing a blob");
	digest_final(b->stored, b->digest);
	if (b->gzip)
		digest_final(b->content, b->diff_id);
	else
		memcpy(b->diff_id, b->digest, sizeof(b->diff_id));
	/* the same content twice (two images' equal layers) is the same file: replacing it is harmless */
	if (renameat(b->dirfd, b->tmpname, b->dirfd, digest_hex(b->digest)) < 0)
		return error_errno(err, errno, "writing blob %s", b->digest);
	closep(&b->fd);
	b->fd = -EBADF;
	return 0;
}

void oci_blob_discard(struct oci_blob *b)
{
	if (b->fd >= 0) {
		closep(&b->fd);
		b->fd = -EBADF;
		(void) unlinkat(b->dirfd, b->tmpname, 0);
	}
	if (b->gzip) {
		(void) deflateEnd(&b->z);
		b->gzip = false;
	}
	digest_free(b->stored);
	digest_free(b->content);
	b->stored = b->content = NULL;
}

int oci_blob_write_buffer(int blobs_fd, const void *buf, size_t len, char ret_digest[DIGEST_STRING_MAX],
			  isofs_error *err)
{
	_cleanup_oci_blob_ struct oci_blob b = { .fd = -EBADF };
	int r = oci_blob_begin(blobs_fd, false, &b, err);

	if (r < 0)
		return r;
	r = oci_blob_write(&b, buf, len);
	if (r < 0)
		return error_errno(err, -r, "writing a blob");
	r = oci_blob_finish(&b, err);
	if (r < 0)
		return r;
	memcpy(ret_digest, b.digest, DIGEST_STRING_MAX);
	return 0;
}
