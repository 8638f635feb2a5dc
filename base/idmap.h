/* SPDX-License-Identifier: MIT */
/*
 * The id map of a sandbox's user namespace, which is also the store's: how
 * its ids ("logical" ids, what the sandbox sees) stand for ids of the host.
 * Root: 65536 ids, 0..65535 mapped to themselves.  A user with a range in
 * /etc/subuid and /etc/subgid and newuidmap/newgidmap: 0 is the user,
 * 1..65535 the range.  Otherwise the user alone is 0, setgroups denied.
 */
#ifndef ISOFS_IDMAP_H
#define ISOFS_IDMAP_H

#include <stdbool.h>
#include <sys/types.h>

#define IDMAP_RANGE 65536u /* ids of a sandbox: 0..65535 */
#define IDMAP_OVERFLOW 65534u /* what an id without a mapping shows as (the kernel's overflowuid) */

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

/* Writes the maps of process `pid`, which has just made its user namespace (called from outside it).  0 or -errno. */
int idmap_write(const struct idmap *map, pid_t pid);

/*
 * Host id -> logical id.  False when the map has no logical id for it
 * (IDMAP_SUBID: neither the user nor the range).  IDMAP_SINGLE keeps every
 * other id as it is (nothing on the host stands for it: it is only a number).
 */
bool idmap_uid_to_logical(const struct idmap *map, uid_t host, uid_t *ret);
bool idmap_gid_to_logical(const struct idmap *map, gid_t host, gid_t *ret);
/* Logical id -> host id (IDMAP_OVERFLOW when the range has none). */
uid_t idmap_uid_to_host(const struct idmap *map, uid_t logical);
gid_t idmap_gid_to_host(const struct idmap *map, gid_t logical);

#endif
