/* SPDX-License-Identifier: MIT */
/*
 * Merged directory listings: upper entries first, then each lower directory
 * in order (each read by layer_read_dir(), which knows the layer format); a
 * name is listed once, whiteouts hide it below and are never listed.
 * Offsets are cookies made from a hash of each name, so one keeps its meaning
 * when the listing is rebuilt after a change; a listing is built once and
 * kept in the node until the directory changes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "overlay.h"
#include "strset.h"

static int dirent_cmp(const void *a, const void *b)
{
	const struct ovl_dirent *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

void ovl_dirlist_free(struct ovl_dirlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->ents[i].name);
	free(l->ents);
	memset(l, 0, sizeof(*l));
}

static int dirlist_add(struct ovl_dirlist *l, const char *name, uint64_t ino, mode_t type, char **ret_name)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct ovl_dirent *e = realloc(l->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->ents = e;
		l->cap = cap;
	}
	l->ents[l->n].name = strdup(name);
	if (!l->ents[l->n].name)
		return -ENOMEM;
	l->ents[l->n].ino = ino;
	l->ents[l->n].off = 0;
	l->ents[l->n].type = type;
	*ret_name = l->ents[l->n].name;
	l->n++;
	return 0;
}

struct layer_read {
	struct ovl_fs *fs;
	int layer, dirfd;
	bool impure;
	struct strset *seen, *hidden;
	struct ovl_dirlist *out;
};

static int read_entry(void *ctx, const char *name, ino_t dino, mode_t type, bool whiteout)
{
	struct layer_read *c = ctx;
	uint64_t ino = 0;
	char *stored;
	int r;

	if (whiteout) /* hides the name below; remembered in a set of its own */
		return strset_add(c->hidden, name) < 0 ? -ENOMEM : 0;
	if (strset_contains(c->hidden, name) || strset_contains(c->seen, name))
		return 0;
	if (c->impure)
		ino = layer_get_origin(-1, c->dirfd, name, c->fs->xns);
	if (!ino)
		ino = ovl_present_ino(c->fs, c->layer, dino);
	r = dirlist_add(c->out, name, ino, type, &stored);
	if (r < 0)
		return r;
	return strset_add(c->seen, stored) < 0 ? -ENOMEM : 0;
}

/* Adds one layer's entries; names already seen (or whited out above) are skipped. */
static int read_layer(struct ovl_fs *fs, int layer, int dirfd, struct strset *seen, struct strset *hidden,
		      struct ovl_dirlist *out)
{
	struct layer_read c = { fs, layer, dirfd, layer == OVL_UPPER && layer_dir_is_impure(dirfd, fs->xns), seen,
				hidden, out };

	return layer_read_dir(dirfd, read_entry, &c);
}

int ovl_dir_read(struct ovl_fs *fs, struct ovl_node *dir, bool with_dots, struct ovl_dirlist *ret)
{
	struct ovl_dirlist out = { 0 };
	struct strset seen = { .owns = false }, hidden = { .owns = true }; /* seen borrows the listing's names */
	struct layer_dir layers[OVL_MAX_LAYERS + 1];
	struct ovl_dirpin pins[OVL_MAX_LAYERS + 1];
	char *unused;
	int n = 0, r;

	/* every part pinned while read (reopened if the cache closed it) */
	r = ovl_dir_pin_all(fs, dir, layers, pins, &n);

	if (r == 0 && with_dots) {
		/* readdir(3) skips d_ino 0: ".." gets its parent's number (the root's own). */
		uint64_t parent_ino = dir->ino;
		pthread_mutex_lock(&fs->lock);
		if (dir->aliases)
			parent_ino = dir->aliases->parent->ino;
		pthread_mutex_unlock(&fs->lock);
		r = dirlist_add(&out, ".", dir->ino, S_IFDIR, &unused);
		if (r == 0)
			r = dirlist_add(&out, "..", parent_ino, S_IFDIR, &unused);
	}
	/* ovl_dir(node)->lowers already stops at an opaque directory */
	for (int i = 0; r == 0 && i < n; i++)
		r = read_layer(fs, layers[i].layer, layers[i].fd, &seen, &hidden, &out);
	for (int i = 0; i < n; i++)
		ovl_dir_unpin(&pins[i]);

	strset_free(&seen);
	strset_free(&hidden);
	if (r < 0) {
		ovl_dirlist_free(&out);
		return r;
	}
	/*
	 * Cookies: "." 1, ".." 2, others a 62-bit hash of the name (+3), sorted,
	 * so that an offset keeps its meaning when the listing is rebuilt after a
	 * change — entries added or removed do not move the others.
	 */
	for (size_t i = 0; i < out.n; i++) {
		bool dot = with_dots && i < 2;
		out.ents[i].off = dot ? i + 1 : (strset_hash(out.ents[i].name) >> 2) + 3;
	}
	if (out.n > 1) /* an empty listing has no array: qsort(NULL, 0) is undefined */
		qsort(out.ents, out.n, sizeof(*out.ents), dirent_cmp);
	for (size_t i = 1; i < out.n; i++)
		if (out.ents[i].off <= out.ents[i - 1].off)
			out.ents[i].off = out.ents[i - 1].off + 1; /* a hash collision: next free cookie */
	*ret = out;
	return 0;
}

size_t ovl_dirlist_seek(const struct ovl_dirlist *l, uint64_t off)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->ents[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int ovl_dir_listing_get(struct ovl_fs *fs, struct ovl_node *dir, struct ovl_dirlist **ret)
{
	struct ovl_dirlist *l;
	unsigned gen;
	int r;

	pthread_mutex_lock(&fs->lock);
	l = ovl_dir(dir)->listing;
	if (l)
		l->refs++;
	gen = ovl_dir(dir)->listing_gen;
	pthread_mutex_unlock(&fs->lock);
	if (l) {
		*ret = l;
		return 0;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	r = ovl_dir_read(fs, dir, true, l);
	if (r < 0) {
		free(l);
		return r;
	}
	l->refs = 1;
	pthread_mutex_lock(&fs->lock);
	if (!ovl_dir(dir)->listing && ovl_dir(dir)->listing_gen == gen) {
		ovl_dir(dir)->listing = l; /* not changed while we read: worth keeping */
		l->refs++;
	}
	pthread_mutex_unlock(&fs->lock);
	*ret = l;
	return 0;
}

void ovl_dir_listing_put(struct ovl_fs *fs, struct ovl_dirlist *l)
{
	bool last;

	pthread_mutex_lock(&fs->lock);
	last = --l->refs == 0;
	pthread_mutex_unlock(&fs->lock);
	if (last) {
		ovl_dirlist_free(l);
		free(l);
	}
}

void ovl_dir_listing_drop(struct ovl_fs *fs, struct ovl_node *dir)
{
	struct ovl_dirlist *l;

	pthread_mutex_lock(&fs->lock);
	l = ovl_dir(dir)->listing;
	ovl_dir(dir)->listing = NULL;
	ovl_dir(dir)->listing_gen++;
	pthread_mutex_unlock(&fs->lock);
	if (l)
		ovl_dir_listing_put(fs, l);
}

int ovl_dir_check_empty(struct ovl_fs *fs, struct ovl_node *dir)
{
	struct ovl_dirlist l;
	int r = ovl_dir_read(fs, dir, false, &l);

	if (r < 0)
		return r;
	r = l.n ? -ENOTEMPTY : 0;
	ovl_dirlist_free(&l);
	return r;
}

void ovl_dir_listing_uncache(struct ovl_fs *fs, struct ovl_node *dir, struct ovl_dirlist *l)
{
	bool mine;

	pthread_mutex_lock(&fs->lock);
	mine = ovl_dir(dir)->listing == l;
	if (mine)
		ovl_dir(dir)->listing = NULL; /* same generation: nothing changed */
	pthread_mutex_unlock(&fs->lock);
	if (mine)
		ovl_dir_listing_put(fs, l);
}
