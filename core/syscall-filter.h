/* SPDX-License-Identifier: MIT */
/*
 * The default seccomp filter of a sandbox's commands (docs/security.md,
 * "Seccomp").  Built once by the owner with libseccomp into a BPF program;
 * loaded in each command's process, after no_new_privs, right before exec,
 * with nothing but a prctl (no allocation after fork).
 */
#ifndef ISOFS_SYSCALL_FILTER_H
#define ISOFS_SYSCALL_FILTER_H

#include <linux/filter.h>
#include <stdbool.h>

#include "isofs.h"

struct syscall_filter {
	struct sock_filter *insns;
	unsigned short len;
};

/*
 * The default filter for commands that keep capabilities caps[0..ncaps-1]
 * (their bounding set, caps.h): a call a kept capability is meant for is let through, as
 * docker's default profile does.  Fills err on failure.
 */
int syscall_filter_build(const int *caps, int ncaps, struct syscall_filter *ret, isofs_error *err);

/* The same, always compiled now by libseccomp (syscall-filter-rules.c). */
int syscall_filter_compile(const int *caps, int ncaps, struct syscall_filter *ret, isofs_error *err);

/* Whether keeping caps[0..ncaps-1] lets some refused call through: the default filter does not do then. */
bool syscall_filter_unlocked_by(const int *caps, int ncaps);

/* The default filter, compiled at build time (syscall-filter-gen). */
extern const unsigned short syscall_filter_default_len;
extern const struct sock_filter syscall_filter_default_insns[];

/* Installs the filter on the calling thread; -errno.  no_new_privs must be set. */
int syscall_filter_load(const struct syscall_filter *f);

void syscall_filter_free(struct syscall_filter *f);

#endif
