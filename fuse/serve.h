/* SPDX-License-Identifier: MIT */
/* Serving an overlay mount: used by isofs-overlay and by `isofs mount`. */
#ifndef ISOFS_OVERLAY_SERVE_H
#define ISOFS_OVERLAY_SERVE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Serving threads of one view: kept alive between requests (a thread and its
 * splice pipe per request cost more than the request).  One figure for every
 * server (isofs-overlay, isofs mount, a run's own server).
 */
#define OVL_SERVE_THREADS 16

struct ovl_serve_config {
	const char *const *lowers; /* top first */
	int nlowers;
	const char *upper;         /* NULL (with work NULL): a read-only view */
	const char *work;
	const char *mountpoint;
	int userxattr;             /* 1 user.overlay.*, 0 trusted.overlay.*, -1 by privilege */
	double timeout;            /* entry/attr cache, seconds */
	bool writeback;
	unsigned threads;          /* 0: OVL_SERVE_THREADS */
	size_t dircache;           /* directory fds kept open at most; 0: a quarter of RLIMIT_NOFILE */
	const char *fuse_opts;     /* more FUSE mount options, comma-separated, or NULL */
	bool debug;
	/* Called once the mount is in place, before serving (daemonize, tell a parent). */
	int (*ready)(void *userdata);
	void *userdata;
	char *errbuf;              /* a one-line reason on failure */
	size_t errlen;
};

/* Mounts and serves until the file system is unmounted.  0, or -errno with errbuf set. */
int ovl_serve(const struct ovl_serve_config *cfg);

/*
 * Serving a connection mounted by someone else (a sandbox's init mounts in
 * its own namespaces and hands over the /dev/fuse fd), from threads of the
 * calling process, until ovl_serve_stop().  `privileged`: owners are real
 * (chown); otherwise they go to user.isofs.owner and uid/gid 0 stand for the
 * server's user.  Ids in requests are those of the mounter's namespace.
 */
struct ovl_background;
int ovl_serve_start(const struct ovl_serve_config *cfg, int fuse_fd, bool privileged,
		    struct ovl_background **ret);
/* Stops serving (the mount is gone, or goes with its namespace) and frees everything. */
void ovl_serve_stop(struct ovl_background *bg);

#endif
