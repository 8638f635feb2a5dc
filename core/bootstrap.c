/* SPDX-License-Identifier: MIT */
/*
 * `isofs image bootstrap`: a minimal image from the host's static busybox, or
 * a Debian minbase image made by debootstrap.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "archive-lib.h"
#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "image.h"
#include "isofs.h"
#include "spawn-util.h"
#include "tree-write.h"

extern char **environ;

static void entry_freep(struct archive_entry **e)
{
	if (*e)
		archive_entry_free(*e);
}

/* ---- running a host program -------------------------------------------- */

/* Finds `prog` in $PATH (or the usual sbin directories, which a user's PATH may lack). */
static int find_program(const char *prog, char **ret_path)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *dirs = NULL;
	char *save = NULL;

	if (asprintf(&dirs, "%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		     path && *path ? path : "") < 0)
		return -ENOMEM;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *candidate;
		if (*d != '/')
			continue;
		if (asprintf(&candidate, "%s/%s", d, prog) < 0)
			return -ENOMEM;
		if (access(candidate, X_OK) == 0) {
			*ret_path = candidate;
			return 0;
		}
		free(candidate);
	}
	return -ENOENT;
}


/* ---- busybox ---------------------------------------------------------------- */

/* A dynamically linked busybox would not run in an image without its libraries. */
static int elf_is_static(int fd)
{
	unsigned char ident[EI_NIDENT];
	Elf64_Ehdr eh;

	if (pread(fd, ident, sizeof(ident), 0) != (ssize_t) sizeof(ident) || memcmp(ident, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
	if (ident[EI_CLASS] != ELFCLASS64)
		return -ENOEXEC; /* the hosts isofs runs on are 64-bit */
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t) sizeof(eh))
		return -ENOEXEC;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t) (eh.e_phoff + (uint64_t) i * eh.e_phentsize)) != (ssize_t) sizeof(ph))
			return -ENOEXEC;
		if (ph.p_type == PT_INTERP)
			return 0;
	}
	return 1;
}

/* `busybox --list-full`: "bin/sh\nusr/bin/awk\n…" */
static int busybox_applets(const char *busybox, char **ret_list, isofs_error *err)
{
	/* argv[0] "busybox": the binary picks the applet by that name, whatever the file is called */
	char *argv[] = { (char *) "busybox", (char *) "--list-full", NULL };
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	int pipefd[2], status;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return error_errno(err, errno, "pipe");
	/* The list is a few KiB and fits the pipe: run to the end first, then read. */
	(void) fcntl(pipefd[1], F_SETPIPE_SZ, 1 << 20);
	struct spawn_options so = SPAWN_OPTIONS_INIT;
	so.out_fd = pipefd[1];
	status = spawn_wait(busybox, argv, &so);
	close(pipefd[1]);
	for (;;) {
		ssize_t n;
		if (len + 4096 + 1 > cap) {
			char *bigger = realloc(buf, cap = cap * 2 + 8192);
			if (!bigger) {
				close(pipefd[0]);
				return error_set(err, ENOMEM, "out of memory");
			}
			buf = bigger;
		}
		n = read(pipefd[0], buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t) n;
	}
	close(pipefd[0]);
	if (status != 0)
		return error_set(err, ENOEXEC, "'%s --list-full' failed (status %d)", busybox, status);
	buf[len] = '\0';
	*ret_list = TAKE_PTR(buf);
	return 0;
}

struct memory_data {
	const char *buf;
	size_t len;
	bool done;
};

static int memory_data(void *ctx, const void **ret_buf, size_t *ret_len, int64_t *ret_offset, isofs_error *err)
{
	struct memory_data *m = ctx;

	(void) err;
	if (m->done || m->len == 0)
		return 0;
	m->done = true;
	*ret_buf = m->buf;
	*ret_len = m->len;
	*ret_offset = 0;
	return 1;
}

struct fd_data {
	int fd;
	int64_t offset;
	char block[1 << 16];
};

static int fd_data(void *ctx, const void **ret_buf, size_t *ret_len, int64_t *ret_offset, isofs_error *err)
{
	struct fd_data *f = ctx;
	ssize_t n;

	do
		n = pread(f->fd, f->block, sizeof(f->block), f->offset);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return error_errno(err, errno, "read");
	if (n == 0)
		return 0;
	*ret_buf = f->block;
	*ret_len = (size_t) n;
	*ret_offset = f->offset;
	f->offset += n;
	return 1;
}

struct busybox_ctx {
	const char *path;
	int fd;
};

enum { BB_DIR, BB_FILE, BB_LINK };

static int add_entry(tree_writer *tw, int kind, const char *path, mode_t perm, const char *target,
		     tree_data_fn data, void *data_ctx, isofs_error *err)
{
	_cleanup_(entry_freep) struct archive_entry *e = archive_entry_new();
	time_t now = time(NULL);

	if (!e)
		return error_set(err, ENOMEM, "out of memory");
	archive_entry_copy_pathname(e, path);
	archive_entry_set_filetype(e, kind == BB_DIR ? AE_IFDIR : kind == BB_FILE ? AE_IFREG : AE_IFLNK);
	archive_entry_set_perm(e, perm);
	archive_entry_set_mtime(e, now, 0);
	if (target)
		archive_entry_copy_symlink(e, target);
	return tree_writer_add(tw, e, data, data_ctx, err);
}

static const struct {
	const char *path;
	mode_t mode;
} busybox_dirs[] = {
	{ "bin", 0755 },  { "sbin", 0755 },     { "usr", 0755 },     { "usr/bin", 0755 }, { "usr/sbin", 0755 },
	{ "etc", 0755 },  { "dev", 0755 },      { "proc", 0555 },    { "sys", 0555 },     { "tmp", 01777 },
	{ "root", 0700 }, { "home", 0755 },     { "var", 0755 },     { "var/tmp", 01777 }, { "var/log", 0755 },
	{ "run", 0755 },  { "mnt", 0755 },      { "opt", 0755 },
};

static const struct {
	const char *path;
	const char *content;
} busybox_files[] = {
	{ "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
			"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" },
	{ "etc/group", "root:x:0:\nnogroup:x:65534:\n" },
	{ "etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" },
};

static int busybox_build(int rootfd, int workfd, void *ctx, isofs_import_stats *stats, isofs_error *err)
{
	struct busybox_ctx *bb = ctx;
	_cleanup_free_ char *applets = NULL;
	_cleanup_free_ struct fd_data *fdd = NULL;
	tree_writer *tw = NULL;
	char *save = NULL;
	int r;

	(void) workfd;
	r = busybox_applets(bb->path, &applets, err);
	if (r < 0)
		return r;
	fdd = calloc(1, sizeof(*fdd));
	if (!fdd)
		return error_set(err, ENOMEM, "out of memory");
	fdd->fd = bb->fd;
	r = tree_writer_new(rootfd, geteuid() == 0, &tw);
	if (r < 0)
		return error_set(err, -r, "out of memory");

	for (size_t i = 0; r >= 0 && i < sizeof(busybox_dirs) / sizeof(busybox_dirs[0]); i++)
		r = add_entry(tw, BB_DIR, busybox_dirs[i].path, busybox_dirs[i].mode, NULL, NULL, NULL, err);
	if (r >= 0)
		r = add_entry(tw, BB_FILE, "bin/busybox", 0755, NULL, fd_data, fdd, err);
	for (size_t i = 0; r >= 0 && i < sizeof(busybox_files) / sizeof(busybox_files[0]); i++) {
		struct memory_data m = { busybox_files[i].content, strlen(busybox_files[i].content), false };
		r = add_entry(tw, BB_FILE, busybox_files[i].path, 0644, NULL, memory_data, &m, err);
	}
	for (char *line = strtok_r(applets, "\n", &save); r >= 0 && line; line = strtok_r(NULL, "\n", &save)) {
		char target[PATH_MAX] = "";
		size_t depth = 0;

		while (*line == '/')
			line++;
		if (!*line || strcmp(line, "bin/busybox") == 0)
			continue;
		/* Relative links ("../../bin/busybox"), so the image also reads right from the host. */
		for (const char *p = line; *p; p++)
			depth += *p == '/';
		if (depth == 1 && strncmp(line, "bin/", 4) == 0) {
			strcpy(target, "busybox");
		} else {
			for (size_t d = 0; d < depth && d < 64; d++)
				strcat(target, "../");
			strcat(target, "bin/busybox");
		}
		r = add_entry(tw, BB_LINK, line, 0777, target, NULL, NULL, err);
	}
	if (r >= 0)
		r = tree_writer_finish(tw, err);
	if (r >= 0)
		*stats = *tree_writer_stats(tw);
	tree_writer_free(tw);
	return r;
}

int isofs_image_bootstrap_busybox(isofs_store *store, const char *name, const isofs_import_options *opts,
				  isofs_import_stats *ret_stats, isofs_error *err)
{
	_cleanup_free_ char *found = NULL, *desc = NULL;
	struct busybox_ctx bb = { 0 };
	_cleanup_close_ int fd = -EBADF;
	int r;

	r = image_check_name(name, err);
	if (r < 0)
		return r;
	r = archive_lib_load(err);
	if (r < 0)
		return r;
	if (opts && opts->busybox) {
		bb.path = opts->busybox;
	} else {
		if (find_program("busybox", &found) < 0)
			return error_set(err, ENOENT, "busybox not found; install busybox-static or pass --busybox=PATH");
		bb.path = found;
	}
	fd = open(bb.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, "busybox '%s'", bb.path);
	r = elf_is_static(fd);
	if (r < 0)
		return error_set(err, ENOEXEC, "busybox '%s' is not a 64-bit ELF executable", bb.path);
	if (r == 0)
		return error_set(err, ENOEXEC, "busybox '%s' is dynamically linked; install busybox-static", bb.path);
	bb.fd = fd;
	if (asprintf(&desc, "busybox:%s", bb.path) < 0)
		return error_set(err, ENOMEM, "out of memory");
	return image_create(store, name, desc, busybox_build, &bb, ret_stats, err);
}

/* ---- debootstrap ----------------------------------------------------------- */

struct debian_ctx {
	const char *debootstrap;
	const char *suite;
	const char *mirror;
	const isofs_import_options *opts; /* its progress callback hears debootstrap's stages */
};

/*
 * debootstrap's output into its log, each "I: " line (its stages: Retrieving,
 * Validating, Extracting, Installing core packages…) told to the progress
 * callback as it comes: minutes of work are not silent.
 */
static void relay_stages(int from, int logfd, const isofs_import_options *opts)
{
	isofs_progress progress = { 0 };
	char buf[8192], line[512];
	size_t len = 0;
	ssize_t n;

	while ((n = read(from, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		(void) write_all(logfd, buf, (size_t) n);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (len + 1 < sizeof(line))
					line[len++] = buf[i];
				continue;
			}
			line[len] = '\0';
			len = 0;
			if (strncmp(line, "I: ", 3) == 0 && opts && opts->progress) {
				progress.stage = line + 3;
				opts->progress(&progress, opts->userdata);
			}
		}
	}
}

/* The last non-empty line of the log, to name why debootstrap failed. */
static void last_log_line(int workfd, char *buf, size_t size)
{
	_cleanup_free_ char *text = NULL;
	char *end, *start;

	buf[0] = '\0';
	if (read_file_at(workfd, "debootstrap.log", 1 << 24, &text, NULL) < 0)
		return;
	end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		*--end = '\0';
	start = strrchr(text, '\n');
	snprintf(buf, size, "%s", start ? start + 1 : text);
}

static int debian_build(int rootfd, int workfd, void *ctx, isofs_import_stats *stats, isofs_error *err)
{
	struct debian_ctx *d = ctx;
	char rootpath[PATH_MAX], proc[64], last[256];
	_cleanup_close_ int logfd = -EBADF;
	ssize_t n;
	int status;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", rootfd);
	n = readlink(proc, rootpath, sizeof(rootpath) - 1);
	if (n < 0)
		return error_errno(err, errno, "temporary root");
	rootpath[n] = '\0';
	logfd = openat(workfd, "debootstrap.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0)
		return error_errno(err, errno, "debootstrap log");

	char *argv[] = { (char *) d->debootstrap, (char *) "--variant=minbase", (char *) d->suite, rootpath,
			 (char *) d->mirror, NULL };
	{
		/* It holds the temporary directory's lock (workfd) as long as it, or anything it started, runs. */
		int pipefd[2], spawned;
		pid_t pid;

		if (pipe2(pipefd, O_CLOEXEC) < 0)
			return error_errno(err, errno, "pipe");
		struct spawn_options so = { .out_fd = pipefd[1], .err_fd = pipefd[1], .hold_fd = workfd, .envp = NULL };
		spawned = spawn_start(argv[0], argv, &so, &pid);
		close(pipefd[1]);
		if (spawned < 0) {
			close(pipefd[0]);
			return error_errno(err, spawned, "running %s", d->debootstrap);
		}
		relay_stages(pipefd[0], logfd, d->opts);
		close(pipefd[0]);
		status = spawn_wait_pid(pid);
	}
	if (status < 0)
		return error_errno(err, status, "running %s", d->debootstrap);
	if (status != 0) {
		last_log_line(workfd, last, sizeof(last));
		return error_set(err, EIO, "debootstrap %s failed (status %d): %s", d->suite, status, last);
	}
	memset(stats, 0, sizeof(*stats));
	return 0;
}

/*
 * As a user: debootstrap needs root, mmdebstrap does not (--mode=unshare,
 * with the user's subordinate ids); its tar stream is imported as it comes.
 */
static int bootstrap_debian_rootless(isofs_store *store, const char *name, const isofs_import_options *opts,
				     isofs_import_stats *ret_stats, isofs_error *err)
{
	_cleanup_free_ char *mmdebstrap = NULL;
	const char *mirror = opts->mirror && *opts->mirror ? opts->mirror : "http://deb.debian.org/debian";
	isofs_error ignored = { 0 };
	int pipefd[2], status, r, spawned;
	pid_t pid;

	if (find_program("mmdebstrap", &mmdebstrap) < 0)
		return error_set(err, EPERM, "a Debian image as a user needs mmdebstrap (package mmdebstrap); "
					     "debootstrap needs root");
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return error_errno(err, errno, "pipe");
	char *argv[] = { mmdebstrap, (char *) "--quiet", (char *) "--mode=unshare", (char *) "--variant=minbase",
			 (char *) opts->suite, (char *) "-", (char *) mirror, NULL };
	{
		/*
		 * Its root lives in TMPDIR and must be reachable by the subordinate ids
		 * it maps, which a private TMPDIR (0700) is not: the shared /tmp is.
		 */
		char *envp[64];
		int n = 0;
		struct spawn_options so = { .out_fd = pipefd[1], .err_fd = -1, .hold_fd = -1, .envp = envp };

		for (char **e = environ; *e && n < 62; e++)
			if (strncmp(*e, "TMPDIR=", 7) != 0)
				envp[n++] = *e;
		envp[n++] = (char *) "TMPDIR=/tmp";
		envp[n] = NULL;
		spawned = spawn_start(mmdebstrap, argv, &so, &pid);
	}
	close(pipefd[1]);
	if (spawned < 0) {
		close(pipefd[0]);
		return error_errno(err, spawned, "running %s", mmdebstrap);
	}
	r = isofs_image_import(store, name, "-", pipefd[0], opts, ret_stats, err);
	close(pipefd[0]);
	status = spawn_wait_pid(pid);
	if (status != 0) {
		if (r == 0)
			(void) isofs_image_remove(store, name, &ignored); /* a whole tar, but mmdebstrap failed */
		return error_set(err, EIO, "mmdebstrap %s failed (status %d)", opts->suite, status);
	}
	return r;
}

int isofs_image_bootstrap_debian(isofs_store *store, const char *name, const isofs_import_options *opts,
				 isofs_import_stats *ret_stats, isofs_error *err)
{
	_cleanup_free_ char *debootstrap = NULL, *desc = NULL;
	struct debian_ctx d = { 0 };
	int r;

	r = image_check_name(name, err);
	if (r < 0)
		return r;
	r = archive_lib_load(err);
	if (r < 0)
		return r;
	if (!opts || !opts->suite || !*opts->suite)
		return error_set(err, EINVAL, "missing Debian suite");
	for (const char *p = opts->suite; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return error_set(err, EINVAL, "invalid Debian suite '%s'", opts->suite);
	if (geteuid() != 0)
		return bootstrap_debian_rootless(store, name, opts, ret_stats, err);
	if (find_program("debootstrap", &debootstrap) < 0)
		return error_set(err, ENOENT, "debootstrap not found; install the debootstrap package");
	d.debootstrap = debootstrap;
	d.opts = opts;
	d.suite = opts->suite;
	d.mirror = opts->mirror && *opts->mirror ? opts->mirror : "http://deb.debian.org/debian";
	if (asprintf(&desc, "debian:%s", d.suite) < 0)
		return error_set(err, ENOMEM, "out of memory");
	return image_create(store, name, desc, debian_build, &d, ret_stats, err);
}
