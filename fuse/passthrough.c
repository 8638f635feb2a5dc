/* SPDX-License-Identifier: MIT */
/*
 * FUSE passthrough (Linux >= 6.9, libfuse >= 3.16): the kernel reads and
 * writes an open upper file itself, one copy instead of two and no request
 * per read(2) or write(2).
 *
 * Only upper files: a file opened in a lower layer must follow a later
 * copy-up (handle_fd in ops.c), which a backing file the kernel holds cannot.
 * The kernel wants every open of one inode in one mode with one backing file,
 * so a node's opens share one backing id, and a node that already has opens
 * served by the daemon (opened while lower, or before a backing open failed)
 * keeps being served that way until they are all released.  Registering a
 * backing file needs CAP_SYS_ADMIN in the initial user namespace: root's
 * views only.  Built against an older libfuse, nothing here is used.
 */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "overlay.h"
#include "userns.h"

#ifdef FUSE_CAP_PASSTHROUGH

struct ovl_backing {
	struct ovl_backing *next;
	const struct ovl_node *node;
	int id;
	unsigned users;
};

bool ovl_passthrough_built(void)
{
	return true;
}

static struct ovl_backing **backing_slot_locked(struct ovl_fs *fs, const struct ovl_node *node)
{
	uint64_t h = (uint64_t) (uintptr_t) node * 0x9E3779B97F4A7C15ull;
	struct ovl_backing **b = &fs->backings[h >> (64 - OVL_BACKING_BITS)];

	while (*b && (*b)->node != node)
		b = &(*b)->next;
	return b;
}

int ovl_passthrough_open_locked(struct ovl_fs *fs, fuse_req_t req, struct ovl_node *node, int upper_fd)
{
	struct ovl_backing **slot, *b;
	int id;

	slot = backing_slot_locked(fs, node);
	if (*slot) { /* whatever fd this open has: the upper file is the backing one */
		(*slot)->users++;
		return (*slot)->id;
	}
	/* opens the daemon serves: the kernel would refuse a second mode */
	if (!fs->passthrough || upper_fd < 0 || node->open_count > 0)
		return 0;
	b = calloc(1, sizeof(*b));
	if (!b)
		return 0;
	/* an ioctl that registers the fd, no I/O: under fs->lock so that no other open of the node races it */
	id = fuse_passthrough_open(req, upper_fd);
	if (id <= 0) {
		/*
		 * INIT checked what it could (the kernel, CAP_SYS_ADMIN in the initial
		 * namespace); what is left is an upper the kernel cannot stack on,
		 * the same for every file: the daemon serves the rest.
		 */
		__atomic_store_n(&fs->passthrough, false, __ATOMIC_RELAXED); /* handle_opened() peeks unlocked */
		if (fs->debug)
			fprintf(stderr, "isofs-overlay: passthrough off: the kernel refused a backing file\n");
		free(b);
		return 0;
	}
	b->node = node;
	b->id = id;
	b->users = 1;
	*slot = b;
	return id;
}

int ovl_passthrough_release_locked(struct ovl_fs *fs, const struct ovl_node *node)
{
	struct ovl_backing **slot = backing_slot_locked(fs, node), *b = *slot;
	int id;

	if (!b || --b->users > 0)
		return 0;
	id = b->id;
	*slot = b->next;
	free(b);
	return id;
}

void ovl_passthrough_close(fuse_req_t req, int id)
{
	if (id > 0)
		(void) fuse_passthrough_close(req, id);
}

void ovl_passthrough_set(struct fuse_file_info *fi, int id)
{
	fi->backing_id = id;
	fi->keep_cache = 0; /* the kernel's pages of this inode are not the backing file's */
}

void ovl_passthrough_init(struct ovl_fs *fs, struct fuse_conn_info *conn)
{
	const char *off = NULL;

	if (!fs->passthrough)
		return;
	if (fs->read_only)
		off = "a read-only view has no upper files";
	else if (!(conn->capable & FUSE_CAP_PASSTHROUGH))
		off = "the kernel does not offer it (Linux >= 6.9, CONFIG_FUSE_PASSTHROUGH)";
	else if (!userns_host_capable(CAP_SYS_ADMIN))
		off = "the server lacks CAP_SYS_ADMIN in the initial user namespace";
	if (off) {
		fs->passthrough = false;
		if (fs->debug)
			fprintf(stderr, "isofs-overlay: passthrough off: %s\n", off);
		return;
	}
	conn->want |= FUSE_CAP_PASSTHROUGH;
	/* the upper may not itself be a stacked file system; others may stack on this one */
	conn->max_backing_stack_depth = FUSE_BACKING_STACKED_UNDER;
	if (fs->debug)
		fprintf(stderr, "isofs-overlay: passthrough on for upper files\n");
}

void ovl_passthrough_destroy(struct ovl_fs *fs)
{
	for (size_t i = 0; i < sizeof(fs->backings) / sizeof(fs->backings[0]); i++) {
		while (fs->backings[i]) {
			struct ovl_backing *b = fs->backings[i];
			fs->backings[i] = b->next;
			free(b);
		}
	}
}

#else /* libfuse without passthrough */

bool ovl_passthrough_built(void)
{
	return false;
}

int ovl_passthrough_open_locked(struct ovl_fs *fs, fuse_req_t req, struct ovl_node *node, int upper_fd)
{
	(void) fs, (void) req, (void) node, (void) upper_fd;
	return 0;
}

int ovl_passthrough_release_locked(struct ovl_fs *fs, const struct ovl_node *node)
{
	(void) fs, (void) node;
	return 0;
}

void ovl_passthrough_close(fuse_req_t req, int id)
{
	(void) req, (void) id;
}

void ovl_passthrough_set(struct fuse_file_info *fi, int id)
{
	(void) fi, (void) id;
}

void ovl_passthrough_init(struct ovl_fs *fs, struct fuse_conn_info *conn)
{
	(void) conn;
	fs->passthrough = false;
}

void ovl_passthrough_destroy(struct ovl_fs *fs)
{
	(void) fs;
}

#endif
