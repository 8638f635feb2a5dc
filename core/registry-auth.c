/* SPDX-License-Identifier: MIT */
#include "registry-auth.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "json-util.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *registry_base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned) in[i] << 16 | (i + 1 < len ? (unsigned) in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);
		*p++ = b64[v >> 18 & 63];
		*p++ = b64[v >> 12 & 63];
		*p++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*p++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*p = '\0';
	return out;
}

int registry_base64_decode(const char *s, char **ret, size_t *ret_len)
{
	size_t n = strlen(s), len = 0;
	_cleanup_free_ char *out = NULL;
	unsigned v = 0, bits = 0;
	size_t pad = 0;

	if (n % 4)
		return -EINVAL;
	out = malloc(n / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *c;
		if (s[i] == '=') {
			/* only at the end, at most two */
			if (i + 2 < n || ++pad > 2)
				return -EINVAL;
			continue;
		}
		if (pad || !(c = strchr(b64, s[i])) || !s[i])
			return -EINVAL;
		v = v << 6 | (unsigned) (c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[len++] = (char) (v >> bits & 0xff);
		}
	}
	out[len] = '\0';
	*ret = TAKE_PTR(out);
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* An auths key without scheme and trailing '/': "https://index.docker.io/v1/" is "index.docker.io/v1". */
static void normalize_key(const char *key, char *out, size_t size)
{
	const char *p = strstr(key, "://");
	size_t n;

	p = p ? p + 3 : key;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/*
 * How well `key` names registry/repository: the length matched (the longer,
 * the more specific), 0 when it does not.  docker.io's credentials are also
 * found under the names docker itself writes (index.docker.io/v1).
 */
static size_t key_match(const char *key, const char *registry, const char *repository)
{
	char k[1024], full[1024];
	size_t kn, rn = strlen(registry);

	normalize_key(key, k, sizeof(k));
	if (!strcmp(registry, "docker.io") &&
	    (!strcmp(k, "index.docker.io/v1") || !strcmp(k, "index.docker.io") || !strcmp(k, "registry-1.docker.io")))
		return rn;
	if (strcmp(k, registry) == 0)
		return rn;
	snprintf(full, sizeof(full), "%s/%s", registry, repository);
	kn = strlen(k);
	if (kn > rn && strncmp(full, k, kn) == 0 && (full[kn] == '\0' || full[kn] == '/'))
		return kn;
	return 0;
}

/* 1 with credentials, 0 without an entry, -errno. */
static int lookup_file(const char *path, bool must_exist, const char *registry, const char *repository,
		       char **ret_user, char **ret_pass, isofs_error *err)
{
	_cleanup_free_ char *text = NULL, *decoded = NULL;
	_cleanup_json_ cJSON *root = NULL;
	const cJSON *auths, *entry, *best = NULL;
	size_t best_len = 0;
	char *colon;
	int r;

	r = read_file_at(AT_FDCWD, path, REGISTRY_AUTHFILE_MAX, &text, NULL);
	if (r == -ENOENT && !must_exist)
		return 0;
	if (r == -EFBIG)
		return error_set(err, EFBIG, "auth file %s: larger than %u bytes", path, REGISTRY_AUTHFILE_MAX);
	if (r < 0)
		return error_errno(err, -r, "auth file %s", path);
	root = cJSON_Parse(text);
	if (!root || !cJSON_IsObject(root))
		return error_set(err, EINVAL, "auth file %s: not a JSON object", path);
	auths = cJSON_GetObjectItemCaseSensitive(root, "auths");
	if (!auths)
		return 0;
	if (!cJSON_IsObject(auths))
		return error_set(err, EINVAL, "auth file %s: \"auths\" is not an object", path);
	cJSON_ArrayForEach(entry, auths)
	{
		size_t m = entry->string ? key_match(entry->string, registry, repository) : 0;
		if (m > best_len) {
			best = entry;
			best_len = m;
		}
	}
	if (!best)
		return 0;
	entry = cJSON_GetObjectItemCaseSensitive(best, "auth");
	if (!cJSON_IsString(entry) || !entry->valuestring[0])
		return 0; /* e.g. a credential helper's entry: nothing here */
	if (registry_base64_decode(entry->valuestring, &decoded, NULL) < 0 || !(colon = strchr(decoded, ':')))
		return error_set(err, EINVAL, "auth file %s: the \"auth\" of %s is not base64 of user:password", path,
				 best->string);
	*colon = '\0';
	*ret_user = strdup(decoded);
	*ret_pass = strdup(colon + 1);
	if (!*ret_user || !*ret_pass) {
		free(*ret_user);
		free(*ret_pass);
		return error_set(err, ENOMEM, "out of memory");
	}
	return 1;
}

int registry_auth_lookup(const char *authfile, const char *registry, const char *repository, char **ret_user,
			 char **ret_pass, isofs_error *err)
{
	const char *env, *home = getenv("HOME");
	char paths[4][4096];
	size_t n = 0;

	if (authfile)
		return lookup_file(authfile, true, registry, repository, ret_user, ret_pass, err);
	if ((env = getenv("REGISTRY_AUTH_FILE")) && *env)
		return lookup_file(env, true, registry, repository, ret_user, ret_pass, err);
	if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
		snprintf(paths[n++], sizeof(paths[0]), "%s/containers/auth.json", env);
	if (home && *home) {
		snprintf(paths[n++], sizeof(paths[0]), "%s/.config/containers/auth.json", home);
		snprintf(paths[n++], sizeof(paths[0]), "%s/.docker/config.json", home);
	}
	for (size_t i = 0; i < n; i++) {
		int r = lookup_file(paths[i], false, registry, repository, ret_user, ret_pass, err);
		if (r != 0)
			return r;
	}
	return 0;
}

/* Copies the value of `param` into out; quoted-string with backslash escapes, or a token. */
static int challenge_params(const char *p, registry_challenge *c)
{
	while (*p) {
		char key[32], val[1024];
		size_t kn = 0, vn = 0;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		while (*p && *p != '=' && *p != ' ' && kn < sizeof(key) - 1)
			key[kn++] = *p++;
		key[kn] = '\0';
		if (*p != '=')
			return -EINVAL;
		p++;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (vn >= sizeof(val) - 1)
					return -EINVAL;
				val[vn++] = *p;
			}
			if (*p != '"')
				return -EINVAL;
			p++;
		} else {
			while (*p && *p != ',' && *p != ' ') {
				if (vn >= sizeof(val) - 1)
					return -EINVAL;
				val[vn++] = *p++;
			}
		}
		val[vn] = '\0';
		/* a value longer than its field is refused, not cut */
		if (!strcasecmp(key, "realm") && vn < sizeof(c->realm))
			memcpy(c->realm, val, vn + 1);
		else if (!strcasecmp(key, "service") && vn < sizeof(c->service))
			memcpy(c->service, val, vn + 1);
		else if (!strcasecmp(key, "scope") && vn < sizeof(c->scope))
			memcpy(c->scope, val, vn + 1);
		else if (!strcasecmp(key, "error") && vn < sizeof(c->error))
			memcpy(c->error, val, vn + 1);
		else if (!strcasecmp(key, "realm") || !strcasecmp(key, "service") || !strcasecmp(key, "scope") ||
			 !strcasecmp(key, "error"))
			return -EINVAL;
	}
	return 0;
}

int registry_challenge_parse(const char *header, registry_challenge *ret)
{
	registry_challenge c = { 0 };

	while (*header == ' ')
		header++;
	if (!strncasecmp(header, "Bearer ", 7)) {
		c.scheme = REGISTRY_AUTH_BEARER;
		header += 7;
	} else if (!strncasecmp(header, "Basic", 5) && (header[5] == ' ' || header[5] == '\0')) {
		c.scheme = REGISTRY_AUTH_BASIC;
		header += 5;
	} else {
		return -EINVAL;
	}
	if (challenge_params(header, &c) < 0)
		return -EINVAL;
	if (c.scheme == REGISTRY_AUTH_BEARER && strncmp(c.realm, "https://", 8) && strncmp(c.realm, "http://", 7))
		return -EINVAL;
	*ret = c;
	return 0;
}
