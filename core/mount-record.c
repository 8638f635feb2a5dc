/* SPDX-License-Identifier: MIT */
#include "mount-record.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fd-util.h"
#include "process-id.h"
#include "fs-util.h"
#include "json-util.h"
#include "sandbox.h"

#define FUSE_SUPER_MAGIC 0x65735546
#define FUSECTL_SUPER_MAGIC 0x65735543
#define FUSECTL_DIR "/sys/fs/fuse/connections"
#define OVERLAY_FSTYPE "fuse.isofs-overlay"

static void unescape_octal(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*out++ = (char) ((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

bool mountpoint_is_view(const char *path)
{
	unsigned maj, min;
	char type[64];

	return mountinfo_top(path, &maj, &min, type, sizeof(type)) == 0 && strcmp(type, OVERLAY_FSTYPE) == 0;
}

bool mount_is_read_only(const char *path)
{
	struct statvfs sv;

	return statvfs(path, &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

int mountinfo_top(const char *path, unsigned *ret_major, unsigned *ret_minor, char *ret_type, size_t type_size)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	bool found = false;

	if (!f)
		return -errno;
	/* Later lines are mounted later: the last match is the one a lookup of the path reaches. */
	while (getline(&line, &cap, f) > 0) {
		char mnt[PATH_MAX * 4 + 1], type[64], *sep;
		unsigned maj, min;

		if (sscanf(line, "%*s %*s %u:%u %*s %16384s", &maj, &min, mnt) != 3)
			continue;
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%63s", type) != 1)
			continue;
		unescape_octal(mnt);
		if (strcmp(mnt, path) != 0)
			continue;
		found = true;
		*ret_major = maj;
		*ret_minor = min;
		if (ret_type)
			snprintf(ret_type, type_size, "%s", type);
	}
	return found ? 0 : -ENOENT;
}

int mount_record_write(int sandbox_fd, const char *mountpoint)
{
	_cleanup_json_ cJSON *j = cJSON_CreateObject();
	_cleanup_free_ char *s = NULL;
	char type[64], dev[32];
	unsigned maj, min;
	uint64_t start = 0;

	if (!j || !cJSON_AddStringToObject(j, "mountpoint", mountpoint) ||
	    !cJSON_AddNumberToObject(j, "pid", getpid()))
		return -ENOMEM;
	if (process_start_time(getpid(), &start) == 0 && !cJSON_AddNumberToObject(j, "start_time", (double) start))
		return -ENOMEM;
	/* From mountinfo, not stat: the server must not make a request to the mount it has not begun to serve. */
	if (mountinfo_top(mountpoint, &maj, &min, type, sizeof(type)) == 0 && strcmp(type, OVERLAY_FSTYPE) == 0) {
		snprintf(dev, sizeof(dev), "%u:%u", maj, min);
		if (!cJSON_AddStringToObject(j, "dev", dev))
			return -ENOMEM;
	}
	s = cJSON_Print(j);
	if (!s)
		return -ENOMEM;
	return write_runtime_file_at(sandbox_fd, SANDBOX_MOUNT, s, strlen(s), 0644);
}

int mount_record_read(int sandbox_fd, struct mount_record *ret)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ cJSON *j = NULL;
	struct mount_record rec = { 0 };
	const cJSON *mp, *pid, *start, *dev;
	int r = read_file_at(sandbox_fd, SANDBOX_MOUNT, 65536, &text, NULL);

	if (r < 0)
		return r;
	j = cJSON_Parse(text);
	mp = cJSON_GetObjectItemCaseSensitive(j, "mountpoint");
	pid = cJSON_GetObjectItemCaseSensitive(j, "pid");
	start = cJSON_GetObjectItemCaseSensitive(j, "start_time");
	dev = cJSON_GetObjectItemCaseSensitive(j, "dev");
	if (!cJSON_IsString(mp) || mp->valuestring[0] != '/')
		return -EBADMSG;
	rec.pid = cJSON_IsNumber(pid) && pid->valuedouble >= 1 && pid->valuedouble < 1 << 30 ? (pid_t) pid->valuedouble
											     : 0;
	rec.start = cJSON_IsNumber(start) && start->valuedouble > 0 ? (uint64_t) start->valuedouble : 0;
	rec.has_dev = cJSON_IsString(dev) && sscanf(dev->valuestring, "%u:%u", &rec.major, &rec.minor) == 2;
	rec.mountpoint = strdup(mp->valuestring);
	if (!rec.mountpoint)
		return -ENOMEM;
	*ret = rec;
	return 0;
}

void mount_record_free(struct mount_record *rec)
{
	free(rec->mountpoint);
	rec->mountpoint = NULL;
}

bool mount_record_server_alive(const struct mount_record *rec)
{
	uint64_t start;

	if (rec->pid <= 0 || process_start_time(rec->pid, &start) < 0)
		return false;
	return rec->start == 0 || rec->start == start;
}

int mount_record_verify(const struct mount_record *rec, const char **ret_why)
{
	char type[64];
	unsigned maj, min;
	struct statfs sfs;
	struct stat st;

	if (!mount_record_server_alive(rec)) {
		*ret_why = "its overlay server is gone";
		return -ESTALE;
	}
	if (!rec->has_dev) {
		*ret_why = "the record does not say which mount it is";
		return -ESTALE;
	}
	if (mountinfo_top(rec->mountpoint, &maj, &min, type, sizeof(type)) < 0) {
		*ret_why = "it was unmounted there, and a copy of the mount in another mount namespace keeps its "
			   "server running";
		return -ESTALE;
	}
	if (strcmp(type, OVERLAY_FSTYPE) != 0 || maj != rec->major || min != rec->minor) {
		*ret_why = "another mount is there now";
		return -ESTALE;
	}
	/* The path as a lookup reaches it, not only as mountinfo lists it. */
	if (statfs(rec->mountpoint, &sfs) < 0 || sfs.f_type != FUSE_SUPER_MAGIC || stat(rec->mountpoint, &st) < 0 ||
	    major(st.st_dev) != rec->major || minor(st.st_dev) != rec->minor) {
		*ret_why = "the path does not lead to its mount";
		return -ESTALE;
	}
	return 0;
}

int fuse_connection_abort(unsigned maj, unsigned min)
{
	_cleanup_close_ int fd = -EBADF;
	struct statfs sfs;
	char path[96];

	if (geteuid() != 0)
		return -EPERM;
	if (statfs(FUSECTL_DIR, &sfs) < 0)
		return -errno;
	if (sfs.f_type != FUSECTL_SUPER_MAGIC &&
	    mount("fusectl", FUSECTL_DIR, "fusectl", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return -errno;
	/* fusectl names a connection by the kernel's dev_t: (major << 20) | minor. */
	snprintf(path, sizeof(path), FUSECTL_DIR "/%u/abort", (maj << 20) | min);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return write_all(fd, "1", 1);
}
