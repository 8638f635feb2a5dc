/* SPDX-License-Identifier: MIT */
/*
 * Reading an archive from a file or a pipe for libarchive.  A gzip stream is
 * inflated here with zlib, which checks every member's CRC-32 and length:
 * libarchive's own gzip filter does not, and a damaged .tar.gz would import
 * silently with wrong content.  Other streams pass through (libarchive's xz,
 * zstd and bzip2 readers check their own checksums).
 */
#ifndef ISOFS_SOURCE_READ_H
#define ISOFS_SOURCE_READ_H

#include <archive.h>
#include <stdint.h>

struct source_reader;

int source_reader_new(int fd, struct source_reader **ret);
void source_reader_free(struct source_reader *r);
/* Opens `a` on the reader (archive_read_open with our callbacks). */
int source_reader_open(struct archive *a, struct source_reader *r);
/* Bytes of the source consumed so far (compressed bytes for gzip). */
uint64_t source_reader_consumed(const struct source_reader *r);

#endif
