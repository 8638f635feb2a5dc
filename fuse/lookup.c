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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "overlay.h"


void ovl_found_release(struct ovl_fs *fs, struct ovl_found *found)
{
	free(found->redirect);
	found->redirect = NULL;
	if (found->upper_fd >= 0)
		close(found->upper_fd);
	found->upper_fd = -1;
	if (found->nlower) {
		pthread_mutex_lock(&fs->lock);
		for (int i = 0; i < found->nlower; i++)
			ovl_loc_unref_locked(fs, found->locs[i]);
		pthread_mutex_unlock(&fs->lock);
	}
	for (int i = 0; i < found->nlower; i++)
		close(found->lowers[i].fd);
	found->nlower = 0;
}

/* Invalid layer metadata is ignored; the server's log says so once. */
static void metadata_ignored(void *userdata, int layer, const char *what, const char *value)
{
	static atomic_bool said;
	struct ovl_fs *fs = userdata;

	if (!atomic_exchange(&said, true))
		fprintf(stderr, "isofs-overlay: ignoring an invalid %s%s \"%.200s\" in layer %s (further ones not logged)\n",
			fs->xprefix, what, value, fs->layers[layer].path ? fs->layers[layer].path : "?");
}

/* The location of a directory found by a redirect: the path "/a/b" from the root of its layer, one name at a time. */
static struct ovl_loc *loc_from_root(struct ovl_fs *fs, int layer, const char *path)
{
	struct ovl_loc *l = fs->rootlocs[layer], *next;
	bool own = false;

	while (*path == '/') {
		const char *name = path + 1, *end = strchrnul(name, '/');
		next = ovl_loc_new(fs, l, name, (size_t) (end - name));
		if (own) {
			pthread_mutex_lock(&fs->lock);
			ovl_loc_unref_locked(fs, l); /* next holds it now */
			pthread_mutex_unlock(&fs->lock);
		}
		if (!next)
			return NULL;
		l = next;
		own = true;
		path = end;
	}
	if (!own) { /* "/" itself: the layer's root */
		pthread_mutex_lock(&fs->lock);
		l->refs++;
		pthread_mutex_unlock(&fs->lock);
	}
	return l;
}

int ovl_lookup_name(struct ovl_fs *fs, struct ovl_node *parent, const char *name, struct ovl_found *f)
{
	struct layer_dir parents[OVL_MAX_LAYERS + 1];
	struct ovl_dirpin pins[OVL_MAX_LAYERS + 1];
	struct ovl_loc *plocs[OVL_MAX_LAYERS + 1];
	int roots[OVL_MAX_LAYERS + 1], n = 0, r;
	struct layer_stack stack = { .roots = roots, .n = fs->nlayers, .ns = fs->xns, .ignored = metadata_ignored,
				     .userdata = fs };
	struct layer_found lf;

	memset(f, 0, offsetof(struct ovl_found, lowers));
	f->layer = -1;
	f->upper_fd = -1;
	for (int i = 0; i < fs->nlayers; i++)
		roots[i] = fs->layers[i].fd;

	/* The parent's parts, pinned while looked in (reopened if the cache closed them). */
	r = ovl_dir_pin_all(fs, parent, parents, pins, &n);
	if (r < 0) {
		for (int i = 0; i < n; i++)
			ovl_dir_unpin(&pins[i]);
		return r;
	}
	r = layer_lookup(&stack, parents, n, name, &lf);
	for (int i = 0; i < n; i++)
		ovl_dir_unpin(&pins[i]);
	/* a node's parts never change: its locations stay the node's while it lives (the caller holds it) */
	for (int i = 0, k = 0; i < n; i++)
		plocs[i] = parents[i].layer == OVL_UPPER ? NULL : ovl_dir(parent)->lowers[k++].loc;
	f->layer = lf.layer;
	f->st = lf.st;
	f->opaque = lf.opaque;
	f->in_lower = lf.in_lower;
	f->upper_whiteout = lf.whiteout_layer == OVL_UPPER;
	f->upper_marker = f->upper_whiteout && lf.whiteout_marker;
	f->redirect = lf.layer == OVL_UPPER ? lf.redirect : NULL;
	if (f->redirect)
		lf.redirect = NULL;
	for (int i = 0; i < lf.ndirs; i++) {
		struct ovl_loc *loc;

		if (lf.dirs[i].layer == OVL_UPPER) {
			f->upper_fd = lf.dirs[i].fd;
			lf.dirs[i].fd = -1;
			continue;
		}
		/* where it is in its layer, for reopening it: below the parent's part it was found in, or from the root */
		if (lf.from[i] >= 0 && plocs[lf.from[i]])
			loc = ovl_loc_new(fs, plocs[lf.from[i]], lf.via[i], strlen(lf.via[i]));
		else if (lf.from[i] < 0)
			loc = loc_from_root(fs, lf.dirs[i].layer, lf.via[i]);
		else
			loc = NULL;
		if (!loc) {
			if (r == 0)
				r = -ENOMEM;
			continue;
		}
		f->locs[f->nlower] = loc;
		f->lowers[f->nlower++] = lf.dirs[i];
		lf.dirs[i].fd = -1;
	}
	layer_found_release(&lf); /* what f did not take */
	return r;
}

static uint64_t origin_ino(struct ovl_fs *fs, const struct ovl_found *f, int parentfd, const char *name)
{
	if (f->layer != OVL_UPPER || S_ISLNK(f->st.st_mode))
		return 0;
	return layer_get_origin(f->upper_fd, parentfd, name, fs->xns);
}

/* A new directory node takes what its lookup found: the redirect, and its parts' fds into the cache. */
static void dir_take_parts_locked(struct ovl_fs *fs, struct ovl_dir *d, struct ovl_found *f)
{
	d->has_upper = f->upper_fd >= 0;
	d->opaque = f->opaque;
	d->redirect = f->redirect;
	f->redirect = NULL;
	/* the fds just opened go into the cache (which may close older ones) */
	if (f->upper_fd >= 0)
		f->upper_fd = ovl_dfd_install_locked(fs, &d->upper, f->upper_fd);
	for (int i = 0; i < f->nlower; i++) {
		d->lowers[i] = (struct ovl_lower){ f->lowers[i].layer, f->locs[i] };
		f->lowers[i].fd = ovl_dfd_install_locked(fs, &f->locs[i]->dfd, f->lowers[i].fd);
		if (f->lowers[i].fd >= 0)
			close(f->lowers[i].fd); /* a location is its node's own: cannot be open yet */
	}
	d->nlower = f->nlower;
	f->nlower = 0;
}

int ovl_node_for_found(struct ovl_fs *fs, struct ovl_node *parent, const char *name, struct ovl_found *f,
		       struct ovl_node **ret_node)
{
	struct ovl_node *node;
	uint64_t origin = 0;
	int r;

	if (f->layer == OVL_UPPER) {
		_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
		int pfd = ovl_dir_pin(fs, parent, OVL_UPPER, &pin);
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
		ovl_node_set_dead_locked(fs, node); /* its inode number was reused: a removed object */
		node = NULL;
	}
	if (node) {
		int extra = -1;

		r = ovl_node_add_alias_locked(node, parent, name);
		if (r == 0)
			node->nlookup++;
		/* the same upper directory (found by its key): a closed slot takes the fd just opened */
		if (S_ISDIR(node->type) && ovl_dir(node)->has_upper && ovl_dir(node)->upper.fd < 0 && f->upper_fd >= 0 &&
		    f->layer == OVL_UPPER) {
			extra = ovl_dfd_install_locked(fs, &ovl_dir(node)->upper, f->upper_fd);
			f->upper_fd = extra;
		}
		pthread_mutex_unlock(&fs->lock);
		ovl_found_release(fs, f);
		if (r < 0)
			return r;
		*ret_node = node;
		return 0;
	}
	node = ovl_node_alloc(f->st.st_mode);
	if (node && S_ISDIR(node->type) && f->nlower) {
		ovl_dir(node)->lowers = malloc(sizeof(*ovl_dir(node)->lowers) * (size_t) f->nlower);
		if (!ovl_dir(node)->lowers) {
			free(node);
			node = NULL;
		}
	}
	if (!node) {
		pthread_mutex_unlock(&fs->lock);
		ovl_found_release(fs, f);
		return -ENOMEM;
	}
	node->key_dev = f->st.st_dev;
	node->key_ino = f->st.st_ino;
	node->ino = origin ? origin : ovl_present_ino(fs, f->layer, f->st.st_ino);
	node->layer = f->layer;
	r = ovl_node_add_alias_locked(node, parent, name);
	if (r < 0) {
		pthread_mutex_unlock(&fs->lock);
		if (S_ISDIR(node->type))
			free(ovl_dir(node)->lowers);
		free(node);
		ovl_found_release(fs, f);
		return r;
	}
	if (S_ISDIR(node->type))
		dir_take_parts_locked(fs, ovl_dir(node), f);
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

	_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;

	pthread_mutex_lock(&fs->lock);
	ofd = node->orphan_fd;
	dead_lower = node->dead && node->layer != OVL_UPPER;
	/* where the object shown lives: a directory's top part */
	layer = !S_ISDIR(node->type) ? node->layer : ovl_dir(node)->has_upper ? OVL_UPPER : ovl_dir(node)->nlower ? ovl_dir(node)->lowers[0].layer : OVL_UPPER;
	pthread_mutex_unlock(&fs->lock);
	if (fd < 0 && !S_ISDIR(node->type) && ovl_node_first_alias(fs, node, &parent, name, sizeof(name)) < 0)
		fd = ofd; /* no name left, still open: the real object through the fd kept at removal */
	if (fd >= 0) {
		if (fstat(fd, st) < 0)
			return -errno;
		ovl_present_owner(fs, layer, fd, -1, NULL, st);
	} else if (S_ISDIR(node->type)) {
		pthread_mutex_lock(&fs->lock);
		/* like the kernel: a directory merged from several layers has no meaningful link count */
		merged = ovl_dir(node)->has_upper + ovl_dir(node)->nlower > 1;
		pthread_mutex_unlock(&fs->lock);
		dfd = ovl_dir_pin(fs, node, OVL_TOP, &pin);
		if (dfd < 0 || fstat(dfd, st) < 0)
			return -ENOENT;
		ovl_present_owner(fs, layer, dfd, -1, NULL, st);
		if (merged)
			st->st_nlink = 1;
	} else {
		r = ovl_node_first_alias(fs, node, &parent, name, sizeof(name));
		if (r < 0)
			return r;
		pthread_mutex_lock(&fs->lock);
		layer = node->layer;
		pthread_mutex_unlock(&fs->lock);
		dfd = ovl_dir_pin(fs, parent, layer, &pin);
		if (dfd < 0 || fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
			return -ENOENT;
		ovl_present_owner(fs, layer, -1, dfd, name, st);
	}
	/* A removed file still open: a lower one keeps its links down there, it has none in the view. */
	if (dead_lower && !S_ISDIR(node->type))
		st->st_nlink = 0;
	if (fs->static_nlink && S_ISDIR(node->type))
		st->st_nlink = 1;
	st->st_ino = ovl_node_ino(fs, node);
	return 0;
}
