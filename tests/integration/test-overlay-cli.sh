#!/bin/bash
# isofs-overlay, the standalone binary: fuse-overlayfs's arguments, ready when
# it returns, a daemon that exits on umount / fusermount3 -u, mount -t
# fuse.isofs-overlay through mount.fuse3, bad options refused before mounting.
. "$(dirname "$0")/lib.sh"
setup_tmp

OVL=$(dirname "$ISOFS_BIN")/../fuse/isofs-overlay
[ -x "$OVL" ] || skip_all "isofs-overlay is not built"
unmount() { if [ "$IS_ROOT" -eq 1 ]; then umount "$1"; else fusermount3 -u "$1"; fi; }
at_cleanup 'for m in $(awk -v p="$T" "index(\$5, p \"/\") == 1 { print \$5 }" /proc/self/mountinfo); do umount -l "$m" 2>/dev/null || fusermount3 -uz "$m"; done'
mounted() { awk -v p="$1" '$5 == p { f = 1 } END { exit !f }' /proc/self/mountinfo; }
server_of() { pgrep -f "isofs-overlay.*$1" | head -1; }

mkdir -p L1/d L2/d u w m
echo top >L1/d/a
echo bottom >L2/d/b
echo hidden >L2/c

run timeout 30 "$OVL" -o "lowerdir=$T/L1:$T/L2,upperdir=$T/u,workdir=$T/w" "$T/m"
is "$RUN_RC" 0 "isofs-overlay -o lowerdir=L1:L2,upperdir=U,workdir=W MOUNTPOINT"
ok "the view is ready when it returns" test -f m/d/a
is "$(cat m/d/a m/d/b)" $'top\nbottom' "lower layers merged, top first"
rm m/c && echo new >m/d/n
is "$(stat -c '%t:%T' u/c)" "0:0" "a removed lower file is a 0/0 whiteout in the upper"
pid=$(server_of "$T/m")
num "${pid:-0}" -gt 1 "the server runs in the background"
unmount "$T/m"
wait_until 10 sh -c "! kill -0 $pid 2>/dev/null || grep -q '^State:[[:space:]]*Z' /proc/$pid/status"
ok "it exits once unmounted" sh -c "! kill -0 $pid 2>/dev/null || grep -q '^State:[[:space:]]*Z' /proc/$pid/status"

run timeout 30 "$OVL" -o "lowerdir=$T/L1:$T/L2" "$T/m"
is "$RUN_RC" 0 "without upperdir: a read-only view"
run sh -c "echo x > '$T/m/x'"
like "$RUN_ERR" "Read-only file system" "... that refuses writes"
unmount "$T/m"

# bad input: one line, non-zero, nothing mounted
for bad in "lowerdir=$T/nope" "lowerdir=$T/L1,upperdir=$T/u" "lowerdir=$T/L1,bogus=1" "upperdir=$T/u,workdir=$T/w" \
	"lowerdir=$T/L1,open_handles=2" "lowerdir=$T/L1,passthrough=yes" "lowerdir=$T/L1,spin=abc" "lowerdir=$T/L1,spin=-1"; do
	run timeout 30 "$OVL" -o "$bad" "$T/m"
	isnt "$RUN_RC" 0 "refused: -o $bad"
	is "$RUN_ERR_LINES" 1 "... with one line"
	like "$RUN_ERR" '^isofs-overlay: ' "... naming the problem"
	nok "... and nothing mounted" mounted "$T/m"
done
run timeout 30 "$OVL" -o "lowerdir=$T/L1"
is "$RUN_RC" 2 "a missing mountpoint is a usage error"

# layers inside one another, as kernel overlayfs refuses them; nothing in them touched
mkdir -p nest/u/w/work nest/w/u nest/u/l nest/w2
echo keep >nest/u/w/work/f
for bad in "lowerdir=$T/L1,upperdir=$T/nest/u,workdir=$T/nest/u/w" "lowerdir=$T/L1,upperdir=$T/nest/u,workdir=$T/nest/u" \
	"lowerdir=$T/L1,upperdir=$T/nest/w/u,workdir=$T/nest/w" "lowerdir=$T/nest/u/l,upperdir=$T/nest/u,workdir=$T/nest/w2" \
	"lowerdir=$T/L1:$T/nest/w2/work,upperdir=$T/nest/u,workdir=$T/nest/w2"; do
	mkdir -p nest/w2/work
	run timeout 30 "$OVL" -o "$bad" "$T/m"
	isnt "$RUN_RC" 0 "refused: -o $bad"
	is "$RUN_ERR_LINES" 1 "... with one line"
	like "$RUN_ERR" 'separate subtrees|inside the upperdir or the workdir' "... naming the overlap"
	nok "... and nothing mounted" mounted "$T/m"
done
is "$(cat nest/u/w/work/f)" keep "a workdir inside the upperdir is not emptied"
mkdir -p nest/w2/up nest/w2/wk
run timeout 30 "$OVL" -o "lowerdir=$T/nest,upperdir=$T/nest/w2/up,workdir=$T/nest/w2/wk" "$T/m"
is "$RUN_RC" 0 "a lower layer above the upper and work dirs is fine"
unmount "$T/m"

# spin=0: every serving thread sleeps between requests; the view is the same
run timeout 30 "$OVL" -o "lowerdir=$T/L1:$T/L2,upperdir=$T/u,workdir=$T/w,spin=0" "$T/m"
is "$RUN_RC" 0 "spin=0: mounted"
is "$(cat "$T/m/d/a")" top "... and serving"
unmount "$T/m"

# max_read= (mount(8) and fuse-overlayfs users pass it): INIT answers the same limit, the view serves
run timeout 30 "$OVL" -o "lowerdir=$T/L1:$T/L2,upperdir=$T/u,workdir=$T/w,max_read=65536" "$T/m"
is "$RUN_RC" 0 "max_read=65536: mounted"
is "$(cat "$T/m/d/a" 2>&1)" top "... and serving"
like "$(awk -v p="$T/m" '$5 == p { print $NF }' /proc/self/mountinfo)" 'max_read=65536' "... with the limit"
unmount "$T/m"

if [ "$IS_ROOT" -eq 1 ]; then
	# as fuse-overlayfs: other users (a container's) reach the view, setuid programs work; unless told otherwise
	run timeout 30 "$OVL" -o "lowerdir=$T/L1:$T/L2,upperdir=$T/u,workdir=$T/w" "$T/m"
	opts=$(awk -v p="$T/m" '$5 == p { print $6 " " $NF }' /proc/self/mountinfo)
	like "$opts" 'allow_other' "root: allow_other by default"
	unlike "$opts" 'nosuid' "root: suid by default"
	is "$(setpriv --reuid=65534 --regid=65534 --clear-groups cat "$T/m/d/a" 2>&1)" top "root: another user reads the view"
	unmount "$T/m"
	run timeout 30 "$OVL" -o "lowerdir=$T/L1:$T/L2,upperdir=$T/u,workdir=$T/w,nosuid,allow_root" "$T/m"
	opts=$(awk -v p="$T/m" '$5 == p { print $6 " " $NF }' /proc/self/mountinfo)
	like "$opts" 'nosuid' "root: -o nosuid is kept"
	# (the kernel shows allow_root as allow_other: libfuse refuses the others itself)
	isnt "$(setpriv --reuid=65534 --regid=65534 --clear-groups cat "$T/m/d/a" 2>&1)" top "root: -o allow_root keeps other users out"
	unmount "$T/m"

	# mount(8) runs mount.fuse3, which finds the helper in the system PATH.
	if [ ! -e /usr/local/sbin/isofs-overlay ] && command -v mount.fuse3 >/dev/null; then
		ln -s "$(readlink -f "$OVL")" /usr/local/sbin/isofs-overlay
		at_cleanup "rm -f /usr/local/sbin/isofs-overlay"
		run timeout 30 mount -t fuse.isofs-overlay overlay "$T/m" -o "lowerdir=$T/L1:$T/L2,upperdir=$T/u,workdir=$T/w"
		is "$RUN_RC" 0 "mount -t fuse.isofs-overlay"
		is "$(cat m/d/n 2>&1)" new "... shows the upper written before"
		like "$(grep " $T/m " /proc/self/mounts)" 'fuse.isofs-overlay' "... as a fuse.isofs-overlay mount"
		pid=$(server_of "$T/m")
		run umount "$T/m"
		is "$RUN_RC" 0 "a plain umount"
		wait_until 10 sh -c "! kill -0 $pid 2>/dev/null || grep -q '^State:[[:space:]]*Z' /proc/$pid/status"
		ok "... ends the server" sh -c "! kill -0 $pid 2>/dev/null || grep -q '^State:[[:space:]]*Z' /proc/$pid/status"
	else
		skip "mount -t fuse.isofs-overlay" "an isofs-overlay is installed already, or no mount.fuse3"
	fi
	# What meson install puts where mount(8) looks, whatever the PATH: /sbin/mount.fuse.isofs-overlay.
	installed=$(meson introspect "$(dirname "$ISOFS_BIN")/.." --installed 2>/dev/null)
	like "$installed" '"/sbin/mount.fuse.isofs-overlay"' "meson install puts mount.fuse.isofs-overlay in /sbin"
	if [ ! -e /sbin/mount.fuse.isofs-overlay ]; then
		ln -s "$(readlink -f "$OVL")" /sbin/mount.fuse.isofs-overlay
		at_cleanup "rm -f /sbin/mount.fuse.isofs-overlay"
		run timeout 30 env -i PATH=/nonexistent /usr/bin/mount -t fuse.isofs-overlay overlay "$T/m" \
			-o "lowerdir=$T/L1:$T/L2,upperdir=$T/u,workdir=$T/w,x-isofs.test"
		is "$RUN_RC" 0 "mount -t fuse.isofs-overlay through that helper, with no PATH to find anything by"
		is "$(cat m/d/n 2>&1)" new "... the view is there"
		pid=$(server_of "$T/m")
		run umount "$T/m"
		is "$RUN_RC" 0 "... and umount ends it"
		wait_until 10 sh -c "! kill -0 $pid 2>/dev/null || grep -q '^State:[[:space:]]*Z' /proc/$pid/status"
		run timeout 30 env -i PATH=/nonexistent /usr/bin/mount -f -t fuse.isofs-overlay overlay "$T/m" \
			-o "lowerdir=$T/L1,upperdir=$T/u,workdir=$T/w"
		is "$RUN_RC" 0 "mount -f (fake) through the helper succeeds"
		nok "... and mounts nothing" mounted "$T/m"
	else
		skip "mount -t through /sbin/mount.fuse.isofs-overlay" "one is installed already"
	fi
fi

done_testing
