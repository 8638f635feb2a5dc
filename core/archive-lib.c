/* SPDX-License-Identifier: MIT */
#define ARCHIVE_LIB_NO_REDIRECT
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "archive-lib.h"
#include "error.h"

struct archive_lib archive_lib;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
static char load_error[256];

static void load(void)
{
	/* Never closed: the table points into it for the life of the process. */
	void *h = dlopen(ARCHIVE_LIB_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(load_error, sizeof(load_error), "%s", dlerror());
		return;
	}
#define ARCHIVE_LIB_RESOLVE(f)                                                                     \
	if (!(archive_lib.f = (__typeof__(&f)) dlsym(h, #f))) {                                    \
		snprintf(load_error, sizeof(load_error), "%s has no %s", ARCHIVE_LIB_SONAME, #f); \
		return;                                                                            \
	}
	ARCHIVE_LIB_FUNCS(ARCHIVE_LIB_RESOLVE)
#undef ARCHIVE_LIB_RESOLVE
	loaded = true;
}

int archive_lib_load(isofs_error *err)
{
	pthread_once(&load_once, load);
	if (!loaded)
		return error_set(err, ELIBACC, "cannot load libarchive (%s): %s", ARCHIVE_LIB_SONAME, load_error);
	return 0;
}
