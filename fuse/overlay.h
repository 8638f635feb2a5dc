/* SPDX-License-Identifier: MIT */
/*
 * The copy-on-write overlay: layers, the node table and the operations that
 * merge them.  Kernel overlayfs semantics and on-disk format (lower and upper
 * layers are also read in containers/storage's ".wh." form, base/layer-format.h;
 * what the server writes is the kernel's): whiteouts are
 * 0/0 character devices, opaque directories carry <prefix>opaque="y", a
 * renamed lower directory carries <prefix>redirect, where <prefix> is
 * "trusted.overlay." (privileged) or "user.overlay." (userxattr).  Directories
 * holding copied-up entries carry <prefix>impure="y" (the kernel then maps d_ino
 * to st_ino there); isofs's own inode-number origin lives in
 * <prefix>isofs.origin, which the kernel ignores and hides.  Xattrs named
 * <prefix>X set through the view are stored escaped, as <prefix>overlay.X,
 * like the kernel does for nested overlays.
 *
 * Lock order: a copy-up lock (ovl_copyup_lock(): one at a time, taken after
 * the parents are copied up, so a stripe shared by two nodes never nests)
 * before ovl_fs.rename_lock before ovl_fs.lock.  ovl_fs.lock (the node table:
 * hash, lookup counts, aliases, backing fields, the directory fd cache and
 * its pins) is a leaf lock held only for in-memory updates, never across I/O
 * or a reply; what a node is given at its creation and never changes (type,
 * nlower and lowers[], a directory's ino) is read without it, and
 * copyup_gen, read by handles on every request, is atomic.  rename_lock is
 * taken for reading while an upper directory is reopened by its names
 * (dircache.c) and for writing across a rename of the upper layer and the
 * alias update that follows, so a reopen never sees one without the other;
 * nothing that may reopen is called under it.
 */
#ifndef ISOFS_OVERLAY_H
#define ISOFS_OVERLAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "idmap.h"
#include "layer-format.h"
#include "stat-override.h"

struct fuse_session;

#define OVL_UPPER 0 /* layer index of the upper layer; lowers are 1..n, top first */
/* Striped copy-up locks: a mutex in every node would be 40 of its ~100 bytes; a copy-up holds one at a time. */
#define OVL_COPYUP_LOCKS 64
/* Buckets of passthrough's backing files: 1 << this (passthrough.c). */
#define OVL_BACKING_BITS 6

struct ovl_layer {
	int fd;     /* O_PATH|O_DIRECTORY of the layer's root; -1 for a missing upper */
	dev_t dev;
	char *path;
	enum stat_override override; /* where owners and modes of its objects may be kept instead */
};

/*
 * A cached directory fd (O_PATH|O_DIRECTORY): the upper part of a directory
 * node, or a lower location.  Open ones are in the fs's LRU, at most
 * fs->dircache_max of them when none is pinned; a borrower pins the slot
 * (ovl_dir_pin) and the evictor closes only unpinned ones, so an fd number is
 * never used after it was closed and reused.  All fields under fs->lock.
 */
struct ovl_dfd {
	int fd;                      /* -1: not open (evicted, or not opened yet) */
	unsigned pins;               /* borrowers using fd now */
	bool held;                   /* kept open outside the cache (layer roots, the root's upper, removed directories) */
	struct ovl_dfd *prev, *next; /* in fs->lru while open and not held, most recent first */
};

/*
 * Where a lower directory is in its layer, by names from the layer's root.
 * Lower layers never change, so a location never moves: an evicted lower fd is
 * reopened from it (whatever the node is called now, however a redirect found
 * it), one name at a time with layer_open_beneath().  Chained, not a path: a
 * lower tree may be deeper than PATH_MAX.
 */
struct ovl_loc {
	struct ovl_loc *parent;      /* NULL: the layer's root */
	unsigned refs;               /* under fs->lock: nodes' parts and child locations */
	int layer;
	struct ovl_dfd dfd;
	char name[];                 /* in parent; "" for a layer's root */
};

struct ovl_lower {
	int layer;
	struct ovl_loc *loc;
};

/* One name of a node: parent directory and entry name (a hard-linked file has several). */
struct ovl_alias {
	struct ovl_alias *next;
	struct ovl_node *parent;
	char name[];
};

/*
 * What only a directory has, allocated with its node (struct ovl_dir_node)
 * and reached by ovl_dir(): most nodes are files, and a walk of a tree keeps
 * one node per entry, so a file's node carries none of it.
 */
struct ovl_dir {
	/* its parts' fds are borrowed with ovl_dir_pin() */
	struct ovl_dfd upper;
	struct ovl_lower *lowers;    /* lower dirs merged below, top first */
	char *redirect;              /* where its lower part lives ("/a/b"), set once renamed */
	struct ovl_dirlist *listing; /* cached merged listing, NULL when none */
	int nlower;
	unsigned listing_gen;        /* bumped at every change of the entries */
	bool has_upper;              /* has an upper part: reopened by its parent's upper part and its name */
	bool opaque;
};

struct ovl_node {
	struct ovl_node *hnext;  /* hash chain, keyed by (key_dev, key_ino) */
	dev_t key_dev;           /* the visible real object */
	ino_t key_ino;
	uint64_t ino;            /* st_ino presented: stable across copy-up, but for a hard-linked lower file's copy */
	uint64_t nlookup;        /* the kernel's references */
	struct ovl_alias *aliases;
	uint32_t refs;           /* children's aliases and borrowers in flight (dircache walks, pins); not open handles */
	int layer;               /* where the visible object lives */
	unsigned copyup_gen;     /* bumped (atomic, under fs->lock) when the backing moves up; open handles reopen */
	int orphan_fd;           /* non-directory that lost its last name while in use: O_PATH (or, written, its copy), else -1 */
	unsigned open_count;     /* open handles (under fs->lock): an orphan fd is needed only while one is open (or, no_open, always) */
	uint16_t type;           /* S_IFMT bits: fixed for the node's life */
	bool dead;               /* removed; kept for open handles and lookups in flight */
};
/* 72 bytes, 80 with malloc's header: one per entry the kernel holds, so every field counts. */
_Static_assert(sizeof(struct ovl_node) <= 72, "struct ovl_node grew");

struct ovl_dir_node {
	struct ovl_node node;
	struct ovl_dir dir;
};

static inline struct ovl_dir *ovl_dir(struct ovl_node *node)
{
	return &((struct ovl_dir_node *) node)->dir; /* node is the first member */
}

struct ovl_fs {
	struct ovl_layer *layers; /* [0] upper, [1..nlayers-1] lowers */
	int nlayers;
	int workfd;               /* O_PATH of workdir/work, -1 read-only */
	/* One whiteout inode in the work dir, linked where whiteouts go (layer.c) */
	pthread_mutex_t whiteout_lock;
	bool whiteout_made;       /* it is there, whiteout_fd its O_PATH fd (under whiteout_lock) */
	int whiteout_fd;
	bool whiteout_unshared;   /* links refused here: every whiteout a new inode (under whiteout_lock) */
	bool read_only;
	bool userxattr;
	enum layer_xns xns;       /* where the layers' metadata lives */
	const char *xprefix;      /* its prefix: "trusted.overlay." or "user.overlay." */
	bool same_fs;             /* every layer on one file system: real st_ino are unique */

	/* Owners (ids.c): privileged stores real owners; rootless, logical ones (user.isofs.owner, subordinate ids). */
	bool privileged;
	bool special_owners;      /* rootless, in the namespace of the subordinate range: symlinks, fifos... get real owners */
	struct idshift ids[2];    /* uids, gids: stored (inside) <-> the connection's (outside) */
	int64_t squash_uid;       /* -1, or every object presented with this uid (squash_to_uid, squash_to_root) */
	int64_t squash_gid;
	bool static_nlink;        /* directories show st_nlink 1 (static_nlink) */
	bool no_fsync;            /* fsync does nothing (volatile, fsync=0) */
	uid_t caller_uid;         /* the daemon's own ids: what the files really belong to */
	gid_t caller_gid;

	/* The session, once there (the server sets it): for notifying the kernel of changes it cannot see. */
	struct fuse_session *se;

	double timeout;           /* entry/attr cache timeout, seconds */
	bool writeback;           /* the kernel's writeback cache */
	bool no_opendir;          /* the kernel opens directories without asking */
	bool no_open;             /* ... and files: no handles, I/O by node */
	bool open_handles;        /* handles even when no_open is possible: the path older kernels take, testable */
	bool passthrough;         /* the kernel does I/O on open upper files itself (passthrough.c) */
	bool no_xattr;            /* no xattrs shown: ENOSYS, which the kernel remembers for the connection */
	/* passthrough's backing files, one per node with such opens, hashed by node (under lock) */
	struct ovl_backing *backings[1 << OVL_BACKING_BITS];
	bool debug;
	unsigned max_read;        /* the max_read= mount option (0: none): INIT must answer the same */

	pthread_mutex_t lock;
	pthread_rwlock_t rename_lock;
	/* Copy-ups of one node are serialised by one of these, picked by ovl_copyup_lock(). */
	pthread_mutex_t copyup_locks[OVL_COPYUP_LOCKS];
	/* The directory fd cache (dircache.c), under lock. */
	struct ovl_dfd lru;       /* list head */
	size_t dircache_open;     /* fds in the LRU */
	size_t dircache_max;      /* its budget (pinned fds may exceed it for a moment) */
	struct ovl_loc **rootlocs; /* [layer]: each lower layer's root (held open); [0] NULL */
	struct ovl_node **buckets;
	size_t nbuckets, nnodes;
	struct ovl_node *root;
};

static inline pthread_mutex_t *ovl_copyup_lock(struct ovl_fs *fs, const struct ovl_node *node)
{
	uint64_t h = (uint64_t) (uintptr_t) node * 0x9E3779B97F4A7C15ull;
	return &fs->copyup_locks[h >> 58]; /* the top 6 bits: OVL_COPYUP_LOCKS == 64 */
}

/* ---- passthrough (passthrough.c) ---- */
struct fuse_conn_info;
struct fuse_req;
struct fuse_file_info;
/* Built against a libfuse that has it (the kernel and privilege decide at INIT). */
bool ovl_passthrough_built(void);
/* At INIT: asks for it when fs->passthrough and the kernel offers it (else clears fs->passthrough). */
void ovl_passthrough_init(struct ovl_fs *fs, struct fuse_conn_info *conn);
/*
 * Under fs->lock, with the node's open_count not yet counting this open: the
 * backing id for an open of `node`, or 0 for an open the daemon serves.
 * upper_fd is the open's fd when it is in the upper layer, else -1 (a node
 * already passed through shares its backing file whatever the open's fd).
 */
int ovl_passthrough_open_locked(struct ovl_fs *fs, struct fuse_req *req, struct ovl_node *node, int upper_fd);
/* Under fs->lock, for an open that had a backing id: the id to close once unlocked, or 0. */
int ovl_passthrough_release_locked(struct ovl_fs *fs, const struct ovl_node *node);
void ovl_passthrough_close(struct fuse_req *req, int id);
/* The open's reply carries the backing id. */
void ovl_passthrough_set(struct fuse_file_info *fi, int id);
void ovl_passthrough_destroy(struct ovl_fs *fs);

/* ---- layers (layer.c) ---- */
int ovl_fs_init(struct ovl_fs *fs, const char *const *lowers, int nlowers, const char *upper, const char *work,
		bool userxattr, char *errbuf, size_t errlen);
void ovl_fs_destroy(struct ovl_fs *fs);
/* <prefix><name> */
/* Stored metadata of the layer format, not copied up (the rootless owner is). */
bool ovl_is_layer_metadata(const char *name);
uint64_t ovl_present_ino(const struct ovl_fs *fs, int layer, ino_t ino);
/* A whiteout `name` in `dirfd`, made atomically (in workdir, then renamed in; replaces what is there). */
int ovl_make_whiteout(struct ovl_fs *fs, int dirfd, const char *name);
/* A whiteout at work/tmp, a name of ovl_work_name() (to be renamed over something). */
int ovl_make_work_whiteout(struct ovl_fs *fs, const char *tmp);
/*
 * A ".wh.NAME" marker of `name` in the upper directory dirfd (containers/
 * storage's or fuse-overlayfs's form) turned into the kernel's: a 0/0 whiteout
 * at NAME (what NAME held beside the marker was hidden: it goes), then the
 * marker removed.  NAME stays whited out at every step, so a crash changes
 * nothing in the view, and what comes next (a create, a rename over it) finds
 * the one form it replaces atomically.  1 when there was a marker, 0, -errno.
 */
int ovl_marker_to_whiteout(struct ovl_fs *fs, int dirfd, const char *name);
/* Unique temp name in workdir. */
void ovl_work_name(char *buf, size_t size);

/* ---- nodes (node.c) ---- */
struct ovl_node *ovl_node_get(struct ovl_fs *fs, uint64_t nodeid);
uint64_t ovl_nodeid(struct ovl_fs *fs, struct ovl_node *node);
/* Under fs->lock: the live node of the real object (dev, ino), preferring the one with the alias (parent, name). */
struct ovl_node *ovl_node_find_alias_locked(struct ovl_fs *fs, dev_t dev, ino_t ino, struct ovl_node *parent,
					    const char *name);
void ovl_node_insert_locked(struct ovl_fs *fs, struct ovl_node *node);
void ovl_node_rekey_locked(struct ovl_fs *fs, struct ovl_node *node, dev_t dev, ino_t ino);
int ovl_node_add_alias_locked(struct ovl_node *node, struct ovl_node *parent, const char *name);
void ovl_node_del_alias_locked(struct ovl_fs *fs, struct ovl_node *node, struct ovl_node *parent, const char *name);
void ovl_node_unref_locked(struct ovl_fs *fs, struct ovl_node *node);
void ovl_node_forget(struct ovl_fs *fs, struct ovl_node *node, uint64_t n);
/* Under fs->lock: a directory node is removed; its upper fd, if open, is kept (held) until the node goes. */
void ovl_node_set_dead_locked(struct ovl_fs *fs, struct ovl_node *node);
/* A zeroed node of this type (a directory's with its struct ovl_dir), no fds; NULL when out of memory. */
struct ovl_node *ovl_node_alloc(mode_t type);
/* Closes and frees what the node holds (orphan fd, a directory's parts and listing), not the node. */
void ovl_node_release_parts_locked(struct ovl_fs *fs, struct ovl_node *node);
/* The st_ino it presents (a copy-up may change it under fs->lock while others read it). */
uint64_t ovl_node_ino(struct ovl_fs *fs, struct ovl_node *node);
/* The first alias's parent and name (copied), for reaching a non-directory. */
int ovl_node_first_alias(struct ovl_fs *fs, struct ovl_node *node, struct ovl_node **ret_parent, char *name,
			 size_t size);

/* ---- the directory fd cache (dircache.c) ---- */
/* A borrowed directory fd: valid (never closed) until ovl_dir_unpin(); it holds the node. */
struct ovl_dirpin {
	struct ovl_fs *fs;
	struct ovl_dfd *dfd;    /* NULL: nothing pinned */
	struct ovl_node *node;
	int fd;
};
#define OVL_DIRPIN_INIT { .fd = -1 }
#define OVL_TOP (-1) /* the topmost part of a directory: its upper, else its first lower */
#define _cleanup_dirpin_ __attribute__((cleanup(ovl_dir_unpin)))
/*
 * Pins the fd of dir's part in `layer` (or OVL_TOP), reopening it when it was
 * evicted: the fd, -ENOENT when dir has no part there, or -errno.
 */
int ovl_dir_pin(struct ovl_fs *fs, struct ovl_node *dir, int layer, struct ovl_dirpin *ret);
void ovl_dir_unpin(struct ovl_dirpin *pin); /* NULL-safe, idempotent */
/* Pins every part of dir, top first: ret[] and pins[] hold *ret_n entries (unpin each pin, also on failure). */
int ovl_dir_pin_all(struct ovl_fs *fs, struct ovl_node *dir, struct layer_dir *ret, struct ovl_dirpin *pins,
		    int *ret_n);
/* Under fs->lock: puts a fresh fd into a slot (cached, or held); returns an fd the caller closes, or -1. */
int ovl_dfd_install_locked(struct ovl_fs *fs, struct ovl_dfd *d, int fd);
/* Under fs->lock: closes a slot's fd (the slot's owner goes). */
void ovl_dfd_release_locked(struct ovl_fs *fs, struct ovl_dfd *d);
/* Under fs->lock: keeps an open slot out of the cache from now on. */
void ovl_dfd_hold_locked(struct ovl_fs *fs, struct ovl_dfd *d);
/* A new location `name` in parent (NULL: ENOMEM); the caller holds parent, which gains a reference. */
struct ovl_loc *ovl_loc_new(struct ovl_fs *fs, struct ovl_loc *parent, const char *name, size_t len);
void ovl_loc_unref_locked(struct ovl_fs *fs, struct ovl_loc *loc);
/* The budget: `want` if not 0, else a quarter of RLIMIT_NOFILE (at least 16). */
void ovl_dircache_init(struct ovl_fs *fs, size_t want);

/* ---- lookup (lookup.c) ---- */
#define OVL_MAX_LAYERS LAYER_MAX
struct ovl_found {
	int layer;           /* -1: not found (or whited out) */
	struct stat st;      /* of the visible object */
	int upper_fd;        /* directories found in the upper layer: O_PATH fd, else -1 */
	bool opaque;
	char *redirect;      /* <prefix>redirect of an upper directory (malloc'ed) */
	bool in_lower;       /* some lower layer has this name (visible or not below an upper) */
	bool upper_whiteout; /* the upper holds a whiteout for the name */
	bool upper_marker;   /* ... as a ".wh.NAME" marker (too) */
	int nlower;          /* directories: the lower dirs below, top first */
	struct layer_dir lowers[OVL_MAX_LAYERS]; /* last: not cleared on each lookup */
	struct ovl_loc *locs[OVL_MAX_LAYERS];    /* where each of lowers[] is (references) */
};
int ovl_lookup_name(struct ovl_fs *fs, struct ovl_node *parent, const char *name, struct ovl_found *ret);
/* Finds or creates the node for a found object (one more lookup reference, alias added). */
int ovl_node_for_found(struct ovl_fs *fs, struct ovl_node *parent, const char *name, struct ovl_found *found,
		       struct ovl_node **ret_node);
/* The presented stat of a node (through `fd` when an open handle is given, else its alias). */
int ovl_getattr_node(struct ovl_fs *fs, struct ovl_node *node, int fd, struct stat *ret_st);
void ovl_found_release(struct ovl_fs *fs, struct ovl_found *found);

/* ---- directories (dir.c) ---- */
struct ovl_dirent {
	uint64_t off;  /* readdir cookie: a hash of the name, so it survives rebuilt listings */
	uint64_t ino;
	mode_t type; /* S_IFMT */
	char *name;
};
struct ovl_dirlist {
	struct ovl_dirent *ents; /* sorted by off */
	size_t n, cap;
	unsigned refs;           /* shared (node cache, readers): under fs->lock */
};
/* The merged entries of a directory ("." and ".." first), whiteouts hidden, no duplicates. */
int ovl_dir_read(struct ovl_fs *fs, struct ovl_node *dir, bool with_dots, struct ovl_dirlist *ret);
void ovl_dirlist_free(struct ovl_dirlist *l);
/*
 * The listing readdir serves, built once and kept in the node until the
 * directory changes; a reference the caller drops with ovl_dir_listing_put().
 */
int ovl_dir_listing_get(struct ovl_fs *fs, struct ovl_node *dir, struct ovl_dirlist **ret);
void ovl_dir_listing_put(struct ovl_fs *fs, struct ovl_dirlist *l);
/* Forgets the node's listing: its entries changed (or the kernel has cached them). */
void ovl_dir_listing_drop(struct ovl_fs *fs, struct ovl_node *dir);
/* The kernel has the whole listing `l`: the node need not keep it any more. */
void ovl_dir_listing_uncache(struct ovl_fs *fs, struct ovl_node *dir, struct ovl_dirlist *l);
/* The first entry whose cookie is above `off`. */
size_t ovl_dirlist_seek(const struct ovl_dirlist *l, uint64_t off);
/* 0 when empty (only whiteouts may remain in the upper), -ENOTEMPTY otherwise. */
int ovl_dir_check_empty(struct ovl_fs *fs, struct ovl_node *dir);

/* ---- copy-up (copyup.c) ---- */
/* Copies a non-directory up (with its data unless `truncate`); a no-op when it is there. */
int ovl_copy_up(struct ovl_fs *fs, struct ovl_node *node, bool truncate);
/* An fd on the node's real file (its name, else its orphan) with open(2) flags, its layer in *ret_layer if not NULL. */
int ovl_open_node_io(struct ovl_fs *fs, struct ovl_node *node, int flags, int *ret_layer);
int ovl_copy_up_orphan(struct ovl_fs *fs, struct ovl_node *node);
/* Opens the real object of a non-directory node by its name with open(2) flags. */
int ovl_open_real(struct ovl_fs *fs, struct ovl_node *node, int flags, int *ret_layer);
/* Marks an upper directory impure (<prefix>impure): some entries present another inode number than theirs. */
void ovl_mark_impure(struct ovl_fs *fs, int dirfd);
/* Makes sure dir is in the upper layer; returns its upper fd, pinned in *ret (unpin it). */
int ovl_upper_dir(struct ovl_fs *fs, struct ovl_node *dir, struct ovl_dirpin *ret);

/* ---- ids (ids.c): owners and, with stat overrides, permission bits ---- */
/*
 * Records the owner (in the connection's ids) of an upper object, by fd or by
 * (dirfd, name): chown when privileged; rootless, as ids.c says; in a stat
 * override when the upper layer keeps them so.
 */
int ovl_set_owner(struct ovl_fs *fs, int fd, int dirfd, const char *name, uid_t uid, gid_t gid);
/* Records the permission bits of an upper object: chmod, or its stat override. */
int ovl_set_mode(struct ovl_fs *fs, int fd, int dirfd, const char *name, mode_t perms);
/* Whether a new object made by uid/gid (the connection's) has the owner it gets anyway: nothing to record. */
bool ovl_owner_is_default(struct ovl_fs *fs, uid_t uid, gid_t gid);
/* Fills st_uid/st_gid (and st_mode's permission bits) as presented, from the real stat of an object of `layer`. */
void ovl_present_owner(struct ovl_fs *fs, int layer, int fd, int dirfd, const char *name, struct stat *st);
/* The owner a new object of `mode` made for uid/gid presents (without reading it back). */
void ovl_present_new_owner(struct ovl_fs *fs, mode_t mode, uid_t uid, gid_t gid, struct stat *st);
/* The stored owner and permission bits of a real object of `layer` (`real` its stat): what a copy must keep. */
void ovl_stored_attrs(struct ovl_fs *fs, int layer, int fd, int dirfd, const char *name, const struct stat *real,
		      uid_t *uid, gid_t *gid, mode_t *perms);
#define OVL_ATTR_OWNER 1u
#define OVL_ATTR_MODE 2u
#define OVL_ATTR_COPY 4u /* a copy-up: an owner that cannot be kept is dropped, as at the source */
/* Stores owner and/or permission bits (stored ids) on an upper object of type `type`. */
int ovl_store_attrs(struct ovl_fs *fs, int fd, int dirfd, const char *name, mode_t type, uid_t uid, gid_t gid,
		    mode_t perms, unsigned what);
/* Copy-up: the owner and permission bits of an object of `layer` onto its copy (by fd, or dirfd and name). */
int ovl_copy_attrs(struct ovl_fs *fs, int layer, int from_fd, int from_dirfd, const char *from_name,
		   const struct stat *from, int to_fd, int to_dirfd, const char *to_name);

/* ---- root (root.c) ---- */
/* Makes the root node from the layers' roots. */
int ovl_root_init(struct ovl_fs *fs);
void ovl_nodes_free(struct ovl_fs *fs);

/* ---- operations (ops.c) ---- */
struct fuse_lowlevel_ops;
extern const struct fuse_lowlevel_ops ovl_ops;

#endif
