#!/bin/bash
# SPDX-License-Identifier: MIT
# A full disk in the middle of an import (out of blocks, out of inodes; from a
# file, from stdin, from a directory): one error line, no image, the temporary
# directory removed and its space given back, the existing image intact, and
# the store still usable.  The store is a small tmpfs: mounted for real as
# root (unmounted on exit), in a private mount namespace rootless.
. "$(dirname "$0")/lib.sh"
need_mount_ns "$@"
setup_tmp

mkdir -p "$STORE" "$T/store2"
mount -t tmpfs -o size=8m,mode=0755 isofs-test-enospc "$STORE" || bail_out "cannot mount a tmpfs on $STORE"
at_cleanup "umount '$STORE'"
mount -t tmpfs -o size=64m,nr_inodes=300,mode=0755 isofs-test-enospc2 "$T/store2" || bail_out "cannot mount a tmpfs on $T/store2"
at_cleanup "umount '$T/store2'"
# Rootless, the mount points belong to the namespace's root: give them to the user isofs runs as.
[ -n "${ISOFS_TEST_USERNS:-}" ] && chown "$(id -u):$(id -g)" "$STORE" "$T/store2"

mkdir base-src && echo 'base content' >base-src/file && ln -s file base-src/link
tar -C base-src -cf base.tar .
run iso image import base base.tar
is "$RUN_RC" 0 "the base image imports into the 8 MiB store"
run iso image inspect base
like "$RUN_OUT" "\"rootless\":[[:space:]]*$([ "$IS_ROOT" -eq 1 ] && echo false || echo true)," \
	"isofs runs as $MODE here"
store_snapshot
used_before=$(df -B1 --output=used "$STORE" | tail -1)

mkdir big
for i in 1 2 3; do head -c $((4 * 1048576)) /dev/urandom >"big/part$i"; done
tar -C big -cf big.tar .
gzip -1 -c big.tar >big.tar.gz

full() {
	local desc=$1
	expect_refused "$desc"
	like "$RUN_ERR" "No space left on device" "$desc: the error says the disk is full"
	expect_store_unchanged "$desc"
	is "$(df -B1 --output=used "$STORE" | tail -1)" "$used_before" "$desc: the space is given back"
}

run iso image import big big.tar
full "12 MiB tar into an 8 MiB store"
run iso image import big - <big.tar.gz
full "12 MiB .tar.gz on stdin into an 8 MiB store"
run iso image import big "$T/big"
full "a 12 MiB directory into an 8 MiB store"

run iso image import small base.tar
is "$RUN_RC" 0 "afterwards, a small import succeeds"
is "$(cat "$STORE/images/small/rootfs/file")" "base content" "and is complete"
is "$(cat "$STORE/images/base/rootfs/file")" "base content" "the base image still reads right"

# A decompression bomb: 1 GiB of zeros in a few kB of zstd.  Its declared size is refused before a
# byte of it is written; many smaller entries that add up stop as the space runs out.
mkdir bomb && truncate -s 1G bomb/zeros && tar -C bomb -cf - . | zstd -q -19 >bomb.tar.zst
rm -rf bomb
store_snapshot
used_before=$(df -B1 --output=used "$STORE" | tail -1)
num "$(stat -c %s bomb.tar.zst)" -lt 200000 "the bomb is small ($(stat -c %s bomb.tar.zst) bytes)"
run iso image import bomb bomb.tar.zst
full "a 1 GiB zstd bomb into an 8 MiB store"
like "$RUN_ERR" "entry '\./zeros' \(1073741824 bytes\) does not fit in the store" \
	"the bomb is refused on its declared size, before its data is written"
mkdir bombs && for i in $(seq 1 40); do truncate -s 1M "bombs/z$i"; done && tar -C bombs -cf - . | zstd -q >bombs.tar.zst
rm -rf bombs
run iso image import bombs bombs.tar.zst
full "40 MiB of small zero files (zstd) into an 8 MiB store"
like "$RUN_ERR" "does not fit in the store" "... stopped as the space ran out"

# Out of inodes rather than blocks.
craft many many.tar --count 1000 || bail_out "craft.py failed"
STORE=$T/store2
run iso image import few base.tar
is "$RUN_RC" 0 "a small import into the 300-inode store"
store_snapshot
used_before=$(df --output=iused "$STORE" | tail -1)
run iso image import many many.tar
expect_refused "1000 files into a 300-inode store"
like "$RUN_ERR" "No space left on device" "out of inodes: the error says so"
expect_store_unchanged "1000 files into a 300-inode store"
is "$(df --output=iused "$STORE" | tail -1)" "$used_before" "out of inodes: the inodes are given back"

done_testing
