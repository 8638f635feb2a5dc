#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
Long use of one isofs-overlay mount: what a short case never sees.

Each case mounts isofs-overlay over the standard fixture, drives it for
thousands of operations and looks at what a user can observe: the server's
open fds in /proc, the free space of the upper's file system.

    sudo /usr/bin/python3 tests/overlay/test_longuse.py [--mode root|rootless] [CASE…]
"""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ovlharness as H  # noqa: E402

MiB = 1 << 20


def server_fds(pid):
    """The server's fds as (fd, target), pipes left out (libfuse keeps a splice pipe per worker thread)."""
    out = []
    d = f"/proc/{pid}/fd"
    for n in os.listdir(d):
        try:
            t = os.readlink(f"{d}/{n}")
        except OSError:
            continue
        if not t.startswith("pipe:"):
            out.append((int(n), t))
    return sorted(out)


def deleted(fds):
    return [t for _, t in fds if t.endswith(" (deleted)")]


def settled_fds(pid, want):
    """The server's fds once the kernel's FORGETs of the last removed files are handled.

    The server keeps a removed file's fd until the kernel forgets its inode: a FORGET sent right after the
    unlink and handled by another thread.  Waits (up to 5 s) until `want(fds)` holds, then returns them."""
    deadline = time.monotonic() + 5
    while True:
        fds = server_fds(pid)
        if want(fds) or time.monotonic() > deadline:
            return fds
        time.sleep(0.01)


def create_cycles(root, n, size=2):
    data = b"x" * size
    for i in range(n):
        p = f"{root}/c{i % 64}"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
        with open(p, "rb") as f:
            f.read()
        os.unlink(p)


def case_fds_flat(tap, mode, base):
    """10,000 create/write/close/read/unlink cycles: the server's fd count does not grow."""
    layers = H.Layers(base, [f"{base}/L"])
    H.make_fixture(f"{base}/L", mode)
    with H.Watchdog(600, "fd count"), H.IsofsMount(layers, mode) as m:
        # one read of a lower file first: the kernel then knows OPEN is not implemented
        with open(m.p("file"), "rb") as f:
            f.read()
        create_cycles(m.p(""), 200)
        before = settled_fds(m.proc.pid, lambda fds: not deleted(fds))
        create_cycles(m.p(""), 10_000)
        after = settled_fds(m.proc.pid, lambda fds: len(fds) <= len(before) and not deleted(fds))
        tap.ok(len(after) <= len(before), f"{mode}: server fds before/after 10,000 creates: {len(before)}/{len(after)}",
               f"new fds: {sorted(set(after) - set(before))[:10]}")
        tap.ok(not deleted(after), f"{mode}: no removed file held open by the server", str(deleted(after)[:10]))


def case_space_back(tap, mode, base):
    """A removed file's space comes back at once (within moments), not at unmount."""
    if H.IS_ROOT:
        # a small file system of its own, so that space held by the server shows as ENOSPC
        os.makedirs(f"{base}/fs")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "isofs-test", f"{base}/fs"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            tap.skip(f"{mode}: space of removed files", f"tmpfs: {r.stderr.strip()}")
            return
        base = f"{base}/fs"
    elif os.access("/dev/shm", os.W_OK):
        # a tmpfs nobody else writes much to: the free space is not blurred by other work on the disk
        base = tempfile.mkdtemp(prefix="isofs-longuse.", dir="/dev/shm")
    try:
        layers = H.Layers(base, [f"{base}/L"])
        H.make_fixture(f"{base}/L", mode)
        size = 32 * MiB if H.IS_ROOT else 64 * MiB
        with H.Watchdog(600, "space"), H.IsofsMount(layers, mode) as m:
            with open(m.p("file"), "rb") as f:
                f.read()
            errors, short = [], []
            for rnd in range(4):
                free0 = os.statvfs(layers.upper).f_bavail * os.statvfs(layers.upper).f_frsize
                try:
                    with open(m.p("big"), "wb") as f:
                        for _ in range(size // MiB):
                            f.write(b"\1" * MiB)
                    os.unlink(m.p("big"))
                except OSError as e:
                    errors.append(f"round {rnd}: {H.ename(e.errno)}")
                    break
                # As in settled_fds(): the space comes back when the kernel's FORGET is handled.
                deadline = time.monotonic() + 5
                while True:
                    st = os.statvfs(layers.upper)
                    free1 = st.f_bavail * st.f_frsize
                    if free1 >= free0 - size // 2 or time.monotonic() > deadline:
                        break
                    time.sleep(0.005)
                if free1 < free0 - size // 2:
                    short.append(f"round {rnd}: {(free0 - free1) // MiB} MiB not given back")
            tap.ok(not errors, f"{mode}: 4 rounds of write {size // MiB} MiB + rm on a "
                   f"{'48 MiB tmpfs' if H.IS_ROOT else base}", *errors)
            tap.ok(not short, f"{mode}: the space of each removed file is free again at once", *short)
            tap.ok(not deleted(settled_fds(m.proc.pid, lambda fds: not deleted(fds))),
                   f"{mode}: no removed file held open by the server")
    finally:
        if H.IS_ROOT:
            subprocess.run(["umount", "-l", base], capture_output=True)
        elif base.startswith("/dev/shm/"):
            H.rm_tree(base)


CASES = [case_fds_flat, case_space_back]


def main(argv):
    mode, rest = H.parse_mode(argv[1:])
    if mode == "userns":
        sys.exit("test_longuse.py runs in root or rootless mode")
    H.reexec_rootless(mode, [argv[0]] + rest)
    want = [a for a in rest if not a.startswith("-")]
    H.install_cleanup()
    tap = H.Tap()
    tap.diag(f"mode {mode}, uid {os.getuid()}, isofs-overlay {H.overlay_bin()}")
    with H.scratch("isofs-ovl-long.") as tmp:
        for c in CASES:
            if want and not any(w in c.__name__ for w in want):
                continue
            H.guarded(tap, c.__name__, c, tap, mode, tempfile.mkdtemp(prefix=c.__name__ + ".", dir=tmp))
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
