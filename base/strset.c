/* SPDX-License-Identifier: MIT */
#include "strset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t strset_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 1099511628211ull;
	return h;
}

bool strset_contains(const struct strset *s, const char *name)
{
	if (!s->n)
		return false;
	for (size_t i = strset_hash(name) & (s->cap - 1); s->slots[i]; i = (i + 1) & (s->cap - 1))
		if (strcmp(s->slots[i], name) == 0)
			return true;
	return false;
}

static void insert(struct strset *s, char *name)
{
	size_t i = strset_hash(name) & (s->cap - 1);
	while (s->slots[i])
		i = (i + 1) & (s->cap - 1);
	s->slots[i] = name;
	s->n++;
}

int strset_add(struct strset *s, const char *name)
{
	char *stored;

	if (strset_contains(s, name))
		return 0;
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **slots = calloc(cap, sizeof(char *));
		char **old = s->slots;
		size_t oldcap = s->cap;
		if (!slots)
			return -ENOMEM;
		s->slots = slots;
		s->cap = cap;
		s->n = 0;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i])
				insert(s, old[i]);
		free(old);
	}
	stored = s->owns ? strdup(name) : (char *) name;
	if (!stored)
		return -ENOMEM;
	insert(s, stored);
	return 1;
}

void strset_free(struct strset *s)
{
	if (s->owns)
		for (size_t i = 0; i < s->cap; i++)
			free(s->slots[i]);
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}
