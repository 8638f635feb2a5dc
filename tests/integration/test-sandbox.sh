#!/bin/bash
# isofs sandbox …: create, ls, rm, reset, diff, commit; images that stack; export.
. "$(dirname "$0")/lib.sh"
setup_tmp

unmount_all_at_exit
mkdir -p "$T/mp" "$T/mp2"

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true

# ---- create, ls ------------------------------------------------------------------
run iso sandbox create dev bb
is "$RUN_RC" 0 "sandbox create"
run iso sandbox create dev bb
expect_refused "a duplicate sandbox name"
run iso sandbox create other nosuchimage
expect_refused "a sandbox of a missing image"
run iso sandbox create 'bad/name' bb
expect_refused "an invalid sandbox name" 2
run iso sandbox ls --json
is "$(echo "$RUN_OUT" | "$PYTHON" -c 'import json,sys; print([(s["name"], s["image"], s["mountpoint"], s["in_use"]) for s in json.load(sys.stdin)])')" \
	"[('dev', 'bb', None, False)]" "sandbox ls --json: name, image, not mounted, not in use"

# ---- changes, diff ---------------------------------------------------------------------
run iso run --sandbox dev -- /bin/sh -c 'echo hi > /etc/motd; rm /etc/hosts; mkdir -p /opt/x; echo y > /opt/x/y; echo more >> /etc/passwd'
is "$RUN_RC" 0 "changes made in the sandbox"
run iso sandbox diff dev
is "$RUN_OUT" "C /etc
D /etc/hosts
A /etc/motd
C /etc/passwd
C /opt
A /opt/x
A /opt/x/y" "sandbox diff: A added, C changed, D deleted (mountpoints like resolv.conf never show)"
run iso sandbox diff --json dev
like "$RUN_OUT" '"kind":[[:space:]]*"D",[[:space:]]*"path":[[:space:]]*"/etc/hosts"' "sandbox diff --json"
# A damaged store: an upper directory nobody may enter is a setup failure that names it, not the command's 126.
run iso sandbox create locked bb
chmod 000 "$STORE/sandboxes/locked/upper"
run iso run --sandbox locked -- true
is "$RUN_RC" 125 "a sandbox whose upper directory has mode 000: 125"
like "$RUN_ERR" "upper directory .*/sandboxes/locked/upper has mode 0000" "... and the error names it"
chmod 755 "$STORE/sandboxes/locked/upper"
run iso sandbox rm locked

# A renamed image directory (a redirect in the upper): the old name deleted, the new one and all below it added.
run iso sandbox create mv1 bb
run iso run --sandbox mv1 -- /bin/sh -c 'mv /etc /etc2 && mkdir /etc2/new && mv /bin /etc2/new/bin2'
run iso sandbox diff mv1
like "$RUN_OUT" $'(^|\n)D /etc(\n|$)' "diff after mv /etc /etc2: D /etc"
like "$RUN_OUT" $'(^|\n)A /etc2(\n|$)' "... A /etc2"
like "$RUN_OUT" $'(^|\n)A /etc2/passwd(\n|$)' "... and what it holds from the image: A /etc2/passwd"
like "$RUN_OUT" $'(^|\n)A /etc2/new/bin2/busybox(\n|$)' "... through a second rename: A /etc2/new/bin2/busybox"
unlike "$RUN_OUT" $'(^|\n). /etc/' "... nothing below the old name"
run iso sandbox rm mv1
run iso sandbox ls
like "$RUN_OUT" 'dev +bb +[0-9.]+ (B|KiB|MiB) +idle' "sandbox ls: the size of the changes, idle"

# Owners a sandbox gives its files are the ones seen later through isofs mount.
run iso run --cap-add CAP_CHOWN --sandbox dev -- /bin/sh -c 'echo o > /root/owned && chown 1000:1001 /root/owned && mkdir /root/od && chown 1002:1003 /root/od'
is "$RUN_RC" 0 "chown in the sandbox"
run iso mount bb "$T/mp" --sandbox dev
is "$(stat -c %u:%g "$T/mp/root/owned" "$T/mp/root/od" 2>&1 | tr '\n' ' ')" "$(host_ids 1000:1001) $(host_ids 1002:1003) " \
	"the owners the sandbox gave its files show through isofs mount (rootless: as the host ids of the user's range)"
run iso umount "$T/mp"
run iso run --sandbox dev -- /bin/sh -c 'stat -c %u:%g /root/owned; rm -r /root/owned /root/od'
is "$RUN_OUT" "1000:1001" "... and in the next run"

# ---- in use: mounted and running -------------------------------------------------------
run iso mount bb "$T/mp" --sandbox dev
is "$RUN_RC" 0 "mount the sandbox"
run iso sandbox ls --json
like "$RUN_OUT" "\"mountpoint\":[[:space:]]*\"$T/mp\"" "sandbox ls shows where it is mounted"
run iso run --sandbox dev -- cat /etc/motd
is "$RUN_OUT" hi "a run in a mounted sandbox uses its view"
iso run --sandbox dev -- /bin/sh -c 'echo from-run > /root/r' >/dev/null 2>&1
is "$(cat "$T/mp/root/r" 2>&1)" from-run "... its writes are seen in the mount at once"
echo from-host >"$T/mp/root/h"
run iso run --sandbox dev -- cat /root/h
is "$RUN_OUT" from-host "... and the mount's writes in the run"
run iso mount bb "$T/mp2" --sandbox dev
expect_refused "a second mount of a mounted sandbox"
run iso sandbox reset dev
expect_refused "reset of a mounted sandbox"
run iso sandbox commit dev img1
expect_refused "commit of a mounted sandbox"
run iso sandbox rm dev
expect_refused "rm of a mounted sandbox"
like "$RUN_ERR" "mounted at $T/mp" "... says where"
run iso umount "$T/mp"

"$ISOFS_BIN" --store "$STORE" run --sandbox dev -- /bin/sh -c 'echo ready; sleep 30' >"$T/running" 2>&1 &
runpid=$!
bg_track "$runpid"
wait_until 10 grep -q ready "$T/running"
run iso sandbox ls --json
like "$RUN_OUT" '"running":[[:space:]]*true' "sandbox ls shows a running command"
run iso run --sandbox dev -- true
expect_refused "a second run while one runs in the unmounted sandbox" 125
run iso sandbox rm --force dev-missing
isnt "$RUN_RC" 0 "rm of a missing sandbox fails"

# ---- commit: images that stack -----------------------------------------------------------------
kill "$runpid" 2>/dev/null
wait "$runpid" 2>/dev/null
run iso sandbox commit dev img1
is "$RUN_RC" 0 "commit"
run iso image inspect img1
like "$RUN_OUT" '"parent":[[:space:]]*"bb"' "the new image records its parent"
num "$(du -sk "$STORE/images/img1/rootfs" | cut -f1)" -lt 200 "the new image is a layer of the changes, not a copy"
run iso sandbox diff dev
is "$RUN_OUT" "" "the sandbox stands on the new image with no changes"
run iso run img1 -- /bin/sh -c 'cat /etc/motd; ls /etc/hosts; cat /opt/x/y'
is "$RUN_OUT" $'hi\ny' "a run of the new image sees the changes"
like "$RUN_ERR" "hosts" "... and the deletion (whiteout kept)"
run iso run --sandbox dev -- /bin/sh -c 'rm /etc/motd; mkdir /opt/x2; echo z > /root/z'
run iso sandbox commit dev img2
run iso run img2 -- /bin/sh -c 'ls /etc/motd 2>&1; cat /root/z /opt/x/y; ls -d /opt/x2'
is "$RUN_OUT" $'ls: /etc/motd: No such file or directory\nz\ny\n/opt/x2' "three layers deep: whiteouts and files of every layer"
run iso image rm img1
expect_refused "image rm of an image another is built on"
run iso run img2 -- /bin/sh -c 'ls -d /opt/x /opt/x2' 
run iso image rm bb
expect_refused "image rm of the base of a stack"

# ---- export ------------------------------------------------------------------------------------------
run iso image export img2 "$T/img2.tar"
is "$RUN_RC" 0 "export a stacked image"
ok "export wrote no temporary file next to it" test -z "$(ls "$T" | grep isofs-tmp)"
run iso image import img2copy "$T/img2.tar"
is "$RUN_RC" 0 "import the export"
run iso image export img2copy "$T/img2copy.tar"
is "$(tar --full-time -tvf "$T/img2copy.tar" | LC_ALL=C sort)" "$(tar --full-time -tvf "$T/img2.tar" | LC_ALL=C sort)" \
	"the export imports back to the same tree (types, modes, owners, sizes, times)"
is "$(tar -xOf "$T/img2.tar" ./root/z)" z "the export holds the top layer's files"
unlike "$(tar -tf "$T/img2.tar")" 'etc/motd' "... and not what a whiteout removed"
run sh -c "'$ISOFS_BIN' --store '$STORE' image export img2 - | tar -tf - | wc -l"
is "$RUN_OUT" "$(tar -tf "$T/img2.tar" | wc -l)" "export to stdout"
# Renamed directories of a lower layer (redirects, relative and absolute) export with their contents.
run iso sandbox create ren img2
run iso run --sandbox ren -- /bin/sh -c 'mv /opt/x /opt/renamed && mv /opt/x2 /root/moved'
run iso sandbox commit ren img3
run iso image export img3 "$T/img3.tar"
is "$(tar -tf "$T/img3.tar" | grep -E '^\./(opt/|root/moved)' | LC_ALL=C sort | tr '\n' ' ')" \
	"./opt/ ./opt/renamed/ ./opt/renamed/y ./root/moved/ " \
	"export follows the redirects of renamed lower directories"
run iso sandbox rm ren
run iso image export nosuch "$T/x.tar"
expect_refused "export of a missing image"
ok "no file left for a failed export" test ! -e "$T/x.tar"

# ---- recovery after a crash ---------------------------------------------------------------------------
run iso mount img2 "$T/mp" --sandbox dev
echo "before the crash" >"$T/mp/root/crash"
pid=$(sed -n 's/.*"pid":[[:space:]]*\([0-9]*\).*/\1/p' "$STORE/sandboxes/dev/mount.json")
kill -9 "$pid"
wait_until 5 sh -c "! grep -q '^State:[[:space:]]*[RSD]' /proc/$pid/status 2>/dev/null"
run iso sandbox ls --json
is "$(echo "$RUN_OUT" | "$PYTHON" -c 'import json,sys; print([(s["name"], s["mountpoint"], s["in_use"]) for s in json.load(sys.stdin)])')" \
	"[('dev', None, False)]" "after the server was killed, sandbox ls tells the truth"
run sh -c "awk -v p='$T/mp' '\$5 == p' /proc/self/mountinfo | wc -l"
is "$RUN_OUT" 0 "... and the dead mount was cleaned"
run iso run --sandbox dev -- cat /root/crash
is "$RUN_OUT" "before the crash" "... and nothing that reached the upper was lost"

# ---- reset, rm ---------------------------------------------------------------------------------------------
run iso run --sandbox dev -- /bin/sh -c 'echo junk > /junk'
run iso sandbox reset dev
is "$RUN_RC" 0 "reset"
run iso sandbox diff dev
is "$RUN_OUT" "" "reset drops every change"
run iso mount img2 "$T/mp" --sandbox dev
# A run before left owner.pid; that pid now names an unrelated process: --force must not touch it.
sleep 300 &
bystander=$!
bg_track "$bystander"
echo "$bystander 1" >"$STORE/sandboxes/dev/owner.pid"
run iso sandbox rm --force dev
is "$RUN_RC" 0 "rm --force of a mounted sandbox"
ok "... never signals a process that only has the recorded pid" kill -0 "$bystander"
kill "$bystander"
run sh -c "awk -v p='$T/mp' '\$5 == p' /proc/self/mountinfo | wc -l"
is "$RUN_OUT" 0 "... unmounted it first"
run iso sandbox ls --json
is "$RUN_OUT" "[]" "... and it is gone"
ok "nothing left in the store's tmp/" tmp_is_empty

done_testing
