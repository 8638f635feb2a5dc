/* SPDX-License-Identifier: MIT */
#include "nested-ns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"

/* Each line "inside outside count" of our own map becomes "inside inside count": the identity over our range. */
static int identity_map(const char *self_map, char *buf, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen(self_map, "re");
	unsigned long inside, outside, count;
	size_t len = 0;

	if (!f)
		return -errno;
	while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3) {
		int n = snprintf(buf + len, size - len, "%lu %lu %lu\n", inside, inside, count);
		if (n < 0 || (size_t) n >= size - len)
			return -E2BIG;
		len += (size_t) n;
	}
	return len ? 0 : -EINVAL;
}

static int write_map(pid_t pid, const char *which, const char *text)
{
	char path[64];
	_cleanup_close_ int fd = -EBADF;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, which);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return write_all(fd, text, strlen(text));
}

static int open_ns(pid_t pid, const char *which)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int) pid, which);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void close_pair(int p[2])
{
	closep(&p[0]);
	closep(&p[1]);
	p[0] = p[1] = -EBADF;
}

int nested_ns_prepare(struct nested_ns *ns)
{
	if (nested_ns_made(ns))
		return 0;
	close_pair(ns->ready);
	close_pair(ns->go);
	if (pipe2(ns->ready, O_CLOEXEC) < 0 || pipe2(ns->go, O_CLOEXEC) < 0) {
		int e = errno;
		close_pair(ns->ready);
		close_pair(ns->go);
		return -e;
	}
	return 0;
}

int nested_ns_enter(struct nested_ns *ns)
{
	char ok;
	int e;

	if (nested_ns_made(ns)) {
		/* The user namespace first: it grants the capabilities the mount namespace's owner asks for. */
		if (setns(ns->userns, CLONE_NEWUSER) < 0 || setns(ns->mntns, CLONE_NEWNS) < 0)
			return -errno;
		return 0;
	}
	closep(&ns->ready[0]);
	closep(&ns->go[1]);
	/* The mount table is copied into a namespace owned by the new user namespace: every mount locked. */
	e = unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0 ? errno : 0;
	/* Non-dumpable (inherited from the init) would keep the init from opening our /proc/PID/ns files. */
	if (e == 0 && prctl(PR_SET_DUMPABLE, 1) < 0)
		e = errno;
	if (write(ns->ready[1], &e, sizeof(e)) != (ssize_t) sizeof(e) && e == 0)
		e = EIO;
	if (e == 0 && read(ns->go[0], &ok, 1) != 1)
		e = EIO; /* the init could not write our maps (it kills us) */
	(void) prctl(PR_SET_DUMPABLE, 0);
	return -e;
}

int nested_ns_adopt(struct nested_ns *ns, pid_t pid, const char **ret_what)
{
	char uid_map[512], gid_map[512];
	_cleanup_close_ int userns = -EBADF, mntns = -EBADF;
	int r, e = 0;

	if (nested_ns_made(ns))
		return 0;
	closep(&ns->ready[1]);
	closep(&ns->go[0]);
	ns->ready[1] = ns->go[0] = -EBADF;
	*ret_what = "reading the id maps";
	r = identity_map("/proc/self/uid_map", uid_map, sizeof(uid_map));
	if (r == 0)
		r = identity_map("/proc/self/gid_map", gid_map, sizeof(gid_map));
	if (r == 0) {
		*ret_what = "unshare";
		r = read(ns->ready[0], &e, sizeof(e)) == (ssize_t) sizeof(e) ? -e : -EIO;
	}
	if (r == 0) {
		*ret_what = "writing the id maps";
		r = write_map(pid, "uid_map", uid_map);
		if (r == 0)
			r = write_map(pid, "gid_map", gid_map);
	}
	if (r == 0) {
		*ret_what = "opening the namespaces";
		userns = open_ns(pid, "user");
		mntns = open_ns(pid, "mnt");
		r = userns < 0 ? userns : mntns < 0 ? mntns : 0;
	}
	if (r == 0 && write(ns->go[1], "", 1) != 1)
		r = -EIO;
	close_pair(ns->ready);
	close_pair(ns->go);
	if (r < 0)
		return r;
	ns->userns = TAKE_FD(userns);
	ns->mntns = TAKE_FD(mntns);
	return 0;
}
