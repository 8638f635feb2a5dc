/* SPDX-License-Identifier: MIT */
/*
 * Registry credentials and challenges.  Credentials come from the auth.json
 * podman, skopeo and docker write ({"auths": {"HOST[/PATH]": {"auth":
 * base64("user:pass")}}}), the first of: the file given (and only it), else
 * $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * ~/.config/containers/auth.json, ~/.docker/config.json — the first file
 * with an entry for the registry wins, the entry naming the longest part of
 * the repository first ("HOST/ns/repo" before "HOST").  A challenge is a
 * WWW-Authenticate header: Bearer (a token from realm, for service and
 * scope) or Basic.
 */
#ifndef ISOFS_REGISTRY_AUTH_H
#define ISOFS_REGISTRY_AUTH_H

#include "isofs.h"

/* Largest auth.json read. */
#define REGISTRY_AUTHFILE_MAX (1u << 20)

/*
 * 1 and *ret_user, *ret_pass (malloc'ed) when a file has credentials for
 * `registry` ("host[:port]") and `repository`, 0 when none does, or -errno
 * (a given file missing, a file that is not JSON or whose entry does not
 * decode) with the reason in err.
 */
int registry_auth_lookup(const char *authfile, const char *registry, const char *repository, char **ret_user,
			 char **ret_pass, isofs_error *err);

typedef enum registry_auth_scheme {
	REGISTRY_AUTH_NONE,
	REGISTRY_AUTH_BASIC,
	REGISTRY_AUTH_BEARER,
} registry_auth_scheme;

typedef struct registry_challenge {
	registry_auth_scheme scheme;
	char realm[1024];
	char service[256];
	char scope[512];
	char error[64]; /* RFC 6750's: "invalid_token" (expired, or not signed as it trusts), "insufficient_scope" */
} registry_challenge;

/* Parses a WWW-Authenticate value; -EINVAL when it is neither Bearer nor Basic or is malformed. */
int registry_challenge_parse(const char *header, registry_challenge *ret);

/* Standard base64 (with padding) of `len` bytes: malloc'ed, NULL when out of memory. */
char *registry_base64_encode(const void *data, size_t len);
/* Decodes standard base64 into a NUL-terminated malloc'ed buffer; -EINVAL when it is not base64. */
int registry_base64_decode(const char *s, char **ret, size_t *ret_len);

#endif
