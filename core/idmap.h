/* SPDX-License-Identifier: MIT */
/*
 * The user namespace of a sandbox and its id maps.  Root: 65536 ids, 0..65535
 * mapped to themselves.  A user with a range in /etc/subuid and /etc/subgid
 * and newuidmap/newgidmap: 0 is the user, 1..65535 the range.  Otherwise the
 * user alone is 0, setgroups denied.
 */
#ifndef ISOFS_IDMAP_H
#define ISOFS_IDMAP_H

#include <stdbool.h>
#include <sys/types.h>

#include "isofs.h"

enum idmap_kind {
	IDMAP_ROOT_RANGE, /* root: 0..65535 -> 0..65535 */
	IDMAP_SUBID,      /* 0 -> user, 1..65535 -> the subordinate range */
	IDMAP_SINGLE,     /* 0 -> user, nothing else */
};

struct idmap {
	enum idmap_kind kind;
	uid_t uid;         /* the caller */
	gid_t gid;
	uid_t subuid;      /* IDMAP_SUBID: start of the ranges */
	gid_t subgid;
	char why_single[160]; /* IDMAP_SINGLE for a user: why no range (said once on stderr) */
};

/*
 * One line of /etc/subuid or /etc/subgid ("NAME:START:COUNT", NAME a user
 * name or a decimal uid): true with the start when it gives `name` (or `id`)
 * a whole range of 65536 ids.  Strict: anything else in the line refuses it.
 */
bool idmap_subid_line(const char *line, const char *name, unsigned id, unsigned *ret_start);

/* Chooses the map for the calling user. */
void idmap_choose(struct idmap *map);

/* Writes the maps of child `pid`, which has just made its user namespace (called from outside it). */
int idmap_write(const struct idmap *map, pid_t pid, isofs_error *err);

#endif
