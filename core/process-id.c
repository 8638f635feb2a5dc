/* SPDX-License-Identifier: MIT */
#include "process-id.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"

int process_start_time(pid_t pid, uint64_t *ret)
{
	char path[64], buf[1024], *p;
	_cleanup_close_ int fd = -EBADF;
	unsigned long long start;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields start after the last ')' */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			 &start) != 1)
		return -EIO;
	*ret = start;
	return 0;
}

int process_signal_same(pid_t pid, uint64_t start, int sig)
{
	_cleanup_close_ int pidfd = -EBADF;
	uint64_t now;

	if (pid <= 1 || start == 0)
		return -ESRCH;
	pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	/* The pidfd names one process: if it is the recorded one now, it is the one signalled. */
	if (process_start_time(pid, &now) < 0 || now != start)
		return -ESRCH;
	return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

int64_t process_start_unix(uint64_t start)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
	static long long btime = -1;
	char line[256];
	long hz = sysconf(_SC_CLK_TCK);

	while (btime < 0 && f && fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &btime) != 1)
			btime = -1;
	if (btime < 0 || hz <= 0)
		return 0;
	return (int64_t) btime + (int64_t) (start / (uint64_t) hz);
}

/* The parent in /proc/PID/stat (field 4); -1 when it cannot be read (gone meanwhile). */
static pid_t parent_of(int dfd, const char *pid)
{
	char path[64], buf[1024], *p;
	_cleanup_close_ int fd = -EBADF;
	int ppid;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/stat", pid);
	fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return (pid_t) ppid;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;
	return (x > y) - (x < y);
}

int process_children(pid_t pid, pid_t **ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	_cleanup_free_ pid_t *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long k = strtol(de->d_name, &end, 10);
		if (*end || k <= 0 || parent_of(dirfd(d), de->d_name) != pid)
			continue;
		if (n == cap) {
			pid_t *nv = realloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*v));
			if (!nv)
				return -ENOMEM;
			v = nv;
		}
		v[n++] = (pid_t) k;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_pid);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

int process_argv(pid_t pid, char ***ret)
{
	char path[64];
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *text = NULL;
	size_t len = 0, argc = 0;
	char **v, *p;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = read_fd_all(fd, 1u << 20, &text, &len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++)
		argc += text[i] == '\0';
	if (len && text[len - 1] != '\0')
		argc++; /* read_fd_all NUL-terminates */
	/* The vector and the strings in one block: one free(). */
	v = malloc((argc + 1) * sizeof(char *) + len + 1);
	if (!v)
		return -ENOMEM;
	p = memcpy((char *) (v + argc + 1), text, len + 1);
	for (size_t i = 0; i < argc; i++) {
		v[i] = p;
		p += strlen(p) + 1;
	}
	v[argc] = NULL;
	*ret = v;
	return 0;
}
