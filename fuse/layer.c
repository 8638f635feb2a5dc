/* SPDX-License-Identifier: MIT */
/* Layers: opening them, the overlay xattrs, whiteouts, presented inode numbers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "layer-owner.h"
#include "overlay.h"

static int open_layer(const char *path, struct ovl_layer *l, char *errbuf, size_t errlen, const char *what)
{
	struct stat st;

	l->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (l->fd < 0) {
		snprintf(errbuf, errlen, "%s '%s': %s", what, path, strerror(errno));
		return -errno;
	}
	if (fstat(l->fd, &st) < 0) {
		snprintf(errbuf, errlen, "%s '%s': %s", what, path, strerror(errno));
		return -errno;
	}
	l->dev = st.st_dev;
	l->override = stat_override_of_layer(l->fd); /* as fuse-overlayfs decides: the root says */
	l->path = strdup(path);
	return l->path ? 0 : -ENOMEM;
}

/* The shared whiteout's name in the work dir ("#" + hex: ovl_work_name()'s names, never this one). */
#define SHARED_WHITEOUT "#whiteout"

/* What a server that died mid-copy-up left in the work dir is never finished: it goes. */
static int empty_work_dir(int workfd)
{
	_cleanup_closedir_ DIR *d = opendir_at(workfd, ".");
	struct dirent *de;
	int r = 0;

	if (!d)
		return -errno;
	while (r == 0 && (errno = 0, de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			r = rm_rf_at(workfd, de->d_name);
	return r < 0 ? r : errno ? -errno : 0;
}

/*
 * As the kernel refuses them: a workdir and an upperdir one inside the other
 * (emptying work/ would delete what the view shows, and copy-ups would land
 * in the scratch space), and a lower layer inside either (changed under the
 * view by its own writes).  A lower layer above them (lowerdir=/) is fine.
 */
static int layers_separate(struct ovl_fs *fs, const char *const *lowers, int nlowers, const char *upper,
			   const char *work, int wfd, char *errbuf, size_t errlen)
{
	int ufd = fs->layers[OVL_UPPER].fd, r;

	r = dir_contains(wfd, ufd);
	if (r == 0)
		r = dir_contains(ufd, wfd);
	if (r != 0) {
		snprintf(errbuf, errlen, r > 0 ? "workdir '%s' and upperdir '%s' must be separate subtrees"
					       : "workdir '%s' and upperdir '%s': %s", work, upper, strerror(-r));
		return r > 0 ? -EINVAL : r;
	}
	for (int i = 0; i < nlowers; i++) {
		int lfd = fs->layers[i + 1].fd;

		r = dir_contains(ufd, lfd);
		if (r == 0)
			r = dir_contains(wfd, lfd);
		if (r != 0) {
			snprintf(errbuf, errlen, r > 0 ? "lower layer '%s' is inside the upperdir or the workdir"
						       : "lower layer '%s': %s", lowers[i], strerror(-r));
			return r > 0 ? -ELOOP : r;
		}
	}
	return 0;
}

int ovl_fs_init(struct ovl_fs *fs, const char *const *lowers, int nlowers, const char *upper, const char *work,
		bool userxattr, char *errbuf, size_t errlen)
{
	int r;

	fs->workfd = -1;
	fs->whiteout_fd = -1;
	pthread_mutex_init(&fs->whiteout_lock, NULL);
	for (int i = 0; i < OVL_COPYUP_LOCKS; i++)
		pthread_mutex_init(&fs->copyup_locks[i], NULL);
	fs->nlayers = nlowers + 1;
	fs->layers = calloc((size_t) fs->nlayers, sizeof(*fs->layers));
	if (!fs->layers)
		return -ENOMEM;
	for (int i = 0; i < fs->nlayers; i++)
		fs->layers[i].fd = -1;
	fs->userxattr = userxattr;
	fs->xns = userxattr ? LAYER_XNS_USER : LAYER_XNS_TRUSTED;
	fs->xprefix = layer_xattr_prefix(fs->xns);
	fs->read_only = !upper;

	for (int i = 0; i < nlowers; i++) {
		r = open_layer(lowers[i], &fs->layers[i + 1], errbuf, errlen, "lower layer");
		if (r < 0)
			return r;
	}
	if (upper) {
		_cleanup_close_ int wfd = -1;
		struct stat wst;

		r = open_layer(upper, &fs->layers[OVL_UPPER], errbuf, errlen, "upper layer");
		if (r < 0)
			return r;
		if (!work) {
			snprintf(errbuf, errlen, "an upper layer needs a workdir");
			return -EINVAL;
		}
		wfd = open(work, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (wfd < 0 || fstat(wfd, &wst) < 0) {
			snprintf(errbuf, errlen, "workdir '%s': %s", work, strerror(errno));
			return -errno;
		}
		if (wst.st_dev != fs->layers[OVL_UPPER].dev) {
			snprintf(errbuf, errlen, "workdir '%s' is not on the upper layer's file system", work);
			return -EXDEV;
		}
		r = layers_separate(fs, lowers, nlowers, upper, work, wfd, errbuf, errlen);
		if (r < 0)
			return r;
		/*
		 * Like the kernel: our scratch space is workdir/work, emptied at every
		 * mount.  Kernel overlayfs leaves it mode 0: made 0700 so that a
		 * server without DAC override (a user's, before it enters its own
		 * user namespace) can empty it.
		 */
		if (mkdirat(wfd, "work", 0700) < 0 && errno != EEXIST) {
			snprintf(errbuf, errlen, "workdir '%s': %s", work, strerror(errno));
			return -errno;
		}
		(void) fchmodat(wfd, "work", 0700, 0);
		fs->workfd = openat(wfd, "work", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fs->workfd < 0) {
			snprintf(errbuf, errlen, "workdir '%s/work': %s", work, strerror(errno));
			return -errno;
		}
		r = empty_work_dir(fs->workfd);
		if (r < 0) {
			snprintf(errbuf, errlen, "emptying workdir '%s/work': %s", work, strerror(-r));
			return r;
		}
	}
	fs->same_fs = true;
	for (int i = 0; i < fs->nlayers; i++)
		if (fs->layers[i].fd >= 0 && fs->layers[i].dev != fs->layers[fs->nlayers - 1].dev)
			fs->same_fs = false;
	return 0;
}

static void shared_whiteout_drop_locked(struct ovl_fs *fs);

void ovl_fs_destroy(struct ovl_fs *fs)
{
	for (int i = 0; fs->layers && i < fs->nlayers; i++) {
		if (fs->layers[i].fd >= 0)
			close(fs->layers[i].fd);
		free(fs->layers[i].path);
	}
	free(fs->layers);
	if (fs->workfd >= 0) {
		shared_whiteout_drop_locked(fs); /* the work dir is left empty, as every copy-up leaves it */
		close(fs->workfd);
	}
	ovl_passthrough_destroy(fs);
	pthread_mutex_destroy(&fs->whiteout_lock);
	for (int i = 0; i < OVL_COPYUP_LOCKS; i++)
		pthread_mutex_destroy(&fs->copyup_locks[i]);
	fs->workfd = -1;
	fs->layers = NULL;
}

bool ovl_is_layer_metadata(const char *name)
{
	/* user.isofs.owner is the owner, not the layer's: it travels with a copy-up */
	return layer_xattr_is_metadata(name) && strcmp(name, LAYER_OWNER_XATTR) != 0;
}

/*
 * Real inode numbers are unique on one file system; across several, the
 * layer's index goes into the high bits (the kernel's "xino").
 */
uint64_t ovl_present_ino(const struct ovl_fs *fs, int layer, ino_t ino)
{
	if (fs->same_fs)
		return (uint64_t) ino;
	return (uint64_t) ino ^ ((uint64_t) (layer + 1) << 56);
}

void ovl_work_name(char *buf, size_t size)
{
	static atomic_ulong counter;
	snprintf(buf, size, "#%lx.%lx", (unsigned long) getpid(), atomic_fetch_add(&counter, 1));
}

/*
 * Whiteouts share one inode, as the kernel's have since Linux 5.8: a link is
 * cheaper than a new inode (on ext4, no inode to allocate and journal).  The
 * inode is linked through the fd it was made with, never by its name: what
 * the work dir holds under that name could have been replaced.  A new one when
 * the link count is full or the name is gone; a whiteout of its own each time
 * where the file system refuses links (found by a trial link when it is made).
 */
static int shared_whiteout_link_locked(struct ovl_fs *fs, int dirfd, const char *name)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fs->whiteout_fd);
	return linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

static void shared_whiteout_drop_locked(struct ovl_fs *fs)
{
	if (fs->whiteout_made) {
		close(fs->whiteout_fd);
		(void) unlinkat(fs->workfd, SHARED_WHITEOUT, 0);
	}
	fs->whiteout_made = false;
	fs->whiteout_fd = -1;
}

static int shared_whiteout_make_locked(struct ovl_fs *fs)
{
	struct stat st;
	int fd, r;

	(void) unlinkat(fs->workfd, SHARED_WHITEOUT, 0);
	if (mknodat(fs->workfd, SHARED_WHITEOUT, S_IFCHR | 0, makedev(0, 0)) < 0)
		return errno == EEXIST ? -EBUSY : -errno; /* EEXIST would read as "the target is taken" */
	fd = openat(fs->workfd, SHARED_WHITEOUT, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !layer_is_whiteout(&st)) {
		r = fd < 0 ? -errno : -EBUSY;
		if (fd >= 0)
			close(fd);
		(void) unlinkat(fs->workfd, SHARED_WHITEOUT, 0);
		return r;
	}
	fs->whiteout_fd = fd;
	fs->whiteout_made = true;
	/* the trial link, in the work dir: whether this file system (and /proc) lets us link at all */
	(void) unlinkat(fs->workfd, SHARED_WHITEOUT ".trial", 0);
	r = shared_whiteout_link_locked(fs, fs->workfd, SHARED_WHITEOUT ".trial");
	(void) unlinkat(fs->workfd, SHARED_WHITEOUT ".trial", 0);
	if (r < 0) {
		shared_whiteout_drop_locked(fs);
		fs->whiteout_unshared = true;
		return -ENOTSUP;
	}
	return 0;
}

/* 0, -ENOTSUP (no sharing here: make one), or the link's error (-EEXIST: the name is taken). */
static int whiteout_link(struct ovl_fs *fs, int dirfd, const char *name)
{
	int r = -ENOTSUP;

	pthread_mutex_lock(&fs->whiteout_lock);
	for (int tries = 0; tries < 2 && !fs->whiteout_unshared; tries++) {
		if (!fs->whiteout_made && (r = shared_whiteout_make_locked(fs)) < 0)
			break;
		r = shared_whiteout_link_locked(fs, dirfd, name);
		if (r != -EMLINK && r != -ENOENT)
			break;
		shared_whiteout_drop_locked(fs); /* full, or its name removed (no link to a file with none): another */
	}
	pthread_mutex_unlock(&fs->whiteout_lock);
	return r;
}

int ovl_make_work_whiteout(struct ovl_fs *fs, const char *tmp)
{
	int r = whiteout_link(fs, fs->workfd, tmp);

	if (r != -ENOTSUP && r != -EMLINK)
		return r;
	return mknodat(fs->workfd, tmp, S_IFCHR | 0, makedev(0, 0)) < 0 ? -errno : 0;
}

int ovl_make_whiteout(struct ovl_fs *fs, int dirfd, const char *name)
{
	char tmp[64];
	int r;

	/* A free name (a lower one being removed) takes the link at once. */
	r = whiteout_link(fs, dirfd, name);
	if (r != -EEXIST && r != -ENOTSUP && r != -EMLINK)
		return r;
	/* Over what the name holds: made aside, then renamed over it in one step. */
	ovl_work_name(tmp, sizeof(tmp));
	r = ovl_make_work_whiteout(fs, tmp);
	if (r < 0)
		return r;
	if (renameat(fs->workfd, tmp, dirfd, name) < 0) {
		int e = errno;
		(void) unlinkat(fs->workfd, tmp, 0);
		return -e;
	}
	return 0;
}

int ovl_marker_to_whiteout(struct ovl_fs *fs, int dirfd, const char *name)
{
	char marker[NAME_MAX + 1], tmp[64];
	struct stat st;
	int r;

	if (layer_marker_name(name, marker, sizeof(marker)) < 0)
		return 0;
	if (fstatat(dirfd, marker, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -errno;
	} else if (S_ISDIR(st.st_mode)) {
		/* hidden by the marker, reached by no node: it gives way (a whiteout cannot be renamed over it) */
		ovl_work_name(tmp, sizeof(tmp));
		if (renameat(dirfd, name, fs->workfd, tmp) < 0)
			return -errno;
		(void) rm_rf_at(fs->workfd, tmp);
		st.st_mode = 0;
	}
	if (!layer_is_whiteout(&st) && (r = ovl_make_whiteout(fs, dirfd, name)) < 0)
		return r;
	r = rm_rf_at(dirfd, marker);
	return r < 0 && r != -ENOENT ? r : 1;
}
