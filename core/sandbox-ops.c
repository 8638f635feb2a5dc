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
#include "process-id.h"
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
	r = sandbox_lock_take(dfd, &lock);
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
			layer_dir_clear_opaque(ufd);
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
	r = sandbox_lock_take(dfd, &lock);
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
			int pid = 0;
			unsigned long long start = 0;
			/* the session's manager, its sandbox dying with it; never another process that got its pid */
			if (sscanf(text, "%d %llu", &pid, &start) == 2)
				(void) process_signal_same((pid_t) pid, (uint64_t) start, SIGKILL);
		}
		for (int i = 0; i < 1000 && (r = sandbox_lock_take(dfd, &lock)) == -EBUSY; i++)
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

/*
 * The sandbox's view (its upper over the image's layers) against the image's
 * own (the layers alone), name by name, through the layer format: whiteouts,
 * opaque directories and redirects count as the overlay shows them, so a
 * renamed directory is "D old" and "A new" with everything below it.
 */
struct diff_ctx {
	isofs_diff_fn fn;
	void *userdata;
	const struct layer_stack *stack;
};

/* The sorted union of two sorted name lists, without duplicates (names moved from a and b). */
static int merge_names(char **a, size_t na, char **b, size_t nb, char ***ret, size_t *ret_n)
{
	char **v = malloc((na + nb + 1) * sizeof(*v));
	size_t i = 0, j = 0, n = 0;

	if (!v)
		return -ENOMEM;
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
		if (c <= 0) {
			v[n++] = a[i++];
			if (c == 0)
				free(b[j++]);
		} else {
			v[n++] = b[j++];
		}
	}
	free(a);
	free(b);
	*ret = v;
	*ret_n = n;
	return 0;
}

static int diff_dir(struct diff_ctx *c, const char *path, const struct layer_dir *view, int nview,
		    const struct layer_dir *image, int nimage)
{
	char **vn = NULL, **in = NULL, **names = NULL;
	size_t nvn = 0, nin = 0, n = 0;
	int r = layer_list(view, nview, &vn, &nvn);

	if (r == 0)
		r = layer_list(image, nimage, &in, &nin);
	if (r == 0)
		r = merge_names(vn, nvn, in, nin, &names, &n);
	if (r < 0) {
		layer_names_free(vn, nvn);
		layer_names_free(in, nin);
		return r;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_free_ char *child = NULL;
		struct layer_found f, b;
		bool upper_part;

		if (asprintf(&child, "%s/%s", path, names[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		r = layer_lookup(c->stack, view, nview, names[i], &f);
		if (r == 0)
			r = layer_lookup(c->stack, image, nimage, names[i], &b);
		else
			memset(&b, 0, offsetof(struct layer_found, dirs));
		if (r < 0) {
			layer_found_release(&f);
			layer_found_release(&b);
			break;
		}
		/* the sandbox's upper is layer 0: only what it holds (or hides) changed */
		upper_part = f.layer == 0;
		if (f.layer < 0 && b.layer >= 0)
			r = c->fn('D', child, c->userdata);
		else if (f.layer >= 0 && b.layer < 0)
			r = c->fn('A', child, c->userdata);
		else if (upper_part)
			r = c->fn('C', child, c->userdata);
		if (r == 0 && upper_part && S_ISDIR(f.st.st_mode)) {
			bool both = b.layer >= 0 && S_ISDIR(b.st.st_mode);
			r = diff_dir(c, child, f.dirs, f.ndirs, b.dirs, both ? b.ndirs : 0);
		} else if (r == 0 && f.layer > 0 && b.layer < 0 && S_ISDIR(f.st.st_mode)) {
			/* a lower directory that shows under a new name (a redirect above): all of it is new here */
			r = diff_dir(c, child, f.dirs, f.ndirs, NULL, 0);
		}
		layer_found_release(&f);
		layer_found_release(&b);
	}
	layer_names_free(names, n);
	return r;
}

/* The merged roots of layers [first, n) of a stack, until one is opaque. */
static int stack_roots(const struct layer_stack *stack, int first, struct layer_dir *ret, int *ret_n)
{
	int n = 0, r = 0;

	for (int layer = first; layer < stack->n && r == 0; layer++) {
		int fd = layer_open_beneath(stack->roots[layer], ".", O_PATH | O_DIRECTORY);
		if (fd < 0) {
			r = fd;
			break;
		}
		ret[n++] = (struct layer_dir){ layer, fd };
		r = layer_dir_is_opaque(fd, stack->ns);
	}
	*ret_n = n;
	return r < 0 ? r : 0;
}

int isofs_sandbox_diff(isofs_store *store, const char *name, isofs_diff_fn fn, void *userdata, isofs_error *err)
{
	isofs_sandbox_info sb = { 0 };
	struct layer_chain chain = { 0 };
	struct layer_dir view[LAYER_MAX], image[LAYER_MAX];
	int roots[LAYERS_MAX + 1], nview = 0, nimage = 0, nroots = 0, r;

	r = isofs_sandbox_get(store, name, &sb, err);
	if (r < 0)
		return r;
	r = layer_chain_get(store, sb.image, &chain, err);
	if (r < 0)
		goto out;
	roots[0] = open(sb.upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (roots[0] < 0) {
		r = error_errno(err, errno, "sandbox '%s'", name);
		goto out;
	}
	nroots = 1;
	r = layer_chain_open(&chain, roots + 1, err);
	if (r < 0)
		goto out;
	nroots += chain.n;
	{
		struct layer_stack stack = { .roots = roots, .n = nroots, .ns = layer_caller_xns() };
		struct diff_ctx c = { fn, userdata, &stack };

		r = stack_roots(&stack, 0, view, &nview);
		if (r == 0)
			r = stack_roots(&stack, 1, image, &nimage);
		if (r == 0)
			r = diff_dir(&c, "", view, nview, image, nimage);
		if (r < 0 && err && !err->code)
			r = error_errno(err, r, "sandbox '%s': diff", name);
	}
out:
	for (int i = 0; i < nview; i++)
		close(view[i].fd);
	for (int i = 0; i < nimage; i++)
		close(image[i].fd);
	layer_roots_close(roots, nroots);
	layer_chain_free(&chain);
	isofs_sandbox_info_free(&sb);
	return r;
}

/* The raw entries of a directory, whiteouts included (malloc'ed array of malloc'ed names). */
static int raw_names(int dfd, char ***ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = opendir_at(dfd, ".");
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			char **b = realloc(v, (cap = cap ? cap * 2 : 32) * sizeof(*v));
			if (!b)
				goto nomem;
			v = b;
		}
		if (!(v[n] = strdup(de->d_name)))
			goto nomem;
		n++;
	}
	if (errno) {
		int e = errno;
		layer_names_free(v, n);
		return -e;
	}
	*ret = v;
	*ret_n = n;
	return 0;
nomem:
	layer_names_free(v, n);
	return -ENOMEM;
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
	r = sandbox_lock_take(dfd, &lock);
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
	r = upperfd < 0 ? -errno : raw_names(upperfd, &names, &n);
	if (r < 0) {
		r = error_errno(err, r, "sandbox '%s': upper", name);
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
	r = image_commit(store, new_image, source, sb.image, &tmp, rootfd, NULL, NULL, err);
	if (r < 0)
		goto undo;
	/* The sandbox now stands on the new image, with nothing changed on top of it. */
	(void) empty_dir(dfd, "work");
	layer_dir_clear_opaque(upperfd);
	r = write_sandbox_meta(dfd, name, new_image, sb.created);
	if (r < 0)
		r = error_errno(err, r, "sandbox '%s': meta.json", name);
	goto out;
undo:
	for (size_t i = 0; i < n; i++)
		if (strset_contains(&moved, names[i]))
			(void) renameat(rootfd, names[i], upperfd, names[i]);
out:
	layer_names_free(names, n);
	strset_free(&moved);
	isofs_sandbox_info_free(&sb);
	return r;
}
