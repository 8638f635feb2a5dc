/* SPDX-License-Identifier: MIT */
/*
 * `isofs image import`: a tar archive (any compression libarchive detects) or
 * a directory, written into a new image by the tree writer — or, told by
 * content, an image archive or layout (oci-source.h), imported layer by layer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive-lib.h"
#include "error.h"
#include "fd-util.h"
#include "image.h"
#include "oci-source.h"
#include "store.h"
#include "source-read.h"
#include "isofs.h"
#include "tree-write.h"

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
#define _cleanup_archive_ __attribute__((cleanup(archive_freep)))

static void linkresolver_freep(struct archive_entry_linkresolver **r)
{
	if (*r)
		archive_entry_linkresolver_free(*r);
}

struct import_source {
	const char *path;     /* NULL: the fd */
	int fd;               /* the tar stream (a file or stdin) */
	bool is_dir;
	uint64_t bytes_total; /* a regular file's size, for the progress bar */
	const isofs_import_options *opts;
	struct archive *a;
	struct source_reader *reader;
	isofs_progress progress;
};

static void report(struct import_source *src)
{
	if (!src->opts || !src->opts->progress)
		return;
	if (!src->is_dir)
		src->progress.bytes_done = source_reader_consumed(src->reader);
	src->opts->progress(&src->progress, src->opts->userdata);
}

static int archive_data(void *ctx, const void **ret_buf, size_t *ret_len, int64_t *ret_offset, isofs_error *err)
{
	struct import_source *src = ctx;
	la_int64_t offset;
	int r = archive_read_data_block(src->a, ret_buf, ret_len, &offset);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN)
		return error_set(err, EIO, "%s", archive_error_string(src->a) ?: "cannot read data");
	*ret_offset = offset;
	if (src->is_dir)
		src->progress.bytes_done += *ret_len;
	report(src);
	return 1;
}

/* A directory import stands for the caller's files: the caller's ids become 0 (root in the sandbox). */
static void map_caller_ids(struct archive_entry *e)
{
	if (geteuid() == 0)
		return;
	if ((uid_t) archive_entry_uid(e) == geteuid())
		archive_entry_set_uid(e, 0);
	if ((gid_t) archive_entry_gid(e) == getegid())
		archive_entry_set_gid(e, 0);
}

/* The entry's name relative to the directory being imported. */
static int dir_entry_relative(struct archive_entry *e, const char *root, isofs_error *err)
{
	const char *p = archive_entry_pathname(e);
	size_t n = strlen(root);
	_cleanup_free_ char *rel = NULL;

	if (!p || strncmp(p, root, n) != 0)
		return error_set(err, EINVAL, "directory walk returned '%s' outside '%s'", p ? p : "?", root);
	p += n;
	while (*p == '/')
		p++;
	rel = strdup(*p ? p : ".");
	if (!rel)
		return error_set(err, ENOMEM, "out of memory");
	archive_entry_copy_pathname(e, rel);
	return 0;
}

static int import_build(int rootfd, int workfd, void *ctx, isofs_import_stats *stats, isofs_error *err)
{
	struct import_source *src = ctx;
	_cleanup_archive_ struct archive *a = NULL;
	_cleanup_(linkresolver_freep) struct archive_entry_linkresolver *links = NULL;
	tree_writer *tw = NULL;
	struct archive_entry *e = NULL;
	int r;

	(void) workfd;
	if (src->is_dir) {
		a = archive_read_disk_new();
		links = archive_entry_linkresolver_new();
		if (!a || !links)
			return error_set(err, ENOMEM, "out of memory");
		archive_entry_linkresolver_set_strategy(links, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
		archive_read_disk_set_symlink_physical(a);
		archive_read_disk_set_behavior(a, ARCHIVE_READDISK_NO_FFLAGS);
		if (archive_read_disk_open(a, src->path) != ARCHIVE_OK)
			return error_set(err, EIO, "source '%s': %s", src->path, archive_error_string(a));
		e = archive_entry_new();
		if (!e)
			return error_set(err, ENOMEM, "out of memory");
	} else {
		a = archive_read_new();
		if (!a)
			return error_set(err, ENOMEM, "out of memory");
		archive_read_support_filter_all(a);
		archive_read_support_format_tar(a);
		if (source_reader_new(src->fd, &src->reader) < 0)
			return error_set(err, ENOMEM, "out of memory");
		if (source_reader_open(a, src->reader) != ARCHIVE_OK)
			return error_set(err, EINVAL, "source '%s' is not a tar archive: %s", src->path ?: "-",
					 archive_error_string(a));
	}
	src->a = a;

	r = tree_writer_new(rootfd, geteuid() == 0, &tw);
	if (r < 0)
		return error_set(err, -r, "out of memory");
	for (;;) {
		struct archive_entry *spare = NULL;

		if (src->is_dir) {
			archive_entry_clear(e); /* or a hard link target would stick to the next entry */
			r = archive_read_next_header2(a, e);
		} else {
			r = archive_read_next_header(a, &e);
		}
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			r = error_set(err, EINVAL, "source '%s': %s%s", src->path ?: "-",
				      src->is_dir ? "" : "corrupt or truncated archive: ",
				      archive_error_string(a) ?: "read error");
			goto out;
		}
		if (src->is_dir) {
			if (archive_entry_filetype(e) == AE_IFDIR)
				archive_read_disk_descend(a);
			r = dir_entry_relative(e, src->path, err);
			if (r < 0)
				goto out;
			map_caller_ids(e);
			archive_entry_linkify(links, &e, &spare);
		}
		r = tree_writer_add(tw, e, archive_data, src, err);
		if (r < 0)
			goto out;
		src->progress.entries++;
		report(src);
	}
	if (!src->is_dir && archive_file_count(a) == 0) {
		r = error_set(err, EINVAL, "source '%s' is not a tar archive (no entries)", src->path ?: "-");
		goto out;
	}
	r = tree_writer_finish(tw, err);
	if (r == 0)
		*stats = *tree_writer_stats(tw);
out:
	if (src->is_dir && e)
		archive_entry_free(e);
	tree_writer_free(tw);
	return r; /* the archive goes now, the reader it reads from after it (isofs_image_import) */
}

/* An archive that unpacked into an image archive's files: imported as the image it holds, the unpacked files dropped. */
static int import_unpacked(isofs_store *store, const char *name, int dirfd, enum oci_source_kind kind,
			   const char *format, const char *source, const isofs_import_options *opts,
			   isofs_import_stats *ret_stats, isofs_error *err)
{
	_cleanup_free_ char *desc = NULL;

	if (asprintf(&desc, "%s:%s", format, source) < 0)
		return error_set(err, ENOMEM, "out of memory");
	return oci_source_import(store, name, dirfd, kind, opts ? opts->ref : NULL, desc, opts, ret_stats, err);
}

static int import_tar(isofs_store *store, const char *name, struct import_source *src, const char *desc,
		      const isofs_import_options *opts, isofs_import_stats *ret_stats, isofs_error *err)
{
	_cleanup_tmpdir_ store_tmpdir tmp = { .fd = -EBADF };
	_cleanup_close_ int rootfd = -EBADF;
	isofs_import_stats stats = { 0 };
	enum oci_source_kind kind;
	int r;

	r = image_begin(store, name, &tmp, &rootfd, err);
	if (r < 0)
		return r;
	r = import_build(rootfd, tmp.fd, src, &stats, err);
	if (r < 0)
		return r;
	/* By content: a tar of an image (podman save, an oci-archive) is the image it holds, not its files. */
	r = oci_source_detect(rootfd, &kind, err);
	if (r < 0)
		return error_prefix(err, r, "source '%s'", src->path ?: "-");
	if (kind != OCI_SOURCE_NONE)
		return import_unpacked(store, name, rootfd, kind,
				       kind == OCI_SOURCE_LAYOUT ? "oci-archive" : oci_source_kind_name(kind),
				       src->path ?: "-", opts, ret_stats, err);
	if (opts && opts->ref)
		return error_set(err, EINVAL, "--ref: source '%s' is a root file system, not an image archive",
				 src->path ?: "-");
	r = image_commit(store, name, desc, NULL, &tmp, rootfd, &stats, NULL, err);
	if (r < 0)
		return r;
	if (ret_stats)
		*ret_stats = stats;
	return 0;
}

int isofs_image_import(isofs_store *store, const char *name, const char *source, int stdin_fd,
		       const isofs_import_options *opts, isofs_import_stats *ret_stats, isofs_error *err)
{
	struct import_source src = { .opts = opts, .fd = -EBADF };
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *desc = NULL, *real = NULL;
	struct stat st;
	int r;

	r = archive_lib_load(err);
	if (r < 0)
		return r;
	r = image_check_name(name, err);
	if (r < 0)
		return r;
	if (!source || !*source)
		return error_set(err, EINVAL, "missing source");

	if (strcmp(source, "-") == 0) {
		src.fd = stdin_fd;
		desc = strdup("tar:-");
	} else {
		fd = open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return error_errno(err, errno, "source '%s'", source);
		if (fstat(fd, &st) < 0)
			return error_errno(err, errno, "source '%s'", source);
		src.path = source;
		if (S_ISDIR(st.st_mode)) {
			enum oci_source_kind kind;

			r = oci_source_detect(fd, &kind, err);
			if (r < 0)
				return error_prefix(err, r, "source '%s'", source);
			if (kind != OCI_SOURCE_NONE)
				return import_unpacked(store, name, fd, kind, oci_source_kind_name(kind), source, opts,
						       ret_stats, err);
			if (opts && opts->ref)
				return error_set(err, EINVAL,
						 "--ref: source '%s' is a root file system, not an image archive", source);
			/* The directory itself, named without a trailing slash or a symlink, as the walk names it. */
			real = realpath(source, NULL);
			if (!real)
				return error_errno(err, errno, "source '%s'", source);
			src.path = real;
			src.is_dir = true;
			closep(&fd);
			fd = -EBADF;
			if (asprintf(&desc, "dir:%s", source) < 0)
				desc = NULL;
		} else {
			src.fd = fd;
			if (S_ISREG(st.st_mode))
				src.bytes_total = (uint64_t) st.st_size;
			if (asprintf(&desc, "tar:%s", source) < 0)
				desc = NULL;
		}
	}
	if (!desc)
		return error_set(err, ENOMEM, "out of memory");
	src.progress.bytes_total = src.bytes_total;
	if (src.is_dir)
		r = image_create(store, name, desc, import_build, &src, ret_stats, err);
	else
		r = import_tar(store, name, &src, desc, opts, ret_stats, err);
	source_reader_free(src.reader);
	return r;
}
