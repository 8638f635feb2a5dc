/* SPDX-License-Identifier: MIT */
/*
 * What the store's file system must do, checked once per store (then
 * remembered in STORE/.probed): extended attributes in the namespace this
 * user's layers use (owners, overlay metadata), whiteouts (character device
 * 0/0) and O_TMPFILE (copy-up).  A file system without one of them would be
 * accepted and fail later, in the middle of an import or a sandbox's rm -rf,
 * with a bare ENOTSUP.
 */
#include "store-probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"

#define PROBED_FILE ".probed"

static const char *fs_name(int fd)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} names[] = {
		{ EXT4_SUPER_MAGIC, "ext4" }, { XFS_SUPER_MAGIC, "xfs" },     { BTRFS_SUPER_MAGIC, "btrfs" },
		{ TMPFS_MAGIC, "tmpfs" },     { RAMFS_MAGIC, "ramfs" },       { NFS_SUPER_MAGIC, "nfs" },
		{ MSDOS_SUPER_MAGIC, "vfat" }, { FUSE_SUPER_MAGIC, "fuse" }, { OVERLAYFS_SUPER_MAGIC, "overlay" },
	};
	struct statfs sf;

	if (fstatfs(fd, &sf) == 0)
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if ((unsigned long) sf.f_type == names[i].magic)
				return names[i].name;
	return "this file system";
}

/* One check in the probe directory: 0, or the errno with what failed in `what`. */
static int probe_in(int dirfd, const char **what)
{
	char path[64];
	_cleanup_close_ int fd = openat(dirfd, "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	_cleanup_close_ int tmp = -EBADF;
	const char *xname = geteuid() == 0 ? "trusted.isofs.probe" : "user.isofs.probe";

	*what = "create a file";
	if (fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	*what = geteuid() == 0 ? "keep extended attributes (trusted.*)" : "keep extended attributes (user.*)";
	if (fsetxattr(fd, xname, "y", 1, 0) < 0)
		return -errno;
	*what = "hold whiteouts (character device 0/0)";
	if (mknodat(dirfd, "w", S_IFCHR | 0000, makedev(0, 0)) < 0)
		return -errno;
	*what = "open unnamed temporary files (O_TMPFILE)";
	tmp = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tmp < 0)
		return -errno;
	return 0;
}

int store_probe(int store_fd, int tmp_fd, const char *store_path, isofs_error *err)
{
	char name[64];
	const char *what = "";
	int r;

	if (faccessat(store_fd, PROBED_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	snprintf(name, sizeof(name), "probe.%d", (int) getpid());
	(void) rm_rf_at(tmp_fd, name);
	if (mkdirat(tmp_fd, name, 0700) < 0)
		return error_errno(err, errno, "store %s: probing its file system", store_path);
	{
		_cleanup_close_ int dfd = openat(tmp_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = dfd < 0 ? -errno : probe_in(dfd, &what);
		if (r < 0) {
			const char *fs = dfd >= 0 ? fs_name(dfd) : "its file system";
			(void) rm_rf_at(tmp_fd, name);
			return error_set(err, r == -EPERM || r == -EOPNOTSUPP || r == -ENOTSUP ? EOPNOTSUPP : -r,
					 "store %s: %s cannot %s (%s); put the store on ext4, xfs or btrfs%s "
					 "(--store DIR, or ISOFS_STORE)",
					 store_path, fs, what, strerror(-r),
					 geteuid() == 0 ? ", or tmpfs" : " (tmpfs: Linux 6.6 or later)");
		}
	}
	(void) rm_rf_at(tmp_fd, name);
	r = write_file_atomic_at(store_fd, PROBED_FILE, "ok\n", 3, 0644);
	return r < 0 ? error_errno(err, r, "store %s: %s", store_path, PROBED_FILE) : 0;
}
