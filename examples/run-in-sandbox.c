/* SPDX-License-Identifier: MIT */
/*
 * A small libisofs user: runs one command in an ephemeral sandbox of an image
 * and prints its exit status.  Built by meson (examples/) and run by a test.
 *
 *   run-in-sandbox STORE IMAGE CMD [ARG…]
 */
#include <isofs.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	isofs_session *session = NULL;
	int status = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: %s STORE IMAGE CMD [ARG...]\n", argv[0]);
		return 2;
	}
	if (isofs_store_open(argv[1], &store, &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	isofs_session_options so = { .image = argv[2] };
	if (isofs_session_start(store, &so, &session, &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		isofs_store_close(store);
		return 1;
	}
	isofs_exec_options eo = {
		.argv = (const char *const *) argv + 3,
		.new_session = true,
		.stdin_fd = -1,
		.stdout_fd = STDOUT_FILENO,
		.stderr_fd = STDERR_FILENO,
	};
	if (isofs_session_exec(session, &eo, &err) < 0 || isofs_session_wait(session, &status, &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		isofs_session_close(session);
		isofs_store_close(store);
		return 1;
	}
	printf("sandbox %s: exit status %d\n", isofs_session_name(session), WEXITSTATUS(status));
	isofs_session_close(session);
	isofs_store_close(store);
	return 0;
}
