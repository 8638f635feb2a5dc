/* SPDX-License-Identifier: MIT */
#include "env-list.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fd-util.h"

#define ENV_FILE_MAX_LINE 65536

static int reserve(struct env_list *l)
{
	if (l->n + 2 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **bigger = realloc(l->items, cap * sizeof(char *));
		if (!bigger)
			return -ENOMEM;
		l->items = bigger;
		l->cap = cap;
	}
	return 0;
}

static int add_owned(struct env_list *l, char *kv)
{
	if (!kv || reserve(l) < 0) {
		free(kv);
		return cli_error(EXIT_FAIL, "out of memory");
	}
	l->items[l->n++] = kv;
	l->items[l->n] = NULL;
	return 0;
}

/* A variable name as a shell takes it: nothing else reaches a command's environment by name. */
static bool name_is_valid(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_'))
			return false;
	return true;
}

/* "K=V" as it is, or "K": the caller's K (none: nothing); -1 when `entry` is neither. */
static int add_entry(struct env_list *l, const char *entry)
{
	const char *eq = strchr(entry, '=');
	const char *value;
	char *kv;

	if (!name_is_valid(entry, eq ? (size_t) (eq - entry) : strlen(entry)))
		return -1;
	if (eq)
		return add_owned(l, strdup(entry));
	value = getenv(entry);
	if (!value)
		return 0; /* podman's rule: an unset variable is left out */
	if (asprintf(&kv, "%s=%s", entry, value) < 0)
		kv = NULL;
	return add_owned(l, kv);
}

int env_list_add_option(struct env_list *l, const char *arg, const char *cmd)
{
	int r = add_entry(l, arg);

	if (r < 0)
		return cli_usage_error(cmd, "--env '%s': expected K=V or K (a variable name)", arg);
	return r;
}

int env_list_add_file(struct env_list *l, const char *path, const char *cmd)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int r = 0;

	if (!f)
		return cli_usage_error(cmd, "--env-file '%s': %s", path, strerror(errno));
	while (r == 0 && (len = getline(&line, &cap, f)) >= 0) {
		char *s = line;
		lineno++;
		if (len > ENV_FILE_MAX_LINE) {
			r = cli_usage_error(cmd, "--env-file '%s': line %u is longer than %d bytes", path, lineno,
					    ENV_FILE_MAX_LINE);
			break;
		}
		while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
			s[--len] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			continue;
		r = add_entry(l, s);
		if (r < 0)
			r = cli_usage_error(cmd, "--env-file '%s': line %u: expected K=V or K, not '%.40s'", path, lineno,
					    s);
	}
	free(line);
	if (r == 0 && ferror(f))
		r = cli_usage_error(cmd, "--env-file '%s': %s", path, strerror(errno));
	return r;
}

int env_list_prepend(struct env_list *l, const char *kv)
{
	char *copy = strdup(kv);

	if (!copy || reserve(l) < 0) {
		free(copy);
		return cli_error(EXIT_FAIL, "out of memory");
	}
	memmove(l->items + 1, l->items, l->n * sizeof(char *));
	l->items[0] = copy;
	l->items[++l->n] = NULL;
	return 0;
}

void env_list_free(struct env_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = l->cap = 0;
}
