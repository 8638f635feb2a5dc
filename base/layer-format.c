/* SPDX-License-Identifier: MIT */
#include "layer-format.h"
#include "stat-override.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "strset.h"

static const char *const prefixes[] = { [LAYER_XNS_TRUSTED] = "trusted.overlay.", [LAYER_XNS_USER] = "user.overlay." };

const char *layer_xattr_prefix(enum layer_xns ns)
{
	return prefixes[ns];
}

bool layer_is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

bool layer_name_is_format(const char *name)
{
	return strncmp(name, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)) == 0;
}

const char *layer_marker_target(const char *name)
{
	const char *t = name + strlen(LAYER_WH_PREFIX);

	if (!layer_name_is_format(name))
		return NULL;
	/*
	 * ".wh.", ".wh.." and ".wh..." name nothing a directory can hold, and
	 * ".wh..wh..opq", ".wh..wh.plnk" a name of the format, never shown anyway:
	 * they hide nothing.
	 */
	if (!*t || strcmp(t, ".") == 0 || strcmp(t, "..") == 0 || layer_name_is_format(t))
		return NULL;
	return t;
}

int layer_marker_name(const char *name, char *buf, size_t size)
{
	int n;

	if (strlen(name) + strlen(LAYER_WH_PREFIX) > NAME_MAX)
		return -ENAMETOOLONG;
	n = snprintf(buf, size, LAYER_WH_PREFIX "%s", name);
	return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

/* Whether an entry exists in a directory of a layer: 1, 0, or -errno. */
static int entry_exists(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	/* a directory the server may not search holds no marker it can honour, as for xattrs it cannot read */
	return errno == ENOENT || errno == ENOTDIR || errno == EACCES || errno == ENAMETOOLONG ? 0 : -errno;
}

/* Xattrs of any fd, O_PATH included (fgetxattr refuses those): through its /proc/self/fd link. */
static void fd_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

static ssize_t get_xattr(int dirfd, enum layer_xns ns, const char *key, char *buf, size_t size)
{
	char name[64], path[64];

	snprintf(name, sizeof(name), "%s%s", prefixes[ns], key);
	fd_path(dirfd, path, sizeof(path));
	return getxattr(path, name, buf, size);
}

static int set_xattr(int dirfd, enum layer_xns ns, const char *key, const char *value)
{
	char name[64], path[64];

	snprintf(name, sizeof(name), "%s%s", prefixes[ns], key);
	fd_path(dirfd, path, sizeof(path));
	return setxattr(path, name, value, strlen(value), 0) < 0 ? -errno : 0;
}

int layer_dir_is_opaque(int dirfd, enum layer_xns ns)
{
	char v;
	ssize_t n = get_xattr(dirfd, ns, "opaque", &v, 1);

	if (n == 1 && v == 'y')
		return 1;
	if (n < 0 && errno != ENODATA && errno != ENOTSUP && errno != ERANGE)
		return -errno;
	/* containers/storage's form: whatever the entry is (fuse-overlayfs only asks that it exists) */
	return entry_exists(dirfd, LAYER_WH_OPAQUE);
}

int layer_dir_set_opaque(int dirfd, enum layer_xns ns)
{
	return set_xattr(dirfd, ns, "opaque", "y");
}

void layer_dir_clear_opaque(int dirfd)
{
	char path[64];

	fd_path(dirfd, path, sizeof(path));
	(void) removexattr(path, "trusted.overlay.opaque");
	(void) removexattr(path, "user.overlay.opaque");
	(void) unlinkat(dirfd, LAYER_WH_OPAQUE, 0);
}

/* A component a redirect may name: never "..", and never a name of the format (hidden, never an object). */
static bool clean_name(const char *s, size_t n)
{
	size_t wh = strlen(LAYER_WH_PREFIX);

	return n > 0 && n <= NAME_MAX && !(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.') &&
	       !memchr(s, '/', n) && !(n >= wh && memcmp(s, LAYER_WH_PREFIX, wh) == 0);
}

bool layer_redirect_is_valid(const char *value)
{
	const char *p = value;

	if (strlen(value) >= PATH_MAX)
		return false;
	if (*p != '/')
		return clean_name(p, strlen(p));
	do {
		const char *end = strchrnul(++p, '/');
		if (!clean_name(p, (size_t) (end - p)))
			return false;
		p = end;
	} while (*p);
	return true;
}

int layer_dir_get_redirect(int dirfd, enum layer_xns ns, char *buf, size_t size)
{
	ssize_t n = get_xattr(dirfd, ns, "redirect", buf, size - 1);

	if (n < 0) {
		if (errno == ENODATA || errno == ENOTSUP)
			return 0;
		return errno == ERANGE ? -EINVAL : -errno; /* longer than any path: not a redirect */
	}
	if (n == 0)
		return 0;
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t) n) || !layer_redirect_is_valid(buf))
		return -EINVAL;
	return 1;
}

int layer_dir_set_redirect(int dirfd, enum layer_xns ns, const char *value)
{
	if (!layer_redirect_is_valid(value))
		return -EINVAL;
	return set_xattr(dirfd, ns, "redirect", value);
}

uint64_t layer_get_origin(int fd, int dirfd, const char *name, enum layer_xns ns)
{
	char key[64], path[64 + NAME_MAX], value[24], *end;
	unsigned long long v;
	ssize_t n;

	snprintf(key, sizeof(key), "%sisofs.origin", prefixes[ns]);
	if (fd >= 0)
		fd_path(fd, path, sizeof(path));
	else
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	n = lgetxattr(path, key, value, sizeof(value) - 1);
	if (n <= 0 || value[0] < '1' || value[0] > '9')
		return 0;
	value[n] = '\0';
	errno = 0;
	v = strtoull(value, &end, 10);
	return errno || *end ? 0 : (uint64_t) v;
}

int layer_set_origin(int dirfd, const char *name, enum layer_xns ns, uint64_t ino)
{
	char key[64], path[64 + NAME_MAX], value[24];

	snprintf(key, sizeof(key), "%sisofs.origin", prefixes[ns]);
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	snprintf(value, sizeof(value), "%llu", (unsigned long long) ino);
	return lsetxattr(path, key, value, strlen(value), 0) < 0 ? -errno : 0;
}

bool layer_dir_is_impure(int dirfd, enum layer_xns ns)
{
	char v;

	return get_xattr(dirfd, ns, "impure", &v, 1) == 1 && v == 'y';
}

void layer_dir_mark_impure(int dirfd, enum layer_xns ns)
{
	char name[64], path[64];

	snprintf(name, sizeof(name), "%simpure", prefixes[ns]);
	fd_path(dirfd, path, sizeof(path));
	(void) setxattr(path, name, "y", 1, XATTR_CREATE);
}

int layer_open_beneath(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t) (flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int) syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : fd;
}

/* ---- xattr names through a view ---- */

#define ESCAPE "overlay."

static const char *overlay_ns(const char *name)
{
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(*prefixes); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return prefixes[i];
	return NULL;
}

bool layer_xattr_is_metadata(const char *real_name)
{
	const char *ns = overlay_ns(real_name);

	if (ns)
		return strncmp(real_name + strlen(ns), ESCAPE, strlen(ESCAPE)) != 0;
	return strncmp(real_name, "user.isofs.", 11) == 0 || stat_override_is_xattr(real_name);
}

int layer_xattr_to_real(const char *name, char *buf, size_t size)
{
	const char *ns = overlay_ns(name);
	int n;

	if (ns)
		n = snprintf(buf, size, "%s" ESCAPE "%s", ns, name + strlen(ns));
	else if (strncmp(name, "user.isofs.", 11) == 0 || stat_override_is_xattr(name))
		return -EPERM; /* owners and modes kept in xattrs are set with chown and chmod */
	else
		n = snprintf(buf, size, "%s", name);
	return n < 0 || (size_t) n >= size ? -ERANGE : 0;
}

const char *layer_xattr_from_real(const char *real_name, char *buf, size_t size)
{
	const char *ns = overlay_ns(real_name);

	if (!ns)
		return strncmp(real_name, "user.isofs.", 11) == 0 || stat_override_is_xattr(real_name) ? NULL : real_name;
	/* <ns>overlay.X is the user's <ns>X; every other <ns>* is the format's */
	if (strncmp(real_name + strlen(ns), ESCAPE, strlen(ESCAPE)) != 0)
		return NULL;
	if ((size_t) snprintf(buf, size, "%s%s", ns, real_name + strlen(ns) + strlen(ESCAPE)) >= size)
		return NULL;
	return buf;
}

/* ---- one layer's directory ---- */

static mode_t dtype_to_mode(unsigned char t)
{
	switch (t) {
	case DT_DIR: return S_IFDIR;
	case DT_REG: return S_IFREG;
	case DT_LNK: return S_IFLNK;
	case DT_CHR: return S_IFCHR;
	case DT_BLK: return S_IFBLK;
	case DT_FIFO: return S_IFIFO;
	case DT_SOCK: return S_IFSOCK;
	default: return 0;
	}
}

/*
 * Two passes over the entries: a ".wh.NAME" hides NAME of its own layer as
 * well (fuse-overlayfs's reading), wherever it comes in the directory, so the
 * markers are known before the first object is passed on.  The first pass
 * reads names only; a directory without markers costs one more getdents.
 */
int layer_read_dir(int dirfd, layer_entry_fn fn, void *ctx)
{
	_cleanup_closedir_ DIR *d = opendir_at(dirfd, ".");
	struct strset own = { .owns = true };
	struct dirent *de;
	int r = 0;

	if (!d)
		return -errno;
	while (r == 0 && (errno = 0, de = readdir(d))) {
		const char *t = layer_marker_target(de->d_name);
		if (!t)
			continue;
		r = strset_add(&own, t) < 0 ? -ENOMEM : fn(ctx, t, 0, 0, true);
	}
	if (r == 0 && errno)
		r = -errno;
	if (r == 0)
		rewinddir(d);
	while (r == 0 && (errno = 0, de = readdir(d))) {
		mode_t type = dtype_to_mode(de->d_type);

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || layer_name_is_format(de->d_name) ||
		    strset_contains(&own, de->d_name))
			continue;
		if (type == 0 || type == S_IFCHR) {
			struct stat st;
			if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue;
				r = -errno;
				break;
			}
			type = st.st_mode & S_IFMT;
			if (layer_is_whiteout(&st)) {
				r = fn(ctx, de->d_name, 0, 0, true);
				continue;
			}
		}
		r = fn(ctx, de->d_name, de->d_ino, type, false);
	}
	if (r == 0 && errno)
		r = -errno;
	strset_free(&own);
	return r;
}

/* ---- merged lookups ---- */

void layer_found_release(struct layer_found *f)
{
	free(f->redirect);
	f->redirect = NULL;
	for (int i = 0; i < f->ndirs; i++) {
		if (f->dirs[i].fd >= 0) /* -1: taken by the caller */
			close(f->dirs[i].fd);
		free(f->via[i]);
	}
	f->ndirs = 0;
}

/* Where the layers below are searched: a name in the parents, or a path from the roots once a redirect said so. */
struct search {
	char path[PATH_MAX];
	bool absolute;
	bool stop;
};

static int apply_redirect(struct search *s, const char *redirect)
{
	if (redirect[0] == '/') {
		/* layer_redirect_is_valid() bounds it below PATH_MAX */
		strcpy(s->path, redirect);
		s->absolute = true;
		s->stop = false; /* an absolute redirect goes on below an opaque ancestor */
		return 0;
	}
	if (s->absolute) {
		/* a relative redirect replaces the last component */
		char *slash = strrchr(s->path, '/');
		if ((size_t) (slash + 1 - s->path) + strlen(redirect) >= sizeof(s->path))
			return -ENAMETOOLONG;
		strcpy(slash + 1, redirect);
	} else {
		strcpy(s->path, redirect);
	}
	return 0;
}

/* What a name is in one layer's directory (flags), or -errno. */
#define IN_OBJECT 1 /* an object (in *st) */
#define IN_DEVICE 2 /* a 0/0 whiteout device */
#define IN_MARKER 4 /* a ".wh.NAME" beside it: whites it out, an object of the same layer included */

static int name_in_dir(int dirfd, const char *name, struct stat *st)
{
	char marker[NAME_MAX + 1];
	int in = 0, r;

	if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
		in = layer_is_whiteout(st) ? IN_DEVICE : IN_OBJECT;
	else if (errno != ENOENT && errno != ENOTDIR)
		return -errno;
	if (layer_marker_name(name, marker, sizeof(marker)) < 0)
		return in; /* too long to have a marker */
	r = entry_exists(dirfd, marker);
	if (r < 0)
		return r;
	return in | (r ? IN_MARKER : 0);
}

/* Looks the current name up in one layer's directory and merges what is there into f. */
static int lookup_in(const struct layer_stack *stack, struct layer_found *f, struct search *s, int layer, int parentfd,
		     const char *name, int from, const char *via)
{
	char redirect[PATH_MAX];
	struct stat st;
	bool top;
	int fd, in, r;

	in = name_in_dir(parentfd, name, &st);
	if (in <= 0)
		return in;
	if (in & (IN_DEVICE | IN_MARKER)) {
		if (f->layer < 0) {
			f->whiteout_layer = layer;
			f->whiteout_marker = in & IN_MARKER;
			f->in_lower = f->in_lower || layer == 0;
		}
		s->stop = true;
		return 0;
	}
	if (layer > 0)
		f->in_lower = true;
	top = f->layer < 0;
	if (top) {
		f->layer = layer;
		f->st = st;
		if (!S_ISDIR(st.st_mode)) {
			/* in layer 0, go on one step: whether a lower layer has the name matters (removal) */
			s->stop = layer != 0;
			return 0;
		}
	} else if (!S_ISDIR(f->st.st_mode) || !S_ISDIR(st.st_mode) || f->opaque) {
		s->stop = true; /* a non-directory hides what is below; opaque hides all */
		return 0;
	}
	if (f->ndirs >= LAYER_MAX)
		return -ELOOP;
	fd = layer_open_beneath(parentfd, name, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return fd == -ENOENT || fd == -ENOTDIR ? 0 : fd;
	f->via[f->ndirs] = strdup(via);
	if (!f->via[f->ndirs]) {
		close(fd);
		return -ENOMEM;
	}
	f->from[f->ndirs] = from;
	f->dirs[f->ndirs++] = (struct layer_dir){ layer, fd };
	r = layer_dir_is_opaque(fd, stack->ns);
	if (r < 0)
		return r;
	if (r > 0 && !top) {
		s->stop = true;
		return 0;
	}
	/* an opaque top hides all below, yet the next layer still says whether the name is there */
	if (top)
		f->opaque = r > 0;
	r = layer_dir_get_redirect(fd, stack->ns, redirect, sizeof(redirect));
	if (r == -EINVAL) {
		if (stack->ignored)
			stack->ignored(stack->userdata, layer, "redirect", redirect);
		return 0;
	}
	if (r <= 0)
		return r;
	if (top && !(f->redirect = strdup(redirect)))
		return -ENOMEM;
	return apply_redirect(s, redirect);
}

/* Opens the parent of an absolute path ("/a/b") below a layer root: its fd, and the last name in ret_name. */
static int open_parent_beneath(int rootfd, const char *path, char ret_name[NAME_MAX + 1])
{
	const char *last = strrchr(path, '/') + 1;
	char dir[PATH_MAX];

	snprintf(ret_name, NAME_MAX + 1, "%s", last);
	if (last - path == 1)
		return layer_open_beneath(rootfd, ".", O_PATH | O_DIRECTORY);
	memcpy(dir, path + 1, (size_t) (last - path - 2));
	dir[last - path - 2] = '\0';
	return layer_open_beneath(rootfd, dir, O_PATH | O_DIRECTORY);
}

int layer_lookup(const struct layer_stack *stack, const struct layer_dir *parents, int nparents, const char *name,
		 struct layer_found *f)
{
	struct search s = { .absolute = false };
	int next_layer = nparents ? parents[0].layer : 0, r;

	memset(f, 0, offsetof(struct layer_found, dirs));
	f->layer = -1;
	f->whiteout_layer = -1;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (layer_name_is_format(name))
		return 0; /* markers are the format's, never an object of the view */
	strcpy(s.path, name);

	/* The parents, by name, until a redirect makes the search absolute. */
	for (int i = 0; i < nparents && !s.stop && !s.absolute; i++) {
		r = lookup_in(stack, f, &s, parents[i].layer, parents[i].fd, s.path, i, s.path);
		if (r < 0)
			return r;
		next_layer = parents[i].layer + 1;
	}
	/* From the roots of the layers below the one whose redirect was absolute. */
	for (int layer = next_layer; s.absolute && !s.stop && layer < stack->n; layer++) {
		char last[NAME_MAX + 1];
		_cleanup_close_ int pfd = -1;

		if (stack->roots[layer] < 0 || (pfd = open_parent_beneath(stack->roots[layer], s.path, last)) < 0)
			continue;
		r = lookup_in(stack, f, &s, layer, pfd, last, -1, s.path);
		if (r < 0)
			return r;
	}
	if (f->redirect) {
		/*
		 * Whether removing or moving the name needs a whiteout depends on
		 * the name in the parents' lower layers (the kernel's
		 * ovl_lower_positive), not on where a redirect found the lower part.
		 */
		struct stat st;

		f->in_lower = false;
		for (int i = 0; i < nparents; i++) {
			if (parents[i].layer == 0)
				continue;
			r = name_in_dir(parents[i].fd, name, &st);
			if (r < 0)
				return r;
			if (r == 0)
				continue;
			f->in_lower = r == IN_OBJECT;
			break;
		}
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

void layer_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

struct list_ctx {
	struct strset seen, hidden;
	char **v;
	size_t n, cap;
};

static int list_entry(void *ctx, const char *name, ino_t ino, mode_t type, bool whiteout)
{
	struct list_ctx *c = ctx;

	(void) ino;
	(void) type;
	if (strset_contains(&c->seen, name) || strset_contains(&c->hidden, name))
		return 0;
	if (whiteout)
		return strset_add(&c->hidden, name) < 0 ? -ENOMEM : 0;
	if (strset_add(&c->seen, name) < 0)
		return -ENOMEM;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 32;
		char **b = realloc(c->v, ncap * sizeof(*c->v));
		if (!b)
			return -ENOMEM;
		c->v = b;
		c->cap = ncap;
	}
	if (!(c->v[c->n] = strdup(name)))
		return -ENOMEM;
	c->n++;
	return 0;
}

int layer_list(const struct layer_dir *dirs, int ndirs, char ***ret_names, size_t *ret_n)
{
	struct list_ctx c = { .seen = { .owns = true }, .hidden = { .owns = true } };
	int r = 0;

	for (int i = 0; i < ndirs && r == 0; i++)
		r = layer_read_dir(dirs[i].fd, list_entry, &c);
	strset_free(&c.seen);
	strset_free(&c.hidden);
	if (r < 0) {
		layer_names_free(c.v, c.n);
		return r;
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), cmp_str);
	*ret_names = c.v;
	*ret_n = c.n;
	return 0;
}

int layer_walk_dir(const struct layer_stack *stack, const struct layer_dir *dirs, int ndirs, const char *path,
		   layer_visit_fn visit, void *ctx)
{
	char **names = NULL;
	size_t n = 0;
	int r = layer_list(dirs, ndirs, &names, &n);

	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_free_ char *child = NULL;
		struct layer_found f;
		int dirfd = -1;

		r = layer_lookup(stack, dirs, ndirs, names[i], &f);
		if (r == 0 && f.layer >= 0) {
			/* the visible object is found by its own name in one of the parents */
			for (int k = 0; k < ndirs && dirfd < 0; k++)
				if (dirs[k].layer == f.layer)
					dirfd = dirs[k].fd;
			if (asprintf(&child, "%s%s%s", path, *path ? "/" : "", names[i]) < 0)
				r = -ENOMEM;
			if (r == 0 && dirfd >= 0)
				r = visit(ctx, child, &f, dirfd, names[i]);
			if (r == 0 && dirfd >= 0 && S_ISDIR(f.st.st_mode))
				r = layer_walk_dir(stack, f.dirs, f.ndirs, child, visit, ctx);
		}
		layer_found_release(&f);
	}
	layer_names_free(names, n);
	return r;
}

int layer_walk(const struct layer_stack *stack, layer_visit_fn visit, void *ctx)
{
	struct layer_dir roots[LAYER_MAX];
	int n = 0, r = 0;

	/* The roots merge until one is opaque. */
	for (int layer = 0; layer < stack->n && n < LAYER_MAX && r == 0; layer++) {
		int fd;

		if (stack->roots[layer] < 0)
			continue;
		fd = layer_open_beneath(stack->roots[layer], ".", O_PATH | O_DIRECTORY);
		if (fd < 0) {
			r = fd;
			break;
		}
		roots[n++] = (struct layer_dir){ layer, fd };
		r = layer_dir_is_opaque(fd, stack->ns);
		if (r > 0)
			break;
	}
	if (r >= 0)
		r = layer_walk_dir(stack, roots, n, "", visit, ctx);
	for (int i = 0; i < n; i++)
		close(roots[i].fd);
	return r;
}
