/* SPDX-License-Identifier: MIT */
#include "config.h"
#include "isofs.h"

const char *isofs_version(void)
{
	return ISOFS_VERSION;
}
