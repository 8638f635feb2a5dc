/* SPDX-License-Identifier: MIT */
#define CURL_LIB_NO_REDIRECT
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "curl-lib.h"
#include "error.h"

struct curl_lib curl_lib;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
static char load_error[256];

static void load(void)
{
	/* Never closed: the table points into it for the life of the process. */
	void *h = dlopen(CURL_LIB_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(load_error, sizeof(load_error), "%s", dlerror());
		return;
	}
#define CURL_LIB_RESOLVE(f)                                                                     \
	if (!(curl_lib.f = (__typeof__(&f)) dlsym(h, #f))) {                                    \
		snprintf(load_error, sizeof(load_error), "%s has no %s", CURL_LIB_SONAME, #f); \
		return;                                                                         \
	}
	CURL_LIB_FUNCS(CURL_LIB_RESOLVE)
#undef CURL_LIB_RESOLVE
	/* Not thread-safe in old libcurls: done once, here, under pthread_once. */
	if (curl_lib.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(load_error, sizeof(load_error), "curl_global_init failed");
		return;
	}
	loaded = true;
}

int curl_lib_load(isofs_error *err)
{
	pthread_once(&load_once, load);
	if (!loaded)
		return error_set(err, ELIBACC, "cannot load libcurl (%s): %s", CURL_LIB_SONAME, load_error);
	return 0;
}
