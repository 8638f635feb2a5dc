/* SPDX-License-Identifier: MIT */
/*
 * The manager of a sandbox (see session.c for the process chain): forked by
 * the owner, it clones the init into new namespaces, writes its id maps,
 * puts it in its cgroups, serves the overlay the init mounted, and waits.
 */
#ifndef ISOFS_MANAGER_H
#define ISOFS_MANAGER_H

#include <stdbool.h>
#include <sys/types.h>

#include "caps.h"
#include "cgroup.h"
#include "idmap.h"
#include "layers.h"
#include "rootfs-setup.h"
#include "syscall-filter.h"

/* What the manager needs; prepared by the owner before forking. */
struct plan {
	struct view_lowers lowers;
	char upper[4096], work[4096];
	const char *mountpoint;  /* run in an existing view */
	dev_t mountpoint_dev;    /* a mounted sandbox's view: its device, checked again where it is opened */
	bool ephemeral_layer;    /* a throwaway writable layer over the view (kernel overlayfs, upper on a tmpfs) */
	uint64_t layer_size;     /* that tmpfs's size, bytes */
	struct setup_table table;
	struct idmap map;
	const char *hostname;
	bool net_none;
	bool net_private; /* a namespace of its own, connected by slirp4netns (net-private.h) */
	struct cap_set caps;
	struct syscall_filter filter; /* empty: unconfined */
	const struct cgroup_handle *cgroup;
	int exec_listen;         /* the exec socket (session-registry.h), for the init; -1: none */
};

/*
 * Whether the manager has nothing to do once the init runs: no overlay to
 * serve (a view served by another process), no slirp4netns, no cgroup.  It
 * then exits once the init is set up (a parent-death signal ties the init
 * to it until then), and the init lives on its own (reaped by the nearest
 * subreaper), ending when the owner's control socket closes; a close does
 * not wait for the namespaces' teardown.
 */
static inline bool plan_manager_idle(const struct plan *p)
{
	return p->mountpoint && !p->net_private && (!p->cgroup || p->cgroup->n == 0);
}

/* In the forked manager: never returns (exits with the init's status, 125 when setup failed; 0 when idle). */
void __attribute__((noreturn)) manager_main(struct plan *p, int ctl, int lock_fd);

#endif
