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
#include <stdint.h>
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
	"  spin=USEC          after a reply, look for the next request this long before sleeping (default 50; 0: never;\n"
	"                     not while more tasks are runnable than CPUs)\n"
	"  dircache=N         directory fds kept open at most (default: a quarter of the fd limit);\n"
	"                     closed ones are reopened when used again\n"
	"  ro                 a read-only view (with upperdir: the upper is the top lower)\n"
	"  open_handles=0|1   answer OPEN with file handles even where the kernel can open files\n"
	"                     without asking (default 0; older kernels always use handles)\n"
	"  passthrough=0|1    the kernel reads and writes open upper files itself (root, Linux >= 6.9,\n"
	"                     built with libfuse >= 3.16; default 0: with it, every open costs two requests)\n"
	"fuse-overlayfs's options, as containers/storage passes them:\n"
	"  uidmapping=IN:OUT:N[:IN:OUT:N…], gidmapping=…   stored ids IN.. shown as OUT..\n"
	"  squash_to_root, squash_to_uid=N, squash_to_gid=N  every object shown with one owner\n"
	"  static_nlink       directories show st_nlink 1\n"
	"  noxattrs=1         no extended attributes shown (the kernel then stops asking for them)\n"
	"  volatile, fsync=0  fsync does nothing\n"
	"  xattr_permissions=1|2  owners and modes kept in security.|user.fuseoverlayfs.override_stat\n"
	"  noacl, redirect_dir=, index=, metacopy=, context=, fast_ino=, threaded=,\n"
	"  plugins= (empty), plugin_path=, x-*   accepted, meaningless here\n"
	"  allow_other, allow_root, and other FUSE mount options are passed on.\n"
	"  -f  stay in the foreground    -d  debug output (implies -f)\n";

struct overlay_opts {
	char *lowerdir, *upperdir, *workdir;
	bool userxattr, userxattr_set;
	bool read_only;
	double timeout;
	int writeback;
	int open_handles;
	int passthrough;
	int threads;
	int spin_us; /* -1: unset */
	bool no_xattr;
	long dircache;
	bool foreground, debug;
	char *mountpoint;
	char fuse_opts[4096];
	/* fuse-overlayfs's */
	bool have_uidmap, have_gidmap;
	struct idshift uidmap, gidmap;
	bool squash_root, squash_uid_set, squash_gid_set;
	uint32_t squash_uid, squash_gid;
	bool static_nlink, no_fsync;
	int xattr_permissions;
	bool suid_set, access_set; /* suid/nosuid, allow_other/allow_root given */
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

/* A decimal id, nothing else. */
static int parse_id(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t) v;
	return 0;
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
		else if (KEY("open_handles") && val) {
			if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
				return fprintf(stderr, "isofs-overlay: open_handles=%s: 0 or 1\n", val), -EINVAL;
			o->open_handles = val[0] == '1';
		}
		else if (KEY("passthrough") && val) {
			if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
				return fprintf(stderr, "isofs-overlay: passthrough=%s: 0 or 1\n", val), -EINVAL;
			o->passthrough = val[0] == '1';
		}
		else if (KEY("threads") && val)
			o->threads = atoi(val);
		else if (KEY("spin") && val) {
			char *end;
			long us = strtol(val, &end, 10);
			if (*end || end == val || us < 0 || us > 1000000)
				return fprintf(stderr, "isofs-overlay: spin=%s: microseconds, 0 to 1000000\n", val), -EINVAL;
			o->spin_us = (int) us;
		}
		else if (KEY("dircache") && val) {
			char *end;
			o->dircache = strtol(val, &end, 10);
			if (*end || o->dircache < 1)
				return fprintf(stderr, "isofs-overlay: dircache=%s: not a positive number\n", val), -EINVAL;
		}
		else if (KEY("suid")) {
			o->suid_set = true;
			add_fuse_opt(o, opt);
		} else if (KEY("rw") || KEY("dev") || KEY("exec") || KEY("auto") || KEY("noauto") ||
			 KEY("user") || KEY("users") || KEY("_netdev") || KEY("defaults") || KEY("nofail") ||
			 (klen > 2 && strncmp(opt, "x-", 2) == 0))
			; /* mount(8) vocabulary (x-*: for userspace tools), meaningless here */
		else if (KEY("ro"))
			o->read_only = true;
		else if (KEY("nosuid") || KEY("allow_other") || KEY("allow_root")) {
			if (KEY("nosuid"))
				o->suid_set = true;
			else
				o->access_set = true;
			add_fuse_opt(o, opt);
		} else if (KEY("nodev") || KEY("noexec") ||
			 KEY("noatime") || KEY("relatime") || KEY("max_read") || KEY("blksize") || KEY("fsname") ||
			 KEY("subtype") || KEY("auto_unmount") || KEY("default_permissions"))
			add_fuse_opt(o, opt);
		/* fuse-overlayfs's options (containers/storage passes them to a mount_program) */
		else if (KEY("uidmapping") && val) {
			if (idshift_parse(val, &o->uidmap) < 0)
				return fprintf(stderr, "isofs-overlay: uidmapping=%s: not INSIDE:OUTSIDE:COUNT[:…] ranges\n", val), -EINVAL;
			o->have_uidmap = true;
		} else if (KEY("gidmapping") && val) {
			if (idshift_parse(val, &o->gidmap) < 0)
				return fprintf(stderr, "isofs-overlay: gidmapping=%s: not INSIDE:OUTSIDE:COUNT[:…] ranges\n", val), -EINVAL;
			o->have_gidmap = true;
		} else if (KEY("squash_to_root") && !val)
			o->squash_root = true;
		else if ((KEY("squash_to_uid") || KEY("squash_to_gid")) && val) {
			uint32_t id;
			if (parse_id(val, &id) < 0)
				return fprintf(stderr, "isofs-overlay: %.*s=%s: not an id\n", (int) klen, opt, val), -EINVAL;
			if (opt[10] == 'u') {
				o->squash_uid = id;
				o->squash_uid_set = true;
			} else {
				o->squash_gid = id;
				o->squash_gid_set = true;
			}
		} else if (KEY("static_nlink") && !val)
			o->static_nlink = true;
		else if (KEY("volatile") && !val)
			o->no_fsync = true;
		else if (KEY("fsync") && val && (strcmp(val, "0") == 0 || strcmp(val, "1") == 0))
			o->no_fsync = strcmp(val, "0") == 0;
		else if (KEY("noacl") || KEY("redirect_dir") || KEY("index") || KEY("metacopy") || KEY("context") ||
			 KEY("fscontext") || KEY("defcontext") || KEY("rootcontext") || KEY("fast_ino") ||
			 KEY("threaded") || KEY("plugin_path") || (KEY("plugins") && (!val || !*val)))
			; /* meaningless here: see README (isofs-overlay) */
		else if (KEY("xattr_permissions") && val && strlen(val) == 1 && val[0] >= '0' && val[0] <= '2')
			o->xattr_permissions = val[0] - '0';
		else if (KEY("noxattrs") && val && (strcmp(val, "0") == 0 || strcmp(val, "1") == 0))
			o->no_xattr = val[0] == '1';
		else if (KEY("xattr_permissions") || KEY("plugins") || KEY("noxattrs"))
			return fprintf(stderr, "isofs-overlay: option '%s' is not supported\n", opt), -EINVAL;
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
	struct overlay_opts o = { .timeout = 86400, .writeback = 0, .threads = 16, .spin_us = -1 };
	char **lowers = NULL, errbuf[512] = "";
	int nlowers = 0, c, r;
	char *upper_as_lower = NULL;
	const char *positional[2];
	int npos = 0;

	/*
	 * As mount(8)'s helper (mount.fuse.isofs-overlay): "SOURCE DIR [-sfnv]
	 * [-o OPTS] [-t TYPE]", where -f means a fake mount, not the foreground.
	 */
	const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	bool helper = strncmp(self, "mount.", 6) == 0, fake = false;

	while ((c = getopt_long(argc, argv, helper ? "fnsvo:t:" : "fdo:hV", longopts, NULL)) != -1) {
		if (helper && c != 'o') {
			if (c == 'f')
				fake = true;
			else if (c == '?') {
				fprintf(stderr, "isofs-overlay: bad mount helper option\n");
				return 2;
			}
			continue; /* -n no mtab, -s sloppy, -v verbose, -t the type: nothing to do */
		}
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
			printf("isofs-overlay %s\nlibfuse %s (passthrough: %s)\n", ISOFS_VERSION, fuse_pkgversion(),
			       ovl_passthrough_built() ? "built" : "not built");
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
	if (!o.upperdir != !o.workdir && !(o.read_only && o.upperdir)) {
		fprintf(stderr, "isofs-overlay: upperdir and workdir go together\n");
		return 2;
	}
	if (split_lowers(o.lowerdir, &lowers, &nlowers) < 0 || nlowers == 0) {
		fprintf(stderr, "isofs-overlay: lowerdir names no layer\n");
		return 2;
	}
	/* ro with an upper layer (fuse-overlayfs, containers/storage): the upper is the top lower, nothing is written */
	if (o.read_only && o.upperdir) {
		char **nl = realloc(lowers, sizeof(*nl) * (size_t) (nlowers + 1));
		if (!nl) {
			fprintf(stderr, "isofs-overlay: out of memory\n");
			return 1;
		}
		memmove(nl + 1, nl, sizeof(*nl) * (size_t) nlowers);
		nl[0] = o.upperdir;
		lowers = nl;
		nlowers++;
		o.upperdir = NULL; /* freed as a lower's name below */
		free(o.workdir);
		o.workdir = NULL;
		upper_as_lower = nl[0];
	}
	if (nlowers >= OVL_MAX_LAYERS) {
		fprintf(stderr, "isofs-overlay: too many lower layers (%d, at most %d)\n", nlowers, OVL_MAX_LAYERS - 1);
		return 2;
	}

	if (fake)
		return 0;
	/*
	 * As root, what fuse-overlayfs does and containers/storage counts on: a
	 * container's processes run as other users (allow_other; the kernel
	 * still checks permissions) and its setuid programs work (suid).
	 * -o nosuid, or allow_root, says otherwise.
	 */
	if (geteuid() == 0) {
		if (!o.access_set)
			add_fuse_opt(&o, "allow_other");
		if (!o.suid_set)
			add_fuse_opt(&o, "suid");
	}
	if (o.debug) {
		/* What it made of its arguments (libfuse's -d then shows every request). */
		fprintf(stderr, "isofs-overlay: mountpoint %s%s\n", o.mountpoint, o.read_only ? " (read-only)" : "");
		for (int i = 0; i < nlowers; i++)
			fprintf(stderr, "isofs-overlay: lower layer %d: %s\n", i, lowers[i]);
		if (o.upperdir)
			fprintf(stderr, "isofs-overlay: upperdir %s, workdir %s\n", o.upperdir, o.workdir);
		fprintf(stderr, "isofs-overlay: FUSE options: %s\n", o.fuse_opts[0] ? o.fuse_opts : "(none)");
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
		.open_handles = o.open_handles != 0,
		.no_xattr = o.no_xattr,
		.passthrough = o.passthrough != 0,
		.threads = (unsigned) (o.threads > 0 ? o.threads : 16),
		.spin_us = o.spin_us < 0 ? 0 : o.spin_us == 0 ? -1 : o.spin_us,
		.dircache = (size_t) o.dircache,
		.fuse_opts = o.fuse_opts,
		.uidmapping = o.have_uidmap ? &o.uidmap : NULL,
		.gidmapping = o.have_gidmap ? &o.gidmap : NULL,
		/* squash_to_uid/gid take precedence over squash_to_root, as in fuse-overlayfs */
		.squash_uid_set = o.squash_uid_set || o.squash_root,
		.squash_gid_set = o.squash_gid_set || o.squash_root,
		.squash_uid = o.squash_uid_set ? o.squash_uid : 0,
		.squash_gid = o.squash_gid_set ? o.squash_gid : 0,
		.static_nlink = o.static_nlink,
		.xattr_permissions = o.xattr_permissions,
		.no_fsync = o.no_fsync,
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
	free(upper_as_lower);
	return r < 0 ? 1 : 0;
}
