/* SPDX-License-Identifier: MIT */
/*
 * `image push`: the image written as an OCI image layout in a temp dir of
 * the store (oci_layout_write), then its blobs the registry lacks uploaded
 * (HEAD, then POST and PUT), then its manifest under the tag.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "image.h"
#include "json-util.h"
#include "oci.h"
#include "registry.h"
#include "store.h"

/* The manifest index.json names `ref_name` (NULL: its only one). */
static int find_manifest(int layout_fd, const char *ref_name, registry_descriptor *ret, isofs_error *err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ cJSON *index = NULL;
	const cJSON *manifests, *m, *found = NULL;
	int r, n = 0;

	if ((r = read_file_at(layout_fd, "index.json", OCI_JSON_MAX, &text, NULL)) < 0)
		return error_errno(err, r, "image layout: index.json");
	index = cJSON_Parse(text);
	manifests = cJSON_GetObjectItemCaseSensitive(index, "manifests");
	if (!cJSON_IsArray(manifests))
		return error_set(err, EBADMSG, "image layout: index.json has no manifests array");
	cJSON_ArrayForEach(m, manifests)
	{
		const cJSON *ann = cJSON_GetObjectItemCaseSensitive(m, "annotations");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(ann, OCI_REF_NAME_ANNOTATION);
		n++;
		if (!ref_name || (cJSON_IsString(name) && !strcmp(name->valuestring, ref_name)))
			found = m;
	}
	if (!found || (!ref_name && n != 1))
		return error_set(err, ENOENT, "image layout: index.json has %s manifest %s%s", ref_name ? "no" : "not one",
				 ref_name ? "named " : "", ref_name ? ref_name : "");
	if ((r = registry_descriptor_parse(found, "image layout: index.json", ret, err)) < 0)
		return r;
	if (strcmp(ret->media_type, OCI_MT_MANIFEST) && strcmp(ret->media_type, DOCKER_MT_MANIFEST))
		return error_set(err, EPROTONOSUPPORT, "image layout: unsupported manifest media type '%s'",
				 ret->media_type);
	return 0;
}

static int open_blob(int blobs_fd, const registry_descriptor *d, int *ret_fd, isofs_error *err)
{
	_cleanup_close_ int fd = openat(blobs_fd, digest_hex(d->digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return error_errno(err, errno, "image layout: blob %s", d->digest);
	if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size != d->size)
		return error_set(err, EBADMSG, "image layout: blob %s is not the %" PRIu64 " bytes its descriptor says",
				 d->digest, d->size);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int registry_push_layout(registry_client *c, int layout_fd, const char *ref_name, const char *tag,
			 char ret_digest[DIGEST_STRING_MAX], isofs_error *err)
{
	_cleanup_free_ registry_descriptor *blobs = NULL;
	_cleanup_free_ char *body = NULL;
	_cleanup_json_ cJSON *manifest = NULL;
	_cleanup_close_ int blobs_fd = -EBADF;
	registry_descriptor mdesc;
	const cJSON *layers, *l;
	char got[DIGEST_STRING_MAX];
	size_t len, n = 0;
	uint64_t total = 0;
	int r;

	if ((r = find_manifest(layout_fd, ref_name, &mdesc, err)) < 0)
		return r;
	blobs_fd = openat(layout_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (blobs_fd < 0)
		return error_errno(err, errno, "image layout: blobs/sha256");
	if (mdesc.size > OCI_JSON_MAX)
		return error_set(err, EFBIG, "image layout: the manifest is larger than %u bytes", OCI_JSON_MAX);
	if ((r = read_file_at(blobs_fd, digest_hex(mdesc.digest), OCI_JSON_MAX, &body, &len)) < 0)
		return error_errno(err, r, "image layout: manifest %s", mdesc.digest);
	if ((r = digest_buffer(body, len, got, err)) < 0)
		return r;
	if (len != mdesc.size || strcmp(got, mdesc.digest))
		return error_set(err, EBADMSG, "image layout: the manifest does not match its descriptor");
	manifest = cJSON_ParseWithLength(body, len);
	layers = cJSON_GetObjectItemCaseSensitive(manifest, "layers");
	if (!cJSON_IsArray(layers))
		return error_set(err, EBADMSG, "image layout: the manifest has no layers array");
	blobs = calloc((size_t) cJSON_GetArraySize(layers) + 1, sizeof(*blobs));
	if (!blobs)
		return error_set(err, ENOMEM, "out of memory");
	/* layers first, the config last (as docker and skopeo do) */
	cJSON_ArrayForEach(l, layers)
	{
		if ((r = registry_descriptor_parse(l, "image layout: a layer", &blobs[n], err)) < 0)
			return r;
		total += blobs[n++].size;
	}
	if ((r = registry_descriptor_parse(cJSON_GetObjectItemCaseSensitive(manifest, "config"),
					   "image layout: the config", &blobs[n], err)) < 0)
		return r;
	total += blobs[n++].size;

	registry_progress_start(c, total);
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int fd = -EBADF;

		if ((r = open_blob(blobs_fd, &blobs[i], &fd, err)) < 0)
			return r;
		if ((r = registry_blob_exists(c, blobs[i].digest, err)) < 0)
			return r;
		if (r == 1)
			continue;
		if ((r = registry_upload_blob(c, blobs[i].digest, fd, blobs[i].size, err)) < 0)
			return r;
	}
	if ((r = registry_put_manifest(c, tag, mdesc.media_type, body, len, err)) < 0)
		return r;
	memcpy(ret_digest, mdesc.digest, DIGEST_STRING_MAX);
	return 0;
}

int isofs_image_push(isofs_store *store, const char *name, const char *refstr, const isofs_registry_options *opts,
		     char **ret_digest, isofs_error *err)
{
	_cleanup_registry_client_ registry_client *c = NULL;
	_cleanup_tmpdir_ store_tmpdir tmp = { .fd = -EBADF };
	char digest[DIGEST_STRING_MAX];
	registry_ref ref;
	int r;

	if ((r = image_check_name(name, err)) < 0 || (r = registry_ref_parse(refstr, &ref, err)) < 0)
		return r;
	if (ref.digest[0])
		return error_set(err, EINVAL, "invalid reference '%s': a push names a tag, not a digest", refstr);
	if ((r = store_tmpdir_create(store, "push", &tmp)) < 0)
		return error_errno(err, r, "store %s: temporary directory", store->path);
	if ((r = oci_layout_write(store, name, tmp.fd, ref.tag, NULL, err)) < 0)
		return r;
	if ((r = registry_client_new(&ref, opts, true, &c, err)) < 0)
		return r;
	if ((r = registry_push_layout(c, tmp.fd, ref.tag, ref.tag, digest, err)) < 0)
		return r;
	if (ret_digest && !(*ret_digest = strdup(digest)))
		return error_set(err, ENOMEM, "out of memory");
	return 0;
}
