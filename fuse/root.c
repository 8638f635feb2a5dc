/* SPDX-License-Identifier: MIT */
/* The root node: the upper root merged with every lower root (until one is opaque). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "overlay.h"

/* Each lower layer's root as a location, held open: where reopens of its directories start. */
static int rootlocs_init(struct ovl_fs *fs)
{
	fs->rootlocs = calloc((size_t) fs->nlayers, sizeof(*fs->rootlocs));
	if (!fs->rootlocs)
		return -ENOMEM;
	for (int i = 1; i < fs->nlayers; i++) {
		struct ovl_loc *l = ovl_loc_new(fs, NULL, "", 0);
		int fd;

		if (!l)
			return -ENOMEM;
		l->layer = i;
		l->dfd.held = true;
		fs->rootlocs[i] = l;
		fd = fcntl(fs->layers[i].fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
		pthread_mutex_lock(&fs->lock);
		(void) ovl_dfd_install_locked(fs, &l->dfd, fd);
		pthread_mutex_unlock(&fs->lock);
	}
	return 0;
}

static void rootlocs_free(struct ovl_fs *fs)
{
	for (int i = 1; fs->rootlocs && i < fs->nlayers; i++)
		ovl_loc_unref_locked(fs, fs->rootlocs[i]);
	free(fs->rootlocs);
	fs->rootlocs = NULL;
}

int ovl_root_init(struct ovl_fs *fs)
{
	struct ovl_node *root;
	struct stat st;
	int top = fs->read_only ? 1 : OVL_UPPER, r;

	if (!fs->lru.next)
		ovl_dircache_init(fs, 0);
	r = rootlocs_init(fs);
	if (r < 0) {
		rootlocs_free(fs);
		return r;
	}
	root = ovl_node_alloc(S_IFDIR);
	if (!root) {
		rootlocs_free(fs);
		return -ENOMEM;
	}
	ovl_dir(root)->upper.held = true;
	root->layer = top;
	ovl_dir(root)->lowers = calloc((size_t) fs->nlayers, sizeof(*ovl_dir(root)->lowers));
	if (!ovl_dir(root)->lowers)
		goto fail;
	if (!fs->read_only) {
		int fd = fcntl(fs->layers[OVL_UPPER].fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			goto fail;
		ovl_dir(root)->has_upper = true;
		ovl_dir(root)->upper.fd = fd; /* held: never evicted */
		r = layer_dir_is_opaque(fd, fs->xns);
		ovl_dir(root)->opaque = r > 0;
	}
	for (int i = 1; i < fs->nlayers && !ovl_dir(root)->opaque; i++) {
		struct ovl_loc *l = fs->rootlocs[i];

		pthread_mutex_lock(&fs->lock);
		l->refs++;
		pthread_mutex_unlock(&fs->lock);
		ovl_dir(root)->lowers[ovl_dir(root)->nlower].layer = i;
		ovl_dir(root)->lowers[ovl_dir(root)->nlower].loc = l;
		ovl_dir(root)->nlower++;
		if (layer_dir_is_opaque(l->dfd.fd, fs->xns) > 0)
			break;
	}
	if (fstat(fs->layers[top].fd, &st) < 0)
		goto fail;
	root->key_dev = st.st_dev;
	root->key_ino = st.st_ino;
	root->ino = ovl_present_ino(fs, top, st.st_ino);
	root->nlookup = 1;
	fs->root = root;
	pthread_mutex_lock(&fs->lock);
	ovl_node_insert_locked(fs, root);
	pthread_mutex_unlock(&fs->lock);
	return 0;
fail:
	r = errno ? -errno : -ENOMEM;
	ovl_node_release_parts_locked(fs, root);
	free(root);
	rootlocs_free(fs);
	return r;
}

void ovl_nodes_free(struct ovl_fs *fs)
{
	for (size_t b = 0; b < fs->nbuckets; b++) {
		struct ovl_node *n = fs->buckets[b];
		while (n) {
			struct ovl_node *next = n->hnext;
			while (n->aliases) {
				struct ovl_alias *a = n->aliases;
				n->aliases = a->next;
				free(a);
			}
			ovl_node_release_parts_locked(fs, n);
			free(n);
			n = next;
		}
	}
	free(fs->buckets);
	fs->buckets = NULL;
	fs->nbuckets = fs->nnodes = 0;
	fs->root = NULL;
	rootlocs_free(fs);
}
