#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
FUSE passthrough (-o passthrough=1): the kernel reads and writes open upper files itself.

Needs an isofs-overlay built against libfuse >= 3.16 (tests/run builds one against Debian's
libfuse 3.17 source when it can fetch it) and Linux >= 6.9; skipped otherwise.  Each case runs
the same steps on kernel overlayfs and compares what a user sees, and counts the WRITE and READ
requests the server received (its -d log): none for upper files when passthrough is on, some
with it off (so the count can fail).  Rootless, the option is accepted and the server serves
every read and write itself (registering a backing file needs root of the initial namespace).

    sudo /usr/bin/python3 tests/overlay/test_passthrough.py [--mode root|rootless] [CASE…]
"""

import mmap
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ovlharness as H  # noqa: E402

MiB = 1 << 20


class DebugMount(H.IsofsMount):
    """isofs-overlay -d: every request in the log, to count them."""

    def command(self, extra_opts):
        return super().command(extra_opts) + ["-d"]

    def count(self, opcode):
        self.log.flush()
        self.log.seek(0)
        return len(re.findall(rf"opcode: {opcode} ", self.log.read()))

    def passthrough_state(self):
        self.log.flush()
        self.log.seek(0)
        lines = re.findall(r"isofs-overlay: passthrough (?:on|off).*", self.log.read())
        return "; ".join(lines) if lines else "no passthrough line in the log"


def built_with_passthrough():
    out = subprocess.run([H.overlay_bin(), "--version"], capture_output=True, text=True).stdout
    return "passthrough: built" in out, out.strip().replace("\n", ", ")


def upper_io(root):
    """Writes and reads of upper files: a new one (write, fsync, read back, mmap), a lower one
    copied up by an open for writing, an append.  Returns what a user reads back."""
    data = bytes(range(256)) * (4 * MiB // 256)
    fd = os.open(f"{root}/new", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    for off in range(0, len(data), 64 * 1024):
        os.pwrite(fd, data[off:off + 64 * 1024], off)
    os.fsync(fd)
    os.close(fd)
    with open(f"{root}/new", "rb") as f:
        got = [f.read()]
    fd = os.open(f"{root}/new", os.O_RDWR)
    with mmap.mmap(fd, 8192) as mm:
        mm[100:105] = b"MMAP!"
        mm.flush()
    os.close(fd)
    with open(f"{root}/new", "rb") as f:
        got.append(f.read(8192))
    fd = os.open(f"{root}/big", os.O_RDWR)  # a lower file: copied up by this open
    os.pwrite(fd, b"written over", 1000)
    got.append(os.pread(fd, 4096, 0))
    os.close(fd)
    with open(f"{root}/file", "a") as f:
        f.write("appended\n")
    with open(f"{root}/file", "rb") as f:
        got.append(f.read())
    os.truncate(f"{root}/new", 10)
    with open(f"{root}/new", "rb") as f:
        got.append(f.read())
    return got


def case_upper_io(tap, mode, base):
    """Upper files' reads and writes: the same bytes as kernel overlayfs; no WRITE/READ request
    reaches the server with passthrough (root), every one does without it."""
    H.make_fixture(f"{base}/L", mode)
    want = None
    with H.Watchdog(120, "kernel"), H.KernelMount(H.Layers.clone([f"{base}/L"], f"{base}/k"), mode) as k:
        want = upper_io(k.p(""))
    results = {}
    for pt in ("1", "0"):
        layers = H.Layers.clone([f"{base}/L"], f"{base}/i{pt}")
        with H.Watchdog(120, f"passthrough={pt}"), DebugMount(layers, mode, extra_opts=f"passthrough={pt}") as m:
            got = upper_io(m.p(""))
            results[pt] = (got == want, m.count("WRITE"), m.count("READ"), m.passthrough_state())
    same1, writes1, reads1, state1 = results["1"]
    same0, writes0, reads0, _ = results["0"]
    tap.ok(same1 and same0, f"{mode}: with passthrough on and off, upper files read back as on kernel overlayfs")
    if mode == "root" and ("does not offer" in state1 or "refused" in state1):
        # a kernel without it, or an upper on a stacked file system (a CI inside a container)
        tap.skip(f"{mode}: passthrough=1: the kernel did the I/O itself", state1)
    elif mode == "root":
        tap.ok(writes1 == 0 and reads1 == 0 and "passthrough on" in state1 and "passthrough off" not in state1,
               f"{mode}: passthrough=1: the kernel wrote and read the upper files itself "
               f"({writes1} WRITE, {reads1} READ requests; {state1})")
    else:
        tap.ok(writes1 > 0 and "passthrough off" in state1,
               f"{mode}: passthrough=1 rootless: served by the daemon ({writes1} WRITE requests; {state1})")
    tap.ok(writes0 > 0 and reads0 > 0,
           f"{mode}: passthrough=0: the server received {writes0} WRITE and {reads0} READ requests")


def mixed_opens(root):
    """A lower file held open read-only while another open copies it up and writes: the read-only
    fd sees the write (it follows the copy-up); later opens, the first ones held, then new ones."""
    out = []
    ro = os.open(f"{root}/file", os.O_RDONLY)
    rw = os.open(f"{root}/file", os.O_RDWR)  # copy-up, while ro is open in the lower layer
    os.pwrite(rw, b"HE", 0)
    out.append(os.pread(ro, 100, 0))
    rw2 = os.open(f"{root}/file", os.O_RDWR)  # the node still has opens served by the daemon
    os.pwrite(rw2, b"L", 2)
    out.append(os.pread(ro, 100, 0))
    for fd in (ro, rw, rw2):
        os.close(fd)
    a = os.open(f"{root}/file", os.O_RDWR)  # all closed: a new mode may begin
    b = os.open(f"{root}/file", os.O_RDONLY)
    os.pwrite(a, b"hello again\n", 0)
    out.append(os.pread(b, 100, 0))
    os.close(a)
    os.close(b)
    return out


def case_mixed_opens(tap, mode, base):
    """Opens of one file in the lower layer, across its copy-up and after: no open fails, every fd
    reads what the kernel's overlay shows."""
    H.make_fixture(f"{base}/L", mode)
    with H.Watchdog(120, "kernel"), H.KernelMount(H.Layers.clone([f"{base}/L"], f"{base}/k"), mode) as k:
        want = H.attempt(mixed_opens, k.p(""))
    layers = H.Layers.clone([f"{base}/L"], f"{base}/i")
    with H.Watchdog(120, "isofs"), DebugMount(layers, mode, extra_opts="passthrough=1") as m:
        got = H.attempt(mixed_opens, m.p(""))
    tap.ok(got == want, f"{mode}: a read-only fd held across a copy-up and later opens read as on kernel overlayfs",
           f"isofs {got!r}", f"kernel {want!r}")


CASES = [case_upper_io, case_mixed_opens]


def main(argv):
    built, version = built_with_passthrough()
    if not built:
        print(f"1..0 # SKIP isofs-overlay built without passthrough ({version})")
        return 0
    return H.run_cases(argv, CASES, "isofs-ovl-pt.", version)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
