/* SPDX-License-Identifier: MIT */
/*
 * What the default seccomp filter refuses, compiled with libseccomp into BPF:
 * at build time for the default filter (syscall-filter-gen writes it into
 * the library), at run time for commands that keep a capability unlocking
 * some call.
 */
#include "syscall-filter.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"

#define ALWAYS (-1) /* no capability lets it through */

/*
 * What the filter refuses (EPERM unless said).  `unlock`: the capability
 * that lets the call through when kept with --cap-add, docker's rule; the
 * kernel still checks that capability itself.  The reasons are in
 * docs/security.md, which lists the same table.
 */
static const struct blocked_call {
	const char *name;
	int unlock;
} blocked[] = {
	/* The kernel keyring is not namespaced. */
	{ "keyctl", ALWAYS },
	{ "add_key", ALWAYS },
	{ "request_key", ALWAYS },
	/* Large kernel attack surface, a history of exploits, rarely needed. */
	{ "bpf", CAP_SYS_ADMIN },
	{ "perf_event_open", CAP_SYS_ADMIN },
	{ "userfaultfd", CAP_SYS_PTRACE },
	{ "io_uring_setup", ALWAYS },
	{ "io_uring_enter", ALWAYS },
	{ "io_uring_register", ALWAYS },
	/* The shocker breakout: opens any inode of a mounted file system by handle. */
	{ "open_by_handle_at", CAP_DAC_READ_SEARCH },
	/* Host-wide state: the kernel, its modules, swap, the clock, the log, accounting, I/O ports. */
	{ "kexec_load", ALWAYS },
	{ "kexec_file_load", ALWAYS },
	{ "init_module", ALWAYS },
	{ "finit_module", ALWAYS },
	{ "delete_module", ALWAYS },
	{ "reboot", ALWAYS },
	{ "swapon", ALWAYS },
	{ "swapoff", ALWAYS },
	{ "settimeofday", CAP_SYS_TIME },
	{ "clock_settime", CAP_SYS_TIME },
	{ "clock_settime64", CAP_SYS_TIME },
	{ "stime", CAP_SYS_TIME },
	{ "syslog", CAP_SYSLOG },
	{ "acct", CAP_SYS_PACCT },
	{ "iopl", CAP_SYS_RAWIO },
	{ "ioperm", CAP_SYS_RAWIO },
	{ "quotactl", CAP_SYS_ADMIN },
	{ "quotactl_fd", CAP_SYS_ADMIN },
	{ "lookup_dcookie", CAP_SYS_ADMIN },
	/* Obsolete or removed interfaces nothing current needs. */
	{ "nfsservctl", ALWAYS },
	{ "uselib", ALWAYS },
	{ "ustat", ALWAYS },
	{ "sysfs", ALWAYS },
	{ "_sysctl", ALWAYS },
	{ "vm86", ALWAYS },
	{ "vm86old", ALWAYS },
	{ "create_module", ALWAYS },
	{ "query_module", ALWAYS },
	{ "get_kernel_syms", ALWAYS },
	/* Mounts and namespaces: new user namespaces are kernel attack surface without any privilege. */
	{ "mount", CAP_SYS_ADMIN },
	{ "umount", CAP_SYS_ADMIN },
	{ "umount2", CAP_SYS_ADMIN },
	{ "pivot_root", CAP_SYS_ADMIN },
	{ "move_mount", CAP_SYS_ADMIN },
	{ "open_tree", CAP_SYS_ADMIN },
	{ "fsopen", CAP_SYS_ADMIN },
	{ "fsmount", CAP_SYS_ADMIN },
	{ "fsconfig", CAP_SYS_ADMIN },
	{ "fspick", CAP_SYS_ADMIN },
	{ "mount_setattr", CAP_SYS_ADMIN },
	{ "unshare", CAP_SYS_ADMIN },
	{ "setns", CAP_SYS_ADMIN },
	/* Other processes' memory and fds (ptrace and process_vm_* stay: the kernel checks them). */
	{ "kcmp", CAP_SYS_PTRACE },
	{ "pidfd_getfd", CAP_SYS_PTRACE },
	{ "process_madvise", CAP_SYS_PTRACE },
};

/* clone() flags that make namespaces: refused as unshare() is. */
static const unsigned long clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

/*
 * personality(): docker allows 0 (Linux), 0x8 (32-bit), 0x20000 (uname26),
 * both, and 0xffffffff (the query).  libseccomp 2.5 takes one comparison per
 * argument and rule, so "none of these" is written as a cover of the
 * refused values by two-bit patterns (see block_personality).
 */
#define PERSONALITY_FREE_BITS 0x20008ul

struct scmp_ctx_holder {
	scmp_filter_ctx ctx;
};

static void scmp_releasep(struct scmp_ctx_holder *h)
{
	if (h->ctx)
		seccomp_release(h->ctx);
}

static bool kept(const int *caps, int ncaps, int cap)
{
	for (int i = 0; i < ncaps; i++)
		if (caps[i] == cap)
			return true;
	return false;
}

/* 0, or -errno; a name this libseccomp does not know is skipped (nothing can call it by name). */
static int block(scmp_filter_ctx ctx, const char *name, int err, unsigned n, const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;
	return seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO((unsigned) err), nr, n, cmp);
}

/*
 * Refuses every personality but the five allowed ones.  With NF the 30 bits
 * outside PERSONALITY_FREE_BITS, a refused 32-bit value either has two NF
 * bits that differ, so some NF bit is 1 and the next NF bit (circularly) is
 * 0, or has every NF bit 1 and a free bit 0.  No allowed value matches any
 * of these patterns (their NF bits are all 0, or all bits are 1).
 */
static int block_personality(scmp_filter_ctx ctx)
{
	unsigned nf[32], n = 0;
	struct scmp_arg_cmp c;
	int r;

	for (unsigned b = 0; b < 32; b++)
		if (!(PERSONALITY_FREE_BITS & (1ul << b)))
			nf[n++] = b;
	c = (struct scmp_arg_cmp) SCMP_A0(SCMP_CMP_GT, 0xfffffffful);
	r = block(ctx, "personality", EPERM, 1, &c);
	for (unsigned i = 0; r == 0 && i < n; i++) {
		unsigned long one = 1ul << nf[i], zero = 1ul << nf[(i + 1) % n];
		c = (struct scmp_arg_cmp) SCMP_A0(SCMP_CMP_MASKED_EQ, one | zero, one);
		r = block(ctx, "personality", EPERM, 1, &c);
	}
	for (unsigned b = 0; r == 0 && b < 32; b++) {
		if (!(PERSONALITY_FREE_BITS & (1ul << b)))
			continue;
		c = (struct scmp_arg_cmp) SCMP_A0(SCMP_CMP_MASKED_EQ, (1ul << nf[0]) | (1ul << b), 1ul << nf[0]);
		r = block(ctx, "personality", EPERM, 1, &c);
	}
	return r;
}

static int add_rules(scmp_filter_ctx ctx, const int *caps, int ncaps, const char **ret_failed)
{
	bool sys_admin = kept(caps, ncaps, CAP_SYS_ADMIN);
	int r;

	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
		if (blocked[i].unlock != ALWAYS && kept(caps, ncaps, blocked[i].unlock))
			continue;
		r = block(ctx, blocked[i].name, EPERM, 0, NULL);
		if (r < 0) {
			*ret_failed = blocked[i].name;
			return r;
		}
	}
	*ret_failed = "clone";
	if (!sys_admin) {
		/*
		 * seccomp cannot read clone3's flags (they are in memory): ENOSYS
		 * makes glibc fall back to clone(), whose flags it can read.
		 */
		r = block(ctx, "clone3", ENOSYS, 0, NULL);
		for (size_t i = 0; r == 0 && i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++) {
			struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]);
			r = block(ctx, "clone", EPERM, 1, &c);
		}
		if (r < 0)
			return r;
	}
	*ret_failed = "personality";
	return block_personality(ctx);
}

bool syscall_filter_unlocked_by(const int *caps, int ncaps)
{
	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++)
		if (blocked[i].unlock != ALWAYS && kept(caps, ncaps, blocked[i].unlock))
			return true;
	return kept(caps, ncaps, CAP_SYS_ADMIN); /* clone's namespace flags */
}

/* The other ABIs this machine runs (32-bit x86 on x86_64): the same rules apply to them. */
static int add_arches(scmp_filter_ctx ctx)
{
	static const uint32_t extra[] = {
#if defined(__x86_64__)
		SCMP_ARCH_X86, SCMP_ARCH_X32,
#elif defined(__aarch64__)
		SCMP_ARCH_ARM,
#endif
		0,
	};

	for (size_t i = 0; extra[i]; i++) {
		int r = seccomp_arch_add(ctx, extra[i]);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	return 0;
}

int syscall_filter_compile(const int *caps, int ncaps, struct syscall_filter *ret, isofs_error *err)
{
	_cleanup_(scmp_releasep) struct scmp_ctx_holder h = { seccomp_init(SCMP_ACT_ALLOW) };
	_cleanup_close_ int mfd = -EBADF;
	const char *failed = NULL;
	struct stat st;
	void *buf;
	int r;

	if (!h.ctx)
		return error_set(err, ENOMEM, "seccomp: out of memory");
	/* An ABI the filter does not know could call anything: end the process instead. */
	r = seccomp_attr_set(h.ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r == 0)
		r = add_arches(h.ctx);
	if (r < 0)
		return error_errno(err, r, "seccomp: architectures");
	/* A binary tree of the syscall numbers: the kernel runs the program once per number and ABI when it loads it. */
	r = seccomp_attr_set(h.ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0)
		return error_errno(err, r, "seccomp: the filter's layout");
	r = add_rules(h.ctx, caps, ncaps, &failed);
	if (r < 0)
		return error_errno(err, r, "seccomp: the rule for %s", failed);

	/* libseccomp 2.5 exports to a fd only. */
	mfd = memfd_create("isofs-seccomp", MFD_CLOEXEC);
	if (mfd < 0)
		return error_errno(err, errno, "seccomp: memfd");
	r = seccomp_export_bpf(h.ctx, mfd);
	if (r < 0)
		return error_errno(err, r, "seccomp: exporting the filter");
	if (fstat(mfd, &st) < 0)
		return error_errno(err, errno, "seccomp: exporting the filter");
	if (st.st_size <= 0 || st.st_size % (off_t) sizeof(struct sock_filter) != 0 ||
	    st.st_size / (off_t) sizeof(struct sock_filter) > BPF_MAXINSNS)
		return error_set(err, EINVAL, "seccomp: an exported filter of %lld bytes", (long long) st.st_size);
	buf = malloc((size_t) st.st_size);
	if (!buf)
		return error_set(err, ENOMEM, "seccomp: out of memory");
	if (pread(mfd, buf, (size_t) st.st_size, 0) != st.st_size) {
		free(buf);
		return error_set(err, EIO, "seccomp: reading the exported filter back");
	}
	ret->insns = buf;
	ret->len = (unsigned short) (st.st_size / (off_t) sizeof(struct sock_filter));
	return 0;
}
