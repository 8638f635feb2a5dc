/* SPDX-License-Identifier: MIT */
#include "image.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "digest.h"
#include "json-util.h"
#include "layer-store.h"
#include "store.h"

#define META_FILE "meta.json"
#define ROOTFS_DIR "rootfs"
#define META_MAX (1u << 20)

bool isofs_name_is_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n == 0 || n > ISOFS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

int image_check_name(const char *name, isofs_error *err)
{
	if (!isofs_name_is_valid(name))
		return error_set(err, EINVAL,
				 "invalid name '%s': use 1-%d of A-Z a-z 0-9 . _ -, starting with a letter or digit",
				 name ? name : "", ISOFS_NAME_MAX);
	return 0;
}

/* ---- metadata ---------------------------------------------------------- */

static const struct {
	const char *key;
	size_t offset;
} stat_fields[] = {
#define F(x) { #x, offsetof(isofs_import_stats, x) }
	F(entries), F(files), F(dirs), F(symlinks), F(hardlinks), F(fifos), F(devices), F(bytes),
	F(devices_skipped), F(sockets_skipped), F(owners_in_xattr), F(owners_subordinate), F(owners_dropped), F(xattrs_dropped),
	F(acls_dropped), F(overlay_xattrs_dropped),
#undef F
};

static uint64_t *stat_field(isofs_import_stats *s, size_t i)
{
	return (uint64_t *) ((char *) s + stat_fields[i].offset);
}

static uint64_t json_u64(const cJSON *obj, const char *key);

cJSON *image_stats_to_json(const isofs_import_stats *s)
{
	cJSON *j = cJSON_CreateObject();

	for (size_t i = 0; j && i < sizeof(stat_fields) / sizeof(stat_fields[0]); i++)
		cJSON_AddNumberToObject(j, stat_fields[i].key, (double) *stat_field((isofs_import_stats *) s, i));
	return j;
}

void image_stats_add_json(isofs_import_stats *s, const cJSON *j)
{
	for (size_t i = 0; i < sizeof(stat_fields) / sizeof(stat_fields[0]); i++)
		*stat_field(s, i) += json_u64(j, stat_fields[i].key);
}

void image_stats_add(isofs_import_stats *s, const isofs_import_stats *more)
{
	for (size_t i = 0; i < sizeof(stat_fields) / sizeof(stat_fields[0]); i++)
		*stat_field(s, i) += *stat_field((isofs_import_stats *) more, i);
}

static cJSON *meta_to_json(const isofs_image_info *info, const struct image_oci *oci)
{
	cJSON *j = cJSON_CreateObject(), *stats;
	char created[64];
	struct tm tm;
	time_t t = (time_t) info->created;

	if (!j)
		return NULL;
	gmtime_r(&t, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddNumberToObject(j, "format", 1);
	cJSON_AddStringToObject(j, "name", info->name);
	cJSON_AddStringToObject(j, "created", created);
	cJSON_AddNumberToObject(j, "created_unix", (double) info->created);
	cJSON_AddStringToObject(j, "source", info->source ? info->source : "");
	if (info->parent)
		cJSON_AddStringToObject(j, "parent", info->parent);
	else
		cJSON_AddNullToObject(j, "parent");
	cJSON_AddNumberToObject(j, "size", (double) info->size);
	cJSON_AddNumberToObject(j, "files", (double) info->files);
	cJSON_AddBoolToObject(j, "rootless", info->rootless);
	stats = image_stats_to_json(&info->stats);
	if (stats)
		cJSON_AddItemToObject(j, "import", stats);
	if (oci) {
		/* all of it or nothing: an image listing fewer layers than it has would lose them */
		cJSON *layers = cJSON_AddArrayToObject(j, "layers");
		bool ok = layers != NULL;
		for (size_t i = 0; ok && i < oci->nlayers; i++) {
			cJSON *l = cJSON_CreateString(oci->layers[i]);
			ok = l && cJSON_AddItemToArray(layers, l);
		}
		if (ok && oci->config) {
			cJSON *c = cJSON_Duplicate(oci->config, true);
			ok = c && cJSON_AddItemToObject(j, "config", c);
		}
		if (ok && oci->manifest_digest)
			ok = cJSON_AddStringToObject(j, "manifest_digest", oci->manifest_digest) != NULL;
		if (ok && oci->config_digest)
			ok = cJSON_AddStringToObject(j, "config_digest", oci->config_digest) != NULL;
		if (!ok) {
			cJSON_Delete(j);
			return NULL;
		}
	}
	return j;
}

static uint64_t json_u64(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t) v->valuedouble : 0;
}

static char *json_strdup(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

void isofs_image_info_free(isofs_image_info *info)
{
	if (!info)
		return;
	free(info->source);
	free(info->parent);
	free(info->rootfs);
	memset(info, 0, sizeof(*info));
}

void isofs_image_info_list_free(isofs_image_info *infos, size_t n)
{
	for (size_t i = 0; i < n; i++)
		isofs_image_info_free(&infos[i]);
	free(infos);
}

static int meta_load(isofs_store *store, const char *name, isofs_image_info *ret, cJSON **ret_json, isofs_error *err)
{
	_cleanup_close_ int dfd = openat(store->images_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ cJSON *j = NULL;
	isofs_image_info info = { 0 };
	const cJSON *stats;
	int r;

	if (dfd < 0) {
		if (errno == ENOENT)
			return error_set(err, ENOENT, "no image named '%s'", name);
		return error_errno(err, errno, "image '%s'", name);
	}
	r = read_file_at(dfd, META_FILE, META_MAX, &text, NULL);
	if (r < 0)
		return error_errno(err, r, "image '%s': %s", name, META_FILE);
	j = cJSON_Parse(text);
	if (!cJSON_IsObject(j))
		return error_set(err, EBADMSG, "image '%s': %s is not valid JSON", name, META_FILE);

	snprintf(info.name, sizeof(info.name), "%s", name);
	info.source = json_strdup(j, "source");
	info.parent = json_strdup(j, "parent");
	info.created = (int64_t) json_u64(j, "created_unix");
	info.size = json_u64(j, "size");
	info.files = json_u64(j, "files");
	info.rootless = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "rootless"));
	stats = cJSON_GetObjectItemCaseSensitive(j, "import");
	image_stats_add_json(&info.stats, stats);
	if (asprintf(&info.rootfs, "%s/images/%s/%s", store->path, name, ROOTFS_DIR) < 0) {
		isofs_image_info_free(&info);
		return error_set(err, ENOMEM, "out of memory");
	}
	*ret = info;
	if (ret_json)
		*ret_json = TAKE_PTR(j);
	return 0;
}

int isofs_image_get(isofs_store *store, const char *name, isofs_image_info *ret_info, isofs_error *err)
{
	int r = image_check_name(name, err);
	return r < 0 ? r : meta_load(store, name, ret_info, NULL, err);
}

static int info_cmp(const void *a, const void *b)
{
	return strcmp(((const isofs_image_info *) a)->name, ((const isofs_image_info *) b)->name);
}

int isofs_image_list(isofs_store *store, isofs_image_info **ret_infos, size_t *ret_n, isofs_error *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	isofs_image_info *infos = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	d = opendir_at(store->images_fd, ".");
	if (!d)
		return error_errno(err, errno, "store %s: images", store->path);
	while ((errno = 0, de = readdir(d))) {
		isofs_image_info info;
		int r;

		if (!isofs_name_is_valid(de->d_name))
			continue;
		r = meta_load(store, de->d_name, &info, NULL, NULL);
		if (r == -ENOENT)
			continue; /* removed meanwhile */
		if (r < 0) {
			/* listed, not hidden: the user must learn of it (image rm removes it) */
			memset(&info, 0, sizeof(info));
			snprintf(info.name, sizeof(info.name), "%.*s", ISOFS_NAME_MAX, de->d_name);
			info.damaged = true;
			if (asprintf(&info.rootfs, "%s/images/%s/%s", store->path, de->d_name, ROOTFS_DIR) < 0) {
				isofs_image_info_list_free(infos, n);
				return error_set(err, ENOMEM, "out of memory");
			}
		}
		if (n == cap) {
			isofs_image_info *bigger = realloc(infos, (cap = cap ? cap * 2 : 16) * sizeof(*infos));
			if (!bigger) {
				isofs_image_info_free(&info);
				isofs_image_info_list_free(infos, n);
				return error_set(err, ENOMEM, "out of memory");
			}
			infos = bigger;
		}
		infos[n++] = info;
	}
	if (errno) {
		int e = errno;
		isofs_image_info_list_free(infos, n);
		return error_errno(err, e, "store %s: images", store->path);
	}
	if (n)
		qsort(infos, n, sizeof(*infos), info_cmp);
	*ret_infos = infos;
	*ret_n = n;
	return 0;
}

int isofs_image_inspect_json(isofs_store *store, const char *name, char **ret_json, isofs_error *err)
{
	_cleanup_json_ cJSON *j = NULL;
	isofs_image_info info;
	char *text;
	int r;

	r = image_check_name(name, err);
	if (r < 0)
		return r;
	r = meta_load(store, name, &info, &j, err);
	if (r < 0)
		return r;
	if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "layers"))) {
		/* a container image: its layers are its root file system, bottom first */
		cJSON *dirs = cJSON_AddArrayToObject(j, "layer_dirs");
		const cJSON *l;
		cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(j, "layers")) {
			_cleanup_free_ char *dir = cJSON_IsString(l) ? layer_store_rootfs(store, l->valuestring) : NULL;
			if (dirs && dir)
				cJSON_AddItemToArray(dirs, cJSON_CreateString(dir));
		}
	} else {
		cJSON_AddStringToObject(j, "rootfs", info.rootfs);
	}
	isofs_image_info_free(&info);
	text = cJSON_Print(j);
	if (!text)
		return error_set(err, ENOMEM, "out of memory");
	*ret_json = text;
	return 0;
}

int image_hold(isofs_store *store, const char *name, int *ret_fd)
{
	int fd = openat(store->images_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		int e = errno == EWOULDBLOCK ? EBUSY : errno; /* being removed */
		close(fd);
		return -e;
	}
	*ret_fd = fd;
	return 0;
}

int image_check_not_held(isofs_store *store, const char *name)
{
	_cleanup_close_ int fd = openat(store->images_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return 0; /* the lock goes with fd: holds are taken under the store lock only, which the caller has */
}

/* ---- creation ------------------------------------------------------------ */

int image_begin(isofs_store *store, const char *name, store_tmpdir *ret_tmp, int *ret_rootfd, isofs_error *err)
{
	store_tmpdir tmp = { .fd = -EBADF };
	char prefix[16 + ISOFS_NAME_MAX];
	int r, rootfd;

	r = image_check_name(name, err);
	if (r < 0)
		return r;
	/* Fail before any work; checked again, atomically, at the rename. */
	if (faccessat(store->images_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return error_set(err, EEXIST, "image '%s' already exists", name);
	snprintf(prefix, sizeof(prefix), "new.%s", name);
	r = store_tmpdir_create(store, prefix, &tmp);
	if (r < 0)
		return error_errno(err, r, "store %s: temporary directory", store->path);
	if (mkdirat(tmp.fd, ROOTFS_DIR, 0755) < 0 ||
	    (rootfd = openat(tmp.fd, ROOTFS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		r = error_errno(err, errno, "store %s: temporary directory", store->path);
		store_tmpdir_discard(&tmp);
		return r;
	}
	*ret_tmp = tmp;
	*ret_rootfd = rootfd;
	return 0;
}

int image_commit(isofs_store *store, const char *name, const char *source, const char *parent, store_tmpdir *tmp,
		 int rootfd, const isofs_import_stats *stats, const struct image_oci *oci, isofs_error *err)
{
	_cleanup_json_ cJSON *j = NULL;
	_cleanup_free_ char *text = NULL;
	isofs_image_info info = { 0 };
	int r;

	snprintf(info.name, sizeof(info.name), "%s", name);
	info.source = (char *) source;
	info.parent = (char *) parent;
	info.created = (int64_t) time(NULL);
	info.rootless = geteuid() != 0;
	if (stats)
		info.stats = *stats;
	r = tree_usage_at(rootfd, &info.size, &info.files);
	if (r < 0)
		return error_errno(err, r, "image '%s': measuring it", name);
	for (size_t i = 0; oci && i < oci->nlayers; i++) {
		uint64_t bytes, files;
		layer_store_usage(store, oci->layers[i], &bytes, &files, NULL);
		info.size += bytes;
		info.files += files;
	}
	j = meta_to_json(&info, oci);
	text = j ? cJSON_Print(j) : NULL;
	if (!text)
		return error_set(err, ENOMEM, "out of memory");
	r = write_file_atomic_at(tmp->fd, META_FILE, text, strlen(text), 0644);
	if (r < 0)
		return error_errno(err, r, "image '%s': writing %s", name, META_FILE);
	/* Durable before it becomes visible: a crash leaves no half image under the name. */
	if (syncfs(rootfd) < 0)
		return error_errno(err, errno, "image '%s': sync", name);

	r = store_lock(store);
	if (r < 0)
		return error_errno(err, r, "store %s: lock", store->path);
	/* A parent removed meanwhile would leave the new image without its lower layers (layers are held). */
	if (parent && faccessat(store->images_fd, parent, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		r = -ENOENT;
	else
		r = store_tmpdir_commit(tmp, store->images_fd, name);
	store_unlock(store);
	if (r == -EEXIST)
		return error_set(err, EEXIST, "image '%s' already exists", name);
	if (r == -ENOENT && parent)
		return error_set(err, ENOENT, "image '%s' was removed meanwhile", parent);
	if (r < 0)
		return error_errno(err, r, "image '%s': committing it", name);
	return 0;
}

int image_create(isofs_store *store, const char *name, const char *source, image_build_fn build, void *ctx,
		 isofs_import_stats *ret_stats, isofs_error *err)
{
	_cleanup_tmpdir_ store_tmpdir tmp = { .fd = -EBADF };
	_cleanup_close_ int rootfd = -EBADF;
	isofs_import_stats stats = { 0 };
	int r;

	r = image_begin(store, name, &tmp, &rootfd, err);
	if (r < 0)
		return r;
	r = build(rootfd, tmp.fd, ctx, &stats, err);
	if (r < 0)
		return r;
	r = image_commit(store, name, source, NULL, &tmp, rootfd, &stats, NULL, err);
	if (r < 0)
		return r;
	if (ret_stats)
		*ret_stats = stats;
	return 0;
}

/* ---- OCI images: layers and container config ------------------------------ */

void image_layers_free(char **layers, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(layers[i]);
	free(layers);
}

int image_layers_get(isofs_store *store, const char *name, char ***ret_layers, size_t *ret_n, isofs_error *err)
{
	_cleanup_json_ cJSON *j = NULL;
	isofs_image_info info;
	const cJSON *layers, *l;
	char **list = NULL;
	size_t n = 0;
	int r;

	r = meta_load(store, name, &info, &j, err);
	if (r < 0)
		return r;
	isofs_image_info_free(&info);
	layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
	if (layers && !cJSON_IsArray(layers))
		return error_set(err, EBADMSG, "image '%s': %s: \"layers\" is not a list", name, META_FILE);
	if (cJSON_GetArraySize(layers) > LAYERS_MAX_OCI)
		return error_set(err, E2BIG, "image '%s' has more than %d layers", name, LAYERS_MAX_OCI);
	list = calloc((size_t) cJSON_GetArraySize(layers) + 1, sizeof(*list));
	if (!list)
		return error_set(err, ENOMEM, "out of memory");
	cJSON_ArrayForEach(l, layers) {
		/* a digest names a directory: nothing else may */
		if (!cJSON_IsString(l) || !digest_is_valid(l->valuestring)) {
			image_layers_free(list, n);
			return error_set(err, EBADMSG, "image '%s': %s lists a layer that is not a sha256 digest", name,
					 META_FILE);
		}
		if (!(list[n] = strdup(l->valuestring))) {
			image_layers_free(list, n);
			return error_set(err, ENOMEM, "out of memory");
		}
		n++;
	}
	*ret_layers = list;
	*ret_n = n;
	return 0;
}

int image_oci_config_get(isofs_store *store, const char *name, cJSON **ret_config, isofs_error *err)
{
	char current[ISOFS_NAME_MAX + 1];
	int r;

	*ret_config = NULL;
	r = image_check_name(name, err);
	if (r < 0)
		return r;
	snprintf(current, sizeof(current), "%s", name);
	for (int depth = 0; depth < LAYERS_MAX_OCI; depth++) {
		_cleanup_json_ cJSON *j = NULL;
		isofs_image_info info;
		cJSON *config;

		r = meta_load(store, current, &info, &j, err);
		if (r < 0)
			return r;
		config = cJSON_GetObjectItemCaseSensitive(j, "config");
		if (cJSON_IsObject(config) || !info.parent) {
			isofs_image_info_free(&info);
			if (cJSON_IsObject(config))
				*ret_config = cJSON_DetachItemViaPointer(j, config);
			return 0;
		}
		snprintf(current, sizeof(current), "%s", info.parent);
		isofs_image_info_free(&info);
	}
	return 0;
}
