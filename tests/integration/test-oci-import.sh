#!/bin/bash
# SPDX-License-Identifier: MIT
# Container images imported layer by layer (issue 13): an OCI image layout, an
# oci-archive, a docker-archive (file and stdin) and a docker-dir of the same
# three-layer image with deletions (oci_image.py), made into the other forms
# by the real skopeo.  Each import shows what podman shows for the same image
# (podman load of the docker-archive, run side by side), and, as root, what
# the kernel's overlay shows for the same layers.  Layers are stored once and
# shared; image rm keeps what another image uses; the config's command, env,
# workdir and user are what `isofs run IMAGE` runs with; several images in one
# archive need --ref; broken and lying archives are refused, the store as it was.
. "$(dirname "$0")/lib.sh"
setup_tmp

command -v skopeo >/dev/null || skip_all "skopeo is not installed (Debian package skopeo)"
OCI_IMAGE=$(dirname "$0")/oci_image.py
oci_image() { timeout -k 10 60 "$PYTHON" "$OCI_IMAGE" "$@"; }
sk() { timeout -k 10 120 skopeo --insecure-policy "$@"; }

oci_image "$T/layout" --ref test:1 || bail_out "oci_image.py failed"
sk copy -q oci:"$T/layout":test:1 docker-archive:"$T/docker.tar":test:1 || bail_out "skopeo: docker-archive"
sk copy -q oci:"$T/layout":test:1 oci-archive:"$T/oci.tar":test:1 || bail_out "skopeo: oci-archive"
sk copy -q oci:"$T/layout":test:1 dir:"$T/dockerdir" || bail_out "skopeo: dir"

# What a user sees of the image: names, types, modes, owners, sizes, contents.
VIEW='cd / && find data home | sort && stat -c "%n %A %u:%g" $(find data home | sort) && stat -c "%n %s" $(find data -type f | sort) && cat data/keep data/keep-link data/new data/dir/c data/opq/z'

# check_view NAME DESC: the image's view is the expected one, and the same as the reference
check_view() {
	run iso run --user 0 "$1" -- sh -c "$VIEW"
	is "$RUN_RC" 0 "$2: runs"
	is "$RUN_OUT" "$REF_VIEW" "$2: the view equals the reference"
}

# ---- the OCI layout: the expected view, spelled out ----
run iso image import layout "$T/layout"
is "$RUN_RC" 0 "OCI layout: imported" || diag "$RUN_ERR"
run iso run --user 0 layout -- sh -c "$VIEW"
REF_VIEW=$RUN_OUT
like "$REF_VIEW" $'\ndata/dir\ndata/dir/c\ndata/keep\n' "deleted directory: its files are gone, its new one shows"
unlike "$REF_VIEW" 'data/gone' "a whiteout hides a file of a lower layer"
like "$REF_VIEW" $'\ndata/opq\ndata/opq/z\n' "opaque directory: only its own layer's entry"
like "$REF_VIEW" 'data/suid -rwsr-xr-x 1000:1000' "setuid file owned 1000:1000"
like "$REF_VIEW" 'home/user drwx------ 1000:1000' "directory owned 1000:1000, mode 0700"
like "$REF_VIEW" $'keep v2\nkeep v1\nnew\nc\nz$' "contents: the top layer's keep, the old hard link, new files"
run iso image inspect layout
like "$RUN_OUT" '"layers":[[:space:]]*\["sha256:[0-9a-f]{64}", "sha256:[0-9a-f]{64}", "sha256:[0-9a-f]{64}"\]' "inspect: three layers"
like "$RUN_OUT" '"WorkingDir":[[:space:]]*"/data"' "inspect: the config's WorkingDir"
like "$RUN_OUT" '"Entrypoint":[[:space:]]*\["/bin/sh", "-c"\]' "inspect: the config's Entrypoint"
like "$RUN_OUT" '"source":[[:space:]]*"oci:' "inspect: the source is an OCI layout"
is "$(find "$STORE/layers/sha256" -mindepth 1 -maxdepth 1 | wc -l)" 3 "three layers in the store"
is "$(find "$STORE/layers/sha256" -name '.wh.*' | wc -l)" 0 "no .wh. marker left: whiteouts in the store's form"

# ---- the config: command, env, workdir, user ----
run iso run layout
is "$RUN_OUT" "hello from /data as 1000:1000" "run IMAGE: the image's Entrypoint + Cmd, Env, WorkingDir, User"
run iso run layout -- sh -c 'echo "$GREETING $(pwd) $(id -u):$(id -g) $PATH"'
is "$RUN_OUT" "hello /data 1000:1000 /usr/sbin:/usr/bin:/sbin:/bin" "a given command gets the config's env, workdir, user"
run iso run --user 0 --workdir / --env GREETING=bye layout -- sh -c 'echo "$GREETING $(pwd) $(id -u)"'
is "$RUN_OUT" "bye / 0" "--env, --workdir, --user win over the config"

# ---- a config with empty lists: nothing from them, no crash ----
cp -a "$T/layout" "$T/empty"
"$PYTHON" - "$T/empty" <<'PY' || bail_out "cannot rewrite the config"
import hashlib, json, os, sys
d = sys.argv[1]
index = json.load(open(f"{d}/index.json"))
mdesc = index["manifests"][0]
man = json.load(open(f"{d}/blobs/sha256/{mdesc['digest'][7:]}"))
cfg = json.load(open(f"{d}/blobs/sha256/{man['config']['digest'][7:]}"))
cfg["config"] = {"Env": [], "Entrypoint": [], "Cmd": ["/bin/sh", "-c", "echo empty lists: ${PATH:+a PATH}"]}
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open(f"{d}/blobs/sha256/{h}", "wb").write(data)
    return {"digest": "sha256:" + h, "size": len(data)}
man["config"].update(put(json.dumps(cfg).encode()))
mdesc.update(put(json.dumps(man).encode()))
json.dump(index, open(f"{d}/index.json", "w"))
PY
run iso image import empty "$T/empty"
run iso run empty
is "$RUN_OUT" "empty lists: a PATH" "a config with Env [] and Entrypoint []: Cmd runs, with the default PATH"
run iso image rm empty

# ---- the other forms: the same view, nothing stored twice ----
FIRST_SUMMARY=$(iso image inspect layout | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["import"]["entries"])')
run iso image import docker "$T/docker.tar"
is "$RUN_RC" 0 "docker-archive: imported" || diag "$RUN_ERR"
like "$RUN_OUT" "^imported image 'docker': $FIRST_SUMMARY entries" "its summary counts the shared layers' entries too"
check_view docker "docker-archive"
run iso image inspect docker
like "$RUN_OUT" '"source":[[:space:]]*"docker-archive:' "inspect: the source is a docker-archive"
run iso image import ociarch "$T/oci.tar"
is "$RUN_RC" 0 "oci-archive: imported" || diag "$RUN_ERR"
check_view ociarch "oci-archive"
run iso image import fromstdin - <"$T/docker.tar"
is "$RUN_RC" 0 "docker-archive on stdin: imported" || diag "$RUN_ERR"
check_view fromstdin "docker-archive on stdin"
run iso image import dockerdir "$T/dockerdir"
is "$RUN_RC" 0 "docker-dir: imported" || diag "$RUN_ERR"
check_view dockerdir "docker-dir"
is "$(find "$STORE/layers/sha256" -mindepth 1 -maxdepth 1 | wc -l)" 3 "five images of one image: still three layers"
ok "STORE/tmp is empty after the imports" tmp_is_empty

# ---- two imports of the same layers at once: both succeed, each layer stored once ----
iso image import par1 "$T/layout" >"$T/par1.out" 2>&1 &
p1=$!
iso image import par2 "$T/oci.tar" >"$T/par2.out" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
is "$r1:$r2" "0:0" "two concurrent imports of one image succeed" || diag "$(cat "$T/par1.out" "$T/par2.out")"
check_view par2 "an image imported beside another"
is "$(find "$STORE/layers/sha256" -mindepth 1 -maxdepth 1 | wc -l)" 3 "still three layers"
run iso image rm par1 par2
ok "STORE/tmp is empty" tmp_is_empty

# ---- shared layers and image rm ----
run iso image rm layout docker ociarch dockerdir
is "$RUN_RC" 0 "image rm of four of the five"
is "$(find "$STORE/layers/sha256" -mindepth 1 -maxdepth 1 | wc -l)" 3 "the layers the fifth uses are kept"
check_view fromstdin "the fifth image after the others' removal"

# ---- a sandbox of it, committed: the config goes on ----
run iso sandbox create dev fromstdin
run iso run --user 0 --sandbox dev -- sh -c 'rm /data/keep && echo mine > /data/mine'
is "$RUN_RC" 0 "sandbox of an OCI image: writes"
run iso sandbox commit dev committed
is "$RUN_RC" 0 "sandbox commit" || diag "$RUN_ERR"
run iso run committed
is "$RUN_OUT" "hello from /data as 1000:1000" "an image committed on it runs the OCI image's command"
run iso run committed -- sh -c 'ls /data; cat /data/mine'
is "$RUN_OUT" $'dir\nkeep-link\nmine\nnew\nopq\nsuid\nsym\nmine' "... and shows the sandbox's changes"
run iso image rm fromstdin
isnt "$RUN_RC" 0 "image rm refuses the image a committed one is built on"
run iso image export committed "$T/committed.tar"
is "$RUN_RC" 0 "export of an image on OCI layers"
like "$(tar -tf "$T/committed.tar" | sed 's|^\./||' | sort | tr '\n' ' ')" 'data/dir/c .*data/mine ' "export: the merged tree"
unlike "$(tar -tf "$T/committed.tar")" 'data/gone|data/dir/a|\.wh\.' "export: no deleted file, no marker"
run iso sandbox rm dev
run iso image rm committed fromstdin
is "$RUN_RC" 0 "image rm of the last two"
is "$(find "$STORE/layers/sha256" -mindepth 1 | wc -l)" 0 "the last user gone, the layers go"
ok "STORE/tmp is empty" tmp_is_empty

# ---- several images in one archive ----
oci_image "$T/other" --compress none --ref other:2 || bail_out "oci_image.py failed"
sk copy -q oci:"$T/layout":test:1 oci:"$T/multi":one || bail_out "skopeo: multi"
sk copy -q oci:"$T/other":other:2 oci:"$T/multi":two || bail_out "skopeo: multi"
store_snapshot
run iso image import m "$T/multi"
expect_refused "a layout with two images, no --ref"
like "$RUN_ERR" 'holds 2 images; pick one with --ref: one, two' "the error lists the images"
run iso image import m "$T/multi" --ref three
expect_refused "--ref naming no image of the archive"
like "$RUN_ERR" "no reference 'three' \\(it has: one, two\\)" "the error lists the images"
expect_store_unchanged "refused multi-image imports"
run iso image import m "$T/multi" --ref two
is "$RUN_RC" 0 "--ref picks one" || diag "$RUN_ERR"
check_view m "the image --ref picked"
"$PYTHON" - "$T/docker.tar" "$T/docker2.tar" <<'PY' || bail_out "cannot write a two-image docker-archive"
import json, sys, tarfile, io
src, dst = sys.argv[1:3]
with tarfile.open(src) as t, tarfile.open(dst, "w") as o:
    for m in t.getmembers():
        data = t.extractfile(m).read() if m.isfile() else None
        if m.name == "manifest.json":
            man = json.loads(data)
            man.append(dict(man[0], RepoTags=["docker.io/library/second:2"]))
            data = json.dumps(man).encode()
            m.size = len(data)
        o.addfile(m, io.BytesIO(data) if data is not None else None)
PY
run iso image import d2 "$T/docker2.tar"
expect_refused "a docker-archive with two images, no --ref"
like "$RUN_ERR" 'pick one with --ref: docker.io/library/test:1, docker.io/library/second:2' "the error lists its tags"
run iso image import d2 "$T/docker2.tar" --ref second:2
is "$RUN_RC" 0 "--ref with a short name picks the docker-archive's image" || diag "$RUN_ERR"
run iso image import rootfs-ref "$T/committed.tar" --ref x
expect_refused "--ref on a root file system tarball"
run iso image rm m d2

# ---- broken and lying archives: refused, the store as it was ----
# (on a store without the image's layers: one it has is never read again)
store_snapshot
for bad in layer-digest diffid size-lie truncated media-type config-digest blob-path; do
	rm -rf "$T/bad"
	oci_image "$T/bad" --bad "$bad" || bail_out "oci_image.py --bad $bad failed"
	run iso image import "bad-$bad" "$T/bad"
	expect_refused "--bad $bad"
	case $bad in
	layer-digest) like "$RUN_ERR" 'digest mismatch|decompression failed' "--bad $bad: says what is wrong" ;;
	config-digest | diffid) like "$RUN_ERR" 'digest mismatch' "--bad $bad: says digest mismatch" ;;
	size-lie) like "$RUN_ERR" 'declare' "--bad $bad: names the size" ;;
	media-type) like "$RUN_ERR" 'unsupported media type' "--bad $bad: names the media type" ;;
	esac
done
# the same, as an oci-archive tarball (the spooled form)
tar -C "$T/bad" -cf "$T/bad.tar" .
run iso image import bad-tar "$T/bad.tar"
expect_refused "a bad oci-archive tarball"
printf 'not json' >"$T/manifest.json"
mkdir -p "$T/corrupt" && cp "$T/manifest.json" "$T/corrupt/" && echo '{}' >"$T/corrupt/repositories"
tar -C "$T/corrupt" -cf "$T/corrupt.tar" .
run iso image import corrupt "$T/corrupt.tar"
expect_refused "a docker-archive whose manifest.json is not JSON"
head -c 100000 "$T/docker.tar" >"$T/short.tar"
run iso image import short "$T/short.tar"
expect_refused "a truncated docker-archive"
expect_store_unchanged "refused archives"
run iso image import keep "$T/layout"
is "$RUN_RC" 0 "the good layout, after the bad ones"
run iso image import keep "$T/layout"
expect_refused "an image name taken"
run iso image export keep "$T/keep-oci.tar" --format oci
run iso image import back "$T/keep-oci.tar"
is "$RUN_RC" 0 "an oci-archive isofs exported imports again" || diag "$RUN_ERR"
check_view back "exported and imported again"
run iso run back
is "$RUN_OUT" "hello from /data as 1000:1000" "... with its config"

# ---- what podman shows for the same image ----
if command -v podman >/dev/null && command -v runc >/dev/null; then
	. "$(dirname "$0")/lib-podman.sh"
	conf p
	run pm p load -q -i "$T/docker.tar"
	is "$RUN_RC" 0 "podman load of the docker-archive" || diag "$RUN_ERR"
	run pm p run --pull=never --rm --user 0 --entrypoint /bin/sh docker.io/library/test:1 -c "$VIEW"
	is "$RUN_RC" 0 "podman runs the image" || diag "$RUN_ERR"
	is "$RUN_OUT" "$REF_VIEW" "isofs shows what podman shows"
	run pm p run --pull=never --rm docker.io/library/test:1
	is "$RUN_OUT" "hello from /data as 1000:1000" "podman runs the config's command as isofs does"
	# and back: export --format oci keeps the layers' changes and the config
	run iso image export keep "$T/keep-oci.tar" --format oci --ref localhost/keep:1
	is "$RUN_RC" 0 "export --format oci of an imported image" || diag "$RUN_ERR"
	run pm p load -q -i "$T/keep-oci.tar"
	run pm p run --pull=never --rm --user 0 --entrypoint /bin/sh localhost/keep:1 -c "$VIEW"
	is "$RUN_OUT" "$REF_VIEW" "podman shows the exported image as isofs does"
	run pm p run --pull=never --rm localhost/keep:1
	is "$RUN_OUT" "hello from /data as 1000:1000" "the exported config: podman runs the image's command"
else
	skip "podman or runc missing: no comparison with podman"
fi

# ---- what the kernel's overlay shows for the same layers (root) ----
if [ "$IS_ROOT" -eq 1 ]; then
	lower=$(iso image inspect keep | "$PYTHON" -c 'import json,sys; print(":".join(reversed(json.load(sys.stdin)["layer_dirs"])))')
	mkdir -p "$T/kmnt"
	if mount -t overlay overlay -o "lowerdir=$lower" "$T/kmnt" 2>/dev/null; then
		at_cleanup "umount -l '$T/kmnt' 2>/dev/null"
		run sh -c "cd '$T/kmnt' && ${VIEW#cd / && }"
		is "$RUN_OUT" "$REF_VIEW" "the kernel's overlay of the stored layers shows the same"
		umount "$T/kmnt"
	else
		skip "the kernel's overlay cannot mount here"
	fi
else
	skip "kernel overlay reference: root only"
fi

done_testing
