/* SPDX-License-Identifier: MIT */
/*
 * The sandbox's pid 1: builds the root (mount table, pivot_root), then runs
 * the commands its owner asks for, one at a time, reaping every process —
 * and, beside them, those of clients of its exec socket (isofs exec), one
 * at a time per client, through the same steps.
 */
#ifndef ISOFS_INIT_H
#define ISOFS_INIT_H

#include <stdbool.h>
#include <sys/types.h>

#include "caps.h"
#include "rootfs-setup.h"
#include "syscall-filter.h"

struct init_config {
	int ctl;                 /* to the owner (ctl.h) */
	int mgr;                 /* to the manager: the /dev/fuse fd goes there; -1 with a mountpoint */
	int sync_fd;             /* a byte arrives when the manager has written our id maps */
	const char *mountpoint;  /* run in this existing view; NULL: mount the overlay */
	dev_t mountpoint_dev;    /* not 0: the view's device, which the opened mountpoint must have */
	bool ephemeral_layer;    /* the view is the lower of a kernel overlayfs whose upper is a tmpfs here */
	uint64_t layer_size;     /* that tmpfs's size, bytes */
	struct setup_table *table;
	const char *hostname;
	bool net_none;
	bool may_setgroups;      /* false with a single-id map (setgroups denied) */
	struct cap_set caps;     /* what commands keep (caps.h) */
	const struct syscall_filter *filter; /* loaded last before each exec; NULL: --seccomp=unconfined */
	int exec_listen;         /* the exec socket: more clients (isofs exec), checked as the owner's user; -1: none */
	int alone_fd;            /* plan_manager_idle: closed once set up, when the manager exits; -1 otherwise */
};

void init_main(const struct init_config *cfg) __attribute__((noreturn));

#endif
