/* SPDX-License-Identifier: MIT */
/*
 * Removing an image: the one operation that needs images and sandboxes both
 * (an image is kept while another image is built on it, a sandbox stands on
 * it, or a view of it runs), so it lives above both; images never reach up
 * to sandboxes.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "image.h"
#include "layer-store.h"
#include "sandbox.h"
#include "store.h"
#include "warm-view.h"

/* -EBUSY when an image is built on `name` or a sandbox uses it. */
static int check_unused(isofs_store *store, const char *name, isofs_error *err)
{
	isofs_image_info *infos = NULL;
	isofs_sandbox_info *sbs = NULL;
	size_t n = 0, nsb = 0;
	int r = 0;

	if (isofs_image_list(store, &infos, &n, NULL) == 0)
		for (size_t i = 0; i < n && r == 0; i++)
			/* an image naming itself as parent (a damaged store) does not keep itself */
			if (infos[i].parent && strcmp(infos[i].parent, name) == 0 && strcmp(infos[i].name, name) != 0)
				r = error_set(err, EBUSY, "image '%s' is the parent of image '%s'; remove that first", name,
					      infos[i].name);
	isofs_image_info_list_free(infos, n);
	if (r == 0 && sandbox_list_names(store, &sbs, &nsb, NULL) == 0)
		for (size_t i = 0; i < nsb && r == 0; i++)
			if (strcmp(sbs[i].image, name) == 0)
				r = error_set(err, EBUSY, "image '%s' is used by sandbox '%s'; remove that first", name,
					      sbs[i].name);
	isofs_sandbox_info_list_free(sbs, nsb);
	return r;
}

int isofs_image_remove(isofs_store *store, const char *name, isofs_error *err)
{
	_cleanup_tmpdir_ store_tmpdir gone = { .fd = -EBADF };
	int r;

	r = image_check_name(name, err);
	if (r < 0)
		return r;
	r = store_lock(store);
	if (r < 0)
		return error_errno(err, r, "store %s: lock", store->path);
	/* Under the lock: no image can be committed on it meanwhile (image_commit checks the parent). */
	r = check_unused(store, name, err);
	if (r == 0 && image_check_not_held(store, name) == -EBUSY) {
		/*
		 * Views kept for ephemeral runs hold their images (and the ones
		 * below): stopped, outside the lock (their servers exit, which
		 * takes a moment), unless a sandbox still runs in one.
		 */
		store_unlock(store);
		warm_views_stop(store, name);
		r = store_lock(store);
		if (r < 0)
			return error_errno(err, r, "store %s: lock", store->path);
		r = check_unused(store, name, err);
	}
	if (r == 0) {
		r = image_check_not_held(store, name);
		if (r == -EBUSY)
			r = error_set(err, EBUSY, "image '%s' is in use by a running sandbox (a run or a mount of it, "
						  "or of an image built on it); try again when it ends", name);
	}
	/* Out of sight in one rename; the slow removal happens outside the lock. */
	if (r == 0)
		r = store_tmpdir_adopt(store, store->images_fd, name, &gone);
	store_unlock(store);
	if (r == -EBUSY)
		return r;
	if (r == -ENOENT)
		return error_set(err, ENOENT, "no image named '%s'", name);
	if (r < 0)
		return error_errno(err, r, "removing image '%s'", name);
	store_tmpdir_discard(&gone);
	/* Its shared layers go too, unless another image lists them (or an import is about to). */
	r = layer_store_collect(store, err);
	if (r < 0)
		return error_prefix(err, r, "image '%s' removed, but its unused layers were not", name);
	return 0;
}
