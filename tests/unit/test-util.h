/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the unit tests (header-only, all static): temporary
 * directories removed independently of the code under test, small file
 * helpers, and dropping to an unprivileged user in a forked child.
 */
#ifndef ISOFS_TEST_UTIL_H
#define ISOFS_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tap.h"

/* The unprivileged user a root test run drops to ("nobody" on Debian). */
#define TU_NOBODY 65534

/* snprintf that bails out instead of truncating (paths in tests are never cut short). */
__attribute__((format(printf, 3, 4))) static inline void tu_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= size)
		bail_out("tu_fmt: '%s' does not fit in %zu bytes", fmt, size);
}

/* Runs argv (a host tool such as rm or chown) and returns its exit status, or -1. */
static inline int tu_run(char *const argv[])
{
	pid_t pid = tap_fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDOUT_FILENO); /* never mix a tool's output into the TAP stream */
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline void tu_rmtree(char *path);

/*
 * A reaper process removes the directory once the test process is gone, however
 * it ended (a bail-out, a crash, a sanitizer halting it): it waits for EOF on a
 * pipe whose write end only the test process (and its children) hold.
 */
static inline void tu_spawn_reaper(const char *path)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	pid = tap_fork();
	if (pid == 0) {
		char *copy = strdup(path);
		char c;
		int null = open("/dev/null", O_RDWR);

		close(p[1]);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO); /* never hold the TAP stream open */
			dup2(null, STDERR_FILENO);
		}
		for (;;) {
			ssize_t n = read(p[0], &c, 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
		}
		tu_rmtree(copy);
		_exit(0);
	}
	close(p[0]);
	if (pid < 0)
		close(p[1]); /* no reaper: the test removes it itself */
			     /* p[1] stays open (close-on-exec) for the life of the test process. */
}

/* Makes a fresh directory below $TMPDIR (or /tmp); bails out when it cannot. */
static inline char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || base[0] != '/')
		base = "/tmp";
	if (asprintf(&path, "%s/isofs-unit-XXXXXX", base) < 0)
		bail_out("out of memory");
	if (!mkdtemp(path))
		bail_out("mkdtemp %s: %s", path, strerror(errno));
	tu_spawn_reaper(path);
	return path;
}

/* Removes a test directory whatever its modes (0000 dirs, deep trees); frees `path`. */
static inline void tu_rmtree(char *path)
{
	/* directories only: a rootless symlink or fifo may belong to a subordinate id, not ours to chmod */
	char *chmod_argv[] = {(char *) "find", path, (char *) "-type", (char *) "d", (char *) "-exec", (char *) "chmod",
			      (char *) "u+rwx", (char *) "{}", (char *) "+", NULL};
	char *rm_argv[] = {(char *) "rm", (char *) "-rf", (char *) "--one-file-system", path, NULL};
	struct stat st;

	if (!path)
		return;
	if (lstat(path, &st) == 0) {
		(void) tu_run(chmod_argv);
		if (tu_run(rm_argv) != 0 || lstat(path, &st) == 0)
			diag("warning: could not remove %s", path);
	}
	free(path);
}

static inline int tu_chown_tree(const char *path, uid_t uid, gid_t gid)
{
	char owner[64];
	char *argv[] = {(char *) "chown", (char *) "-hR", owner, (char *) path, NULL};

	snprintf(owner, sizeof(owner), "%u:%u", (unsigned) uid, (unsigned) gid);
	return tu_run(argv) == 0 ? 0 : -1;
}

/* In a forked child: become TU_NOBODY for good.  0 or -errno. */
static inline int tu_become_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0 ||
	    setresuid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0)
		return -errno;
	/* Stay dumpable so sanitizers (and core dumps) keep working after the uid change. */
	(void) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	return 0;
}

static inline int tu_write_file(int dirfd, const char *name, const char *content, mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	size_t len = strlen(content);

	if (fd < 0)
		return -errno;
	if (write(fd, content, len) != (ssize_t) len) {
		int e = errno ? errno : EIO;
		close(fd);
		return -e;
	}
	if (fchmod(fd, mode) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	close(fd);
	return 0;
}

/* Reads a small file into buf (NUL-terminated); returns its length or -errno. */
static inline ssize_t tu_read_file(int dirfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t) n;
	}
	buf[len] = '\0';
	close(fd);
	return (ssize_t) len;
}

/* Whether user.* extended attributes can be set on files below `dir`. */
static inline bool tu_user_xattrs_supported(const char *dir)
{
	char probe[PATH_MAX];
	bool ok;
	int fd;

	snprintf(probe, sizeof(probe), "%s/.xattr-probe", dir);
	fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	ok = fsetxattr(fd, "user.probe", "1", 1, 0) == 0;
	close(fd);
	unlink(probe);
	return ok;
}

/* Number of entries in a directory (without . and ..), or -errno. */
static inline int tu_count_entries(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Whether the message is a non-empty single line. */
static inline bool tu_one_line(const char *msg)
{
	return msg && *msg && !strchr(msg, '\n') && !strchr(msg, '\r');
}

#endif
