/* SPDX-License-Identifier: MIT */
/* `isofs image export`: the merged tree of an image's layers as one flat tar (pax). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "archive-lib.h"
#include "error.h"
#include "fd-util.h"
#include "image.h"
#include "layer-owner.h"
#include "layers.h"
#include "oci.h"
#include "store.h"
#include "tree-write.h"

struct export_ctx {
	struct archive *a;
	struct archive_entry_linkresolver *links;
	const struct layer_chain *chain;
	struct idshift host[2]; /* the store's map: real ids of a rootless layer's symlinks and fifos */
	isofs_error *err;
	const isofs_export_options *opts; /* its progress callback, may be NULL */
	isofs_progress progress;
};

static void report(struct export_ctx *x)
{
	if (x->opts && x->opts->progress)
		x->opts->progress(&x->progress, x->opts->userdata);
}

/* Owner as the sandbox sees it: rootless layers keep logical owners (base/layer-owner.h). */
static void set_owner(struct export_ctx *x, struct archive_entry *e, int dirfd, const char *name,
		      const struct stat *st, bool rootless)
{
	uid_t u = st->st_uid;
	gid_t g = st->st_gid;

	if (rootless)
		layer_owner_get(x->host, -1, dirfd, name, st, &u, &g);
	archive_entry_set_uid(e, u);
	archive_entry_set_gid(e, g);
}

static int add_xattrs(struct archive_entry *e, const char *xpath)
{
	char list[65536];
	ssize_t n = llistxattr(xpath, list, sizeof(list));

	for (char *name = list; n > 0 && name < list + n; name += strlen(name) + 1) {
		char value[65536];
		ssize_t vn;
		if (layer_xattr_is_metadata(name))
			continue;
		vn = lgetxattr(xpath, name, value, sizeof(value));
		if (vn >= 0)
			archive_entry_xattr_add_entry(e, name, value, (size_t) vn);
	}
	return 0;
}

static int write_entry(struct export_ctx *x, struct archive_entry *e, int dirfd, const char *name)
{
	if (archive_write_header(x->a, e) < ARCHIVE_WARN)
		return error_set(x->err, EIO, "writing the archive: %s", archive_error_string(x->a));
	if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0) {
		_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		char buf[1 << 16];
		ssize_t n;

		if (fd < 0)
			return error_errno(x->err, errno, "reading '%s'", archive_entry_pathname(e));
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			if (archive_write_data(x->a, buf, (size_t) n) < 0)
				return error_set(x->err, EIO, "writing the archive: %s", archive_error_string(x->a));
			x->progress.bytes_done += (uint64_t) n;
		}
		if (n < 0)
			return error_errno(x->err, errno, "reading '%s'", archive_entry_pathname(e));
	}
	return 0;
}

static int visit(void *ctx, const char *path, const struct layer_found *f, int dirfd, const char *name)
{
	const struct stat *st = &f->st;
	struct export_ctx *x = ctx;
	struct archive_entry *e = archive_entry_new(), *spare = NULL;
	char xpath[64 + NAME_MAX], target[PATH_MAX + 1];
	_cleanup_free_ char *apath = NULL;
	int r = 0;

	if (!e || asprintf(&apath, "./%s", path) < 0) {
		archive_entry_free(e);
		return error_set(x->err, ENOMEM, "out of memory");
	}
	snprintf(xpath, sizeof(xpath), "/proc/self/fd/%d/%s", dirfd, name);
	archive_entry_copy_stat(e, st);
	if (!S_ISREG(st->st_mode))
		archive_entry_set_size(e, 0);
	archive_entry_copy_pathname(e, apath);
	set_owner(x, e, dirfd, name, st, x->chain->rootless[f->layer]);
	if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (n < 0) {
			archive_entry_free(e);
			return error_errno(x->err, errno, "reading '%s'", path);
		}
		target[n] = '\0';
		archive_entry_copy_symlink(e, target);
	}
	add_xattrs(e, xpath);
	/* Hard links within one layer become tar hard links (same dev and inode). */
	archive_entry_linkify(x->links, &e, &spare);
	if (e)
		r = write_entry(x, e, dirfd, name);
	archive_entry_free(e);
	archive_entry_free(spare);
	x->progress.entries++;
	report(x);
	return r;
}

int isofs_image_export(isofs_store *store, const char *name, const char *file, int stdout_fd, isofs_error *err)
{
	return isofs_image_export_with(store, name, file, stdout_fd, NULL, err);
}

static int export_tar(isofs_store *store, const char *name, const char *file, int stdout_fd,
		      const isofs_export_options *opts, isofs_error *err)
{
	struct layer_chain chain = { 0 };
	struct export_ctx x = { .err = err, .chain = &chain, .opts = opts };
	int rootfds[LAYERS_MAX];
	_cleanup_close_ int outfd = -1;
	_cleanup_free_ char *tmp = NULL;
	struct stat st;
	int r, nfds = 0;

	r = archive_lib_load(err);
	if (r < 0)
		return r;
	r = layer_chain_get(store, name, &chain, err);
	if (r < 0)
		return r;
	{
		struct idmap map;
		idmap_choose(&map);
		idmap_shifts(&map, &x.host[0], &x.host[1]);
	}
	r = layer_chain_open(&chain, rootfds, err);
	if (r < 0)
		goto out;
	nfds = chain.n;
	if (strcmp(file, "-") == 0) {
		outfd = fcntl(stdout_fd, F_DUPFD_CLOEXEC, 3);
	} else {
		/* Written under a temporary name, renamed when complete: never half a tarball under FILE. */
		if (asprintf(&tmp, "%s.isofs-tmp.%d", file, (int) getpid()) < 0) {
			r = error_set(err, ENOMEM, "out of memory");
			goto out;
		}
		outfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	}
	if (outfd < 0) {
		r = error_errno(err, errno, "'%s'", tmp ? file : "-");
		goto out;
	}
	x.a = archive_write_new();
	x.links = archive_entry_linkresolver_new();
	if (!x.a || !x.links) {
		r = error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	archive_entry_linkresolver_set_strategy(x.links, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	archive_write_set_format_pax_restricted(x.a);
	archive_write_set_bytes_in_last_block(x.a, 1);
	if (archive_write_open_fd(x.a, outfd) != ARCHIVE_OK) {
		r = error_set(err, EIO, "writing the archive: %s", archive_error_string(x.a));
		goto out;
	}
	/* The root directory's own metadata first. */
	if (fstat(rootfds[0], &st) < 0) {
		r = error_errno(err, errno, "image '%s'", name);
		goto out;
	}
	{
		struct archive_entry *e = archive_entry_new();
		char xpath[64];
		/* "/.": the l*xattr calls then read the directory, not /proc's link to it */
		snprintf(xpath, sizeof(xpath), "/proc/self/fd/%d/.", rootfds[0]);
		archive_entry_copy_stat(e, &st);
		archive_entry_set_size(e, 0);
		archive_entry_copy_pathname(e, "./");
		set_owner(&x, e, rootfds[0], ".", &st, chain.rootless[0]);
		add_xattrs(e, xpath);
		r = write_entry(&x, e, rootfds[0], ".");
		archive_entry_free(e);
		if (r < 0)
			goto out;
	}
	{
		struct layer_stack stack = { .roots = rootfds, .n = chain.n, .ns = layer_caller_xns() };
		r = layer_walk(&stack, visit, &x);
	}
	if (r < 0) {
		if (!err || !err->code)
			r = error_errno(err, r, "exporting image '%s'", name);
		goto out;
	}
	if (archive_write_close(x.a) != ARCHIVE_OK) {
		r = error_set(err, EIO, "writing the archive: %s", archive_error_string(x.a));
		goto out;
	}
	if (tmp && (fsync(outfd) < 0 || rename(tmp, file) < 0)) {
		r = error_errno(err, errno, "'%s'", file);
		goto out;
	}
	if (tmp) {
		free(tmp);
		tmp = NULL;
	}
out:
	if (x.a)
		archive_write_free(x.a);
	if (x.links)
		archive_entry_linkresolver_free(x.links);
	if (tmp)
		(void) unlink(tmp);
	layer_roots_close(rootfds, nfds);
	layer_chain_free(&chain);
	return r;
}

int isofs_image_export_with(isofs_store *store, const char *name, const char *file, int stdout_fd,
			    const isofs_export_options *opts, isofs_error *err)
{
	const char *format = opts && opts->format ? opts->format : "tar";

	if (strcmp(format, "oci") == 0)
		return oci_archive_export(store, name, file, stdout_fd, opts, err);
	if (strcmp(format, "tar") != 0)
		return error_set(err, EINVAL, "unknown export format '%s' (tar or oci)", format);
	if (opts && opts->ref_name)
		return error_set(err, EINVAL, "a reference name goes with the oci format");
	return export_tar(store, name, file, stdout_fd, opts, err);
}
