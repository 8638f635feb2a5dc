/* SPDX-License-Identifier: MIT */
#define FUSE_USE_VERSION 312 /* fuse_session_loop_mt() taking a fuse_loop_cfg_create() config */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "overlay.h"

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int write_proc(const char *file, const char *text)
{
	int fd = open(file, O_WRONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = write(fd, text, strlen(text)) == (ssize_t) strlen(text) ? 0 : -EIO;
	close(fd);
	return r;
}

/*
 * Rootless: after the mount (fusermount3 needs the real user), the server
 * becomes root of a user namespace of its own that maps only its user.  It then
 * holds every capability over its own files — it reads a 0000 file of the
 * image, creates 0/0 whiteouts — and over nothing else.  Requests and replies
 * keep the mounter's ids: the connection belongs to the initial namespace.
 */
static int enter_own_userns(uid_t uid, gid_t gid)
{
	char map[64];
	int r;

	if (unshare(CLONE_NEWUSER) < 0)
		return -errno;
	r = write_proc("/proc/self/setgroups", "deny");
	if (r < 0 && r != -ENOENT)
		return r;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
	r = write_proc("/proc/self/uid_map", map);
	if (r < 0)
		return r;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
	return write_proc("/proc/self/gid_map", map);
}

int ovl_serve(const struct ovl_serve_config *cfg)
{
	struct ovl_fs fs = { 0 };
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop = NULL;
	char optbuf[4200];
	int r;

	fs.privileged = geteuid() == 0;
	fs.caller_uid = geteuid();
	fs.caller_gid = getegid();
	fs.root_uid = fs.privileged ? 0 : geteuid();
	fs.root_gid = fs.privileged ? 0 : getegid();
	fs.timeout = cfg->timeout > 0 ? cfg->timeout : 86400;
	fs.writeback = cfg->writeback;
	fs.debug = cfg->debug;
	pthread_mutex_init(&fs.lock, NULL);
	raise_fd_limit();

	r = ovl_fs_init(&fs, cfg->lowers, cfg->nlowers, cfg->upper, cfg->work,
			cfg->userxattr >= 0 ? cfg->userxattr != 0 : !fs.privileged, cfg->errbuf, cfg->errlen);
	if (r < 0) {
		if (cfg->errbuf && !cfg->errbuf[0])
			snprintf(cfg->errbuf, cfg->errlen, "%s", strerror(-r));
		goto out;
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
	se = fuse_session_new(&args, &ovl_ops, sizeof(ovl_ops), &fs);
	if (!se) {
		snprintf(cfg->errbuf, cfg->errlen, "invalid FUSE options '%s'", optbuf);
		r = -EINVAL;
		goto out;
	}
	if (fuse_session_mount(se, cfg->mountpoint) != 0) {
		snprintf(cfg->errbuf, cfg->errlen, "cannot mount on '%s'", cfg->mountpoint);
		r = -EIO;
		goto out_destroy;
	}
	if (cfg->ready && (r = cfg->ready(cfg->userdata)) < 0)
		goto out_unmount;
	if (!fs.privileged && (r = enter_own_userns(fs.caller_uid, fs.caller_gid)) < 0) {
		snprintf(cfg->errbuf, cfg->errlen, "user namespace for the server: %s", strerror(-r));
		goto out_unmount;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		r = -EIO;
		goto out_unmount;
	}
	loop = fuse_loop_cfg_create();
	if (!loop) {
		r = -ENOMEM;
		goto out_signals;
	}
	fuse_loop_cfg_set_clone_fd(loop, 0);
	fuse_loop_cfg_set_max_threads(loop, cfg->threads ? cfg->threads : 16);
	/* Keep idle workers: a thread (and its splice pipe) per request costs more than the request. */
	fuse_loop_cfg_set_idle_threads(loop, cfg->threads ? cfg->threads : 16);
	r = fuse_session_loop_mt(se, loop);
	r = r < 0 ? r : r > 0 ? -EINTR : 0;
	fuse_loop_cfg_destroy(loop);
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
	return r;
}
