/* SPDX-License-Identifier: MIT */
/*
 * Paths inside an image: normalised, relative, and resolved one component at a
 * time from a directory fd without ever following a symlink.
 */
#ifndef ISOFS_PATH_H
#define ISOFS_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "isofs.h"

/*
 * Turns an archive member name into "a/b/c" (no leading "./", no empty or "."
 * components, no trailing slash; "" is the root).  Refuses absolute names and
 * any ".." component.
 */
int path_normalize_relative(const char *in, char **ret_path, isofs_error *err);

/* Splits "a/b/c" into the parent "a/b" (written into `parent`, "" for the root) and the last name. */
const char *path_last_component(const char *path, char *parent, size_t parent_size);

/*
 * Opens directory `relpath` below `rootfd` (O_PATH), refusing to pass through
 * a symlink (-ELOOP) or a non-directory (-ENOTDIR).  When `create_mode` is not
 * zero, missing components are created with that mode.
 */
int path_open_dir_beneath(int rootfd, const char *relpath, mode_t create_mode, int *ret_fd);

#endif
