#!/bin/bash
# SPDX-License-Identifier: MIT
# Where the store is (--store, $ISOFS_STORE, /var/lib/isofs for root,
# $XDG_DATA_HOME/isofs, ~/.local/share/isofs), its layout, and the removal of
# what interrupted commands left in STORE/tmp.
. "$(dirname "$0")/lib.sh"
setup_tmp

mkdir src && echo data >src/file

# Imports image 'x' with the given environment, cwd $T; no --store.
import_with_env() {
	run env -u ISOFS_STORE -u XDG_DATA_HOME "$@" "$ISOFS_BIN" image import x "$T/src"
}
has_image() { test -f "$1/images/x/meta.json" && test -d "$1/images/x/rootfs"; }

# ---- --store and $ISOFS_STORE -------------------------------------------------------

run iso image import x src
is "$RUN_RC" 0 "--store DIR: import succeeds"
ok "--store DIR: the image is in DIR/images/x" has_image "$STORE"
is "$(stat -c %a "$STORE")" 700 "the store directory is created 0700"
ok "the store has images/" test -d "$STORE/images"
ok "the store has tmp/" test -d "$STORE/tmp"
ok "the store has .lock" test -f "$STORE/.lock"
ok "the image has meta.json, valid JSON" "$PYTHON" -m json.tool "$STORE/images/x/meta.json"
ok "the image's file is in rootfs/" cmp src/file "$STORE/images/x/rootfs/file"
ok "the default store was not touched" test ! -e "$ISOFS_STORE"

run isofs_cmd --store "$T/a/b/c/store" image import x src
is "$RUN_RC" 0 "--store with missing parents: import succeeds"
ok "--store with missing parents: they are created" has_image "$T/a/b/c/store"

run isofs_cmd --store rel-store image import x src
is "$RUN_RC" 0 "--store RELATIVE: import succeeds"
ok "--store RELATIVE: relative to the working directory" has_image "$T/rel-store"
run isofs_cmd --store rel-store image inspect x
like "$RUN_OUT" "\"rootfs\":[[:space:]]*\"$T/rel-store/images/x/rootfs\"" \
	"--store RELATIVE: inspect shows the absolute rootfs path"

import_with_env ISOFS_STORE="$T/env-store" XDG_DATA_HOME="$T/xdg" HOME="$T/home"
is "$RUN_RC" 0 "\$ISOFS_STORE: import succeeds"
ok "\$ISOFS_STORE: the image is there" has_image "$T/env-store"
ok "\$ISOFS_STORE: \$XDG_DATA_HOME not used" test ! -e "$T/xdg/isofs"
ok "\$ISOFS_STORE: HOME not used" test ! -e "$T/home/.local/share/isofs"

run env ISOFS_STORE="$T/env-store2" "$ISOFS_BIN" --store "$T/opt-store" image import x "$T/src"
is "$RUN_RC" 0 "--store and \$ISOFS_STORE: import succeeds"
ok "--store wins over \$ISOFS_STORE" has_image "$T/opt-store"
ok "\$ISOFS_STORE not used when --store is given" test ! -e "$T/env-store2"

# ---- the defaults ---------------------------------------------------------------------

if [ "$IS_ROOT" -eq 0 ]; then
	mkdir -p "$T/xdg" "$T/home2"
	import_with_env XDG_DATA_HOME="$T/xdg" HOME="$T/home2"
	is "$RUN_RC" 0 "user, \$XDG_DATA_HOME set: import succeeds"
	ok "user: \$XDG_DATA_HOME/isofs" has_image "$T/xdg/isofs"
	ok "user, \$XDG_DATA_HOME set: ~/.local/share not used" test ! -e "$T/home2/.local/share/isofs"

	import_with_env HOME="$T/home3"
	is "$RUN_RC" 0 "user, no \$XDG_DATA_HOME: import succeeds"
	ok "user, no \$XDG_DATA_HOME: ~/.local/share/isofs (created with its parents)" \
		has_image "$T/home3/.local/share/isofs"

	import_with_env XDG_DATA_HOME="relative/xdg" HOME="$T/home4"
	is "$RUN_RC" 0 "user, relative \$XDG_DATA_HOME: import succeeds"
	ok "user, relative \$XDG_DATA_HOME is ignored: ~/.local/share/isofs" has_image "$T/home4/.local/share/isofs"
	ok "user, relative \$XDG_DATA_HOME: nothing made below the working directory" test ! -e "$T/relative"

	import_with_env ISOFS_STORE= HOME="$T/home5"
	is "$RUN_RC" 0 "user, empty \$ISOFS_STORE: import succeeds"
	ok "user, empty \$ISOFS_STORE is ignored" has_image "$T/home5/.local/share/isofs"
	skip "root: /var/lib/isofs" "not root"
else
	# /var/lib/isofs in a private mount namespace, with a tmpfs over /var/lib:
	# the real default store is neither used nor hidden from anyone else.
	mkdir -p "$T/xdg" "$T/home2"
	run unshare -m --propagation private bash -c '
		mount -t tmpfs -o size=16m tmpfs /var/lib || exit 90
		env -u ISOFS_STORE XDG_DATA_HOME="$1/xdg" HOME="$1/home2" "$2" image import x "$1/src" || exit 91
		test -f /var/lib/isofs/images/x/meta.json || exit 92
		test "$(stat -c %a /var/lib/isofs)" = 700 || exit 93
		env -u ISOFS_STORE "$2" image ls | grep -q "^x " || exit 94
		env ISOFS_STORE= "$2" image inspect x | grep -q "\"rootfs\":.*\"/var/lib/isofs/images/x/rootfs\"" || exit 95
		exit 0' _ "$T" "$ISOFS_BIN"
	is "$RUN_RC" 0 "root: the default store is /var/lib/isofs (0700; ls and inspect use it; empty \$ISOFS_STORE ignored)"
	[ "$RUN_RC" -eq 0 ] || diag "$RUN_OUT" "$RUN_ERR"
	ok "root: \$XDG_DATA_HOME is not used" test ! -e "$T/xdg/isofs"
	ok "root: ~/.local/share is not used" test ! -e "$T/home2/.local/share"
	for i in 1 2 3 4 5; do skip "user default store rule $i" "root"; done
fi

# ---- a store that cannot be made -------------------------------------------------------

echo file >a-file
run isofs_cmd --store "$T/a-file/store" image import x src
expect_refused "a store below a regular file"
run isofs_cmd --store "$T/a-file" image ls
expect_refused "a store that is a regular file"
ok "the regular file is untouched" test "$(cat a-file)" = file
if [ "$IS_ROOT" -eq 0 ]; then
	run isofs_cmd --store /root/isofs-test-store image ls
	expect_refused "a store where the user may not write"
else
	skip "a store where the user may not write" "root may write anywhere"
	skip "a store where the user may not write: one line" "root"
	skip "a store where the user may not write: stdout" "root"
fi

# ---- STORE/tmp: leftovers removed, work in progress kept ----------------------------------

mkdir -p "$STORE/tmp/new.gone.abcdefgh/rootfs/usr/bin" "$STORE/tmp/rm.gone2.12345678/rootfs/closed/sub"
echo x >"$STORE/tmp/new.gone.abcdefgh/rootfs/usr/bin/f"
echo y >"$STORE/tmp/rm.gone2.12345678/rootfs/closed/sub/f"
chmod 0555 "$STORE/tmp/new.gone.abcdefgh/rootfs/usr/bin"
chmod 0000 "$STORE/tmp/rm.gone2.12345678/rootfs/closed"
echo junk >"$STORE/tmp/stray-file"
ln -s / "$STORE/tmp/stray-link"
mkdir "$STORE/tmp/busy.abcdefgh"
echo keep >"$STORE/tmp/busy.abcdefgh/keep"
# Another command's work: its directory is flock'ed for as long as that runs.
# One process holds it (exec), so that killing it releases the lock.
bash -c 'exec 9<"$1" && flock -x 9 && exec sleep 30' _ "$STORE/tmp/busy.abcdefgh" &
holder=$!
bg_track "$holder"
wait_until 5 bash -c "flock -n -E 9 '$STORE/tmp/busy.abcdefgh' true; [ \$? -eq 9 ]"

run iso image ls
is "$RUN_RC" 0 "image ls with leftovers in tmp/ succeeds"
ok "a stale directory is removed" test ! -e "$STORE/tmp/new.gone.abcdefgh"
ok "a stale directory with a 0000 subdirectory is removed" test ! -e "$STORE/tmp/rm.gone2.12345678"
ok "a stray file in tmp/ is removed" test ! -e "$STORE/tmp/stray-file"
ok "a stray symlink in tmp/ is removed (and not followed)" test ! -L "$STORE/tmp/stray-link"
ok "a locked directory (work in progress) is kept" test -f "$STORE/tmp/busy.abcdefgh/keep"
ok "image x is still there" has_image "$STORE"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
run iso image ls
ok "once unlocked, the next command removes it" test ! -e "$STORE/tmp/busy.abcdefgh"
ok "and tmp/ is empty" tmp_is_empty

done_testing
