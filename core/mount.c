/* SPDX-License-Identifier: MIT */
/*
 * `isofs mount` / `isofs umount`: a copy-on-write view of an image at a
 * mountpoint, served by a daemon process forked from the caller (the overlay
 * runs in-process: no helper binary is executed).  The daemon holds the
 * sandbox's lock for as long as it serves, so a second mount of the same
 * sandbox fails clearly and `umount` knows the server has finished when it
 * can take the lock.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "image.h"
#include "json-util.h"
#include "layers.h"
#include "log.h"
#include "mount-record.h"
#include "warm-view.h"
#include "sandbox.h"
#include "serve.h"
#include "spawn-util.h"
#include "store.h"


/* An absolute, lexically normalised path; does not touch the path (a dead FUSE mount fails stat). */
static int absolute_path(const char *path, char **ret)
{
	_cleanup_free_ char *joined = NULL;
	char cwd[PATH_MAX], *out, *save = NULL;
	size_t len = 0;

	if (path[0] == '/')
		joined = strdup(path);
	else if (!getcwd(cwd, sizeof(cwd)) || asprintf(&joined, "%s/%s", cwd, path) < 0)
		return -errno;
	if (!joined)
		return -ENOMEM;
	out = malloc(strlen(joined) + 2);
	if (!out)
		return -ENOMEM;
	for (char *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			while (len > 0 && out[--len] != '/')
				;
			continue;
		}
		out[len++] = '/';
		strcpy(out + len, c);
		len += strlen(c);
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	*ret = out;
	return 0;
}

struct daemon_ctx {
	int status_fd;     /* to the caller: "OK" or the error */
	int sandbox_fd;    /* for mount.json; -1 for a read-only image view */
	int tmp_fd;        /* the store's tmp/, for a view's lock */
	int view_lock_fd;  /* a read-only image view's lock, held until the server exits; -1 */
	const char *mountpoint;
	const struct view_keep *keep; /* a view kept between runs (warm-view.h), or NULL */
	const int *holds;  /* the images' holds (image_hold), kept open while it serves */
	int nholds;
};

/*
 * A read-only image view has no sandbox, so no record: its server holds
 * STORE/tmp/view-MAJOR-MINOR (a locked directory, which store_clean_stale
 * leaves alone while held) until it exits, and `isofs umount` waits for that,
 * as it waits for a sandbox's lock: the image is free once umount returns.
 */
static int view_lock_name(const char *mountpoint, char *buf, size_t size)
{
	unsigned major, minor;
	char type[64];
	int r = mountinfo_top(mountpoint, &major, &minor, type, sizeof(type));

	if (r < 0)
		return r;
	snprintf(buf, size, "view-%u-%u", major, minor);
	return 0;
}

static int view_lock_take(int tmp_fd, const char *mountpoint)
{
	char name[64];
	int fd;

	if (view_lock_name(mountpoint, name, sizeof(name)) < 0)
		return -1;
	if (mkdirat(tmp_fd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	return lock_dir_at(tmp_fd, name, &fd) < 0 ? -1 : fd;
}

static int daemon_ready(void *userdata)
{
	struct daemon_ctx *d = userdata;

	if (d->sandbox_fd >= 0) {
		int r = mount_record_write(d->sandbox_fd, d->mountpoint);
		if (r < 0)
			return r;
	} else if (d->tmp_fd >= 0) {
		d->view_lock_fd = view_lock_take(d->tmp_fd, d->mountpoint); /* best effort: else umount does not wait */
	}
	if (d->keep) {
		/* before "OK": a kept view nobody would ever stop is not started */
		int r = warm_view_watch(d->keep->dir_fd, d->mountpoint, d->keep->idle_s);
		if (r < 0)
			return r;
	}
	log_info("overlay server %d: serving %s", (int) getpid(), d->mountpoint);
	(void) write_all(d->status_fd, "OK", 2);
	close(d->status_fd);
	d->status_fd = -1;
	return 0;
}

/*
 * At debug level: the server's configuration as the isofs-overlay command
 * line that would serve the same view (for a user to reproduce it by hand).
 */
static void log_server_command(const struct ovl_serve_config *cfg)
{
	char line[8192];
	size_t n = 0;

	if (!log_enabled(ISOFS_LOG_DEBUG))
		return;
#define PUT(...) (n += (size_t) snprintf(line + n, n < sizeof(line) ? sizeof(line) - n : 0, __VA_ARGS__))
	PUT("overlay server: as isofs-overlay -o lowerdir=");
	for (int i = 0; i < cfg->nlowers; i++) {
		PUT("%s", i ? ":" : "");
		for (const char *c = cfg->lowers[i]; *c; c++)
			PUT("%s%c", *c == ':' || *c == '\\' ? "\\" : "", *c);
	}
	if (cfg->upper)
		PUT(",upperdir=%s,workdir=%s", cfg->upper, cfg->work);
	if (cfg->no_xattr)
		PUT(",noxattrs=1");
	if (cfg->fuse_opts && *cfg->fuse_opts)
		PUT(",%s", cfg->fuse_opts);
	PUT(" %s", cfg->mountpoint);
#undef PUT
	log_debug("%s", line);
}

/* The daemon: never returns. */
static void __attribute__((noreturn))
run_daemon(struct ovl_serve_config *cfg, struct daemon_ctx *d, int lock_fd, int log_fd)
{
	char errbuf[512] = "";
	int r;

	/* lock_fd is held open: the sandbox is served (closed early only if it never is) */
	{
		/*
		 * Nothing else of the caller's: a server lives for weeks, and its
		 * caller's pipes would never end, nor the locks of its open file
		 * descriptions (the store's) be free while a killed caller held them.
		 */
		int keep[8 + LAYERS_MAX], n = 0;
		keep[n++] = d->status_fd;
		keep[n++] = d->sandbox_fd;
		keep[n++] = d->tmp_fd;
		keep[n++] = lock_fd;
		keep[n++] = log_fd;
		keep[n++] = d->keep ? d->keep->dir_fd : -1;
		for (int i = 0; i < d->nholds && n < (int) (sizeof(keep) / sizeof(keep[0])); i++)
			keep[n++] = d->holds[i];
		close_fds_but(keep, n);
	}
	setsid();
	if (chdir("/") < 0)
		_exit(1);
	{
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			(void) dup2(null, 0);
			(void) dup2(null, 1);
		}
		if (log_fd >= 0)
			(void) dup2(log_fd, 2);
		else if (null >= 0)
			(void) dup2(null, 2);
	}
	cfg->errbuf = errbuf;
	cfg->errlen = sizeof(errbuf);
	cfg->ready = daemon_ready;
	cfg->userdata = d;
	log_stamp_time(); /* its stderr is the sandbox's daemon.log */
	log_server_command(cfg);
	r = ovl_serve(cfg);
	log_info("overlay server %d: %s%s", (int) getpid(), r < 0 ? "ended: " : "unmounted, exiting",
		 r < 0 ? (errbuf[0] ? errbuf : strerror(-r)) : "");
	if (d->status_fd >= 0) {
		/*
		 * Never got ready: let go of the sandbox first (its record, its
		 * lock), then tell the caller why, so that the caller finds the
		 * sandbox free and can remove one it made for this mount.
		 */
		char text[600];
		if (d->sandbox_fd >= 0)
			(void) unlinkat(d->sandbox_fd, SANDBOX_MOUNT, 0);
		if (lock_fd >= 0)
			close(lock_fd);
		snprintf(text, sizeof(text), "E%s", errbuf[0] ? errbuf : strerror(-r));
		(void) write_all(d->status_fd, text, strlen(text));
	} else if (r < 0) {
		fprintf(stderr, "isofs overlay server: %s\n", errbuf[0] ? errbuf : strerror(-r));
	}
	if (d->sandbox_fd >= 0)
		(void) unlinkat(d->sandbox_fd, SANDBOX_MOUNT, 0);
	if (d->view_lock_fd >= 0) {
		/* every other fd (the image's holds among them) let go before the lock umount waits on */
		if (d->view_lock_fd > 3)
			(void) close_range(3, (unsigned) d->view_lock_fd - 1, 0);
		(void) close_range((unsigned) d->view_lock_fd + 1, ~0U, 0);
	}
	_exit(r < 0 ? 1 : 0);
}

/* Forks the server (detached: a grandchild), waits until it has mounted or failed. */
static int start_daemon(struct ovl_serve_config *cfg, int sandbox_fd, int tmp_fd, int lock_fd, int log_fd,
			const struct view_lowers *lowers, const struct view_keep *keep, isofs_error *err)
{
	struct daemon_ctx d = { .sandbox_fd = sandbox_fd, .tmp_fd = tmp_fd, .view_lock_fd = -1,
				.mountpoint = cfg->mountpoint, .keep = keep, .holds = lowers->holds,
				.nholds = lowers->nholds };
	char buf[600];
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return error_errno(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return error_errno(err, errno, "fork");
	}
	if (pid == 0) {
		close(pipefd[0]);
		d.status_fd = pipefd[1]; /* and nothing the server is not given (run_daemon): not the caller's locks */
		if (fork() != 0)
			_exit(0); /* the grandchild serves, reparented away from the caller */
		run_daemon(cfg, &d, lock_fd, log_fd);
	}
	close(pipefd[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	do
		n = read(pipefd[0], buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n >= 2 && memcmp(buf, "OK", 2) == 0)
		return 0;
	if (n > 1 && buf[0] == 'E') {
		buf[n] = '\0';
		/* the server's reason, which names the mountpoint when it is about it */
		if (strstr(buf + 1, cfg->mountpoint))
			return error_set(err, EIO, "%s", buf + 1);
		return error_set(err, EIO, "mounting on %s: %s", cfg->mountpoint, buf + 1);
	}
	return error_set(err, EIO, "mounting on %s: the overlay server died (see its log)", cfg->mountpoint);
}

static int mount_view(isofs_store *store, const char *image, const char *mountpoint, const isofs_mount_options *opts,
		      const struct view_keep *keep, char **ret_sandbox, isofs_error *err)
{
	_cleanup_free_ char *mp = NULL, *generated = NULL, *sandbox_name = NULL, *sandbox_image = NULL;
	_cleanup_close_ int sfd = -EBADF, lock_fd = -EBADF, log_fd = -EBADF;
	isofs_image_info img = { 0 };
	isofs_sandbox_info sb = { 0 };
	const char *name = opts ? opts->sandbox : NULL;
	bool read_only = opts && opts->read_only;
	struct view_lowers lowers = { .n = 0 };
	struct ovl_serve_config cfg = { .userxattr = -1, .writeback = false };
	struct stat st;
	bool created = false; /* the sandbox is this mount's: it goes if the mount fails */
	int r;

	if (!image) {
		/* An existing sandbox knows its image. */
		if (!name)
			return error_set(err, EINVAL, "give an IMAGE, or the sandbox to mount");
		r = isofs_sandbox_get(store, name, &sb, err);
		if (r == -ENOENT)
			return error_set(err, ENOENT, "no sandbox named '%s' (give its IMAGE to create it)", name);
		if (r < 0)
			return r;
		image = sandbox_image = TAKE_PTR(sb.image);
		isofs_sandbox_info_free(&sb);
	}
	r = isofs_image_get(store, image, &img, err);
	if (r < 0)
		return r;
	mp = realpath(mountpoint, NULL);
	if (!mp) {
		r = error_errno(err, errno, "mountpoint '%s'", mountpoint);
		goto out;
	}
	if (stat(mp, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = error_set(err, ENOTDIR, "mountpoint '%s' is not a directory", mountpoint);
		goto out;
	}
	/* Views do not stack: an unmount would then reach the wrong one (and wait for the wrong server). */
	{
		unsigned major, minor;
		char type[64];
		if (mountinfo_top(mp, &major, &minor, type, sizeof(type)) == 0) {
			r = error_set(err, EBUSY, "'%s' is already a mount point (%s); unmount it first", mountpoint, type);
			goto out;
		}
	}

	if (name || !read_only) {
		if (!name)
			name = generated = sandbox_generate_name(image);
		if (!name) {
			r = error_set(err, ENOMEM, "out of memory");
			goto out;
		}
		r = isofs_sandbox_get(store, name, &sb, NULL);
		if (r == -ENOENT) {
			r = isofs_sandbox_create(store, name, image, err);
			if (r < 0)
				goto out;
			created = true;
			r = isofs_sandbox_get(store, name, &sb, err);
		} else if (r < 0) {
			r = isofs_sandbox_get(store, name, &sb, err); /* for the message */
		}
		if (r < 0)
			goto out;
		if (strcmp(sb.image, image) != 0) {
			r = error_set(err, EINVAL, "sandbox '%s' is of image '%s', not '%s'", name, sb.image, image);
			goto out;
		}
		r = sandbox_open_dir(store, name, &sfd, err);
		if (r < 0)
			goto out;
		r = sandbox_lock_take(sfd, &lock_fd);
		if (r < 0 && r != -EBUSY) {
			r = error_errno(err, r, "sandbox '%s': lock", name);
			goto out;
		}
		if (r == -EBUSY) {
			isofs_sandbox_info now = { 0 };
			(void) isofs_sandbox_get(store, name, &now, NULL);
			r = error_set(err, EBUSY, "sandbox '%s' is already mounted%s%s; unmount it first", name,
				      now.mountpoint ? " at " : "", now.mountpoint ? now.mountpoint : "");
			isofs_sandbox_info_free(&now);
			goto out;
		}
		log_fd = openat(sfd, SANDBOX_LOG, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
		sandbox_name = strdup(name);
	}

	/*
	 * Layers: the sandbox's upper (writable, or read-only on top), then the
	 * image's stack, held in use by the server for as long as it serves (it
	 * inherits the holds' fds).
	 */
	r = view_lowers_get(store, name ? sb.image : image, read_only && name ? sb.upper : NULL, &lowers, err);
	if (r < 0)
		goto out;
	cfg.lowers = lowers.paths;
	cfg.nlowers = lowers.n;
	if (!read_only) {
		cfg.upper = sb.upper;
		cfg.work = sb.work;
	}
	cfg.mountpoint = mp;
	/*
	 * A kept view shows no xattrs: every lookup of the sandbox's kernel
	 * overlay asks its lower for overlay xattrs, and a round trip each (15
	 * per start) was the largest part of its start.
	 */
	cfg.no_xattr = keep != NULL;
	/*
	 * Root's views serve every user (a sandbox's processes have many ids); a
	 * user's view serves its user.  Always nosuid and nodev, said here rather
	 * than left to libfuse's defaults: a sandbox's root may make a file
	 * setuid-root (or give it file capabilities), and a host user reaching it
	 * through an allow_other view must not gain root (docs/security.md).
	 */
	cfg.fuse_opts = geteuid() == 0 ? (read_only ? "allow_other,nosuid,nodev,ro" : "allow_other,nosuid,nodev")
				       : (read_only ? "nosuid,nodev,ro" : "nosuid,nodev");
	log_server_command(&cfg);
	if (sandbox_name)
		log_debug("overlay server of sandbox '%s': its log %s/sandboxes/%s/%s", sandbox_name, store->path,
			  sandbox_name, SANDBOX_LOG);
	r = start_daemon(&cfg, sfd, store->tmp_fd, lock_fd, log_fd, &lowers, keep, err);
	if (r < 0)
		goto out;
	if (ret_sandbox)
		*ret_sandbox = TAKE_PTR(sandbox_name);
out:
	view_lowers_free(&lowers);
	isofs_image_info_free(&img);
	isofs_sandbox_info_free(&sb);
	if (r < 0 && created) {
		/* nothing left behind: the error says why, the sandbox made for the mount goes */
		closep(&log_fd);
		closep(&lock_fd);
		closep(&sfd);
		log_fd = lock_fd = sfd = -EBADF;
		/* not forced: a sandbox another command took meanwhile is theirs, and stays */
		(void) isofs_sandbox_remove(store, name, false, NULL);
	}
	return r;
}

int isofs_mount(isofs_store *store, const char *image, const char *mountpoint, const isofs_mount_options *opts,
		char **ret_sandbox, isofs_error *err)
{
	return mount_view(store, image, mountpoint, opts, NULL, ret_sandbox, err);
}

int mount_kept_view(isofs_store *store, const char *image, const char *mountpoint, const struct view_keep *keep,
		    isofs_error *err)
{
	isofs_mount_options opts = { .read_only = true };

	return mount_view(store, image, mountpoint, &opts, keep, NULL, err);
}

int mount_detach_view(isofs_store *store, const char *mp, int wait_ms)
{
	_cleanup_close_ int lock_fd = -EBADF;
	char view[64];
	int r;

	if (view_lock_name(mp, view, sizeof(view)) == 0)
		lock_fd = openat(store->tmp_fd, view, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = mount_unmount_path(mp, true);
	if (r < 0 && r != -EINVAL)
		return r;
	if (lock_fd < 0)
		return 0;
	r = flock_wait_free(lock_fd, wait_ms);
	if (r == 0)
		(void) unlinkat(store->tmp_fd, view, AT_REMOVEDIR);
	return r;
}

/* How long umount waits for a server to flush and exit, and again after aborting its connection. */
#define SERVER_EXIT_MS 30000
#define SERVER_EXIT_AFTER_ABORT_MS 10000

/*
 * The sandbox whose record names `mp`: its directory fd and record, or
 * -ENOENT.  Records of dead servers stay until `isofs umount` (they are what
 * tells it that a crashed view was there), so several may name one
 * mountpoint: a live server's is the one, else any.
 */
static int find_mounted_sandbox(isofs_store *store, const char *mp, int *ret_dfd, struct mount_record *ret_rec,
				char *ret_name, size_t size)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_close_ int found_dfd = -EBADF;
	struct mount_record found = { 0 };
	bool found_live = false;
	struct dirent *de;

	d = opendir_at(store->sandboxes_fd, ".");
	if (!d)
		return -errno;
	while (!found_live && (de = readdir(d))) {
		_cleanup_close_ int dfd = -EBADF;
		struct mount_record rec;

		if (!isofs_name_is_valid(de->d_name) || strlen(de->d_name) >= size)
			continue;
		dfd = openat(store->sandboxes_fd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0 || mount_record_read(dfd, &rec) < 0)
			continue;
		found_live = strcmp(rec.mountpoint, mp) == 0 && sandbox_lock_held(dfd) &&
			     mount_record_server_alive(&rec);
		if (strcmp(rec.mountpoint, mp) != 0 || (found.mountpoint && !found_live)) {
			mount_record_free(&rec);
			continue;
		}
		mount_record_free(&found);
		found = rec;
		memcpy(ret_name, de->d_name, strlen(de->d_name) + 1);
		closep(&found_dfd);
		found_dfd = TAKE_FD(dfd);
	}
	if (!found.mountpoint)
		return -ENOENT;
	*ret_dfd = TAKE_FD(found_dfd);
	*ret_rec = found;
	return 0;
}

/* Forgets every dead server's record naming `mp`: what they said is settled once `mp` is unmounted. */
static void drop_dead_records(isofs_store *store, const char *mp)
{
	_cleanup_closedir_ DIR *d = opendir_at(store->sandboxes_fd, ".");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_close_ int dfd = -EBADF;
		struct mount_record rec;

		if (!isofs_name_is_valid(de->d_name))
			continue;
		dfd = openat(store->sandboxes_fd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0 || mount_record_read(dfd, &rec) < 0)
			continue;
		/* dead: its lock is free (a killed server may linger as a zombie nobody reaps) */
		if (strcmp(rec.mountpoint, mp) == 0 && !(sandbox_lock_held(dfd) && mount_record_server_alive(&rec)))
			(void) unlinkat(dfd, SANDBOX_MOUNT, 0);
		mount_record_free(&rec);
	}
}

/* Is the topmost mount at `mp` one of ours (type fuse.isofs-overlay)? */
static bool is_overlay_mount(const char *mp)
{
	unsigned maj, min;
	char type[64];

	return mountinfo_top(mp, &maj, &min, type, sizeof(type)) == 0 && strcmp(type, "fuse.isofs-overlay") == 0;
}

static int run_fusermount(const char *mp, bool lazy)
{
	char *argv[] = { (char *) "fusermount3", (char *) (lazy ? "-uz" : "-u"), (char *) mp, NULL };
	struct spawn_options so = SPAWN_OPTIONS_INIT;
	int r = spawn_wait("fusermount3", argv, &so);
	return r == 0 ? 0 : r < 0 ? r : -EBUSY;
}

int mount_unmount_path(const char *mp, bool lazy)
{
	if (geteuid() == 0)
		return umount2(mp, lazy ? MNT_DETACH : 0) < 0 ? -errno : 0;
	return run_fusermount(mp, lazy);
}

/*
 * The server outlived its mount (a copy of the mount in another mount
 * namespace keeps the connection): as root, end the connection through
 * fusectl so that it exits; a user cannot, and is told how.
 */
static int abort_server(const char *name, const struct mount_record *rec, int lock_fd, isofs_error *err)
{
	int r;

	if (!rec->has_dev)
		return error_set(err, ETIMEDOUT, "the overlay server of sandbox '%s' (pid %d) did not exit; "
				 "end it with kill %d", name, (int) rec->pid, (int) rec->pid);
	if (geteuid() != 0)
		return error_set(err, ETIMEDOUT,
				 "the overlay server of sandbox '%s' (pid %d) did not exit: a copy of the mount in "
				 "another mount namespace keeps its FUSE connection alive, and only root can abort it "
				 "(echo 1 > /sys/fs/fuse/connections/%u/abort); end the processes holding the copy, "
				 "or kill %d",
				 name, (int) rec->pid, (rec->major << 20) | rec->minor, (int) rec->pid);
	r = fuse_connection_abort(rec->major, rec->minor);
	if (r < 0)
		return error_errno(err, r, "the overlay server of sandbox '%s' (pid %d) did not exit, and aborting "
				   "its FUSE connection %u through fusectl failed", name, (int) rec->pid,
				   (rec->major << 20) | rec->minor);
	if (flock_wait_free(lock_fd, SERVER_EXIT_AFTER_ABORT_MS) < 0)
		return error_set(err, ETIMEDOUT, "the overlay server of sandbox '%s' (pid %d) did not exit, "
				 "even with its FUSE connection aborted", name, (int) rec->pid);
	return ISOFS_UMOUNT_ABORTED;
}

int isofs_umount(isofs_store *store, const char *mountpoint, isofs_error *err)
{
	_cleanup_free_ char *mp = NULL;
	_cleanup_close_ int dfd = -EBADF, lock_fd = -EBADF;
	char name[ISOFS_NAME_MAX + 1] = "", type[64];
	struct mount_record rec = { 0 };
	bool alive = false, mounted, recorded;
	unsigned maj, min;
	int r;

	r = absolute_path(mountpoint, &mp);
	if (r < 0)
		return error_errno(err, r, "mountpoint '%s'", mountpoint);
	mounted = is_overlay_mount(mp);
	recorded = find_mounted_sandbox(store, mp, &dfd, &rec, name, sizeof(name)) == 0;
	if (recorded) {
		/* The lock may be a running command's: the server is alive only if it is the recorded process. */
		alive = sandbox_lock_open(dfd, &lock_fd) == 0 && flock(lock_fd, LOCK_EX | LOCK_NB) < 0 &&
			mount_record_server_alive(&rec);
	}
	if (!mounted && !alive) {
		mount_record_free(&rec);
		/*
		 * A dead server's view whose dead mount is gone already (`sandbox ls`
		 * detaches them): the same answer as when this command detaches it, so
		 * that it does not depend on which command ran first.
		 */
		if (recorded) {
			/* its lock is ours now: drop_dead_records would see it held */
			(void) unlinkat(dfd, SANDBOX_MOUNT, 0);
			drop_dead_records(store, mp);
			return ISOFS_UMOUNT_SERVER_DIED;
		}
		if (mountinfo_top(mp, &maj, &min, type, sizeof(type)) == 0)
			return error_set(err, EINVAL, "'%s' is not an isofs mount (%s)", mountpoint, type);
		return error_set(err, EINVAL, "'%s' is not mounted", mountpoint);
	}
	if (mounted) {
		/*
		 * A dead server (killed) leaves a mount that only fails: detach it.
		 * A read-only image view (no record) is detached and waited for
		 * through its server's lock; a copy of the mount elsewhere may keep
		 * the server: then it is not waited for.
		 */
		r = recorded ? mount_unmount_path(mp, !alive) : mount_detach_view(store, mp, SERVER_EXIT_MS);
		if (r == -EBUSY)
			r = error_set(err, EBUSY, "'%s' is busy (a process uses it); nothing was unmounted", mountpoint);
		else if (r < 0 && r != -EINVAL && !(r == -ETIMEDOUT && !recorded))
			r = error_errno(err, r, "unmounting '%s'", mountpoint);
		else
			r = 0;
		if (r < 0)
			goto out;
	}
	if (alive) {
		/*
		 * The server flushes and exits once the kernel lets the connection go.
		 * Unmounted before and still running: no use waiting again.
		 */
		r = mounted ? flock_wait_free(lock_fd, SERVER_EXIT_MS) : -ETIMEDOUT;
		if (r < 0) {
			r = abort_server(name, &rec, lock_fd, err);
			if (r < 0)
				goto out;
		}
	} else if (recorded) {
		r = ISOFS_UMOUNT_SERVER_DIED;
	}
	if (dfd >= 0)
		(void) unlinkat(dfd, SANDBOX_MOUNT, 0);
	drop_dead_records(store, mp);
out:
	mount_record_free(&rec);
	return r;
}

int mount_clean_stale(isofs_store *store)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	d = opendir_at(store->sandboxes_fd, ".");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		_cleanup_close_ int dfd = -EBADF;
		struct mount_record rec = { 0 };
		unsigned major, minor;
		struct statfs sfs;
		char type[64];

		if (!isofs_name_is_valid(de->d_name))
			continue;
		dfd = openat(store->sandboxes_fd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0 || faccessat(dfd, SANDBOX_MOUNT, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (sandbox_lock_held(dfd))
			continue; /* its server is alive */
		/*
		 * A server that died (kill -9, a crash) left its record, and maybe a
		 * mount that only fails: statfs, never cached, says ENOTCONN.  Only
		 * such a dead mount goes: a view mounted there since answers, and is
		 * not ours to detach (its device number may even be the dead one's,
		 * reused by the kernel).
		 */
		if (mount_record_read(dfd, &rec) == 0 &&
		    mountinfo_top(rec.mountpoint, &major, &minor, type, sizeof(type)) == 0 &&
		    strcmp(type, "fuse.isofs-overlay") == 0 && statfs(rec.mountpoint, &sfs) < 0 && errno == ENOTCONN)
			(void) mount_unmount_path(rec.mountpoint, true);
		/* The record stays: `isofs umount` of that mountpoint answers from it (and drops it). */
		mount_record_free(&rec);
	}
	return 0;
}
