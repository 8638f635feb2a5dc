/* SPDX-License-Identifier: MIT */
#ifndef ISOFS_ERROR_H
#define ISOFS_ERROR_H

#include "isofs.h"

/* Fills `err` (if not NULL) and returns -code, so callers can `return error_set(...)`. */
int error_set(isofs_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like error_set, with ": strerror(code)" appended. */
int error_errno(isofs_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes an already set message with more context ("importing x: <old>"). */
int error_prefix(isofs_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
