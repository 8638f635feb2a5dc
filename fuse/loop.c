/* SPDX-License-Identifier: MIT */
/*
 * The serving loop, in place of libfuse's multi-threaded one for what that
 * cannot do: keep a thread looking for the next request for a moment after a
 * reply.  A sequential workload (tar, rm -r, a build) sends one request at a
 * time; with every server thread asleep, each request first wakes one, and on
 * a virtual machine whose idle CPUs halt that wake-up costs more than the
 * request (bench/run's "round trip" row).
 *
 * Sleeping workers block in read(2) on the connection, where the kernel wakes
 * one of them per request; the looking worker polls it without blocking.  As
 * in libfuse's loop, the thread that runs ovl_loop_run() serves nothing: it
 * takes the signals (libfuse's handlers end the session) and waits for the
 * end, which any worker leaving announces; then it cancels the workers still
 * waiting for a request (they can be cancelled only there) and joins them.
 */
#define FUSE_USE_VERSION 312
#include "loop.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <poll.h>
#include <semaphore.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>


struct ovl_loop {
	struct fuse_session *se;
	int fd;        /* the connection */
	unsigned max_threads, spin_us;
	pthread_mutex_t lock; /* threads[], nthreads */
	pthread_t *threads;   /* the workers started */
	unsigned nthreads;
	sem_t finished;       /* posted by each worker leaving, and by ovl_loop_stop() */
	atomic_uint workers, busy;
	atomic_bool spinner;  /* one worker at a time looks ahead */
	atomic_bool inited;   /* the first request (INIT) has been handled */
	atomic_int error;
	/* Whether more tasks are runnable than CPUs (then nobody looks ahead): /proc/loadavg, read now and then. */
	int loadavg_fd;       /* -1: not known, always look ahead */
	unsigned ncpus;       /* online, machine-wide: as the count compared with them */
	atomic_uint_fast64_t crowded_at; /* when `crowded` was last read, ns */
	atomic_bool crowded;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* The kernel's end of the connection is still there: /dev/fuse polls POLLERR once it is gone. */
static bool connection_alive(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return !(poll(&p, 1, 0) == 1 && (p.revents & POLLERR));
}

static void *worker_main(void *arg);

/* Under loop->lock; none after the end: ovl_loop_run() joins what the list holds then. */
static int worker_start_locked(struct ovl_loop *loop)
{
	sigset_t all, old;
	pthread_t t;
	int r;

	if (fuse_session_exited(loop->se) || loop->nthreads >= loop->max_threads)
		return -EAGAIN;
	/* Signals go to the thread that runs ovl_loop_run() (libfuse's handlers end the session there). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	atomic_fetch_add(&loop->workers, 1);
	r = -pthread_create(&t, NULL, worker_main, loop);
	if (r == 0)
		loop->threads[loop->nthreads++] = t;
	else
		atomic_fetch_sub(&loop->workers, 1);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* One more worker while all are busy: a slow request (a copy-up) must not hold up the others. */
static void worker_add(struct ovl_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	if (atomic_load(&loop->busy) >= atomic_load(&loop->workers))
		(void) worker_start_locked(loop); /* if it cannot, serve with those there are */
	pthread_mutex_unlock(&loop->lock);
}

static void buf_free(void *arg)
{
	free(((struct fuse_buf *) arg)->mem);
}

/*
 * More tasks runnable now than the machine has CPUs: a look-ahead would take
 * a CPU from them (many sandboxes, each with its server, on a few CPUs).
 * The kernel's count of runnable tasks is /proc/loadavg's fourth field
 * (R/T), an instant, machine-wide value, read at most once a millisecond per
 * server.  Being machine-wide, it cannot see a server held to a few CPUs by
 * affinity or a cpu.max quota (docs/notes.md).  Unreadable: not crowded.
 */
static bool cpus_crowded(struct ovl_loop *loop)
{
	uint64_t then = atomic_load_explicit(&loop->crowded_at, memory_order_relaxed), now = now_ns();
	char buf[128], *slash;
	bool crowded = false;
	ssize_t n;

	if (loop->loadavg_fd < 0 || (int64_t) (now - then) < 1000000 ||
	    !atomic_compare_exchange_strong(&loop->crowded_at, &then, now))
		return atomic_load_explicit(&loop->crowded, memory_order_relaxed);
	n = pread(loop->loadavg_fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	slash = strchr(buf, '/');
	if (slash) {
		char *p = slash;
		while (p > buf && p[-1] >= '0' && p[-1] <= '9')
			p--;
		/* R counts this worker and the client its reply woke: a lone sequential client on 2 CPUs is not crowded */
		crowded = strtoul(p, NULL, 10) > loop->ncpus;
	}
	atomic_store_explicit(&loop->crowded, crowded, memory_order_relaxed);
	return crowded;
}

/* After a reply: the next request, without sleeping for it, if it comes within spin_us. */
static void look_ahead(struct ovl_loop *loop)
{
	uint64_t until = now_ns() + loop->spin_us * 1000ull;
	struct pollfd p = { .fd = loop->fd, .events = POLLIN };

	while (!fuse_session_exited(loop->se) && poll(&p, 1, 0) == 0 && now_ns() < until)
		;
}

static void *worker_main(void *arg)
{
	struct ovl_loop *loop = arg;
	struct fuse_buf buf = { .mem = NULL };

	/* Disabled until the end, the thread's exit included: libfuse's destructor of its pipe closes fds. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_cleanup_push(buf_free, &buf);
	while (!fuse_session_exited(loop->se)) {
		int r;

		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		r = fuse_session_receive_buf(loop->se, &buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (r == 0) /* the connection ended (libfuse has ended the session) */
			break;
		if (r == -EINTR || r == -ENOENT || r == -EAGAIN) /* a signal; a request interrupted before it was read */
			continue;
		if (r < 0) {
			atomic_store(&loop->error, r);
			fuse_session_exit(loop->se);
			break;
		}
		/*
		 * Not during INIT, the first request: the kernel sends nothing else
		 * before its reply, and libfuse sets the connection's options while
		 * handling it (a worker receiving meanwhile would use libfuse's
		 * defaults, not ovl_init's: splice-in, with its pipe grown).
		 */
		if (atomic_fetch_add(&loop->busy, 1) + 1 >= atomic_load(&loop->workers) && atomic_load(&loop->inited))
			worker_add(loop);
		fuse_session_process_buf(loop->se, &buf);
		atomic_store(&loop->inited, true);
		atomic_fetch_sub(&loop->busy, 1);
		/* the next request is likely on its way: look for it a moment, if no other worker does */
		if (loop->spin_us && !cpus_crowded(loop) && !atomic_exchange(&loop->spinner, true)) {
			look_ahead(loop);
			atomic_store(&loop->spinner, false);
		}
	}
	pthread_cleanup_pop(1);
	sem_post(&loop->finished); /* the session has ended (or this worker could not go on): the waiter looks */
	return NULL;
}

int ovl_loop_new(struct fuse_session *se, unsigned max_threads, unsigned spin_us, struct ovl_loop **ret)
{
	struct ovl_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return -ENOMEM;
	loop->se = se;
	loop->fd = fuse_session_fd(se);
	loop->max_threads = max_threads ? max_threads : 1;
	loop->spin_us = spin_us;
	{
		long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
		loop->ncpus = ncpus > 0 ? (unsigned) ncpus : 0;
		loop->loadavg_fd = spin_us && ncpus > 0 ? open("/proc/loadavg", O_RDONLY | O_CLOEXEC) : -1;
	}
	loop->threads = calloc(loop->max_threads, sizeof(*loop->threads));
	pthread_mutex_init(&loop->lock, NULL);
	sem_init(&loop->finished, 0, 0);
	if (!loop->threads) {
		ovl_loop_free(loop);
		return -ENOMEM;
	}
	*ret = loop;
	return 0;
}

int ovl_loop_run(struct ovl_loop *loop)
{
	int r;

	pthread_mutex_lock(&loop->lock);
	r = worker_start_locked(loop);
	pthread_mutex_unlock(&loop->lock);
	if (r < 0)
		return r;
	/* A signal interrupts the wait (EINTR); the timeout covers one that came just before it began. */
	while (!fuse_session_exited(loop->se)) {
		struct timespec deadline;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 1;
		(void) sem_timedwait(&loop->finished, &deadline);
	}
	/*
	 * The session has ended: no worker is added any more.  Those asleep in a
	 * read wait for a request that will not come, unless the connection
	 * ended too (unmounted, aborted: the usual end), when every read fails
	 * and each worker leaves by itself.  Only then are they not cancelled:
	 * glibc loads libgcc_s at the first pthread_cancel(), half a millisecond
	 * of every sandbox's teardown.  The list is read afresh for workers
	 * added meanwhile.
	 */
	bool connected = connection_alive(loop->fd);

	for (unsigned i = 0;; i++) {
		pthread_t t;

		pthread_mutex_lock(&loop->lock);
		if (i >= loop->nthreads) {
			loop->nthreads = 0;
			pthread_mutex_unlock(&loop->lock);
			break;
		}
		t = loop->threads[i];
		pthread_mutex_unlock(&loop->lock);
		if (connected)
			pthread_cancel(t);
		pthread_join(t, NULL);
	}
	return atomic_load(&loop->error);
}

void ovl_loop_stop(struct ovl_loop *loop)
{
	fuse_session_exit(loop->se);
	sem_post(&loop->finished);
}

void ovl_loop_free(struct ovl_loop *loop)
{
	if (!loop)
		return;
	pthread_mutex_destroy(&loop->lock);
	sem_destroy(&loop->finished);
	if (loop->loadavg_fd >= 0)
		close(loop->loadavg_fd);
	free(loop->threads);
	free(loop);
}
