/* SPDX-License-Identifier: MIT */
/*
 * libcurl, loaded when first needed (as libarchive is, archive-lib.h): only
 * `image pull` and `image push` speak HTTP, and linking libcurl (with its TLS
 * stack) would cost every isofs process at exec.  The files that use it
 * include this header instead of <curl/curl.h>; each curl_* call goes through
 * a table that dlopen fills, typed from libcurl's own header.
 */
#pragma once
/* curl.h's type-checking wrappers are macros named like the functions: the table replaces them. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
/* Its wrappers that only check the number of arguments: the table replaces them too. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#undef curl_share_setopt

#include "isofs.h"

#define CURL_LIB_SONAME "libcurl.so.4"

#define CURL_LIB_FUNCS(X) \
	X(curl_global_init) \
	X(curl_easy_init) \
	X(curl_easy_setopt) \
	X(curl_easy_getinfo) \
	X(curl_easy_perform) \
	X(curl_easy_reset) \
	X(curl_easy_cleanup) \
	X(curl_easy_strerror) \
	X(curl_easy_escape) \
	X(curl_free) \
	X(curl_slist_append) \
	X(curl_slist_free_all) \
	X(curl_multi_init) \
	X(curl_multi_setopt) \
	X(curl_multi_add_handle) \
	X(curl_multi_remove_handle) \
	X(curl_multi_perform) \
	X(curl_multi_poll) \
	X(curl_multi_info_read) \
	X(curl_multi_cleanup) \
	X(curl_multi_strerror)

struct curl_lib {
#define CURL_LIB_MEMBER(f) __typeof__(&f) f;
	CURL_LIB_FUNCS(CURL_LIB_MEMBER)
#undef CURL_LIB_MEMBER
};

extern struct curl_lib curl_lib;

/* Loads and initialises libcurl once (thread-safe): 0, or -ELIBACC with the reason in err (may be NULL). */
int curl_lib_load(isofs_error *err);

#ifndef CURL_LIB_NO_REDIRECT
/* A macro naming itself is not expanded again: curl_lib.<name> is the table's member. */
#define curl_global_init curl_lib.curl_global_init
#define curl_easy_init curl_lib.curl_easy_init
#define curl_easy_setopt curl_lib.curl_easy_setopt
#define curl_easy_getinfo curl_lib.curl_easy_getinfo
#define curl_easy_perform curl_lib.curl_easy_perform
#define curl_easy_reset curl_lib.curl_easy_reset
#define curl_easy_cleanup curl_lib.curl_easy_cleanup
#define curl_easy_strerror curl_lib.curl_easy_strerror
#define curl_easy_escape curl_lib.curl_easy_escape
#define curl_free curl_lib.curl_free
#define curl_slist_append curl_lib.curl_slist_append
#define curl_slist_free_all curl_lib.curl_slist_free_all
#define curl_multi_init curl_lib.curl_multi_init
#define curl_multi_setopt curl_lib.curl_multi_setopt
#define curl_multi_add_handle curl_lib.curl_multi_add_handle
#define curl_multi_remove_handle curl_lib.curl_multi_remove_handle
#define curl_multi_perform curl_lib.curl_multi_perform
#define curl_multi_poll curl_lib.curl_multi_poll
#define curl_multi_info_read curl_lib.curl_multi_info_read
#define curl_multi_cleanup curl_lib.curl_multi_cleanup
#define curl_multi_strerror curl_lib.curl_multi_strerror
#endif
