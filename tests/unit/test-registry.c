/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for what a registry pull parses before any network: image
 * references (core/registry-ref.c), WWW-Authenticate challenges, base64 and
 * auth.json lookups (core/registry-auth.c), platforms (core/image-pull.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry-auth.h"
#include "registry-ref.h"
#include "registry.h"
#include "tap.h"

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void refs(void)
{
	static const struct {
		const char *in, *registry, *repository, *tag, *digest, *name;
	} good[] = {
		{ "debian", "docker.io", "library/debian", "latest", "", "debian-latest" },
		{ "debian:bookworm", "docker.io", "library/debian", "bookworm", "", "debian-bookworm" },
		{ "docker.io/library/debian:bookworm", "docker.io", "library/debian", "bookworm", "", "debian-bookworm" },
		{ "index.docker.io/debian", "docker.io", "library/debian", "latest", "", "debian-latest" },
		{ "user/app:1.0", "docker.io", "user/app", "1.0", "", "app-1.0" },
		{ "quay.io/a/b/c:v_1", "quay.io", "a/b/c", "v_1", "", "c-v_1" },
		{ "localhost/x", "localhost", "x", "latest", "", "x-latest" },
		{ "localhost:5000/x:t", "localhost:5000", "x", "t", "", "x-t" },
		{ "127.0.0.1:5000/test/img:t1", "127.0.0.1:5000", "test/img", "t1", "", "img-t1" },
		{ "[::1]:5000/x", "[::1]:5000", "x", "latest", "", "x-latest" },
		{ "a-b__c/d.e", "docker.io", "a-b__c/d.e", "latest", "", "d.e-latest" },
		{ "a.b_c/e", NULL, NULL, NULL, NULL, NULL }, /* a registry (a dot) with a _ */
		{ "debian@" D64, "docker.io", "library/debian", "", D64, "debian-0123456789ab" },
		{ "debian:12@" D64, "docker.io", "library/debian", "12", D64, "debian-12" },
		{ "My.Registry/x", "My.Registry", "x", "latest", "", "x-latest" },
	};
	static const char *const bad[] = {
		"", "Debian", "foo/Bar", "foo:", "foo@sha256:abc", "foo@md5:d41d8cd98f00b204e9800998ecf8427e",
		"a//b", "/a", "a/", "foo:-x", "foo:.x", "foo bar", "foo\n", "localhost:123456/x", "-x.io/a",
		"a..b", "a___b", "-a", "a-", "x.io/", "x.io:/a", "foo@" D64 "0", "foo@SHA256:0123",
		"été", "a@", "@" D64,
	};
	char long_tag[200];
	isofs_error err;
	registry_ref r;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		char name[ISOFS_NAME_MAX + 1] = "";
		memset(&err, 0, sizeof(err));
		if (!good[i].registry) {
			ok(registry_ref_parse(good[i].in, &r, &err) == -EINVAL, "'%s' refused: %s", good[i].in, err.message);
			continue;
		}
		if (registry_ref_parse(good[i].in, &r, &err) < 0) {
			ok(0, "'%s' parses: %s", good[i].in, err.message);
			continue;
		}
		ok(!strcmp(r.registry, good[i].registry) && !strcmp(r.repository, good[i].repository) &&
			   !strcmp(r.tag, good[i].tag) && !strcmp(r.digest, good[i].digest),
		   "'%s' is %s / %s : %s @ %s", good[i].in, r.registry, r.repository, r.tag, r.digest);
		is_int(registry_ref_image_name(&r, name, &err), 0, "... has a default image name");
		is_str(name, good[i].name, "... which is %s", good[i].name);
	}
	registry_ref_parse("debian", &r, NULL);
	is_str(registry_ref_host(&r), "registry-1.docker.io", "docker.io's API is at registry-1.docker.io");
	is_str(registry_ref_reference(&r), "latest", "the reference asked for is the tag");
	registry_ref_parse("x.io/a:t@" D64, &r, NULL);
	is_str(registry_ref_reference(&r), D64, "... or the digest when there is one");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(&err, 0, sizeof(err));
		ok(registry_ref_parse(bad[i], &r, &err) == -EINVAL && !strncmp(err.message, "invalid reference", 17) &&
			   !strchr(err.message, '\n'),
		   "'%s' refused: %s", bad[i], err.message);
	}
	memset(long_tag, 'a', sizeof(long_tag));
	memcpy(long_tag, "x:", 2);
	long_tag[2 + REGISTRY_TAG_MAX + 1] = '\0';
	ok(registry_ref_parse(long_tag, &r, NULL) == -EINVAL, "a tag of %d characters refused", REGISTRY_TAG_MAX + 1);
	long_tag[2 + REGISTRY_TAG_MAX] = '\0';
	ok(registry_ref_parse(long_tag, &r, NULL) == 0, "one of %d accepted", REGISTRY_TAG_MAX);
	{
		char name[ISOFS_NAME_MAX + 1];
		ok(registry_ref_image_name(&r, name, &err) == -EINVAL, "... but names no image (too long): %s",
		   err.message);
	}
}

static void challenges(void)
{
	registry_challenge c;

	is_int(registry_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
					"scope=\"repository:library/debian:pull\"", &c), 0, "a Bearer challenge parses");
	ok(c.scheme == REGISTRY_AUTH_BEARER, "... Bearer");
	is_str(c.realm, "https://auth.docker.io/token", "... realm");
	is_str(c.service, "registry.docker.io", "... service");
	is_str(c.scope, "repository:library/debian:pull", "... scope");
	is_str(c.error, "", "... no error");
	/* what the reference registry sends for a token it does not accept */
	is_int(registry_challenge_parse("Bearer realm=\"http://127.0.0.1:5001/token\",service=\"s\","
					"scope=\"repository:a/b:pull\",error=\"invalid_token\"", &c), 0,
	       "a Bearer challenge with an error parses");
	is_str(c.error, "invalid_token", "... error");
	is_str(c.scope, "repository:a/b:pull", "... and the scope before it");
	is_int(registry_challenge_parse("Basic realm=\"isofs test\"", &c), 0, "a Basic challenge parses");
	ok(c.scheme == REGISTRY_AUTH_BASIC, "... Basic");
	is_int(registry_challenge_parse("bearer realm=https://x/t, service=s", &c), 0, "unquoted values, any case");
	is_str(c.service, "s", "... service");
	is_int(registry_challenge_parse("Bearer realm=\"a\\\"b\"", &c), -EINVAL, "a realm that is not http(s) refused");
	is_int(registry_challenge_parse("Negotiate abc", &c), -EINVAL, "another scheme refused");
	is_int(registry_challenge_parse("Bearer realm=\"https://x", &c), -EINVAL, "an unterminated quote refused");
	is_int(registry_challenge_parse("Bearer realm", &c), -EINVAL, "a parameter without a value refused");
}

static void base64(void)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar", "user:p@ss:word" };
	static const char *const out[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy",
					   "dXNlcjpwQHNzOndvcmQ=" };
	char *s;
	size_t n;

	for (size_t i = 0; i < sizeof(in) / sizeof(*in); i++) {
		s = registry_base64_encode(in[i], strlen(in[i]));
		is_str(s, out[i], "base64 of '%s'", in[i]);
		free(s);
		s = NULL;
		ok(registry_base64_decode(out[i], &s, &n) == 0 && n == strlen(in[i]) && !memcmp(s, in[i], n),
		   "... decodes back");
		free(s);
	}
	ok(registry_base64_decode("Zm9", &s, &n) == -EINVAL, "a length not a multiple of 4 refused");
	ok(registry_base64_decode("Zm9v!A==", &s, &n) == -EINVAL, "a character not of base64 refused");
	ok(registry_base64_decode("Z===", &s, &n) == -EINVAL, "three '=' refused");
	ok(registry_base64_decode("Zg==Zg==", &s, &n) == -EINVAL, "'=' in the middle refused");
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		bail_out("cannot write %s", path);
}

static void authfiles(void)
{
	char dir[] = "/tmp/isofs-test-registry.XXXXXX", path[1024], home[256];
	char *user = NULL, *pass = NULL;
	isofs_error err = { 0 };

	if (!mkdtemp(dir))
		bail_out("mkdtemp");
	snprintf(path, sizeof(path), "%s/auth.json", dir);
	/* "alice:s3cret", "bob:pw", "carol:x" */
	write_text(path, "{\"auths\": {\"reg.example:5000\": {\"auth\": \"YWxpY2U6czNjcmV0\"},"
			 "\"reg.example:5000/team\": {\"auth\": \"Ym9iOnB3\"},"
			 "\"https://index.docker.io/v1/\": {\"auth\": \"Y2Fyb2w6eA==\"},"
			 "\"bad.example\": {\"auth\": \"!!!\"}, \"helper.example\": {}}}");
	is_int(registry_auth_lookup(path, "reg.example:5000", "other/app", &user, &pass, &err), 1, "auth.json: host entry");
	ok(user && pass && !strcmp(user, "alice") && !strcmp(pass, "s3cret"), "... alice:s3cret");
	free(user), free(pass), user = pass = NULL;
	is_int(registry_auth_lookup(path, "reg.example:5000", "team/app", &user, &pass, &err), 1,
	       "an entry naming a namespace");
	ok(user && !strcmp(user, "bob"), "... wins over the host's");
	free(user), free(pass), user = pass = NULL;
	is_int(registry_auth_lookup(path, "reg.example:5000", "teamx/app", &user, &pass, &err), 1, "a longer name");
	ok(user && !strcmp(user, "alice"), "... is not that namespace");
	free(user), free(pass), user = pass = NULL;
	is_int(registry_auth_lookup(path, "docker.io", "library/debian", &user, &pass, &err), 1,
	       "docker.io under docker's own key");
	ok(user && !strcmp(user, "carol"), "... carol");
	free(user), free(pass), user = pass = NULL;
	is_int(registry_auth_lookup(path, "other.example", "x", &user, &pass, &err), 0, "no entry: none");
	is_int(registry_auth_lookup(path, "helper.example", "x", &user, &pass, &err), 0, "an entry without auth: none");
	ok(registry_auth_lookup(path, "bad.example", "x", &user, &pass, &err) == -EINVAL && strstr(err.message, "base64"),
	   "an auth that is not base64 refused: %s", err.message);
	snprintf(path, sizeof(path), "%s/missing.json", dir);
	ok(registry_auth_lookup(path, "reg.example", "x", &user, &pass, &err) == -ENOENT, "a missing --authfile: %s",
	   err.message);
	snprintf(path, sizeof(path), "%s/notjson.json", dir);
	write_text(path, "{\"auths\": ");
	ok(registry_auth_lookup(path, "reg.example", "x", &user, &pass, &err) == -EINVAL, "not JSON: %s", err.message);

	/* the default search: $REGISTRY_AUTH_FILE, else XDG_RUNTIME_DIR's, ~/.config's, ~/.docker's */
	snprintf(home, sizeof(home), "%s/home", dir);
	snprintf(path, sizeof(path), "mkdir -p %s/.docker %s/.config/containers %s/xdg/containers", home, home, dir);
	if (system(path) != 0)
		bail_out("mkdir");
	snprintf(path, sizeof(path), "%s/.docker/config.json", home);
	write_text(path, "{\"auths\": {\"d.example\": {\"auth\": \"Ym9iOnB3\"}}}");
	setenv("HOME", home, 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	is_int(registry_auth_lookup(NULL, "d.example", "x", &user, &pass, &err), 1, "~/.docker/config.json by default");
	free(user), free(pass), user = pass = NULL;
	snprintf(path, sizeof(path), "%s/.config/containers/auth.json", home);
	write_text(path, "{\"auths\": {\"d.example\": {\"auth\": \"YWxpY2U6czNjcmV0\"}}}");
	is_int(registry_auth_lookup(NULL, "d.example", "x", &user, &pass, &err), 1,
	       "~/.config/containers/auth.json before it");
	ok(user && !strcmp(user, "alice"), "... alice");
	free(user), free(pass), user = pass = NULL;
	snprintf(path, sizeof(path), "%s/xdg", dir);
	setenv("XDG_RUNTIME_DIR", path, 1);
	snprintf(path, sizeof(path), "%s/xdg/containers/auth.json", dir);
	write_text(path, "{\"auths\": {\"d.example\": {\"auth\": \"Ym9iOnB3\"}}}");
	is_int(registry_auth_lookup(NULL, "d.example", "x", &user, &pass, &err), 1, "$XDG_RUNTIME_DIR's before that");
	ok(user && !strcmp(user, "bob"), "... bob");
	free(user), free(pass), user = pass = NULL;
	snprintf(path, sizeof(path), "%s/missing.json", dir);
	setenv("REGISTRY_AUTH_FILE", path, 1);
	ok(registry_auth_lookup(NULL, "d.example", "x", &user, &pass, &err) == -ENOENT,
	   "$REGISTRY_AUTH_FILE alone when set (missing: an error)");
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	(void) !system(path);
}

static void platforms(void)
{
	registry_platform p;
	isofs_error err;

	is_int(registry_platform_parse("linux/arm64", &p, &err), 0, "linux/arm64 parses");
	ok(!strcmp(p.os, "linux") && !strcmp(p.arch, "arm64") && !p.variant[0], "... os, arch, no variant");
	is_int(registry_platform_parse("linux/arm/v7", &p, &err), 0, "linux/arm/v7 parses");
	is_str(p.variant, "v7", "... variant v7");
	is_int(registry_platform_parse(NULL, &p, &err), 0, "the host's platform");
	is_str(p.os, "linux", "... linux");
	for (const char *const *b = (const char *const[]){ "linux", "linux/", "/amd64", "linux/amd64/", "Linux/amd64",
							   "linux/amd64/v1/x", "linux/a b", NULL };
	     *b; b++)
		ok(registry_platform_parse(*b, &p, &err) == -EINVAL, "'%s' refused: %s", *b, err.message);
}

int main(void)
{
	refs();
	challenges();
	base64();
	authfiles();
	platforms();
	return done_testing();
}
