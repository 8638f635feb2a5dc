/* SPDX-License-Identifier: MIT */
/*
 * An image's chain of layers: its own, its parent's, … down to a base image.
 * What the layers hold, and how they merge, is base/layer-format.h's.
 */
#ifndef ISOFS_LAYERS_H
#define ISOFS_LAYERS_H

#include <stdbool.h>
#include <sys/stat.h>

#include "isofs.h"
#include "layer-format.h"

#define LAYERS_MAX 100 /* the deepest stack of images (the overlay takes up to 127 lowers) */

struct layer_chain {
	char *paths[LAYERS_MAX]; /* rootfs directories, top first */
	bool rootless[LAYERS_MAX];
	int image_of[LAYERS_MAX]; /* the index in images[] of the image each layer comes from */
	int n;
	/* The images the layers come from, top first (an OCI image gives several shared layers). */
	char images[LAYERS_MAX][ISOFS_NAME_MAX + 1];
	int nimages;
};

/*
 * The lower layers of a view of image `image`, top first: `top` when given (a
 * sandbox's upper, in a read-only view of it), the image's chain, then the
 * store's stub layer (mountpoints the image may lack).  Every image of the
 * chain is held in use (image_hold) until view_lowers_free(): `image rm`
 * refuses them meanwhile.  The one place a target becomes a layer stack.
 */
struct view_lowers {
	struct layer_chain chain;
	char *stub;
	const char *paths[LAYERS_MAX + 2];
	int n;
	int holds[LAYERS_MAX];
	int nholds;
};
int view_lowers_get(isofs_store *store, const char *image, const char *top, struct view_lowers *ret,
		    isofs_error *err);
/* Hands the holds over (they last as long as the fds in `fds`); at most LAYERS_MAX. */
int view_lowers_take_holds(struct view_lowers *v, int *fds);
void view_lowers_free(struct view_lowers *v);

/* The layers of image `name`, top first. */
int layer_chain_get(isofs_store *store, const char *name, struct layer_chain *ret, isofs_error *err);
void layer_chain_free(struct layer_chain *c);

/*
 * The xattr namespace of this caller's layers: the one its overlay servers
 * write (trusted.overlay.* as root, user.overlay.* otherwise), so that
 * export and diff read a stack exactly as a mount of it shows it.
 */
enum layer_xns layer_caller_xns(void);

/* O_PATH fds of the chain's roots, top first, in roots[0..c->n-1]. */
int layer_chain_open(const struct layer_chain *c, int *roots, isofs_error *err);
void layer_roots_close(int *roots, int n);

#endif
