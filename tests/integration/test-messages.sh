#!/bin/bash
# SPDX-License-Identifier: MIT
# Messages and checks (issue 14): errors name the path or value they are
# about; the store's file system is probed once (a ramfs store refused at
# once, naming what it lacks); an overlay server that cannot mount says why
# (libfuse's reason) and leaves no sandbox behind; --json times in ISO 8601
# and unix everywhere; -t without -i gives a terminal but no input; export
# shows progress on a terminal.
. "$(dirname "$0")/lib.sh"
setup_tmp

run iso image bootstrap bb --busybox
[ "$RUN_RC" -eq 0 ] || bail_out "bootstrap failed: $RUN_ERR"

run iso run -w /nonexist bb pwd
is "$RUN_RC" 125 "-w to a missing directory: 125"
like "$RUN_ERR" "'/nonexist'" "... the error names the directory"

# ---- --json times: ISO 8601 (UTC) and unix, in every listing ----
run iso sandbox create s1 bb
for what in image sandbox; do
	run iso "$what" ls --json
	is "$(echo "$RUN_OUT" | "$PYTHON" -c '
import json, sys, datetime
for o in json.load(sys.stdin):
    t = datetime.datetime.strptime(o["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    assert int(t.timestamp()) == int(o["created_unix"]), o
print("ok")')" ok "$what ls --json: created (ISO 8601, UTC) and created_unix agree"
done

# ---- -t alone: a terminal, no input ----
run bash -c 'echo data | "$1" --store "$2" run -t bb sh -c '"'"'read -t 2 x; echo "got:$x"'"'"'' _ "$ISOFS_BIN" "$STORE"
like "$RUN_OUT" $'got:\r?$' "-t without -i: the command reads nothing of isofs's stdin"
run bash -c 'echo data | "$1" --store "$2" run -t -i bb sh -c '"'"'read -t 2 x; echo "got:$x"'"'"'' _ "$ISOFS_BIN" "$STORE"
like "$RUN_OUT" 'got:data' "-t -i: it does"

# ---- export progress on a terminal ----
if command -v script >/dev/null; then
	run script -qefc "'$ISOFS_BIN' --store '$STORE' image export bb '$T/bb.tar'" /dev/null
	like "$RUN_OUT" 'exporting .*entries' "export on a terminal: a progress bar (bytes, entries)"
	run script -qefc "'$ISOFS_BIN' --store '$STORE' image export bb '$T/bb-oci.tar' --format oci" /dev/null
	like "$RUN_OUT" 'exporting: layer 1 of 1' "export --format oci on a terminal: a line per layer"
	run iso image export bb "$T/bb2.tar"
	is "$RUN_ERR" "" "... and nothing on stderr when it is not a terminal"
else
	skip "script(1) missing: no terminal to show progress on"
fi

# ---- root: a store on ramfs; a FUSE device that cannot mount ----
if [ "$IS_ROOT" -eq 1 ]; then
	mkdir -p "$T/ramfs"
	if mount -t ramfs none "$T/ramfs" 2>/dev/null; then
		at_cleanup "umount -l '$T/ramfs' 2>/dev/null"
		run isofs_cmd --store "$T/ramfs/store" image ls
		is "$RUN_RC" 1 "a store on ramfs is refused at once"
		is "$RUN_ERR_LINES" 1 "... in one line"
		like "$RUN_ERR" "ramfs cannot keep extended attributes" "... naming the file system and what it lacks"
		ok "... nothing left in its tmp/" test -z "$(ls -A "$T/ramfs/store/tmp" 2>/dev/null)"
		umount "$T/ramfs"
	else
		skip "ramfs cannot be mounted here"
	fi
	mkdir -p "$T/mp"
	run unshare -m sh -c "mount --bind /dev/null /dev/fuse && exec '$ISOFS_BIN' --store '$STORE' mount bb '$T/mp'"
	is "$RUN_RC" 1 "mount with a /dev/fuse that is not the FUSE device: refused"
	is "$RUN_ERR_LINES" 1 "... in one line"
	like "$RUN_ERR" "cannot mount on '$T/mp': fuse: " "... with libfuse's reason"
	is "$(iso sandbox ls -q)" "s1" "... and the sandbox made for the mount is gone"
else
	skip "ramfs store and /dev/fuse checks: root only (mounts)"
fi
ok "STORE/tmp is empty" tmp_is_empty

done_testing
