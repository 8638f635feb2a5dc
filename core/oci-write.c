/* SPDX-License-Identifier: MIT */
/*
 * An image of the store as an OCI image layout: each layer of its chain a
 * tar+gzip blob (oci-layer-tar.h), bottom first, then the config, the manifest,
 * index.json, oci-layout.  index.json comes last: a layout a reader can
 * open has every blob it names.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "idmap.h"
#include "image.h"
#include "json-util.h"
#include "layers.h"
#include "oci-blob.h"
#include "oci-layer-tar.h"
#include "oci.h"
#include "store.h"

/* The platform in the image-spec's (Go's GOARCH) words: what the binaries of this build run on. */
#if defined(__x86_64__)
#define OCI_ARCH "amd64"
#elif defined(__aarch64__)
#define OCI_ARCH "arm64"
#elif defined(__i386__)
#define OCI_ARCH "386"
#elif defined(__arm__)
#define OCI_ARCH "arm"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define OCI_ARCH "ppc64le"
#elif defined(__s390x__)
#define OCI_ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define OCI_ARCH "riscv64"
#elif defined(__loongarch64)
#define OCI_ARCH "loong64"
#else
#error "the GOARCH name of this architecture is missing"
#endif

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* An image's chain, its images held (image_hold: `image rm` refuses them) and its roots open. */
struct held_chain {
	struct layer_chain chain;
	int holds[LAYERS_MAX], nholds;
	int roots[LAYERS_MAX], nroots;
};

static void held_chain_release(struct held_chain *h)
{
	layer_roots_close(h->roots, h->nroots);
	h->nroots = 0;
	for (int i = 0; i < h->nholds; i++)
		close(h->holds[i]);
	h->nholds = 0;
	layer_chain_free(&h->chain);
}

static int held_chain_get(isofs_store *store, const char *image, struct held_chain *h, isofs_error *err)
{
	int r = store_lock(store);

	if (r < 0)
		return error_errno(err, -r, "store %s: lock", store->path);
	/* under the store lock: no removal between reading the chain and holding it */
	r = layer_chain_get(store, image, &h->chain, err);
	for (int i = 0; r == 0 && i < h->chain.nimages; i++) {
		r = image_hold(store, h->chain.images[i], &h->holds[h->nholds]);
		if (r < 0)
			r = error_errno(err, -r, "image '%s'", h->chain.images[i]);
		else
			h->nholds++;
	}
	store_unlock(store);
	if (r == 0) {
		r = layer_chain_open(&h->chain, h->roots, err);
		if (r == 0)
			h->nroots = h->chain.n;
	}
	return r;
}

/*
 * The image-layout spec's grammar of org.opencontainers.image.ref.name:
 * components of alphanumerics joined by one of "-._:@+" or "--", separated by '/'.
 */
static bool ref_name_is_valid(const char *s)
{
	bool after_alnum = false;

	for (const char *p = s; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');

		if (alnum) {
			after_alnum = true;
			continue;
		}
		if (!after_alnum)
			return false;
		if (*p == '-' && p[1] == '-')
			p++;
		else if (!strchr("-._:@+/", *p))
			return false;
		after_alnum = false;
	}
	return after_alnum;
}

static void rfc3339(int64_t t, char buf[32])
{
	time_t tt = (time_t) t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct layer_desc {
	char digest[DIGEST_STRING_MAX];
	char diff_id[DIGEST_STRING_MAX];
	uint64_t size;
};

static cJSON *descriptor(const char *media_type, const char *digest, uint64_t size)
{
	cJSON *d = cJSON_CreateObject();

	if (d && (!cJSON_AddStringToObject(d, "mediaType", media_type) ||
		  !cJSON_AddStringToObject(d, "digest", digest) || !cJSON_AddNumberToObject(d, "size", (double) size))) {
		cJSON_Delete(d);
		return NULL;
	}
	return d;
}

/* A JSON document as a blob of the layout: its digest and size. */
static int write_json_blob(int blobs_fd, const cJSON *j, char ret_digest[DIGEST_STRING_MAX], uint64_t *ret_size,
			   isofs_error *err)
{
	_cleanup_free_ char *text = cJSON_PrintUnformatted(j);
	int r;

	if (!text)
		return error_set(err, ENOMEM, "out of memory");
	r = oci_blob_write_buffer(blobs_fd, text, strlen(text), ret_digest, err);
	if (r == 0)
		*ret_size = strlen(text);
	return r;
}

static bool add_string(cJSON *array, const char *s)
{
	cJSON *item = cJSON_CreateString(s);

	return item && cJSON_AddItemToArray(array, item);
}

/* One entry of the config's history: when and how an image's layer was made. */
static cJSON *history_entry(const isofs_image_info *info)
{
	_cleanup_json_ cJSON *h = cJSON_CreateObject();
	_cleanup_free_ char *by = NULL;
	const char *source = info->source ? info->source : "";
	char created[32];

	rfc3339(info->created, created);
	/* what made the layer, not where from: a source names paths of the machine it was made on */
	if (!h || asprintf(&by, "isofs %.*s", (int) strcspn(source, ":"), source) < 0 ||
	    !cJSON_AddStringToObject(h, "created", created) || !cJSON_AddStringToObject(h, "created_by", by) ||
	    !cJSON_AddStringToObject(h, "comment", info->name))
		return NULL;
	return TAKE_PTR(h);
}

/*
 * The image config: platform, the container config, the layers' diff_ids and
 * one history entry each (bottom first).  Times are the images' creation
 * times, so the same image always gives the same config.
 */
static int config_json(isofs_store *store, const char *image, const struct layer_chain *chain,
		       const struct layer_desc *layers, cJSON **ret, isofs_error *err)
{
	_cleanup_json_ cJSON *j = cJSON_CreateObject();
	cJSON *config = NULL, *env, *rootfs, *diff_ids, *history;
	int r;

	if (!j || !cJSON_AddStringToObject(j, "architecture", OCI_ARCH) || !cJSON_AddStringToObject(j, "os", "linux"))
		return error_set(err, ENOMEM, "out of memory");
	/* The image's own container config (an imported image's, kept by what was committed on it), else a PATH. */
	r = image_oci_config_get(store, image, &config, err);
	if (r < 0)
		return r;
	if (config)
		cJSON_AddItemToObject(j, "config", config);
	else if (!(config = cJSON_AddObjectToObject(j, "config")) || !(env = cJSON_AddArrayToObject(config, "Env")) ||
		 !add_string(env, DEFAULT_PATH))
		return error_set(err, ENOMEM, "out of memory");
	if (!(rootfs = cJSON_AddObjectToObject(j, "rootfs")) ||
	    !cJSON_AddStringToObject(rootfs, "type", "layers") ||
	    !(diff_ids = cJSON_AddArrayToObject(rootfs, "diff_ids")) || !(history = cJSON_AddArrayToObject(j, "history")))
		return error_set(err, ENOMEM, "out of memory");
	for (int i = chain->n - 1; i >= 0; i--) {
		isofs_image_info info;
		cJSON *h;
		r = isofs_image_get(store, chain->images[chain->image_of[i]], &info, err);
		if (r < 0)
			return r;
		h = history_entry(&info);
		if (h && i == 0) {
			/* the image's own time: the top layer's */
			char created[32];
			rfc3339(info.created, created);
			if (!cJSON_AddStringToObject(j, "created", created)) {
				cJSON_Delete(h);
				h = NULL;
			}
		}
		isofs_image_info_free(&info);
		if (!h || !cJSON_AddItemToArray(history, h) || !add_string(diff_ids, layers[i].diff_id))
			return error_set(err, ENOMEM, "out of memory");
	}
	*ret = TAKE_PTR(j);
	return 0;
}

static cJSON *manifest_json(const struct layer_chain *chain, const struct layer_desc *layers, const char *config_digest,
			    uint64_t config_size)
{
	_cleanup_json_ cJSON *j = cJSON_CreateObject();
	cJSON *list, *d;

	if (!j || !cJSON_AddNumberToObject(j, "schemaVersion", 2) ||
	    !cJSON_AddStringToObject(j, "mediaType", OCI_MT_MANIFEST) ||
	    !(d = descriptor(OCI_MT_CONFIG, config_digest, config_size)))
		return NULL;
	cJSON_AddItemToObject(j, "config", d);
	if (!(list = cJSON_AddArrayToObject(j, "layers")))
		return NULL;
	for (int i = chain->n - 1; i >= 0; i--) {
		if (!(d = descriptor(OCI_MT_LAYER_GZIP, layers[i].digest, layers[i].size)))
			return NULL;
		cJSON_AddItemToArray(list, d);
	}
	return TAKE_PTR(j);
}

static cJSON *index_json(const char *manifest_digest, uint64_t manifest_size, const char *ref_name)
{
	_cleanup_json_ cJSON *j = cJSON_CreateObject();
	cJSON *list, *d, *platform, *ann;

	if (!j || !cJSON_AddNumberToObject(j, "schemaVersion", 2) ||
	    !cJSON_AddStringToObject(j, "mediaType", OCI_MT_INDEX) || !(list = cJSON_AddArrayToObject(j, "manifests")) ||
	    !(d = descriptor(OCI_MT_MANIFEST, manifest_digest, manifest_size)))
		return NULL;
	cJSON_AddItemToArray(list, d);
	if (!(platform = cJSON_AddObjectToObject(d, "platform")) ||
	    !cJSON_AddStringToObject(platform, "architecture", OCI_ARCH) ||
	    !cJSON_AddStringToObject(platform, "os", "linux"))
		return NULL;
	if (ref_name && (!(ann = cJSON_AddObjectToObject(d, "annotations")) ||
			 !cJSON_AddStringToObject(ann, OCI_REF_NAME_ANNOTATION, ref_name)))
		return NULL;
	return TAKE_PTR(j);
}

/* blobs/sha256, made in the empty layout directory. */
static int open_blobs_dir(int dirfd, isofs_error *err)
{
	_cleanup_close_ int blobs = -EBADF;
	int fd;

	if (mkdirat(dirfd, "blobs", 0755) < 0 ||
	    (blobs = openat(dirfd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    mkdirat(blobs, "sha256", 0755) < 0 ||
	    (fd = openat(blobs, "sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return error_errno(err, errno, "OCI layout: blobs/sha256");
	return fd;
}

static int write_small_file(int dirfd, const char *name, const char *text, isofs_error *err)
{
	int r = write_file_atomic_at(dirfd, name, text, strlen(text), 0644);

	return r < 0 ? error_errno(err, -r, "OCI layout: %s", name) : 0;
}

int oci_layout_write(isofs_store *store, const char *image, int dirfd, const char *ref_name,
		     const isofs_export_options *progress, isofs_error *err)
{
	struct held_chain h __attribute__((cleanup(held_chain_release))) = { .nholds = 0 };
	struct layer_desc layers[LAYERS_MAX];
	_cleanup_json_ cJSON *config = NULL, *manifest = NULL, *index = NULL;
	_cleanup_free_ char *index_text = NULL;
	_cleanup_close_ int blobs_fd = -EBADF;
	char config_digest[DIGEST_STRING_MAX], manifest_digest[DIGEST_STRING_MAX];
	uint64_t config_size, manifest_size;
	struct idshift host[2];
	struct idmap map;
	int r;

	if (ref_name && !ref_name_is_valid(ref_name))
		return error_set(err, EINVAL,
				 "invalid reference name '%s' (components of A-Z a-z 0-9 joined by - . _ : @ + or --, "
				 "separated by /)", ref_name);
	r = held_chain_get(store, image, &h, err);
	if (r < 0)
		return r;
	idmap_choose(&map);
	idmap_shifts(&map, &host[0], &host[1]);
	blobs_fd = open_blobs_dir(dirfd, err);
	if (blobs_fd < 0)
		return blobs_fd;
	for (int i = h.chain.n - 1; i >= 0; i--) {
		_cleanup_oci_blob_ struct oci_blob blob = { .fd = -EBADF };
		char stage[64];

		if (progress && progress->progress) {
			isofs_progress p = { .entries = (uint64_t) (h.chain.n - 1 - i), .stage = stage };
			snprintf(stage, sizeof(stage), "layer %d of %d", h.chain.n - i, h.chain.n);
			progress->progress(&p, progress->userdata);
		}

		r = oci_blob_begin(blobs_fd, true, &blob, err);
		if (r == 0)
			r = oci_layer_write(&h.chain, h.roots, i, host, &blob, err);
		if (r == 0)
			r = oci_blob_finish(&blob, err);
		if (r < 0)
			return r;
		memcpy(layers[i].digest, blob.digest, sizeof(blob.digest));
		memcpy(layers[i].diff_id, blob.diff_id, sizeof(blob.diff_id));
		layers[i].size = blob.size;
	}
	r = config_json(store, image, &h.chain, layers, &config, err);
	if (r < 0)
		return r;
	r = write_json_blob(blobs_fd, config, config_digest, &config_size, err);
	if (r < 0)
		return r;
	manifest = manifest_json(&h.chain, layers, config_digest, config_size);
	if (!manifest)
		return error_set(err, ENOMEM, "out of memory");
	r = write_json_blob(blobs_fd, manifest, manifest_digest, &manifest_size, err);
	if (r < 0)
		return r;
	index = index_json(manifest_digest, manifest_size, ref_name);
	if (!index || !(index_text = cJSON_PrintUnformatted(index)))
		return error_set(err, ENOMEM, "out of memory");
	r = write_small_file(dirfd, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", err);
	if (r == 0)
		r = write_small_file(dirfd, "index.json", index_text, err);
	return r;
}
