/* SPDX-License-Identifier: MIT */
/* A set of strings (open addressing, FNV-1a): names seen while merging directories. */
#ifndef ISOFS_STRSET_H
#define ISOFS_STRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strset {
	char **slots;
	size_t cap, n;
	bool owns;   /* strings copied in and freed with the set */
};

uint64_t strset_hash(const char *s);
bool strset_contains(const struct strset *s, const char *name);
/* 1 added, 0 present, -ENOMEM. Copies `name` when the set owns its strings. */
int strset_add(struct strset *s, const char *name);
void strset_free(struct strset *s);

#endif
