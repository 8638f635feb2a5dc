#!/bin/bash
# Owners of every object type (file, directory, symlink, fifo, socket) in a
# sandbox, given by chown or by a non-root creator, as root and rootless: the
# same as kernel overlayfs shows in a user namespace with the same id map, kept
# across runs of a persistent sandbox, seen through `isofs mount` from the host
# and from a sandbox, and carried through import and export.  Rootless, files
# and directories stay the user's on disk (the owner in user.isofs.owner);
# symlinks, fifos and sockets get the subordinate id (docs/overlay.md).
. "$(dirname "$0")/lib.sh"
setup_tmp
unmount_all_at_exit

: "${ISOFS_SYS_PROBE:=$(dirname "$ISOFS_BIN")/../tests/security/sys-probe}"
[ -x "$ISOFS_SYS_PROBE" ] || bail_out "no sys-probe at $ISOFS_SYS_PROBE"

# The id map of our sandboxes: root maps 0..65535 to itself; a user, 0 to
# itself and 1..65535 to the first 65535 ids of its range.
if [ "$IS_ROOT" -eq 1 ]; then
	SUBUID=1 SUBGID=1 # host id of logical id n: n
	host_uid() { echo "$1"; }
	host_gid() { echo "$1"; }
else
	SUBUID=$(awk -F: -v u="$(id -un)" -v n="$(id -u)" '$1 == u || $1 == n { print $2; exit }' /etc/subuid)
	SUBGID=$(awk -F: -v u="$(id -un)" -v n="$(id -u)" '$1 == u || $1 == n { print $2; exit }' /etc/subgid)
	[ -n "$SUBUID" ] && [ -n "$SUBGID" ] || skip_all "rootless: $(id -un) has no subordinate range"
	command -v newuidmap >/dev/null || skip_all "rootless: newuidmap is missing (package uidmap)"
	host_uid() { if [ "$1" -eq 0 ]; then id -u; else echo $((SUBUID + $1 - 1)); fi; }
	host_gid() { if [ "$1" -eq 0 ]; then id -g; else echo $((SUBGID + $1 - 1)); fi; }
fi

# $1: the directory to work in, $2: the probe (mksock, as), relative to $1/w
# or absolute.  Objects made by root and chowned, then by uid 1000.
SCRIPT='set -e
cd "$1"
mkdir w
chmod 1777 w
cd w
P=$2
touch file
mkdir dir
ln -s target sym
mkfifo fifo
"$P" mksock sock
chown 123:456 file dir fifo sock
chown -h 123:456 sym
"$P" as 1000 1001 sh -c "touch ufile; mkdir udir; ln -s t usym; mkfifo ufifo; \"$P\" mksock usock"
stat -c "%n %u:%g" file dir sym fifo sock ufile udir usym ufifo usock'
EXPECTED='file 123:456
dir 123:456
sym 123:456
fifo 123:456
sock 123:456
ufile 1000:1001
udir 1000:1001
usym 1000:1001
ufifo 1000:1001
usock 1000:1001'
STAT_ONLY='cd /w && stat -c "%n %u:%g" file dir sym fifo sock ufile udir usym ufifo usock'

mkdir -p "$T/probe"
cp "$ISOFS_SYS_PROBE" "$T/probe/sys-probe"
chmod 0755 "$T/probe" "$T/probe/sys-probe"
CAPS=(--cap-add CAP_CHOWN --cap-add CAP_SETUID --cap-add CAP_SETGID --cap-add CAP_DAC_OVERRIDE --cap-add CAP_FOWNER)
PROBE=(--bind "$T/probe:/probe:ro")

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true

# ---- reference: kernel overlayfs in a namespace with the sandbox's id map ------------
mkdir -p "$T/k/lower/probe" "$T/k/upper" "$T/k/work" "$T/k/merged"
cp "$T/probe/sys-probe" "$T/k/lower/probe/"
if [ "$IS_ROOT" -eq 1 ]; then
	KNS=(unshare -m)
	KOPTS="lowerdir=$T/k/lower,upperdir=$T/k/upper,workdir=$T/k/work"
else
	KNS=(unshare --map-root-user --map-users="$SUBUID,1,65535" --map-groups="$SUBGID,1,65535" -m)
	KOPTS="lowerdir=$T/k/lower,upperdir=$T/k/upper,workdir=$T/k/work,userxattr"
fi
# The probe by a path relative to w: uid 1000 cannot cross the test's private directories.
run timeout 60 "${KNS[@]}" sh -c 'mount -t overlay overlay -o "$1" "$2" && shift 2 && sh -c "$@"' \
	sh "$KOPTS" "$T/k/merged" "$SCRIPT" sh "$T/k/merged" ../probe/sys-probe
if [ "$RUN_RC" -eq 0 ]; then
	REF=$RUN_OUT
	is "$REF" "$EXPECTED" "kernel overlayfs (the reference): every object type takes its owner"
else
	REF=$EXPECTED
	skip "kernel overlayfs cannot run the reference here: $RUN_ERR"
fi

# ---- an ephemeral sandbox ---------------------------------------------------------------
run iso run "${CAPS[@]}" "${PROBE[@]}" bb -- sh -c "$SCRIPT" sh / /probe/sys-probe
is "$RUN_RC" 0 "the script runs in a sandbox" || diag "$RUN_ERR"
is "$RUN_OUT" "$REF" "every object type keeps the owner chown gave it, and its non-root creator's, as kernel overlayfs does"

# ---- a persistent sandbox: the owners are in the store -----------------------------------
run iso sandbox create own bb
run iso run --sandbox own "${CAPS[@]}" "${PROBE[@]}" -- sh -c "$SCRIPT" sh / /probe/sys-probe
is "$RUN_RC" 0 "the script runs in a persistent sandbox"
run iso run --sandbox own -- sh -c "$STAT_ONLY"
is "$RUN_OUT" "$EXPECTED" "the next run of the sandbox sees the same owners"

UP=$STORE/sandboxes/own/upper/w
if [ "$IS_ROOT" -eq 1 ]; then
	is "$(stat -c %u:%g "$UP/sym" "$UP/file" | tr '\n' ' ')" "123:456 123:456 " "root: the upper layer holds real owners"
else
	is "$(stat -c %u:%g "$UP/file" "$UP/dir" "$UP/ufile" | tr '\n' ' ')" \
		"$(id -u):$(id -g) $(id -u):$(id -g) $(id -u):$(id -g) " \
		"rootless: files and directories stay the user's on disk"
	is "$(getfattr --only-values -n user.isofs.owner "$UP/file" 2>/dev/null)" "123:456" \
		"... their owner in user.isofs.owner"
	is "$(stat -c %u:%g "$UP/sym" "$UP/fifo" "$UP/sock" | tr '\n' ' ')" \
		"$(host_uid 123):$(host_gid 456) $(host_uid 123):$(host_gid 456) $(host_uid 123):$(host_gid 456) " \
		"rootless: symlinks, fifos and sockets have the subordinate ids of 123:456"
	is "$(stat -c %u:%g "$UP/usym" "$UP/ufifo" | tr '\n' ' ')" \
		"$(host_uid 1000):$(host_gid 1001) $(host_uid 1000):$(host_gid 1001) " \
		"... and of 1000:1001 for the non-root creator's"
fi

# chown back to root, and to an owner the map does not have
run iso run --sandbox own "${CAPS[@]}" -- sh -c 'cd /w && chown -h 0:0 sym usym && chown 0:0 fifo ufile && stat -c "%n %u:%g" sym usym fifo ufile'
is "$RUN_OUT" "sym 0:0
usym 0:0
fifo 0:0
ufile 0:0" "chown back to 0:0, every type"
if [ "$IS_ROOT" -eq 0 ]; then
	is "$(stat -c %u:%g "$UP/sym" "$UP/fifo" | tr '\n' ' ')" "$(id -u):$(id -g) $(id -u):$(id -g) " \
		"rootless: 0:0 is the user again on disk"
fi
run iso run --sandbox own "${CAPS[@]}" -- chown -h 70000:70000 /w/usock
isnt "$RUN_RC" 0 "chown to an id outside the sandbox's map fails"
like "$RUN_ERR" "Invalid argument" "... with EINVAL, as chown(2) says for an unmapped id"

# ---- isofs mount: the host sees host ids, a sandbox on the mount logical ones ---------
mkdir -p "$T/m"
run iso mount bb "$T/m" --sandbox own
is "$RUN_RC" 0 "isofs mount of the sandbox" || diag "$RUN_ERR"
is "$(stat -c %u:%g "$T/m/w/file" "$T/m/w/sock" "$T/m/w/ufifo" | tr '\n' ' ')" \
	"$(host_uid 123):$(host_gid 456) $(host_uid 123):$(host_gid 456) $(host_uid 1000):$(host_gid 1001) " \
	"the host sees the host ids of the owners through the mount"
run iso run "$T/m" -- sh -c 'cd /w && stat -c "%n %u:%g" file sock ufifo'
is "$RUN_OUT" "file 123:456
sock 123:456
ufifo 1000:1001" "a sandbox run on the mount sees the owners themselves"
run iso umount "$T/m"
is "$RUN_RC" 0 "umount"

run iso sandbox rm own
is "$RUN_RC" 0 "the sandbox is removed (its subordinate-owned objects with it)"
nok "... nothing of it is left" test -e "$STORE/sandboxes/own"

# ---- import and export ----------------------------------------------------------------
"$PYTHON" - "$T/own.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for name, typ, uid, gid, link in [("sym", tarfile.SYMTYPE, 7, 8, "target"), ("fifo", tarfile.FIFOTYPE, 9, 10, ""),
                                      ("file", tarfile.REGTYPE, 11, 12, ""), ("dir", tarfile.DIRTYPE, 13, 14, ""),
                                      ("rootsym", tarfile.SYMTYPE, 0, 0, "x")]:
        ti = tarfile.TarInfo(name)
        ti.type, ti.uid, ti.gid, ti.linkname, ti.mtime = typ, uid, gid, link, 1000000000
        ti.mode = 0o755 if typ == tarfile.DIRTYPE else 0o644
        t.addfile(ti, io.BytesIO(b"") if typ == tarfile.REGTYPE else None)
EOF
run iso image import own "$T/own.tar"
is "$RUN_RC" 0 "import a tar with owned symlinks and fifos" || diag "$RUN_ERR"
if [ "$IS_ROOT" -eq 0 ]; then
	like "$RUN_OUT" "2 owners kept as subordinate ids" "rootless: the symlink's and fifo's owners are kept as subordinate ids"
fi
cp /bin/busybox "$T/probe/busybox" # the image has no tools of its own
run iso run "${PROBE[@]}" own -- /probe/busybox stat -c "%n %u:%g" /sym /fifo /file /dir /rootsym
is "$RUN_OUT" "/sym 7:8
/fifo 9:10
/file 11:12
/dir 13:14
/rootsym 0:0" "a sandbox of the image sees every imported owner" || diag "$RUN_ERR"
run sh -c "'$ISOFS_BIN' --store '$STORE' image export own - | tar -tvf - --numeric-owner | awk '{ print \$2, \$6 }'"
is "$RUN_OUT" "0/0 ./
13/14 ./dir/
9/10 ./fifo
11/12 ./file
0/0 ./rootsym
7/8 ./sym" "export gives every owner back"

done_testing
