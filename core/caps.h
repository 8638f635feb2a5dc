/* SPDX-License-Identifier: MIT */
/*
 * The capabilities a sandbox's commands keep (docs/security.md,
 * "Capabilities"): rootless podman's default set, changed by cap_drop and
 * cap_add as podman changes it.  They are the commands' in their nested user
 * namespace only.
 */
#ifndef ISOFS_CAPS_H
#define ISOFS_CAPS_H

#include <stdint.h>

#include "isofs.h"

#define CAPS_BIT(c) (UINT64_C(1) << (c))

struct cap_set {
	uint64_t kept; /* the bounding set; effective and permitted of a command run as root */
	uint64_t user; /* what a command run as another uid keeps, ambient: only what cap_add named (podman) */
};

/* CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT. */
uint64_t caps_default(void);

/* Every capability this kernel knows (/proc/sys/kernel/cap_last_cap). */
uint64_t caps_all(void);

/* "CAP_CHOWN", "chown" (any case): its number; CAPS_NAME_ALL for "ALL" (or "CAP_ALL"); -EINVAL if unknown. */
#define CAPS_NAME_ALL 64
int caps_from_name(const char *name);

/*
 * The set from the options: the default, less cap_drop (ALL: none of it),
 * plus cap_add (ALL: every capability, less cap_drop), as podman merges
 * them.  A name unknown or not known to this kernel, a capability both
 * dropped and added, or ALL in both fill err with -EINVAL.
 */
int caps_resolve(const isofs_session_options *o, struct cap_set *ret, isofs_error *err);

/* The numbers of the capabilities in mask, ascending, into list (64 entries); returns how many. */
int caps_list(uint64_t mask, int list[64]);

#endif
