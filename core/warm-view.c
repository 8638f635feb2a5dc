/* SPDX-License-Identifier: MIT */
/* Read-only views of images kept mounted between ephemeral runs (warm-view.h). */
#include "warm-view.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "layers.h"
#include "log.h"
#include "mount-record.h"
#include "store.h"

#define FUSE_SUPER_MAGIC 0x65735546
#define VIEWS_DIR "views"
#define VIEW_ROOT "root"
#define VIEW_LOCK "lock"
#define VIEW_WATCH "watch" /* held shared by the view's watcher for its life */
/* How long image rm waits for a detached view's server: it exits at once unless a sandbox still reads through it. */
#define VIEW_STOP_WAIT_MS 3000

enum view_state { VIEW_ABSENT, VIEW_LIVE, VIEW_DEAD };

/*
 * What is mounted on dir_fd's root: nothing, a live read-only FUSE view, or
 * a dead one (its server gone: requests fail with ENOTCONN); -EBUSY for any
 * other mount.  statfs is a request to the server: cached attributes would
 * not tell a dead one.
 */
static int view_state(int dir_fd, dev_t *ret_dev)
{
	_cleanup_close_ int fd = openat(dir_fd, VIEW_ROOT, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat dir, st;
	struct statfs sf;

	if (fd < 0)
		return errno == ENOTCONN || errno == ECONNABORTED ? VIEW_DEAD : -errno;
	if (fstat(dir_fd, &dir) < 0 || fstat(fd, &st) < 0)
		return errno == ENOTCONN || errno == ECONNABORTED ? VIEW_DEAD : -errno;
	if (st.st_dev == dir.st_dev)
		return VIEW_ABSENT;
	if (fstatfs(fd, &sf) < 0)
		return errno == ENOTCONN || errno == ECONNABORTED ? VIEW_DEAD : -errno;
	if (sf.f_type != FUSE_SUPER_MAGIC || !(sf.f_flags & ST_RDONLY))
		return -EBUSY;
	if (ret_dev)
		*ret_dev = st.st_dev;
	return VIEW_LIVE;
}

/* Whether the view's watcher lives (it holds VIEW_WATCH): 1, 0, or -errno. */
static int view_watched(int dir_fd)
{
	_cleanup_close_ int fd = openat(dir_fd, VIEW_WATCH, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	return errno == EWOULDBLOCK ? 1 : -errno;
}

static int flock_retry(int fd, int op)
{
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* STORE/views/IMAGE, made when missing: an O_PATH fd. */
static int view_dir_open(isofs_store *store, const char *image, int *ret_fd)
{
	_cleanup_close_ int views = -EBADF;
	int fd;

	if (mkdirat(store->dirfd, VIEWS_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	views = openat(store->dirfd, VIEWS_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (views < 0)
		return -errno;
	if (mkdirat(views, image, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(views, image, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (mkdirat(fd, VIEW_ROOT, 0755) < 0 && errno != EEXIST) {
		int e = errno;
		close(fd);
		return -e;
	}
	*ret_fd = fd;
	return 0;
}

int warm_view_acquire(isofs_store *store, const char *image, unsigned idle_s, char **ret_mountpoint, dev_t *ret_dev,
		      int *ret_lock_fd, isofs_error *err)
{
	_cleanup_close_ int dir = -EBADF, lock = -EBADF;
	_cleanup_free_ char *mp = NULL;
	int r, state;

	r = view_dir_open(store, image, &dir);
	if (r < 0)
		return error_errno(err, r, "store %s: %s/%s", store->path, VIEWS_DIR, image);
	lock = openat(dir, VIEW_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lock < 0)
		return error_errno(err, errno, "store %s: %s/%s/%s", store->path, VIEWS_DIR, image, VIEW_LOCK);
	if (asprintf(&mp, "%s/%s/%s/%s", store->path, VIEWS_DIR, image, VIEW_ROOT) < 0) {
		mp = NULL;
		return error_set(err, ENOMEM, "out of memory");
	}
	r = flock_retry(lock, LOCK_SH);
	if (r < 0)
		return error_errno(err, r, "%s: lock", mp);
	state = view_state(dir, ret_dev);
	if (state != VIEW_LIVE || view_watched(dir) == 0) {
		/* Started by one run at a time; a run that waited here finds it live. */
		r = flock_retry(lock, LOCK_EX);
		if (r < 0)
			return error_errno(err, r, "%s: lock", mp);
		state = view_state(dir, ret_dev);
		if (state == VIEW_LIVE && view_watched(dir) == 0) {
			/* its watcher was killed: nothing would ever stop it; a watched view goes in its place */
			log_debug("kept view %s: its watcher is gone, detaching it", mp);
			r = mount_unmount_path(mp, true);
			if (r < 0)
				return error_errno(err, r, "the kept view %s: its watcher is gone, and detaching it failed",
						   mp);
			state = view_state(dir, ret_dev);
		}
		if (state == VIEW_DEAD) {
			/* its server was killed: the dead mount only fails, a new view goes in its place */
			log_debug("kept view %s: its server is gone, detaching it", mp);
			r = mount_unmount_path(mp, true);
			state = view_state(dir, ret_dev);
			if (state == VIEW_DEAD)
				return error_errno(err, r < 0 ? r : ENOTCONN,
						   "the kept view %s: its server is gone, and detaching it failed", mp);
		}
		if (state == VIEW_ABSENT) {
			struct view_keep keep = { .dir_fd = dir, .idle_s = idle_s };
			log_debug("kept view %s: starting it (idle time %u s)", mp, idle_s);
			r = mount_kept_view(store, image, mp, &keep, err);
			if (r < 0)
				return r;
			/* "ready" comes before the server's last steps (its user namespace): served now, or failed */
			state = view_state(dir, ret_dev);
			if (state != VIEW_LIVE)
				return error_set(err, EIO, "the kept view %s: its server ended as it started (its log: "
							   "isofs --log-level debug)", mp);
		}
		if (state == -EBUSY)
			return error_set(err, EBUSY, "%s: something else is mounted there (not a read-only view of isofs)",
					 mp);
		if (state < 0)
			return error_errno(err, state, "the kept view %s", mp);
	}
	/* Touched before the lock is shared: a watcher that takes it meanwhile finds the view in use. */
	if (futimens(lock, NULL) < 0)
		return error_errno(err, errno, "%s/%s/%s/%s", store->path, VIEWS_DIR, image, VIEW_LOCK);
	r = flock_retry(lock, LOCK_SH);
	if (r < 0)
		return error_errno(err, r, "%s: lock", mp);
	*ret_mountpoint = TAKE_PTR(mp);
	*ret_lock_fd = TAKE_FD(lock);
	return 0;
}

/* Whether a view of image `view` holds image `image`: it is that image, or built on it. */
static bool view_holds_image(isofs_store *store, const char *view, const char *image)
{
	struct layer_chain c;
	bool holds = false;

	if (layer_chain_get(store, view, &c, NULL) < 0)
		return strcmp(view, image) == 0;
	for (int i = 0; i < c.nimages && !holds; i++)
		holds = strcmp(c.images[i], image) == 0;
	layer_chain_free(&c);
	return holds;
}

void warm_views_stop(isofs_store *store, const char *image)
{
	_cleanup_closedir_ DIR *d = opendir_at(store->dirfd, VIEWS_DIR);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		_cleanup_close_ int dir = -EBADF, lock = -EBADF;
		_cleanup_free_ char *mp = NULL;
		int state, r;

		if (de->d_name[0] == '.' || !view_holds_image(store, de->d_name, image))
			continue;
		dir = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dir < 0)
			continue;
		lock = openat(dir, VIEW_LOCK, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		/* exclusive: no run is between finding the view and holding a copy of it */
		if (lock < 0 || flock_retry(lock, LOCK_EX) < 0)
			continue;
		state = view_state(dir, NULL);
		if (state != VIEW_LIVE && state != VIEW_DEAD)
			continue;
		if (asprintf(&mp, "%s/%s/%s/%s", store->path, VIEWS_DIR, de->d_name, VIEW_ROOT) < 0) {
			mp = NULL;
			continue;
		}
		r = mount_detach_view(store, mp, VIEW_STOP_WAIT_MS);
		if (r == 0)
			log_debug("kept view %s: stopped", mp);
		else if (r == -ETIMEDOUT)
			log_debug("kept view %s: detached, its server still serves a sandbox", mp);
		else
			log_debug("kept view %s: detaching it: %s", mp, strerror(-r));
	}
}

/*
 * The watcher (a process of its own, reparented away from the server): never
 * returns.  `server` hangs up when the server exits.  A view found at mp
 * with the device of the watcher's is its own while the server lives and
 * nothing was mounted meanwhile: checked again under the lock, which every
 * start of a view holds, before it detaches.
 */
static void __attribute__((noreturn)) watch_view(int lock, int server, const char *mp, unsigned idle_s)
{
	unsigned step = idle_s / 4;
	struct statfs sf;
	struct stat root;

	step = step < 1 ? 1 : step > 5 ? 5 : step; /* and at most 5 s after an umount of it */
	/* the view's device: once a lookup of mp reaches another, the view was unmounted */
	if (stat(mp, &root) < 0 || statfs(mp, &sf) < 0 || sf.f_type != FUSE_SUPER_MAGIC)
		_exit(0); /* its server never served */
	for (;;) {
		struct pollfd pfd = { .fd = server, .events = POLLIN };
		struct timespec now;
		struct stat st, ls;

		if (poll(&pfd, 1, (int) step * 1000) != 0)
			_exit(0); /* the server exited (or poll failed: nothing to watch for) */
		if (stat(mp, &st) < 0 || st.st_dev != root.st_dev)
			_exit(0); /* unmounted (isofs umount, image rm), or its server died */
		if (fstat(lock, &ls) < 0)
			_exit(0);
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_sec - ls.st_mtim.tv_sec < (time_t) idle_s)
			continue;
		if (flock(lock, LOCK_EX | LOCK_NB) < 0)
			continue; /* a run is starting in it */
		/* again under the lock, which a start holds: still its server's view, still idle */
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) != 0 || stat(mp, &st) < 0 || st.st_dev != root.st_dev || fstat(lock, &ls) < 0)
			_exit(0);
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_sec - ls.st_mtim.tv_sec < (time_t) idle_s) {
			(void) flock(lock, LOCK_UN);
			continue;
		}
		/* detached: sandboxes still in it keep their copies, and the server serves them until they end */
		log_info("kept view %s: no run for %u s, detaching it", mp, idle_s);
		(void) mount_unmount_path(mp, true);
		_exit(0);
	}
}

int warm_view_watch(int dir_fd, const char *mountpoint, unsigned idle_s)
{
	_cleanup_close_ int lock = openat(dir_fd, VIEW_LOCK, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int watch = openat(dir_fd, VIEW_WATCH, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	int status, alive[2];
	pid_t pid;

	if (lock < 0 || watch < 0)
		return -errno;
	/* held by the watcher (the server closes its copy below): runs tell a watched view by it */
	if (flock_retry(watch, LOCK_SH) < 0)
		return -errno;
	/* the server keeps the write end (CLOEXEC, never written) until it exits */
	if (pipe2(alive, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(alive[0]);
		close(alive[1]);
		return -e;
	}
	if (pid == 0) {
		/* nothing of the server's: not its connection, the image's holds, nor the lock umount waits on */
		int keep[3] = { lock, alive[0], watch };
		close_fds_but(keep, 3);
		pid = fork();
		if (pid != 0)
			_exit(pid < 0 ? 1 : 0);
		watch_view(lock, alive[0], mountpoint, idle_s);
	}
	close(alive[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}
