/* SPDX-License-Identifier: MIT */
/*
 * Executor sessions, the owner's side (manager.c and init.c are the other
 * two processes).  Processes, each forked (never exec'ed):
 *
 *   owner (the caller) ── ctl ── init (pid 1 of the sandbox, in new user,
 *     │                            mount, PID, IPC, UTS [, net] namespaces)
 *     └── manager: writes the init's id maps, serves the overlay the init
 *         mounted (its /dev/fuse fd comes over a socket), waits for it.
 *
 * The overlay is served from the manager, outside the sandbox's mount
 * namespace, so pivot_root in the sandbox never moves the server's root and
 * the server reaches its layers through fds it opened on the host.  The
 * owner's own process and namespaces are never changed.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "cgroup.h"
#include "ctl.h"
#include "error.h"
#include "process-id.h"
#include "fd-util.h"
#include "fs-util.h"
#include "idmap.h"
#include "image.h"
#include "layers.h"
#include "log.h"
#include "manager.h"
#include "mount-record.h"
#include "net-private.h"
#include "rootfs-setup.h"
#include "sandbox.h"
#include "session-registry.h"
#include "store.h"
#include "warm-view.h"
#include "syscall-filter.h"

struct isofs_session {
	int ctl;
	pid_t manager;
	char name[ISOFS_NAME_MAX + 1];
	store_tmpdir ephemeral;  /* an ephemeral sandbox's upper and work: gone at close */
	int lock_fd;             /* a persistent sandbox's lock */
	int view_lock_fd;        /* a kept view's lock (warm-view.h): shared until the init holds a copy of the view */
	int holds[LAYERS_MAX];   /* its images, held in use (image_hold) */
	int nholds;
	int pty;
	bool running;
	char idmap_note[200];
	struct cgroup_handle cgroup;
	struct registration reg; /* its entry in STORE/running: isofs exec and ps find it there */
	pid_t init;              /* the init's host pid */
	bool manager_idle;       /* plan_manager_idle(): the manager exits once the init is set up */
};

/* An ephemeral sandbox's upper and work, in a temp dir of the store gone at the session's end. */
static int plan_ephemeral(isofs_store *store, const char *name_hint, struct plan *p, isofs_session *s,
			  isofs_error *err)
{
	_cleanup_free_ char *name = sandbox_generate_name(name_hint);
	int r;

	if (!name)
		return error_set(err, ENOMEM, "out of memory");
	snprintf(s->name, sizeof(s->name), "%s", name);
	r = store_tmpdir_create(store, "run", &s->ephemeral);
	if (r < 0)
		return error_errno(err, r, "store %s: temporary directory", store->path);
	if (mkdirat(s->ephemeral.fd, "upper", 0755) < 0 || mkdirat(s->ephemeral.fd, "work", 0700) < 0)
		return error_errno(err, errno, "ephemeral sandbox");
	snprintf(p->upper, sizeof(p->upper), "%s/tmp/%s/upper", store->path, s->ephemeral.name);
	snprintf(p->work, sizeof(p->work), "%s/tmp/%s/work", store->path, s->ephemeral.name);
	return 0;
}

/* --home: the caller's own id inside, its account and its home (isofs.h). */
static int plan_home(struct plan *p, isofs_error *err)
{
	_cleanup_free_ char *passwd_line = NULL;
	_cleanup_free_ char *group_line = NULL;
	struct passwd *pw = getpwuid(getuid());
	struct group *gr = getgrgid(getgid());

	if (!pw)
		return error_set(err, ENOENT, "--home: uid %u has no passwd entry on the host", (unsigned) getuid());
	if (p->map.kind == IDMAP_SINGLE)
		return error_set(err, EPERM, "--home needs a subordinate id range for %s (/etc/subuid, /etc/subgid): %s",
				 pw->pw_name, p->map.why_single);
	if (p->map.kind == IDMAP_SUBID) {
		if (getuid() >= IDMAP_RANGE || getgid() >= IDMAP_RANGE)
			return error_set(err, ERANGE, "--home: uid %u or gid %u is beyond the sandbox's 0..%u",
					 (unsigned) getuid(), (unsigned) getgid(), IDMAP_RANGE - 1);
		p->map.keep_caller = true;
	}
	/* root's own line stays the image's */
	if (getuid() != 0 &&
	    asprintf(&passwd_line, "%s:x:%u:%u:%s:%s:%s", pw->pw_name, (unsigned) getuid(), (unsigned) getgid(),
		     pw->pw_gecos ? pw->pw_gecos : "", pw->pw_dir, pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh") < 0)
		return error_set(err, ENOMEM, "out of memory");
	if (getgid() != 0 && gr && asprintf(&group_line, "%s:x:%u:", gr->gr_name, (unsigned) getgid()) < 0)
		return error_set(err, ENOMEM, "out of memory");
	return setup_add_home(&p->table, pw->pw_dir, passwd_line, group_line, err);
}

/* `path` is `dir` or below it (both absolute and resolved). */
static bool path_is_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/' || (n == 1 && dir[0] == '/'));
}

static int plan_target(isofs_store *store, const isofs_session_options *o, struct plan *p, isofs_session *s,
		       isofs_image_info *img, isofs_sandbox_info *sb, char **mp_storage, isofs_error *err)
{
	int r, targets = !!o->image + !!o->sandbox + !!o->mountpoint;

	if (targets != 1)
		return error_set(err, EINVAL, "give one target: an image, a sandbox or a mountpoint");
	if (o->ephemeral_layer && (o->sandbox || o->in_place))
		return error_set(err, EINVAL, "an ephemeral layer goes over an image or a read-only view, not a "
					      "sandbox or a directory in place");
	if (o->view_idle && !(o->ephemeral_layer && o->image))
		return error_set(err, EINVAL, "an idle time is for the view kept for ephemeral runs of an image");
	if (o->view_idle > WARM_VIEW_IDLE_MAX)
		return error_set(err, EINVAL, "idle time %u s: at most %u s", o->view_idle, WARM_VIEW_IDLE_MAX);
	if (o->ephemeral_layer && o->image) {
		/* The image's view kept mounted between runs: no server to start, its page cache warm. */
		r = isofs_image_get(store, o->image, img, err);
		if (r < 0)
			return r;
		r = warm_view_acquire(store, o->image, o->view_idle ? o->view_idle : WARM_VIEW_IDLE_DEFAULT, mp_storage,
				      &p->mountpoint_dev, &s->view_lock_fd, err);
		if (r < 0)
			return r;
		_cleanup_free_ char *name = sandbox_generate_name(o->image);
		if (!name)
			return error_set(err, ENOMEM, "out of memory");
		snprintf(s->name, sizeof(s->name), "%s", name);
		p->mountpoint = *mp_storage;
		p->ephemeral_layer = true;
		p->layer_size = o->tmp_size ? o->tmp_size : setup_default_tmp_size();
		return 0;
	}
	if (o->mountpoint) {
		struct stat st;
		*mp_storage = realpath(o->mountpoint, NULL);
		if (!*mp_storage || stat(*mp_storage, &st) < 0)
			return error_errno(err, errno, "directory '%s'", o->mountpoint);
		if (!S_ISDIR(st.st_mode))
			return error_set(err, ENOTDIR, "'%s' is not a directory", o->mountpoint);
		bool is_view = mountpoint_is_view(*mp_storage);

		if (o->ephemeral_layer && !is_view)
			return error_set(err, EINVAL,
					 "--ephemeral: '%s' is not a view of isofs mount (a plain directory is the "
					 "read-only lower of an ephemeral sandbox already)",
					 o->mountpoint);
		/* A lower that changes under kernel overlayfs is undefined behaviour: only a view nothing writes. */
		if (o->ephemeral_layer && !mount_is_read_only(*mp_storage))
			return error_set(err, EINVAL,
					 "--ephemeral: '%s' is a writable view; the layer goes over a read-only one "
					 "(isofs mount IMAGE DIR --read-only)",
					 o->mountpoint);
		if (!o->in_place && !is_view) {
			/* A plain directory: the read-only lower of an ephemeral sandbox, never written. */
			r = plan_ephemeral(store, "dir", p, s, err);
			return r < 0 ? r : view_lowers_of_dir(store, *mp_storage, &p->lowers, err);
		}
		if (o->in_place && path_is_below(*mp_storage, store->path))
			return error_set(err, EPERM, "'%s' is in the store %s: refusing to write into it in place",
					 o->mountpoint, store->path);
		p->mountpoint = *mp_storage;
		p->ephemeral_layer = o->ephemeral_layer;
		p->layer_size = o->tmp_size ? o->tmp_size : setup_default_tmp_size();
		snprintf(s->name, sizeof(s->name), "%s", "sandbox");
		return 0;
	}
	if (o->sandbox) {
		_cleanup_close_ int dfd = -EBADF;
		r = isofs_sandbox_get(store, o->sandbox, sb, err);
		if (r < 0)
			return r;
		snprintf(s->name, sizeof(s->name), "%s", o->sandbox);
		r = sandbox_open_dir(store, o->sandbox, &dfd, err);
		if (r < 0)
			return r;
		if (sb->mountpoint) {
			/*
			 * Mounted: run in that view, whose server the mount's users share —
			 * if the path still leads to it.  Unmounted, it is a plain host
			 * directory, which the sandbox must never run on.
			 */
			struct mount_record rec;
			const char *why = "its mount record is unreadable";
			r = mount_record_read(dfd, &rec);
			if (r == 0) {
				r = mount_record_verify(&rec, &why);
				p->mountpoint_dev = makedev(rec.major, rec.minor);
				mount_record_free(&rec);
			}
			if (r < 0)
				return error_set(err, ESTALE,
						 "sandbox '%s' is recorded as mounted at %s, but that is not its live "
						 "mount (%s); refusing to run on the directory underneath "
						 "(isofs umount %s cleans up)",
						 o->sandbox, sb->mountpoint, why, sb->mountpoint);
			p->mountpoint = sb->mountpoint;
			return 0;
		}
		r = sandbox_lock_take(dfd, &s->lock_fd);
		if (r == -EBUSY)
			return error_set(err, EBUSY,
					 "sandbox '%s' is in use by another command; run beside it with `isofs exec %s -- "
					 "CMD`, or mount it to share its view",
					 o->sandbox, o->sandbox);
		if (r < 0)
			return error_errno(err, r, "sandbox '%s': lock", o->sandbox);
		/* Ours now: no server runs, so a mount record is a killed server's; it stays for `isofs umount`. */
		r = isofs_image_get(store, sb->image, img, err);
		if (r < 0)
			return r;
		{
			/* Its root's mode is the sandbox's /: one nobody may enter fails every command later, unexplained. */
			struct stat st;
			if (fstatat(dfd, "upper", &st, AT_SYMLINK_NOFOLLOW) < 0)
				return error_errno(err, errno, "sandbox '%s': %s", o->sandbox, sb->upper);
			if (!S_ISDIR(st.st_mode) || (st.st_mode & 0500) != 0500)
				return error_set(err, EACCES,
						 "sandbox '%s': its upper directory %s has mode %04o: the sandbox's / would "
						 "refuse every command (chmod u+rx it)",
						 o->sandbox, sb->upper, (unsigned) (st.st_mode & 07777));
		}
		snprintf(p->upper, sizeof(p->upper), "%s", sb->upper);
		snprintf(p->work, sizeof(p->work), "%s", sb->work);
	} else {
		r = isofs_image_get(store, o->image, img, err);
		if (r == 0)
			r = plan_ephemeral(store, o->image, p, s, err);
		if (r < 0)
			return r;
	}
	/* Held in use for the session's life: `image rm` refuses them while it runs. */
	r = view_lowers_get(store, o->sandbox ? sb->image : o->image, NULL, &p->lowers, err);
	if (r < 0)
		return r;
	s->nholds = view_lowers_take_holds(&p->lowers, s->holds);
	return 0;
}

/*
 * The exec socket, which the init inherits: named by the sandbox when the
 * session holds it (or an ephemeral one's fresh name); sessions in a mounted
 * view share its sandbox, so each gets a name of its own.
 */
static int session_listen(isofs_store *store, const isofs_session_options *o, struct plan *p,
			  isofs_session *s, isofs_error *err)
{
	_cleanup_free_ char *id = p->mountpoint && !o->image ? sandbox_generate_name(o->sandbox ? o->sandbox : "view")
							     : strdup(s->name);

	if (!id)
		return error_set(err, ENOMEM, "out of memory");
	return registry_listen(store, id, &s->reg, &p->exec_listen, err);
}

/* What isofs ps shows, once the init runs. */
static int session_publish(isofs_store *store, const isofs_session_options *o, const struct plan *p,
			   isofs_session *s, const char *sandbox_image)
{
	struct registry_entry e = {
		.id = s->reg.id,
		.sandbox = o->sandbox,
		.image = o->image ? o->image : sandbox_image,
		.mountpoint = p->mountpoint,
		.ephemeral = s->ephemeral.name[0] != '\0' || p->ephemeral_layer,
		.init = s->init,
	};
	int r = s->init > 0 ? process_start_time(s->init, &e.init_start) : -ESRCH;

	return r < 0 ? r : registry_publish(store, &s->reg, &e);
}

/*
 * An init on its own (plan_manager_idle): the close does not wait for the
 * namespaces' teardown (~0.7 ms: every mount dropped, an RCU grace period),
 * as bwrap returns on its command's exit.  Told by our half-closed control
 * socket, the init kills and reaps every process of the sandbox, tells exec
 * clients, and says CTL_ENDED (or dies: EOF); what is left is its exit.
 */
static void session_end_init(isofs_session *s)
{
	struct ctl_msg m;

	if (shutdown(s->ctl, SHUT_WR) < 0)
		return;
	while (ctl_recv(s->ctl, &m) > 0 && m.type != CTL_ENDED)
		ctl_msg_clear(&m);
	ctl_msg_clear(&m);
}

static void session_free(isofs_session *s)
{
	if (s->ctl >= 0 && s->manager_idle)
		session_end_init(s);
	if (s->ctl >= 0)
		close(s->ctl);
	if (s->manager > 0) {
		while (waitpid(s->manager, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (s->pty >= 0)
		close(s->pty);
	registry_remove(&s->reg);
	cgroup_destroy(&s->cgroup);
	store_tmpdir_discard(&s->ephemeral);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->view_lock_fd >= 0) {
		(void) futimens(s->view_lock_fd, NULL); /* the view's idle time counts from the end of its last run too */
		close(s->view_lock_fd);
	}
	for (int i = 0; i < s->nholds; i++)
		close(s->holds[i]);
	free(s);
}

int isofs_session_start(isofs_store *store, const isofs_session_options *o, isofs_session **ret,
			isofs_error *err)
{
	isofs_session *s = calloc(1, sizeof(*s));
	struct plan p = { 0 };
	isofs_image_info img = { 0 };
	isofs_sandbox_info sb = { 0 };
	/* --net=private: slirp4netns's DNS forwarder unless --dns says otherwise (the host's may be 127.0.0.53) */
	static const char *const private_dns[] = { NET_PRIVATE_DNS };
	bool private_default_dns = o->net_private && !o->ndns;
	struct setup_config scfg = { .share_resolv = !o->net_none && !o->net_private,
				     .dns = private_default_dns ? private_dns : o->dns,
				     .ndns = private_default_dns ? 1 : o->ndns,
				     .tmp_size = o->tmp_size, .shm_size = o->shm_size };
	_cleanup_free_ char *mp = NULL;
	struct ctl_msg m;
	int sv[2] = { -1, -1 }, r;
	bool published = false;

	if (!s)
		return error_set(err, ENOMEM, "out of memory");
	s->ctl = s->pty = s->lock_fd = s->view_lock_fd = -1;
	s->ephemeral.fd = -EBADF;
	s->reg = (struct registration) REGISTRATION_INIT;
	p.exec_listen = -1;

	r = plan_target(store, o, &p, s, &img, &sb, &mp, err);
	if (r < 0)
		goto fail;
	if (p.mountpoint)
		log_debug("sandbox '%s': the mounted view at %s", s->name, p.mountpoint);
	else
		log_debug("sandbox '%s' (%s): upper %s", s->name, o->sandbox ? "persistent" : "ephemeral", p.upper);
	r = session_listen(store, o, &p, s, err);
	if (r < 0)
		goto fail;
	p.hostname = o->hostname ? o->hostname : s->name;
	p.net_none = o->net_none;
	p.net_private = o->net_private;
	if (o->net_none && o->net_private) {
		r = error_set(err, EINVAL, "--net: none or private, not both");
		goto fail;
	}
	r = caps_resolve(o, &p.caps, err);
	if (r < 0)
		goto fail;
	if (!o->seccomp_unconfined) {
		int list[64];
		r = syscall_filter_build(list, caps_list(p.caps.kept, list), &p.filter, err);
		if (r < 0)
			goto fail;
	}
	if (setup_add_defaults(&p.table, &scfg) < 0) {
		r = error_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < o->nbinds; i++) {
		r = setup_add_bind_spec(&p.table, o->binds[i], err);
		if (r < 0)
			goto fail;
	}
	{
		struct cgroup_limits lim = { .memory = o->memory, .pids = o->pids, .cpus = o->cpus };
		char cgname[ISOFS_NAME_MAX + 24];
		snprintf(cgname, sizeof(cgname), "%s-%d", s->name, (int) getpid());
		r = cgroup_create(cgname, &lim, &s->cgroup, err);
		if (r < 0)
			goto fail;
		p.cgroup = &s->cgroup;
		for (int i = 0; i < s->cgroup.n; i++)
			log_debug("cgroup %s (v%d)", s->cgroup.dirs[i], s->cgroup.v2 ? 2 : 1);
	}
	idmap_choose(&p.map);
	if (p.map.kind == IDMAP_ROOT_RANGE)
		log_debug("ids: 0-%u mapped to themselves (root)", IDMAP_RANGE - 1);
	else if (p.map.kind == IDMAP_SUBID)
		log_debug("ids: 0 is uid %u gid %u, 1-%u the subordinate ranges from uid %u gid %u", (unsigned) p.map.uid,
			  (unsigned) p.map.gid, IDMAP_RANGE - 1, (unsigned) p.map.subuid, (unsigned) p.map.subgid);
	else
		log_debug("ids: 0 is uid %u gid %u, nothing else (%s)", (unsigned) p.map.uid, (unsigned) p.map.gid,
			  p.map.why_single);
	if (o->home) {
		r = plan_home(&p, err);
		if (r < 0)
			goto fail;
	}
	if (p.map.kind == IDMAP_SINGLE)
		snprintf(s->idmap_note, sizeof(s->idmap_note), "one id mapped (%s): setgroups denied", p.map.why_single);

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = error_errno(err, errno, "socketpair");
		goto fail;
	}
	s->manager = fork();
	if (s->manager < 0) {
		r = error_errno(err, errno, "fork");
		goto fail;
	}
	if (s->manager == 0) {
		close(sv[0]);
		manager_main(&p, sv[1], s->lock_fd >= 0 ? s->lock_fd : s->ephemeral.fd);
	}
	if (s->lock_fd >= 0 && o->sandbox) {
		/* Who holds the sandbox: `isofs sandbox rm --force` ends it through this pid. */
		_cleanup_close_ int dfd = -1;
		uint64_t start = 0;
		char pid[64];
		/* with its start time: a later process that gets the same pid is never mistaken for it */
		if (sandbox_open_dir(store, o->sandbox, &dfd, NULL) == 0 && process_start_time(s->manager, &start) == 0) {
			snprintf(pid, sizeof(pid), "%d %" PRIu64 "\n", (int) s->manager, start);
			(void) write_runtime_file_at(dfd, SANDBOX_OWNER, pid, strlen(pid), 0644);
		}
	}
	s->manager_idle = plan_manager_idle(&p);
	close(sv[1]);
	sv[1] = -1;
	s->ctl = sv[0];
	sv[0] = -1;
	closep(&p.exec_listen);
	p.exec_listen = -EBADF; /* the init has its own */

	while ((r = ctl_recv(s->ctl, &m)) > 0 && m.type == CTL_INIT_PID) {
		s->init = m.a;
		ctl_msg_clear(&m);
		/*
		 * Published while the init sets up, on the other CPU: an exec that
		 * comes early waits for it.  An init already gone (its /proc/PID:
		 * ENOENT, ESRCH) has its reason on the way: that is the error to give.
		 */
		r = session_publish(store, o, &p, s, sb.image);
		if (r < 0 && r != -ESRCH && r != -ENOENT) {
			r = error_errno(err, r, "store %s: %s/", store->path, REGISTRY_DIR);
			goto fail;
		}
		published = r == 0;
	}
	if (r <= 0 || m.type != CTL_READY) {
		/* the stage's own errno and message (ctl_fail), never a guess */
		if (r > 0 && m.type == CTL_FAILED)
			r = error_set(err, m.a > 0 ? m.a : EIO, "sandbox setup: %s",
				      m.payload && *m.payload ? m.payload : strerror(m.a > 0 ? m.a : EIO));
		else
			r = error_set(err, EIO, "sandbox setup failed (the sandbox's processes died)");
		ctl_msg_clear(&m);
		goto fail;
	}
	ctl_msg_clear(&m);
	if (!published) {
		r = session_publish(store, o, &p, s, sb.image);
		if (r < 0) {
			r = error_errno(err, r, "store %s: %s/", store->path, REGISTRY_DIR);
			goto fail;
		}
	}
	if (s->view_lock_fd >= 0)
		(void) flock(s->view_lock_fd, LOCK_UN); /* the sandbox holds its copy of the view now */
	syscall_filter_free(&p.filter);
	setup_table_free(&p.table);
	view_lowers_free(&p.lowers);
	isofs_image_info_free(&img);
	isofs_sandbox_info_free(&sb);
	*ret = s;
	return 0;
fail:
	closep(&p.exec_listen);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	syscall_filter_free(&p.filter);
	setup_table_free(&p.table);
	view_lowers_free(&p.lowers);
	isofs_image_info_free(&img);
	isofs_sandbox_info_free(&sb);
	session_free(s);
	return r;
}

int isofs_session_attach(isofs_store *store, const char *name, isofs_session **ret, isofs_error *err)
{
	isofs_session *s;
	struct ctl_msg m;
	int fd, r;

	r = registry_connect(store, name, &fd, err);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return error_set(err, ENOMEM, "out of memory");
	}
	s->ctl = fd;
	s->pty = s->lock_fd = s->view_lock_fd = -1;
	s->ephemeral.fd = -EBADF;
	s->reg = (struct registration) REGISTRATION_INIT;
	snprintf(s->name, sizeof(s->name), "%s", name);
	/* The init answers first: accepted, or refused (another user) with its reason. */
	r = ctl_recv(s->ctl, &m);
	if (r > 0 && m.type == CTL_READY) {
		ctl_msg_clear(&m);
		*ret = s;
		return 0;
	}
	if (r > 0 && m.type == CTL_FAILED)
		r = error_set(err, m.a > 0 ? m.a : EIO, "sandbox '%s': %s", name, m.payload ? m.payload : "refused");
	else
		r = error_set(err, ESRCH, "sandbox '%s': its session ended", name);
	ctl_msg_clear(&m);
	session_free(s);
	return r;
}

const char *isofs_session_name(const isofs_session *s)
{
	return s->name;
}

const char *isofs_session_idmap_note(const isofs_session *s)
{
	return s->idmap_note[0] ? s->idmap_note : NULL;
}

int isofs_session_exec(isofs_session *s, const isofs_exec_options *o, isofs_error *err)
{
	struct exec_request req = { 0 };
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int null = -1;
	struct ctl_msg m;
	size_t len;
	int fds[3], r;

	if (!o->argv || !o->argv[0])
		return error_set(err, EINVAL, "no command");
	if (s->running)
		return error_set(err, EBUSY, "a command is running");
	req.flags = (o->new_session ? EXEC_NEW_SESSION : 0) | (o->tty ? EXEC_TTY : 0) |
		    (o->has_user ? EXEC_HAS_USER : 0);
	req.uid = o->uid;
	req.gid = o->gid;
	req.argv = (char **) o->argv;
	req.env = (char **) (o->env ? o->env : (const char *const[]){ NULL });
	req.cwd = (char *) o->cwd;
	r = exec_request_encode(&req, &buf, &len);
	if (r < 0)
		return error_set(err, -r, r == -E2BIG ? "argument list too long" : "out of memory");
	if (log_enabled(ISOFS_LOG_DEBUG)) {
		size_t n = 0;
		for (const char *const *a = o->argv; *a; a++)
			n++;
		log_debug("exec in sandbox '%s': %s (%zu argument%s)%s%s%s", s->name, o->argv[0], n - 1, n == 2 ? "" : "s",
			  o->cwd ? ", in " : "", o->cwd ? o->cwd : "", o->tty ? ", on a pty" : "");
	}
	fds[0] = o->stdin_fd;
	fds[1] = o->stdout_fd;
	fds[2] = o->stderr_fd;
	for (int i = 0; i < 3; i++)
		if (fds[i] < 0) {
			if (null < 0)
				null = open("/dev/null", O_RDWR | O_CLOEXEC);
			fds[i] = null;
		}
	r = ctl_send(s->ctl, CTL_EXEC, 0, 0, buf, len, fds, o->tty ? 0 : 3);
	if (r < 0)
		return error_errno(err, r, "the sandbox is gone");
	r = ctl_recv(s->ctl, &m);
	if (r <= 0)
		return error_set(err, EPIPE, "the sandbox is gone");
	if (m.type == CTL_STARTED) {
		s->running = true;
		if (m.nfds == 1) {
			s->pty = m.fds[0];
			m.nfds = 0;
		}
		ctl_msg_clear(&m);
		return 0;
	}
	/* the init says which stage failed (b: 1 exec, 0 setup) and its errno (a) */
	if (m.type == CTL_EXEC_FAILED && m.b == 1) {
		r = error_set(err, m.a > 0 ? m.a : EIO, "%s", m.payload ? m.payload : "exec");
		if (err)
			err->stage = ISOFS_STAGE_EXEC;
	} else {
		r = error_set(err, m.a > 0 ? m.a : ECANCELED, "%s", m.payload ? m.payload : "setting up the command");
		if (err)
			err->stage = ISOFS_STAGE_SETUP;
	}
	ctl_msg_clear(&m);
	return r;
}

int isofs_session_pty_fd(const isofs_session *s)
{
	return s->pty;
}

int isofs_session_event_fd(const isofs_session *s)
{
	return s->ctl;
}

int isofs_session_wait(isofs_session *s, int *ret_status, isofs_error *err)
{
	if (!s->running)
		return error_set(err, ECHILD, "no command is running");
	for (;;) {
		struct ctl_msg m;
		int r = ctl_recv(s->ctl, &m);
		if (r <= 0) {
			s->running = false;
			return error_set(err, EPIPE, "the sandbox ended before its command");
		}
		if (m.type == CTL_EXITED) {
			*ret_status = m.a;
			s->running = false;
			ctl_msg_clear(&m);
			return 0;
		}
		ctl_msg_clear(&m);
	}
}

int isofs_session_signal(isofs_session *s, int sig)
{
	return ctl_send(s->ctl, CTL_SIGNAL, sig, 0, NULL, 0, NULL, 0);
}

void isofs_session_close(isofs_session *s)
{
	if (s)
		session_free(s);
}
