/* SPDX-License-Identifier: MIT */
/*
 * Read-only views of images kept mounted between ephemeral runs (`isofs run
 * --ephemeral IMAGE`): STORE/views/IMAGE/root, one server and one page cache
 * for every run of the image, each run's writes on a layer of its own
 * (init.c, mount_ephemeral_layer).  STORE/views/IMAGE/lock orders the runs
 * against the start and the stop of the view: a run holds it shared while it
 * finds the view and until its sandbox's mount namespace holds a copy of it
 * (then a detach of the view no longer reaches the sandbox), and touches it;
 * a start holds it exclusive; the view's watcher takes it exclusive to
 * detach the view once no run has touched it for the idle time.  The
 * watcher holds STORE/views/IMAGE/watch for its life: a live view whose
 * watcher was killed is replaced, as one whose server was.  A kept view
 * shows no xattrs (isofs-overlay noxattrs=1; mount.c says why).
 */
#ifndef ISOFS_WARM_VIEW_H
#define ISOFS_WARM_VIEW_H

#include <stdbool.h>
#include <sys/types.h>

#include "isofs.h"

#define WARM_VIEW_IDLE_DEFAULT 60 /* seconds */
#define WARM_VIEW_IDLE_MAX (7u * 24 * 3600)

struct view_keep {
	int dir_fd;      /* STORE/views/IMAGE */
	unsigned idle_s; /* detached once no run came for this long */
};

/*
 * The kept view of IMAGE, started if none is live (idle_s: its idle time
 * then): *ret_mountpoint its path, *ret_dev its device, *ret_lock_fd the
 * shared lock on it, to be let go once the sandbox's mount namespace has a
 * copy of the view.
 */
int warm_view_acquire(isofs_store *store, const char *image, unsigned idle_s, char **ret_mountpoint, dev_t *ret_dev,
		      int *ret_lock_fd, isofs_error *err);
/*
 * Detaches the kept views that hold IMAGE (its own, and those of images built
 * on it) and waits (briefly) for their servers to exit: `image rm` then finds
 * it free unless a sandbox still runs in one.
 */
void warm_views_stop(isofs_store *store, const char *image);

/* mount.c: mounts the read-only view of IMAGE at mountpoint, with a watcher (below). */
int mount_kept_view(isofs_store *store, const char *image, const char *mountpoint, const struct view_keep *keep,
		    isofs_error *err);
/*
 * In the view's server, once mounted, before it serves: starts the watcher,
 * a process of its own that detaches the view once the lock below dir_fd
 * has not been touched for idle_s, and ends when the view is gone.
 */
int warm_view_watch(int dir_fd, const char *mountpoint, unsigned idle_s);

#endif
