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
#include <stdint.h>
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
	/*
	 * IDMAP_SUBID, a sandbox's namespace only (--home): the caller keeps its
	 * own id inside (podman's keep-id): `uid` is `uid` inside, 0..uid-1 and
	 * uid+1..65535 the range.  The store's ids (idmap_shifts) stay the plain
	 * map's: whoever reads or writes layers never uses this one.
	 */
	bool keep_caller;
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
 * A shift between ids "inside" (as stored, logical) and "outside" (as a
 * connection or the host shows them): ranges of `count` ids from `inside` to
 * `outside`.  No range at all: every id is itself.  Otherwise an id no range
 * covers is IDMAP_OVERFLOW on the other side, as the kernel shows ids a
 * namespace does not map.
 */
#define IDSHIFT_MAX 32
struct idshift {
	unsigned n;
	struct {
		uint32_t inside, outside, count;
	} r[IDSHIFT_MAX];
};

/*
 * fuse-overlayfs's form, "INSIDE:OUTSIDE:COUNT[:INSIDE:OUTSIDE:COUNT…]", a
 * leading ':' allowed (containers/storage's).  0, or -EINVAL (overlaps too).
 */
int idshift_parse(const char *spec, struct idshift *ret);
/* Inside -> outside; false when no range has it. */
bool idshift_to_outside(const struct idshift *s, uint32_t inside, uint32_t *ret);
/* Outside -> inside; false when no range has it. */
bool idshift_to_inside(const struct idshift *s, uint32_t outside, uint32_t *ret);
/* The shifts of a map: logical ids inside, the host's outside. */
void idmap_shifts(const struct idmap *map, struct idshift *uids, struct idshift *gids);

#endif
