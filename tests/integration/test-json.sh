#!/bin/bash
# JSON frames: isofs run --json and isofs serve (docs/protocol.md).
. "$(dirname "$0")/lib.sh"
setup_tmp

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true

# Checks the frames in a file and prints, per stream, the reassembled bytes (hex) and the last exit frame.
CHECK=$(cat <<'PY'
import base64, json, sys
frames = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
out = {"stdout": b"", "stderr": b""}
exits = [i for i, f in enumerate(frames) if f["type"] == "exit"]
assert len(exits) == 1, "exactly one exit frame, got %d" % len(exits)
assert exits[0] == len(frames) - 1, "the exit frame is the last"
for f in frames:
    if f["type"] == "log":
        assert f["stream"] in out, f
        if "data" in f:
            assert "data_b64" not in f
            out[f["stream"]] += f["data"].encode("utf-8")
        else:
            out[f["stream"]] += base64.b64decode(f["data_b64"], validate=True)
mode = sys.argv[2]
if mode == "sha":
    import hashlib
    print(hashlib.sha256(out["stdout"]).hexdigest(), len(out["stdout"]))
elif mode == "hex":
    print(out["stdout"].hex(), out["stderr"].hex())
elif mode == "text":
    print(repr(out["stdout"]), repr(out["stderr"]))
print(json.dumps(frames[-1], sort_keys=True))
PY
)
frames() { "$PYTHON" -c "$CHECK" "$@"; }

# ---- run --json -----------------------------------------------------------------------
run iso run --json bb -- /bin/sh -c 'echo out; echo err >&2; exit 3'
is "$RUN_RC" 3 "run --json exits with the command's status"
echo "$RUN_OUT" >"$T/f1"
run frames "$T/f1" text
is "$RUN_OUT" $'b\'out\\n\' b\'err\\n\'\n{"code": 3, "type": "exit"}' "stdout and stderr frames, then the exit frame"

# large output: 3 MiB reassembles exactly
head -c 3145728 /dev/urandom | base64 -w 100 >"$T/big"
cp "$T/big" "$T/share-big" 2>/dev/null
mkdir -p "$T/share" && cp "$T/big" "$T/share/big"
run iso run --json --bind "$T/share:/mnt:ro" bb -- cat /mnt/big
echo "$RUN_OUT" >"$T/f2"
run frames "$T/f2" sha
is "$(echo "$RUN_OUT" | head -1)" "$(sha256sum <"$T/big" | cut -d' ' -f1) $(stat -c %s "$T/big")" \
	"3 MiB of output reassemble exactly"

# binary output: data_b64, byte for byte
run iso run --json bb -- /bin/sh -c 'printf "\377\376\000\001abc"'
echo "$RUN_OUT" >"$T/f3"
run frames "$T/f3" hex
is "$(echo "$RUN_OUT" | head -1)" "fffe0001616263 " "binary output goes as data_b64, byte for byte"
like "$(cat "$T/f3")" '"data_b64"' "... in data_b64 frames"

# a UTF-8 sequence written in two halves is never split across frames
run iso run --json bb -- /bin/sh -c 'printf "caf\303"; sleep 0.3; printf "\251!\n"'
echo "$RUN_OUT" >"$T/f4"
run frames "$T/f4" text
is "$(echo "$RUN_OUT" | head -1)" "b'caf\\xc3\\xa9!\\n' b''" "a split UTF-8 sequence arrives whole"
unlike "$(cat "$T/f4")" 'data_b64' "... as text, never as bytes"

# interleaved streams keep their order within each stream; unterminated output arrives
run iso run --json bb -- /bin/sh -c 'for i in 1 2 3 4 5; do echo o$i; echo e$i >&2; done; printf tail'
echo "$RUN_OUT" >"$T/f5"
run frames "$T/f5" text
is "$(echo "$RUN_OUT" | head -1)" "b'o1\\no2\\no3\\no4\\no5\\ntail' b'e1\\ne2\\ne3\\ne4\\ne5\\n'" \
	"interleaved streams keep their order; an unterminated line arrives"

run iso run --json bb -- /bin/sh -c 'kill -TERM $$'
echo "$RUN_OUT" >"$T/f6"
run frames "$T/f6" text
is "$(echo "$RUN_OUT" | tail -1)" '{"code": 143, "signal": 15, "type": "exit"}' "a command killed by a signal: code 128+N and signal"

run iso run --json bb -- /no/such
is "$RUN_RC" 127 "--json: a missing command exits 127"
is "$(echo "$RUN_OUT" | head -1 | "$PYTHON" -c 'import json,sys; f=json.loads(sys.stdin.read()); print(f["type"], f["code"])')" \
	"error 127" "... with an error frame"
is "$(echo "$RUN_OUT" | tail -1)" '{"type":"exit","code":127}' "... then the exit frame"
run iso run --json nosuchimage -- true
is "$RUN_RC" 125 "--json: a setup failure exits 125"
like "$RUN_OUT" '"type":"error","code":125' "... with an error frame"

# ---- serve ---------------------------------------------------------------------------------------
cat >"$T/requests" <<'EOF'
{"type":"exec","argv":["sh","-c","echo one > /tmp/f; echo hi; cat"],"stdin":"fed\n"}
this is not json
{"type":"nope"}
["an","array"]
{"type":"exec"}
{"type":"exec","argv":[1,2]}
{"type":"exec","argv":["cat","/tmp/f"]}
{"type":"exec","argv":["/no/such"]}
{"type":"exec","argv":["sh","-c","pwd; echo $FOO; id -u"],"env":{"FOO":"bar"},"cwd":"/etc","user":"1000"}
{"type":"exec","argv":["sh","-c","cat | wc -c"],"stdin_b64":"AAECAw=="}
EOF
"$PYTHON" -c 'import sys; sys.stdout.write("{\"type\":\"exec\",\"argv\":[\"" + "x" * 1100000 + "\"]}\n")' >>"$T/requests"
echo '{"type":"exec","argv":["echo","after the long frame"]}' >>"$T/requests"
run sh -c "timeout 60 '$ISOFS_BIN' --store '$STORE' serve bb < '$T/requests'"
is "$RUN_RC" 0 "serve ends cleanly at EOF"
echo "$RUN_OUT" >"$T/serve.out"
SUMMARY=$(cat <<'PY'
import json, sys
out = ""
for l in open(sys.argv[1]):
    f = json.loads(l)
    if f["type"] == "log":
        out += f.get("data", f.get("data_b64"))
    elif f["type"] == "exit":
        if out:
            print("out", repr(out))
        out = ""
        print("exit", f["code"])
    elif f["type"] == "error":
        print("error", f["code"], f["message"])
    else:
        print(f["type"], f.get("version"))
PY
)
run "$PYTHON" -c "$SUMMARY" "$T/serve.out"
is "$RUN_OUT" "hello 1
out 'hi\\nfed\\n'
exit 0
error 400 malformed JSON
error 400 unknown frame type 'nope'
error 400 a frame must be a JSON object
error 400 \"argv\" must be a non-empty array of strings
error 400 \"argv\" must be a non-empty array of strings
out 'one\\n'
exit 0
error 127 /no/such: No such file or directory
exit 127
out '/etc\\nbar\\n1000\\n'
exit 0
out '4\\n'
exit 0
error 400 frame too long
out 'after the long frame\\n'
exit 0" "serve: requests in one sandbox, files kept between them; bad frames refused and the session goes on"
ok "serve leaves nothing in the store's tmp/" tmp_is_empty

run sh -c "printf '' | timeout 30 '$ISOFS_BIN' --store '$STORE' serve bb"
is "$RUN_RC" 0 "serve with an empty input ends at once"
like "$RUN_OUT" '^\{"type":"hello","version":1,"sandbox":"bb-' "... after its hello frame"
run sh -c "printf '' | timeout 30 '$ISOFS_BIN' --store '$STORE' serve nosuchimage"
is "$RUN_RC" 125 "serve of a missing image exits 125"
like "$RUN_OUT" '"type":"error","code":125' "... with an error frame"

# Frames nobody can read: the loss is an error, not a success.
run sh -c "timeout 30 '$ISOFS_BIN' --store '$STORE' run --json bb -- echo lost >&-"
is "$RUN_RC" 125 "run --json with stdout closed: 125, not the command's 0"
like "$RUN_ERR" "JSON frames could not be written to stdout" "... and says why"
run sh -c "echo '{\"type\":\"exec\",\"argv\":[\"true\"]}' | timeout 30 '$ISOFS_BIN' --store '$STORE' serve bb >&-"
is "$RUN_RC" 125 "serve with stdout closed: 125"
like "$RUN_ERR" "JSON frames could not be written to stdout" "... and says why"

done_testing
