#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
Randomized differential test: isofs-overlay against kernel overlayfs.

A seeded PRNG draws a long sequence of operations — create, write at random
offsets, truncate, rename (directories too, over existing names, NOREPLACE and
EXCHANGE through renameat2), link, unlink, mkdir, rmdir, chmod, utimes,
setxattr/removexattr, symlink, stat, readdir, and operations on open file
descriptors — over names from a small pool, so that they collide with the
lower layers' entries.  Each operation is applied to both mounts (each over its
own copy of the same layers) and the outcomes (value, or errno) must agree;
the whole trees are compared every --check-every operations, at the end,
after each is remounted, and with each upper mounted by the other
implementation.

Usage: test_random.py [--mode root|rootless|userns] [--seed N | --seeds 1,2,3]
                      [--ops N] [--check-every N] [-v]
On a failure it prints the seed and the index of the first differing
operation: `test_random.py --seed S --ops I+1 -v` replays up to it.
Odd seeds run over one lower layer, even seeds over a two-layer stack; a seed
divisible by 4 has that stack, and an upper to start from, in
containers/storage's form (`.wh.NAME` whiteouts, `.wh..wh..opq` opaque
markers, AUFS names: H.make_stack_wh, H.make_upper_wh), which kernel
overlayfs gets rewritten into its own form (H.wh_to_kernel): isofs-overlay
must make of the markers what the kernel makes of its whiteouts, and remove
them where names come back.
"""

import os
import random
import stat
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ovlharness as H  # noqa: E402

DIRS = ["", "dir", "dir/sub", "other", "emptydir", "xdir", "rodir", "n1", "n1/n2", "l1dir"]
NAMES = ["file", "ro", "a", "b", "c", "sub", "link1", "link2", "sym", "x", "y", "n1", "n2", "other", "o", "dir",
         "emptydir", "inner", "deeper", "d", "fifo", "exec", "xfile", "mine", "l1only", "sparse"]
# Symlink targets: never out of the mount (an absolute target resolves in the test's own root, and ".."
# from the top of the mount reaches the layer directories), so only relative names below, or nothing.
SYMTARGETS = ["file", "a", "dir", "nowhere", "sub/c", "/nonexistent-isofs-overlay-test/x"]
FILE_MODES = [0o644, 0o600, 0o755, 0o444, 0o640, 0o000, 0o4755]
DIR_MODES = [0o755, 0o700, 0o555, 0o775, 0o2775]
NFD = 4


def rpath(rng):
    d = rng.choice(DIRS)
    n = rng.choice(NAMES)
    return f"{d}/{n}" if d else n


def gen_op(rng):
    """One operation as plain data (applied identically to both mounts)."""
    k = rng.choices(
        ["create", "write", "append", "truncate", "read", "rename", "rename2", "link", "unlink", "mkdir",
         "rmdir", "rmrf", "chmod", "chown", "utime", "setxattr", "removexattr", "symlink", "stat", "ls",
         "open", "fdwrite", "fdread", "fdstat", "fdtrunc", "close", "mkfifo", "readlink"],
        weights=[8, 8, 4, 4, 5, 8, 5, 4, 7, 6, 4, 2, 4, 2, 2, 3, 2, 3, 6, 5, 4, 4, 3, 3, 2, 4, 1, 2])[0]
    p = rpath(rng)
    if k == "create":
        return (k, p, rng.choice(FILE_MODES[:4]), rng.random() < 0.3,
                bytes([rng.randrange(256)]) * rng.randrange(0, 5000))
    if k in ("write", "fdwrite"):
        tgt = rng.randrange(NFD) if k == "fdwrite" else p
        return (k, tgt, rng.randrange(0, 70000), bytes([rng.randrange(256)]) * rng.randrange(1, 9000))
    if k == "append":
        return (k, p, bytes([rng.randrange(256)]) * rng.randrange(1, 3000))
    if k in ("truncate", "fdtrunc"):
        tgt = rng.randrange(NFD) if k == "fdtrunc" else p
        return (k, tgt, rng.choice([0, 1, 100, 4096, 5000, 70000, 300000]))
    if k in ("rename", "link"):
        return (k, p, rpath(rng))
    if k == "rename2":
        return (k, p, rpath(rng), rng.choice([H.RENAME_NOREPLACE, H.RENAME_EXCHANGE, H.RENAME_EXCHANGE]))
    if k == "mkdir":
        return (k, p, rng.choice(DIR_MODES))
    if k == "chmod":
        return (k, p, rng.choice(FILE_MODES + DIR_MODES))
    if k == "chown":
        return (k, p, rng.choice([0, 1000, 1234]), rng.choice([0, 1000, 2345]))
    if k == "utime":
        return (k, p, rng.randrange(1, 2_000_000_000))
    if k == "setxattr":
        return (k, p, rng.choice(["user.a", "user.b", "user.long" + "x" * 100]), bytes([rng.randrange(256)]) *
                rng.randrange(0, 300), rng.choice([0, 0, 1, 2]))
    if k == "removexattr":
        return (k, p, rng.choice(["user.a", "user.b", "user.d"]))
    if k == "symlink":
        return (k, rng.choice(SYMTARGETS), p)
    if k == "open":
        return (k, rng.randrange(NFD), p, rng.choice([os.O_RDONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND,
                                                      os.O_RDWR | os.O_CREAT, os.O_WRONLY | os.O_TRUNC]))
    if k in ("fdread", "fdstat", "close"):
        return (k, rng.randrange(NFD))
    return (k, p)


def stat_fields(st):
    d = {"type": H.type_char(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid,
         "gid": st.st_gid}
    if not stat.S_ISDIR(st.st_mode):
        d["nlink"] = st.st_nlink
        d["size"] = st.st_size
    return d


def rm_r(path):
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        for n in sorted(os.listdir(path)):
            rm_r(os.path.join(path, n))
        os.rmdir(path)
    else:
        os.unlink(path)


class Runner:
    """Applies operations to one mount; keeps its open file descriptors."""

    def __init__(self, m):
        self.m = m
        self.fds = [None] * NFD

    def p(self, rel):
        return self.m.p(rel)

    def close_all(self):
        for i, fd in enumerate(self.fds):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                self.fds[i] = None

    def fd(self, slot):
        fd = self.fds[slot]
        if fd is None:
            raise OSError(9, "no such slot")  # EBADF, both alike
        return fd

    def apply(self, op):
        k = op[0]
        P = self.p
        if k == "create":
            _, p, mode, excl, data = op
            fd = os.open(P(p), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | (os.O_EXCL if excl else 0),
                         mode)
            try:
                return os.write(fd, data)
            finally:
                os.close(fd)
        if k == "write":
            _, p, off, data = op
            fd = os.open(P(p), os.O_WRONLY | os.O_NONBLOCK)
            try:
                return os.pwrite(fd, data, off)
            finally:
                os.close(fd)
        if k == "append":
            fd = os.open(P(op[1]), os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
            try:
                os.write(fd, op[2])
                return os.fstat(fd).st_size
            finally:
                os.close(fd)
        if k == "truncate":
            return os.truncate(P(op[1]), op[2])
        if k == "read":
            fd = os.open(P(op[1]), os.O_RDONLY | os.O_NONBLOCK)  # fifos: no blocking open
            try:
                return H.hashlib.sha256(os.pread(fd, 1 << 20, 0) if stat.S_ISREG(os.fstat(fd).st_mode)
                                        else b"").hexdigest()[:16]
            finally:
                os.close(fd)
        if k == "rename":
            return os.rename(P(op[1]), P(op[2]))
        if k == "rename2":
            return H.renameat2(P(op[1]), P(op[2]), op[3])
        if k == "link":
            return os.link(P(op[1]), P(op[2]), follow_symlinks=False)
        if k == "unlink":
            return os.unlink(P(op[1]))
        if k == "mkdir":
            return os.mkdir(P(op[1]), op[2])
        if k == "rmdir":
            return os.rmdir(P(op[1]))
        if k == "rmrf":
            return rm_r(P(op[1]))
        if k == "chmod":
            return os.chmod(P(op[1]), op[2])
        if k == "chown":
            return os.chown(P(op[1]), op[2], op[3], follow_symlinks=False)
        if k == "utime":
            return os.utime(P(op[1]), (op[2], op[2]), follow_symlinks=False)
        if k == "setxattr":
            return os.setxattr(P(op[1]), op[2], op[3], op[4], follow_symlinks=False)
        if k == "removexattr":
            return os.removexattr(P(op[1]), op[2], follow_symlinks=False)
        if k == "symlink":
            return os.symlink(op[1], P(op[2]))
        if k == "mkfifo":
            return os.mkfifo(P(op[1]), 0o644)
        if k == "readlink":
            return os.readlink(P(op[1]))
        if k == "stat":
            st = os.lstat(P(op[1]))
            d = stat_fields(st)
            if not stat.S_ISDIR(st.st_mode):
                d["xattrs"] = sorted(os.listxattr(P(op[1]), follow_symlinks=False))
            return d
        if k == "ls":
            return sorted(os.listdir(P(op[1])))
        if k == "open":
            _, slot, p, flags = op
            if self.fds[slot] is not None:
                os.close(self.fds[slot])
                self.fds[slot] = None
            self.fds[slot] = os.open(P(p), flags | os.O_NONBLOCK | os.O_NOFOLLOW, 0o644)
            return stat_fields(os.fstat(self.fds[slot]))
        if k == "fdwrite":
            return os.pwrite(self.fd(op[1]), op[3], op[2])
        if k == "fdread":
            fd = self.fd(op[1])
            return H.hashlib.sha256(os.pread(fd, 1 << 20, 0)).hexdigest()[:16]
        if k == "fdstat":
            return stat_fields(os.fstat(self.fd(op[1])))
        if k == "fdtrunc":
            return os.ftruncate(self.fd(op[1]), op[2])
        if k == "close":
            fd = self.fd(op[1])
            self.fds[op[1]] = None
            return os.close(fd)
        raise ValueError(k)


def outcome(runner, op):
    try:
        return ("ok", runner.apply(op))
    except OSError as e:
        return ("err", H.ename(e.errno))


def short(op):
    out = []
    for x in op:
        if isinstance(x, bytes):
            out.append(f"<{len(x)} bytes {x[:1].hex()}>")
        elif isinstance(x, int) and x > 0o777 and op[0] in ("chmod", "mkdir", "create"):
            out.append(oct(x))
        else:
            out.append(repr(x))
    return "(" + ", ".join(out) + ")"


def documented(mode, op, ko, io):
    """A difference the kernel legitimately has: its explanation, else None."""
    k = op[0]
    if k in ("rename", "rename2") and ko == ("err", "EXDEV") and io[0] == "ok" and mode != "root":
        return "rootless kernel overlayfs (userxattr, redirect_dir=nofollow) cannot rename a directory with a " \
               "lower part: EXDEV"
    if k in ("fdstat", "open") and ko[0] == io[0] == "ok" and isinstance(ko[1], dict):
        a, b = dict(ko[1]), dict(io[1])
        if a.get("nlink") == 1 and b.get("nlink") == 0:
            a.pop("nlink"), b.pop("nlink")
            if a == b:
                return "kernel overlayfs shows a removed lower file still open with its lower link count (1)"
        if k == "open" and op[3] & (os.O_WRONLY | os.O_RDWR) and a.get("nlink", 0) < b.get("nlink", 0):
            a.pop("nlink"), b.pop("nlink")
            if a == b:
                return OPEN_FOR_WRITE
    return None


OPEN_FOR_WRITE = ("isofs copies a lower file up at its first change, not at open for writing (the kernel opens "
                  "files without asking it): a hard-linked lower file keeps its link count until written")
ROOTLESS_LINKS = ("rootless kernel overlayfs (userxattr) presents the names of a hard-linked copied-up file with "
                  "different st_ino: hard-link groups are not compared rootless")
ROOTLESS_REDIRECT = ("rootless kernel overlayfs (userxattr, redirect_dir=nofollow) refuses directories carrying a "
                     "redirect: the isofs upper through the kernel is not compared after a directory rename")


def undo_isofs(runner, op):
    """After a documented divergence: bring isofs back to the kernel's state."""
    if op[0] == "rename":
        runner.apply(("rename", op[2], op[1]))
    elif op[0] == "rename2" and op[3] == H.RENAME_EXCHANGE:
        runner.apply(("rename2", op[1], op[2], H.RENAME_EXCHANGE))
    elif op[0] == "rename2":
        runner.apply(("rename", op[2], op[1]))
    elif op[0] == "open":
        fd = runner.fd(op[1])
        st = os.fstat(fd)
        os.ftruncate(fd, st.st_size)  # a change: the copy-up the kernel made at open, times kept
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def run_seed(tap, mode, seed, nops, check_every, verbose, tmp):
    rng = random.Random(seed)
    stack = 1 if seed % 2 else 2
    wh = seed % 4 == 0
    base = tempfile.mkdtemp(prefix=f"seed{seed}.", dir=tmp)
    tpl = f"{base}/tpl"
    os.makedirs(tpl)
    fmode = "root" if mode == "root" else "rootless"
    if stack == 1:
        H.make_fixture(f"{tpl}/L", fmode)
        lowers = [f"{tpl}/L"]
    elif wh:
        lowers = H.make_stack_wh(tpl, fmode)
    else:
        lowers = H.make_stack2(tpl, fmode)
    lk = H.Layers.clone(lowers, f"{base}/k")
    li = H.Layers.clone(lowers, f"{base}/i")
    if wh:
        for layers in (lk, li):
            H.make_upper_wh(layers.upper, fmode, dir_marker=False)
        for d in lk.lowers + [lk.upper]:
            H.wh_to_kernel(d, fmode)
    tag = f"seed {seed} ({stack} lower layer{'s' if stack > 1 else ''}{', .wh. form' if wh else ''}, {nops} ops)"
    ops = [gen_op(rng) for _ in range(nops)]
    failed = None
    ndoc = {}
    snaps = {}
    ignore = ("links",) if mode != "root" else ()
    if ignore:
        ndoc[ROOTLESS_LINKS] = 0
    with H.Watchdog(1800, f"seed {seed}"):
        mk = H.mount("kernel", lk, mode)
        mi = H.mount("isofs", li, mode)
        rk, ri = Runner(mk), Runner(mi)
        try:
            for i, op in enumerate(ops):
                ko = outcome(rk, op)
                io = outcome(ri, op)
                if verbose:
                    print(f"# {i}: {short(op)} -> kernel {ko!r:.120} isofs {io!r:.120}", flush=True)
                if ko != io:
                    why = documented(mode, op, ko, io)
                    if why is None:
                        failed = (f"seed {seed}: op #{i} {short(op)}: kernel {ko!r:.300} / isofs {io!r:.300}",
                                  f"replay: {sys.argv[0]} --mode {mode} --seed {seed} --ops {i + 1} -v")
                        break
                    ndoc[why] = ndoc.get(why, 0) + 1
                    if (ko[0] == "err" and io[0] == "ok") or why == OPEN_FOR_WRITE:
                        undo_isofs(ri, op)
                if check_every and (i + 1) % check_every == 0:
                    d = H.diff_snapshots(H.snapshot(mk.root), H.snapshot(mi.root), ignore=ignore)
                    if d:
                        failed = (f"seed {seed}: trees differ after op #{i} {short(op)}",
                                  f"replay: {sys.argv[0]} --mode {mode} --seed {seed} --ops {i + 1} -v", *d)
                        break
            rk.close_all()
            ri.close_all()
            snaps["kernel"] = H.snapshot(mk.root)
            snaps["isofs"] = H.snapshot(mi.root)
        finally:
            rk.close_all()
            ri.close_all()
            mk.umount(force=True)
            try:
                mi.umount()
            except RuntimeError as e:
                tap.ok(False, f"{tag}: isofs-overlay exits cleanly", str(e))
    tap.ok(failed is None, f"{tag}: every operation gives the same result", *(failed or ()))
    for why, n in ndoc.items():
        tap.diag(f"DOCUMENTED DIFFERENCE ({n}x, isofs brought back in line): {why}" if n else
                 f"DOCUMENTED DIFFERENCE: {why}")
    if failed:
        H.rm_tree(base)
        return
    d = H.diff_snapshots(snaps["kernel"], snaps["isofs"], ignore=ignore)
    tap.ok(not d, f"{tag}: the final trees agree", *d)
    renamed_dirs = any(k.startswith("rootless kernel overlayfs (userxattr, redirect_dir") for k in ndoc)
    for tagu, layers, ref in (("kernel's upper", lk, "kernel"), ("isofs's upper", li, "isofs")):
        for kind in ("kernel", "isofs"):
            with H.Watchdog(600, f"seed {seed} remount"):
                # kernel overlayfs reads its own form only: isofs's layers reach it rewritten
                ml = H.kernel_twin(layers, f"{layers.base}/twin", fmode) if wh and kind == "kernel" and layers is li \
                    else layers
                m = H.mount(kind, ml, mode)
                try:
                    s = H.snapshot(m.root)
                finally:
                    m.umount(force=True)
            what = "after remount" if kind == ref else f"{tagu} mounted by {kind}"
            d = H.diff_snapshots(snaps[ref], s, ref, f"{kind} remount", ignore=ignore)
            if d and renamed_dirs and ref == "isofs" and kind == "kernel":
                tap.documented_difference(f"{tag}: {what}: same tree", ROOTLESS_REDIRECT)
                continue
            tap.ok(not d, f"{tag}: {what}: same tree", *d)
    H.rm_tree(base)


def main(argv):
    mode, rest = H.parse_mode(argv[1:])
    H.reexec_rootless(mode, [argv[0]] + rest)
    seeds = [int(s) for s in os.environ.get("OVL_SEEDS", "1,2,3,4,5,6,7,8").split(",")]
    nops = int(os.environ.get("OVL_OPS", "2000"))
    check_every = 250
    verbose = False
    it = iter(rest)
    for a in it:
        if a == "--seed":
            seeds = [int(next(it))]
        elif a == "--seeds":
            seeds = [int(s) for s in next(it).split(",")]
        elif a == "--ops":
            nops = int(next(it))
        elif a == "--check-every":
            check_every = int(next(it))
        elif a == "-v":
            verbose = True
        else:
            sys.exit(f"unknown argument {a!r}")
    H.install_cleanup()
    tap = H.Tap()
    tap.diag(f"mode {mode}, uid {os.getuid()}, seeds {seeds}, {nops} ops each, isofs-overlay {H.overlay_bin()}")
    with H.scratch("isofs-ovl-rand.") as tmp:
        why = H.probe(mode, tmp)
        if why:
            print(f"1..0 # SKIP {why}", flush=True)
            return 0
        for seed in seeds:
            H.guarded(tap, f"seed {seed}", run_seed, tap, mode, seed, nops, check_every, verbose, tmp)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
