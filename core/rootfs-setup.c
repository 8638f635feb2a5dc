/* SPDX-License-Identifier: MIT */
#include "rootfs-setup.h"

#include <errno.h>
#include <linux/magic.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"

int setup_add(struct setup_table *t, enum setup_kind kind, const char *source, const char *target,
	      const char *data, mode_t mode, unsigned flags)
{
	struct setup_op *op;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		struct setup_op *n = realloc(t->ops, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->ops = n;
		t->cap = cap;
	}
	op = &t->ops[t->n];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->mode = mode;
	op->flags = flags;
	op->source_fd = -1;
	if ((source && !(op->source = strdup(source))) || !(op->target = strdup(target)) ||
	    (data && !(op->data = strdup(data)))) {
		free(op->source);
		free(op->target);
		return -ENOMEM;
	}
	t->n++;
	return 0;
}

void setup_table_free(struct setup_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->ops[i].source);
		free(t->ops[i].target);
		free(t->ops[i].data);
		if (t->ops[i].source_fd >= 0)
			close(t->ops[i].source_fd);
	}
	free(t->ops);
	memset(t, 0, sizeof(*t));
}

/* The OCI runtime spec's masked and read-only /proc paths. */
static const char *const proc_masked[] = {
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
	"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
};
static const char *const proc_readonly[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};
static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
static const struct {
	const char *link, *target;
} dev_links[] = {
	{ "/dev/fd", "/proc/self/fd" },     { "/dev/stdin", "/proc/self/fd/0" },
	{ "/dev/stdout", "/proc/self/fd/1" }, { "/dev/stderr", "/proc/self/fd/2" },
	{ "/dev/ptmx", "pts/ptmx" },
};

uint64_t setup_default_tmp_size(void)
{
	struct sysinfo si;
	uint64_t quarter;

	if (sysinfo(&si) < 0)
		return 1ull << 30;
	quarter = (uint64_t) si.totalram * si.mem_unit / 4;
	return quarter < (4ull << 30) ? quarter : 4ull << 30;
}

int setup_add_defaults(struct setup_table *t, const struct setup_config *cfg)
{
	char path[64], shm[64], tmp[64];
	int r = 0;

	r = setup_add(t, SETUP_PROC, NULL, "/proc", NULL, 0, SETUP_NOEXEC);
	for (size_t i = 0; r == 0 && i < sizeof(proc_masked) / sizeof(proc_masked[0]); i++)
		r = setup_add(t, SETUP_MASK, NULL, proc_masked[i], NULL, 0, SETUP_OPTIONAL);
	for (size_t i = 0; r == 0 && i < sizeof(proc_readonly) / sizeof(proc_readonly[0]); i++)
		r = setup_add(t, SETUP_READONLY, NULL, proc_readonly[i], NULL, 0, SETUP_OPTIONAL);
	if (r == 0)
		r = setup_add(t, SETUP_TMPFS, NULL, "/dev", "mode=0755,size=1m", 0, SETUP_NOEXEC);
	for (size_t i = 0; r == 0 && i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++) {
		snprintf(path, sizeof(path), "/dev/%s", dev_nodes[i]);
		r = setup_add(t, SETUP_BIND, path, path, NULL, 0, 0);
	}
	if (r == 0)
		r = setup_add(t, SETUP_DEVPTS, NULL, "/dev/pts", "newinstance,ptmxmode=0666,mode=0620", 0, SETUP_NOEXEC);
	snprintf(shm, sizeof(shm), "mode=1777,size=%" PRIu64, cfg->shm_size ? cfg->shm_size : SETUP_DEFAULT_SHM_SIZE);
	snprintf(tmp, sizeof(tmp), "mode=1777,size=%" PRIu64, cfg->tmp_size ? cfg->tmp_size : setup_default_tmp_size());
	if (r == 0)
		r = setup_add(t, SETUP_TMPFS, NULL, "/dev/shm", shm, 0, 0);
	for (size_t i = 0; r == 0 && i < sizeof(dev_links) / sizeof(dev_links[0]); i++)
		r = setup_add(t, SETUP_SYMLINK, dev_links[i].target, dev_links[i].link, NULL, 0, 0);
	if (r == 0)
		r = setup_add(t, SETUP_TMPFS, NULL, "/tmp", tmp, 0, 0);
	if (r == 0 && cfg->ndns > 0) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		if (!f)
			return -ENOMEM;
		for (size_t i = 0; i < cfg->ndns; i++)
			fprintf(f, "nameserver %s\n", cfg->dns[i]);
		fclose(f);
		r = setup_add(t, SETUP_FILE, NULL, "/etc/resolv.conf", text, 0644, SETUP_RO);
		free(text);
	} else if (r == 0 && cfg->share_resolv) {
		r = setup_add(t, SETUP_BIND, "/etc/resolv.conf", "/etc/resolv.conf", NULL, 0, SETUP_RO | SETUP_OPTIONAL);
	}
	return r;
}

static bool has_dotdot(const char *path)
{
	for (const char *p = path; (p = strstr(p, "..")); p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return true;
	return false;
}

int setup_add_bind_spec(struct setup_table *t, const char *spec, isofs_error *err)
{
	_cleanup_free_ char *copy = strdup(spec);
	char *host, *target, *opt;
	unsigned flags = SETUP_USER;
	struct stat st;

	if (!copy)
		return error_set(err, ENOMEM, "out of memory");
	host = copy;
	target = strchr(copy, ':');
	if (!target || !*host || !target[1])
		return error_set(err, EINVAL, "--bind '%s': expected HOST:SANDBOX[:ro]", spec);
	*target++ = '\0';
	opt = strchr(target, ':');
	if (opt) {
		char *save = NULL;
		*opt++ = '\0';
		/* ro, rw; podman's z and Z (SELinux relabelling) are accepted and mean nothing here */
		for (char *o = strtok_r(opt, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
			if (strcmp(o, "ro") == 0)
				flags |= SETUP_RO;
			else if (strcmp(o, "rw") == 0)
				flags &= ~SETUP_RO;
			else if (strcmp(o, "z") != 0 && strcmp(o, "Z") != 0)
				return error_set(err, EINVAL, "--bind '%s': unknown option '%s' (ro, rw, z or Z)", spec, o);
		}
	}
	if (host[0] != '/' || target[0] != '/')
		return error_set(err, EINVAL, "--bind '%s': both paths must be absolute", spec);
	if (has_dotdot(target))
		return error_set(err, EINVAL, "--bind '%s': the sandbox path may not contain '..'", spec);
	if (stat(host, &st) < 0)
		return error_errno(err, errno, "--bind '%s': source %s", spec, host);
	if (setup_add(t, SETUP_BIND, host, target, NULL, 0, flags) < 0)
		return error_set(err, ENOMEM, "out of memory");
	return 0;
}

int setup_add_home(struct setup_table *t, const char *home, const char *passwd_line, const char *group_line,
		   isofs_error *err)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (!home || home[0] != '/' || stat(home, &st) < 0 || !S_ISDIR(st.st_mode))
		return error_set(err, ENOENT, "--home: the home directory '%s' is not a directory", home ? home : "");
	if (setup_add(t, SETUP_BIND, home, home, NULL, 0, 0) < 0)
		return error_set(err, ENOMEM, "out of memory");
	/* the session's sockets (Wayland, PipeWire, D-Bus) where programs look for them */
	if (runtime && runtime[0] == '/' && !has_dotdot(runtime) && stat(runtime, &st) == 0 && S_ISDIR(st.st_mode) &&
	    setup_add(t, SETUP_BIND, runtime, runtime, NULL, 0, 0) < 0)
		return error_set(err, ENOMEM, "out of memory");
	if (stat("/tmp/.X11-unix", &st) == 0 && S_ISDIR(st.st_mode) &&
	    setup_add(t, SETUP_BIND, "/tmp/.X11-unix", "/tmp/.X11-unix", NULL, 0, SETUP_RO) < 0)
		return error_set(err, ENOMEM, "out of memory");
	if ((passwd_line && setup_add(t, SETUP_ACCOUNT, NULL, "/etc/passwd", passwd_line, 0644, 0) < 0) ||
	    (group_line && setup_add(t, SETUP_ACCOUNT, NULL, "/etc/group", group_line, 0644, 0) < 0))
		return error_set(err, ENOMEM, "out of memory");
	return 0;
}

/* ---- in the init ---- */

static int xopenat2(int dirfd, const char *path, int flags, unsigned long long resolve)
{
	struct open_how how = { .flags = (unsigned long long) flags | O_CLOEXEC, .resolve = resolve };
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int) fd;
}

int setup_open_sources(struct setup_table *t, char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < t->n; i++) {
		struct setup_op *op = &t->ops[i];
		const char *src = op->kind == SETUP_MASK ? "/dev/null" : op->source;

		if (op->kind != SETUP_BIND && op->kind != SETUP_MASK)
			continue;
		op->source_fd = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (op->source_fd < 0) {
			if (errno == ENOENT && (op->flags & SETUP_OPTIONAL))
				continue;
			snprintf(errbuf, errlen, "bind source %s: %s", src, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/*
 * The parent directory of `target` below rootfd, created as needed; never
 * through a symlink (a user bind's symlinks stay inside the root).
 */
static int open_parent(int rootfd, const char *target, bool user, char *ret_name, int *ret_fd)
{
	unsigned long long resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (user ? 0 : RESOLVE_NO_SYMLINKS);
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	const char *p = target;

	if (fd < 0)
		return -errno;
	while (*p == '/')
		p++;
	for (;;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t) (end - p);
		char comp[NAME_MAX + 1];
		int next;

		if (n > NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		while (*end == '/')
			end++;
		if (!*end) {
			memcpy(ret_name, comp, n + 1);
			*ret_fd = fd;
			return 0;
		}
		if (strcmp(comp, "..") == 0 || n == 0) {
			close(fd);
			return -EINVAL;
		}
		next = xopenat2(fd, comp, O_PATH | O_DIRECTORY, resolve);
		if (next == -ENOENT) {
			if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(fd);
				return -e;
			}
			next = xopenat2(fd, comp, O_PATH | O_DIRECTORY, resolve);
		}
		close(fd);
		if (next < 0)
			return next;
		fd = next;
		p = end;
	}
}

/* The mount target itself (a directory or a file, created when missing); O_PATH. */
static int open_target(int rootfd, const char *target, bool user, bool dir, bool create, int *ret_fd)
{
	unsigned long long resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (user ? 0 : RESOLVE_NO_SYMLINKS);
	char name[NAME_MAX + 1];
	_cleanup_close_ int pfd = -1;
	int fd, r;

	r = open_parent(rootfd, target, user, name, &pfd);
	if (r < 0)
		return r;
	fd = xopenat2(pfd, name, O_PATH, resolve);
	if (fd == -ENOENT && create) {
		if (dir)
			r = mkdirat(pfd, name, 0755) < 0 && errno != EEXIST ? -errno : 0;
		else {
			int f = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
			r = f < 0 && errno != EEXIST ? -errno : 0;
			if (f >= 0)
				close(f);
		}
		if (r < 0)
			return r;
		fd = xopenat2(pfd, name, O_PATH, resolve);
	}
	if (fd < 0)
		return fd;
	*ret_fd = fd;
	return 0;
}

static void fd_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

static int make_readonly(int fd, bool recursive)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
	return mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof(attr)) < 0 ? -errno
														: 0;
}

/* `content` as a file on the staging tmpfs, bound over op->target (read-only with SETUP_RO). */
static int put_file(const struct setup_op *op, const char *content, int rootfd, int stagingfd)
{
	_cleanup_close_ int tfd = -1;
	char name[32];
	int f, clone, r;

	snprintf(name, sizeof(name), "file%p", (void *) op);
	f = openat(stagingfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, op->mode);
	if (f < 0)
		return -errno;
	r = write_all(f, content, strlen(content));
	close(f);
	if (r < 0)
		return r;
	r = open_target(rootfd, op->target, false, false, true, &tfd);
	if (r < 0)
		return r;
	clone = open_tree(stagingfd, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (clone < 0)
		return -errno;
	if (op->flags & SETUP_RO)
		r = make_readonly(clone, false);
	if (r == 0 && move_mount(clone, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		r = -errno;
	close(clone);
	return r;
}

/* A passwd or group line's field `n` (0: the name), as [start, end). */
static bool account_field(const char *line, const char *eol, int n, const char **ret_start, const char **ret_end)
{
	const char *p = line;

	for (int i = 0; i < n; i++) {
		p = memchr(p, ':', (size_t) (eol - p));
		if (!p)
			return false;
		p++;
	}
	*ret_start = p;
	*ret_end = memchr(p, ':', (size_t) (eol - p)) ?: eol;
	return true;
}

static bool account_same(const char *a, const char *aeol, const char *b, const char *beol, int field)
{
	const char *as, *ae, *bs, *be;

	return account_field(a, aeol, field, &as, &ae) && account_field(b, beol, field, &bs, &be) && ae - as == be - bs &&
	       memcmp(as, bs, (size_t) (ae - as)) == 0;
}

/*
 * The root's `target` (no symlink followed: one is as good as none) with
 * `line` in place of every line of the same name (field 0) or id (field 2).
 */
static int account_merge(int rootfd, const char *target, const char *line, char **ret)
{
	_cleanup_free_ char *old = NULL;
	_cleanup_close_ int fd = xopenat2(rootfd, target + 1, O_RDONLY | O_NONBLOCK | O_NOCTTY,
					  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS);
	const char *leol = line + strcspn(line, "\n");
	size_t n = 0, cap;
	char *out;
	struct stat st;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read_fd_all(fd, 4u << 20, &old, NULL) < 0)
		old = NULL;
	cap = (old ? strlen(old) : 0) + strlen(line) + 2;
	out = malloc(cap + 1);
	if (!out)
		return -ENOMEM;
	for (const char *l = old; l && *l;) {
		const char *eol = l + strcspn(l, "\n");
		if (eol > l && !account_same(l, eol, line, leol, 0) && !account_same(l, eol, line, leol, 2)) {
			memcpy(out + n, l, (size_t) (eol - l));
			n += (size_t) (eol - l);
			out[n++] = '\n';
		}
		l = *eol ? eol + 1 : eol;
	}
	n += (size_t) snprintf(out + n, cap + 1 - n, "%.*s\n", (int) (leol - line), line);
	*ret = out;
	return 0;
}

static int apply_one(struct setup_op *op, int rootfd, int stagingfd, char *errbuf, size_t errlen)
{
	bool user = op->flags & SETUP_USER;
	unsigned long nx = (op->flags & SETUP_NOEXEC) ? MS_NOEXEC : 0;
	_cleanup_close_ int tfd = -1;
	char tpath[64];
	struct stat st;
	int r = 0;

	switch (op->kind) {
	case SETUP_SYMLINK: {
		char name[NAME_MAX + 1];
		_cleanup_close_ int pfd = -1;
		r = open_parent(rootfd, op->target, false, name, &pfd);
		if (r == 0 && symlinkat(op->source, pfd, name) < 0 && errno != EEXIST)
			r = -errno;
		break;
	}
	case SETUP_PROC:
	case SETUP_TMPFS:
	case SETUP_DEVPTS:
		r = open_target(rootfd, op->target, false, true, true, &tfd);
		if (r < 0)
			break;
		fd_path(tfd, tpath, sizeof(tpath));
		if (op->kind == SETUP_PROC)
			r = mount("proc", tpath, "proc", MS_NOSUID | MS_NODEV | nx, NULL);
		else if (op->kind == SETUP_TMPFS)
			r = mount("tmpfs", tpath, "tmpfs", MS_NOSUID | MS_NODEV | nx, op->data);
		else
			r = mount("devpts", tpath, "devpts", MS_NOSUID | nx, op->data);
		r = r < 0 ? -errno : 0;
		if (r == 0 && op->kind == SETUP_PROC) {
			/* A proc that is not proc would redirect every /proc path below: look again, from the root. */
			_cleanup_close_ int check = -1;
			struct statfs sfs;
			if (open_target(rootfd, op->target, false, true, false, &check) < 0 || fstatfs(check, &sfs) < 0 ||
			    sfs.f_type != PROC_SUPER_MAGIC)
				r = -EXDEV;
		}
		break;
	case SETUP_BIND:
	case SETUP_MASK:
		if (op->source_fd < 0)
			return 0; /* an optional source that is not there */
		if (fstat(op->source_fd, &st) < 0)
			return -errno;
		/* An optional bind does not make its mountpoint (the stub layer provides the usual ones). */
		r = open_target(rootfd, op->target, user, S_ISDIR(st.st_mode),
				op->kind == SETUP_BIND && !(op->flags & SETUP_OPTIONAL), &tfd);
		if (r == -ENOENT && (op->flags & SETUP_OPTIONAL))
			return 0;
		if (r < 0)
			break;
		if (op->kind == SETUP_MASK) {
			struct stat tst;
			if (fstat(tfd, &tst) < 0)
				return -errno;
			if (S_ISDIR(tst.st_mode)) {
				fd_path(tfd, tpath, sizeof(tpath));
				r = mount("tmpfs", tpath, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
					  "size=0,mode=0555") < 0 ? -errno : 0;
				break;
			}
		}
		if (op->flags & SETUP_RO && (r = make_readonly(op->source_fd, true)) < 0)
			break;
		r = move_mount(op->source_fd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0
			    ? -errno : 0;
		break;
	case SETUP_READONLY: {
		int clone;
		r = open_target(rootfd, op->target, false, false, false, &tfd);
		if (r == -ENOENT && (op->flags & SETUP_OPTIONAL))
			return 0;
		if (r < 0)
			break;
		clone = open_tree(tfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
		if (clone < 0) {
			r = -errno;
			break;
		}
		r = make_readonly(clone, true);
		if (r == 0 && move_mount(clone, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			r = -errno;
		close(clone);
		break;
	}
	case SETUP_FILE:
		r = put_file(op, op->data, rootfd, stagingfd);
		break;
	case SETUP_ACCOUNT: {
		_cleanup_free_ char *merged = NULL;
		r = account_merge(rootfd, op->target, op->data, &merged);
		if (r == 0)
			r = put_file(op, merged, rootfd, stagingfd);
		break;
	}
	}
	if (r < 0)
		snprintf(errbuf, errlen, "%s %s: %s",
			 op->kind == SETUP_BIND ? "bind" : op->kind == SETUP_PROC ? "proc on" : "setting up", op->target,
			 r == -ELOOP ? "a symlink in the image is in the way" :
			 r == -EXDEV ? "not procfs after mounting it" : strerror(-r));
	return r;
}

int setup_apply(struct setup_table *t, int rootfd, int stagingfd, char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < t->n; i++) {
		int r;

		errbuf[0] = '\0';
		r = apply_one(&t->ops[i], rootfd, stagingfd, errbuf, errlen);
		if (r < 0) {
			/* every failure names its step and cause, whichever path it took out */
			if (!errbuf[0])
				snprintf(errbuf, errlen, "setting up %s: %s", t->ops[i].target, strerror(-r));
			return r;
		}
	}
	return 0;
}
