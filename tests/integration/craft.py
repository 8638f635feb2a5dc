#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes crafted tar archives for the isofs integration tests (stdlib only).

    craft.py KIND OUT [--target PATH] [--count N] [--size BYTES]
    craft.py --list

OUT is a file name or - (stdout).  Archives are uncompressed PAX tars; the
tests compress them with the command-line tools when they need to.

--target is the absolute path a hostile archive tries to reach (a file for
the escape kinds, a directory for dir-then-symlink and the ovl-* kinds).  The
tests always point it at a file inside their own temporary directory, so that
a vulnerable isofs damages nothing and the test can see the damage.

--base TAR copies every entry of TAR first (an exported busybox image, so that
`isofs run` finds a shell in the crafted image).

The ovl-* kinds carry layer metadata, the xattrs the overlay reads to merge
layers (trusted.overlay.*, user.overlay.*) and isofs's own (user.isofs.*): an
import drops every one of them and counts it.  Each docstring ends with that
count, "[N]".
"""

import base64
import urllib.parse

import argparse
import io
import os
import sys
import tarfile

MTIME = 1600000000  # 2020-09-13T12:26:40Z: every crafted entry, unless stated
UID = 0
GID = 0


def _info(name, kind=tarfile.REGTYPE, mode=0o644, uid=UID, gid=GID, mtime=MTIME, pax=None):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.uid = uid
    ti.gid = gid
    ti.uname = ""
    ti.gname = ""
    ti.mtime = mtime
    if pax:
        ti.pax_headers = dict(pax)
    return ti


class Writer:
    def __init__(self, tar):
        self.tar = tar

    def file(self, name, data=b"", mode=0o644, **kw):
        if isinstance(data, str):
            data = data.encode()
        ti = _info(name, tarfile.REGTYPE, mode, **kw)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))

    def dir(self, name, mode=0o755, **kw):
        self.tar.addfile(_info(name, tarfile.DIRTYPE, mode, **kw))

    def symlink(self, name, target, **kw):
        ti = _info(name, tarfile.SYMTYPE, 0o777, **kw)
        ti.linkname = target
        self.tar.addfile(ti)

    def hardlink(self, name, target, **kw):
        ti = _info(name, tarfile.LNKTYPE, 0o644, **kw)
        ti.linkname = target
        self.tar.addfile(ti)

    def fifo(self, name, mode=0o644, **kw):
        self.tar.addfile(_info(name, tarfile.FIFOTYPE, mode, **kw))

    def dev(self, name, kind, major, minor, mode=0o600, **kw):
        ti = _info(name, kind, mode, **kw)
        ti.devmajor = major
        ti.devminor = minor
        self.tar.addfile(ti)


# ---- archives an import must refuse ---------------------------------------------


def k_dotdot(w, a):
    """'../escaped-dotdot' after a good entry"""
    w.file("ok.txt", "fine\n")
    w.file("../escaped-dotdot", "pwned\n")


def k_dotdot_nested(w, a):
    """'a/../../escaped-dotdot': a '..' that climbs out after a real directory"""
    w.dir("a")
    w.file("a/ok.txt", "fine\n")
    w.file("a/../../escaped-dotdot", "pwned\n")


def k_absolute(w, a):
    """an absolute entry path (--target)"""
    w.file("ok.txt", "fine\n")
    w.file(a.target, "pwned\n")


def k_symlink_escape(w, a):
    """'x -> /' then 'x/<target>' (--target, default etc/passwd)"""
    w.file("ok.txt", "fine\n")
    w.symlink("x", "/")
    w.file("x/" + a.target.lstrip("/"), "pwned\n")


def k_symlink_escape_relative(w, a):
    """'x -> ../../..' then 'x/escaped-relative'"""
    w.file("ok.txt", "fine\n")
    w.symlink("x", "../../..")
    w.file("x/escaped-relative", "pwned\n")


def k_symlink_escape_deep(w, a):
    """'d/x -> ../../../../(x40)' (climbs to /) then 'd/x/<target>'"""
    w.dir("d")
    w.symlink("d/x", "../" * 40)
    w.file("d/x/" + a.target.lstrip("/"), "pwned\n")


def k_symlink_escape_dir(w, a):
    """'x -> /' then the directory 'x/<target>/' (mkdir through the link)"""
    w.symlink("x", "/")
    w.dir("x/" + a.target.lstrip("/") + ".d")


def k_dir_replaced_by_symlink(w, a):
    """'d/' and 'd/f', then 'd -> /' replaces the directory, then 'd/<target>'"""
    w.dir("d")
    w.file("d/f", "fine\n")
    w.symlink("d", "/")
    w.file("d/" + a.target.lstrip("/"), "pwned\n")


def k_hardlink_outside(w, a):
    """hard link 'h' to '../../etc/passwd'"""
    w.file("ok.txt", "fine\n")
    w.hardlink("h", "../../etc/passwd")


def k_hardlink_absolute(w, a):
    """hard link 'h' to an absolute path (--target)"""
    w.file("ok.txt", "fine\n")
    w.hardlink("h", a.target)


def k_hardlink_missing(w, a):
    """hard link 'h' to 'not/in/archive'"""
    w.file("ok.txt", "fine\n")
    w.hardlink("h", "not/in/archive")


def k_hardlink_via_symlink(w, a):
    """'x -> dirname(target)' then a hard link 'h' to 'x/basename(target)'"""
    w.file("ok.txt", "fine\n")
    w.symlink("x", os.path.dirname(a.target))
    w.hardlink("h", "x/" + os.path.basename(a.target))


def k_hardlink_to_dir(w, a):
    """a hard link to a directory of the archive"""
    w.dir("d")
    w.hardlink("h", "d")


def k_root_not_dir(w, a):
    """'.' as a regular file"""
    w.file(".", "not a directory\n")


def k_no_entries(w, a):
    """a valid tar with no entries (only the end-of-archive blocks)"""


# ---- archives an import must take ---------------------------------------------------


def k_pax_xattrs(w, a):
    """SCHILY.xattr.user.* on files and a directory; a forged user.isofs.owner"""
    w.dir("xd", pax={"SCHILY.xattr.user.dirattr": "on a directory"})
    w.file("xd/f", "x\n", pax={"SCHILY.xattr.user.foo": "bar",
                              "SCHILY.xattr.user.spaces": "a value = with spaces",
                              "SCHILY.xattr.user.unicode": "ünïcødé ✓",
                              "SCHILY.xattr.user.long": "L" * 2000})
    w.file("xd/g", "y\n", pax={"SCHILY.xattr.user.other": "1"})
    w.file("plain", "no xattrs\n")
    # An archive must not set the owner isofs records: it is isofs's to write.
    w.file("forged", "z\n", uid=1234, gid=5678, pax={"SCHILY.xattr.user.isofs.owner": "0:0",
                                                     "SCHILY.xattr.user.kept": "yes"})


def k_xattr_readonly(w, a):
    """user.* xattrs on entries without owner-write permission (0444 and 0400 files, in a 0555 directory)"""
    w.file("ro", "r\n", mode=0o444, pax={"SCHILY.xattr.user.foo": "ro"})
    w.file("r400", "r\n", mode=0o400, pax={"SCHILY.xattr.user.foo": "r400"})
    w.dir("rodir", mode=0o555, pax={"SCHILY.xattr.user.foo": "rodir"})
    w.file("rodir/inner", "i\n", mode=0o444, pax={"SCHILY.xattr.user.foo": "inner"})


def k_xattr_trusted(w, a):
    """a trusted.* xattr (root only) next to a user.* one"""
    w.file("priv", "p\n", pax={"SCHILY.xattr.trusted.t": "tt", "SCHILY.xattr.user.u": "uu"})


def k_acl(w, a):
    """a POSIX access ACL (isofs does not restore ACLs: it counts them)"""
    w.file("withacl", "a\n", mode=0o640,
           pax={"SCHILY.acl.access": "user::rw-,user:1234:r--,group::r--,mask::r--,other::---"})


def k_special_modes(w, a):
    """setuid, setgid, sticky and odd permission bits on files and directories"""
    w.dir("modes")
    w.file("modes/suid", "s\n", mode=0o4755)
    w.file("modes/sgid", "g\n", mode=0o2755)
    w.file("modes/suidsgid", "b\n", mode=0o6755)
    w.file("modes/sticky-file", "t\n", mode=0o1644)
    w.file("modes/all", "a\n", mode=0o7777)
    w.file("modes/none", "n\n", mode=0o000)
    w.file("modes/wonly", "w\n", mode=0o200)
    w.dir("modes/tmp", mode=0o1777)
    w.dir("modes/sgiddir", mode=0o2775)
    w.dir("modes/ro", mode=0o555)
    w.file("modes/ro/inside", "i\n", mode=0o444)
    w.dir("modes/xonly", mode=0o711)
    w.file("modes/xonly/inside", "i\n")
    w.dir("modes/closed", mode=0o000)
    w.file("modes/closed/inside", "i\n")


def k_long_names(w, a):
    """paths over 100 and 255 bytes, a 255-byte component, long symlink and hard link targets"""
    comp = "c" * 100
    deep = "/".join([comp] * 5)  # 504 bytes
    w.dir("long")
    w.file("long/" + "n" * 255, "255\n")
    w.file("long/" + deep + "/file-at-the-bottom", "deep\n")
    w.symlink("long/link", deep + "/file-at-the-bottom")
    w.hardlink("long/" + "h" * 200, "long/" + deep + "/file-at-the-bottom")
    w.file("long/" + "u" * 40 + "-ünïcødé-" + "名" * 20, "unicode\n")


def k_duplicates(w, a):
    """the same path twice, the later entry wins: file/file, file->dir, symlink->file, dir/dir"""
    w.file("dup", "first\n", mode=0o600)
    w.file("dup", "second\n", mode=0o640)
    w.file("was-file", "f\n")
    w.dir("was-file", mode=0o750)
    w.file("was-file/child", "c\n")
    w.symlink("was-link", "/")
    w.file("was-link", "now a file\n")
    w.dir("dir-twice", mode=0o700)
    w.file("dir-twice/kept", "kept\n")
    w.dir("dir-twice", mode=0o755)


def k_dir_to_file(w, a):
    """a directory (with a child) and then a regular file of the same name: the file wins"""
    w.dir("was-dir")
    w.file("was-dir/child", "c\n")
    w.file("was-dir", "now a file\n")
    w.file("after", "after\n")


def k_owners(w, a):
    """entries owned by various uids/gids (a pax uid over 2^21 among them)"""
    w.dir("owners", uid=0, gid=0)
    w.file("owners/root", "r\n", uid=0, gid=0)
    w.file("owners/user", "u\n", uid=1234, gid=5678)
    w.file("owners/rootgroup", "g\n", uid=0, gid=42)
    w.file("owners/big", "b\n", uid=3000000, gid=3000001)
    w.dir("owners/nobody", uid=65534, gid=65534)
    w.fifo("owners/fifo", uid=1234, gid=1234)
    w.symlink("owners/link", "user", uid=1234, gid=1234)
    w.hardlink("owners/user-link", "owners/user", uid=1234, gid=5678)


def k_devices(w, a):
    """a char device (1,3), a block device (7,0) and a fifo"""
    w.dir("dev")
    w.dev("dev/null", tarfile.CHRTYPE, 1, 3, mode=0o666)
    w.dev("dev/loop0", tarfile.BLKTYPE, 7, 0, mode=0o660)
    w.fifo("dev/fifo", mode=0o620)
    w.file("dev/regular", "r\n")


def k_mtime_ns(w, a):
    """pax mtimes with nanoseconds, at the epoch and after 2038, on each type"""
    w.dir("t", pax={"mtime": "1500000000.5"})
    w.file("t/ns", "n\n", pax={"mtime": "1234567890.123456789"})
    w.file("t/y2100", "y\n", pax={"mtime": "4102444800.000000001"})
    w.file("t/zero", "z\n", mtime=0)
    w.symlink("t/link", "ns", pax={"mtime": "1111111111.222222222"})
    w.fifo("t/fifo", pax={"mtime": "1222222222.333333333"})


def k_symlink_safe(w, a):
    """hostile-looking links that are fine: kept as they are, never followed"""
    w.symlink("to-root", "/")
    w.symlink("up", "../../../etc/passwd")
    w.symlink("victim-link", a.target)
    w.symlink("replaced", a.target)
    w.file("replaced", "a file now\n")
    w.hardlink("link-to-link", "victim-link")


def k_dir_then_symlink(w, a):
    """'d/' (mode 0777) then 'd -> <target dir>': the deferred chmod must not follow the link"""
    w.dir("d", mode=0o777)
    w.file("d/f", "f\n")
    w.symlink("d", a.target)


# ---- layer metadata an import must drop (the overlay would follow it) ---------------


def _ovl(names, value, ns=("trusted", "user")):
    """SCHILY.xattr headers for <ns>.overlay.<name> = value, for each name and namespace"""
    return {"SCHILY.xattr.%s.overlay.%s" % (n, name): value for name in names for n in ns}


def _escape(target):
    """a redirect climbing from a layer's root to the real / and down to target"""
    return "/" + "../" * 8 + target.lstrip("/")


def k_ovl_redirect_absolute(w, a):
    """'abs/' and the root redirected to /../../../../../../../../<target> (trusted and user) [4]"""
    w.dir(".", pax=_ovl(["redirect"], _escape(a.target)))
    w.dir("abs", pax=_ovl(["redirect"], _escape(a.target)))
    w.file("abs/own", "the image's own file\n")


def k_ovl_redirect_relative(w, a):
    """'up1/' redirect '..', 'up2/' '../..', 'uplong/' '../'x16 + <target> (trusted and user) [6]"""
    w.dir("up1", pax=_ovl(["redirect"], ".."))
    w.dir("up2", pax=_ovl(["redirect"], "../.."))
    w.dir("uplong", pax=_ovl(["redirect"], "../" * 16 + a.target.lstrip("/")))


def k_ovl_redirect_chain(w, a):
    """'c/c/…/c/' 12 levels, each redirected to '..' (trusted and user): a chain climbing to / [24]"""
    path = ""
    for _ in range(12):
        path += "c/"
        w.dir(path, pax=_ovl(["redirect"], ".."))


def k_ovl_redirect_symlink(w, a):
    """'lnk -> <target>', 'lnk2 -> ../'x40; 'via/' redirect '/lnk/etc', 'via2/' '/lnk2/<target>/etc' [4]"""
    w.symlink("lnk", a.target)
    w.symlink("lnk2", "../" * 40)
    w.dir("via", pax=_ovl(["redirect"], "/lnk/etc"))
    w.dir("via2", pax=_ovl(["redirect"], "/lnk2/" + a.target.lstrip("/") + "/etc"))


def k_ovl_metadata(w, a):
    """opaque, origin, metacopy (+ a redirect to <target>/etc/shadow), impure, whiteout(s), isofs marks, a forged user.isofs.owner [17]"""
    w.dir("opq", pax=_ovl(["opaque"], "y"))
    w.file("opq/inside", "inside an opaque directory\n")
    origin = {"SCHILY.xattr.user.overlay.isofs.origin": "1:2"}
    origin.update(_ovl(["origin"], "a file handle of the canary"))
    w.dir("orig", pax=origin)
    meta = _ovl(["metacopy"], "")
    meta.update(_ovl(["redirect"], _escape(a.target) + "/etc/shadow"))
    w.file("meta", "", pax=meta)
    marks = {"SCHILY.xattr.user.isofs.origin": "1:2", "SCHILY.xattr.user.isofs.impure": "y",
             "SCHILY.xattr.trusted.overlay.impure": "y"}
    w.dir("marks", pax=marks)
    w.file("marks/forged", "forged\n", uid=1234, gid=5678, pax={"SCHILY.xattr.user.isofs.owner": "0:0"})
    w.file("wh", "", pax=_ovl(["whiteout"], "y"))
    w.dir("whdir", pax=_ovl(["whiteouts"], "y"))
    # '.wh.' names mean nothing to an import (yet): plain files
    w.file(".wh.hidden", "a plain file\n")
    w.file("whdir/.wh..wh..opq", "a plain file too\n")


def k_ovl_libarchive_xattr(w, a):
    """LIBARCHIVE.xattr.* (URL-encoded names, base64 values) redirects, one also as SCHILY.xattr [4]"""
    def la(name, value):
        return {"LIBARCHIVE.xattr." + urllib.parse.quote(name, safe=""):
                base64.b64encode(value.encode()).decode()}
    p = la("trusted.overlay.redirect", _escape(a.target))
    p.update(la("user.overlay.redirect", _escape(a.target)))
    w.dir("la", pax=p)
    p = la("user.overlay.redirect", _escape(a.target))
    p["SCHILY.xattr.user.overlay.redirect"] = _escape(a.target)
    w.dir("both", pax=p)
    w.dir("enc", pax={"LIBARCHIVE.xattr.user%2Eoverlay%2Eopaque": base64.b64encode(b"y").decode()})


def k_ovl_neighbours(w, a):
    """not layer metadata, next to it: security.capability, an ACL, user.overlayfoo, user.keep, an escaped user.overlay.overlay.mine [1]"""
    cap = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # cap_net_raw=ep
    w.file("capfile", "c\n", mode=0o755, pax={"SCHILY.xattr.security.capability": cap.decode("latin-1"),
                                              "SCHILY.xattr.user.overlay.redirect": _escape(a.target)})
    w.file("aclfile", "a\n", mode=0o640,
           pax={"SCHILY.acl.access": "user::rw-,user:1234:r--,group::r--,mask::r--,other::---",
                "SCHILY.xattr.user.overlayfoo": "not the overlay's", "SCHILY.xattr.user.keep": "kept",
                # a user's user.overlay.mine as a view stores it and export writes it
                "SCHILY.xattr.user.overlay.overlay.mine": "escaped"})


def k_many(w, a):
    """--count small files (default 2000) in 20 directories, --size bytes each"""
    data = b"m" * a.size
    for i in range(a.count):
        if i % 100 == 0:
            w.dir("many/d%03d" % (i // 100))
        w.file("many/d%03d/f%05d" % (i // 100, i), data)


KINDS = {name[2:].replace("_", "-"): fn for name, fn in sorted(globals().items()) if name.startswith("k_")}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", nargs="?")
    p.add_argument("out", nargs="?")
    p.add_argument("--target", default="/etc/passwd")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--list", action="store_true")
    p.add_argument("--base", help="a tar whose entries are copied first")
    a = p.parse_args()
    if a.list:
        for k, fn in KINDS.items():
            print("%-26s %s" % (k, fn.__doc__))
        return 0
    if a.kind not in KINDS or not a.out:
        p.error("need KIND OUT; KIND is one of: " + ", ".join(KINDS))
    if not a.target.startswith("/"):
        p.error("--target must be absolute")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
        if a.base:
            with tarfile.open(a.base) as base:
                for m in base:
                    tar.addfile(m, base.extractfile(m) if m.isreg() else None)
        KINDS[a.kind](Writer(tar), a)
    if a.out == "-":
        sys.stdout.buffer.write(buf.getvalue())
    else:
        with open(a.out, "wb") as f:
            f.write(buf.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
