/* SPDX-License-Identifier: MIT */
#include "archive-lib.h"
#include "tree-write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "idmap.h"
#include "layer-format.h"
#include "layer-owner.h"
#include "path.h"
#include "userns.h"

/* Directory mode and times are applied at the end, deepest first. */
struct dir_fixup {
	char *path;
	unsigned depth;
	size_t seq;
	mode_t mode;
	struct timespec times[2];
};

/* Rootless: a symlink or fifo whose owner becomes a subordinate id at the end. */
struct subordinate_owner {
	char *path;
	uid_t uid;
	gid_t gid;
	mode_t perm; /* put back after chown, which clears setuid and setgid */
};

struct tree_writer {
	int rootfd;
	bool privileged;
	uid_t caller_uid;
	gid_t caller_gid;
	struct idmap map; /* rootless: the store's, for subordinate owners */

	struct subordinate_owner *subowners;
	size_t n_subowners, cap_subowners;

	/* The parent of the last entry: archives list a directory's entries together. */
	char *cached_parent;
	int cached_fd;

	struct dir_fixup *fixups;
	size_t n_fixups, cap_fixups;

	isofs_import_stats stats;

	/* Free space of the root's file system, as last measured, less what was written since. */
	uint64_t space_left;
	uint64_t space_reserve;   /* kept free for everything else: 1% of the file system, at most 64 MiB */
	uint64_t written_unmeasured;
	bool space_known;
};

/* Measured again after this much data: other writers share the file system. */
#define SPACE_RECHECK (64ull << 20)

int tree_writer_new(int rootfd, bool privileged, tree_writer **ret_tw)
{
	tree_writer *tw;
	int r = archive_lib_load(NULL);

	if (r < 0)
		return r;
	tw = calloc(1, sizeof(*tw));
	if (!tw)
		return -ENOMEM;
	tw->rootfd = rootfd;
	tw->privileged = privileged;
	tw->caller_uid = geteuid();
	tw->caller_gid = getegid();
	if (!privileged)
		idmap_choose(&tw->map);
	tw->cached_fd = -EBADF;
	*ret_tw = tw;
	return 0;
}

void tree_writer_free(tree_writer *tw)
{
	if (!tw)
		return;
	for (size_t i = 0; i < tw->n_fixups; i++)
		free(tw->fixups[i].path);
	free(tw->fixups);
	for (size_t i = 0; i < tw->n_subowners; i++)
		free(tw->subowners[i].path);
	free(tw->subowners);
	free(tw->cached_parent);
	closep(&tw->cached_fd);
	free(tw);
}

const isofs_import_stats *tree_writer_stats(const tree_writer *tw)
{
	return &tw->stats;
}

static void cache_forget(tree_writer *tw)
{
	free(tw->cached_parent);
	tw->cached_parent = NULL;
	closep(&tw->cached_fd);
	tw->cached_fd = -EBADF;
}

/* Returns a borrowed fd of directory `parent`, creating missing components. */
static int open_parent(tree_writer *tw, const char *entry, const char *parent, isofs_error *err)
{
	int fd = -EBADF, r;

	if (tw->cached_parent && strcmp(tw->cached_parent, parent) == 0)
		return tw->cached_fd;
	cache_forget(tw);
	r = path_open_dir_beneath(tw->rootfd, parent, 0755, &fd);
	if (r == -ELOOP)
		return error_set(err, ELOOP, "entry '%s' lies beneath a symlink in the archive; refusing to follow it",
				 entry);
	if (r == -ENOTDIR)
		return error_set(err, ENOTDIR, "entry '%s': a parent in the archive is not a directory", entry);
	if (r < 0)
		return error_errno(err, r, "entry '%s'", entry);
	tw->cached_parent = strdup(parent);
	if (!tw->cached_parent) {
		close(fd);
		return error_set(err, ENOMEM, "out of memory");
	}
	tw->cached_fd = fd;
	return fd;
}

static bool errno_is_unsupported(int e)
{
	return e == EPERM || e == ENOTSUP || e == EOPNOTSUPP || e == EACCES || e == EINVAL;
}

/* Sets one xattr by fd or, for entries that cannot be opened, through the parent's /proc path. */
static int set_xattr(int fd, const char *procpath, const char *name, const void *value, size_t size)
{
	int r = fd >= 0 ? fsetxattr(fd, name, value, size, 0) : lsetxattr(procpath, name, value, size, 0);
	return r < 0 ? -errno : 0;
}

static int apply_xattrs(tree_writer *tw, struct archive_entry *e, int fd, const char *procpath, bool symlink,
			const char *entry, isofs_error *err)
{
	const char *names[256];
	size_t n = 0;
	const char *name;
	const void *value;
	size_t size;

	if (archive_entry_acl_count(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS | ARCHIVE_ENTRY_ACL_TYPE_DEFAULT) > 0)
		tw->stats.acls_dropped++;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		bool seen = false;
		int r;

		/* libarchive's pax reader may list one twice (SCHILY.xattr and LIBARCHIVE.xattr) */
		for (size_t i = 0; i < n && !seen; i++)
			seen = strcmp(names[i], name) == 0;
		if (seen)
			continue;
		if (n < sizeof(names) / sizeof(names[0]))
			names[n++] = name;
		/*
		 * Layer metadata (overlay redirects, opaque and origin marks, user.isofs.*, a
		 * forged user.isofs.owner among them) is the overlay's and ours to write, never
		 * an entry's: the source is hostile input.  Escaped names (<ns>.overlay.overlay.X,
		 * a user's <ns>.overlay.X as a view stores it and export writes it) are kept.
		 */
		if (layer_xattr_is_metadata(name)) {
			tw->stats.overlay_xattrs_dropped++;
			continue;
		}
		if (symlink && strncmp(name, "user.", 5) == 0) {
			tw->stats.xattrs_dropped++; /* the kernel allows no user.* xattr on a symlink */
			continue;
		}
		r = set_xattr(fd, procpath, name, value, size);
		if (r < 0) {
			if (!errno_is_unsupported(-r))
				return error_errno(err, r, "entry '%s': xattr %s", entry, name);
			tw->stats.xattrs_dropped++;
		}
	}
	return 0;
}

/* Rootless: keeps a symlink's or fifo's owner for subordinate_owners_apply(). 0, or -ENOMEM. */
static int defer_subordinate_owner(tree_writer *tw, const char *rel, uid_t uid, gid_t gid, mode_t perm)
{
	struct subordinate_owner *o;

	if (tw->n_subowners == tw->cap_subowners) {
		size_t cap = tw->cap_subowners ? 2 * tw->cap_subowners : 64;
		o = realloc(tw->subowners, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		tw->subowners = o;
		tw->cap_subowners = cap;
	}
	o = &tw->subowners[tw->n_subowners];
	o->path = strdup(rel);
	if (!o->path)
		return -ENOMEM;
	o->uid = uid;
	o->gid = gid;
	o->perm = perm;
	tw->n_subowners++;
	return 0;
}

/*
 * Owner: chown when privileged; else 0:0 is the caller itself (who is root in
 * the sandbox) and any other owner is kept in LAYER_OWNER_XATTR, or, for what
 * cannot carry user.* xattrs (symlinks, fifos: `special`, `rel` its path), as
 * a subordinate id once the tree is written (fuse/ids.c has the format).
 */
static int apply_owner(tree_writer *tw, struct archive_entry *e, int fd, int parentfd, const char *name,
		       const char *procpath, bool special, const char *rel, const char *entry, isofs_error *err)
{
	uid_t uid = (uid_t) archive_entry_uid(e);
	gid_t gid = (gid_t) archive_entry_gid(e);
	char value[64];
	int r;

	if (tw->privileged) {
		r = fd >= 0 ? fchown(fd, uid, gid) : fchownat(parentfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
		if (r == 0)
			return 0;
		if (errno != EPERM && errno != EINVAL)
			return error_errno(err, errno, "entry '%s': chown", entry);
		/* EINVAL: an id this user namespace does not map; keep it as a rootless import would. */
	} else if (uid == 0 && gid == 0) {
		return 0;
	}
	if (special) {
		if (!tw->privileged && tw->map.kind == IDMAP_SUBID && uid < IDMAP_RANGE && gid < IDMAP_RANGE) {
			if (defer_subordinate_owner(tw, rel, uid, gid, archive_entry_perm(e) & 07777) < 0)
				return error_set(err, ENOMEM, "out of memory");
			tw->stats.owners_subordinate++;
			return 0;
		}
		tw->stats.owners_dropped++;
		return 0;
	}
	snprintf(value, sizeof(value), "%u:%u", (unsigned) uid, (unsigned) gid);
	r = set_xattr(fd, procpath, LAYER_OWNER_XATTR, value, strlen(value));
	if (r < 0) {
		if (!errno_is_unsupported(-r))
			return error_errno(err, r, "entry '%s': owner xattr", entry);
		tw->stats.owners_dropped++;
	} else {
		tw->stats.owners_in_xattr++;
	}
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec times[2])
{
	times[1].tv_sec = archive_entry_mtime(e);
	times[1].tv_nsec = archive_entry_mtime_is_set(e) ? archive_entry_mtime_nsec(e) : 0;
	if (archive_entry_atime_is_set(e)) {
		times[0].tv_sec = archive_entry_atime(e);
		times[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		times[0] = times[1];
	}
}

/*
 * Refuses, before a byte is written, what the file system cannot hold: an
 * entry whose declared size exceeds the free space (a decompression bomb
 * declares its sizes), and, as data comes, an import that used the space up.
 * `need`: bytes about to be written.
 */
static int space_check(tree_writer *tw, uint64_t need, const char *entry, isofs_error *err)
{
	if (!tw->space_known || tw->written_unmeasured >= SPACE_RECHECK || need >= tw->space_left) {
		struct statvfs sv;

		if (fstatvfs(tw->rootfd, &sv) < 0)
			return 0; /* no measure: the writes themselves will tell */
		tw->space_left = (uint64_t) sv.f_bavail * sv.f_frsize;
		tw->space_reserve = (uint64_t) sv.f_blocks * sv.f_frsize / 100;
		if (tw->space_reserve > (64ull << 20))
			tw->space_reserve = 64ull << 20;
		tw->written_unmeasured = 0;
		tw->space_known = true;
	}
	if (need + tw->space_reserve > tw->space_left)
		return error_errno(err, ENOSPC, "entry '%s' (%llu bytes) does not fit in the store (%llu bytes free)",
				   entry, (unsigned long long) need, (unsigned long long) tw->space_left);
	return 0;
}

static void space_used(tree_writer *tw, uint64_t n)
{
	tw->space_left = n < tw->space_left ? tw->space_left - n : 0;
	tw->written_unmeasured += n;
}

static int write_data(tree_writer *tw, int fd, struct archive_entry *e, tree_data_fn data, void *ctx,
		      const char *entry, isofs_error *err)
{
	int64_t end = 0;

	for (;;) {
		const void *buf;
		size_t len;
		int64_t offset;
		int r = data(ctx, &buf, &len, &offset, err);

		if (r < 0)
			return error_prefix(err, r, "entry '%s'", entry);
		if (r == 0)
			break;
		r = space_check(tw, len, entry, err);
		if (r < 0)
			return r;
		for (size_t done = 0; done < len;) {
			ssize_t n = pwrite(fd, (const char *) buf + done, len - done, offset + (off_t) done);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return error_errno(err, errno, "entry '%s': write", entry);
			}
			done += (size_t) n;
		}
		tw->stats.bytes += len;
		space_used(tw, len);
		if (offset + (int64_t) len > end)
			end = offset + (int64_t) len;
	}
	/* Sparse files end in a hole the data blocks do not cover. */
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > end)
		end = archive_entry_size(e);
	if (ftruncate(fd, end) < 0)
		return error_errno(err, errno, "entry '%s': truncate", entry);
	return 0;
}

static int add_dir_fixup(tree_writer *tw, const char *relpath, struct archive_entry *e)
{
	struct dir_fixup *f;
	unsigned depth = 0;

	if (tw->n_fixups == tw->cap_fixups) {
		size_t cap = tw->cap_fixups ? tw->cap_fixups * 2 : 64;
		struct dir_fixup *n = realloc(tw->fixups, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		tw->fixups = n;
		tw->cap_fixups = cap;
	}
	f = &tw->fixups[tw->n_fixups];
	f->path = strdup(relpath);
	if (!f->path)
		return -ENOMEM;
	for (const char *p = relpath; *p; p++)
		depth += *p == '/';
	f->depth = *relpath ? depth + 1 : 0;
	f->seq = tw->n_fixups++;
	f->mode = archive_entry_perm(e) & 07777;
	entry_times(e, f->times);
	return 0;
}

static int write_hardlink(tree_writer *tw, int parentfd, const char *name, const char *target, const char *entry,
			  isofs_error *err)
{
	_cleanup_free_ char *rel = NULL;
	_cleanup_close_ int tfd = -EBADF;
	char tparent[PATH_MAX];
	const char *tname;
	int r;

	r = path_normalize_relative(target, &rel, err);
	if (r < 0)
		return error_prefix(err, r, "hard link '%s' points outside the archive", entry);
	if (strlen(rel) >= sizeof(tparent))
		return error_set(err, ENAMETOOLONG, "hard link '%s': its target is longer than %d bytes", entry, PATH_MAX);
	if (!*rel)
		return error_set(err, EINVAL, "hard link '%s' points to the root directory", entry);
	tname = path_last_component(rel, tparent, sizeof(tparent));
	r = path_open_dir_beneath(tw->rootfd, tparent, 0, &tfd);
	if (r == -ENOENT)
		return error_set(err, ENOENT, "hard link '%s' points to '%s', which is not in the archive", entry, rel);
	if (r == -ELOOP)
		return error_set(err, ELOOP, "hard link '%s' points beneath a symlink ('%s'); refusing to follow it",
				 entry, rel);
	if (r < 0)
		return error_errno(err, r, "hard link '%s' to '%s'", entry, rel);
	if (linkat(tfd, tname, parentfd, name, 0) < 0) {
		if (errno == ENOENT)
			return error_set(err, ENOENT, "hard link '%s' points to '%s', which is not in the archive",
					 entry, rel);
		if (errno == EPERM)
			return error_set(err, EPERM, "hard link '%s' points to '%s', which is a directory", entry, rel);
		return error_errno(err, errno, "hard link '%s' to '%s'", entry, rel);
	}
	tw->stats.hardlinks++;
	return 0;
}

static int write_regular(tree_writer *tw, struct archive_entry *e, int parentfd, const char *name,
			 tree_data_fn data, void *ctx, const char *entry, isofs_error *err)
{
	_cleanup_close_ int fd = -EBADF;
	struct timespec times[2];
	int r;

	/* Sparse entries declare their apparent size: their data is checked as it comes. */
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 && archive_entry_sparse_count(e) == 0) {
		r = space_check(tw, (uint64_t) archive_entry_size(e), entry, err);
		if (r < 0)
			return r;
	}
	fd = openat(parentfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return error_errno(err, errno, "entry '%s'", entry);
	r = write_data(tw, fd, e, data, ctx, entry, err);
	if (r < 0)
		return r;
	/* Owner before mode: chown clears setuid/setgid. */
	r = apply_owner(tw, e, fd, parentfd, name, NULL, false, NULL, entry, err);
	if (r < 0)
		return r;
	/* xattrs before the mode: a user may not set user.* on a file made 0444 */
	r = apply_xattrs(tw, e, fd, NULL, false, entry, err);
	if (r < 0)
		return r;
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return error_errno(err, errno, "entry '%s': chmod", entry);
	entry_times(e, times);
	if (futimens(fd, times) < 0)
		return error_errno(err, errno, "entry '%s': times", entry);
	tw->stats.files++;
	return 0;
}

static int write_directory(tree_writer *tw, struct archive_entry *e, int parentfd, const char *name,
			   const char *relpath, const char *entry, isofs_error *err)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (mkdirat(parentfd, name, 0700) < 0 && errno != EEXIST)
		return error_errno(err, errno, "entry '%s'", entry);
	fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, "entry '%s'", entry);
	r = apply_owner(tw, e, fd, parentfd, name, NULL, false, NULL, entry, err);
	if (r < 0)
		return r;
	r = apply_xattrs(tw, e, fd, NULL, false, entry, err);
	if (r < 0)
		return r;
	if (add_dir_fixup(tw, relpath, e) < 0)
		return error_set(err, ENOMEM, "out of memory");
	tw->stats.dirs++;
	return 0;
}

/* Symlinks, fifos, device nodes: no fd to hold, so metadata goes by (parentfd, name).  1: skipped. */
static int write_special(tree_writer *tw, struct archive_entry *e, int parentfd, const char *name,
			 const char *rel, const char *entry, isofs_error *err)
{
	mode_t type = archive_entry_filetype(e);
	bool symlink = type == AE_IFLNK;
	char procpath[64 + NAME_MAX];
	struct timespec times[2];
	int r;

	if (symlink) {
		const char *target = archive_entry_symlink(e);
		if (!target || !*target)
			return error_set(err, EINVAL, "symlink '%s' has no target", entry);
		r = symlinkat(target, parentfd, name);
	} else if (type == AE_IFIFO) {
		r = mkfifoat(parentfd, name, 0600);
	} else {
		r = mknodat(parentfd, name, type | 0600, archive_entry_rdev(e));
		if (r < 0 && (errno == EPERM || errno == EACCES)) {
			tw->stats.devices_skipped++; /* rootless, or a namespace without CAP_MKNOD */
			return 1;                    /* not written: not an entry of the image */
		}
	}
	if (r < 0)
		return error_errno(err, errno, "entry '%s'", entry);

	snprintf(procpath, sizeof(procpath), "/proc/self/fd/%d/%s", parentfd, name);
	r = apply_owner(tw, e, -EBADF, parentfd, name, procpath, true, rel, entry, err);
	if (r < 0)
		return r;
	r = apply_xattrs(tw, e, -EBADF, procpath, symlink, entry, err);
	if (r < 0)
		return r;
	if (!symlink && fchmodat(parentfd, name, archive_entry_perm(e) & 07777, 0) < 0)
		return error_errno(err, errno, "entry '%s': chmod", entry);
	entry_times(e, times);
	if (utimensat(parentfd, name, times, AT_SYMLINK_NOFOLLOW) < 0)
		return error_errno(err, errno, "entry '%s': times", entry);

	if (symlink)
		tw->stats.symlinks++;
	else if (type == AE_IFIFO)
		tw->stats.fifos++;
	else
		tw->stats.devices++;
	return 0;
}

/* A later entry of the same name replaces the earlier one, as tar does. */
static int make_room(tree_writer *tw, int parentfd, const char *name, bool keep_dir, const char *entry,
		     isofs_error *err)
{
	struct stat st;
	int r;

	if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : error_errno(err, errno, "entry '%s'", entry);
	if (S_ISDIR(st.st_mode) && keep_dir)
		return 0;
	r = rm_rf_at(parentfd, name);
	if (S_ISDIR(st.st_mode))
		cache_forget(tw); /* after: parentfd is the cached fd; a cached parent may have been inside */
	if (r < 0 && r != -ENOENT)
		return error_errno(err, r, "entry '%s': replacing the earlier entry", entry);
	return 0;
}

int tree_writer_add(tree_writer *tw, struct archive_entry *e, tree_data_fn data, void *data_ctx, isofs_error *err)
{
	const char *entry = archive_entry_pathname(e);
	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	_cleanup_free_ char *rel = NULL;
	char parent[PATH_MAX];
	const char *name;
	int parentfd, r;

	if (!entry)
		return error_set(err, EINVAL, "an entry has no name (or one not valid in this locale)");
	r = path_normalize_relative(entry, &rel, err);
	if (r < 0)
		return error_prefix(err, r, "unsafe entry");
	if (strlen(rel) >= sizeof(parent))
		return error_set(err, ENAMETOOLONG, "entry '%.64s…' is longer than %d bytes", entry, PATH_MAX);

	if (!*rel) {
		/* "./" itself: the root directory's metadata. */
		if (hardlink || type != AE_IFDIR)
			return error_set(err, EINVAL, "entry '%s' would replace the root directory", entry);
		_cleanup_close_ int fd = openat(tw->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return error_errno(err, errno, "entry '%s'", entry);
		r = apply_owner(tw, e, fd, tw->rootfd, ".", NULL, false, NULL, entry, err);
		if (r < 0)
			return r;
		r = apply_xattrs(tw, e, fd, NULL, false, entry, err);
		if (r < 0)
			return r;
		return add_dir_fixup(tw, "", e) < 0 ? error_set(err, ENOMEM, "out of memory") : 0;
	}

	name = path_last_component(rel, parent, sizeof(parent));
	parentfd = open_parent(tw, entry, parent, err);
	if (parentfd < 0)
		return parentfd;
	r = make_room(tw, parentfd, name, !hardlink && type == AE_IFDIR, entry, err);
	if (r < 0)
		return r;
	if (!tw->cached_parent) { /* make_room dropped the cache */
		parentfd = open_parent(tw, entry, parent, err);
		if (parentfd < 0)
			return parentfd;
	}

	if (hardlink)
		r = write_hardlink(tw, parentfd, name, hardlink, entry, err);
	else if (type == AE_IFREG)
		r = write_regular(tw, e, parentfd, name, data, data_ctx, entry, err);
	else if (type == AE_IFDIR)
		r = write_directory(tw, e, parentfd, name, rel, entry, err);
	else if (type == AE_IFLNK || type == AE_IFIFO || type == AE_IFCHR || type == AE_IFBLK)
		r = write_special(tw, e, parentfd, name, rel, entry, err);
	else if (type == AE_IFSOCK) {
		tw->stats.sockets_skipped++;
		return 0;
	} else
		return error_set(err, EINVAL, "entry '%s' has an unknown file type 0%o", entry, (unsigned) type);
	if (r < 0)
		return r;
	if (r == 0)
		tw->stats.entries++;
	return 0;
}

static int fixup_cmp(const void *a, const void *b)
{
	const struct dir_fixup *x = a, *y = b;

	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* In the worker: one deferred owner.  Still a symlink or fifo (a later entry may have replaced it). */
static int subordinate_owner_apply(int rootfd, const struct subordinate_owner *o)
{
	_cleanup_close_ int pfd = -EBADF;
	char parent[PATH_MAX];
	const char *name = path_last_component(o->path, parent, sizeof(parent));
	struct stat st;
	int r = path_open_dir_beneath(rootfd, parent, 0, &pfd);

	if (r < 0)
		return r == -ENOENT || r == -ENOTDIR || r == -ELOOP ? 0 : r;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
		return 0;
	if (fchownat(pfd, name, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISLNK(st.st_mode) && (o->perm & (S_ISUID | S_ISGID)) && fchmodat(pfd, name, o->perm, 0) < 0)
		return -errno;
	return 0;
}

/*
 * Rootless: the deferred owners, set by a worker in the namespace of the
 * user's subordinate range (where chown to those ids is allowed), all at once.
 */
static int subordinate_owners_apply(tree_writer *tw, isofs_error *err)
{
	struct { int code; size_t index; } res = { 0, 0 };
	int p[2], status;
	pid_t pid;

	if (!tw->n_subowners)
		return 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return error_errno(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return error_errno(err, e, "fork");
	}
	if (pid == 0) {
		close(p[0]);
		res.code = userns_enter_mapped(&tw->map);
		res.index = tw->n_subowners; /* the namespace itself */
		for (size_t i = 0; res.code == 0 && i < tw->n_subowners; i++) {
			res.code = subordinate_owner_apply(tw->rootfd, &tw->subowners[i]);
			res.index = i;
		}
		_exit(write(p[1], &res, sizeof(res)) == (ssize_t) sizeof(res) ? 0 : 1);
	}
	close(p[1]);
	ssize_t n = read(p[0], &res, sizeof(res));
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t) sizeof(res))
		return error_set(err, EIO, "owners of symlinks and fifos: the worker died");
	if (res.code < 0 && res.index == tw->n_subowners)
		return error_errno(err, res.code, "owners of symlinks and fifos: user namespace (newuidmap/newgidmap)");
	if (res.code < 0)
		return error_errno(err, res.code, "entry '%s': chown to a subordinate id", tw->subowners[res.index].path);
	return 0;
}

int tree_writer_finish(tree_writer *tw, isofs_error *err)
{
	int r;

	cache_forget(tw);
	r = subordinate_owners_apply(tw, err);
	if (r < 0)
		return r;
	if (tw->n_fixups > 1)
		qsort(tw->fixups, tw->n_fixups, sizeof(*tw->fixups), fixup_cmp);
	for (size_t i = 0; i < tw->n_fixups; i++) {
		struct dir_fixup *f = &tw->fixups[i];
		_cleanup_close_ int pfd = -EBADF, fd = -EBADF;
		char parent[PATH_MAX], procpath[64];
		const char *name = ".";

		if (*f->path) {
			name = path_last_component(f->path, parent, sizeof(parent));
			r = path_open_dir_beneath(tw->rootfd, parent, 0, &pfd);
			if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
				continue; /* replaced by a later entry */
			if (r < 0)
				return error_errno(err, r, "directory '%s'", f->path);
		}
		/* O_PATH|O_NOFOLLOW: a later entry may have put a symlink here; never chmod through it. */
		fd = openat(*f->path ? pfd : tw->rootfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
				continue;
			return error_errno(err, errno, "directory '%s'", *f->path ? f->path : "/");
		}
		snprintf(procpath, sizeof(procpath), "/proc/self/fd/%d", fd);
		if (chmod(procpath, f->mode) < 0 || utimensat(AT_FDCWD, procpath, f->times, 0) < 0)
			return error_errno(err, errno, "directory '%s'", *f->path ? f->path : "/");
	}
	return 0;
}
