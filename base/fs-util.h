/* SPDX-License-Identifier: MIT */
/* Directory-fd-relative file system helpers that never follow symlinks. */
#ifndef ISOFS_FS_UTIL_H
#define ISOFS_FS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <sys/types.h>

/*
 * Removes `name` below `dirfd` and, for a directory, everything in it.  Never
 * follows a symlink; makes directories writable by their owner where needed
 * (rootless stores hold 0555 directories).  -ENOENT when it did not exist.
 */
int rm_rf_at(int dirfd, const char *name);

/* Disk usage (st_blocks, hard links once) and number of entries below a directory. */
int tree_usage_at(int dirfd, uint64_t *ret_bytes, uint64_t *ret_entries);

/* Writes a whole file through a temporary name, fsync and rename: readers see the old or the new one. */
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);
/*
 * The same without the fsync, for state that means nothing after a reboot
 * (who runs, what is mounted): the rename alone keeps readers from a torn
 * file, and a flush of the disk's journal on every sandbox start is not paid.
 */
int write_runtime_file_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/* The directory name in dirfd, opened and locked (flock, exclusive, not waiting: -EWOULDBLOCK while held). */
int lock_dir_at(int dirfd, const char *name, int *ret_fd);
/* Closes every fd from 3 up but those in keep[] (sorted in place; negative entries ignored). */
void close_fds_but(int *keep, int n);
/* Waits (at most `ms`) until nobody else holds fd's flock, then holds it (exclusive): 0 or -ETIMEDOUT. */
int flock_wait_free(int fd, int ms);

/*
 * Whether directory `outer` is directory `inner` or one of its ancestors
 * (walking up from inner through "..", across mounts; a parent we may not
 * search ends the walk): 1, 0, or -errno.  A bind mount of a directory is
 * walked up from where it is mounted, not from where the directory is.
 */
int dir_contains(int outer, int inner);

/* The rest of fd (at most max bytes, -EFBIG beyond), NUL-terminated. */
int read_fd_all(int fd, size_t max, char **ret_data, size_t *ret_len);
/* Reads a whole (small) file below dirfd into a NUL-terminated buffer. */
int read_file_at(int dirfd, const char *name, size_t max, char **ret_data, size_t *ret_len);

/* A DIR* reading directory `fd` from its start (on a dup: `fd` stays the caller's). NULL with errno. */
DIR *opendir_fd(int fd);
/* A DIR* of `name` below dirfd ("." for dirfd itself); no symlink followed. NULL with errno. */
DIR *opendir_at(int dirfd, const char *name);

/* Writes all of `buf` (retrying short writes and EINTR). */
int write_all(int fd, const void *buf, size_t len);

#endif
