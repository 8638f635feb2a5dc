/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 digests in the OCI form "sha256:<64 lowercase hex>", computed by
 * OpenSSL's libcrypto.  libcrypto is loaded when first needed (as libarchive
 * is, archive-lib.h): a sandbox start never pays for it.
 */
#ifndef ISOFS_DIGEST_H
#define ISOFS_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "isofs.h"

#define DIGEST_ALGO "sha256:"
#define DIGEST_HEX_LEN 64
#define DIGEST_STRING_MAX (sizeof(DIGEST_ALGO) - 1 + DIGEST_HEX_LEN + 1) /* with the NUL */

typedef struct digest_ctx digest_ctx;

/* 0, -ELIBACC (libcrypto missing: reason in err) or -ENOMEM. */
int digest_new(digest_ctx **ret, isofs_error *err);
void digest_free(digest_ctx *d);
void digest_update(digest_ctx *d, const void *buf, size_t len);
/* The digest of everything given so far, in `out` ("sha256:…"); the context starts over. */
void digest_final(digest_ctx *d, char out[DIGEST_STRING_MAX]);
/* Of one buffer. */
int digest_buffer(const void *buf, size_t len, char out[DIGEST_STRING_MAX], isofs_error *err);
/* Of a file from its current offset to its end. */
int digest_fd(int fd, char out[DIGEST_STRING_MAX], isofs_error *err);

static inline void digest_freep(digest_ctx **d)
{
	digest_free(*d);
}
#define _cleanup_digest_ __attribute__((cleanup(digest_freep)))

/* "sha256:" and exactly 64 lowercase hex digits: the only digests isofs accepts (they name files). */
bool digest_is_valid(const char *s);
/* The hex part of a valid digest. */
static inline const char *digest_hex(const char *digest)
{
	return digest + sizeof(DIGEST_ALGO) - 1;
}

#endif
