#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
Several workers on one view at once, against kernel overlayfs.

Each worker owns a subtree (wN/, a copy of the fixture in the lower layer)
and applies its own seeded random operations (test_random.py's) to both
mounts, op by op, comparing each outcome: results stay deterministic while
the server serves all workers concurrently; then hard-linked lower files are
copied up while another client looks them up.  Run against a ThreadSanitizer
build of isofs-overlay (tests/run does), a data race in the server fails the
run: the server exits non-zero at unmount.

    sudo /usr/bin/python3 tests/overlay/test_stress.py [--mode root|rootless] [--workers N] [--ops N]
"""

import os
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ovlharness as H  # noqa: E402
import test_random as R  # noqa: E402


class Subtree:
    """A mount seen from one worker's subtree."""

    def __init__(self, m, sub):
        self.m = m
        self.sub = sub

    def p(self, rel=""):
        return self.m.p(f"{self.sub}/{rel}" if rel else self.sub)


def worker(idx, seed, nops, mode, mk, mi, results):
    import random

    rng = random.Random(seed)
    rk, ri = R.Runner(Subtree(mk, f"w{idx}")), R.Runner(Subtree(mi, f"w{idx}"))
    failed = None
    try:
        for i in range(nops):
            op = R.gen_op(rng)
            ko = R.outcome(rk, op)
            io = R.outcome(ri, op)
            if ko != io:
                why = R.documented(mode, op, ko, io)
                if why is None:
                    failed = f"worker {idx} (seed {seed}): op #{i} {R.short(op)}: kernel {ko!r:.300} / isofs {io!r:.300}"
                    break
                if (ko[0] == "err" and io[0] == "ok") or why == R.OPEN_FOR_WRITE:
                    R.undo_isofs(ri, op)
    except Exception as e:  # noqa: BLE001 - reported as the worker's failure
        failed = f"worker {idx}: {type(e).__name__}: {e}: {traceback.format_exc().splitlines()[-3:]}"
    finally:
        rk.close_all()
        ri.close_all()
    results[idx] = failed


def run(tap, mode, nworkers, nops, tmp):
    fmode = "root" if mode == "root" else "rootless"
    tpl = f"{tmp}/tpl/L"
    for w in range(nworkers):
        H.make_fixture(f"{tpl}/w{w}", fmode)
    lk = H.Layers.clone([tpl], f"{tmp}/k")
    li = H.Layers.clone([tpl], f"{tmp}/i")
    with H.Watchdog(1500, "stress"):
        mk = H.mount("kernel", lk, mode)
        mi = H.mount("isofs", li, mode)
        results = [None] * nworkers
        threads = [threading.Thread(target=worker, args=(w, 1000 + w, nops, mode, mk, mi, results))
                   for w in range(nworkers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for w, failed in enumerate(results):
            tap.ok(failed is None, f"worker {w}: {nops} ops, each outcome as the kernel's", failed or "")
        ignore = ("links",) if mode != "root" else ()
        d = H.diff_snapshots(H.snapshot(mk.p("")), H.snapshot(mi.p("")), ignore=ignore)
        tap.ok(not d, f"{nworkers} workers at once: the same tree as the kernel's", *d)
        mk.umount()
        # a server that saw a data race (ThreadSanitizer) or crashed exits non-zero here
        try:
            mi.umount()
            tap.ok(True, "isofs-overlay exits cleanly")
        except RuntimeError as e:
            tap.ok(False, "isofs-overlay exits cleanly", str(e))


def run_hardlinks(tap, mode, tmp, npairs=200):
    """Hard-linked lower files copied up (each becomes a file of its own, with a new st_ino) while another
    client looks the name up, nothing cached by the kernel (timeout=0): what a copy-up changes (layer,
    inode number) is read by a concurrent lookup, and the ThreadSanitizer build must see no race in it.
    The files are large enough that the lookup often falls inside the copy-up."""
    import random
    L = f"{tmp}/hl/L"
    os.makedirs(L)
    data = b"lower\n" * (512 * 1024 // 6)
    for i in range(npairs):
        with open(f"{L}/a{i}", "wb") as f:
            f.write(data)
        os.link(f"{L}/a{i}", f"{L}/b{i}")
    layers = H.Layers(f"{tmp}/hl", [L])
    opts = ",".join(o for o in (os.environ.get("ISOFS_OVERLAY_OPTS", ""), "timeout=0") if o)
    with H.Watchdog(600, "stress hard links"):
        m = H.IsofsMount(layers, mode, extra_opts=opts)
        bad, rng = [], random.Random(7)

        def statter(i, delay):
            time.sleep(delay)
            try:
                os.stat(m.p(f"a{i}"))  # one request alone: no other one orders it with the copy-up for TSan
            except OSError as e:
                bad.append(f"stat #{i}: {H.ename(e.errno)}")

        for i in range(npairs):
            t = threading.Thread(target=statter, args=(i, rng.random() * 0.002))
            t.start()
            with open(m.p(f"a{i}"), "ab") as f:  # the copy-up splits a{i} from b{i}
                f.write(b"upper\n")
            t.join()
            a, b = os.stat(m.p(f"a{i}")), os.stat(m.p(f"b{i}"))
            if a.st_ino == b.st_ino or a.st_nlink != 1 or b.st_size != len(data):
                bad.append(f"pair {i}: st_ino {a.st_ino}/{b.st_ino}, nlink {a.st_nlink}, size of b {b.st_size}")
            if bad:
                break
        tap.ok(not bad, f"{npairs} hard-linked lower files copied up under lookups: each copy its own file, "
               "the other name untouched", *bad[:5])
        try:
            m.umount()
            tap.ok(True, "isofs-overlay exits cleanly (hard links)")
        except RuntimeError as e:
            tap.ok(False, "isofs-overlay exits cleanly (hard links)", str(e))


def main(argv):
    mode, rest = H.parse_mode(argv[1:])
    if mode == "userns":
        sys.exit("test_stress.py runs in root or rootless mode")
    H.reexec_rootless(mode, [argv[0]] + rest)
    nworkers = int(os.environ.get("OVL_WORKERS", "4"))
    nops = int(os.environ.get("OVL_OPS", "1500"))
    it = iter(rest)
    for a in it:
        if a == "--workers":
            nworkers = int(next(it))
        elif a == "--ops":
            nops = int(next(it))
        else:
            sys.exit(f"unknown argument {a!r}")
    H.install_cleanup()
    tap = H.Tap()
    tap.diag(f"mode {mode}, uid {os.getuid()}, {nworkers} workers x {nops} ops, isofs-overlay {H.overlay_bin()}")
    with H.scratch("isofs-ovl-stress.") as tmp:
        why = H.probe(mode, tmp)
        if why:
            print(f"1..0 # SKIP {why}", flush=True)
            return 0
        H.guarded(tap, "stress", run, tap, mode, nworkers, nops, tmp)
        H.guarded(tap, "stress hard links", run_hardlinks, tap, mode, tmp)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
