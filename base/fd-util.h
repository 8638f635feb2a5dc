/* SPDX-License-Identifier: MIT */
/* Cleanup helpers: resources are released when the variable goes out of scope. */
#ifndef ISOFS_FD_UTIL_H
#define ISOFS_FD_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno; /* close() must not clobber the errno being reported */
		(void) close(*fd);
		errno = saved;
	}
}

static inline void freep(void *p)
{
	free(*(void **) p);
}

static inline void closedirp(DIR **d)
{
	if (*d) {
		int saved = errno;
		(void) closedir(*d);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f) {
		int saved = errno;
		(void) fclose(*f);
		errno = saved;
	}
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_closedir_ _cleanup_(closedirp)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership on: returns the value and resets the variable. */
#define TAKE_FD(fd)                        \
	({                                 \
		int _taken_fd = (fd);      \
		(fd) = -EBADF;             \
		_taken_fd;                 \
	})
#define TAKE_PTR(p)                          \
	({                                   \
		__typeof__(p) _taken_p = (p); \
		(p) = NULL;                  \
		_taken_p;                    \
	})

#endif
