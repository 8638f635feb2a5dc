/* SPDX-License-Identifier: MIT */
/* Unit tests for core/process-id.c: what `isofs ps` reads of a process in /proc. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "process-id.h"
#include "tap.h"

int main(void)
{
	pid_t kids[2], *found = NULL;
	char **argv = NULL;
	uint64_t start = 0;
	size_t n = 0;
	int64_t unix_start;

	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			setpgid(0, 0); /* its sleep is killed with it, and holds no output of ours open */
			/* the shell stays (not exec'ing its last command): its command line is read */
			execl("/bin/sh", "sh", "-c", "sleep 30; :", "with space", (char *) NULL);
			_exit(127);
		}
	}
	usleep(200 * 1000); /* their exec done */

	is_int(process_children(getpid(), &found, &n), 0, "process_children reads /proc");
	is_int((int) n, 2, "... finds both children");
	ok(n == 2 && found[0] < found[1], "... in ascending order");
	ok(n == 2 && ((found[0] == kids[0] && found[1] == kids[1]) || (found[0] == kids[1] && found[1] == kids[0])),
	   "... and they are ours");
	free(found);

	is_int(process_argv(kids[0], &argv), 0, "process_argv reads a command line");
	if (argv) {
		is_str(argv[0], "sh", "argv[0]");
		is_str(argv[3], "with space", "an argument with a space stays one");
		ok(argv[3] && argv[4] == NULL, "NULL-terminated");
	}
	free(argv);

	is_int(process_start_time(kids[0], &start), 0, "process_start_time");
	unix_start = process_start_unix(start);
	ok(llabs((long long) (unix_start - (int64_t) time(NULL))) < 60, "process_start_unix: a child started just now");

	for (int i = 0; i < 2; i++) {
		kill(-kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	is_int(process_argv(kids[0], &argv), -ENOENT, "a process that is gone: -ENOENT");
	is_int(process_signal_same(kids[0], start, 0), -ESRCH, "process_signal_same: a reaped process is gone");
	return done_testing();
}
