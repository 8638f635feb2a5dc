#!/bin/bash
# SPDX-License-Identifier: MIT
# Commands running at the same time on one store: 8 imports with different
# names all succeed; 4 imports of one name: exactly one succeeds, the others
# say it already exists; parallel removals; and an `image ls` loop meanwhile
# never fails and never shows an image that is not complete.
. "$(dirname "$0")/lib.sh"
setup_tmp

craft many many.tar --count 2000 --size 200 || bail_out "craft.py failed"
FILES=2021 # 2000 files, 20 directories and many/ itself
run iso image import first many.tar
is "$RUN_RC" 0 "a first import succeeds"
is "$(iso image inspect first | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["files"])')" "$FILES" \
	"sanity: a complete image has $FILES entries"

# The watcher: image ls and ls --json in a loop until $T/stop appears.  Any
# failure, stderr output, or an image listed with fewer entries goes to ls.errors.
watcher() {
	local n=0
	: >ls.errors
	while [ ! -e stop ]; do
		if ! iso image ls >ls.out 2>ls.err || [ -s ls.err ]; then
			echo "image ls failed: $(cat ls.err)" >>ls.errors
		fi
		if ! iso image ls --json >ls.json 2>ls.err || [ -s ls.err ]; then
			echo "image ls --json failed: $(cat ls.err)" >>ls.errors
		elif ! "$PYTHON" -c '
import json, sys
for i in json.load(open("ls.json")):
    if i["files"] != int(sys.argv[1]):
        print("%s listed with %s entries" % (i["name"], i["files"]))
        sys.exit(1)' "$FILES" >>ls.errors; then
			:
		fi
		n=$((n + 1))
	done
	echo "$n" >ls.count
}

watcher &
watcher_pid=$!
bg_track "$watcher_pid"
wait_until 10 test -e ls.json

# ---- 8 imports, 8 names --------------------------------------------------------------------

pids=()
for i in 1 2 3 4 5 6 7 8; do
	iso image import "p$i" many.tar >"p$i.out" 2>"p$i.err" &
	pids+=($!)
done
failed=0
for i in 1 2 3 4 5 6 7 8; do
	wait "${pids[$((i - 1))]}" || { failed=$((failed + 1)); diag "p$i: $(cat "p$i.err")"; }
done
is "$failed" 0 "8 parallel imports with different names all succeed"
is "$(cat p?.err)" "" "none of them prints an error"
is "$(image_names | tr '\n' ' ')" "first p1 p2 p3 p4 p5 p6 p7 p8 " "all 8 are listed"
bad=""
for i in 1 2 3 4 5 6 7 8; do
	[ "$(find "$STORE/images/p$i/rootfs" -mindepth 1 | wc -l)" -eq "$FILES" ] || bad="$bad p$i"
done
is "$bad" "" "each of them is complete"

# ---- 4 imports, 1 name -----------------------------------------------------------------------

pids=()
for i in 1 2 3 4; do
	iso image import same many.tar >"same$i.out" 2>"same$i.err" &
	pids+=($!)
done
winners=0 losers=0 others=""
for i in 1 2 3 4; do
	wait "${pids[$((i - 1))]}"
	case $? in
	0) winners=$((winners + 1)) ;;
	1) if [ "$(wc -l <"same$i.err")" -eq 1 ] && grep -q "^isofs: image 'same' already exists$" "same$i.err"; then
		losers=$((losers + 1))
	else
		others="$others [$i: $(cat "same$i.err")]"
	fi ;;
	*) others="$others [$i: exit $?]" ;;
	esac
done
is "$winners" 1 "4 parallel imports of one name: exactly one succeeds"
is "$losers" 3 "the other 3 fail with exit 1 and one line: image 'same' already exists"
is "$others" "" "no other outcome"
is "$(find "$STORE/images/same/rootfs" -mindepth 1 | wc -l)" "$FILES" "the image 'same' is complete"
ok "STORE/tmp is empty after the race" tmp_is_empty

# ---- removals ------------------------------------------------------------------------------

pids=()
for i in 1 2 3 4 5 6 7 8; do
	iso image rm "p$i" >"rm$i.out" 2>"rm$i.err" &
	pids+=($!)
done
failed=0
for i in 1 2 3 4 5 6 7 8; do
	wait "${pids[$((i - 1))]}" || { failed=$((failed + 1)); diag "rm p$i: $(cat "rm$i.err")"; }
done
is "$failed" 0 "8 parallel removals succeed"
pids=()
for i in 1 2; do
	iso image rm same >"rmsame$i.out" 2>"rmsame$i.err" &
	pids+=($!)
done
rcs=""
for i in 1 2; do
	wait "${pids[$((i - 1))]}"
	rcs="$rcs$?"
done
like "$rcs" '^(01|10)$' "2 parallel removals of one image: one succeeds, one fails"
like "$(cat rmsame?.err)" "^isofs: no image named 'same'\$" "the loser says there is no such image"

touch stop
wait "$watcher_pid"
num "$(cat ls.count)" -ge 3 "image ls ran $(cat ls.count) times meanwhile"
is "$(cat ls.errors)" "" "image ls never failed nor showed an incomplete image"
is "$(image_names)" first "only the first image is left"
ok "STORE/tmp is empty at the end" tmp_is_empty

done_testing
