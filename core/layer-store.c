/* SPDX-License-Identifier: MIT */
#include "layer-store.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "image.h"
#include "json-util.h"
#include "strset.h"

#define LAYER_META "meta.json"
#define LAYER_ROOTFS "rootfs"

int layer_store_has(isofs_store *store, const char *diff_id)
{
	if (!digest_is_valid(diff_id))
		return 0;
	return faccessat(store->layers_fd, digest_hex(diff_id), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static int hold_locked(isofs_store *store, const char *hex, int *ret_fd)
{
	int fd = openat(store->layers_fd, hex, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		int e = errno == EWOULDBLOCK ? ENOENT : errno; /* on its way out */
		close(fd);
		return -e;
	}
	*ret_fd = fd;
	return 0;
}

int layer_store_hold(isofs_store *store, const char *diff_id, int *ret_fd)
{
	int r;

	if (!digest_is_valid(diff_id))
		return -EINVAL;
	r = store_lock(store);
	if (r < 0)
		return r;
	r = hold_locked(store, digest_hex(diff_id), ret_fd);
	store_unlock(store);
	return r;
}

char *layer_store_rootfs(isofs_store *store, const char *diff_id)
{
	char *p;

	if (!digest_is_valid(diff_id) ||
	    asprintf(&p, "%s/layers/sha256/%s/" LAYER_ROOTFS, store->path, digest_hex(diff_id)) < 0)
		return NULL;
	return p;
}

void layer_store_usage(isofs_store *store, const char *diff_id, uint64_t *ret_bytes, uint64_t *ret_files,
		       isofs_import_stats *add_stats)
{
	_cleanup_close_ int dfd = -EBADF;
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ cJSON *j = NULL;
	const cJSON *v;

	*ret_bytes = *ret_files = 0;
	if (!digest_is_valid(diff_id))
		return;
	dfd = openat(store->layers_fd, digest_hex(diff_id), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || read_file_at(dfd, LAYER_META, 1 << 16, &text, NULL) < 0 || !(j = cJSON_Parse(text)))
		return;
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(j, "size")) && v->valuedouble > 0)
		*ret_bytes = (uint64_t) v->valuedouble;
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(j, "files")) && v->valuedouble > 0)
		*ret_files = (uint64_t) v->valuedouble;
	if (add_stats)
		image_stats_add_json(add_stats, cJSON_GetObjectItemCaseSensitive(j, "import"));
}

int layer_store_begin(isofs_store *store, store_tmpdir *ret_tmp, int *ret_rootfd, isofs_error *err)
{
	_cleanup_tmpdir_ store_tmpdir tmp = { .fd = -EBADF };
	int r, rootfd;

	r = store_tmpdir_create(store, "layer", &tmp);
	if (r < 0)
		return error_errno(err, r, "store %s: temporary directory", store->path);
	if (mkdirat(tmp.fd, LAYER_ROOTFS, 0755) < 0 ||
	    (rootfd = openat(tmp.fd, LAYER_ROOTFS, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return error_errno(err, errno, "store %s: temporary directory", store->path);
	*ret_tmp = tmp;
	tmp.fd = -EBADF;
	tmp.name[0] = '\0';
	*ret_rootfd = rootfd;
	return 0;
}

int layer_store_commit(isofs_store *store, const char *diff_id, store_tmpdir *tmp, int rootfd,
		       const isofs_import_stats *stats, bool synced, int *ret_held_fd, isofs_error *err)
{
	_cleanup_json_ cJSON *j = cJSON_CreateObject();
	_cleanup_free_ char *text = NULL;
	uint64_t size = 0, files = 0;
	const char *hex;
	int r;

	if (!digest_is_valid(diff_id))
		return error_set(err, EINVAL, "layer digest '%s' is not sha256:<64 hex digits>", diff_id);
	hex = digest_hex(diff_id);
	r = tree_usage_at(rootfd, &size, &files);
	if (r < 0)
		return error_errno(err, r, "layer %s: measuring it", diff_id);
	if (!j || !cJSON_AddStringToObject(j, "diff_id", diff_id) ||
	    !cJSON_AddNumberToObject(j, "size", (double) size) || !cJSON_AddNumberToObject(j, "files", (double) files) ||
	    !cJSON_AddBoolToObject(j, "rootless", geteuid() != 0) ||
	    !cJSON_AddNumberToObject(j, "created_unix", (double) time(NULL)) ||
	    !cJSON_AddItemToObject(j, "import", image_stats_to_json(stats)) || !(text = cJSON_Print(j)))
		return error_set(err, ENOMEM, "out of memory");
	r = write_file_atomic_at(tmp->fd, LAYER_META, text, strlen(text), 0644);
	if (r < 0)
		return error_errno(err, r, "layer %s: writing %s", diff_id, LAYER_META);
	/* Durable before it becomes visible: a crash leaves no half layer under its digest. */
	if (synced ? fsync(tmp->fd) < 0 : syncfs(rootfd) < 0)
		return error_errno(err, errno, "layer %s: sync", diff_id);

	r = store_lock(store);
	if (r < 0)
		return error_errno(err, r, "store %s: lock", store->path);
	r = store_tmpdir_commit(tmp, store->layers_fd, hex);
	if (r == 0 || r == -EEXIST) /* EEXIST: published meanwhile by another import, ours goes */
		r = hold_locked(store, hex, ret_held_fd);
	store_unlock(store);
	if (r < 0)
		return error_errno(err, r, "layer %s: committing it", diff_id);
	return 0;
}

int layer_store_collect(isofs_store *store, isofs_error *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct strset used = { .owns = true };
	isofs_image_info *infos = NULL;
	store_tmpdir *gone = NULL;
	size_t n = 0, ngone = 0, cap = 0;
	struct dirent *de;
	int r;

	r = store_lock(store);
	if (r < 0)
		return error_errno(err, r, "store %s: lock", store->path);
	r = isofs_image_list(store, &infos, &n, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		char **layers = NULL;
		size_t nl = 0;

		if (infos[i].damaged) {
			r = error_set(err, EBADMSG, "image '%s' is damaged: its layers cannot be told", infos[i].name);
			break;
		}
		r = image_layers_get(store, infos[i].name, &layers, &nl, err);
		for (size_t k = 0; r == 0 && k < nl; k++)
			if (strset_add(&used, digest_hex(layers[k])) < 0)
				r = error_set(err, ENOMEM, "out of memory");
		image_layers_free(layers, nl);
	}
	isofs_image_info_list_free(infos, n);
	if (r == 0 && !(d = opendir_at(store->layers_fd, ".")))
		r = error_errno(err, errno, "store %s: layers", store->path);
	while (r == 0 && (errno = 0, de = readdir(d))) {
		_cleanup_close_ int fd = -EBADF;
		char digest[DIGEST_STRING_MAX + NAME_MAX];

		snprintf(digest, sizeof(digest), DIGEST_ALGO "%s", de->d_name);
		if (!digest_is_valid(digest) || strset_contains(&used, de->d_name))
			continue;
		fd = openat(store->layers_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue; /* held by an import on its way to listing it */
		closep(&fd); /* holds are taken under the store lock only, which this has */
		fd = -EBADF;
		if (ngone == cap) {
			store_tmpdir *bigger = realloc(gone, (cap = cap ? cap * 2 : 8) * sizeof(*gone));
			if (!bigger) {
				r = error_set(err, ENOMEM, "out of memory");
				break;
			}
			gone = bigger;
		}
		/* Out of sight in one rename; removed outside the lock. */
		if (store_tmpdir_adopt(store, store->layers_fd, de->d_name, &gone[ngone]) == 0)
			ngone++;
	}
	store_unlock(store);
	strset_free(&used);
	for (size_t i = 0; i < ngone; i++)
		store_tmpdir_discard(&gone[i]);
	free(gone);
	return r;
}
