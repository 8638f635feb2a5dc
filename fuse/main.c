/* SPDX-License-Identifier: MIT */
/*
 * isofs-overlay: the copy-on-write overlay as a standalone FUSE file system,
 * with fuse-overlayfs's arguments:
 *   isofs-overlay [-f] [-d] -o lowerdir=L1:L2,upperdir=U,workdir=W MOUNTPOINT
 * (mount.fuse3 calls it as `isofs-overlay SOURCE MOUNTPOINT -o OPTS`).
 * It returns once the mount is ready and serves it in the background until
 * the file system is unmounted (umount or fusermount3 -u).
 */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "overlay.h"
#include "serve.h"

static const char usage[] =
	"Usage: isofs-overlay [-f] [-d] -o lowerdir=L1[:L2…][,upperdir=U,workdir=W][,OPTIONS] MOUNTPOINT\n"
	"\n"
	"A copy-on-write view of read-only lower layers (top first); changes go to the\n"
	"upper layer, in kernel overlayfs's on-disk format.  Without upperdir the view\n"
	"is read-only.\n"
	"\n"
	"Options (-o, comma-separated):\n"
	"  lowerdir=L1:L2…    lower layers, top first (':' and '\\' escaped with '\\')\n"
	"  upperdir=DIR       where changes go\n"
	"  workdir=DIR        scratch space on the upper's file system\n"
	"  userxattr          overlay xattrs in user.overlay.* (default for non-root)\n"
	"  timeout=SECONDS    kernel entry/attribute cache (default 86400)\n"
	"  writeback=0|1      the kernel's writeback cache (default 0)\n"
	"  threads=N          serving threads at most (default 16)\n"
	"  dircache=N         directory fds kept open at most (default: a quarter of the fd limit);\n"
	"                     closed ones are reopened when used again\n"
	"  allow_other, allow_root, and other FUSE mount options are passed on.\n"
	"  -f  stay in the foreground    -d  debug output (implies -f)\n";

struct overlay_opts {
	char *lowerdir, *upperdir, *workdir;
	bool userxattr, userxattr_set;
	double timeout;
	int writeback;
	int threads;
	long dircache;
	bool foreground, debug;
	char *mountpoint;
	char fuse_opts[4096];
};

/* Splits "a:b\:c" into layers, honouring backslash escapes. */
static int split_lowers(char *spec, char ***ret, int *ret_n)
{
	char **v = NULL;
	int n = 0;
	char *out = spec, *start = spec;

	for (char *p = spec;; p++) {
		if (*p == '\\' && p[1]) {
			*out++ = *++p;
			continue;
		}
		if (*p == ':' || *p == '\0') {
			bool end = *p == '\0';
			*out++ = '\0';
			if (*start) {
				char **nv = realloc(v, sizeof(*v) * (size_t) (n + 1));
				if (!nv)
					return -ENOMEM;
				v = nv;
				v[n++] = start;
			}
			if (end)
				break;
			start = out;
			continue;
		}
		*out++ = *p;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static void add_fuse_opt(struct overlay_opts *o, const char *opt)
{
	size_t n = strlen(o->fuse_opts);
	snprintf(o->fuse_opts + n, sizeof(o->fuse_opts) - n, "%s%s", n ? "," : "", opt);
}

static int parse_o(struct overlay_opts *o, char *s)
{
	char *save = NULL;

	for (char *opt = strtok_r(s, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(opt, '=');
		const char *val = eq ? eq + 1 : NULL;
		size_t klen = eq ? (size_t) (eq - opt) : strlen(opt);

#define KEY(k) (klen == strlen(k) && strncmp(opt, k, klen) == 0)
		if (KEY("lowerdir") && val)
			o->lowerdir = strdup(val);
		else if (KEY("upperdir") && val)
			o->upperdir = strdup(val);
		else if (KEY("workdir") && val)
			o->workdir = strdup(val);
		else if (KEY("userxattr"))
			o->userxattr = o->userxattr_set = true;
		else if (KEY("timeout") && val)
			o->timeout = strtod(val, NULL);
		else if (KEY("writeback") && val)
			o->writeback = atoi(val);
		else if (KEY("threads") && val)
			o->threads = atoi(val);
		else if (KEY("dircache") && val) {
			char *end;
			o->dircache = strtol(val, &end, 10);
			if (*end || o->dircache < 1)
				return fprintf(stderr, "isofs-overlay: dircache=%s: not a positive number\n", val), -EINVAL;
		}
		else if (KEY("rw") || KEY("dev") || KEY("suid") || KEY("exec") || KEY("auto") || KEY("noauto") ||
			 KEY("user") || KEY("users") || KEY("_netdev") || KEY("defaults") || KEY("nofail"))
			; /* mount(8) vocabulary, meaningless here */
		else if (KEY("ro"))
			return fprintf(stderr, "isofs-overlay: ro: leave out upperdir for a read-only view\n"), -EINVAL;
		else if (KEY("allow_other") || KEY("allow_root") || KEY("nodev") || KEY("nosuid") || KEY("noexec") ||
			 KEY("noatime") || KEY("relatime") || KEY("max_read") || KEY("blksize") || KEY("fsname") ||
			 KEY("subtype") || KEY("auto_unmount") || KEY("default_permissions"))
			add_fuse_opt(o, opt);
		else if (KEY("squash_to_root") || KEY("squash_to_uid") || KEY("squash_to_gid") || KEY("uidmapping") ||
			 KEY("gidmapping") || KEY("static_nlink") || KEY("noacl") || KEY("xattr_permissions") ||
			 KEY("plugins") || KEY("fast_ino") || KEY("redirect_dir") || KEY("index") || KEY("metacopy"))
			return fprintf(stderr, "isofs-overlay: option '%.*s' is not supported\n", (int) klen, opt), -EINVAL;
		else
			return fprintf(stderr, "isofs-overlay: unknown option '%s'\n", opt), -EINVAL;
#undef KEY
	}
	return 0;
}

/* Once the mount is ready: the caller's process exits 0, the server goes on in the background. */
static int daemonize(void *userdata)
{
	const bool *foreground = userdata;
	return fuse_daemonize(*foreground) == 0 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "debug", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct overlay_opts o = { .timeout = 86400, .writeback = 0, .threads = 16 };
	char **lowers = NULL, errbuf[512] = "";
	int nlowers = 0, c, r;
	const char *positional[2];
	int npos = 0;

	while ((c = getopt_long(argc, argv, "fdo:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o.foreground = true;
			break;
		case 'd':
			o.debug = o.foreground = true;
			break;
		case 'o':
			if (parse_o(&o, optarg) < 0)
				return 2;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("isofs-overlay %s\n", ISOFS_VERSION);
			return 0;
		default:
			fprintf(stderr, "isofs-overlay: bad option (see --help)\n");
			return 2;
		}
	}
	for (; optind < argc; optind++) {
		if (npos == 2) {
			fprintf(stderr, "isofs-overlay: unexpected argument '%s'\n", argv[optind]);
			return 2;
		}
		positional[npos++] = argv[optind];
	}
	if (npos == 0) {
		fprintf(stderr, "isofs-overlay: missing MOUNTPOINT (see --help)\n");
		return 2;
	}
	o.mountpoint = (char *) positional[npos - 1]; /* with two, the first is mount(8)'s SOURCE */
	if (!o.lowerdir) {
		fprintf(stderr, "isofs-overlay: missing -o lowerdir=…\n");
		return 2;
	}
	if (!o.upperdir != !o.workdir) {
		fprintf(stderr, "isofs-overlay: upperdir and workdir go together\n");
		return 2;
	}
	if (split_lowers(o.lowerdir, &lowers, &nlowers) < 0 || nlowers == 0) {
		fprintf(stderr, "isofs-overlay: lowerdir names no layer\n");
		return 2;
	}
	if (nlowers >= OVL_MAX_LAYERS) {
		fprintf(stderr, "isofs-overlay: too many lower layers (%d, at most %d)\n", nlowers, OVL_MAX_LAYERS - 1);
		return 2;
	}

	struct ovl_serve_config cfg = {
		.lowers = (const char *const *) lowers,
		.nlowers = nlowers,
		.upper = o.upperdir,
		.work = o.workdir,
		.mountpoint = o.mountpoint,
		.userxattr = o.userxattr_set ? o.userxattr : -1,
		.timeout = o.timeout,
		.writeback = o.writeback != 0,
		.threads = (unsigned) (o.threads > 0 ? o.threads : 16),
		.dircache = (size_t) o.dircache,
		.fuse_opts = o.fuse_opts,
		.debug = o.debug,
		.ready = daemonize,
		.userdata = &o.foreground,
		.errbuf = errbuf,
		.errlen = sizeof(errbuf),
	};
	r = ovl_serve(&cfg);
	if (r < 0 && errbuf[0])
		fprintf(stderr, "isofs-overlay: %s\n", errbuf);
	free(lowers);
	free(o.lowerdir);
	free(o.upperdir);
	free(o.workdir);
	return r < 0 ? 1 : 0;
}
