/* SPDX-License-Identifier: MIT */
/*
 * The sandbox's file system setup as data: a table of steps built and
 * validated by the caller, applied in order by the sandbox's init before
 * pivot_root.  Every target is resolved inside the new root, from its fd,
 * without following a symlink (user binds: symlinks confined to the root).
 */
#ifndef ISOFS_ROOTFS_SETUP_H
#define ISOFS_ROOTFS_SETUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "isofs.h"

enum setup_kind {
	SETUP_PROC,      /* a fresh proc */
	SETUP_TMPFS,     /* a tmpfs (data: mount options) */
	SETUP_DEVPTS,    /* a new devpts instance */
	SETUP_BIND,      /* host `source` (file or directory, recursively) */
	SETUP_MASK,      /* hide: /dev/null over a file, an empty read-only tmpfs over a directory */
	SETUP_READONLY,  /* make `target` and everything below read-only */
	SETUP_SYMLINK,   /* target -> source */
	SETUP_FILE,      /* a file with `data` as content (on the staging tmpfs, bound read-only) */
	SETUP_ACCOUNT,   /* the root's passwd or group file with `data`, one line, in place of any line of its
			    name or id (on the staging tmpfs, bound writable: the image is never written) */
};

enum {
	SETUP_RO = 1 << 0,        /* read-only, submounts included */
	SETUP_OPTIONAL = 1 << 1,  /* skip when the target (or the host source) does not exist */
	SETUP_USER = 1 << 2,      /* from --bind: symlinks inside the root are followed, confined to it */
	SETUP_NOEXEC = 1 << 3,
};

struct setup_op {
	enum setup_kind kind;
	char *source;
	char *target;   /* absolute, inside the sandbox */
	char *data;
	mode_t mode;
	unsigned flags;
	int source_fd;  /* SETUP_BIND: opened (open_tree clone) by the init before anything moves */
};

struct setup_table {
	struct setup_op *ops;
	size_t n, cap;
};

int setup_add(struct setup_table *t, enum setup_kind kind, const char *source, const char *target,
	      const char *data, mode_t mode, unsigned flags);
void setup_table_free(struct setup_table *t);

struct setup_config {
	bool share_resolv;            /* bind the host's /etc/resolv.conf (network shared) */
	const char *const *dns;       /* or servers for a generated one */
	size_t ndns;
	uint64_t tmp_size;            /* bytes of /tmp, 0: setup_default_tmp_size() */
	uint64_t shm_size;            /* bytes of /dev/shm, 0: SETUP_DEFAULT_SHM_SIZE */
};

/* Docker's /dev/shm default. */
#define SETUP_DEFAULT_SHM_SIZE ((uint64_t) 64 << 20)
/* /tmp: a quarter of the RAM, at most 4 GiB (a tmpfs lives in memory the host needs too). */
uint64_t setup_default_tmp_size(void);

/* The defaults: /proc (masked as OCI runtimes do), /dev, /dev/pts, /dev/shm, /tmp, resolv.conf. */
int setup_add_defaults(struct setup_table *t, const struct setup_config *cfg);
/*
 * --home: the caller's home, runtime dir and X11 sockets bound where the host
 * has them, and its passwd and group lines (`passwd_line`, `group_line`; NULL
 * for none) in the sandbox's files.
 */
int setup_add_home(struct setup_table *t, const char *home, const char *passwd_line, const char *group_line,
		   isofs_error *err);
/* A --bind HOST:SANDBOX[:ro]: checked (the host source must exist) and appended. */
int setup_add_bind_spec(struct setup_table *t, const char *spec, isofs_error *err);

/*
 * In the sandbox's init, before the root moves: opens every bind source (a
 * detached clone of its mount tree), so host paths are read while they mean
 * the host's.
 */
int setup_open_sources(struct setup_table *t, char *errbuf, size_t errlen);
/* Applies the table below `rootfd` (the new root).  `stagingfd`: a private tmpfs for SETUP_FILE. */
int setup_apply(struct setup_table *t, int rootfd, int stagingfd, char *errbuf, size_t errlen);

#endif
