/* SPDX-License-Identifier: MIT */
#include "init.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <linux/keyctl.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ctl.h"
#include "fd-util.h"
#include "nested-ns.h"

extern char **environ;

#define BASE "/tmp" /* a private tmpfs over it holds the new root and staged files */

static int loopback_up(void)
{
	struct ifreq ifr = { 0 };
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/*
 * The network namespace of --net=none belongs to our user namespace, not to
 * the commands' nested one, so their CAP_NET_BIND_SERVICE would not count
 * there: open the low ports of this loopback-only namespace instead (docker
 * does the same for every container).  Dropping the capability keeps them
 * closed.  Done through the host's /proc, before pivot_root makes /proc/sys
 * read-only; net sysctls are those of the opener's namespace.  Best effort:
 * a kernel before 4.11 or a read-only /proc/sys around isofs (a container)
 * leaves the ports closed, which is no reason to refuse the sandbox.
 */
static int low_ports_open(void)
{
	_cleanup_close_ int fd = open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return write(fd, "0", 1) == 1 ? 0 : -errno;
}

/* -errno, with "WHAT: the error" in err. */
static int setup_error(char *err, size_t errlen, const char *what)
{
	int e = errno;

	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -e;
}

/* The id this namespace shows for one it does not map (65534 unless the host changed it). */
static unsigned overflow_id(const char *file)
{
	char buf[16] = "";
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);

	return fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0 ? (unsigned) strtoul(buf, NULL, 10) : 65534;
}

/*
 * A throwaway writable layer over a read-only view (--ephemeral): kernel
 * overlayfs, the view its only lower, the upper and work dirs on a tmpfs of
 * this mount namespace, gone with it.  userxattr is the only mode that works
 * in a user namespace, and one that never follows a redirect nor trusts
 * metacopy: what the view shows is the image's, hostile.  The overlay's root
 * shows the upper's root, which takes the view root's mode and owner (root,
 * when that owner is not mapped here: the overflow id).
 */
static int mount_ephemeral_layer(const struct init_config *cfg, int tree_fd, char *err, size_t errlen)
{
	char opts[64];
	struct statfs sf;
	struct stat st;
	uid_t uid;
	gid_t gid;

	if (fstat(tree_fd, &st) < 0)
		return setup_error(err, errlen, "the view");
	/*
	 * The one checked by the owner, still: a view of isofs, read-only (a
	 * lower must not change under overlayfs).  A kept view (its device
	 * given, and checked by build_root) has a server that serves no upper:
	 * nothing changes it, and statfs would be a round trip to it.
	 */
	if (!cfg->mountpoint_dev) {
		if (fstatfs(tree_fd, &sf) < 0)
			return setup_error(err, errlen, "the view");
		if (sf.f_type != FUSE_SUPER_MAGIC || !(sf.f_flags & ST_RDONLY)) {
			snprintf(err, errlen, "the view: no longer a read-only view of isofs mount (remounted meanwhile)");
			return -ESTALE;
		}
	}
	uid = st.st_uid == overflow_id("/proc/sys/kernel/overflowuid") ? 0 : st.st_uid;
	gid = st.st_gid == overflow_id("/proc/sys/kernel/overflowgid") ? 0 : st.st_gid;
	if (mkdir(BASE "/lower", 0700) < 0 || mkdir(BASE "/layer", 0700) < 0)
		return setup_error(err, errlen, BASE);
	if (move_mount(tree_fd, "", AT_FDCWD, BASE "/lower", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return setup_error(err, errlen, "binding the view");
	snprintf(opts, sizeof(opts), "mode=0700,size=%" PRIu64, cfg->layer_size);
	if (mount("tmpfs", BASE "/layer", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return setup_error(err, errlen, "the ephemeral layer's tmpfs");
	if (mkdir(BASE "/layer/upper", 0700) < 0 || mkdir(BASE "/layer/work", 0700) < 0 ||
	    chown(BASE "/layer/upper", uid, gid) < 0 || chmod(BASE "/layer/upper", st.st_mode & 07777) < 0)
		return setup_error(err, errlen, "the ephemeral layer");
	/* Without user xattrs on tmpfs overlayfs mounts, then fails the first directory it must make opaque. */
	if (setxattr(BASE "/layer/work", "user.isofs.probe", "", 0, 0) < 0)
		return setup_error(err, errlen, "--ephemeral needs user xattrs on tmpfs (Linux 6.6 or later)");
	(void) removexattr(BASE "/layer/work", "user.isofs.probe");
	if (mount("overlay", BASE "/root", "overlay", MS_NOSUID | MS_NODEV,
		  "lowerdir=" BASE "/lower,upperdir=" BASE "/layer/upper,workdir=" BASE "/layer/work,userxattr") < 0)
		return setup_error(err, errlen, "--ephemeral: kernel overlayfs over the view");
	return 0;
}

/* The new root: the overlay mounted here (its fd to the manager), the bound mountpoint, or a layer over it. */
static int mount_root(const struct init_config *cfg, int tree_fd, char *err, size_t errlen)
{
	char opts[128];
	struct ctl_msg ack;
	int fuse_fd, r;

	if (tree_fd >= 0 && cfg->ephemeral_layer)
		return mount_ephemeral_layer(cfg, tree_fd, err, errlen);
	if (tree_fd >= 0) {
		if (move_mount(tree_fd, "", AT_FDCWD, BASE "/root", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
			snprintf(err, errlen, "binding the mountpoint: %s", strerror(errno));
			return -errno;
		}
		return 0;
	}
	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse_fd < 0) {
		snprintf(err, errlen, "/dev/fuse: %s", strerror(errno));
		return -errno;
	}
	/* allow_other: the sandbox's processes have many ids; the kernel checks modes (default_permissions). */
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions",
		 fuse_fd);
	if (mount("isofs", BASE "/root", "fuse.isofs-overlay", MS_NOSUID | MS_NODEV, opts) < 0) {
		snprintf(err, errlen, "mounting the overlay: %s", strerror(errno));
		close(fuse_fd);
		return -errno;
	}
	r = ctl_send(cfg->mgr, CTL_FUSE_FD, 0, 0, NULL, 0, &fuse_fd, 1);
	close(fuse_fd);
	if (r == 0)
		r = ctl_recv(cfg->mgr, &ack);
	if (r <= 0) {
		snprintf(err, errlen, "the overlay server did not start");
		return -EIO;
	}
	r = ack.a;
	ctl_msg_clear(&ack);
	if (r != 0) {
		snprintf(err, errlen, "the overlay server: %s", strerror(r));
		return -r;
	}
	return 0;
}

/* The mount opened is the one checked by the owner (the path may have changed since): no request to the server. */
static bool same_device(int fd, dev_t dev)
{
	struct statx stx;

	return statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE, &stx) == 0 &&
	       stx.stx_dev_major == major(dev) && stx.stx_dev_minor == minor(dev);
}

static void build_root(const struct init_config *cfg)
{
	char err[512] = "";
	_cleanup_close_ int rootfd = -1, stagingfd = -1, tree_fd = -1;
	char c;
	int r;

	if (read(cfg->sync_fd, &c, 1) != 1)
		_exit(125); /* the manager is gone */
	close(cfg->sync_fd);
	/* Only now: a user's manager writes our maps through /proc/PID, which non-dumpable would close to it. */
	(void) prctl(PR_SET_DUMPABLE, 0); /* nothing in the sandbox may ptrace the setup */
	if (cfg->may_setgroups)
		(void) setgroups(0, NULL); /* host groups mean nothing here */
	/* Root of the namespace, whatever the caller maps to (--home keeps it at its own id): what it makes is root's. */
	if (getuid() != 0 && cfg->may_setgroups && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		ctl_fail(cfg->ctl, errno, "becoming root of the sandbox: %s", strerror(errno));

	/* Nothing we mount here may reach the host's mounts. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		ctl_fail(cfg->ctl, errno, "making / a slave mount: %s", strerror(errno));
	if ((r = setup_open_sources(cfg->table, err, sizeof(err))) < 0)
		ctl_fail(cfg->ctl, -r, "%s", err);
	if (cfg->net_none && (cfg->caps.kept & CAPS_BIT(CAP_NET_BIND_SERVICE)))
		(void) low_ports_open();
	if (cfg->mountpoint) {
		tree_fd = open_tree(AT_FDCWD, cfg->mountpoint, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (tree_fd < 0)
			ctl_fail(cfg->ctl, errno, "mountpoint %s: %s", cfg->mountpoint, strerror(errno));
		if (cfg->mountpoint_dev && !same_device(tree_fd, cfg->mountpoint_dev))
			ctl_fail(cfg->ctl, ESTALE, "mountpoint %s: no longer the sandbox's view (unmounted meanwhile)", cfg->mountpoint);
	}
	if (mount("tmpfs", BASE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=1m") < 0)
		ctl_fail(cfg->ctl, errno, "tmpfs on %s: %s", BASE, strerror(errno));
	if (mkdir(BASE "/root", 0755) < 0 || mkdir(BASE "/staging", 0755) < 0)
		ctl_fail(cfg->ctl, errno, "%s: %s", BASE, strerror(errno));
	if ((r = mount_root(cfg, tree_fd, err, sizeof(err))) < 0)
		ctl_fail(cfg->ctl, -r, "%s", err);
	rootfd = open(BASE "/root", O_PATH | O_DIRECTORY | O_CLOEXEC);
	stagingfd = open(BASE "/staging", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || stagingfd < 0)
		ctl_fail(cfg->ctl, errno, "%s: %s", BASE, strerror(errno));
	if ((r = setup_apply(cfg->table, rootfd, stagingfd, err, sizeof(err))) < 0)
		ctl_fail(cfg->ctl, -r, "%s", err);

	/* pivot_root onto itself, then detach the old root: nothing of the host stays reachable. */
	if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		ctl_fail(cfg->ctl, errno, "pivot_root: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0)
		ctl_fail(cfg->ctl, errno, "detaching the old root: %s", strerror(errno));
	if (chdir("/") < 0)
		ctl_fail(cfg->ctl, errno, "chdir /: %s", strerror(errno));

	if (cfg->hostname && sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
		ctl_fail(cfg->ctl, errno, "hostname: %s", strerror(errno));
	if (cfg->net_none && loopback_up() < 0)
		ctl_fail(cfg->ctl, errno, "loopback: %s", strerror(errno));
}

/*
 * A fresh anonymous session keyring, shared by all the sandbox's commands:
 * the caller's session keyring is neither readable nor writable inside (as
 * runc and crun do).  Without keyrings, or with keyctl refused by a filter
 * around us, the commands cannot reach any keyring either.
 */
static int join_session_keyring(void)
{
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) >= 0)
		return 0;
	return errno == ENOSYS || errno == EPERM ? 0 : -errno;
}


/* ---- a command ---- */

static char **make_env(const struct exec_request *req, const char *hostname)
{
	static const char *const base[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
	size_t n = 0, cap = 8;
	char **env;
	char *s;

	for (char **e = req->env; *e; e++)
		cap++;
	env = calloc(cap, sizeof(char *));
	if (!env)
		return NULL;
	/* Later entries override earlier ones with the same key. */
#define PUT(str)                                                                          \
	do {                                                                              \
		size_t k = strcspn((str), "=");                                           \
		size_t i;                                                                 \
		for (i = 0; i < n; i++)                                                   \
			if (strncmp(env[i], (str), k + 1) == 0)                           \
				break;                                                    \
		env[i] = (char *) (str);                                                  \
		if (i == n)                                                               \
			n++;                                                              \
	} while (0)
	PUT(base[0]);
	if (asprintf(&s, "HOME=%s", (req->flags & EXEC_HAS_USER) && req->uid != 0 ? "/" : "/root") >= 0)
		PUT(s);
	if (hostname && asprintf(&s, "HOSTNAME=%s", hostname) >= 0)
		PUT(s);
	for (char **e = req->env; *e; e++)
		if (strchr(*e, '='))
			PUT(*e);
#undef PUT
	env[n] = NULL;
	return env;
}

/*
 * As podman: root keeps the set (exec as root gives it back from the
 * bounding set, so nothing is inheritable or ambient); another uid keeps only
 * what cap_add named, ambient so that it survives exec.
 */
static int drop_privileges(const struct init_config *cfg, const struct exec_request *req)
{
	bool as_root = !(req->flags & EXEC_HAS_USER) || req->uid == 0;
	uint64_t keep = as_root ? cfg->caps.kept : cfg->caps.user;

	capng_clear(CAPNG_SELECT_ALL);
	for (unsigned c = 0; c < 64; c++) {
		if (cfg->caps.kept & CAPS_BIT(c))
			capng_update(CAPNG_ADD, CAPNG_BOUNDING_SET, c);
		if (keep & CAPS_BIT(c))
			capng_update(CAPNG_ADD,
				     CAPNG_EFFECTIVE | CAPNG_PERMITTED |
					     (as_root ? 0 : CAPNG_INHERITABLE | CAPNG_AMBIENT),
				     c);
	}
	/* The bounding set first, while CAP_SETPCAP is still there. */
	if (capng_apply(CAPNG_SELECT_BOUNDS) < 0)
		return -EPERM;
	if (req->flags & EXEC_HAS_USER) {
		if (cfg->may_setgroups && setgroups(0, NULL) < 0)
			return -errno;
		if (setresgid(req->gid, req->gid, req->gid) < 0)
			return -errno;
		if (prctl(PR_SET_KEEPCAPS, 1) < 0 || setresuid(req->uid, req->uid, req->uid) < 0)
			return -errno;
		(void) prctl(PR_SET_KEEPCAPS, 0);
	}
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		return -EPERM;
	if (!as_root && keep)
		(void) capng_apply(CAPNG_SELECT_AMBIENT);
	else
		(void) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}

/* What the command's process reports before exec when it fails: the stage, then the errno. */
enum { REPORT_SETUP, REPORT_EXEC, REPORT_WORKDIR };

/* In the child: never returns.  Failures go to `status` as (stage, errno). */
static void __attribute__((noreturn))
exec_command(const struct init_config *cfg, struct nested_ns *ns, const struct exec_request *req,
	     const int fds[3], int status)
{
	sigset_t all;
	char **env;
	int r, report[2];

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < _NSIG; sig++)
		signal(sig, SIG_DFL);

	/* Below the init's namespaces, where every mount it made is locked. */
	r = nested_ns_enter(ns);
	if (r < 0) {
		errno = -r;
		goto fail_setup;
	}

	/* setsid: the command cannot reach the caller's terminal (TIOCSTI). */
	if ((req->flags & (EXEC_NEW_SESSION | EXEC_TTY)) && setsid() < 0)
		goto fail_setup;
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			goto fail_setup;
	if ((req->flags & EXEC_TTY) && ioctl(0, TIOCSCTTY, 0) < 0)
		goto fail_setup;
	env = make_env(req, cfg->hostname);
	if (!env)
		goto fail_setup;
	if (chdir(req->cwd ? req->cwd : (req->flags & EXEC_HAS_USER) && req->uid != 0 ? "/" : "/root") < 0 &&
	    (req->cwd || chdir("/") < 0)) {
		r = errno;
		report[0] = REPORT_WORKDIR;
		report[1] = r;
		(void) write(status, report, sizeof(report));
		_exit(125);
	}
	r = drop_privileges(cfg, req);
	/* Last: the filter may refuse what the steps above need (setns, for one). */
	if (r == 0 && cfg->filter)
		r = syscall_filter_load(cfg->filter);
	if (r < 0) {
		errno = -r;
		goto fail_setup;
	}
	/* Nothing of ours goes into the command but 0-2 (and the status pipe, closed by exec). */
	(void) syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	environ = env;
	execvp(req->argv[0], req->argv);
	report[0] = REPORT_EXEC;
	report[1] = errno;
	(void) write(status, report, sizeof(report));
	_exit(127);
fail_setup:
	report[0] = REPORT_SETUP;
	report[1] = errno;
	(void) write(status, report, sizeof(report));
	_exit(125);
}

static int open_pty(int *ret_master, int *ret_slave)
{
	char name[64];
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), s;

	if (m < 0)
		return -errno;
	if (unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
		close(m);
		return -errno;
	}
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		close(m);
		return -errno;
	}
	*ret_master = m;
	*ret_slave = s;
	return 0;
}

/*
 * Starts a command; returns its pid or 0 when it could not be started (whoever
 * asked, on `reply`, is told).  An exec client's command always gets a session
 * (and so a process group) of its own: what it leaves behind there ends with it.
 */
static pid_t start_command(const struct init_config *cfg, struct nested_ns *ns, struct ctl_msg *m, int reply,
			   bool own_session)
{
	struct exec_request req;
	int fds[3], st[2], report[2], master = -1, slave = -1, r;
	pid_t pid;
	ssize_t n;

	r = exec_request_decode(m->payload, m->len, &req);
	if (r < 0 || (!(req.flags & EXEC_TTY) && m->nfds != 3)) {
		const char *msg = "malformed exec request";
		(void) ctl_send(reply, CTL_EXEC_FAILED, EINVAL, 0, msg, strlen(msg), NULL, 0);
		if (r == 0)
			exec_request_free(&req);
		return 0;
	}
	if (own_session)
		req.flags |= EXEC_NEW_SESSION;
	if (req.flags & EXEC_TTY) {
		r = open_pty(&master, &slave);
		if (r < 0) {
			(void) ctl_send(reply, CTL_EXEC_FAILED, -r, 0, "pty", 3, NULL, 0);
			exec_request_free(&req);
			return 0;
		}
		fds[0] = fds[1] = fds[2] = slave;
	} else {
		memcpy(fds, m->fds, sizeof(fds));
	}
	r = nested_ns_prepare(ns);
	if (r < 0 || pipe2(st, O_CLOEXEC) < 0) {
		(void) ctl_send(reply, CTL_EXEC_FAILED, r < 0 ? -r : errno, 0, "pipe", 4, NULL, 0);
		if (master >= 0)
			close(master);
		if (slave >= 0)
			close(slave);
		exec_request_free(&req);
		return 0;
	}
	pid = fork();
	if (pid == 0) {
		close(st[0]);
		exec_command(cfg, ns, &req, fds, st[1]);
	}
	close(st[1]);
	if (slave >= 0)
		close(slave);
	if (pid < 0) {
		(void) ctl_send(reply, CTL_EXEC_FAILED, errno, 0, "fork", 4, NULL, 0);
		close(st[0]);
		if (master >= 0)
			close(master);
		exec_request_free(&req);
		return 0;
	}
	if (!nested_ns_made(ns)) {
		const char *what;
		r = nested_ns_adopt(ns, pid, &what);
		if (r < 0) {
			char msg[200];
			snprintf(msg, sizeof(msg), "the commands' namespaces: %s: %s", what, strerror(-r));
			(void) kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			(void) ctl_send(reply, CTL_EXEC_FAILED, -r, 0, msg, strlen(msg), NULL, 0);
			close(st[0]);
			if (master >= 0)
				close(master);
			exec_request_free(&req);
			return 0;
		}
	}
	do
		n = read(st[0], report, sizeof(report));
	while (n < 0 && errno == EINTR);
	close(st[0]);
	if (n == (ssize_t) sizeof(report)) {
		char msg[300];
		if (report[0] == REPORT_EXEC)
			snprintf(msg, sizeof(msg), "%s: %s", req.argv[0], strerror(report[1]));
		else if (report[0] == REPORT_WORKDIR)
			snprintf(msg, sizeof(msg), "working directory '%s': %s", req.cwd ? req.cwd : "/", strerror(report[1]));
		else
			snprintf(msg, sizeof(msg), "setting up the command: %s", strerror(report[1]));
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		/* b: 1 when exec itself failed (126/127), 0 for every setup step (125) */
		(void) ctl_send(reply, CTL_EXEC_FAILED, report[1], report[0] == REPORT_EXEC, msg, strlen(msg), NULL,
				0);
		if (master >= 0)
			close(master);
		exec_request_free(&req);
		return 0;
	}
	(void) ctl_send(reply, CTL_STARTED, pid, 0, NULL, 0, master >= 0 ? &master : NULL, master >= 0 ? 1 : 0);
	if (master >= 0)
		close(master);
	exec_request_free(&req);
	return pid;
}

/* Who sends commands: the owner (slot 0, the session's ctl) and the clients of the exec socket. */
struct client {
	int fd;    /* -1: gone (a slot is free once its command is reaped too) */
	pid_t cmd; /* its running command, 0 when none */
};

#define INIT_MAX_CLIENTS 64
#define OWNER 0

/* An exec client: accepted when it is the owner's user (SO_PEERCRED), told either way. */
static void accept_client(const struct init_config *cfg, struct client *cl)
{
	static const char refused[] = "permission denied: only the user who started the sandbox may run commands in it";
	static const char full[] = "too many clients";
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd = accept4(cfg->exec_listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int slot = -1;

	if (fd < 0)
		return;
	/*
	 * Ids as our user namespace sees them: the owner's uid is our root; any
	 * other host user is another id or the overflow id.  The socket's mode
	 * (0600, in 0700 directories) already keeps others out; this holds even
	 * if someone opened those up.
	 */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.uid != 0) {
		(void) ctl_send(fd, CTL_FAILED, EACCES, 0, refused, strlen(refused), NULL, 0);
		close(fd);
		return;
	}
	for (int i = OWNER + 1; i < INIT_MAX_CLIENTS && slot < 0; i++)
		if (cl[i].fd < 0 && cl[i].cmd == 0)
			slot = i;
	/* Non-blocking: a client that does not read its answers cannot stall the sandbox. */
	if (slot < 0 || ctl_send(fd, CTL_READY, 0, 0, NULL, 0, NULL, 0) < 0) {
		if (slot < 0)
			(void) ctl_send(fd, CTL_FAILED, EBUSY, 0, full, strlen(full), NULL, 0);
		close(fd);
		return;
	}
	cl[slot].fd = fd;
}

/* A client's message: a command to start, or a signal for its command. */
static void serve_client(const struct init_config *cfg, struct nested_ns *ns, struct client *c, bool owner,
			 struct ctl_msg *m)
{
	if (m->type == CTL_EXEC) {
		if (c->cmd)
			(void) ctl_send(c->fd, CTL_EXEC_FAILED, EBUSY, 0, "a command is running", 20, NULL, 0);
		else
			c->cmd = start_command(cfg, ns, m, c->fd, !owner);
	} else if (m->type == CTL_SIGNAL && c->cmd && m->a > 0 && m->a < _NSIG) {
		(void) kill(c->cmd, m->a);
	}
}

static void client_gone(struct client *c)
{
	/* An exec client's command ends with it, as a run's ends with isofs. */
	if (c->cmd) {
		(void) kill(c->cmd, SIGKILL);
		(void) kill(-c->cmd, SIGKILL);
	}
	closep(&c->fd);
	c->fd = -1;
}

/* A process ended: if it was a client's command, the client learns how; its process group goes with it. */
static void command_ended(struct client *cl, pid_t pid, int status)
{
	for (int i = OWNER + 1; i < INIT_MAX_CLIENTS; i++)
		if (cl[i].cmd == pid) {
			(void) kill(-pid, SIGKILL);
			if (cl[i].fd >= 0)
				(void) ctl_send(cl[i].fd, CTL_EXITED, status, 0, NULL, 0, NULL, 0);
			cl[i].cmd = 0;
			return;
		}
}

/*
 * The sandbox's processes killed and reaped, exec clients told of their
 * commands: when the owner's command ends, everything it left behind ends,
 * exec'd commands included, as when the session itself ends.
 */
static void end_all(struct client *cl)
{
	int status;
	pid_t pid;

	(void) kill(-1, SIGKILL);
	while ((pid = waitpid(-1, &status, 0)) > 0 || (pid < 0 && errno == EINTR))
		if (pid > 0)
			command_ended(cl, pid, status);
}

void init_main(const struct init_config *cfg)
{
	struct client cl[INIT_MAX_CLIENTS];
	sigset_t mask;
	int sfd;

	struct nested_ns ns = NESTED_NS_INIT;
	int r;

	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	build_root(cfg);
	r = join_session_keyring();
	if (r < 0)
		ctl_fail(cfg->ctl, -r, "a session keyring of its own: %s", strerror(-r));
	if (cfg->mgr >= 0)
		close(cfg->mgr);

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		ctl_fail(cfg->ctl, errno, "signalfd: %s", strerror(errno));
	/*
	 * Set up, alone from now on when the manager has nothing left to do
	 * (manager.h): it exits once this closes, and our owner's end is then
	 * the control socket's EOF (or EPIPE below), not a parent's death.
	 */
	if (cfg->alone_fd >= 0) {
		(void) prctl(PR_SET_PDEATHSIG, 0);
		close(cfg->alone_fd);
	}
	if (ctl_send(cfg->ctl, CTL_READY, 0, 0, NULL, 0, NULL, 0) < 0)
		_exit(125);
	for (int i = 0; i < INIT_MAX_CLIENTS; i++)
		cl[i] = (struct client){ .fd = -1, .cmd = 0 };
	cl[OWNER].fd = cfg->ctl;

	for (;;) {
		struct pollfd p[2 + INIT_MAX_CLIENTS];
		int who[2 + INIT_MAX_CLIENTS], np = 0;
		bool owner_gone = false;

		p[np++] = (struct pollfd){ sfd, POLLIN, 0 };
		if (cfg->exec_listen >= 0)
			p[np++] = (struct pollfd){ cfg->exec_listen, POLLIN, 0 };
		for (int i = 0; i < INIT_MAX_CLIENTS; i++)
			if (cl[i].fd >= 0) {
				who[np] = i;
				p[np++] = (struct pollfd){ cl[i].fd, POLLIN, 0 };
			}
		if (poll(p, (nfds_t) np, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(125);
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t) sizeof(si))
				;
			for (;;) {
				int status;
				pid_t pid = waitpid(-1, &status, WNOHANG);
				if (pid <= 0)
					break;
				if (pid == cl[OWNER].cmd) {
					end_all(cl);
					cl[OWNER].cmd = 0;
					(void) ctl_send(cfg->ctl, CTL_EXITED, status, 0, NULL, 0, NULL, 0);
				} else {
					command_ended(cl, pid, status);
				}
			}
		}
		if (cfg->exec_listen >= 0 && (p[1].revents & POLLIN))
			accept_client(cfg, cl);
		for (int k = cfg->exec_listen >= 0 ? 2 : 1; k < np; k++) {
			struct client *c = &cl[who[k]];
			struct ctl_msg m;
			if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)) || c->fd < 0)
				continue;
			r = ctl_recv(c->fd, &m);
			if (r == -EAGAIN)
				continue;
			if (r <= 0) {
				if (who[k] == OWNER)
					owner_gone = true; /* the owner is gone: so is the sandbox */
				else
					client_gone(c);
				continue;
			}
			serve_client(cfg, &ns, c, who[k] == OWNER, &m);
			ctl_msg_clear(&m);
		}
		if (owner_gone)
			break;
	}
	end_all(cl);
	/* the owner may return now: what is left is the namespaces' teardown, in our exit */
	(void) ctl_send(cfg->ctl, CTL_ENDED, 0, 0, NULL, 0, NULL, 0);
	_exit(0);
}
