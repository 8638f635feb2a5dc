/* SPDX-License-Identifier: MIT */
/*
 * Merged lookup: the upper layer first, then each lower directory merged below
 * the parent, stopping at a whiteout, an opaque directory or a non-directory.
 */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "overlay.h"


void ovl_found_release(struct ovl_found *found)
{
	free(found->redirect);
	found->redirect = NULL;
	if (found->upper_fd >= 0)
		close(found->upper_fd);
	found->upper_fd = -1;
	for (int i = 0; i < found->nlower; i++)
		close(found->lowers[i].fd);
	found->nlower = 0;
}

static int add_lower_dir(struct ovl_fs *fs, struct ovl_found *f, int layer, int parentfd, const char *name,
			 bool *ret_opaque)
{
	int fd, r;

	if (f->nlower >= OVL_MAX_LAYERS)
		return -ELOOP;
	fd = openat(parentfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	f->lowers[f->nlower].layer = layer;
	f->lowers[f->nlower].fd = fd;
	f->nlower++;
	r = ovl_dir_is_opaque(fs, fd);
	if (r < 0)
		return r;
	*ret_opaque = r > 0;
	return 0;
}

/* Reads <prefix>redirect of a directory: where its lower parts were before a rename. */
static int read_redirect(struct ovl_fs *fs, int fd, char *buf, size_t size)
{
	char key[64], path[64];
	ssize_t n;

	ovl_xattr_name(fs, "redirect", key, sizeof(key));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = getxattr(path, key, buf, size - 1);
	if (n < 0)
		return errno == ENODATA || errno == ENOTSUP ? 0 : errno == ERANGE ? -ENAMETOOLONG : -errno;
	buf[n] = '\0';
	return n > 0 ? 1 : 0;
}

/* Walks an absolute redirect ("/a/b") down one lower layer; -ENOENT when the layer lacks it. */
static int walk_lower_path(struct ovl_fs *fs, int layer, const char *path, int *ret_parentfd, char *ret_name)
{
	int fd = dup(fs->layers[layer].fd);
	const char *p = path;

	if (fd < 0)
		return -errno;
	while (*p == '/')
		p++;
	for (;;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t) (end - p);
		int next;

		if (n == 0 || n > NAME_MAX) {
			close(fd);
			return -ENOENT;
		}
		if (!*end) {
			memcpy(ret_name, p, n);
			ret_name[n] = '\0';
			*ret_parentfd = fd;
			return 0;
		}
		char comp[NAME_MAX + 1];
		memcpy(comp, p, n);
		comp[n] = '\0';
		next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return -ENOENT;
		fd = next;
		p = end + 1;
	}
}

/* Where the lower layers are searched: a name in the parent's lower dirs, or an absolute path. */
struct lookup_state {
	char path[PATH_MAX]; /* the name, or "/a/b" once a redirect made it absolute */
	bool absolute;
	bool stop;
};

/*
 * A redirect found on a directory (in any layer: the kernel follows those of
 * lower layers too) changes where the layers below are searched.  A relative
 * one replaces the last component of the current name or path.
 */
static int apply_redirect(struct lookup_state *ls, const char *redirect)
{
	if (redirect[0] == '/') {
		if (strlen(redirect) >= sizeof(ls->path))
			return -ENAMETOOLONG;
		strcpy(ls->path, redirect);
		ls->absolute = true;
		ls->stop = false; /* an absolute redirect goes on below an opaque ancestor */
		return 0;
	}
	if (strchr(redirect, '/') || strlen(redirect) > NAME_MAX)
		return -EINVAL; /* relative redirects are one name */
	if (ls->absolute) {
		char *slash = strrchr(ls->path, '/');
		if ((size_t) (slash + 1 - ls->path) + strlen(redirect) >= sizeof(ls->path))
			return -ENAMETOOLONG;
		strcpy(slash + 1, redirect);
	} else {
		strcpy(ls->path, redirect);
	}
	return 0;
}

/* Looks the current name up in one lower layer's directory; merges what it finds into f. */
static int lookup_lower(struct ovl_fs *fs, struct ovl_found *f, struct lookup_state *ls, int layer, int parentfd,
			const char *name)
{
	char redirect[PATH_MAX];
	struct stat st;
	bool opaque = false;
	int r;

	if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	if (ovl_is_whiteout(&st)) {
		ls->stop = true;
		return 0;
	}
	f->in_lower = true;
	if (f->layer < 0) {
		f->layer = layer;
		f->st = st;
		if (!S_ISDIR(st.st_mode)) {
			ls->stop = true;
			return 0;
		}
	} else if (!S_ISDIR(f->st.st_mode) || !S_ISDIR(st.st_mode) || f->opaque) {
		ls->stop = true; /* a non-directory hides what is below; opaque hides all */
		return 0;
	}
	r = add_lower_dir(fs, f, layer, parentfd, name, &opaque);
	if (r < 0)
		return r;
	if (opaque) {
		ls->stop = true;
		return 0;
	}
	r = read_redirect(fs, f->lowers[f->nlower - 1].fd, redirect, sizeof(redirect));
	if (r > 0)
		r = apply_redirect(ls, redirect);
	return r < 0 ? r : 0;
}

int ovl_lookup_name(struct ovl_fs *fs, struct ovl_node *parent, const char *name, struct ovl_found *f)
{
	struct ovl_lower_dir plowers[OVL_MAX_LAYERS];
	struct lookup_state ls = { .absolute = false };
	char redirect[PATH_MAX];
	int upperfd, nplower, next_layer = 1, r;
	struct stat st;

	memset(f, 0, offsetof(struct ovl_found, lowers));
	f->layer = -1;
	f->upper_fd = -1;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	strcpy(ls.path, name);

	pthread_mutex_lock(&fs->lock);
	upperfd = parent->upper_fd;
	nplower = parent->nlower;
	if (nplower) /* a directory without lower parts may have no array: memcpy from NULL is undefined */
		memcpy(plowers, parent->lowers, sizeof(*plowers) * (size_t) nplower);
	pthread_mutex_unlock(&fs->lock);

	if (upperfd >= 0) {
		if (fstatat(upperfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (ovl_is_whiteout(&st)) {
				f->upper_whiteout = true;
				f->in_lower = true;
				return 0;
			}
			f->layer = OVL_UPPER;
			f->st = st;
			if (S_ISDIR(st.st_mode)) {
				f->upper_fd = openat(upperfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (f->upper_fd < 0)
					return -errno;
				r = ovl_dir_is_opaque(fs, f->upper_fd);
				if (r < 0)
					return r;
				f->opaque = r > 0;
				r = read_redirect(fs, f->upper_fd, redirect, sizeof(redirect));
				if (r < 0)
					return r;
				if (r > 0) {
					if (!(f->redirect = strdup(redirect)))
						return -ENOMEM;
					r = apply_redirect(&ls, redirect);
					if (r < 0)
						return r;
				}
			}
		} else if (errno != ENOENT) {
			return -errno;
		}
	}

	/* The parent's lower dirs, by name, until a redirect makes the search absolute. */
	for (int i = 0; i < nplower && !ls.stop && !ls.absolute; i++) {
		r = lookup_lower(fs, f, &ls, plowers[i].layer, plowers[i].fd, ls.path);
		if (r < 0)
			return r;
		next_layer = plowers[i].layer + 1;
	}
	/* From the layer roots below the one that had the absolute redirect. */
	for (int layer = next_layer; ls.absolute && layer < fs->nlayers && !ls.stop; layer++) {
		char last[NAME_MAX + 1];
		int pfd = -1;

		if (walk_lower_path(fs, layer, ls.path, &pfd, last) < 0)
			continue;
		r = lookup_lower(fs, f, &ls, layer, pfd, last);
		close(pfd);
		if (r < 0)
			return r;
	}
	if (f->redirect) {
		/*
		 * Whether removing or moving the name needs a whiteout depends on
		 * the name in the parent's lower dirs (the kernel's
		 * ovl_lower_positive), not on where a redirect found the lower
		 * part: a whiteout where no lower entry is would show as a phantom
		 * entry in a directory the kernel lists without merging.
		 */
		f->in_lower = false;
		for (int i = 0; i < nplower; i++) {
			if (fstatat(plowers[i].fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT || errno == ENOTDIR)
					continue;
				return -errno;
			}
			f->in_lower = !ovl_is_whiteout(&st);
			break;
		}
	}
	return 0;
}

static uint64_t origin_ino(struct ovl_fs *fs, const struct ovl_found *f, int parentfd, const char *name)
{
	char path[64 + NAME_MAX], key[64], value[32];
	ssize_t n;

	if (f->layer != OVL_UPPER || S_ISLNK(f->st.st_mode))
		return 0;
	if (f->upper_fd >= 0)
		snprintf(path, sizeof(path), "/proc/self/fd/%d", f->upper_fd);
	else
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", parentfd, name);
	ovl_xattr_name(fs, "isofs.origin", key, sizeof(key));
	n = lgetxattr(path, key, value, sizeof(value) - 1);
	if (n <= 0)
		return 0;
	value[n] = '\0';
	return strtoull(value, NULL, 10);
}

int ovl_node_for_found(struct ovl_fs *fs, struct ovl_node *parent, const char *name, struct ovl_found *f,
		       struct ovl_node **ret_node)
{
	struct ovl_node *node;
	uint64_t origin = 0;
	int r;

	if (f->layer == OVL_UPPER) {
		int pfd = ovl_dir_fd(fs, parent, OVL_UPPER);
		origin = origin_ino(fs, f, pfd, name);
	}

	pthread_mutex_lock(&fs->lock);
	node = ovl_node_find_alias_locked(fs, f->st.st_dev, f->st.st_ino, parent, name);
	if (node && f->layer != OVL_UPPER && !S_ISDIR(f->st.st_mode) && f->st.st_nlink > 1) {
		/*
		 * Each name of a lower file with several gets a node of its own: a
		 * copy-up through one name must not move the others (they stay
		 * in the lower layer, as in the kernel without index=on).
		 */
		bool mine = false;
		for (struct ovl_alias *a = node->aliases; a && !mine; a = a->next)
			mine = a->parent == parent && strcmp(a->name, name) == 0;
		if (!mine)
			node = NULL;
	}
	if (node && node->type != (f->st.st_mode & S_IFMT)) {
		node->dead = true; /* its inode number was reused: a removed object */
		node = NULL;
	}
	if (node) {
		r = ovl_node_add_alias_locked(node, parent, name);
		if (r == 0)
			node->nlookup++;
		pthread_mutex_unlock(&fs->lock);
		ovl_found_release(f);
		if (r < 0)
			return r;
		*ret_node = node;
		return 0;
	}
	node = calloc(1, sizeof(*node));
	if (!node) {
		pthread_mutex_unlock(&fs->lock);
		ovl_found_release(f);
		return -ENOMEM;
	}
	node->key_dev = f->st.st_dev;
	node->key_ino = f->st.st_ino;
	node->ino = origin ? origin : ovl_present_ino(fs, f->layer, f->st.st_ino);
	node->type = f->st.st_mode & S_IFMT;
	node->layer = f->layer;
	node->upper_fd = f->upper_fd;
	node->orphan_fd = -1;
	node->opaque = f->opaque;
	node->redirect = f->redirect;
	f->redirect = NULL;
	pthread_mutex_init(&node->copyup_lock, NULL);
	f->upper_fd = -1;
	if (f->nlower) {
		node->lowers = malloc(sizeof(*node->lowers) * (size_t) f->nlower);
		if (!node->lowers) {
			pthread_mutex_unlock(&fs->lock);
			free(node);
			ovl_found_release(f);
			return -ENOMEM;
		}
		memcpy(node->lowers, f->lowers, sizeof(*node->lowers) * (size_t) f->nlower);
		node->nlower = f->nlower;
		f->nlower = 0;
	}
	r = ovl_node_add_alias_locked(node, parent, name);
	if (r < 0) {
		pthread_mutex_unlock(&fs->lock);
		if (node->upper_fd >= 0)
			close(node->upper_fd);
		for (int i = 0; i < node->nlower; i++)
			close(node->lowers[i].fd);
		free(node->lowers);
		free(node);
		return r;
	}
	node->nlookup = 1;
	ovl_node_insert_locked(fs, node);
	pthread_mutex_unlock(&fs->lock);
	*ret_node = node;
	return 0;
}

int ovl_getattr_node(struct ovl_fs *fs, struct ovl_node *node, int fd, struct stat *st)
{
	struct ovl_node *parent = NULL;
	char name[NAME_MAX + 1];
	int dfd = -1, ofd, layer, r;
	bool merged = false, dead_lower;

	pthread_mutex_lock(&fs->lock);
	ofd = node->orphan_fd;
	dead_lower = node->dead && node->layer != OVL_UPPER;
	pthread_mutex_unlock(&fs->lock);
	if (fd < 0 && !S_ISDIR(node->type) && ovl_node_first_alias(fs, node, &parent, name, sizeof(name)) < 0)
		fd = ofd; /* no name left, still open: the real object through the fd kept at removal */
	if (fd >= 0) {
		if (fstat(fd, st) < 0)
			return -errno;
		ovl_present_owner(fs, fd, -1, NULL, st);
	} else if (S_ISDIR(node->type)) {
		pthread_mutex_lock(&fs->lock);
		dfd = node->upper_fd >= 0 ? node->upper_fd : node->nlower ? node->lowers[0].fd : -1;
		/* like the kernel: a directory merged from several layers has no meaningful link count */
		merged = (node->upper_fd >= 0) + node->nlower > 1;
		pthread_mutex_unlock(&fs->lock);
		if (dfd < 0 || fstat(dfd, st) < 0)
			return -ENOENT;
		ovl_present_owner(fs, dfd, -1, NULL, st);
		if (merged)
			st->st_nlink = 1;
	} else {
		r = ovl_node_first_alias(fs, node, &parent, name, sizeof(name));
		if (r < 0)
			return r;
		pthread_mutex_lock(&fs->lock);
		layer = node->layer;
		pthread_mutex_unlock(&fs->lock);
		dfd = ovl_dir_fd(fs, parent, layer);
		if (dfd < 0 || fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
			return -ENOENT;
		ovl_present_owner(fs, -1, dfd, name, st);
	}
	/* A removed file still open: a lower one keeps its links down there, it has none in the view. */
	if (dead_lower && !S_ISDIR(node->type))
		st->st_nlink = 0;
	st->st_ino = node->ino;
	return 0;
}
