/* SPDX-License-Identifier: MIT */
#ifndef ISOFS_JSON_UTIL_H
#define ISOFS_JSON_UTIL_H

#include <cjson/cJSON.h>

static inline void cjson_deletep(cJSON **j)
{
	cJSON_Delete(*j);
}
#define _cleanup_json_ __attribute__((cleanup(cjson_deletep)))

#endif
