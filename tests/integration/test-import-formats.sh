#!/bin/bash
# SPDX-License-Identifier: MIT
# Each compression (none, gzip, xz, zstd, bzip2) is recognised by content, not
# by file name, from a file, from stdin (-) and from a pipe given as a path;
# every import yields the same tree as tar -x.
. "$(dirname "$0")/lib.sh"
setup_tmp

build_fixture "$T/fixture" || bail_out "cannot build the fixture"
make_fixture_tar "$T/fixture" "$T/fixture.tar" || bail_out "cannot tar the fixture"
mkdir ref
tar -x --xattrs --xattrs-include='*' --numeric-owner -p -f fixture.tar -C ref || bail_out "tar -x failed"
read -r E F D S H P V <<<"$(expected_counts fixture)"

XATTRS=.
[ "$IS_ROOT" -eq 1 ] || XATTRS='^user\.'
REF_LIST=$(tree_listing ref)
REF_LINKS=$(hardlink_groups ref)
REF_XATTRS=$(xattr_listing ref "$XATTRS")
REF_SUMS=$(cd ref && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)

# check_image NAME DESC: the summary of the last run and the tree of NAME
check_image() {
	local name=$1 desc=$2 r=$STORE/images/$1/rootfs
	is "$RUN_RC" 0 "$desc: import succeeds"
	like "$RUN_OUT" "$(summary_regex imported "$name" "$E" "$F" "$D" "$S" "$H" "$P" "$V")\$" "$desc: summary"
	if [ "$RUN_RC" -ne 0 ]; then
		diag "$RUN_ERR"
		return
	fi
	is "$(tree_listing "$r")" "$REF_LIST" "$desc: the tree equals tar -x's"
	is "$(hardlink_groups "$r")" "$REF_LINKS" "$desc: hard links"
	is "$(xattr_listing "$r" "$XATTRS" | grep -v '|user\.isofs\.')" "$REF_XATTRS" "$desc: xattrs"
	is "$(cd "$r" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)" "$REF_SUMS" "$desc: contents"
}

# Names that lie: the content decides.
cp fixture.tar plain.tar.gz
gzip -9 -c fixture.tar >gzip.tar.xz
xz -c fixture.tar >xz.tar.zst
zstd -q -c fixture.tar >zstd.tar.bz2
bzip2 -c fixture.tar >bzip2.tar
cp gzip.tar.xz gzip-noext

for f in plain.tar.gz gzip.tar.xz xz.tar.zst zstd.tar.bz2 bzip2.tar gzip-noext; do
	n=${f%%.*}
	run iso image import "from-$n" "$T/$f"
	check_image "from-$n" "file '$f'"
	run iso image inspect "from-$n"
	like "$RUN_OUT" "\"source\":[[:space:]]*\"tar:$T/$f\"" "file '$f': inspect names the source"
done

for f in plain.tar.gz gzip.tar.xz xz.tar.zst zstd.tar.bz2 bzip2.tar; do
	n=${f%%.*}
	run iso image import "stdin-$n" - <"$f"
	check_image "stdin-$n" "stdin ($n)"
done
run iso image inspect stdin-plain
like "$RUN_OUT" '"source":[[:space:]]*"tar:-"' "stdin: inspect says tar:-"

# A real pipe on stdin (no size, no seeking) and a pipe given by path.
run bash -c 'cat "$1" | "$2" --store "$3" image import pipe-zstd -' _ zstd.tar.bz2 "$ISOFS_BIN" "$STORE"
check_image pipe-zstd "a pipe on stdin (zstd)"
run bash -c '"$1" --store "$2" image import devfd-xz <(cat "$3")' _ "$ISOFS_BIN" "$STORE" xz.tar.zst
check_image devfd-xz "a pipe given as /dev/fd/N (xz)"

# The same content under a name: one image per import, nothing in tmp/.
is "$(image_names | wc -l)" 13 "13 images listed"
ok "STORE/tmp is empty after all imports" tmp_is_empty

done_testing
