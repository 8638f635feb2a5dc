#!/bin/bash
# SPDX-License-Identifier: MIT
# image bootstrap --busybox: an image made of the host's static busybox, its
# applet links, /etc basics and the usual directories, that runs: /bin/sh in it
# (chroot as root, unshare -Ur chroot rootless) says 'ok'.  Bad busybox
# binaries are refused cleanly.
. "$(dirname "$0")/lib.sh"
setup_tmp

BUSYBOX=$(PATH="$PATH:/usr/sbin:/usr/bin:/sbin:/bin" command -v busybox) || skip_all "busybox is not installed"
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || skip_all "$BUSYBOX is not static (install busybox-static)"
if [ "$IS_ROOT" -eq 1 ]; then
	in_image() { timeout -k 5 30 chroot "$@"; }
else
	unshare -Ur true 2>/dev/null || skip_all "rootless: cannot create a user namespace"
	in_image() { timeout -k 5 30 unshare -Ur chroot "$@"; }
fi

applets=$("$BUSYBOX" --list-full | grep -vcx 'bin/busybox')

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap --busybox succeeds"
like "$RUN_OUT" "$(summary_regex bootstrapped bb $((18 + 4 + applets)) 4 18 "$applets" 0 0 0)\$" \
	"the summary counts busybox and 3 files in etc/, 18 directories, $applets applet links"
is "$RUN_ERR" "" "nothing on stderr"
R=$STORE/images/bb/rootfs

ok "bin/busybox is the host's busybox" cmp "$BUSYBOX" "$R/bin/busybox"
is "$(stat -c '%F %a' "$R/bin/busybox")" "regular file 755" "bin/busybox is a 0755 file"
is "$(readlink "$R/bin/sh")" busybox "bin/sh -> busybox"
wrong_links=$(cd "$R" && "$PYTHON" -c '
import os
for dirpath, dirs, files in os.walk("."):
    for f in files + dirs:
        p = os.path.join(dirpath, f)
        if os.path.islink(p):
            t = os.readlink(p)
            if t.startswith("/") or os.path.normpath(os.path.join(dirpath, t)) != "bin/busybox":
                print(p, "->", t)')
is "$wrong_links" "" "every applet link is relative and leads to bin/busybox inside the image"
is "$(find "$R" -type l | wc -l)" "$applets" "one link per applet of 'busybox --list-full'"
ok "etc/passwd has root with /bin/sh" grep -qx 'root:x:0:0:root:/root:/bin/sh' "$R/etc/passwd"
ok "etc/group has root" grep -q '^root:x:0:' "$R/etc/group"
ok "etc/hosts has localhost" grep -q '^127\.0\.0\.1[[:space:]]\+localhost' "$R/etc/hosts"
is "$(cd "$R" && stat -c '%n %a' tmp root proc sys dev etc bin usr/bin var/tmp home)" "tmp 1777
root 700
proc 555
sys 555
dev 755
etc 755
bin 755
usr/bin 755
var/tmp 1777
home 755" "the directories and their modes (tmp 1777, root 0700, proc/sys 0555)"

run in_image "$R" /bin/sh -c 'echo ok'
is "$RUN_OUT" ok "/bin/sh -c 'echo ok' runs in the image"
is "$RUN_RC" 0 "and exits 0"
run in_image "$R" /bin/sh -c 'ls /etc | tr "\n" " "; id -u'
is "$RUN_OUT" "group hosts passwd 0" "applets work in the image: ls /etc; id -u is 0"

run iso image inspect bb
like "$RUN_OUT" "\"source\":[[:space:]]*\"busybox:$BUSYBOX\"" "inspect: source is busybox:PATH"

mkdir alt
cp "$BUSYBOX" "$T/alt/busybox"
run iso image bootstrap bb2 --busybox="$T/alt/busybox"
is "$RUN_RC" 0 "--busybox=PATH succeeds"
ok "--busybox=PATH: that binary is used" cmp "$T/alt/busybox" "$STORE/images/bb2/rootfs/bin/busybox"
run iso image inspect bb2
like "$RUN_OUT" "\"source\":[[:space:]]*\"busybox:$T/alt/busybox\"" "--busybox=PATH: inspect names it"

# The same binary under another file name (busybox.static, my-busybox…) is busybox all the same.
cp "$BUSYBOX" "$T/my-busybox"
run iso image bootstrap bb3 --busybox="$T/my-busybox"
is "$RUN_RC" 0 "--busybox=PATH with a file not named 'busybox' succeeds"
[ "$RUN_RC" -eq 0 ] || diag "$RUN_ERR"
is "$(find "$STORE/images/bb3/rootfs" -type l 2>/dev/null | wc -l)" "$applets" "--busybox=PATH not named 'busybox': all applet links"

# ---- refused ------------------------------------------------------------------------------

store_snapshot
run iso image bootstrap bb --busybox
expect_refused "bootstrap of an existing name"
like "$RUN_ERR" "already exists" "bootstrap of an existing name: says so"
expect_store_unchanged "bootstrap of an existing name"

run iso image bootstrap bad --busybox="$T/no-such-busybox"
expect_refused "--busybox=a missing file"
expect_store_unchanged "--busybox=a missing file"

run iso image bootstrap bad --busybox=/etc/hostname
expect_refused "--busybox=not an ELF file"
like "$RUN_ERR" "not a 64-bit ELF executable" "--busybox=not an ELF file: says so"
expect_store_unchanged "--busybox=not an ELF file"

run iso image bootstrap bad --busybox="$(readlink -f /bin/bash)"
expect_refused "--busybox=a dynamically linked program"
like "$RUN_ERR" "dynamically linked" "--busybox=a dynamically linked program: says so"
expect_store_unchanged "--busybox=a dynamically linked program"

# A static program that is not busybox: its --list-full fails.
printf '#!/bin/sh\nexit 3\n' >not-busybox.sh
if [ -x /sbin/ldconfig ] && file -L /sbin/ldconfig | grep -q 'static'; then
	run iso image bootstrap bad --busybox=/sbin/ldconfig
	expect_refused "--busybox=a static program that is not busybox"
	expect_store_unchanged "--busybox=a static program that is not busybox"
else
	for i in 1 2 3 4 5 6; do skip "static non-busybox $i" "no static ldconfig"; done
fi

done_testing
