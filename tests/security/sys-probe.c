/* SPDX-License-Identifier: MIT */
/*
 * Probes run inside a sandbox by test-executor.sh (linked statically: the
 * busybox image has no libc).  Prints one "NAME RESULT" line per probe,
 * RESULT being "ok" or the errno's name, and any payload it manages to read.
 *
 *   sys-probe syscalls                 the calls the default filter refuses
 *   sys-probe keyring KEY RING         the caller's key and session keyring (serials)
 *   sys-probe mksock PATH              binds a unix socket at PATH (busybox has no way to)
 *   sys-probe as UID GID PROG ARGS...  runs PROG as UID:GID, no supplementary groups
 *   sys-probe creds                    its uids and the Cap lines of /proc/self/status
 *   sys-probe setfcap PATH             gives PATH file capabilities beyond the default set
 *   sys-probe chroot-escape PATH       the classic chroot breakout (CAP_SYS_CHROOT), then reads PATH
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case EPERM: return "EPERM";
	case ENOSYS: return "ENOSYS";
	case EACCES: return "EACCES";
	case ENOKEY: return "ENOKEY";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case EBADF: return "EBADF";
	case ENOENT: return "ENOENT";
	case EKEYREVOKED: return "EKEYREVOKED";
	default: return strerror(e);
	}
}

static void report(const char *name, long r)
{
	printf("%s %s\n", name, errname(r < 0 ? errno : 0));
}

static int syscalls(void)
{
	struct { unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; } ca;
	long r;

	report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
	report("add_key", syscall(SYS_add_key, "user", "isofs-probe", "x", 1, KEY_SPEC_SESSION_KEYRING));
	report("request_key", syscall(SYS_request_key, "user", "isofs-probe", NULL, 0));
	report("bpf", syscall(SYS_bpf, 0, NULL, 0));
	report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
	report("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
	report("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
	report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0));
	report("unshare_user", syscall(SYS_unshare, CLONE_NEWUSER));
	report("setns", syscall(SYS_setns, 0, CLONE_NEWNS));
	report("mount", syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0, NULL));
	report("personality_norandom", syscall(SYS_personality, 0x0040000));
	/* clone3 with flags 0 would fork: a bad size keeps it from doing anything if it is let through. */
	memset(&ca, 0, sizeof(ca));
	r = syscall(SYS_clone3, &ca, 8);
	if (r == 0)
		_exit(0);
	report("clone3", r);
	return 0;
}

static int keyring(long key, long ring)
{
	char buf[4096];
	long r;

	r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
	printf("session %ld\n", r);
	report("session_keyring", r);
	r = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", "isofs-canary", 0);
	report("search_canary", r);
	memset(buf, 0, sizeof(buf));
	r = syscall(SYS_keyctl, KEYCTL_READ, key, buf, sizeof(buf) - 1);
	report("read_key", r);
	if (r > 0)
		printf("payload %s\n", buf);
	r = syscall(SYS_keyctl, KEYCTL_UPDATE, key, "pwned", 5);
	report("update_key", r);
	r = syscall(SYS_keyctl, KEYCTL_LINK, key, KEY_SPEC_SESSION_KEYRING);
	report("link_key", r);
	r = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL);
	report("join_new", r);
	r = syscall(SYS_keyctl, KEYCTL_LINK, ring, KEY_SPEC_SESSION_KEYRING);
	report("link_ring", r);
	r = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", "isofs-canary", 0);
	report("search_after_link", r);
	if (r > 0) {
		memset(buf, 0, sizeof(buf));
		if (syscall(SYS_keyctl, KEYCTL_READ, r, buf, sizeof(buf) - 1) > 0)
			printf("payload %s\n", buf);
	}
	return 0;
}

static int mksock(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path)) {
		perror("socket");
		return 1;
	}
	strcpy(a.sun_path, path);
	if (bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
		perror(path);
		return 1;
	}
	return 0;
}

/* Connects to the abstract unix socket NAME and prints what it says first. */
static int connect_abstract(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	char buf[256];
	ssize_t got;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || n + 1 >= sizeof(a.sun_path)) {
		perror("socket");
		return 1;
	}
	memcpy(a.sun_path + 1, name, n);
	if (connect(fd, (struct sockaddr *) &a, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0) {
		perror("connect");
		return 1;
	}
	got = read(fd, buf, sizeof(buf) - 1);
	if (got > 0) {
		buf[got] = '\0';
		fputs(buf, stdout);
	}
	return 0;
}

static int run_as(uid_t uid, gid_t gid, char **argv)
{
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
		perror("as");
		return 125;
	}
	execvp(argv[0], argv);
	perror(argv[0]);
	return 127;
}

static int creds(void)
{
	char line[256];
	uid_t r, e, s;
	FILE *f;

	getresuid(&r, &e, &s);
	printf("uids %u %u %u\n", (unsigned) r, (unsigned) e, (unsigned) s);
	f = fopen("/proc/self/status", "r");
	if (!f) {
		perror("/proc/self/status");
		return 1;
	}
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Cap", 3) == 0)
			fputs(line, stdout);
	fclose(f);
	return 0;
}

/* security.capability v2: SYS_ADMIN, DAC_READ_SEARCH and NET_RAW permitted, effective. */
static int setfcap(const char *path)
{
	uint32_t v[5] = { 0x02000001, (1u << 21) | (1u << 2) | (1u << 13), 0, 0, 0 };

	report("setfcap", setxattr(path, "security.capability", v, sizeof(v), 0));
	return 0;
}

/*
 * chroot into a subdirectory keeping the cwd outside it, climb, chroot
 * there: out of a chroot, but never above the mount namespace's root.
 */
static int chroot_escape(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd;

	mkdir("/tmp/chroot-escape", 0700);
	if (chdir("/") < 0 || chroot("/tmp/chroot-escape") < 0) {
		report("chroot", -1);
		return 0;
	}
	for (int i = 0; i < 64; i++)
		(void) chdir("..");
	report("chroot_escape", chroot("."));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	report("open", fd);
	if (fd >= 0 && (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		printf("payload %s\n", buf);
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "syscalls") == 0)
		return syscalls();
	if (argc == 4 && strcmp(argv[1], "keyring") == 0)
		return keyring(strtol(argv[2], NULL, 10), strtol(argv[3], NULL, 10));
	if (argc == 3 && strcmp(argv[1], "mksock") == 0)
		return mksock(argv[2]);
	if (argc == 3 && strcmp(argv[1], "connect-abstract") == 0)
		return connect_abstract(argv[2]);
	if (argc >= 5 && strcmp(argv[1], "as") == 0)
		return run_as((uid_t) strtoul(argv[2], NULL, 10), (gid_t) strtoul(argv[3], NULL, 10), argv + 4);
	if (argc == 2 && strcmp(argv[1], "creds") == 0)
		return creds();
	if (argc == 3 && strcmp(argv[1], "setfcap") == 0)
		return setfcap(argv[2]);
	if (argc == 3 && strcmp(argv[1], "chroot-escape") == 0)
		return chroot_escape(argv[2]);
	fprintf(stderr, "usage: sys-probe syscalls | keyring KEY RING | mksock PATH | connect-abstract NAME |\n"
			"       as UID GID PROG ARGS... | creds | setfcap PATH | chroot-escape PATH\n");
	return 2;
}
