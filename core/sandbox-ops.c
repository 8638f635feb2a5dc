/* SPDX-License-Identifier: MIT */
/*
 * What one does with a persistent sandbox: list, remove, reset, diff against
 * its image, and commit its changes as a new image layered on that image.
 * A sandbox in use (mounted, or a command running in it) holds its lock.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "image.h"
#include "json-util.h"
#include "layers.h"
#include "sandbox.h"
#include "store.h"
#include "strset.h"

static int info_cmp(const void *a, const void *b)
{
	return strcmp(((const isofs_sandbox_info *) a)->name, ((const isofs_sandbox_info *) b)->name);
}

static int sandbox_list(isofs_store *store, bool with_changes, isofs_sandbox_info **ret, size_t *ret_n,
			isofs_error *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	isofs_sandbox_info *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	d = opendir_at(store->sandboxes_fd, ".");
	if (!d)
		return error_errno(err, errno, "store %s: sandboxes", store->path);
	while ((de = readdir(d))) {
		isofs_sandbox_info info;
		if (!isofs_name_is_valid(de->d_name) || isofs_sandbox_get(store, de->d_name, &info, NULL) < 0)
			continue;
		if (with_changes) {
			_cleanup_close_ int ufd = open(info.upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			uint64_t entries;
			if (ufd >= 0)
				(void) tree_usage_at(ufd, &info.changes, &entries);
		}
		if (n == cap) {
			isofs_sandbox_info *bigger = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
			if (!bigger) {
				isofs_sandbox_info_free(&info);
				isofs_sandbox_info_list_free(v, n);
				return error_set(err, ENOMEM, "out of memory");
			}
			v = bigger;
		}
		v[n++] = info;
	}
	if (n)
		qsort(v, n, sizeof(*v), info_cmp);
	*ret = v;
	*ret_n = n;
	return 0;
}

int isofs_sandbox_list(isofs_store *store, isofs_sandbox_info **ret, size_t *ret_n, isofs_error *err)
{
	/* The truth after a crash: dead servers' mounts and records go first. */
	(void) mount_clean_stale(store);
	return sandbox_list(store, true, ret, ret_n, err);
}

int sandbox_list_names(isofs_store *store, isofs_sandbox_info **ret, size_t *ret_n, isofs_error *err)
{
	return sandbox_list(store, false, ret, ret_n, err);
}

void isofs_sandbox_info_list_free(isofs_sandbox_info *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		isofs_sandbox_info_free(&v[i]);
	free(v);
}

/* The sandbox's lock, taken (0) or busy (-EBUSY); *ret_fd holds it. */
static int lock_sandbox(int dfd, int *ret_fd)
{
	int fd = openat(dfd, SANDBOX_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -EBUSY;
	}
	*ret_fd = fd;
	return 0;
}

static int busy_error(isofs_store *store, const char *name, const char *what, isofs_error *err)
{
	isofs_sandbox_info info = { 0 };
	int r;

	(void) isofs_sandbox_get(store, name, &info, NULL);
	if (info.mountpoint)
		r = error_set(err, EBUSY, "sandbox '%s' is mounted at %s; %s", name, info.mountpoint, what);
	else
		r = error_set(err, EBUSY, "sandbox '%s' is in use by a running command; %s", name, what);
	isofs_sandbox_info_free(&info);
	return r;
}

/* Empties a directory of the sandbox (upper or work), keeping the directory. */
static int empty_dir(int dfd, const char *name)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int r = 0;

	if (fd < 0)
		return -errno;
	d = opendir_fd(fd);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			int k = rm_rf_at(fd, de->d_name);
			if (k < 0 && k != -ENOENT)
				r = k;
		}
	return r;
}

int isofs_sandbox_reset(isofs_store *store, const char *name, isofs_error *err)
{
	_cleanup_close_ int dfd = -EBADF, lock = -EBADF;
	int r = sandbox_open_dir(store, name, &dfd, err);

	if (r < 0)
		return r;
	r = lock_sandbox(dfd, &lock);
	if (r == -EBUSY)
		return busy_error(store, name, "unmount it or let its command end first", err);
	if (r < 0)
		return error_errno(err, r, "sandbox '%s': lock", name);
	r = empty_dir(dfd, "upper");
	if (r == 0)
		r = empty_dir(dfd, "work");
	if (r < 0)
		return error_errno(err, r, "sandbox '%s': dropping its changes", name);
	/* The upper's own root metadata (an opaque marker, a mode) goes too. */
	{
		_cleanup_close_ int ufd = openat(dfd, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (ufd >= 0) {
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", ufd);
			(void) removexattr(path, "trusted.overlay.opaque");
			(void) removexattr(path, "user.overlay.opaque");
			(void) fchmod(ufd, 0755);
		}
	}
	return 0;
}

int isofs_sandbox_remove(isofs_store *store, const char *name, bool force, isofs_error *err)
{
	_cleanup_tmpdir_ store_tmpdir gone = { .fd = -EBADF };
	_cleanup_close_ int dfd = -EBADF, lock = -EBADF;
	int r = sandbox_open_dir(store, name, &dfd, err);

	if (r < 0)
		return r;
	r = lock_sandbox(dfd, &lock);
	if (r == -EBUSY && !force)
		return busy_error(store, name, "use --force to stop it and remove it", err);
	if (r == -EBUSY) {
		/* --force: unmount a mounted view; end a running command's sandbox. */
		isofs_sandbox_info info = { 0 };
		_cleanup_free_ char *text = NULL;
		(void) isofs_sandbox_get(store, name, &info, NULL);
		if (info.mountpoint && isofs_umount(store, info.mountpoint, NULL) < 0 && info.daemon > 0)
			(void) kill(info.daemon, SIGKILL);
		isofs_sandbox_info_free(&info);
		if (read_file_at(dfd, SANDBOX_OWNER, 64, &text, NULL) == 0) {
			pid_t pid = (pid_t) strtol(text, NULL, 10);
			if (pid > 1)
				(void) kill(pid, SIGKILL); /* the session's manager: its sandbox dies with it */
		}
		for (int i = 0; i < 1000 && (r = lock_sandbox(dfd, &lock)) == -EBUSY; i++)
			poll(NULL, 0, 10);
		if (r < 0)
			return error_set(err, EBUSY, "sandbox '%s' could not be stopped", name);
	}
	r = store_lock(store);
	if (r < 0)
		return error_errno(err, r, "store %s: lock", store->path);
	r = store_tmpdir_adopt(store, store->sandboxes_fd, name, &gone);
	store_unlock(store);
	if (r < 0)
		return error_errno(err, r, "removing sandbox '%s'", name);
	return 0;
}

/* ---- diff ---- */

struct diff_ctx {
	isofs_diff_fn fn;
	void *userdata;
	const int *lower_roots;
	int nlower;
};

/* Is `name` visible in the merged lower directories? */
static bool lower_has(const int *dirs, int n, const char *name)
{
	for (int i = 0; i < n; i++) {
		struct stat st;
		if (fstatat(dirs[i], name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (layer_is_whiteout(&st))
			return false;
		return true;
	}
	return false;
}

/* The merged lower directories of `name` below `dirs` (O_RDONLY fds, caller closes). */
static int lower_children(const int *dirs, int n, const char *name, int *out)
{
	int k = 0;

	for (int i = 0; i < n && k < LAYERS_MAX; i++) {
		struct stat st;
		int fd;
		if (fstatat(dirs[i], name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISDIR(st.st_mode))
			break;
		fd = openat(dirs[i], name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			break;
		out[k++] = fd;
		if (layer_dir_is_opaque(fd))
			break;
	}
	return k;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted names of a directory (malloc'ed array of malloc'ed strings). */
static int sorted_names(int dfd, char ***ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = opendir_fd(dfd);
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			char **b = realloc(v, (cap = cap ? cap * 2 : 32) * sizeof(*v));
			if (!b)
				break;
			v = b;
		}
		if (!(v[n] = strdup(de->d_name)))
			break;
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*ret = v;
	*ret_n = n;
	return 0;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int diff_dir(struct diff_ctx *c, int upperfd, const char *path, const int *lower, int nlower)
{
	char **names = NULL;
	size_t n = 0;
	int r = sorted_names(upperfd, &names, &n);

	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_free_ char *child = NULL;
		struct stat st;
		bool in_lower;

		if (fstatat(upperfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (asprintf(&child, "%s/%s", path, names[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		in_lower = lower_has(lower, nlower, names[i]);
		if (layer_is_whiteout(&st)) {
			if (in_lower)
				r = c->fn('D', child, c->userdata);
			continue;
		}
		r = c->fn(in_lower ? 'C' : 'A', child, c->userdata);
		if (r == 0 && S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(upperfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int lchild[LAYERS_MAX], nl = 0;

			if (sub < 0)
				continue;
			if (in_lower)
				nl = lower_children(lower, nlower, names[i], lchild);
			if (layer_dir_is_opaque(sub) && nl > 0) {
				/* An opaque directory hides all it replaced: those are deleted. */
				char **lnames = NULL;
				size_t ln = 0;
				if (sorted_names(lchild[0], &lnames, &ln) == 0)
					for (size_t k = 0; r == 0 && k < ln; k++) {
						_cleanup_free_ char *gone = NULL;
						struct stat cst;
						if (fstatat(sub, lnames[k], &cst, AT_SYMLINK_NOFOLLOW) == 0)
							continue;
						if (asprintf(&gone, "%s/%s", child, lnames[k]) >= 0)
							r = c->fn('D', gone, c->userdata);
					}
				free_names(lnames, ln);
				for (int k = 0; k < nl; k++)
					close(lchild[k]);
				nl = 0;
			}
			if (r == 0)
				r = diff_dir(c, sub, child, lchild, nl);
			for (int k = 0; k < nl; k++)
				close(lchild[k]);
		}
	}
	free_names(names, n);
	return r;
}

int isofs_sandbox_diff(isofs_store *store, const char *name, isofs_diff_fn fn, void *userdata, isofs_error *err)
{
	isofs_sandbox_info sb = { 0 };
	struct layer_chain chain = { 0 };
	int roots[LAYERS_MAX], nroots = 0, r;
	_cleanup_close_ int upperfd = -1;

	r = isofs_sandbox_get(store, name, &sb, err);
	if (r < 0)
		return r;
	r = layer_chain_get(store, sb.image, &chain, err);
	if (r < 0)
		goto out;
	for (int i = 0; i < chain.n; i++) {
		int fd = open(chain.paths[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			r = error_errno(err, errno, "image '%s'", sb.image);
			goto out;
		}
		roots[nroots++] = fd;
		if (layer_dir_is_opaque(fd))
			break;
	}
	upperfd = open(sb.upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (upperfd < 0) {
		r = error_errno(err, errno, "sandbox '%s'", name);
		goto out;
	}
	{
		struct diff_ctx c = { fn, userdata, roots, nroots };
		r = diff_dir(&c, upperfd, "", roots, nroots);
		if (r < 0 && err && !err->code)
			r = error_errno(err, r, "sandbox '%s': diff", name);
	}
out:
	for (int i = 0; i < nroots; i++)
		close(roots[i]);
	layer_chain_free(&chain);
	isofs_sandbox_info_free(&sb);
	return r;
}

/* ---- commit ---- */

/* The upper root's own metadata onto the new layer's root. */
static int copy_root_meta(int from, int to)
{
	char src[64], dst[64], list[65536];
	struct stat st;
	struct timespec t[2];
	ssize_t n;

	if (fstat(from, &st) < 0)
		return -errno;
	if (geteuid() == 0 && fchown(to, st.st_uid, st.st_gid) < 0)
		return -errno;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", from);
	snprintf(dst, sizeof(dst), "/proc/self/fd/%d", to);
	n = listxattr(src, list, sizeof(list));
	for (char *x = list; n > 0 && x < list + n; x += strlen(x) + 1) {
		char v[65536];
		ssize_t vn = getxattr(src, x, v, sizeof(v));
		if (vn >= 0)
			(void) setxattr(dst, x, v, (size_t) vn, 0);
	}
	if (fchmod(to, st.st_mode & 07777) < 0)
		return -errno;
	t[0] = st.st_atim;
	t[1] = st.st_mtim;
	return futimens(to, t) < 0 ? -errno : 0;
}

static int write_sandbox_meta(int dfd, const char *name, const char *image, int64_t created)
{
	_cleanup_json_ cJSON *j = cJSON_CreateObject();
	_cleanup_free_ char *text = NULL;

	if (!j || !cJSON_AddStringToObject(j, "name", name) || !cJSON_AddStringToObject(j, "image", image) ||
	    !cJSON_AddNumberToObject(j, "created_unix", (double) created) || !(text = cJSON_Print(j)))
		return -ENOMEM;
	return write_file_atomic_at(dfd, "meta.json", text, strlen(text), 0644);
}

int isofs_sandbox_commit(isofs_store *store, const char *name, const char *new_image, isofs_error *err)
{
	_cleanup_tmpdir_ store_tmpdir tmp = { .fd = -EBADF };
	_cleanup_close_ int dfd = -EBADF, lock = -EBADF, upperfd = -EBADF, rootfd = -EBADF;
	struct strset moved = { .owns = true };
	isofs_sandbox_info sb = { 0 };
	_cleanup_free_ char *source = NULL;
	char **names = NULL;
	size_t n = 0;
	int r;

	r = image_check_name(new_image, err);
	if (r < 0)
		return r;
	r = sandbox_open_dir(store, name, &dfd, err);
	if (r < 0)
		return r;
	r = lock_sandbox(dfd, &lock);
	if (r == -EBUSY)
		return busy_error(store, name, "unmount it or let its command end first", err);
	if (r < 0)
		return error_errno(err, r, "sandbox '%s': lock", name);
	r = isofs_sandbox_get(store, name, &sb, err);
	if (r < 0)
		return r;
	if (asprintf(&source, "sandbox:%s", name) < 0) {
		r = error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	r = image_begin(store, new_image, &tmp, &rootfd, err);
	if (r < 0)
		goto out;
	upperfd = openat(dfd, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (upperfd < 0 || sorted_names(upperfd, &names, &n) < 0) {
		r = error_errno(err, errno, "sandbox '%s': upper", name);
		goto out;
	}
	/* The changes move into the new layer: no copy, whiteouts and markers as they are. */
	for (size_t i = 0; i < n; i++) {
		if (renameat(upperfd, names[i], rootfd, names[i]) < 0) {
			r = error_errno(err, errno, "sandbox '%s': moving '%s'", name, names[i]);
			goto undo;
		}
		if (strset_add(&moved, names[i]) < 0) {
			r = error_set(err, ENOMEM, "out of memory");
			(void) renameat(rootfd, names[i], upperfd, names[i]);
			goto undo;
		}
	}
	r = copy_root_meta(upperfd, rootfd);
	if (r < 0) {
		r = error_errno(err, r, "sandbox '%s': upper", name);
		goto undo;
	}
	r = image_commit(store, new_image, source, sb.image, &tmp, rootfd, NULL, err);
	if (r < 0)
		goto undo;
	/* The sandbox now stands on the new image, with nothing changed on top of it. */
	(void) empty_dir(dfd, "work");
	{
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", upperfd);
		(void) removexattr(path, "trusted.overlay.opaque");
		(void) removexattr(path, "user.overlay.opaque");
	}
	r = write_sandbox_meta(dfd, name, new_image, sb.created);
	if (r < 0)
		r = error_errno(err, r, "sandbox '%s': meta.json", name);
	goto out;
undo:
	for (size_t i = 0; i < n; i++)
		if (strset_contains(&moved, names[i]))
			(void) renameat(rootfd, names[i], upperfd, names[i]);
out:
	free_names(names, n);
	strset_free(&moved);
	isofs_sandbox_info_free(&sb);
	return r;
}
