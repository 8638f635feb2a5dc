/* SPDX-License-Identifier: MIT */
/*
 * What an OCI image's config says a command runs with: Entrypoint + Cmd,
 * Env, WorkingDir, User — the defaults of `isofs run IMAGE` (podman's).
 * A User given by name is looked up in the image's own /etc/passwd and
 * /etc/group, read through its layers as a view shows them.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "image.h"
#include "json-util.h"
#include "layer-format.h"
#include "layers.h"

#define ACCOUNT_FILE_MAX (4u << 20)

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void isofs_image_defaults_free(isofs_image_defaults *d)
{
	if (!d)
		return;
	strv_free(d->argv);
	strv_free(d->env);
	free(d->workdir);
	free(d->user);
	memset(d, 0, sizeof(*d));
}

/* Appends the strings of a JSON list; -EBADMSG when it holds anything else. */
static int strv_append(char ***v, size_t *n, const cJSON *list)
{
	const cJSON *s;
	char **bigger;

	if (!list || cJSON_IsNull(list))
		return 0;
	if (!cJSON_IsArray(list))
		return -EBADMSG;
	bigger = realloc(*v, (*n + (size_t) cJSON_GetArraySize(list) + 1) * sizeof(char *));
	if (!bigger)
		return -ENOMEM;
	*v = bigger;
	(*v)[*n] = NULL; /* terminated whatever follows: an empty list, an error half way */
	cJSON_ArrayForEach(s, list) {
		if (!cJSON_IsString(s))
			return -EBADMSG;
		if (!((*v)[*n] = strdup(s->valuestring)))
			return -ENOMEM;
		(*v)[++*n] = NULL;
	}
	return 0;
}

int isofs_image_defaults_get(isofs_store *store, const char *image, isofs_image_defaults *ret, isofs_error *err)
{
	_cleanup_json_ cJSON *config = NULL;
	isofs_image_defaults d = { 0 };
	const cJSON *wd, *user;
	size_t nargv = 0, nenv = 0;
	int r;

	r = image_oci_config_get(store, image, &config, err);
	if (r < 0)
		return r;
	r = strv_append(&d.argv, &nargv, cJSON_GetObjectItemCaseSensitive(config, "Entrypoint"));
	if (r == 0)
		r = strv_append(&d.argv, &nargv, cJSON_GetObjectItemCaseSensitive(config, "Cmd"));
	if (r == 0)
		r = strv_append(&d.env, &nenv, cJSON_GetObjectItemCaseSensitive(config, "Env"));
	wd = cJSON_GetObjectItemCaseSensitive(config, "WorkingDir");
	user = cJSON_GetObjectItemCaseSensitive(config, "User");
	if (r == 0 && cJSON_IsString(wd) && *wd->valuestring && !(d.workdir = strdup(wd->valuestring)))
		r = -ENOMEM;
	if (r == 0 && cJSON_IsString(user) && *user->valuestring && !(d.user = strdup(user->valuestring)))
		r = -ENOMEM;
	if (r == 0 && d.workdir && d.workdir[0] != '/')
		r = -EBADMSG;
	for (size_t i = 0; r == 0 && i < nenv; i++)
		if (!strchr(d.env[i], '=') || d.env[i][0] == '=')
			r = -EBADMSG;
	if (r < 0) {
		isofs_image_defaults_free(&d);
		if (r == -EBADMSG)
			return error_set(err, EBADMSG, "image '%s': its config is not valid (Entrypoint, Cmd, Env, "
						       "WorkingDir or User)", image);
		return error_set(err, -r, "out of memory");
	}
	*ret = d;
	return 0;
}

/* ---- users by name -------------------------------------------------------- */

/* The layer part of `parents` that holds what a lookup found there. */
static int open_found(const struct layer_dir *parents, int nparents, const struct layer_found *f, const char *name)
{
	for (int k = 0; k < nparents; k++)
		if (parents[k].layer == f->layer) {
			int fd = openat(parents[k].fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			return fd < 0 ? -errno : fd;
		}
	return -ENOENT;
}

/*
 * A regular file of the image, as its view shows it, looked up component by
 * component through its layers (no symlink followed on the way or at the
 * end: a symlink is as good as no file).
 */
static int image_read_file(isofs_store *store, const char *image, const char *const *components, size_t ncomp,
			   char **ret_text, isofs_error *err)
{
	struct layer_chain chain = { 0 };
	int roots[LAYERS_MAX];
	struct layer_dir top[LAYER_MAX];
	struct layer_found cur = { .layer = -1 };
	const struct layer_dir *parents = top;
	int nparents = 0, r;

	r = layer_chain_get(store, image, &chain, err);
	if (r < 0)
		return r;
	r = layer_chain_open(&chain, roots, err);
	if (r < 0) {
		layer_chain_free(&chain);
		return r;
	}
	struct layer_stack stack = { .roots = roots, .n = chain.n, .ns = layer_caller_xns() };
	for (int i = 0; i < chain.n; i++) {
		top[nparents++] = (struct layer_dir){ i, roots[i] };
		if (layer_dir_is_opaque(roots[i], stack.ns) == 1)
			break;
	}
	for (size_t c = 0; r == 0 && c < ncomp; c++) {
		bool last = c + 1 == ncomp;
		struct layer_found next;

		r = layer_lookup(&stack, parents, nparents, components[c], &next);
		if (r == 0 && (next.layer < 0 || (last ? !S_ISREG(next.st.st_mode) : !S_ISDIR(next.st.st_mode))))
			r = -ENOENT;
		if (r == 0 && last) {
			_cleanup_close_ int fd = open_found(parents, nparents, &next, components[c]);
			r = fd < 0 ? fd : read_fd_all(fd, ACCOUNT_FILE_MAX, ret_text, NULL);
		}
		/* the directory found: its layers' parts are the parents of the next lookup */
		layer_found_release(&cur);
		cur = next;
		parents = cur.dirs;
		nparents = cur.ndirs;
	}
	layer_found_release(&cur);
	layer_roots_close(roots, chain.n);
	layer_chain_free(&chain);
	return r;
}

/* The id of `name` in a passwd or group file (field 3), with the user's group (field 4) for passwd. */
static int account_lookup(const char *text, const char *name, unsigned long *ret_id, unsigned long *ret_gid)
{
	size_t n = strlen(name);

	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *f[5] = { line };
		int k = 1;
		char *end;

		if (strncmp(line, name, n) != 0 || line[n] != ':')
			continue;
		for (const char *p = line; *p && *p != '\n' && k < 5; p++)
			if (*p == ':')
				f[k++] = p + 1;
		if (k < 4)
			continue;
		*ret_id = strtoul(f[2], &end, 10);
		if (end == f[2] || *end != ':')
			continue;
		if (ret_gid) {
			*ret_gid = strtoul(f[3], &end, 10);
			if (end == f[3] || (*end != ':' && *end != '\n' && *end))
				continue;
		}
		return 0;
	}
	return -ENOENT;
}

static bool parse_number(const char *s, unsigned long *ret)
{
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return false;
	*ret = strtoul(s, &end, 10);
	return *ret <= 65535;
}

int isofs_image_user_resolve(isofs_store *store, const char *image, const char *user, uid_t *ret_uid, gid_t *ret_gid,
			     isofs_error *err)
{
	_cleanup_free_ char *copy = strdup(user ? user : "");
	_cleanup_free_ char *passwd = NULL;
	_cleanup_free_ char *group = NULL;
	static const char *const passwd_path[] = { "etc", "passwd" }, *const group_path[] = { "etc", "group" };
	unsigned long uid = 0, gid = 0;
	char *colon;
	bool gid_known = false;

	if (!copy)
		return error_set(err, ENOMEM, "out of memory");
	if (!*copy)
		return error_set(err, EINVAL, "empty user");
	colon = strchr(copy, ':');
	if (colon)
		*colon++ = '\0';
	if (!parse_number(copy, &uid)) {
		if (image_read_file(store, image, passwd_path, 2, &passwd, NULL) < 0 ||
		    account_lookup(passwd, copy, &uid, &gid) < 0 || uid > 65535 || gid > 65535)
			return error_set(err, ENOENT, "user '%s' is not in the image's /etc/passwd", copy);
		gid_known = true;
	} else if (!colon) {
		/* a number alone: its group is the passwd entry's, else the same number */
		gid = uid;
		if (image_read_file(store, image, passwd_path, 2, &passwd, NULL) == 0) {
			char uidtext[16];
			snprintf(uidtext, sizeof(uidtext), ":%lu:", uid);
			for (const char *l = passwd; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
				const char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
				char *end;
				if (c2 && strncmp(c2, uidtext, strlen(uidtext)) == 0) {
					gid = strtoul(c2 + strlen(uidtext), &end, 10);
					break;
				}
			}
		}
		gid_known = true;
	}
	if (colon && !parse_number(colon, &gid)) {
		if (image_read_file(store, image, group_path, 2, &group, NULL) < 0 ||
		    account_lookup(group, colon, &gid, NULL) < 0 || gid > 65535)
			return error_set(err, ENOENT, "group '%s' is not in the image's /etc/group", colon);
	} else if (!colon && !gid_known) {
		gid = uid;
	}
	if (gid > 65535)
		gid = uid;
	*ret_uid = (uid_t) uid;
	*ret_gid = (gid_t) gid;
	return 0;
}
