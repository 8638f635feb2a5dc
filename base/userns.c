/* SPDX-License-Identifier: MIT */
#include "userns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
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
