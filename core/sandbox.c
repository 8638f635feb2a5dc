/* SPDX-License-Identifier: MIT */
/* Sandboxes: an image and an upper directory that keeps every change. */
#include "sandbox.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "image.h"
#include "json-util.h"
#include "mount-record.h"
#include "store.h"

#define META_FILE "meta.json"
#define META_MAX (1u << 20)

char *sandbox_generate_name(const char *image)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[6];
	char suffix[7], *name;
	int n = (int) strlen(image);

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char) (rand() ^ getpid());
	for (size_t i = 0; i < sizeof(rnd); i++)
		suffix[i] = chars[rnd[i] % (sizeof(chars) - 1)];
	suffix[6] = '\0';
	if (n > ISOFS_NAME_MAX - 7)
		n = ISOFS_NAME_MAX - 7;
	if (asprintf(&name, "%.*s-%s", n, image, suffix) < 0)
		return NULL;
	return name;
}

int sandbox_open_dir(isofs_store *store, const char *name, int *ret_fd, isofs_error *err)
{
	int fd, r = image_check_name(name, err);

	if (r < 0)
		return r;
	fd = openat(store->sandboxes_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return error_set(err, ENOENT, "no sandbox named '%s'", name);
		return error_errno(err, errno, "sandbox '%s'", name);
	}
	*ret_fd = fd;
	return 0;
}

int isofs_sandbox_create(isofs_store *store, const char *name, const char *image, isofs_error *err)
{
	_cleanup_tmpdir_ store_tmpdir tmp = { .fd = -EBADF };
	_cleanup_json_ cJSON *j = NULL;
	_cleanup_free_ char *text = NULL;
	isofs_image_info info;
	int r;

	r = image_check_name(name, err);
	if (r < 0)
		return r;
	r = isofs_image_get(store, image, &info, err);
	if (r < 0)
		return r;
	isofs_image_info_free(&info);
	if (faccessat(store->sandboxes_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return error_set(err, EEXIST, "sandbox '%s' already exists", name);

	r = store_tmpdir_create(store, "sandbox", &tmp);
	if (r < 0)
		return error_errno(err, r, "store %s: temporary directory", store->path);
	if (mkdirat(tmp.fd, "upper", 0755) < 0 || mkdirat(tmp.fd, "work", 0700) < 0)
		return error_errno(err, errno, "sandbox '%s'", name);
	j = cJSON_CreateObject();
	if (!j || !cJSON_AddStringToObject(j, "name", name) || !cJSON_AddStringToObject(j, "image", image) ||
	    !cJSON_AddNumberToObject(j, "created_unix", (double) time(NULL)) || !(text = cJSON_Print(j)))
		return error_set(err, ENOMEM, "out of memory");
	r = write_file_atomic_at(tmp.fd, META_FILE, text, strlen(text), 0644);
	if (r < 0)
		return error_errno(err, r, "sandbox '%s': %s", name, META_FILE);

	r = store_lock(store);
	if (r < 0)
		return error_errno(err, r, "store %s: lock", store->path);
	/* Again under the lock, which image removal takes too: the image may have gone since it was read. */
	if (faccessat(store->images_fd, image, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		r = -ENOENT;
	else
		r = store_tmpdir_commit(&tmp, store->sandboxes_fd, name);
	store_unlock(store);
	if (r == -ENOENT)
		return error_set(err, ENOENT, "image '%s' was removed meanwhile", image);
	if (r == -EEXIST)
		return error_set(err, EEXIST, "sandbox '%s' already exists", name);
	if (r < 0)
		return error_errno(err, r, "sandbox '%s'", name);
	return 0;
}

void isofs_sandbox_info_free(isofs_sandbox_info *info)
{
	if (!info)
		return;
	free(info->image);
	free(info->upper);
	free(info->work);
	free(info->mountpoint);
	memset(info, 0, sizeof(*info));
}

int sandbox_lock_open(int dfd, int *ret_fd)
{
	int fd = openat(dfd, SANDBOX_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int sandbox_lock_take(int dfd, int *ret_fd)
{
	int fd, r = sandbox_lock_open(dfd, &fd);

	if (r < 0)
		return r;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

bool sandbox_lock_held(int dfd)
{
	_cleanup_close_ int fd = openat(dfd, SANDBOX_LOCK, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	return fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0;
}

/*
 * Where the sandbox is mounted: only while its lock is held and the recorded
 * server still runs (a killed server's record stays behind, and the lock may
 * be a running command's).
 */
static void read_mount(int dfd, isofs_sandbox_info *info)
{
	struct mount_record rec;

	if (!sandbox_lock_held(dfd))
		return; /* nobody serves it */
	info->in_use = true;
	if (mount_record_read(dfd, &rec) < 0)
		return;
	if (mount_record_server_alive(&rec)) {
		info->mountpoint = TAKE_PTR(rec.mountpoint);
		info->daemon = rec.pid;
	}
	mount_record_free(&rec);
}

int isofs_sandbox_get(isofs_store *store, const char *name, isofs_sandbox_info *ret, isofs_error *err)
{
	_cleanup_close_ int dfd = -EBADF;
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ cJSON *j = NULL;
	isofs_sandbox_info info = { 0 };
	const cJSON *image, *created;
	int r;

	r = sandbox_open_dir(store, name, &dfd, err);
	if (r < 0)
		return r;
	r = read_file_at(dfd, META_FILE, META_MAX, &text, NULL);
	if (r < 0)
		return error_errno(err, r, "sandbox '%s': %s", name, META_FILE);
	j = cJSON_Parse(text);
	image = cJSON_GetObjectItemCaseSensitive(j, "image");
	created = cJSON_GetObjectItemCaseSensitive(j, "created_unix");
	if (!cJSON_IsString(image))
		return error_set(err, EBADMSG, "sandbox '%s': %s is damaged", name, META_FILE);
	snprintf(info.name, sizeof(info.name), "%s", name);
	info.image = strdup(image->valuestring);
	info.created = cJSON_IsNumber(created) ? (int64_t) created->valuedouble : 0;
	if (asprintf(&info.upper, "%s/sandboxes/%s/upper", store->path, name) < 0)
		info.upper = NULL;
	if (asprintf(&info.work, "%s/sandboxes/%s/work", store->path, name) < 0)
		info.work = NULL;
	if (!info.image || !info.upper || !info.work) {
		isofs_sandbox_info_free(&info);
		return error_set(err, ENOMEM, "out of memory");
	}
	read_mount(dfd, &info);
	*ret = info;
	return 0;
}
