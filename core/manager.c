/* SPDX-License-Identifier: MIT */
#include "manager.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "init.h"
#include "net-private.h"
#include "serve.h"
#include "userns.h"

static void stdio_to_null(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		(void) dup2(null, 0);
		(void) dup2(null, 1);
		(void) dup2(null, 2);
		close(null);
	}
}

/*
 * Rootless, the server's namespace: the sandbox's own when it maps the
 * subordinate range (the ids of the requests are then the server's, and it
 * may give symlinks and fifos real subordinate owners); else one of its own,
 * over its user's files only.
 */
static int server_userns(const struct plan *p, int sandbox_userns)
{
	if (p->map.kind == IDMAP_ROOT_RANGE)
		return 0;
	if (p->map.kind == IDMAP_SINGLE)
		return userns_enter_self_mapped(p->map.uid, p->map.gid);
	if (p->map.keep_caller) {
		/* --home: the sandbox keeps the caller's id; the server keeps the store's plain map */
		struct idmap plain = p->map;
		plain.keep_caller = false;
		return userns_enter_mapped(&plain);
	}
	if (sandbox_userns < 0)
		return sandbox_userns;
	return setns(sandbox_userns, CLONE_NEWUSER) < 0 ? -errno : 0;
}

void manager_main(struct plan *p, int ctl, int lock_fd)
{
	struct ovl_background *bg = NULL;
	struct clone_args ca = { 0 };
	int mgr[2], sync[2], alone[2] = { -1, -1 }, keep[3] = { ctl, lock_fd, p->exec_listen }, status = 0, r;
	_cleanup_close_ int sandbox_userns = -EBADF; /* rootless with a subordinate range: the server joins it */
	_cleanup_close_ int net_exit_fd = -EBADF;    /* --net=private: slirp4netns lives until it closes */
	bool fuse = !p->mountpoint;
	bool privileged = geteuid() == 0;
	pid_t init;

	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	close_fds_but(keep, 3);
	stdio_to_null();

	/*
	 * The overlay server (threads of this process) allocates for the
	 * sandbox's file operations: with --memory that is charged to the
	 * sandbox too, not to the caller.  Before anything is served or cloned.
	 */
	if (p->cgroup->n && cgroup_attach_memory(p->cgroup, getpid()) < 0)
		ctl_fail(ctl, errno, "resource limits: moving the overlay server into the sandbox's memory cgroup: %s",
			 strerror(errno));

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, mgr) < 0 || pipe2(sync, O_CLOEXEC) < 0 ||
	    (plan_manager_idle(p) && pipe2(alone, O_CLOEXEC) < 0))
		ctl_fail(ctl, errno, "%s", strerror(errno));

	ca.flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
		   (p->net_none || p->net_private ? CLONE_NEWNET : 0);
	ca.exit_signal = SIGCHLD;
	init = (pid_t) syscall(SYS_clone3, &ca, sizeof(ca));
	if (init < 0)
		ctl_fail(ctl, errno, "creating the namespaces: %s", strerror(errno));
	if (init == 0) {
		struct init_config cfg = {
			.ctl = ctl,
			.mgr = fuse ? mgr[1] : -1,
			.sync_fd = sync[0],
			.mountpoint = p->mountpoint,
			.mountpoint_dev = p->mountpoint_dev,
			.ephemeral_layer = p->ephemeral_layer,
			.layer_size = p->layer_size,
			.table = &p->table,
			.hostname = p->hostname,
			.net_none = p->net_none || p->net_private, /* its own namespace: loopback up */
			.may_setgroups = p->map.kind != IDMAP_SINGLE,
			.caps = p->caps,
			.filter = p->filter.len ? &p->filter : NULL,
			.exec_listen = p->exec_listen,
			.alone_fd = alone[1],
		};
		close(mgr[0]);
		close(sync[1]);
		if (alone[0] >= 0)
			close(alone[0]);
		if (!fuse)
			close(mgr[1]);
		init_main(&cfg);
	}
	close(mgr[1]);
	close(sync[0]);
	if (alone[1] >= 0)
		close(alone[1]);
	if (p->exec_listen >= 0)
		close(p->exec_listen); /* the init's alone: it dies with it, and clients see ECONNREFUSED */
	(void) ctl_send(ctl, CTL_INIT_PID, init, 0, NULL, 0, NULL, 0);
	r = idmap_write(&p->map, init);
	if (r < 0) {
		kill(init, SIGKILL);
		ctl_fail(ctl, -r, "user namespace: %s: %s",
			 p->map.kind == IDMAP_SUBID ? "newuidmap/newgidmap" : "id maps", strerror(-r));
	}
	/* Into the sandbox's cgroups before it runs anything: every process it makes follows. */
	if (p->cgroup->n && cgroup_attach(p->cgroup, init) < 0) {
		int e = errno;
		kill(init, SIGKILL);
		ctl_fail(ctl, e, "resource limits: moving the sandbox into its cgroup: %s", strerror(e));
	}
	/* Before the init is told to go on: it then becomes non-dumpable, its /proc/PID closed to us. */
	if (fuse && p->map.kind == IDMAP_SUBID) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) init);
		sandbox_userns = open(path, O_RDONLY | O_CLOEXEC);
		if (sandbox_userns < 0)
			sandbox_userns = -errno;
	}
	/* Connected before the init goes on (and closes its /proc/PID to us): commands find the network up. */
	if (p->net_private) {
		char why[256];
		r = net_private_start(init, &net_exit_fd, why, sizeof(why));
		if (r < 0) {
			kill(init, SIGKILL);
			ctl_fail(ctl, -r, "network: %s", why);
		}
	}
	if (write(sync[1], "", 1) != 1)
		ctl_fail(ctl, ESRCH, "%s", "the sandbox's init died");
	close(sync[1]);
	if (alone[0] >= 0) {
		/* nothing left to do once the init is set up (or dead): it goes on alone (manager.h) */
		char c;
		while (read(alone[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}

	if (fuse) {
		struct ctl_msg m = { 0 };
		char errbuf[512] = "";
		struct ovl_serve_config cfg = {
			.lowers = p->lowers.paths,
			.nlowers = p->lowers.n,
			.upper = p->upper,
			.work = p->work,
			.userxattr = -1,
			.writeback = false,
			.errbuf = errbuf,
			.errlen = sizeof(errbuf),
		};
		r = ctl_recv(mgr[0], &m);
		if (r > 0 && m.type == CTL_FUSE_FD && m.nfds == 1) {
			int fuse_fd = m.fds[0];
			m.nfds = 0; /* the session owns it now */
			enum ovl_owners owners = privileged ? OVL_OWNERS_REAL
						 : p->map.kind == IDMAP_SUBID ? OVL_OWNERS_SUBORDINATE : OVL_OWNERS_XATTR;
			r = server_userns(p, sandbox_userns);
			if (r == 0)
				r = ovl_serve_start(&cfg, fuse_fd, owners, &bg);
			(void) ctl_send(mgr[0], CTL_FUSE_FD, r < 0 ? -r : 0, 0, NULL, 0, NULL, 0);
			if (r < 0 && errbuf[0])
				(void) ctl_send(ctl, CTL_FAILED, -r, 0, errbuf, strlen(errbuf), NULL, 0);
		}
		if (r > 0)
			ctl_msg_clear(&m);
	}
	/* From now on the owner talks to the init alone, and sees EOF when it dies. */
	close(ctl);
	close(mgr[0]);
	while (waitpid(init, &status, 0) < 0 && errno == EINTR)
		;
	ovl_serve_stop(bg);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 125);
}

/* ---- the owner ---- */

