#!/bin/bash
# image pull and push against the reference registry (Debian's docker-registry)
# on 127.0.0.1, filled by skopeo from layouts of oci_image.py: round trips
# (registry → pull → run; push → registry → skopeo and podman), a
# multi-platform index, basic auth over TLS, and hostile registries (corrupt,
# truncated or lying blobs and manifests, one that hangs, one that stalls in
# the middle of a blob — resumed by the next pull), each leaving the store as
# it was.  Root and rootless.
. "$(dirname "$0")/lib.sh"
setup_tmp

command -v docker-registry >/dev/null || skip_all "docker-registry is not installed (Debian package docker-registry)"
command -v skopeo >/dev/null || skip_all "skopeo is not installed"
TOOL=${ISOFS_REGISTRY_TOOL:-}
[ -x "$TOOL" ] || skip_all "registry-tool is not built (ISOFS_REGISTRY_TOOL)"
OCI=$TESTS_DIR/oci_image.py
PROXY=$TESTS_DIR/registry_proxy.py
unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR ISOFS_REGISTRY_TIMEOUT

registry_start "$T/reg" || bail_out "docker-registry does not start: $(tail -3 "$T/reg/log" 2>/dev/null)"
R=$REGISTRY

sk() { timeout -k 10 120 skopeo --insecure-policy "$@"; }
# push_layout DIR REF NAME[:TAG]: skopeo copies a layout's image into the registry
push_layout() {
	sk copy -q --dest-tls-verify=false ${4:+$4} "oci:$1:$2" "docker://$R/$3" >"$T/skopeo.log" 2>&1 ||
		bail_out "skopeo copy $1 → $3: $(tail -2 "$T/skopeo.log")"
}
"$PYTHON" "$OCI" "$T/lay" --ref t1 || bail_out "oci_image.py failed"
"$PYTHON" "$OCI" "$T/multi" --ref m --multi-platform || bail_out "oci_image.py --multi-platform failed"
push_layout "$T/lay" t1 test/img:t1
push_layout "$T/multi" m test/multi:m --all

# blob_data DIGEST: the file the registry serves a blob from
blob_data() {
	local h=${1#sha256:}
	echo "$REGISTRY_ROOT/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data"
}
# layer N of the layout's (only) manifest: its digest
layout_layer() {
	"$PYTHON" - "$1" "$2" <<-'EOF'
		import json, sys
		d = sys.argv[1]
		idx = json.load(open(d + "/index.json"))
		m = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
		print(m["layers"][int(sys.argv[2])]["digest"] if sys.argv[2] != "config" else m["config"]["digest"])
	EOF
}
BIG=$(layout_layer "$T/lay" 0)
CONFIG=$(layout_layer "$T/lay" config)
MANIFEST=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$T/lay/index.json")

# ---- the client alone (pull into a layout, push a layout) -----------------------------

mkdir -p "$T/partial"
run "$TOOL" pull-layout "$R/test/img:t1" "$T/pulled" "$T/partial" --tls-verify=false
is "$RUN_RC" 0 "pull into a layout" || diag "$RUN_ERR"
is "$RUN_OUT" "$MANIFEST" "... the manifest skopeo pushed, by its digest"
is "$(ls "$T/pulled/blobs/sha256" | sort)" "$(ls "$T/lay/blobs/sha256" | sort)" "... every blob of the image"
ok "... each blob's content verified by sha256sum" bash -c "cd '$T/pulled/blobs/sha256' && for f in *; do echo \"\$f  \$f\"; done | sha256sum -c --quiet -"
ok "... a layout skopeo reads" sk inspect "oci:$T/pulled:t1"
is "$(ls -A "$T/partial")" "" "... no partial blob left"

platform_of() {
	"$PYTHON" - "$1" <<-'EOF'
		import json, sys
		d = sys.argv[1] + "/blobs/sha256/"
		idx = json.load(open(sys.argv[1] + "/index.json"))
		m = json.load(open(d + idx["manifests"][0]["digest"][7:]))
		c = json.load(open(d + m["config"]["digest"][7:]))
		print(c["os"] + "/" + c["architecture"])
	EOF
}
run "$TOOL" pull-layout "$R/test/multi:m" "$T/pm-default" "$T/partial" --tls-verify=false
is "$RUN_RC" 0 "multi-platform index: pull" || diag "$RUN_ERR"
is "$(platform_of "$T/pm-default")" linux/amd64 "... the host's platform (linux/amd64) chosen by default"
run "$TOOL" pull-layout "$R/test/multi:m" "$T/pm-arm" "$T/partial" --tls-verify=false --platform linux/arm64
is "$(platform_of "$T/pm-arm")" linux/arm64 "... --platform linux/arm64 picks the other"

run "$TOOL" push-layout "$T/lay" "$R/pushed/one:v1" --tls-verify=false
is "$RUN_RC" 0 "push a layout" || diag "$RUN_ERR"
like "$(sk inspect --tls-verify=false "docker://$R/pushed/one:v1" 2>&1)" "\"Digest\": \"$MANIFEST\"" \
	"... skopeo inspect finds it, same digest"

# ---- the CLI: pull -------------------------------------------------------------------

run iso image ls
store_snapshot
run iso image pull --tls-verify=false img "$R/test/img:t1"
IMPORT=1
	is "$RUN_RC" 0 "image pull NAME REF" || diag "$RUN_ERR"
	like "$RUN_OUT" "^pulled image 'img': " "... one summary line"
	run iso run img -- sh -c 'cd /data && ls -A | sort | tr "\n" " "; echo; ls -A dir; ls -A opq; cat keep'
	is "$RUN_OUT" "dir keep keep-link new opq suid sym 
c
z
keep v2" "... the image's view: deletions, opaque and recreated directories applied" || diag "$RUN_ERR"
	run iso run img
	is "$RUN_OUT" "hello from /data as 1000:1000" "... isofs run IMAGE runs the image's own command" || diag "$RUN_ERR"
	run iso image pull --tls-verify=false "$R/test/img:t1"
	is "$RUN_RC" 0 "image pull REF (no NAME)" || diag "$RUN_ERR"
	like "$(image_names)" "img-t1" "... named after the repository and the tag"
	run iso image pull --tls-verify=false "$R/test/img@$MANIFEST"
	is "$RUN_RC" 0 "image pull REPO@DIGEST" || diag "$RUN_ERR"
	like "$(image_names)" "img-${MANIFEST:7:12}" "... named after the digest"
	run iso image pull --tls-verify=false --platform linux/arm64 marm "$R/test/multi:m"
	run iso run marm -- cat /data/platform
	is "$RUN_OUT" linux/arm64 "image pull --platform linux/arm64 of an index" || diag "$RUN_ERR"
	run iso image pull --tls-verify=false mamd "$R/test/multi:m"
	run iso run mamd -- cat /data/platform
	is "$RUN_OUT" linux/amd64 "image pull of an index: the host's platform" || diag "$RUN_ERR"
	run iso image pull --tls-verify=false img "$R/test/img:t1"
	expect_refused "pull into an existing name"
# The hostile cases in a store of their own: one holding the image's layers would not fetch them.
FIRST_STORE=$STORE
STORE=$T/store-hostile
run iso image ls
store_snapshot

# refused: each with one line naming the problem, the store as it was
refused_pull() {
	local desc=$1 re=$2
	shift 2
	run iso image pull "$@"
	expect_refused "$desc"
	like "$RUN_ERR" "$re" "$desc: the message names the problem"
	expect_store_unchanged "$desc"
}
refused_pull "a plain-http registry without --tls-verify=false" 'tls-verify=false' x "$R/test/img:t1"
refused_pull "a tag the registry lacks" 'manifest unknown' --tls-verify=false x "$R/test/img:nope"
refused_pull "a repository the registry lacks" 'answered 404' --tls-verify=false x "$R/test/nothere:t1"
refused_pull "a platform the index lacks" 'no image for linux/s390x \(there are: linux/amd64, linux/arm64\)' \
	--tls-verify=false --platform linux/s390x x "$R/test/multi:m"
refused_pull "a bad --platform" "invalid platform 'linux'" --platform linux x "$R/test/img:t1"
for ref in 'foo/Bar' 'foo:' 'foo@sha256:abc' 'foo@md5:d41d8cd98f00b204e9800998ecf8427e' 'a//b' 'foo:-x' \
	'localhost:123456/x' 'foo bar' '/foo'; do
	refused_pull "bad reference '$ref'" "^isofs: invalid reference '$ref': " x "$ref"
done
run iso image pull "bad name" "$R/test/img:t1"
is "$RUN_RC" 2 "an invalid image name: a usage error"

# ---- hostile registries -----------------------------------------------------------------

# corrupt FILE: one byte flipped in the middle (saved as FILE.orig to restore)
corrupt() {
	cp "$1" "$1.orig" && "$PYTHON" -c '
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0xff; open(p, "wb").write(b)' "$1"
}
restore() { mv -f "$1.orig" "$1"; }

corrupt "$(blob_data "$BIG")"
refused_pull "a layer whose bytes do not match its digest" "blob $BIG: the bytes received have digest" \
	--tls-verify=false x "$R/test/img:t1"
nok "... the corrupt blob is not kept" test -e "$STORE/downloads/${BIG#sha256:}"
restore "$(blob_data "$BIG")"

cp "$(blob_data "$BIG")" "$T/big.orig"
truncate -s 1000 "$(blob_data "$BIG")"
refused_pull "a truncated layer" "1000 bytes received, the manifest says" --tls-verify=false x "$R/test/img:t1"
cp "$T/big.orig" "$(blob_data "$BIG")"

corrupt "$(blob_data "$CONFIG")"
refused_pull "a config whose bytes do not match its digest" "the bytes received have digest" \
	--tls-verify=false x "$R/test/img:t1"
restore "$(blob_data "$CONFIG")"

corrupt "$(blob_data "$MANIFEST")"
refused_pull "a manifest that is not what its tag says" "not the $MANIFEST it claims" --tls-verify=false x "$R/test/img:t1"
refused_pull "a manifest that is not the digest asked for" "the manifest sent has digest" \
	--tls-verify=false x "$R/test/img@$MANIFEST"
restore "$(blob_data "$MANIFEST")"

# manifests that lie, put straight into the registry (their blobs are test/img's)
put_manifest() {
	"$PYTHON" - "$R" "$1" "$2" <<-'EOF'
		import json, sys, urllib.request
		reg, tag, d = sys.argv[1:]
		idx = json.load(open(d + "/index.json"))
		body = open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:], "rb").read()
		req = urllib.request.Request(f"http://{reg}/v2/test/img/manifests/{tag}", data=body, method="PUT",
		                             headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
		urllib.request.urlopen(req)
	EOF
}
for bad in size-lie media-type; do
	"$PYTHON" "$OCI" "$T/bad-$bad" --bad "$bad" --ref t1 && put_manifest "$bad" "$T/bad-$bad" ||
		diag "could not put the $bad manifest"
done
refused_pull "a manifest that lies about a layer's size" "the manifest says" --tls-verify=false x "$R/test/img:size-lie"
refused_pull "a layer of an unsupported media type" "unsupported media type 'application/vnd.example.layer.v1.squashfs'" \
	--tls-verify=false x "$R/test/img:media-type"

# proxy_start MODE [ARGS…]: registry_proxy.py in front of the registry; sets PROXY_ADDR
proxy_start() {
	rm -f "$T/proxy.port"
	"$PYTHON" "$PROXY" "$T/proxy.port" "$@" >"$T/proxy.err" 2>&1 &
	PROXY_PID=$!
	bg_track "$PROXY_PID"
	wait_until 20 test -s "$T/proxy.port" || bail_out "registry_proxy.py does not start: $(cat "$T/proxy.err")"
	PROXY_ADDR=127.0.0.1:$(cat "$T/proxy.port")
}
proxy_stop() {
	kill -9 "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
}

proxy_start hang
ISOFS_TEST_TIMEOUT=60 ISOFS_REGISTRY_TIMEOUT=2 refused_pull "a registry that never answers (ISOFS_REGISTRY_TIMEOUT=2)" \
	"timed out \(nothing received for 2 s\)" --tls-verify=false x "$PROXY_ADDR/test/img:t1"
ISOFS_TEST_TIMEOUT=60 refused_pull "a registry that never answers (--timeout 2)" "timed out" \
	--timeout 2 x "$PROXY_ADDR/test/img:t1"
proxy_stop

proxy_start stall "$R"
ISOFS_TEST_TIMEOUT=60 refused_pull "a registry that stalls in the middle of a layer" "blob sha256:.*timed out" \
	--tls-verify=false --timeout 2 x "$PROXY_ADDR/test/img:t1"
proxy_stop
partial_size=$(stat -c %s "$STORE/downloads/${BIG#sha256:}" 2>/dev/null || echo 0)
num "$partial_size" -gt 0 "... what came of the layer is kept under the store"
proxy_start pass "$R" "$T/proxy.log"
run iso image pull --tls-verify=false x "$PROXY_ADDR/test/img:t1"
proxy_stop
like "$(cat "$T/proxy.log")" "GET /v2/test/img/blobs/$BIG bytes=$partial_size-" \
	"the next pull asks for the rest of it only (Range: bytes=$partial_size-)"
if [ "$IMPORT" -eq 1 ]; then
	is "$RUN_RC" 0 "... and pulls the image" || diag "$RUN_ERR"
	run iso run x -- cat /data/keep
	is "$RUN_OUT" "keep v2" "... whole"
fi
is "$(ls -A "$STORE/downloads")" "" "... no partial blob left after it"

# ---- push ------------------------------------------------------------------------------

STORE=$FIRST_STORE
if [ "$IMPORT" -eq 1 ]; then
	proxy_start pass "$R" "$T/proxy3.log"
	run iso image pull --tls-verify=false again "$PROXY_ADDR/test/img:t1"
	proxy_stop
	is "$RUN_RC" 0 "a pull of an image whose layers the store has" || diag "$RUN_ERR"
	is "$(grep '^GET /v2/test/img/blobs/' "$T/proxy3.log" | cut -d' ' -f2)" "/v2/test/img/blobs/$CONFIG" \
		"... downloads its config only, no layer"
fi

if command -v podman >/dev/null && command -v runc >/dev/null; then
	# a private podman (lib-podman.sh), the vfs driver: it applies the layers itself
	. "$(dirname "$0")/lib-podman.sh"
	conf p vfs
	run pm p pull -q --tls-verify=false "$R/pushed/one:v1"
	is "$RUN_RC" 0 "podman pulls what the client pushed" || diag "$RUN_ERR"
	run pm p run --rm --pull=never "$R/pushed/one:v1"
	is "$RUN_OUT" "hello from /data as 1000:1000" "... and runs it: the image's own command, env, workdir, user" ||
		diag "$RUN_ERR"
	run pm p run --rm --pull=never --entrypoint /bin/sh "$R/pushed/one:v1" -c 'ls -A /data/dir /data/opq; test -e /data/gone || echo gone'
	is "$RUN_OUT" "/data/dir:
c

/data/opq:
z
gone" "... with the layers' deletions applied" || diag "$RUN_ERR"
else
	skip "podman pull of a pushed image" "podman or runc is not installed"
fi

# a second push finds every blob there (HEAD) and uploads none
proxy_start pass "$R" "$T/proxy2.log"
run "$TOOL" push-layout "$T/lay" "$PROXY_ADDR/pushed/one:v2" --tls-verify=false
proxy_stop
is "$RUN_RC" 0 "push again under another tag" || diag "$RUN_ERR"
is "$(grep -c '^POST' "$T/proxy2.log")" 0 "... uploads no blob the registry has"
is "$(grep -c '^HEAD /v2/pushed/one/blobs/' "$T/proxy2.log")" 4 "... having asked for each (HEAD)"

run iso image push --tls-verify=false img "$R/isofs/img:v1"
	is "$RUN_RC" 0 "image push NAME REF" || diag "$RUN_ERR"
	like "$RUN_OUT" "^pushed image 'img' to $R/isofs/img:v1 \(sha256:[0-9a-f]{64}\)$" "... one summary line"
	like "$(sk inspect --tls-verify=false "docker://$R/isofs/img:v1" 2>&1)" '"Digest": "sha256:' "... skopeo inspect finds it"
	if command -v podman >/dev/null && command -v runc >/dev/null; then
		run pm p pull -q --tls-verify=false "$R/isofs/img:v1"
		run pm p run --rm --pull=never "$R/isofs/img:v1"
		is "$RUN_OUT" "hello from /data as 1000:1000" "... podman pulls and runs it" || diag "$RUN_ERR"
	fi
	run iso image pull --tls-verify=false back "$R/isofs/img:v1"
	run iso run back -- sh -c 'ls -A /data/dir /data/opq'
	is "$RUN_OUT" "/data/dir:
c

/data/opq:
z" "... and pulls back to the same view" || diag "$RUN_ERR"
run iso image push --tls-verify=false img "$R/isofs/img@$MANIFEST"
expect_refused "a push to a digest"

# ---- basic auth over TLS (docker-registry's htpasswd) --------------------------------------

"$PYTHON" -W ignore -c '
import crypt, sys
print("alice:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH)))' >"$T/htpasswd"
registry_start "$T/reg-auth" --tls --htpasswd "$T/htpasswd" || bail_out "docker-registry (TLS, htpasswd) does not start"
A=$REGISTRY
sk copy -q --dest-tls-verify=false --dest-creds alice:s3cret "oci:$T/lay:t1" "docker://$A/private/img:t1" >"$T/skopeo.log" 2>&1 ||
	bail_out "skopeo copy to the auth registry: $(tail -2 "$T/skopeo.log")"
authfile() { printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$1" "$(printf '%s' "$2" | base64 -w0)"; }
authfile "$A" alice:s3cret >"$T/auth-good.json"
authfile "$A" alice:wrong >"$T/auth-bad.json"
authfile "$A/private" alice:s3cret >"$T/auth-repo.json"

store_snapshot
refused_pull "TLS with a certificate not trusted" "certificate is not trusted.*--tls-verify=false" x "$A/private/img:t1"
refused_pull "auth: no credentials" "needs credentials" --tls-verify=false x "$A/private/img:t1"
refused_pull "auth: a wrong password" "denied \(with the credentials" --tls-verify=false --authfile "$T/auth-bad.json" \
	x "$A/private/img:t1"
refused_pull "auth: a missing --authfile" "auth file .*No such file" --tls-verify=false --authfile "$T/nope.json" \
	x "$A/private/img:t1"
run "$TOOL" pull-layout "$A/private/img:t1" "$T/auth-pulled" "$T/partial" --tls-verify=false --authfile "$T/auth-good.json"
is "$RUN_OUT" "$MANIFEST" "auth: pull with --authfile (basic credentials)" || diag "$RUN_ERR"
run env REGISTRY_AUTH_FILE="$T/auth-repo.json" "$TOOL" pull-layout "$A/private/img:t1" "$T/auth-pulled2" "$T/partial" --tls-verify=false
is "$RUN_OUT" "$MANIFEST" "auth: \$REGISTRY_AUTH_FILE, an entry naming registry/namespace" || diag "$RUN_ERR"
mkdir -p "$HOME/.config/containers" && cp "$T/auth-good.json" "$HOME/.config/containers/auth.json"
run "$TOOL" pull-layout "$A/private/img:t1" "$T/auth-pulled3" "$T/partial" --tls-verify=false
is "$RUN_OUT" "$MANIFEST" "auth: ~/.config/containers/auth.json by default" || diag "$RUN_ERR"
run "$TOOL" push-layout "$T/multi" "$A/private/pushed:v1" --tls-verify=false
isnt "$RUN_RC" 0 "auth: push of an index layout is refused (one image per push)"
run "$TOOL" push-layout "$T/lay" "$A/private/pushed:v1" --tls-verify=false
is "$RUN_RC" 0 "auth: push with credentials" || diag "$RUN_ERR"
rm -f "$HOME/.config/containers/auth.json"
run "$TOOL" push-layout "$T/lay" "$A/private/pushed:v2" --tls-verify=false
like "$RUN_ERR" "needs credentials" "auth: push without credentials is refused"
if [ "$IMPORT" -eq 1 ]; then
	run iso image pull --tls-verify=false --authfile "$T/auth-good.json" priv "$A/private/img:t1"
	is "$RUN_RC" 0 "auth: image pull --authfile" || diag "$RUN_ERR"
fi

done_testing
