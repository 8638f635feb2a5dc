/* SPDX-License-Identifier: MIT */
#include "fs-util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"

/*
 * Opens a directory to empty it.  A rootless image holds directories without
 * search or write permission for their owner (0000, 0555, 0644); the owner may
 * give them back, and does so before going in, so the parent of every
 * directory being emptied is u+rwx.
 */
static int open_dir_for_removal(int dirfd, const char *name)
{
	_cleanup_close_ int pfd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char path[64];
	struct stat st;
	int fd;

	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) < 0)
		return -errno;
	if ((st.st_mode & 0700) != 0700 && st.st_uid == geteuid()) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
		(void) chmod(path, (st.st_mode & 07777) | 0700);
	}
	fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* A dup shares the offset with `dfd`: rewind. */
DIR *opendir_fd(int dfd)
{
	int dupfd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	DIR *d;

	if (dupfd < 0)
		return NULL;
	d = fdopendir(dupfd);
	if (!d) {
		int e = errno;
		close(dupfd);
		errno = e;
		return NULL;
	}
	rewinddir(d);
	return d;
}

DIR *opendir_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

/* One directory on the way down: its identity, and its name in the directory above. */
struct rm_level {
	dev_t dev;
	ino_t ino;
	char *name;
};

struct rm_walk {
	struct rm_level *levels;
	size_t n, cap;
	uint64_t mnt_id; /* the top's mount: nothing on another mount is removed */
};

static int mount_id_at(int dirfd, const char *name, uint64_t *ret)
{
	struct statx stx;

	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (name[0] ? 0 : AT_EMPTY_PATH),
		  STATX_MNT_ID, &stx) < 0)
		return -errno;
	if (!(stx.stx_mask & STATX_MNT_ID))
		return -EOPNOTSUPP;
	*ret = stx.stx_mnt_id;
	return 0;
}

/* Goes down into `name` below `dfd`: the new current directory, its identity pushed. */
static int rm_descend(struct rm_walk *w, int dfd, const char *name)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	uint64_t mnt;
	int r;

	/* A mountpoint inside the tree (a bind, a FUSE view) is refused, never emptied. */
	r = mount_id_at(dfd, name, &mnt);
	if (r < 0)
		return r;
	if (mnt != w->mnt_id)
		return -EBUSY;
	fd = open_dir_for_removal(dfd, name);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct rm_level *bigger = realloc(w->levels, cap * sizeof(*bigger));
		if (!bigger)
			return -ENOMEM;
		w->levels = bigger;
		w->cap = cap;
	}
	w->levels[w->n].name = strdup(name);
	if (!w->levels[w->n].name)
		return -ENOMEM;
	w->levels[w->n].dev = st.st_dev;
	w->levels[w->n].ino = st.st_ino;
	w->n++;
	return TAKE_FD(fd);
}

/*
 * Removes every non-directory in `dfd` and returns 1 with *ret_subdir set to
 * the first subdirectory seen (to go down into), or 0 when the directory is
 * now empty.
 */
static int rm_scan(int dfd, char ret_subdir[static NAME_MAX + 1])
{
	_cleanup_closedir_ DIR *d = opendir_fd(dfd);
	bool made_writable = false;
	struct dirent *de;

	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR) {
			snprintf(ret_subdir, NAME_MAX + 1, "%s", de->d_name);
			return 1;
		}
		for (;;) {
			if (unlinkat(dfd, de->d_name, 0) == 0 || errno == ENOENT)
				break;
			if (errno == EISDIR || (errno == EPERM && de->d_type == DT_UNKNOWN)) {
				struct stat st;
				/* d_type was unknown: it may be a directory (Linux says EISDIR, POSIX allows EPERM) */
				if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
					snprintf(ret_subdir, NAME_MAX + 1, "%s", de->d_name);
					return 1;
				}
			}
			if ((errno == EACCES || errno == EPERM) && !made_writable) {
				made_writable = true;
				if (fchmod(dfd, 0700) == 0)
					continue;
			}
			return -errno;
		}
	}
	return -errno;
}

/*
 * Iterative: one directory open at a time whatever the depth (a sandbox can
 * make a tree far deeper than any fd limit or PATH_MAX).  Going down pushes
 * the child's (dev, ino) and name; an emptied directory is left through "..",
 * which must be the (dev, ino) recorded on the way down — a tree moved
 * meanwhile stops the removal instead of emptying some other directory.
 */
static int rm_tree(int dirfd, const char *name)
{
	struct rm_walk w = { 0 };
	_cleanup_close_ int cur = -EBADF;
	char sub[NAME_MAX + 1];
	int r;

	r = mount_id_at(dirfd, "", &w.mnt_id);
	if (r < 0)
		return r;
	cur = rm_descend(&w, dirfd, name);
	if (cur < 0) {
		r = cur;
		goto out;
	}
	for (;;) {
		r = rm_scan(cur, sub);
		if (r < 0)
			break;
		if (r == 1) {
			int child = rm_descend(&w, cur, sub);
			if (child == -ENOENT)
				continue; /* gone meanwhile: look again */
			if (child < 0) {
				r = child;
				break;
			}
			closep(&cur);
			cur = child;
			continue;
		}
		/* Empty: up one level and remove it there. */
		if (w.n == 1) {
			r = unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
			break;
		}
		{
			int parent = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			const struct rm_level *up = &w.levels[w.n - 2];
			struct stat st;

			if (parent < 0) {
				r = -errno;
				break;
			}
			closep(&cur);
			cur = parent;
			if (fstat(cur, &st) < 0) {
				r = -errno;
				break;
			}
			if (st.st_dev != up->dev || st.st_ino != up->ino) {
				r = -ESTALE;
				break;
			}
			w.n--;
			r = unlinkat(cur, w.levels[w.n].name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
			free(w.levels[w.n].name);
			if (r < 0)
				break;
		}
	}
out:
	for (size_t i = 0; i < w.n; i++)
		free(w.levels[i].name);
	free(w.levels);
	return r;
}

int rm_rf_at(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return rm_tree(dirfd, name);
	return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}

/* A tiny open-addressing set of (dev, ino) so hard links are counted once. */
struct inode_set {
	struct { dev_t dev; ino_t ino; } *slots;
	size_t cap, n;
};

static size_t inode_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t) ino * 0x9E3779B97F4A7C15ull ^ (uint64_t) dev;
	return (size_t) (h ^ (h >> 29));
}

/* Returns 1 when added, 0 when it was there, -ENOMEM. */
static int inode_set_add(struct inode_set *s, dev_t dev, ino_t ino)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct inode_set bigger = { .cap = s->cap ? s->cap * 2 : 256 };
		bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
		if (!bigger.slots)
			return -ENOMEM;
		for (i = 0; i < s->cap; i++)
			if (s->slots[i].ino)
				(void) inode_set_add(&bigger, s->slots[i].dev, s->slots[i].ino);
		free(s->slots);
		*s = bigger;
	}
	for (i = inode_hash(dev, ino) % s->cap; s->slots[i].ino; i = (i + 1) % s->cap)
		if (s->slots[i].ino == ino && s->slots[i].dev == dev)
			return 0;
	s->slots[i].dev = dev;
	s->slots[i].ino = ino ? ino : 1;
	s->n++;
	return 1;
}

static int usage_walk(int dfd, struct inode_set *seen, uint64_t *bytes, uint64_t *entries)
{
	_cleanup_closedir_ DIR *d = opendir_fd(dfd);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		int r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		(*entries)++;
		if (st.st_nlink <= 1 || S_ISDIR(st.st_mode) || (r = inode_set_add(seen, st.st_dev, st.st_ino)) == 1)
			*bytes += (uint64_t) st.st_blocks * 512;
		else if (r < 0)
			return r;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int child = -EBADF;
			bool lent = false;

			if ((st.st_mode & 0500) != 0500 && st.st_uid == geteuid() && geteuid() != 0) {
				/* A rootless image's 0000 or 0644 directory: look in with u+rx, then give its mode back. */
				if (fchmodat(dfd, de->d_name, (st.st_mode & 07777) | 0500, 0) < 0)
					return -errno;
				lent = true;
			}
			child = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (child < 0)
				r = -errno;
			else
				r = usage_walk(child, seen, bytes, entries);
			if (lent && fchmodat(dfd, de->d_name, st.st_mode & 07777, 0) < 0 && r == 0)
				r = -errno;
			if (r < 0)
				return r;
		}
	}
	return -errno;
}

int tree_usage_at(int dirfd, uint64_t *ret_bytes, uint64_t *ret_entries)
{
	struct inode_set seen = { 0 };
	uint64_t bytes = 0, entries = 0;
	struct stat st;
	int r;

	if (fstat(dirfd, &st) < 0)
		return -errno;
	bytes = (uint64_t) st.st_blocks * 512;
	r = usage_walk(dirfd, &seen, &bytes, &entries);
	free(seen.slots);
	if (r < 0)
		return r;
	*ret_bytes = bytes;
	*ret_entries = entries;
	return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

static int write_file_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode, bool durable)
{
	char tmp[NAME_MAX + 1];
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (snprintf(tmp, sizeof(tmp), ".%s.tmp%ld", name, (long) getpid()) >= (int) sizeof(tmp))
		return -ENAMETOOLONG;
	(void) unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r == 0 && durable && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0)
		(void) unlinkat(dirfd, tmp, 0);
	return r;
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	return write_file_replace(dirfd, name, data, len, mode, true);
}

int write_runtime_file_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	return write_file_replace(dirfd, name, data, len, mode, false);
}

int dir_contains(int outer, int inner)
{
	_cleanup_close_ int cur = -1;
	struct stat o, st;

	if (fstat(outer, &o) < 0 || fstat(inner, &st) < 0)
		return -errno;
	cur = fcntl(inner, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -errno;
	/* PATH_MAX bounds the depth of any directory a path names */
	for (int depth = 0; depth < PATH_MAX / 2; depth++) {
		struct stat pst;
		int parent;

		if (st.st_dev == o.st_dev && st.st_ino == o.st_ino)
			return 1;
		parent = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0) /* an ancestor we may not search: not one we were given, as far as we can tell */
			return errno == EACCES ? 0 : -errno;
		if (fstat(parent, &pst) < 0) {
			int e = -errno;
			close(parent);
			return e;
		}
		close(cur);
		cur = parent;
		if (pst.st_dev == st.st_dev && pst.st_ino == st.st_ino)
			return 0; /* the root: its ".." is itself */
		st = pst;
	}
	return -ELOOP;
}

int lock_dir_at(int dirfd, const char *name, int *ret_fd)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	*ret_fd = fd;
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *) a, y = *(const int *) b;

	return (x > y) - (x < y);
}

void close_fds_but(int *keep, int n)
{
	unsigned from = 3;

	qsort(keep, (size_t) n, sizeof(int), cmp_int);
	for (int i = 0; i < n; i++) {
		if (keep[i] < 3 || (unsigned) keep[i] < from)
			continue;
		if ((unsigned) keep[i] > from)
			(void) close_range(from, (unsigned) keep[i] - 1, 0);
		from = (unsigned) keep[i] + 1;
	}
	(void) close_range(from, ~0U, 0);
}

int flock_wait_free(int fd, int ms)
{
	for (int waited = 0; waited <= ms; waited += 10) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		poll(NULL, 0, 10);
	}
	return -ETIMEDOUT;
}

int read_fd_all(int fd, size_t max, char **ret_data, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	/* One byte more than allowed, to tell "exactly max" from "too long". */
	buf = malloc(max + 2);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t) n;
		if (len > max)
			return -EFBIG;
	}
	buf[len] = '\0';
	*ret_data = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int read_file_at(int dirfd, const char *name, size_t max, char **ret_data, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return read_fd_all(fd, max, ret_data, ret_len);
}
