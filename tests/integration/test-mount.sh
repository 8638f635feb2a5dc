#!/bin/bash
# isofs mount / isofs umount: a writable view, its sandbox, the server's life
# cycle, a killed server, second mounts, read-only views, bad input.
. "$(dirname "$0")/lib.sh"
setup_tmp

unmount_all_at_exit

mounted() { awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo; }
# Alive and not a zombie (an exited daemon may wait for a reaper that is not ours).
running() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
daemon_pid() { sed -n 's/.*"pid":[[:space:]]*\([0-9]*\).*/\1/p' "$STORE/sandboxes/$1/mount.json" 2>/dev/null; }

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true
mkdir -p "$T/mp" "$T/mp2" "$T/ro"

# ---- a new sandbox, the view ready when the command returns ---------------------
run iso mount bb "$T/mp"
is "$RUN_RC" 0 "mount with a generated sandbox name"
SB=$RUN_OUT
like "$SB" '^bb-[a-z0-9]{6}$' "the generated sandbox name is printed"
ok "the view is ready when mount returns" test -x "$T/mp/bin/busybox"
ok "the mount is a fuse.isofs-overlay mount" grep -q " $T/mp fuse.isofs-overlay " /proc/self/mounts
ok "the server's log is in the store" test -f "$STORE/sandboxes/$SB/daemon.log"
pid=$(daemon_pid "$SB")
num "${pid:-0}" -gt 1 "mount.json names the server's pid"

# ---- writes go to the upper directory ------------------------------------------
echo "written in the view" >"$T/mp/etc/motd"
echo "appended" >>"$T/mp/etc/passwd"
rm "$T/mp/etc/hosts"
mkdir "$T/mp/work"
is "$(cat "$T/mp/etc/motd")" "written in the view" "a new file reads back"
(umask 0 && mkdir "$T/mp/u0" && touch "$T/mp/u0/f" && umask 027 && mkdir "$T/mp/u27" && touch "$T/mp/u27/f")
is "$(stat -c %a "$T/mp/u0" "$T/mp/u0/f" "$T/mp/u27" "$T/mp/u27/f" | tr '\n' ' ')" "777 666 750 640 " \
	"new modes follow the caller's umask alone (0 and 027)"
ok "the upper holds the new file" test -f "$STORE/sandboxes/$SB/upper/etc/motd"
ok "the upper holds the copied-up file" grep -q appended "$STORE/sandboxes/$SB/upper/etc/passwd"
is "$(stat -c '%t:%T %F' "$STORE/sandboxes/$SB/upper/etc/hosts" 2>&1)" "0:0 character special file" \
	"a removed image file is a 0/0 whiteout in the upper"
nok "the image itself is unchanged" grep -q appended "$STORE/images/bb/rootfs/etc/passwd"
ok "the image still has the removed file" test -f "$STORE/images/bb/rootfs/etc/hosts"

# ---- one server per sandbox ------------------------------------------------------
run iso mount bb "$T/mp2" --sandbox "$SB"
expect_refused "a second mount of a mounted sandbox"
like "$RUN_ERR" "already mounted at $T/mp" "the error says where it is mounted"
nok "nothing was mounted at the second mountpoint" mounted "$T/mp2"
nmounts() { awk -v p="$1" '$5 == p { n++ } END { print n + 0 }' /proc/self/mountinfo; }
run iso mount bb "$T/mp" --read-only
expect_refused "a view over a mountpoint that is already a mount (no stacking)"
like "$RUN_ERR" "already a mount point" "... the error says why"
is "$(nmounts "$T/mp")" 1 "... one mount there still"

# ---- umount waits for the server ----------------------------------------------------
run iso umount "$T/mp"
is "$RUN_RC" 0 "umount"
nok "the view is gone" mounted "$T/mp"
nok "the server has exited when umount returns" running "$pid"
ok "mount.json is gone" test ! -e "$STORE/sandboxes/$SB/mount.json"

# What a server that died mid-copy-up left in the work dir goes at the next mount.
W=$STORE/sandboxes/$SB/work/work
mkdir -p "$W/#dead.2/sub" && echo stale >"$W/#dead.1" && echo x >"$W/#dead.2/sub/f" && chmod 000 "$W/#dead.2/sub"
run iso mount bb "$T/mp" --sandbox "$SB"
is "$RUN_RC" 0 "mount the sandbox again"
is "$(ls -A "$W" 2>&1)" "" "the work dir is empty after the mount (stale copy-ups removed)"
is "$RUN_OUT" "$SB" "the sandbox's name is printed"
is "$(cat "$T/mp/etc/motd" 2>&1)" "written in the view" "the new file is still there"
ok "the copied-up file kept its change" grep -q appended "$T/mp/etc/passwd"
ok "the removed file stays removed" test ! -e "$T/mp/etc/hosts"
ok "the new directory is there" test -d "$T/mp/work"

# ---- a killed server: no hang, nothing closed or fsync'ed lost ----------------------
echo "closed before the kill" >"$T/mp/work/closed"
dd if=/dev/zero of="$T/mp/work/synced" bs=64k count=4 conv=fsync status=none
pid=$(daemon_pid "$SB")
kill -9 "$pid"
wait_until 5 eval "! running $pid"
run timeout 10 ls "$T/mp"
isnt "$RUN_RC" 0 "the mountpoint of a killed server fails"
isnt "$RUN_RC" 124 "... without hanging"
like "$RUN_ERR" "Transport endpoint is not connected" "... with ENOTCONN"
run iso mount bb "$T/mp2" --sandbox "$SB"
is "$RUN_RC" 0 "the sandbox of a killed server mounts again elsewhere"
is "$(cat "$T/mp2/work/closed" 2>&1)" "closed before the kill" "a file closed before the kill is there"
is "$(stat -c %s "$T/mp2/work/synced" 2>&1)" 262144 "a file fsync'ed before the kill is whole"
run iso umount "$T/mp"
is "$RUN_RC" 0 "umount cleans the dead mount"
nok "the dead mount is gone" mounted "$T/mp"
run iso umount "$T/mp2"
is "$RUN_RC" 0 "umount the second view"

# ---- read-only views ------------------------------------------------------------------
run iso mount bb "$T/ro" --read-only
is "$RUN_RC" 0 "a read-only view of the image"
is "$RUN_OUT" "" "no sandbox for a read-only image view"
run sh -c "echo x > '$T/ro/newfile'"
like "$RUN_ERR" "Read-only file system" "writes to a read-only view fail with EROFS"
ok "reads work in the read-only view" test -x "$T/ro/bin/sh"
run iso umount "$T/ro"
is "$RUN_RC" 0 "umount the read-only view"
run iso mount bb "$T/ro" --read-only --sandbox "$SB"
is "$RUN_RC" 0 "a read-only view of a sandbox"
is "$(cat "$T/ro/etc/motd" 2>&1)" "written in the view" "it shows the sandbox's changes"
ok "and its whiteouts" test ! -e "$T/ro/etc/hosts"
run iso umount "$T/ro"

# ---- busy, bad input ----------------------------------------------------------------------
run iso mount bb "$T/mp" --sandbox "$SB"
( cd "$T/mp" && sleep 30 ) &
busy=$!
bg_track "$busy"
wait_until 5 test -d "/proc/$busy/cwd/work"
run iso umount "$T/mp"
expect_refused "umount of a busy view"
like "$RUN_ERR" "busy" "the error says busy"
ok "the busy view stays mounted" mounted "$T/mp"
kill "$busy"
wait "$busy" 2>/dev/null
run iso umount "$T/mp"
is "$RUN_RC" 0 "umount once it is no longer busy"

store_snapshot
run iso mount nosuchimage "$T/mp"
expect_refused "mount of a missing image"
like "$RUN_ERR" "no image named 'nosuchimage'" "the error names the image"
run iso mount bb "$T/does-not-exist"
expect_refused "mount on a missing mountpoint"
run iso mount bb "$T/mp" --sandbox 'bad/name'
expect_refused "an invalid sandbox name" 2
run iso mount bb "$T/mp" --bogus
expect_refused "an unknown option" 2
run iso umount "$T/mp"
expect_refused "umount of something not mounted"
like "$RUN_ERR" "'$T/mp' is not mounted" "... the error says so"
run iso umount /proc
expect_refused "umount of another kind of mount"
like "$RUN_ERR" "not an isofs mount \(proc\)" "... the error says what it is"
run iso image bootstrap other --busybox
run iso mount other "$T/mp" --sandbox "$SB"
expect_refused "a sandbox mounted with another image"
like "$RUN_ERR" "is of image 'bb'" "the error names the sandbox's image"
nok "nothing is mounted after the refusals" mounted "$T/mp"

# A dead server's record naming a mountpoint where another view lives now: that view is left alone.
run iso mount bb "$T/mp" --sandbox deadone
dead=$(daemon_pid deadone)
kill -9 "$dead"
wait_until 5 eval "! running $dead"
force_unmount "$T/mp"
ok "the dead server's record is still there" test -e "$STORE/sandboxes/deadone/mount.json"
run iso mount bb "$T/mp" --sandbox liveone
is "$RUN_RC" 0 "another sandbox mounted at the same mountpoint"
run iso sandbox ls
ok "sandbox ls leaves the live view mounted" mounted "$T/mp"
ok "... which still works" test -x "$T/mp/bin/busybox"
ok "... and the dead record (umount answers from it)" test -e "$STORE/sandboxes/deadone/mount.json"
live=$(daemon_pid liveone)
run iso umount "$T/mp"
is "$RUN_RC" 0 "umount of the live view, not the dead record naming the same mountpoint"
is "$RUN_ERR" "" "... with nothing to say"
nok "... its server has exited when umount returns" running "${live:-0}"
ok "... and both records are gone" test ! -e "$STORE/sandboxes/deadone/mount.json" -a \
	! -e "$STORE/sandboxes/liveone/mount.json"

# ---- after a crash, umount gives one answer whichever command cleaned up first --------------
# (the dead mount is detached by umount itself, by `sandbox ls`, or by hand)
crash_view() {
	run iso mount bb "$T/mp" --sandbox crash
	is "$RUN_RC" 0 "$1: mount"
	local p
	p=$(daemon_pid crash)
	kill -9 "${p:-0}"
	wait_until 5 eval "! running ${p:-0}"
}
umount_after_crash() {
	run iso umount "$T/mp"
	is "$RUN_RC" 0 "$1: umount succeeds"
	is "$RUN_ERR" "isofs: $T/mp: its overlay server had died (killed or crashed); it is unmounted now, and what had been written is in the sandbox" \
		"$1: ... and says the server had died"
	nok "$1: ... nothing is mounted" mounted "$T/mp"
	ok "$1: ... the record is gone" test ! -e "$STORE/sandboxes/crash/mount.json"
	run iso umount "$T/mp"
	expect_refused "$1: a second umount"
	like "$RUN_ERR" "is not mounted" "$1: ... says it is not mounted"
}
crash_view "umount first"
umount_after_crash "umount first"
crash_view "sandbox ls first"
run iso sandbox ls
nok "sandbox ls first: ls detached the dead mount" mounted "$T/mp"
umount_after_crash "sandbox ls first"
crash_view "unmounted by hand first"
force_unmount "$T/mp"
umount_after_crash "unmounted by hand first"

done_testing
