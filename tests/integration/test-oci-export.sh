#!/bin/bash
# isofs image export --format oci: a three-layer image made with the CLI
# (files changed, a file and a directory deleted, a directory replaced, two
# directories renamed, owners, setuid, hard links, a symlink) as an
# oci-archive that skopeo reads and podman loads: what `podman run` shows of
# it equals what `isofs run` shows.  The layers' tars express the changes in
# the OCI form (.wh. whiteouts, opaque markers) with no layer metadata; the
# same image gives the same bytes; bad input fails cleanly.  Root and rootless.
. "$(dirname "$0")/lib.sh"
setup_tmp

# ---- the image ---------------------------------------------------------------------

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || bail_out "no busybox image: $RUN_ERR"
ok "create a sandbox on it" iso sandbox create sb bb
CAPS=(--cap-add CHOWN --cap-add FOWNER --cap-add FSETID)

run iso run "${CAPS[@]}" --sandbox sb -- sh -c '
	set -e
	mkdir -p /srv/tree/a/b /srv/gone/sub /srv/keep /opt/rep/sub /opt/old/d
	echo f > /srv/tree/a/b/f; echo k > /srv/gone/sub/k; echo r > /opt/rep/sub/old; echo o > /opt/old/d/x
	echo del > /srv/del; echo keep > /srv/keep/file
	echo hl > /srv/h1; ln /srv/h1 /srv/h2
	echo su > /srv/su; chown 1000:1000 /srv/su; chmod 4755 /srv/su
	echo own > /srv/owned; chown 1000:1000 /srv/owned
	mkdir /srv/owned-dir; chown 1234:5678 /srv/owned-dir; chmod 2770 /srv/owned-dir
	ln -s keep/file /srv/link
	echo changed:x:4242: >> /etc/group
	rm /bin/vi'
is "$RUN_RC" 0 "second layer: files, owners, setuid, hard link, symlink, a deletion" || diag "$RUN_ERR"
ok "commit it as img2" iso sandbox commit sb img2

run iso run "${CAPS[@]}" --sandbox sb -- sh -c '
	set -e
	mv /srv/tree /srv/moved
	echo more > /srv/moved/a/more
	mv /opt/old /srv/old-moved
	rm -rf /srv/gone
	rm /srv/del
	rm -rf /opt/rep; mkdir /opt/rep; echo new > /opt/rep/n
	echo again > /srv/keep/file; chown 2000:3000 /srv/keep/file
	echo hl3 > /srv/h3; ln /srv/h3 /srv/h4
	mkfifo /srv/fifo'
is "$RUN_RC" 0 "third layer: renames, deletions, a replaced directory, a change, a fifo" || diag "$RUN_ERR"
ok "commit it as img3" iso sandbox commit sb img3

# A fourth layer renames within what a third renamed (a redirect below a redirect, into another parent).
run iso run --sandbox sb -- sh -c 'set -e; mv /srv/moved/a /srv/moved/a2; echo x > /srv/moved/a2/b/new; mv /srv/moved /opt/moved2'
is "$RUN_RC" 0 "fourth layer: a rename inside a renamed directory, then the whole moved away" || diag "$RUN_ERR"
ok "commit it as img4" iso sandbox commit sb img4

# ---- export ------------------------------------------------------------------------

run iso image export img3 "$T/out.tar" --format oci
is "$RUN_RC" 0 "export --format oci succeeds" || diag "$RUN_ERR"
is "$RUN_OUT$RUN_ERR" "" "... and says nothing"
mkdir "$T/layout" && tar -C "$T/layout" -xf "$T/out.tar"
is "$(tar -tf "$T/out.tar" | head -4 | tr '\n' ' ')" "oci-layout index.json blobs/ blobs/sha256/ " \
	"the archive holds an OCI image layout"
is "$(cat "$T/layout/oci-layout")" '{"imageLayoutVersion":"1.0.0"}' "oci-layout says version 1.0.0"

# Everything a reader checks, by a reader of our own: digests, sizes, diff_ids, media types, the ref name.
"$PYTHON" - "$T/layout" >"$T/layers.txt" 2>&1 <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile
d = sys.argv[1]
def blob(desc):
    data = open(os.path.join(d, "blobs", *desc["digest"].split(":")), "rb").read()
    assert len(data) == desc["size"], "size of " + desc["digest"]
    assert "sha256:" + hashlib.sha256(data).hexdigest() == desc["digest"], "digest of " + desc["digest"]
    return data
index = json.load(open(d + "/index.json"))
assert index["schemaVersion"] == 2 and len(index["manifests"]) == 1
m = index["manifests"][0]
print("ref", m["annotations"]["org.opencontainers.image.ref.name"])
manifest = json.loads(blob(m))
assert manifest["mediaType"] == m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
config = json.loads(blob(manifest["config"]))
print("platform", config["os"], config["architecture"])
print("history", len(config["history"]))
assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"])
for i, (l, diff_id) in enumerate(zip(manifest["layers"], config["rootfs"]["diff_ids"])):
    assert l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    raw = gzip.decompress(blob(l))
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == diff_id, "diff_id of layer %d" % i
    print("## layer %d" % i)
    for t in tarfile.open(fileobj=io.BytesIO(raw)):
        meta = " ".join(sorted(k for k in t.pax_headers if k not in ("path", "linkpath", "mtime")))
        kind = "h" if t.islnk() else "l" if t.issym() else "d" if t.isdir() else "p" if t.isfifo() else "f"
        print(t.name, kind, "%o" % t.mode, "%d:%d" % (t.uid, t.gid), t.linkname, meta)
EOF
is "$?" 0 "every digest, size and diff_id checks out" || diag "$(tail -5 "$T/layers.txt")"
layer() { awk -v s="## layer $1" '/^## /{p = ($0 == s)} p && !/^## /' "$T/layers.txt"; }
like "$(cat "$T/layers.txt")" $'ref img3\nplatform linux [a-z0-9]+\nhistory 3' \
	"index.json names the image img3; the config has its platform and a history entry per layer"
is "$(grep -c '^## layer' "$T/layers.txt")" 3 "three layers, bottom first"
L2=$(layer 1)
L3=$(layer 2)
like "$L2" $'\nsrv/h2 h 644 0:0 srv/h1 ' "layer 2: the hard link is a hard link"
like "$L2" $'\nsrv/su f 4755 1000:1000 ' "layer 2: the setuid file with its owner"
like "$L2" $'\nsrv/owned-dir d 2770 1234:5678 ' "layer 2: a directory's owner and setgid bit"
like "$L2" $'\nsrv/link l 777 0:0 keep/file ' "layer 2: the symlink"
like "$L2" $'\nbin/.wh.vi f ' "layer 2: a file of the base image deleted is a whiteout"
like "$L3" $'\nsrv/.wh.del f ' "layer 3: a deleted file is a whiteout"
like "$L3" $'\nsrv/.wh.gone f ' "layer 3: a deleted directory is a whiteout"
like "$L3" $'\nopt/rep d [0-7]+ 0:0  \nopt/rep/.wh..wh..opq f ' "layer 3: a replaced directory is opaque"
like "$L3" $'\nsrv/.wh.tree f ' "layer 3: a directory renamed away is a whiteout"
like "$L3" $'\nsrv/moved/.wh..wh..opq f [^\n]*(\n[^\n]*)*\nsrv/moved/a/b/f f ' \
	"layer 3: the renamed directory is opaque and holds the content from below"
like "$L3" $'\nsrv/old-moved/d/x f ' "layer 3: a directory moved to another parent holds its content"
like "$L3" $'\nopt/.wh.old f ' "... and is gone from its old place"
like "$L3" $'\nsrv/keep/file f 644 2000:3000 ' "layer 3: a changed owner"
like "$L3" $'\nsrv/fifo p ' "layer 3: the fifo"
unlike "$(cat "$T/layers.txt")" 'overlay|isofs|LIBARCHIVE' "no layer holds overlay metadata or isofs's xattrs"
unlike "$(grep -v '^## ' "$T/layers.txt" | grep -vE '/\.wh\.|^\.wh\.' | grep -E '(^|/)\.wh\.')" . \
	"no entry of the format other than whiteouts and opaque markers"

# ---- the same bytes ---------------------------------------------------------------

run iso image export img3 "$T/again.tar" --format oci
ok "exporting twice gives the same bytes" cmp "$T/out.tar" "$T/again.tar"
iso image export img3 - --format oci >"$T/stdout.tar"
ok "... and to stdout too" cmp "$T/out.tar" "$T/stdout.tar"

# ---- xattrs --------------------------------------------------------------------------

mkdir -p "$T/xsrc/d"
echo x >"$T/xsrc/d/file"
setfattr -n user.color -v blue "$T/xsrc/d/file"
run iso image import xa "$T/xsrc"
is "$RUN_RC" 0 "import a directory with an xattr" || diag "$RUN_ERR"
run iso image export xa "$T/xa.tar" --format oci
"$PYTHON" - "$T/xa.tar" >"$T/xa.txt" 2>&1 <<'EOF'
import gzip, io, json, sys, tarfile
a = tarfile.open(sys.argv[1])
get = lambda digest: a.extractfile("blobs/sha256/" + digest.split(":")[1]).read()
m = json.loads(get(json.loads(a.extractfile("index.json").read())["manifests"][0]["digest"]))
for t in tarfile.open(fileobj=io.BytesIO(gzip.decompress(get(m["layers"][0]["digest"])))):
    for k, v in sorted(t.pax_headers.items()):
        if k.startswith("SCHILY.xattr."):
            print(t.name, k, v)
EOF
is "$(cat "$T/xa.txt")" "d/file SCHILY.xattr.user.color blue" "an xattr is a SCHILY.xattr record"

# ---- skopeo and podman ----------------------------------------------------------------

if command -v skopeo >/dev/null; then
	run skopeo inspect oci-archive:"$T/out.tar"
	is "$RUN_RC" 0 "skopeo inspect reads the archive" || diag "$RUN_ERR"
	is "$(printf '%s' "$RUN_OUT" | "$PYTHON" -c 'import json,sys; j=json.load(sys.stdin); print(len(j["Layers"]), j["Os"], j["Env"])')" \
		"3 linux ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']" \
		"skopeo: three layers and the config"
else
	skip "skopeo inspect" "skopeo is not installed"
fi

# What a sandbox shows of the interesting paths: names, types, modes, owners, contents, links.
LIST='cd / && find srv opt -exec stat -c "%n|%F|%a|%u:%g" {} + | sort
find srv opt -type f -exec md5sum {} + | sort
stat -c "%n %h" srv/h1 srv/h2 srv/h3 srv/h4
[ "$(stat -c %i srv/h1)" = "$(stat -c %i srv/h2)" ] && echo "h1 = h2"
readlink srv/link; cat srv/link
tail -1 etc/group; ls bin/vi bin/sh 2>&1; true'

run iso run img3 -- sh -c "$LIST"
is "$RUN_RC" 0 "isofs run lists the image" || diag "$RUN_ERR"
ISO_LIST=$RUN_OUT
like "$ISO_LIST" 'srv/moved/a/b/f\|regular file' "(the renamed directory keeps its lower content in the sandbox)"
unlike "$ISO_LIST" 'srv/gone|srv/del|srv/tree|opt/old|opt/rep/sub' "(the deleted and renamed paths are gone in the sandbox)"

if command -v podman >/dev/null && command -v runc >/dev/null; then
	# a private podman (lib-podman.sh), the vfs driver: it applies the layers itself, whiteouts and all
	. "$(dirname "$0")/lib-podman.sh"
	conf p vfs

	run pm p load -q -i "$T/out.tar"
	is "$RUN_RC" 0 "podman load reads the archive" || diag "$RUN_ERR"
	like "$RUN_OUT" 'localhost/img3:latest' "... as localhost/img3"
	run pm p run --pull=never --rm localhost/img3 sh -c "$LIST"
	is "$RUN_RC" 0 "podman run lists the image" || diag "$RUN_ERR"
	is "$RUN_OUT" "$ISO_LIST" "podman shows what isofs shows: names, types, modes, owners, contents, hard links"

	LIST4='cd / && find opt srv -exec stat -c "%n|%F|%a|%u:%g" {} + | sort; find opt -type f -exec md5sum {} + | sort'
	run iso image export img4 "$T/img4.tar" --format oci
	is "$RUN_RC" 0 "export the four-layer image" || diag "$RUN_ERR"
	run pm p load -q -i "$T/img4.tar"
	is "$RUN_RC" 0 "podman loads it" || diag "$RUN_ERR"
	run pm p run --pull=never --rm localhost/img4 sh -c "$LIST4"
	PM4=$RUN_OUT
	run iso run img4 -- sh -c "$LIST4"
	like "$RUN_OUT" 'opt/moved2/a2/b/f\|regular file' "(isofs shows the twice renamed directory whole)"
	is "$PM4" "$RUN_OUT" "podman shows what isofs shows of a rename inside a renamed directory"

	run iso image export img2 "$T/ref.tar" --format oci --ref example.org/dev/env:v1
	is "$RUN_RC" 0 "export --ref" || diag "$RUN_ERR"
	run pm p load -q -i "$T/ref.tar"
	like "$RUN_OUT" 'example.org/dev/env:v1' "podman load names it as --ref says"
	run pm p run --pull=never --rm example.org/dev/env:v1 sh -c 'ls -d /srv/tree/a/b /srv/gone/sub /opt/rep/sub/old; cat /srv/del'
	is "$RUN_OUT" "/opt/rep/sub/old
/srv/gone/sub
/srv/tree/a/b
del" "... and the middle layer is the image img2 on its own"
else
	skip "podman load and run" "podman or runc is not installed"
fi

# ---- bad input ----------------------------------------------------------------------

store_snapshot
run iso image export nope "$T/nope.tar" --format oci
expect_refused "an image that does not exist"
like "$RUN_ERR" "nope" "... the error names it"
is "$(ls "$T" | grep -c nope)" 0 "... and no file is left"
expect_store_unchanged "an image that does not exist"

run iso image export img3 "$T/no/such/dir/x.tar" --format oci
expect_refused "FILE in a directory that does not exist"
expect_store_unchanged "FILE in a directory that does not exist"

run iso image export img3 "$T/x.tar" --format zip
expect_refused "an unknown format" 2
run iso image export img3 "$T/x.tar" --ref foo
expect_refused "--ref without --format oci" 2
run iso image export img3 "$T/x.tar" --format oci --ref 'bad..ref'
expect_refused "a reference name the image-layout spec refuses"
ok "... and no file is left" test ! -e "$T/x.tar"

done_testing
