#!/bin/bash
# isofs-overlay with fuse-overlayfs's options, as containers/storage passes
# them to a mount_program: id shifts (uidmapping, gidmapping), squash_to_*,
# static_nlink, volatile/fsync=0, ro with an upper layer, noxattrs, the accepted no-ops
# and x-*, and user xattrs when run by root of a user namespace.  Where
# fuse-overlayfs is installed, each case is compared with it on the same layers.
. "$(dirname "$0")/lib.sh"
setup_tmp

OVL=$(dirname "$ISOFS_BIN")/../fuse/isofs-overlay
[ -x "$OVL" ] || skip_all "isofs-overlay is not built"
FOVL=$(command -v fuse-overlayfs || true)
at_cleanup 'for m in $(awk -v p="$T" "index(\$5, p \"/\") == 1 { print \$5 }" /proc/self/mountinfo); do umount -l "$m" 2>/dev/null || fusermount3 -uz "$m"; done'
unmount() { if [ "$IS_ROOT" -eq 1 ]; then umount "$1"; else fusermount3 -u "$1"; fi; }

# layers IMPL: fresh copies of the fixture for one mount ($T/IMPL/{l,u,w,m})
layers() {
	rm -rf "$T/$1"
	mkdir -p "$T/$1"/{u,w,m}
	chmod 0755 "$T/$1" "$T/$1/m" # other users reach the view (uidmapping)
	cp -a "$T/fixture" "$T/$1/l"
}
mkdir -p fixture/d/s1 fixture/d/s2 fixture/d/s3 fixture/pub
echo a >fixture/a
echo b >fixture/b
chmod 1777 fixture/pub
if [ "$IS_ROOT" -eq 1 ]; then
	chown 0:0 fixture/a
	chown 1:1 fixture/b
	echo far >fixture/far && chown 70000:70000 fixture/far
fi

# mount_with IMPL OPTS: mounts IMPL (isofs or fuse) over its copy of the layers
mount_with() {
	local bin=$OVL
	[ "$1" = fuse ] && bin=$FOVL
	layers "$1"
	run timeout 30 "$bin" -o "lowerdir=$T/$1/l,upperdir=$T/$1/u,workdir=$T/$1/w${2:+,$2}" "$T/$1/m"
}

# same_as_fuse DESC OPTS CMD: CMD's output (run in the mountpoint) through isofs-overlay, and
# through fuse-overlayfs when there is one, with the same options
same_as_fuse() {
	local desc=$1 opts=$2 cmd=$3 mine ref
	mount_with isofs "$opts"
	is "$RUN_RC" 0 "isofs-overlay -o $opts mounts" || diag "$RUN_ERR"
	mine=$(cd "$T/isofs/m" && sh -c "$cmd" 2>&1)
	unmount "$T/isofs/m"
	if [ -n "$FOVL" ]; then
		mount_with fuse "$opts"
		ref=$(cd "$T/fuse/m" && sh -c "$cmd" 2>&1)
		unmount "$T/fuse/m"
		is "$mine" "$ref" "$desc: as fuse-overlayfs"
	else
		skip "$desc: as fuse-overlayfs" "fuse-overlayfs is not installed"
	fi
	MINE=$mine
}

# ---- squash_to_root, squash_to_uid, squash_to_gid -------------------------------------
same_as_fuse "squash_to_root" squash_to_root 'stat -c "%n %u:%g" a b d'
is "$MINE" "a 0:0
b 0:0
d 0:0" "squash_to_root: every object shows 0:0"
same_as_fuse "squash_to_uid/gid" squash_to_uid=7,squash_to_gid=8 'stat -c "%n %u:%g" a d'
is "$MINE" "a 7:8
d 7:8" "squash_to_uid=7,squash_to_gid=8"
same_as_fuse "squash_to_uid over squash_to_root" squash_to_root,squash_to_uid=7 'stat -c "%n %u:%g" a'
is "$MINE" "a 7:0" "squash_to_uid takes precedence over squash_to_root"

# ---- static_nlink -------------------------------------------------------------------------
same_as_fuse "static_nlink" static_nlink 'stat -c "%n %h" d; mkdir d/s4; stat -c "%n %h" d d/s4'
is "$MINE" "d 1
d 1
d/s4 1" "static_nlink: directories show one link"

# ---- uidmapping, gidmapping ------------------------------------------------------------------
if [ "$IS_ROOT" -eq 1 ]; then
	MAP=uidmapping=0:1000:1:1:100000:65536,gidmapping=0:1000:1:1:100000:65536
	same_as_fuse "uidmapping/gidmapping" "$MAP" 'stat -c "%n %u:%g" a b far'
	is "$MINE" "a 1000:1000
b 100000:100000
far 65534:65534" "uidmapping: stored 0 shows as 1000, 1 as 100000, an id no range has as 65534"
	# a create and a chown by shifted ids are stored as the ids inside
	mount_with isofs "$MAP,allow_other" # another user creates
	setpriv --reuid=100004 --regid=100004 --clear-groups sh -c "echo x > '$T/isofs/m/pub/new'"
	chown 100009:100010 "$T/isofs/m/b"
	is "$(stat -c %u:%g "$T/isofs/m/pub/new" "$T/isofs/m/b" | tr '\n' ' ')" "100004:100004 100009:100010 " \
		"uidmapping: a new file and a chown show the ids given"
	unmount "$T/isofs/m"
	is "$(stat -c %u:%g "$T/isofs/u/pub/new" "$T/isofs/u/b" | tr '\n' ' ')" "5:5 10:11 " \
		"... and are stored as the ids inside the map"
	run timeout 30 "$OVL" -o "lowerdir=$T/isofs/l,$(echo "$MAP" | sed 's/gidmapping=.*/gidmapping=0:1000:1:0:5:1/')" "$T/isofs/m"
	isnt "$RUN_RC" 0 "overlapping ranges are refused"
	like "$RUN_ERR" "gidmapping=" "... naming the option"
else
	MAP="uidmapping=0:$(id -u):1,gidmapping=0:$(id -g):1"
	mount_with isofs "$MAP"
	is "$RUN_RC" 0 "rootless: -o $MAP mounts"
	is "$(stat -c %u:%g "$T/isofs/m/a")" "$(id -u):$(id -g)" "rootless: the user's files show as the user's"
	unmount "$T/isofs/m"
fi

# ---- volatile, fsync=0 -----------------------------------------------------------------------
for o in volatile fsync=0; do
	mount_with isofs "$o"
	is "$RUN_RC" 0 "-o $o mounts"
	run "$PYTHON" -c "import os; f = os.open('$T/isofs/m/synced', os.O_CREAT | os.O_WRONLY, 0o644); os.write(f, b'x'); os.fsync(f); os.fdatasync(f); print('ok')"
	is "$RUN_OUT" ok "-o $o: fsync and fdatasync succeed"
	unmount "$T/isofs/m"
	is "$(cat "$T/isofs/u/synced")" x "-o $o: the data is in the upper layer after unmount"
done

# ---- ro with an upper layer ------------------------------------------------------------------
layers isofs
echo up >"$T/isofs/u/up"
run timeout 30 "$OVL" -o "lowerdir=$T/isofs/l,upperdir=$T/isofs/u,workdir=$T/isofs/w,ro" "$T/isofs/m"
is "$RUN_RC" 0 "ro with upperdir and workdir mounts"
is "$(cat "$T/isofs/m/up" "$T/isofs/m/a" 2>&1 | tr '\n' ' ')" "up a " "... the upper layer shows over the lower"
run sh -c "echo x > '$T/isofs/m/new'"
like "$RUN_ERR" "Read-only file system" "... writes are refused"
unmount "$T/isofs/m"
is "$(ls "$T/isofs/u")" up "... and nothing was written to the upper layer"

# ---- stat overrides: xattr_permissions, containers/storage's force_mask ----------------------------
# xattr_permissions=2: chown and chmod go to user.fuseoverlayfs.override_stat, the real file keeps its own
mount_with isofs xattr_permissions=2
is "$RUN_RC" 0 "-o xattr_permissions=2 mounts" || diag "$RUN_ERR"
touch "$T/isofs/m/new"
[ "$IS_ROOT" -eq 1 ] && chown 5:6 "$T/isofs/m/new" "$T/isofs/m/a" # before chmod: chown clears setuid
chmod 0600 "$T/isofs/m/new" && chmod 4711 "$T/isofs/m/a"
own=$([ "$IS_ROOT" -eq 1 ] && echo 5:6 || echo "$(id -u):$(id -g)")
is "$(stat -c '%n %a %u:%g' "$T/isofs/m/new" "$T/isofs/m/a" | sed "s|$T/isofs/m/||")" "new 600 $own
a 4711 $own" "xattr_permissions=2: chmod (and chown) show through the view"
unlike "$(getfattr -d -m - "$T/isofs/m/new" 2>/dev/null)" 'override_stat' "... the override xattr is not shown in the view"
run setfattr -n user.containers.override_stat -v 0:0:4777 "$T/isofs/m/new"
isnt "$RUN_RC" 0 "... nor can it be set through the view"
unmount "$T/isofs/m"
is "$(stat -c '%a' "$T/isofs/u/new")" 644 "... the real file keeps its mode"
stored=$([ "$IS_ROOT" -eq 1 ] && echo 5:6 || echo 0:0) # a user's own ids are 0 in the layer (docs/overlay.md)
like "$(getfattr --only-values -n user.fuseoverlayfs.override_stat "$T/isofs/u/new" 2>/dev/null)" "^${stored}:100600\$" \
	"... which is in user.fuseoverlayfs.override_stat, as fuse-overlayfs writes it"
run timeout 30 "$OVL" -o "lowerdir=$T/isofs/l,upperdir=$T/isofs/u,workdir=$T/isofs/w" "$T/isofs/m"
is "$(stat -c '%n %a %u:%g' "$T/isofs/m/new" | sed "s|$T/isofs/m/||")" "new 600 $own" \
	"... and mounted again without the option (the upper's root says so), the same"
unmount "$T/isofs/m"

# a lower written by containers/storage with force_mask: user.containers.override_stat on its root and files
# (as root: its owners are other users, and fuse-overlayfs shows stored ids unshifted)
[ "$IS_ROOT" -eq 1 ] && {
mkdir -p "$T/cs/l/sub" "$T/cs/u" "$T/cs/w" "$T/cs/m"
echo f >"$T/cs/l/sub/f"
setfattr -n user.containers.override_stat -v 0:0:040755 "$T/cs/l"
setfattr -n user.containers.override_stat -v 7:8:0640 "$T/cs/l/sub/f"
setfattr -n user.containers.override_stat -v 9:10:040700 "$T/cs/l/sub"
echo bad >"$T/cs/l/bad"
setfattr -n user.containers.override_stat -v 'not:a:value' "$T/cs/l/bad"
run timeout 30 "$OVL" -o "lowerdir=$T/cs/l,upperdir=$T/cs/u,workdir=$T/cs/w" "$T/cs/m"
mine=$(stat -c '%n %a %u:%g' "$T/cs/m/sub" "$T/cs/m/sub/f" 2>&1 | sed "s|$T/cs/m/||")
is "$mine" "sub 700 9:10
sub/f 640 7:8" "a containers/storage layer (force_mask): owners and modes from user.containers.override_stat"
is "$(stat -c '%a %u:%g' "$T/cs/m/bad" 2>&1)" "644 0:0" "... a malformed value counts as none: the real stat"
chmod 0644 "$T/cs/m/sub/f" 2>/dev/null # a copy-up keeps the owner from the override
is "$(stat -c '%a %u:%g' "$T/cs/m/sub/f" 2>&1)" "644 7:8" "... a chmod copies it up with the override's owner"
unmount "$T/cs/m"
if [ -n "$FOVL" ]; then
	rm -rf "$T/cs/u" "$T/cs/w" && mkdir "$T/cs/u" "$T/cs/w"
	run timeout 30 "$FOVL" -o "lowerdir=$T/cs/l,upperdir=$T/cs/u,workdir=$T/cs/w" "$T/cs/m"
	is "$(stat -c '%n %a %u:%g' "$T/cs/m/sub" "$T/cs/m/sub/f" 2>&1 | sed "s|$T/cs/m/||")" "$mine" \
		"... as fuse-overlayfs shows it"
	unmount "$T/cs/m"
else
	skip "... as fuse-overlayfs shows it" "fuse-overlayfs is not installed"
fi
}

# ---- noxattrs=1: no xattrs at all (the kernel is told once, and stops asking) ----------------------
xattr_probe="$PYTHON -c 'import os
for name, call in ((\"get\", lambda: os.getxattr(\"a\", \"user.x\")), (\"list\", lambda: os.listxattr(\"a\")),
                   (\"set\", lambda: os.setxattr(\"a\", \"user.x\", b\"1\"))):
    try: call(); print(name, \"ok\")
    except OSError as e: print(name, os.strerror(e.errno))'"
same_as_fuse "noxattrs=1" noxattrs=1 "$xattr_probe"
nosup=$("$PYTHON" -c 'import errno, os; print(os.strerror(errno.EOPNOTSUPP))')
is "$MINE" "get $nosup
list $nosup
set $nosup" "noxattrs=1: getxattr, listxattr and setxattr are not supported"
same_as_fuse "noxattrs=0" noxattrs=0 "$xattr_probe"
like "$MINE" "^get No data available" "noxattrs=0: xattrs as usual"

# ---- accepted, meaningless here; x-*; refused -------------------------------------------------------
for o in noacl redirect_dir=on index=off metacopy=off context=system_u:object_r:container_file_t:s0 \
	fast_ino=1 threaded=1 xattr_permissions=0 plugins= plugin_path=/usr/libexec/fuse-overlayfs x-systemd.automount x-isofs.anything 'a,,b'; do
	[ "$o" = 'a,,b' ] && o='noacl,,static_nlink' # an empty option, as containers/storage can pass
	mount_with isofs "$o"
	is "$RUN_RC" 0 "-o $o is accepted" || diag "$RUN_ERR"
	unmount "$T/isofs/m" 2>/dev/null
done
for o in xattr_permissions=3 noxattrs=2 plugins=/usr/lib/x.so uidmapping=0:1000 uidmapping=a:b:c squash_to_uid=x bogus=1; do
	mount_with isofs "$o"
	isnt "$RUN_RC" 0 "-o $o is refused"
	is "$RUN_ERR_LINES" 1 "... in one line"
	like "$RUN_ERR" "${o%%=*}" "... naming it"
done

# ---- root of a user namespace: user xattrs (podman runs its mount program so) ---------------------
if [ "$IS_ROOT" -eq 1 ]; then
	layers isofs
	mkdir -p "$T/isofs/l/gone/sub"
	run timeout 60 unshare -Urm sh -c "'$OVL' -o 'lowerdir=$T/isofs/l,upperdir=$T/isofs/u,workdir=$T/isofs/w' '$T/isofs/m' &&
		rm -rf '$T/isofs/m/gone' && mkdir '$T/isofs/m/gone' && ls -A '$T/isofs/m/gone' && echo made &&
		umount '$T/isofs/m'"
	is "$RUN_OUT" made "root of a user namespace: a removed lower directory is made again, empty" || diag "$RUN_ERR"
	like "$(getfattr -d -m - "$T/isofs/u/gone" 2>/dev/null)" 'user\.overlay\.opaque' "... opaque in user.overlay.*, not trusted.*"
fi

done_testing
