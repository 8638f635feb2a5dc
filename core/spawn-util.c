/* SPDX-License-Identifier: MIT */
#include "spawn-util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The program itself, in a process group of its own (between fork and exec: async-signal-safe calls only). */
static void __attribute__((noreturn))
program_exec(const char *program, char *const argv[], const struct spawn_options *o, const sigset_t *mask)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (setpgid(0, 0) < 0 || sigprocmask(SIG_SETMASK, mask, NULL) < 0)
		_exit(127);
	if (null < 0 || dup2(o->out_fd >= 0 ? o->out_fd : null, 1) < 0 ||
	    dup2(o->err_fd >= 0 ? o->err_fd : null, 2) < 0 || dup2(null, 0) < 0)
		_exit(127);
	/* Inherited on purpose (it and its children keep the lock it carries). */
	if (o->hold_fd >= 0 && fcntl(o->hold_fd, F_SETFD, 0) < 0)
		_exit(127);
	if (strchr(program, '/'))
		execve(program, argv, o->envp ? o->envp : environ);
	else
		execvpe(program, argv, o->envp ? o->envp : environ);
	_exit(127);
}

/*
 * The guard: a forked copy of us that starts the program and waits for it.
 * If we die first it is told (PR_SET_PDEATHSIG, kept: the guard never changes
 * credentials, unlike tools such as mmdebstrap that enter user namespaces)
 * and kills the program's whole process group.  When the program ends, what
 * it left running in its group goes too.  Exits with the program's status.
 */
static void __attribute__((noreturn))
guard_main(const char *program, char *const argv[], const struct spawn_options *o, pid_t parent)
{
	sigset_t wait_for, old;
	pid_t pid;
	int status;

	struct sigaction dfl = { .sa_handler = SIG_DFL };

	/* An ignored SIGCHLD would be discarded, not queued for sigwaitinfo. */
	(void) sigaction(SIGCHLD, &dfl, NULL);
	(void) sigaction(SIGTERM, &dfl, NULL);
	sigemptyset(&wait_for);
	sigaddset(&wait_for, SIGTERM);
	sigaddset(&wait_for, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &wait_for, &old) < 0 || prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 ||
	    getppid() != parent)
		_exit(127);
	pid = fork();
	if (pid < 0)
		_exit(127);
	if (pid == 0)
		program_exec(program, argv, o, &old);
	(void) setpgid(pid, pid); /* from both sides: no window where a kill of the group misses it */
	for (;;) {
		siginfo_t si;

		if (sigwaitinfo(&wait_for, &si) < 0)
			continue;
		if (si.si_signo == SIGTERM) {
			(void) kill(-pid, SIGKILL);
			_exit(128 + SIGKILL);
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	(void) kill(-pid, SIGKILL);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

int spawn_start(const char *program, char *const argv[], const struct spawn_options *o, pid_t *ret_pid)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		guard_main(program, argv, o, parent);
	*ret_pid = pid;
	return 0;
}

int spawn_wait_pid(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int spawn_wait(const char *program, char *const argv[], const struct spawn_options *o)
{
	pid_t pid;
	int r = spawn_start(program, argv, o, &pid);

	return r < 0 ? r : spawn_wait_pid(pid);
}
