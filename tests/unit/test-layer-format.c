/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for base/layer-format.c: redirect values, the xattr names a view
 * shows and stores, lookups that must stay beneath their layer, the merged
 * lookup and walk of a small stack (user.overlay.* namespace, so they run as
 * any user), and containers/storage's ".wh." form, hostile names included.
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
	static const char *const valid[] = { "/a", "/a/b/c", "name", "..a", "a..", "...", "/.x/y.", "/a.wh.b",
					     ".wh", "/x/wh.y", "/.whx" };
	static const char *const invalid[] = { "", "/", ".", "..", "/..", "/a/../b", "/a/./b", "//a",
					       "/a/", "a/b", "../x", "/a//b", "/a/b/..", "./a",
					       /* names of the ".wh." form are never objects: nothing to redirect to */
					       ".wh.x", "/.wh..wh..opq", "/a/.wh.b/c", "/.wh.", ".wh..wh.plnk" };
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

static void marker_names(void)
{
	static const struct {
		const char *name, *target;
	} cases[] = {
		{ ".wh.a", "a" },
		{ ".wh.a b", "a b" },
		{ ".wh....", "..." },          /* "..." is a name like any other */
		{ ".wh..wh..opq", NULL },       /* it names only a name of the format, never shown anyway */
		{ ".wh..wh.plnk", NULL },
		{ ".wh.", NULL },               /* no name */
		{ ".wh..", NULL },              /* "." */
		{ ".wh...", NULL },             /* ".." */
		{ ".wh", NULL },
		{ "wh.a", NULL },
		{ "a.wh.b", NULL },
		{ ".WH.a", NULL },
		{ "", NULL },
	};
	char buf[NAME_MAX + 1], name[NAME_MAX + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const char *t = layer_marker_target(cases[i].name);
		if (cases[i].target)
			is_str(t ? t : "(null)", cases[i].target, "'%s' whites out '%s'", cases[i].name,
			       cases[i].target);
		else
			ok(!t, "'%s' whites out nothing", cases[i].name);
	}
	ok(layer_name_is_format(".wh."), "'.wh.' is a name of the format");
	ok(layer_name_is_format(".wh..wh.aufs"), "'.wh..wh.aufs' is a name of the format");
	ok(!layer_name_is_format(".wh"), "'.wh' is not");
	ok(!layer_name_is_format("x.wh.y"), "'x.wh.y' is not");

	is_int(layer_marker_name("a", buf, sizeof(buf)), 0, "the marker of 'a'");
	is_str(buf, ".wh.a", "... is '.wh.a'");
	memset(name, 'n', NAME_MAX - 4);
	name[NAME_MAX - 4] = '\0';
	is_int(layer_marker_name(name, buf, sizeof(buf)), 0, "a name of NAME_MAX - 4 bytes has a marker");
	is_int((long long) strlen(buf), NAME_MAX, "... of NAME_MAX bytes");
	memset(name, 'n', NAME_MAX - 3);
	name[NAME_MAX - 3] = '\0';
	is_int(layer_marker_name(name, buf, sizeof(buf)), -ENAMETOOLONG, "a longer one cannot have one");
	is_int(layer_marker_name("a", buf, 4), -ENAMETOOLONG, "a buffer too small is refused, not overrun");
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

static void symlink_at(const char *root, const char *rel, const char *target)
{
	char p[PATH_MAX];
	tu_fmt(p, sizeof(p), "%s/%s", root, rel);
	if (symlink(target, p) < 0)
		bail_out("symlink %s: %s", p, strerror(errno));
}

static int count_entry(void *ctx, const char *name, ino_t ino, mode_t type, bool whiteout)
{
	struct collected *c = ctx;
	size_t n = strlen(c->text);
	(void) ino;
	snprintf(c->text + n, sizeof(c->text) - n, "%s%s%s ", whiteout ? "-" : "", name,
		 !whiteout && S_ISDIR(type) ? "/" : "");
	return 0;
}

static int cmp_word(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The words of a callback's text, sorted (readdir order is the file system's). */
static void sort_words(char *text)
{
	char *words[256], *save = NULL, out[8192] = "";
	size_t n = 0;

	for (char *w = strtok_r(text, " ", &save); w && n < 256; w = strtok_r(NULL, " ", &save))
		words[n++] = w;
	qsort(words, n, sizeof(*words), cmp_word);
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s ", words[i]);
	strcpy(text, out);
}

/*
 * containers/storage's form (".wh.NAME", ".wh..wh..opq"), as fuse-overlayfs
 * reads it, with hostile variants: plain files, so this runs as any user.
 */
static void marker_stack(const char *tmp, bool xattrs)
{
	char l0[PATH_MAX], l1[PATH_MAX], l2[PATH_MAX], outside[PATH_MAX], longname[NAME_MAX + 1];
	int roots[3];
	struct layer_stack stack = { .roots = roots, .n = 3, .ns = LAYER_XNS_USER, .ignored = on_ignored };
	struct layer_dir top[3];
	struct layer_found f;
	struct collected c = { "" };
	char **names = NULL;
	size_t n = 0;

	tu_fmt(l0, sizeof(l0), "%s/m0", tmp);
	tu_fmt(l1, sizeof(l1), "%s/m1", tmp);
	tu_fmt(l2, sizeof(l2), "%s/m2", tmp);
	tu_fmt(outside, sizeof(outside), "%s/mout", tmp);
	memset(longname, 'L', NAME_MAX);
	longname[NAME_MAX] = '\0';

	/* bottom layer: what the markers above hide, or not */
	mkdirs(l2, "dir/sub");
	touch(l2, "dir/sub/s", "s");
	touch(l2, "dir/keep", "k");
	mkdirs(l2, "gonedir/inner");
	touch(l2, "gonedir/inner/x", "x");
	touch(l2, "a", "a");
	touch(l2, "...", "dots");
	touch(l2, "both", "both");
	touch(l2, "kept", "kept");
	touch(l2, longname, "long");
	mkdirs(l2, "opq");
	touch(l2, "opq/below", "b");
	mkdirs(l2, "lnk");
	touch(l2, "lnk/t", "t");
	touch(l2, ".wh.hidden2", ""); /* a marker at the bottom: hides nothing, never shown */

	/* middle layer: markers of each kind */
	mkdirs(l1, "dir");
	touch(l1, "dir/.wh.keep", "");       /* hides dir/keep of the layer below */
	touch(l1, "dir/mid", "m");
	touch(l1, ".wh.a", "");              /* a file */
	touch(l1, ".wh.gonedir", "");        /* a directory and all below it */
	touch(l1, ".wh....", "");            /* "..." is a name: hidden */
	touch(l1, ".wh.", "");               /* no name: hides nothing */
	touch(l1, ".wh..", "");
	touch(l1, ".wh...", "");
	mkdirs(l1, ".wh..wh.plnk");          /* AUFS's hard-link directory: never shown */
	touch(l1, ".wh..wh.plnk/1234.5678", "hardlinked");
	touch(l1, ".wh..wh.aufs", "");
	touch(l1, "both", "mine");           /* with its own marker: hidden in its own layer too */
	touch(l1, ".wh.both", "");
	mkdirs(l1, "opq");
	touch(l1, "opq/.wh..wh..opq", "");   /* opaque by the file */
	touch(l1, "opq/top", "t");
	mkdirs(l1, "lnk");
	mkdirs(outside, "");
	touch(outside, "secret", "s");
	symlink_at(l1, "lnk/.wh..wh..opq", outside); /* a symlink marker: it exists, never followed */
	symlink_at(l1, ".wh.kept-not", "../../mout/secret");
	mkdirs(l1, ".wh.dirmarker");         /* a directory as marker */
	touch(l1, ".wh.dirmarker/inside", "i");

	/* top layer (the upper): a marker beside a whiteout-free name, and a new directory */
	mkdirs(l0, "new");
	touch(l0, "new/.wh.ghost", "");      /* hides nothing below: nothing there */
	touch(l0, "new/f", "f");
	touch(l0, ".wh.dirmarker", "");
	if (xattrs) {
		mkdirs(l0, "redir");
		setx(l0, "redir", "user.overlay.redirect", "/.wh..wh.plnk");
	}

	roots[0] = open(l0, O_PATH | O_DIRECTORY | O_CLOEXEC);
	roots[1] = open(l1, O_PATH | O_DIRECTORY | O_CLOEXEC);
	roots[2] = open(l2, O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < 3; i++)
		top[i] = (struct layer_dir){ i, roots[i] };

	is_int(layer_lookup(&stack, top, 3, "a", &f), 0, "lookup of a file with a '.wh.' marker above");
	ok(f.layer == -1 && f.whiteout_layer == 1 && f.whiteout_marker, "... whited out in layer 1, by a marker");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, "gonedir", &f), 0, "lookup of a directory with a marker above");
	ok(f.layer == -1 && f.ndirs == 0, "... whited out, nothing merged");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, "both", &f), 0, "lookup of a name beside its own marker");
	ok(f.layer == -1 && f.whiteout_layer == 1, "... hidden in its own layer too (fuse-overlayfs's reading)");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, "...", &f), 0, "lookup of '...' with '.wh....' above");
	ok(f.layer == -1 && f.whiteout_layer == 1, "... whited out");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, "kept", &f), 0, "lookup of a name with no marker of its own");
	ok(f.layer == 2, "... found below (a symlink marker of another name changes nothing)");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, longname, &f), 0, "lookup of a NAME_MAX name (no marker can exist)");
	ok(f.layer == 2, "... found");
	layer_found_release(&f);
	for (const char *const *m = (const char *const[]){ ".wh.a", ".wh.", ".wh..", ".wh...", ".wh..wh.plnk",
							   ".wh..wh.aufs", ".wh.hidden2", ".wh.dirmarker", NULL };
	     *m; m++) {
		is_int(layer_lookup(&stack, top, 3, *m, &f), 0, "lookup of '%s'", *m);
		ok(f.layer == -1 && f.whiteout_layer == -1 && !f.in_lower, "... never found: a name of the format");
		layer_found_release(&f);
	}
	is_int(layer_lookup(&stack, top, 3, "dirmarker", &f), 0, "lookup of a name whose markers are a dir and a file");
	ok(f.layer == -1 && f.whiteout_layer == 0 && f.whiteout_marker, "... whited out in the top layer");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, "opq", &f), 0, "lookup of a directory holding '.wh..wh..opq'");
	ok(f.layer == 1 && f.ndirs == 1 && f.opaque, "... opaque: the layer below is not merged");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, "lnk", &f), 0, "lookup of a directory whose '.wh..wh..opq' is a symlink");
	ok(f.layer == 1 && f.ndirs == 1 && f.opaque, "... opaque all the same, the link not followed");
	layer_found_release(&f);
	is_int(layer_lookup(&stack, top, 3, "dir", &f), 0, "lookup of a merged directory with a marker inside");
	ok(f.layer == 1 && f.ndirs == 2 && !f.opaque, "... merged");
	if (f.ndirs == 2) {
		is_int(layer_list(f.dirs, f.ndirs, &names, &n), 0, "its listing");
		{
			char got[256] = "";
			for (size_t i = 0; i < n; i++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s ", names[i]);
			is_str(got, "mid sub ", "... the marker hides keep below, and is not listed");
		}
		layer_names_free(names, n);
		c.text[0] = '\0';
		is_int(layer_read_dir(f.dirs[0].fd, count_entry, &c), 0, "layer_read_dir of its middle part");
		sort_words(c.text);
		is_str(c.text, "-keep mid ", "... one whiteout, one object");
	}
	layer_found_release(&f);
	if (xattrs) {
		ignored_count = 0;
		is_int(layer_lookup(&stack, top, 3, "redir", &f), 0, "lookup of a directory redirected to a marker");
		ok(f.ndirs == 1 && !f.redirect && ignored_count == 1, "... the redirect is ignored, and reported");
		layer_found_release(&f);
	}
	is_int(layer_dir_is_opaque(roots[1], LAYER_XNS_USER), 0, "a layer root without a marker is not opaque");

	c.text[0] = '\0';
	is_int(layer_read_dir(roots[1], count_entry, &c), 0, "layer_read_dir of the middle layer's root");
	sort_words(c.text);
	is_str(c.text, "-... -a -both -dirmarker -gonedir -kept-not dir/ lnk/ opq/ ",
	       "... whiteouts of the markers' names (none for '.wh.', '.wh..', '.wh...'), objects but the marked one");

	is_int(layer_list(top, 3, &names, &n), 0, "merged listing of the root");
	{
		char got[1024] = "";
		for (size_t i = 0; i < n; i++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s ",
				 strlen(names[i]) > 20 ? "LONG" : names[i]);
		is_str(got, xattrs ? "LONG dir kept lnk new opq redir " : "LONG dir kept lnk new opq ",
		       "... no name of the format, nothing whited out");
	}
	layer_names_free(names, n);

	c.text[0] = '\0';
	is_int(layer_walk(&stack, collect, &c), 0, "merged walk");
	{
		/* the long name shortened for the comparison */
		char *p = strstr(c.text, longname);
		if (p)
			memmove(p + 4, p + NAME_MAX, strlen(p + NAME_MAX) + 1), memcpy(p, "LONG", 4);
	}
	is_str(c.text,
	       xattrs ? "LONG:2 dir:1/ dir/mid:1 dir/sub:2/ dir/sub/s:2 kept:2 lnk:1/ new:0/ new/f:0 opq:1/ opq/top:1 "
			"redir:0/ "
		      : "LONG:2 dir:1/ dir/mid:1 dir/sub:2/ dir/sub/s:2 kept:2 lnk:1/ new:0/ new/f:0 opq:1/ opq/top:1 ",
	       "... every visible entry once; markers, what they hide and opaque dirs' lower parts never");

	/* a stack whose top root is opaque by the file: the walk stops there */
	touch(l0, LAYER_WH_OPAQUE, "");
	c.text[0] = '\0';
	is_int(layer_walk(&stack, collect, &c), 0, "walk of a stack whose top root holds '.wh..wh..opq'");
	is_str(c.text, xattrs ? "new:0/ new/f:0 redir:0/ " : "new:0/ new/f:0 ", "... the layers below are hidden");
	layer_dir_clear_opaque(roots[0]);
	is_int(layer_dir_is_opaque(roots[0], LAYER_XNS_USER), 0, "layer_dir_clear_opaque removes the file too");
	for (int i = 0; i < 3; i++)
		close(roots[i]);
}

int main(void)
{
	char *tmp;

	redirect_values();
	xattr_names();
	marker_names();
	tmp = tu_mkdtemp();
	marker_stack(tmp, tu_user_xattrs_supported(tmp));
	if (!tu_user_xattrs_supported(tmp) || (geteuid() != 0)) {
		skip(1, "the merged stack needs user xattrs and root (0/0 whiteouts)");
	} else {
		merged_stack(tmp);
	}
	tu_rmtree(tmp);
	return done_testing();
}
