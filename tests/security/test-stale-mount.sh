#!/bin/bash
# A stale mount record: the view of a mounted sandbox is unmounted behind
# isofs's back (or its server killed) while a copy of the mount in another
# mount namespace keeps the server alive.  `isofs run --sandbox` must never
# run on the bare directory underneath: the canary planted there is neither
# read nor overwritten and nothing is written there.  `isofs umount` then ends
# the server (root: fusectl abort) or says how (rootless).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-security.sh"
setup_tmp
plant_canary

unmount_all_at_exit
mounted() { awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo; }
running() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
daemon_pid() { sed -n 's/.*"pid":[[:space:]]*\([0-9]*\).*/\1/p' "$STORE/sandboxes/$1/mount.json" 2>/dev/null; }
# A copy of every current mount, in a mount namespace that outlives our unmounts.
hold_copy() {
	if [ "$IS_ROOT" -eq 1 ]; then
		unshare -m sleep 1000 &
	else
		unshare -Urm sleep 1000 &
	fi
	HOLDER=$!
	bg_track "$HOLDER"
	wait_until 10 test "$(readlink "/proc/$HOLDER/ns/mnt" 2>/dev/null)" != "$(readlink /proc/self/ns/mnt)" \
		-a "$(cat "/proc/$HOLDER/comm" 2>/dev/null)" = sleep
}
bare_listing() { (cd "$T/mp" && find . -printf '%P|%y|%s\n' | LC_ALL=C sort); }
ATTACK='cat /etc/shadow; echo overwritten > /etc/shadow; touch /planted; echo ran'

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true

# The mountpoint holds the canary: what a command would see if it ran on the bare directory.
mkdir -p "$T/mp/etc"
cp "$CANARY" "$T/mp/etc/shadow"
before=$(bare_listing)

# ---- unmounted behind isofs's back, the server kept alive by a copy --------------------
run iso mount bb "$T/mp" --sandbox s1
is "$RUN_RC" 0 "mount sandbox s1"
pid=$(daemon_pid s1)
at_cleanup "kill -9 ${pid:-0}"
ok "mount.json records the mount's device" grep -q '"dev"' "$STORE/sandboxes/s1/mount.json"
hold_copy
if [ "$IS_ROOT" -eq 1 ]; then umount "$T/mp"; else fusermount3 -u "$T/mp"; fi
nok "the view is unmounted here" mounted "$T/mp"
ok "its server lives on (the copy keeps the connection)" running "$pid"

run iso run --sandbox s1 -- sh -c "$ATTACK"
expect_refused "run --sandbox through the stale record" 125
like "$RUN_ERR" "not its live mount" "the error says the recorded mountpoint is not the live mount"
no_canary "the canary in the bare directory was not read" "$RUN_OUT" "$RUN_ERR"
is "$(cat "$T/mp/etc/shadow")" "$CANARY_TEXT" "the canary in the bare directory is not overwritten"
is "$(bare_listing)" "$before" "nothing was written into the bare directory"

# ---- umount: root aborts the connection; a user is told how ---------------------------------
run iso umount "$T/mp"
if [ "$IS_ROOT" -eq 1 ]; then
	is "$RUN_RC" 0 "umount ends the server kept alive by the copy"
	like "$RUN_ERR" "FUSE connection was aborted through fusectl" "... and says it aborted the connection"
	wait_until 10 eval "! running $pid"
	nok "the server has exited" running "$pid"
else
	expect_refused "umount as a user cannot abort the connection"
	like "$RUN_ERR" "only root can abort it" "the error says only root can abort it"
	like "$RUN_ERR" "kill $pid" "... and how to end the server"
	kill -9 "$HOLDER"
	wait "$HOLDER" 2>/dev/null
	wait_until 20 eval "! running $pid"
	nok "the server exits once the copy's namespace is gone" running "$pid"
fi
ok "mount.json is gone" test ! -e "$STORE/sandboxes/s1/mount.json"
kill -9 "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null

run iso run --sandbox s1 -- sh -c 'echo in-sandbox > /written; cat /etc/shadow 2>&1; true'
is "$RUN_RC" 0 "the sandbox runs again once cleaned"
no_canary "... on its own view, not the bare directory" "$RUN_OUT"
ok "... its write is in the upper directory" test -f "$STORE/sandboxes/s1/upper/written"
is "$(bare_listing)" "$before" "... and not in the bare directory"

# ---- a killed server's record, its dead mount detached ------------------------------------------
run iso mount bb "$T/mp" --sandbox s2
is "$RUN_RC" 0 "mount sandbox s2"
pid=$(daemon_pid s2)
kill -9 "${pid:-0}"
wait_until 10 eval "! running ${pid:-0}"
force_unmount "$T/mp"
ok "the killed server's record stays behind" test -e "$STORE/sandboxes/s2/mount.json"
run iso run --sandbox s2 -- sh -c "$ATTACK"
is "$RUN_RC" 0 "run --sandbox after a killed server runs on a fresh view"
no_canary "the canary was not read" "$RUN_OUT" "$RUN_ERR"
is "$(cat "$T/mp/etc/shadow")" "$CANARY_TEXT" "the canary is not overwritten"
is "$(bare_listing)" "$before" "nothing was written into the bare directory"
ok "the command's writes are in s2's upper directory" test -f "$STORE/sandboxes/s2/upper/planted"
ok "the stale record stays (umount answers from it)" test -e "$STORE/sandboxes/s2/mount.json"
run iso umount "$T/mp"
is "$RUN_RC" 0 "umount after the run: the same answer as right after the crash"
like "$RUN_ERR" "its overlay server had died" "... it says the server had died"
ok "... and the stale record is gone" test ! -e "$STORE/sandboxes/s2/mount.json"

done_testing
