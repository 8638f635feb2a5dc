#!/bin/bash
# SPDX-License-Identifier: MIT
# Crafted archives an import must take, and exactly what it must make of them:
# pax xattrs, read-only entries with xattrs, special modes, long names,
# duplicate paths, owners, device nodes, nanosecond mtimes, hostile-looking
# symlinks that are fine as long as they are never followed.
. "$(dirname "$0")/lib.sh"
setup_tmp

mkdir victimdir
chmod 0750 victimdir
echo victim >victim

# imp KIND [craft options]: crafts KIND.tar and imports it as image KIND; $R is its rootfs
imp() {
	local kind=$1
	shift
	craft "$kind" "$T/$kind.tar" "$@" || bail_out "craft.py $kind failed"
	run iso image import "$kind" "$T/$kind.tar"
	R=$STORE/images/$kind/rootfs
	if [ "$RUN_RC" -eq 0 ]; then
		pass "$kind: import succeeds"
	else
		fail "$kind: import succeeds" "exit $RUN_RC" "$RUN_ERR"
	fi
	if tmp_is_empty; then pass "$kind: STORE/tmp is empty afterwards"; else fail "$kind: STORE/tmp is empty afterwards" "$(ls -A "$STORE/tmp")"; fi
}
xattr() { getfattr -h --only-values -n "$1" "$2" 2>/dev/null; }
rootless_extra() { [ "$IS_ROOT" -eq 1 ] || printf '; %s' "$1"; }

# ---- xattrs ---------------------------------------------------------------------------

imp pax-xattrs
if [ "$IS_ROOT" -eq 1 ]; then
	like "$RUN_OUT" "$(summary_regex imported pax-xattrs 5 4 1 0 0 0 0); 1 overlay xattrs dropped\$" \
		"pax-xattrs: summary (the forged user.isofs.owner counted as dropped)"
else
	like "$RUN_OUT" "$(summary_regex imported pax-xattrs 5 4 1 0 0 0 0); 1 owners kept in user.isofs.owner, 1 overlay xattrs dropped\$" \
		"pax-xattrs: summary (the forged user.isofs.owner counted as dropped)"
fi
is "$(xattr user.dirattr "$R/xd")" "on a directory" "pax-xattrs: a directory's xattr"
is "$(xattr user.foo "$R/xd/f")" bar "pax-xattrs: user.foo=bar"
is "$(xattr user.spaces "$R/xd/f")" "a value = with spaces" "pax-xattrs: a value with spaces and '='"
is "$(xattr user.unicode "$R/xd/f")" "ünïcødé ✓" "pax-xattrs: a UTF-8 value"
is "$(xattr user.long "$R/xd/f")" "$(printf 'L%.0s' $(seq 1 2000))" "pax-xattrs: a 2000-byte value"
is "$(xattr user.other "$R/xd/g")" 1 "pax-xattrs: another file's own xattr"
is "$(getfattr -h -d -m - "$R/plain" 2>/dev/null)" "" "pax-xattrs: no xattr where the archive has none"
is "$(xattr user.kept "$R/forged")" yes "pax-xattrs: a file's xattr next to a forged user.isofs.owner"
if [ "$IS_ROOT" -eq 1 ]; then
	is "$(xattr user.isofs.owner "$R/forged")" "" "pax-xattrs: root: the archive's user.isofs.owner is not taken"
	is "$(stat -c %u:%g "$R/forged")" 1234:5678 "pax-xattrs: root: the real owner is"
else
	is "$(xattr user.isofs.owner "$R/forged")" 1234:5678 \
		"pax-xattrs: rootless: user.isofs.owner is the entry's owner, not the archive's forged value"
	skip "pax-xattrs: root: chown" rootless
fi

imp xattr-readonly
like "$RUN_OUT" "$(summary_regex imported xattr-readonly 4 3 1 0 0 0 0)\$" \
	"xattr-readonly: summary (no xattr lost)"
is "$(xattr user.foo "$R/ro")" ro "xattr-readonly: user.* xattr on a 0444 file"
is "$(xattr user.foo "$R/r400")" r400 "xattr-readonly: user.* xattr on a 0400 file"
is "$(xattr user.foo "$R/rodir")" rodir "xattr-readonly: user.* xattr on a 0555 directory"
is "$(xattr user.foo "$R/rodir/inner")" inner "xattr-readonly: user.* xattr on a 0444 file in a 0555 directory"
is "$(stat -c %a "$R/ro") $(stat -c %a "$R/r400") $(stat -c %a "$R/rodir") $(stat -c %a "$R/rodir/inner")" \
	"444 400 555 444" "xattr-readonly: the modes are kept"

imp xattr-trusted
is "$(xattr user.u "$R/priv")" uu "xattr-trusted: the user.* xattr is kept"
if [ "$IS_ROOT" -eq 1 ]; then
	like "$RUN_OUT" "$(summary_regex imported xattr-trusted 1 1 0 0 0 0 0)\$" "xattr-trusted: root: summary, nothing lost"
	is "$(xattr trusted.t "$R/priv")" tt "xattr-trusted: root: the trusted.* xattr is kept"
else
	like "$RUN_OUT" "$(summary_regex imported xattr-trusted 1 1 0 0 0 0 0); 1 xattrs not kept\$" \
		"xattr-trusted: rootless: the trusted.* xattr it cannot set is counted as not kept"
	skip "xattr-trusted: root: the trusted.* xattr is kept" rootless
fi

imp acl
like "$RUN_OUT" "$(summary_regex imported acl 1 1 0 0 0 0 0); 1 ACLs not kept\$" \
	"acl: the summary counts the ACL as not kept"
is "$(stat -c %a "$R/withacl") $(cat "$R/withacl")" "640 a" "acl: the file is there with its mode"

# ---- modes ----------------------------------------------------------------------------

imp special-modes
like "$RUN_OUT" "$(summary_regex imported special-modes 16 10 6 0 0 0 0)\$" "special-modes: summary"
expected_modes="modes 755
modes/all 7777
modes/closed 0
modes/closed/inside 644
modes/none 0
modes/ro 555
modes/ro/inside 444
modes/sgid 2755
modes/sgiddir 2775
modes/sticky-file 1644
modes/suid 4755
modes/suidsgid 6755
modes/tmp 1777
modes/wonly 200
modes/xonly 711
modes/xonly/inside 644"
is "$(cd "$R" 2>/dev/null && as_owner find modes -printf '%p %m\n' | LC_ALL=C sort)" "$expected_modes" \
	"special-modes: every mode exactly (setuid, setgid, sticky, 0000, 0200, 0555 and 0000 dirs)"

# ---- names ----------------------------------------------------------------------------

imp long-names
like "$RUN_OUT" "$(summary_regex imported long-names 6 3 1 1 1 0 0)\$" "long-names: summary"
c100=$(printf 'c%.0s' $(seq 1 100))
deep="$c100/$c100/$c100/$c100/$c100/file-at-the-bottom"
is "$(cat "$R/long/$deep" 2>&1)" deep "long-names: a 523-byte path"
is "$(cat "$R/long/$(printf 'n%.0s' $(seq 1 255))" 2>&1)" 255 "long-names: a 255-byte name"
is "$(readlink "$R/long/link")" "$deep" "long-names: a 523-byte symlink target"
is "$(stat -c %i "$R/long/$(printf 'h%.0s' $(seq 1 200))" 2>&1)" "$(stat -c %i "$R/long/$deep" 2>&1)" \
	"long-names: a hard link with a long name and a long target"
is "$(cat "$R/long/$(printf 'u%.0s' $(seq 1 40))-ünïcødé-$(printf '名%.0s' $(seq 1 20))" 2>&1)" unicode \
	"long-names: a long UTF-8 name"

# ---- duplicates: the later entry wins ---------------------------------------------------------

imp duplicates
is "$(cat "$R/dup") $(stat -c %a "$R/dup")" "second 640" "duplicates: a file twice: the second's content and mode"
is "$(stat -c '%F %a' "$R/was-file") $(cat "$R/was-file/child")" "directory 750 c" "duplicates: a file, then a directory"
is "$(stat -c %F "$R/was-link") $(cat "$R/was-link")" "regular file now a file" "duplicates: a symlink to /, then a file"
is "$(stat -c %a "$R/dir-twice") $(cat "$R/dir-twice/kept")" "755 kept" \
	"duplicates: a directory twice: the second's mode, the content kept"

imp dir-to-file
is "$(stat -c %F "$R/was-dir" 2>&1)" "regular file" "dir-to-file: a directory, then a file: the file wins"
is "$(cat "$R/was-dir" 2>&1)" "now a file" "dir-to-file: with the file's content"

# ---- owners ---------------------------------------------------------------------------

imp owners
if [ "$IS_ROOT" -eq 1 ]; then
	like "$RUN_OUT" "$(summary_regex imported owners 9 4 2 1 1 1 0)\$" "owners: root: summary, nothing to report"
	is "$(cd "$R/owners" && stat -c '%n %u:%g' root user rootgroup big nobody fifo link user-link)" \
		"root 0:0
user 1234:5678
rootgroup 0:42
big 3000000:3000001
nobody 65534:65534
fifo 1234:1234
link 1234:1234
user-link 1234:5678" "owners: root: every owner, a symlink's and a pax uid included"
	is "$(xattr_listing "$R" '^user\.isofs\.')" "" "owners: root: no user.isofs.owner"
else
	if [ "$(host_ids 1:1)" != 1:1 ]; then
		like "$RUN_OUT" "$(summary_regex imported owners 9 4 2 1 1 1 0); 4 owners kept in user.isofs.owner, 2 owners kept as subordinate ids\$" \
			"owners: rootless: summary counts owners kept in xattrs (files, dirs) and as subordinate ids (symlink, fifo)"
		is "$(stat -c '%n %u:%g' "$R/owners/link" "$R/owners/fifo" | sed "s|^$R/||")" \
			"owners/link $(host_ids 1234:1234)
owners/fifo $(host_ids 1234:1234)" "owners: rootless: the symlink and the fifo have the subordinate ids"
	else
		like "$RUN_OUT" "$(summary_regex imported owners 9 4 2 1 1 1 0); 4 owners kept in user.isofs.owner, 2 owners not kept\$" \
			"owners: rootless: summary counts owners kept (files, dirs) and not kept (symlink, fifo), no range"
		pass "owners: rootless: no subordinate range: the symlink and fifo are the user's"
	fi
	is "$(xattr_listing "$R" '^user\.isofs\.owner$')" \
		"owners/big|user.isofs.owner=0x333030303030303a33303030303031
owners/nobody|user.isofs.owner=0x36353533343a3635353334
owners/rootgroup|user.isofs.owner=0x303a3432
owners/user-link|user.isofs.owner=0x313233343a35363738
owners/user|user.isofs.owner=0x313233343a35363738" \
		"owners: rootless: user.isofs.owner is UID:GID for exactly the entries not owned by 0:0"
	is "$(find "$R" ! -type l ! -type p ! -user "$(id -u)" | head -3)" "" "owners: rootless: every file and directory belongs to the user"
fi

# ---- device nodes ---------------------------------------------------------------------

imp devices
if [ "$IS_ROOT" -eq 1 ]; then
	like "$RUN_OUT" "$(summary_regex imported devices 5 1 1 0 0 1 2)\$" "devices: root: summary"
	is "$(device_listing "$R")" "dev/loop0 block special file 7:0
dev/null character special file 1:3" "devices: root: both device nodes with their numbers"
	is "$(stat -c %a "$R/dev/null") $(stat -c %a "$R/dev/loop0")" "666 660" "devices: root: their modes"
else
	like "$RUN_OUT" "$(summary_regex imported devices '[0-9]+' 1 1 0 0 1 0); 2 device nodes skipped \\(not root\\)\$" \
		"devices: rootless: summary says 2 device nodes skipped (not root)"
	like "$RUN_OUT" "$(summary_regex imported devices 3 1 1 0 0 1 0)" \
		"devices: rootless: skipped devices are not counted as entries written (3 = 1 file + 1 dir + 1 fifo)"
	is "$(find "$R" \( -type c -o -type b \) | wc -l)" 0 "devices: rootless: no device node made"
	ok "devices: rootless: nor anything in their place" test ! -e "$R/dev/null" -a ! -e "$R/dev/loop0"
fi
is "$(stat -c '%F %a' "$R/dev/fifo")" "fifo 620" "devices: the fifo, with its mode"

# ---- times ----------------------------------------------------------------------------

imp mtime-ns
is "$(cd "$R/t" && stat -c '%n %.9Y' . ns y2100 zero link fifo)" ". 1500000000.500000000
ns 1234567890.123456789
y2100 4102444800.000000001
zero 0.000000000
link 1111111111.222222222
fifo 1222222222.333333333" "mtime-ns: nanosecond mtimes on a directory, files, a symlink, a fifo; 1970 and 2100"

# ---- symlinks: kept, never followed -----------------------------------------------------------

imp symlink-safe --target "$T/victim"
is "$(readlink "$R/to-root")" / "symlink-safe: a link to / is kept as it is"
is "$(readlink "$R/up")" ../../../etc/passwd "symlink-safe: a link climbing out is kept as it is"
is "$(readlink "$R/victim-link")" "$T/victim" "symlink-safe: a link to an outside file is kept as it is"
is "$(stat -c %F "$R/replaced") $(cat "$R/replaced")" "regular file a file now" \
	"symlink-safe: a file replacing a symlink is written in the image"
is "$(stat -c %F "$R/link-to-link") $(readlink "$R/link-to-link")" "symbolic link $T/victim" \
	"symlink-safe: a hard link to a symlink is that symlink, not its target"
is "$(cat victim) $(stat -c %h victim)" "victim 1" "symlink-safe: the outside file is neither written nor linked"

imp dir-then-symlink --target "$T/victimdir"
is "$(readlink "$R/d" 2>&1)" "$T/victimdir" "dir-then-symlink: the symlink replaced the directory"
is "$(stat -c %a victimdir) $(ls -A victimdir)" "750 " \
	"dir-then-symlink: the directory's deferred mode is not applied through the symlink"

done_testing
