#!/bin/bash
# SPDX-License-Identifier: MIT
# Importing a tar made by GNU tar from a fixture tree with every kind of entry:
# the image must equal what `tar -x` makes of the same archive (types, modes
# with setuid/setgid/sticky, owners as root, sizes, ns mtimes, symlink targets,
# hard-link groups, xattrs, device numbers, content, holes), the summary line
# and `image inspect` must count it right, and rootless imports keep owners in
# user.isofs.owner.
. "$(dirname "$0")/lib.sh"
setup_tmp

build_fixture "$T/fixture" || bail_out "cannot build the fixture"
make_fixture_tar "$T/fixture" "$T/fixture.tar" || bail_out "cannot tar the fixture"
mkdir ref
tar -x --xattrs --xattrs-include='*' --numeric-owner -p -f fixture.tar -C ref || bail_out "tar -x failed"

# The reference itself must be faithful, or comparing with it proves little.
is "$(tree_listing ref)" "$(tree_listing fixture)" "sanity: tar -x reproduces the fixture"

XATTRS=.
[ "$IS_ROOT" -eq 1 ] || XATTRS='^user\.'

# Regular files with different content below A and B (paths relative).
content_diff() {
	(
		cd "$1" || exit 1
		find . -type f -print0 | while IFS= read -r -d '' f; do
			cmp -s "$f" "$2/$f" || echo "$f"
		done
	)
}

# compare_tree DESC DIR: DIR against the reference
compare_tree() {
	local desc=$1 dir=$2
	is "$(tree_listing "$dir")" "$(tree_listing ref)" \
		"$desc: types, modes, owners, sizes, mtimes and symlink targets equal tar -x's"
	is "$(hardlink_groups "$dir")" "$(hardlink_groups ref)" "$desc: the same hard-link groups"
	is "$(xattr_listing "$dir" "$XATTRS" | grep -v '|user\.isofs\.')" "$(xattr_listing ref "$XATTRS")" \
		"$desc: the same xattrs"
	is "$(device_listing "$dir")" "$(device_listing ref)" "$desc: the same device nodes"
	is "$(content_diff ref "$PWD/$dir")" "" "$desc: the same file contents"
}

read -r E F D S H P V <<<"$(expected_counts fixture)"
diag "fixture: $E entries, $F files, $D dirs, $S symlinks, $H hard links, $P fifos, $V devices"

start=$(date +%s)
run iso image import fx "$T/fixture.tar"
end=$(date +%s)
is "$RUN_RC" 0 "import of the fixture tar succeeds"
like "$RUN_OUT" "$(summary_regex imported fx "$E" "$F" "$D" "$S" "$H" "$P" "$V")\$" \
	"the summary line counts every kind of entry and nothing else"
is "$(printf '%s\n' "$RUN_OUT" | wc -l)" 1 "the summary is one line"
is "$RUN_ERR" "" "nothing on stderr (not a terminal)"

R=$STORE/images/fx/rootfs
compare_tree "tar import" "store/images/fx/rootfs"
num "$(du -k "$R/sparse" | cut -f1)" -lt 1024 "the 8 MiB sparse file keeps its holes"
is "$(stat -c %a "$R/setuid")" 4755 "setuid survives"
is "$(stat -c %a "$R/setgid")" 2755 "setgid survives"
is "$(stat -c %a "$R/dirs/sticky")" 1777 "the sticky bit of a directory survives"
is "$(stat -c %a "$R/dirs/ro")" 555 "a read-only directory is read-only again after its content was written"
is "$(stat -c %.9Y "$R/plain")" "$(stat -c %.9Y "$T/fixture/plain")" "mtimes keep their nanoseconds"
is "$(stat -c %.9Y "$R")" "$FIXTURE_MTIME.500000000" "the root directory gets the archive's './' mtime"
is "$(readlink "$R/sl-absolute")" /etc/passwd "an absolute symlink is kept verbatim"

if [ "$IS_ROOT" -eq 1 ]; then
	is "$(stat -c %u:%g "$R/random-1M")" 1234:5678 "root: a file's owner is kept"
	is "$(stat -c '%u:%g %a' "$R/setuid")" "1234:5678 4755" "root: chown does not eat the setuid bit"
	is "$(stat -c %u:%g "$R/sl-relative")" 42:43 "root: a symlink's owner is kept"
	is "$(stat -c %u:%g "$R/hl-b")" 3000000:3000001 "root: a large uid (pax) is kept"
	is "$(xattr_listing "$R" '^user\.isofs\.')" "" "root: no user.isofs.owner anywhere"
	is "$(getfattr -h --only-values -n trusted.secret "$R/plain" 2>/dev/null)" "root only" "root: trusted.* xattrs are kept"
else
	is "$(xattr_listing "$R" '^user\.isofs\.')" "" "rootless: an archive owned by 0:0 leaves no user.isofs.owner"
	is "$(find "$R" ! -user "$(id -u)" | head -3)" "" "rootless: everything belongs to the user"
	skip "root: a file's owner" rootless
	skip "root: setuid with chown" rootless
	skip "root: symlink owner" rootless
	skip "root: large uid" rootless
	skip "root: trusted.* xattrs" rootless
fi

# ---- image inspect and ls agree with what was imported -----------------------------------

run iso image inspect fx
is "$RUN_RC" 0 "inspect succeeds"
printf '%s\n' "$RUN_OUT" >inspect.json
ok "inspect prints valid JSON" "$PYTHON" -m json.tool inspect.json
py() { "$PYTHON" -c "import json,sys; j=json.load(open('inspect.json')); print($1)"; }
is "$(py 'j["name"]')" fx "inspect: name"
is "$(py 'j["source"]')" "tar:$T/fixture.tar" "inspect: source is tar:PATH"
is "$(py 'j["parent"]')" None "inspect: parent is null"
is "$(py 'j["rootfs"]')" "$(readlink -f "$R")" "inspect: rootfs is the image's root directory"
is "$(py 'str(j["rootless"]).lower()')" "$([ "$IS_ROOT" -eq 1 ] && echo false || echo true)" "inspect: rootless is $([ "$IS_ROOT" -eq 1 ] && echo false || echo true)"
created=$(py 'j["created_unix"]')
if [ "$created" -ge "$start" ] && [ "$created" -le "$end" ]; then
	pass "inspect: created_unix is the time of the import"
else
	fail "inspect: created_unix is the time of the import" "$created not in [$start, $end]"
fi
is "$(py 'j["created"]')" "$(date -u -d "@$created" +%Y-%m-%dT%H:%M:%SZ)" "inspect: created is created_unix in UTC"
is "$(py 'j["files"]')" "$(find "$R" -mindepth 1 | wc -l)" "inspect: files is the number of entries below the root"
is "$(py 'j["import"]["entries"], j["import"]["files"], j["import"]["dirs"], j["import"]["symlinks"], j["import"]["hardlinks"], j["import"]["fifos"], j["import"]["devices"]')" \
	"$E $F $D $S $H $P $V" "inspect: the import counters match the summary"
# bytes: the file data written, hard links once, holes not written (the sparse
# file adds its data blocks only, whatever the filesystem's block size).
dense=$(find "$T/fixture" -type f -links 1 ! -name sparse -printf '%s\n' | awk '{s += $1} END {print s + 7}') # 7: 'linked\n', once
sparse_bytes=$(($(py 'j["import"]["bytes"]') - dense))
if [ "$sparse_bytes" -ge 23 ] && [ "$sparse_bytes" -le 65536 ]; then
	pass "inspect: bytes is the file data written (hard links once, holes not counted)"
else
	fail "inspect: bytes is the file data written (hard links once, holes not counted)" \
		"bytes - dense files = $sparse_bytes, expected 23..65536 for the sparse file"
fi
num "$(py 'j["size"]')" -ge "$(du -s -B1 --apparent-size "$R/random-1M" | cut -f1)" "inspect: size covers the data on disk"

# ---- implicit directories, entries without './' -------------------------------------------

tar --format=posix -C fixture -cf partial.tar plain dirs/ro/file 'ünïcødé 名前/fïlé ✓'
run iso image import partial partial.tar
is "$RUN_RC" 0 "an archive without directory entries imports"
like "$RUN_OUT" "$(summary_regex imported partial 3 3 0 0 0 0 0)" "it counts only the entries it has"
is "$(stat -c '%F %a' "$STORE/images/partial/rootfs/dirs/ro")" "directory 755" "missing parents are made as 0755 directories"
ok "the unicode name is there" cmp "fixture/ünïcødé 名前/fïlé ✓" "$STORE/images/partial/rootfs/ünïcødé 名前/fïlé ✓"

# ---- rootless: the archive's owners in user.isofs.owner ----------------------------------

if [ "$IS_ROOT" -eq 0 ]; then
	# The same tree with the user's real ids in the archive (not 0:0).
	tar --format=posix --xattrs --numeric-owner --sparse -C fixture -cf owned.tar .
	me="$(id -u):$(id -g)"
	run iso image import owned owned.tar
	is "$RUN_RC" 0 "rootless: import of an archive owned by $me succeeds"
	# Kept: every inode but symlinks and fifos (the kernel allows user.* xattrs on
	# files and directories only), the root directory included; not kept: those.
	# Symlinks and fifos: as the subordinate ids of the user's ids, when there is a range.
	sub=$(host_ids "$me")
	if [ "$sub" != "$me" ]; then
		like "$RUN_OUT" "; $((E + 1 - S - P - H)) owners kept in user.isofs.owner, $((S + P)) owners kept as subordinate ids\$" \
			"rootless: the summary counts owners kept in user.isofs.owner, and those of symlinks and fifos as subordinate ids"
	else
		like "$RUN_OUT" "; $((E + 1 - S - P - H)) owners kept in user.isofs.owner, $((S + P)) owners not kept\$" \
			"rootless: the summary counts owners kept in user.isofs.owner, and those of symlinks and fifos as not kept"
	fi
	O=$STORE/images/owned/rootfs
	is "$(getfattr -h --only-values -n user.isofs.owner "$O/plain" 2>/dev/null)" "$me" "rootless: user.isofs.owner is UID:GID"
	is "$(getfattr -h --only-values -n user.isofs.owner "$O" 2>/dev/null)" "$me" "rootless: the root directory's owner too"
	missing=$(cd "$O" && find . ! -type l ! -type p -print0 | while IFS= read -r -d '' f; do
		[ "$(getfattr -h --only-values -n user.isofs.owner "$f" 2>/dev/null)" = "$me" ] || echo "$f"
	done)
	is "$missing" "" "rootless: every file and directory has it"
	is "$(tree_listing "$O")" "$(tree_listing ref | awk -F'|' -v OFS='|' -v o="$sub" '$2 == "l" || $2 == "p" { $4 = o } 1')" \
		"rootless: otherwise the same tree (symlinks and fifos owned by $sub)"
else
	for i in 1 2 3 4 5 6; do skip "rootless owner xattrs $i" "root keeps owners with chown"; done
fi

done_testing
