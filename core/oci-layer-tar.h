/* SPDX-License-Identifier: MIT */
/*
 * One layer of an image's chain as an OCI layer: a tar expressing the same
 * change to the layers below it as the store's layer does in overlayfs's
 * format (base/layer-format.h), in the AUFS/OCI form the image-spec knows:
 *  - a whiteout (either form) is an empty file ".wh.NAME";
 *  - an opaque directory is the directory and a ".wh..wh..opq" in it;
 *  - a redirected directory (renamed in a sandbox; its lower parts live
 *    under another name) has no OCI form: it is written opaque, with all
 *    the merged content the stack shows there from this layer down;
 *  - layer metadata (overlay xattrs, user.isofs.*, names ".wh.*" that are
 *    not whiteouts) is never written; other xattrs are SCHILY.xattr records;
 *  - owners as the sandbox shows them (layer-owner.h for rootless layers);
 *    hard links within the layer stay hard links; sockets are left out.
 * Entries come sorted, atime and ctime are left out: the same layer gives
 * the same bytes.
 */
#ifndef ISOFS_OCI_LAYER_TAR_H
#define ISOFS_OCI_LAYER_TAR_H

#include "idmap.h"
#include "isofs.h"
#include "layers.h"
#include "oci-blob.h"

/*
 * Writes layer `layer` of `chain` (its roots open as `roots`, top first) as
 * an uncompressed tar into `blob` (which compresses it).  `host`: the store's
 * id shifts, for the owners of a rootless layer's symlinks and fifos.  0, or
 * -errno with err filled.
 */
int oci_layer_write(const struct layer_chain *chain, const int *roots, int layer, const struct idshift host[2],
		    struct oci_blob *blob, isofs_error *err);

#endif
