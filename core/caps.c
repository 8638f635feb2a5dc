/* SPDX-License-Identifier: MIT */
/* The capabilities a sandbox's commands keep: the default set, cap_drop and cap_add (caps.h). */
#include <cap-ng.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "caps.h"
#include "error.h"
#include "fd-util.h"

uint64_t caps_default(void)
{
	/* rootless podman's (containers.conf default_capabilities) */
	static const int set[] = {
		CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_NET_BIND_SERVICE,
		CAP_SETFCAP, CAP_SETGID, CAP_SETPCAP, CAP_SETUID, CAP_SYS_CHROOT,
	};
	uint64_t mask = 0;

	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		mask |= CAPS_BIT(set[i]);
	return mask;
}

static int last_cap(void)
{
	_cleanup_close_ int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	char buf[16] = "";
	long v;

	/* /proc unreadable: what these headers know, which the kernel then checks */
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		return CAP_LAST_CAP;
	v = strtol(buf, NULL, 10);
	return v > 0 && v < 64 ? (int) v : CAP_LAST_CAP;
}

uint64_t caps_all(void)
{
	int last = last_cap();
	return last >= 63 ? UINT64_MAX : CAPS_BIT(last + 1) - 1;
}

int caps_from_name(const char *name)
{
	char buf[64];
	size_t i;
	int c;

	if (strncasecmp(name, "cap_", 4) == 0)
		name += 4;
	if (strcasecmp(name, "all") == 0)
		return CAPS_NAME_ALL;
	for (i = 0; name[i] && i + 1 < sizeof(buf); i++)
		buf[i] = (char) tolower((unsigned char) name[i]);
	if (name[i] || i == 0)
		return -EINVAL;
	buf[i] = '\0';
	c = capng_name_to_capability(buf);
	return c >= 0 && c < 64 ? c : -EINVAL;
}

/* The names of a list as a mask; *ret_all when ALL is among them. */
static int parse_list(const char *const *names, size_t n, uint64_t known, uint64_t *ret, bool *ret_all,
		      isofs_error *err)
{
	uint64_t mask = 0;
	bool all = false;

	for (size_t i = 0; i < n; i++) {
		int c = caps_from_name(names[i]);
		if (c == CAPS_NAME_ALL) {
			all = true;
			continue;
		}
		if (c < 0)
			return error_set(err, EINVAL, "unknown capability '%s'", names[i]);
		if (!(known & CAPS_BIT(c)))
			return error_set(err, EINVAL, "capability '%s' is not known to this kernel", names[i]);
		mask |= CAPS_BIT(c);
	}
	*ret = mask;
	*ret_all = all;
	return 0;
}

int caps_resolve(const isofs_session_options *o, struct cap_set *ret, isofs_error *err)
{
	uint64_t known = caps_all(), drop, add, kept;
	bool drop_all, add_all;
	int r;

	r = parse_list(o->cap_drop, o->cap_drop ? o->ncap_drop : 0, known, &drop, &drop_all, err);
	if (r < 0)
		return r;
	r = parse_list(o->cap_add, o->cap_add ? o->ncap_add : 0, known, &add, &add_all, err);
	if (r < 0)
		return r;
	/* podman refuses these rather than guess which one wins */
	if (drop_all && add_all)
		return error_set(err, EINVAL, "capabilities: ALL both dropped and added");
	for (size_t i = 0; i < o->ncap_add && (drop & add); i++) {
		int c = caps_from_name(o->cap_add[i]);
		if (c >= 0 && c != CAPS_NAME_ALL && (drop & CAPS_BIT(c)))
			return error_set(err, EINVAL, "capability '%s' is both dropped and added", o->cap_add[i]);
	}
	if (drop_all)
		kept = add;
	else if (add_all)
		kept = known & ~drop;
	else
		kept = (caps_default() & ~drop) | add;
	ret->kept = kept;
	ret->user = add_all ? kept : add;
	return 0;
}

int caps_list(uint64_t mask, int list[64])
{
	int n = 0;

	for (int c = 0; c < 64; c++)
		if (mask & CAPS_BIT(c))
			list[n++] = c;
	return n;
}
