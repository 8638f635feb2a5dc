/* SPDX-License-Identifier: MIT */
/*
 * A client of one repository of a registry, speaking the OCI distribution
 * API (/v2/) over libcurl: manifests, blobs, uploads.  It connects over
 * https (plain http only with tls_insecure, when the registry answers no
 * TLS), answers 401 challenges (anonymous or basic-authenticated bearer
 * tokens for the repository's pull or pull,push scope; basic auth), and
 * bounds every transfer: a connect timeout, and a transfer that moves less
 * than a byte a second for `timeout` seconds fails.  Everything a registry
 * sends is hostile: bodies are size-capped, digests computed here.
 */
#ifndef ISOFS_REGISTRY_H
#define ISOFS_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "isofs.h"
#include "registry-ref.h"

#define REGISTRY_DEFAULT_TIMEOUT 30
#define REGISTRY_MEDIA_TYPE_MAX 128
/* Layers downloaded at the same time. */
#define REGISTRY_PARALLEL 4

typedef struct registry_client registry_client;

/* A client for ref's repository; `push` asks tokens for pull,push.  Connects (GET /v2/) on first use. */
int registry_client_new(const registry_ref *ref, const isofs_registry_options *opts, bool push,
			registry_client **ret, isofs_error *err);
void registry_client_free(registry_client *c);
static inline void registry_client_freep(registry_client **c)
{
	registry_client_free(*c);
}
#define _cleanup_registry_client_ __attribute__((cleanup(registry_client_freep)))

/* Progress reported through opts->progress from now on: `total` bytes to transfer in `blobs` blobs. */
void registry_progress_start(registry_client *c, uint64_t total);

/*
 * GET manifests/REFERENCE (a tag or a digest), at most OCI_JSON_MAX bytes.
 * Its digest is computed (and must equal REFERENCE when that is a digest,
 * and the Docker-Content-Digest header when there is one); its media type
 * is the body's "mediaType", else the Content-Type.
 */
int registry_get_manifest(registry_client *c, const char *reference, char **ret_body, size_t *ret_len,
			  char ret_media_type[REGISTRY_MEDIA_TYPE_MAX], char ret_digest[DIGEST_STRING_MAX],
			  isofs_error *err);

/* GET blobs/DIGEST into memory: exactly `size` bytes (at most `max`) of that digest. */
int registry_get_blob(registry_client *c, const char *digest, uint64_t size, size_t max, char **ret_body,
		      isofs_error *err);

typedef struct registry_blob {
	char digest[DIGEST_STRING_MAX];
	uint64_t size;
} registry_blob;

/*
 * Downloads blobs in parallel, each into `partial_dirfd`/HEX (resumed with a
 * Range request when a partial file is there), and, once its size and digest
 * are right, renames it to `dest_dirfd`/HEX.  A blob that proves wrong is
 * deleted; one interrupted (timeout, connection lost) is kept for the next
 * try.  The first failure stops all.
 */
int registry_download_blobs(registry_client *c, const registry_blob *blobs, size_t n, int partial_dirfd,
			    int dest_dirfd, isofs_error *err);

/* Partial blobs nobody has touched for this long are removed by registry_partials_clean. */
#define REGISTRY_PARTIAL_MAX_AGE (7 * 24 * 3600)
void registry_partials_clean(int partial_dirfd);

/* 1 when the registry has blob DIGEST in the repository, 0 when not (HEAD). */
int registry_blob_exists(registry_client *c, const char *digest, isofs_error *err);
/* Uploads `size` bytes of `fd` (from offset 0) as blob DIGEST: POST, then one PUT. */
int registry_upload_blob(registry_client *c, const char *digest, int fd, uint64_t size, isofs_error *err);
/* PUT manifests/TAG. */
int registry_put_manifest(registry_client *c, const char *tag, const char *media_type, const void *body,
			  size_t len, isofs_error *err);

/* ---- images to and from a layout (image-pull.c, image-push.c) ---------- */

/* A descriptor of a manifest: media type, digest (valid), size (a whole number ≥ 0). */
typedef struct registry_descriptor {
	char media_type[REGISTRY_MEDIA_TYPE_MAX];
	char digest[DIGEST_STRING_MAX];
	uint64_t size;
} registry_descriptor;
/* -EBADMSG with "WHAT: <why>" in err when `j` is not a valid descriptor. */
struct cJSON;
int registry_descriptor_parse(const struct cJSON *j, const char *what, registry_descriptor *ret, isofs_error *err);

/* "os/arch[/variant]": -EINVAL with the reason when not; NULL `s` is the host's platform. */
typedef struct registry_platform {
	char os[32], arch[32], variant[32];
} registry_platform;
int registry_platform_parse(const char *s, registry_platform *ret, isofs_error *err);

/*
 * Fetches ref's manifest (through an index for `platform`) and config,
 * verified, and writes them into the empty directory `layout_fd` as an OCI
 * image layout whose index.json names the manifest `ref_name`; of its
 * layers, those `store` (may be NULL) lacks are downloaded into it
 * (registry_download_blobs; partial blobs in `partial_dirfd`).
 * ret_digest: the manifest's digest.
 */
int registry_pull_layout(registry_client *c, const registry_ref *ref, const registry_platform *platform,
			 isofs_store *store, int layout_fd, const char *ref_name, int partial_dirfd,
			 char ret_digest[DIGEST_STRING_MAX], isofs_error *err);

/*
 * Uploads the image index.json of the layout at `layout_fd` names
 * `ref_name` (NULL: its only one): the blobs the registry lacks, then the
 * manifest under `tag`.  ret_digest: the manifest's digest.
 */
int registry_push_layout(registry_client *c, int layout_fd, const char *ref_name, const char *tag,
			 char ret_digest[DIGEST_STRING_MAX], isofs_error *err);

#endif
