/* SPDX-License-Identifier: MIT */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void error_vformat(isofs_error *err, int code, const char *suffix, const char *fmt, va_list ap)
{
	int n = vsnprintf(err->message, sizeof(err->message), fmt, ap);

	if (suffix && n >= 0 && (size_t) n < sizeof(err->message))
		snprintf(err->message + n, sizeof(err->message) - (size_t) n, ": %s", suffix);
	err->code = code;
	/* One line, whatever names went into it: no newline, no terminal escape. */
	for (char *c = err->message; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			*c = '?';
}

int error_set(isofs_error *err, int code, const char *fmt, ...)
{
	if (code < 0)
		code = -code;
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		error_vformat(err, code, NULL, fmt, ap);
		va_end(ap);
	}
	return -code;
}

int error_errno(isofs_error *err, int code, const char *fmt, ...)
{
	if (code < 0)
		code = -code;
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		error_vformat(err, code, strerror(code), fmt, ap);
		va_end(ap);
	}
	return -code;
}

int error_prefix(isofs_error *err, int code, const char *fmt, ...)
{
	if (code < 0)
		code = -code;
	if (err) {
		char old[ISOFS_ERROR_MAX];
		va_list ap;

		if (err->code == 0) /* nothing set yet: say what the code means */
			snprintf(old, sizeof(old), "%s", strerror(code));
		else
			memcpy(old, err->message, sizeof(old));
		va_start(ap, fmt);
		error_vformat(err, code, old, fmt, ap);
		va_end(ap);
	}
	return -code;
}
