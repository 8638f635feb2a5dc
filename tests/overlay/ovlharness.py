# SPDX-License-Identifier: MIT
"""
Harness for the overlay tests: layers, fixtures, the two implementations
mounted over identical copies of the same layers, tree snapshots, TAP output.

Python 3 standard library only (run with /usr/bin/python3).

How the two implementations are mounted
---------------------------------------
* kernel overlayfs is always mounted inside a helper process's private mount
  namespace (`unshare -m` as root, `unshare -Urm` rootless).  The test process
  reaches it through /proc/<helper>/root/<mountpoint>; the helper holds the
  mount until its stdin closes, so even a test killed with SIGKILL leaves no
  mount behind (the namespace dies with the helper).
    root:     -o lowerdir=…,upperdir=…,workdir=…,redirect_dir=on   (trusted.overlay.*)
    rootless: -o lowerdir=…,upperdir=…,workdir=…,userxattr          (user.overlay.*)
  Rootless the kernel refuses redirect_dir=on/follow together with userxattr
  ("conflicting options"): it runs with redirect_dir=nofollow, so renaming a
  directory that has a lower part gives EXDEV there and redirects written by
  isofs are not followed.  Those cases are documented differences.
* isofs-overlay runs in the foreground (-f) as a child of the test, mounted on
  the host: as root directly, rootless through fusermount3 (as the user the
  test runs as; /dev/fuse must be 0666).  Unmount: umount / fusermount3 -u,
  then the lazy variants, then aborting the connection
  (/sys/fs/fuse/connections/<minor>/abort, fusectl mounted if needed, root) and
  SIGKILL of the daemon.  A watchdog thread does the same when one case runs
  longer than its timeout, so a hung server fails the test instead of hanging it.
* mode "userns" (rootless, optional): isofs-overlay also runs inside the
  helper's user namespace (it mounts FUSE itself there, -o userxattr, and sees
  itself as root), both reached through /proc/<helper>/root.
* fuse-overlayfs (FuseOverlayfsMount) is the reference where kernel overlayfs
  has nothing to say: containers/storage's `.wh.NAME` whiteouts and
  `.wh..wh..opq` opaque markers, which only fuse-overlayfs reads.  It runs like
  isofs-overlay (-f, a child of the test, on the host: as root directly,
  otherwise as the user through fusermount3, in userns mode too) and is
  unmounted, aborted and killed the same way.  Where kernel overlayfs is the
  reference over layers in that form, it gets a copy rewritten in its own form
  (kernel_twin): 0/0 whiteouts and the opaque xattr.

Both mounts are used by the same (host) process, with the same credentials, so
permission checks are comparable: root in root mode, the plain user rootless.
"""

import ctypes
import ctypes.util
import errno
import hashlib
import os
import random
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager

FIXED_TIME = 1_000_000_000  # mtime/atime of every fixture entry
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TIMEOUT = 120

# ---- libc bits -------------------------------------------------------------------

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2


def renameat2(old, new, flags=0, olddirfd=AT_FDCWD, newdirfd=AT_FDCWD):
    if libc.renameat2(olddirfd, os.fsencode(old), newdirfd, os.fsencode(new), flags) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def ename(e):
    return errno.errorcode.get(e, str(e))


def attempt(fn, *args, **kw):
    """('ok', value) or ('err', 'ENOENT'): an outcome both mounts can be compared on."""
    try:
        return ("ok", fn(*args, **kw))
    except OSError as e:
        return ("err", ename(e.errno))


IS_ROOT = os.geteuid() == 0

# ---- TAP ---------------------------------------------------------------------------


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.documented = []
        self.plan_printed = False

    def plan(self, n):
        print(f"1..{n}", flush=True)
        self.plan_printed = True

    @staticmethod
    def _desc(s):
        return str(s).replace("\n", " ").replace("#", "\\#")

    def diag(self, *lines):
        for block in lines:
            for line in str(block).splitlines() or [""]:
                print(f"# {line}", flush=True)

    def ok(self, cond, desc, *diag):
        self.n += 1
        if cond:
            print(f"ok {self.n} - {self._desc(desc)}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {self.n} - {self._desc(desc)}", flush=True)
            self.diag(*diag)
        return cond

    def skip(self, desc, why):
        self.n += 1
        print(f"ok {self.n} - {self._desc(desc)} # SKIP {self._desc(why)}", flush=True)

    def documented_difference(self, desc, what):
        """A case where the kernel legitimately differs: passes, but says so loudly."""
        self.n += 1
        self.documented.append((desc, what))
        print(f"ok {self.n} - {self._desc(desc)} [documented difference]", flush=True)
        self.diag(f"DOCUMENTED DIFFERENCE: {what}")

    def finish(self):
        if not self.plan_printed:
            print(f"1..{self.n}", flush=True)
        if self.documented:
            self.diag(f"{len(self.documented)} documented difference(s):")
            for d, w in self.documented:
                self.diag(f"  {d}: {w}")
        self.diag(f"{self.n - self.failed} passed, {self.failed} failed")
        return 0 if self.failed == 0 else 1


# ---- modes -------------------------------------------------------------------------


def parse_mode(argv):
    """--mode root|rootless|userns (default: root as root, rootless otherwise)."""
    mode = None
    rest = []
    it = iter(argv)
    for a in it:
        if a == "--mode":
            mode = next(it)
        elif a.startswith("--mode="):
            mode = a.split("=", 1)[1]
        else:
            rest.append(a)
    if mode is None:
        mode = "root" if IS_ROOT else "rootless"
    if mode not in ("root", "rootless", "userns"):
        sys.exit(f"--mode must be root, rootless or userns, not {mode!r}")
    return mode, rest


def reexec_rootless(mode, argv):
    """As root with a rootless mode: re-run this script as the test user in a private temp dir.

    Returns only when already unprivileged (or root mode)."""
    if mode == "root" or not IS_ROOT:
        if mode == "root" and not IS_ROOT:
            print("1..0 # SKIP root mode needs root")
            sys.exit(0)
        return
    import pwd

    user = os.environ.get("ISOFS_TEST_USER", "isofs-test")
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        print(f"1..0 # SKIP rootless mode: user {user!r} does not exist")
        sys.exit(0)
    if os.path.exists("/dev/fuse"):
        os.chmod("/dev/fuse", 0o666)
    d = tempfile.mkdtemp(prefix="isofs-ovl-rootless.")
    os.chown(d, pw.pw_uid, pw.pw_gid)
    os.chmod(d, 0o700)
    # the user must reach the script and the binary
    p = os.path.dirname(os.path.abspath(argv[0]))
    while p != "/":
        st = os.stat(p)
        if not st.st_mode & 0o001:
            os.chmod(p, st.st_mode | 0o001)
        p = os.path.dirname(p)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": d,
        "TMPDIR": d,
        "LANG": "C.UTF-8",
        "ISOFS_TEST_USER": user,
    }
    for k in ("ISOFS_OVERLAY_BIN", "ISOFS_OVERLAY_OPTS", "ISOFS_TEST_TIMEOUT", "OVL_SEEDS", "OVL_OPS",
              "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--",
           sys.executable, os.path.abspath(argv[0]), "--mode", mode] + argv[1:]
    try:
        rc = subprocess.call(cmd, env=env, cwd=d)
    finally:
        subprocess.call(["chmod", "-R", "u+rwX", d], stderr=subprocess.DEVNULL)
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)


def overlay_bin():
    b = os.environ.get("ISOFS_OVERLAY_BIN")
    if not b:
        b = os.path.join(HERE, "..", "..", "build", "fuse", "isofs-overlay")
    return os.path.abspath(b)


# ---- cleanup of everything live ------------------------------------------------------

_live = []  # mounts not yet unmounted
_cleanup_lock = threading.Lock()


def cleanup_all():
    with _cleanup_lock:
        for m in list(reversed(_live)):
            try:
                m.umount(force=True)
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                print(f"# cleanup: {m}: {e}", file=sys.stderr)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def install_cleanup():
    import atexit

    atexit.register(cleanup_all)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)


class Watchdog:
    """Unblocks a test stuck on a hung FUSE server: after `seconds`, aborts every live mount."""

    def __init__(self, seconds, what):
        self.seconds = seconds
        self.what = what
        self.fired = False
        self.timer = None

    def _fire(self):
        self.fired = True
        print(f"# WATCHDOG: {self.what} still running after {self.seconds}s: aborting the mounts", file=sys.stderr)
        for m in list(_live):
            try:
                m.abort()
            except Exception as e:  # noqa: BLE001
                print(f"# watchdog: {m}: {e}", file=sys.stderr)

    def __enter__(self):
        # The timer thread must not take the signals meant to stop the test (SIGTERM from meson's timeout):
        # delivered to it, they would leave the main thread blocked in its system call.
        sigs = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
        try:
            self.timer = threading.Timer(self.seconds, self._fire)
            self.timer.daemon = True
            self.timer.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        return False


# ---- layers and fixtures -----------------------------------------------------------


def xprefix(mode):
    return "trusted.overlay." if mode == "root" else "user.overlay."


def make_whiteout(path):
    os.mknod(path, stat.S_IFCHR | 0, os.makedev(0, 0))


def set_opaque(path, mode):
    os.setxattr(path, xprefix(mode) + "opaque", b"y", follow_symlinks=False)


def write(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data if isinstance(data, bytes) else data.encode())
    finally:
        os.close(fd)
    os.chmod(path, mode)


def fix_times(root):
    """Every entry under root (and root) gets FIXED_TIME: snapshots can tell untouched times."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for n in filenames + dirnames:
            try:
                os.utime(os.path.join(dirpath, n), (FIXED_TIME, FIXED_TIME), follow_symlinks=False)
            except OSError:
                pass
    os.utime(root, (FIXED_TIME, FIXED_TIME))


def make_fixture(d, mode):
    """The standard lower tree: several modes, owners, links, xattrs, special files."""
    os.makedirs(d, exist_ok=True)
    write(f"{d}/file", "hello\n")
    write(f"{d}/ro", "read only\nsecond line\n", 0o444)
    write(f"{d}/none", "secret\n", 0o000)
    write(f"{d}/exec", "#!/bin/sh\necho hi\n", 0o755)
    write(f"{d}/suid", "suid\n", 0o4755)
    write(f"{d}/sgid", "sgid\n", 0o2755)
    write(f"{d}/empty", "", 0o644)
    # sparse: data, a hole, data
    fd = os.open(f"{d}/sparse", os.O_WRONLY | os.O_CREAT, 0o644)
    os.pwrite(fd, b"A" * 4096, 0)
    os.pwrite(fd, b"B" * 4096, 1 << 20)
    os.close(fd)
    write(f"{d}/big", bytes(random.Random(1).getrandbits(8) for _ in range(300_000)))
    write(f"{d}/link1", "linked\n")
    os.link(f"{d}/link1", f"{d}/link2")
    os.symlink("file", f"{d}/sym")
    os.symlink("nowhere", f"{d}/dangling")
    os.symlink("dir", f"{d}/symdir")
    os.symlink("/" + "x" * 300, f"{d}/longtarget")
    write(f"{d}/xfile", "xattrs\n")
    os.setxattr(f"{d}/xfile", "user.a", b"1")
    os.setxattr(f"{d}/xfile", "user.bin", bytes(range(256)))
    os.mkfifo(f"{d}/fifo", 0o644)
    os.makedirs(f"{d}/dir/sub/deeper")
    write(f"{d}/dir/a", "dir/a\n")
    write(f"{d}/dir/b", "dir/b\n", 0o600)
    write(f"{d}/dir/sub/c", "dir/sub/c\n")
    write(f"{d}/dir/sub/deeper/d", "dir/sub/deeper/d\n")
    os.symlink("../a", f"{d}/dir/sub/up")
    os.mkdir(f"{d}/rodir", 0o755)
    write(f"{d}/rodir/f", "in rodir\n", 0o444)
    os.chmod(f"{d}/rodir", 0o555)
    os.mkdir(f"{d}/emptydir")
    os.mkdir(f"{d}/xdir")
    os.setxattr(f"{d}/xdir", "user.d", b"dir-xattr")
    write(f"{d}/xdir/inner", "inner\n")
    os.mkdir(f"{d}/other")
    write(f"{d}/other/o", "other/o\n")
    if mode == "root":
        write(f"{d}/owned", "owned\n", 0o640)
        os.chown(f"{d}/owned", 1234, 2345)
        os.mkdir(f"{d}/owneddir", 0o750)
        write(f"{d}/owneddir/f", "f\n")
        os.chown(f"{d}/owneddir/f", 1234, 2345)
        os.chown(f"{d}/owneddir", 1234, 2345)
        os.chown(f"{d}/suid", 0, 0)
        os.setxattr(f"{d}/xfile", "trusted.t", b"trusted-value")
        os.mknod(f"{d}/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.chmod(f"{d}/null", 0o666)
    fix_times(d)


def make_stack2(base, mode):
    """Two lower layers in kernel format: L1 (top) over L2; returns [L1, L2]."""
    l1, l2 = f"{base}/L1", f"{base}/L2"
    make_fixture(l2, mode)
    os.makedirs(l1)
    write(f"{l1}/file", "L1 overrides\n")
    make_whiteout(f"{l1}/ro")                 # a whiteout hides L2's file
    os.mkdir(f"{l1}/dir")                     # merged: L1's dir over L2's
    write(f"{l1}/dir/l1only", "L1\n")
    make_whiteout(f"{l1}/dir/a")              # hides dir/a below
    os.mkdir(f"{l1}/other")                   # opaque: hides L2's other/*
    set_opaque(f"{l1}/other", mode)
    write(f"{l1}/other/mine", "opaque L1\n")
    write(f"{l1}/emptydir", "now a file\n")   # a file over a dir below
    os.mkdir(f"{l1}/l1dir")
    write(f"{l1}/l1dir/x", "x\n")
    fix_times(l1)
    return [l1, l2]


def make_stack3(base, mode):
    """Three lower layers: L1 over L2 over L3, whiteouts and opaque markers in the middle."""
    l1, l2, l3 = f"{base}/L1", f"{base}/L2", f"{base}/L3"
    make_fixture(l3, mode)
    os.makedirs(f"{l2}/dir/sub")
    os.makedirs(l1)
    make_whiteout(f"{l2}/file")               # L2 whites out L3/file ...
    write(f"{l1}/file", "L1 again\n")         # ... L1 brings it back
    make_whiteout(f"{l2}/dir/sub/c")
    write(f"{l2}/dir/sub/l2", "L2\n")
    set_opaque(f"{l2}/dir/sub", mode)         # opaque in a middle layer: hides L3/dir/sub/*
    os.mkdir(f"{l2}/xdir")
    set_opaque(f"{l2}/xdir", mode)
    os.makedirs(f"{l1}/dir/sub")
    write(f"{l1}/dir/sub/l1", "L1\n")
    make_whiteout(f"{l1}/dir/sub/l2")         # L1 hides L2's entry
    make_whiteout(f"{l1}/emptydir")
    os.mkdir(f"{l1}/xdir")
    write(f"{l1}/xdir/top", "top\n")
    fix_times(l1)
    fix_times(l2)
    return [l1, l2, l3]


def make_marker(path):
    """containers/storage's whiteout of a name: an empty file `.wh.NAME` beside it."""
    d, n = os.path.split(path)
    write(f"{d}/.wh.{n}", "", 0o600)


def make_stack_wh(base, mode):
    """Two lower layers in containers/storage's form (the AUFS/OCI `.wh.` names a mount program gets):
    L1 (top) over L2, the fixture.  Each marker mirrors a kernel-form whiteout or opaque dir of
    make_stack2, plus what only this form can say: a name beside its own marker, markers of no name,
    AUFS's own directories.  Returns [L1, L2]."""
    l1, l2 = f"{base}/L1", f"{base}/L2"
    make_fixture(l2, mode)
    write(f"{l2}/dir/.wh.gone-below", "")        # a marker in the bottom layer: hides nothing, never shown
    os.makedirs(l1)
    write(f"{l1}/file", "L1 overrides\n")
    make_marker(f"{l1}/ro")                       # hides L2's file
    make_marker(f"{l1}/symdir")                   # ... a symlink
    make_marker(f"{l1}/rodir")                    # ... a directory and all in it
    os.mkdir(f"{l1}/dir")                         # merged: L1's dir over L2's
    write(f"{l1}/dir/l1only", "L1\n")
    make_marker(f"{l1}/dir/a")                    # hides dir/a below
    make_whiteout(f"{l1}/dir/b")                  # the kernel's form beside it, in the same directory
    write(f"{l1}/dir/both", "hidden\n")          # a name beside its own marker: hidden in its own layer too
    make_marker(f"{l1}/dir/both")
    os.mkdir(f"{l1}/other")                       # opaque by the marker: hides L2's other/*
    write(f"{l1}/other/.wh..wh..opq", "", 0o600)
    write(f"{l1}/other/mine", "opaque L1\n")
    os.mkdir(f"{l1}/xdir")                        # opaque by the marker and by the xattr at once
    write(f"{l1}/xdir/.wh..wh..opq", "", 0o600)
    set_opaque(f"{l1}/xdir", mode)
    write(f"{l1}/xdir/top", "top\n")
    write(f"{l1}/emptydir", "now a file\n")      # a file over a dir below
    os.mkdir(f"{l1}/l1dir")
    write(f"{l1}/l1dir/x", "x\n")
    # markers of no name: hide nothing (not in the root: fuse-overlayfs then hides all of the layer's root)
    write(f"{l1}/dir/.wh.", "", 0o600)
    write(f"{l1}/dir/.wh..", "", 0o600)
    write(f"{l1}/dir/.wh...", "", 0o600)
    os.mkdir(f"{l1}/.wh..wh.plnk")                # AUFS's hard-link directory and base marker: never shown
    write(f"{l1}/.wh..wh.plnk/123.456", "linked\n")
    write(f"{l1}/.wh..wh.aufs", "", 0o600)
    fix_times(l1)
    fix_times(l2)
    return [l1, l2]


def make_upper_wh(upper, mode, junk=True, dir_marker=True):
    """An upper as containers/storage or fuse-overlayfs leaves it, over the fixture: markers, an opaque
    marker, AUFS names; junk: an object beside its own marker too (fuse-overlayfs 1.10 renames over
    such a name wrongly, so its cases leave it out: the kernel, over the same upper in its own form,
    says what it means)."""
    make_marker(f"{upper}/file")            # whites out the lower file ...
    if dir_marker:
        make_marker(f"{upper}/dir")         # ... a lower directory
    make_marker(f"{upper}/sym")
    os.mkdir(f"{upper}/other")              # opaque by its marker: the lower other/o hidden
    write(f"{upper}/other/.wh..wh..opq", "", 0o600)
    write(f"{upper}/other/n", "n\n")
    os.mkdir(f"{upper}/xdir")               # merged with the lower xdir, its inner hidden
    make_marker(f"{upper}/xdir/inner")
    if junk:
        write(f"{upper}/ro", "hidden junk\n")  # beside its own marker: hidden, replaced when ro comes back
    make_marker(f"{upper}/ro")
    make_whiteout(f"{upper}/emptydir")      # both forms for one name
    make_marker(f"{upper}/emptydir")
    os.mkdir(f"{upper}/.wh..wh.plnk")
    write(f"{upper}/.wh..wh.plnk/1.2", "aufs\n")


def wh_to_kernel(root, mode):
    """Rewrites a tree in containers/storage's form into kernel overlayfs's, in place: `.wh.NAME` becomes a
    0/0 whiteout at NAME (what NAME held there goes), `.wh..wh..opq` the opaque xattr, other `.wh.*`
    names go.  Directory times are kept, so that both forms compare equal."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        names = sorted(dirnames + filenames)
        st = os.lstat(dirpath)
        marked = [n for n in names if n.startswith(".wh.")]
        for n in marked:
            target = n[4:]
            subprocess.run(["rm", "-rf", "--one-file-system", os.path.join(dirpath, n)], check=True)
            if n == ".wh..wh..opq":
                set_opaque(dirpath, mode)
            elif target and target not in (".", "..") and not target.startswith(".wh."):
                p = os.path.join(dirpath, target)
                if os.path.lexists(p):
                    subprocess.run(["rm", "-rf", "--one-file-system", p], check=True)
                make_whiteout(p)
        dirnames[:] = [n for n in dirnames if not n.startswith(".wh.") and os.path.isdir(os.path.join(dirpath, n))
                       and not os.path.islink(os.path.join(dirpath, n))]
        if marked:
            os.utime(dirpath, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def kernel_twin(layers, base, mode):
    """A copy of `layers` (lowers and upper) under base, rewritten in kernel overlayfs's form: what kernel
    overlayfs makes of layers in containers/storage's form is what they mean."""
    twin = Layers.clone(layers.lowers, base)
    os.rmdir(twin.upper)
    copy_tree(layers.upper, twin.upper)
    for d in twin.lowers + [twin.upper]:
        wh_to_kernel(d, mode)
    return twin


def copy_tree(src, dst):
    """cp -a by directory fds (trees deeper than PATH_MAX too): owners, modes, times, xattrs
    (trusted.* too as root), holes, devices, fifos, symlinks, hard links."""
    links = {}  # (dev, ino) -> (dirfd, name) of the first copy
    keep = []   # fds held for hard links

    def meta(sfd, dfd, name, st, is_link):
        px = f"/proc/self/fd/{sfd}/{name}"
        pd = f"/proc/self/fd/{dfd}/{name}"
        try:
            names = os.listxattr(px, follow_symlinks=False)
        except OSError:
            names = []
        for n in names:
            try:
                os.setxattr(pd, n, os.getxattr(px, n, follow_symlinks=False), follow_symlinks=False)
            except OSError:
                pass
        if IS_ROOT:
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dfd, follow_symlinks=False)
        if not is_link:
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dfd)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dfd, follow_symlinks=False)

    def copy_file(sfd, dfd, name, st):
        try:
            i = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=sfd)
        except PermissionError:
            # rootless, a 0000 file of our own template: readable for the copy only
            os.chmod(name, 0o400, dir_fd=sfd)
            try:
                i = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=sfd)
            finally:
                os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=sfd)
        o = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=dfd)
        try:
            pos = 0
            while pos < st.st_size:
                try:
                    data = os.lseek(i, pos, os.SEEK_DATA)
                except OSError:
                    break
                hole = os.lseek(i, data, os.SEEK_HOLE)
                while data < hole:
                    n = os.copy_file_range(i, o, hole - data, data, data)
                    if n <= 0:
                        break
                    data += n
                pos = hole
            os.ftruncate(o, st.st_size)
        finally:
            os.close(i)
            os.close(o)

    def walk(sfd, dfd):
        dirs = []
        for de in os.scandir(sfd):
            name = de.name
            st = os.lstat(name, dir_fd=sfd)
            m = st.st_mode
            if not stat.S_ISDIR(m) and st.st_nlink > 1 and (st.st_dev, st.st_ino) in links:
                lfd, lname = links[(st.st_dev, st.st_ino)]
                os.link(lname, name, src_dir_fd=lfd, dst_dir_fd=dfd, follow_symlinks=False)
                continue
            if stat.S_ISDIR(m):
                os.mkdir(name, 0o700, dir_fd=dfd)
                dirs.append((name, st))
                continue
            if stat.S_ISREG(m):
                copy_file(sfd, dfd, name, st)
            elif stat.S_ISLNK(m):
                os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
            elif stat.S_ISFIFO(m):
                os.mkfifo(name, 0o600, dir_fd=dfd)
            else:
                os.mknod(name, stat.S_IFMT(m) | 0o600, st.st_rdev, dir_fd=dfd)
            meta(sfd, dfd, name, st, stat.S_ISLNK(m))
            if not stat.S_ISDIR(m) and st.st_nlink > 1:
                d2 = os.dup(dfd)
                keep.append(d2)
                links[(st.st_dev, st.st_ino)] = (d2, name)
        for name, st in dirs:
            s2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=sfd)
            d2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
            try:
                walk(s2, d2)
            finally:
                os.close(s2)
                os.close(d2)
            meta(sfd, dfd, name, st, False)

    os.mkdir(dst, 0o700)
    sfd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    dfd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        walk(sfd, dfd)
        st = os.fstat(sfd)
        if IS_ROOT:
            os.chown(dst, st.st_uid, st.st_gid)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        for n in os.listxattr(src):
            try:
                os.setxattr(dst, n, os.getxattr(src, n))
            except OSError:
                pass
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(sfd)
        os.close(dfd)
        for fd in keep:
            os.close(fd)


class Layers:
    """One set of directories for one mount: lowers (top first), upper, work, mountpoint."""

    def __init__(self, base, lowers):
        self.base = base
        self.lowers = lowers
        self.upper = f"{base}/upper"
        self.work = f"{base}/work"
        self.mnt = f"{base}/mnt"
        for d in (self.upper, self.work, self.mnt):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.mnt, 0o755)

    @classmethod
    def clone(cls, template_lowers, base):
        """Own copies of the template's lower dirs under base."""
        os.makedirs(base, exist_ok=True)
        lowers = []
        for i, l in enumerate(template_lowers):
            dst = f"{base}/lower{i}"
            copy_tree(l, dst)
            lowers.append(dst)
        return cls(base, lowers)

    def opts(self):
        low = ":".join(l.replace("\\", "\\\\").replace(":", "\\:") for l in self.lowers)
        return f"lowerdir={low},upperdir={self.upper},workdir={self.work}"


# ---- mounts ------------------------------------------------------------------------


def _mount_minor(path):
    try:
        return os.minor(os.stat(path).st_dev)
    except OSError:
        return None


def _abort_fuse(minor):
    """Aborts FUSE connection `minor` (root only): mounts fusectl when it is not there."""
    if minor is None or not IS_ROOT:
        return
    conn = "/sys/fs/fuse/connections"
    if not os.path.exists(f"{conn}/{minor}"):
        subprocess.run(["mount", "-t", "fusectl", "fusectl", conn], capture_output=True)
    try:
        with open(f"{conn}/{minor}/abort", "w") as f:
            f.write("1")
    except OSError:
        pass


def _is_mounted(path):
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].encode().decode("unicode_escape")
                if mp == path:
                    return True
    except OSError:
        pass
    return False


class Mount:
    kind = "?"

    def __init__(self, layers, mode):
        self.layers = layers
        self.mode = mode
        self.root = None
        self.mounted = False

    def p(self, rel=""):
        return os.path.join(self.root, rel) if rel else self.root

    def __str__(self):
        return f"{self.kind}:{self.layers.base}"

    def abort(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.umount()
        return False


HELPER_SCRIPT = r"""
set -u
mnt=$1; shift
"$@" || exit 1
echo ready
read -r _ || true
umount "$mnt" 2>/dev/null || umount -l "$mnt"
"""


class KernelMount(Mount):
    """Kernel overlayfs in a helper's private mount namespace, reached through /proc/PID/root."""

    kind = "kernel"

    def __init__(self, layers, mode):
        super().__init__(layers, mode)
        opts = layers.opts() + (",redirect_dir=on" if mode == "root" else ",userxattr")
        self.opts = opts
        ns = ["unshare", "-m", "--propagation", "private"] if mode == "root" else ["unshare", "-Urm"]
        cmd = ns + ["sh", "-c", HELPER_SCRIPT, "sh", layers.mnt, "mount", "-t", "overlay", "overlay", "-o", opts,
                    layers.mnt]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            err = self.proc.stderr.read()
            self.proc.wait()
            raise RuntimeError(f"kernel overlay mount failed ({' '.join(cmd)}): {err.strip()}")
        self.root = f"/proc/{self.proc.pid}/root{layers.mnt}"
        self.mounted = True
        _live.append(self)

    def umount(self, force=False):
        if not self.mounted:
            return
        self.mounted = False
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self in _live:
            _live.remove(self)
        if not force and self.proc.returncode not in (0, None):
            raise RuntimeError(f"kernel overlay helper exited {self.proc.returncode}: {self.proc.stderr.read()}")


class IsofsMount(Mount):
    """isofs-overlay -f as a child of the test (host mount; rootless via fusermount3)."""

    kind = "isofs"
    log_name = "isofs-overlay.log"

    def command(self, extra_opts):
        if extra_opts is None:
            extra_opts = os.environ.get("ISOFS_OVERLAY_OPTS", "")  # e.g. writeback=0,timeout=0
        opts = self.layers.opts() + (f",{extra_opts}" if extra_opts else "")
        if IS_ROOT:
            opts += ",allow_other"  # as kernel overlayfs, every user may use the view (isofs mount does the same)
        return [overlay_bin(), "-f", "-o", opts, self.layers.mnt]

    def __init__(self, layers, mode, extra_opts=None, nofile=None):
        super().__init__(layers, mode)
        self.log = open(f"{layers.base}/{self.log_name}", "w+")
        self.cmd = self.command(extra_opts)
        # nofile: the server's RLIMIT_NOFILE, soft and hard (it raises its soft limit to the hard one)
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=limit)
        deadline = time.monotonic() + 20
        while not _is_mounted(layers.mnt):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"{self.kind} did not mount (exit {self.proc.returncode}): {self.logtext()}")
            time.sleep(0.01)
        self.root = layers.mnt
        self.minor = _mount_minor(layers.mnt)
        self.mounted = True
        _live.append(self)

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def abort(self):
        _abort_fuse(self.minor)
        try:
            self.proc.kill()
        except OSError:
            pass

    def _umount_cmd(self, lazy):
        mnt = self.layers.mnt
        if IS_ROOT:
            return ["umount"] + (["-l"] if lazy else []) + [mnt]
        return ["fusermount3", "-u"] + (["-z"] if lazy else []) + [mnt]

    def umount(self, force=False):
        if not self.mounted:
            return
        self.mounted = False
        if self in _live:
            _live.remove(self)
        ok = False
        for lazy in (False, True):
            r = subprocess.run(self._umount_cmd(lazy), capture_output=True, timeout=30)
            if r.returncode == 0 or not _is_mounted(self.layers.mnt):
                ok = True
                break
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.abort()
            self.proc.wait(timeout=15)
        rc = self.proc.returncode
        if not ok and _is_mounted(self.layers.mnt):
            self.abort()
            subprocess.run(self._umount_cmd(True), capture_output=True, timeout=30)
        if not force and rc != 0:
            raise RuntimeError(f"{self.kind} exited {rc}: {self.logtext()}")


def fuse_overlayfs_bin():
    return shutil.which("fuse-overlayfs", path="/usr/local/bin:/usr/bin:/bin")


class FuseOverlayfsMount(IsofsMount):
    """fuse-overlayfs -f, the reference for what kernel overlayfs does not read: containers/storage's
    `.wh.NAME` whiteouts and `.wh..wh..opq` opaque markers.  Mounted on the host as isofs-overlay is (as
    root directly, otherwise as the user through fusermount3, in userns mode too), and unmounted, aborted
    and killed the same way."""

    kind = "fuse-overlayfs"
    log_name = "fuse-overlayfs.log"

    def command(self, extra_opts):
        return [fuse_overlayfs_bin(), "-f", "-o", self.layers.opts(), self.layers.mnt]


class UsernsIsofsMount(Mount):
    """isofs-overlay inside `unshare -Urm` (it is root there, FUSE mounted directly, -o userxattr)."""

    kind = "isofs"

    def __init__(self, layers, mode):
        super().__init__(layers, mode)
        extra = "," + os.environ["ISOFS_OVERLAY_OPTS"] if os.environ.get("ISOFS_OVERLAY_OPTS") else ""
        script = (
            "set -u\n"
            f"'{overlay_bin()}' -f -o '{layers.opts()},userxattr{extra}' '{layers.mnt}' "
            f">'{layers.base}/isofs-overlay.log' 2>&1 &\n"
            "d=$!\n"
            f"i=0; until grep -q ' {layers.mnt} ' /proc/self/mountinfo; do i=$((i+1)); [ $i -gt 2000 ] && exit 1;"
            " kill -0 $d || exit 1; sleep 0.01; done\n"
            "echo ready\n"
            "read -r _ || true\n"
            f"umount '{layers.mnt}' || umount -l '{layers.mnt}'\n"
            "wait $d\n"
        )
        self.proc = subprocess.Popen(["unshare", "-Urm", "sh", "-c", script], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"isofs-overlay in a user namespace did not mount: {self.proc.stderr.read()}")
        self.root = f"/proc/{self.proc.pid}/root{layers.mnt}"
        self.mounted = True
        _live.append(self)

    def abort(self):
        # killing the daemon (a child of the helper, same user) aborts the connection
        subprocess.run(["pkill", "-KILL", "-P", str(self.proc.pid)], capture_output=True)

    def umount(self, force=False):
        KernelMount.umount(self, force)


def mount(kind, layers, mode):
    if kind == "kernel":
        return KernelMount(layers, mode)
    if kind == "fuse-overlayfs":
        return FuseOverlayfsMount(layers, mode)
    if mode == "userns":
        return UsernsIsofsMount(layers, mode)
    return IsofsMount(layers, mode)


def probe(mode, tmp):
    """None when both implementations mount here, else why the kernel's does not (the caller skips the
    whole run).  isofs-overlay failing to mount is a failure, never a skip: it bails out."""
    base = tempfile.mkdtemp(prefix="probe.", dir=tmp)
    try:
        os.makedirs(f"{base}/L/d")
        layers = Layers(base, [f"{base}/L"])
        for kind in ("kernel", "isofs"):
            try:
                m = mount(kind, layers, mode)
            except (RuntimeError, OSError) as e:
                if kind == "isofs":
                    print(f"Bail out! isofs-overlay does not mount in {mode} mode: {str(e)[:300]}", flush=True)
                    sys.exit(1)
                return f"{kind} overlay cannot be mounted in {mode} mode here: {str(e)[:300]}"
            m.umount(force=True)
        return None
    finally:
        rm_tree(base)


# ---- snapshots ---------------------------------------------------------------------


def _xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        return {"!listxattr": ename(e.errno)}
    for n in sorted(names):
        try:
            v = os.getxattr(path, n, follow_symlinks=False)
            out[n] = v.hex() if len(v) <= 24 else f"{len(v)}B:{hashlib.sha256(v).hexdigest()[:12]}"
        except OSError as e:
            out[n] = "!" + ename(e.errno)
    return out


def _content(dirfd, name):
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
    except OSError as e:
        return "!" + ename(e.errno)
    h = hashlib.sha256()
    try:
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            h.update(b)
    except OSError as e:
        return "!" + ename(e.errno)
    finally:
        os.close(fd)
    return h.hexdigest()[:16]


def type_char(m):
    return {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l", stat.S_IFCHR: "c", stat.S_IFBLK: "b",
            stat.S_IFIFO: "p", stat.S_IFSOCK: "s"}.get(stat.S_IFMT(m), "?")


def snapshot(root, content=True, dir_nlink=False):
    """Everything comparable about a tree, walked by fd (paths may exceed PATH_MAX).

    {relpath: {field: value}}; also checks per entry that d_ino == st_ino and
    groups hard links by inode."""
    entries = {}
    by_ino = {}

    def walk(dirfd, rel):
        try:
            it = list(os.scandir(dirfd))
        except OSError as e:
            entries[rel + "/!readdir"] = {"err": ename(e.errno)}
            return
        names = [de.name for de in it]
        if len(names) != len(set(names)):
            entries[rel + "/!dups"] = {"dups": sorted(n for n in names if names.count(n) > 1)}
        for de in sorted(it, key=lambda d: d.name):
            path = f"{rel}/{de.name}" if rel else de.name
            try:
                st = os.lstat(de.name, dir_fd=dirfd)
            except OSError as e:
                entries[path] = {"err": ename(e.errno)}
                continue
            t = type_char(st.st_mode)
            e = {"type": t, "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid, "gid": st.st_gid}
            if de.inode() != st.st_ino:
                e["d_ino!=st_ino"] = True
            e["mtime"] = "fixture" if int(st.st_mtime) == FIXED_TIME else "changed"
            proc = f"/proc/self/fd/{dirfd}/{de.name}"
            e["xattrs"] = _xattrs(proc)
            if t != "d":
                e["nlink"] = st.st_nlink
                by_ino.setdefault(st.st_ino, []).append(path)
            elif dir_nlink:
                e["nlink"] = st.st_nlink
            if t == "f":
                e["size"] = st.st_size
                if content:
                    e["content"] = _content(dirfd, de.name)
            elif t == "l":
                e["target"] = os.readlink(de.name, dir_fd=dirfd)
                e["size"] = st.st_size
            elif t in "cb":
                e["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            entries[path] = e
            if t == "d":
                try:
                    fd = os.open(de.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dirfd)
                except OSError as err:
                    e["open"] = ename(err.errno)
                    continue
                try:
                    walk(fd, path)
                finally:
                    os.close(fd)

    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        st = os.fstat(fd)
        entries["."] = {"type": "d", "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid, "gid": st.st_gid,
                        "xattrs": _xattrs(f"/proc/self/fd/{fd}")}
        walk(fd, "")
    finally:
        os.close(fd)
    for ino, paths in by_ino.items():
        if len(paths) > 1:
            for p in paths:
                entries[p]["links"] = sorted(paths)
    return entries


def diff_snapshots(a, b, la="kernel", lb="isofs", limit=40, ignore=()):
    """Lines describing how b differs from a (empty when equal); fields in `ignore` are not compared."""
    out = []
    if ignore:
        a = {p: {k: v for k, v in e.items() if k not in ignore} for p, e in a.items()}
        b = {p: {k: v for k, v in e.items() if k not in ignore} for p, e in b.items()}
    for p in sorted(set(a) | set(b)):
        if p not in b:
            out.append(f"{p}: only in {la}: {a[p]}")
        elif p not in a:
            out.append(f"{p}: only in {lb}: {b[p]}")
        elif a[p] != b[p]:
            fields = sorted(set(a[p]) | set(b[p]))
            d = ", ".join(f"{f}: {a[p].get(f, '-')!r} vs {b[p].get(f, '-')!r}" for f in fields
                          if a[p].get(f) != b[p].get(f))
            out.append(f"{p}: {d}")
        if len(out) >= limit:
            out.append("…")
            break
    return out


def upper_listing(upper, mode):
    """The on-disk upper layer as overlay metadata: {relpath: description}."""
    out = {}
    px = xprefix(mode)
    for dirpath, dirnames, filenames in os.walk(upper):
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, upper)
            st = os.lstat(p)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out[rel] = "whiteout"
                continue
            d = type_char(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                try:
                    if os.getxattr(p, px + "opaque", follow_symlinks=False) == b"y":
                        d += " opaque"
                except OSError:
                    pass
                try:
                    d += " redirect=" + os.getxattr(p, px + "redirect", follow_symlinks=False).decode()
                except OSError:
                    pass
            out[rel] = d
    return out


def rm_tree(path):
    if not os.path.lexists(path):
        return
    subprocess.run(["chmod", "-R", "u+rwX", path], capture_output=True)
    subprocess.run(["rm", "-rf", "--one-file-system", path], capture_output=True)


# ---- the frame of a test script -------------------------------------------------------


@contextmanager
def scratch(prefix):
    """A temporary directory for one run (reachable by the test user); every mount and the directory go
    at the end, whatever happens."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    os.chmod(tmp, 0o755)
    try:
        yield tmp
    finally:
        cleanup_all()
        rm_tree(tmp)


def run_cases(argv, cases, scratch_prefix, describe=""):
    """The main of a script of cases `fn(tap, mode, base)`: --mode (root or rootless; rootless re-run as the test
    user), names on the command line pick cases, each in its own directory of one scratch dir.  Exit status."""
    mode, rest = parse_mode(argv[1:])
    if mode == "userns":
        sys.exit(f"{os.path.basename(argv[0])} runs in root or rootless mode")
    reexec_rootless(mode, [argv[0]] + rest)
    want = [a for a in rest if not a.startswith("-")]
    install_cleanup()
    tap = Tap()
    tap.diag(f"mode {mode}, uid {os.getuid()}, {describe or 'isofs-overlay ' + overlay_bin()}")
    with scratch(scratch_prefix) as tmp:
        for c in cases:
            if want and not any(w in c.__name__ for w in want):
                continue
            guarded(tap, c.__name__, c, tap, mode, tempfile.mkdtemp(prefix=c.__name__ + ".", dir=tmp))
    return tap.finish()


def guarded(tap, desc, fn, *args):
    """fn(*args): an exception fails `desc` (with its traceback) without ending the run; mounts go after."""
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - one broken case must not end the run
        tap.ok(False, f"{desc}: runs", f"{type(e).__name__}: {e}", *traceback.format_exc().splitlines()[-8:])
    finally:
        cleanup_all()
