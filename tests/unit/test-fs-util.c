/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for base/fs-util.c: rm_rf_at (as root and as an unprivileged user,
 * on 0000/0555 trees, never through symlinks or into a mount, 10,500-level trees
 * with 64 fds), tree_usage_at,
 * write_file_atomic_at, read_file_at and write_all.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs-util.h"
#include "tap.h"
#include "test-util.h"

static int open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		bail_out("open %s: %s", path, strerror(errno));
	return fd;
}

static void must(int r, const char *what)
{
	if (r < 0)
		bail_out("setup: %s: %s", what, strerror(r == -1 ? errno : -r));
}

static bool exists(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool file_is(int dirfd, const char *name, const char *content)
{
	char buf[256];

	return tu_read_file(dirfd, name, buf, sizeof(buf)) >= 0 && strcmp(buf, content) == 0;
}

/* ---- rm_rf_at ----------------------------------------------------------------------- */

/* `outside/`: a directory the tree links to; it and its files must survive any removal. */
static void make_outside(int basefd)
{
	must(mkdirat(basefd, "outside", 0755), "outside");
	must(tu_write_file(basefd, "outside/keep", "keep me", 0644), "outside/keep");
	must(mkdirat(basefd, "outside/sub", 0755), "outside/sub");
	must(tu_write_file(basefd, "outside/sub/file", "deep keep", 0644), "outside/sub/file");
}

static void check_outside(int basefd, const char *who)
{
	ok(file_is(basefd, "outside/keep", "keep me"), "%s: outside/keep survived, content intact", who);
	ok(file_is(basefd, "outside/sub/file", "deep keep"), "%s: outside/sub/file survived", who);
}

/* Directories are created 0755 and given their final mode afterwards, deepest first. */
static void make_tree(int basefd, const char *outside_abs)
{
	static const struct {
		const char *path;
		mode_t mode;
	} dirs[] = {
	    {"tree/d0000/inner", 0000}, {"tree/d0000", 0000}, {"tree/d0555/sub", 0555}, {"tree/d0555", 0555},
	    {"tree/d0300", 0300},	{"tree/d0500", 0500}, {"tree/d0700", 0700},	{"tree/d0555/empty0000", 0000},
	};

	must(mkdirat(basefd, "tree", 0755), "tree");
	must(mkdirat(basefd, "tree/d0000", 0755), "d0000");
	must(mkdirat(basefd, "tree/d0000/inner", 0755), "d0000/inner");
	must(tu_write_file(basefd, "tree/d0000/inner/f", "f", 0644), "d0000/inner/f");
	must(tu_write_file(basefd, "tree/d0000/f0000", "f", 0000), "d0000/f0000");
	must(mkdirat(basefd, "tree/d0555", 0755), "d0555");
	must(mkdirat(basefd, "tree/d0555/sub", 0755), "d0555/sub");
	must(mkdirat(basefd, "tree/d0555/empty0000", 0755), "d0555/empty0000");
	must(tu_write_file(basefd, "tree/d0555/sub/f0555", "f", 0555), "d0555/sub/f0555");
	must(tu_write_file(basefd, "tree/d0555/f", "f", 0644), "d0555/f");
	must(mkdirat(basefd, "tree/d0300", 0755), "d0300");
	must(tu_write_file(basefd, "tree/d0300/f", "f", 0644), "d0300/f");
	must(mkdirat(basefd, "tree/d0500", 0755), "d0500");
	must(mkfifoat(basefd, "tree/d0500/fifo", 0600), "d0500/fifo");
	must(mkdirat(basefd, "tree/d0700", 0755), "d0700");
	must(tu_write_file(basefd, "tree/f0000", "f", 0000), "f0000");
	must(tu_write_file(basefd, "tree/f0555", "f", 0555), "f0555");
	must(symlinkat(outside_abs, basefd, "tree/link_out"), "link_out");
	must(symlinkat("../outside", basefd, "tree/link_rel"), "link_rel");
	must(symlinkat("../outside/keep", basefd, "tree/link_file"), "link_file");
	must(symlinkat("nowhere", basefd, "tree/dangling"), "dangling");
	must(symlinkat(outside_abs, basefd, "tree/d0555/sub/link_out"), "d0555/sub/link_out");
	must(linkat(basefd, "tree/f0555", basefd, "tree/d0000/hardlink", 0), "hardlink");
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		must(fchmodat(basefd, dirs[i].path, dirs[i].mode, 0), dirs[i].path);
	must(fchmodat(basefd, "tree/d0555", 0555, 0), "d0555");
}

/* A deep chain of directories, each given `mode` once its child exists. */
static void make_deep(int basefd, const char *name, int levels, mode_t mode)
{
	int *fds = calloc((size_t) levels + 1, sizeof(int));

	if (!fds)
		bail_out("out of memory");
	must(mkdirat(basefd, name, 0755), name);
	fds[0] = openat(basefd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(fds[0], name);
	for (int i = 1; i <= levels; i++) {
		must(mkdirat(fds[i - 1], "level-with-a-long-name", 0755), "deep level");
		fds[i] = openat(fds[i - 1], "level-with-a-long-name", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		must(fds[i], "deep level");
	}
	must(tu_write_file(fds[levels], "bottom", "b", 0444), "deep bottom");
	for (int i = levels; i >= 0; i--) {
		must(fchmod(fds[i], mode), "deep chmod");
		close(fds[i]);
	}
	free(fds);
}

static void rm_tree_checks(int basefd, const char *who)
{
	int r = rm_rf_at(basefd, "tree");

	is_int(r, 0, "%s: rm_rf_at removes a tree with 0000/0555/0300/0500 dirs and 0000/0555 files", who);
	ok(!exists(basefd, "tree"), "%s: the tree is gone", who);
	check_outside(basefd, who);

	r = rm_rf_at(basefd, "deep");
	is_int(r, 0, "%s: rm_rf_at removes a 300-level deep tree of 0555 directories", who);
	ok(!exists(basefd, "deep"), "%s: the deep tree is gone", who);

	r = rm_rf_at(basefd, "top0000");
	is_int(r, 0, "%s: rm_rf_at removes a 0000 directory given by name", who);
	ok(!exists(basefd, "top0000"), "%s: top0000 is gone", who);

	r = rm_rf_at(basefd, "toplink");
	is_int(r, 0, "%s: rm_rf_at on a symlink to a directory removes the link", who);
	ok(!exists(basefd, "toplink"), "%s: the link is gone", who);
	check_outside(basefd, who);

	r = rm_rf_at(basefd, "topfile");
	is_int(r, 0, "%s: rm_rf_at removes a plain file", who);
	ok(!exists(basefd, "topfile"), "%s: the file is gone", who);

	is_int(rm_rf_at(basefd, "missing"), -ENOENT, "%s: rm_rf_at on a missing name is -ENOENT", who);

	/* Directories without search permission: readable (0444/0644) or not even that. */
	r = rm_rf_at(basefd, "d0444");
	is_int(r, 0, "%s: rm_rf_at removes a 0444 directory holding a subdirectory", who);
	ok(!exists(basefd, "d0444"), "%s: d0444 is gone", who);
	r = rm_rf_at(basefd, "d0644");
	is_int(r, 0, "%s: rm_rf_at removes a 0644 directory holding files", who);
	ok(!exists(basefd, "d0644"), "%s: d0644 is gone", who);
}

static void make_all(int basefd, const char *outside_abs)
{
	make_outside(basefd);
	make_tree(basefd, outside_abs);
	make_deep(basefd, "deep", 300, 0555);
	must(mkdirat(basefd, "top0000", 0755), "top0000");
	must(tu_write_file(basefd, "top0000/f", "f", 0644), "top0000/f");
	must(fchmodat(basefd, "top0000", 0000, 0), "top0000");
	must(symlinkat(outside_abs, basefd, "toplink"), "toplink");
	must(tu_write_file(basefd, "topfile", "f", 0644), "topfile");
	must(mkdirat(basefd, "d0444", 0755), "d0444");
	must(mkdirat(basefd, "d0444/sub", 0755), "d0444/sub");
	must(fchmodat(basefd, "d0444", 0444, 0), "d0444 chmod");
	must(mkdirat(basefd, "d0644", 0755), "d0644");
	must(tu_write_file(basefd, "d0644/f1", "f", 0644), "d0644/f1");
	must(tu_write_file(basefd, "d0644/f2", "f", 0000), "d0644/f2");
	must(fchmodat(basefd, "d0644", 0644, 0), "d0644 chmod");
}

static void test_rm_rf(const char *tmp)
{
	char base[PATH_MAX], outside[PATH_MAX];
	int basefd;

	/* As whoever runs the test (root in CI: CAP_DAC_OVERRIDE makes modes moot). */
	tu_fmt(base, sizeof(base), "%s/rm-self", tmp);
	tu_fmt(outside, sizeof(outside), "%s/outside", base);
	must(mkdir(base, 0755), base);
	basefd = open_dir(base);
	make_all(basefd, outside);
	rm_tree_checks(basefd, geteuid() == 0 ? "root" : "user");
	close(basefd);

	/* As an unprivileged user on a tree it owns: the chmod-to-remove path. */
	if (geteuid() != 0) {
		skip(1, "not root: cannot setuid to %d (the run above was the unprivileged one)", TU_NOBODY);
		return;
	}
	tu_fmt(base, sizeof(base), "%s/rm-nobody", tmp);
	tu_fmt(outside, sizeof(outside), "%s/outside", base);
	must(mkdir(base, 0755), base);
	basefd = open_dir(base);
	make_all(basefd, outside);
	if (tu_chown_tree(base, TU_NOBODY, TU_NOBODY) < 0)
		bail_out("chown -R %s failed", base);
	{
		pid_t pid = tap_fork();
		if (pid == 0) {
			int r = tu_become_nobody();
			alarm(60);
			if (r < 0) {
				ok(false, "setuid(%d): %s", TU_NOBODY, strerror(-r));
				_exit(1);
			}
			ok(geteuid() == TU_NOBODY && getuid() == TU_NOBODY, "child runs as uid %d", TU_NOBODY);
			rm_tree_checks(basefd, "nobody");
			_exit(0);
		}
		must(pid, "fork");
		tap_wait_child(pid, "rm_rf_at as nobody");
	}
	/* Seen from root again: the outside tree (also owned by nobody) is intact. */
	check_outside(basefd, "after the nobody run, seen by root");
	close(basefd);
}

/*
 * Far deeper than any fd limit or PATH_MAX: made one level at a time with
 * fchdir, then removed by rm_rf_at in a child limited to 64 open files.
 */
static void test_rm_rf_very_deep(const char *tmp)
{
	enum { LEVELS = 10500 };
	char base[PATH_MAX];
	int basefd, cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	must(cwd, "open .");
	tu_fmt(base, sizeof(base), "%s/rm-very-deep", tmp);
	must(mkdir(base, 0755), base);
	basefd = open_dir(base);
	must(fchdir(basefd), "chdir base");
	must(mkdir("deep", 0755), "deep");
	must(chdir("deep"), "chdir deep");
	for (int i = 0; i < LEVELS; i++) {
		must(mkdir("d", i % 2 ? 0555 : 0755), "deep level");
		if (i % 100 == 0) {
			must(tu_write_file(AT_FDCWD, "f", "f", 0444), "deep file");
			must(symlink("/", "s"), "deep symlink");
		}
		must(chdir("d"), "chdir deep level");
	}
	must(fchdir(cwd), "chdir back");
	close(cwd);
	{
		pid_t pid = tap_fork();
		if (pid == 0) {
			struct rlimit rl = { 64, 64 };
			int r;
			alarm(120);
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				_exit(2);
			r = rm_rf_at(basefd, "deep");
			is_int(r, 0, "rm_rf_at removes a %d-level tree with at most 64 fds open", LEVELS);
			_exit(0);
		}
		must(pid, "fork");
		tap_wait_child(pid, "rm_rf_at with RLIMIT_NOFILE 64");
	}
	ok(!exists(basefd, "deep"), "the %d-level tree is gone", LEVELS);

	/* A mount inside the tree is refused, never emptied (root: a tmpfs in a mount namespace of our own). */
	if (geteuid() != 0) {
		skip(3, "not root: no mount inside the tree");
	} else {
		must(mkdirat(basefd, "m", 0755), "m");
		must(mkdirat(basefd, "m/sub", 0755), "m/sub");
		pid_t pid = tap_fork();
		if (pid == 0) {
			char mp[PATH_MAX + 8];
			alarm(60);
			tu_fmt(mp, sizeof(mp), "%s/m/sub", base);
			if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
			    mount("tmpfs", mp, "tmpfs", 0, "size=1m") < 0) {
				skip(3, "a private tmpfs: %s", strerror(errno));
				_exit(0);
			}
			/* basefd is of the old namespace, which has no tmpfs there: open it again. */
			int nsfd = open_dir(base);
			must(tu_write_file(nsfd, "m/sub/keep", "k", 0644), "m/sub/keep");
			is_int(rm_rf_at(nsfd, "m"), -EBUSY, "rm_rf_at refuses a tree with a mount inside (-EBUSY)");
			ok(exists(nsfd, "m/sub/keep"), "the mounted file system's content is untouched");
			ok(umount(mp) == 0 && rm_rf_at(nsfd, "m") == 0, "once unmounted the tree goes");
			_exit(0);
		}
		must(pid, "fork");
		tap_wait_child(pid, "rm_rf_at and a mount inside the tree");
		(void) rm_rf_at(basefd, "m");
	}
	close(basefd);
}

/* ---- tree_usage_at ------------------------------------------------------------------- */

static uint64_t blocks_of(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		bail_out("stat %s: %s", name, strerror(errno));
	return (uint64_t) st.st_blocks * 512;
}

static void fill(int dirfd, const char *name, size_t size)
{
	char *buf = malloc(size + 1);

	if (!buf)
		bail_out("out of memory");
	memset(buf, 'u', size);
	buf[size] = '\0';
	must(tu_write_file(dirfd, name, buf, 0644), name);
	free(buf);
}

/* tree_usage_at on a fresh fd of base/root. */
static int usage(int basefd, uint64_t *bytes, uint64_t *entries)
{
	int fd = openat(basefd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	must(fd, "open root");
	r = tree_usage_at(fd, bytes, entries);
	close(fd);
	return r;
}

static void test_usage(const char *tmp)
{
	char base[PATH_MAX];
	uint64_t bytes = 1, entries = 1, bytes2 = 1, entries2 = 1, want;
	int basefd, rootfd, r;

	tu_fmt(base, sizeof(base), "%s/usage", tmp);
	must(mkdir(base, 0755), base);
	basefd = open_dir(base);
	must(mkdirat(basefd, "root", 0755), "root");
	rootfd = openat(basefd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(rootfd, "root");

	r = usage(basefd, &bytes, &entries);
	is_int(r, 0, "tree_usage_at on an empty directory");
	is_int(entries, 0, "an empty directory has no entries");
	is_int(bytes, blocks_of(basefd, "root"), "an empty directory's usage is its own blocks");

	fill(rootfd, "big", 100000);
	must(linkat(rootfd, "big", rootfd, "link1", 0), "link1");
	must(mkdirat(rootfd, "d", 0755), "d");
	must(linkat(rootfd, "big", rootfd, "d/link2", 0), "link2");
	fill(rootfd, "d/small", 5000);
	must(symlinkat("big", rootfd, "sym"), "sym");
	must(mkfifoat(rootfd, "fifo", 0644), "fifo");
	must(mkdirat(rootfd, "d/e", 0755), "d/e");

	want = blocks_of(basefd, "root") + blocks_of(rootfd, "big") + blocks_of(rootfd, "d") +
	       blocks_of(rootfd, "d/small") + blocks_of(rootfd, "sym") + blocks_of(rootfd, "fifo") +
	       blocks_of(rootfd, "d/e");
	r = usage(basefd, &bytes, &entries);
	is_int(r, 0, "tree_usage_at on a tree with hard links");
	is_int(entries, 8, "entries: big link1 d d/link2 d/small d/e sym fifo");
	is_int(bytes, want, "a file with three links is counted once");
	ok(bytes < want + 2 * blocks_of(rootfd, "big"), "(the links are not counted at all)");

	/* Many linked files: the inode set grows past its first size. */
	must(mkdirat(rootfd, "many", 0755), "many");
	for (int i = 0; i < 400; i++) {
		char a[64], b[64];
		tu_fmt(a, sizeof(a), "many/f%d", i);
		tu_fmt(b, sizeof(b), "many/g%d", i);
		fill(rootfd, a, 1 + (size_t) i * 10);
		must(linkat(rootfd, a, rootfd, b, 0), b);
		want += blocks_of(rootfd, a);
	}
	want += blocks_of(rootfd, "many"); /* now that it holds its 800 entries */
	r = usage(basefd, &bytes, &entries);
	is_int(r, 0, "tree_usage_at with 400 linked pairs");
	is_int(entries, 8 + 1 + 800, "every name is an entry");
	is_int(bytes, want, "each of the 400 pairs is counted once");

	/* The caller's fd is the directory, not a read position: measuring twice gives the same. */
	r = tree_usage_at(rootfd, &bytes, &entries);
	is_int(r, 0, "tree_usage_at on the caller's fd");
	r = tree_usage_at(rootfd, &bytes2, &entries2);
	is_int(r, 0, "tree_usage_at again on the same fd");
	is_int(entries2, entries, "the second call on the same fd counts the same entries");
	is_int(bytes2, bytes, "the second call on the same fd counts the same bytes");

	close(rootfd);

	/* A 0000 directory its owner cannot read without chmod (rootless images have them). */
	must(mkdirat(basefd, "locked", 0755), "locked");
	must(mkdirat(basefd, "locked/d0000", 0755), "locked/d0000");
	fill(basefd, "locked/d0000/f", 3000);
	must(fchmodat(basefd, "locked/d0000", 0000, 0), "chmod d0000");
	if (geteuid() == 0) {
		must(tu_chown_tree(base, TU_NOBODY, TU_NOBODY), "chown usage");
		pid_t pid = tap_fork();
		must(pid, "fork");
		if (pid == 0) {
			int fd;
			alarm(30);
			if (!ok(tu_become_nobody() == 0, "setuid(%d)", TU_NOBODY))
				_exit(1);
			fd = openat(basefd, "locked", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			r = tree_usage_at(fd, &bytes, &entries);
			is_int(r, 0, "nobody: tree_usage_at on a tree with a 0000 directory it owns");
			is_int(r == 0 ? entries : 0, 2, "nobody: it counts d0000 and d0000/f");
			_exit(0);
		}
		tap_wait_child(pid, "tree_usage_at as nobody");
	} else {
		int fd = openat(basefd, "locked", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = tree_usage_at(fd, &bytes, &entries);
		is_int(r, 0, "tree_usage_at on a tree with a 0000 directory the caller owns");
		is_int(r == 0 ? entries : 0, 2, "it counts d0000 and d0000/f");
		close(fd);
	}
	close(basefd);
}

/* ---- write_file_atomic_at --------------------------------------------------------- */

static void test_write_atomic(const char *tmp)
{
	char base[PATH_MAX], buf[256], name250[251], tmpname[64];
	struct stat before, after, st;
	int basefd, dfd, outfd, oldfd, r;

	tu_fmt(base, sizeof(base), "%s/atomic", tmp);
	must(mkdir(base, 0755), base);
	basefd = open_dir(base);
	must(mkdirat(basefd, "d", 0755), "d");
	must(mkdirat(basefd, "out", 0755), "out");
	dfd = openat(basefd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	outfd = openat(basefd, "out", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(dfd, "d");
	must(outfd, "out");

	r = write_file_atomic_at(dfd, "fresh", "hello", 5, 0640);
	is_int(r, 0, "write_file_atomic_at creates a new file");
	ok(file_is(dfd, "fresh", "hello"), "with the content");
	is_int(fstatat(dfd, "fresh", &st, 0) == 0 ? st.st_mode : 0, S_IFREG | 0640, "and the mode 0640");
	is_int(tu_count_entries(dfd, "."), 1, "no temporary file is left");

	must(tu_write_file(dfd, "target", "old content", 0644), "target");
	must(fstatat(dfd, "target", &before, 0), "stat target");
	oldfd = openat(dfd, "target", O_RDONLY | O_CLOEXEC);
	must(oldfd, "open target");
	r = write_file_atomic_at(dfd, "target", "new", 3, 0600);
	is_int(r, 0, "write_file_atomic_at replaces an existing file");
	ok(file_is(dfd, "target", "new"), "the name has the new content");
	must(fstatat(dfd, "target", &after, 0), "stat target");
	ok(after.st_ino != before.st_ino, "it is a new inode (renamed over, not rewritten in place)");
	is_int(after.st_mode, S_IFREG | 0600, "the new file has the new mode");
	r = (int) pread(oldfd, buf, sizeof(buf) - 1, 0);
	buf[r > 0 ? r : 0] = '\0';
	is_str(buf, "old content", "a reader of the old file still sees the old content, whole");
	close(oldfd);
	is_int(tu_count_entries(dfd, "."), 2, "no temporary file is left after replacing");

	r = write_file_atomic_at(dfd, "empty", "", 0, 0644);
	is_int(r, 0, "an empty file can be written");
	is_int(fstatat(dfd, "empty", &st, 0) == 0 ? st.st_size : -1, 0, "it is empty");

	/* A symlink at the name is replaced, never written through. */
	must(tu_write_file(outfd, "victim", "untouched", 0644), "victim");
	tu_fmt(buf, sizeof(buf), "%s/out/victim", base);
	must(symlinkat(buf, dfd, "link"), "link");
	r = write_file_atomic_at(dfd, "link", "written", 7, 0644);
	is_int(r, 0, "write_file_atomic_at over a symlink");
	ok(fstatat(dfd, "link", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode),
	   "the symlink was replaced by a regular file");
	ok(file_is(outfd, "victim", "untouched"), "the symlink's target is untouched");

	/* A stale temp file of the same name (a crashed earlier run with our pid) is replaced. */
	tu_fmt(tmpname, sizeof(tmpname), ".stale.tmp%ld", (long) getpid());
	tu_fmt(buf, sizeof(buf), "%s/out/victim", base);
	must(symlinkat(buf, dfd, tmpname), "stale temp symlink");
	r = write_file_atomic_at(dfd, "stale", "fresh", 5, 0644);
	is_int(r, 0, "write_file_atomic_at with a stale temp symlink in the way");
	ok(file_is(dfd, "stale", "fresh"), "the file has the content");
	ok(!exists(dfd, tmpname), "the stale temp name is gone");
	ok(file_is(outfd, "victim", "untouched"), "nothing was written through the stale temp symlink");

	/* Failures leave nothing behind. */
	must(mkdirat(dfd, "adir", 0755), "adir");
	must(tu_write_file(dfd, "adir/x", "x", 0644), "adir/x");
	r = write_file_atomic_at(dfd, "adir", "data", 4, 0644);
	is_int(r, -EISDIR, "a non-empty directory at the name: -EISDIR");
	ok(file_is(dfd, "adir/x", "x"), "the directory is untouched");
	memset(name250, 'n', 250);
	name250[250] = '\0';
	r = write_file_atomic_at(dfd, name250, "data", 4, 0644);
	is_int(r, -ENAMETOOLONG, "a name too long for the temporary name: -ENAMETOOLONG");
	is_int(tu_count_entries(dfd, "."), 6, "no temporary file is left after failures");

	close(dfd);
	close(outfd);
	close(basefd);
}

/* ---- read_file_at ------------------------------------------------------------------ */

static void test_read_file(const char *tmp)
{
	char base[PATH_MAX];
	char sentinel = 0, *data = &sentinel, *big;
	size_t len = 4242;
	int basefd, r;

	tu_fmt(base, sizeof(base), "%s/read", tmp);
	must(mkdir(base, 0755), base);
	basefd = open_dir(base);
	must(tu_write_file(basefd, "hello", "hello", 0644), "hello");
	must(tu_write_file(basefd, "empty", "", 0644), "empty");
	must(symlinkat("hello", basefd, "link"), "link");
	must(mkdirat(basefd, "dir", 0755), "dir");

	r = read_file_at(basefd, "hello", 100, &data, &len);
	is_int(r, 0, "read_file_at reads a small file");
	is_int(len, 5, "its length");
	ok(data != &sentinel && memcmp(data, "hello", 6) == 0, "its content, NUL-terminated");
	if (data != &sentinel)
		free(data);

	data = &sentinel;
	r = read_file_at(basefd, "hello", 6, &data, NULL);
	is_int(r, 0, "max one more than the size; ret_len may be NULL");
	ok(data != &sentinel && strcmp(data, "hello") == 0, "the content");
	if (data != &sentinel)
		free(data);

	data = &sentinel;
	len = 4242;
	r = read_file_at(basefd, "hello", 4, &data, &len);
	is_int(r, -EFBIG, "a file larger than max: -EFBIG");
	ok(data == &sentinel && len == 4242, "the outputs are untouched");

	data = &sentinel;
	r = read_file_at(basefd, "hello", 5, &data, &len);
	is_int(r, 0, "a file of exactly max bytes is read whole");
	if (r == 0 && data != &sentinel) {
		is_str(data, "hello", "its content");
		free(data);
	} else {
		skip(1, "not read");
	}

	data = &sentinel;
	r = read_file_at(basefd, "hello", 0, &data, &len);
	is_int(r, -EFBIG, "a non-empty file with max 0: -EFBIG (not silently truncated)");
	if (r == 0 && data != &sentinel)
		free(data);

	data = &sentinel;
	r = read_file_at(basefd, "empty", 10, &data, &len);
	is_int(r, 0, "an empty file");
	ok(data != &sentinel && data[0] == '\0' && len == 0, "reads as an empty string");
	if (data != &sentinel)
		free(data);

	data = &sentinel;
	is_int(read_file_at(basefd, "link", 10, &data, &len), -ELOOP, "a symlink is not followed (-ELOOP)");
	is_int(read_file_at(basefd, "missing", 10, &data, &len), -ENOENT, "a missing file: -ENOENT");
	is_int(read_file_at(basefd, "dir", 10, &data, &len), -EISDIR, "a directory: -EISDIR");
	ok(data == &sentinel, "outputs untouched on failure");

	/* Many read() calls. */
	fill(basefd, "large", 300000);
	r = read_file_at(basefd, "large", 1 << 20, &big, &len);
	is_int(r, 0, "a 300000-byte file");
	is_int(r == 0 ? len : 0, 300000, "its length");
	if (r == 0) {
		bool all = big[300000] == '\0';
		for (size_t i = 0; i < len && all; i++)
			all = big[i] == 'u';
		ok(all, "its content");
		free(big);
	} else {
		skip(1, "not read");
	}
	close(basefd);
}

/* ---- write_all ------------------------------------------------------------------------ */

static void test_write_all(const char *tmp)
{
	char base[PATH_MAX], buf[64];
	char *pattern = malloc(200000), *got = malloc(200000);
	int basefd, fd, p[2];

	tu_fmt(base, sizeof(base), "%s/write", tmp);
	must(mkdir(base, 0755), base);
	basefd = open_dir(base);
	if (!pattern || !got)
		bail_out("out of memory");
	for (size_t i = 0; i < 200000; i++)
		pattern[i] = (char) ('a' + i % 23);

	fd = openat(basefd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	must(fd, "f");
	is_int(write_all(fd, pattern, 200000), 0, "write_all writes 200000 bytes");
	close(fd);
	fd = openat(basefd, "f", O_RDONLY | O_CLOEXEC);
	must(fd, "f");
	ok(read(fd, got, 200000) == 200000 && memcmp(got, pattern, 200000) == 0, "all of them, in order");
	close(fd);

	/* write_all to a closed pipe reports the error. */
	must(pipe2(p, O_CLOEXEC), "pipe");
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	memset(buf, 'x', sizeof(buf));
	is_int(write_all(p[1], buf, sizeof(buf)), -EPIPE, "write_all to a pipe without reader: -EPIPE");
	close(p[1]);
	free(pattern);
	free(got);
	close(basefd);
}

int main(void)
{
	char *tmp;

	umask(022);
	tmp = tu_mkdtemp();
	/* The unprivileged child must reach its directories below tmp. */
	must(chmod(tmp, 0755), "chmod tmp");
	test_rm_rf(tmp);
	test_rm_rf_very_deep(tmp);
	test_usage(tmp);
	test_write_atomic(tmp);
	test_read_file(tmp);
	test_write_all(tmp);
	tu_rmtree(tmp);
	return done_testing();
}
