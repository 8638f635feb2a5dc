/* SPDX-License-Identifier: MIT */
/*
 * The directory fd cache: a view serves any number of directories with a
 * bounded number of fds.  Each directory node's upper part and each lower
 * location has a slot (struct ovl_dfd); open slots are kept in an LRU of at
 * most fs->dircache_max, and the least recently used unpinned one is closed
 * when a new one comes in.  A closed slot is reopened on its next use:
 *
 *  - a lower location from its parent location and its name, up to the
 *    nearest open ancestor (the layer's root is always open) — lower layers
 *    never change, so that is where it was found, redirects included;
 *  - an upper part from its parent node's upper part and its current name
 *    (directories have one), up to the nearest open ancestor (the root's is
 *    always open), under rename_lock for reading, and checked against the
 *    node's (st_dev, st_ino).
 *
 * Every reopen goes through layer_open_beneath(): no "..", symlink or magic
 * link followed.  Borrowers pin a slot for as long as they use its fd; the
 * evictor skips pinned slots, so an fd number is never used after a close.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "overlay.h"

void ovl_dircache_init(struct ovl_fs *fs, size_t want)
{
	struct rlimit rl;

	fs->lru.prev = fs->lru.next = &fs->lru;
	fs->lru.fd = -1;
	if (want) {
		fs->dircache_max = want;
		return;
	}
	/* A quarter of what the process may open: the rest is for files, handles, splice pipes. */
	fs->dircache_max = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		fs->dircache_max = rl.rlim_cur / 4;
	if (fs->dircache_max < 16)
		fs->dircache_max = 16;
}

static void lru_unlink(struct ovl_dfd *d)
{
	d->prev->next = d->next;
	d->next->prev = d->prev;
	d->prev = d->next = NULL;
}

static void lru_push(struct ovl_fs *fs, struct ovl_dfd *d)
{
	d->next = fs->lru.next;
	d->prev = &fs->lru;
	fs->lru.next->prev = d;
	fs->lru.next = d;
}

/* Closes the least recently used unpinned fds while over budget. */
static void evict_locked(struct ovl_fs *fs)
{
	struct ovl_dfd *d = fs->lru.prev;

	while (fs->dircache_open > fs->dircache_max && d != &fs->lru) {
		struct ovl_dfd *prev = d->prev;
		if (d->pins == 0) {
			lru_unlink(d);
			close(d->fd); /* an O_PATH fd: no I/O */
			d->fd = -1;
			fs->dircache_open--;
		}
		d = prev;
	}
}

int ovl_dfd_install_locked(struct ovl_fs *fs, struct ovl_dfd *d, int fd)
{
	if (d->fd >= 0)
		return fd; /* opened meanwhile by another thread: keep that one */
	d->fd = fd;
	if (!d->held) {
		lru_push(fs, d);
		fs->dircache_open++;
		evict_locked(fs);
	}
	return -1;
}

void ovl_dfd_release_locked(struct ovl_fs *fs, struct ovl_dfd *d)
{
	if (d->fd < 0)
		return;
	if (!d->held) {
		lru_unlink(d);
		fs->dircache_open--;
	}
	close(d->fd);
	d->fd = -1;
}

void ovl_dfd_hold_locked(struct ovl_fs *fs, struct ovl_dfd *d)
{
	if (d->held)
		return;
	if (d->fd >= 0) {
		lru_unlink(d);
		fs->dircache_open--;
	}
	d->held = true;
}

struct ovl_loc *ovl_loc_new(struct ovl_fs *fs, struct ovl_loc *parent, const char *name, size_t len)
{
	struct ovl_loc *l = malloc(sizeof(*l) + len + 1);

	if (!l)
		return NULL;
	memset(l, 0, sizeof(*l));
	memcpy(l->name, name, len);
	l->name[len] = '\0';
	l->refs = 1;
	l->dfd.fd = -1;
	l->parent = parent;
	if (parent) {
		l->layer = parent->layer;
		pthread_mutex_lock(&fs->lock);
		parent->refs++;
		pthread_mutex_unlock(&fs->lock);
	}
	return l;
}

void ovl_loc_unref_locked(struct ovl_fs *fs, struct ovl_loc *loc)
{
	while (loc && --loc->refs == 0) {
		struct ovl_loc *parent = loc->parent;
		ovl_dfd_release_locked(fs, &loc->dfd);
		free(loc);
		loc = parent;
	}
}

static void unpin_locked(struct ovl_fs *fs, struct ovl_dfd *d)
{
	d->pins--;
	if (d->pins == 0 && fs->dircache_open > fs->dircache_max)
		evict_locked(fs);
}

/* Opens `name` below the pinned dfd `from` and installs it in `to` (pinned in turn); `from` is unpinned. */
static int open_step(struct ovl_fs *fs, struct ovl_dfd *from, const char *name, struct ovl_dfd *to,
		     struct ovl_node *check)
{
	struct stat st;
	int fd = layer_open_beneath(from->fd, name, O_PATH | O_DIRECTORY), extra = -1;

	if (fd >= 0 && check && fstat(fd, &st) < 0) {
		close(fd);
		fd = -errno;
	}
	pthread_mutex_lock(&fs->lock);
	if (fd >= 0 && check && (st.st_dev != check->key_dev || st.st_ino != check->key_ino)) {
		extra = fd; /* another directory under that name now: this one is gone */
		fd = -ENOENT;
	}
	unpin_locked(fs, from);
	if (fd >= 0) {
		to->pins++; /* before it goes into the cache: installing may evict, and not this one */
		extra = ovl_dfd_install_locked(fs, to, fd);
	}
	pthread_mutex_unlock(&fs->lock);
	if (extra >= 0)
		close(extra);
	return fd < 0 ? fd : 0;
}

/* Reopens a lower location (pinned by the caller) from its nearest open ancestor. */
static int reopen_loc(struct ovl_fs *fs, struct ovl_loc *loc)
{
	struct ovl_loc **chain, *l;
	size_t n = 0, i;
	int r = 0;

	pthread_mutex_lock(&fs->lock);
	for (l = loc; l->dfd.fd < 0 && l->parent; l = l->parent)
		n++;
	if (l->dfd.fd < 0) { /* a layer's root is never closed */
		pthread_mutex_unlock(&fs->lock);
		return -EIO;
	}
	chain = malloc((n ? n : 1) * sizeof(*chain)); /* never malloc(0): NULL would read as ENOMEM */
	if (!chain) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOMEM;
	}
	i = n;
	for (l = loc; i > 0; l = l->parent)
		chain[--i] = l; /* chain[0] is the child of the open ancestor */
	l->dfd.pins++;
	pthread_mutex_unlock(&fs->lock);
	/* The chain's locations are held by their children, the last by the caller's pin. */
	for (i = 0; i < n && r == 0; i++) {
		r = open_step(fs, &l->dfd, chain[i]->name, &chain[i]->dfd, NULL);
		l = chain[i];
	}
	pthread_mutex_lock(&fs->lock);
	if (r == 0)
		unpin_locked(fs, &l->dfd); /* the loc itself: still pinned by the caller */
	pthread_mutex_unlock(&fs->lock);
	free(chain);
	return r;
}

struct up_step {
	struct ovl_node *node;
	char name[NAME_MAX + 1];
};

/* Reopens a node's upper part (pinned by the caller) by its names, from its nearest open ancestor. */
static int reopen_upper(struct ovl_fs *fs, struct ovl_node *node)
{
	struct up_step *chain = NULL;
	struct ovl_node *n;
	size_t depth = 0, i;
	int r = 0;

	pthread_rwlock_rdlock(&fs->rename_lock);
	pthread_mutex_lock(&fs->lock);
	for (n = node; ovl_dir(n)->upper.fd < 0; n = n->aliases->parent) {
		if (n->dead || !n->aliases || !ovl_dir(n)->has_upper) {
			r = -ENOENT;
			break;
		}
		depth++;
	}
	if (r == 0 && !(chain = malloc(depth * sizeof(*chain) + 1)))
		r = -ENOMEM;
	if (r < 0) {
		pthread_mutex_unlock(&fs->lock);
		pthread_rwlock_unlock(&fs->rename_lock);
		return r;
	}
	i = depth;
	for (n = node; i > 0; n = n->aliases->parent) {
		i--;
		chain[i].node = n;
		strcpy(chain[i].name, n->aliases->name);
		n->refs++; /* held across the walk, whatever happens to their names */
	}
	ovl_dir(n)->upper.pins++;
	n->refs++;
	pthread_mutex_unlock(&fs->lock);

	struct ovl_node *anc = n;
	for (i = 0; i < depth && r == 0; i++) {
		r = open_step(fs, &ovl_dir(n)->upper, chain[i].name, &ovl_dir(chain[i].node)->upper, chain[i].node);
		n = chain[i].node;
	}
	pthread_mutex_lock(&fs->lock);
	if (r == 0)
		unpin_locked(fs, &ovl_dir(n)->upper);
	for (i = 0; i < depth; i++)
		ovl_node_unref_locked(fs, chain[i].node);
	ovl_node_unref_locked(fs, anc);
	pthread_mutex_unlock(&fs->lock);
	pthread_rwlock_unlock(&fs->rename_lock);
	free(chain);
	return r;
}

/* Under fs->lock: the slot of dir's part in `layer`, and its location for a lower one. */
static struct ovl_dfd *part_locked(struct ovl_node *dir, int layer, struct ovl_loc **ret_loc)
{
	*ret_loc = NULL;
	if (layer == OVL_UPPER || (layer == OVL_TOP && ovl_dir(dir)->has_upper))
		return ovl_dir(dir)->has_upper ? &ovl_dir(dir)->upper : NULL;
	for (int i = 0; i < ovl_dir(dir)->nlower; i++)
		if (layer == OVL_TOP || ovl_dir(dir)->lowers[i].layer == layer) {
			*ret_loc = ovl_dir(dir)->lowers[i].loc;
			return &ovl_dir(dir)->lowers[i].loc->dfd;
		}
	return NULL;
}

int ovl_dir_pin(struct ovl_fs *fs, struct ovl_node *dir, int layer, struct ovl_dirpin *ret)
{
	struct ovl_loc *loc;
	struct ovl_dfd *d;
	int r = 0;

	*ret = (struct ovl_dirpin){ .fs = fs, .fd = -1 };
	pthread_mutex_lock(&fs->lock);
	d = part_locked(dir, layer, &loc);
	if (!d) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOENT;
	}
	d->pins++;
	dir->refs++;
	if (d->fd >= 0 && !d->held && fs->lru.next != d) {
		lru_unlink(d); /* most recently used */
		lru_push(fs, d);
	}
	ret->dfd = d;
	ret->node = dir;
	if (d->fd < 0) {
		pthread_mutex_unlock(&fs->lock);
		r = loc ? reopen_loc(fs, loc) : reopen_upper(fs, dir);
		pthread_mutex_lock(&fs->lock);
	}
	ret->fd = d->fd;
	pthread_mutex_unlock(&fs->lock);
	if (r < 0) {
		ovl_dir_unpin(ret);
		return r;
	}
	return ret->fd;
}

void ovl_dir_unpin(struct ovl_dirpin *pin)
{
	if (!pin || !pin->dfd)
		return;
	pthread_mutex_lock(&pin->fs->lock);
	unpin_locked(pin->fs, pin->dfd);
	ovl_node_unref_locked(pin->fs, pin->node);
	pthread_mutex_unlock(&pin->fs->lock);
	pin->dfd = NULL;
	pin->node = NULL;
	pin->fd = -1;
}

int ovl_dir_pin_all(struct ovl_fs *fs, struct ovl_node *dir, struct layer_dir *ret, struct ovl_dirpin *pins,
		    int *ret_n)
{
	int layers[OVL_MAX_LAYERS + 1], n = 0, r;

	*ret_n = 0;
	pthread_mutex_lock(&fs->lock);
	if (ovl_dir(dir)->has_upper)
		layers[n++] = OVL_UPPER;
	for (int i = 0; i < ovl_dir(dir)->nlower && n < OVL_MAX_LAYERS + 1; i++)
		layers[n++] = ovl_dir(dir)->lowers[i].layer;
	pthread_mutex_unlock(&fs->lock);
	for (int i = 0; i < n; i++) {
		r = ovl_dir_pin(fs, dir, layers[i], &pins[i]);
		if (r < 0)
			return r;
		ret[i] = (struct layer_dir){ layers[i], r };
		*ret_n = i + 1;
	}
	return 0;
}
