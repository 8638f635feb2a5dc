/* SPDX-License-Identifier: MIT */
/*
 * Resource limits of a sandbox: a cgroup of its own below the caller's, with
 * cgroup v2 where the hierarchy is v2 (and the controllers are delegated), or
 * the cgroup v1 controllers on hosts that still mount them (hybrid), which
 * only root may write.
 */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP2_SUPER_MAGIC 0x63677270

static bool is_v2(void)
{
	struct statfs sfs;
	return statfs(CGROUP_ROOT, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

/* The caller's cgroup for `controller` (v1) or the unified one ("" controller, v2), from /proc/self/cgroup. */
static int own_cgroup(const char *controller, char *buf, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *list = strchr(line, ':'), *path;
		if (!list)
			continue;
		list++;
		path = strchr(list, ':');
		if (!path)
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (!*controller ? (strcmp(line, "0:") == 0 || *list == '\0') : false) {
			snprintf(buf, size, "%s", path);
			return 0;
		}
		for (char *save = NULL, *c = strtok_r(list, ",", &save); c && *controller; c = strtok_r(NULL, ",", &save))
			if (strcmp(c, controller) == 0) {
				snprintf(buf, size, "%s", path);
				return 0;
			}
	}
	return -ENOENT;
}

static int write_value(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX + 64];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return write_all(fd, value, strlen(value));
}

static int add_dir(struct cgroup_handle *h, const char *controller, const char *name, isofs_error *err)
{
	char own[PATH_MAX];
	int r = own_cgroup(h->v2 ? "" : controller, own, sizeof(own));

	if (r < 0)
		return error_set(err, ENOENT, "resource limits: no %s cgroup for this process", controller);
	if (strlen(own) + strlen(name) + 64 > sizeof(h->dirs[h->n]))
		return error_set(err, ENAMETOOLONG, "resource limits: cgroup path too long");
	if (h->v2)
		snprintf(h->dirs[h->n], sizeof(h->dirs[h->n]), "%s%.*s/isofs-%.64s", CGROUP_ROOT, 3900,
			 strcmp(own, "/") ? own : "", name);
	else
		snprintf(h->dirs[h->n], sizeof(h->dirs[h->n]), "%s/%.16s%.*s/isofs-%.64s", CGROUP_ROOT, controller, 3900,
			 strcmp(own, "/") ? own : "", name);
	if (mkdir(h->dirs[h->n], 0755) < 0 && errno != EEXIST) {
		r = errno;
		if (r == EACCES || r == EPERM || r == EROFS)
			return error_set(err, r,
					 h->v2 ? "resource limits: this user may not create cgroups here (cgroup v2 is not delegated to it)"
					       : "resource limits: the host mounts cgroup v1 controllers, which only root may use");
		if (r == ENOENT)
			return error_set(err, r, "resource limits: no %s controller is mounted", controller);
		return error_errno(err, r, "resource limits: %s", h->dirs[h->n]);
	}
	h->n++;
	return 0;
}

static int limit(struct cgroup_handle *h, const char *v1, const char *v2, const char *value, const char *what,
		 isofs_error *err)
{
	int r = write_value(h->dirs[h->n - 1], h->v2 ? v2 : v1, value);
	if (r == -ENOENT)
		return error_set(err, ENOTSUP, "resource limits: the %s controller is not available%s", what,
				 h->v2 ? " (not delegated)" : "");
	if (r < 0)
		return error_errno(err, r, "resource limits: %s", what);
	return 0;
}

int cgroup_create(const char *name, const struct cgroup_limits *l, struct cgroup_handle *h, isofs_error *err)
{
	char v[64];
	int r = 0;

	memset(h, 0, sizeof(*h));
	h->memory = -1;
	if (!l->memory && !l->pids && l->cpus <= 0)
		return 0;
	h->v2 = is_v2();
	if (h->v2) {
		r = add_dir(h, "unified", name, err);
		if (r == 0 && l->memory) {
			snprintf(v, sizeof(v), "%" PRIu64, l->memory);
			r = limit(h, NULL, "memory.max", v, "memory", err);
			if (r == 0)
				(void) write_value(h->dirs[0], "memory.swap.max", "0");
			h->memory = 0;
		}
		if (r == 0 && l->pids) {
			snprintf(v, sizeof(v), "%" PRIu64, l->pids);
			r = limit(h, NULL, "pids.max", v, "pids", err);
		}
		if (r == 0 && l->cpus > 0) {
			snprintf(v, sizeof(v), "%" PRIu64 " 100000", (uint64_t) (l->cpus * 100000));
			r = limit(h, NULL, "cpu.max", v, "cpu", err);
		}
	} else {
		if (l->memory) {
			r = add_dir(h, "memory", name, err);
			snprintf(v, sizeof(v), "%" PRIu64, l->memory);
			if (r == 0)
				r = limit(h, "memory.limit_in_bytes", NULL, v, "memory", err);
			if (r == 0)
				(void) write_value(h->dirs[h->n - 1], "memory.memsw.limit_in_bytes", v);
			if (r == 0)
				h->memory = h->n - 1;
		}
		if (r == 0 && l->pids) {
			r = add_dir(h, "pids", name, err);
			snprintf(v, sizeof(v), "%" PRIu64, l->pids);
			if (r == 0)
				r = limit(h, "pids.max", NULL, v, "pids", err);
		}
		if (r == 0 && l->cpus > 0) {
			r = add_dir(h, "cpu", name, err);
			if (r == 0)
				r = limit(h, "cpu.cfs_period_us", NULL, "100000", "cpu", err);
			snprintf(v, sizeof(v), "%" PRIu64, (uint64_t) (l->cpus * 100000));
			if (r == 0)
				r = limit(h, "cpu.cfs_quota_us", NULL, v, "cpu", err);
		}
	}
	if (r < 0)
		cgroup_destroy(h);
	return r;
}

int cgroup_attach(const struct cgroup_handle *h, pid_t pid)
{
	char v[32];

	snprintf(v, sizeof(v), "%d", (int) pid);
	for (int i = 0; i < h->n; i++) {
		int r = write_value(h->dirs[i], "cgroup.procs", v);
		if (r < 0)
			return r;
	}
	return 0;
}

int cgroup_attach_memory(const struct cgroup_handle *h, pid_t pid)
{
	char v[32];

	if (h->memory < 0 || h->memory >= h->n)
		return 0;
	snprintf(v, sizeof(v), "%d", (int) pid);
	return write_value(h->dirs[h->memory], "cgroup.procs", v);
}

void cgroup_destroy(struct cgroup_handle *h)
{
	/* Emptied when the sandbox's processes are gone; the kernel may need a moment to notice. */
	for (int i = 0; i < h->n; i++)
		for (int tries = 0; tries < 100 && rmdir(h->dirs[i]) < 0 && errno == EBUSY; tries++)
			usleep(10000);
	h->n = 0;
}
