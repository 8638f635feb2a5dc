#!/bin/bash
# SPDX-License-Identifier: MIT
# Bad input: every refused import must give one 'isofs: ' error line and a
# non-zero exit, add no image, leave STORE/tmp empty and the existing image
# untouched -- and a hostile archive must write nothing outside the image.
. "$(dirname "$0")/lib.sh"
setup_tmp

# An existing image that must survive all of this.
mkdir base-src base-src/etc
echo 'base content' >base-src/etc/file
ln -s file base-src/etc/link
tar --format=posix -C base-src -cf base.tar .
run iso image import base base.tar
is "$RUN_RC" 0 "the base image imports"
store_snapshot

# Things a hostile archive might reach.
mkdir outside
echo original >outside/victim
mkdir outside/victim-dir
PASSWD_LINKS=$(stat -c %h /etc/passwd)
PASSWD_SUM=$(sha256sum </etc/passwd)

outside_intact() {
	[ "$(cat outside/victim)" = original ] && [ "$(stat -c %h outside/victim)" = 1 ] &&
		[ "$(ls -A outside | tr '\n' ' ')" = "victim victim-dir " ] && [ -z "$(ls -A outside/victim-dir)" ] &&
		[ "$(stat -c %h /etc/passwd)" = "$PASSWD_LINKS" ] && [ "$(sha256sum </etc/passwd)" = "$PASSWD_SUM" ] &&
		[ -z "$(find "$T" -name 'escaped-*' -print -quit)" ]
}

# refused DESC ERE SOURCE: the import of SOURCE as 'bad' is refused, the error matches ERE
refused() {
	local desc=$1 re=$2
	shift 2
	run iso image import bad "$@"
	expect_refused "$desc"
	# Had it been taken, do not let it spoil the checks that follow.
	[ "$RUN_RC" -eq 0 ] && iso image rm bad >/dev/null 2>&1
	if [ -n "$re" ]; then
		like "$RUN_ERR" "$re" "$desc: the error says why"
	fi
	expect_store_unchanged "$desc"
	if outside_intact; then
		pass "$desc: nothing written or linked outside the image"
	else
		fail "$desc: nothing written or linked outside the image" "$(ls -laR outside; find "$T" -name 'escaped-*')"
	fi
}

# ---- hostile paths ---------------------------------------------------------------------

c() { craft "$1" "$T/$1.tar" --target "${2:-$T/outside/victim}" || bail_out "craft.py $1 failed"; }

c dotdot && refused "'../' entry" "'\.\.'" dotdot.tar
c dotdot-nested && refused "'a/../../' entry" "'\.\.'" dotdot-nested.tar
c absolute "$T/outside/escaped-absolute" && refused "absolute entry path" "absolute" absolute.tar
c symlink-escape && refused "'x -> /' then 'x/…/victim'" "symlink" symlink-escape.tar
c symlink-escape-relative && refused "'x -> ../../..' then 'x/escaped-relative'" "symlink" symlink-escape-relative.tar
c symlink-escape-deep && refused "'d/x -> ../(x40)' then 'd/x/…/victim'" "symlink" symlink-escape-deep.tar
c symlink-escape-dir "$T/outside/escaped-dir" && refused "'x -> /' then the directory 'x/…/escaped-dir.d/'" "symlink" symlink-escape-dir.tar
c dir-replaced-by-symlink && refused "'d/', then 'd -> /', then 'd/…/victim'" "" dir-replaced-by-symlink.tar
c hardlink-outside && refused "hard link to '../../etc/passwd'" "hard link" hardlink-outside.tar
c hardlink-absolute && refused "hard link to an absolute path" "hard link" hardlink-absolute.tar
c hardlink-missing && refused "hard link to a path not in the archive" "not in the archive" hardlink-missing.tar
c hardlink-via-symlink && refused "hard link through a symlink 'x -> …/outside'" "symlink" hardlink-via-symlink.tar
c hardlink-to-dir && refused "hard link to a directory" "directory" hardlink-to-dir.tar
c root-not-dir && refused "'.' as a regular file" "root directory" root-not-dir.tar

# The literal 'x -> /' then 'x/etc/passwd', where /etc is a writable copy in a
# private mount namespace: if isofs followed the link it would succeed there
# and we would see it, without touching the real /etc.
craft symlink-escape "$T/etc-passwd.tar" --target /etc/passwd || bail_out "craft.py failed"
mkdir etc-copy
cp -r /etc/. etc-copy/ 2>/dev/null
if [ "$IS_ROOT" -eq 1 ]; then
	ns=(unshare -m --propagation private)
	as_user=()
else
	ns=(unshare -Urm --propagation private)
	as_user=(unshare --user --map-user="$(id -u)" --map-group="$(id -g)" --)
fi
run "${ns[@]}" bash -c '
	mount --bind "$1/etc-copy" /etc || exit 99
	before=$(sha256sum </etc/passwd; ls -A /etc | wc -l)
	shift
	"$@" image import bad "$PWD/etc-passwd.tar"
	rc=$?
	after=$(sha256sum </etc/passwd; ls -A /etc | wc -l)
	[ "$before" = "$after" ] || { echo "/etc/passwd was written" >&2; exit 98; }
	exit $rc' _ "$T" "${as_user[@]}" "$ISOFS_BIN" --store "$STORE"
if [ "$RUN_RC" -eq 1 ] && [[ $RUN_ERR == "isofs: "* ]] && [ "$RUN_ERR_LINES" -eq 1 ]; then
	pass "'x -> /' then 'x/etc/passwd': refused with one error line"
else
	fail "'x -> /' then 'x/etc/passwd': refused with one error line" "exit $RUN_RC" "$RUN_ERR"
fi
unlike "$RUN_ERR" "/etc/passwd was written" "'x -> /' then 'x/etc/passwd': /etc/passwd (a private copy) is not written"
expect_store_unchanged "'x -> /' then 'x/etc/passwd'"

# ---- broken archives ---------------------------------------------------------------------

mkdir data
head -c 1048576 /dev/urandom >data/big
echo small >data/small
tar --format=posix -C data -cf data.tar big small
gzip -c data.tar >data.tar.gz

head -c 65536 /dev/urandom >random.bin
refused "random bytes" "not a tar archive|corrupt" random.bin
cp random.bin random.tar.gz
refused "random bytes named .tar.gz" "not a tar archive|corrupt" random.tar.gz
: >empty.tar
refused "an empty file" "not a tar archive" empty.tar
c no-entries && refused "a tar without entries" "no entries" no-entries.tar
echo "just some text" >text.tar
refused "a text file" "not a tar archive" text.tar

head -c 600000 data.tar >truncated.tar
refused "a tar cut in the middle of a file's data" "[Tt]runcated" truncated.tar
head -c "$(($(stat -c %s data.tar.gz) / 2))" data.tar.gz >truncated.tar.gz
refused "a .tar.gz cut in half" "[Tt]runcated" truncated.tar.gz
xz -c data.tar | head -c 300000 >truncated.tar.xz
refused "a .tar.xz cut short" "" truncated.tar.xz
zstd -q -c data.tar | head -c 300000 >truncated.tar.zst
refused "a .tar.zst cut short" "" truncated.tar.zst
bzip2 -c data.tar | head -c 300000 >truncated.tar.bz2
refused "a .tar.bz2 cut short" "" truncated.tar.bz2

# GNU format: no pax headers, so the second header is right after the first file.
tar --format=gnu -C data -cf bad-header.tar big small
printf 'XXXXXXXX' | dd of=bad-header.tar bs=1 seek=$((512 + 1048576 + 148)) conv=notrunc status=none
refused "a tar whose second header has a bad checksum" "" bad-header.tar

# Corrupted compressed data: every format has a checksum that says so.
corrupt_middle() { # FILE: overwrites 16 bytes in the middle
	printf '\377\377\377\377\377\377\377\377\377\377\377\377\377\377\377\377' |
		dd of="$1" bs=1 seek=$(($(stat -c %s "$1") / 2)) conv=notrunc status=none
}
xz -c data.tar >corrupt.tar.xz && corrupt_middle corrupt.tar.xz
refused "a .tar.xz with corrupted data" "" corrupt.tar.xz
zstd -q -c data.tar >corrupt.tar.zst && corrupt_middle corrupt.tar.zst
refused "a .tar.zst with corrupted data" "" corrupt.tar.zst
bzip2 -c data.tar >corrupt.tar.bz2 && corrupt_middle corrupt.tar.bz2
refused "a .tar.bz2 with corrupted data" "" corrupt.tar.bz2
cp data.tar.gz corrupt.tar.gz && corrupt_middle corrupt.tar.gz
nok "sanity: gzip -t rejects corrupt.tar.gz (CRC error)" gzip -t corrupt.tar.gz
refused "a .tar.gz with corrupted data (CRC mismatch)" "" corrupt.tar.gz

stdin_refused() { # DESC FILE
	run iso image import bad - <"$2"
	expect_refused "$1"
	[ "$RUN_RC" -eq 0 ] && iso image rm bad >/dev/null 2>&1
	expect_store_unchanged "$1"
}
stdin_refused "random bytes on stdin" random.bin
stdin_refused "nothing on stdin" /dev/null
stdin_refused "a truncated .tar.gz on stdin" truncated.tar.gz

# ---- other refusals ------------------------------------------------------------------------

refused "a missing source" "No such file or directory" "$T/no-such-file.tar"
if [ "$IS_ROOT" -eq 0 ]; then
	cp data.tar unreadable.tar && chmod 0000 unreadable.tar
	refused "an unreadable source" "Permission denied" unreadable.tar
else
	for i in 1 2 3 4 5 6 7 8; do skip "unreadable source $i" "root reads everything"; done
fi

run iso image import base data.tar
expect_refused "a duplicate image name"
like "$RUN_ERR" "image 'base' already exists" "a duplicate name: the error says it exists"
expect_store_unchanged "a duplicate image name"
run iso image import base data-dir-that-does-not-matter
expect_refused "a duplicate image name (checked before the source)"
run iso image import 'bad/name' data.tar
expect_refused "an invalid image name" 2
expect_store_unchanged "an invalid image name"

# After all that, the store still works.
run iso image import after data.tar
is "$RUN_RC" 0 "a good import afterwards succeeds"
ok "and its content is right" cmp data/big "$STORE/images/after/rootfs/big"
is "$(cat "$STORE/images/base/rootfs/etc/file")" "base content" "the base image still reads right"

done_testing
