/* SPDX-License-Identifier: MIT */
#define FUSE_USE_VERSION 312
#include "serve.h"

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-util.h"
#include "loop.h"
#include "overlay.h"
#include "userns.h"

/*
 * What the serving process needs of its own state: the highest fd limit it
 * may have, and umask 0.  The kernel has applied the caller's umask to the
 * mode of every CREATE, MKDIR and MKNOD already; the server's own umask (the
 * starter's, often 022) would mask it a second time.
 */
static void server_process_setup(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}
	(void) umask(0);
}

/* The value of the last max_read=N in a comma-separated option list; 0 without one. */
static unsigned fuse_opts_max_read(const char *opts)
{
	unsigned v = 0;

	for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, "max_read=", 9) == 0)
			v = (unsigned) strtoul(p + 9, NULL, 10);
	return v;
}

static unsigned serve_threads(const struct ovl_serve_config *cfg)
{
	return cfg->threads ? cfg->threads : OVL_SERVE_THREADS;
}

static unsigned serve_spin_us(const struct ovl_serve_config *cfg)
{
	return cfg->spin_us < 0 ? 0 : cfg->spin_us ? (unsigned) cfg->spin_us : OVL_SERVE_SPIN_US;
}

/*
 * xattr_permissions: the upper keeps owners and modes in stat overrides, its
 * root marked so (as fuse-overlayfs marks it: what later mounts go by).
 */
static int upper_stat_override(struct ovl_fs *fs, enum stat_override kind)
{
	struct ovl_layer *up = &fs->layers[OVL_UPPER];
	uid_t u;
	gid_t g;
	mode_t perms;
	struct stat st;

	if (fstat(up->fd, &st) < 0)
		return -errno;
	if (!stat_override_get(kind, up->fd, -1, NULL, &u, &g, &perms)) {
		/* the root's stored owner: a user's own root is 0 (ids.c) */
		ovl_stored_attrs(fs, OVL_UPPER, up->fd, -1, NULL, &st, &u, &g, &perms);
		int r = stat_override_set(kind, up->fd, -1, NULL, st.st_mode, u, g, perms);
		if (r < 0)
			return r;
	}
	up->override = kind;
	return 0;
}

/*
 * fuse_session_mount(), with what libfuse (or the fusermount3 it runs) says
 * on stderr when it fails kept in `why` (its last line: "fuse: device not
 * found or open failed", "fusermount3: …") as well as passed on to stderr
 * (the daemon's log).  Before the server has threads: stderr is ours to swap.
 */
static int mount_saying_why(struct fuse_session *se, const char *mountpoint, char *why, size_t size)
{
	char buf[4096];
	int p[2], saved, r;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return fuse_session_mount(se, mountpoint);
	if ((saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)) < 0) {
		close(p[0]);
		close(p[1]);
		return fuse_session_mount(se, mountpoint);
	}
	(void) dup2(p[1], STDERR_FILENO);
	close(p[1]);
	r = fuse_session_mount(se, mountpoint);
	(void) dup2(saved, STDERR_FILENO);
	close(saved);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	if (n > 0) {
		char *last;
		buf[n] = '\0';
		(void) write_all(STDERR_FILENO, buf, (size_t) n);
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
		last = strrchr(buf, '\n');
		last = last ? last + 1 : buf;
		if (size > 0) {
			size_t k = strnlen(last, size - 1);
			memcpy(why, last, k);
			why[k] = '\0';
		}
	}
	return r;
}

int ovl_serve(const struct ovl_serve_config *cfg)
{
	struct ovl_fs fs = { 0 };
	struct idmap map;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct ovl_loop *loop = NULL;
	char why[256] = "";
	char optbuf[4200];
	int r;

	fs.privileged = geteuid() == 0;
	fs.caller_uid = geteuid();
	fs.caller_gid = getegid();
	idmap_choose(&map); /* rootless, the host's ids on the connection: the store's map shifts them */
	if (!fs.privileged)
		idmap_shifts(&map, &fs.ids[0], &fs.ids[1]);
	if (cfg->uidmapping)
		fs.ids[0] = *cfg->uidmapping;
	if (cfg->gidmapping)
		fs.ids[1] = *cfg->gidmapping;
	fs.squash_uid = cfg->squash_uid_set ? (int64_t) cfg->squash_uid : -1;
	fs.squash_gid = cfg->squash_gid_set ? (int64_t) cfg->squash_gid : -1;
	fs.static_nlink = cfg->static_nlink;
	fs.no_fsync = cfg->no_fsync;
	fs.no_xattr = cfg->no_xattr;
	fs.timeout = cfg->timeout > 0 ? cfg->timeout : 86400;
	fs.writeback = cfg->writeback;
	fs.open_handles = cfg->open_handles;
	fs.passthrough = cfg->passthrough;
	fs.debug = cfg->debug;
	pthread_mutex_init(&fs.lock, NULL);
	pthread_rwlock_init(&fs.rename_lock, NULL);
	server_process_setup();
	/*
	 * A process of its own: two malloc arenas, not one per worker (up to
	 * 8 per CPU).  Nodes are allocated under fs->lock anyway, and the
	 * arenas' half-used pages were a tenth of the RSS after a walk.
	 */
	(void) mallopt(M_ARENA_MAX, 2);
	ovl_dircache_init(&fs, cfg->dircache); /* after the fd limit is raised: the budget follows it */

	/*
	 * trusted.* needs root of the initial namespace: root of another one (podman
	 * runs its mount program in its own) gets user.overlay.*, as fuse-overlayfs does.
	 */
	r = ovl_fs_init(&fs, cfg->lowers, cfg->nlowers, cfg->upper, cfg->work,
			cfg->userxattr >= 0 ? cfg->userxattr != 0 : !fs.privileged || !userns_is_initial(), cfg->errbuf,
			cfg->errlen);
	if (r < 0) {
		if (cfg->errbuf && !cfg->errbuf[0])
			snprintf(cfg->errbuf, cfg->errlen, "%s", strerror(-r));
		goto out;
	}
	if (cfg->xattr_permissions && !fs.read_only) {
		r = upper_stat_override(&fs, cfg->xattr_permissions == 1 ? STAT_OVERRIDE_PRIVILEGED : STAT_OVERRIDE_USER);
		if (r < 0) {
			snprintf(cfg->errbuf, cfg->errlen, "xattr_permissions=%d: the upper layer's root: %s",
				 cfg->xattr_permissions, strerror(-r));
			goto out;
		}
	}
	r = ovl_root_init(&fs);
	if (r < 0) {
		snprintf(cfg->errbuf, cfg->errlen, "root of the layers: %s", strerror(-r));
		goto out;
	}

	snprintf(optbuf, sizeof(optbuf), "default_permissions,fsname=isofs-overlay,subtype=isofs-overlay%s%s",
		 cfg->fuse_opts && *cfg->fuse_opts ? "," : "", cfg->fuse_opts ? cfg->fuse_opts : "");
	if (fuse_opt_add_arg(&args, "isofs-overlay") < 0 || fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, optbuf) < 0 || (cfg->debug && fuse_opt_add_arg(&args, "-d") < 0)) {
		r = -ENOMEM;
		goto out;
	}
	fs.max_read = fuse_opts_max_read(cfg->fuse_opts);
	se = fuse_session_new(&args, &ovl_ops, sizeof(ovl_ops), &fs);
	fs.se = se; /* for notifications: a copy-up changes attributes the kernel has cached */
	if (!se) {
		snprintf(cfg->errbuf, cfg->errlen, "invalid FUSE options '%s'", optbuf);
		r = -EINVAL;
		goto out;
	}
	if (mount_saying_why(se, cfg->mountpoint, why, sizeof(why)) != 0) {
		snprintf(cfg->errbuf, cfg->errlen, "cannot mount on '%s': %s", cfg->mountpoint,
			 why[0] ? why : "libfuse gave no reason");
		r = -EIO;
		goto out_destroy;
	}
	if (cfg->ready && (r = cfg->ready(cfg->userdata)) < 0)
		goto out_unmount;
	/*
	 * Rootless: only after the mount (fusermount3 needs the real user).
	 * Requests and replies keep the mounter's ids: the connection belongs to
	 * the initial namespace.
	 */
	if (!fs.privileged && (r = userns_enter_mapped(&map)) < 0) {
		snprintf(cfg->errbuf, cfg->errlen, "user namespace for the server%s: %s",
			 map.kind == IDMAP_SUBID ? " (newuidmap/newgidmap)" : "", strerror(-r));
		goto out_unmount;
	}
	fs.special_owners = !fs.privileged && map.kind == IDMAP_SUBID;
	if (fuse_set_signal_handlers(se) != 0) {
		r = -EIO;
		goto out_unmount;
	}
	r = ovl_loop_new(se, serve_threads(cfg), serve_spin_us(cfg), &loop);
	if (r < 0)
		goto out_signals;
	r = ovl_loop_run(loop);
	ovl_loop_free(loop);
out_signals:
	fuse_remove_signal_handlers(se);
out_unmount:
	fuse_session_unmount(se);
out_destroy:
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	ovl_nodes_free(&fs);
	ovl_fs_destroy(&fs);
	pthread_mutex_destroy(&fs.lock);
	pthread_rwlock_destroy(&fs.rename_lock);
	return r;
}

struct ovl_background {
	struct ovl_fs fs;
	struct fuse_session *se;
	struct ovl_loop *loop;
	pthread_t thread;
	bool running;
};

static void *serve_thread(void *arg)
{
	struct ovl_background *bg = arg;
	(void) ovl_loop_run(bg->loop);
	return NULL;
}

static void background_free(struct ovl_background *bg)
{
	ovl_loop_free(bg->loop);
	if (bg->se)
		fuse_session_destroy(bg->se);
	if (bg->fs.root)
		ovl_nodes_free(&bg->fs);
	ovl_fs_destroy(&bg->fs);
	pthread_mutex_destroy(&bg->fs.lock);
	pthread_rwlock_destroy(&bg->fs.rename_lock);
	free(bg);
}

int ovl_serve_start(const struct ovl_serve_config *cfg, int fuse_fd, enum ovl_owners owners,
		    struct ovl_background **ret)
{
	bool privileged = owners == OVL_OWNERS_REAL;
	struct ovl_background *bg = calloc(1, sizeof(*bg));
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char devfd[32];
	int r;

	if (!bg)
		return -ENOMEM;
	bg->fs.privileged = privileged;
	bg->fs.caller_uid = geteuid();
	bg->fs.caller_gid = getegid();
	bg->fs.special_owners = owners == OVL_OWNERS_SUBORDINATE;
	/* no shift: the requests' ids are the server's, logical ones */
	bg->fs.squash_uid = bg->fs.squash_gid = -1;
	bg->fs.timeout = cfg->timeout > 0 ? cfg->timeout : 86400;
	bg->fs.writeback = cfg->writeback;
	bg->fs.passthrough = cfg->passthrough;
	pthread_mutex_init(&bg->fs.lock, NULL);
	pthread_rwlock_init(&bg->fs.rename_lock, NULL);
	server_process_setup();
	ovl_dircache_init(&bg->fs, cfg->dircache);
	r = ovl_fs_init(&bg->fs, cfg->lowers, cfg->nlowers, cfg->upper, cfg->work,
			cfg->userxattr >= 0 ? cfg->userxattr != 0 : !privileged, cfg->errbuf, cfg->errlen);
	if (r == 0)
		r = ovl_root_init(&bg->fs);
	if (r < 0)
		goto fail;
	if (fuse_opt_add_arg(&args, "isofs") < 0) {
		r = -ENOMEM;
		goto fail;
	}
	bg->se = fuse_session_new(&args, &ovl_ops, sizeof(ovl_ops), &bg->fs);
	bg->fs.se = bg->se;
	fuse_opt_free_args(&args);
	if (!bg->se) {
		r = -EINVAL;
		goto fail;
	}
	/* libfuse takes "/dev/fd/N" as a connection that is mounted already. */
	snprintf(devfd, sizeof(devfd), "/dev/fd/%d", fuse_fd);
	if (fuse_session_mount(bg->se, devfd) != 0) {
		r = -EIO;
		goto fail;
	}
	r = ovl_loop_new(bg->se, serve_threads(cfg), serve_spin_us(cfg), &bg->loop);
	if (r < 0)
		goto fail;
	r = -pthread_create(&bg->thread, NULL, serve_thread, bg);
	if (r < 0)
		goto fail;
	bg->running = true;
	*ret = bg;
	return 0;
fail:
	if (cfg->errbuf && !cfg->errbuf[0])
		snprintf(cfg->errbuf, cfg->errlen, "overlay: %s", strerror(-r));
	background_free(bg);
	return r;
}

void ovl_serve_stop(struct ovl_background *bg)
{
	if (!bg)
		return;
	if (bg->running) {
		struct timespec deadline;

		/*
		 * The loop ends when the connection does: the mount goes with the
		 * sandbox's mount namespace.  Should something keep it alive, give up
		 * after a while rather than hang (the threads end with the process).
		 */
		ovl_loop_stop(bg->loop);
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 10;
		if (pthread_timedjoin_np(bg->thread, NULL, &deadline) != 0)
			return;
	}
	background_free(bg);
}
