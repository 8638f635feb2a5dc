/* SPDX-License-Identifier: MIT */
#include "net-private.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"

#define NET_PRIVATE_READY_TIMEOUT_MS 10000
#define SLIRP "slirp4netns"

static void __attribute__((noreturn)) exec_slirp(pid_t target, int ready_fd, int exit_fd)
{
	char pid[32];

	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* its fds: 0-2 ours (/dev/null in the manager), 3 ready, 4 exit; nothing else */
	if (dup2(ready_fd, 3) < 0 || dup2(exit_fd, 4) < 0)
		_exit(126);
	(void) syscall(SYS_close_range, 5, ~0U, 0);
	snprintf(pid, sizeof(pid), "%d", (int) target);
	execlp(SLIRP, SLIRP, "--configure", "--mtu=65520", "--ready-fd=3", "--exit-fd=4", pid, "tap0", (char *) NULL);
	_exit(errno == ENOENT ? 127 : 126);
}

int net_private_start(pid_t target, int *ret_exit_fd, char *errbuf, size_t errlen)
{
	_cleanup_close_ int ready_r = -EBADF, ready_w = -EBADF, exit_r = -EBADF, exit_w = -EBADF;
	int ready[2], ex[2], status = 0, r;
	struct pollfd pfd;
	char c = 0;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0 || (ready_r = ready[0], ready_w = ready[1], pipe2(ex, O_CLOEXEC) < 0)) {
		snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
		return -errno;
	}
	exit_r = ex[0];
	exit_w = ex[1];
	pid = fork();
	if (pid < 0) {
		snprintf(errbuf, errlen, "fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0)
		exec_slirp(target, ready_w, exit_r);
	closep(&ready_w);
	ready_w = -EBADF;
	closep(&exit_r);
	exit_r = -EBADF;

	pfd = (struct pollfd){ .fd = ready_r, .events = POLLIN };
	while ((r = poll(&pfd, 1, NET_PRIVATE_READY_TIMEOUT_MS)) < 0 && errno == EINTR)
		;
	/* read only what is there: a slirp4netns that neither answers nor exits is killed, not waited for */
	if (r > 0 && read(ready_r, &c, 1) == 1 && c == '1') {
		*ret_exit_fd = TAKE_FD(exit_w);
		return 0; /* it lives on, reaped by nobody until the manager exits: harmless */
	}
	/* not ready: it failed, or hangs (killed) */
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		snprintf(errbuf, errlen, "--net=private needs " SLIRP " (Debian package " SLIRP "), which is not installed");
		return -ENOENT;
	}
	snprintf(errbuf, errlen,
		 SLIRP " could not connect the sandbox's network (is /dev/net/tun open to this user? "
		       "Debian's udev rules make it 0666)");
	return -ENETUNREACH;
}
