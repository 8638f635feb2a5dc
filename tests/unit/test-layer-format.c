/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for base/layer-format.c: redirect values, the xattr names a view
 * shows and stores, lookups that must stay beneath their layer, and the merged
 * lookup and walk of a small stack (user.overlay.* namespace, so they run as
 * any user).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer-format.h"
#include "tap.h"
#include "test-util.h"

static void redirect_values(void)
{
	static const char *const valid[] = { "/a", "/a/b/c", "name", "..a", "a..", "...", "/.x/y." };
	static const char *const invalid[] = { "", "/", ".", "..", "/..", "/a/../b", "/a/./b", "//a",
					       "/a/", "a/b", "../x", "/a//b", "/a/b/..", "./a" };
	char big[PATH_MAX + 2], name[NAME_MAX + 3];

	for (size_t i = 0; i < sizeof(valid) / sizeof(*valid); i++)
		ok(layer_redirect_is_valid(valid[i]), "redirect '%s' is valid", valid[i]);
	for (size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++)
		ok(!layer_redirect_is_valid(invalid[i]), "redirect '%s' is refused", invalid[i]);
	memset(name, 'n', NAME_MAX + 1);
	name[NAME_MAX + 1] = '\0';
	ok(!layer_redirect_is_valid(name), "a relative redirect longer than NAME_MAX is refused");
	big[0] = '/';
	memset(big + 1, 'a', PATH_MAX);
	for (size_t i = 100; i < PATH_MAX; i += 100)
		big[i] = '/';
	big[PATH_MAX + 1] = '\0';
	ok(!layer_redirect_is_valid(big), "an absolute redirect of PATH_MAX or more is refused");
}

static void xattr_names(void)
{
	char buf[256];
	const char *shown;

	is_int(layer_xattr_to_real("user.overlay.redirect", buf, sizeof(buf)), 0, "user.overlay.X may be set");
	is_str(buf, "user.overlay.overlay.redirect", "... stored escaped");
	is_int(layer_xattr_to_real("trusted.overlay.opaque", buf, sizeof(buf)), 0, "trusted.overlay.X may be set");
	is_str(buf, "trusted.overlay.overlay.opaque", "... stored escaped, in every mode");
	is_int(layer_xattr_to_real("user.overlay.overlay.x", buf, sizeof(buf)), 0, "an escaped name set again");
	is_str(buf, "user.overlay.overlay.overlay.x", "... is escaped once more");
	is_int(layer_xattr_to_real("user.isofs.owner", buf, sizeof(buf)), -EPERM, "user.isofs.* is refused");
	is_int(layer_xattr_to_real("user.other", buf, sizeof(buf)), 0, "other names are stored as they are");
	is_str(buf, "user.other", "... unchanged");

	ok(!layer_xattr_from_real("user.overlay.redirect", buf, sizeof(buf)), "stored metadata is hidden");
	ok(!layer_xattr_from_real("trusted.overlay.origin", buf, sizeof(buf)), "... in both namespaces");
	ok(!layer_xattr_from_real("user.isofs.owner", buf, sizeof(buf)), "... and isofs's own");
	shown = layer_xattr_from_real("trusted.overlay.overlay.redirect", buf, sizeof(buf));
	is_str(shown, "trusted.overlay.redirect", "an escaped name is shown unescaped");
	is_str(layer_xattr_from_real("security.capability", buf, sizeof(buf)), "security.capability",
	       "other names are shown as they are");

	ok(layer_xattr_is_metadata("user.overlay.opaque"), "user.overlay.opaque is metadata");
	ok(layer_xattr_is_metadata("trusted.overlay.redirect"), "trusted.overlay.redirect is metadata");
	ok(layer_xattr_is_metadata("user.isofs.origin"), "user.isofs.origin is metadata");
	ok(!layer_xattr_is_metadata("user.overlay.overlay.x"), "an escaped name is user data");
	ok(!layer_xattr_is_metadata("user.foo"), "user.foo is user data");
}

static int mkdirs(const char *root, const char *rel)
{
	char cmd[PATH_MAX + 64];
	tu_fmt(cmd, sizeof(cmd), "%s/%s", root, rel);
	char *argv[] = { "mkdir", "-p", cmd, NULL };
	return tu_run(argv);
}

static void setx(const char *root, const char *rel, const char *key, const char *value)
{
	char p[PATH_MAX];
	tu_fmt(p, sizeof(p), "%s/%s", root, rel);
	if (setxattr(p, key, value, strlen(value), 0) < 0)
		bail_out("setxattr %s %s: %s", p, key, strerror(errno));
}

static void touch(const char *root, const char *rel, const char *content)
{
	int dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || tu_write_file(dfd, rel, content, 0644) < 0)
		bail_out("writing %s/%s", root, rel);
	close(dfd);
}

static void whiteout(const char *root, const char *rel)
{
	char p[PATH_MAX];
	tu_fmt(p, sizeof(p), "%s/%s", root, rel);
	if (mknod(p, S_IFCHR | 0, makedev(0, 0)) < 0)
		bail_out("mknod %s: %s (whiteouts need root or a user namespace)", p, strerror(errno));
}

struct collected {
	char text[8192];
};

static int collect(void *ctx, const char *path, const struct layer_found *f, int dirfd, const char *name)
{
	struct collected *c = ctx;
	size_t n = strlen(c->text);
	(void) dirfd;
	(void) name;
	snprintf(c->text + n, sizeof(c->text) - n, "%s:%d%s ", path, f->layer, S_ISDIR(f->st.st_mode) ? "/" : "");
	return 0;
}

static int ignored_count;
static void on_ignored(void *ud, int layer, const char *what, const char *value)
{
	(void) ud;
	(void) layer;
	(void) what;
	(void) value;
	ignored_count++;
}

static void merged_stack(const char *tmp)
{
	char l0[PATH_MAX], l1[PATH_MAX], l2[PATH_MAX], out[PATH_MAX];
	int roots[3], outfd;
	struct layer_stack stack = { .roots = roots, .n = 3, .ns = LAYER_XNS_USER, .ignored = on_ignored };
	struct layer_dir top[3];
	struct layer_found f;
	struct collected c = { "" };
	char **names = NULL;
	size_t n = 0;

	tu_fmt(l0, sizeof(l0), "%s/l0", tmp);
	tu_fmt(l1, sizeof(l1), "%s/l1", tmp);
	tu_fmt(l2, sizeof(l2), "%s/l2", tmp);
	tu_fmt(out, sizeof(out), "%s/outside", tmp);
	/* bottom: d/{a,b}, gone, x/y ; middle: d/c, opq/z, whiteout of gone ; top: renamed (-> /x), e (-> ..) */
	mkdirs(l2, "d");
	touch(l2, "d/a", "a");
	touch(l2, "d/b", "b");
	touch(l2, "gone", "g");
	mkdirs(l2, "x");
	touch(l2, "x/y", "y");
	mkdirs(l2, "opq");
	touch(l2, "opq/hidden", "h");
	mkdirs(l1, "d");
	touch(l1, "d/c", "c");
	mkdirs(l1, "opq");
	touch(l1, "opq/z", "z");
	setx(l1, "opq", "user.overlay.opaque", "y");
	whiteout(l1, "gone");
	mkdirs(l0, "renamed");
	setx(l0, "renamed", "user.overlay.redirect", "/x");
	mkdirs(l0, "esc");
	setx(l0, "esc", "user.overlay.redirect", "..");
	mkdirs(l0, "abs");
	setx(l0, "abs", "user.overlay.redirect", "/../../../outside");
	mkdirs(out, "");
	touch(out, "secret", "s");

	roots[0] = open(l0, O_PATH | O_DIRECTORY | O_CLOEXEC);
	roots[1] = open(l1, O_PATH | O_DIRECTORY | O_CLOEXEC);
	roots[2] = open(l2, O_PATH | O_DIRECTORY | O_CLOEXEC);
	outfd = open(l0, O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < 3; i++)
		top[i] = (struct layer_dir){ i, roots[i] };

	is_int(layer_lookup(&stack, top, 3, "d", &f), 0, "lookup of a merged directory");
	is_int(f.ndirs, 2, "... it merges two layers");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, "gone", &f), 0, "lookup of a whited-out name");
	ok(f.layer == -1 && f.whiteout_layer == 1, "... not there, whited out in layer 1");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, "opq", &f), 0, "lookup of an opaque directory");
	ok(f.ndirs == 1 && f.dirs[0].layer == 1, "... the layer below it is hidden");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, "renamed", &f), 0, "lookup of a directory with an absolute redirect");
	ok(f.ndirs == 2 && f.dirs[1].layer == 2 && f.redirect && strcmp(f.redirect, "/x") == 0,
	   "... merges /x of the layer below");
	layer_found_release(&f);
	ignored_count = 0;
	is_int(layer_lookup(&stack, top, 3, "esc", &f), 0, "lookup of a directory whose redirect is '..'");
	ok(f.ndirs == 1 && !f.redirect, "... the redirect is ignored");
	is_int(ignored_count, 1, "... and reported");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, "abs", &f), 0, "lookup of a directory whose redirect climbs out");
	ok(f.ndirs == 1 && !f.redirect, "... ignored too");
	layer_found_release(&f);
	is_int(layer_open_beneath(roots[0], "../outside", O_PATH), -EXDEV, "layer_open_beneath refuses '..' out");
	is_int(layer_open_beneath(outfd, "/etc", O_PATH), -EXDEV, "... and absolute paths");

	is_int(layer_list(top, 3, &names, &n), 0, "merged listing of the root");
	{
		char got[512] = "";
		for (size_t i = 0; i < n; i++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s ", names[i]);
		is_str(got, "abs d esc opq renamed x ", "... sorted, whiteouts hide 'gone', no duplicates");
	}
	layer_names_free(names, n);

	is_int(layer_walk(&stack, collect, &c), 0, "merged walk");
	is_str(c.text,
	       "abs:0/ d:1/ d/a:2 d/b:2 d/c:1 esc:0/ opq:1/ opq/z:1 renamed:0/ renamed/y:2 x:2/ x/y:2 ",
	       "... every visible entry once, from its topmost layer, through the valid redirect only");
	for (int i = 0; i < 3; i++)
		close(roots[i]);
	close(outfd);
}

int main(void)
{
	char *tmp;

	redirect_values();
	xattr_names();
	tmp = tu_mkdtemp();
	if (!tu_user_xattrs_supported(tmp) || (geteuid() != 0)) {
		skip(1, "the merged stack needs user xattrs and root (0/0 whiteouts)");
	} else {
		merged_stack(tmp);
	}
	tu_rmtree(tmp);
	return done_testing();
}
