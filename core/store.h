/* SPDX-License-Identifier: MIT */
/*
 * The store: a directory holding images/ (committed, immutable), layers/
 * (images' shared layers, layer-store.h), sandboxes/ and tmp/
 * (work in progress).  Names change only under the store lock (.lock, flock);
 * each tmp/ directory is flock'ed by the command working in it, so one whose
 * lock can be taken was left by an interrupted command and is removed.
 */
#ifndef ISOFS_STORE_H
#define ISOFS_STORE_H

#include <limits.h>

#include "isofs.h"

struct isofs_store {
	char *path;     /* absolute */
	int dirfd;      /* O_PATH of the store */
	int images_fd;  /* O_PATH of images/ */
	int tmp_fd;     /* O_PATH of tmp/ */
	int sandboxes_fd; /* O_PATH of sandboxes/ */
	int layers_fd;  /* O_PATH of layers/sha256/ (layer-store.h) */
	int lock_fd;    /* .lock, for flock */
};

/* Short critical sections only: never held across an import. */
int store_lock(isofs_store *store);
void store_unlock(isofs_store *store);

typedef struct store_tmpdir {
	isofs_store *store;
	char name[NAME_MAX + 1]; /* below tmp/ */
	int fd;                  /* O_RDONLY|O_DIRECTORY, holds the flock; -EBADF when none */
} store_tmpdir;

/* Creates and locks tmp/PREFIX.XXXXXX. */
int store_tmpdir_create(isofs_store *store, const char *prefix, store_tmpdir *ret_tmp);
/* Moves the temp dir to `name` below `target_fd` if nothing is there (-EEXIST otherwise). Caller holds the store lock. */
int store_tmpdir_commit(store_tmpdir *tmp, int target_fd, const char *name);
/* Takes an existing directory `name` below `fd` out of sight into tmp/ (caller holds the store lock). */
int store_tmpdir_adopt(isofs_store *store, int fd, const char *name, store_tmpdir *ret_tmp);
/* Removes the temp dir and everything in it (no-op when committed or empty). */
void store_tmpdir_discard(store_tmpdir *tmp);

#define _cleanup_tmpdir_ __attribute__((cleanup(store_tmpdir_discard)))

/*
 * STORE/stub: a tiny layer put below every sandbox's image, so that the
 * mountpoints a sandbox needs (/etc/resolv.conf, /dev, /proc, /sys, /tmp)
 * exist even when the image lacks them — without writing them into the
 * sandbox's changes (or a commit).  Created on first use.
 */
int store_stub_layer(isofs_store *store, char **ret_path);

/* Removes temp dirs nobody holds.  Caller holds the store lock. */
int store_clean_stale(isofs_store *store);

#endif
