/* SPDX-License-Identifier: MIT */
#include "layers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "path.h"
#include "strset.h"

int layer_chain_get(isofs_store *store, const char *name, struct layer_chain *ret, isofs_error *err)
{
	struct layer_chain c = { 0 };
	char current[ISOFS_NAME_MAX + 1];
	int r;

	snprintf(current, sizeof(current), "%s", name);
	for (;;) {
		isofs_image_info info;

		if (c.n == LAYERS_MAX) {
			layer_chain_free(&c);
			return error_set(err, ELOOP, "image '%s' stacks more than %d layers", name, LAYERS_MAX);
		}
		r = isofs_image_get(store, current, &info, err);
		if (r < 0) {
			layer_chain_free(&c);
			return r;
		}
		c.paths[c.n] = info.rootfs;
		c.rootless[c.n] = info.rootless;
		info.rootfs = NULL;
		c.n++;
		if (!info.parent) {
			isofs_image_info_free(&info);
			break;
		}
		snprintf(current, sizeof(current), "%s", info.parent);
		isofs_image_info_free(&info);
	}
	*ret = c;
	return 0;
}

void layer_chain_free(struct layer_chain *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->paths[i]);
	c->n = 0;
}

bool layer_is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool has_xattr_y(int fd, const char *name)
{
	char path[64], v;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return getxattr(path, name, &v, 1) == 1 && v == 'y';
}

bool layer_dir_is_opaque(int dirfd)
{
	return has_xattr_y(dirfd, "trusted.overlay.opaque") || has_xattr_y(dirfd, "user.overlay.opaque");
}

/* The absolute redirect of a renamed directory, or "" */
static void dir_redirect(int fd, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = getxattr(path, "trusted.overlay.redirect", buf, size - 1);
	if (n <= 0)
		n = getxattr(path, "user.overlay.redirect", buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
}

struct walk_dir {
	int layer;
	int fd; /* O_RDONLY|O_DIRECTORY */
};

/* The directory a redirect names ("/a/b") below a layer root, no symlink followed; -1 when absent. */
static int open_in_layer(int rootfd, const char *path)
{
	_cleanup_close_ int pfd = -1;

	while (*path == '/')
		path++;
	if (path_open_dir_beneath(rootfd, path, 0, &pfd) < 0)
		return -1;
	return openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int walk_dir(const int *rootfds, int nroots, const char *path, struct walk_dir *dirs, int ndirs,
		    merged_visit_fn visit, void *ctx)
{
	struct strset seen = { .owns = true }, hidden = { .owns = true };
	int r = 0;

	/* Names in the merged directory: each once, the topmost copy wins, whiteouts hide lower ones. */
	for (int i = 0; i < ndirs && r == 0; i++) {
		_cleanup_closedir_ DIR *d = opendir_fd(dirs[i].fd);
		struct dirent *de;

		if (!d) {
			r = -errno;
			break;
		}
		while (r == 0 && (errno = 0, de = readdir(d))) {
			struct stat st;
			char *child = NULL;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (strset_contains(&seen, de->d_name) || strset_contains(&hidden, de->d_name))
				continue;
			if (fstatat(dirs[i].fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				r = -errno;
				break;
			}
			if (layer_is_whiteout(&st)) {
				r = strset_add(&hidden, de->d_name) < 0 ? -ENOMEM : 0;
				continue;
			}
			if (strset_add(&seen, de->d_name) < 0) {
				r = -ENOMEM;
				break;
			}
			if (asprintf(&child, "%s%s%s", path, *path ? "/" : "", de->d_name) < 0) {
				r = -ENOMEM;
				break;
			}
			r = visit(ctx, child, dirs[i].fd, de->d_name, &st, dirs[i].layer);
			if (r == 0 && S_ISDIR(st.st_mode)) {
				struct walk_dir sub[LAYERS_MAX];
				char redirect[PATH_MAX];
				int nsub = 0;

				sub[0].layer = dirs[i].layer;
				sub[0].fd = openat(dirs[i].fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (sub[0].fd < 0) {
					r = -errno;
					free(child);
					break;
				}
				nsub = 1;
				dir_redirect(sub[0].fd, redirect, sizeof(redirect));
				if (!layer_dir_is_opaque(sub[0].fd)) {
					if (redirect[0] == '/') {
						for (int l = dirs[i].layer + 1; l < nroots && nsub < LAYERS_MAX; l++) {
							int fd = open_in_layer(rootfds[l], redirect);
							if (fd < 0)
								continue;
							sub[nsub++] = (struct walk_dir){ l, fd };
							if (layer_dir_is_opaque(fd))
								break;
						}
					} else {
						/* The same name (or the one a relative redirect gives) in the directories merged below. */
						const char *lname = redirect[0] ? redirect : de->d_name;
						for (int j = i + 1; j < ndirs && nsub < LAYERS_MAX; j++) {
							struct stat lst;
							int fd;
							if (fstatat(dirs[j].fd, lname, &lst, AT_SYMLINK_NOFOLLOW) < 0)
								continue;
							if (!S_ISDIR(lst.st_mode))
								break; /* a whiteout or a file hides what is below */
							fd = openat(dirs[j].fd, lname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
							if (fd < 0)
								break;
							sub[nsub++] = (struct walk_dir){ dirs[j].layer, fd };
							if (layer_dir_is_opaque(fd))
								break;
						}
					}
				}
				r = walk_dir(rootfds, nroots, child, sub, nsub, visit, ctx);
				for (int k = 0; k < nsub; k++)
					close(sub[k].fd);
			}
			free(child);
		}
		if (r == 0 && errno)
			r = -errno;
		/* An opaque directory hides the rest: its lower ones are not in dirs[]. */
	}
	strset_free(&seen);
	strset_free(&hidden);
	return r;
}

int merged_walk(const int *rootfds, int n, merged_visit_fn visit, void *ctx)
{
	struct walk_dir dirs[LAYERS_MAX];
	int nd = 0, r;

	for (int i = 0; i < n && nd < LAYERS_MAX; i++) {
		dirs[nd].layer = i;
		dirs[nd].fd = openat(rootfds[i], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirs[nd].fd < 0) {
			r = -errno;
			for (int k = 0; k < nd; k++)
				close(dirs[k].fd);
			return r;
		}
		nd++;
		if (layer_dir_is_opaque(dirs[nd - 1].fd))
			break;
	}
	r = walk_dir(rootfds, n, "", dirs, nd, visit, ctx);
	for (int k = 0; k < nd; k++)
		close(dirs[k].fd);
	return r;
}
