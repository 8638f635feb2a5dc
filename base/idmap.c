/* SPDX-License-Identifier: MIT */
#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "fd-util.h"
#include "fs-util.h"

#define RANGE IDMAP_RANGE


/* A decimal number filling [s, end) exactly, at most `max`. */
static bool parse_decimal(const char *s, const char *end, unsigned long long max, unsigned long long *ret)
{
	unsigned long long v = 0;

	if (s == end || end - s > 20)
		return false;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9' || v > (max - (unsigned long long) (*p - '0')) / 10)
			return false;
		v = v * 10 + (unsigned long long) (*p - '0');
	}
	*ret = v;
	return true;
}

bool idmap_subid_line(const char *line, const char *name, unsigned id, unsigned *ret_start)
{
	const char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *end;
	unsigned long long start, count, who;

	if (!c1 || !c2)
		return false;
	end = c2 + 1 + strcspn(c2 + 1, "\n");
	if (*end == '\n' && end[1])
		return false;
	/* the user by name, or by uid written in decimal — nothing else */
	if (!((size_t) (c1 - line) == strlen(name) && strncmp(line, name, strlen(name)) == 0) &&
	    !(parse_decimal(line, c1, UINT32_MAX, &who) && who == id))
		return false;
	if (!parse_decimal(c1 + 1, c2, UINT32_MAX, &start) || !parse_decimal(c2 + 1, end, UINT32_MAX, &count))
		return false;
	/* the whole range must exist: a start near the top would wrap */
	if (count < RANGE - 1 || start + RANGE - 1 > UINT32_MAX)
		return false;
	*ret_start = (unsigned) start;
	return true;
}

/* The first range of at least RANGE-1 ids for `user` (name or uid) in /etc/subuid or /etc/subgid. */
static bool find_subid(const char *file, const char *name, unsigned id, unsigned *ret_start)
{
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	char line[512];

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (idmap_subid_line(line, name, id, ret_start))
			return true;
	return false;
}

/* The setuid helpers are looked for in the system's directories only, never in $PATH. */
static bool find_helper(const char *name, char *path, size_t size)
{
	static const char *dirs[] = { "/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, size, "%s/%s", dirs[i], name);
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

static bool have_program(const char *name)
{
	char path[64];
	return find_helper(name, path, sizeof(path));
}

void idmap_choose(struct idmap *map)
{
	struct passwd *pw;
	unsigned su, sg;

	memset(map, 0, sizeof(*map));
	map->uid = geteuid();
	map->gid = getegid();
	if (map->uid == 0) {
		map->kind = IDMAP_ROOT_RANGE;
		return;
	}
	map->kind = IDMAP_SINGLE;
	pw = getpwuid(map->uid);
	if (!pw) {
		snprintf(map->why_single, sizeof(map->why_single), "uid %u has no name in /etc/passwd",
			 (unsigned) map->uid);
		return;
	}
	if (!find_subid("/etc/subuid", pw->pw_name, map->uid, &su) ||
	    !find_subid("/etc/subgid", pw->pw_name, map->uid, &sg)) {
		snprintf(map->why_single, sizeof(map->why_single), "no range of %u ids for %s in /etc/subuid and /etc/subgid",
			 RANGE - 1, pw->pw_name);
		return;
	}
	if (!have_program("newuidmap") || !have_program("newgidmap")) {
		snprintf(map->why_single, sizeof(map->why_single), "newuidmap/newgidmap are missing (package uidmap)");
		return;
	}
	map->kind = IDMAP_SUBID;
	map->subuid = su;
	map->subgid = sg;
}

static int write_file(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return write_all(fd, text, strlen(text));
}

/* newuidmap/newgidmap, waited for: a short-lived setuid helper needs no guard. */
static int run_wait(char *const argv[])
{
	char path[64];
	int status;
	pid_t pid;

	if (!find_helper(argv[0], path, sizeof(path)))
		return -ENOENT;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			(void) dup2(null, 0);
			(void) dup2(null, 1);
		}
		execve(path, argv, environ);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

/* keep-id: 0..id-1 the range's start, id itself, id+1..65535 the rest of the range. */
static int write_keep_caller(const char *tool, const char *spid, unsigned id, unsigned sub)
{
	char n1[16], s1[16], i1[16], own[16], i2[16], s2[16], n2[16];
	char *argv[12] = { (char *) tool, (char *) spid };
	int k = 2;

	if (id >= RANGE)
		return -ERANGE; /* an id the sandbox's 0..65535 cannot hold */
	snprintf(n1, sizeof(n1), "%u", id);
	snprintf(s1, sizeof(s1), "%u", sub);
	snprintf(i1, sizeof(i1), "%u", id);
	snprintf(own, sizeof(own), "%u", id);
	snprintf(i2, sizeof(i2), "%u", id + 1);
	snprintf(s2, sizeof(s2), "%u", sub + id);
	snprintf(n2, sizeof(n2), "%u", RANGE - 1 - id);
	if (id > 0) {
		argv[k++] = "0", argv[k++] = s1, argv[k++] = n1;
	}
	argv[k++] = i1, argv[k++] = own, argv[k++] = "1";
	if (id + 1 < RANGE) {
		argv[k++] = i2, argv[k++] = s2, argv[k++] = n2;
	}
	argv[k] = NULL;
	return run_wait(argv);
}

int idmap_write(const struct idmap *map, pid_t pid)
{
	char path[64], text[128], spid[16], a[16], b[16], c[16];
	int r;

	switch (map->kind) {
	case IDMAP_ROOT_RANGE:
		snprintf(text, sizeof(text), "0 0 %u\n", RANGE);
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) pid);
		r = write_file(path, text);
		if (r < 0)
			return r;
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int) pid);
		return write_file(path, text);
	case IDMAP_SUBID: {
		snprintf(spid, sizeof(spid), "%d", (int) pid);
		if (map->keep_caller) {
			r = write_keep_caller("newuidmap", spid, map->uid, map->subuid);
			return r < 0 ? r : write_keep_caller("newgidmap", spid, map->gid, map->subgid);
		}
		snprintf(a, sizeof(a), "%u", (unsigned) map->uid);
		snprintf(b, sizeof(b), "%u", (unsigned) map->subuid);
		snprintf(c, sizeof(c), "%u", RANGE - 1);
		char *uargv[] = { "newuidmap", spid, "0", a, "1", "1", b, c, NULL };
		r = run_wait(uargv);
		if (r < 0)
			return r;
		snprintf(a, sizeof(a), "%u", (unsigned) map->gid);
		snprintf(b, sizeof(b), "%u", (unsigned) map->subgid);
		char *gargv[] = { "newgidmap", spid, "0", a, "1", "1", b, c, NULL };
		return run_wait(gargv);
	}
	case IDMAP_SINGLE:
		/* Our own ids into a child's namespace, setgroups denied first. */
		snprintf(path, sizeof(path), "/proc/%d/setgroups", (int) pid);
		r = write_file(path, "deny");
		if (r < 0 && r != -ENOENT)
			return r;
		snprintf(text, sizeof(text), "0 %u 1\n", (unsigned) map->uid);
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) pid);
		r = write_file(path, text);
		if (r < 0)
			return r;
		snprintf(text, sizeof(text), "0 %u 1\n", (unsigned) map->gid);
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int) pid);
		return write_file(path, text);
	}
	return -EINVAL;
}

/* A decimal number starting at *p, at most UINT32_MAX; *p moves past it. */
static bool parse_u32(const char **p, uint32_t *ret)
{
	const char *end = *p + strspn(*p, "0123456789");
	unsigned long long v;

	if (!parse_decimal(*p, end, UINT32_MAX, &v))
		return false;
	*ret = (uint32_t) v;
	*p = end;
	return true;
}

static bool ranges_overlap(uint32_t a, uint32_t an, uint32_t b, uint32_t bn)
{
	return (uint64_t) a < (uint64_t) b + bn && (uint64_t) b < (uint64_t) a + an;
}

int idshift_parse(const char *spec, struct idshift *ret)
{
	struct idshift s = { 0 };
	/* containers/storage writes each range as ":IN:OUT:COUNT", so the list starts with ':' */
	const char *p = spec + (*spec == ':');

	do {
		uint32_t in, out, count;

		if (s.n == IDSHIFT_MAX)
			return -EINVAL;
		if (!parse_u32(&p, &in) || *p++ != ':' || !parse_u32(&p, &out) || *p++ != ':' ||
		    !parse_u32(&p, &count) || count == 0 || (uint64_t) in + count - 1 > UINT32_MAX ||
		    (uint64_t) out + count - 1 > UINT32_MAX)
			return -EINVAL;
		/* one id, one meaning: ranges may not overlap on either side */
		for (unsigned i = 0; i < s.n; i++)
			if (ranges_overlap(in, count, s.r[i].inside, s.r[i].count) ||
			    ranges_overlap(out, count, s.r[i].outside, s.r[i].count))
				return -EINVAL;
		s.r[s.n].inside = in;
		s.r[s.n].outside = out;
		s.r[s.n].count = count;
		s.n++;
	} while (*p == ':' && (++p, true)); /* a ':' must start another range */
	if (*p)
		return -EINVAL;
	*ret = s;
	return 0;
}

/* One id through the ranges, inside to outside (`out`) or back. */
static bool shift(const struct idshift *s, uint32_t id, bool out, uint32_t *ret)
{
	if (!s->n) {
		*ret = id;
		return true;
	}
	for (unsigned i = 0; i < s->n; i++) {
		uint32_t from = out ? s->r[i].inside : s->r[i].outside, to = out ? s->r[i].outside : s->r[i].inside;
		if (id >= from && id - from < s->r[i].count) {
			*ret = to + (id - from);
			return true;
		}
	}
	return false;
}

bool idshift_to_outside(const struct idshift *s, uint32_t inside, uint32_t *ret)
{
	return shift(s, inside, true, ret);
}

bool idshift_to_inside(const struct idshift *s, uint32_t outside, uint32_t *ret)
{
	return shift(s, outside, false, ret);
}

static void shift_of(struct idshift *s, enum idmap_kind kind, uint32_t id, uint32_t sub)
{
	memset(s, 0, sizeof(*s));
	if (kind == IDMAP_ROOT_RANGE)
		return;
	s->r[0].inside = 0;
	s->r[0].outside = id;
	s->r[0].count = 1;
	s->n = 1;
	if (kind == IDMAP_SUBID) {
		s->r[1].inside = 1;
		s->r[1].outside = sub;
		s->r[1].count = RANGE - 1;
		s->n = 2;
	}
}

void idmap_shifts(const struct idmap *map, struct idshift *uids, struct idshift *gids)
{
	shift_of(uids, map->kind, map->uid, map->subuid);
	shift_of(gids, map->kind, map->gid, map->subgid);
}
