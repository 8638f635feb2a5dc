#!/bin/bash
# isofs run --ephemeral MOUNTPOINT: a throwaway writable layer (kernel
# overlayfs, upper on a tmpfs of the sandbox) over a view of isofs mount.
# Every write is seen inside and discarded at exit; the view, its sandbox and
# the image are never written; the view's server outlives the runs.
. "$(dirname "$0")/lib.sh"
setup_tmp
unmount_all_at_exit

mounted() { awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo; }

run iso image bootstrap bb --busybox
[ "$RUN_RC" -eq 0 ] || bail_out "bootstrap --busybox failed: $RUN_ERR"
mkdir -p "$T/ro" "$T/mp" "$T/plain"
run iso mount bb "$T/ro" --read-only
[ "$RUN_RC" -eq 0 ] || bail_out "a read-only view of the image failed: $RUN_ERR"
run iso run --ephemeral "$T/ro" true
case $RUN_ERR in *"needs user xattrs on tmpfs"*) skip_all "--ephemeral: no user xattrs on tmpfs (Linux < 6.6)" ;; esac
ok "a read-only view is mounted read-only" grep -q " $T/ro ro," /proc/self/mountinfo
store_snapshot
passwd_before=$(cat "$T/ro/etc/passwd")
hosts_mode=$(stat -c %a "$T/ro/etc/hosts")

# ---- writes inside: new files, copy-up, removal, opaque directories ----------------
run iso run --ephemeral "$T/ro" sh -c '
	echo new >/etc/new && cat /etc/new &&
	echo appended >>/etc/passwd && tail -n 1 /etc/passwd &&
	rm /etc/group && { test ! -e /etc/group && echo removed; } &&
	rm -rf /usr/sbin && mkdir -p /usr/sbin/fresh && ls -A /usr/sbin &&
	mkdir -p /work/a/b && echo deep >/work/a/b/f && cat /work/a/b/f &&
	chmod 600 /etc/hosts && stat -c %a /etc/hosts &&
	ln /etc/new /etc/new-link && stat -c %h /etc/new &&
	mv /bin /bin.moved && test -x /bin.moved/busybox && echo renamed'
is "$RUN_RC" 0 "a command writing everywhere succeeds"
is "$RUN_OUT" "new
appended
removed
fresh
deep
600
2
renamed" "it sees every change it made: new file, copy-up, removal, opaque directory, chmod, hard link, rename"

# ---- discarded: the view, the image, the store --------------------------------------
ok "the view has no new file" test ! -e "$T/ro/etc/new"
is "$(cat "$T/ro/etc/passwd")" "$passwd_before" "the view's /etc/passwd is unchanged"
ok "the view still has the removed file" test -f "$T/ro/etc/group"
ok "the view still has the removed tree" test -x "$T/ro/usr/sbin/chroot"
ok "the view still has the renamed directory" test -x "$T/ro/bin/busybox"
is "$(stat -c %a "$T/ro/etc/hosts")" "$hosts_mode" "the view's /etc/hosts kept its mode"
is "$(image_names)" "$_snap_names" "no image added or removed"
is "$(store_digest)" "$_snap_digest" "the image is untouched"
is "$(ls "$STORE/tmp" | grep -v "^view-")" "" "nothing of the run in STORE/tmp (the view's lock alone)"
ok "the view is still mounted (its server outlives the run)" mounted "$T/ro"

run iso run --ephemeral "$T/ro" sh -c 'test ! -e /etc/new && test ! -e /work && grep -c appended /etc/passwd'
is "$RUN_OUT" "0" "the next run starts from the view again (nothing of the last run's)"

# ---- the exit status, stdin and the caller's streams as with any run ----------------
run iso run --ephemeral "$T/ro" sh -c 'exit 7'
is "$RUN_RC" 7 "the command's exit status is isofs run's"
is "$(echo piped | iso run -i --ephemeral "$T/ro" cat)" "piped" "stdin reaches the command"

# ---- isofs serve: one layer for the session's commands, gone with it ----------------
run iso serve --ephemeral "$T/ro" <<'EOF'
{"type":"exec","argv":["sh","-c","echo first >/etc/served"]}
{"type":"exec","argv":["cat","/etc/served"]}
EOF
is "$RUN_RC" 0 "serve --ephemeral over the view"
like "$RUN_OUT" '"data":"first\\n"' "the session's second command sees the first one's file"
ok "the view never got it" test ! -e "$T/ro/etc/served"

# ---- a writable view is refused: a lower must not change under overlayfs -------------
run iso mount bb "$T/mp"
is "$RUN_RC" 0 "a writable view with a sandbox"
SB=$RUN_OUT
run iso run --ephemeral "$T/mp" sh -c 'echo lost >/etc/lost'
expect_refused "--ephemeral over a writable view" 125
like "$RUN_ERR" "is a writable view" "... the error says why"
ok "nothing reached the sandbox" test ! -e "$STORE/sandboxes/$SB/upper/etc/lost"
run iso umount "$T/mp"
is "$RUN_RC" 0 "umount the writable view"
run iso mount --sandbox "$SB" "$T/mp" --read-only
is "$RUN_RC" 0 "a read-only view of the sandbox"
run iso run --ephemeral "$T/mp" sh -c 'echo lost >/etc/lost && cat /etc/lost'
is "$RUN_OUT" "lost" "--ephemeral over a read-only view of a sandbox"
ok "nor its upper" test ! -e "$STORE/sandboxes/$SB/upper/etc/lost"
run iso umount "$T/mp"
is "$RUN_RC" 0 "umount the sandbox's read-only view"

# ---- the layer's size: --tmp-size, as for /tmp --------------------------------------
run iso run --ephemeral --tmp-size 8m "$T/ro" sh -c 'dd if=/dev/zero of=/big bs=1M count=16 2>&1; df -k / | tail -n 1'
like "$RUN_OUT" "No space left on device" "a write beyond --tmp-size fails with ENOSPC"
ok "the view is still there" test -x "$T/ro/bin/busybox"

# ---- bad input: one line, nothing run ---------------------------------------------------
run iso run --ephemeral --in-place "$T/ro" true
expect_refused "--ephemeral with --in-place" 2
run iso run --ephemeral "$T/plain" true
expect_refused "--ephemeral over a directory that is not a view" 125
like "$RUN_ERR" "not a view of isofs mount" "... the error says why"

run iso umount "$T/ro"
is "$RUN_RC" 0 "umount the read-only view"
run iso run --ephemeral "$T/ro" true
expect_refused "--ephemeral over an unmounted view" 125
expect_store_unchanged "after the refused runs"

done_testing
