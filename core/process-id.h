/* SPDX-License-Identifier: MIT */
/*
 * A process by identity, not by number: its pid and start time, so that a
 * recorded process is never confused with another that got its pid later.
 */
#ifndef ISOFS_PROCESS_ID_H
#define ISOFS_PROCESS_ID_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Field 22 of /proc/PID/stat: when the process started; a recycled pid has another. */
int process_start_time(pid_t pid, uint64_t *ret);

/*
 * Signals `pid` only while it is still the process that started at `start`:
 * the check and the signal go through one pidfd, so no recycled pid is hit.
 * -ESRCH when it is gone or is another process now.
 */
int process_signal_same(pid_t pid, uint64_t start, int sig);

/* A start time (process_start_time) in seconds since the epoch: boot time plus clock ticks. */
int64_t process_start_unix(uint64_t start);

/* The processes whose parent is `pid` (malloc'ed, ascending), by /proc/PID/stat as ps reads it. */
int process_children(pid_t pid, pid_t **ret, size_t *ret_n);

/* /proc/PID/cmdline as a NULL-terminated vector (one allocation); an empty one for a kernel thread or zombie. */
int process_argv(pid_t pid, char ***ret);

#endif
