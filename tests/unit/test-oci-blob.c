/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/oci-blob.c: a blob is named by the digest of its bytes,
 * a gzip blob's diff_id is the digest of what it was given, its gzip stream
 * inflates to that and carries no name and no time (the same input, the same
 * bytes), and nothing but finished blobs is ever left in the directory.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "digest.h"
#include "oci-blob.h"
#include "tap.h"
#include "test-util.h"

#define BIG (3u << 20)

static unsigned char *read_blob(int dirfd, const char *digest, size_t *ret_len)
{
	int fd = openat(dirfd, digest_hex(digest), O_RDONLY | O_CLOEXEC);
	unsigned char *buf = malloc(BIG + 4096);
	ssize_t n;

	if (fd < 0 || !buf)
		bail_out("open blob %s: %s", digest, strerror(errno));
	n = read(fd, buf, BIG + 4096);
	close(fd);
	if (n < 0)
		bail_out("read blob: %s", strerror(errno));
	*ret_len = (size_t) n;
	return buf;
}

static bool inflates_to(const unsigned char *gz, size_t len, const unsigned char *want, size_t want_len)
{
	unsigned char *out = malloc(want_len + 1);
	z_stream z = { .next_in = (unsigned char *) gz, .avail_in = (unsigned) len };
	bool same;
	int r;

	if (!out || inflateInit2(&z, 15 + 16) != Z_OK)
		bail_out("inflateInit2");
	z.next_out = out;
	z.avail_out = (unsigned) want_len + 1;
	r = inflate(&z, Z_FINISH);
	same = r == Z_STREAM_END && z.total_out == want_len && memcmp(out, want, want_len) == 0;
	inflateEnd(&z);
	free(out);
	return same;
}

/* One gzip blob of `data`, written in pieces of `piece` bytes. */
static void gzip_blob(int dirfd, const unsigned char *data, size_t len, size_t piece, struct oci_blob *ret)
{
	isofs_error err = { 0 };
	int r = oci_blob_begin(dirfd, true, ret, &err);

	for (size_t off = 0; r == 0 && off < len; off += piece)
		r = oci_blob_write(ret, data + off, len - off < piece ? len - off : piece);
	if (r == 0)
		r = oci_blob_finish(ret, &err);
	if (r < 0)
		bail_out("gzip blob: %s", err.message[0] ? err.message : strerror(-r));
}

int main(void)
{
	char *dir = tu_mkdtemp();
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned char *data = malloc(BIG);
	char want[DIGEST_STRING_MAX];
	isofs_error err = { 0 };

	if (dirfd < 0 || !data)
		bail_out("setup: %s", strerror(errno));
	/* compressible and not: text, then noise */
	for (size_t i = 0; i < BIG; i++)
		data[i] = i < BIG / 2 ? (unsigned char) ("layer "[i % 6]) : (unsigned char) (random() & 0xff);

	{
		struct oci_blob b = { .fd = -EBADF };
		unsigned char *gz;
		size_t len;

		gzip_blob(dirfd, data, BIG, 100000, &b);
		if (digest_buffer(data, BIG, want, &err) < 0)
			bail_out("digest: %s", err.message);
		is_str(b.diff_id, want, "a gzip blob's diff_id is the digest of what it was given");
		gz = read_blob(dirfd, b.digest, &len);
		is_int((long long) len, (long long) b.size, "its size is the file's");
		if (digest_buffer(gz, len, want, &err) < 0)
			bail_out("digest: %s", err.message);
		is_str(b.digest, want, "its name is the digest of its bytes");
		ok(inflates_to(gz, len, data, BIG), "it inflates to what it was given");
		ok(len > 10 && gz[0] == 0x1f && gz[1] == 0x8b && gz[3] == 0 && !gz[4] && !gz[5] && !gz[6] && !gz[7],
		   "its gzip header has no name and no time");
		ok(len < BIG * 3 / 4, "it is compressed");
		free(gz);
		oci_blob_discard(&b);

		struct oci_blob again = { .fd = -EBADF };
		gzip_blob(dirfd, data, BIG, 4096, &again);
		is_str(again.digest, b.digest, "the same content in other pieces is the same blob, byte for byte");
		oci_blob_discard(&again);
	}
	{
		char digest[DIGEST_STRING_MAX];
		const char *json = "{\"schemaVersion\":2}";

		is_int(oci_blob_write_buffer(dirfd, json, strlen(json), digest, &err), 0, "a plain blob from memory");
		if (digest_buffer(json, strlen(json), want, &err) < 0)
			bail_out("digest: %s", err.message);
		is_str(digest, want, "... named by its digest");
	}
	{
		struct oci_blob b = { .fd = -EBADF };

		is_int(oci_blob_begin(dirfd, true, &b, &err), 0, "a blob begun");
		is_int(oci_blob_write(&b, data, 1000), 0, "... written to");
		oci_blob_discard(&b);
		is_int(tu_count_entries(dirfd, "."), 2,
		       "a blob discarded unfinished leaves nothing; only finished blobs are there");
	}
	close(dirfd);
	free(data);
	tu_rmtree(dir);
	return done_testing();
}
