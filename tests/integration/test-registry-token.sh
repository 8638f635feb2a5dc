#!/bin/bash
# image pull and push against the reference registry (Debian's docker-registry)
# configured for bearer tokens: the registry sends clients to token_server.py,
# which issues RS256 JWTs the registry verifies against the test's own
# certificate.  Anonymous pulls of public/ repositories, credentials from an
# auth file for the rest and for pushes, the scopes the client asks for, and
# tokens the registry refuses (signed by another key, expired), each refusal
# leaving the store as it was.  Root and rootless.
. "$(dirname "$0")/lib.sh"
setup_tmp

command -v docker-registry >/dev/null || skip_all "docker-registry is not installed (Debian package docker-registry)"
command -v skopeo >/dev/null || skip_all "skopeo is not installed"
command -v openssl >/dev/null || skip_all "openssl is not installed"
unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR ISOFS_REGISTRY_TIMEOUT
OCI=$TESTS_DIR/oci_image.py
USERPASS=alice:s3cret

# ---- the token service and the registry ------------------------------------------------

mkdir -p "$T/tok"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=isofs-test-token-signer \
	-keyout "$T/tok/key.pem" -out "$T/tok/token-cert.pem" >/dev/null 2>&1 &&
	openssl genrsa -out "$T/tok/forged-key.pem" 2048 >/dev/null 2>&1 || bail_out "openssl cannot make the keys"
TOKLOG=$T/tok/log
MODE_FILE=$T/tok/mode
: >"$TOKLOG"
"$PYTHON" "$TESTS_DIR/token_server.py" "$T/tok/port" "$TOKLOG" "$T/tok/key.pem" "$T/tok/token-cert.pem" "$USERPASS" \
	--mode-file "$MODE_FILE" --forged-key "$T/tok/forged-key.pem" >"$T/tok/err" 2>&1 &
bg_track $!
wait_until 20 test -s "$T/tok/port" || bail_out "token_server.py does not start: $(cat "$T/tok/err")"
REALM=http://127.0.0.1:$(cat "$T/tok/port")/token

registry_start "$T/reg" --token "$REALM" "$T/tok/token-cert.pem" ||
	bail_out "docker-registry (token auth) does not start: $(tail -3 "$T/reg/log" 2>/dev/null)"
R=$REGISTRY

# the registry asks for tokens from the realm (not a registry open to all)
run "$PYTHON" - "$R" <<-'EOF'
	import sys, urllib.error, urllib.request
	try:
	    urllib.request.urlopen(f"http://{sys.argv[1]}/v2/")
	    print("200")
	except urllib.error.HTTPError as e:
	    print(e.code, e.headers.get("WWW-Authenticate"))
EOF
is "$RUN_OUT" "401 Bearer realm=\"$REALM\",service=\"isofs-test\"" "the registry sends clients to the token service"

# tok_mark: remember where the token log is; tok_new: the lines logged since.  A refused
# request is tried once more with a new token (the first may have expired): a refusal asks twice.
tok_mark() { _tok_lines=$(wc -l <"$TOKLOG"); }
tok_new() { tail -n "+$((_tok_lines + 1))" "$TOKLOG"; }

# fill it as any client with credentials would (skopeo, through the same token service)
"$PYTHON" "$OCI" "$T/lay" --ref t1 || bail_out "oci_image.py failed"
for repo in public/x private/y; do
	timeout -k 10 120 skopeo --insecure-policy copy -q --dest-tls-verify=false --dest-creds "$USERPASS" \
		"oci:$T/lay:t1" "docker://$R/$repo:t1" >"$T/skopeo.log" 2>&1 ||
		bail_out "skopeo copy to $repo: $(tail -2 "$T/skopeo.log")"
done
MANIFEST=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
	"$T/lay/index.json")

authfile() { printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$1" "$(printf '%s' "$2" | base64 -w0)"; }
authfile "$R" "$USERPASS" >"$T/auth-good.json"
authfile "$R" alice:wrong >"$T/auth-bad.json"

run iso image ls

# refused_pull DESC REGEX ARGS…: refused with one line matching REGEX, the store as it was
refused_pull() {
	local desc=$1 re=$2
	shift 2
	store_snapshot
	run iso image pull "$@"
	expect_refused "$desc"
	like "$RUN_ERR" "$re" "$desc: the message names the problem"
	expect_store_unchanged "$desc"
}

# ---- pull ------------------------------------------------------------------------------

tok_mark
run iso image pull --tls-verify=false pub "$R/public/x:t1"
is "$RUN_RC" 0 "anonymous pull of public/x" || diag "$RUN_ERR"
like "$RUN_OUT" "^pulled image 'pub': " "... one summary line"
is "$(tok_new)" "isofs-test repository:public/x:pull -" \
	"... one token asked for, anonymously, for repository:public/x:pull (kept for every request after)"
run iso run pub
is "$RUN_OUT" "hello from /data as 1000:1000" "... isofs run shows the image: its own command" || diag "$RUN_ERR"
run iso run pub -- cat /data/keep
is "$RUN_OUT" "keep v2" "... and its files" || diag "$RUN_ERR"

tok_mark
refused_pull "anonymous pull of private/y" "^isofs: registry $R: access to private/y denied" \
	--tls-verify=false priv "$R/private/y:t1"
is "$(tok_new | sort -u)" "isofs-test repository:private/y:pull -" \
	"... the token asked for: repository:private/y:pull, anonymously"

tok_mark
refused_pull "pull of private/y with a wrong password" "credentials are refused" \
	--tls-verify=false --authfile "$T/auth-bad.json" priv "$R/private/y:t1"
like "$(tok_new)" "^isofs-test repository:private/y:pull refused$" "... the token service refused them"

tok_mark
run iso image pull --tls-verify=false --authfile "$T/auth-good.json" priv "$R/private/y:t1"
is "$RUN_RC" 0 "pull of private/y with --authfile" || diag "$RUN_ERR"
is "$(tok_new)" "isofs-test repository:private/y:pull alice" \
	"... one token, for the user, scope repository:private/y:pull"
run iso run priv -- cat /data/keep
is "$RUN_OUT" "keep v2" "... isofs run shows the image" || diag "$RUN_ERR"
like "$(iso image ls --json)" "registry:$R/private/y:t1@$MANIFEST" \
	"... its source: the reference and the manifest's digest"

# ---- push ------------------------------------------------------------------------------

tok_mark
run iso image push --tls-verify=false --authfile "$T/auth-good.json" pub "$R/private/pushed:v1"
is "$RUN_RC" 0 "push with credentials" || diag "$RUN_ERR"
like "$RUN_OUT" "^pushed image 'pub' to $R/private/pushed:v1 \(sha256:[0-9a-f]{64}\)$" "... one summary line"
is "$(tok_new)" "isofs-test repository:private/pushed:pull,push alice" \
	"... one token, for the user, scope repository:private/pushed:pull,push"
like "$(timeout -k 10 60 skopeo inspect --tls-verify=false --creds "$USERPASS" "docker://$R/private/pushed:v1" 2>&1)" \
	'"Digest": "sha256:' "... skopeo finds it"
run iso image pull --tls-verify=false --authfile "$T/auth-good.json" back "$R/private/pushed:v1"
run iso run back
is "$RUN_OUT" "hello from /data as 1000:1000" "... pulled back, it runs" || diag "$RUN_ERR"

# refused_push DESC REGEX ARGS…
refused_push() {
	local desc=$1 re=$2
	shift 2
	run iso image push "$@"
	expect_refused "$desc"
	like "$RUN_ERR" "$re" "$desc: the message names the problem"
}
tok_mark
refused_push "anonymous push to private/" "^isofs: registry $R: access to private/pushed denied" \
	--tls-verify=false pub "$R/private/pushed:v2"
is "$(tok_new | sort -u)" "isofs-test repository:private/pushed:pull,push -" \
	"... asking for repository:private/pushed:pull,push"
tok_mark
refused_push "anonymous push to public/ (pull only)" "^isofs: registry $R: access to public/x denied" \
	--tls-verify=false pub "$R/public/x:v2"
is "$(tok_new | sort -u)" "isofs-test repository:public/x:pull,push -" "... asking for repository:public/x:pull,push"
like "$(timeout -k 10 60 skopeo inspect --tls-verify=false --creds "$USERPASS" "docker://$R/public/x:v2" 2>&1)" \
	'manifest unknown' "... nothing pushed"

# ---- a token that expires in the middle of a pull ----------------------------------------

# registry_proxy.py expires the token at the first request for the first layer: the layers'
# parallel downloads must get a new token and go on (Docker Hub's tokens last 300 s).
BIG=$("$PYTHON" - "$T/lay" <<-'EOF'
	import json, sys
	d = sys.argv[1]
	idx = json.load(open(d + "/index.json"))
	print(json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))["layers"][0]["digest"])
EOF
)
rm -f "$T/proxy.port"
"$PYTHON" "$TESTS_DIR/registry_proxy.py" "$T/proxy.port" expire "$R" "$T/proxy.log" "$BIG" >"$T/proxy.err" 2>&1 &
bg_track $!
wait_until 20 test -s "$T/proxy.port" || bail_out "registry_proxy.py does not start: $(cat "$T/proxy.err")"
P=127.0.0.1:$(cat "$T/proxy.port")
FIRST_STORE=$STORE
STORE=$T/store-expire # no layer there: each is downloaded
tok_mark
run iso image pull --tls-verify=false exp "$P/public/x:t1"
is "$RUN_RC" 0 "a token that expires while the layers download: the pull goes on" || diag "$RUN_ERR"
like "$(cat "$T/proxy.log")" "GET /v2/public/x/blobs/$BIG - 401
(.*
)*GET /v2/public/x/blobs/$BIG - 200" "... the layer refused (401), then asked for again and sent"
is "$(tok_new)" "isofs-test repository:public/x:pull -
isofs-test repository:public/x:pull -" "... with one second token for all the transfers refused"
run iso run exp -- cat /data/keep
is "$RUN_OUT" "keep v2" "... the image whole" || diag "$RUN_ERR"
STORE=$FIRST_STORE

# ---- tokens the registry refuses -------------------------------------------------------

echo forged >"$MODE_FILE"
REFUSED="^isofs: registry $R: refuses the tokens of its token service $REALM \\(invalid_token\\)$"
refused_pull "a token signed by another key" "$REFUSED" --tls-verify=false x "$R/public/x:t1"
like "$(cat "$T/reg/log")" "unable to verify token signature" "... the registry checked the signature and refused it"
echo expired >"$MODE_FILE"
refused_pull "an expired token" "$REFUSED" --tls-verify=false x "$R/public/x:t1"
like "$(cat "$T/reg/log")" "token not to be used after" "... the registry found it expired"
rm -f "$MODE_FILE"
run iso image pull --tls-verify=false x "$R/public/x:t1"
is "$RUN_RC" 0 "a good token again: the pull works" || diag "$RUN_ERR"

done_testing
