/* SPDX-License-Identifier: MIT */
/* Unit tests for core/caps.c: names, the default set, cap_drop and cap_add merged as podman merges them. */
#include <errno.h>
#include <linux/capability.h>
#include <string.h>

#include "caps.h"
#include "tap.h"

#define B CAPS_BIT

/* The set for these lists (NULL-terminated); -errno with the message in *msg. */
static int resolve(const char *const *drop, const char *const *add, struct cap_set *ret, char *msg, size_t size)
{
	isofs_session_options o = { 0 };
	isofs_error err = { 0 };
	int r;

	for (o.cap_drop = drop; drop && drop[o.ncap_drop];)
		o.ncap_drop++;
	for (o.cap_add = add; add && add[o.ncap_add];)
		o.ncap_add++;
	r = caps_resolve(&o, ret, &err);
	snprintf(msg, size, "%s", r < 0 ? err.message : "");
	return r;
}

int main(void)
{
	uint64_t def = caps_default(), all = caps_all();
	struct cap_set s;
	char msg[sizeof(((isofs_error *) 0)->message)];

	ok(def == UINT64_C(0x800405fb), "the default set is podman's (CapEff 00000000800405fb)");
	ok(all & B(CAP_SYS_ADMIN) && all & B(CAP_AUDIT_READ), "ALL holds every capability of this kernel");
	ok((all & def) == def, "... the default set among them");

	is_int(caps_from_name("CAP_CHOWN"), CAP_CHOWN, "CAP_CHOWN");
	is_int(caps_from_name("net_raw"), CAP_NET_RAW, "net_raw");
	is_int(caps_from_name("Cap_Sys_Admin"), CAP_SYS_ADMIN, "any case");
	is_int(caps_from_name("all"), CAPS_NAME_ALL, "all");
	is_int(caps_from_name("CAP_ALL"), CAPS_NAME_ALL, "CAP_ALL");
	is_int(caps_from_name("bogus"), -EINVAL, "an unknown name");
	is_int(caps_from_name("CAP_"), -EINVAL, "an empty name");
	is_int(caps_from_name(""), -EINVAL, "no name");
	is_int(caps_from_name("chown_with_a_very_long_tail_that_is_no_capability_at_all_really_x"), -EINVAL,
	       "a long name");

	is_int(resolve(NULL, NULL, &s, msg, sizeof(msg)), 0, "no options");
	ok(s.kept == def && s.user == 0, "... the default set; another uid keeps none of it");

	is_int(resolve((const char *[]) { "ALL", NULL }, NULL, &s, msg, sizeof(msg)), 0, "drop ALL");
	ok(s.kept == 0 && s.user == 0, "... nothing");

	is_int(resolve((const char *[]) { "chown", "CAP_KILL", NULL }, NULL, &s, msg, sizeof(msg)), 0, "drop two");
	ok(s.kept == (def & ~(B(CAP_CHOWN) | B(CAP_KILL))), "... the default less those");

	is_int(resolve((const char *[]) { "ALL", NULL }, (const char *[]) { "CHOWN", NULL }, &s, msg, sizeof(msg)), 0,
	       "drop ALL, add CHOWN");
	ok(s.kept == B(CAP_CHOWN) && s.user == B(CAP_CHOWN), "... only CHOWN, for every uid");

	is_int(resolve(NULL, (const char *[]) { "net_raw", NULL }, &s, msg, sizeof(msg)), 0, "add NET_RAW");
	ok(s.kept == (def | B(CAP_NET_RAW)) && s.user == B(CAP_NET_RAW), "... the default and NET_RAW; another uid NET_RAW");

	is_int(resolve(NULL, (const char *[]) { "ALL", NULL }, &s, msg, sizeof(msg)), 0, "add ALL");
	ok(s.kept == all && s.user == all, "... every capability");

	is_int(resolve((const char *[]) { "SYS_ADMIN", NULL }, (const char *[]) { "all", NULL }, &s, msg, sizeof(msg)),
	       0, "add ALL, drop SYS_ADMIN");
	ok(s.kept == (all & ~B(CAP_SYS_ADMIN)), "... every capability but SYS_ADMIN");

	is_int(resolve((const char *[]) { "FSETID", NULL }, (const char *[]) { "CAP_FSETID", NULL }, &s, msg,
		       sizeof(msg)),
	       -EINVAL, "one capability dropped and added");
	is_str(msg, "capability 'CAP_FSETID' is both dropped and added", "... named");
	is_int(resolve((const char *[]) { "ALL", NULL }, (const char *[]) { "ALL", NULL }, &s, msg, sizeof(msg)),
	       -EINVAL, "ALL dropped and added");
	is_int(resolve(NULL, (const char *[]) { "NOT_A_CAP", NULL }, &s, msg, sizeof(msg)), -EINVAL, "add an unknown name");
	is_str(msg, "unknown capability 'NOT_A_CAP'", "... named");
	is_int(resolve((const char *[]) { "nope", NULL }, NULL, &s, msg, sizeof(msg)), -EINVAL, "drop an unknown name");
	is_str(msg, "unknown capability 'nope'", "... named");
	return done_testing();
}
