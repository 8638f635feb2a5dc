/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level operations.  Each handler does its work in an
 * `ovl_do_*` function returning -errno and replies exactly once; no lock is
 * held across a reply.
 */
#define FUSE_USE_VERSION 34
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/capability.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "overlay.h"
#include "userns.h"

#define FS(req) ((struct ovl_fs *) fuse_req_userdata(req))
#define NODE(req, ino) ovl_node_get(FS(req), (ino))

/*
 * An open file.  A read-only one opened on a lower file follows it into the
 * upper layer at its first use after a copy-up (handle_fd); the fields that
 * change then are under `lock`.
 */
struct ovl_handle {
	int fd;
	int lower_fd;  /* the fd replaced by the upper one, kept until release (handle_fd says why), or -1 */
	int flags;
	unsigned gen;  /* node->copyup_gen when fd was opened */
	int layer;     /* fd's */
	unsigned refs; /* the kernel's (until RELEASE) and each request's using it: the last one frees it */
	int backing_id; /* > 0: the kernel does this open's I/O on fd itself (passthrough.c) */
	pthread_mutex_t lock;
};

static struct ovl_handle *handle_new(int fd, int flags, int layer, unsigned gen)
{
	struct ovl_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->fd = fd;
	h->lower_fd = -1;
	h->flags = flags;
	h->layer = layer;
	h->gen = gen;
	h->refs = 1;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

/*
 * A request's reference to its handle, dropped after the reply (the fd is
 * used up to the reply: fuse_reply_data reads from it).  The kernel sends
 * RELEASE only after those replies, but by splice, which ThreadSanitizer
 * cannot see ordering anything: the reference makes the order plain, and
 * whoever drops the last one frees the handle.
 */
static struct ovl_handle *handle_use(struct fuse_file_info *fi)
{
	struct ovl_handle *h = fi ? (struct ovl_handle *) (uintptr_t) fi->fh : NULL;

	if (h)
		__atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
	return h;
}

static void handle_put(struct ovl_handle *h)
{
	if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	close(h->fd);
	if (h->lower_fd >= 0)
		close(h->lower_fd);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void handle_putp(struct ovl_handle **h)
{
	handle_put(*h);
}
#define _cleanup_handle_ __attribute__((cleanup(handle_putp)))

/*
 * A snapshot of node->copyup_gen without fs->lock, for every read of a
 * handle: the copy-up bumps it (under fs->lock) after moving the node up, so
 * whoever sees the new value opens the upper file.
 */
static unsigned copyup_gen(const struct ovl_node *node)
{
	return __atomic_load_n(&node->copyup_gen, __ATOMIC_ACQUIRE);
}

/* ---- helpers ---- */

static void fill_entry(struct ovl_fs *fs, struct ovl_node *node, const struct stat *st, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ovl_nodeid(fs, node);
	e->attr = *st;
	e->attr.st_ino = ovl_node_ino(fs, node);
	if (fs->static_nlink && S_ISDIR(st->st_mode))
		e->attr.st_nlink = 1;
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
}

/* Looks `name` up in `parent` and makes the node (one lookup reference) and its presented stat. */
static int do_lookup(struct ovl_fs *fs, struct ovl_node *parent, const char *name, struct fuse_entry_param *e)
{
	struct ovl_found f;
	struct ovl_node *node;
	struct stat st;
	int r;

	r = ovl_lookup_name(fs, parent, name, &f);
	if (r < 0) {
		ovl_found_release(fs, &f);
		return r;
	}
	if (f.layer < 0) {
		ovl_found_release(fs, &f);
		return -ENOENT;
	}
	r = ovl_node_for_found(fs, parent, name, &f, &node);
	if (r < 0)
		return r;
	r = ovl_getattr_node(fs, node, -1, &st);
	if (r == 0 && (st.st_mode & S_IFMT) != node->type)
		r = -ESTALE; /* replaced from outside between the lookup and the stat: the kernel gets the node's type or nothing */
	if (r < 0) {
		ovl_node_forget(fs, node, 1);
		return r;
	}
	fill_entry(fs, node, &st, e);
	return 0;
}

static void reply_entry_or_err(fuse_req_t req, struct fuse_entry_param *e, int r)
{
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (fuse_reply_entry(req, e) == -ENOENT)
		ovl_node_forget(FS(req), ovl_node_get(FS(req), e->ino), 1); /* the kernel did not take it */
}

/* Who asks: ids to give new objects (a setgid parent passes its group on). */
static void requester_ids(fuse_req_t req, struct ovl_fs *fs, struct ovl_node *parent, uid_t *uid, gid_t *gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat pst;

	*uid = ctx->uid;
	*gid = ctx->gid;
	if (ovl_getattr_node(fs, parent, -1, &pst) == 0 && (pst.st_mode & S_ISGID))
		*gid = pst.st_gid;
}

/* ---- lookup, forget, getattr ---- */

static void ovl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ovl_fs *fs = FS(req);
	struct fuse_entry_param e;
	int r = do_lookup(fs, NODE(req, parent), name, &e);

	if (r == -ENOENT) {
		/* A negative entry the kernel may cache: names change only through us. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry_or_err(req, &e, r);
}

static void ovl_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	ovl_node_forget(FS(req), NODE(req, ino), nlookup);
	fuse_reply_none(req);
}

static void ovl_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		ovl_node_forget(FS(req), NODE(req, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static int handle_fd(struct ovl_fs *fs, struct ovl_node *node, struct ovl_handle *h);

static void ovl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = FS(req);
	struct ovl_node *node = NODE(req, ino);
	_cleanup_handle_ struct ovl_handle *h = handle_use(fi);
	struct stat st;
	/* a handle opened before a copy-up follows the file up first: the lower file's size is stale */
	int r = ovl_getattr_node(fs, node, h ? handle_fd(fs, node, h) : -1, &st);

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

/* ---- setattr ---- */

/* The real object's parent fd (pinned in *pin) and name, after copy-up. */
static int real_location(struct ovl_fs *fs, struct ovl_node *node, int *ret_pfd, char *name, size_t size,
			 struct ovl_dirpin *pin)
{
	struct ovl_node *parent;
	int r = ovl_node_first_alias(fs, node, &parent, name, size), layer;

	if (r < 0)
		return r;
	pthread_mutex_lock(&fs->lock);
	layer = node->layer;
	pthread_mutex_unlock(&fs->lock);
	*ret_pfd = ovl_dir_pin(fs, parent, layer, pin);
	return *ret_pfd < 0 ? -ENOENT : 0;
}

static int ovl_do_setattr(struct ovl_fs *fs, fuse_req_t req, struct ovl_node *node, struct stat *attr, int valid,
			  struct ovl_handle *h, struct stat *ret_st)
{
	_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
	char name[NAME_MAX + 1], path[64 + NAME_MAX];
	struct ovl_node *parent;
	bool isdir = S_ISDIR(node->type), by_fd = isdir;
	int pfd = -1, dfd = -1, r;

	(void) req;
	/* Only ctime: the kernel's writeback cache flushing times after unlink or rename; no copy-up for that. */
	if (!(valid & ~FUSE_SET_ATTR_CTIME))
		return ovl_getattr_node(fs, node, h ? handle_fd(fs, node, h) : -1, ret_st);
	if (!isdir && ovl_node_first_alias(fs, node, &parent, name, sizeof(name)) < 0) {
		/* Removed but still open (fchmod, ftruncate, futimens): the fd kept at removal, if it is ours to change. */
		bool times_only = !(valid & ~(FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
					      FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME));
		/* without handles a removed lower file may be open for writing: its copy becomes the file */
		if (fs->no_open && !times_only && (r = ovl_copy_up_orphan(fs, node)) < 0)
			return r;
		pthread_mutex_lock(&fs->lock);
		dfd = node->layer == OVL_UPPER ? node->orphan_fd : -1;
		pthread_mutex_unlock(&fs->lock);
		/* A removed lower file cannot be copied up any more: times (the kernel flushing them at close) are moot. */
		if (dfd < 0 && times_only)
			return ovl_getattr_node(fs, node, h ? handle_fd(fs, node, h) : -1, ret_st);
		if (dfd < 0)
			return -ENOENT;
		by_fd = true;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", dfd);
	} else {
		r = ovl_copy_up(fs, node, (valid & FUSE_SET_ATTR_SIZE) && attr->st_size == 0 && !h);
		if (r < 0)
			return r;
		if (isdir) {
			dfd = ovl_dir_pin(fs, node, OVL_UPPER, &pin);
			if (dfd < 0)
				return dfd;
			snprintf(path, sizeof(path), "/proc/self/fd/%d", dfd);
		} else {
			r = real_location(fs, node, &pfd, name, sizeof(name), &pin);
			if (r < 0)
				return r;
			snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", pfd, name);
		}
	}

	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		struct stat cur;
		r = ovl_getattr_node(fs, node, -1, &cur);
		if (r < 0)
			return r;
		r = ovl_set_owner(fs, by_fd ? dfd : -1, by_fd ? -1 : pfd, by_fd ? NULL : name,
				  (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : cur.st_uid,
				  (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : cur.st_gid);
		if (r < 0)
			return r;
	}
	if (valid & FUSE_SET_ATTR_MODE) {
		r = ovl_set_mode(fs, by_fd ? dfd : -1, by_fd ? -1 : pfd, by_fd ? NULL : name, attr->st_mode & 07777);
		if (r < 0)
			return r;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		if (isdir)
			return -EISDIR;
		if (h && (h->flags & O_ACCMODE) != O_RDONLY && h->layer == OVL_UPPER)
			r = ftruncate(h->fd, attr->st_size);
		else {
			_cleanup_close_ int fd = by_fd ? open(path, O_WRONLY | O_CLOEXEC)
						      : openat(pfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
			r = fd < 0 ? -1 : ftruncate(fd, attr->st_size);
		}
		if (r < 0)
			return -errno;
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		r = by_fd ? utimensat(AT_FDCWD, path, ts, 0) : utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
		if (r < 0)
			return -errno;
	}
	return ovl_getattr_node(fs, node, -1, ret_st);
}

static void ovl_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = FS(req);
	_cleanup_handle_ struct ovl_handle *h = handle_use(fi);
	struct stat st;
	int r;

	if (fs->read_only) {
		fuse_reply_err(req, EROFS);
		return;
	}
	r = ovl_do_setattr(fs, req, NODE(req, ino), attr, valid, h, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

static void ovl_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct ovl_fs *fs = FS(req);
	_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
	char name[NAME_MAX + 1], target[PATH_MAX + 1];
	int pfd, r = real_location(fs, NODE(req, ino), &pfd, name, sizeof(name), &pin);
	ssize_t n;

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	n = readlinkat(pfd, name, target, sizeof(target) - 1);
	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	target[n] = '\0';
	fuse_reply_readlink(req, target);
}

/* ---- creating entries ---- */

enum new_kind { NEW_FILE, NEW_DIR, NEW_NODE, NEW_SYMLINK, NEW_LINK };

struct new_entry {
	enum new_kind kind;
	mode_t mode;
	dev_t rdev;
	const char *target;      /* symlink */
	struct ovl_node *source; /* hard link */
	int open_flags;          /* NEW_FILE */
	int ret_fd;              /* NEW_FILE: the open file */
};

/* Makes the object under `name` in dirfd; NEW_FILE returns an open fd in e->ret_fd. */
static int make_object(struct ovl_fs *fs, int dirfd, const char *name, struct new_entry *e)
{
	switch (e->kind) {
	case NEW_FILE:
		e->ret_fd = openat(dirfd, name, (e->open_flags & ~O_ACCMODE & ~O_APPEND) | O_RDWR | O_CREAT | O_EXCL |
					       O_NOFOLLOW | O_CLOEXEC, e->mode & 07777);
		return e->ret_fd < 0 ? -errno : 0;
	case NEW_DIR:
		return mkdirat(dirfd, name, e->mode & 07777) < 0 ? -errno : 0;
	case NEW_NODE:
		return mknodat(dirfd, name, e->mode, e->rdev) < 0 ? -errno : 0;
	case NEW_SYMLINK:
		return symlinkat(e->target, dirfd, name) < 0 ? -errno : 0;
	case NEW_LINK: {
		_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
		char sname[NAME_MAX + 1];
		int spfd, r = real_location(fs, e->source, &spfd, sname, sizeof(sname), &pin);
		if (r < 0)
			return r;
		return linkat(spfd, sname, dirfd, name, 0) < 0 ? -errno : 0;
	}
	}
	return -EINVAL;
}

/*
 * The entry of an object just made in the upper layer: no lower layer has its
 * name (the lookup before said so), so nothing needs looking up again.
 */
static int new_entry_reply(struct ovl_fs *fs, struct ovl_node *parent, const char *name, struct new_entry *ne,
			   int pfd, uid_t uid, gid_t gid, struct fuse_entry_param *e)
{
	struct ovl_found f;
	struct ovl_node *node;
	struct stat st;
	int r;

	memset(&f, 0, offsetof(struct ovl_found, lowers));
	f.layer = OVL_UPPER;
	f.upper_fd = -1;
	r = ne->ret_fd >= 0 ? fstat(ne->ret_fd, &f.st) : fstatat(pfd, name, &f.st, AT_SYMLINK_NOFOLLOW);
	if (r < 0)
		return -errno;
	if (S_ISDIR(f.st.st_mode)) {
		f.upper_fd = openat(pfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (f.upper_fd < 0)
			return -errno;
		f.opaque = layer_dir_is_opaque(f.upper_fd, fs->xns) > 0; /* made over a whiteout */
	}
	st = f.st;
	r = ovl_node_for_found(fs, parent, name, &f, &node);
	if (r < 0)
		return r;
	ovl_present_new_owner(fs, st.st_mode, uid, gid, &st);
	fill_entry(fs, node, &st, e);
	return 0;
}

/*
 * Rootless without a subordinate range, symlinks, fifos, sockets and devices
 * of other users are created as root's rather than refused: their owner has
 * nowhere to live (ids.c).
 */
static bool owner_optional(enum new_kind kind)
{
	return kind == NEW_SYMLINK || kind == NEW_NODE;
}

/*
 * Gives a new object (not a hard link) its requester's owner.  chown clears
 * setuid and setgid on non-directories, which the creator asked for and the
 * kernel gives: they are put back.
 */
static int new_object_owner(struct ovl_fs *fs, int dirfd, const char *name, struct new_entry *ne, uid_t uid,
			    gid_t gid)
{
	int r = ovl_set_owner(fs, ne->ret_fd, dirfd, name, uid, gid);

	if (r == -EPERM && owner_optional(ne->kind))
		return 0;
	/* a real chown happened: privileged, or a special file's subordinate owner (ids.c) */
	bool chowned = fs->privileged || (fs->special_owners && ne->kind == NEW_NODE);

	if (r < 0 || !chowned || ne->kind == NEW_DIR || !(ne->mode & (S_ISUID | S_ISGID)))
		return r;
	r = ne->ret_fd >= 0 ? fchmod(ne->ret_fd, ne->mode & 07777) : fchmodat(dirfd, name, ne->mode & 07777, 0);
	return r < 0 ? -errno : 0;
}

/*
 * Made in the work dir and renamed over the upper layer's whiteout of `name`:
 * the lower name never shows through, not even for a moment.
 */
static int create_over_whiteout(struct ovl_fs *fs, int pfd, const char *name, struct new_entry *ne, uid_t uid,
				gid_t gid)
{
	char tmp[64];
	int r;

	ovl_work_name(tmp, sizeof(tmp));
	r = make_object(fs, fs->workfd, tmp, ne);
	if (r < 0)
		return r;
	if (ne->kind != NEW_LINK)
		r = new_object_owner(fs, fs->workfd, tmp, ne, uid, gid);
	if (r == 0 && ne->kind == NEW_DIR) {
		_cleanup_close_ int dfd = openat(fs->workfd, tmp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = dfd < 0 ? -errno : layer_dir_set_opaque(dfd, fs->xns);
	}
	if (r == 0 && ne->kind == NEW_DIR) {
		/* rename cannot put a directory over a whiteout: exchange, then drop the whiteout */
		if (renameat2(fs->workfd, tmp, pfd, name, RENAME_EXCHANGE) < 0)
			r = -errno;
		else
			(void) unlinkat(fs->workfd, tmp, 0);
	} else if (r == 0 && renameat(fs->workfd, tmp, pfd, name) < 0) {
		r = -errno;
	}
	if (r < 0) {
		(void) unlinkat(fs->workfd, tmp, ne->kind == NEW_DIR ? AT_REMOVEDIR : 0);
		if (ne->ret_fd >= 0)
			close(ne->ret_fd);
		ne->ret_fd = -1;
	}
	return r;
}

static int ovl_do_create(fuse_req_t req, struct ovl_fs *fs, struct ovl_node *parent, const char *name,
			 struct new_entry *ne, struct fuse_entry_param *e)
{
	_cleanup_dirpin_ struct ovl_dirpin ppin = OVL_DIRPIN_INIT;
	struct ovl_found f;
	uid_t uid;
	gid_t gid;
	int pfd, r;

	if (fs->read_only)
		return -EROFS;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	ne->ret_fd = -1;
	if (layer_name_is_format(name))
		return -EINVAL; /* stored, it would read as a whiteout (fuse-overlayfs refuses it so on create) */
	if (ne->kind == NEW_LINK) {
		r = ovl_copy_up(fs, ne->source, false);
		if (r < 0)
			return r;
	}
	pfd = ovl_upper_dir(fs, parent, &ppin);
	if (pfd < 0)
		return pfd;
	requester_ids(req, fs, parent, &uid, &gid);
	/* The server's own ids are what a new object gets anyway: no chown, no xattr to write. */
	bool default_owner = ovl_owner_is_default(fs, uid, gid);

	/*
	 * The kernel asks to create only a name its dentry cache holds as absent,
	 * under the parent's lock, and names change only through this daemon: the
	 * object goes straight into the upper directory.  Only when that name is
	 * taken there (a whiteout over a lower name) are the layers looked at.  A
	 * ".wh.NAME" marker would hide the new object beside it: it becomes the
	 * kernel's whiteout first, which the object then replaces.
	 */
	r = ovl_marker_to_whiteout(fs, pfd, name);
	if (r < 0)
		return r;
	r = make_object(fs, pfd, name, ne);
	if (r == -EEXIST) {
		r = ovl_lookup_name(fs, parent, name, &f);
		ovl_found_release(fs, &f);
		if (r < 0)
			return r;
		if (f.layer >= 0 || !f.upper_whiteout)
			return -EEXIST;
		r = create_over_whiteout(fs, pfd, name, ne, uid, gid);
		if (r < 0)
			return r;
	} else if (r < 0) {
		return r;
	} else if (ne->kind != NEW_LINK && !default_owner) {
		r = new_object_owner(fs, pfd, name, ne, uid, gid);
		if (r < 0)
			goto undo;
	}
	ovl_dir_listing_drop(fs, parent);
	r = ne->kind == NEW_LINK ? do_lookup(fs, parent, name, e) : new_entry_reply(fs, parent, name, ne, pfd, uid, gid, e);
	if (r < 0)
		goto undo;
	return 0;
undo:
	(void) unlinkat(pfd, name, ne->kind == NEW_DIR ? AT_REMOVEDIR : 0);
	if (ne->ret_fd >= 0)
		close(ne->ret_fd);
	ne->ret_fd = -1;
	return r;
}

static void ovl_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct new_entry ne = { .kind = NEW_NODE, .mode = mode, .rdev = rdev };
	struct fuse_entry_param e;
	int r;

	if (S_ISREG(mode)) {
		ne.kind = NEW_FILE;
		ne.open_flags = O_WRONLY;
	}
	if (S_ISCHR(mode) && rdev == makedev(0, 0)) {
		fuse_reply_err(req, EPERM); /* that is a whiteout in the upper layer: the kernel refuses it too */
		return;
	}
	r = ovl_do_create(req, FS(req), NODE(req, parent), name, &ne, &e);
	if (ne.ret_fd >= 0)
		close(ne.ret_fd);
	reply_entry_or_err(req, &e, r);
}

static void ovl_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct new_entry ne = { .kind = NEW_DIR, .mode = mode };
	struct fuse_entry_param e;
	int r = ovl_do_create(req, FS(req), NODE(req, parent), name, &ne, &e);

	reply_entry_or_err(req, &e, r);
}

static void ovl_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct new_entry ne = { .kind = NEW_SYMLINK, .target = link };
	struct fuse_entry_param e;
	int r = ovl_do_create(req, FS(req), NODE(req, parent), name, &ne, &e);

	reply_entry_or_err(req, &e, r);
}

static void ovl_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct new_entry ne = { .kind = NEW_LINK, .source = NODE(req, ino) };
	struct fuse_entry_param e;
	int r;

	if (S_ISDIR(ne.source->type)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	r = ovl_do_create(req, FS(req), NODE(req, newparent), newname, &ne, &e);
	reply_entry_or_err(req, &e, r);
}

/*
 * A new handle counted among the node's opens (under fs->lock, with the
 * decision whether the kernel does its I/O itself), and the reply's fields.
 */
static void handle_opened(fuse_req_t req, struct ovl_node *node, struct ovl_handle *h, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = FS(req);
	struct stat st;
	bool upper;

	fi->fh = (uint64_t) (uintptr_t) h;
	fi->keep_cache = 1; /* the layers change only through this daemon */
	/*
	 * The handle's layer, not the node's: a copy-up may have moved the node
	 * since h->fd was opened.  And its inode: a rename over the name it was
	 * opened by could have given it another file, which as the backing file
	 * would serve every later open of the node.
	 */
	upper = __atomic_load_n(&fs->passthrough, __ATOMIC_RELAXED) && h->layer == OVL_UPPER && fstat(h->fd, &st) == 0;
	pthread_mutex_lock(&fs->lock);
	upper = upper && st.st_dev == node->key_dev && st.st_ino == node->key_ino;
	h->backing_id = ovl_passthrough_open_locked(fs, req, node, upper ? h->fd : -1);
	node->open_count++;
	pthread_mutex_unlock(&fs->lock);
	if (h->backing_id > 0)
		ovl_passthrough_set(fi, h->backing_id);
}

/* The kernel's reference to a handle gone (RELEASE, or an open reply that did not arrive). */
static void handle_closed(fuse_req_t req, struct ovl_node *node, struct ovl_handle *h)
{
	struct ovl_fs *fs = FS(req);
	int id = 0;

	pthread_mutex_lock(&fs->lock);
	node->open_count--;
	if (h->backing_id > 0)
		id = ovl_passthrough_release_locked(fs, node);
	pthread_mutex_unlock(&fs->lock);
	ovl_passthrough_close(req, id);
	handle_put(h);
}

static void ovl_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = FS(req);
	struct new_entry ne = { .kind = NEW_FILE, .mode = mode, .open_flags = fi->flags };
	struct fuse_entry_param e;
	struct ovl_handle *h;
	int r = ovl_do_create(req, fs, NODE(req, parent), name, &ne, &e);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	/*
	 * Without open support the kernel sends no RELEASE, not even for a file
	 * it created: a handle would never be freed, its fd never closed (and a
	 * removed file's space never given back).  I/O then goes by node.
	 */
	if (fs->no_open) {
		close(ne.ret_fd);
		fi->fh = 0;
		fi->keep_cache = 1;
		if (fuse_reply_create(req, &e, fi) == -ENOENT)
			ovl_node_forget(fs, NODE(req, e.ino), 1);
		return;
	}
	h = handle_new(ne.ret_fd, O_RDWR, OVL_UPPER, copyup_gen(NODE(req, e.ino)));
	if (!h) {
		close(ne.ret_fd);
		ovl_node_forget(fs, NODE(req, e.ino), 1);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	handle_opened(req, NODE(req, e.ino), h, fi);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		handle_closed(req, NODE(req, e.ino), h);
		ovl_node_forget(fs, NODE(req, e.ino), 1);
	}
}

/* ---- removing entries ---- */

/*
 * Before a non-directory loses its last known name: an O_PATH fd to the real
 * object, so that fstat/fchmod/ftruncate of a handle still open work once the
 * name is gone.  -1 when not needed.
 */
static int orphan_fd_open(struct ovl_fs *fs, struct ovl_node *node, struct ovl_node *parent, int layer,
			  const char *name)
{
	_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
	bool last;
	int dfd;

	if (!node || S_ISDIR(node->type))
		return -1;
	pthread_mutex_lock(&fs->lock);
	/* Only a file still open can be reached once nameless (mmap holds its file open too); without handles, any. */
	last = (node->open_count > 0 || fs->no_open) && node->aliases && !node->aliases->next &&
	       node->aliases->parent == parent && strcmp(node->aliases->name, name) == 0 && node->orphan_fd < 0;
	pthread_mutex_unlock(&fs->lock);
	dfd = last ? ovl_dir_pin(fs, parent, layer, &pin) : -1;
	return dfd < 0 ? -1 : openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

/* After the removal of `name`: the node loses that alias, and keeps ofd (or closes it). */
static void node_removed(struct ovl_fs *fs, struct ovl_node *node, struct ovl_node *parent, const char *name,
			 bool dead, int ofd)
{
	pthread_mutex_lock(&fs->lock);
	ovl_node_del_alias_locked(fs, node, parent, name);
	/* a lower file's node stands for one name: without it, it is gone from the view */
	if (dead || (node->layer != OVL_UPPER && !S_ISDIR(node->type) && !node->aliases))
		ovl_node_set_dead_locked(fs, node);
	if (ofd >= 0 && node->orphan_fd < 0 && !node->aliases) {
		node->orphan_fd = ofd;
		ofd = -1;
	}
	pthread_mutex_unlock(&fs->lock);
	if (ofd >= 0)
		close(ofd);
}

/* The live node of the object f found under parent/name, with a reference; NULL when the kernel holds none. */
static struct ovl_node *node_ref_found(struct ovl_fs *fs, const struct ovl_found *f, struct ovl_node *parent,
				       const char *name)
{
	struct ovl_node *node;

	if (f->layer < 0)
		return NULL;
	pthread_mutex_lock(&fs->lock);
	node = ovl_node_find_alias_locked(fs, f->st.st_dev, f->st.st_ino, parent, name);
	if (node && node->type != (f->st.st_mode & S_IFMT))
		node = NULL; /* a node of an inode number reused behind our back: not this object */
	if (node)
		node->refs++;
	pthread_mutex_unlock(&fs->lock);
	return node;
}

static int ovl_do_remove(struct ovl_fs *fs, struct ovl_node *parent, const char *name, bool dir)
{
	_cleanup_dirpin_ struct ovl_dirpin ppin = OVL_DIRPIN_INIT, npin = OVL_DIRPIN_INIT;
	struct ovl_found f;
	struct ovl_node *node;
	char tmp[64];
	int pfd, ofd = -1, r;

	if (fs->read_only)
		return -EROFS;
	r = ovl_lookup_name(fs, parent, name, &f);
	ovl_found_release(fs, &f);
	if (r < 0)
		return r;
	if (f.layer < 0)
		return -ENOENT;
	if (dir && !S_ISDIR(f.st.st_mode))
		return -ENOTDIR;
	if (!dir && S_ISDIR(f.st.st_mode))
		return -EISDIR;

	node = node_ref_found(fs, &f, parent, name);
	if (dir) {
		if (!node)
			return -ENOENT; /* the kernel looks a directory up before rmdir */
		r = ovl_dir_check_empty(fs, node);
		if (r < 0)
			goto out;
		/* its upper fd stays open while it goes: it is kept for whoever still uses the removed directory */
		if (f.layer == OVL_UPPER && (r = ovl_dir_pin(fs, node, OVL_UPPER, &npin)) < 0)
			goto out;
	}
	pfd = ovl_upper_dir(fs, parent, &ppin);
	if (pfd < 0) {
		r = pfd;
		goto out;
	}
	if (f.layer == OVL_UPPER && dir) {
		/*
		 * Out of the way in one rename (leaving a whiteout when a lower name is
		 * below), then removed with what it still holds: whiteouts of either
		 * form, other names of the format (".wh..wh.plnk/" may be a directory).
		 */
		ovl_work_name(tmp, sizeof(tmp));
		if (f.in_lower) {
			r = ovl_make_work_whiteout(fs, tmp);
			if (r < 0)
				goto out;
			r = renameat2(fs->workfd, tmp, pfd, name, RENAME_EXCHANGE) < 0 ? -errno : 0;
		} else {
			r = renameat(pfd, name, fs->workfd, tmp) < 0 ? -errno : 0;
		}
		if (r < 0) {
			(void) unlinkat(fs->workfd, tmp, 0);
			goto out;
		}
		(void) rm_rf_at(fs->workfd, tmp);
	} else {
		ofd = orphan_fd_open(fs, node, parent, f.layer, name);
		if (f.layer == OVL_UPPER && !f.in_lower)
			r = unlinkat(pfd, name, 0) < 0 ? -errno : 0;
		else
			r = ovl_make_whiteout(fs, pfd, name);
	}
	if (r == 0)
		ovl_dir_listing_drop(fs, parent);
	if (r == 0 && node) {
		/* Gone for good (its inode number may come back); an upper file under another name lives on. */
		node_removed(fs, node, parent, name, dir || (f.layer == OVL_UPPER && f.st.st_nlink <= 1), ofd);
		ofd = -1;
	}
	if (ofd >= 0)
		close(ofd);
out:
	ovl_dir_unpin(&npin);
	if (node) {
		pthread_mutex_lock(&fs->lock);
		ovl_node_unref_locked(fs, node);
		pthread_mutex_unlock(&fs->lock);
	}
	return r < 0 ? r : 0;
}

static void ovl_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -ovl_do_remove(FS(req), NODE(req, parent), name, false));
}

static void ovl_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -ovl_do_remove(FS(req), NODE(req, parent), name, true));
}

/* ---- rename ---- */

/*
 * The path of a directory's lower part, from the layer root ("/a/b"), as the
 * kernel computes it: an absolute redirect on the way up ends the walk, a
 * relative one stands in for its directory's name.
 */
static int lower_path(struct ovl_fs *fs, struct ovl_node *node, char *buf, size_t size)
{
	struct ovl_node *parent;
	char name[NAME_MAX + 1], own[NAME_MAX + 1];
	int kind = 0; /* 0: no redirect, 1: relative (in name), 2: absolute (in buf), -1: too long */
	size_t n;
	int r;

	if (node == fs->root) {
		buf[0] = '\0';
		return 0;
	}
	pthread_mutex_lock(&fs->lock);
	if (ovl_dir(node)->redirect && ovl_dir(node)->redirect[0] == '/') {
		kind = strlen(ovl_dir(node)->redirect) < size ? 2 : -1;
		if (kind == 2)
			strcpy(buf, ovl_dir(node)->redirect);
	} else if (ovl_dir(node)->redirect) {
		kind = strlen(ovl_dir(node)->redirect) < sizeof(name) ? 1 : -1;
		if (kind == 1)
			strcpy(name, ovl_dir(node)->redirect);
	}
	pthread_mutex_unlock(&fs->lock);
	if (kind < 0)
		return -ENAMETOOLONG;
	if (kind == 2)
		return 0;
	r = ovl_node_first_alias(fs, node, &parent, own, sizeof(own));
	if (r < 0)
		return r;
	if (kind == 0)
		strcpy(name, own);
	r = lower_path(fs, parent, buf, size);
	if (r < 0)
		return r;
	n = strlen(buf);
	if (n + 1 + strlen(name) + 1 > size)
		return -ENAMETOOLONG;
	buf[n] = '/';
	strcpy(buf + n + 1, name);
	return 0;
}

/*
 * A directory with a lower part that moves records where that part lives, as
 * the kernel does: within the same parent its old name (relative), else the
 * absolute lower path; a redirect it has already is kept when it still holds
 * (absolute, or relative and the parent stays).
 */
static int set_redirect(struct ovl_fs *fs, struct ovl_node *dir, bool samedir)
{
	_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
	char path[PATH_MAX];
	struct ovl_node *parent;
	bool keep;
	char *copy;
	int fd, r;

	if (!ovl_dir(dir)->nlower)
		return 0;
	pthread_mutex_lock(&fs->lock);
	keep = ovl_dir(dir)->redirect && (samedir || ovl_dir(dir)->redirect[0] == '/');
	pthread_mutex_unlock(&fs->lock);
	if (keep)
		return 0;
	if (samedir)
		r = ovl_node_first_alias(fs, dir, &parent, path, sizeof(path));
	else
		r = lower_path(fs, dir, path, sizeof(path));
	if (r == -ENAMETOOLONG)
		return -EXDEV; /* a redirect that cannot be written: mv(1) copies instead, as with the kernel */
	if (r < 0)
		return r;
	fd = ovl_upper_dir(fs, dir, &pin);
	if (fd < 0)
		return fd;
	r = layer_dir_set_redirect(fd, fs->xns, path);
	if (r < 0)
		return r == -E2BIG || r == -ENOSPC ? -EXDEV : r;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&fs->lock);
	free(ovl_dir(dir)->redirect);
	ovl_dir(dir)->redirect = copy;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

static bool presents_origin(struct ovl_fs *fs, struct ovl_node *node)
{
	bool r;

	pthread_mutex_lock(&fs->lock);
	r = node->ino != ovl_present_ino(fs, OVL_UPPER, node->key_ino);
	pthread_mutex_unlock(&fs->lock);
	return r;
}

static void node_unref(struct ovl_fs *fs, struct ovl_node *node)
{
	if (!node)
		return;
	pthread_mutex_lock(&fs->lock);
	ovl_node_unref_locked(fs, node);
	pthread_mutex_unlock(&fs->lock);
}

static int ovl_do_rename(struct ovl_fs *fs, struct ovl_node *parent, const char *name, struct ovl_node *newparent,
			 const char *newname, unsigned flags)
{
	_cleanup_dirpin_ struct ovl_dirpin spin = OVL_DIRPIN_INIT, dpin = OVL_DIRPIN_INIT, opin = OVL_DIRPIN_INIT,
					   dstpin = OVL_DIRPIN_INIT;
	struct ovl_found sf, df;
	struct ovl_node *src = NULL, *dst = NULL;
	bool exchange = flags & RENAME_EXCHANGE, locked = false;
	int spfd, dpfd, dofd = -1, r;

	if (fs->read_only)
		return -EROFS;
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (strlen(newname) > NAME_MAX)
		return -ENAMETOOLONG;
	if (layer_name_is_format(newname))
		return -EINVAL; /* as for a create: stored, the name would read as a whiteout */
	r = ovl_lookup_name(fs, parent, name, &sf);
	ovl_found_release(fs, &sf);
	if (r < 0)
		return r;
	r = ovl_lookup_name(fs, newparent, newname, &df);
	ovl_found_release(fs, &df);
	if (r < 0)
		return r;
	if (sf.layer < 0)
		return -ENOENT;
	if (parent == newparent && strcmp(name, newname) == 0)
		return 0;
	if ((flags & RENAME_NOREPLACE) && df.layer >= 0)
		return -EEXIST;
	if (exchange && df.layer < 0)
		return -ENOENT;

	src = node_ref_found(fs, &sf, parent, name);
	dst = node_ref_found(fs, &df, newparent, newname);
	if (!src || (df.layer >= 0 && !dst && S_ISDIR(df.st.st_mode))) {
		r = -ENOENT; /* the kernel looked both up before renaming */
		goto out;
	}
	if (!exchange && df.layer >= 0) {
		if (S_ISDIR(sf.st.st_mode) && !S_ISDIR(df.st.st_mode)) {
			r = -ENOTDIR;
			goto out;
		}
		if (!S_ISDIR(sf.st.st_mode) && S_ISDIR(df.st.st_mode)) {
			r = -EISDIR;
			goto out;
		}
		if (S_ISDIR(df.st.st_mode) && (r = ovl_dir_check_empty(fs, dst)) < 0)
			goto out;
	}

	/* Both ends in the upper layer: copy-up, and a redirect for directories with a lower part. */
	r = ovl_copy_up(fs, src, false);
	if (r == 0 && S_ISDIR(src->type))
		r = set_redirect(fs, src, parent == newparent);
	if (r == 0 && exchange) {
		r = ovl_copy_up(fs, dst, false);
		if (r == 0 && S_ISDIR(dst->type))
			r = set_redirect(fs, dst, parent == newparent);
	}
	if (r < 0)
		goto out;
	spfd = ovl_upper_dir(fs, parent, &spin);
	dpfd = spfd < 0 ? spfd : ovl_upper_dir(fs, newparent, &dpin);
	if (spfd < 0 || dpfd < 0) {
		r = spfd < 0 ? spfd : dpfd;
		goto out;
	}
	/* a ".wh.NEWNAME" marker would hide what arrives: the kernel's whiteout instead, replaced as one */
	if (!exchange && df.upper_marker && (r = ovl_marker_to_whiteout(fs, dpfd, newname)) < 0)
		goto out;
	r = 0;

	if (exchange) {
		/* Each directory without a lower part of its own must not merge with what lies below its new name. */
		if (S_ISDIR(src->type) && !ovl_dir(src)->nlower && (df.in_lower || df.upper_whiteout)) {
			int fd = ovl_upper_dir(fs, src, &opin);
			r = fd < 0 ? fd : layer_dir_set_opaque(fd, fs->xns);
			ovl_dir_unpin(&opin);
		}
		if (r == 0 && S_ISDIR(dst->type) && !ovl_dir(dst)->nlower && (sf.in_lower || sf.upper_whiteout)) {
			int fd = ovl_upper_dir(fs, dst, &opin);
			r = fd < 0 ? fd : layer_dir_set_opaque(fd, fs->xns);
			ovl_dir_unpin(&opin);
		}
		if (r == 0) {
			/* names of upper directories change: no reopen by name meanwhile */
			pthread_rwlock_wrlock(&fs->rename_lock);
			locked = true;
			r = renameat2(spfd, name, dpfd, newname, RENAME_EXCHANGE) < 0 ? -errno : 0;
		}
	} else {
		bool need_whiteout = sf.in_lower;
		bool dst_upper_dir = df.layer == OVL_UPPER && S_ISDIR(df.st.st_mode);

		/* A directory without a lower part of its own must not merge with what lies below the new name. */
		if (S_ISDIR(src->type) && !ovl_dir(src)->nlower && (df.in_lower || df.upper_whiteout)) {
			int sfd = ovl_upper_dir(fs, src, &opin);
			r = sfd < 0 ? sfd : layer_dir_set_opaque(sfd, fs->xns);
			ovl_dir_unpin(&opin);
			if (r < 0)
				goto out;
		}
		/* a replaced upper directory keeps its fd open for whoever still uses it (it becomes held) */
		if (dst_upper_dir && dst && (r = ovl_dir_pin(fs, dst, OVL_UPPER, &dstpin)) < 0)
			goto out;
		r = 0;
		dofd = orphan_fd_open(fs, dst, newparent, df.layer, newname);
		pthread_rwlock_wrlock(&fs->rename_lock);
		locked = true;
		if (dst_upper_dir || (df.upper_whiteout && S_ISDIR(src->type))) {
			/* The empty target (or a whiteout a directory cannot replace) goes to the work dir first. */
			char tmp[64];
			ovl_work_name(tmp, sizeof(tmp));
			if (renameat2(dpfd, newname, fs->workfd, tmp, 0) < 0) {
				r = -errno;
				goto out;
			}
			(void) rm_rf_at(fs->workfd, tmp); /* with the whiteouts and markers an empty directory holds */
		}
		r = renameat2(spfd, name, dpfd, newname, need_whiteout ? RENAME_WHITEOUT : 0) < 0 ? -errno : 0;
		if (r == -EINVAL && need_whiteout) {
			/* No RENAME_WHITEOUT here: rename, then whiteout the old name. */
			r = renameat(spfd, name, dpfd, newname) < 0 ? -errno : ovl_make_whiteout(fs, spfd, name);
		}
	}
	if (r < 0)
		goto out;
	/* What presents another inode number than its upper one (its origin's): its new parent maps d_ino. */
	if (presents_origin(fs, src))
		ovl_mark_impure(fs, dpfd);
	if (exchange && presents_origin(fs, dst))
		ovl_mark_impure(fs, spfd);

	ovl_dir_listing_drop(fs, parent);
	ovl_dir_listing_drop(fs, newparent);
	if (dst && !exchange) {
		node_removed(fs, dst, newparent, newname,
			     S_ISDIR(dst->type) || (df.layer == OVL_UPPER && df.st.st_nlink <= 1), dofd);
		dofd = -1;
	}
	pthread_mutex_lock(&fs->lock);
	ovl_node_del_alias_locked(fs, src, parent, name);
	(void) ovl_node_add_alias_locked(src, newparent, newname);
	if (dst && exchange) {
		ovl_node_del_alias_locked(fs, dst, newparent, newname);
		(void) ovl_node_add_alias_locked(dst, parent, name);
	}
	pthread_mutex_unlock(&fs->lock);
out:
	if (locked)
		pthread_rwlock_unlock(&fs->rename_lock);
	ovl_dir_unpin(&dstpin);
	if (dofd >= 0)
		close(dofd);
	node_unref(fs, src);
	node_unref(fs, dst);
	return r;
}

static void ovl_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	fuse_reply_err(req, -ovl_do_rename(FS(req), NODE(req, parent), name, NODE(req, newparent), newname, flags));
}

/* ---- files ---- */

static void ovl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = FS(req);
	struct ovl_node *node = NODE(req, ino);
	struct ovl_handle *h;
	int flags = fi->flags, fd, layer;
	unsigned gen;

	/*
	 * Once answered ENOSYS the kernel opens and releases files without us:
	 * two round trips fewer per open(2); I/O then comes by node.
	 */
	if (fs->no_open) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (fs->read_only && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))) {
		fuse_reply_err(req, EROFS);
		return;
	}
	/* With the writeback cache the kernel reads to fill pages and does appends itself. */
	if (fs->writeback && (flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	if (fs->writeback)
		flags &= ~O_APPEND;
	/* before the open: a copy-up between the two makes the handle follow it up at its first use */
	gen = copyup_gen(node);
	fd = ovl_open_real(fs, node, flags, &layer);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	h = handle_new(fd, flags, layer, gen);
	if (!h) {
		close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	handle_opened(req, node, h, fi);
	if (fuse_reply_open(req, fi) == -ENOENT)
		handle_closed(req, node, h);
}

/*
 * The fd of a handle for one request.  A read-only handle opened on a lower
 * file before a copy-up follows the file into the upper layer, so that it
 * reads what was written since (by name, or, removed since, through the fd
 * kept at its removal).  The lower fd stays open until release, as
 * kernel overlayfs keeps its lower real file: a request that took it just
 * before may still be about to use it, and a closed number could meanwhile be
 * reused by any open (it would read another file).  A handle moves up once,
 * so one fd is kept at most.
 */
static int handle_fd(struct ovl_fs *fs, struct ovl_node *node, struct ovl_handle *h)
{
	unsigned gen = copyup_gen(node);
	int fd;

	pthread_mutex_lock(&h->lock);
	if (h->gen != gen && h->layer != OVL_UPPER) {
		int layer = -1, nfd = ovl_open_node_io(fs, node, h->flags & ~O_TRUNC, &layer);
		if (nfd >= 0 && layer == OVL_UPPER && h->lower_fd < 0) {
			h->lower_fd = h->fd;
			h->fd = nfd;
			h->layer = OVL_UPPER;
		} else if (nfd >= 0) {
			close(nfd); /* not up after all: the handle stays as it is */
		}
		if (nfd >= 0)
			h->gen = gen; /* else tried again next time */
	}
	fd = h->fd;
	pthread_mutex_unlock(&h->lock);
	return fd;
}

/*
 * The fd a request works on: its handle's, or, without handles (no_open), one
 * opened for this request and left in *own for the caller to close.
 */
static int request_fd(fuse_req_t req, fuse_ino_t ino, struct ovl_handle *h, bool writes, int *own)
{
	if (h)
		return handle_fd(FS(req), NODE(req, ino), h); /* a writable one is in the upper layer already */
	*own = ovl_open_node_io(FS(req), NODE(req, ino), writes ? O_RDWR : O_RDONLY, NULL);
	return *own;
}

static void ovl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	_cleanup_handle_ struct ovl_handle *h = handle_use(fi);
	_cleanup_close_ int own = -1;
	int fd = request_fd(req, ino, h, false, &own);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void ovl_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			  struct fuse_file_info *fi)
{
	_cleanup_handle_ struct ovl_handle *h = handle_use(fi);
	_cleanup_close_ int own = -1;
	int fd = request_fd(req, ino, h, true, &own);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t n;

	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	if (n < 0)
		fuse_reply_err(req, (int) -n);
	else
		fuse_reply_write(req, (size_t) n);
}

static void ovl_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ovl_handle *h = (struct ovl_handle *) (uintptr_t) fi->fh;

	if (h)
		handle_closed(req, NODE(req, ino), h); /* the kernel's reference: requests still replying hold their own */
	fuse_reply_err(req, 0);
}

static void ovl_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	_cleanup_handle_ struct ovl_handle *h = handle_use(fi);
	_cleanup_close_ int own = -1;
	int fd, r;

	if (FS(req)->no_fsync) {
		fuse_reply_err(req, 0); /* volatile: what is written reaches the disk when the kernel decides */
		return;
	}
	fd = request_fd(req, ino, h, false, &own);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	r = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

static void ovl_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	_cleanup_handle_ struct ovl_handle *h = handle_use(fi);
	_cleanup_close_ int own = -1;
	int fd = request_fd(req, ino, h, true, &own);

	if (fd < 0)
		fuse_reply_err(req, -fd);
	else
		fuse_reply_err(req, fallocate(fd, mode, off, len) < 0 ? errno : 0);
}

static void ovl_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
				fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len, int flags)
{
	_cleanup_handle_ struct ovl_handle *h_in = handle_use(fi_in), *h_out = handle_use(fi_out);
	_cleanup_close_ int own_in = -1;
	_cleanup_close_ int own_out = -1;
	int in = request_fd(req, ino_in, h_in, false, &own_in);
	int out = in < 0 ? in : request_fd(req, ino_out, h_out, true, &own_out);
	ssize_t n;

	if (out < 0) {
		fuse_reply_err(req, -out);
		return;
	}
	n = copy_file_range(in, &off_in, out, &off_out, len, (unsigned) flags);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t) n);
}

static void ovl_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	_cleanup_handle_ struct ovl_handle *h = handle_use(fi);
	_cleanup_close_ int own = -1;
	int fd = request_fd(req, ino, h, false, &own);
	off_t r;

	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	r = lseek(fd, off, whence);
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

/* ---- directories ---- */

/*
 * No opendir: the kernel then keeps listings itself (FOPEN_CACHE_DIR) and
 * drops them when it changes the directory through us; readdir serves the
 * node's listing, whose offsets are name hashes and stay valid across calls.
 */
static void ovl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = FS(req);

	(void) ino;
	if (fs->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->fh = 0;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct ovl_fs *fs = FS(req);
	struct ovl_node *dir = NODE(req, ino);
	/* not cleared: fuse_add_direntry*() write whole entries, padding included, and only those are sent */
	_cleanup_free_ char *buf = malloc(size);
	struct ovl_dirlist *l = NULL;
	size_t used = 0, i;
	int r;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = ovl_dir_listing_get(fs, dir, &l);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	for (i = ovl_dirlist_seek(l, (uint64_t) off); i < l->n; i++) {
		struct ovl_dirent *de = &l->ents[i];
		size_t n;

		if (plus) {
			struct fuse_entry_param e;
			bool dot = strcmp(de->name, ".") == 0 || strcmp(de->name, "..") == 0;

			if (dot) {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = de->ino;
				e.attr.st_mode = de->type;
			} else if (do_lookup(fs, dir, de->name, &e) < 0) {
				continue; /* removed since the listing was made */
			}
			n = fuse_add_direntry_plus(req, buf + used, size - used, de->name, &e, (off_t) de->off);
			if (n > size - used) {
				if (!dot)
					ovl_node_forget(fs, NODE(req, e.ino), 1);
				break;
			}
		} else {
			struct stat st = { .st_ino = de->ino, .st_mode = de->type };
			n = fuse_add_direntry(req, buf + used, size - used, de->name, &st, (off_t) de->off);
			if (n > size - used)
				break;
		}
		used += n;
	}
	/* Served to the end: the kernel holds it now; a rebuild is cheap if it asks again. */
	if (i == l->n && used == 0)
		ovl_dir_listing_uncache(fs, dir, l);
	ovl_dir_listing_put(fs, l);
	fuse_reply_buf(req, buf, used);
}

static void ovl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void) fi;
	do_readdir(req, ino, size, off, false);
}

static void ovl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void) fi;
	do_readdir(req, ino, size, off, true);
}

static void ovl_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void) ino;
	(void) fi;
	fuse_reply_err(req, 0);
}

static void ovl_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = FS(req);
	_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
	int ufd = ovl_dir_pin(fs, NODE(req, ino), OVL_UPPER, &pin);
	_cleanup_close_ int fd = -1;

	(void) fi;
	if (ufd < 0 || fs->no_fsync) {
		fuse_reply_err(req, 0); /* nothing of it in the upper layer to sync, or volatile */
		return;
	}
	fd = openat(ufd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (datasync ? fdatasync(fd) : fsync(fd)) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_err(req, 0);
}

static void ovl_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct ovl_fs *fs = FS(req);
	int fd = fs->read_only ? fs->layers[1].fd : fs->layers[OVL_UPPER].fd;
	char path[64];
	struct statvfs sv;

	(void) ino;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (statvfs(path, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* ---- xattrs ---- */

/* A path naming the node's real object, valid while *pin is held. */
static int xattr_path(struct ovl_fs *fs, struct ovl_node *node, char *path, size_t size, struct ovl_dirpin *pin)
{
	char name[NAME_MAX + 1];
	int pfd, r;

	ovl_dir_unpin(pin);
	if (S_ISDIR(node->type)) {
		int fd = ovl_dir_pin(fs, node, OVL_TOP, pin);
		if (fd < 0)
			return fd;
		/* "/." so that the l*xattr calls act on the directory, not on the /proc magic link */
		snprintf(path, size, "/proc/self/fd/%d/.", fd);
		return 0;
	}
	r = real_location(fs, node, &pfd, name, sizeof(name), pin);
	if (r < 0)
		return r;
	snprintf(path, size, "/proc/self/fd/%d/%s", pfd, name);
	return 0;
}

static void ovl_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
			 int flags)
{
	_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
	struct ovl_fs *fs = FS(req);
	struct ovl_node *node = NODE(req, ino);
	char path[64 + NAME_MAX], real[XATTR_NAME_MAX + 16];
	int r;

	if (fs->no_xattr || fs->read_only) {
		fuse_reply_err(req, fs->no_xattr ? ENOSYS : EROFS);
		return;
	}
	r = layer_xattr_to_real(name, real, sizeof(real));
	if (r == 0)
		r = ovl_copy_up(fs, node, false);
	if (r == 0)
		r = xattr_path(fs, node, path, sizeof(path), &pin);
	if (r == 0 && lsetxattr(path, real, value, size, flags) < 0)
		r = -errno;
	fuse_reply_err(req, -r);
}

static void ovl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
	struct ovl_fs *fs = FS(req);
	char path[64 + NAME_MAX], real[XATTR_NAME_MAX + 16];
	_cleanup_free_ char *buf = NULL;
	ssize_t n;
	int r;

	if (fs->no_xattr) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (layer_xattr_to_real(name, real, sizeof(real)) < 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	r = xattr_path(fs, NODE(req, ino), path, sizeof(path), &pin);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (size == 0) {
		n = lgetxattr(path, real, NULL, 0);
		if (n < 0)
			fuse_reply_err(req, errno);
		else
			fuse_reply_xattr(req, (size_t) n);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = lgetxattr(path, real, buf, size);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t) n);
}

static void ovl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
	struct ovl_fs *fs = FS(req);
	char path[64 + NAME_MAX], *list = NULL, *out = NULL, shown[XATTR_NAME_MAX + 1];
	size_t used = 0;
	ssize_t n;
	int r;

	if (fs->no_xattr) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	r = xattr_path(fs, NODE(req, ino), path, sizeof(path), &pin);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	/* The list may grow between the two calls: retry on ERANGE. */
	for (int tries = 0;; tries++) {
		n = llistxattr(path, NULL, 0);
		if (n < 0)
			break;
		free(list);
		list = malloc((size_t) n + 1);
		if (!list) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		n = llistxattr(path, list, (size_t) n);
		if (n >= 0 || errno != ERANGE || tries == 3)
			break;
	}
	if (n < 0) {
		r = errno;
		free(list);
		fuse_reply_err(req, r);
		return;
	}
	/* unescaping shortens names: the shown list is never longer than the real one */
	out = malloc((size_t) n + 1);
	if (!out) {
		free(list);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (char *p = list; p < list + n; p += strlen(p) + 1) {
		const char *name = layer_xattr_from_real(p, shown, sizeof(shown));
		if (!name)
			continue;
		memcpy(out + used, name, strlen(name) + 1);
		used += strlen(name) + 1;
	}
	if (size == 0)
		fuse_reply_xattr(req, used);
	else if (used > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, out, used);
	free(list);
	free(out);
}

static void ovl_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
	struct ovl_fs *fs = FS(req);
	struct ovl_node *node = NODE(req, ino);
	char path[64 + NAME_MAX], real[XATTR_NAME_MAX + 16];
	int r;

	if (fs->no_xattr || fs->read_only) {
		fuse_reply_err(req, fs->no_xattr ? ENOSYS : EROFS);
		return;
	}
	if (layer_xattr_to_real(name, real, sizeof(real)) < 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	/* Nothing to remove below: no copy-up for a failure (the kernel checks first too). */
	r = xattr_path(fs, node, path, sizeof(path), &pin);
	if (r == 0 && lgetxattr(path, real, NULL, 0) < 0)
		r = -errno;
	if (r == 0)
		r = ovl_copy_up(fs, node, false);
	if (r == 0)
		r = xattr_path(fs, node, path, sizeof(path), &pin);
	if (r == 0 && lremovexattr(path, real) < 0)
		r = -errno;
	fuse_reply_err(req, -r);
}

/* ---- session ---- */

static void ovl_init(void *userdata, struct fuse_conn_info *conn)
{
	struct ovl_fs *fs = userdata;

	/* Locks stay in the kernel: one mount, one set of lock owners. */
	conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	/* libfuse ends the session at INIT unless this equals the mount's max_read= */
	conn->max_read = fs->max_read;
	/*
	 * Requests are spliced in only through a pipe as large as the largest
	 * request (max_write + a page): larger than pipe-max-size, which only
	 * CAP_SYS_RESOURCE may exceed.  Without it libfuse still grows every
	 * worker's pipe to pipe-max-size before reading the request instead,
	 * 256 pages per thread charged to the user's pipe-user-pages-soft:
	 * a few servers of one user would leave all that user's pipes at their
	 * minimum.  (libfuse asks for it by default: cleared, not just unasked.)
	 * Root is not enough: containers drop CAP_SYS_RESOURCE.
	 */
	if ((conn->capable & FUSE_CAP_SPLICE_READ) && userns_host_capable(CAP_SYS_RESOURCE))
		conn->want |= FUSE_CAP_SPLICE_READ;
	else
		conn->want &= ~FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	fs->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
	ovl_passthrough_init(fs, conn);
	/* passthrough is set up in OPEN's reply: the kernel must ask */
	fs->no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) && !fs->open_handles && !fs->passthrough;
	/* An O_TRUNC left to an OPEN that is never sent would truncate nothing: the kernel sends SETATTR instead. */
	if (fs->no_open)
		conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	if (fs->no_opendir)
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA; /* nobody else changes the layers */
	if (fs->writeback && !fs->passthrough && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		fs->writeback = false;
}

const struct fuse_lowlevel_ops ovl_ops = {
	.init = ovl_init,
	.lookup = ovl_lookup,
	.forget = ovl_forget,
	.forget_multi = ovl_forget_multi,
	.getattr = ovl_getattr,
	.setattr = ovl_setattr,
	.readlink = ovl_readlink,
	.mknod = ovl_mknod,
	.mkdir = ovl_mkdir,
	.symlink = ovl_symlink,
	.link = ovl_link,
	.unlink = ovl_unlink,
	.rmdir = ovl_rmdir,
	.rename = ovl_rename,
	.create = ovl_create,
	.open = ovl_open,
	.read = ovl_read,
	.write_buf = ovl_write_buf,
	/*
	 * No flush: the kernel still writes dirty pages back at close, then stops
	 * sending FLUSH after the first ENOSYS, a round trip saved on every
	 * close(2).  The daemon holds no locks on the real files to drop.
	 */
	.release = ovl_release,
	.fsync = ovl_fsync,
	.fallocate = ovl_fallocate,
	.copy_file_range = ovl_copy_file_range,
	.lseek = ovl_lseek,
	.opendir = ovl_opendir,
	.readdir = ovl_readdir,
	.readdirplus = ovl_readdirplus,
	.releasedir = ovl_releasedir,
	.fsyncdir = ovl_fsyncdir,
	.statfs = ovl_statfs,
	.setxattr = ovl_setxattr,
	.getxattr = ovl_getxattr,
	.listxattr = ovl_listxattr,
	.removexattr = ovl_removexattr,
};
