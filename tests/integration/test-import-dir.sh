#!/bin/bash
# SPDX-License-Identifier: MIT
# Importing a directory: a faithful copy (as root with owners and devices;
# rootless with the caller's ids standing for 0:0), however the directory is
# named (relative, '.', trailing slash, through a symlink), sockets skipped and
# counted, the source left as it was.
. "$(dirname "$0")/lib.sh"
setup_tmp

build_fixture "$T/fixture" || bail_out "cannot build the fixture"
read -r E F D S H P V <<<"$(expected_counts fixture)"
XATTRS=.
[ "$IS_ROOT" -eq 1 ] || XATTRS='^user\.'
SRC_LIST=$(tree_listing fixture)
SRC_LINKS=$(hardlink_groups fixture)
SRC_XATTRS=$(xattr_listing fixture "$XATTRS")
SRC_DEVS=$(device_listing fixture)
SRC_SUMS=$(cd fixture && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)

check_copy() {
	local name=$1 desc=$2 r=$STORE/images/$1/rootfs
	is "$RUN_RC" 0 "$desc: import succeeds"
	like "$RUN_OUT" "$(summary_regex imported "$name" "$E" "$F" "$D" "$S" "$H" "$P" "$V")\$" \
		"$desc: the summary counts every entry, with nothing to report"
	if [ "$RUN_RC" -ne 0 ]; then
		diag "$RUN_ERR"
		return
	fi
	is "$(tree_listing "$r")" "$SRC_LIST" "$desc: types, modes, owners, sizes, mtimes, symlink targets"
	is "$(hardlink_groups "$r")" "$SRC_LINKS" "$desc: hard links"
	is "$(xattr_listing "$r" "$XATTRS")" "$SRC_XATTRS" "$desc: xattrs (and no user.isofs.owner)"
	is "$(device_listing "$r")" "$SRC_DEVS" "$desc: device nodes"
	is "$(cd "$r" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)" "$SRC_SUMS" "$desc: contents"
}

run iso image import copy "$T/fixture"
check_copy copy "absolute path"
num "$(du -k "$STORE/images/copy/rootfs/sparse" | cut -f1)" -lt 1024 "the sparse file keeps its holes"
run iso image inspect copy
like "$RUN_OUT" "\"source\":[[:space:]]*\"dir:$T/fixture\"" "inspect: source is dir:PATH"
if [ "$IS_ROOT" -eq 1 ]; then
	is "$(stat -c '%u:%g %a' "$STORE/images/copy/rootfs/setuid")" "1234:5678 4755" "root: owner and setuid of a file"
	is "$(stat -c '%F %t:%T' "$STORE/images/copy/rootfs/chardev")" "character special file 1:3" "root: a char device"
	like "$RUN_OUT" '"rootless":[[:space:]]*false' "root: inspect says rootless false"
else
	is "$(stat -c '%u:%g' "$STORE/images/copy/rootfs/setuid")" "$(id -u):$(id -g)" "rootless: files belong to the user"
	like "$RUN_OUT" '"owners_in_xattr":[[:space:]]*0,' "rootless: the caller's own ids count as 0:0, no owner xattr"
	like "$RUN_OUT" '"rootless":[[:space:]]*true' "rootless: inspect says rootless true"
fi
is "$(tree_listing fixture)" "$SRC_LIST" "the source directory is left as it was"

# The same directory, named in other ways.
run iso image import relative fixture
check_copy relative "relative path"
run bash -c 'cd "$1" && "$2" --store "$3" image import dot .' _ "$T/fixture" "$ISOFS_BIN" "$STORE"
check_copy dot "'.'"
run iso image import slash "$T/fixture/"
check_copy slash "a trailing slash"
ln -s fixture fixture-link
run iso image import via-link "$T/fixture-link"
check_copy via-link "a symlink to the directory"

# Sockets cannot be imported: skipped and counted.
mkdir sockdir
echo f >sockdir/file
"$PYTHON" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' sockdir/sock
touch -d @1600000000 sockdir
run iso image import sock sockdir
is "$RUN_RC" 0 "a directory with a socket imports"
like "$RUN_OUT" "$(summary_regex imported sock 1 1 0 0 0 0 0); 1 sockets skipped\$" "the socket is counted as skipped"
ok "the socket is not in the image" test ! -e "$STORE/images/sock/rootfs/sock"

# Rootless: a file the user cannot read makes the import fail cleanly.
if [ "$IS_ROOT" -eq 0 ]; then
	mkdir unreadable && echo x >unreadable/ok && echo y >unreadable/secret && chmod 0000 unreadable/secret
	store_snapshot
	run iso image import unreadable unreadable
	expect_refused "rootless: a directory with an unreadable file"
	expect_store_unchanged "rootless: a directory with an unreadable file"
else
	for i in 1 2 3 4 5 6; do skip "unreadable file $i" "root reads everything"; done
fi

done_testing
