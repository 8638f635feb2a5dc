/* SPDX-License-Identifier: MIT */
#include "oci-source.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "json-util.h"
#include "oci.h"

static bool is_regular(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool is_hex64(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == 64 && (s[n] == '\0' || s[n] == '.');
}

/* Every top-level name one an image archive has: nothing a root file system would. */
static bool only_archive_names(int dirfd)
{
	static const char *const names[] = { "manifest.json", "repositories", "index.json", "oci-layout", "blobs",
					     "version" };
	_cleanup_closedir_ DIR *d = opendir_at(dirfd, ".");
	struct dirent *de;

	if (!d)
		return false;
	while ((de = readdir(d))) {
		bool ok = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || is_hex64(de->d_name) ||
			  ends_with(de->d_name, ".json") || ends_with(de->d_name, ".tar");
		for (size_t i = 0; !ok && i < sizeof(names) / sizeof(names[0]); i++)
			ok = strcmp(de->d_name, names[i]) == 0;
		if (!ok)
			return false;
	}
	return true;
}

int oci_source_detect(int dirfd, enum oci_source_kind *ret_kind, isofs_error *err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ cJSON *j = NULL;
	int r;

	*ret_kind = OCI_SOURCE_NONE;
	if (is_regular(dirfd, "oci-layout")) {
		*ret_kind = OCI_SOURCE_LAYOUT;
		return 0;
	}
	if (!is_regular(dirfd, "manifest.json"))
		return 0;
	r = read_file_at(dirfd, "manifest.json", OCI_JSON_MAX, &text, NULL);
	if (r == 0)
		j = cJSON_Parse(text);
	if (cJSON_IsArray(j))
		*ret_kind = OCI_SOURCE_DOCKER_ARCHIVE;
	else if (cJSON_IsObject(j) && cJSON_GetObjectItemCaseSensitive(j, "schemaVersion") && is_regular(dirfd, "version"))
		*ret_kind = OCI_SOURCE_DIR;
	else if (only_archive_names(dirfd))
		return error_set(err, EBADMSG, "an image archive whose manifest.json cannot be read (%s)",
				 r < 0 ? strerror(-r) : "not a list of images");
	return 0;
}

const char *oci_source_kind_name(enum oci_source_kind kind)
{
	switch (kind) {
	case OCI_SOURCE_LAYOUT:
		return "oci";
	case OCI_SOURCE_DOCKER_ARCHIVE:
		return "docker-archive";
	case OCI_SOURCE_DIR:
		return "docker-dir";
	default:
		return "rootfs";
	}
}
