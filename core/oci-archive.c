/* SPDX-License-Identifier: MIT */
/*
 * `isofs image export --format oci`: an image's OCI image layout as one tar,
 * an "oci-archive" (what `podman load` and skopeo's oci-archive: transport
 * read).  The layout is written to a temporary directory of the store, then
 * archived: oci-layout, index.json, blobs/sha256/ sorted, owned by 0:0 with
 * fixed modes and times, so the same image gives the same archive.
 */
#include <dirent.h>
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
#include "fs-util.h"
#include "oci.h"
#include "store.h"

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}

static void entry_freep(struct archive_entry **e)
{
	if (*e)
		archive_entry_free(*e);
}

static int archive_failed(struct archive *a, isofs_error *err)
{
	return error_set(err, EIO, "writing the archive: %s", archive_error_string(a));
}

/* A directory entry, or the regular file `name` below `dirfd` as `path`. */
static int add_entry(struct archive *a, const char *path, int dirfd, const char *name, isofs_error *err)
{
	_cleanup_(entry_freep) struct archive_entry *e = archive_entry_new();
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	if (!e)
		return error_set(err, ENOMEM, "out of memory");
	archive_entry_copy_pathname(e, path);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, 0, 0);
	if (!name) {
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_perm(e, 0755);
		archive_entry_set_size(e, 0);
		return archive_write_header(a, e) < ARCHIVE_WARN ? archive_failed(a, err) : 0;
	}
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return error_errno(err, errno, "OCI layout: %s", path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, st.st_size);
	if (archive_write_header(a, e) < ARCHIVE_WARN)
		return archive_failed(a, err);
	for (;;) {
		char buf[1 << 16];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0)
			return error_errno(err, errno, "OCI layout: %s", path);
		if (n == 0)
			return 0;
		if (archive_write_data(a, buf, (size_t) n) < 0)
			return archive_failed(a, err);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Every blob, sorted by name. */
static int add_blobs(struct archive *a, int layout_fd, isofs_error *err)
{
	_cleanup_close_ int fd = openat(layout_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int r = 0;

	if (fd < 0 || !(d = opendir_fd(fd)))
		return error_errno(err, errno, "OCI layout: blobs/sha256");
	while (r == 0 && (errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue; /* ".", "..", and no blob's name */
		if (n == cap) {
			char **b = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*names));
			if (!b) {
				r = -ENOMEM;
				break;
			}
			names = b;
		}
		if (!(names[n] = strdup(de->d_name)))
			r = -ENOMEM;
		else
			n++;
	}
	if (r == 0 && errno)
		r = error_errno(err, errno, "OCI layout: blobs/sha256");
	else if (r < 0)
		r = error_set(err, ENOMEM, "out of memory");
	if (r == 0 && n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "blobs/sha256/%s", names[i]) < 0)
			r = error_set(err, ENOMEM, "out of memory");
		else
			r = add_entry(a, path, fd, names[i], err);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* The layout in `layout_fd` as a tar on `out_fd`. */
static int layout_archive(int layout_fd, int out_fd, isofs_error *err)
{
	_cleanup_(archive_freep) struct archive *a = archive_write_new();
	int r;

	if (!a)
		return error_set(err, ENOMEM, "out of memory");
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_fd(a, out_fd) != ARCHIVE_OK)
		return archive_failed(a, err);
	r = add_entry(a, "oci-layout", layout_fd, "oci-layout", err);
	if (r == 0)
		r = add_entry(a, "index.json", layout_fd, "index.json", err);
	if (r == 0)
		r = add_entry(a, "blobs/", -1, NULL, err);
	if (r == 0)
		r = add_entry(a, "blobs/sha256/", -1, NULL, err);
	if (r == 0)
		r = add_blobs(a, layout_fd, err);
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = archive_failed(a, err);
	return r;
}

/* FILE written under a temporary name beside it, renamed when complete: never half an archive under FILE. */
struct output {
	int fd;
	char *tmp; /* NULL for stdout */
};

static void output_discard(struct output *o)
{
	closep(&o->fd);
	if (o->tmp)
		(void) unlink(o->tmp);
	free(o->tmp);
}

static int output_open(const char *file, int stdout_fd, struct output *o, isofs_error *err)
{
	if (strcmp(file, "-") == 0) {
		o->fd = fcntl(stdout_fd, F_DUPFD_CLOEXEC, 3);
		return o->fd < 0 ? error_errno(err, errno, "stdout") : 0;
	}
	if (asprintf(&o->tmp, "%s.isofs-tmp.%d", file, (int) getpid()) < 0) {
		o->tmp = NULL;
		return error_set(err, ENOMEM, "out of memory");
	}
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (o->fd < 0) {
		free(o->tmp);
		o->tmp = NULL; /* not ours to remove */
		return error_errno(err, errno, "'%s'", file);
	}
	return 0;
}

static int output_commit(struct output *o, const char *file, isofs_error *err)
{
	if (!o->tmp)
		return 0;
	if (fsync(o->fd) < 0 || rename(o->tmp, file) < 0)
		return error_errno(err, errno, "'%s'", file);
	free(o->tmp);
	o->tmp = NULL;
	return 0;
}

int oci_archive_export(isofs_store *store, const char *name, const char *file, int stdout_fd,
		       const isofs_export_options *opts, isofs_error *err)
{
	_cleanup_tmpdir_ store_tmpdir layout = { .fd = -EBADF };
	struct output out __attribute__((cleanup(output_discard))) = { .fd = -EBADF };
	const char *ref_name = opts && opts->ref_name ? opts->ref_name : name;
	int r = archive_lib_load(err);

	if (r < 0)
		return r;
	r = store_tmpdir_create(store, "oci-export", &layout);
	if (r < 0)
		return error_errno(err, r, "store %s: temporary directory", store->path);
	/* the image first: a missing one fails before FILE is touched */
	r = oci_layout_write(store, name, layout.fd, ref_name, opts, err);
	if (r == 0)
		r = output_open(file, stdout_fd, &out, err);
	if (r == 0)
		r = layout_archive(layout.fd, out.fd, err);
	if (r == 0)
		r = output_commit(&out, file, err);
	if (r < 0 && err && !err->code)
		r = error_errno(err, r, "exporting image '%s'", name);
	return r;
}

int isofs_image_export_oci(isofs_store *store, const char *name, const char *file, int stdout_fd,
			   const char *ref_name, isofs_error *err)
{
	isofs_export_options o = { .format = "oci", .ref_name = ref_name };

	return oci_archive_export(store, name, file, stdout_fd, &o, err);
}
