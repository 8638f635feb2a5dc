/* SPDX-License-Identifier: MIT */
/*
 * Copy-up: the first change to a lower object copies it into the upper layer,
 * parents first.  The copy is built under a temporary name in the work
 * directory — data, owner, mode, xattrs, times — and renamed into place, so
 * the upper layer never holds half a file.  The daemon reads the lower file
 * with its own credentials: no write permission on it is needed (sed -i, 0444
 * files, 0555 directories).
 */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "overlay.h"

static int copy_xattrs(const char *src, const char *dst)
{
	char list[65536], value[65536];
	ssize_t n = llistxattr(src, list, sizeof(list));

	if (n < 0)
		return errno == ENOTSUP ? 0 : -errno;
	for (char *name = list; name < list + n; name += strlen(name) + 1) {
		ssize_t vn;

		/* Overlay metadata of the lower layer describes that layer, not the copy. */
		if (ovl_is_layer_metadata(name))
			continue;
		vn = lgetxattr(src, name, value, sizeof(value));
		if (vn < 0) {
			if (errno == ENODATA)
				continue;
			return -errno;
		}
		if (lsetxattr(dst, name, value, (size_t) vn, 0) < 0) {
			/* security.* the daemon may not set, or a file system without xattrs */
			if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP)
				continue;
			return -errno;
		}
	}
	return 0;
}

/* Data, hole-preserving: FICLONE where the file system shares extents, else copy_file_range per data extent. */
static int copy_data(int in, int out, off_t size)
{
	off_t data = 0;

	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	while (data < size) {
		off_t hole, pos;

		data = lseek(in, data, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break; /* only a hole is left */
			data = 0; /* no SEEK_DATA: copy it all */
			hole = size;
		} else {
			hole = lseek(in, data, SEEK_HOLE);
			if (hole < 0)
				hole = size;
		}
		pos = data;
		while (pos < hole) {
			off_t opos = pos;
			ssize_t n = copy_file_range(in, &pos, out, &opos, (size_t) (hole - pos), 0);
			if (n < 0) {
				char buf[1 << 16];
				if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
					return -errno;
				n = pread(in, buf, sizeof(buf) < (size_t) (hole - pos) ? sizeof(buf) : (size_t) (hole - pos),
					  pos);
				if (n < 0)
					return -errno;
				if (n == 0)
					break;
				if (pwrite(out, buf, (size_t) n, pos) != n)
					return -EIO;
				pos += n;
				continue;
			}
			if (n == 0)
				break;
		}
		data = hole;
	}
	return ftruncate(out, size) < 0 ? -errno : 0;
}

/*
 * The parent of a copied-up object is "impure", in the kernel's format: its
 * upper entries may present other inode numbers than their own, so the kernel
 * (and dir.c) map d_ino to st_ino in its listings.
 */
void ovl_mark_impure(struct ovl_fs *fs, int dirfd)
{
	layer_dir_mark_impure(dirfd, fs->xns);
}

/* The kernel's cached attributes of `node` no longer hold (it cannot see a copy-up change them). */
static void notify_attrs_changed(struct ovl_fs *fs, struct ovl_node *node)
{
	/* attributes only (offset -1): no page or inode lock taken, so safe from inside a request */
	if (fs->se)
		(void) fuse_lowlevel_notify_inval_inode(fs->se, ovl_nodeid(fs, node), -1, 0);
}

/* A copy-up is no change of its parent: its times are put back as they were (the kernel does too). */
static void restore_times(int dirfd, const struct stat *st)
{
	char path[64];
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
	(void) utimensat(AT_FDCWD, path, ts, 0);
}

/* Metadata of `st` (the source, srcname in srcdir) onto work/tmp, before the caller renames it into place.  `ino` 0: no origin recorded. */
static int finish_copy(struct ovl_fs *fs, int layer, const struct stat *st, int srcdir, const char *srcname,
		       const char *tmp, uint64_t ino)
{
	char src[64 + NAME_MAX], dst[64 + NAME_MAX];
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	uid_t uid;
	gid_t gid;
	mode_t perms;
	int r;

	ovl_stored_attrs(fs, layer, -1, srcdir, srcname, st, &uid, &gid, &perms);
	/* owner first: chown drops security.capability, which the xattrs then bring back */
	r = ovl_store_attrs(fs, -1, fs->workfd, tmp, st->st_mode, uid, gid, perms, OVL_ATTR_OWNER | OVL_ATTR_COPY);
	if (r < 0)
		return r;
	snprintf(src, sizeof(src), "/proc/self/fd/%d/%s", srcdir, srcname);
	snprintf(dst, sizeof(dst), "/proc/self/fd/%d/%s", fs->workfd, tmp);
	r = copy_xattrs(src, dst);
	if (r < 0)
		return r;
	r = ovl_store_attrs(fs, -1, fs->workfd, tmp, st->st_mode, uid, gid, perms, OVL_ATTR_MODE | OVL_ATTR_COPY);
	if (r < 0)
		return r;
	if (!S_ISLNK(st->st_mode) && ino)
		(void) layer_set_origin(fs->workfd, tmp, fs->xns, ino);
	if (utimensat(fs->workfd, tmp, times, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static void remove_tmp(struct ovl_fs *fs, const char *tmp, bool dir)
{
	(void) unlinkat(fs->workfd, tmp, dir ? AT_REMOVEDIR : 0);
}

int ovl_upper_dir(struct ovl_fs *fs, struct ovl_node *dir, struct ovl_dirpin *ret)
{
	_cleanup_dirpin_ struct ovl_dirpin ppin = OVL_DIRPIN_INIT, spin = OVL_DIRPIN_INIT;
	struct ovl_node *parent = NULL;
	char name[NAME_MAX + 1], tmp[64];
	int pfd, srcfd, fd, srclayer, r;
	struct stat st, ust, pst;
	bool has, dead;

	*ret = (struct ovl_dirpin){ .fs = fs, .fd = -1 };
	if (fs->read_only)
		return -EROFS;
	pthread_mutex_lock(&fs->lock);
	has = ovl_dir(dir)->has_upper;
	dead = dir->dead;
	pthread_mutex_unlock(&fs->lock);
	if (has)
		return ovl_dir_pin(fs, dir, OVL_UPPER, ret);
	if (dead)
		return -ENOENT;

	r = ovl_node_first_alias(fs, dir, &parent, name, sizeof(name));
	if (r < 0)
		return r;
	pfd = ovl_upper_dir(fs, parent, &ppin); /* parents first, before our own lock */
	if (pfd < 0)
		return pfd;

	pthread_mutex_lock(ovl_copyup_lock(fs, dir));
	pthread_mutex_lock(&fs->lock);
	has = ovl_dir(dir)->has_upper;
	srclayer = ovl_dir(dir)->nlower ? ovl_dir(dir)->lowers[0].layer : OVL_UPPER;
	pthread_mutex_unlock(&fs->lock);
	if (has) {
		pthread_mutex_unlock(ovl_copyup_lock(fs, dir));
		return ovl_dir_pin(fs, dir, OVL_UPPER, ret);
	}
	srcfd = ovl_dir_pin(fs, dir, OVL_TOP, &spin);
	if (srcfd < 0) {
		r = srcfd;
		goto out;
	}
	if (fstat(srcfd, &st) < 0 || fstat(pfd, &pst) < 0) {
		r = -errno;
		goto out;
	}
	ovl_work_name(tmp, sizeof(tmp));
	if (mkdirat(fs->workfd, tmp, 0700) < 0) {
		r = -errno;
		goto out;
	}
	/* the lower dir itself: "/proc/self/fd/N/." names it */
	r = finish_copy(fs, srclayer, &st, srcfd, ".", tmp, dir->ino);
	if (r == 0 && renameat(fs->workfd, tmp, pfd, name) < 0)
		r = -errno;
	if (r < 0) {
		remove_tmp(fs, tmp, true);
		goto out;
	}
	fd = layer_open_beneath(pfd, name, O_PATH | O_DIRECTORY);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	if (fstat(fd, &ust) < 0) {
		r = -errno;
		close(fd);
		goto out;
	}
	ovl_mark_impure(fs, pfd);
	restore_times(pfd, &pst);
	pthread_mutex_lock(&fs->lock);
	ovl_node_rekey_locked(fs, dir, ust.st_dev, ust.st_ino);
	ovl_dir(dir)->has_upper = true;
	fd = ovl_dfd_install_locked(fs, &ovl_dir(dir)->upper, fd);
	pthread_mutex_unlock(&fs->lock);
	if (fd >= 0)
		close(fd);
	r = 0;
out:
	pthread_mutex_unlock(ovl_copyup_lock(fs, dir));
	if (r < 0)
		return r;
	/* Now merged, its link count reads 1 (as in the kernel): what the kernel cached is stale. */
	if (ovl_dir(dir)->nlower)
		notify_attrs_changed(fs, dir);
	return ovl_dir_pin(fs, dir, OVL_UPPER, ret);
}

int ovl_copy_up(struct ovl_fs *fs, struct ovl_node *node, bool truncate)
{
	_cleanup_dirpin_ struct ovl_dirpin ppin = OVL_DIRPIN_INIT, lpin = OVL_DIRPIN_INIT;
	struct ovl_node *parent = NULL;
	char name[NAME_MAX + 1], tmp[64];
	int pfd, lfd, layer, r;
	struct stat st, ust, pst;
	bool split = false; /* a hard-linked lower file copied up by one of its names */

	if (fs->read_only)
		return -EROFS;
	if (S_ISDIR(node->type)) {
		r = ovl_upper_dir(fs, node, &ppin);
		return r < 0 ? r : 0;
	}
	pthread_mutex_lock(&fs->lock);
	layer = node->layer;
	pthread_mutex_unlock(&fs->lock);
	if (layer == OVL_UPPER)
		return 0;

	r = ovl_node_first_alias(fs, node, &parent, name, sizeof(name));
	if (r < 0)
		return r;
	pfd = ovl_upper_dir(fs, parent, &ppin);
	if (pfd < 0)
		return pfd;

	pthread_mutex_lock(ovl_copyup_lock(fs, node));
	pthread_mutex_lock(&fs->lock);
	layer = node->layer;
	pthread_mutex_unlock(&fs->lock);
	if (layer == OVL_UPPER) {
		r = 0;
		goto out;
	}
	lfd = ovl_dir_pin(fs, parent, layer, &lpin);
	if (lfd < 0 || fstatat(lfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || fstat(pfd, &pst) < 0) {
		r = -ENOENT;
		goto out;
	}
	ovl_work_name(tmp, sizeof(tmp));
	if (S_ISREG(st.st_mode)) {
		_cleanup_close_ int in = -1, out = -1;

		out = openat(fs->workfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out < 0) {
			r = -errno;
			goto out;
		}
		if (!truncate) {
			in = openat(lfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			r = in < 0 ? -errno : copy_data(in, out, st.st_size);
		}
	} else if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX + 1];
		ssize_t n = readlinkat(lfd, name, target, sizeof(target) - 1);
		if (n < 0) {
			r = -errno;
			goto out;
		}
		target[n] = '\0';
		r = symlinkat(target, fs->workfd, tmp) < 0 ? -errno : 0;
	} else {
		r = mknodat(fs->workfd, tmp, st.st_mode, st.st_rdev) < 0 ? -errno : 0;
	}
	if (r < 0) {
		remove_tmp(fs, tmp, false);
		goto out;
	}
	/*
	 * A lower file with other names keeps them there: the copy is a file of
	 * its own, which must not present the inode number they share (the
	 * kernel without index=on does the same).
	 */
	r = finish_copy(fs, layer, &st, lfd, name, tmp, st.st_nlink > 1 ? 0 : node->ino);
	if (r == 0 && renameat(fs->workfd, tmp, pfd, name) < 0)
		r = -errno;
	if (r < 0) {
		remove_tmp(fs, tmp, false);
		goto out;
	}
	if (fstatat(pfd, name, &ust, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		goto out;
	}
	ovl_mark_impure(fs, pfd);
	restore_times(pfd, &pst);
	pthread_mutex_lock(&fs->lock);
	node->layer = OVL_UPPER;
	__atomic_add_fetch(&node->copyup_gen, 1, __ATOMIC_RELEASE); /* read without fs->lock by handles */
	if (st.st_nlink > 1)
		node->ino = ovl_present_ino(fs, OVL_UPPER, ust.st_ino);
	ovl_node_rekey_locked(fs, node, ust.st_dev, ust.st_ino);
	pthread_mutex_unlock(&fs->lock);
	split = st.st_nlink > 1;
out:
	pthread_mutex_unlock(ovl_copyup_lock(fs, node));
	if (split) {
		/* a copy of its own now: link count 1, its own inode number */
		ovl_dir_listing_drop(fs, parent); /* its d_ino changed with st_ino */
		notify_attrs_changed(fs, node);
	}
	return r;
}

/* A new open file description of what fd refers to (an O_PATH fd included). */
static int reopen_fd(int fd, int flags)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int copy_up_orphan(struct ovl_fs *fs, struct ovl_node *node)
{
	struct stat st;
	bool upper;
	int ofd, lower_layer, r;

	pthread_mutex_lock(&fs->lock);
	upper = node->layer == OVL_UPPER;
	lower_layer = node->layer;
	ofd = node->orphan_fd;
	pthread_mutex_unlock(&fs->lock);
	if (upper)
		return 0;
	if (fs->workfd < 0)
		return -EROFS;
	if (ofd < 0)
		return -ENOENT;
	_cleanup_close_ int in = reopen_fd(ofd, O_RDONLY);
	if (in < 0)
		return in;
	if (fstat(in, &st) < 0)
		return -errno;
	_cleanup_close_ int out = openat(fs->workfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	r = copy_data(in, out, st.st_size);
	if (r == 0 && ftruncate(out, st.st_size) < 0)
		r = -errno;
	if (r < 0)
		return r;
	r = ovl_copy_attrs(fs, lower_layer, in, -1, NULL, &st, out, -1, NULL);
	if (r < 0)
		return r;
	(void) futimens(out, (struct timespec[]){ st.st_atim, st.st_mtim });
	/* The copy takes the orphan fd's number in one step: a request using it meanwhile sees one file or the other. */
	if (dup3(out, ofd, O_CLOEXEC) < 0)
		return -errno;
	pthread_mutex_lock(&fs->lock);
	node->layer = OVL_UPPER;
	__atomic_add_fetch(&node->copyup_gen, 1, __ATOMIC_RELEASE); /* read without fs->lock by handles */
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

/*
 * A lower file that lost its name while the kernel may still write to it
 * (without open handles any reference may be an open file): the copy goes to
 * an anonymous file in the work directory, which becomes the node's orphan.
 * It never shows in the view and goes away with the node.
 */
int ovl_copy_up_orphan(struct ovl_fs *fs, struct ovl_node *node)
{
	int r;

	pthread_mutex_lock(ovl_copyup_lock(fs, node));
	r = copy_up_orphan(fs, node);
	pthread_mutex_unlock(ovl_copyup_lock(fs, node));
	return r;
}

/*
 * A new fd on the node's real file, by its name, or, nameless, by reopening
 * the object kept at its removal (copied up first when it is to be written):
 * for one request when the kernel opens files without telling us, or for a
 * read-only handle following its file up.
 */
int ovl_open_node_io(struct ovl_fs *fs, struct ovl_node *node, int flags, int *ret_layer)
{
	bool writes = (flags & O_ACCMODE) != O_RDONLY;
	int fd, ofd, layer, r;

	fd = ovl_open_real(fs, node, flags, ret_layer);
	if (fd != -ENOENT || S_ISDIR(node->type))
		return fd;
	if (writes) {
		r = ovl_copy_up_orphan(fs, node);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&fs->lock);
	ofd = node->orphan_fd;
	layer = node->layer; /* the orphan's: it is kept from where the name was, and moves up with the node */
	pthread_mutex_unlock(&fs->lock);
	if (ofd < 0)
		return -ENOENT;
	fd = reopen_fd(ofd, flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY));
	if (fd >= 0 && ret_layer)
		*ret_layer = layer;
	return fd;
}

int ovl_open_real(struct ovl_fs *fs, struct ovl_node *node, int flags, int *ret_layer)
{
	_cleanup_dirpin_ struct ovl_dirpin pin = OVL_DIRPIN_INIT;
	struct ovl_node *parent = NULL;
	char name[NAME_MAX + 1];
	int pfd, layer, fd, r;
	bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);

	if (writes) {
		r = ovl_copy_up(fs, node, (flags & O_TRUNC) != 0);
		if (r < 0)
			return r;
	}
	r = ovl_node_first_alias(fs, node, &parent, name, sizeof(name));
	if (r < 0)
		return r;
	pthread_mutex_lock(&fs->lock);
	layer = node->layer;
	pthread_mutex_unlock(&fs->lock);
	pfd = ovl_dir_pin(fs, parent, layer, &pin);
	if (pfd < 0)
		return -ENOENT;
	fd = openat(pfd, name, (flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ret_layer)
		*ret_layer = layer;
	return fd;
}
