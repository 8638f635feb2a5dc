/* SPDX-License-Identifier: MIT */
#include "archive-lib.h"
#include "oci-layer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "digest.h"
#include "image.h"
#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "layer-format.h"
#include "layer-store.h"
#include "layers.h"
#include "oci.h"
#include "path.h"
#include "store.h"
#include "tree-write.h"

bool oci_layer_media_type_is_supported(const char *mt)
{
	static const char *const supported[] = {
		OCI_MT_LAYER,
		OCI_MT_LAYER_GZIP,
		OCI_MT_LAYER_ZSTD,
		DOCKER_MT_LAYER_GZIP,
		"application/vnd.docker.image.rootfs.diff.tar",
		"application/vnd.docker.image.rootfs.diff.tar.zstd",
	};

	for (size_t i = 0; mt && i < sizeof(supported) / sizeof(supported[0]); i++)
		if (strcmp(mt, supported[i]) == 0)
			return true;
	return false;
}

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
#define _cleanup_archive_ __attribute__((cleanup(archive_freep)))

/*
 * Two readers in a row: `blob` decompresses the bytes of the file (any filter,
 * the raw format), `tar` reads the tar out of what it gives.  Each read
 * callback hashes what passes, so the digests cover exactly the bytes read.
 */
struct layer_reader {
	const struct oci_blob *blob;
	struct oci_progress *progress;
	struct archive *blob_a, *tar_a;
	digest_ctx *blob_digest, *tar_digest;
	uint64_t blob_bytes;
	char inbuf[1 << 16];
	char tarbuf[1 << 16];
};

static void report(struct layer_reader *lr, size_t n)
{
	struct oci_progress *p = lr->progress;

	if (!p)
		return;
	p->progress.bytes_done += n;
	if (p->opts && p->opts->progress)
		p->opts->progress(&p->progress, p->opts->userdata);
}

static la_ssize_t blob_read(struct archive *a, void *ctx, const void **ret_buf)
{
	struct layer_reader *lr = ctx;
	ssize_t n;

	do
		n = read(lr->blob->fd, lr->inbuf, sizeof(lr->inbuf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	if (lr->blob->digest) /* nothing to check it against: no hashing */
		digest_update(lr->blob_digest, lr->inbuf, (size_t) n);
	lr->blob_bytes += (uint64_t) n;
	report(lr, (size_t) n);
	*ret_buf = lr->inbuf;
	return n;
}

static la_ssize_t tar_read(struct archive *a, void *ctx, const void **ret_buf)
{
	struct layer_reader *lr = ctx;
	la_ssize_t n = archive_read_data(lr->blob_a, lr->tarbuf, sizeof(lr->tarbuf));

	if (n < 0) {
		archive_set_error(a, EIO, "%s", archive_error_string(lr->blob_a) ?: "cannot decompress");
		return -1;
	}
	digest_update(lr->tar_digest, lr->tarbuf, (size_t) n);
	*ret_buf = lr->tarbuf;
	return n;
}

static int entry_data(void *ctx, const void **ret_buf, size_t *ret_len, int64_t *ret_offset, isofs_error *err)
{
	struct layer_reader *lr = ctx;
	la_int64_t offset;
	int r = archive_read_data_block(lr->tar_a, ret_buf, ret_len, &offset);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN)
		return error_set(err, EIO, "%s", archive_error_string(lr->tar_a) ?: "cannot read data");
	*ret_offset = offset;
	return 1;
}

/* Reads what the readers left (the tar's padding, a compressed stream's tail) into the digests. */
static int drain(struct layer_reader *lr, isofs_error *err)
{
	const void *buf;
	la_ssize_t n;

	while ((n = tar_read(lr->tar_a, lr, &buf)) > 0)
		;
	if (n < 0)
		return error_set(err, EINVAL, "%s: %s", lr->blob->what, archive_error_string(lr->tar_a));
	while ((n = blob_read(lr->blob_a, lr, &buf)) > 0)
		;
	if (n < 0)
		return error_errno(err, errno, "%s", lr->blob->what);
	return 0;
}

static int verify(struct layer_reader *lr, isofs_error *err)
{
	const struct oci_blob *b = lr->blob;
	char got[DIGEST_STRING_MAX];

	if (b->size >= 0 && lr->blob_bytes != (uint64_t) b->size)
		return error_set(err, EBADMSG, "%s: %llu bytes where the manifest declares %lld", b->what,
				 (unsigned long long) lr->blob_bytes, (long long) b->size);
	if (b->digest) {
		digest_final(lr->blob_digest, got);
		if (strcmp(got, b->digest) != 0)
			return error_set(err, EBADMSG, "%s: digest mismatch: the blob is %s", b->what, got);
	}
	digest_final(lr->tar_digest, got);
	if (strcmp(got, b->diff_id) != 0)
		return error_set(err, EBADMSG, "%s: digest mismatch: the config declares diff_id %s, the tar is %s",
				 b->what, b->diff_id, got);
	return 0;
}

/* A growing list of the paths of ".wh.*" entries, converted once every entry is written. */
struct markers {
	char **paths;
	size_t n, cap;
};

static void markers_free(struct markers *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->paths[i]);
	free(m->paths);
}

static int markers_note(struct markers *m, const char *entry)
{
	_cleanup_free_ char *rel = NULL;
	const char *base;

	if (path_normalize_relative(entry, &rel, NULL) < 0 || !*rel)
		return 0; /* the tree writer refuses it */
	base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	if (strncmp(base, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)) != 0)
		return 0;
	if (m->n == m->cap) {
		char **bigger = realloc(m->paths, (m->cap = m->cap ? m->cap * 2 : 16) * sizeof(*bigger));
		if (!bigger)
			return -ENOMEM;
		m->paths = bigger;
	}
	m->paths[m->n++] = TAKE_PTR(rel);
	return 0;
}

/*
 * One marker into the store's form.  Where the store cannot say it the
 * kernel's way (no user xattrs, a whiteout mknod refused), the marker stays:
 * the layer format reads it as well.  As the OCI spec has it, a marker
 * deletes what is below its layer only: NAME of the same layer stays, and a
 * directory NAME then hides what was below it (opaque).
 */
static int marker_convert(int rootfd, const char *rel, enum layer_xns ns, isofs_error *err)
{
	_cleanup_close_ int pfd = -EBADF;
	char parent[PATH_MAX];
	const char *base = path_last_component(rel, parent, sizeof(parent));
	const char *target;
	struct stat st;
	int r;

	r = path_open_dir_beneath(rootfd, parent, 0, &pfd);
	if (r < 0)
		return r == -ENOENT || r == -ENOTDIR ? 0 : error_errno(err, r, "whiteout '%s'", rel);
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : error_errno(err, errno, "whiteout '%s'", rel); /* done already */
	if (strcmp(base, LAYER_WH_OPAQUE) == 0) {
		if (layer_dir_set_opaque(pfd, ns) == 0)
			(void) rm_rf_at(pfd, base);
		return 0;
	}
	target = layer_marker_target(base);
	if (target && fstatat(pfd, target, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int dfd = openat(pfd, target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (dfd < 0 || (layer_dir_set_opaque(dfd, ns) < 0 &&
					mknodat(dfd, LAYER_WH_OPAQUE, S_IFREG | 0000, 0) < 0 && errno != EEXIST))
				return error_errno(err, errno, "directory '%s' beside its whiteout", rel);
		}
	} else if (target && errno == ENOENT) {
		if (mknodat(pfd, target, S_IFCHR | 0000, makedev(0, 0)) < 0)
			return errno == EPERM || errno == EACCES ? 0 : error_errno(err, errno, "whiteout '%s'", rel);
	}
	/* Converted, or naming nothing a whiteout can hide (".wh..wh.plnk" and such: AUFS's own). */
	r = rm_rf_at(pfd, base);
	return r < 0 && r != -ENOENT ? error_errno(err, r, "whiteout '%s'", rel) : 0;
}

static int extract(const struct oci_blob *blob, int rootfd, struct oci_progress *progress, isofs_import_stats *stats,
		   isofs_error *err)
{
	_cleanup_archive_ struct archive *tar_a = NULL;
	_cleanup_archive_ struct archive *blob_a = NULL; /* freed after tar_a, which reads from it */
	_cleanup_digest_ digest_ctx *d1 = NULL;
	_cleanup_digest_ digest_ctx *d2 = NULL;
	_cleanup_free_ struct layer_reader *lr = calloc(1, sizeof(*lr));
	_cleanup_(markers_free) struct markers markers = { 0 };
	tree_writer *tw = NULL;
	struct archive_entry *e;
	enum layer_xns ns = layer_caller_xns();
	int r;

	if (!lr)
		return error_set(err, ENOMEM, "out of memory");
	if ((r = digest_new(&d1, err)) < 0 || (r = digest_new(&d2, err)) < 0)
		return r;
	lr->blob = blob;
	lr->progress = progress;
	lr->blob_digest = d1;
	lr->tar_digest = d2;
	blob_a = archive_read_new();
	tar_a = archive_read_new();
	if (!blob_a || !tar_a)
		return error_set(err, ENOMEM, "out of memory");
	lr->blob_a = blob_a;
	lr->tar_a = tar_a;
	/* OCI layers are tar, gzip or zstd: no other decompressor (some run external programs) sees hostile bytes */
	archive_read_support_filter_gzip(blob_a);
	archive_read_support_filter_zstd(blob_a);
	archive_read_support_format_raw(blob_a);
	archive_read_support_format_tar(tar_a);
	if (archive_read_open(blob_a, lr, NULL, blob_read, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(blob_a, &e) != ARCHIVE_OK)
		return error_set(err, EINVAL, "%s: not a layer: %s", blob->what,
				 archive_error_string(blob_a) ?: "empty");
	if (archive_read_open(tar_a, lr, NULL, tar_read, NULL) != ARCHIVE_OK)
		return error_set(err, EINVAL, "%s is not a tar archive: %s", blob->what,
				 archive_error_string(tar_a) ?: "read error");

	r = tree_writer_new(rootfd, geteuid() == 0, &tw);
	if (r < 0)
		return error_set(err, -r, "out of memory");
	for (;;) {
		r = archive_read_next_header(tar_a, &e);
		if (r == ARCHIVE_EOF) {
			r = 0;
			break;
		}
		if (r < ARCHIVE_WARN) {
			r = error_set(err, EINVAL, "%s: corrupt or truncated: %s", blob->what,
				      archive_error_string(tar_a) ?: "read error");
			break;
		}
		if (archive_entry_pathname(e) && markers_note(&markers, archive_entry_pathname(e)) < 0) {
			r = error_set(err, ENOMEM, "out of memory");
			break;
		}
		r = tree_writer_add(tw, e, entry_data, lr, err);
		if (r < 0) {
			error_prefix(err, r, "%s", blob->what);
			break;
		}
		if (progress)
			progress->progress.entries++;
	}
	/* Nothing of a blob is used before both digests are known to match. */
	if (r == 0)
		r = drain(lr, err);
	if (r == 0)
		r = verify(lr, err);
	for (size_t i = 0; r == 0 && i < markers.n; i++)
		r = marker_convert(rootfd, markers.paths[i], ns, err);
	if (r == 0)
		r = tree_writer_finish(tw, err);
	if (r == 0)
		*stats = *tree_writer_stats(tw);
	tree_writer_free(tw);
	return r;
}

int oci_layer_extract(isofs_store *store, const struct oci_blob *blob, struct oci_progress *progress,
		      isofs_import_stats *stats, store_tmpdir *ret_tmp, int *ret_rootfd, isofs_error *err)
{
	_cleanup_tmpdir_ store_tmpdir tmp = { .fd = -EBADF };
	_cleanup_close_ int rootfd = -EBADF;
	int r;

	if (!digest_is_valid(blob->diff_id))
		return error_set(err, EINVAL, "%s: diff_id '%.80s' is not sha256:<64 hex digits>", blob->what,
				 blob->diff_id);
	if (blob->media_type && !oci_layer_media_type_is_supported(blob->media_type))
		return error_set(err, EMEDIUMTYPE, "%s: unsupported media type '%.100s'", blob->what, blob->media_type);
	r = archive_lib_load(err);
	if (r < 0)
		return r;
	r = layer_store_begin(store, &tmp, &rootfd, err);
	if (r < 0)
		return r;
	r = extract(blob, rootfd, progress, stats, err);
	if (r < 0)
		return r;
	*ret_tmp = tmp;
	tmp.fd = -EBADF;
	tmp.name[0] = '\0';
	*ret_rootfd = TAKE_FD(rootfd);
	return 0;
}
