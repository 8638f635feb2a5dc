/* SPDX-License-Identifier: MIT */
/* Unit tests for core/syscall-filter.c: the default filter, loaded in forked children (no privilege needed). */
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syscall-filter.h"
#include "tap.h"

/* errno of a raw syscall (0 when it did not fail). */
#define ERR_OF(call) ((call) < 0 ? errno : 0)

struct probe {
	int keyctl, bpf, io_uring, clone3, unshare_user, personality_odd, personality_query, getpid, mount;
	int clone_user, personality_ok[3], personality_norandom, personality_high, compat_keyctl, compat_getpid;
};

#if defined(__x86_64__)
/* A 32-bit x86 system call from a 64-bit process (int 0x80): -errno or the result. */
static long compat_syscall(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}
#endif

/* In a child: the filter, then each probe; the results come back over a pipe. */
static int run_probes(const struct syscall_filter *f, struct probe *ret)
{
	int p[2];
	pid_t pid;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		struct probe r = { 0 };
		close(p[0]);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall_filter_load(f) < 0)
			_exit(2);
		r.keyctl = ERR_OF(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
		r.bpf = ERR_OF(syscall(SYS_bpf, 0, NULL, 0));
		r.io_uring = ERR_OF(syscall(SYS_io_uring_setup, 1, NULL));
		r.clone3 = ERR_OF(syscall(SYS_clone3, NULL, 0));
		r.unshare_user = ERR_OF(syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNS));
		r.personality_odd = ERR_OF(syscall(SYS_personality, 0x1234));
		r.personality_query = ERR_OF(syscall(SYS_personality, 0xffffffff));
		r.getpid = ERR_OF(syscall(SYS_getpid));
		r.mount = ERR_OF(syscall(SYS_mount, "none", "/nonexistent-isofs", "tmpfs", 0, NULL));
		{
			long c = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
			if (c == 0)
				_exit(0); /* the filter let it through: the parent sees 0 */
			r.clone_user = c < 0 ? errno : 0;
		}
		r.personality_ok[0] = ERR_OF(syscall(SYS_personality, 0x8));
		r.personality_ok[1] = ERR_OF(syscall(SYS_personality, 0x20008));
		r.personality_ok[2] = ERR_OF(syscall(SYS_personality, 0x0));
		r.personality_norandom = ERR_OF(syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */));
		r.personality_high = ERR_OF(syscall(SYS_personality, 0x100000000ul));
#if defined(__x86_64__)
		r.compat_keyctl = (int) -compat_syscall(288 /* i386 keyctl */, 0, -3, 0);
		r.compat_getpid = compat_syscall(20 /* i386 getpid */, 0, 0, 0) > 0 ? 0 : -1;
#endif
		(void) !write(p[1], &r, sizeof(r));
		_exit(0);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], ret, sizeof(*ret)) != (ssize_t) sizeof(*ret)) {
		close(p[0]);
		return -EIO;
	}
	close(p[0]);
	waitpid(pid, NULL, 0);
	return 0;
}

int main(void)
{
	struct syscall_filter f = { 0 };
	isofs_error err = { 0 };
	struct probe r;
	int caps[] = { CAP_SYS_ADMIN };

	is_int(syscall_filter_build(NULL, 0, &f, &err), 0, "the default filter builds (%s)", err.message);
	ok(f.len > 0, "it has instructions (%u)", f.len);
	is_int(run_probes(&f, &r), 0, "a child loads it and probes");
	is_int(r.keyctl, EPERM, "keyctl: EPERM");
	is_int(r.bpf, EPERM, "bpf: EPERM");
	is_int(r.io_uring, EPERM, "io_uring_setup: EPERM");
	is_int(r.clone3, ENOSYS, "clone3: ENOSYS, so that libc falls back to clone");
	is_int(r.unshare_user, EPERM, "unshare(CLONE_NEWUSER): EPERM");
	is_int(r.personality_odd, EPERM, "personality(0x1234): EPERM");
	is_int(r.personality_query, 0, "personality(0xffffffff), the query, works");
	is_int(r.getpid, 0, "getpid works");
	is_int(r.mount, EPERM, "mount: EPERM");
	is_int(r.clone_user, EPERM, "clone(CLONE_NEWUSER): EPERM");
	is_int(r.personality_ok[0] | r.personality_ok[1] | r.personality_ok[2], 0,
	       "personality 0x8, 0x20008 and 0 work");
	is_int(r.personality_norandom, EPERM, "personality(ADDR_NO_RANDOMIZE): EPERM");
	is_int(r.personality_high, EPERM, "personality with bits above 32: EPERM");
#if defined(__x86_64__)
	is_int(r.compat_keyctl, EPERM, "32-bit keyctl (int 0x80): EPERM as well");
	is_int(r.compat_getpid, 0, "32-bit getpid works");
#endif
	{
		/* the default filter comes from the build; libseccomp here and now must give the same program */
		struct syscall_filter now = { 0 };
		is_int(syscall_filter_compile(NULL, 0, &now, &err), 0, "libseccomp compiles the default rules now (%s)",
		       err.message);
		ok(now.len == f.len && memcmp(now.insns, f.insns, f.len * sizeof(*f.insns)) == 0,
		   "the default filter built into the library is what libseccomp compiles now (%u and %u instructions)",
		   f.len, now.len);
		syscall_filter_free(&now);
	}
	{
		/* every single capability that unlocks nothing must get exactly the built-in filter */
		int same = 0, unlocking = 0, bad = -1;
		for (int c = 0; c <= CAP_LAST_CAP; c++) {
			struct syscall_filter one = { 0 };
			if (syscall_filter_unlocked_by(&c, 1)) {
				unlocking++;
				continue;
			}
			if (syscall_filter_compile(&c, 1, &one, &err) == 0 && one.len == f.len &&
			    memcmp(one.insns, f.insns, f.len * sizeof(*f.insns)) == 0)
				same++;
			else if (bad < 0)
				bad = c;
			syscall_filter_free(&one);
		}
		ok(bad < 0 && same + unlocking == CAP_LAST_CAP + 1,
		   "each capability that unlocks no call compiles to the built-in filter (%d of them; %d unlock some; "
		   "first different: %d)", same, unlocking, bad);
	}
	ok(!syscall_filter_unlocked_by(NULL, 0), "no capability kept: the built-in default filter");
	ok(syscall_filter_unlocked_by(caps, 1), "CAP_SYS_ADMIN kept: a filter compiled for it");
	syscall_filter_free(&f);

	is_int(syscall_filter_build(caps, 1, &f, &err), 0, "the filter with CAP_SYS_ADMIN kept builds");
	is_int(run_probes(&f, &r), 0, "a child loads it and probes");
	is_int(r.keyctl, EPERM, "keyctl: still EPERM");
	is_int(r.clone3, EINVAL, "clone3 reaches the kernel (EINVAL for a NULL argument)");
	if (getuid() == 0)
		is_int(r.mount, ENOENT, "mount reaches the kernel (ENOENT for a missing target)");
	else
		skip(1, "mount reaching the kernel: needs root");
	syscall_filter_free(&f);
	return done_testing();
}
