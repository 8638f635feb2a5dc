/* SPDX-License-Identifier: MIT */
/*
 * Importing an OCI image: the manifest an image layout (or a docker-archive,
 * or a containers/image "dir:" directory) names, its config and its layers,
 * into an image of the store made of shared layers.  Every name, digest and
 * size in the source is hostile input: blobs are opened beneath the source
 * directory (openat2 RESOLVE_IN_ROOT: no "..", symlink or magic link leads
 * out), only by valid digests or by paths of the source's own manifest, and
 * nothing is used before its digest is checked.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "digest.h"
#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "image.h"
#include "json-util.h"
#include "layer-store.h"
#include "oci-layer.h"
#include "oci-source.h"
#include "oci.h"
#include "store.h"

struct plan_layer {
	char *path; /* below the source directory */
	char digest[DIGEST_STRING_MAX]; /* "" when unknown */
	int64_t size;                   /* -1 when unknown */
	char *media_type;               /* NULL: any compression */
	char diff_id[DIGEST_STRING_MAX];
};

struct plan {
	int dirfd;
	bool blobs_verified; /* a registry pull: each blob's digest checked as it came */
	cJSON *config; /* the whole config blob */
	char config_digest[DIGEST_STRING_MAX];
	char manifest_digest[DIGEST_STRING_MAX];
	struct plan_layer *layers;
	size_t n;
};

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->layers[i].path);
		free(p->layers[i].media_type);
	}
	free(p->layers);
	cJSON_Delete(p->config);
}

/* A regular file of the source, beneath it; O_NONBLOCK until it is known not to be a FIFO. */
static int source_open(int dirfd, const char *path, isofs_error *err)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	_cleanup_close_ int fd = (int) syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	struct stat st;

	if (fd < 0) {
		if (errno == ENOENT)
			return error_set(err, ENOENT, "'%s' is missing from the image", path);
		return error_errno(err, errno, "'%s'", path);
	}
	if (fstat(fd, &st) < 0)
		return error_errno(err, errno, "'%s'", path);
	if (!S_ISREG(st.st_mode))
		return error_set(err, EINVAL, "'%s' is not a regular file", path);
	if (fcntl(fd, F_SETFL, 0) < 0)
		return error_errno(err, errno, "'%s'", path);
	return TAKE_FD(fd);
}

static int blob_path(const char *digest, char *buf, size_t size)
{
	return snprintf(buf, size, "blobs/sha256/%s", digest_hex(digest)) < (int) size ? 0 : -ENAMETOOLONG;
}

/* A small blob (a manifest, a config): size and digest checked, then parsed. */
static int read_json_file(int dirfd, const char *path, const char *digest, int64_t size, const char *what,
			  cJSON **ret, isofs_error *err)
{
	_cleanup_close_ int fd = source_open(dirfd, path, err);
	_cleanup_free_ char *text = NULL;
	char got[DIGEST_STRING_MAX];
	size_t len;
	int r;

	if (fd < 0)
		return error_prefix(err, fd, "%s", what);
	r = read_fd_all(fd, OCI_JSON_MAX, &text, &len);
	if (r == -EFBIG)
		return error_set(err, EFBIG, "%s is larger than %u bytes", what, OCI_JSON_MAX);
	if (r < 0)
		return error_errno(err, r, "%s", what);
	if (size >= 0 && (uint64_t) size != len)
		return error_set(err, EBADMSG, "%s: %zu bytes where %lld are declared", what, len, (long long) size);
	if (digest) {
		r = digest_buffer(text, len, got, err);
		if (r < 0)
			return r;
		if (strcmp(got, digest) != 0)
			return error_set(err, EBADMSG, "%s: digest mismatch: declared %s, the blob is %s", what, digest, got);
	}
	*ret = cJSON_ParseWithLength(text, len);
	if (!*ret)
		return error_set(err, EBADMSG, "%s is not valid JSON", what);
	return 0;
}

struct desc {
	const char *media_type; /* NULL when absent */
	char digest[DIGEST_STRING_MAX];
	int64_t size;
};

static int desc_parse(const cJSON *d, const char *what, struct desc *ret, isofs_error *err)
{
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(d, "mediaType");
	const cJSON *dg = cJSON_GetObjectItemCaseSensitive(d, "digest");
	const cJSON *sz = cJSON_GetObjectItemCaseSensitive(d, "size");

	if (!cJSON_IsObject(d))
		return error_set(err, EBADMSG, "%s: not a descriptor", what);
	if (!cJSON_IsString(dg) || !digest_is_valid(dg->valuestring))
		return error_set(err, EBADMSG, "%s: digest '%.80s' is not sha256:<64 hex digits>", what,
				 cJSON_IsString(dg) ? dg->valuestring : "");
	if (!cJSON_IsNumber(sz) || sz->valuedouble < 0 || sz->valuedouble > 9007199254740992.0 ||
	    sz->valuedouble != (double) (int64_t) sz->valuedouble)
		return error_set(err, EBADMSG, "%s: no valid size", what);
	ret->media_type = cJSON_IsString(mt) ? mt->valuestring : NULL;
	snprintf(ret->digest, sizeof(ret->digest), "%s", dg->valuestring);
	ret->size = (int64_t) sz->valuedouble;
	return 0;
}

static int read_blob_json(int dirfd, const struct desc *d, const char *what, cJSON **ret, isofs_error *err)
{
	char path[128];

	if (blob_path(d->digest, path, sizeof(path)) < 0)
		return error_set(err, ENAMETOOLONG, "%s: digest too long", what);
	return read_json_file(dirfd, path, d->digest, d->size, what, ret, err);
}

/* ---- references --------------------------------------------------------- */

/* "docker.io/library/debian:12" and "debian:12" name the same image; no tag is ":latest". */
static void ref_normalize(const char *ref, char *buf, size_t size)
{
	static const char *const prefixes[] = { "docker.io/library/", "docker.io/", "localhost/" };
	const char *slash, *colon;

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(ref, prefixes[i], strlen(prefixes[i])) == 0) {
			ref += strlen(prefixes[i]);
			break;
		}
	slash = strrchr(ref, '/');
	colon = strrchr(slash ? slash : ref, ':');
	snprintf(buf, size, "%s%s", ref, colon || strchr(ref, '@') ? "" : ":latest");
}

static bool ref_matches(const char *candidate, const char *wanted)
{
	char a[512], b[512];

	if (strcmp(candidate, wanted) == 0)
		return true;
	ref_normalize(candidate, a, sizeof(a));
	ref_normalize(wanted, b, sizeof(b));
	return strcmp(a, b) == 0;
}

/* Appends ", NAME" to a list of choices for an error message. */
static void choices_add(char *list, size_t size, const char *name)
{
	size_t n = strlen(list);

	if (n + 8 >= size)
		return;
	snprintf(list + n, size - n, "%s%s", n ? ", " : "", name);
}

/* ---- platforms ----------------------------------------------------------- */

static const char *host_arch(void)
{
	static const struct {
		const char *machine, *arch;
	} arches[] = {
		{ "x86_64", "amd64" }, { "aarch64", "arm64" }, { "armv7l", "arm" }, { "armv6l", "arm" },
		{ "i686", "386" },     { "i386", "386" },      { "ppc64le", "ppc64le" }, { "s390x", "s390x" },
		{ "riscv64", "riscv64" },
	};
	struct utsname u;

	if (uname(&u) == 0)
		for (size_t i = 0; i < sizeof(arches) / sizeof(arches[0]); i++)
			if (strcmp(u.machine, arches[i].machine) == 0)
				return arches[i].arch;
	return "amd64";
}

/* The manifest of an index for this host (linux, its architecture). */
static int platform_pick(const cJSON *manifests, const char *what, struct desc *ret, isofs_error *err)
{
	const char *arch = host_arch();
	char seen[512] = "";
	const cJSON *m;

	cJSON_ArrayForEach(m, manifests) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "platform");
		const cJSON *os = cJSON_GetObjectItemCaseSensitive(p, "os");
		const cJSON *ar = cJSON_GetObjectItemCaseSensitive(p, "architecture");

		if (!cJSON_IsString(os) || !cJSON_IsString(ar))
			continue;
		if (strcmp(os->valuestring, "linux") == 0 && strcmp(ar->valuestring, arch) == 0)
			return desc_parse(m, what, ret, err);
		char one[128];
		snprintf(one, sizeof(one), "%.40s/%.40s", os->valuestring, ar->valuestring);
		choices_add(seen, sizeof(seen), one);
	}
	return error_set(err, ENOENT, "%s has no image for linux/%s (it has: %s)", what, arch, *seen ? seen : "none");
}

/* ---- OCI image layouts and "dir:" directories ------------------------------ */

static bool is_index_type(const char *mt)
{
	return mt && (strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, DOCKER_MT_LIST) == 0);
}

static bool is_manifest_type(const char *mt)
{
	return mt && (strcmp(mt, OCI_MT_MANIFEST) == 0 || strcmp(mt, DOCKER_MT_MANIFEST) == 0);
}

/* The manifest index.json names: by `ref` (its ref.name annotation), or the only one. */
static int index_pick(const cJSON *index, const char *ref, struct desc *ret, isofs_error *err)
{
	const cJSON *manifests = cJSON_GetObjectItemCaseSensitive(index, "manifests"), *m, *found = NULL;
	char names[1024] = "";
	int n = 0, unnamed = 0;

	if (!cJSON_IsArray(manifests) || cJSON_GetArraySize(manifests) == 0)
		return error_set(err, EBADMSG, "index.json lists no manifests");
	cJSON_ArrayForEach(m, manifests) {
		const cJSON *ann = cJSON_GetObjectItemCaseSensitive(m, "annotations");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(ann, OCI_REF_NAME_ANNOTATION);

		if (!cJSON_IsString(name))
			name = cJSON_GetObjectItemCaseSensitive(ann, "io.containerd.image.name");
		n++;
		if (!cJSON_IsString(name)) {
			unnamed++;
			continue;
		}
		choices_add(names, sizeof(names), name->valuestring);
		if (ref && !found && ref_matches(name->valuestring, ref))
			found = m;
	}
	if (ref && !found)
		return error_set(err, ENOENT, "the image has no reference '%s' (it has: %s)", ref,
				 *names ? names : "no named images");
	if (!ref) {
		/* several entries of one manifest (one image, several names) are one image */
		const cJSON *first = manifests->child;
		const cJSON *d0 = cJSON_GetObjectItemCaseSensitive(first, "digest");
		cJSON_ArrayForEach(m, manifests) {
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "digest");
			if (!cJSON_IsString(d) || !cJSON_IsString(d0) || strcmp(d->valuestring, d0->valuestring) != 0)
				return error_set(err, EINVAL, "the archive holds %d images; pick one with --ref: %s%s", n,
						 *names ? names : "", unnamed ? (*names ? " (and unnamed ones)" : "unnamed ones") : "");
		}
		found = first;
	}
	return desc_parse(found, "index.json: the manifest", ret, err);
}

/* A manifest (OCI or Docker v2) into a plan; blobs are found by `layout`'s naming. */
static int plan_from_manifest(struct plan *p, const cJSON *manifest, const char *manifest_type, bool layout,
			      isofs_error *err)
{
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(manifest, "mediaType");
	const cJSON *sv = cJSON_GetObjectItemCaseSensitive(manifest, "schemaVersion");
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(manifest, "layers"), *l;
	const cJSON *diff_ids, *config_type;
	struct desc cd;
	char path[128];
	size_t i = 0;
	int r;

	if (cJSON_IsString(mt))
		manifest_type = mt->valuestring;
	if (is_index_type(manifest_type))
		return error_set(err, EMEDIUMTYPE, "the manifest is an index of an index: not supported");
	if (manifest_type && !is_manifest_type(manifest_type))
		return error_set(err, EMEDIUMTYPE, "unsupported manifest media type '%.100s'", manifest_type);
	if (!cJSON_IsNumber(sv) || sv->valueint != 2)
		return error_set(err, EMEDIUMTYPE, "unsupported manifest schema version (only 2 is)");
	r = desc_parse(cJSON_GetObjectItemCaseSensitive(manifest, "config"), "the manifest's config", &cd, err);
	if (r < 0)
		return r;
	if (cd.media_type && strcmp(cd.media_type, OCI_MT_CONFIG) != 0 && strcmp(cd.media_type, DOCKER_MT_CONFIG) != 0)
		return error_set(err, EMEDIUMTYPE, "unsupported config media type '%.100s'", cd.media_type);
	if (layout)
		r = blob_path(cd.digest, path, sizeof(path));
	else
		r = snprintf(path, sizeof(path), "%s", digest_hex(cd.digest)) < (int) sizeof(path) ? 0 : -ENAMETOOLONG;
	if (r < 0)
		return error_set(err, -r, "config path too long");
	r = read_json_file(p->dirfd, path, cd.digest, cd.size, "the config", &p->config, err);
	if (r < 0)
		return r;
	snprintf(p->config_digest, sizeof(p->config_digest), "%s", cd.digest);
	config_type = cJSON_GetObjectItemCaseSensitive(p->config, "rootfs");
	diff_ids = cJSON_GetObjectItemCaseSensitive(config_type, "diff_ids");
	if (!cJSON_IsArray(layers) || !cJSON_IsArray(diff_ids))
		return error_set(err, EBADMSG, "the manifest or the config lists no layers");
	if (cJSON_GetArraySize(layers) != cJSON_GetArraySize(diff_ids))
		return error_set(err, EBADMSG, "the manifest lists %d layers, the config %d", cJSON_GetArraySize(layers),
				 cJSON_GetArraySize(diff_ids));
	if (cJSON_GetArraySize(layers) > LAYERS_MAX_OCI)
		return error_set(err, E2BIG, "the image has %d layers, more than %d", cJSON_GetArraySize(layers),
				 LAYERS_MAX_OCI);
	p->layers = calloc((size_t) cJSON_GetArraySize(layers) + 1, sizeof(*p->layers));
	if (!p->layers)
		return error_set(err, ENOMEM, "out of memory");
	cJSON_ArrayForEach(l, layers) {
		struct plan_layer *pl = &p->layers[i];
		const cJSON *di = cJSON_GetArrayItem(diff_ids, (int) i);
		char what[64];
		struct desc ld;

		snprintf(what, sizeof(what), "layer %zu", i + 1);
		r = desc_parse(l, what, &ld, err);
		if (r < 0)
			return r;
		if (!cJSON_IsString(di) || !digest_is_valid(di->valuestring))
			return error_set(err, EBADMSG, "the config's diff_id %zu is not sha256:<64 hex digits>", i + 1);
		if (ld.media_type && !oci_layer_media_type_is_supported(ld.media_type))
			return error_set(err, EMEDIUMTYPE, "layer %zu: unsupported media type '%.100s'", i + 1,
					 ld.media_type);
		p->n = i + 1;
		if (layout ? blob_path(ld.digest, path, sizeof(path)) < 0 : 0)
			return error_set(err, ENAMETOOLONG, "layer path too long");
		pl->path = layout ? strdup(path) : strdup(digest_hex(ld.digest));
		pl->media_type = ld.media_type ? strdup(ld.media_type) : NULL;
		if (!pl->path || (ld.media_type && !pl->media_type))
			return error_set(err, ENOMEM, "out of memory");
		snprintf(pl->digest, sizeof(pl->digest), "%s", ld.digest);
		pl->size = ld.size;
		snprintf(pl->diff_id, sizeof(pl->diff_id), "%s", di->valuestring);
		i++;
	}
	return 0;
}

static int plan_oci_layout(struct plan *p, const char *ref, isofs_error *err)
{
	_cleanup_json_ cJSON *index = NULL;
	_cleanup_json_ cJSON *manifest = NULL;
	struct desc d;
	int r;

	r = read_json_file(p->dirfd, "index.json", NULL, -1, "index.json", &index, err);
	if (r < 0)
		return r;
	r = index_pick(index, ref, &d, err);
	if (r < 0)
		return r;
	if (is_index_type(d.media_type)) {
		/* a multi-platform image: its index, then this host's manifest */
		_cleanup_json_ cJSON *inner = NULL;
		r = read_blob_json(p->dirfd, &d, "the image index", &inner, err);
		if (r < 0)
			return r;
		r = platform_pick(cJSON_GetObjectItemCaseSensitive(inner, "manifests"), "the image index", &d, err);
		if (r < 0)
			return r;
	}
	r = read_blob_json(p->dirfd, &d, "the manifest", &manifest, err);
	if (r < 0)
		return r;
	snprintf(p->manifest_digest, sizeof(p->manifest_digest), "%s", d.digest);
	return plan_from_manifest(p, manifest, d.media_type, true, err);
}

static int plan_dir_transport(struct plan *p, isofs_error *err)
{
	_cleanup_json_ cJSON *manifest = NULL;
	_cleanup_close_ int fd = source_open(p->dirfd, "manifest.json", err);
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	if (fd < 0)
		return fd;
	/* one read: the digest recorded is the one of the bytes parsed */
	r = read_fd_all(fd, OCI_JSON_MAX, &text, &len);
	if (r < 0)
		return r == -EFBIG ? error_set(err, EFBIG, "manifest.json is larger than %u bytes", OCI_JSON_MAX)
				   : error_errno(err, r, "manifest.json");
	r = digest_buffer(text, len, p->manifest_digest, err);
	if (r < 0)
		return r;
	manifest = cJSON_ParseWithLength(text, len);
	if (!manifest)
		return error_set(err, EBADMSG, "manifest.json is not valid JSON");
	return plan_from_manifest(p, manifest, NULL, false, err);
}

/* ---- docker-archive ------------------------------------------------------ */

/* A file named by its digest ("blobs/sha256/HEX", "HEX.json", "HEX.tar"): that digest, checked; else "". */
static void digest_from_name(const char *path, const char *suffix, char out[DIGEST_STRING_MAX])
{
	const char *base = strrchr(path, '/');
	char candidate[DIGEST_STRING_MAX + 16];
	size_t n;

	out[0] = '\0';
	base = base ? base + 1 : path;
	n = strlen(base);
	if (n >= strlen(suffix) && strcmp(base + n - strlen(suffix), suffix) == 0)
		n -= strlen(suffix);
	if (n != DIGEST_HEX_LEN)
		return;
	if (*suffix == '\0' && strncmp(path, "blobs/sha256/", 13) != 0)
		return; /* a bare HEX elsewhere says nothing */
	snprintf(candidate, sizeof(candidate), DIGEST_ALGO "%.*s", (int) n, base);
	if (digest_is_valid(candidate))
		memcpy(out, candidate, DIGEST_STRING_MAX);
}

static int plan_docker_archive(struct plan *p, const cJSON *manifest, const char *ref, isofs_error *err)
{
	const cJSON *entry = NULL, *e, *config, *layers, *l, *diff_ids;
	char names[1024] = "", config_digest[DIGEST_STRING_MAX];
	int n = cJSON_GetArraySize(manifest), r;
	size_t i = 0;

	cJSON_ArrayForEach(e, manifest) {
		const cJSON *tags = cJSON_GetObjectItemCaseSensitive(e, "RepoTags"), *t;
		cJSON_ArrayForEach(t, tags) {
			if (!cJSON_IsString(t))
				continue;
			choices_add(names, sizeof(names), t->valuestring);
			if (ref && !entry && ref_matches(t->valuestring, ref))
				entry = e;
		}
	}
	if (n == 0)
		return error_set(err, EBADMSG, "manifest.json lists no images");
	if (ref && !entry)
		return error_set(err, ENOENT, "the archive has no image '%s' (it has: %s)", ref,
				 *names ? names : "no tagged images");
	if (!ref && n > 1)
		return error_set(err, EINVAL, "the archive holds %d images; pick one with --ref: %s", n,
				 *names ? names : "(untagged)");
	if (!entry)
		entry = manifest->child;
	config = cJSON_GetObjectItemCaseSensitive(entry, "Config");
	layers = cJSON_GetObjectItemCaseSensitive(entry, "Layers");
	if (!cJSON_IsString(config) || !cJSON_IsArray(layers))
		return error_set(err, EBADMSG, "manifest.json: an image without Config or Layers");
	digest_from_name(config->valuestring, ".json", config_digest);
	if (!*config_digest)
		digest_from_name(config->valuestring, "", config_digest);
	r = read_json_file(p->dirfd, config->valuestring, *config_digest ? config_digest : NULL, -1, "the config",
			   &p->config, err);
	if (r < 0)
		return r;
	snprintf(p->config_digest, sizeof(p->config_digest), "%s", config_digest);
	diff_ids = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p->config, "rootfs"), "diff_ids");
	if (!cJSON_IsArray(diff_ids) || cJSON_GetArraySize(diff_ids) != cJSON_GetArraySize(layers))
		return error_set(err, EBADMSG, "manifest.json lists %d layers, the config %d", cJSON_GetArraySize(layers),
				 cJSON_GetArraySize(diff_ids));
	if (cJSON_GetArraySize(layers) > LAYERS_MAX_OCI)
		return error_set(err, E2BIG, "the image has more than %d layers", LAYERS_MAX_OCI);
	p->layers = calloc((size_t) cJSON_GetArraySize(layers) + 1, sizeof(*p->layers));
	if (!p->layers)
		return error_set(err, ENOMEM, "out of memory");
	cJSON_ArrayForEach(l, layers) {
		struct plan_layer *pl = &p->layers[i];
		const cJSON *di = cJSON_GetArrayItem(diff_ids, (int) i);

		if (!cJSON_IsString(l))
			return error_set(err, EBADMSG, "manifest.json: layer %zu is not a path", i + 1);
		if (!cJSON_IsString(di) || !digest_is_valid(di->valuestring))
			return error_set(err, EBADMSG, "the config's diff_id %zu is not sha256:<64 hex digits>", i + 1);
		p->n = i + 1;
		if (!(pl->path = strdup(l->valuestring)))
			return error_set(err, ENOMEM, "out of memory");
		digest_from_name(l->valuestring, "", pl->digest); /* blobs/sha256/HEX; "HEX.tar" names the tar */
		pl->size = -1;
		snprintf(pl->diff_id, sizeof(pl->diff_id), "%s", di->valuestring);
		i++;
	}
	return 0;
}

/* ---- the import ------------------------------------------------------------ */

/* A layer extracted, not yet published. */
struct new_layer {
	store_tmpdir tmp;
	int rootfd;
	isofs_import_stats stats;
};
struct new_layers {
	struct new_layer *v;
	size_t n;
};

static void new_layers_free(struct new_layers *l)
{
	for (size_t i = 0; l->v && i < l->n; i++) {
		store_tmpdir_discard(&l->v[i].tmp);
		closep(&l->v[i].rootfd);
	}
	free(l->v);
}

static void holds_close(int *holds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		closep(&holds[i]);
}

static int plan_import(isofs_store *store, const char *name, const struct plan *p, const char *source,
		       const isofs_import_options *opts, isofs_import_stats *ret_stats, isofs_error *err)
{
	_cleanup_tmpdir_ store_tmpdir tmp = { .fd = -EBADF };
	_cleanup_close_ int rootfd = -EBADF;
	_cleanup_free_ int *holds = calloc(p->n + 1, sizeof(int));
	_cleanup_free_ const char **diff_ids = calloc(p->n + 1, sizeof(char *));
	_cleanup_(new_layers_free) struct new_layers nl = { .n = p->n, .v = calloc(p->n + 1, sizeof(*nl.v)) };
	struct new_layer *new_layers = nl.v;
	struct oci_progress progress = { .opts = opts };
	_cleanup_free_ bool *have = calloc(p->n + 1, sizeof(bool));
	isofs_import_stats stats = { 0 };
	size_t nheld = 0;
	int r;

	if (!holds || !diff_ids || !new_layers || !have)
		return error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n; i++) {
		new_layers[i].tmp.fd = -EBADF;
		new_layers[i].rootfd = -EBADF;
	}
	/* The name first: a taken one fails before any work. */
	r = image_begin(store, name, &tmp, &rootfd, err);
	for (size_t i = 0; r == 0 && i < p->n; i++) {
		struct stat st;
		diff_ids[i] = p->layers[i].diff_id;
		/* A layer the store has is neither read nor needed: its counters count. */
		if (layer_store_hold(store, p->layers[i].diff_id, &holds[nheld]) == 0) {
			uint64_t bytes, files;
			layer_store_usage(store, p->layers[i].diff_id, &bytes, &files, &stats);
			nheld++;
			have[i] = true;
		} else {
			_cleanup_close_ int fd = source_open(p->dirfd, p->layers[i].path, NULL);
			if (fd >= 0 && fstat(fd, &st) == 0)
				progress.progress.bytes_total += (uint64_t) st.st_size;
		}
	}
	/* Every missing layer extracted first, made durable at once (one syncfs), then published. */
	for (size_t i = 0; r == 0 && i < p->n; i++) {
		const struct plan_layer *pl = &p->layers[i];
		char what[128];
		struct oci_blob blob = {
			.what = what,
			.media_type = pl->media_type,
			.digest = *pl->digest && !p->blobs_verified ? pl->digest : NULL,
			.size = pl->size,
			.diff_id = pl->diff_id,
		};
		_cleanup_close_ int fd = -EBADF;

		if (have[i])
			continue;
		snprintf(what, sizeof(what), "layer %zu of %zu (%.19s…)", i + 1, p->n, pl->diff_id);
		fd = source_open(p->dirfd, pl->path, err);
		if (fd < 0) {
			r = error_prefix(err, fd, "%s", what);
			break;
		}
		blob.fd = fd;
		r = oci_layer_extract(store, &blob, &progress, &new_layers[i].stats, &new_layers[i].tmp,
				      &new_layers[i].rootfd, err);
	}
	for (size_t i = 0; r == 0 && i < p->n; i++)
		if (!have[i] && new_layers[i].rootfd >= 0) {
			if (syncfs(new_layers[i].rootfd) < 0)
				r = error_errno(err, errno, "layers: sync");
			break;
		}
	for (size_t i = 0; r == 0 && i < p->n; i++) {
		if (have[i])
			continue;
		r = layer_store_commit(store, p->layers[i].diff_id, &new_layers[i].tmp, new_layers[i].rootfd,
				       &new_layers[i].stats, true, &holds[nheld], err);
		if (r == 0) {
			image_stats_add(&stats, &new_layers[i].stats);
			nheld++;
		}
	}
	if (r == 0) {
		const cJSON *config = cJSON_GetObjectItemCaseSensitive(p->config, "config");
		struct image_oci oci = {
			.layers = diff_ids,
			.nlayers = p->n,
			.config = cJSON_IsObject(config) ? config : NULL,
			.manifest_digest = *p->manifest_digest ? p->manifest_digest : NULL,
			.config_digest = *p->config_digest ? p->config_digest : NULL,
		};
		r = image_commit(store, name, source, NULL, &tmp, rootfd, &stats, &oci, err);
	}
	holds_close(holds, nheld);
	if (r < 0) {
		/* Layers this import added and no image lists go again. */
		(void) layer_store_collect(store, NULL);
		return r;
	}
	if (ret_stats)
		*ret_stats = stats;
	return 0;
}

int oci_source_import(isofs_store *store, const char *name, int dirfd, enum oci_source_kind kind, const char *ref,
		      const char *source, const isofs_import_options *opts, isofs_import_stats *ret_stats,
		      isofs_error *err)
{
	_cleanup_(plan_free) struct plan p = { .dirfd = dirfd };
	_cleanup_json_ cJSON *manifest = NULL;
	int r;

	switch (kind) {
	case OCI_SOURCE_LAYOUT:
		r = plan_oci_layout(&p, ref, err);
		break;
	case OCI_SOURCE_DOCKER_ARCHIVE:
		r = read_json_file(dirfd, "manifest.json", NULL, -1, "manifest.json", &manifest, err);
		if (r == 0)
			r = plan_docker_archive(&p, manifest, ref, err);
		break;
	case OCI_SOURCE_DIR:
		r = ref ? error_set(err, EINVAL, "--ref: a containers/image directory holds one image") :
			  plan_dir_transport(&p, err);
		break;
	default:
		r = error_set(err, EINVAL, "not an image archive");
	}
	if (r < 0)
		return r;
	return plan_import(store, name, &p, source, opts, ret_stats, err);
}

int oci_layout_import(isofs_store *store, const char *name, int layout_fd, const char *ref, const char *source,
		      bool blobs_verified, const isofs_import_options *opts, isofs_import_stats *ret_stats,
		      isofs_error *err)
{
	_cleanup_(plan_free) struct plan p = { .dirfd = layout_fd, .blobs_verified = blobs_verified };
	int r = plan_oci_layout(&p, ref, err);

	return r < 0 ? r : plan_import(store, name, &p, source, opts, ret_stats, err);
}
