/* SPDX-License-Identifier: MIT */
/*
 * A tiny header-only TAP (Test Anything Protocol) producer for the unit tests.
 *
 *   ok(cond, "fmt", ...)            one assertion
 *   is_int(got, want, "fmt", ...)   integers, with a diagnostic on mismatch
 *   is_str(got, want, "fmt", ...)   strings (NULL allowed), likewise
 *   skip(n, "reason", ...)          n skipped assertions
 *   diag("fmt", ...)                a "# " comment line
 *   plan(n) / plan_skip_all(...)    optional up-front plan ("1..0 # SKIP why")
 *   return done_testing();          prints the plan if none was given; the
 *                                   exit status is non-zero when anything failed
 *
 * The counters live in a MAP_SHARED mapping, so a forked child (for example one
 * that setuid()s to an unprivileged user) can make assertions of its own that
 * are numbered and counted with the parent's: the parent must wait for it
 * (tap_wait_child) before asserting again.  Children end with _exit().
 */
#ifndef ISOFS_TAP_H
#define ISOFS_TAP_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

struct tap_state {
	int n; /* assertions so far */
	int failed;
	int planned; /* -1: no plan printed yet */
};

static inline struct tap_state *tap_state(void)
{
	static struct tap_state *s;

	if (!s) {
		void *p = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			printf("Bail out! tap.h: mmap: %s\n", strerror(errno));
			fflush(stdout);
			exit(255);
		}
		s = p;
		s->planned = -1;
		setvbuf(stdout, NULL, _IOLBF, 0);
	}
	return s;
}

/* Prints `text` on one line: newlines become spaces, '#' (a TAP directive) becomes '_'. */
static inline void tap_put_oneline(const char *text)
{
	for (const char *p = text; *p; p++)
		putchar(*p == '\n' || *p == '\r' ? ' ' : *p == '#' ? '_' : *p);
}

__attribute__((format(printf, 1, 2))) static inline void diag(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	char *line, *save = NULL;

	(void) tap_state();
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		printf("# %s\n", line);
	fflush(stdout);
}

static inline void plan(int n)
{
	struct tap_state *s = tap_state();

	s->planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

__attribute__((format(printf, 1, 2), noreturn)) static inline void plan_skip_all(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	(void) tap_state();
	fputs("1..0 # SKIP ", stdout);
	tap_put_oneline(buf);
	putchar('\n');
	fflush(stdout);
	exit(0);
}

__attribute__((format(printf, 1, 2), noreturn)) static inline void bail_out(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	(void) tap_state();
	fputs("Bail out! ", stdout);
	tap_put_oneline(buf);
	putchar('\n');
	fflush(stdout);
	exit(255);
}

static inline bool tap_vok(bool pass, const char *file, int line, const char *fmt, va_list ap)
{
	struct tap_state *s = tap_state();
	char desc[1024];

	vsnprintf(desc, sizeof(desc), fmt, ap);
	s->n++;
	if (!pass)
		s->failed++;
	printf("%sok %d - ", pass ? "" : "not ", s->n);
	tap_put_oneline(desc);
	putchar('\n');
	if (!pass)
		printf("#   Failed at %s:%d\n", file, line);
	fflush(stdout);
	return pass;
}

__attribute__((format(printf, 4, 5))) static inline bool tap_ok(bool pass, const char *file, int line, const char *fmt,
								...)
{
	va_list ap;
	bool r;

	va_start(ap, fmt);
	r = tap_vok(pass, file, line, fmt, ap);
	va_end(ap);
	return r;
}

__attribute__((format(printf, 5, 6))) static inline bool tap_is_int(long long got, long long want, const char *file,
								    int line, const char *fmt, ...)
{
	va_list ap;
	bool r;

	va_start(ap, fmt);
	r = tap_vok(got == want, file, line, fmt, ap);
	va_end(ap);
	if (!r)
		diag("       got: %lld (0%llo)\n  expected: %lld (0%llo)", got, (unsigned long long) got, want,
		     (unsigned long long) want);
	return r;
}

__attribute__((format(printf, 5, 6))) static inline bool tap_is_str(const char *got, const char *want, const char *file,
								    int line, const char *fmt, ...)
{
	bool same = (!got && !want) || (got && want && strcmp(got, want) == 0);
	va_list ap;

	va_start(ap, fmt);
	(void) tap_vok(same, file, line, fmt, ap);
	va_end(ap);
	if (!same)
		diag("       got: %s%s%s\n  expected: %s%s%s", got ? "'" : "", got ? got : "NULL", got ? "'" : "",
		     want ? "'" : "", want ? want : "NULL", want ? "'" : "");
	return same;
}

__attribute__((format(printf, 2, 3))) static inline void skip(int n, const char *fmt, ...)
{
	struct tap_state *s = tap_state();
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	for (int i = 0; i < n; i++) {
		printf("ok %d # SKIP ", ++s->n);
		tap_put_oneline(why);
		putchar('\n');
	}
	fflush(stdout);
}

/* The exit status for main(): 0 when every assertion passed and the plan (if any) was met. */
static inline int done_testing(void)
{
	struct tap_state *s = tap_state();

	if (s->planned < 0) {
		printf("1..%d\n", s->n);
	} else if (s->planned != s->n) {
		printf("# planned %d tests but ran %d\n", s->planned, s->n);
		fflush(stdout);
		return 1;
	}
	if (s->failed)
		printf("# failed %d of %d tests\n", s->failed, s->n);
	fflush(stdout);
	return s->failed ? 1 : 0;
}

/* Number of failures so far (to decide whether to go on). */
static inline int tap_failed(void)
{
	return tap_state()->failed;
}

/* fork() with stdout flushed first, so nothing is printed twice. */
static inline pid_t tap_fork(void)
{
	(void) tap_state();
	fflush(stdout);
	fflush(stderr);
	return fork();
}

/* Waits for a child from tap_fork() and asserts that it exited with status 0. */
static inline bool tap_wait_child(pid_t pid, const char *what)
{
	int status = 0;
	pid_t r;

	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return tap_ok(false, __FILE__, __LINE__, "%s: waitpid: %s", what, strerror(errno));
	if (WIFSIGNALED(status))
		return tap_ok(false, __FILE__, __LINE__, "%s: child killed by signal %d", what, WTERMSIG(status));
	if (!tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, __FILE__, __LINE__, "%s: child exited with 0", what))
		diag("child exit status %d", WEXITSTATUS(status));
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) tap_is_int((long long) (got), (long long) (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

#endif
