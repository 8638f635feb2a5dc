/* SPDX-License-Identifier: MIT */
/*
 * The node table: one node per object the kernel knows, keyed by the (dev,
 * ino) of the real object that is visible; the fuse_ino_t is the node's
 * address (the root is FUSE_ROOT_ID).  A node lives while the kernel holds
 * lookups on it or children/handles hold references.
 */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <stdio.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "overlay.h"

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uintptr_t), "fuse_ino_t must hold a pointer");

struct ovl_node *ovl_node_get(struct ovl_fs *fs, uint64_t nodeid)
{
	if (nodeid == FUSE_ROOT_ID)
		return fs->root;
	return (struct ovl_node *) (uintptr_t) nodeid;
}

uint64_t ovl_nodeid(struct ovl_fs *fs, struct ovl_node *node)
{
	return node == fs->root ? FUSE_ROOT_ID : (uint64_t) (uintptr_t) node;
}

static size_t bucket_of(const struct ovl_fs *fs, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t) ino * 0x9E3779B97F4A7C15ull) ^ ((uint64_t) dev * 0xC2B2AE3D27D4EB4Full);
	return (size_t) (h >> 17) & (fs->nbuckets - 1);
}

static void hash_insert_locked(struct ovl_fs *fs, struct ovl_node *node)
{
	size_t b;

	if (fs->nnodes + 1 > fs->nbuckets) {
		size_t n = fs->nbuckets ? fs->nbuckets * 2 : 1024;
		struct ovl_node **nb = calloc(n, sizeof(*nb));
		if (nb) { /* on ENOMEM keep the smaller table: longer chains, still correct */
			struct ovl_node **old = fs->buckets;
			size_t oldn = fs->nbuckets;
			fs->buckets = nb;
			fs->nbuckets = n;
			for (size_t i = 0; i < oldn; i++)
				for (struct ovl_node *x = old[i], *next; x; x = next) {
					next = x->hnext;
					b = bucket_of(fs, x->key_dev, x->key_ino);
					x->hnext = fs->buckets[b];
					fs->buckets[b] = x;
				}
			free(old);
		}
	}
	b = bucket_of(fs, node->key_dev, node->key_ino);
	node->hnext = fs->buckets[b];
	fs->buckets[b] = node;
	fs->nnodes++;
}

static void hash_remove_locked(struct ovl_fs *fs, struct ovl_node *node)
{
	struct ovl_node **p = &fs->buckets[bucket_of(fs, node->key_dev, node->key_ino)];

	for (; *p; p = &(*p)->hnext)
		if (*p == node) {
			*p = node->hnext;
			fs->nnodes--;
			return;
		}
}

static bool has_alias(const struct ovl_node *node, const struct ovl_node *parent, const char *name)
{
	for (const struct ovl_alias *a = node->aliases; a; a = a->next)
		if (a->parent == parent && strcmp(a->name, name) == 0)
			return true;
	return false;
}

struct ovl_node *ovl_node_find_alias_locked(struct ovl_fs *fs, dev_t dev, ino_t ino, struct ovl_node *parent,
					    const char *name)
{
	struct ovl_node *first = NULL;

	if (!fs->nbuckets)
		return NULL;
	/* Several nodes share a key when a lower file has several names (one node per name, as in the kernel). */
	for (struct ovl_node *n = fs->buckets[bucket_of(fs, dev, ino)]; n; n = n->hnext) {
		if (n->key_ino != ino || n->key_dev != dev || n->dead)
			continue;
		if (has_alias(n, parent, name))
			return n;
		if (!first)
			first = n;
	}
	return first;
}

void ovl_node_insert_locked(struct ovl_fs *fs, struct ovl_node *node)
{
	hash_insert_locked(fs, node);
}

void ovl_node_rekey_locked(struct ovl_fs *fs, struct ovl_node *node, dev_t dev, ino_t ino)
{
	hash_remove_locked(fs, node);
	node->key_dev = dev;
	node->key_ino = ino;
	hash_insert_locked(fs, node);
}

int ovl_node_add_alias_locked(struct ovl_node *node, struct ovl_node *parent, const char *name)
{
	struct ovl_alias *a;
	size_t n = strlen(name);

	for (a = node->aliases; a; a = a->next)
		if (a->parent == parent && strcmp(a->name, name) == 0)
			return 0;
	a = malloc(sizeof(*a) + n + 1);
	if (!a)
		return -ENOMEM;
	memcpy(a->name, name, n + 1);
	a->parent = parent;
	parent->refs++;
	a->next = node->aliases;
	node->aliases = a;
	return 0;
}

static void node_free_locked(struct ovl_fs *fs, struct ovl_node *node);

void ovl_node_del_alias_locked(struct ovl_fs *fs, struct ovl_node *node, struct ovl_node *parent, const char *name)
{
	for (struct ovl_alias **p = &node->aliases; *p; p = &(*p)->next) {
		struct ovl_alias *a = *p;
		if (a->parent == parent && strcmp(a->name, name) == 0) {
			*p = a->next;
			free(a);
			ovl_node_unref_locked(fs, parent);
			return;
		}
	}
}

static void node_maybe_free_locked(struct ovl_fs *fs, struct ovl_node *node)
{
	if (node != fs->root && node->nlookup == 0 && node->refs == 0)
		node_free_locked(fs, node);
}

void ovl_node_unref_locked(struct ovl_fs *fs, struct ovl_node *node)
{
	node->refs--;
	node_maybe_free_locked(fs, node);
}

struct ovl_node *ovl_node_alloc(mode_t type)
{
	struct ovl_node *node = calloc(1, S_ISDIR(type) ? sizeof(struct ovl_dir_node) : sizeof(struct ovl_node));

	if (!node)
		return NULL;
	node->type = type & S_IFMT;
	node->orphan_fd = -1;
	if (S_ISDIR(type))
		ovl_dir(node)->upper.fd = -1;
	return node;
}

void ovl_node_release_parts_locked(struct ovl_fs *fs, struct ovl_node *node)
{
	if (node->orphan_fd >= 0)
		close(node->orphan_fd);
	node->orphan_fd = -1;
	if (S_ISDIR(node->type)) {
		struct ovl_dir *d = ovl_dir(node);

		ovl_dfd_release_locked(fs, &d->upper);
		for (int i = 0; i < d->nlower; i++)
			ovl_loc_unref_locked(fs, d->lowers[i].loc);
		d->nlower = 0;
		free(d->lowers);
		d->lowers = NULL;
		free(d->redirect);
		d->redirect = NULL;
		if (d->listing && --d->listing->refs == 0) {
			ovl_dirlist_free(d->listing);
			free(d->listing);
		}
		d->listing = NULL;
	}
}

static void node_free_locked(struct ovl_fs *fs, struct ovl_node *node)
{
	struct ovl_alias *a = node->aliases;

	hash_remove_locked(fs, node);
	node->aliases = NULL;
	ovl_node_release_parts_locked(fs, node);
	free(node);
	/* Parents may go with their last child. */
	while (a) {
		struct ovl_alias *next = a->next;
		struct ovl_node *parent = a->parent;
		free(a);
		ovl_node_unref_locked(fs, parent);
		a = next;
	}
}

void ovl_node_forget(struct ovl_fs *fs, struct ovl_node *node, uint64_t n)
{
	pthread_mutex_lock(&fs->lock);
	if (n > node->nlookup) {
		/* The kernel forgets only what it was given: more is a miscount of ours (an entry reply not counted). */
		fprintf(stderr, "isofs-overlay: bug: forget of %llu lookups of inode %llu, which had %llu\n",
			(unsigned long long) n, (unsigned long long) node->ino, (unsigned long long) node->nlookup);
		n = node->nlookup;
	}
	node->nlookup -= n;
	node_maybe_free_locked(fs, node);
	pthread_mutex_unlock(&fs->lock);
}

void ovl_node_set_dead_locked(struct ovl_fs *fs, struct ovl_node *node)
{
	node->dead = true;
	/* Open handles (a cwd) may still stat or list it, and nothing could reopen it by a name now. */
	if (S_ISDIR(node->type) && ovl_dir(node)->has_upper && ovl_dir(node)->upper.fd >= 0)
		ovl_dfd_hold_locked(fs, &ovl_dir(node)->upper);
}

uint64_t ovl_node_ino(struct ovl_fs *fs, struct ovl_node *node)
{
	uint64_t ino;

	pthread_mutex_lock(&fs->lock);
	ino = node->ino;
	pthread_mutex_unlock(&fs->lock);
	return ino;
}

int ovl_node_first_alias(struct ovl_fs *fs, struct ovl_node *node, struct ovl_node **ret_parent, char *name,
			 size_t size)
{
	int r = -ENOENT;

	pthread_mutex_lock(&fs->lock);
	if (node->aliases && strlen(node->aliases->name) < size) {
		*ret_parent = node->aliases->parent;
		strcpy(name, node->aliases->name);
		r = 0;
	}
	pthread_mutex_unlock(&fs->lock);
	return r;
}
