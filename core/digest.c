/* SPDX-License-Identifier: MIT */
#include "digest.h"

#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

#define CRYPTO_LIB_SONAME "libcrypto.so.3"

#define CRYPTO_LIB_FUNCS(X) \
	X(EVP_MD_CTX_new) \
	X(EVP_MD_CTX_free) \
	X(EVP_sha256) \
	X(EVP_DigestInit_ex) \
	X(EVP_DigestUpdate) \
	X(EVP_DigestFinal_ex)

static struct {
#define CRYPTO_LIB_MEMBER(f) __typeof__(&f) f;
	CRYPTO_LIB_FUNCS(CRYPTO_LIB_MEMBER)
#undef CRYPTO_LIB_MEMBER
} crypto;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
static char load_error[256];

static void load(void)
{
	void *h = dlopen(CRYPTO_LIB_SONAME, RTLD_NOW | RTLD_LOCAL); /* never closed: the table points into it */

	if (!h) {
		snprintf(load_error, sizeof(load_error), "%s", dlerror());
		return;
	}
#define CRYPTO_LIB_RESOLVE(f)                                                                       \
	if (!(crypto.f = (__typeof__(&f)) dlsym(h, #f))) {                                          \
		snprintf(load_error, sizeof(load_error), "%s has no %s", CRYPTO_LIB_SONAME, #f); \
		return;                                                                             \
	}
	CRYPTO_LIB_FUNCS(CRYPTO_LIB_RESOLVE)
#undef CRYPTO_LIB_RESOLVE
	loaded = true;
}

struct digest_ctx {
	EVP_MD_CTX *md;
};

int digest_new(digest_ctx **ret, isofs_error *err)
{
	digest_ctx *d;

	pthread_once(&load_once, load);
	if (!loaded)
		return error_set(err, ELIBACC, "cannot load libcrypto (%s): %s", CRYPTO_LIB_SONAME, load_error);
	d = calloc(1, sizeof(*d));
	if (!d || !(d->md = crypto.EVP_MD_CTX_new()) || crypto.EVP_DigestInit_ex(d->md, crypto.EVP_sha256(), NULL) != 1) {
		digest_free(d);
		return error_set(err, ENOMEM, "out of memory");
	}
	*ret = d;
	return 0;
}

void digest_free(digest_ctx *d)
{
	if (!d)
		return;
	if (d->md)
		crypto.EVP_MD_CTX_free(d->md);
	free(d);
}

void digest_update(digest_ctx *d, const void *buf, size_t len)
{
	if (len)
		crypto.EVP_DigestUpdate(d->md, buf, len);
}

void digest_final(digest_ctx *d, char out[DIGEST_STRING_MAX])
{
	unsigned char md[32];
	unsigned int n = 0;
	char *p = out + sizeof(DIGEST_ALGO) - 1;

	crypto.EVP_DigestFinal_ex(d->md, md, &n);
	memcpy(out, DIGEST_ALGO, sizeof(DIGEST_ALGO) - 1);
	for (unsigned i = 0; i < 32; i++)
		p += sprintf(p, "%02x", md[i]);
	crypto.EVP_DigestInit_ex(d->md, crypto.EVP_sha256(), NULL);
}

int digest_buffer(const void *buf, size_t len, char out[DIGEST_STRING_MAX], isofs_error *err)
{
	_cleanup_digest_ digest_ctx *d = NULL;
	int r = digest_new(&d, err);

	if (r < 0)
		return r;
	digest_update(d, buf, len);
	digest_final(d, out);
	return 0;
}

int digest_fd(int fd, char out[DIGEST_STRING_MAX], isofs_error *err)
{
	_cleanup_digest_ digest_ctx *d = NULL;
	char buf[65536];
	int r = digest_new(&d, err);

	if (r < 0)
		return r;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_errno(err, errno, "read");
		if (n == 0)
			break;
		digest_update(d, buf, (size_t) n);
	}
	digest_final(d, out);
	return 0;
}

bool digest_is_valid(const char *s)
{
	size_t n = sizeof(DIGEST_ALGO) - 1;

	if (!s || strncmp(s, DIGEST_ALGO, n) != 0 || strlen(s + n) != DIGEST_HEX_LEN)
		return false;
	for (const char *p = s + n; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}
