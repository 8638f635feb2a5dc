/* SPDX-License-Identifier: MIT */
/*
 * `image pull`: a registry's image brought into an OCI image layout in a
 * temp dir of the store — its manifest, config and the layers the store
 * lacks, each verified — and imported from there (oci_layout_import).
 * Partial blobs live in STORE/downloads/ between pulls, to be resumed.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "image.h"
#include "json-util.h"
#include "layer-store.h"
#include "oci.h"
#include "registry.h"
#include "store.h"

#define DOWNLOADS_DIR "downloads"
/* More layers than any image has; bounds what a manifest makes us allocate. */
#define LAYERS_MAX 1024

int registry_descriptor_parse(const cJSON *j, const char *what, registry_descriptor *ret, isofs_error *err)
{
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "mediaType");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "digest");
	const cJSON *sz = cJSON_GetObjectItemCaseSensitive(j, "size");
	registry_descriptor desc = { 0 };

	if (!cJSON_IsObject(j))
		return error_set(err, EBADMSG, "%s: not a descriptor object", what);
	if (!cJSON_IsString(d) || !digest_is_valid(d->valuestring))
		return error_set(err, EBADMSG, "%s: the digest is not sha256:<64 hex digits>", what);
	/* a double holds integers exactly up to 2^53 */
	if (!cJSON_IsNumber(sz) || sz->valuedouble < 0 || sz->valuedouble > 9007199254740992.0 ||
	    sz->valuedouble != (double) (uint64_t) sz->valuedouble)
		return error_set(err, EBADMSG, "%s: the size is not a whole number of bytes", what);
	if (cJSON_IsString(mt)) {
		if (strlen(mt->valuestring) >= sizeof(desc.media_type))
			return error_set(err, EBADMSG, "%s: the media type is too long", what);
		strcpy(desc.media_type, mt->valuestring);
	} else if (mt) {
		return error_set(err, EBADMSG, "%s: the media type is not a string", what);
	}
	strcpy(desc.digest, d->valuestring);
	desc.size = (uint64_t) sz->valuedouble;
	*ret = desc;
	return 0;
}

static bool platform_word_is_valid(const char *s, size_t n)
{
	if (n == 0 || n >= 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

int registry_platform_parse(const char *s, registry_platform *ret, isofs_error *err)
{
	registry_platform p = { 0 };
	const char *a, *v;

	if (!s) {
		/* the host's, in Go's names (what indexes use) */
		static const struct {
			const char *machine, *arch, *variant;
		} map[] = {
			{ "x86_64", "amd64", "" },   { "aarch64", "arm64", "" }, { "armv7l", "arm", "v7" },
			{ "armv6l", "arm", "v6" },   { "i686", "386", "" },      { "i386", "386", "" },
			{ "ppc64le", "ppc64le", "" }, { "s390x", "s390x", "" },  { "riscv64", "riscv64", "" },
		};
		struct utsname u;
		strcpy(p.os, "linux");
		if (uname(&u) < 0)
			return error_errno(err, errno, "uname");
		snprintf(p.arch, sizeof(p.arch), "%.31s", u.machine);
		for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
			if (!strcmp(u.machine, map[i].machine)) {
				strcpy(p.arch, map[i].arch);
				strcpy(p.variant, map[i].variant);
			}
		*ret = p;
		return 0;
	}
	a = strchr(s, '/');
	v = a ? strchr(a + 1, '/') : NULL;
	if (!a || !platform_word_is_valid(s, (size_t) (a - s)) ||
	    !platform_word_is_valid(a + 1, v ? (size_t) (v - a - 1) : strlen(a + 1)) ||
	    (v && !platform_word_is_valid(v + 1, strlen(v + 1))))
		return error_set(err, EINVAL, "invalid platform '%s': expected OS/ARCH[/VARIANT] (linux/arm64)", s);
	memcpy(p.os, s, (size_t) (a - s));
	memcpy(p.arch, a + 1, v ? (size_t) (v - a - 1) : strlen(a + 1));
	if (v)
		strcpy(p.variant, v + 1);
	*ret = p;
	return 0;
}

static const char *json_string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* The manifest of an index that is for `p`; -ENOENT naming the platforms there are. */
static int choose_platform(const cJSON *index, const registry_platform *p, const char *what,
			   registry_descriptor *ret, isofs_error *err)
{
	const cJSON *manifests = cJSON_GetObjectItemCaseSensitive(index, "manifests"), *m;
	char have[256] = "";
	size_t hn = 0;
	int r;

	if (!cJSON_IsArray(manifests))
		return error_set(err, EBADMSG, "%s: an index without a manifests array", what);
	cJSON_ArrayForEach(m, manifests)
	{
		const cJSON *plat = cJSON_GetObjectItemCaseSensitive(m, "platform");
		const char *os = json_string(plat, "os"), *arch = json_string(plat, "architecture");
		const char *variant = json_string(plat, "variant");

		if (!strcmp(os, "unknown") || !*os) /* attestations and the like */
			continue;
		if (hn < sizeof(have))
			hn += (size_t) snprintf(have + hn, sizeof(have) - hn, "%s%s/%s%s%s", hn ? ", " : "", os, arch,
						*variant ? "/" : "", variant);
		if (strcmp(os, p->os) || strcmp(arch, p->arch) || (p->variant[0] && strcmp(variant, p->variant)))
			continue;
		if ((r = registry_descriptor_parse(m, what, ret, err)) < 0)
			return r;
		if (strcmp(ret->media_type, OCI_MT_MANIFEST) && strcmp(ret->media_type, DOCKER_MT_MANIFEST))
			return error_set(err, EPROTONOSUPPORT, "%s: the %s/%s entry is of unsupported media type '%s'",
					 what, p->os, p->arch, ret->media_type);
		return 0;
	}
	if (hn >= sizeof(have))
		strcpy(have + sizeof(have) - 5, "…");
	return error_set(err, ENOENT, "%s: no image for %s/%s%s%s (there are: %s)", what, p->os, p->arch,
			 p->variant[0] ? "/" : "", p->variant, hn ? have : "none");
}

static bool layer_type_is_supported(const char *mt)
{
	return !strcmp(mt, OCI_MT_LAYER) || !strcmp(mt, OCI_MT_LAYER_GZIP) || !strcmp(mt, OCI_MT_LAYER_ZSTD) ||
	       !strcmp(mt, DOCKER_MT_LAYER_GZIP);
}

static int write_blob(int blobs_fd, const char *digest, const void *data, size_t len)
{
	_cleanup_close_ int fd = openat(blobs_fd, digest_hex(digest), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
					O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	return write_all(fd, data, len);
}

/* oci-layout and index.json naming the one manifest `ref_name`. */
static int write_layout_index(int layout_fd, const registry_descriptor *m, const char *ref_name, isofs_error *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}\n";
	_cleanup_json_ cJSON *index = cJSON_CreateObject();
	_cleanup_free_ char *text = NULL;
	cJSON *list, *desc, *ann;
	int r;

	if (!index || !cJSON_AddNumberToObject(index, "schemaVersion", 2) ||
	    !cJSON_AddStringToObject(index, "mediaType", OCI_MT_INDEX) ||
	    !(list = cJSON_AddArrayToObject(index, "manifests")) || !(desc = cJSON_CreateObject()))
		return error_set(err, ENOMEM, "out of memory");
	cJSON_AddItemToArray(list, desc);
	if (!cJSON_AddStringToObject(desc, "mediaType", m->media_type) ||
	    !cJSON_AddStringToObject(desc, "digest", m->digest) ||
	    !cJSON_AddNumberToObject(desc, "size", (double) m->size) ||
	    !(ann = cJSON_AddObjectToObject(desc, "annotations")) ||
	    !cJSON_AddStringToObject(ann, OCI_REF_NAME_ANNOTATION, ref_name) || !(text = cJSON_Print(index)))
		return error_set(err, ENOMEM, "out of memory");
	if ((r = write_file_atomic_at(layout_fd, "oci-layout", layout, sizeof(layout) - 1, 0644)) < 0 ||
	    (r = write_file_atomic_at(layout_fd, "index.json", text, strlen(text), 0644)) < 0)
		return error_errno(err, r, "writing the image layout");
	return 0;
}

int registry_pull_layout(registry_client *c, const registry_ref *ref, const registry_platform *platform,
			 isofs_store *store, int layout_fd, const char *ref_name, int partial_dirfd,
			 char ret_digest[DIGEST_STRING_MAX], isofs_error *err)
{
	_cleanup_free_ char *body = NULL, *config = NULL;
	_cleanup_free_ registry_blob *todo = NULL;
	_cleanup_json_ cJSON *manifest = NULL, *config_json = NULL;
	_cleanup_close_ int blobs_fd = -EBADF;
	char mt[REGISTRY_MEDIA_TYPE_MAX], what[600];
	registry_descriptor mdesc = { 0 }, cdesc;
	const cJSON *layers, *diff_ids, *l;
	size_t len, nlayers, ntodo = 0;
	int r;

	registry_ref_format(ref, what, sizeof(what));
	r = registry_get_manifest(c, registry_ref_reference(ref), &body, &len, mt, mdesc.digest, err);
	if (r < 0)
		return r;
	if (!strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, DOCKER_MT_LIST)) {
		_cleanup_json_ cJSON *index = cJSON_ParseWithLength(body, len);
		char got[DIGEST_STRING_MAX];

		if ((r = choose_platform(index, platform, what, &mdesc, err)) < 0)
			return r;
		free(TAKE_PTR(body));
		if ((r = registry_get_manifest(c, mdesc.digest, &body, &len, mt, got, err)) < 0)
			return r;
		if (len != mdesc.size)
			return error_set(err, EBADMSG, "%s: the manifest for %s/%s has %zu bytes, the index says %" PRIu64,
					 what, platform->os, platform->arch, len, mdesc.size);
	} else {
		mdesc.size = len;
	}
	if (strcmp(mt, OCI_MT_MANIFEST) && strcmp(mt, DOCKER_MT_MANIFEST))
		return error_set(err, EPROTONOSUPPORT, "%s: unsupported manifest media type '%s'", what, mt);
	strcpy(mdesc.media_type, mt);

	manifest = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(manifest))
		return error_set(err, EBADMSG, "%s: the manifest is not a JSON object", what);
	if ((r = registry_descriptor_parse(cJSON_GetObjectItemCaseSensitive(manifest, "config"), "config", &cdesc,
					   err)) < 0)
		return error_prefix(err, r, "%s", what);
	if (strcmp(cdesc.media_type, OCI_MT_CONFIG) && strcmp(cdesc.media_type, DOCKER_MT_CONFIG))
		return error_set(err, EPROTONOSUPPORT, "%s: unsupported config media type '%s' (not a container image)",
				 what, cdesc.media_type);
	layers = cJSON_GetObjectItemCaseSensitive(manifest, "layers");
	if (!cJSON_IsArray(layers) || (nlayers = (size_t) cJSON_GetArraySize(layers)) > LAYERS_MAX)
		return error_set(err, EBADMSG, "%s: the manifest's layers are not an array of at most %d", what,
				 LAYERS_MAX);

	if ((r = registry_get_blob(c, cdesc.digest, cdesc.size, OCI_JSON_MAX, &config, err)) < 0)
		return error_prefix(err, r, "%s: config", what);
	config_json = cJSON_ParseWithLength(config, cdesc.size);
	diff_ids = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(config_json, "rootfs"),
						    "diff_ids");
	if (!cJSON_IsArray(diff_ids) || (size_t) cJSON_GetArraySize(diff_ids) != nlayers)
		return error_set(err, EBADMSG, "%s: the config's rootfs.diff_ids do not list the %zu layers", what,
				 nlayers);

	/* the layout: manifest and config as they came; the layers the store lacks */
	if (mkdirat(layout_fd, "blobs", 0755) < 0 || mkdirat(layout_fd, "blobs/sha256", 0755) < 0 ||
	    (blobs_fd = openat(layout_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return error_errno(err, errno, "writing the image layout");
	if ((r = write_blob(blobs_fd, mdesc.digest, body, len)) < 0 ||
	    (r = write_blob(blobs_fd, cdesc.digest, config, cdesc.size)) < 0)
		return error_errno(err, r, "writing the image layout");

	todo = calloc(nlayers ? nlayers : 1, sizeof(*todo));
	if (!todo)
		return error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < nlayers; i++) {
		const cJSON *diff_id = cJSON_GetArrayItem(diff_ids, (int) i);
		registry_descriptor ld;
		char lwhat[64];
		bool dup = false;

		l = cJSON_GetArrayItem(layers, (int) i);
		snprintf(lwhat, sizeof(lwhat), "layer %zu", i + 1);
		if ((r = registry_descriptor_parse(l, lwhat, &ld, err)) < 0)
			return error_prefix(err, r, "%s", what);
		if (!layer_type_is_supported(ld.media_type))
			return error_set(err, EPROTONOSUPPORT, "%s: layer %zu has unsupported media type '%s'", what, i + 1,
					 ld.media_type);
		if (!cJSON_IsString(diff_id) || !digest_is_valid(diff_id->valuestring))
			return error_set(err, EBADMSG, "%s: the config's diff_id %zu is not sha256:<64 hex digits>", what,
					 i + 1);
		if (store && layer_store_has(store, diff_id->valuestring) > 0)
			continue;
		for (size_t k = 0; k < ntodo; k++)
			if (!strcmp(todo[k].digest, ld.digest))
				dup = true;
		if (dup)
			continue;
		strcpy(todo[ntodo].digest, ld.digest);
		todo[ntodo++].size = ld.size;
	}
	if ((r = registry_download_blobs(c, todo, ntodo, partial_dirfd, blobs_fd, err)) < 0)
		return r;
	if ((r = write_layout_index(layout_fd, &mdesc, ref_name, err)) < 0)
		return r;
	memcpy(ret_digest, mdesc.digest, DIGEST_STRING_MAX);
	return 0;
}

static int open_downloads(isofs_store *store, int *ret_fd, isofs_error *err)
{
	int fd;

	if (mkdirat(store->dirfd, DOWNLOADS_DIR, 0700) < 0 && errno != EEXIST)
		return error_errno(err, errno, "store %s: %s", store->path, DOWNLOADS_DIR);
	fd = openat(store->dirfd, DOWNLOADS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, "store %s: %s", store->path, DOWNLOADS_DIR);
	*ret_fd = fd;
	return 0;
}

int isofs_image_pull(isofs_store *store, const char *name, const char *refstr, const isofs_registry_options *opts,
		     isofs_import_stats *ret_stats, char **ret_name, isofs_error *err)
{
	_cleanup_registry_client_ registry_client *c = NULL;
	_cleanup_tmpdir_ store_tmpdir tmp = { .fd = -EBADF };
	_cleanup_close_ int partial_fd = -EBADF;
	_cleanup_free_ char *source = NULL;
	char image[ISOFS_NAME_MAX + 1], digest[DIGEST_STRING_MAX], full[600];
	const char *ref_name;
	isofs_import_stats stats = { 0 };
	registry_platform platform;
	registry_ref ref;
	int r;

	if ((r = registry_ref_parse(refstr, &ref, err)) < 0)
		return r;
	if ((r = registry_platform_parse(opts ? opts->platform : NULL, &platform, err)) < 0)
		return r;
	if (name) {
		if ((r = image_check_name(name, err)) < 0)
			return r;
		snprintf(image, sizeof(image), "%s", name);
	} else if ((r = registry_ref_image_name(&ref, image, err)) < 0) {
		return r;
	}
	/* before any download: the import would refuse it at the end */
	if (faccessat(store->images_fd, image, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return error_set(err, EEXIST, "image '%s' already exists", image);

	if ((r = registry_client_new(&ref, opts, false, &c, err)) < 0)
		return r;
	if ((r = open_downloads(store, &partial_fd, err)) < 0)
		return r;
	registry_partials_clean(partial_fd);
	if ((r = store_tmpdir_create(store, "pull", &tmp)) < 0)
		return error_errno(err, r, "store %s: temporary directory", store->path);
	ref_name = ref.tag[0] ? ref.tag : refstr;
	if ((r = registry_pull_layout(c, &ref, &platform, store, tmp.fd, ref_name, partial_fd, digest, err)) < 0)
		return r;
	registry_ref_format(&ref, full, sizeof(full));
	if (asprintf(&source, "registry:%s%s%s", full, ref.digest[0] ? "" : "@", ref.digest[0] ? "" : digest) < 0)
		return error_set(err, ENOMEM, "out of memory");
	r = oci_layout_import(store, image, tmp.fd, ref_name, source, true, opts ? &opts->import : NULL, &stats, err);
	if (r < 0)
		return r;
	if (ret_name && !(*ret_name = strdup(image)))
		return error_set(err, ENOMEM, "out of memory");
	if (ret_stats)
		*ret_stats = stats;
	return 0;
}
