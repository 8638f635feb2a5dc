/* SPDX-License-Identifier: MIT */
/* The root node: the upper root merged with every lower root (until one is opaque). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "overlay.h"


int ovl_root_init(struct ovl_fs *fs)
{
	struct ovl_node *root = calloc(1, sizeof(*root));
	struct stat st;
	int top = fs->read_only ? 1 : OVL_UPPER, r;

	if (!root)
		return -ENOMEM;
	pthread_mutex_init(&root->copyup_lock, NULL);
	root->type = S_IFDIR;
	root->upper_fd = -1;
	root->orphan_fd = -1;
	root->layer = top;
	root->lowers = calloc((size_t) fs->nlayers, sizeof(*root->lowers));
	if (!root->lowers) {
		free(root);
		return -ENOMEM;
	}
	if (!fs->read_only) {
		root->upper_fd = fcntl(fs->layers[OVL_UPPER].fd, F_DUPFD_CLOEXEC, 3);
		if (root->upper_fd < 0)
			goto fail;
		r = layer_dir_is_opaque(root->upper_fd, fs->xns);
		root->opaque = r > 0;
	}
	for (int i = 1; i < fs->nlayers && !root->opaque; i++) {
		int fd = fcntl(fs->layers[i].fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			goto fail;
		root->lowers[root->nlower].layer = i;
		root->lowers[root->nlower].fd = fd;
		root->nlower++;
		if (layer_dir_is_opaque(fd, fs->xns) > 0)
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
	r = -errno;
	if (root->upper_fd >= 0)
		close(root->upper_fd);
	for (int i = 0; i < root->nlower; i++)
		close(root->lowers[i].fd);
	free(root->lowers);
	free(root);
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
			if (n->upper_fd >= 0)
				close(n->upper_fd);
			if (n->orphan_fd >= 0)
				close(n->orphan_fd);
			for (int i = 0; i < n->nlower; i++)
				close(n->lowers[i].fd);
			free(n->lowers);
			free(n->redirect);
			if (n->listing && --n->listing->refs == 0) {
				ovl_dirlist_free(n->listing);
				free(n->listing);
			}
			free(n);
			n = next;
		}
	}
	free(fs->buckets);
	fs->buckets = NULL;
	fs->nbuckets = fs->nnodes = 0;
	fs->root = NULL;
}
