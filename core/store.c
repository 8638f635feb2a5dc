/* SPDX-License-Identifier: MIT */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "store-probe.h"
#include "log.h"

int isofs_store_default_path(char **ret_path, isofs_error *err)
{
	const char *env = getenv("ISOFS_STORE");
	const char *home;
	char *path = NULL;

	if (env && *env)
		path = strdup(env);
	else if (geteuid() == 0)
		path = strdup("/var/lib/isofs");
	else if ((env = getenv("XDG_DATA_HOME")) && env[0] == '/') {
		if (asprintf(&path, "%s/isofs", env) < 0)
			path = NULL;
	} else {
		home = getenv("HOME");
		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(geteuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home || home[0] != '/')
			return error_set(err, ENOENT, "cannot find a home directory for the store; use --store DIR");
		if (asprintf(&path, "%s/.local/share/isofs", home) < 0)
			path = NULL;
	}
	if (!path)
		return error_set(err, ENOMEM, "out of memory");
	*ret_path = path;
	return 0;
}

/* mkdir -p with 0755 parents and a 0700 last component. */
static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	size_t n;
	char *p;

	if (!copy)
		return -ENOMEM;
	/* "a/store/" names "a/store": its mode must still be 0700 */
	for (n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
		copy[n - 1] = '\0';
	for (p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(copy, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * images/, sandboxes/ and tmp/ are 0700 whatever the store directory's own
 * mode: they hold what sandboxes wrote (setuid-root files, file capabilities
 * made by a sandbox's root), which no other host user may ever reach.  An
 * older store, or one whose directories someone opened up, is closed again.
 */
static int open_subdir(int dirfd, const char *name, int *ret_fd)
{
	struct stat st;
	int fd;

	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || ((st.st_mode & 077) && st.st_uid == geteuid() &&
				   fchmodat(dirfd, name, st.st_mode & 07700, AT_SYMLINK_NOFOLLOW) < 0 &&
				   fchmodat(dirfd, name, st.st_mode & 07700, 0) < 0)) {
		int e = errno;
		close(fd);
		return -e;
	}
	*ret_fd = fd;
	return 0;
}

void isofs_store_close(isofs_store *store)
{
	if (!store)
		return;
	closep(&store->dirfd);
	closep(&store->images_fd);
	closep(&store->tmp_fd);
	closep(&store->sandboxes_fd);
	closep(&store->layers_fd);
	closep(&store->lock_fd);
	free(store->path);
	free(store);
}

static void store_closep(isofs_store **s)
{
	isofs_store_close(*s);
}

int isofs_store_open(const char *path, isofs_store **ret_store, isofs_error *err)
{
	_cleanup_(store_closep) isofs_store *s = NULL;
	_cleanup_free_ char *dflt = NULL;
	int r;

	if (!path) {
		const char *env = getenv("ISOFS_STORE");
		r = isofs_store_default_path(&dflt, err);
		if (r < 0)
			return r;
		path = dflt;
		log_debug("store %s: %s", path,
			  env && *env ? "from $ISOFS_STORE" : geteuid() == 0 ? "root's default" : "the user's default");
	} else {
		log_debug("store %s: given (--store)", path);
	}
	if (!*path)
		return error_set(err, EINVAL, "empty store path");

	s = calloc(1, sizeof(*s));
	if (!s)
		return error_set(err, ENOMEM, "out of memory");
	s->dirfd = s->images_fd = s->tmp_fd = s->sandboxes_fd = s->layers_fd = s->lock_fd = -EBADF;

	if (path[0] == '/') {
		r = mkdir_parents(path);
	} else {
		_cleanup_free_ char *abs = NULL;
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)) || asprintf(&abs, "%s/%s", cwd, path) < 0)
			return error_errno(err, errno, "store %s", path);
		r = mkdir_parents(abs);
	}
	if (r < 0)
		return error_errno(err, r, "cannot create store %s", path);
	s->path = realpath(path, NULL);
	if (!s->path)
		return error_errno(err, errno, "store %s", path);
	s->dirfd = open(s->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0)
		return error_errno(err, errno, "store %s", s->path);
	if ((r = open_subdir(s->dirfd, "images", &s->images_fd)) < 0 ||
	    (r = open_subdir(s->dirfd, "tmp", &s->tmp_fd)) < 0 ||
	    (r = open_subdir(s->dirfd, "sandboxes", &s->sandboxes_fd)) < 0)
		return error_errno(err, r, "store %s", s->path);
	{
		_cleanup_close_ int layers = -EBADF;
		if ((r = open_subdir(s->dirfd, "layers", &layers)) < 0 ||
		    (r = open_subdir(layers, "sha256", &s->layers_fd)) < 0)
			return error_errno(err, r, "store %s: layers", s->path);
	}
	s->lock_fd = openat(s->dirfd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->lock_fd < 0)
		return error_errno(err, errno, "store %s: lock file", s->path);

	r = store_lock(s);
	if (r < 0)
		return error_errno(err, r, "store %s: lock", s->path);
	/* under the lock: no other command's cleaning takes the probe's temp dir */
	r = store_probe(s->dirfd, s->tmp_fd, s->path, err);
	if (r < 0) {
		store_unlock(s);
		return r;
	}
	r = store_clean_stale(s);
	store_unlock(s);
	if (r < 0)
		return error_errno(err, r, "store %s: removing what an interrupted command left", s->path);

	*ret_store = TAKE_PTR(s);
	return 0;
}

const char *isofs_store_path(const isofs_store *store)
{
	return store->path;
}

int store_lock(isofs_store *store)
{
	while (flock(store->lock_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

void store_unlock(isofs_store *store)
{
	(void) flock(store->lock_fd, LOCK_UN);
}

int store_clean_stale(isofs_store *store)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	d = opendir_at(store->tmp_fd, ".");
	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d))) {
		_cleanup_close_ int child = -EBADF;
		int r;

		if (de->d_name[0] == '.')
			continue;
		child = openat(store->tmp_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (child < 0) {
			if (errno == ENOTDIR || errno == ELOOP)
				(void) unlinkat(store->tmp_fd, de->d_name, 0);
			continue;
		}
		if (flock(child, LOCK_EX | LOCK_NB) < 0)
			continue; /* a command is working in it */
		/* Best effort: what cannot go now is tried again by the next command, which must still work. */
		r = rm_rf_at(store->tmp_fd, de->d_name);
		(void) r;
	}
	return -errno;
}

static void random_suffix(char *buf, size_t size)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[16];
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
		for (i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char) (rand() ^ getpid());
	for (i = 0; i + 1 < size && i < sizeof(rnd); i++)
		buf[i] = chars[rnd[i] % (sizeof(chars) - 1)];
	buf[i] = '\0';
}

int store_tmpdir_create(isofs_store *store, const char *prefix, store_tmpdir *ret_tmp)
{
	store_tmpdir t = { .store = store, .fd = -EBADF };
	int r;

	/* Under the store lock, so a stale-cleaner cannot see it before it is locked. */
	r = store_lock(store);
	if (r < 0)
		return r;
	for (int attempt = 0; attempt < 100; attempt++) {
		char suffix[9];
		random_suffix(suffix, sizeof(suffix));
		if (snprintf(t.name, sizeof(t.name), "%s.%s", prefix, suffix) >= (int) sizeof(t.name)) {
			r = -ENAMETOOLONG;
			break;
		}
		if (mkdirat(store->tmp_fd, t.name, 0700) < 0) {
			r = -errno;
			if (r == -EEXIST)
				continue;
			break;
		}
		r = lock_dir_at(store->tmp_fd, t.name, &t.fd);
		if (r < 0)
			(void) unlinkat(store->tmp_fd, t.name, AT_REMOVEDIR);
		break;
	}
	store_unlock(store);
	if (r < 0)
		return r;
	*ret_tmp = t;
	return 0;
}

int store_tmpdir_commit(store_tmpdir *tmp, int target_fd, const char *name)
{
	if (renameat2(tmp->store->tmp_fd, tmp->name, target_fd, name, RENAME_NOREPLACE) < 0) {
		if (errno != EINVAL)
			return -errno;
		/* No RENAME_NOREPLACE here: the store lock makes check-then-rename safe. */
		if (faccessat(target_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			return -EEXIST;
		if (renameat(tmp->store->tmp_fd, tmp->name, target_fd, name) < 0)
			return -errno;
	}
	tmp->name[0] = '\0';
	closep(&tmp->fd);
	tmp->fd = -EBADF;
	return 0;
}

int store_tmpdir_adopt(isofs_store *store, int fd, const char *name, store_tmpdir *ret_tmp)
{
	store_tmpdir t = { .store = store, .fd = -EBADF };
	char suffix[9];
	int r;

	random_suffix(suffix, sizeof(suffix));
	if (snprintf(t.name, sizeof(t.name), "rm.%s", suffix) >= (int) sizeof(t.name))
		return -ENAMETOOLONG;
	if (renameat2(fd, name, store->tmp_fd, t.name, RENAME_NOREPLACE) < 0)
		return -errno;
	r = lock_dir_at(store->tmp_fd, t.name, &t.fd);
	if (r < 0)
		return r; /* unlocked: the next command cleans it */
	*ret_tmp = t;
	return 0;
}

void store_tmpdir_discard(store_tmpdir *tmp)
{
	if (tmp->name[0] && tmp->store)
		(void) rm_rf_at(tmp->store->tmp_fd, tmp->name);
	tmp->name[0] = '\0';
	if (tmp->fd >= 0)
		closep(&tmp->fd);
	tmp->fd = -EBADF;
}

int store_stub_layer(isofs_store *store, char **ret_path)
{
	static const char *const dirs[] = { "dev", "etc", "proc", "sys", "tmp" };
	_cleanup_tmpdir_ store_tmpdir tmp = { .fd = -EBADF };
	char *path;
	int r, fd;

	if (asprintf(&path, "%s/stub", store->path) < 0)
		return -ENOMEM;
	if (faccessat(store->dirfd, "stub/etc/resolv.conf", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		*ret_path = path;
		return 0;
	}
	r = store_tmpdir_create(store, "stub", &tmp);
	for (size_t i = 0; r == 0 && i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdirat(tmp.fd, dirs[i], strcmp(dirs[i], "tmp") ? 0755 : 01777) < 0)
			r = -errno;
	if (r == 0 && fchmodat(tmp.fd, "tmp", 01777, 0) < 0)
		r = -errno;
	if (r == 0) {
		fd = openat(tmp.fd, "etc/resolv.conf", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		r = fd < 0 ? -errno : 0;
		if (fd >= 0)
			close(fd);
	}
	if (r == 0 && (r = store_lock(store)) == 0) {
		r = store_tmpdir_commit(&tmp, store->dirfd, "stub");
		store_unlock(store);
		if (r == -EEXIST || r == -ENOTEMPTY)
			r = 0; /* made by another command meanwhile */
	}
	if (r < 0) {
		free(path);
		return r;
	}
	*ret_path = path;
	return 0;
}
