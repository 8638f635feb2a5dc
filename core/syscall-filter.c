/* SPDX-License-Identifier: MIT */
/*
 * A command's seccomp filter: the default one as compiled at build time
 * (syscall-filter-default.c, made by syscall-filter-gen from the rules in
 * syscall-filter-rules.c), so that a sandbox's start neither loads nor runs
 * libseccomp; compiled at run time only for commands that keep a capability
 * unlocking some call.
 */
#include "syscall-filter.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "error.h"

int syscall_filter_build(const int *caps, int ncaps, struct syscall_filter *ret, isofs_error *err)
{
	size_t size = syscall_filter_default_len * sizeof(struct sock_filter);

	if (syscall_filter_unlocked_by(caps, ncaps))
		return syscall_filter_compile(caps, ncaps, ret, err);
	ret->insns = malloc(size);
	if (!ret->insns)
		return error_set(err, ENOMEM, "seccomp: out of memory");
	memcpy(ret->insns, syscall_filter_default_insns, size);
	ret->len = syscall_filter_default_len;
	return 0;
}

int syscall_filter_load(const struct syscall_filter *f)
{
	struct sock_fprog prog = { .len = f->len, .filter = f->insns };

	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0 ? -errno : 0;
}

void syscall_filter_free(struct syscall_filter *f)
{
	free(f->insns);
	f->insns = NULL;
	f->len = 0;
}
