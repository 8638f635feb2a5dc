/* SPDX-License-Identifier: MIT */
/*
 * A sandbox's mount record (STORE/sandboxes/NAME/mount.json), written by the
 * overlay server of `isofs mount` once its mount is in place, and the checks
 * that a recorded mountpoint is still that server's live FUSE mount.  A path
 * alone proves nothing: after an unmount the directory underneath is a plain
 * host directory, and a server may live on (a copy of its mount in another
 * mount namespace keeps the connection) long after its view is gone here.
 */
#ifndef ISOFS_MOUNT_RECORD_H
#define ISOFS_MOUNT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "isofs.h"

struct mount_record {
	char *mountpoint;
	pid_t pid;               /* the server */
	uint64_t start;          /* its start time (/proc/PID/stat field 22), 0 when not recorded */
	bool has_dev;
	unsigned major, minor;   /* the mount's st_dev; for FUSE the minor names the connection in fusectl */
};

/* In the server, once mounted: where, its own pid and start time, the mount's device. */
int mount_record_write(int sandbox_fd, const char *mountpoint);
/* -ENOENT when there is none, -EBADMSG when it is damaged. */
int mount_record_read(int sandbox_fd, struct mount_record *ret);
void mount_record_free(struct mount_record *rec);

/* Is the recorded server still running (the same process: its start time matches)? */
bool mount_record_server_alive(const struct mount_record *rec);

/*
 * 0 when the recorded mountpoint is the live mount of the recorded server:
 * the server runs, the topmost mount there is fuse.isofs-overlay with the
 * recorded device, and statfs/stat of the path agree.  Otherwise -ESTALE and
 * *ret_why says what is wrong.
 */
int mount_record_verify(const struct mount_record *rec, const char **ret_why);

/* An isofs overlay is what a lookup of `path` (absolute, resolved) reaches. */
bool mountpoint_is_view(const char *path);
/* What a lookup of `path` reaches is mounted read-only (ST_RDONLY). */
bool mount_is_read_only(const char *path);
/*
 * The topmost mount at `path` (exactly; /proc/self/mountinfo): its device and
 * file system type.  -ENOENT when nothing is mounted there.
 */
int mountinfo_top(const char *path, unsigned *ret_major, unsigned *ret_minor, char *ret_type, size_t type_size);

/* Ends a FUSE connection through fusectl (mounted on /sys/fs/fuse/connections when needed); root only. */
int fuse_connection_abort(unsigned major, unsigned minor);

/* Unmounts a view (root: umount2, a user: fusermount3); lazy detaches it, leaving copies in other namespaces. */
int mount_unmount_path(const char *mp, bool lazy);
/*
 * Detaches the read-only image view at mp (copies in other namespaces stay)
 * and waits at most wait_ms for its server to exit: 0, or -ETIMEDOUT while a
 * copy keeps it serving.
 */
int mount_detach_view(isofs_store *store, const char *mp, int wait_ms);

#endif
