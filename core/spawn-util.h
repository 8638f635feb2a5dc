/* SPDX-License-Identifier: MIT */
/* Running a host program (debootstrap, busybox --list, newuidmap, fusermount3) and waiting for it. */
#ifndef ISOFS_SPAWN_UTIL_H
#define ISOFS_SPAWN_UTIL_H

/*
 * Runs `program` (a path, or a name looked up in $PATH) with argv; stdin is
 * /dev/null, stdout and stderr go to out_fd and err_fd (-1: /dev/null).
 * Returns its exit status (128+N when killed by signal N) or -errno.
 */
int spawn_wait(const char *program, char *const argv[], int out_fd, int err_fd);

#endif
