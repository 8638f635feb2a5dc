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

/* Reads <prefix>redirect of an upper directory: where its lower part was before a rename. */
static int read_redirect(struct ovl_fs *fs, int fd, char *buf, size_t size)
{
	char key[64], path[64];
	ssize_t n;

	ovl_xattr_name(fs, "redirect", key, sizeof(key));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = getxattr(path, key, buf, size - 1);
	if (n < 0)
		return errno == ENODATA || errno == ENOTSUP ? 0 : -errno;
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

int ovl_lookup_name(struct ovl_fs *fs, struct ovl_node *parent, const char *name, struct ovl_found *f)
{
	struct ovl_lower_dir plowers[OVL_MAX_LAYERS];
	char redirect[PATH_MAX];
	int upperfd, nplower, r;
	bool stop = false, redirected = false;
	struct stat st;

	memset(f, 0, offsetof(struct ovl_found, lowers));
	f->layer = -1;
	f->upper_fd = -1;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;

	pthread_mutex_lock(&fs->lock);
	upperfd = parent->upper_fd;
	nplower = parent->nlower;
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
				redirected = r > 0;
				if (redirected && !(f->redirect = strdup(redirect)))
					return -ENOMEM;
			}
		} else if (errno != ENOENT) {
			return -errno;
		}
	}

	if (redirected && redirect[0] == '/') {
		/* A lower directory renamed here: its lower parts live at the old path. */
		for (int layer = 1; layer < fs->nlayers && !f->opaque && !stop; layer++) {
			char last[NAME_MAX + 1];
			int pfd = -1;

			r = 0;
			if (walk_lower_path(fs, layer, redirect, &pfd, last) < 0)
				continue;
			if (fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0) {
				if (ovl_is_whiteout(&st) || !S_ISDIR(st.st_mode))
					stop = true;
				else
					r = add_lower_dir(fs, f, layer, pfd, last, &stop);
				f->in_lower = true;
			}
			close(pfd);
			if (r < 0)
				return r;
		}
		return 0;
	}

	for (int i = 0; i < nplower && !stop; i++) {
		const char *lname = redirected ? redirect : name;

		if (fstatat(plowers[i].fd, lname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		if (ovl_is_whiteout(&st))
			break;
		f->in_lower = true;
		if (f->layer < 0) {
			f->layer = plowers[i].layer;
			f->st = st;
			if (!S_ISDIR(st.st_mode))
				break;
		} else if (!S_ISDIR(f->st.st_mode) || !S_ISDIR(st.st_mode) || f->opaque) {
			break; /* a non-directory hides what is below; opaque hides all */
		}
		r = add_lower_dir(fs, f, plowers[i].layer, plowers[i].fd, lname, &stop);
		if (r < 0)
			return r;
	}
	return 0;
}

static uint64_t origin_ino(struct ovl_fs *fs, const struct ovl_found *f, int parentfd, const char *name)
{
	char path[64 + NAME_MAX], value[32];
	ssize_t n;

	if (f->layer != OVL_UPPER || S_ISLNK(f->st.st_mode))
		return 0;
	if (f->upper_fd >= 0)
		snprintf(path, sizeof(path), "/proc/self/fd/%d", f->upper_fd);
	else
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", parentfd, name);
	n = lgetxattr(path, "user.isofs.origin", value, sizeof(value) - 1);
	(void) fs;
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
	node = ovl_node_find_locked(fs, f->st.st_dev, f->st.st_ino);
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
	int dfd = -1, layer, r;

	if (fd >= 0) {
		if (fstat(fd, st) < 0)
			return -errno;
		ovl_present_owner(fs, fd, -1, NULL, st);
	} else if (S_ISDIR(node->type)) {
		pthread_mutex_lock(&fs->lock);
		dfd = node->upper_fd >= 0 ? node->upper_fd : node->nlower ? node->lowers[0].fd : -1;
		pthread_mutex_unlock(&fs->lock);
		if (dfd < 0 || fstat(dfd, st) < 0)
			return -ENOENT;
		ovl_present_owner(fs, dfd, -1, NULL, st);
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
	st->st_ino = node->ino;
	return 0;
}
