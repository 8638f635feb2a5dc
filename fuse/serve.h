/* SPDX-License-Identifier: MIT */
/* Serving an overlay mount: used by isofs-overlay and by `isofs mount`. */
#ifndef ISOFS_OVERLAY_SERVE_H
#define ISOFS_OVERLAY_SERVE_H

#include <stdbool.h>
#include <stddef.h>

struct ovl_serve_config {
	const char *const *lowers; /* top first */
	int nlowers;
	const char *upper;         /* NULL (with work NULL): a read-only view */
	const char *work;
	const char *mountpoint;
	int userxattr;             /* 1 user.overlay.*, 0 trusted.overlay.*, -1 by privilege */
	double timeout;            /* entry/attr cache, seconds */
	bool writeback;
	unsigned threads;
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

#endif
