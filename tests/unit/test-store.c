/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/store.c: opening (creating) a store, its temp dirs and
 * their locks, stale cleanup against a live and a killed holder, commit and
 * adopt, and the default store path for root and for other users.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs-util.h"
#include "isofs.h"
#include "store.h"
#include "tap.h"
#include "test-util.h"

static void must(int r, const char *what)
{
	if (r < 0)
		bail_out("setup: %s: %s", what, strerror(r == -1 ? errno : -r));
}

static mode_t mode_at(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? (mode_t) 0 : st.st_mode;
}

static mode_t mode_of(const char *path)
{
	return mode_at(AT_FDCWD, path);
}

static bool exists_at(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Whether someone else holds the flock of directory tmp/NAME. */
static bool tmpdir_is_locked(isofs_store *s, const char *name)
{
	int fd = openat(s->tmp_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	bool locked;

	if (fd < 0)
		return false;
	locked = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return locked;
}

static void check_layout(isofs_store *s, const char *want_path, const char *label)
{
	char p[PATH_MAX];
	struct stat st;

	is_str(isofs_store_path(s), want_path, "%s: isofs_store_path is the absolute path", label);
	tu_fmt(p, sizeof(p), "%s/images", want_path);
	is_int(mode_of(p), S_IFDIR | 0700, "%s: images/ is a 0700 directory", label);
	tu_fmt(p, sizeof(p), "%s/tmp", want_path);
	is_int(mode_of(p), S_IFDIR | 0700, "%s: tmp/ is a 0700 directory", label);
	tu_fmt(p, sizeof(p), "%s/.lock", want_path);
	is_int(mode_of(p), S_IFREG | 0600, "%s: .lock is a 0600 file", label);
	ok(fstat(s->dirfd, &st) == 0 && S_ISDIR(st.st_mode), "%s: the store fd is the directory", label);
	ok(s->images_fd >= 0 && s->tmp_fd >= 0 && s->lock_fd >= 0, "%s: the store's fds are open", label);
}

static void test_open(const char *tmp)
{
	char path[PATH_MAX], want[PATH_MAX], cwd[PATH_MAX];
	isofs_error err = {0};
	isofs_store *s = NULL, *s2 = NULL, *sentinel = (isofs_store *) &err;
	int r;

	/* An existing empty directory. */
	tu_fmt(path, sizeof(path), "%s/plain", tmp);
	must(mkdir(path, 0700), path);
	r = isofs_store_open(path, &s, &err);
	is_int(r, 0, "isofs_store_open on an empty directory");
	if (s)
		check_layout(s, path, "existing dir");

	/* A second handle on the same store. */
	r = isofs_store_open(path, &s2, &err);
	is_int(r, 0, "a second isofs_store_open of the same store");
	ok(s2 && s2 != s, "a distinct handle");
	isofs_store_close(s2);
	isofs_store_close(s);
	isofs_store_close(NULL);
	ok(true, "isofs_store_close(NULL) is a no-op");

	/* Missing nested parents: 0755 parents, 0700 store. */
	s = NULL;
	tu_fmt(path, sizeof(path), "%s/a/b/c/store", tmp);
	r = isofs_store_open(path, &s, &err);
	is_int(r, 0, "isofs_store_open creates missing parents");
	if (s)
		check_layout(s, path, "nested");
	tu_fmt(want, sizeof(want), "%s/a", tmp);
	is_int(mode_of(want), S_IFDIR | 0755, "a created parent is 0755");
	tu_fmt(want, sizeof(want), "%s/a/b/c", tmp);
	is_int(mode_of(want), S_IFDIR | 0755, "the store's created parent is 0755");
	is_int(mode_of(path), S_IFDIR | 0700, "the store directory is 0700");
	isofs_store_close(s);

	/* A trailing slash names the same store, created the same way. */
	s = NULL;
	tu_fmt(path, sizeof(path), "%s/slash/store/", tmp);
	r = isofs_store_open(path, &s, &err);
	is_int(r, 0, "isofs_store_open with a trailing slash");
	tu_fmt(want, sizeof(want), "%s/slash/store", tmp);
	if (s)
		is_str(isofs_store_path(s), want, "the path has no trailing slash");
	else
		skip(1, "no store");
	is_int(mode_of(want), S_IFDIR | 0700, "a store given with a trailing slash is 0700 too");
	isofs_store_close(s);

	/* A relative path. */
	s = NULL;
	if (!getcwd(cwd, sizeof(cwd)) || chdir(tmp) < 0)
		bail_out("chdir: %s", strerror(errno));
	r = isofs_store_open("rel/store", &s, &err);
	if (chdir(cwd) < 0)
		bail_out("chdir back: %s", strerror(errno));
	is_int(r, 0, "isofs_store_open with a relative path");
	tu_fmt(want, sizeof(want), "%s/rel/store", tmp);
	if (s)
		check_layout(s, want, "relative");
	isofs_store_close(s);

	/* Failures. */
	memset(&err, 0, sizeof(err));
	s = sentinel;
	r = isofs_store_open("", &s, &err);
	is_int(r, -EINVAL, "an empty path: -EINVAL");
	is_int(err.code, EINVAL, "err.code is EINVAL");
	ok(tu_one_line(err.message), "with a one-line message: %s", err.message);
	ok(s == sentinel, "ret_store untouched on failure");

	tu_fmt(path, sizeof(path), "%s/afile", tmp);
	must(tu_write_file(AT_FDCWD, path, "x", 0644), path);
	tu_fmt(path, sizeof(path), "%s/afile/store", tmp);
	memset(&err, 0, sizeof(err));
	r = isofs_store_open(path, &s, &err);
	is_int(r, -ENOTDIR, "a file as a parent: -ENOTDIR");
	ok(tu_one_line(err.message) && strstr(err.message, path), "the message names the store: %s", err.message);
	ok(s == sentinel, "ret_store untouched on failure");
	is_int(isofs_store_open(path, &s, NULL), -ENOTDIR, "the error object may be NULL");
}

static void test_tmpdirs(const char *tmp)
{
	char path[PATH_MAX];
	isofs_error err = {0};
	isofs_store *s = NULL;
	store_tmpdir a = {.fd = -EBADF}, b = {.fd = -EBADF};
	int r;

	tu_fmt(path, sizeof(path), "%s/tmpdirs", tmp);
	r = isofs_store_open(path, &s, &err);
	if (r < 0)
		bail_out("isofs_store_open %s: %s", path, err.message);

	r = store_tmpdir_create(s, "new.x", &a);
	is_int(r, 0, "store_tmpdir_create");
	ok(strncmp(a.name, "new.x.", 6) == 0 && strlen(a.name) == 6 + 8, "named PREFIX.xxxxxxxx: %s", a.name);
	is_int(mode_at(s->tmp_fd, a.name), S_IFDIR | 0700, "a 0700 directory below tmp/");
	ok(a.fd >= 0 && a.store == s, "holding an fd");
	ok(tmpdir_is_locked(s, a.name), "and its flock");
	r = store_tmpdir_create(s, "new.x", &b);
	is_int(r, 0, "a second temp dir with the same prefix");
	ok(strcmp(a.name, b.name) != 0, "gets another name");

	/* Our own live temp dirs survive a stale cleanup. */
	must(store_lock(s), "store_lock");
	r = store_clean_stale(s);
	store_unlock(s);
	is_int(r, 0, "store_clean_stale");
	ok(exists_at(s->tmp_fd, a.name) && exists_at(s->tmp_fd, b.name), "does not remove held temp dirs");

	/* discard removes everything, whatever the modes. */
	must(mkdirat(a.fd, "d", 0755), "d");
	must(tu_write_file(a.fd, "d/f", "f", 0000), "d/f");
	must(fchmodat(a.fd, "d", 0000, 0), "chmod d");
	tu_fmt(path, sizeof(path), "%s", a.name);
	store_tmpdir_discard(&a);
	ok(!exists_at(s->tmp_fd, path), "store_tmpdir_discard removes the temp dir and its 0000 subdir");
	ok(a.name[0] == '\0' && a.fd == -EBADF, "and resets the handle");
	store_tmpdir_discard(&a);
	ok(true, "a second discard is a no-op");

	/* commit: never replaces an existing name. */
	must(mkdirat(s->images_fd, "taken", 0755), "images/taken");
	must(tu_write_file(b.fd, "payload", "p", 0644), "payload");
	tu_fmt(path, sizeof(path), "%s", b.name);
	must(store_lock(s), "store_lock");
	r = store_tmpdir_commit(&b, s->images_fd, "taken");
	is_int(r, -EEXIST, "store_tmpdir_commit onto an existing directory: -EEXIST");
	is_str(b.name, path, "the handle still names the temp dir");
	ok(exists_at(s->tmp_fd, path) && !exists_at(s->images_fd, "taken/payload"),
	   "the temp dir stays; the existing directory is untouched");
	must(tu_write_file(s->images_fd, "file", "f", 0644), "images/file");
	is_int(store_tmpdir_commit(&b, s->images_fd, "file"), -EEXIST, "onto an existing file: -EEXIST");
	must(symlinkat("nowhere", s->images_fd, "dangling"), "images/dangling");
	is_int(store_tmpdir_commit(&b, s->images_fd, "dangling"), -EEXIST, "onto a dangling symlink: -EEXIST");
	r = store_tmpdir_commit(&b, s->images_fd, "fresh");
	store_unlock(s);
	is_int(r, 0, "store_tmpdir_commit onto a free name");
	ok(b.name[0] == '\0' && b.fd == -EBADF, "the handle is released");
	ok(!exists_at(s->tmp_fd, path), "tmp/ no longer has it");
	ok(exists_at(s->images_fd, "fresh/payload"), "images/fresh has its content");
	store_tmpdir_discard(&b);
	ok(exists_at(s->images_fd, "fresh/payload"), "discard after commit removes nothing");

	/* adopt: out of sight into tmp/, then gone. */
	must(store_lock(s), "store_lock");
	r = store_tmpdir_adopt(s, s->images_fd, "fresh", &a);
	store_unlock(s);
	is_int(r, 0, "store_tmpdir_adopt");
	ok(!exists_at(s->images_fd, "fresh"), "the name is gone from images/");
	ok(strncmp(a.name, "rm.", 3) == 0 && exists_at(s->tmp_fd, a.name), "it is tmp/%s", a.name);
	ok(tmpdir_is_locked(s, a.name), "and locked");
	store_tmpdir_discard(&a);
	is_int(tu_count_entries(s->tmp_fd, "."), 0, "after discard tmp/ is empty");
	is_int(store_tmpdir_adopt(s, s->images_fd, "missing", &a), -ENOENT, "adopting a missing name: -ENOENT");

	isofs_store_close(s);
}

/* A child process holds a temp dir; the parent's cleanup must leave it until the child dies. */
static void test_stale(const char *tmp)
{
	char path[PATH_MAX], outside[PATH_MAX], name[NAME_MAX + 1] = "";
	isofs_error err = {0};
	isofs_store *s = NULL;
	int p[2], r, status;
	ssize_t n;
	pid_t pid;

	tu_fmt(path, sizeof(path), "%s/stale", tmp);
	tu_fmt(outside, sizeof(outside), "%s/stale-outside", tmp);
	must(mkdir(outside, 0755), outside);
	r = isofs_store_open(path, &s, &err);
	if (r < 0)
		bail_out("isofs_store_open %s: %s", path, err.message);
	{
		char f[PATH_MAX];
		tu_fmt(f, sizeof(f), "%s/keep", outside);
		must(tu_write_file(AT_FDCWD, f, "keep", 0644), f);
	}

	must(pipe2(p, O_CLOEXEC), "pipe");
	pid = tap_fork();
	must(pid, "fork");
	if (pid == 0) {
		isofs_store *cs = NULL;
		store_tmpdir t = {.fd = -EBADF};

		close(p[0]);
		alarm(30); /* never outlive a broken parent */
		if (isofs_store_open(path, &cs, NULL) < 0 || store_tmpdir_create(cs, "held", &t) < 0 ||
		    tu_write_file(t.fd, "work", "in progress", 0644) < 0)
			_exit(1);
		if (write(p[1], t.name, strlen(t.name) + 1) < 0)
			_exit(1);
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	n = read(p[0], name, sizeof(name) - 1);
	close(p[0]);
	ok(n > 0 && strncmp(name, "held.", 5) == 0, "the child created tmp/%s", name);

	/* Leftovers of interrupted commands. */
	must(mkdirat(s->tmp_fd, "new.dead.abcdefgh", 0700), "dead dir");
	must(mkdirat(s->tmp_fd, "new.dead.abcdefgh/rootfs", 0755), "dead rootfs");
	must(tu_write_file(s->tmp_fd, "new.dead.abcdefgh/rootfs/f", "f", 0644), "dead file");
	must(fchmodat(s->tmp_fd, "new.dead.abcdefgh/rootfs", 0555, 0), "dead rootfs 0555");
	must(tu_write_file(s->tmp_fd, "junk", "not a dir", 0644), "junk");
	must(symlinkat(outside, s->tmp_fd, "link-out"), "link-out");
	must(mkdirat(s->tmp_fd, ".hidden", 0700), ".hidden");

	must(store_lock(s), "store_lock");
	r = store_clean_stale(s);
	store_unlock(s);
	is_int(r, 0, "store_clean_stale while the child is alive");
	ok(n > 0 && exists_at(s->tmp_fd, name), "the child's temp dir is NOT removed");
	{
		char f[PATH_MAX + 8];
		tu_fmt(f, sizeof(f), "%s/work", name);
		ok(n > 0 && exists_at(s->tmp_fd, f), "nor anything in it");
	}
	ok(!exists_at(s->tmp_fd, "new.dead.abcdefgh"), "an unlocked temp dir (with a 0555 subdir) is removed");
	ok(!exists_at(s->tmp_fd, "junk"), "a stray file in tmp/ is removed");
	ok(!exists_at(s->tmp_fd, "link-out"), "a symlink in tmp/ is removed");
	{
		char f[PATH_MAX];
		tu_fmt(f, sizeof(f), "%s/keep", outside);
		ok(exists_at(AT_FDCWD, f), "the symlink's target is not touched");
	}
	ok(exists_at(s->tmp_fd, ".hidden"), "dot names are left alone");

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child was killed");

	must(store_lock(s), "store_lock");
	r = store_clean_stale(s);
	store_unlock(s);
	is_int(r, 0, "store_clean_stale after the child died");
	ok(n > 0 && !exists_at(s->tmp_fd, name), "the dead child's temp dir is removed");
	isofs_store_close(s);

	/* isofs_store_open cleans too. */
	s = NULL;
	{
		char d[PATH_MAX];
		tu_fmt(d, sizeof(d), "%s/tmp/new.crashed.12345678", path);
		must(mkdir(d, 0700), d);
	}
	r = isofs_store_open(path, &s, &err);
	is_int(r, 0, "isofs_store_open");
	ok(s && !exists_at(s->tmp_fd, "new.crashed.12345678"), "removes what a crashed command left");
	isofs_store_close(s);
}

/* The store lock excludes another process. */
static void test_lock(const char *tmp)
{
	char path[PATH_MAX];
	isofs_store *s = NULL;
	pid_t pid;

	tu_fmt(path, sizeof(path), "%s/lock", tmp);
	if (isofs_store_open(path, &s, NULL) < 0)
		bail_out("isofs_store_open %s", path);
	is_int(store_lock(s), 0, "store_lock");
	pid = tap_fork();
	must(pid, "fork");
	if (pid == 0) {
		char lock[PATH_MAX + 8];
		int fd;

		alarm(30);
		tu_fmt(lock, sizeof(lock), "%s/.lock", path);
		fd = open(lock, O_RDWR | O_CLOEXEC);
		_exit(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK ? 0 : 1);
	}
	tap_wait_child(pid, "another process cannot take the held store lock");
	store_unlock(s);
	pid = tap_fork();
	must(pid, "fork");
	if (pid == 0) {
		char lock[PATH_MAX + 8];
		int fd;

		alarm(30);
		tu_fmt(lock, sizeof(lock), "%s/.lock", path);
		fd = open(lock, O_RDWR | O_CLOEXEC);
		_exit(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
	}
	tap_wait_child(pid, "after store_unlock another process can take it");
	isofs_store_close(s);
}

/* ---- isofs_store_default_path ----------------------------------------------------------- */

static void expect_default(const char *want, const char *label)
{
	isofs_error err = {0};
	char *got = NULL;
	int r = isofs_store_default_path(&got, &err);

	is_int(r, 0, "default path %s: succeeds", label);
	is_str(got, want, "default path %s", label);
	free(got);
}

static void set_env(const char *store, const char *xdg, const char *home)
{
#define SET(var, v) ((v) ? setenv(var, v, 1) : unsetenv(var))
	SET("ISOFS_STORE", store);
	SET("XDG_DATA_HOME", xdg);
	SET("HOME", home);
#undef SET
}

static void non_root_default_checks(void)
{
	char want[PATH_MAX];

	set_env("/explicit/store", "/xdg", "/home/u");
	expect_default("/explicit/store", "(user): $ISOFS_STORE wins");
	set_env(NULL, "/xdg", "/home/u");
	expect_default("/xdg/isofs", "(user): $XDG_DATA_HOME/isofs");
	set_env("", "/xdg", "/home/u");
	expect_default("/xdg/isofs", "(user): empty $ISOFS_STORE is ignored");
	set_env(NULL, "relative/xdg", "/home/u");
	expect_default("/home/u/.local/share/isofs", "(user): a relative $XDG_DATA_HOME is ignored");
	set_env(NULL, "", "/home/u");
	expect_default("/home/u/.local/share/isofs", "(user): an empty $XDG_DATA_HOME is ignored");
	set_env(NULL, NULL, "/home/u");
	expect_default("/home/u/.local/share/isofs", "(user): $HOME/.local/share/isofs");
	if (geteuid() == TU_NOBODY) {
		tu_fmt(want, sizeof(want), "%s", "/nonexistent/.local/share/isofs");
		set_env(NULL, NULL, NULL);
		expect_default(want, "(user): no $HOME: the passwd entry's home");
		set_env(NULL, NULL, "relative");
		expect_default(want, "(user): a relative $HOME: the passwd entry's home");
	} else {
		skip(4, "the passwd home is only known for uid %d", TU_NOBODY);
	}
}

static void test_default_path(const char *tmp)
{
	char path[PATH_MAX];
	isofs_store *s = NULL;
	isofs_error err = {0};
	int r;

	if (geteuid() == 0) {
		set_env("/explicit/store", "/xdg", "/root");
		expect_default("/explicit/store", "(root): $ISOFS_STORE wins");
		set_env(NULL, "/xdg", "/root");
		expect_default("/var/lib/isofs", "(root): /var/lib/isofs, not $XDG_DATA_HOME");
		set_env("", NULL, NULL);
		expect_default("/var/lib/isofs", "(root): an empty $ISOFS_STORE is ignored");

		pid_t pid = tap_fork();
		must(pid, "fork");
		if (pid == 0) {
			alarm(30);
			r = tu_become_nobody();
			if (!ok(r == 0, "setuid(%d) for the non-root branches", TU_NOBODY))
				_exit(1);
			non_root_default_checks();
			_exit(0);
		}
		tap_wait_child(pid, "default path as uid 65534");
	} else {
		skip(6, "not root");
		non_root_default_checks();
	}

	/* isofs_store_open(NULL) uses the default. */
	tu_fmt(path, sizeof(path), "%s/from-env", tmp);
	set_env(path, NULL, NULL);
	r = isofs_store_open(NULL, &s, &err);
	is_int(r, 0, "isofs_store_open(NULL) with $ISOFS_STORE");
	if (s)
		is_str(isofs_store_path(s), path, "opens $ISOFS_STORE");
	else
		skip(1, "no store: %s", err.message);
	isofs_store_close(s);
	unsetenv("ISOFS_STORE");
}

int main(void)
{
	char *tmp;

	umask(022);
	tmp = tu_mkdtemp();
	test_open(tmp);
	test_tmpdirs(tmp);
	test_stale(tmp);
	test_lock(tmp);
	test_default_path(tmp);
	tu_rmtree(tmp);
	return done_testing();
}
