#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes OCI image layouts for the isofs tests (stdlib only; no network).

    oci_image.py OUTDIR [--busybox PATH] [--ref NAME]... [--compress gzip|none]
                        [--bad KIND] [--list-bad] [--platform OS/ARCH[/VARIANT]]
                        [--multi-platform]

OUTDIR becomes an OCI image layout (oci-layout, index.json, blobs/sha256/…)
of one multi-layer image, the same bytes every run:

  layer 1  a busybox root (bin/busybox and its applet links, etc/passwd,
           etc/group) and data/: keep, gone, dir/{a,b}, opq/{x,y}, a hard
           link data/keep-link, a symlink data/sym -> keep;
  layer 2  deletions: data/.wh.gone, data/.wh.dir (a whole directory),
           data/opq/.wh..wh..opq with data/opq/z (opaque: x, y gone), a new
           data/new, data/keep rewritten;
  layer 3  data/dir again (only c: the old a, b must not come back), a
           setuid file owned 1000:1000, home/user owned 1000:1000.

The config: Env PATH and GREETING=hello, Entrypoint ["/bin/sh", "-c"], Cmd
a line printing "$GREETING from $(pwd) as $(id -u):$(id -g)", WorkingDir
/data, User 1000:1000.  With several --ref, index.json lists the same
manifest once per name (a multi-image layout).

--platform sets the config's os, architecture (and variant) and adds
data/platform (that string) to layer 3.  --multi-platform writes two such
images, linux/amd64 and linux/arm64, and an image index listing both (each
with its platform); index.json names that index.

--bad KIND writes a hostile or broken variant (--list-bad lists them); the
importer must refuse it with a one-line error and store nothing.  --target is
the absolute path the escape kinds try to reach (the tests point it at a file
of their own temporary directory).
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

MTIME = 1600000000
APPLETS = ["sh", "ls", "cat", "echo", "id", "pwd", "test", "stat", "env", "true", "false", "mkdir",
           "rm", "touch", "find", "sort", "readlink", "wc", "head", "sleep"]

BAD = {
    "escape-dotdot": "a layer entry ../../…/TARGET (--target: an absolute path)",
    "escape-symlink": "a layer with a symlink to TARGET's directory and then TARGET's name beneath it",
    "blob-symlink": "the config blob a symlink to TARGET (which the test fills with the config's bytes)",
    "overlay-xattr": "a layer entry carrying trusted.overlay.redirect and user.overlay.opaque",
    "layer-digest": "a layer blob whose bytes do not match its digest",
    "diffid": "a config whose diff_id does not match the uncompressed layer",
    "size-lie": "a manifest that declares a wrong size for a layer",
    "truncated": "a layer blob cut in the middle (the digest names the cut bytes)",
    "media-type": "a layer of an unsupported media type",
    "config-digest": "a config blob whose bytes do not match its digest",
    "blob-path": "a manifest digest that is not sha256:<64 hex>",
}


def info(name, kind=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, size=0, link=""):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = ""
    ti.mtime = MTIME
    ti.size = size
    ti.linkname = link
    return ti


class Layer:
    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def dir(self, name, mode=0o755, uid=0, gid=0):
        self.tar.addfile(info(name, tarfile.DIRTYPE, mode, uid, gid))

    def file(self, name, data=b"", mode=0o644, uid=0, gid=0, pax=None):
        ti = info(name, mode=mode, uid=uid, gid=gid, size=len(data))
        if pax:
            ti.pax_headers = pax
        self.tar.addfile(ti, io.BytesIO(data))

    def symlink(self, name, target):
        self.tar.addfile(info(name, tarfile.SYMTYPE, 0o777, link=target))

    def hardlink(self, name, target):
        self.tar.addfile(info(name, tarfile.LNKTYPE, 0o644, link=target))

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build_layers(busybox, bad, target, platform=None):
    l1 = Layer()
    for d in ["bin", "etc", "data", "data/dir", "data/opq", "home", "root", "tmp"]:
        l1.dir(d, 0o1777 if d == "tmp" else 0o755)
    with open(busybox, "rb") as f:
        l1.file("bin/busybox", f.read(), 0o755)
    for a in APPLETS:
        l1.symlink("bin/" + a, "busybox")
    l1.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n")
    l1.file("etc/group", b"root:x:0:\nuser:x:1000:\n")
    l1.file("data/keep", b"keep v1\n")
    l1.file("data/gone", b"gone\n")
    l1.file("data/dir/a", b"a\n")
    l1.file("data/dir/b", b"b\n")
    l1.file("data/opq/x", b"x\n")
    l1.file("data/opq/y", b"y\n")
    l1.hardlink("data/keep-link", "data/keep")
    l1.symlink("data/sym", "keep")

    l2 = Layer()
    l2.dir("data")
    l2.file("data/.wh.gone")
    l2.file("data/.wh.dir")
    l2.dir("data/opq")
    l2.file("data/opq/.wh..wh..opq")
    l2.file("data/opq/z", b"z\n")
    l2.file("data/new", b"new\n")
    l2.file("data/keep", b"keep v2\n")

    l3 = Layer()
    l3.dir("data")
    l3.dir("data/dir")
    l3.file("data/dir/c", b"c\n")
    l3.file("data/suid", b"#!/bin/sh\n", 0o4755, 1000, 1000)
    l3.dir("home")
    l3.dir("home/user", 0o700, 1000, 1000)
    if platform:
        l3.file("data/platform", platform.encode() + b"\n")
    if bad == "escape-dotdot":
        l3.file("../" * 40 + target.lstrip("/"), b"escaped\n")
    elif bad == "escape-symlink":
        l3.symlink("data/up", os.path.dirname(target))
        l3.file("data/up/" + os.path.basename(target), b"escaped\n")
    elif bad == "overlay-xattr":
        l3.file("data/x", b"x\n", pax={"SCHILY.xattr.trusted.overlay.redirect": "/etc",
                                      "SCHILY.xattr.user.overlay.opaque": "y"})
    return [l1.bytes(), l2.bytes(), l3.bytes()]


def write_blob(out, data):
    d = sha(data)
    with open(os.path.join(out, "blobs", "sha256", d[7:]), "wb") as f:
        f.write(data)
    return d


def build_image(out, a, platform=None):
    """Writes one image's blobs; returns its manifest's descriptor."""
    tars = build_layers(a.busybox, a.bad, a.target, platform)
    diff_ids = [sha(t) for t in tars]
    if a.bad == "diffid":
        diff_ids[1] = sha(b"not this layer")
    descs = []
    for i, t in enumerate(tars):
        if a.compress == "gzip":
            blob = gzip.compress(t, mtime=0)
            mt = "application/vnd.oci.image.layer.v1.tar+gzip"
        else:
            blob = t
            mt = "application/vnd.oci.image.layer.v1.tar"
        digest = write_blob(out, blob)
        size = len(blob)
        if i == 1 and a.bad == "layer-digest":
            path = os.path.join(out, "blobs", "sha256", digest[7:])
            with open(path, "r+b") as f:
                f.seek(size // 2)
                c = f.read(1)
                f.seek(size // 2)
                f.write(bytes([c[0] ^ 0xff]))
        if i == 1 and a.bad == "truncated":
            blob = blob[: size // 2]
            digest = write_blob(out, blob)
            size = len(blob)
        if i == 1 and a.bad == "size-lie":
            size += 1000
        if i == 1 and a.bad == "media-type":
            mt = "application/vnd.example.layer.v1.squashfs"
        if i == 1 and a.bad == "blob-path":
            digest = "sha256:../../../../canary"
        descs.append({"mediaType": mt, "digest": digest, "size": size})
    os_, arch, variant = "linux", "amd64", None
    if platform:
        parts = platform.split("/")
        os_, arch = parts[0], parts[1]
        variant = parts[2] if len(parts) > 2 else None
    config = {
        "created": "2020-09-13T12:26:40Z",
        "architecture": arch,
        "os": os_,
        "config": {
            "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello"],
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ['echo "$GREETING from $(pwd) as $(id -u):$(id -g)"'],
            "WorkingDir": "/data",
            "User": "1000:1000",
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2020-09-13T12:26:40Z", "created_by": f"oci_image.py layer {i + 1}"}
                    for i in range(len(tars))],
    }
    if variant:
        config["variant"] = variant
    cbytes = json.dumps(config, indent=2).encode()
    cdigest = write_blob(out, cbytes)
    if a.bad == "blob-symlink":
        path = os.path.join(out, "blobs", "sha256", cdigest[7:])
        os.unlink(path)
        os.symlink(a.target, path)
    if a.bad == "config-digest":
        with open(os.path.join(out, "blobs", "sha256", cdigest[7:]), "wb") as f:
            f.write(cbytes.replace(b"hello", b"HELLO"))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest,
                   "size": len(cbytes)},
        "layers": descs,
    }
    mbytes = json.dumps(manifest, indent=2).encode()
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": write_blob(out, mbytes),
            "size": len(mbytes)}
    if platform:
        desc["platform"] = {"os": os_, "architecture": arch}
        if variant:
            desc["platform"]["variant"] = variant
    return desc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?")
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--ref", action="append")
    ap.add_argument("--compress", choices=["gzip", "none"], default="gzip")
    ap.add_argument("--bad", choices=sorted(BAD))
    ap.add_argument("--list-bad", action="store_true")
    ap.add_argument("--target", default="/nonexistent/canary")
    ap.add_argument("--platform")
    ap.add_argument("--multi-platform", action="store_true")
    a = ap.parse_args()
    if a.list_bad:
        for k in sorted(BAD):
            print(f"{k}\t{BAD[k]}")
        return 0
    if not a.out:
        ap.error("OUTDIR is required")
    os.makedirs(os.path.join(a.out, "blobs", "sha256"), exist_ok=True)
    if a.multi_platform:
        sub = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [build_image(a.out, a, p) for p in ("linux/amd64", "linux/arm64")]}
        ibytes = json.dumps(sub, indent=2).encode()
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": write_blob(a.out, ibytes),
               "size": len(ibytes)}
    else:
        top = build_image(a.out, a, a.platform)
    refs = a.ref or [None]
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    for r in refs:
        m = {k: v for k, v in top.items() if k != "platform"}
        if r:
            m["annotations"] = {"org.opencontainers.image.ref.name": r}
        index["manifests"].append(m)
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f, indent=2)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
