/* SPDX-License-Identifier: MIT */
/*
 * A process by identity, not by number: its pid and start time, so that a
 * recorded process is never confused with another that got its pid later.
 */
#ifndef ISOFS_PROCESS_ID_H
#define ISOFS_PROCESS_ID_H

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

#endif
