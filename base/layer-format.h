/* SPDX-License-Identifier: MIT */
/*
 * The layer format, and the one place that reads it.  Kernel overlayfs's
 * on-disk format: a whiteout is a 0/0 character device; an opaque directory
 * carries <prefix>opaque="y"; a renamed directory with lower parts carries
 * <prefix>redirect, where they were ("/a/b" from the layer root, or one name
 * in the same parent).  <prefix> is "trusted.overlay." or "user.overlay."
 * (userxattr), one namespace per stack.  isofs adds <prefix>isofs.origin (the
 * inode number a copied-up object keeps) and user.isofs.owner (rootless
 * owners).
 *
 * Layers that containers/storage writes for a mount program (image layers
 * unpacked rootless, fuse-overlayfs's uppers) use the AUFS/OCI form as well,
 * read as fuse-overlayfs reads it: an entry ".wh.NAME" whites NAME out in its
 * layer and below (NAME of the same layer too), ".wh..wh..opq" makes its
 * directory opaque.  Every name beginning with ".wh." is the format's
 * (".wh..wh.plnk", ".wh..wh.aufs" and such too): never shown, never looked up,
 * never created through a view; ".wh." alone, ".wh.." and ".wh..." hide
 * nothing.
 *
 * Layer metadata is untrusted input, wherever it came from (an import, a
 * sandbox, a hand-edited store): every lookup stays beneath the layer it is
 * in (no "..", no symlink, no magic link on the way), a redirect that is not a
 * clean path is treated as absent, an origin that is not a number is ignored.
 * The overlay server (fuse/), export, diff and commit (core/) all go through
 * this file, so they cannot disagree on what a stack of layers holds.
 */
#ifndef ISOFS_LAYER_FORMAT_H
#define ISOFS_LAYER_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define LAYER_MAX 128 /* layers in one stack, the upper included */

/* The xattr namespace a stack's metadata lives in. */
enum layer_xns {
	LAYER_XNS_TRUSTED, /* trusted.overlay.*: privileged */
	LAYER_XNS_USER,    /* user.overlay.*: unprivileged (kernel overlayfs's userxattr) */
};
const char *layer_xattr_prefix(enum layer_xns ns);

bool layer_is_whiteout(const struct stat *st);

#define LAYER_WH_PREFIX ".wh."
#define LAYER_WH_OPAQUE ".wh..wh..opq"
/* A name of the AUFS/OCI format (".wh.*"): never an object of the view. */
bool layer_name_is_format(const char *name);
/* The name a ".wh.NAME" entry whites out, or NULL (not a marker; NAME "", ".", ".." or of the format). */
const char *layer_marker_target(const char *name);
/* The marker ".wh.NAME" of `name` in buf: 0, or -ENAMETOOLONG when it cannot exist. */
int layer_marker_name(const char *name, char *buf, size_t size);

/* Metadata of a directory (any fd, O_PATH included): 1 / 0, or -errno.  Opaque: the xattr, or ".wh..wh..opq" in it. */
int layer_dir_is_opaque(int dirfd, enum layer_xns ns);
int layer_dir_set_opaque(int dirfd, enum layer_xns ns);
/* Removes the opaque marker in both namespaces and ".wh..wh..opq" (a layer's root that becomes an image). */
void layer_dir_clear_opaque(int dirfd);

/* A redirect value the format may follow: "/a/b" or "name", no empty, ".", ".." or ".wh.*" component. */
bool layer_redirect_is_valid(const char *value);
/* 1 and the value in buf, 0 when there is none, -EINVAL when it is not valid (ignored), -errno. */
int layer_dir_get_redirect(int dirfd, enum layer_xns ns, char *buf, size_t size);
int layer_dir_set_redirect(int dirfd, enum layer_xns ns, const char *value);

/* isofs.origin of an object (fd, or dirfd + name, no symlink followed): 0 when absent or not a number. */
uint64_t layer_get_origin(int fd, int dirfd, const char *name, enum layer_xns ns);
int layer_set_origin(int dirfd, const char *name, enum layer_xns ns, uint64_t ino);
/* A directory whose upper entries may present other inode numbers than their own (the kernel's "impure"). */
bool layer_dir_is_impure(int dirfd, enum layer_xns ns);
void layer_dir_mark_impure(int dirfd, enum layer_xns ns);

/*
 * Opens `path` ("a/b" or a name) below `dirfd` without leaving it: no "..",
 * symlink or magic link is followed (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS).  O_CLOEXEC is added.
 */
int layer_open_beneath(int dirfd, const char *path, int flags);

/*
 * Xattr names through a view.  Both overlay namespaces and user.isofs.* are
 * the format's, in every mode: a name <ns>.overlay.X set through the view is
 * stored escaped as <ns>.overlay.overlay.X (as the kernel does for nested
 * overlays), so a stored name can never be one the format reads;
 * user.isofs.* cannot be set (-EPERM).
 */
bool layer_xattr_is_metadata(const char *real_name);
int layer_xattr_to_real(const char *name, char *buf, size_t size);
/* The name a stored xattr is shown as (buf or real_name), or NULL when it is hidden. */
const char *layer_xattr_from_real(const char *real_name, char *buf, size_t size);

/*
 * One layer's directory, entry by entry (dirfd: any fd of it, O_PATH
 * included): fn(ctx, name, ino, type, false) for each object it shows (type
 * S_IFMT), fn(ctx, name, 0, 0, true) for each name it whites out below, in
 * either form.  Names of the format are never passed as objects, nor an
 * object its own layer whites out.  0, -errno, or what a non-zero fn returned.
 */
typedef int (*layer_entry_fn)(void *ctx, const char *name, ino_t ino, mode_t type, bool whiteout);
int layer_read_dir(int dirfd, layer_entry_fn fn, void *ctx);

/* ---- merged lookups ---- */

/* A directory of one layer taking part in a merged directory. */
struct layer_dir {
	int layer; /* index in the stack: 0 is the top */
	int fd;    /* O_PATH|O_DIRECTORY */
};

struct layer_stack {
	const int *roots; /* roots[layer]: O_PATH fd of each layer's root, -1 for none */
	int n;
	enum layer_xns ns;
	/* Told of metadata that was ignored (an invalid redirect), with the layer it is in; may be NULL. */
	void (*ignored)(void *userdata, int layer, const char *what, const char *value);
	void *userdata;
};

/* What a name of a merged directory is. */
struct layer_found {
	int layer;           /* the topmost layer with the visible object; -1: not there (or whited out) */
	struct stat st;      /* of the visible object */
	int whiteout_layer;  /* the layer of a whiteout that ended the search, else -1 */
	bool whiteout_marker; /* ... it is (or includes) a ".wh.NAME" entry */
	bool in_lower;       /* a layer below the first parent holds the name (under the parent's own name) */
	bool opaque;         /* the visible directory is opaque in its top layer */
	char *redirect;      /* the visible directory's redirect in its top layer (valid; malloc'ed), else NULL */
	int ndirs;           /* directories: the layers' parts merged, top first (fds owned) */
	struct layer_dir dirs[LAYER_MAX];
	/*
	 * Where each of dirs[] was found, so that it can be opened again later:
	 * the name via[i] in parents[from[i]], or, from[i] == -1, the path via[i]
	 * ("/a/b") from its layer's root (an absolute redirect).  malloc'ed.
	 */
	int from[LAYER_MAX];
	char *via[LAYER_MAX];
};

/*
 * Looks `name` up in a merged directory made of `parents` (top first), as
 * kernel overlayfs does: a whiteout (either form), an opaque directory or a
 * non-directory stops the search; a redirect moves it (an absolute one to the
 * layer roots below).  A name of the format is never found.  0, or -errno
 * (ENAMETOOLONG, ENOMEM, I/O errors); ret is filled either way and released
 * with layer_found_release().
 */
int layer_lookup(const struct layer_stack *stack, const struct layer_dir *parents, int nparents, const char *name,
		 struct layer_found *ret);
void layer_found_release(struct layer_found *f);

/* The visible names of a merged directory, sorted; whiteouts hide lower names.  The caller frees names[i] and names. */
int layer_list(const struct layer_dir *dirs, int ndirs, char ***ret_names, size_t *ret_n);
void layer_names_free(char **names, size_t n);

/*
 * Walks the merged tree of a stack from its roots, parents before children;
 * `path` is relative ("a/b"), the visible object is f->st in f->layer, at
 * (dirfd, name) of that layer.  A non-zero return of visit ends the walk.
 */
typedef int (*layer_visit_fn)(void *ctx, const char *path, const struct layer_found *f, int dirfd, const char *name);
int layer_walk(const struct layer_stack *stack, layer_visit_fn visit, void *ctx);
/* The same below one merged directory (`dirs`, as layer_lookup found it, at `path`; "" for the root). */
int layer_walk_dir(const struct layer_stack *stack, const struct layer_dir *dirs, int ndirs, const char *path,
		   layer_visit_fn visit, void *ctx);

#endif
