/* SPDX-License-Identifier: MIT */
/*
 * Messages for the program using libisofs, through the handler it set with
 * isofs_log_set() (none by default: the library never prints).  What a
 * message at debug level is for: telling a user what isofs chose (the store,
 * the layers of a view, the overlay server, the ids), not tracing code.
 */
#ifndef ISOFS_LOG_H
#define ISOFS_LOG_H

#include <stdbool.h>

#include "isofs.h"

bool log_enabled(isofs_log_level level);
void log_msg(isofs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_warning(...) log_msg(ISOFS_LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(ISOFS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(ISOFS_LOG_DEBUG, __VA_ARGS__)

/* In a process whose messages go to a log file (an overlay server's daemon.log): each one begins with the time. */
void log_stamp_time(void);

#endif
