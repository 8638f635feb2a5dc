#!/bin/bash
# SPDX-License-Identifier: MIT
# Hostile container images (issue 13): layer entries climbing out with "..",
# through a symlink of their own layer, blobs of an OCI layout that are
# symlinks to host files (filled with exactly the bytes the manifest's digest
# names, so that following one would succeed), a docker-archive manifest whose
# layer path climbs out, layers carrying overlay metadata.  Every import is
# refused or drops the metadata; nothing is written beside the canary, no
# host file is read into the store, and the store is as it was.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-security.sh"
setup_tmp
plant_canary

command -v skopeo >/dev/null || skip_all "skopeo is not installed (Debian package skopeo)"
OCI_IMAGE=$(dirname "$0")/../integration/oci_image.py
oci_image() { timeout -k 10 60 "$PYTHON" "$OCI_IMAGE" "$@"; }
canary_state() { (cd "$CANARY_DIR" && find . -printf '%P %y %m %s\n' | LC_ALL=C sort && cat etc/shadow); }

oci_image "$T/good" --ref good:1 || bail_out "oci_image.py failed"
store_snapshot
CANARY_BEFORE=$(canary_state)

# ---- layer entries that climb out ----
for kind in escape-dotdot escape-symlink; do
	rm -rf "$T/bad"
	oci_image "$T/bad" --bad "$kind" --target "$CANARY_DIR/etc/written" || bail_out "oci_image.py --bad $kind"
	run iso image import "x-$kind" "$T/bad"
	expect_refused "layer entry: $kind"
	ok "$kind: nothing written beside the canary" test ! -e "$CANARY_DIR/etc/written"
done

# ---- blobs that are symlinks to host files holding the right bytes ----
config=$("$PYTHON" -c 'import json,sys; i=json.load(open(sys.argv[1]+"/index.json")); m=json.load(open(sys.argv[1]+"/blobs/sha256/"+i["manifests"][0]["digest"][7:])); print(m["config"]["digest"][7:], m["layers"][0]["digest"][7:])' "$T/good")
read -r CONFIG_HEX LAYER_HEX <<<"$config"
cp "$T/good/blobs/sha256/$CONFIG_HEX" "$CANARY_DIR/etc/config.json"
cp "$T/good/blobs/sha256/$LAYER_HEX" "$CANARY_DIR/etc/layer.bin"
CANARY_BEFORE=$(canary_state)
for blob in config layer; do
	rm -rf "$T/bad" && cp -a "$T/good" "$T/bad"
	if [ $blob = config ]; then hex=$CONFIG_HEX target=$CANARY_DIR/etc/config.json; else hex=$LAYER_HEX target=$CANARY_DIR/etc/layer.bin; fi
	ln -sf "$target" "$T/bad/blobs/sha256/$hex"
	run iso image import "x-$blob-abs" "$T/bad"
	expect_refused "the $blob blob an absolute symlink out of the layout"
	ln -sf "../../../host/etc/$(basename "$target")" "$T/bad/blobs/sha256/$hex"
	run iso image import "x-$blob-rel" "$T/bad"
	expect_refused "the $blob blob a relative symlink out of the layout"
done

# ---- a docker-archive whose manifest names a layer outside it ----
mkdir -p "$T/da"
timeout -k 10 120 skopeo --insecure-policy copy -q oci:"$T/good":good:1 docker-archive:"$T/da.tar":good:1 ||
	bail_out "skopeo: docker-archive"
tar -C "$T/da" -xf "$T/da.tar" && chmod -R u+w "$T/da"
first=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Layers"][0])' "$T/da/manifest.json")
cp "$T/da/$first" "$CANARY_DIR/etc/layer.tar"
CANARY_BEFORE=$(canary_state)
for path in "../host/etc/layer.tar" "../../../../../../../../../..$CANARY_DIR/etc/layer.tar" "$CANARY_DIR/etc/layer.tar"; do
	"$PYTHON" - "$T/da/manifest.json" "$path" <<-'PY'
		import json, sys
		m = json.load(open(sys.argv[1]))
		m[0]["Layers"][0] = sys.argv[2]
		json.dump(m, open(sys.argv[1], "w"))
	PY
	run iso image import x-docker "$T/da"
	expect_refused "docker-archive layer path '$path'"
	tar -C "$T/da" -cf "$T/da2.tar" .
	run iso image import x-docker "$T/da2.tar"
	expect_refused "docker-archive tarball, layer path '$path'"
done
is "$(canary_state)" "$CANARY_BEFORE" "the canary's directory is as it was"
expect_store_unchanged "every refused import"
no_canary_in_tree "the store holds no canary text" "$STORE"

# ---- overlay metadata in a layer: dropped, counted ----
rm -rf "$T/bad"
oci_image "$T/bad" --bad overlay-xattr || bail_out "oci_image.py --bad overlay-xattr"
run iso image import xattrs "$T/bad"
is "$RUN_RC" 0 "a layer carrying overlay xattrs is imported" || diag "$RUN_ERR"
like "$RUN_OUT" '2 overlay xattrs dropped' "... with both dropped and counted"
is "$(getfattr -R -d -m '^(trusted|user)\.overlay\.' "$STORE/layers" 2>/dev/null | grep -c redirect)" 0 \
	"no redirect stored in any layer"
run iso run --user 0 xattrs -- sh -c 'ls /data; cat /data/x'
like "$RUN_OUT" $'\nx\nx$' "the file shows as itself"
is "$(canary_state)" "$CANARY_BEFORE" "the canary's directory is as it was"

done_testing
