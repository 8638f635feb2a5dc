/* SPDX-License-Identifier: MIT */
#include "registry-ref.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

/* The longest reference read at all: repository, registry, tag and digest together fit well below. */
#define REF_MAX 1024

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_word(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_';
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool component_is_valid(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	while (i < n) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		if (s[i] == '.' || s[i] == '_') {
			size_t run = 0;
			while (i + run < n && s[i + run] == s[i])
				run++;
			if (run > (s[i] == '_' ? 2u : 1u))
				return false;
			i += run;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i >= n || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

/* host[:port]: DNS labels (letters, digits, '-', '.') or a bracketed IPv6 address. */
static bool registry_is_valid(const char *s, size_t n)
{
	size_t i = 0, host_end;

	if (n == 0)
		return false;
	if (s[0] == '[') {
		while (i < n && s[i] != ']')
			i++;
		if (i >= n || i == 1)
			return false;
		for (size_t j = 1; j < i; j++)
			if (!strchr("0123456789abcdefABCDEF:.", s[j]))
				return false;
		host_end = ++i;
	} else {
		while (i < n && s[i] != ':') {
			char c = s[i];
			if (!(is_word(c) && c != '_') && c != '-' && c != '.')
				return false;
			i++;
		}
		host_end = i;
		if (host_end == 0 || s[0] == '-' || s[0] == '.' || s[host_end - 1] == '-' || s[host_end - 1] == '.')
			return false;
	}
	if (i == n)
		return true;
	if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
		return false;
	for (i++; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return host_end > 0;
}

static bool tag_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > REGISTRY_TAG_MAX || !is_word(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

#define bad(...) error_set(err, EINVAL, "invalid reference '%s': " __VA_ARGS__)

int registry_ref_parse(const char *s, registry_ref *ret_ref, isofs_error *err)
{
	char buf[REF_MAX + 1];
	registry_ref ref = { 0 };
	char *name, *at, *slash, *colon;
	size_t n;

	if (!s || !*s)
		return error_set(err, EINVAL, "invalid reference '': empty");
	n = strlen(s);
	if (n > REF_MAX)
		return error_set(err, EINVAL, "invalid reference: longer than %d characters", REF_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) s[i] <= ' ' || (unsigned char) s[i] >= 0x7f)
			return bad("a space or a control or non-ASCII character", s);
	memcpy(buf, s, n + 1);
	name = buf;

	at = strchr(name, '@');
	if (at) {
		*at++ = '\0';
		if (strncmp(at, DIGEST_ALGO, sizeof(DIGEST_ALGO) - 1) != 0)
			return bad("the digest '%s' is not sha256:<64 hex digits> (the only algorithm supported)", s, at);
		if (!digest_is_valid(at))
			return bad("the digest '%s' is not sha256:<64 lowercase hex digits>", s, at);
		memcpy(ref.digest, at, strlen(at) + 1);
	}

	slash = strchr(name, '/');
	if (slash) {
		size_t first = (size_t) (slash - name);
		bool lower = true;
		for (size_t i = 0; i < first; i++)
			if (name[i] >= 'A' && name[i] <= 'Z')
				lower = false;
		/* docker's rule: a first component with '.' or ':', "localhost", or capitals is a registry */
		if (memchr(name, '.', first) || memchr(name, ':', first) || (first == 9 && !memcmp(name, "localhost", 9)) ||
		    !lower) {
			if (!registry_is_valid(name, first) || first >= sizeof(ref.registry))
				return bad("'%.*s' is not a registry host[:port]", s, (int) first, name);
			memcpy(ref.registry, name, first);
			name = slash + 1;
		}
	}
	if (!ref.registry[0] || !strcmp(ref.registry, "index.docker.io"))
		strcpy(ref.registry, REGISTRY_DEFAULT);

	/* A tag is after the last ':' that follows the last '/'. */
	slash = strrchr(name, '/');
	colon = strrchr(slash ? slash : name, ':');
	if (colon) {
		*colon++ = '\0';
		if (!tag_is_valid(colon))
			return bad("the tag '%s' is not 1-%d of A-Z a-z 0-9 _ . - (not starting with . or -)", s, colon,
				   REGISTRY_TAG_MAX);
		memcpy(ref.tag, colon, strlen(colon) + 1);
	} else if (!ref.digest[0]) {
		strcpy(ref.tag, "latest");
	}

	if (!*name)
		return bad("no repository", s);
	for (const char *p = name;;) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t) (e - p) : strlen(p);
		if (!component_is_valid(p, len))
			return bad("the repository '%s' must be lowercase letters and digits, in components split by "
				   "'/' and joined by '.', '_', '__' or '-'",
				   s, name);
		if (!e)
			break;
		p = e + 1;
	}
	if (!strcmp(ref.registry, REGISTRY_DEFAULT) && !strchr(name, '/')) {
		if (snprintf(ref.repository, sizeof(ref.repository), "library/%s", name) >= (int) sizeof(ref.repository))
			return bad("the repository is longer than %d characters", s, REGISTRY_REPOSITORY_MAX);
	} else {
		if (strlen(name) > REGISTRY_REPOSITORY_MAX)
			return bad("the repository is longer than %d characters", s, REGISTRY_REPOSITORY_MAX);
		strcpy(ref.repository, name);
	}
	*ret_ref = ref;
	return 0;
}

const char *registry_ref_host(const registry_ref *ref)
{
	return strcmp(ref->registry, REGISTRY_DEFAULT) ? ref->registry : REGISTRY_DOCKER_HUB_HOST;
}

const char *registry_ref_reference(const registry_ref *ref)
{
	return ref->digest[0] ? ref->digest : ref->tag;
}

void registry_ref_format(const registry_ref *ref, char *buf, size_t size)
{
	(void) snprintf(buf, size, "%s/%s%s%s%s%s", ref->registry, ref->repository, ref->tag[0] ? ":" : "", ref->tag,
			ref->digest[0] ? "@" : "", ref->digest);
}

int registry_ref_image_name(const registry_ref *ref, char ret_name[ISOFS_NAME_MAX + 1], isofs_error *err)
{
	const char *base = strrchr(ref->repository, '/');
	char name[2 * REGISTRY_REPOSITORY_MAX];

	base = base ? base + 1 : ref->repository;
	if (ref->tag[0])
		snprintf(name, sizeof(name), "%s-%s", base, ref->tag);
	else
		snprintf(name, sizeof(name), "%s-%.12s", base, digest_hex(ref->digest));
	if (!isofs_name_is_valid(name))
		return error_set(err, EINVAL, "cannot name the image after the reference ('%s' is not a valid image name): "
				 "give NAME", name);
	memcpy(ret_name, name, strlen(name) + 1);
	return 0;
}
