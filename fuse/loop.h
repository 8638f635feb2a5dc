/* SPDX-License-Identifier: MIT */
/* The serving loop: worker threads taking requests from one FUSE connection. */
#ifndef ISOFS_OVERLAY_LOOP_H
#define ISOFS_OVERLAY_LOOP_H

struct fuse_session;
struct ovl_loop;

/*
 * Workers start one at a time and are added while all are busy, up to
 * max_threads.  After a request, one worker at a time keeps looking for the
 * next for spin_us microseconds before it sleeps (0: never): on a virtual
 * machine whose idle CPUs halt, waking a sleeping thread costs more than most
 * requests (docs/performance.md).
 */
int ovl_loop_new(struct fuse_session *se, unsigned max_threads, unsigned spin_us, struct ovl_loop **ret);
/*
 * Serves (from threads of its own) until the connection ends, a worker meets
 * an error, or the session is told to exit; 0 or -errno.  The calling thread
 * takes the signals meanwhile.
 */
int ovl_loop_run(struct ovl_loop *loop);
/* From any thread: the session exits and ovl_loop_run() returns, once the workers are gone. */
void ovl_loop_stop(struct ovl_loop *loop);
void ovl_loop_free(struct ovl_loop *loop);

#endif
