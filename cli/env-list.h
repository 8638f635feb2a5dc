/* SPDX-License-Identifier: MIT */
/*
 * A command's environment from the command line, as podman takes it:
 * -e K=V, -e K (the caller's value of K; nothing when it has none) and
 * --env-file FILE (lines K=V or K, blank lines and # comments).
 */
#ifndef ISOFS_CLI_ENV_LIST_H
#define ISOFS_CLI_ENV_LIST_H

#include <stddef.h>

struct env_list {
	char **items; /* "K=V", NULL-terminated once anything was added */
	size_t n, cap;
};

/* 0, or an exit code (a one-line error printed, naming `cmd`). */
int env_list_add_option(struct env_list *l, const char *arg, const char *cmd);
int env_list_add_file(struct env_list *l, const char *path, const char *cmd);
/* Prepends "K=V" (a default the options override). */
int env_list_prepend(struct env_list *l, const char *kv);
void env_list_free(struct env_list *l);

#endif
