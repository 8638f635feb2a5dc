/* SPDX-License-Identifier: MIT */
#include "archive-lib.h"
#include "source-read.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK (1 << 16)

struct source_reader {
	int fd;
	bool gzip;
	bool started;       /* the first bytes were looked at */
	bool in_eof;
	bool member_done;   /* between gzip members */
	z_stream zs;
	unsigned char in[CHUNK];
	size_t in_len;      /* of raw input in `in` not yet handed on (pass-through) or to zlib */
	unsigned char out[CHUNK];
	uint64_t consumed;
};

int source_reader_new(int fd, struct source_reader **ret)
{
	struct source_reader *r;
	int k = archive_lib_load(NULL);

	if (k < 0)
		return k;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	*ret = r;
	return 0;
}

void source_reader_free(struct source_reader *r)
{
	if (!r)
		return;
	if (r->gzip)
		inflateEnd(&r->zs);
	free(r);
}

uint64_t source_reader_consumed(const struct source_reader *r)
{
	return r->consumed;
}

static ssize_t fill(struct source_reader *r, unsigned char *buf, size_t size)
{
	ssize_t n;

	do
		n = read(r->fd, buf, size);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		r->consumed += (uint64_t) n;
	if (n == 0)
		r->in_eof = true;
	return n;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **buf)
{
	struct source_reader *r = ctx;
	ssize_t n;

	if (!r->started) {
		r->started = true;
		n = fill(r, r->in, sizeof(r->in));
		if (n < 0) {
			archive_set_error(a, errno, "read: %s", strerror(errno));
			return -1;
		}
		r->in_len = (size_t) n;
		r->gzip = n >= 2 && r->in[0] == 0x1f && r->in[1] == 0x8b;
		if (r->gzip) {
			memset(&r->zs, 0, sizeof(r->zs));
			if (inflateInit2(&r->zs, 15 + 16) != Z_OK) { /* gzip wrapper: header, CRC-32 and length checked */
				archive_set_error(a, ENOMEM, "zlib");
				return -1;
			}
			r->zs.next_in = r->in;
			r->zs.avail_in = (uInt) r->in_len;
		} else {
			*buf = r->in;
			r->in_len = 0;
			return n;
		}
	}
	if (!r->gzip) {
		n = fill(r, r->in, sizeof(r->in));
		if (n < 0) {
			archive_set_error(a, errno, "read: %s", strerror(errno));
			return -1;
		}
		*buf = r->in;
		return n;
	}

	for (;;) {
		int z;

		if (r->zs.avail_in == 0 && !r->in_eof) {
			n = fill(r, r->in, sizeof(r->in));
			if (n < 0) {
				archive_set_error(a, errno, "read: %s", strerror(errno));
				return -1;
			}
			r->zs.next_in = r->in;
			r->zs.avail_in = (uInt) n;
		}
		if (r->member_done) {
			/* After a member: another member, zero padding, or the end. */
			if (r->zs.avail_in == 0 && r->in_eof)
				return 0;
			if (all_zero(r->zs.next_in, r->zs.avail_in)) {
				r->zs.avail_in = 0;
				if (r->in_eof)
					return 0;
				continue;
			}
			if (inflateReset(&r->zs) != Z_OK) {
				archive_set_error(a, EINVAL, "gzip: corrupt data");
				return -1;
			}
			r->member_done = false;
		}
		if (r->zs.avail_in == 0 && r->in_eof) {
			archive_set_error(a, EINVAL, "gzip: truncated data");
			return -1;
		}
		r->zs.next_out = r->out;
		r->zs.avail_out = sizeof(r->out);
		z = inflate(&r->zs, Z_NO_FLUSH);
		if (z == Z_STREAM_END)
			r->member_done = true;
		else if (z != Z_OK && z != Z_BUF_ERROR) {
			archive_set_error(a, EINVAL, "gzip: %s", r->zs.msg ? r->zs.msg : "corrupt data");
			return -1;
		}
		if (r->zs.avail_out < sizeof(r->out)) {
			*buf = r->out;
			return (la_ssize_t) (sizeof(r->out) - r->zs.avail_out);
		}
	}
}

int source_reader_open(struct archive *a, struct source_reader *r)
{
	return archive_read_open(a, r, NULL, read_cb, NULL);
}
