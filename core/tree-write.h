/* SPDX-License-Identifier: MIT */
/*
 * Writes entries (libarchive's archive_entry: from a tarball, a directory walk
 * or a bootstrap) into a root directory, relative to its fd: no path from an
 * entry is ever followed through a symlink, no entry lands outside the root.
 */
#ifndef ISOFS_TREE_WRITE_H
#define ISOFS_TREE_WRITE_H

#include <archive_entry.h>
#include <stdint.h>

#include "isofs.h"


typedef struct tree_writer tree_writer;

/*
 * Supplies an entry's data: sets a block and its offset in the file and returns
 * 1, returns 0 at the end, or a negative errno (filling err).
 */
typedef int (*tree_data_fn)(void *ctx, const void **ret_buf, size_t *ret_len, int64_t *ret_offset, isofs_error *err);

/*
 * `privileged`: chown and mknod are attempted (root); otherwise owners are
 * written in the rootless layer format (base/layer-owner.h).
 */
int tree_writer_new(int rootfd, bool privileged, tree_writer **ret_tw);
void tree_writer_free(tree_writer *tw);
int tree_writer_add(tree_writer *tw, struct archive_entry *entry, tree_data_fn data, void *data_ctx, isofs_error *err);
/* Applies directory modes and times (deferred so children can be created first). */
int tree_writer_finish(tree_writer *tw, isofs_error *err);
const isofs_import_stats *tree_writer_stats(const tree_writer *tw);

#endif
