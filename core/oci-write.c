/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "error.h"
#include "oci.h"

int oci_layout_write(isofs_store *store, const char *image, int dirfd, const char *ref_name, isofs_error *err)
{
	(void) store, (void) image, (void) dirfd, (void) ref_name;
	return error_set(err, ENOSYS, "OCI layout writing: not built yet");
}
