/* SPDX-License-Identifier: MIT */
#include "oci-layer-tar.h"

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
#include "layer-owner.h"

struct layer_tar {
	struct archive *a;
	struct archive_entry_linkresolver *links;
	const struct layer_chain *chain;
	const int *roots;
	int layer; /* in the chain */
	enum layer_xns ns;
	const struct idshift *host;
	struct oci_blob *blob;
	int blob_error; /* -errno of the blob's last failed write: the reason behind libarchive's error */
	isofs_error *err;
};

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}

static void linkresolver_freep(struct archive_entry_linkresolver **l)
{
	if (*l)
		archive_entry_linkresolver_free(*l);
}

static void entry_freep(struct archive_entry **e)
{
	if (*e)
		archive_entry_free(*e);
}

/* Whether a message was set already (a visit's own), not to be replaced by a vaguer one. */
static bool error_is_set(const isofs_error *err)
{
	return err && err->code;
}

static la_ssize_t to_blob(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct layer_tar *t = ctx;
	int r = oci_blob_write(t->blob, buf, len);

	if (r < 0) {
		t->blob_error = r;
		archive_set_error(a, -r, "%s", strerror(-r));
		return -1;
	}
	return (la_ssize_t) len;
}

static int archive_failed(struct layer_tar *t)
{
	if (t->blob_error)
		return error_errno(t->err, -t->blob_error, "writing layer %s", t->chain->images[t->chain->image_of[t->layer]]);
	return error_set(t->err, EIO, "writing layer %s: %s", t->chain->images[t->chain->image_of[t->layer]], archive_error_string(t->a));
}

static int join(char **ret, const char *dir, const char *name)
{
	int n = *dir ? asprintf(ret, "%s/%s", dir, name) : asprintf(ret, "%s", name);

	return n < 0 ? -ENOMEM : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The xattrs a view shows (layer metadata never), sorted by name: the order
 * llistxattr gives is the file system's.  Never inlined, here and below: big
 * buffers must not sit in the frames of the recursion over directories.
 */
static __attribute__((noinline)) int add_xattrs(struct archive_entry *e, int dirfd, const char *name)
{
	char path[64 + NAME_MAX], list[65536], shown[XATTR_NAME_MAX + 1];
	_cleanup_free_ char **names = NULL;
	size_t n = 0, cap = 0;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	len = llistxattr(path, list, sizeof(list));
	if (len < 0)
		return errno == ENOTSUP ? 0 : -errno;
	for (char *x = list; x < list + len; x += strlen(x) + 1)
		cap++;
	if (cap == 0)
		return 0;
	names = calloc(cap, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (char *x = list; x < list + len; x += strlen(x) + 1)
		names[n++] = x;
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		const char *as = layer_xattr_from_real(names[i], shown, sizeof(shown));
		char value[65536];
		ssize_t vn;

		if (!as)
			continue;
		vn = lgetxattr(path, names[i], value, sizeof(value));
		if (vn < 0) {
			if (errno == ENODATA)
				continue;
			return -errno;
		}
		archive_entry_xattr_add_entry(e, as, value, (size_t) vn);
	}
	return 0;
}

static __attribute__((noinline)) int write_data(struct layer_tar *t, struct archive_entry *e, int dirfd,
						const char *name)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char buf[1 << 16];
	ssize_t n;

	if (fd < 0)
		return error_errno(t->err, errno, "reading '/%s' of image %s", archive_entry_pathname(e),
				   t->chain->images[t->chain->image_of[t->layer]]);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (archive_write_data(t->a, buf, (size_t) n) < 0)
			return archive_failed(t);
	if (n < 0)
		return error_errno(t->err, errno, "reading '/%s' of image %s", archive_entry_pathname(e),
				   t->chain->images[t->chain->image_of[t->layer]]);
	return 0;
}

static int write_entry(struct layer_tar *t, struct archive_entry *e, int dirfd, const char *name)
{
	if (archive_write_header(t->a, e) < ARCHIVE_WARN)
		return archive_failed(t);
	/* a hard link's second name carries no data */
	if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0 && !archive_entry_hardlink(e))
		return write_data(t, e, dirfd, name);
	return 0;
}

/*
 * An object of layer `layer` of the chain, at (dirfd, name), as `path`.
 * Rootless layers hold logical owners (base/layer-owner.h); privileged ones the real ids.
 */
static int write_object(struct layer_tar *t, int layer, int dirfd, const char *name, const struct stat *st,
			const char *path)
{
	_cleanup_(entry_freep) struct archive_entry *e = NULL, *spare = NULL;
	uid_t uid = st->st_uid;
	gid_t gid = st->st_gid;
	int r;

	if (S_ISSOCK(st->st_mode))
		return 0; /* no tar form; a socket is only ever a live server's */
	e = archive_entry_new();
	if (!e)
		return error_set(t->err, ENOMEM, "out of memory");
	archive_entry_copy_stat(e, st);
	/* times that change when the image is only read: never in the layer */
	archive_entry_unset_atime(e);
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	if (!S_ISREG(st->st_mode))
		archive_entry_set_size(e, 0);
	archive_entry_copy_pathname(e, path);
	if (t->chain->rootless[layer])
		layer_owner_get(t->host, -1, dirfd, name, st, &uid, &gid);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX + 1];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (n < 0)
			return error_errno(t->err, errno, "reading '/%s' of image %s", path, t->chain->images[t->chain->image_of[layer]]);
		target[n] = '\0';
		archive_entry_copy_symlink(e, target);
	}
	r = add_xattrs(e, dirfd, name);
	if (r < 0)
		return error_errno(t->err, -r, "xattrs of '/%s' of image %s", path, t->chain->images[t->chain->image_of[layer]]);
	/* names of one inode after the first become hard links to it */
	archive_entry_linkify(t->links, &e, &spare);
	return e ? write_entry(t, e, dirfd, name) : 0;
}

/* An empty marker file of the OCI form (a whiteout, an opaque marker), with the time of the directory it is in. */
static int write_marker(struct layer_tar *t, const char *dir, const char *marker, const struct stat *dir_st)
{
	_cleanup_(entry_freep) struct archive_entry *e = archive_entry_new();
	_cleanup_free_ char *path = NULL;

	if (!e || join(&path, dir, marker) < 0)
		return error_set(t->err, ENOMEM, "out of memory");
	archive_entry_copy_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0600);
	archive_entry_set_size(e, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, dir_st->st_mtim.tv_sec, dir_st->st_mtim.tv_nsec);
	if (archive_write_header(t->a, e) < ARCHIVE_WARN)
		return archive_failed(t);
	return 0;
}

/* ---- the merged content of a redirected directory ---- */

static int visit_merged(void *ctx, const char *path, const struct layer_found *f, int dirfd, const char *name)
{
	struct layer_tar *t = ctx;

	/* f->layer counts from the layer being written: the stack is the chain from it down */
	return write_object(t, t->layer + f->layer, dirfd, name, &f->st, path);
}

/*
 * Everything below directory `path` as the stack shows it from this layer
 * down: its own entries and those of the lower directories its redirect
 * names, merged by the format's own lookups.
 */
static int write_merged(struct layer_tar *t, const char *path)
{
	const struct layer_stack stack = { .roots = t->roots + t->layer, .n = t->chain->n - t->layer, .ns = t->ns };
	struct layer_dir roots[LAYER_MAX];
	struct layer_found found[2];
	const struct layer_dir *dirs = roots;
	_cleanup_free_ char *copy = strdup(path);
	int nroots = 0, ndirs, cur = -1, r = 0;
	char *save = NULL;

	if (!copy)
		return error_set(t->err, ENOMEM, "out of memory");
	/* the roots merge down to the first opaque one, as a view's do */
	for (int l = 0; l < stack.n && r == 0; l++) {
		int fd = layer_open_beneath(stack.roots[l], ".", O_PATH | O_DIRECTORY);
		if (fd < 0) {
			r = fd;
			break;
		}
		roots[nroots++] = (struct layer_dir){ l, fd };
		r = layer_dir_is_opaque(fd, stack.ns);
		r = r > 0 ? 1 : r;
	}
	r = r < 0 ? r : 0;
	ndirs = nroots;
	for (char *name = strtok_r(copy, "/", &save); r == 0 && name; name = strtok_r(NULL, "/", &save)) {
		int next = cur == 0 ? 1 : 0;

		r = layer_lookup(&stack, dirs, ndirs, name, &found[next]);
		if (cur >= 0)
			layer_found_release(&found[cur]);
		cur = next;
		if (r == 0 && (found[cur].layer < 0 || !S_ISDIR(found[cur].st.st_mode)))
			r = -ENOENT; /* the layer holds it: a merged lookup cannot miss it */
		dirs = found[cur].dirs;
		ndirs = found[cur].ndirs;
	}
	if (r == 0)
		r = layer_walk_dir(&stack, dirs, ndirs, path, visit_merged, t);
	if (cur >= 0)
		layer_found_release(&found[cur]);
	for (int i = 0; i < nroots; i++)
		close(roots[i].fd);
	if (r < 0 && !error_is_set(t->err))
		r = error_errno(t->err, -r, "image %s: directory '/%s'", t->chain->images[t->chain->image_of[t->layer]], path);
	return r;
}

/* ---- the layer's own entries ---- */

struct dir_entry {
	char *tar_name; /* first: sorted by it */
	const char *name; /* in the layer (inside tar_name) */
	bool whiteout;
};

struct dir_entries {
	struct dir_entry *v;
	size_t n, cap;
};

static void dir_entries_free(struct dir_entries *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].tar_name);
	free(d->v);
}

static int collect(void *ctx, const char *name, ino_t ino, mode_t type, bool whiteout)
{
	struct dir_entries *d = ctx;
	char *tar_name;

	(void) ino;
	(void) type;
	if (d->n == d->cap) {
		size_t ncap = d->cap ? 2 * d->cap : 32;
		struct dir_entry *b = realloc(d->v, ncap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		d->v = b;
		d->cap = ncap;
	}
	if (asprintf(&tar_name, "%s%s", whiteout ? LAYER_WH_PREFIX : "", name) < 0)
		return -ENOMEM;
	d->v[d->n++] = (struct dir_entry){ tar_name, tar_name + (whiteout ? strlen(LAYER_WH_PREFIX) : 0), whiteout };
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct dir_entry *) a)->tar_name, ((const struct dir_entry *) b)->tar_name);
}

static int write_dir(struct layer_tar *t, int dirfd, const char *path, const struct stat *dir_st);

enum dir_kind { DIR_PLAIN, DIR_OPAQUE, DIR_REDIRECTED };

static __attribute__((noinline)) int dir_kind(int fd, enum layer_xns ns)
{
	char redirect[PATH_MAX];
	int r = layer_dir_get_redirect(fd, ns, redirect, sizeof(redirect));

	/* -EINVAL: not a clean path; the format ignores it, and so does its OCI form */
	if (r < 0 && r != -EINVAL)
		return r;
	if (r > 0)
		return DIR_REDIRECTED;
	r = layer_dir_is_opaque(fd, ns);
	return r < 0 ? r : r > 0 ? DIR_OPAQUE : DIR_PLAIN;
}

/* Below a directory of the layer: its own entries, or the merged content when it is redirected. */
static int write_below(struct layer_tar *t, int parentfd, const char *name, const char *path, const struct stat *st)
{
	_cleanup_close_ int fd = layer_open_beneath(parentfd, name, O_PATH | O_DIRECTORY);
	int kind = fd < 0 ? fd : dir_kind(fd, t->ns), r = 0;

	if (kind < 0)
		return error_errno(t->err, -kind, "image %s: directory '/%s'", t->chain->images[t->chain->image_of[t->layer]], path);
	if (kind != DIR_PLAIN)
		r = write_marker(t, path, LAYER_WH_OPAQUE, st);
	if (r < 0)
		return r;
	return kind == DIR_REDIRECTED ? write_merged(t, path) : write_dir(t, fd, path, st);
}

static int write_dir(struct layer_tar *t, int dirfd, const char *path, const struct stat *dir_st)
{
	struct dir_entries d = { 0 };
	int r = layer_read_dir(dirfd, collect, &d);

	if (r < 0) {
		dir_entries_free(&d);
		return error_errno(t->err, -r, "image %s: directory '/%s'", t->chain->images[t->chain->image_of[t->layer]], path);
	}
	if (d.n)
		qsort(d.v, d.n, sizeof(*d.v), cmp_entry);
	for (size_t i = 0; r == 0 && i < d.n; i++) {
		_cleanup_free_ char *child = NULL;
		struct stat st;

		if (d.v[i].whiteout) {
			r = write_marker(t, path, d.v[i].tar_name, dir_st);
			continue;
		}
		if (join(&child, path, d.v[i].name) < 0) {
			r = error_set(t->err, ENOMEM, "out of memory");
			break;
		}
		if (fstatat(dirfd, d.v[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = error_errno(t->err, errno, "image %s: '/%s'", t->chain->images[t->chain->image_of[t->layer]], child);
			break;
		}
		r = write_object(t, t->layer, dirfd, d.v[i].name, &st, child);
		if (r == 0 && S_ISDIR(st.st_mode))
			r = write_below(t, dirfd, d.v[i].name, child, &st);
	}
	dir_entries_free(&d);
	return r;
}

int oci_layer_write(const struct layer_chain *chain, const int *roots, int layer, const struct idshift host[2],
		    struct oci_blob *blob, isofs_error *err)
{
	_cleanup_(archive_freep) struct archive *a = NULL;
	_cleanup_(linkresolver_freep) struct archive_entry_linkresolver *links = NULL;
	struct layer_tar t = {
		.chain = chain, .roots = roots, .layer = layer, .ns = layer_caller_xns(), .host = host,
		.blob = blob, .err = err,
	};
	struct stat root_st;
	int r;

	r = archive_lib_load(err);
	if (r < 0)
		return r;
	t.a = a = archive_write_new();
	t.links = links = archive_entry_linkresolver_new();
	if (!a || !links)
		return error_set(err, ENOMEM, "out of memory");
	archive_entry_linkresolver_set_strategy(links, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	archive_write_set_format_pax_restricted(a);
	/* xattrs as SCHILY.xattr records only, the form containers/storage and Docker read */
	if (archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY") < ARCHIVE_OK)
		return archive_failed(&t);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open(a, &t, NULL, to_blob, NULL) != ARCHIVE_OK)
		return archive_failed(&t);
	if (fstat(roots[layer], &root_st) < 0)
		return error_errno(err, errno, "image %s", chain->images[chain->image_of[layer]]);
	/* a layer's root is never redirected; opaque, it hides every layer below */
	r = layer_dir_is_opaque(roots[layer], t.ns);
	if (r > 0 && layer < chain->n - 1)
		r = write_marker(&t, "", LAYER_WH_OPAQUE, &root_st);
	if (r < 0)
		return error_is_set(err) ? r : error_errno(err, -r, "image %s", chain->images[chain->image_of[layer]]);
	r = write_dir(&t, roots[layer], "", &root_st);
	if (r < 0)
		return r;
	if (archive_write_close(a) != ARCHIVE_OK)
		return archive_failed(&t);
	return 0;
}
