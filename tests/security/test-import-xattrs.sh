#!/bin/bash
# SPDX-License-Identifier: MIT
# Import never produces layer metadata.  Archives (pax SCHILY.xattr.* and
# LIBARCHIVE.xattr.*) and a directory source carry the xattrs the overlay reads
# to merge layers (trusted.overlay.*, user.overlay.*) and isofs's own
# (user.isofs.*): redirects climbing to the canary's directory (absolute,
# relative, chained, through a symlink of the image), opaque, origin, metacopy,
# impure and whiteout marks, a forged user.isofs.owner.  Each import must drop
# every one of them and say how many; the stored image holds none; a sandbox of
# it and its export never show the canary; the store is otherwise intact.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-security.sh"
setup_tmp
plant_canary

# A sandbox of these images answers in well under a second; an overlay following a
# hostile redirect may loop: fail fast instead of running into the test's timeout.
sandbox_run() { ISOFS_TEST_TIMEOUT=20 run iso run "$@"; }

# layer metadata as the format defines it (base/layer-format.h): <ns>.overlay.overlay.X
# is a user's <ns>.overlay.X stored escaped, not metadata
META_RE='^((trusted|user)\.overlay\.([^o]|o[^v]|ov[^e]|ove[^r]|over[^l]|overl[^a]|overla[^y]|overlay[^.])|user\.isofs\.)'
canary_state() { (cd "$CANARY_DIR" && find . -printf '%P %y %m %s\n' | LC_ALL=C sort && cat etc/shadow); }
CANARY_BEFORE=$(canary_state)

run iso image bootstrap bb --busybox
[ "$RUN_RC" -eq 0 ] || bail_out "bootstrap --busybox failed: $RUN_ERR"
run iso image export bb "$T/bb.tar"
[ "$RUN_RC" -eq 0 ] || bail_out "export of the busybox image failed: $RUN_ERR"
IMAGES=(bb)

# Every place a followed redirect would show the canary, read inside the sandbox
# ($1: the canary's directory, as the image's redirects name it).
# shellcheck disable=SC2016
PROBE='t=$1; t=${t#/}
dirs="/ /abs /up1 /up2 /uplong /c/c/c/c/c/c/c/c/c/c/c/c /via /via2 /opq /orig /marks /whdir /la /both /enc"
for d in $dirs; do
	[ -d "$d" ] || continue
	cat "$d/shadow" "$d/etc/shadow" "$d/$t/etc/shadow" "$d/$t/shadow"
	ls -la "$d" "$d/etc" "$d/$t"
done
cat /meta /wh
for d in $dirs; do [ "$d" = / ] || find "$d" -type f -exec cat {} +; done
find / -xdev'

# check NAME COUNT DESC: the import of NAME (just run) dropped COUNT layer-metadata
# xattrs and said so; none is stored; a sandbox of NAME and its export never show
# the canary.  $R is NAME's rootfs, $IMPORT_OUT the import's summary.
check() {
	local name=$1 count=$2 desc=$3 out
	R=$STORE/images/$name/rootfs
	if [ "$RUN_RC" -ne 0 ]; then
		fail "$desc: import succeeds" "exit $RUN_RC" "$RUN_ERR"
		return
	fi
	pass "$desc: import succeeds"
	IMAGES+=("$name")
	IMPORT_OUT=$RUN_OUT
	like "$RUN_OUT" "[;,] $count overlay xattrs dropped\$" "$desc: the summary says $count overlay xattrs dropped"
	out=$(iso image inspect "$name" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["import"]["overlay_xattrs_dropped"])')
	is "$out" "$count" "$desc: inspect's import.overlay_xattrs_dropped is $count"
	out=$(xattr_listing "$R" "$META_RE")
	if [ "$name" = ovl-metadata ] && [ "$IS_ROOT" -eq 0 ]; then
		# the importer's own record of the entry's owner, not the archive's forged 0:0
		is "$out" "marks/forged|user.isofs.owner=0x313233343a35363738" \
			"$desc: no layer metadata stored, only the importer's user.isofs.owner (1234:5678)"
	else
		is "$out" "" "$desc: no layer metadata stored (getfattr -d -m - on the rootfs)"
	fi

	store_snapshot
	sandbox_run "$name" -- /bin/sh -c "$PROBE" probe "$CANARY_DIR"
	is "$RUN_RC" 0 "$desc: a sandbox of it runs"
	no_canary "$desc: cat, ls and find in the sandbox never show the canary" "$RUN_OUT" "$RUN_ERR"
	sandbox_run "$name" -- cat /abs/shadow /abs/etc/shadow /via/shadow /via2/shadow /meta
	no_canary "$desc: cat of redirected paths, without a shell, never shows the canary" "$RUN_OUT" "$RUN_ERR"
	expect_store_unchanged "$desc: after the sandboxes"

	run iso image export "$name" "$T/$name.out.tar"
	is "$RUN_RC" 0 "$desc: export succeeds"
	no_canary_in_tar "$desc: the export holds no canary" "$T/$name.out.tar"
	if grep -qaE 'overlay\.(redirect|opaque|origin|metacopy|whiteout|impure)|user\.isofs\.' "$T/$name.out.tar"; then
		fail "$desc: the export carries no layer metadata"
	else
		pass "$desc: the export carries no layer metadata"
	fi
}

# ---- archives ------------------------------------------------------------------------

# kind:count (craft.py --list shows the count at the end of each docstring)
for kc in ovl-redirect-absolute:4 ovl-redirect-relative:6 ovl-redirect-chain:24 ovl-redirect-symlink:4 \
	ovl-metadata:17 ovl-libarchive-xattr:4 ovl-neighbours:1; do
	kind=${kc%:*}
	craft "$kind" "$T/$kind.tar" --target "$CANARY_DIR" --base "$T/bb.tar" || bail_out "craft.py $kind failed"
	run iso image import "$kind" "$T/$kind.tar"
	check "$kind" "${kc#*:}" "$kind"
	case $kind in
	ovl-metadata)
		is "$(cat "$R/.wh.hidden" 2>&1)|$(cat "$R/whdir/.wh..wh..opq" 2>&1)" "a plain file|a plain file too" \
			"$kind: '.wh.' entries are imported as they are, plain files"
		is "$(stat -c '%F %s' "$R/wh" "$R/meta" | tr '\n' ' ')" "regular empty file 0 regular empty file 0 " \
			"$kind: the whiteout- and metacopy-marked files are plain empty files"
		sandbox_run "$kind" -- /bin/sh -c 'test -f /wh && cat /opq/inside && ls /marks'
		is "$RUN_OUT" $'inside an opaque directory\nforged' \
			"$kind: in a sandbox, the marks have no effect: the whiteout is a file, the opaque dir shows its content"
		;;
	ovl-neighbours)
		if [ "$IS_ROOT" -eq 1 ]; then
			like "$IMPORT_OUT" "; 1 ACLs not kept, 1 overlay xattrs dropped\$" \
				"$kind: root: security.capability kept, the ACL counted as before"
			is "$(getcap "$R/capfile" 2>&1 | sed 's|.*/||')" "capfile cap_net_raw=ep" "$kind: root: security.capability is kept"
		else
			like "$IMPORT_OUT" "; 1 xattrs not kept, 1 ACLs not kept, 1 overlay xattrs dropped\$" \
				"$kind: rootless: security.capability not kept and counted, the ACL counted, as before"
			skip "$kind: root: security.capability is kept" rootless
		fi
		is "$(getfattr -h --only-values -n user.overlayfoo "$R/aclfile" 2>/dev/null)|$(getfattr -h --only-values -n user.keep "$R/aclfile" 2>/dev/null)" \
			"not the overlay's|kept" "$kind: user.overlayfoo (not the overlay's) and user.keep are kept"
		is "$(getfattr -h --only-values -n user.overlay.overlay.mine "$R/aclfile" 2>/dev/null)" escaped \
			"$kind: an escaped name (a user's user.overlay.mine) is kept"
		;;
	esac
done

# ---- a directory source --------------------------------------------------------------

SRC=$T/src
mkdir "$SRC" || bail_out "mkdir $SRC"
tar -xf "$T/bb.tar" -C "$SRC" 2>/dev/null || bail_out "cannot unpack bb.tar into $SRC"
chmod u+w "$SRC"
escape=/../../../../../../../..$CANARY_DIR
c12=c/c/c/c/c/c/c/c/c/c/c/c
mkdir -p "$SRC/abs" "$SRC/up1" "$SRC/uplong" "$SRC/$c12" "$SRC/via" "$SRC/opq" "$SRC/orig" "$SRC/marks"
echo "the image's own file" >"$SRC/abs/own"
echo forged >"$SRC/marks/forged"
: >"$SRC/meta"
: >"$SRC/wh"
ln -s "$CANARY_DIR" "$SRC/lnk"
prefixes=(user.overlay.)
[ "$IS_ROOT" -eq 1 ] && prefixes+=(trusted.overlay.)
set_meta() { setfattr -n "$1" -v "$2" "$SRC/$3" || bail_out "setfattr -n $1 $SRC/$3 failed"; }
for p in "${prefixes[@]}"; do
	set_meta "${p}redirect" "$escape" abs
	set_meta "${p}redirect" ../.. up1
	set_meta "${p}redirect" "../../../../../../../../../../../..$CANARY_DIR" uplong
	d=
	for _ in $(seq 12); do
		d=${d}c/
		set_meta "${p}redirect" .. "$d"
	done
	set_meta "${p}redirect" /lnk/etc via
	set_meta "${p}opaque" y opq
	set_meta "${p}origin" "a file handle" orig
	set_meta "${p}metacopy" "" meta
	set_meta "${p}redirect" "$escape/etc/shadow" meta
	set_meta "${p}whiteout" y wh
done
set_meta user.isofs.origin 1:2 marks
set_meta user.isofs.impure y marks
set_meta user.isofs.owner 0:0 marks/forged
[ "$IS_ROOT" -eq 1 ] && chown 1234:5678 "$SRC/marks/forged"
want=$(xattr_listing "$SRC" "$META_RE" | wc -l)
num "$want" -eq $((${#prefixes[@]} * 21 + 3)) "dir: the source carries the layer metadata it was given ($want xattrs)"
run iso image import srcdir "$SRC"
check srcdir "$want" "dir"
if [ "$IS_ROOT" -eq 1 ]; then
	is "$(stat -c %u:%g "$R/marks/forged")" 1234:5678 "dir: root: the forged file keeps its real owner"
else
	skip "dir: root: the forged file keeps its real owner" rootless
fi

# ---- the store, the canary ----------------------------------------------------------------

is "$(image_names | tr '\n' ' ')" "$(printf '%s\n' "${IMAGES[@]}" | LC_ALL=C sort | tr '\n' ' ')" \
	"the store holds exactly the images imported, nothing else"
ok "STORE/tmp is empty" tmp_is_empty
is "$(canary_state)" "$CANARY_BEFORE" "the canary's directory is untouched"

done_testing
