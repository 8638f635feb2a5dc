#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
Conformance of isofs-overlay with kernel overlayfs.

Every case runs against both implementations mounted over their own copies of
the same layers, in the same run, and is compared:
  result   what each step returned (value or errno), and stat fields
  tree     the whole merged tree afterwards (type, mode, nlink, size, owner,
           content, symlink target, xattrs, hard-link groups, d_ino == st_ino)
  on-disk  the upper layer after unmount: whiteouts are 0/0 char devices,
           opaque / redirect xattrs where the case expects them (both uppers)
  cross    each upper remounted by both implementations shows the same tree
           (isofs's upper through the kernel and the other way round)
  restack  each upper used as the top lower layer of a new mount shows the
           same tree (whiteouts / opaque / redirects honoured in lower layers)
A difference the kernel legitimately has is a documented difference: printed
as such, and only the exact difference described is tolerated.

Cases over containers/storage's form (`.wh.NAME`, `.wh..wh..opq`) run twice:
against kernel overlayfs over the same layers rewritten in its own form, and
against fuse-overlayfs over them as they are ("[vs fuse-overlayfs]").

Usage: test_conformance.py [--mode root|rootless|userns] [--list] [NAME-SUBSTRING…]
TAP on stdout.
"""

import errno
import fcntl
import mmap
import os
import stat
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ovlharness as H  # noqa: E402

MODE = None  # set in main


class Obs:
    """What one mount answered, step by step."""

    def __init__(self, m, dir_nlink=True):
        self.m = m
        self.items = []
        self.dir_nlink = dir_nlink  # fuse-overlayfs counts a directory's subdirectories, the kernel says 1 when merged

    def p(self, rel):
        return self.m.p(rel)

    def do(self, label, fn, *args, **kw):
        r = H.attempt(fn, *args, **kw)
        self.items.append((label, r))
        return r

    def note(self, label, value):
        self.items.append((label, value))
        return value

    def stat(self, label, rel, follow=False):
        try:
            st = os.stat(self.p(rel)) if follow else os.lstat(self.p(rel))
        except OSError as e:
            return self.note(label, ("err", H.ename(e.errno)))
        return self.note(label, stat_fields(st, self.dir_nlink))

    def read(self, label, rel):
        return self.do(label, read_file, self.p(rel))

    def ls(self, label, rel=""):
        return self.do(label, lambda: sorted(os.listdir(self.p(rel))))


def stat_fields(st, dir_nlink=True):
    d = {"type": H.type_char(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid,
         "gid": st.st_gid, "size": st.st_size if not stat.S_ISDIR(st.st_mode) else None}
    if dir_nlink or not stat.S_ISDIR(st.st_mode):
        d["nlink"] = st.st_nlink
    return d


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def write_file(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode=0o644):
    fd = os.open(path, flags, mode)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


def rm_r(path):
    """rm -r through the mount (no shutil: it must see every errno)."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        for n in os.listdir(path):
            rm_r(os.path.join(path, n))
        os.rmdir(path)
    else:
        os.unlink(path)


# ---- the case table ------------------------------------------------------------------

CASES = []


class Case:
    def __init__(self, fn, desc, stack, modes, upper_check, known, after_remount, fixture, timeout, cross, ref,
                 upper_init, shared_lowers):
        self.fn = fn
        self.shared_lowers = shared_lowers  # both mounts over the template's lowers, not copies of them
        self.name = fn.__name__ + ("" if ref == "kernel" else "_" + ref.replace("-", "_"))
        self.desc = desc + ("" if ref == "kernel" else f" [vs {ref}]")
        self.ref = ref                # the reference implementation: kernel overlayfs, or fuse-overlayfs
        self.upper_init = upper_init  # fills the upper before the mount (both copies)
        self.stack = stack
        self.modes = modes
        self.upper_check = upper_check
        self.known = known or []
        self.after_remount = after_remount
        self.fixture = fixture
        self.timeout = timeout
        self.cross = cross


def case(desc, stack=1, modes=("root", "rootless", "userns"), upper=None, known=None, after_remount=None,
         fixture=None, timeout=H.DEFAULT_TIMEOUT, cross=True, ref="kernel", upper_init=None, shared_lowers=False):
    """A case.  stack: 1, 2, 3 lower layers in the kernel's form, or "wh": two in containers/storage's
    (`.wh.` names, H.make_stack_wh).  Layers in that form (a "wh" stack, an upper_init) reach kernel
    overlayfs rewritten into its own form (H.wh_to_kernel), so the kernel says what they mean; ref
    "fuse-overlayfs" compares with fuse-overlayfs instead, which reads them as they are.  shared_lowers:
    both mounts use the template's lower dirs (a fixture made for this one case, too big to copy twice);
    an overlay never writes its lowers, and the case checks that their directories did not change."""
    def deco(fn):
        CASES.append(Case(fn, desc, stack, modes, upper, known, after_remount, fixture, timeout, cross, ref,
                          upper_init, shared_lowers))
        return fn
    return deco


class Known:
    """A documented difference: check (result/tree/…), the modes it holds in, why, and
    substrings every differing line must contain (empty: any)."""

    def __init__(self, check, modes, why, match=()):
        self.check = check
        self.modes = modes
        self.why = why
        self.match = match

    def covers(self, check, mode, lines):
        if check != self.check and not (self.check.endswith("*") and check.startswith(self.check[:-1])):
            return False
        # userns mode runs the kernel exactly as rootless does (userxattr): the same limitations
        if mode not in self.modes and not (mode == "userns" and "rootless" in self.modes):
            return False
        return all(any(s in l for s in self.match) for l in lines if l != "…") if self.match else True


def rootless_nofollow(extra_result_modes=()):
    """Known differences of a case whose directory renames the rootless kernel refuses (EXDEV): the
    two views diverge from there on, so every later difference of the case is tolerated rootless
    (root mode checks the same operations strictly)."""
    return [Known("result", ("rootless",) + extra_result_modes, ROOTLESS_KERNEL_NOFOLLOW),
            Known("tree", ("rootless",), ROOTLESS_KERNEL_NOFOLLOW),
            Known("on-disk", ("rootless",), ROOTLESS_KERNEL_NOFOLLOW),
            Known("after remount", ("rootless",), ROOTLESS_KERNEL_NOFOLLOW),
            Known("restack*", ("rootless", "userns"), ROOTLESS_KERNEL_NOFOLLOW),
            Known("cross*", ("rootless", "userns"), ROOTLESS_KERNEL_NOFOLLOW)]


ROOTLESS_LINKS = ("rootless kernel overlayfs (userxattr) presents two names of one hard-linked upper file with "
                  "different st_ino (the copied-up name keeps its origin's), so they do not look linked; renaming "
                  "one onto the other gives ESTALE there")


def rootless_links():
    return [Known(c, ("rootless", "userns"), ROOTLESS_LINKS, ["links", "ino ==", "ESTALE"])
            for c in ("result", "tree", "remount", "cross*", "restack*")]


ROOTLESS_KERNEL_NOFOLLOW = ("rootless kernel overlayfs needs userxattr, which forces redirect_dir=nofollow: "
                            "renaming a directory with a lower part gives EXDEV there, and redirects are not "
                            "followed")


# ---- cases: lookups and listings -----------------------------------------------------

@case("merged view of the fixture (lookup, readdir, stat, xattrs, links)")
def c_fixture(m, o):
    for n in ("file", "ro", "none", "sym", "symdir", "dir/sub/up", "link1", "fifo", "rodir"):
        o.stat(f"stat {n}", n)
    o.stat("stat -L symdir", "symdir", follow=True)
    o.do("readlink longtarget", os.readlink, o.p("longtarget"))
    o.do("open dangling", read_file, o.p("dangling"))
    o.do("open none", read_file, o.p("none"))
    o.do("access ro W_OK", os.access, o.p("ro"), os.W_OK)
    o.stat("stat missing", "missing")
    o.stat("stat file/x (ENOTDIR)", "file/x")


@case("2 lower layers: whiteouts, opaque dirs and a file over a dir honoured", stack=2)
def c_stack2(m, o):
    for n in ("ro", "dir/a", "other/o", "other/mine", "emptydir", "l1dir/x", "file", "dir/b", "dir/l1only"):
        o.stat(f"stat {n}", n)
    o.read("read file", "file")
    for d in ("", "dir", "other", "l1dir"):
        o.ls(f"ls {d or '.'}", d)


@case("3 lower layers: a whiteout undone above, opaque in a middle layer", stack=3)
def c_stack3(m, o):
    for n in ("file", "dir/sub/c", "dir/sub/l2", "dir/sub/l1", "dir/sub/deeper", "emptydir", "xdir/inner",
              "xdir/top"):
        o.stat(f"stat {n}", n)
    o.read("read file", "file")
    for d in ("", "dir", "dir/sub", "xdir"):
        o.ls(f"ls {d or '.'}", d)


@case("modifying a 3-layer stack: copy-up from the bottom layer, whiteouts over middle ones", stack=3,
      known=rootless_nofollow())
def c_stack3_modify(m, o):
    o.do("append dir/sub/l1", write_file, o.p("dir/sub/l1"), b"more", os.O_WRONLY | os.O_APPEND)
    o.do("chmod dir/b (L3)", os.chmod, o.p("dir/b"), 0o640)
    o.do("unlink xdir/top", os.unlink, o.p("xdir/top"))
    o.do("rmdir xdir", os.rmdir, o.p("xdir"))
    o.do("mkdir xdir", os.mkdir, o.p("xdir"))
    o.ls("ls xdir", "xdir")
    o.do("rename dir/sub -> sub2", os.rename, o.p("dir/sub"), o.p("sub2"))
    o.ls("ls sub2", "sub2")
    o.do("create emptydir", write_file, o.p("emptydir"), b"back")


def _readdir_libc(path, first, seek_back=True, mutate=None):
    """opendir/readdir/telldir/seekdir through libc, as programs use them."""
    import ctypes

    class Dirent(ctypes.Structure):
        _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64), ("d_reclen", ctypes.c_ushort),
                    ("d_type", ctypes.c_ubyte), ("d_name", ctypes.c_char * 256)]

    libc = H.libc
    libc.opendir.restype = ctypes.c_void_p
    libc.opendir.argtypes = [ctypes.c_char_p]
    libc.readdir.restype = ctypes.POINTER(Dirent)
    libc.readdir.argtypes = [ctypes.c_void_p]
    libc.telldir.restype = ctypes.c_long
    libc.telldir.argtypes = [ctypes.c_void_p]
    libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
    libc.closedir.argtypes = [ctypes.c_void_p]
    d = libc.opendir(os.fsencode(path))
    if not d:
        raise OSError(ctypes.get_errno(), "opendir")

    def rd(n=None):
        out = []
        while n is None or len(out) < n:
            e = libc.readdir(d)
            if not e:
                break
            out.append((e.contents.d_name.decode(), e.contents.d_ino))
        return out

    try:
        head = rd(first)
        pos = libc.telldir(d)
        if mutate:
            mutate()
        rest1 = rd()
        rest2 = None
        if seek_back:
            libc.seekdir(d, pos)
            rest2 = rd()
        return head, rest1, rest2
    finally:
        libc.closedir(d)


@case("merged readdir: upper first, whiteouts hidden, no duplicates, offsets stable (telldir/seekdir)")
def c_readdir_offsets(m, o):
    d = o.p("dir")
    long = "n" * 180
    for i in range(150):
        write_file(os.path.join(d, f"{long}{i:04d}"), b"x")
    os.unlink(os.path.join(d, "a"))
    os.unlink(os.path.join(d, f"{long}0007"))
    head, rest1, rest2 = _readdir_libc(d, 60)
    names = [n for n, _ in head + rest1]
    o.note("count", len(names))
    o.note("no duplicates", len(names) == len(set(names)))
    o.note("set", sorted(set(names)))
    o.note("seekdir back gives the same rest", rest1 == rest2)
    # d_ino == st_ino for every entry
    bad = [n for n, ino in head + rest1 if n not in (".", "..") and os.lstat(os.path.join(d, n)).st_ino != ino]
    o.note("d_ino == st_ino", bad)
    dot = dict(head + rest1)
    o.note("'.' d_ino == st_ino of dir", dot.get(".") == os.stat(d).st_ino)


@case("readdir while the directory changes: unchanged entries exactly once")
def c_readdir_mutate(m, o):
    d = o.p("dir")
    for i in range(100):
        write_file(os.path.join(d, f"f{i:03d}"), b"x")

    def mutate():
        for i in range(100, 120):
            write_file(os.path.join(d, f"f{i:03d}"), b"x")

    head, rest, _ = _readdir_libc(d, 30, seek_back=False, mutate=mutate)
    names = [n for n, _ in head + rest]
    before = {".", "..", "a", "b", "sub"} | {f"f{i:03d}" for i in range(100)}
    o.note("no duplicates", len(names) == len(set(names)))
    o.note("every unchanged entry once", sorted(n for n in before if names.count(n) != 1))


@case("st_ino stable across copy-up and remount, equal to d_ino",
      after_remount=lambda m, o: _inos(m, o, "after remount"))
def c_ino_stable(m, o):
    before = _inos(m, o, "before")
    os.chmod(o.p("file"), 0o600)                       # file copy-up
    write_file(o.p("dir/a"), b"more", os.O_WRONLY | os.O_APPEND)
    os.lchown(o.p("sym"), os.getuid(), os.getgid())    # symlink copy-up
    write_file(o.p("dir/sub/new"), b"n")               # dir copy-up (dir, dir/sub)
    os.chmod(o.p("fifo"), 0o600)
    os.setxattr(o.p("xdir"), "user.z", b"z")
    after = _inos(m, o, "after")
    o.note("unchanged", {k: before[k] == after[k] for k in before})


def _inos(m, o, label):
    out = {}
    for n in ("file", "dir", "dir/a", "dir/sub", "sym", "fifo", "xdir", "link1", "link2", "ro"):
        out[n] = os.lstat(m.p(n)).st_ino
    # d_ino of each in its parent's listing
    mism = []
    for n, ino in out.items():
        parent, base = os.path.split(n)
        for de in os.scandir(m.p(parent)):
            if de.name == base and de.inode() != ino:
                mism.append(n)
    o.note(f"{label}: d_ino == st_ino", mism)
    o.note(f"{label}: link1 ino == link2 ino", out["link1"] == out["link2"])
    return out


# ---- whiteouts, opaque directories -----------------------------------------------------

def upper_is(**want):
    """An on-disk check: upper_listing entries (relpath -> 'whiteout', 'd opaque', 'f', None=absent)."""
    def check(upper, mode):
        lst = H.upper_listing(upper, mode)
        bad = []
        for rel, w in want.items():
            rel = rel.replace("__", "/")
            got = lst.get(rel)
            if w is None:
                if got is not None:
                    bad.append(f"{rel}: expected absent, found {got}")
            elif got is None or not (got == w or got.startswith(w + " ") and w != "d"):
                if not (w == "d" and got is not None and got.split()[0] == "d" and "opaque" not in got):
                    bad.append(f"{rel}: expected {w!r}, found {got!r}")
        return bad
    return check


@case("unlink of a lower file leaves a 0/0 whiteout", upper=upper_is(file="whiteout", dir__a="whiteout"))
def c_unlink_lower(m, o):
    o.do("unlink file", os.unlink, o.p("file"))
    o.do("unlink dir/a", os.unlink, o.p("dir/a"))
    o.stat("stat file", "file")
    o.ls("ls .", "")
    o.ls("ls dir", "dir")
    o.do("unlink file again", os.unlink, o.p("file"))
    o.do("unlink dir (EISDIR)", os.unlink, o.p("dir"))
    o.do("rmdir file-less name", os.rmdir, o.p("file"))


def whiteouts_shared(upper, mode):
    """An on-disk check: the whiteouts share one inode (the kernel's have since 5.8: no inode per removal)."""
    inos = {}
    for dirpath, dirnames, filenames in os.walk(upper):
        for n in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, n))
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                inos.setdefault(st.st_ino, []).append(os.path.relpath(os.path.join(dirpath, n), upper))
    n = sum(len(v) for v in inos.values())
    if n < 3:
        return [f"expected at least 3 whiteouts, found {n}"]
    return [] if len(inos) == 1 else [f"{n} whiteouts on {len(inos)} inodes: {sorted(inos.values())}"]


@case("whiteouts of unlink, rmdir and rm -r share one inode", upper=whiteouts_shared)
def c_wh_shared(m, o):
    o.do("unlink file", os.unlink, o.p("file"))
    o.do("unlink dir/a", os.unlink, o.p("dir/a"))
    o.do("rmdir emptydir", os.rmdir, o.p("emptydir"))
    o.do("rm -r other", rm_r, o.p("other"))
    o.ls("ls .", "")


@case("rmdir of lower directories: whiteouts, ENOTEMPTY, rm -r",
      upper=upper_is(emptydir="whiteout", other="whiteout", dir=None))
def c_rmdir_lower(m, o):
    o.do("rmdir emptydir", os.rmdir, o.p("emptydir"))
    o.do("rmdir dir", os.rmdir, o.p("dir"))
    o.do("rmdir file (ENOTDIR)", os.rmdir, o.p("file"))
    o.do("rm -r other", rm_r, o.p("other"))
    o.stat("stat other", "other")
    o.ls("ls .", "")


@case("mkdir over a whiteout makes an opaque directory", upper=upper_is(dir="d opaque", emptydir="d opaque"))
def c_mkdir_over_whiteout(m, o):
    o.do("rm -r dir", rm_r, o.p("dir"))
    o.do("mkdir dir", os.mkdir, o.p("dir"), 0o700)
    o.do("create dir/new", write_file, o.p("dir/new"), b"new")
    o.ls("ls dir", "dir")
    o.stat("stat dir", "dir")
    o.do("rmdir emptydir", os.rmdir, o.p("emptydir"))
    o.do("mkdir emptydir", os.mkdir, o.p("emptydir"))
    o.ls("ls emptydir", "emptydir")


@case("removing a directory that exists only in the upper leaves no whiteout",
      upper=upper_is(n=None, emptydir__x=None, emptydir="d", dir__sub__y=None))
def c_rmdir_upper_only(m, o):
    o.do("mkdir -p n/s", os.makedirs, o.p("n/s"))
    o.do("create n/s/f", write_file, o.p("n/s/f"), b"f")
    o.do("rm -r n", rm_r, o.p("n"))
    o.stat("stat n", "n")
    o.do("mkdir emptydir/x", os.mkdir, o.p("emptydir/x"))
    o.do("rmdir emptydir/x", os.rmdir, o.p("emptydir/x"))
    o.do("mkdir dir/sub/y", os.mkdir, o.p("dir/sub/y"))
    o.do("create+unlink dir/sub/y/t", lambda: (write_file(o.p("dir/sub/y/t"), b""), os.unlink(o.p("dir/sub/y/t"))))
    o.do("rmdir dir/sub/y", os.rmdir, o.p("dir/sub/y"))
    o.ls("ls emptydir", "emptydir")


@case("creating over a whiteout: file, symlink, fifo, hard link, dir", known=rootless_links(),
      upper=upper_is(file="f", sym="l", fifo="p", ro="f", dir__a="d opaque"))
def c_create_over_whiteout(m, o):
    for n in ("file", "sym", "fifo", "ro", "dir/a"):
        o.do(f"unlink {n}", os.unlink, o.p(n))
    o.do("create file", write_file, o.p("file"), b"new file", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    o.do("symlink sym", os.symlink, "elsewhere", o.p("sym"))
    o.do("mkfifo fifo", os.mkfifo, o.p("fifo"), 0o600)
    o.do("link exec ro", os.link, o.p("exec"), o.p("ro"))
    o.do("mkdir dir/a", os.mkdir, o.p("dir/a"))
    for n in ("file", "sym", "fifo", "ro", "exec", "dir/a"):
        o.stat(f"stat {n}", n)
    o.read("read file", "file")
    o.do("readlink sym", os.readlink, o.p("sym"))


# ---- containers/storage's form: `.wh.NAME` whiteouts, `.wh..wh..opq` opaque markers ---------------
# Each case runs twice: against kernel overlayfs over the same layers rewritten in its own form (what
# the markers mean), and against fuse-overlayfs over them as they are (how a mount program reads them).

WH_FORMAT_NAMES = (".wh.ro", "dir/.wh.a", "dir/.wh.both", "other/.wh..wh..opq", "dir/.wh.", "dir/.wh..",
                   "dir/.wh...", ".wh..wh.plnk", ".wh..wh.plnk/123.456", ".wh..wh.aufs", "dir/.wh.gone-below",
                   ".wh.nothing")

FUSE_OVERLAYFS_XATTRS = ("fuse-overlayfs keeps metadata of its own in user.fuseoverlayfs.* xattrs (a copied-up "
                         "file's origin; rootless, opaque beside its .wh..wh..opq file) and hides them; isofs-overlay "
                         "shows them as any user.* xattr, as kernel overlayfs does, when it mounts an upper "
                         "fuse-overlayfs wrote")


def fuse_overlayfs_xattrs():
    return [Known(c, ("root", "rootless"), FUSE_OVERLAYFS_XATTRS, ["user.fuseoverlayfs."])
            for c in ("cross (fuse-overlayfs's upper mounted by isofs)", "restack*")]


@case("containers/storage's form in lower layers (.wh.NAME, .wh..wh..opq, AUFS names): honoured, never shown",
      stack="wh", ref="fuse-overlayfs", known=fuse_overlayfs_xattrs())
@case("containers/storage's form in lower layers (.wh.NAME, .wh..wh..opq, AUFS names): honoured, never shown",
      stack="wh")
def c_wh_lower(m, o):
    for n in ("file", "ro", "symdir", "rodir", "rodir/f", "dir/a", "dir/b", "dir/both", "dir/l1only", "dir/sub/c",
              "dir/gone-below", "other/o", "other/mine", "xdir/inner", "xdir/top", "emptydir", "l1dir/x"):
        o.stat(f"stat {n}", n)
    for n in WH_FORMAT_NAMES:
        o.stat(f"stat {n} (a name of the format)", n)
    o.read("read file", "file")
    for d in ("", "dir", "dir/sub", "other", "xdir"):
        o.ls(f"ls {d or '.'}", d)


@case("creating, removing, renaming over containers/storage's markers in lower layers", stack="wh",
      ref="fuse-overlayfs", known=fuse_overlayfs_xattrs(), upper=upper_is(ro="f", symdir="l", dir="whiteout", other="d opaque", xdir="whiteout"))
@case("creating, removing, renaming over containers/storage's markers in lower layers", stack="wh",
      upper=upper_is(ro="f", symdir="l", dir="whiteout", other="d opaque", xdir="whiteout"))
def c_wh_lower_changes(m, o):
    o.do("create ro (over its marker)", write_file, o.p("ro"), b"new ro", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    o.do("mkdir rodir (over its marker)", os.mkdir, o.p("rodir"), 0o755)
    o.ls("ls rodir (nothing of the layer below)", "rodir")
    o.do("symlink symdir", os.symlink, "file", o.p("symdir"))
    o.do("mkfifo dir/a", os.mkfifo, o.p("dir/a"), 0o644)
    o.do("rename file -> dir/both (hidden beside its marker)", os.rename, o.p("file"), o.p("dir/both"))
    o.read("read dir/both", "dir/both")
    o.ls("ls dir", "dir")
    o.do("unlink dir/l1only", os.unlink, o.p("dir/l1only"))
    o.do("rm -r other (opaque by its marker)", rm_r, o.p("other"))
    o.stat("stat other", "other")
    o.do("mkdir other", os.mkdir, o.p("other"))
    o.ls("ls other", "other")
    o.do("rm -r xdir", rm_r, o.p("xdir"))
    o.do("rename l1dir/x -> dir/gone-below (its marker below)", os.rename, o.p("l1dir/x"), o.p("dir/gone-below"))
    o.do("rm -r dir", rm_r, o.p("dir"))
    o.ls("ls .", "")
    o.stat("stat ro", "ro")


_WH_UPPER_AFTER = upper_is(file="f", dir="d opaque", sym="l", ro="f", emptydir="d opaque", other="whiteout",
                           xdir__inner="f", **{".wh.file": None, ".wh.dir": None, ".wh.sym": None, ".wh.ro": None,
                                               ".wh.emptydir": None, "xdir/.wh.inner": None})


@case("an upper in containers/storage's form: read, names made again (their markers go), rmdir",
      upper_init=lambda upper, mode: H.make_upper_wh(upper, mode, junk=False), ref="fuse-overlayfs",
      upper=_WH_UPPER_AFTER,
      known=fuse_overlayfs_xattrs())
@case("an upper in containers/storage's form: read, names made again (their markers go), rmdir",
      upper_init=H.make_upper_wh, upper=_WH_UPPER_AFTER)
def c_wh_upper(m, o):
    for n in ("file", "dir", "dir/a", "sym", "other", "other/o", "other/n", "xdir/inner", "xdir", "ro", "emptydir",
              ".wh.file", ".wh..wh.plnk", "other/.wh..wh..opq"):
        o.stat(f"stat {n}", n)
    for d in ("", "other", "xdir"):
        o.ls(f"ls {d or '.'}", d)
    o.do("create file", write_file, o.p("file"), b"again", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    o.do("mkdir dir", os.mkdir, o.p("dir"))
    o.ls("ls dir (nothing of the lower dir)", "dir")
    o.do("symlink sym", os.symlink, "file", o.p("sym"))
    o.do("rename exec -> ro (over the hidden one)", os.rename, o.p("exec"), o.p("ro"))
    o.read("read ro", "ro")
    o.do("mkdir emptydir (both forms)", os.mkdir, o.p("emptydir"))
    o.do("create xdir/inner", write_file, o.p("xdir/inner"), b"inner again")
    o.do("unlink other/n", os.unlink, o.p("other/n"))
    o.do("rmdir other (its opaque marker left)", os.rmdir, o.p("other"))
    o.stat("stat other", "other")
    o.ls("ls .", "")
    o.ls("ls xdir", "xdir")


@case("names of the format through the view: never found, removed or opened; create is EINVAL", stack="wh",
      ref="fuse-overlayfs", known=fuse_overlayfs_xattrs())
def c_wh_names(m, o):
    for n in (".wh.ro", "other/.wh..wh..opq", "dir/.wh.", ".wh..wh.plnk", ".wh..wh.plnk/123.456"):
        o.stat(f"stat {n}", n)
        o.do(f"open {n}", read_file, o.p(n))
        o.do(f"unlink {n}", os.unlink, o.p(n))
    o.do("rmdir .wh..wh.plnk", os.rmdir, o.p(".wh..wh.plnk"))
    for n in (".wh.new", "dir/.wh.a", "dir/.wh..wh..opq", "dir/.wh.", ".wh..wh.plnk"):
        o.do(f"create {n}", write_file, o.p(n), b"x", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    o.ls("ls .", "")
    o.ls("ls dir", "dir")


WH_CREATE = ("fuse-overlayfs refuses a name of the `.wh.` form only on create (EINVAL); mkdir, symlink, mknod, "
             "link and rename onto one succeed there, storing a name that reads as a whiteout (the object is gone "
             "after the next mount, and hides a lower name): isofs-overlay refuses them all with EINVAL")


@case("other ways to make a name of the format (mkdir, symlink, mknod, link, rename onto): EINVAL", stack="wh",
      ref="fuse-overlayfs",
      known=[Known(c, ("root", "rootless"), WH_CREATE, [".wh.", "exec:", "file:", "user.fuseoverlayfs."])
             for c in ("tree", "remount", "cross*", "restack*")] +
      [Known("result", ("root", "rootless"), WH_CREATE, ["make .wh.", "ls ."])])
def c_wh_names_made(m, o):
    o.do("make .wh.d (mkdir)", os.mkdir, o.p(".wh.d"))
    o.do("make .wh.s (symlink)", os.symlink, "file", o.p(".wh.s"))
    o.do("make .wh.p (mkfifo)", os.mkfifo, o.p(".wh.p"), 0o644)
    o.do("make .wh.l (link)", os.link, o.p("exec"), o.p(".wh.l"))
    o.do("make .wh.r (rename)", os.rename, o.p("file"), o.p(".wh.r"))
    o.ls("ls .", "")


# ---- copy-up ------------------------------------------------------------------------

@case("copy-up keeps data, mode, owner, times, xattrs (and holes)",
      known=[Known("result", ("root", "rootless", "userns"), "kernel overlayfs copies the holes of a sparse file "
                   "up as data (isofs keeps them: SEEK_DATA/SEEK_HOLE)", ["sparse still sparse"])])
def c_copyup_meta(m, o):
    names = ["xfile", "sparse", "big", "exec", "suid", "sgid", "empty"] + (["owned"] if MODE == "root" else [])
    for n in names:
        st0 = os.lstat(o.p(n))
        o.do(f"setxattr {n} (copy-up)", os.setxattr, o.p(n), "user.new", b"v")
        st1 = os.lstat(o.p(n))
        o.note(f"{n}: stat after", stat_fields(st1))
        o.note(f"{n}: mtime kept", st1.st_mtime_ns == st0.st_mtime_ns)
        o.note(f"{n}: xattrs", sorted(os.listxattr(o.p(n))))
    o.read("read sparse", "sparse")
    o.note("sparse still sparse", os.lstat(o.p("sparse")).st_blocks * 512 < 64 * 1024)
    # (isofs keeps holes on copy-up; the kernel may fill them: documented below)
    o.do("chmod -> copy-up of owneddir/f", os.chmod, o.p("owneddir/f" if MODE == "root" else "dir/b"), 0o600)
    o.stat("owneddir (parent copied up)", "owneddir" if MODE == "root" else "dir")


@case("writes to lower files: append, pwrite, O_TRUNC, truncate")
def c_write_lower(m, o):
    o.do("append file", write_file, o.p("file"), b"appended\n", os.O_WRONLY | os.O_APPEND)
    o.read("read file", "file")

    def pw():
        fd = os.open(o.p("big"), os.O_RDWR)
        try:
            os.pwrite(fd, b"Z" * 5000, 123_456)
            os.pwrite(fd, b"END", 400_000)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)
    o.do("pwrite big", pw)
    o.read("read big", "big")
    o.do("O_TRUNC dir/a", write_file, o.p("dir/a"), b"t", os.O_WRONLY | os.O_TRUNC)
    o.read("read dir/a", "dir/a")
    o.do("truncate link1 3", os.truncate, o.p("link1"), 3)
    o.read("read link2 (other name of the lower inode)", "link2")
    o.do("truncate sparse 100", os.truncate, o.p("sparse"), 100)
    o.do("truncate empty 70000", os.truncate, o.p("empty"), 70000)
    o.stat("stat empty", "empty")

    def ftr():
        fd = os.open(o.p("exec"), os.O_RDWR)
        try:
            os.ftruncate(fd, 2)
            return os.pread(fd, 10, 0)
        finally:
            os.close(fd)
    o.do("ftruncate exec", ftr)


@case("chmod, chown, utimes, truncate of read-only lower files (no write permission needed)")
def c_readonly_lower(m, o):
    uid, gid = os.getuid(), os.getgid()
    o.do("chmod ro 0640", os.chmod, o.p("ro"), 0o640)
    o.do("chmod none 0400", os.chmod, o.p("none"), 0o400)
    o.do("utime rodir/f", os.utime, o.p("rodir/f"), (5, 6))
    o.note("rodir/f mtime", os.lstat(o.p("rodir/f")).st_mtime)
    o.do("chown rodir/f", os.chown, o.p("rodir/f"), 1 if MODE == "root" else uid, 1 if MODE == "root" else gid)
    o.do("chown rodir/f to root", os.chown, o.p("rodir/f"), 0, 0)
    o.do("truncate rodir/f", os.truncate, o.p("rodir/f"), 2)
    o.do("open none O_WRONLY", write_file, o.p("none"), b"x", os.O_WRONLY)
    o.do("chmod rodir 0755", os.chmod, o.p("rodir"), 0o755)
    for n in ("ro", "none", "rodir", "rodir/f"):
        o.stat(f"stat {n}", n)


@case("sed -i on a 0444 file, and inside a 0555 directory")
def c_sed_i(m, o):
    def sed(rel):
        r = subprocess.run(["sed", "-i", "s/read/READ/", o.p(rel)], capture_output=True, text=True, timeout=60)
        return r.returncode
    o.note("sed -i ro", sed("ro"))
    o.read("read ro", "ro")
    o.stat("stat ro", "ro")
    o.note("sed -i rodir/f", sed("rodir/f"))
    o.read("read rodir/f", "rodir/f")
    o.ls("ls rodir", "rodir")


@case("mkdir -m 0555 d, then creating in it (and in a 0555 lower dir)")
def c_mkdir_0555(m, o):
    o.do("mkdir -m 0555 d", os.mkdir, o.p("d"), 0o555)
    o.do("chmod d 0555", os.chmod, o.p("d"), 0o555)
    o.do("create d/f", write_file, o.p("d/f"), b"f")
    o.do("mkdir d/s", os.mkdir, o.p("d/s"))
    o.do("create rodir/new", write_file, o.p("rodir/new"), b"n")
    o.do("unlink rodir/f", os.unlink, o.p("rodir/f"))
    o.ls("ls d", "d")
    o.ls("ls rodir", "rodir")


@case("chown, utimes, chmod of lower dirs and special files; setuid/setgid rules")
def c_chown_misc(m, o):
    root = MODE == "root"
    o.do("chown dir", os.chown, o.p("dir"), 4321 if root else os.getuid(), 4321 if root else os.getgid())
    o.do("utime dir", os.utime, o.p("dir"), (7, 8))
    o.do("chmod fifo", os.chmod, o.p("fifo"), 0o600)
    o.do("chmod null", os.chmod, o.p("null"), 0o600)
    o.do("write suid", write_file, o.p("suid"), b"w", os.O_WRONLY | os.O_APPEND)
    o.stat("suid after write", "suid")
    o.do("chown suid", os.chown, o.p("suid"), os.getuid(), os.getgid())
    o.stat("suid after chown", "suid")
    o.do("chmod g+s xdir", os.chmod, o.p("xdir"), 0o2775)
    if root:
        o.do("chgrp xdir", os.chown, o.p("xdir"), -1, 2345)
    o.do("create xdir/new", write_file, o.p("xdir/new"), b"")
    o.do("mkdir xdir/sd", os.mkdir, o.p("xdir/sd"))
    for n in ("dir", "fifo", "xdir", "xdir/new", "xdir/sd"):
        o.stat(f"stat {n}", n)
    o.note("dir mtime", os.lstat(o.p("dir")).st_mtime)
    if root:
        o.do("mknod chr", os.mknod, o.p("chr"), stat.S_IFCHR | 0o600, os.makedev(1, 5))
        o.stat("stat chr", "chr")


# ---- links -------------------------------------------------------------------------

@case("hard links: link counts, copy-up of linked files, fstat of an open unlinked file", known=rootless_links())
def c_hardlinks(m, o):
    o.do("link file hl", os.link, o.p("file"), o.p("hl"))
    o.stat("stat file", "file")
    o.stat("stat hl", "hl")
    o.note("file ino == hl ino", os.lstat(o.p("file")).st_ino == os.lstat(o.p("hl")).st_ino)
    o.do("link link1 link3", os.link, o.p("link1"), o.p("link3"))
    for n in ("link1", "link2", "link3"):
        o.stat(f"stat {n}", n)
    o.do("unlink link2", os.unlink, o.p("link2"))
    o.stat("stat link1 after unlink link2", "link1")
    o.do("link dir (EPERM)", os.link, o.p("dir"), o.p("dirlink"))
    o.do("link onto existing", os.link, o.p("file"), o.p("exec"))
    # an upper file: link, unlink, open-unlink-fstat
    write_file(o.p("new"), b"new")
    o.do("link new new2", os.link, o.p("new"), o.p("new2"))
    o.do("unlink new", os.unlink, o.p("new"))
    o.stat("stat new2", "new2")
    fd = os.open(o.p("tmpf"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"still here")
    os.unlink(o.p("tmpf"))
    st = os.fstat(fd)
    o.note("fstat open unlinked: nlink, size", (st.st_nlink, st.st_size))
    o.note("read open unlinked", os.pread(fd, 100, 0))
    os.close(fd)
    fd = os.open(o.p("new2"), os.O_RDONLY)
    os.unlink(o.p("new2"))
    o.note("fstat open unlinked (linked before): nlink", os.fstat(fd).st_nlink)
    os.close(fd)


@case("fstat of an open, unlinked lower file",
      known=[Known("result", ("root", "rootless", "userns"),
                   "kernel overlayfs reports the lower inode's attributes for a file open on a lower layer, "
                   "nlink 1 after unlink", ["nlink"])])
def c_unlinked_lower_open(m, o):
    fd = os.open(o.p("dir/a"), os.O_RDONLY)
    os.unlink(o.p("dir/a"))
    o.note("fstat nlink", os.fstat(fd).st_nlink)
    o.note("read", os.pread(fd, 100, 0))
    o.do("close", os.close, fd)
    fd = os.open(o.p("exec"), os.O_RDONLY)
    os.rename(o.p("file"), o.p("exec"))
    o.note("replaced by rename: fstat nlink", os.fstat(fd).st_nlink)
    o.note("replaced by rename: read", os.pread(fd, 100, 0))
    o.do("close", os.close, fd)


@case("open files that lose their name: fstat, fchmod, ftruncate, futimens, write, close")
def c_orphans(m, o):
    fd = os.open(o.p("u1"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"hello world")
    o.do("unlink u1", os.unlink, o.p("u1"))
    o.do("fchmod", os.fchmod, fd, 0o600)
    o.do("ftruncate", os.ftruncate, fd, 5)
    o.do("futimens", os.utime, fd, (11, 12))
    o.note("mtime", os.fstat(fd).st_mtime)
    o.do("pwrite", os.pwrite, fd, b"!", 5)
    o.note("fstat", stat_fields(os.fstat(fd)))
    o.do("fchown", os.fchown, fd, os.getuid(), os.getgid())
    o.do("fsync", os.fsync, fd)
    o.do("close", os.close, fd)
    # replaced by a rename while open
    write_file(o.p("u2"), b"two")
    write_file(o.p("u3"), b"three")
    fd = os.open(o.p("u2"), os.O_RDWR)
    o.do("rename u3 over u2", os.rename, o.p("u3"), o.p("u2"))
    o.note("fstat old u2", stat_fields(os.fstat(fd)))
    o.do("write old u2", os.pwrite, fd, b"TWO", 0)
    o.do("fchmod old u2", os.fchmod, fd, 0o640)
    o.note("read old u2", os.pread(fd, 10, 0))
    o.do("close", os.close, fd)
    o.read("read u2", "u2")
    o.stat("stat u2", "u2")
    # a lower file written through an fd, then removed: the copy is the file
    fd = os.open(o.p("dir/b"), os.O_RDWR)
    os.pwrite(fd, b"X", 0)
    o.do("unlink dir/b", os.unlink, o.p("dir/b"))
    o.do("fchmod copied-up orphan", os.fchmod, fd, 0o644)
    o.note("fstat copied-up orphan", stat_fields(os.fstat(fd)))
    o.do("close", os.close, fd)


OPEN_FOR_WRITE = ("isofs copies a lower file up at its first change, not when it is opened for writing (the kernel "
                  "opens files without asking it): while open, a hard-linked lower file keeps its link count")


@case("open for writing copies up by the first change: link counts, then a write",
      known=[Known("result", ("root", "rootless"), OPEN_FOR_WRITE, ["nlink while open"])])
def c_open_for_write(m, o):
    fd = os.open(o.p("link1"), os.O_RDWR)
    try:
        o.note("nlink while open, before the first write", os.fstat(fd).st_nlink)
        o.do("pwrite", os.pwrite, fd, b"L", 0)
        o.note("nlink while open, after a write", os.fstat(fd).st_nlink)
    finally:
        os.close(fd)
    o.read("read link1", "link1")
    o.read("read link2 (the other name keeps the lower data)", "link2")
    o.stat("stat link2", "link2")


@case("a lower file opened for writing, removed, then written: the copy lives on nameless")
def c_orphan_lower_write(m, o):
    fd = os.open(o.p("dir/a"), os.O_RDWR)
    try:
        o.do("unlink dir/a", os.unlink, o.p("dir/a"))
        o.do("pwrite after unlink", os.pwrite, fd, b"written", 2)
        o.do("fsync", os.fsync, fd)
        o.note("pread", os.pread(fd, 100, 0))
        o.do("ftruncate 4", os.ftruncate, fd, 4)
        o.note("fstat", {k: v for k, v in stat_fields(os.fstat(fd)).items() if k != "nlink"})
        o.note("pread after ftruncate", os.pread(fd, 100, 0))
    finally:
        os.close(fd)
    o.ls("ls dir", "dir")


@case("symlinks: create, readlink, follow, copy-up of a symlink, over existing")
def c_symlinks(m, o):
    o.do("symlink s1", os.symlink, "dir/sub", o.p("s1"))
    o.do("readlink s1", os.readlink, o.p("s1"))
    o.do("listdir via s1", lambda: sorted(os.listdir(o.p("s1"))))
    o.do("symlink onto existing", os.symlink, "x", o.p("sym"))
    o.do("symlink long target", os.symlink, "t" * 4000, o.p("s2"))
    o.stat("stat s2", "s2")
    o.do("lchown sym", os.lchown, o.p("sym"), os.getuid(), os.getgid())
    o.do("lutime sym", os.utime, o.p("sym"), (3, 4), follow_symlinks=False)
    o.stat("stat sym", "sym")
    o.note("sym mtime", os.lstat(o.p("sym")).st_mtime)
    o.do("write through sym", write_file, o.p("sym"), b"via sym", os.O_WRONLY | os.O_APPEND)
    o.read("read file", "file")
    o.stat("stat sym after write through", "sym")
    o.do("rename symdir", os.rename, o.p("symdir"), o.p("symdir2"))
    o.do("readlink symdir2", os.readlink, o.p("symdir2"))
    o.do("open symdir2/a", read_file, o.p("symdir2/a"))
    o.do("chmod through dangling", os.chmod, o.p("dangling"), 0o600)


# ---- xattrs ------------------------------------------------------------------------

@case("xattrs: set, get, list, remove on lower and upper objects; overlay xattrs private")
def c_xattrs(m, o):
    px = H.xprefix(MODE)
    o.do("list xfile", lambda: sorted(os.listxattr(o.p("xfile"))))
    o.do("get xfile user.bin", os.getxattr, o.p("xfile"), "user.bin")
    o.do("set file user.n", os.setxattr, o.p("file"), "user.n", b"1")
    o.do("set file user.n CREATE (EEXIST)", os.setxattr, o.p("file"), "user.n", b"2", os.XATTR_CREATE)
    o.do("set file user.m REPLACE (ENODATA)", os.setxattr, o.p("file"), "user.m", b"2", os.XATTR_REPLACE)
    o.do("remove xfile user.a", os.removexattr, o.p("xfile"), "user.a")
    o.do("remove xfile user.a again", os.removexattr, o.p("xfile"), "user.a")
    o.do("list xfile after", lambda: sorted(os.listxattr(o.p("xfile"))))
    o.do("set xdir user.e", os.setxattr, o.p("xdir"), "user.e", b"E")
    o.do("remove xdir user.d", os.removexattr, o.p("xdir"), "user.d")
    o.do("list xdir", lambda: sorted(os.listxattr(o.p("xdir"))))
    o.do("big value", os.setxattr, o.p("dir/a"), "user.big", b"v" * 3000)
    o.do("get big", lambda: len(os.getxattr(o.p("dir/a"), "user.big")))
    o.do("set user.* on a symlink", os.setxattr, o.p("sym"), "user.s", b"1", follow_symlinks=False)
    o.do("set user.* on a fifo", os.setxattr, o.p("fifo"), "user.s", b"1", follow_symlinks=False)
    # the overlay's own xattrs: never shown, never settable through the view
    os.rmdir(o.p("emptydir"))
    os.mkdir(o.p("emptydir"))  # opaque on disk
    o.do("list emptydir (opaque)", lambda: sorted(os.listxattr(o.p("emptydir"))))
    o.do(f"get {px}opaque", os.getxattr, o.p("emptydir"), px + "opaque")
    o.do(f"set {px}foo", os.setxattr, o.p("file"), px + "foo", b"1")
    o.do("list file", lambda: sorted(os.listxattr(o.p("file"))))
    if MODE == "root":
        o.do("trusted.t", os.getxattr, o.p("xfile"), "trusted.t")
        o.do("set trusted.u", os.setxattr, o.p("file"), "trusted.u", b"u")


# ---- rename ------------------------------------------------------------------------

@case("rename of files: lower and upper, across dirs, over existing, errors", known=rootless_links())
def c_rename_files(m, o):
    o.do("file -> f2", os.rename, o.p("file"), o.p("f2"))
    o.do("f2 -> dir/f3", os.rename, o.p("f2"), o.p("dir/f3"))
    o.do("ro over exec", os.rename, o.p("ro"), o.p("exec"))
    o.do("dir/a -> other/a", os.rename, o.p("dir/a"), o.p("other/a"))
    o.do("link1 -> l1", os.rename, o.p("link1"), o.p("l1"))
    o.do("new file over link2", lambda: (write_file(o.p("nf"), b"nf"), os.rename(o.p("nf"), o.p("link2"))))
    o.do("rename to itself", os.rename, o.p("sym"), o.p("sym"))
    o.do("hard links to each other", lambda: (os.link(o.p("empty"), o.p("e2")), os.rename(o.p("empty"), o.p("e2"))))
    o.do("file over dir (EISDIR)", os.rename, o.p("xfile"), o.p("dir"))
    o.do("dir over file (ENOTDIR)", os.rename, o.p("emptydir"), o.p("xfile"))
    o.do("missing (ENOENT)", os.rename, o.p("missing"), o.p("m2"))
    o.do("into missing dir (ENOENT)", os.rename, o.p("xfile"), o.p("nodir/x"))
    o.do("back onto a whiteout", os.rename, o.p("dir/f3"), o.p("file"))
    for d in ("", "dir", "other"):
        o.ls(f"ls {d or '.'}", d)
    for n in ("file", "exec", "l1", "link2", "e2", "empty"):
        o.stat(f"stat {n}", n)


@case("RENAME_NOREPLACE", upper=upper_is(sym="whiteout"), known=rootless_nofollow())
def c_rename_noreplace(m, o):
    r2 = H.renameat2
    o.do("onto existing lower", r2, o.p("file"), o.p("exec"), H.RENAME_NOREPLACE)
    o.do("onto existing upper", lambda: (write_file(o.p("u"), b"u"), r2(o.p("u"), o.p("exec"), H.RENAME_NOREPLACE)))
    o.do("onto new name", r2, o.p("file"), o.p("f2"), H.RENAME_NOREPLACE)
    os.unlink(o.p("ro"))
    o.do("onto a whited-out name", r2, o.p("f2"), o.p("ro"), H.RENAME_NOREPLACE)
    o.do("lower dir onto new name", r2, o.p("emptydir"), o.p("ed2"), H.RENAME_NOREPLACE)
    o.do("symlink away", r2, o.p("sym"), o.p("sym2"), H.RENAME_NOREPLACE)
    o.do("bad flags", r2, o.p("exec"), o.p("x2"), 0x80)
    o.ls("ls .", "")
    o.read("read ro", "ro")


@case("RENAME_EXCHANGE: lower/lower, lower/upper, file/dir, dir/dir",
      known=rootless_nofollow())
def c_rename_exchange(m, o):
    r2 = H.renameat2
    o.do("file <-> exec", r2, o.p("file"), o.p("exec"), H.RENAME_EXCHANGE)
    o.do("ro <-> new upper", lambda: (write_file(o.p("u"), b"u"), r2(o.p("ro"), o.p("u"), H.RENAME_EXCHANGE)))
    o.do("file <-> missing (ENOENT)", r2, o.p("file"), o.p("missing"), H.RENAME_EXCHANGE)
    o.do("xfile <-> emptydir (file/dir)", r2, o.p("xfile"), o.p("emptydir"), H.RENAME_EXCHANGE)
    o.do("dir <-> other (dir/dir)", r2, o.p("dir"), o.p("other"), H.RENAME_EXCHANGE)
    o.do("dir/sub <-> xdir (across dirs)", r2, o.p("dir/sub"), o.p("xdir"), H.RENAME_EXCHANGE)
    o.do("EXCHANGE|NOREPLACE (EINVAL)", r2, o.p("file"), o.p("exec"), H.RENAME_EXCHANGE | H.RENAME_NOREPLACE)
    for d in ("", "dir", "other", "xdir", "emptydir"):
        o.ls(f"ls {d or '.'}", d)
    for n in ("file", "exec", "u", "ro", "xfile"):
        o.read(f"read {n}", n)


def _redirect_upper(upper, mode):
    lst = H.upper_listing(upper, mode)
    bad = []
    if "redirect=" not in lst.get("dir2", ""):
        bad.append(f"dir2: no redirect xattr ({lst.get('dir2')})")
    if lst.get("dir") != "d opaque":
        bad.append(f"dir: expected an opaque dir (mkdir over the whiteout), found {lst.get('dir')}")
    return bad


@case("rename of a directory that exists in a lower layer (redirect, never EXDEV)", upper=_redirect_upper,
      known=rootless_nofollow(),
      after_remount=lambda m, o: (o.ls("ls dir2 after remount", "dir2"), o.ls("ls other/sub2", "other/sub2"),
                                  o.read("read dir2/new", "dir2/new")))
def c_rename_lower_dir(m, o):
    o.do("dir -> dir2", os.rename, o.p("dir"), o.p("dir2"))
    o.ls("ls dir2", "dir2")
    o.stat("stat dir", "dir")
    o.do("create dir2/new", write_file, o.p("dir2/new"), b"new")
    o.do("dir2/sub -> other/sub2", os.rename, o.p("dir2/sub"), o.p("other/sub2"))
    o.ls("ls other/sub2", "other/sub2")
    o.read("read other/sub2/deeper/d", "other/sub2/deeper/d")
    o.do("mkdir dir", os.mkdir, o.p("dir"))
    o.ls("ls dir (new, opaque)", "dir")
    o.do("xdir -> dir2/xdir (into a renamed dir)", os.rename, o.p("xdir"), o.p("dir2/xdir"))
    o.ls("ls dir2/xdir", "dir2/xdir")
    o.do("other -> o2 (holds a redirected child)", os.rename, o.p("other"), o.p("o2"))
    o.ls("ls o2/sub2", "o2/sub2")
    o.do("o2 -> other (back)", os.rename, o.p("o2"), o.p("other"))
    o.ls("ls other/sub2 again", "other/sub2")


@case("rename of directories over directories; into itself", known=rootless_nofollow())
def c_rename_dirs(m, o):
    o.do("xdir over emptydir (lower over lower, empty)", os.rename, o.p("xdir"), o.p("emptydir"))
    o.ls("ls emptydir", "emptydir")
    o.do("new over other (ENOTEMPTY)", lambda: (os.mkdir(o.p("nd")), os.rename(o.p("nd"), o.p("other"))))
    o.do("nd over rodir/.. (ENOTEMPTY)", os.rename, o.p("nd"), o.p("dir"))
    o.do("emptied other", lambda: (os.unlink(o.p("other/o")), os.rename(o.p("nd"), o.p("other"))))
    o.ls("ls other", "other")
    o.do("dir into its own subdir (EINVAL)", os.rename, o.p("dir"), o.p("dir/sub/x"))
    o.do("upper dir over upper dir", lambda: (os.makedirs(o.p("u1/a")), os.mkdir(o.p("u2")),
                                              os.rename(o.p("u1"), o.p("u2"))))
    o.ls("ls u2", "u2")
    o.do("dir/sub/deeper -> deeper (up)", os.rename, o.p("dir/sub/deeper"), o.p("deeper"))
    o.ls("ls deeper", "deeper")
    o.do("rmdir deeper (not empty)", os.rmdir, o.p("deeper"))
    o.do("rm -r deeper", rm_r, o.p("deeper"))
    o.ls("ls dir/sub", "dir/sub")


# ---- names and paths -----------------------------------------------------------------

@case("names over NAME_MAX: ENAMETOOLONG in every operation, lookup included")
def c_name_max(m, o):
    for ln in (256, 1100):
        long = "L" * ln
        p = o.p(long)
        pd = o.p("dir/" + long)
        ops = [
            ("stat", os.stat, p), ("lstat", os.lstat, pd), ("open", read_file, p),
            ("creat", write_file, p, b""), ("mkdir", os.mkdir, pd), ("mkfifo", os.mkfifo, p),
            ("symlink", os.symlink, "x", p), ("link", os.link, o.p("file"), p),
            ("rename from", os.rename, p, o.p("x")), ("rename to", os.rename, o.p("file"), pd),
            ("rename lower dir to", os.rename, o.p("dir"), p),
            ("unlink", os.unlink, p), ("rmdir", os.rmdir, pd), ("chmod", os.chmod, p, 0o600),
            ("utime", os.utime, p, None), ("access", os.access, p, os.F_OK),
            ("readlink", os.readlink, p), ("setxattr", os.setxattr, p, "user.x", b"1"),
            ("listdir", os.listdir, p), ("truncate", os.truncate, p, 0),
            ("renameat2 exchange", H.renameat2, o.p("file"), p, H.RENAME_EXCHANGE),
        ]
        for label, fn, *args in ops:
            o.do(f"{ln}: {label}", fn, *args)
    o.do("255 is fine", write_file, o.p("M" * 255), b"ok")
    o.do("255 lookup", lambda: os.stat(o.p("M" * 255)).st_size)


DEEP_NAME = "D" * 200
DEEP_N = 24  # 24 * 201 > PATH_MAX


def deep_fixture(d, mode):
    H.make_fixture(d, mode)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(DEEP_N):
        os.mkdir(DEEP_NAME, dir_fd=fd)
        nfd = os.open(DEEP_NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    nfd = os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(nfd, b"at the bottom\n")
    os.close(nfd)
    os.mkdir("lowerdir", dir_fd=fd)
    os.close(fd)
    H.fix_times(d)


def _walk_down(root, n, create=False):
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(n):
        if create:
            try:
                os.mkdir(DEEP_NAME, dir_fd=fd)
            except FileExistsError:
                pass
        nfd = os.open(DEEP_NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    return fd


@case("paths deeper than PATH_MAX: lookup, copy-up of every parent, create, rename",
      fixture=deep_fixture,
      known=[Known("result", ("root",), "kernel overlayfs creates absolute redirects of at most redirect_max "
                   "(256) bytes and gives EXDEV beyond: isofs moves such a directory", ["EXDEV", "ls moved"]),
             Known("tree", ("root",), "as above: the moved directory exists on isofs only", ["moved"])]
      + rootless_nofollow())
def c_deep_paths(m, o):
    o.do("full path stat (ENAMETOOLONG)", os.stat, o.p("/".join([DEEP_NAME] * DEEP_N) + "/bottom"))
    fd = _walk_down(o.p(""), DEEP_N)
    try:
        o.do("read bottom", lambda: read_file(f"/proc/self/fd/{fd}/bottom"))
        o.do("append bottom (copy-up of 24 parents)",
             lambda: write_file(f"/proc/self/fd/{fd}/bottom", b"more\n", os.O_WRONLY | os.O_APPEND))
        o.do("read bottom again", lambda: read_file(f"/proc/self/fd/{fd}/bottom"))
        o.do("create new", lambda: write_file(f"/proc/self/fd/{fd}/new", b"new"))
        o.do("rename bottom", os.rename, "bottom", "bottom2", src_dir_fd=fd, dst_dir_fd=fd)
        o.do("rename lowerdir (same parent: relative redirect)", os.rename, "lowerdir", "lowerdir2",
             src_dir_fd=fd, dst_dir_fd=fd)
        o.do("ls", lambda: sorted(os.listdir(fd)))
    finally:
        os.close(fd)
    fd = _walk_down(o.p(""), DEEP_N + 10, create=True)
    try:
        o.do("create at depth 34", lambda: write_file(f"/proc/self/fd/{fd}/leaf", b"leaf"))
    finally:
        os.close(fd)
    # a lower dir moved from depth 24 to the top: its old path is longer than 256
    fd = _walk_down(o.p(""), DEEP_N)
    top = os.open(o.p(""), os.O_RDONLY | os.O_DIRECTORY)
    try:
        o.do("move lowerdir2 to the top", os.rename, "lowerdir2", "moved", src_dir_fd=fd, dst_dir_fd=top)
        o.do("ls moved", lambda: sorted(os.listdir(o.p("moved"))))
    finally:
        os.close(fd)
        os.close(top)


# ---- file operations -----------------------------------------------------------------

@case("fallocate, punch hole, copy_file_range on copied-up and new files")
def c_fallocate_cfr(m, o):
    def falloc():
        fd = os.open(o.p("file"), os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, 100_000)
            H.fallocate(fd, H.FALLOC_FL_KEEP_SIZE, 100_000, 50_000)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)
    o.do("posix_fallocate lower file", falloc)

    def punch():
        fd = os.open(o.p("big"), os.O_RDWR)
        try:
            H.fallocate(fd, H.FALLOC_FL_PUNCH_HOLE | H.FALLOC_FL_KEEP_SIZE, 8192, 65536)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)
    o.do("punch hole in big", punch)
    o.read("read big", "big")

    def cfr():
        src = os.open(o.p("sparse"), os.O_RDONLY)
        dst = os.open(o.p("copy"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            n = 0
            while True:
                k = os.copy_file_range(src, dst, 1 << 22)
                if k == 0:
                    break
                n += k
            return n
        finally:
            os.close(src)
            os.close(dst)
    o.do("copy_file_range lower -> new", cfr)
    o.read("read copy", "copy")

    def cfr_into_lower():
        src = os.open(o.p("exec"), os.O_RDONLY)
        dst = os.open(o.p("dir/a"), os.O_WRONLY)
        try:
            return os.copy_file_range(src, dst, 100, 0, 3)
        finally:
            os.close(src)
            os.close(dst)
    o.do("copy_file_range into a lower file at offset 3", cfr_into_lower)
    o.read("read dir/a", "dir/a")


@case("mmap MAP_SHARED writes reach the file (and the upper layer)",
      known=[Known("result", ("root", "rootless", "userns"),
                   "kernel overlayfs: a read-only MAP_SHARED mapping made before a copy-up keeps showing the lower "
                   "file (overlayfs.rst, non-standard behaviour); isofs's mapping sees the write",
                   ["read-only map of a lower file"])])
def c_mmap(m, o):
    def mm(rel, data, off):
        fd = os.open(o.p(rel), os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            mp = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            mp[off:off + len(data)] = data
            mp.flush()
            mp.close()
        finally:
            os.close(fd)
    o.do("mmap write big", mm, "big", b"MMAP" * 1000, 10_000)
    o.do("mmap write file", mm, "file", b"HE", 0)
    o.read("read big", "big")
    o.read("read file", "file")

    def ro_map_then_write():
        fd = os.open(o.p("dir/b"), os.O_RDONLY)
        mp = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
        before = mp[:]
        write_file(o.p("dir/b"), b"DIR", os.O_WRONLY)
        after = mp[:]
        mp.close()
        os.close(fd)
        return before, after
    o.do("read-only map of a lower file, then a write to it elsewhere", ro_map_then_write)


@case("fsync / fdatasync reach the upper file while mounted")
def c_fsync(m, o):
    fd = os.open(o.p("file"), os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"synced\n")
    o.do("fdatasync", os.fdatasync, fd)
    o.do("fsync", os.fsync, fd)
    o.note("upper file on disk", read_file(os.path.join(m.layers.upper, "file")))
    os.close(fd)
    fd = os.open(o.p("dir"), os.O_RDONLY | os.O_DIRECTORY)
    o.do("fsync dir", os.fsync, fd)
    os.close(fd)
    fd = os.open(o.p("new"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"x" * 10000)
    o.do("fsync new", os.fsync, fd)
    o.note("new on disk", len(read_file(os.path.join(m.layers.upper, "new"))))
    os.close(fd)


@case("flock and fcntl (POSIX and OFD) locks")
def c_locks(m, o):
    fd1 = os.open(o.p("file"), os.O_RDWR)
    fd2 = os.open(o.p("file"), os.O_RDWR)
    try:
        o.do("flock EX fd1", fcntl.flock, fd1, fcntl.LOCK_EX)
        o.do("flock EX|NB fd2 (EWOULDBLOCK)", fcntl.flock, fd2, fcntl.LOCK_EX | fcntl.LOCK_NB)
        o.do("flock UN fd1", fcntl.flock, fd1, fcntl.LOCK_UN)
        o.do("flock SH|NB fd2", fcntl.flock, fd2, fcntl.LOCK_SH | fcntl.LOCK_NB)
        o.do("lockf EX fd1", fcntl.lockf, fd1, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
        pid = os.fork()
        if pid == 0:
            try:
                fcntl.lockf(fd1, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
                os._exit(0)
            except OSError as e:
                os._exit(e.errno)
        _, st = os.waitpid(pid, 0)
        o.note("lockf in another process", H.ename(os.waitstatus_to_exitcode(st)))
        pid = os.fork()
        if pid == 0:
            try:
                fcntl.lockf(fd1, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 20)
                os._exit(0)
            except OSError as e:
                os._exit(e.errno)
        _, st = os.waitpid(pid, 0)
        o.note("lockf of another range in another process", os.waitstatus_to_exitcode(st))
    finally:
        os.close(fd1)
        os.close(fd2)


def _make_every_type(o, d, perm_file, perm_dir):
    """One object of each type under d, created with the given permission bits."""
    o.do(f"mkdir {d}", os.mkdir, o.p(d), 0o777)
    for name, mode in (("file", perm_file), ("suid", 0o4000 | perm_file), ("sgid", 0o2000 | perm_file)):
        o.do(f"create {d}/{name} {mode:o}", lambda p, m: os.close(os.open(p, os.O_WRONLY | os.O_CREAT, m)),
             o.p(f"{d}/{name}"), mode)
    o.do(f"mknod {d}/made {perm_file:o}", os.mknod, o.p(f"{d}/made"), stat.S_IFREG | perm_file)
    o.do(f"mkdir {d}/dir", os.mkdir, o.p(f"{d}/dir"), perm_dir)
    o.do(f"mkdir {d}/sticky", os.mkdir, o.p(f"{d}/sticky"), 0o1000 | perm_dir)
    o.do(f"mkfifo {d}/fifo", os.mkfifo, o.p(f"{d}/fifo"), perm_file)
    o.do(f"mknod {d}/sock", os.mknod, o.p(f"{d}/sock"), stat.S_IFSOCK | perm_file)
    o.do(f"symlink {d}/sym", os.symlink, "file", o.p(f"{d}/sym"))
    for n in ("file", "suid", "sgid", "made", "dir", "sticky", "fifo", "sock", "sym"):
        o.stat(f"stat {d}/{n}", f"{d}/{n}")


@case("modes of new objects of every type under umask 0 and 022 (the server's umask is not applied again)")
def c_umask_modes(m, o):
    old = os.umask(0)
    try:
        _make_every_type(o, "u0", 0o777, 0o777)
        _make_every_type(o, "u0-666", 0o666, 0o755)
        os.umask(0o022)
        _make_every_type(o, "u22", 0o777, 0o777)
        os.umask(0o077)
        _make_every_type(o, "u77", 0o666, 0o777)
    finally:
        os.umask(old)


def _as_user(uid, fn):
    """fn() in a child with uid/gid `uid` and no groups; its errno (0: success) comes back."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.umask(0)
            fn()
            os._exit(0)
        except OSError as e:
            os._exit(e.errno or 255)
        except BaseException:
            os._exit(254)
    _, st = os.waitpid(pid, 0)
    return H.ename(os.waitstatus_to_exitcode(st)) if os.waitstatus_to_exitcode(st) else 0


@case("other users: a 04777 file they create stays 04777, a write by another clears setuid, rename into 0777",
      modes=("root",))
def c_other_users(m, o):
    os.mkdir(o.p("pub"), 0o777)
    os.chmod(o.p("pub"), 0o777)
    dfd = os.open(o.p("pub"), os.O_RDONLY | os.O_DIRECTORY)  # the children reach the kernel's view only by fd
    try:
        o.note("uid 1234 creates pub/s 04777",
               _as_user(1234, lambda: os.close(os.open("s", os.O_WRONLY | os.O_CREAT, 0o4777, dir_fd=dfd))))
        o.note("uid 1234 creates pub/g 02777",
               _as_user(1234, lambda: os.close(os.open("g", os.O_WRONLY | os.O_CREAT, 0o2777, dir_fd=dfd))))
        o.note("uid 1234 mkdir pub/d 0777", _as_user(1234, lambda: os.mkdir("d", 0o777, dir_fd=dfd)))
        o.stat("stat pub/s", "pub/s")
        o.stat("stat pub/g", "pub/g")
        o.stat("stat pub/d", "pub/d")

        def write_other():
            fd = os.open("s", os.O_WRONLY | os.O_APPEND, dir_fd=dfd)
            os.write(fd, b"x")
            os.close(fd)
        o.note("uid 4321 writes pub/s", _as_user(4321, write_other))
        o.stat("stat pub/s after a write by another user", "pub/s")
        o.note("uid 4321 renames pub/g to pub/g2", _as_user(4321, lambda: os.rename("g", "g2", src_dir_fd=dfd,
                                                                                       dst_dir_fd=dfd)))
        o.note("uid 4321 renames pub/d to pub/d2 (ENOTEMPTY-free, not its own)",
               _as_user(4321, lambda: os.rename("d", "d2", src_dir_fd=dfd, dst_dir_fd=dfd)))
        o.ls("ls pub", "pub")
    finally:
        os.close(dfd)


@case("statfs shows the upper layer's file system")
def c_statfs(m, o):
    a = os.statvfs(o.p(""))
    b = os.statvfs(m.layers.upper)
    o.note("f_bsize, f_blocks, f_files, f_namemax == upper's",
           (a.f_bsize == b.f_bsize, a.f_blocks == b.f_blocks, a.f_files == b.f_files, a.f_namemax))
    o.note("free space within 1% of the upper's", abs(a.f_bfree - b.f_bfree) <= b.f_blocks // 100)


@case("open handles across copy-up: a read-only fd sees later writes")
def c_handles_copyup(m, o):
    r = os.open(o.p("file"), os.O_RDONLY)
    try:
        o.note("before", os.pread(r, 100, 0))
        write_file(o.p("file"), b"changed!", os.O_WRONLY | os.O_TRUNC)
        o.note("after, same fd", os.pread(r, 100, 0))
        o.note("fstat size", os.fstat(r).st_size)
    finally:
        os.close(r)
    w = os.open(o.p("dir/a"), os.O_RDWR)
    r = os.open(o.p("dir/a"), os.O_RDONLY)
    os.pwrite(w, b"XY", 0)
    o.note("rdonly fd opened after copy-up", os.pread(r, 100, 0))
    os.close(w)
    os.close(r)
    # written by another fd, then renamed or removed before the read-only fd reads again (nothing of it cached)
    for name, then in (("exec", "renamed"), ("dir/b", "unlinked")):
        r = os.open(o.p(name), os.O_RDONLY)
        write_file(o.p(name), b"written, then " + then.encode(), os.O_WRONLY)
        if then == "renamed":
            os.rename(o.p(name), o.p(name + ".moved"))
        else:
            os.unlink(o.p(name))
        o.note(f"rdonly fd, file written then {then}", os.pread(r, 100, 0))
        o.note(f"fstat size, file written then {then}", os.fstat(r).st_size)
        os.close(r)


@case("special files: fifos, devices, copy-up of them",
      known=[Known("result", ("root",), "isofs-overlay mounts nodev (the libfuse default; no 'dev' option is "
                   "passed): opening a device node gives EACCES where the kernel's mount allows it",
                   ["read null"])])
def c_special(m, o):
    o.do("mkfifo", os.mkfifo, o.p("f2"), 0o640)
    o.stat("stat f2", "f2")
    o.do("chmod lower fifo", os.chmod, o.p("fifo"), 0o600)
    o.stat("stat fifo", "fifo")
    if MODE == "root":
        o.do("mknod blk", os.mknod, o.p("blk"), stat.S_IFBLK | 0o600, os.makedev(7, 0))
        o.do("chown lower null", os.chown, o.p("null"), 5, 5)
        o.stat("stat null", "null")
        o.do("read null", read_file, o.p("null"))
    else:
        o.do("mknod chr (EPERM rootless)", os.mknod, o.p("c"), stat.S_IFCHR | 0o600, os.makedev(1, 3))
    o.do("mknod whiteout-like 0/0", os.mknod, o.p("w"), stat.S_IFCHR | 0o600, os.makedev(0, 0))
    o.stat("stat w", "w")


# ---- big directories -------------------------------------------------------------------

BIG_N = 100_000


def big_fixture(d, mode):
    H.make_fixture(d, mode)
    os.mkdir(f"{d}/huge")
    os.mkdir(f"{d}/small")
    fd = os.open(f"{d}/huge", os.O_RDONLY | os.O_DIRECTORY)
    for i in range(BIG_N):
        os.close(os.open(f"e{i:06d}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)
    for i in range(1000):
        write_file(f"{d}/small/e{i:06d}", b"")


@case(f"directories with {BIG_N} entries: readdir, lookup, create, delete", fixture=big_fixture, timeout=900,
      cross=False, shared_lowers=True)
def c_big_dir(m, o):
    def timed(fn, names):
        t = time.monotonic()
        for n in names:
            fn(n)
        return time.monotonic() - t

    t0 = time.monotonic()
    n = len(os.listdir(o.p("huge")))
    o.note("readdir count", n)
    rd = time.monotonic() - t0
    res = {}
    for d, idx in (("small", range(0, 1000, 2)), ("huge", range(0, BIG_N, BIG_N // 500))):
        names = [f"e{i:06d}" for i in idx][:500]
        res[d] = (timed(lambda x: os.lstat(o.p(f"{d}/{x}")), names),
                  timed(lambda x: write_file(o.p(f"{d}/new{x}"), b""), names),
                  timed(lambda x: os.unlink(o.p(f"{d}/{x}")), names),
                  timed(lambda x: os.unlink(o.p(f"{d}/new{x}")), names))
    # The times are for the log only: what an operation costs in a big directory is bench/run's to measure
    # ("create+rm 20k in one dir"), side by side with the kernel's, not a test's to assert on a noisy machine.
    print(f"# {m.kind}: readdir {rd:.2f}s; 500 ops in 1k/100k dirs (lookup, create, unlink lower, unlink upper): "
          + ", ".join(f"{s:.3f}/{b:.3f}s" for s, b in zip(res["small"], res["huge"])), flush=True)
    o.note("count after", len(os.listdir(o.p("huge"))))
    o.note("a sample of the names after", sorted(os.listdir(o.p("huge")))[::997])


# ---- running ---------------------------------------------------------------------------

_templates = {}


def template(c, tmp):
    key = (c.stack, c.fixture)
    if key not in _templates:
        base = tempfile.mkdtemp(prefix="tpl.", dir=tmp)
        if c.fixture:
            c.fixture(f"{base}/L", "root" if MODE == "root" else "rootless")
            lowers = [f"{base}/L"]
        elif c.stack == 1:
            H.make_fixture(f"{base}/L", "root" if MODE == "root" else "rootless")
            lowers = [f"{base}/L"]
        elif c.stack == 2:
            lowers = H.make_stack2(base, "root" if MODE == "root" else "rootless")
        elif c.stack == "wh":
            lowers = H.make_stack_wh(base, "root" if MODE == "root" else "rootless")
        else:
            lowers = H.make_stack3(base, "root" if MODE == "root" else "rootless")
        _templates[key] = lowers
    return _templates[key]


def run_obs(c, m):
    o = Obs(m, c.ref == "kernel")
    try:
        c.fn(m, o)
    except Exception as e:  # noqa: BLE001 - an unexpected failure is an observation too
        o.note("EXCEPTION", f"{type(e).__name__}: {e}")
        tb = traceback.format_exc().splitlines()
        o.note("traceback", tb[-4:])
    return o.items


def diff_obs(a, b, ref="kernel"):
    out = []
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            out.append(f"step {i}: {ref} {x!r}\n    isofs  {y!r}")
    return out


def report(tap, c, check, lines, extra=()):
    desc = f"{c.desc}: {check}"
    if not lines:
        tap.ok(True, desc)
        return
    xmode = "root" if MODE == "root" else MODE
    for k in c.known:
        if k.covers(check, xmode, lines):
            tap.documented_difference(desc, k.why)
            tap.diag(*lines[:12])
            return
    tap.ok(False, desc, *lines[:40], *extra)


def dirs_state(top):
    """Every directory of a tree with its entry names, mtime and ctime: what any change of its entries moves."""
    state = {}
    for d, dirs, files in os.walk(top):
        st = os.lstat(d)
        state[os.path.relpath(d, top)] = (st.st_mtime_ns, st.st_ctime_ns, hash(tuple(sorted(dirs + files))))
    return state


def run_case(c, tap, tmp):
    base = tempfile.mkdtemp(prefix=c.name + ".", dir=tmp)
    try:
        _run_case(c, tap, base)
    finally:
        H.rm_tree(base)


def wh_form(c):
    """Whether the case's layers are (partly) in containers/storage's form."""
    return c.stack == "wh" or c.upper_init is not None


def mount_for(c, kind, layers, scratch):
    """kind over layers; kernel overlayfs gets them in its own form (a rewritten copy under scratch) when
    they hold containers/storage's."""
    if kind == "kernel" and wh_form(c):
        layers = H.kernel_twin(layers, scratch, MODE)
    return H.mount(kind, layers, MODE)


def _run_case(c, tap, base):
    ref = c.ref
    lowers = template(c, os.path.dirname(base))
    if c.shared_lowers:
        lk, li = H.Layers(f"{base}/k", list(lowers)), H.Layers(f"{base}/i", list(lowers))
        before = [dirs_state(d) for d in lowers]
    else:
        lk, li = H.Layers.clone(lowers, f"{base}/k"), H.Layers.clone(lowers, f"{base}/i")
    if c.upper_init:
        for layers in (lk, li):
            c.upper_init(layers.upper, MODE)
    if ref == "kernel" and wh_form(c):
        for d in lk.lowers + [lk.upper]:
            H.wh_to_kernel(d, MODE)
    snaps, obs, logs = {}, {}, []
    with H.Watchdog(c.timeout, c.name):
        mk = H.mount(ref, lk, MODE)
        try:
            mi = H.mount("isofs", li, MODE)
            try:
                for m in (mk, mi):
                    obs[m.kind] = run_obs(c, m)
                for m in (mk, mi):
                    snaps[m.kind] = H.snapshot(m.root, content=c.cross)
            finally:
                try:
                    mi.umount()
                except RuntimeError as e:
                    logs.append(str(e))
        finally:
            mk.umount(force=True)
    report(tap, c, "result", diff_obs(obs[ref], obs["isofs"], ref), logs)
    if c.shared_lowers:
        changed = [f"{d}: {p}" for d, b in zip(lowers, before) for p in sorted(set(b.items()) ^ set(dirs_state(d).items()))]
        tap.ok(not changed, f"{c.desc}: the shared lower layers are unchanged", *changed[:10])
    report(tap, c, "tree", H.diff_snapshots(snaps[ref], snaps["isofs"], ref))
    if logs:
        tap.ok(False, f"{c.desc}: isofs-overlay exits cleanly", *logs)
    # copy-up and the other atomic changes go through the work dir: nothing may be left there
    left = sorted(os.listdir(f"{li.work}/work")) if os.path.isdir(f"{li.work}/work") else []
    tap.ok(not left, f"{c.desc}: isofs leaves nothing in workdir/work", *left[:10])
    if c.upper_check:
        lines = []
        # fuse-overlayfs writes its own forms (`.wh.` files, user.fuseoverlayfs.*): only the kernel's are checked
        for kind, layers in ((ref, lk), ("isofs", li)) if ref == "kernel" else (("isofs", li),):
            lines += [f"{kind} upper: {x}" for x in c.upper_check(layers.upper, MODE)]
        report(tap, c, "on-disk", lines)
    if not c.cross or SERVE_ONLY:
        return
    # cross: each upper through both implementations; restack: each upper as a lower layer
    ar = {}
    for tag, layers, owner in ((f"{ref}'s upper", lk, ref), ("isofs's upper", li, "isofs")):
        for kind in (ref, "isofs"):
            with H.Watchdog(c.timeout, c.name + " remount"):
                m = mount_for(c, kind, layers, f"{layers.base}/twin-{kind}")
                try:
                    s = H.snapshot(m.root)
                    if c.after_remount and kind == owner:
                        o = Obs(m, ref == "kernel")
                        try:
                            c.after_remount(m, o)
                        except Exception as e:  # noqa: BLE001
                            o.note("EXCEPTION", f"{type(e).__name__}: {e}")
                        ar[kind] = o.items
                finally:
                    m.umount(force=True)
            check = "remount" if kind == owner else f"cross ({tag} mounted by {kind})"
            report(tap, c, check, H.diff_snapshots(snaps[owner], s, owner, f"{kind} remount"))
    if c.after_remount:
        report(tap, c, "after remount", diff_obs(ar.get(ref, []), ar.get("isofs", []), ref))
    for tag, layers, owner in ((f"{ref}'s upper", lk, ref), ("isofs's upper", li, "isofs")):
        rbase = f"{layers.base}/restack"
        os.makedirs(rbase)
        rl = H.Layers(rbase, [layers.upper] + layers.lowers)
        for kind in (ref, "isofs"):
            with H.Watchdog(c.timeout, c.name + " restack"):
                m = mount_for(c, kind, rl, f"{rbase}/twin-{kind}")
                try:
                    s = H.snapshot(m.root)
                finally:
                    m.umount(force=True)
            H.rm_tree(rl.upper)
            H.rm_tree(rl.work)
            os.makedirs(rl.upper)
            os.makedirs(rl.work)
            report(tap, c, f"restack ({tag} as a lower layer, mounted by {kind})",
                   H.diff_snapshots(snaps[owner], s, owner, f"{kind} restacked"))


# --serve-only: the result, tree, work dir and on-disk checks, not the remounts (cross, restack).  The
# variants that change only how the server serves (writeback, a small fd cache, file handles) use it:
# the upper is written by the same copy-up code under every option, and the full runs remount it.
SERVE_ONLY = False


def main(argv):
    global MODE, SERVE_ONLY
    MODE, rest = H.parse_mode(argv[1:])
    SERVE_ONLY = "--serve-only" in rest
    rest = [a for a in rest if a != "--serve-only"]
    H.reexec_rootless(MODE, [argv[0]] + (["--list"] if "--list" in rest else []) +
                      (["--serve-only"] if SERVE_ONLY else []) + [a for a in rest if a != "--list"])
    if "--list" in rest:
        for c in CASES:
            print(c.name, "-", c.desc)
        return 0
    want = [a for a in rest if not a.startswith("-")]
    H.install_cleanup()
    tap = H.Tap()
    tap.diag(f"mode {MODE}, uid {os.getuid()}, isofs-overlay {H.overlay_bin()}, kernel {os.uname().release}")
    if not os.access(H.overlay_bin(), os.X_OK):
        print(f"Bail out! {H.overlay_bin()} is not executable")
        return 1
    with H.scratch("isofs-ovl-conf.") as tmp:
        why = H.probe(MODE, tmp)
        if why:
            print(f"1..0 # SKIP {why}", flush=True)
            return 0
        for c in CASES:
            if want and not any(w in c.name for w in want):
                continue
            if MODE not in c.modes:
                tap.skip(c.desc, f"not in {MODE} mode")
                continue
            if c.ref == "fuse-overlayfs" and not H.fuse_overlayfs_bin():
                tap.skip(c.desc, "fuse-overlayfs is not installed")
                continue
            H.guarded(tap, c.desc, run_case, c, tap, tmp)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
