/* SPDX-License-Identifier: MIT */
/*
 * The namespaces commands run in: a user and a mount namespace nested in the
 * init's, made once the root is built.  Mounts a less privileged mount
 * namespace inherits are locked (MNT_LOCKED and the locked flags), so no
 * capability a command holds can make a read-only bind writable, clear
 * nosuid/nodev/noexec, or unmount a /proc mask to see what is below.  Ids
 * map 1:1 through the nested user namespace: the init's whole range.
 *
 * The first command's process makes them (as bwrap's does, so it is still
 * pid 2); the init, privileged over its own user namespace, writes their id
 * maps (the new namespace could map only one id itself) and keeps fds to
 * them; later commands join those.
 */
#ifndef ISOFS_NESTED_NS_H
#define ISOFS_NESTED_NS_H

#include <stdbool.h>
#include <sys/types.h>

struct nested_ns {
	int userns, mntns; /* -EBADF until the first command made them */
	int ready[2];      /* made → init: an int, 0 or the errno of unshare */
	int go[2];         /* init → made: one byte once the maps are written */
};

#define NESTED_NS_INIT { -EBADF, -EBADF, { -EBADF, -EBADF }, { -EBADF, -EBADF } }

static inline bool nested_ns_made(const struct nested_ns *ns)
{
	return ns->userns >= 0;
}

/* In the init, before forking a command: the pipes the first command needs; -errno. */
int nested_ns_prepare(struct nested_ns *ns);

/* In the command's process: joins the namespaces, or makes them (see above); -errno. */
int nested_ns_enter(struct nested_ns *ns);

/*
 * In the init, after forking the first command `pid`: writes the maps and
 * keeps the namespaces; -errno with *ret_what naming the step.  A no-op once
 * they are made.  On failure the caller kills the command.
 */
int nested_ns_adopt(struct nested_ns *ns, pid_t pid, const char **ret_what);

#endif
