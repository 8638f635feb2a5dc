/* SPDX-License-Identifier: MIT */
#ifndef ISOFS_CGROUP_H
#define ISOFS_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "isofs.h"

struct cgroup_limits {
	uint64_t memory; /* bytes, 0: none */
	uint64_t pids;   /* 0: none */
	double cpus;     /* CPUs' worth of time, 0: none */
};

struct cgroup_handle {
	bool v2;
	int n;
	int memory;      /* the index in dirs of the one that limits memory, -1 when none */
	char dirs[3][PATH_MAX];
};

/* Creates the sandbox's cgroups with the limits; nothing when there are none.  A clear error otherwise. */
int cgroup_create(const char *name, const struct cgroup_limits *l, struct cgroup_handle *h, isofs_error *err);
/* Moves `pid` (the sandbox's init: its children follow) into them. */
int cgroup_attach(const struct cgroup_handle *h, pid_t pid);
/*
 * Moves `pid` into the cgroup that limits memory only (a no-op without
 * --memory): for the overlay server, whose memory the sandbox causes, without
 * counting its threads against --pids (cgroup v1; on v2 one cgroup holds every limit).
 */
int cgroup_attach_memory(const struct cgroup_handle *h, pid_t pid);
/* Removes them once the sandbox's processes are gone. */
void cgroup_destroy(struct cgroup_handle *h);

#endif
