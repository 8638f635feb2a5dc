# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Sourced by every tests/integration/test-*.sh: TAP output and assertions, a
# private temporary directory and store per test (removed on exit, whatever
# happens), root/rootless modes, and helpers to compare file trees.
#
# Environment:
#   ISOFS_BIN            the isofs binary (meson sets it)
#   ISOFS_CRAFT          craft.py (default: next to this file)
#   ISOFS_TEST_MODE      root: skip unless uid 0; rootless: as root, re-run the
#                        script as ISOFS_TEST_USER; unset: run as whoever we are
#   ISOFS_TEST_USER      the unprivileged user for rootless runs (default isofs-test)
#   ISOFS_TEST_TIMEOUT   seconds any single command may take (default 120)
#
# A test script:
#   . "$(dirname "$0")/lib.sh"
#   setup_tmp               # $T (temp dir), $STORE (its store), EXIT trap
#   run iso image ls        # $RUN_RC, $RUN_OUT, $RUN_ERR
#   is "$RUN_RC" 0 "image ls succeeds"
#   done_testing            # the plan; exit 0 (failures are in the TAP)
#
# Assertions: pass fail skip ok nok is isnt like unlike num; expect_refused,
# store_snapshot + expect_store_unchanged for commands that must fail cleanly.
# Helpers: iso/isofs_cmd (isofs under timeout), craft (craft.py), wait_until,
# at_cleanup, bg_track, as_owner, need_mount_ns (tests that mount), force_unmount,
# unmount_all_at_exit (every mount below $T goes at exit), trees:
# tree_listing hardlink_groups xattr_listing device_listing, build_fixture,
# make_fixture_tar, expected_counts, summary_regex.

set -u
set -o pipefail
umask 022
export LC_ALL=C.UTF-8

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_SCRIPT=$(readlink -f "$0")
TEST_NAME=$(basename "$0" .sh)
PYTHON=/usr/bin/python3
: "${ISOFS_CRAFT:=$TESTS_DIR/craft.py}"
: "${ISOFS_TEST_TIMEOUT:=120}"
export ISOFS_CRAFT ISOFS_TEST_TIMEOUT

# ---- TAP --------------------------------------------------------------------------

_tap_n=0
_tap_failed=0
_tap_planned=
_tap_finished=0

diag() {
	local line
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/# /'
	done
}

# A description must not contain a bare '#' (TAP would read a directive).
_tap_desc() {
	printf '%s' "$*" | tr '\n' ' ' | sed 's/#/\\#/g'
}

plan() {
	_tap_planned=$1
	echo "1..$1"
}

pass() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $(_tap_desc "$1")"
}

# fail DESC [DIAGNOSTIC…]
fail() {
	local desc=$1
	shift
	_tap_n=$((_tap_n + 1))
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_n - $(_tap_desc "$desc")"
	diag "$@"
}

skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $(_tap_desc "$1") # SKIP $(_tap_desc "$2")"
}

skip_all() {
	echo "1..0 # SKIP $(_tap_desc "$*")"
	_tap_finished=1
	exit 0
}

bail_out() {
	echo "Bail out! $(_tap_desc "$*")"
	_tap_finished=1
	exit 1
}

done_testing() {
	# setup_tmp pointed the default store into $T: no command may have used it
	# unless the test said so (--store everywhere).
	if [ -n "${T:-}" ] && [ -n "${ISOFS_STORE:-}" ] && [ "$ISOFS_STORE" = "$T/default-store-not-to-be-used" ]; then
		if [ -e "$ISOFS_STORE" ]; then
			fail "no command fell back to the default store" "$ISOFS_STORE exists"
		else
			pass "no command fell back to the default store"
		fi
	fi
	if [ -z "$_tap_planned" ]; then
		echo "1..$_tap_n"
	elif [ "$_tap_planned" != "$_tap_n" ]; then
		diag "planned $_tap_planned tests but ran $_tap_n"
		_tap_failed=$((_tap_failed + 1))
	fi
	_tap_finished=1
	[ "$_tap_failed" -eq 0 ] || diag "$_tap_failed of $_tap_n failed"
	# The TAP lines tell what failed (meson: FAIL); a non-zero exit is kept for
	# a broken run (bail out, a script that died early: meson says ERROR).
	exit 0
}

# Shows GOT and EXPECTED; a diff when either has several lines.
_show_diff() {
	local got=$1 exp=$2
	if [[ $got == *$'\n'* || $exp == *$'\n'* ]]; then
		diag "--- expected +++ got"
		diff -u <(printf '%s\n' "$exp") <(printf '%s\n' "$got") | tail -n +3 | head -n 60 | sed 's/^/# /'
	else
		diag "expected: '$exp'" "     got: '$got'"
	fi
}

# ok DESC CMD [ARG…]: passes when CMD exits 0
ok() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "$desc"
	else
		fail "$desc" "command failed (exit $rc): $*" "$out"
	fi
}

# nok DESC CMD [ARG…]: passes when CMD exits non-zero
nok() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ]; then
		pass "$desc"
	else
		fail "$desc" "command succeeded but should not have: $*" "$out"
	fi
}

is() {
	if [[ "$1" == "$2" ]]; then
		pass "$3"
	else
		fail "$3"
		_show_diff "$1" "$2"
	fi
}

isnt() {
	if [[ "$1" != "$2" ]]; then
		pass "$3"
	else
		fail "$3" "got '$1', which it should not be"
	fi
}

# like GOT ERE DESC
like() {
	if [[ "$1" =~ $2 ]]; then
		pass "$3"
	else
		fail "$3" "'$1'" "does not match /$2/"
	fi
}

unlike() {
	if [[ "$1" =~ $2 ]]; then
		fail "$3" "'$1'" "matches /$2/ but should not"
	else
		pass "$3"
	fi
}

# num GOT OP EXPECTED DESC, OP one of -eq -ne -lt -le -gt -ge
num() {
	if [[ "$1" =~ ^-?[0-9]+$ ]] && test "$1" "$2" "$3"; then
		pass "$4"
	else
		fail "$4" "expected '$1' $2 '$3'"
	fi
}

# ---- running commands -------------------------------------------------------------

# run CMD [ARG…]: $RUN_RC, $RUN_OUT, $RUN_ERR (trailing newlines stripped),
# $RUN_ERR_LINES.  External commands run under timeout; functions (iso, …)
# apply their own.  stdin is the caller's: `run iso image import x - <file`.
run() {
	local o="$T/.run.out" e="$T/.run.err"
	if [ "$(type -t "$1")" = function ]; then
		"$@" >"$o" 2>"$e"
	else
		timeout -k 10 "$ISOFS_TEST_TIMEOUT" "$@" >"$o" 2>"$e"
	fi
	RUN_RC=$?
	RUN_OUT=$(cat "$o")
	RUN_ERR=$(cat "$e")
	RUN_ERR_LINES=$(wc -l <"$e")
	if [ "$RUN_RC" -eq 124 ]; then
		diag "timed out (exit $RUN_RC) after ${ISOFS_TEST_TIMEOUT}s: $*"
	fi
	return 0
}

# The isofs binary under timeout; iso also passes the test's own store.
# ISOFS_WRAP runs it as the real user inside need_mount_ns's namespace.
ISOFS_WRAP=()
isofs_cmd() {
	timeout -k 10 "$ISOFS_TEST_TIMEOUT" "${ISOFS_WRAP[@]}" "$ISOFS_BIN" "$@"
}
iso() {
	timeout -k 10 "$ISOFS_TEST_TIMEOUT" "${ISOFS_WRAP[@]}" "$ISOFS_BIN" --store "$STORE" "$@"
}

craft() {
	timeout -k 10 60 "$PYTHON" "$ISOFS_CRAFT" "$@"
}

# as_owner CMD [ARG…]: runs CMD able to read all of an image, even its 0000
# directories: rootless as root of a user namespace (which may override the
# permissions of the user's own files), as root directly.
as_owner() {
	if [ "$IS_ROOT" -eq 1 ]; then
		"$@"
	else
		unshare -Ur "$@"
	fi
}

# host_ids UID:GID: the host's ids for a sandbox's logical ones.  Root: the
# same.  A user with a range in /etc/subuid and /etc/subgid (and newuidmap):
# 0 is the user, n the range's start + n - 1.  Without a range: the same.
host_ids() {
	local u=${1%:*} g=${1#*:} su sg
	if [ "$IS_ROOT" -eq 0 ] && command -v newuidmap >/dev/null; then
		su=$(awk -F: -v n="$(id -un)" -v i="$(id -u)" '($1 == n || $1 == i) && $3 >= 65535 { print $2; exit }' /etc/subuid)
		sg=$(awk -F: -v n="$(id -un)" -v i="$(id -u)" '($1 == n || $1 == i) && $3 >= 65535 { print $2; exit }' /etc/subgid)
		if [ -n "$su" ] && [ -n "$sg" ]; then
			if [ "$u" -eq 0 ]; then u=$(id -u); else u=$((su + u - 1)); fi
			if [ "$g" -eq 0 ]; then g=$(id -g); else g=$((sg + g - 1)); fi
		fi
	fi
	echo "$u:$g"
}

# wait_until SECONDS CMD [ARG…]: polls CMD every 50 ms; false when time runs out
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.05
	done
	return 0
}

# ---- temp dir, store and cleanup ----------------------------------------------------

_cleanup_cmds=()
_bg_pids=()

# at_cleanup 'shell command': run (last registered first) when the script exits
at_cleanup() {
	_cleanup_cmds+=("$1")
}

# force_unmount MOUNTPOINT: detach it now (root: umount -l; a user: fusermount3 -uz)
force_unmount() {
	if [ "$IS_ROOT" -eq 1 ]; then umount -l "$1"; else fusermount3 -uz "$1"; fi
}

# unmount_all_at_exit: every mount below $T goes when the script exits, even when a test fails
# (a dead FUSE server's mount would block every later test)
unmount_all_at_exit() {
	at_cleanup 'for m in $(awk -v p="$T" "index(\$5, p \"/\") == 1 { print \$5 }" /proc/self/mountinfo); do force_unmount "$m"; done'
}

# bg_track PID: killed (-9) at exit if still running
bg_track() {
	_bg_pids+=("$1")
}

# Mount points at or below $1, deepest first (from our mount namespace's view).
_mounts_below() {
	awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

_cleanup() {
	local rc=$? i pid m
	trap - EXIT INT TERM HUP
	for pid in "${_bg_pids[@]}"; do
		kill -9 "$pid" 2>/dev/null
	done
	for ((i = ${#_cleanup_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_cleanup_cmds[$i]}" >/dev/null 2>&1
	done
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		for m in $(_mounts_below "$T"); do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		done
		# Rootless images hold 0000 directories; chmod -R does not follow symlinks.
		chmod -R u+rwX "$T" 2>/dev/null
		rm -rf --one-file-system "$T" 2>/dev/null
		[ -e "$T" ] && echo "# cleanup: could not remove $T" >&2
	fi
	if [ "$_tap_finished" -eq 0 ]; then
		_tap_n=$((_tap_n + 1))
		echo "not ok $_tap_n - $TEST_NAME ended early (exit status $rc)"
		echo "1..$_tap_n"
		rc=1
	fi
	exit "$rc"
}

# setup_tmp: $T, a fresh temp dir under /tmp; $STORE=$T/store.  HOME and the
# default store point into $T so that nothing can reach a real store by mistake.
setup_tmp() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/isofs-it.$TEST_NAME.XXXXXX") || bail_out "mktemp failed"
	chmod 0755 "$T"
	trap _cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	STORE=$T/store
	mkdir -p "$T/home"
	export HOME=$T/home
	export ISOFS_STORE=$T/default-store-not-to-be-used
	unset XDG_DATA_HOME
	cd "$T" || bail_out "cd $T"
}

# ---- modes ----------------------------------------------------------------------

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1
if [ -n "${ISOFS_TEST_USERNS:-}" ]; then
	# Inside need_mount_ns: root of a user namespace over an unprivileged user,
	# who runs isofs (nested user namespace mapping that user back).
	IS_ROOT=0
	ISOFS_WRAP=(unshare --user --map-user="${ISOFS_TEST_USERNS%:*}" --map-group="${ISOFS_TEST_USERNS#*:}" --)
fi

_reexec_rootless() {
	local user=${ISOFS_TEST_USER:-isofs-test} uid gid dir rc
	uid=$(id -u "$user" 2>/dev/null) || skip_all "rootless mode: user '$user' does not exist"
	gid=$(id -g "$user")
	[ "$uid" -ne 0 ] || skip_all "rootless mode: user '$user' is root"
	dir=$(mktemp -d /tmp/isofs-rootless.XXXXXX) || bail_out "mktemp failed"
	mkdir "$dir/home"
	chown -R "$uid:$gid" "$dir"
	chmod 0700 "$dir"
	cd "$dir" || bail_out "cd $dir"
	setpriv --reuid="$uid" --regid="$gid" --init-groups -- \
		env -i \
		PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		HOME="$dir/home" TMPDIR="$dir" LANG=C.UTF-8 TERM="${TERM:-dumb}" \
		ISOFS_BIN="$ISOFS_BIN" ISOFS_CRAFT="$ISOFS_CRAFT" ISOFS_TEST_MODE=rootless \
		ISOFS_TEST_USER="$user" ISOFS_TEST_TIMEOUT="$ISOFS_TEST_TIMEOUT" ISOFS_REGISTRY_TOOL="${ISOFS_REGISTRY_TOOL:-}" \
		ISOFS_OVERLAY_BIN="${ISOFS_OVERLAY_BIN:-}" ISOFS_MAN_DIR="${ISOFS_MAN_DIR:-}" \
		ISOFS_COMPLETIONS_DIR="${ISOFS_COMPLETIONS_DIR:-}" \
		bash "$TEST_SCRIPT" "$@"
	rc=$?
	cd / && rm -rf --one-file-system "$dir"
	_tap_finished=1
	exit "$rc"
}

[ -n "${ISOFS_BIN:-}" ] || bail_out "ISOFS_BIN is not set (run through meson test)"
ISOFS_BIN=$(readlink -f "$ISOFS_BIN")

case "${ISOFS_TEST_MODE:-}" in
root) [ "$IS_ROOT" -eq 1 ] || skip_all "root mode and not running as root" ;;
rootless) [ "$IS_ROOT" -eq 1 ] && _reexec_rootless "$@" ;;
'') ;;
*) bail_out "ISOFS_TEST_MODE must be root or rootless, not '$ISOFS_TEST_MODE'" ;;
esac
MODE=rootless
[ "$IS_ROOT" -eq 1 ] && MODE=root
[ -x "$ISOFS_BIN" ] || bail_out "ISOFS_BIN '$ISOFS_BIN' is not executable by uid $(id -u)"
export ISOFS_BIN

# need_mount_ns "$@": for a test that mounts.  Rootless, re-runs the script as
# root of a new user and mount namespace (unshare -Urm: mounts are private and
# vanish with it); isofs still runs as the real user (ISOFS_WRAP).  As root,
# does nothing: the test mounts for real and its cleanup unmounts.
need_mount_ns() {
	[ "$MODE" = rootless ] && [ -z "${ISOFS_TEST_USERNS:-}" ] || return 0
	unshare -Ur true 2>/dev/null || skip_all "rootless: cannot create a user namespace"
	ISOFS_TEST_USERNS="$(id -u):$(id -g)"
	export ISOFS_TEST_USERNS
	exec unshare -Urm --propagation private bash "$TEST_SCRIPT" "$@"
}

# ---- isofs-specific checks ------------------------------------------------------

# The names in `image ls --json`, one a line (sorted as isofs sorts them).
image_names() {
	iso image ls --json | "$PYTHON" -c 'import json,sys; [print(i["name"]) for i in json.load(sys.stdin)]'
}

tmp_is_empty() {
	[ -d "$STORE/tmp" ] && [ -z "$(ls -A "$STORE/tmp")" ]
}

# Everything observable about the committed images and their shared layers: metadata and content.
store_digest() {
	(
		cd "$STORE" || exit 1
		find images layers/sha256 -mindepth 1 -printf '%p|%y|%m|%U|%G|%s|%T@|%l\n' 2>/dev/null | LC_ALL=C sort
		find images layers/sha256 -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0r sha256sum
	)
}

# The stdout/stderr/exit checks for a command that must be refused:
# expect_refused DESC [EXIT]   (after `run`; EXIT defaults to 1)
expect_refused() {
	local desc=$1 want=${2:-1}
	is "$RUN_RC" "$want" "$desc: exit status $want"
	if [ "$RUN_ERR_LINES" -eq 1 ] && [[ $RUN_ERR == "isofs: "* ]]; then
		pass "$desc: one error line starting 'isofs: '"
	else
		fail "$desc: one error line starting 'isofs: '" "stderr ($RUN_ERR_LINES lines):" "$RUN_ERR"
	fi
	is "$RUN_OUT" "" "$desc: nothing on stdout"
}

# Records the store's state, for expect_store_unchanged.
store_snapshot() {
	_snap_names=$(image_names)
	_snap_digest=$(store_digest)
}

# The store after a refused command: same images, same content, tmp/ empty.
expect_store_unchanged() {
	local desc=$1
	is "$(image_names)" "$_snap_names" "$desc: no image added or removed"
	is "$(store_digest)" "$_snap_digest" "$desc: existing images untouched"
	if tmp_is_empty; then
		pass "$desc: STORE/tmp is empty"
	else
		fail "$desc: STORE/tmp is empty" "$(ls -la "$STORE/tmp" 2>&1)"
	fi
}

# summary_regex VERB NAME E F D S H P V: the summary line, SIZE and extras left open
summary_regex() {
	local verb=$1 name=$2
	printf '^%s image '"'"'%s'"'"': %s entries \\(%s files, %s dirs, %s symlinks, %s hard links, %s fifos, %s devices\\), [0-9.]+ (B|KiB|MiB|GiB)' \
		"$verb" "${name//./\\.}" "$3" "$4" "$5" "$6" "$7" "$8" "$9"
}

# ---- trees ------------------------------------------------------------------------

# tree_listing DIR [owners]: one line per entry, sorted:
#   path|type|mode|uid:gid|size|mtime(ns)|symlink target
# Directory sizes are left out (they depend on the filesystem's history); with
# anything but "owners" as $2, so are uids and gids.
tree_listing() {
	local dir=$1 own='|%U:%G'
	[ "${2:-owners}" = owners ] || own='|-'
	(
		cd "$dir" || exit 1
		find . \( -type d -printf "%P|%y|%m$own|-|%T@|\n" \) \
			-o \( -type l -printf "%P|%y|%m$own|%s|%T@|%l\n" \) \
			-o -printf "%P|%y|%m$own|%s|%T@|\n"
	) | LC_ALL=C sort
}

# Device numbers of the device nodes below DIR: "path major:minor" (hex).
device_listing() {
	(
		cd "$1" || exit 1
		find . \( -type c -o -type b \) -exec stat -c '%n %F %t:%T' {} + | sed 's|^\./||'
	) | LC_ALL=C sort
}

# Hard-link groups: the paths of each multiply linked file on one line.
hardlink_groups() {
	(
		cd "$1" || exit 1
		find . ! -type d -links +1 -printf '%i %P\n'
	) | LC_ALL=C sort -k1,1n -k2 | awk '
		$1 != ino { if (line != "") print line; ino = $1; line = "" }
		{ sub(/^[0-9]+ /, ""); line = line (line == "" ? "" : " | ") $0 }
		END { if (line != "") print line }' | LC_ALL=C sort
}

# xattr_listing DIR [ERE]: "path|name=0xVALUE" for every xattr whose name
# matches ERE (default: all), symlinks not followed.
xattr_listing() {
	local dir=$1 re=${2:-.}
	(
		cd "$dir" || exit 1
		getfattr -R -P -h -d -m - -e hex . 2>/dev/null
	) | awk -v re="$re" '
		/^# file: / { f = substr($0, 9); sub(/^\.\/?/, "", f); next }
		/=/ { n = $0; sub(/=.*/, "", n); if (n ~ re) print f "|" $0 }' | LC_ALL=C sort
}

# ---- fixtures ---------------------------------------------------------------------

FIXTURE_MTIME=1612345678 # a second; nanoseconds are added per entry

# build_fixture DIR: a tree with every kind of entry isofs must keep.  As root
# it also has a char and a block device and entries owned by other users.
# Times are set last, children first, with nanoseconds.
build_fixture() {
	local d=$1 i p
	mkdir -p "$d" && cd "$d" || return 1
	(
		set -e
		printf 'hello\n' >plain
		printf '#!/bin/sh\necho hi\n' >'exec'
		chmod 0755 exec
		printf 'u\n' >setuid && chmod 4755 setuid
		printf 'g\n' >setgid && chmod 2755 setgid
		printf 't\n' >sticky-file && chmod 1644 sticky-file
		printf 'r\n' >'readonly' && chmod 0444 'readonly'
		: >empty
		head -c 1048576 /dev/urandom >random-1M
		mkdir dirs dirs/sticky dirs/setgid dirs/ro dirs/xonly
		chmod 1777 dirs/sticky
		chmod 2775 dirs/setgid
		printf 'in ro\n' >dirs/ro/file
		chmod 0555 dirs/ro
		printf 'in xonly\n' >dirs/xonly/file
		chmod 0711 dirs/xonly
		# hard links: three names, two directories
		printf 'linked\n' >hl-a
		ln hl-a hl-b
		mkdir hl
		ln hl-a hl/hl-c
		# symlinks
		ln -s plain sl-relative
		ln -s /etc/passwd sl-absolute
		ln -s does/not/exist sl-dangling
		ln -s dirs sl-dir
		ln -s "$(printf 'target-%.0s' $(seq 1 20))end" sl-long
		mkfifo fifo
		chmod 0640 fifo
		# a sparse file: 8 MiB with data at 1 MiB and at the end
		truncate -s 8M sparse
		printf 'in the middle' | dd of=sparse bs=1 seek=1048576 conv=notrunc status=none
		printf 'at the end' | dd of=sparse bs=1 seek=$((8 * 1048576 - 10)) conv=notrunc status=none
		# names
		mkdir 'with spaces' 'ünïcødé 名前'
		printf 's\n' >'with spaces/a file with spaces'
		printf 'u\n' >'ünïcødé 名前/fïlé ✓'
		p=deep
		for i in $(seq -w 1 30); do p=$p/level-$i; done
		mkdir -p "$p"
		printf 'bottom\n' >"$p/bottom"
		printf 'long\n' >"$(printf 'L%.0s' $(seq 1 200))"
		# xattrs (user.* everywhere; trusted.* as root)
		setfattr -n user.foo -v bar plain
		setfattr -n user.empty-value plain
		setfattr -n user.bin -v 0x00ff10ab exec
		setfattr -n user.dir -v 'on a dir' dirs
		setfattr -n user.hl -v 'on the inode' hl-a
		if [ "$(id -u)" -eq 0 ]; then
			# unreadable for a user, so neither tar nor a directory import could read it
			printf 'n\n' >noperm && chmod 0000 noperm
			setfattr -n trusted.secret -v 'root only' plain
			mknod chardev c 1 3
			chmod 0666 chardev
			mknod blockdev b 7 0
			chmod 0660 blockdev
			chown 1234:5678 random-1M
			chown 0:5678 empty
			chown 65534:65534 dirs/xonly
			chown -h 42:43 sl-relative
			chown 3000000:3000001 hl-a
			chown 1234:5678 fifo
			# chown clears these bits: set them again
			chown 1234:5678 setuid && chmod 4755 setuid
			chown 0:5678 setgid && chmod 2755 setgid
			chown 1234:5678 chardev
		fi
	) || { cd - >/dev/null; return 1; }
	# times: deepest first, so a directory's own time is set after its children
	find . -depth -print0 | {
		i=0
		while IFS= read -r -d '' p; do
			i=$((i + 1))
			touch -h -d "@$FIXTURE_MTIME.$(printf '%09d' $((i * 7919)))" -- "$p" || exit 1
		done
	}
	local rc=$?
	chmod 0755 .
	touch -d "@$FIXTURE_MTIME.5" .
	cd - >/dev/null || return 1
	return $rc
}

# make_fixture_tar DIR OUT: a POSIX tar of DIR keeping ns times, xattrs, sparse
# files and numeric owners.  Rootless, owners are written as 0:0 (what a
# rootless user's files stand for), so the import keeps no owner xattrs.
make_fixture_tar() {
	local own=()
	[ "$IS_ROOT" -eq 1 ] || own=(--owner=0 --group=0)
	tar --format=posix --xattrs --xattrs-include='*' --numeric-owner --sparse "${own[@]}" \
		-C "$1" -cf "$2" .
}

# expected_counts DIR: "E F D S H P V" as an import of DIR should count them
# (entries, files, dirs, symlinks, extra hard links, fifos, devices; the root
# excluded; devices only as root).
expected_counts() {
	(
		cd "$1" || exit 1
		find . -mindepth 1 ! -type s -printf '%y %i %n\n'
	) | awk -v root="$IS_ROOT" '
		$1 == "f" { if ($3 > 1 && seen[$2]++) h++; else f++ }
		$1 == "d" { d++ } $1 == "l" { s++ } $1 == "p" { p++ }
		$1 == "c" || $1 == "b" { if (root) v++; else skipped++ }
		END { printf "%d %d %d %d %d %d %d\n", f + d + s + h + p + v, f, d, s, h, p, v }'
}

# ---- registries -------------------------------------------------------------------

# free_port: a TCP port of 127.0.0.1 that nothing listens on now
free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# registry_start DIR [--tls] [--htpasswd FILE] [--token REALM CERT]: the reference registry
# (Debian's docker-registry) on 127.0.0.1 at a free port, its config and storage in DIR, killed
# when the script exits (whatever happens).  Sets REGISTRY (127.0.0.1:PORT), REGISTRY_ROOT (its
# storage root) and REGISTRY_PID.  --tls: https with a throwaway self-signed certificate
# (openssl); --htpasswd: basic auth of the users of FILE (bcrypt; the registry wants TLS for
# it); --token: bearer tokens from the token service at REALM (token_server.py), for service
# "isofs-test", issued by "isofs-test-issuer", signed by a key whose certificate chains to
# CERT.  False when it does not come up (its log: DIR/log).
registry_start() {
	local dir=$1 tls=0 htpasswd='' realm='' rootcert='' port try i
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--tls) tls=1 ;;
		--htpasswd) htpasswd=$2 && shift ;;
		--token) realm=$2 rootcert=$3 && shift 2 ;;
		esac
		shift
	done
	mkdir -p "$dir/storage" || return 1
	if [ "$tls" -eq 1 ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
			-addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1 || return 1
	fi
	for try in 1 2 3; do
		port=$(free_port)
		{
			echo "version: 0.1"
			echo "log: {level: info}"
			echo "storage: {filesystem: {rootdirectory: '$dir/storage'}, delete: {enabled: true}}"
			echo "http:"
			echo "  addr: 127.0.0.1:$port"
			echo "  secret: isofs-test-only"
			[ "$tls" -eq 1 ] && echo "  tls: {certificate: '$dir/cert.pem', key: '$dir/key.pem'}"
			[ -n "$htpasswd" ] && echo "auth: {htpasswd: {realm: isofs-test, path: '$htpasswd'}}"
			[ -n "$realm" ] && echo "auth: {token: {realm: '$realm', service: isofs-test," \
				"issuer: isofs-test-issuer, rootcertbundle: '$rootcert'}}"
		} >"$dir/config.yml"
		docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
		REGISTRY_PID=$!
		bg_track "$REGISTRY_PID"
		# up when the port answers; a port taken meanwhile kills it: try another
		for ((i = 0; i < 200; i++)); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				REGISTRY=127.0.0.1:$port
				REGISTRY_ROOT=$dir/storage
				return 0
			fi
			kill -0 "$REGISTRY_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$REGISTRY_PID" 2>/dev/null
		wait "$REGISTRY_PID" 2>/dev/null
	done
	return 1
}
