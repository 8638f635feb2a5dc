/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "error.h"
#include "oci.h"

int oci_layout_import(isofs_store *store, const char *name, int layout_fd, const char *ref, const char *source,
		      const isofs_import_options *opts, isofs_import_stats *ret_stats, isofs_error *err)
{
	(void) store, (void) name, (void) layout_fd, (void) ref, (void) source, (void) opts, (void) ret_stats;
	return error_set(err, ENOSYS, "OCI import: not built yet");
}
