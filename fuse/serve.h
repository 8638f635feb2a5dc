/* SPDX-License-Identifier: MIT */
/* Serving an overlay mount: used by isofs-overlay and by `isofs mount`. */
#ifndef ISOFS_OVERLAY_SERVE_H
#define ISOFS_OVERLAY_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idmap.h"

/*
 * Serving threads of one view: kept alive between requests (a thread and its
 * splice pipe per request cost more than the request).  One figure for every
 * server (isofs-overlay, isofs mount, a run's own server).
 */
#define OVL_SERVE_THREADS 16
/* How long a thread looks for the next request after a reply before it sleeps (fuse/loop.c). */
#define OVL_SERVE_SPIN_US 50

struct ovl_serve_config {
	const char *const *lowers; /* top first */
	int nlowers;
	const char *upper;         /* NULL (with work NULL): a read-only view */
	const char *work;
	const char *mountpoint;
	int userxattr;             /* 1 user.overlay.*, 0 trusted.overlay.*, -1 by privilege */
	double timeout;            /* entry/attr cache, seconds */
	bool writeback;
	bool open_handles;         /* answer OPEN with handles even when the kernel could do without */
	bool passthrough;          /* the kernel does I/O on open upper files itself, where it can (root, libfuse >= 3.16) */
	unsigned threads;          /* 0: OVL_SERVE_THREADS */
	int spin_us;               /* 0: OVL_SERVE_SPIN_US, < 0: none */
	size_t dircache;           /* directory fds kept open at most; 0: a quarter of RLIMIT_NOFILE */
	const char *fuse_opts;     /* more FUSE mount options, comma-separated, or NULL */
	/* fuse-overlayfs's id options: stored ids shifted (uidmapping=, gidmapping=), one owner shown (squash_to_*) */
	const struct idshift *uidmapping, *gidmapping; /* NULL: no shift (root), the store's map (a user) */
	bool squash_uid_set, squash_gid_set;           /* unset: each object's own owner */
	uint32_t squash_uid, squash_gid;
	bool static_nlink;         /* directories show st_nlink 1 */
	int xattr_permissions;     /* 1|2: the upper keeps owners and modes in stat overrides (stat-override.h) */
	bool no_fsync;             /* volatile, fsync=0: fsync and fdatasync do nothing */
	bool no_xattr;             /* GETXATTR and LISTXATTR answered ENOSYS: the kernel stops asking (warm-view.h) */
	bool debug;
	/* Called once the mount is in place, before serving (daemonize, tell a parent). */
	int (*ready)(void *userdata);
	void *userdata;
	char *errbuf;              /* a one-line reason on failure */
	size_t errlen;
};

/*
 * Mounts and serves until the file system is unmounted.  Rootless, after the
 * mount (fusermount3 needs the real user) the server enters a user namespace
 * of the user's subordinate range when there is one (ids.c).  0, or -errno
 * with errbuf set.
 */
int ovl_serve(const struct ovl_serve_config *cfg);

/* How a server started by ovl_serve_start() keeps owners (fuse/ids.c). */
enum ovl_owners {
	OVL_OWNERS_REAL,       /* chown: the server is root of the ids it serves */
	OVL_OWNERS_XATTR,      /* rootless, its namespace maps only its user */
	OVL_OWNERS_SUBORDINATE /* rootless, in the namespace of the user's subordinate range */
};

/*
 * Serving a connection mounted by someone else (a sandbox's init mounts in
 * its own namespaces and hands over the /dev/fuse fd), from threads of the
 * calling process, until ovl_serve_stop().  The caller has put the server in
 * a namespace whose ids are the mounter's (those of the requests), its user
 * being 0.
 */
struct ovl_background;
int ovl_serve_start(const struct ovl_serve_config *cfg, int fuse_fd, enum ovl_owners owners,
		    struct ovl_background **ret);
/* Stops serving (the mount is gone, or goes with its namespace) and frees everything. */
void ovl_serve_stop(struct ovl_background *bg);

#endif
