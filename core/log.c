/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Process-wide, set once by the program before it uses the library; forked processes inherit it. */
static isofs_log_level max_level = ISOFS_LOG_ERROR;
static isofs_log_fn handler;
static void *handler_data;
static bool stamp;

void isofs_log_set(isofs_log_level max, isofs_log_fn fn, void *userdata)
{
	max_level = max;
	handler = fn;
	handler_data = userdata;
}

const char *isofs_log_level_name(isofs_log_level level)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	return (unsigned) level < sizeof(names) / sizeof(names[0]) ? names[level] : NULL;
}

int isofs_log_level_from_name(const char *name)
{
	for (int l = ISOFS_LOG_ERROR; l <= ISOFS_LOG_DEBUG; l++)
		if (strcmp(name, isofs_log_level_name((isofs_log_level) l)) == 0)
			return l;
	return -1;
}

bool log_enabled(isofs_log_level level)
{
	return handler && level <= max_level;
}

void log_stamp_time(void)
{
	stamp = true;
}

void log_msg(isofs_log_level level, const char *fmt, ...)
{
	char line[2048];
	size_t n = 0;
	va_list ap;

	if (!log_enabled(level))
		return;
	if (stamp) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t) snprintf(line + n, sizeof(line) - n, ".%03ldZ ", ts.tv_nsec / 1000000);
	}
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One line, whatever names went into it. */
	for (char *c = line; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			*c = '?';
	handler(level, line, handler_data);
}
