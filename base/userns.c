/* SPDX-License-Identifier: MIT */
#include "userns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"

static int write_proc(const char *file, const char *text)
{
	_cleanup_close_ int fd = open(file, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return write(fd, text, strlen(text)) == (ssize_t) strlen(text) ? 0 : -EIO;
}

int userns_enter_self_mapped(uid_t uid, gid_t gid)
{
	char map[64];
	int r;

	if (unshare(CLONE_NEWUSER) < 0)
		return -errno;
	/* setgroups must be denied before an unprivileged gid_map write (absent on old kernels) */
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

int userns_enter_mapped(const struct idmap *map)
{
	_cleanup_close_ int go_r = -EBADF, go_w = -EBADF;
	int p[2], status, r = 0;
	pid_t parent = getpid(), helper;

	if (map->kind == IDMAP_ROOT_RANGE)
		return 0;
	if (map->kind == IDMAP_SINGLE)
		return userns_enter_self_mapped(map->uid, map->gid);
	/* The maps of a namespace are written from outside it: by a child that stays in ours. */
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	go_r = p[0];
	go_w = p[1];
	helper = fork();
	if (helper < 0)
		return -errno;
	if (helper == 0) {
		char c;
		close(go_w);
		if (read(go_r, &c, 1) != 1)
			_exit(2); /* the parent could not unshare: nothing to map */
		_exit(idmap_write(map, parent) == 0 ? 0 : 1);
	}
	if (unshare(CLONE_NEWUSER) < 0)
		r = -errno;
	else if (write(go_w, "", 1) != 1)
		r = -EIO;
	close(go_w);
	go_w = -EBADF;
	while (waitpid(helper, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		r = -EPERM;
	return r;
}

bool userns_is_initial(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/uid_map", "re");
	unsigned long a, b, c;

	/* the initial namespace maps every id to itself in one line: "0 0 4294967295" */
	if (!f || fscanf(f, "%lu %lu %lu", &a, &b, &c) != 3)
		return true; /* no /proc: assume the common case */
	return a == 0 && b == 0 && c == 4294967295UL;
}

bool userns_host_capable(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (cap < 0 || CAP_TO_INDEX(cap) >= _LINUX_CAPABILITY_U32S_3 || syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return (data[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap)) && userns_is_initial();
}
