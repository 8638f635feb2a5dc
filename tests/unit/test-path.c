/* SPDX-License-Identifier: MIT */
/* Unit tests for core/path.c: normalising archive names and walking below a root fd. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"
#include "tap.h"
#include "test-util.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* opendir's own fd */
}

/* ---- path_normalize_relative ------------------------------------------------ */

static void expect_normalized(const char *in, const char *want)
{
	isofs_error err = {0};
	char *out = NULL;
	int r = path_normalize_relative(in, &out, &err);

	is_int(r, 0, "normalize '%s' succeeds", in);
	is_str(out, want, "normalize '%s' gives '%s'", in, want);
	is_int(err.code, 0, "normalize '%s' leaves the error unset", in);
	free(out);
}

static void expect_refused(const char *in, int code, const char *label)
{
	isofs_error err = {0};
	char sentinel = 0;
	char *out = &sentinel;
	int r = path_normalize_relative(in, &out, &err);

	is_int(r, -code, "normalize %s is refused with -%s", label, strerror(code));
	ok(out == &sentinel, "normalize %s leaves ret_path untouched", label);
	is_int(err.code, code, "normalize %s sets err.code", label);
	ok(tu_one_line(err.message), "normalize %s sets a one-line message: %s", label, err.message);
	/* err may be NULL */
	r = path_normalize_relative(in, &out, NULL);
	is_int(r, -code, "normalize %s without an error object", label);
}

static void test_normalize(void)
{
	char name255[NAME_MAX + 1], name256[NAME_MAX + 2], buf[2 * NAME_MAX + 16];

	expect_normalized("./a//b/./c", "a/b/c");
	expect_normalized(".", "");
	expect_normalized("./", "");
	expect_normalized(".//./", "");
	expect_normalized("", "");
	expect_normalized("a", "a");
	expect_normalized("a/", "a");
	expect_normalized("a/b/", "a/b");
	expect_normalized("a/b//", "a/b");
	expect_normalized("./a/./", "a");
	expect_normalized("...", "...");
	expect_normalized(".hidden", ".hidden");
	expect_normalized("a/.hidden/...", "a/.hidden/...");
	expect_normalized("..b/b../a..b", "..b/b../a..b");
	expect_normalized("a b/c\td", "a b/c\td");

	expect_refused("/abs", EINVAL, "'/abs'");
	expect_refused("/", EINVAL, "'/'");
	expect_refused("//a", EINVAL, "'//a'");
	expect_refused("..", EINVAL, "'..'");
	expect_refused("../a", EINVAL, "'../a'");
	expect_refused("a/../b", EINVAL, "'a/../b'");
	expect_refused("a/..", EINVAL, "'a/..'");
	expect_refused("a/../", EINVAL, "'a/../'");
	expect_refused("./..", EINVAL, "'./..'");
	expect_refused("a//..//b", EINVAL, "'a//..//b'");
	expect_refused("a/b/c/../../../..", EINVAL, "'a/b/c/../../../..'");
	expect_refused(NULL, EINVAL, "NULL");

	memset(name255, 'n', NAME_MAX);
	name255[NAME_MAX] = '\0';
	memset(name256, 'n', NAME_MAX + 1);
	name256[NAME_MAX + 1] = '\0';
	expect_normalized(name255, name255);
	tu_fmt(buf, sizeof(buf), "./d/%s/", name255);
	{
		char want[NAME_MAX + 8];
		snprintf(want, sizeof(want), "d/%s", name255);
		expect_normalized(buf, want);
	}
	expect_refused(name256, ENAMETOOLONG, "a 256-byte name");
	tu_fmt(buf, sizeof(buf), "a/%s/b", name256);
	expect_refused(buf, ENAMETOOLONG, "a 256-byte middle component");
	tu_fmt(buf, sizeof(buf), "a/b/%s", name256);
	expect_refused(buf, ENAMETOOLONG, "a 256-byte last component");
}

/* ---- path_last_component -------------------------------------------------------- */

static void test_last_component(void)
{
	char parent[64];
	const char *name;

	name = path_last_component("a/b/c", parent, sizeof(parent));
	is_str(name, "c", "last component of a/b/c");
	is_str(parent, "a/b", "parent of a/b/c");

	name = path_last_component("c", parent, sizeof(parent));
	is_str(name, "c", "last component of c");
	is_str(parent, "", "parent of c is the root");

	name = path_last_component("dir/.hidden", parent, sizeof(parent));
	is_str(name, ".hidden", "last component of dir/.hidden");
	is_str(parent, "dir", "parent of dir/.hidden");

	strcpy(parent, "untouched");
	name = path_last_component("x/y", parent, 0);
	is_str(name, "y", "last component with no parent buffer");
	is_str(parent, "untouched", "a zero-sized parent buffer is not written");

	memset(parent, 'X', sizeof(parent));
	name = path_last_component("abcdef/g", parent, 4);
	is_str(name, "g", "last component with a small parent buffer");
	ok(memchr(parent, '\0', 4) != NULL, "a small parent buffer is NUL-terminated within its size");
	is_int(parent[4], 'X', "a small parent buffer is not overrun");
}

/* ---- path_open_dir_beneath ------------------------------------------------------ */

static bool same_inode(int fd, int dirfd, const char *name)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

static mode_t mode_of(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return (mode_t) -1;
	return st.st_mode;
}

static void test_open_beneath(const char *tmp)
{
	char outside[PATH_MAX], rootp[PATH_MAX];
	int rootfd, outfd, fd, r, fds;

	tu_fmt(rootp, sizeof(rootp), "%s/root", tmp);
	tu_fmt(outside, sizeof(outside), "%s/outside", tmp);
	if (mkdir(rootp, 0755) < 0 || mkdir(outside, 0755) < 0)
		bail_out("mkdir: %s", strerror(errno));
	rootfd = open(rootp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	outfd = open(outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || outfd < 0)
		bail_out("open: %s", strerror(errno));
	fds = count_fds();

	/* The root itself. */
	fd = -1;
	r = path_open_dir_beneath(rootfd, "", 0, &fd);
	is_int(r, 0, "'' opens the root");
	ok(fd >= 0 && same_inode(fd, rootfd, "."), "'' is the root directory itself");
	ok(fd >= 0 && (fcntl(fd, F_GETFL) & O_PATH), "the returned fd is O_PATH");
	if (fd >= 0)
		close(fd);

	/* Creating missing directories with the given mode. */
	fd = -1;
	r = path_open_dir_beneath(rootfd, "a/b/c", 0750, &fd);
	is_int(r, 0, "a/b/c is created");
	ok(fd >= 0 && same_inode(fd, rootfd, "a/b/c"), "the fd is a/b/c");
	is_int(mode_of(rootfd, "a"), S_IFDIR | 0750, "a was created 0750");
	is_int(mode_of(rootfd, "a/b"), S_IFDIR | 0750, "a/b was created 0750");
	is_int(mode_of(rootfd, "a/b/c"), S_IFDIR | 0750, "a/b/c was created 0750");
	if (fd >= 0)
		close(fd);

	if (mkdirat(rootfd, "keep", 0700) < 0)
		bail_out("mkdirat: %s", strerror(errno));
	fd = -1;
	r = path_open_dir_beneath(rootfd, "keep/new/", 0755, &fd);
	is_int(r, 0, "keep/new/ (trailing slash) is created below an existing dir");
	is_int(mode_of(rootfd, "keep"), S_IFDIR | 0700, "an existing directory keeps its mode");
	is_int(mode_of(rootfd, "keep/new"), S_IFDIR | 0755, "keep/new was created 0755");
	if (fd >= 0)
		close(fd);

	/* Without create_mode nothing is created. */
	fd = 4242;
	r = path_open_dir_beneath(rootfd, "missing/x", 0, &fd);
	is_int(r, -ENOENT, "a missing directory without create_mode is -ENOENT");
	is_int(fd, 4242, "ret_fd is untouched on failure");
	is_int(faccessat(rootfd, "missing", F_OK, AT_SYMLINK_NOFOLLOW), -1, "nothing was created");

	fd = -1;
	r = path_open_dir_beneath(rootfd, "a/b", 0, &fd);
	is_int(r, 0, "an existing path opens without create_mode");
	ok(fd >= 0 && same_inode(fd, rootfd, "a/b"), "the fd is a/b");
	if (fd >= 0)
		close(fd);

	/* Symlinks: never passed through, even to a directory inside the root. */
	if (mkdirat(rootfd, "real", 0755) < 0 || symlinkat("real", rootfd, "link") < 0 ||
	    symlinkat(outside, rootfd, "out") < 0 || symlinkat("nowhere", rootfd, "dangling") < 0 ||
	    symlinkat("../../..", rootfd, "up") < 0 || symlinkat("/", rootfd, "slash") < 0)
		bail_out("setup: %s", strerror(errno));
	fd = 4242;
	r = path_open_dir_beneath(rootfd, "link", 0, &fd);
	is_int(r, -ELOOP, "a symlink to a directory inside the root is -ELOOP");
	is_int(fd, 4242, "ret_fd is untouched on -ELOOP");
	r = path_open_dir_beneath(rootfd, "link/sub", 0755, &fd);
	is_int(r, -ELOOP, "creating below a symlink to an inside directory is -ELOOP");
	is_int(faccessat(rootfd, "real/sub", F_OK, AT_SYMLINK_NOFOLLOW), -1, "nothing was created through it");
	r = path_open_dir_beneath(rootfd, "out/new", 0755, &fd);
	is_int(r, -ELOOP, "a symlink to an outside directory is -ELOOP");
	is_int(faccessat(outfd, "new", F_OK, AT_SYMLINK_NOFOLLOW), -1, "nothing was created outside");
	r = path_open_dir_beneath(rootfd, "dangling/x", 0755, &fd);
	is_int(r, -ELOOP, "a dangling symlink is -ELOOP even with create_mode");
	is_int(faccessat(rootfd, "nowhere", F_OK, AT_SYMLINK_NOFOLLOW), -1, "the dangling target was not created");
	r = path_open_dir_beneath(rootfd, "dangling", 0755, &fd);
	is_int(r, -ELOOP, "a dangling symlink as the last component is -ELOOP");
	r = path_open_dir_beneath(rootfd, "up/x", 0755, &fd);
	is_int(r, -ELOOP, "a symlink to ../../.. is -ELOOP");
	r = path_open_dir_beneath(rootfd, "slash/etc", 0, &fd);
	is_int(r, -ELOOP, "a symlink to / is -ELOOP");
	r = path_open_dir_beneath(rootfd, "a/b/c/../../../link", 0, &fd);
	is_int(r, -EINVAL, "a '..' component is refused (-EINVAL)");
	r = path_open_dir_beneath(rootfd, "..", 0, &fd);
	is_int(r, -EINVAL, "'..' alone is refused (-EINVAL)");
	r = path_open_dir_beneath(rootfd, "a/./b", 0, &fd);
	is_int(r, -EINVAL, "a '.' component is refused (-EINVAL)");
	is_int(fd, 4242, "ret_fd is still untouched");

	/* Non-directories. */
	if (tu_write_file(rootfd, "file", "x", 0644) < 0 || mkfifoat(rootfd, "fifo", 0644) < 0)
		bail_out("setup: %s", strerror(errno));
	r = path_open_dir_beneath(rootfd, "file", 0755, &fd);
	is_int(r, -ENOTDIR, "a regular file is -ENOTDIR");
	r = path_open_dir_beneath(rootfd, "file/x", 0755, &fd);
	is_int(r, -ENOTDIR, "a regular file as a middle component is -ENOTDIR");
	r = path_open_dir_beneath(rootfd, "fifo/x", 0755, &fd);
	is_int(r, -ENOTDIR, "a fifo as a component is -ENOTDIR");
	is_int(count_fds(), fds, "no file descriptor leaked");

	close(outfd);
	close(rootfd);
}

/* A tree deeper than PATH_MAX: only fd-relative walking can build it. */
static void test_deep(const char *tmp)
{
	enum { LEVELS = 300 };
	size_t cap = LEVELS * 32, len = 0;
	char *rel = malloc(cap), deepp[PATH_MAX];
	int rootfd, fd = -1, r, depth = 0, cur;
	struct stat st_created, st_reopened;
	bool modes_ok = true;

	tu_fmt(deepp, sizeof(deepp), "%s/deep", tmp);
	if (!rel || mkdir(deepp, 0755) < 0)
		bail_out("setup: %s", strerror(errno));
	rootfd = open(deepp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		bail_out("open: %s", strerror(errno));
	rel[0] = '\0';
	for (int i = 0; i < LEVELS; i++)
		len += (size_t) snprintf(rel + len, cap - len, "%slevel-%03d-abcdefghij", i ? "/" : "", i);
	ok(len > PATH_MAX, "the relative path is %zu bytes, longer than PATH_MAX", len);

	r = path_open_dir_beneath(rootfd, rel, 0700, &fd);
	is_int(r, 0, "a %d-level tree is created", LEVELS);
	ok(fd >= 0 && fstat(fd, &st_created) == 0 && S_ISDIR(st_created.st_mode), "the deepest level is a directory");

	/* Walk it independently, one component at a time. */
	cur = dup(rootfd);
	for (const char *p = rel; cur >= 0 && *p;) {
		const char *end = strchrnul(p, '/');
		char name[NAME_MAX + 1];
		struct stat st;
		int next;

		snprintf(name, sizeof(name), "%.*s", (int) (end - p), p);
		if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_mode != (S_IFDIR | 0700))
			modes_ok = false;
		next = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(cur);
		cur = next;
		if (cur >= 0)
			depth++;
		p = *end ? end + 1 : end;
	}
	if (cur >= 0)
		close(cur);
	is_int(depth, LEVELS, "the tree is %d levels deep", LEVELS);
	ok(modes_ok, "every level was created 0700");

	if (fd >= 0)
		close(fd);
	fd = -1;
	r = path_open_dir_beneath(rootfd, rel, 0, &fd);
	is_int(r, 0, "the deep path opens again without create_mode");
	ok(fd >= 0 && fstat(fd, &st_reopened) == 0 && st_reopened.st_ino == st_created.st_ino,
	   "it is the same directory");
	if (fd >= 0)
		close(fd);
	close(rootfd);
	free(rel);
}

int main(void)
{
	char *tmp;

	umask(022);
	test_normalize();
	test_last_component();
	tmp = tu_mkdtemp();
	test_open_beneath(tmp);
	test_deep(tmp);
	tu_rmtree(tmp);
	return done_testing();
}
