/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/tree-write.c and tar import (core/import.c): archives are
 * built in memory with libarchive's writer, read back with libarchive's reader
 * and fed to a tree_writer, or written to a file and imported into a temporary
 * store with isofs_image_import.  Covers contents, modes, times, links, fifos,
 * xattrs, duplicates, sparse files, owners (privileged and rootless) and the
 * attacks: entries through symlinks, '..', absolute names, hard links out.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "isofs.h"
#include "idmap.h"
#include "layer-format.h"
#include "layer-owner.h"
#include "store.h"
#include "tap.h"
#include "test-util.h"
#include "tree-write.h"

#define T0 1600000000 /* default mtime of the entries built here */

static char *g_tmp;   /* the test's temporary directory */
static bool g_xattrs; /* user.* xattrs work below it */
static int g_case;    /* numbering of per-case directories */
static bool g_root;   /* privileged: the tree writer chowns and mknods */

static void must(int r, const char *what)
{
	if (r < 0)
		bail_out("setup: %s: %s", what, strerror(r == -1 ? errno : -r));
}

/* ---- building archives -------------------------------------------------------------- */

struct ar {
	struct archive *a;
	char *buf;
	size_t cap, used;
};

/*
 * pax_restricted (the default here) writes a pax extended header only when the
 * entry needs one; `full_pax` always writes one, with atime and mtime in ns.
 */
static void ar_begin_format(struct ar *w, bool gzip, bool full_pax)
{
	w->cap = 16u << 20;
	w->used = 0;
	w->buf = malloc(w->cap);
	w->a = archive_write_new();
	if (!w->buf || !w->a)
		bail_out("out of memory");
	if ((full_pax ? archive_write_set_format_pax(w->a) : archive_write_set_format_pax_restricted(w->a)) !=
		ARCHIVE_OK ||
	    (gzip && archive_write_add_filter_gzip(w->a) != ARCHIVE_OK) ||
	    archive_write_open_memory(w->a, w->buf, w->cap, &w->used) != ARCHIVE_OK)
		bail_out("archive_write: %s", archive_error_string(w->a));
}

static void ar_end(struct ar *w)
{
	if (archive_write_close(w->a) != ARCHIVE_OK)
		bail_out("archive_write_close: %s", archive_error_string(w->a));
	archive_write_free(w->a);
	w->a = NULL;
}

static void ar_free(struct ar *w)
{
	if (w->a)
		archive_write_free(w->a);
	free(w->buf);
	w->buf = NULL;
}

static struct archive_entry *ent(const char *path, mode_t type, mode_t perm)
{
	struct archive_entry *e = archive_entry_new();

	if (!e)
		bail_out("out of memory");
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, T0, 0);
	return e;
}

/* Writes the entry (and the file data for a regular file) and frees it. */
static void put(struct ar *w, struct archive_entry *e, const void *data, size_t len)
{
	if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e) && !archive_entry_size_is_set(e))
		archive_entry_set_size(e, (la_int64_t) len);
	if (archive_write_header(w->a, e) < ARCHIVE_WARN)
		bail_out("archive_write_header %s: %s", archive_entry_pathname(e), archive_error_string(w->a));
	if (len && archive_write_data(w->a, data, len) != (la_ssize_t) len)
		bail_out("archive_write_data %s: %s", archive_entry_pathname(e), archive_error_string(w->a));
	archive_entry_free(e);
}

static void ar_file(struct ar *w, const char *path, mode_t perm, const char *content)
{
	put(w, ent(path, AE_IFREG, perm), content, strlen(content));
}

static void ar_dir(struct ar *w, const char *path, mode_t perm)
{
	put(w, ent(path, AE_IFDIR, perm), NULL, 0);
}

/*
 * Archives start with the root's own entry "./" 0755, as tar's do: an archive
 * with no directory entry at all is tested on its own, last (test_no_dir_entry).
 */
static void ar_begin(struct ar *w)
{
	ar_begin_format(w, false, false);
	ar_dir(w, "./", 0755);
}

static void ar_begin_bare(struct ar *w)
{
	ar_begin_format(w, false, false);
}

static void ar_symlink(struct ar *w, const char *path, const char *target)
{
	struct archive_entry *e = ent(path, AE_IFLNK, 0777);

	archive_entry_set_symlink(e, target);
	put(w, e, NULL, 0);
}

static void ar_hardlink(struct ar *w, const char *path, const char *target)
{
	struct archive_entry *e = ent(path, AE_IFREG, 0644);

	archive_entry_set_hardlink(e, target);
	archive_entry_set_size(e, 0);
	put(w, e, NULL, 0);
}

/* ---- feeding a tree_writer ---------------------------------------------------------------- */

static int ar_data(void *ctx, const void **ret_buf, size_t *ret_len, int64_t *ret_offset, isofs_error *err)
{
	struct archive *a = ctx;
	la_int64_t offset;
	int r = archive_read_data_block(a, ret_buf, ret_len, &offset);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN) {
		if (err) {
			err->code = EIO;
			snprintf(err->message, sizeof(err->message), "%s", archive_error_string(a));
		}
		return -EIO;
	}
	*ret_offset = offset;
	return 1;
}

/*
 * Reads the archive back and writes it below rootfd: tree_writer_add for each
 * entry (stopping at the first failure), then tree_writer_finish.  Returns the
 * first failure or 0.
 */
static int tw_import(int rootfd, bool privileged, struct ar *w, isofs_import_stats *ret_stats, isofs_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	tree_writer *tw = NULL;
	int r;

	if (!a)
		bail_out("out of memory");
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, w->buf, w->used) != ARCHIVE_OK)
		bail_out("archive_read_open_memory: %s", archive_error_string(a));
	must(tree_writer_new(rootfd, privileged, &tw), "tree_writer_new");
	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF) {
			r = tree_writer_finish(tw, err);
			break;
		}
		if (r < ARCHIVE_WARN)
			bail_out("archive_read_next_header: %s", archive_error_string(a));
		r = tree_writer_add(tw, e, ar_data, a, err);
		if (r < 0)
			break;
	}
	if (ret_stats)
		*ret_stats = *tree_writer_stats(tw);
	tree_writer_free(tw);
	archive_read_free(a);
	return r;
}

/* A fresh CASE/root directory; returns its fd, and CASE's in *ret_casefd. */
static int new_root(const char *label, int *ret_casefd)
{
	char path[PATH_MAX];
	int casefd, rootfd;

	tu_fmt(path, sizeof(path), "%s/case%02d-%s", g_tmp, ++g_case, label);
	must(mkdir(path, 0755), path);
	casefd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(casefd, path);
	must(mkdirat(casefd, "root", 0755), "root");
	rootfd = openat(casefd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(rootfd, "root");
	if (ret_casefd)
		*ret_casefd = casefd;
	else
		close(casefd);
	return rootfd;
}

/* ---- checks ----------------------------------------------------------------------------- */

static bool lstat_at(int dirfd, const char *path, struct stat *st)
{
	return fstatat(dirfd, path, st, AT_SYMLINK_NOFOLLOW) == 0;
}

static mode_t mode_at(int dirfd, const char *path)
{
	struct stat st;

	return lstat_at(dirfd, path, &st) ? st.st_mode : 0;
}

static bool exists_at(int dirfd, const char *path)
{
	struct stat st;

	return lstat_at(dirfd, path, &st);
}

static void check_file(int dirfd, const char *path, const void *content, size_t len, mode_t mode)
{
	char *buf = malloc(len + 2);
	ssize_t n = -1;
	int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (!buf)
		bail_out("out of memory");
	if (fd >= 0) {
		size_t got = 0;
		for (;;) {
			ssize_t k = read(fd, buf + got, len + 1 - got);
			if (k <= 0)
				break;
			got += (size_t) k;
			if (got == len + 1)
				break;
		}
		n = (ssize_t) got;
		close(fd);
	}
	is_int(mode_at(dirfd, path), S_IFREG | mode, "%s is a regular file, mode 0%o", path, (unsigned) mode);
	ok(n == (ssize_t) len && memcmp(buf, content, len) == 0, "%s has the exact content (%zu bytes)", path, len);
	free(buf);
}

/* The value of xattr `name` of `path` (not following symlinks) as a string; "" when absent. */
static const char *xattr_at(int dirfd, const char *path, const char *name)
{
	static char value[256];
	char proc[PATH_MAX + 64];
	ssize_t n;

	tu_fmt(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, path);
	n = lgetxattr(proc, name, value, sizeof(value) - 1);
	if (n < 0)
		return errno == ENODATA ? "" : "(error)";
	value[n] = '\0';
	return value;
}

/* code 0: any error. */
static void check_failed(int r, int code, const isofs_error *err, const char *label)
{
	if (code)
		is_int(r, -code, "%s: fails with -%s", label, strerror(code));
	else
		ok(r < 0, "%s: fails (%d)", label, r);
	is_int(err->code, -r, "%s: err.code is set", label);
	ok(tu_one_line(err->message), "%s: the message is one line: %s", label, err->message);
}

/* Whether a directory holds exactly the one entry `name`. */
static bool only_entry(int dirfd, const char *name)
{
	return tu_count_entries(dirfd, ".") == 1 && exists_at(dirfd, name);
}

/* ---- cases: contents, modes, types -------------------------------------------------------- */

static void test_basic(void)
{
	static const char bin[] = "\177ELF\0\1\2\3 binary\0with NULs\n";
	isofs_import_stats st = {0};
	isofs_error err = {0};
	struct ar w;
	char big[70000];
	int rootfd = new_root("basic", NULL), r;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char) (i * 7 + i / 251);
	ar_begin(&w);
	ar_dir(&w, "./", 0755);
	ar_dir(&w, "etc", 0755);
	ar_file(&w, "etc/hosts", 0644, "127.0.0.1 localhost\n");
	put(&w, ent("bin/prog", AE_IFREG, 0755), bin, sizeof(bin) - 1); /* parent not in the archive */
	put(&w, ent("big", AE_IFREG, 0600), big, sizeof(big));
	ar_file(&w, "empty", 0644, "");
	ar_file(&w, "suid", 04755, "s");
	ar_file(&w, "sgid", 02755, "g");
	ar_file(&w, "sticky-file", 01644, "t");
	ar_dir(&w, "tmp", 01777);
	ar_dir(&w, "sgid-dir", 02775);
	ar_file(&w, "ro", 0444, "read only");
	ar_file(&w, "none", 0000, "no access");
	ar_dir(&w, "d0555", 0555);
	ar_file(&w, "d0555/child", 0644, "written after its 0555 parent");
	ar_dir(&w, "d0555/sub", 0700);
	ar_file(&w, "d0555/sub/grandchild", 0644, "deeper");
	ar_dir(&w, "d0000", 0000);
	ar_file(&w, "d0000/f", 0644, "in a 0000 dir");
	ar_dir(&w, "./a/./b//c/", 0711);
	ar_end(&w);

	r = tw_import(rootfd, g_root, &w, &st, &err);
	is_int(r, 0, "basic archive imports: %s", err.message);
	check_file(rootfd, "etc/hosts", "127.0.0.1 localhost\n", 20, 0644);
	check_file(rootfd, "bin/prog", bin, sizeof(bin) - 1, 0755);
	is_int(mode_at(rootfd, "bin"), S_IFDIR | 0755, "a parent missing from the archive is created 0755");
	check_file(rootfd, "big", big, sizeof(big), 0600);
	check_file(rootfd, "empty", "", 0, 0644);
	check_file(rootfd, "suid", "s", 1, 04755);
	check_file(rootfd, "sgid", "g", 1, 02755);
	check_file(rootfd, "sticky-file", "t", 1, 01644);
	is_int(mode_at(rootfd, "tmp"), S_IFDIR | 01777, "tmp is 01777");
	is_int(mode_at(rootfd, "sgid-dir"), S_IFDIR | 02775, "sgid-dir is 02775");
	check_file(rootfd, "ro", "read only", 9, 0444);
	is_int(mode_at(rootfd, "none"), S_IFREG | 0000, "none is 0000");
	is_int(mode_at(rootfd, "d0000"), S_IFDIR | 0000, "d0000 is 0000");
	if (!g_root) { /* the owner may read them once it grants itself the right */
		must(fchmodat(rootfd, "none", 0400, 0), "chmod none");
		must(fchmodat(rootfd, "d0000", 0700, 0), "chmod d0000");
	}
	check_file(rootfd, "none", "no access", 9, g_root ? 0000 : 0400);
	is_int(mode_at(rootfd, "d0555"), S_IFDIR | 0555, "d0555 is 0555");
	check_file(rootfd, "d0555/child", "written after its 0555 parent", 29, 0644);
	is_int(mode_at(rootfd, "d0555/sub"), S_IFDIR | 0700, "d0555/sub is 0700");
	check_file(rootfd, "d0555/sub/grandchild", "deeper", 6, 0644);
	check_file(rootfd, "d0000/f", "in a 0000 dir", 13, 0644);
	is_int(mode_at(rootfd, "a/b/c"), S_IFDIR | 0711, "'./a/./b//c/' is normalised to a/b/c");
	is_int(mode_at(rootfd, "."), S_IFDIR | 0755, "the root has the './' entry's mode");

	is_int(st.files, 12, "stats: 12 regular files");
	is_int(st.dirs, 7, "stats: 7 directories (the root entry not counted)");
	is_int(st.entries, 19, "stats: 19 entries (the root excluded)");
	is_int(st.bytes, 20 + (sizeof(bin) - 1) + sizeof(big) + 0 + 1 + 1 + 1 + 9 + 9 + 29 + 6 + 13,
	       "stats: bytes is the sum of the file sizes");
	is_int(st.symlinks + st.hardlinks + st.fifos + st.devices, 0, "stats: no links or special files");
	is_int(st.owners_in_xattr + st.owners_dropped, 0, "stats: owners all kept (root, 0:0)");
	ar_free(&w);
	close(rootfd);
}

static void test_times(void)
{
	isofs_error err = {0};
	struct archive_entry *e;
	struct stat st;
	struct ar w;
	int rootfd = new_root("times", NULL), r;

	ar_begin_format(&w, false, true); /* times in ns need the pax header */
	ar_dir(&w, "./", 0755);
	e = ent("file", AE_IFREG, 0644);
	archive_entry_set_mtime(e, 1234567890, 123456789);
	archive_entry_set_atime(e, 1234567000, 5);
	put(&w, e, "x", 1);
	e = ent("noatime", AE_IFREG, 0644);
	archive_entry_set_mtime(e, 1000000000, 999999999);
	put(&w, e, "y", 1);
	e = ent("dir", AE_IFDIR, 0755);
	archive_entry_set_mtime(e, 1111111111, 500000000);
	put(&w, e, NULL, 0);
	ar_file(&w, "dir/child", 0644, "written after dir's entry: must not change its mtime");
	e = ent("link", AE_IFLNK, 0777);
	archive_entry_set_symlink(e, "file");
	archive_entry_set_mtime(e, 1500000000, 250000000);
	put(&w, e, NULL, 0);
	e = ent("old", AE_IFREG, 0644);
	archive_entry_set_mtime(e, 0, 0);
	put(&w, e, "z", 1);
	ar_end(&w);

	r = tw_import(rootfd, g_root, &w, NULL, &err);
	is_int(r, 0, "times archive imports: %s", err.message);
	ok(lstat_at(rootfd, "file", &st), "file exists");
	is_int(st.st_mtim.tv_sec, 1234567890, "file mtime seconds");
	is_int(st.st_mtim.tv_nsec, 123456789, "file mtime nanoseconds");
	is_int(st.st_atim.tv_sec, 1234567000, "file atime seconds");
	is_int(st.st_atim.tv_nsec, 5, "file atime nanoseconds");
	ok(lstat_at(rootfd, "noatime", &st), "noatime exists");
	is_int(st.st_mtim.tv_sec, 1000000000, "noatime mtime seconds");
	is_int(st.st_mtim.tv_nsec, 999999999, "noatime mtime nanoseconds");
	is_int(st.st_atim.tv_sec, 1000000000, "without an atime, atime is the mtime");
	ok(lstat_at(rootfd, "dir", &st), "dir exists");
	is_int(st.st_mtim.tv_sec, 1111111111, "dir mtime seconds (after a child was written into it)");
	is_int(st.st_mtim.tv_nsec, 500000000, "dir mtime nanoseconds");
	ok(lstat_at(rootfd, "link", &st) && S_ISLNK(st.st_mode), "link is a symlink");
	is_int(st.st_mtim.tv_sec, 1500000000, "the symlink's own mtime seconds");
	is_int(st.st_mtim.tv_nsec, 250000000, "the symlink's own mtime nanoseconds");
	ok(lstat_at(rootfd, "file", &st) && st.st_mtim.tv_sec == 1234567890,
	   "setting the symlink's time did not touch its target");
	ok(lstat_at(rootfd, "old", &st) && st.st_mtim.tv_sec == 0 && st.st_mtim.tv_nsec == 0,
	   "mtime 0 (the epoch) is kept");
	ar_free(&w);
	close(rootfd);
}

static void test_links_and_specials(void)
{
	isofs_import_stats st = {0};
	isofs_error err = {0};
	struct stat a, b, c;
	struct ar w;
	char target[PATH_MAX];
	struct archive_entry *e;
	int casefd, rootfd = new_root("links", &casefd), r;
	bool dev_made;

	must(tu_write_file(casefd, "canary", "canary", 0644), "canary");
	ar_begin(&w);
	ar_symlink(&w, "abs", "/etc/passwd");
	ar_symlink(&w, "rel", "../../canary");
	ar_symlink(&w, "dangling", "no/such/file");
	ar_file(&w, "data/file", 0640, "linked content");
	ar_hardlink(&w, "data/link", "data/file");
	ar_hardlink(&w, "other/link2", "./data/file");
	ar_file(&w, "pair", 0644, "two names");
	ar_hardlink(&w, "pair2", "pair");
	ar_symlink(&w, "sym", "pair");
	ar_hardlink(&w, "symlink-hardlink", "sym"); /* a hard link to the symlink itself */
	put(&w, ent("fifo", AE_IFIFO, 0640), NULL, 0);
	e = ent("dev/null", AE_IFCHR, 0666);
	archive_entry_set_rdev(e, makedev(1, 3));
	put(&w, e, NULL, 0);
	ar_end(&w);

	r = tw_import(rootfd, g_root, &w, &st, &err);
	is_int(r, 0, "links archive imports: %s", err.message);
	ok(readlinkat(rootfd, "abs", target, sizeof(target)) == 11 && memcmp(target, "/etc/passwd", 11) == 0,
	   "abs -> /etc/passwd, as a symlink, not followed");
	is_int(mode_at(rootfd, "abs") & S_IFMT, S_IFLNK, "abs is a symlink");
	ok(readlinkat(rootfd, "rel", target, sizeof(target)) == 12 && memcmp(target, "../../canary", 12) == 0,
	   "rel -> ../../canary");
	is_int(mode_at(rootfd, "dangling") & S_IFMT, S_IFLNK, "a dangling symlink is kept");
	ok(lstat_at(rootfd, "data/file", &a) && lstat_at(rootfd, "data/link", &b) &&
	       lstat_at(rootfd, "other/link2", &c),
	   "three names for data/file");
	ok(a.st_ino == b.st_ino && a.st_ino == c.st_ino, "the same inode");
	is_int(a.st_nlink, 3, "nlink 3");
	check_file(rootfd, "other/link2", "linked content", 14, 0640);
	ok(lstat_at(rootfd, "pair", &a) && lstat_at(rootfd, "pair2", &b) && a.st_ino == b.st_ino, "pair2 is pair");
	is_int(a.st_nlink, 2, "nlink 2");
	ok(lstat_at(rootfd, "symlink-hardlink", &a) && S_ISLNK(a.st_mode), "a hard link to a symlink is the symlink");
	is_int(a.st_nlink, 2, "the symlink has two names");
	check_file(rootfd, "pair", "two names", 9, 0644);
	is_int(mode_at(rootfd, "fifo"), S_IFIFO | 0640, "fifo is a fifo, mode 0640");
	dev_made = lstat_at(rootfd, "dev/null", &a);
	if (dev_made) {
		ok(S_ISCHR(a.st_mode) && a.st_rdev == makedev(1, 3), "dev/null is char device 1:3");
		is_int(st.devices, 1, "stats: one device");
	} else {
		is_int(st.devices_skipped, 1, "mknod not allowed here: the device is counted as skipped");
		skip(1, "no CAP_MKNOD");
	}
	{
		/* pax cannot hold a socket: handed to the tree writer directly. */
		struct archive_entry *sock = ent("sock", AE_IFSOCK, 0755), *root = ent(".", AE_IFDIR, 0755);
		tree_writer *tw = NULL;
		must(tree_writer_new(rootfd, true, &tw), "tree_writer_new");
		is_int(tree_writer_add(tw, root, NULL, NULL, &err), 0, "the root entry, handed over directly");
		is_int(tree_writer_add(tw, sock, NULL, NULL, &err), 0, "a socket entry is accepted");
		is_int(tree_writer_finish(tw, &err), 0, "tree_writer_finish");
		ok(!exists_at(rootfd, "sock"), "a socket entry is skipped");
		is_int(tree_writer_stats(tw)->sockets_skipped, 1, "stats: one socket skipped");
		is_int(tree_writer_stats(tw)->entries, 0, "stats: a skipped socket is no entry");
		tree_writer_free(tw);
		archive_entry_free(sock);
		archive_entry_free(root);
	}
	is_int(st.symlinks, 4, "stats: 4 symlinks");
	is_int(st.hardlinks, 4, "stats: 4 hard links");
	is_int(st.fifos, 1, "stats: 1 fifo");
	is_int(st.files, 2, "stats: 2 files");
	ok(tu_count_entries(casefd, ".") == 2, "nothing was written next to the root");
	ar_free(&w);
	close(rootfd);
	close(casefd);
}

static void test_xattrs(void)
{
	static const char binval[] = {0, 1, 2, (char) 0xff};
	isofs_import_stats st = {0};
	isofs_error err = {0};
	struct archive_entry *e;
	char value[16];
	struct ar w;
	int rootfd, r;

	if (!g_xattrs) {
		skip(16, "no user xattrs below %s", g_tmp);
		return;
	}
	rootfd = new_root("xattrs", NULL);
	ar_begin(&w);
	e = ent("file", AE_IFREG, 0644);
	archive_entry_xattr_add_entry(e, "user.test", "hello", 5);
	archive_entry_xattr_add_entry(e, "user.binary", binval, sizeof(binval));
	put(&w, e, "x", 1);
	e = ent("ro", AE_IFREG, 0444);
	archive_entry_xattr_add_entry(e, "user.ro", "read-only file", 14);
	put(&w, e, "x", 1);
	e = ent("dir", AE_IFDIR, 0555);
	archive_entry_xattr_add_entry(e, "user.dir", "d", 1);
	put(&w, e, NULL, 0);
	e = ent("forged", AE_IFREG, 0644);
	archive_entry_xattr_add_entry(e, LAYER_OWNER_XATTR, "0:0", 3);
	archive_entry_xattr_add_entry(e, "user.isofs.other", "x", 1);
	archive_entry_set_uid(e, 0);
	put(&w, e, "x", 1);
	e = ent("link", AE_IFLNK, 0777);
	archive_entry_set_symlink(e, "file");
	archive_entry_xattr_add_entry(e, "user.onlink", "v", 1);
	put(&w, e, NULL, 0);
	/* Layer metadata the overlay would follow: dropped whoever imports, trusted.* included. */
	e = ent("redir", AE_IFDIR, 0755);
	archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/../../../etc", 13);
	archive_entry_xattr_add_entry(e, "user.overlay.redirect", "../..", 5);
	archive_entry_xattr_add_entry(e, "user.overlay.opaque", "y", 1);
	archive_entry_xattr_add_entry(e, "user.isofs.origin", "x", 1);
	archive_entry_xattr_add_entry(e, "user.kept", "k", 1);
	archive_entry_xattr_add_entry(e, "user.overlay.overlay.mine", "m", 1);
	put(&w, e, NULL, 0);
	ar_end(&w);

	r = tw_import(rootfd, g_root, &w, &st, &err);
	is_int(r, 0, "xattr archive imports: %s", err.message);
	is_str(xattr_at(rootfd, "file", "user.test"), "hello", "user.test is kept");
	ok(getxattr(g_tmp, "user.none", value, sizeof(value)) < 0, "(sanity: absent xattrs read as absent)");
	{
		int fd = openat(rootfd, "file", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? fgetxattr(fd, "user.binary", value, sizeof(value)) : -1;
		ok(n == (ssize_t) sizeof(binval) && memcmp(value, binval, sizeof(binval)) == 0,
		   "a binary xattr value with NULs is kept exactly");
		if (fd >= 0)
			close(fd);
	}
	is_str(xattr_at(rootfd, "ro", "user.ro"), "read-only file", "an xattr on a 0444 file is kept");
	is_str(xattr_at(rootfd, "dir", "user.dir"), "d", "an xattr on a directory is kept");
	is_str(xattr_at(rootfd, "forged", LAYER_OWNER_XATTR), "", "user.isofs.owner is never taken from an archive");
	is_str(xattr_at(rootfd, "forged", "user.isofs.other"), "", "nor any other user.isofs.* xattr");
	is_int(st.xattrs_dropped, 1, "stats: the symlink's user.* xattr is dropped (and counted)");
	is_str(xattr_at(rootfd, "redir", "user.overlay.redirect"), "", "user.overlay.redirect is never taken");
	is_str(xattr_at(rootfd, "redir", "user.overlay.opaque"), "", "nor user.overlay.opaque");
	is_str(xattr_at(rootfd, "redir", "user.isofs.origin"), "", "nor user.isofs.origin");
	if (g_root)
		is_str(xattr_at(rootfd, "redir", "trusted.overlay.redirect"), "", "root: nor trusted.overlay.redirect");
	else
		skip(1, "trusted.overlay.redirect: rootless could not set it anyway");
	is_str(xattr_at(rootfd, "redir", "user.kept"), "k", "the directory's own user.* xattr is kept");
	is_str(xattr_at(rootfd, "redir", "user.overlay.overlay.mine"), "m",
	       "an escaped name (a user's user.overlay.mine, as export writes it) is kept");
	is_int(st.overlay_xattrs_dropped, 6, "stats: the 6 layer-metadata xattrs are counted as overlay xattrs dropped");
	ar_free(&w);
	close(rootfd);
}

/* Which xattr names an import drops as layer metadata (layer_xattr_is_metadata): exact prefixes. */
static void test_layer_metadata_names(void)
{
	static const struct {
		const char *name;
		bool metadata;
	} cases[] = {
		{ "trusted.overlay.redirect", true },
		{ "trusted.overlay.opaque", true },
		{ "trusted.overlay.metacopy", true },
		{ "trusted.overlay.origin", true },
		{ "trusted.overlay.whiteout", true },
		{ "trusted.overlay.overlay.redirect", false }, /* escaped: a user's trusted.overlay.redirect */
		{ "user.overlay.overlay.opaque", false },
		{ "trusted.overlay.", true },
		{ "user.overlay.redirect", true },
		{ "user.overlay.opaque", true },
		{ "user.overlay.isofs.origin", true },
		{ "user.overlay.", true },
		{ "user.isofs.owner", true },
		{ "user.isofs.origin", true },
		{ "user.isofs.impure", true },
		{ "user.isofs.", true },
		{ "user.overlay", false },
		{ "trusted.overlay", false },
		{ "user.isofs", false },
		{ "user.overlayx.redirect", false },
		{ "user.isofsx", false },
		{ "user.Overlay.redirect", false }, /* names are case-sensitive: the overlay never reads this one */
		{ "trusted.overlayfs.x", false },
		{ "security.capability", false },
		{ "security.selinux", false },
		{ "system.posix_acl_access", false },
		{ "trusted.t", false },
		{ "user.foo", false },
		{ "user.overlayfoo", false },
		{ "", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(layer_xattr_is_metadata(cases[i].name), cases[i].metadata, "'%s' is %slayer metadata",
		       cases[i].name, cases[i].metadata ? "" : "not ");
}

/* A directory's entry after its children: its mode and mtime still win. */
static void test_dir_after_children(void)
{
	isofs_error err = {0};
	struct archive_entry *e;
	struct stat st;
	struct ar w;
	int rootfd = new_root("dir-late", NULL), r;

	ar_begin_format(&w, false, true);
	ar_dir(&w, "./", 0755);
	ar_file(&w, "late/a", 0644, "a");
	ar_file(&w, "late/sub/b", 0644, "b");
	e = ent("late/sub", AE_IFDIR, 0500);
	archive_entry_set_mtime(e, 1222222222, 22);
	put(&w, e, NULL, 0);
	ar_file(&w, "late/c", 0644, "c written after late/sub's entry");
	e = ent("late", AE_IFDIR, 0750);
	archive_entry_set_mtime(e, 1333333333, 33);
	put(&w, e, NULL, 0);
	ar_file(&w, "late/sub2/d", 0644, "d");
	e = ent(".", AE_IFDIR, 0711);
	archive_entry_set_mtime(e, 1444444444, 44);
	put(&w, e, NULL, 0);
	ar_file(&w, "after-root", 0644, "e");
	ar_end(&w);

	r = tw_import(rootfd, g_root, &w, NULL, &err);
	is_int(r, 0, "late directory entries import: %s", err.message);
	is_int(mode_at(rootfd, "late"), S_IFDIR | 0750, "late has its entry's mode 0750");
	ok(lstat_at(rootfd, "late", &st) && st.st_mtim.tv_sec == 1333333333 && st.st_mtim.tv_nsec == 33,
	   "late has its entry's mtime, though children were written after");
	is_int(mode_at(rootfd, "late/sub"), S_IFDIR | 0500, "late/sub has mode 0500");
	ok(lstat_at(rootfd, "late/sub", &st) && st.st_mtim.tv_sec == 1222222222 && st.st_mtim.tv_nsec == 22,
	   "late/sub has its entry's mtime");
	check_file(rootfd, "late/sub/b", "b", 1, 0644);
	check_file(rootfd, "late/c", "c written after late/sub's entry", 32, 0644);
	is_int(mode_at(rootfd, "late/sub2"), S_IFDIR | 0755, "an implicit directory is 0755");
	ok(lstat_at(rootfd, ".", &st) && st.st_mtim.tv_sec == 1444444444 && st.st_mtim.tv_nsec == 44,
	   "the root has the '.' entry's mtime");
	is_int(mode_at(rootfd, "."), S_IFDIR | 0711, "and its mode");
	ar_free(&w);
	close(rootfd);
}

/* Each duplicate scenario in its own root, so that one failure does not hide the others. */
typedef void (*dup_fn)(struct ar *w, const char *outside);

static int dup_import(const char *label, dup_fn build, int *ret_casefd)
{
	isofs_error err = {0};
	char outside[PATH_MAX];
	struct ar w;
	int casefd, rootfd = new_root(label, &casefd), r;

	must(tu_write_file(casefd, "canary", "canary", 0644), "canary");
	tu_fmt(outside, sizeof(outside), "%s/case%02d-%s/canary", g_tmp, g_case, label);
	ar_begin(&w);
	build(&w, outside);
	ar_end(&w);
	r = tw_import(rootfd, g_root, &w, NULL, &err);
	is_int(r, 0, "%s: imports: %s", label, err.message);
	ar_free(&w);
	*ret_casefd = casefd;
	return rootfd;
}

static void dup_file_file(struct ar *w, const char *outside)
{
	(void) outside;
	ar_file(w, "dup", 0644, "one");
	ar_file(w, "dup", 0600, "second version");
}

static void dup_dir_file(struct ar *w, const char *outside)
{
	(void) outside;
	ar_dir(w, "was-dir", 0755);
	ar_file(w, "was-dir/x", 0644, "x");
	ar_dir(w, "was-dir/sub", 0555);
	ar_file(w, "was-dir", 0640, "a file now");
}

static void dup_dir_file_simple(struct ar *w, const char *outside)
{
	(void) outside;
	ar_dir(w, "empty-dir", 0755);
	ar_file(w, "empty-dir", 0640, "a file now");
}

static void dup_dir_symlink(struct ar *w, const char *outside)
{
	(void) outside;
	ar_dir(w, "d", 0755);
	ar_file(w, "d/x", 0644, "x");
	ar_symlink(w, "d", "elsewhere");
}

static void dup_file_dir(struct ar *w, const char *outside)
{
	(void) outside;
	ar_file(w, "was-file", 0644, "a file first");
	ar_dir(w, "was-file", 0711);
	ar_file(w, "was-file/y", 0644, "y");
}

static void dup_dir_dir(struct ar *w, const char *outside)
{
	(void) outside;
	ar_dir(w, "twice", 0555);
	ar_file(w, "twice/z", 0644, "z");
	ar_dir(w, "twice", 0751);
}

static void dup_symlink_file(struct ar *w, const char *outside)
{
	ar_symlink(w, "was-link", outside);
	ar_file(w, "was-link", 0644, "replaces the symlink");
}

static void dup_file_symlink(struct ar *w, const char *outside)
{
	(void) outside;
	ar_file(w, "f", 0644, "f");
	ar_symlink(w, "f", "elsewhere");
}

static void test_duplicates(void)
{
	char buf[64];
	int casefd, rootfd;

	rootfd = dup_import("dup-file-file", dup_file_file, &casefd);
	check_file(rootfd, "dup", "second version", 14, 0600);
	close(rootfd);
	close(casefd);

	rootfd = dup_import("dup-dir-file", dup_dir_file, &casefd);
	check_file(rootfd, "was-dir", "a file now", 10, 0640);
	close(rootfd);
	close(casefd);

	rootfd = dup_import("dup-emptydir-file", dup_dir_file_simple, &casefd);
	check_file(rootfd, "empty-dir", "a file now", 10, 0640);
	close(rootfd);
	close(casefd);

	rootfd = dup_import("dup-dir-symlink", dup_dir_symlink, &casefd);
	is_int(mode_at(rootfd, "d") & S_IFMT, S_IFLNK, "a symlink replaces a directory");
	close(rootfd);
	close(casefd);

	rootfd = dup_import("dup-file-dir", dup_file_dir, &casefd);
	is_int(mode_at(rootfd, "was-file"), S_IFDIR | 0711, "a directory replaces a file");
	check_file(rootfd, "was-file/y", "y", 1, 0644);
	close(rootfd);
	close(casefd);

	rootfd = dup_import("dup-dir-dir", dup_dir_dir, &casefd);
	is_int(mode_at(rootfd, "twice"), S_IFDIR | 0751, "a directory listed twice gets the later mode");
	check_file(rootfd, "twice/z", "z", 1, 0644);
	close(rootfd);
	close(casefd);

	rootfd = dup_import("dup-symlink-file", dup_symlink_file, &casefd);
	check_file(rootfd, "was-link", "replaces the symlink", 20, 0644);
	ok(tu_read_file(casefd, "canary", buf, sizeof(buf)) == 6 && strcmp(buf, "canary") == 0,
	   "the replaced symlink's target outside is untouched");
	close(rootfd);
	close(casefd);

	rootfd = dup_import("dup-file-symlink", dup_file_symlink, &casefd);
	is_int(mode_at(rootfd, "f") & S_IFMT, S_IFLNK, "a symlink replaces a file");
	close(rootfd);
	close(casefd);
}

static void test_sparse(void)
{
	enum { SIZE = 1 << 20, OFF_B = 1 << 19, SEG = 8192 };
	isofs_error err = {0};
	struct archive_entry *e;
	char *full = calloc(1, SIZE), buf[SEG];
	struct stat st;
	struct ar w;
	int rootfd = new_root("sparse", NULL), r, fd;
	off_t hole;

	if (!full)
		bail_out("out of memory");
	memset(full, 'A', SEG);
	memset(full + OFF_B, 'B', SEG);
	ar_begin(&w);
	e = ent("sparse", AE_IFREG, 0644);
	archive_entry_set_size(e, SIZE);
	archive_entry_sparse_add_entry(e, 0, SEG);
	archive_entry_sparse_add_entry(e, OFF_B, SEG);
	put(&w, e, full, SIZE); /* the writer stores only the data segments */
	ar_end(&w);
	ok(w.used < SIZE / 4, "the archive stores the sparse file in %zu bytes", w.used);

	r = tw_import(rootfd, g_root, &w, NULL, &err);
	is_int(r, 0, "sparse archive imports: %s", err.message);
	ok(lstat_at(rootfd, "sparse", &st), "the sparse file exists");
	is_int(st.st_size, SIZE, "its size is the full 1 MiB, trailing hole included");
	ok((uint64_t) st.st_blocks * 512 < SIZE / 2, "it occupies %llu bytes: it has holes",
	   (unsigned long long) st.st_blocks * 512);
	fd = openat(rootfd, "sparse", O_RDONLY | O_CLOEXEC);
	must(fd, "open sparse");
	ok(pread(fd, buf, SEG, 0) == SEG && memcmp(buf, full, SEG) == 0, "the first segment's data");
	ok(pread(fd, buf, SEG, OFF_B) == SEG && memcmp(buf, full + OFF_B, SEG) == 0, "the second segment's data");
	ok(pread(fd, buf, SEG, SEG * 4) == SEG && memcmp(buf, full + SEG * 4, SEG) == 0, "zeros in the hole");
	ok(pread(fd, buf, 1, SIZE - 1) == 1 && buf[0] == 0, "the last byte is a zero of the trailing hole");
	hole = lseek(fd, 0, SEEK_HOLE);
	ok(hole >= SEG && hole < OFF_B, "SEEK_HOLE finds a hole between the segments (at %lld)", (long long) hole);
	close(fd);
	free(full);
	ar_free(&w);
	close(rootfd);
}

/* ---- owners ------------------------------------------------------------------------------- */

static void owner_entry(struct ar *w, const char *path, mode_t type, mode_t perm, int64_t uid, int64_t gid)
{
	struct archive_entry *e = ent(path, type, perm);

	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, "target");
	put(w, e, type == AE_IFREG ? "data" : NULL, type == AE_IFREG ? 4 : 0);
}

static void build_owner_archive(struct ar *w)
{
	ar_begin(w);
	owner_entry(w, "root-file", AE_IFREG, 0644, 0, 0);
	owner_entry(w, "user-file", AE_IFREG, 04755, 1000, 100);
	owner_entry(w, "group-only", AE_IFREG, 02755, 0, 5);
	owner_entry(w, "ro-user-file", AE_IFREG, 0444, 1001, 1001);
	owner_entry(w, "user-dir", AE_IFDIR, 0750, 2, 3);
	owner_entry(w, "user-link", AE_IFLNK, 0777, 1000, 1000);
	owner_entry(w, "user-fifo", AE_IFIFO, 0644, 1000, 1000);
	ar_end(w);
}

static void test_owners_privileged(void)
{
	isofs_import_stats st = {0};
	isofs_error err = {0};
	struct stat s;
	struct ar w;
	int rootfd, r;

	if (geteuid() != 0) {
		skip(9, "not root: chown is not possible");
		return;
	}
	rootfd = new_root("owners-root", NULL);
	build_owner_archive(&w);
	r = tw_import(rootfd, true, &w, &st, &err);
	is_int(r, 0, "owner archive imports with privileges: %s", err.message);
	ok(lstat_at(rootfd, "user-file", &s) && s.st_uid == 1000 && s.st_gid == 100, "user-file is owned 1000:100");
	is_int(s.st_mode, S_IFREG | 04755, "setuid survives the chown (mode applied after it)");
	ok(lstat_at(rootfd, "group-only", &s) && s.st_uid == 0 && s.st_gid == 5, "group-only is owned 0:5");
	is_int(s.st_mode, S_IFREG | 02755, "setgid survives the chown");
	ok(lstat_at(rootfd, "user-dir", &s) && s.st_uid == 2 && s.st_gid == 3, "user-dir is owned 2:3");
	ok(lstat_at(rootfd, "user-link", &s) && s.st_uid == 1000, "the symlink itself is owned 1000");
	is_str(xattr_at(rootfd, "user-file", LAYER_OWNER_XATTR), "", "no owner xattr when chown worked");
	is_int(st.owners_in_xattr + st.owners_dropped, 0, "stats: no owner kept in xattrs or dropped");
	ar_free(&w);
	close(rootfd);
}

/* privileged = false (the rootless path), even when the test runs as root. */
static void test_owners_rootless_writer(void)
{
	isofs_import_stats st = {0};
	isofs_error err = {0};
	struct stat s;
	struct idmap map;
	struct ar w;
	int rootfd, r;

	if (!g_xattrs) {
		skip(15, "no user xattrs below %s", g_tmp);
		return;
	}
	idmap_choose(&map);
	rootfd = new_root("owners-rootless", NULL);
	build_owner_archive(&w);
	r = tw_import(rootfd, false, &w, &st, &err);
	is_int(r, 0, "owner archive imports without privileges: %s", err.message);
	is_str(xattr_at(rootfd, "root-file", LAYER_OWNER_XATTR), "", "0:0 needs no owner xattr");
	is_str(xattr_at(rootfd, "user-file", LAYER_OWNER_XATTR), "1000:100", "1000:100 is kept in user.isofs.owner");
	is_str(xattr_at(rootfd, "group-only", LAYER_OWNER_XATTR), "0:5", "0:5 is kept in user.isofs.owner");
	is_str(xattr_at(rootfd, "ro-user-file", LAYER_OWNER_XATTR), "1001:1001", "a 0444 file keeps its owner xattr");
	is_str(xattr_at(rootfd, "user-dir", LAYER_OWNER_XATTR), "2:3", "a directory's owner is kept");
	ok(lstat_at(rootfd, "user-file", &s) && s.st_uid == geteuid() && s.st_gid == getegid(),
	   "the file is owned by the caller, not chowned");
	is_int(s.st_mode, S_IFREG | 04755, "with its mode");
	ok(lstat_at(rootfd, "user-dir", &s) && s.st_uid == geteuid(), "the directory too");
	is_int(mode_at(rootfd, "user-fifo"), S_IFIFO | 0644, "the fifo is created");
	is_int(st.owners_in_xattr, 4, "stats: 4 owners kept in user.isofs.owner");
	is_int(mode_at(rootfd, "user-link") & S_IFMT, S_IFLNK, "the symlink is created");
	/* symlink, fifo: no user.* xattrs there; a subordinate id when the caller has a range */
	if (map.kind == IDMAP_SUBID) {
		is_int(st.owners_subordinate, 2, "stats: 2 owners kept as subordinate ids (symlink, fifo)");
		ok(lstat_at(rootfd, "user-link", &s) && s.st_uid == map.subuid + 999 && s.st_gid == map.subgid + 999,
		   "the symlink is owned by subordinate id 1000");
		ok(lstat_at(rootfd, "user-fifo", &s) && s.st_uid == map.subuid + 999 && s.st_gid == map.subgid + 999,
		   "the fifo too");
	} else {
		is_int(st.owners_dropped, 2, "stats: 2 owners dropped (symlink, fifo), no subordinate range");
		ok(lstat_at(rootfd, "user-link", &s) && s.st_uid == geteuid(), "the symlink stays the caller's");
		ok(lstat_at(rootfd, "user-fifo", &s) && s.st_uid == geteuid(), "the fifo too");
	}
	ar_free(&w);
	close(rootfd);
}

/* ---- attacks --------------------------------------------------------------------------------- */

struct canary {
	char dir[PATH_MAX];  /* absolute */
	char file[PATH_MAX]; /* absolute: DIR/file */
	struct stat st;
};

static void canary_make(struct canary *c, const char *label)
{
	tu_fmt(c->dir, sizeof(c->dir), "%s/canary-%s", g_tmp, label);
	tu_fmt(c->file, sizeof(c->file), "%s/file", c->dir);
	must(mkdir(c->dir, 0755), c->dir);
	must(tu_write_file(AT_FDCWD, c->file, "canary", 0644), c->file);
	must(lstat(c->file, &c->st), c->file);
}

static bool canary_intact(const struct canary *c)
{
	struct stat st;
	char buf[64];

	return lstat(c->file, &st) == 0 && st.st_ino == c->st.st_ino && st.st_nlink == 1 &&
	       st.st_mtim.tv_sec == c->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == c->st.st_mtim.tv_nsec &&
	       tu_read_file(AT_FDCWD, c->file, buf, sizeof(buf)) == 6 && strcmp(buf, "canary") == 0 &&
	       tu_count_entries(AT_FDCWD, c->dir) == 1;
}

typedef void (*attack_fn)(struct ar *w, const struct canary *c);

/* Runs one hostile archive through a tree_writer and checks that it failed with `code` and wrote nothing outside. */

/*
 * Whether /etc/passwd holds nothing an attack wrote ("pwned").  Not compared
 * with its earlier state: other tests running at the same time add and
 * remove users.
 */
static bool passwd_clean(void)
{
	char buf[1 << 16];
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return !strstr(buf, "pwned");
}

static void attack(const char *label, attack_fn build, int code)
{
	isofs_error err = {0};
	struct canary c;
	struct ar w;
	int casefd, rootfd, r;

	canary_make(&c, label);
	rootfd = new_root(label, &casefd);
	ar_begin(&w);
	build(&w, &c);
	ar_end(&w);
	r = tw_import(rootfd, g_root, &w, NULL, &err);
	check_failed(r, code, &err, label);
	ok(canary_intact(&c), "%s: the canary outside the root is untouched", label);
	ok(only_entry(casefd, "root"), "%s: nothing was written next to the root", label);
	ok(passwd_clean(), "%s: /etc/passwd is untouched", label);
	ar_free(&w);
	close(rootfd);
	close(casefd);
}

/* "x -> /" then "x/<canary path>": the canary stands for /etc/passwd (root could write that). */
static void atk_slash(struct ar *w, const struct canary *c)
{
	char p[PATH_MAX + 2];

	ar_symlink(w, "x", "/");
	tu_fmt(p, sizeof(p), "x%s", c->file);
	ar_file(w, p, 0644, "pwned");
}

static void atk_slash_dir(struct ar *w, const struct canary *c)
{
	char p[PATH_MAX + 8];

	ar_symlink(w, "x", "/");
	tu_fmt(p, sizeof(p), "x%s/new", c->dir);
	ar_file(w, p, 0644, "pwned");
}

static void atk_dotdot_link(struct ar *w, const struct canary *c)
{
	char p[PATH_MAX];
	const char *base = strrchr(g_tmp, '/') + 1;

	/* root is TMP/caseNN/root: ../../.. from it is TMP's parent. */
	ar_symlink(w, "x", "../../..");
	tu_fmt(p, sizeof(p), "x/%s/%s/file", base, strrchr(c->dir, '/') + 1);
	ar_file(w, p, 0644, "pwned");
}

static void atk_inside_link(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_dir(w, "real", 0755);
	ar_symlink(w, "alias", "real");
	ar_file(w, "alias/f", 0644, "through an inside symlink");
}

static void atk_cached_parent(struct ar *w, const struct canary *c)
{
	ar_file(w, "a/b/f1", 0644, "fine");
	ar_symlink(w, "a", c->dir); /* replaces the directory a/ whose child b/ was just used */
	ar_file(w, "a/b/f2", 0644, "pwned");
}

static void atk_cached_parent2(struct ar *w, const struct canary *c)
{
	ar_file(w, "a/f1", 0644, "fine");
	ar_symlink(w, "a", c->dir);
	ar_file(w, "a/file", 0644, "pwned");
}

static void atk_dotdot(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_file(w, "../x", 0644, "pwned");
}

static void atk_dotdot_mid(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_dir(w, "a", 0755);
	ar_file(w, "a/../../x", 0644, "pwned");
}

static void atk_absolute(struct ar *w, const struct canary *c)
{
	ar_file(w, c->file, 0644, "pwned");
}

static void atk_abs_slash(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_file(w, "/abs", 0644, "pwned");
}

static void atk_hl_dotdot(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_hardlink(w, "h", "../../etc/passwd");
}

static void atk_hl_abs(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_hardlink(w, "h", "/etc/passwd");
}

static void atk_hl_canary(struct ar *w, const struct canary *c)
{
	ar_hardlink(w, "h", c->file);
}

static void atk_hl_missing(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_file(w, "present", 0644, "x");
	ar_hardlink(w, "h", "absent");
}

static void atk_hl_through_symlink(struct ar *w, const struct canary *c)
{
	ar_symlink(w, "sd", c->dir);
	ar_hardlink(w, "h", "sd/file");
}

static void atk_hl_through_etc(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_symlink(w, "etc", "/etc");
	ar_hardlink(w, "h", "etc/passwd");
}

static void atk_hl_dir(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_dir(w, "d", 0755);
	ar_hardlink(w, "h", "d");
}

static void atk_hl_root(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_hardlink(w, "h", "./");
}

static void atk_root_file(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_file(w, "./", 0644, "replace the root");
}

static void atk_root_symlink(struct ar *w, const struct canary *c)
{
	ar_symlink(w, ".", c->dir);
}

static void atk_file_parent(struct ar *w, const struct canary *c)
{
	(void) c;
	ar_file(w, "f", 0644, "x");
	ar_file(w, "f/child", 0644, "y");
}

static void atk_hl_long(struct ar *w, const struct canary *c)
{
	char target[PATH_MAX + 512];
	size_t len = 0;

	(void) c;
	while (len < PATH_MAX + 100)
		len += (size_t) snprintf(target + len, sizeof(target) - len, "%0200d/", 7);
	tu_fmt(target + len, sizeof(target) - len, "%s", "file");
	ar_hardlink(w, "h", target);
}

static void test_attacks(void)
{
	attack("slash-symlink", atk_slash, ELOOP);
	attack("slash-symlink-dir", atk_slash_dir, ELOOP);
	attack("dotdot-symlink", atk_dotdot_link, ELOOP);
	attack("inside-symlink", atk_inside_link, ELOOP);
	attack("cached-parent", atk_cached_parent, ELOOP);
	attack("cached-parent2", atk_cached_parent2, ELOOP);
	attack("dotdot-entry", atk_dotdot, EINVAL);
	attack("dotdot-middle", atk_dotdot_mid, EINVAL);
	attack("absolute-entry", atk_absolute, EINVAL);
	attack("absolute-short", atk_abs_slash, EINVAL);
	attack("hardlink-dotdot", atk_hl_dotdot, EINVAL);
	attack("hardlink-absolute", atk_hl_abs, EINVAL);
	attack("hardlink-canary", atk_hl_canary, EINVAL);
	attack("hardlink-missing", atk_hl_missing, ENOENT);
	attack("hardlink-via-symlink", atk_hl_through_symlink, ELOOP);
	attack("hardlink-via-etc", atk_hl_through_etc, ELOOP);
	attack("hardlink-to-dir", atk_hl_dir, EPERM);
	attack("hardlink-to-root", atk_hl_root, EINVAL);
	attack("root-as-file", atk_root_file, EINVAL);
	attack("root-as-symlink", atk_root_symlink, EINVAL);
	attack("file-as-parent", atk_file_parent, ENOTDIR);
	attack("hardlink-too-long", atk_hl_long, 0);
}

/* ---- isofs_image_import ------------------------------------------------------------------- */

static void write_archive_file(const struct ar *w, const char *path, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	must(fd, path);
	if (write(fd, w->buf, len) != (ssize_t) len)
		bail_out("write %s: %s", path, strerror(errno));
	close(fd);
}

static isofs_store *open_store(const char *label, char *path, size_t size)
{
	isofs_error err = {0};
	isofs_store *s = NULL;

	tu_fmt(path, size, "%s/store-%s", g_tmp, label);
	if (isofs_store_open(path, &s, &err) < 0)
		bail_out("isofs_store_open %s: %s", path, err.message);
	return s;
}

/* After a failed import: the error, an empty tmp/, no new image. */
static void check_import_failed(isofs_store *s, int r, const isofs_error *err, int n_images, const char *label)
{
	ok(r < 0, "%s: the import fails (%d)", label, r);
	is_int(err->code, -r, "%s: err.code matches the return value", label);
	ok(tu_one_line(err->message), "%s: one-line message: %s", label, err->message);
	is_int(tu_count_entries(s->tmp_fd, "."), 0, "%s: the store's tmp/ is empty", label);
	is_int(tu_count_entries(s->images_fd, "."), n_images, "%s: images/ has no new entry", label);
}

static void test_import(void)
{
	char store_path[PATH_MAX], tar[PATH_MAX], rootfs[PATH_MAX + 32];
	isofs_import_stats st = {0};
	isofs_image_info info = {0};
	isofs_error err = {0};
	struct canary c;
	isofs_store *s = open_store("import", store_path, sizeof(store_path));
	struct ar w;
	int r, rootfd;

	canary_make(&c, "import");
	tu_fmt(tar, sizeof(tar), "%s/good.tar.gz", g_tmp);
	ar_begin_format(&w, true, false);
	ar_dir(&w, "./", 0755);
	ar_file(&w, "./etc/hostname", 0644, "isofs\n");
	ar_symlink(&w, "./bin", "usr/bin");
	ar_file(&w, "./usr/bin/tool", 04755, "#!/bin/sh\n");
	ar_hardlink(&w, "./usr/bin/tool2", "./usr/bin/tool");
	ar_end(&w);
	write_archive_file(&w, tar, w.used);
	ar_free(&w);

	r = isofs_image_import(s, "good", tar, -1, NULL, &st, &err);
	is_int(r, 0, "isofs_image_import of a gzip'ed tar: %s", err.message);
	is_int(st.files, 2, "returned stats: 2 files");
	is_int(st.hardlinks, 1, "returned stats: 1 hard link");
	is_int(st.symlinks, 1, "returned stats: 1 symlink");
	is_int(tu_count_entries(s->tmp_fd, "."), 0, "tmp/ is empty after a successful import");
	r = isofs_image_get(s, "good", &info, &err);
	is_int(r, 0, "isofs_image_get finds it");
	tu_fmt(rootfs, sizeof(rootfs), "%s/images/good/rootfs", store_path);
	is_str(info.rootfs, rootfs, "its rootfs path");
	is_int(info.files, 7, "info.files counts the 7 entries below the root (etc, bin, usr, usr/bin and 3 more)");
	is_int(info.rootless, geteuid() != 0, "info.rootless is whether we are root");
	isofs_image_info_free(&info);
	rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(rootfd, rootfs);
	check_file(rootfd, "etc/hostname", "isofs\n", 6, 0644);
	check_file(rootfd, "usr/bin/tool2", "#!/bin/sh\n", 10, 04755);
	close(rootfd);

	memset(&err, 0, sizeof(err));
	r = isofs_image_import(s, "good", tar, -1, NULL, NULL, &err);
	is_int(r, -EEXIST, "importing an existing name: -EEXIST");
	ok(tu_one_line(err.message), "one-line message: %s", err.message);
	is_int(tu_count_entries(s->tmp_fd, "."), 0, "tmp/ is empty");

	memset(&err, 0, sizeof(err));
	r = isofs_image_import(s, "-bad", tar, -1, NULL, NULL, &err);
	is_int(r, -EINVAL, "an invalid image name: -EINVAL");
	memset(&err, 0, sizeof(err));
	r = isofs_image_import(s, "nosource", "/nonexistent/file.tar", -1, NULL, NULL, &err);
	is_int(r, -ENOENT, "a missing source: -ENOENT");
	ok(tu_one_line(err.message), "one-line message: %s", err.message);

	/* Hostile or broken archives: nothing left behind. */
	{
		static const struct {
			const char *name;
			attack_fn build;
			int code;
		} bad[] = {
		    {"slash", atk_slash, ELOOP},
		    {"dotdot", atk_dotdot_link, ELOOP},
		    {"dotdot-entry", atk_dotdot, EINVAL},
		    {"absolute", atk_absolute, EINVAL},
		    {"hl-dotdot", atk_hl_dotdot, EINVAL},
		    {"hl-absolute", atk_hl_abs, EINVAL},
		    {"hl-missing", atk_hl_missing, ENOENT},
		    {"hl-symlink", atk_hl_through_symlink, ELOOP},
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char label[64];

			tu_fmt(label, sizeof(label), "import %s", bad[i].name);
			tu_fmt(tar, sizeof(tar), "%s/bad-%s.tar", g_tmp, bad[i].name);
			ar_begin(&w);
			ar_dir(&w, "etc", 0555); /* rootless-style modes must not hinder cleanup */
			ar_dir(&w, "etc/d0000", 0000);
			ar_file(&w, "etc/first", 0000, "written before the bad entry");
			bad[i].build(&w, &c);
			ar_end(&w);
			write_archive_file(&w, tar, w.used);
			ar_free(&w);
			memset(&err, 0, sizeof(err));
			r = isofs_image_import(s, "bad", tar, -1, NULL, NULL, &err);
			is_int(r, -bad[i].code, "%s: fails with -%s", label, strerror(bad[i].code));
			check_import_failed(s, r, &err, 1, label);
			ok(canary_intact(&c), "%s: the canary is untouched", label);
		}
	}

	/* Not a tar, empty, truncated. */
	tu_fmt(tar, sizeof(tar), "%s/garbage.tar", g_tmp);
	must(tu_write_file(AT_FDCWD, tar, "this is not an archive, not even close to one.\n", 0644), tar);
	memset(&err, 0, sizeof(err));
	r = isofs_image_import(s, "garbage", tar, -1, NULL, NULL, &err);
	check_import_failed(s, r, &err, 1, "not a tar");
	tu_fmt(tar, sizeof(tar), "%s/empty.tar", g_tmp);
	must(tu_write_file(AT_FDCWD, tar, "", 0644), tar);
	memset(&err, 0, sizeof(err));
	r = isofs_image_import(s, "empty", tar, -1, NULL, NULL, &err);
	check_import_failed(s, r, &err, 1, "an empty file");
	{
		char big[100000];
		memset(big, 'q', sizeof(big));
		tu_fmt(tar, sizeof(tar), "%s/truncated.tar", g_tmp);
		ar_begin(&w);
		ar_file(&w, "small", 0644, "fine");
		put(&w, ent("big", AE_IFREG, 0644), big, sizeof(big));
		ar_end(&w);
		write_archive_file(&w, tar, 512 * 3 + 30000); /* cut in the middle of big's data */
		ar_free(&w);
		memset(&err, 0, sizeof(err));
		r = isofs_image_import(s, "truncated", tar, -1, NULL, NULL, &err);
		check_import_failed(s, r, &err, 1, "a truncated tar");
	}

	/* An entry name with a newline and an escape sequence, refused: the message stays one line. */
	tu_fmt(tar, sizeof(tar), "%s/newline.tar", g_tmp);
	ar_begin(&w);
	ar_file(&w, "evil\nname\x1b[2J/../../x", 0644, "x");
	ar_end(&w);
	write_archive_file(&w, tar, w.used);
	ar_free(&w);
	memset(&err, 0, sizeof(err));
	r = isofs_image_import(s, "newline", tar, -1, NULL, NULL, &err);
	check_import_failed(s, r, &err, 1, "an entry name with a newline");
	ok(!strchr(err.message, '\x1b'), "the message carries no raw escape character");

	is_int(isofs_image_remove(s, "good", &err), 0, "isofs_image_remove");
	is_int(tu_count_entries(s->images_fd, "."), 0, "images/ is empty again");
	is_int(tu_count_entries(s->tmp_fd, "."), 0, "so is tmp/");
	isofs_store_close(s);
}

/* Importing a directory copies it: contents, hard links, symlinks. */
static void test_import_dir(void)
{
	char store_path[PATH_MAX], src[PATH_MAX], rootfs[PATH_MAX + 32];
	isofs_import_stats st = {0};
	isofs_error err = {0};
	isofs_store *s = open_store("dir", store_path, sizeof(store_path));
	struct stat a, b;
	int srcfd, rootfd, r;

	tu_fmt(src, sizeof(src), "%s/src-dir", g_tmp);
	must(mkdir(src, 0755), src);
	srcfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(srcfd, src);
	must(mkdirat(srcfd, "sub", 0750), "sub");
	must(tu_write_file(srcfd, "sub/file", "content", 0640), "sub/file");
	must(linkat(srcfd, "sub/file", srcfd, "link", 0), "link");
	must(symlinkat("/etc/passwd", srcfd, "sym"), "sym");
	must(mkfifoat(srcfd, "fifo", 0600), "fifo");

	r = isofs_image_import(s, "fromdir", src, -1, NULL, &st, &err);
	is_int(r, 0, "isofs_image_import of a directory: %s", err.message);
	tu_fmt(rootfs, sizeof(rootfs), "%s/images/fromdir/rootfs", store_path);
	rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(rootfd, rootfs);
	check_file(rootfd, "sub/file", "content", 7, 0640);
	ok(lstat_at(rootfd, "sub/file", &a) && lstat_at(rootfd, "link", &b) && a.st_ino == b.st_ino && a.st_nlink == 2,
	   "the hard link is a hard link");
	is_int(mode_at(rootfd, "sub"), S_IFDIR | 0750, "sub keeps 0750");
	is_int(mode_at(rootfd, "sym") & S_IFMT, S_IFLNK, "the symlink is copied as a symlink");
	is_int(mode_at(rootfd, "fifo"), S_IFIFO | 0600, "the fifo is copied");
	is_int(st.hardlinks, 1, "stats: 1 hard link");
	close(rootfd);
	close(srcfd);
	isofs_store_close(s);
}

/* ---- rootless, for real: a child running as nobody --------------------------------------------- */

static void nobody_imports(const char *store_path, const char *dir)
{
	char tar[PATH_MAX], rootfs[PATH_MAX + 64];
	isofs_import_stats st = {0};
	isofs_error err = {0};
	isofs_image_info info = {0};
	isofs_store *s = NULL;
	struct stat sb;
	int r, rootfd;

	r = isofs_store_open(store_path, &s, &err);
	if (!is_int(r, 0, "nobody: opens its store: %s", err.message))
		return;

	tu_fmt(tar, sizeof(tar), "%s/rootless.tar", dir);
	r = isofs_image_import(s, "rootless", tar, -1, NULL, &st, &err);
	is_int(r, 0, "nobody: rootless import: %s", err.message);
	r = isofs_image_get(s, "rootless", &info, &err);
	is_int(r, 0, "nobody: the image is there");
	ok(info.rootless, "nobody: meta says rootless");
	tu_fmt(rootfs, sizeof(rootfs), "%s/images/rootless/rootfs", store_path);
	isofs_image_info_free(&info);
	rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!ok(rootfd >= 0, "nobody: rootfs opens"))
		goto out;
	is_int(mode_at(rootfd, "ro"), S_IFDIR | 0555, "nobody: ro/ is 0555");
	check_file(rootfd, "ro/a", "written after its 0555 parent", 29, 0644);
	check_file(rootfd, "ro/sub/b", "b", 1, 0600);
	is_int(mode_at(rootfd, "ro/sub"), S_IFDIR | 0555, "nobody: ro/sub is 0555 too");
	ok(lstat_at(rootfd, "ro/a", &sb) && sb.st_uid == TU_NOBODY, "nobody: a 0:0 entry is owned by the caller");
	check_file(rootfd, "suid", "s", 1, 04755);
	if (g_xattrs) {
		is_str(xattr_at(rootfd, "ro/a", LAYER_OWNER_XATTR), "", "nobody: 0:0 has no owner xattr");
		is_str(xattr_at(rootfd, "owned", LAYER_OWNER_XATTR), "1000:1000",
		       "nobody: 1000:1000 is kept in user.isofs.owner");
		is_str(xattr_at(rootfd, "ro/owned-dir", LAYER_OWNER_XATTR), "33:33",
		       "nobody: a directory's 33:33 is kept in user.isofs.owner");
		is_str(xattr_at(rootfd, "rofile", "user.note"), "kept",
		       "nobody: a user.* xattr on a 0444 file is kept");
		is_str(xattr_at(rootfd, "rofile", LAYER_OWNER_XATTR), "7:7", "nobody: the 0444 file's owner is kept");
		is_int(st.owners_in_xattr, 3, "nobody: stats: 3 owners in xattrs");
		is_int(st.xattrs_dropped, 0, "nobody: stats: no xattr dropped");
	} else {
		skip(7, "no user xattrs");
	}
	ok(!exists_at(rootfd, "dev/null"), "nobody: the device node is skipped");
	is_int(st.devices_skipped, 1, "nobody: stats: 1 device skipped");
	close(rootfd);

	/* A 0000 directory in a rootless image. */
	tu_fmt(tar, sizeof(tar), "%s/locked.tar", dir);
	memset(&err, 0, sizeof(err));
	r = isofs_image_import(s, "locked", tar, -1, NULL, &st, &err);
	is_int(r, 0, "nobody: a rootless import with a 0000 directory: %s", err.message);
	is_int(tu_count_entries(s->tmp_fd, "."), 0, "nobody: tmp/ is empty after it");

	/* x -> / then x/etc/passwd, as a user who could not write /etc/passwd anyway. */
	tu_fmt(tar, sizeof(tar), "%s/passwd.tar", dir);
	memset(&err, 0, sizeof(err));
	r = isofs_image_import(s, "passwd", tar, -1, NULL, &st, &err);
	is_int(r, -ELOOP, "nobody: x -> / then x/etc/passwd: -ELOOP");
	ok(tu_one_line(err.message), "nobody: one-line message: %s", err.message);
	is_int(tu_count_entries(s->tmp_fd, "."), 0, "nobody: tmp/ is empty after the failure");

	/* Removing the rootless image (0555 dirs) as the user. */
	memset(&err, 0, sizeof(err));
	r = isofs_image_remove(s, "rootless", &err);
	is_int(r, 0, "nobody: isofs_image_remove of the rootless image: %s", err.message);
	ok(!exists_at(s->images_fd, "rootless"), "nobody: it is gone");
	is_int(tu_count_entries(s->tmp_fd, "."), 0, "nobody: tmp/ is empty after the removal");

	/* A readable but not searchable (0644) directory holding a subdirectory. */
	tu_fmt(tar, sizeof(tar), "%s/noexec.tar", dir);
	memset(&err, 0, sizeof(err));
	r = isofs_image_import(s, "noexec", tar, -1, NULL, &st, &err);
	is_int(r, 0, "nobody: a rootless import with a 0644 directory holding a directory: %s", err.message);
	is_int(tu_count_entries(s->tmp_fd, "."), 0, "nobody: tmp/ is empty after it");
	isofs_store_close(s);
	s = NULL;
	memset(&err, 0, sizeof(err));
	r = isofs_store_open(store_path, &s, &err);
	is_int(r, 0, "nobody: the store still opens afterwards: %s", err.message);
	if (r == 0) {
		memset(&err, 0, sizeof(err));
		r = isofs_image_remove(s, "noexec", &err);
		ok(r == 0 || r == -ENOENT, "nobody: and the image (if any) can be removed: %s", err.message);
	} else {
		skip(1, "no store");
	}
out:
	isofs_store_close(s);
}

static void test_rootless_child(void)
{
	char dir[PATH_MAX], store_path[PATH_MAX + 8], tar[PATH_MAX + 32];
	struct archive_entry *e;
	struct ar w;
	pid_t pid;

	if (geteuid() != 0) {
		skip(1, "not root: the rootless import runs as this user in the tests above");
		return;
	}
	tu_fmt(dir, sizeof(dir), "%s/nobody", g_tmp);
	tu_fmt(store_path, sizeof(store_path), "%s/store", dir);
	must(mkdir(dir, 0755), dir);

	tu_fmt(tar, sizeof(tar), "%s/rootless.tar", dir);
	ar_begin(&w);
	ar_dir(&w, "ro", 0555);
	ar_file(&w, "ro/a", 0644, "written after its 0555 parent");
	ar_dir(&w, "ro/sub", 0555);
	ar_file(&w, "ro/sub/b", 0600, "b");
	owner_entry(&w, "ro/owned-dir", AE_IFDIR, 0755, 33, 33);
	owner_entry(&w, "owned", AE_IFREG, 0644, 1000, 1000);
	ar_file(&w, "suid", 04755, "s");
	e = ent("rofile", AE_IFREG, 0444);
	archive_entry_set_uid(e, 7);
	archive_entry_set_gid(e, 7);
	archive_entry_xattr_add_entry(e, "user.note", "kept", 4);
	put(&w, e, "r", 1);
	e = ent("dev/null", AE_IFCHR, 0666);
	archive_entry_set_rdev(e, makedev(1, 3));
	put(&w, e, NULL, 0);
	ar_end(&w);
	write_archive_file(&w, tar, w.used);
	ar_free(&w);

	tu_fmt(tar, sizeof(tar), "%s/locked.tar", dir);
	ar_begin(&w);
	ar_dir(&w, "locked", 0000);
	ar_file(&w, "locked/f", 0644, "inside a 0000 dir");
	ar_end(&w);
	write_archive_file(&w, tar, w.used);
	ar_free(&w);

	tu_fmt(tar, sizeof(tar), "%s/noexec.tar", dir);
	ar_begin(&w);
	ar_dir(&w, "noexec", 0644);
	ar_dir(&w, "noexec/sub", 0755);
	ar_file(&w, "noexec/sub/f", 0644, "f");
	ar_end(&w);
	write_archive_file(&w, tar, w.used);
	ar_free(&w);

	tu_fmt(tar, sizeof(tar), "%s/passwd.tar", dir);
	ar_begin(&w);
	ar_symlink(&w, "x", "/");
	ar_file(&w, "x/etc/passwd", 0644, "pwned::0:0::/:/bin/sh\n");
	ar_end(&w);
	write_archive_file(&w, tar, w.used);
	ar_free(&w);

	if (tu_chown_tree(dir, TU_NOBODY, TU_NOBODY) < 0)
		bail_out("chown %s", dir);
	pid = tap_fork();
	must(pid, "fork");
	if (pid == 0) {
		int r = tu_become_nobody();
		alarm(120);
		if (!ok(r == 0, "setuid(%d): %s", TU_NOBODY, strerror(-r)))
			_exit(1);
		nobody_imports(store_path, dir);
		_exit(0);
	}
	tap_wait_child(pid, "rootless imports as nobody");
	ok(passwd_clean(), "/etc/passwd is untouched");
}

/*
 * An archive without any directory entry (plain "tar cf x.tar file1 file2"):
 * tree_writer_finish then has no directory fixups at all.
 */
static void test_no_dir_entry(void)
{
	isofs_import_stats st = {0};
	isofs_error err = {0};
	struct ar w;
	int rootfd = new_root("no-dir-entry", NULL), r;

	ar_begin_bare(&w);
	ar_file(&w, "only-file", 0640, "no directory entry in this archive");
	ar_end(&w);
	r = tw_import(rootfd, g_root, &w, &st, &err);
	is_int(r, 0, "an archive without directory entries imports: %s", err.message);
	check_file(rootfd, "only-file", "no directory entry in this archive", 34, 0640);
	is_int(st.dirs, 0, "stats: no directories");
	ar_free(&w);
	close(rootfd);
}

int main(void)
{
	umask(022);
	g_root = geteuid() == 0;
	g_tmp = tu_mkdtemp();
	must(chmod(g_tmp, 0755), "chmod tmp"); /* nobody must reach its directory below it */
	g_xattrs = tu_user_xattrs_supported(g_tmp);
	if (!g_xattrs)
		diag("user.* xattrs are not supported below %s: xattr checks are skipped", g_tmp);

	test_basic();
	test_times();
	test_links_and_specials();
	test_layer_metadata_names();
	test_xattrs();
	test_dir_after_children();
	test_duplicates();
	test_sparse();
	test_owners_privileged();
	test_owners_rootless_writer();
	test_attacks();
	test_import();
	test_import_dir();
	test_rootless_child();
	test_no_dir_entry(); /* last: under UBSan with halt_on_error it may end the run */

	tu_rmtree(g_tmp);
	return done_testing();
}
