/* SPDX-License-Identifier: MIT */
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"

int path_normalize_relative(const char *in, char **ret_path, isofs_error *err)
{
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	const char *p = in;

	if (!in)
		return error_set(err, EINVAL, "missing path");
	if (in[0] == '/')
		return error_set(err, EINVAL, "'%s' is an absolute path", in);
	out = malloc(strlen(in) + 1);
	if (!out)
		return error_set(err, ENOMEM, "out of memory");

	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t) (end - p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return error_set(err, EINVAL, "'%s' contains a '..' component", in);
		if (n > NAME_MAX)
			return error_set(err, ENAMETOOLONG, "'%s' has a component longer than %d bytes", in, NAME_MAX);
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (len > 0)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p = *end ? end + 1 : end;
	}
	out[len] = '\0';
	*ret_path = TAKE_PTR(out);
	return 0;
}

const char *path_last_component(const char *path, char *parent, size_t parent_size)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t) (slash - path) : 0;

	if (parent_size == 0)
		return slash ? slash + 1 : path;
	if (n >= parent_size)
		n = parent_size - 1;
	memcpy(parent, path, n);
	parent[n] = '\0';
	return slash ? slash + 1 : path;
}

int path_open_dir_beneath(int rootfd, const char *relpath, mode_t create_mode, int *ret_fd)
{
	_cleanup_close_ int fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	const char *p = relpath;

	if (fd < 0)
		return -errno;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t) (end - p);
		char name[NAME_MAX + 1];
		int next;

		if (n == 0 || n > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, p, n);
		name[n] = '\0';
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			return -EINVAL;

		next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create_mode) {
			if (mkdirat(fd, name, create_mode) < 0 && errno != EEXIST)
				return -errno;
			next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			struct stat st;
			int e = errno;

			/* Say "symlink" when that is why O_DIRECTORY|O_NOFOLLOW refused it. */
			if (e == ENOTDIR && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				return -ELOOP;
			return -e;
		}
		closep(&fd);
		fd = next;
		p = *end ? end + 1 : end;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}
