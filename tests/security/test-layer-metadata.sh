#!/bin/bash
# Hostile layer metadata: redirects planted in a hand-edited store, or set
# through a view by a sandbox, never lead outside the layers — not in a run,
# a mounted view, an export, a diff or a commit.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-security.sh"
setup_tmp
plant_canary
# a file name only the canary's directory holds: a listing that shows it went outside
MARK=isofs-canary-name-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
touch "$CANARY_DIR/etc/$MARK"
if [ "$IS_ROOT" -eq 1 ]; then NS=trusted.overlay; else NS=user.overlay; fi

unmount_all_at_exit

# no_escape DESC TEXT: neither the canary's content nor its directory's listing is in TEXT
no_escape() {
	if printf '%s' "$2" | grep -qF "$MARK"; then
		fail "$1" "the canary directory's listing showed up"
		return 1
	fi
	no_canary "$1" "$2"
}

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true
R=$STORE/images/bb/rootfs
UP=/../../../../../../../../../../../../../../../..
# Each directory's redirect tries another way out of the layer.
plant() { # DIR VALUE
	mkdir -p "$R/$1" && setfattr -n "$NS.redirect" -v "$2" "$R/$1"
}
plant abs "$UP$CANARY_DIR/etc"
plant rel ..
plant rel2 ../..
plant c1 .. && plant c1/c2 .. && plant c1/c2/c3 ..
ln -s "$CANARY_DIR" "$R/lnk" && plant vialink /lnk/etc
ln -s ../../../../../../../../../../../../.. "$R/up" && plant viaup "/up$CANARY_DIR/etc"
plant mixed "/etc/../../../../../../../../..$CANARY_DIR/etc"
plant proc /proc/self/root"$CANARY_DIR/etc"
plant dots "/.$CANARY_DIR/etc"
plant empty "//etc"
DIRS="abs rel rel2 c1 c1/c2 c1/c2/c3 vialink viaup mixed proc dots empty"
is "$(getfattr --absolute-names -n "$NS.redirect" --only-values "$R/abs" 2>&1)" "$UP$CANARY_DIR/etc" \
	"the hostile redirects are in the stored image"

ATTACK="for d in $DIRS; do cat /\$d/shadow; ls -a /\$d; done 2>&1; find / -xdev -name '$MARK' 2>&1"

# ---- a run ----------------------------------------------------------------------------
run iso run bb -- /bin/sh -c "$ATTACK"
no_escape "isofs run: no redirect leads out of the image" "$RUN_OUT$RUN_ERR"
run iso run bb -- /bin/sh -c 'ls -a /abs /rel /vialink | wc -l'
is "$RUN_RC" 0 "... the directories are there, empty"

# ---- a mounted view, and the server's log ----------------------------------------------
mkdir -p "$T/mp"
run iso mount bb "$T/mp" --sandbox viewer
is "$RUN_RC" 0 "isofs mount"
out=$(for d in $DIRS; do cat "$T/mp/$d/shadow"; ls -a "$T/mp/$d"; done 2>&1; ls -aR "$T/mp" 2>&1)
no_escape "a mounted view: no redirect leads out of the image" "$out"
run iso umount "$T/mp"
like "$(cat "$STORE/sandboxes/viewer/daemon.log" 2>/dev/null)" "ignoring an invalid $NS.redirect" \
	"the server's log says an invalid redirect was ignored"

# ---- export ---------------------------------------------------------------------------------
run iso image export bb "$T/bb.tar"
is "$RUN_RC" 0 "export of the hostile image"
no_canary_in_tar "export: the canary is not in the archive" "$T/bb.tar"
nok "export: no entry from the canary's directory" grep -qaF "$MARK" "$T/bb.tar"

# ---- diff of a hand-edited upper --------------------------------------------------------------
run iso sandbox create ed bb
U=$STORE/sandboxes/ed/upper
mkdir "$U/plain" "$U/abs2" && setfattr -n "$NS.redirect" -v "$UP$CANARY_DIR/etc" "$U/abs2"
mkdir "$U/rel3" && setfattr -n "$NS.redirect" -v .. "$U/rel3"
run iso sandbox diff ed
is "$RUN_RC" 0 "diff of a hand-edited upper"
no_escape "diff: nothing from outside the layers" "$RUN_OUT"
like "$RUN_OUT" "A /abs2" "diff: the directory with the invalid redirect is a plain new one"
run iso run --sandbox ed -- /bin/sh -c "cat /abs2/shadow /rel3/shadow; ls -a /abs2 /rel3"
no_escape "a run in the hand-edited sandbox: nothing from outside" "$RUN_OUT$RUN_ERR"

# ---- planted through a view: stored escaped, harmless after a commit -------------------------------
mkdir -p "$T/mp2"
run iso mount bb "$T/mp2" --sandbox planter
mkdir "$T/mp2/plant"
for ns in user.overlay trusted.overlay; do
	[ "$ns" = trusted.overlay ] && [ "$IS_ROOT" -ne 1 ] && continue
	run setfattr -n "$ns.redirect" -v "$UP$CANARY_DIR/etc" "$T/mp2/plant"
	is "$RUN_RC" 0 "a sandbox may set $ns.redirect on its directory (as on kernel overlayfs)"
	is "$(getfattr --absolute-names -n "$ns.redirect" --only-values "$T/mp2/plant" 2>&1)" "$UP$CANARY_DIR/etc" \
		"... and reads it back"
	stored=$(getfattr --absolute-names -d -m - "$STORE/sandboxes/planter/upper/plant" 2>&1)
	like "$stored" "$ns.overlay.redirect=" "... stored escaped, as $ns.overlay.redirect"
	unlike "$stored" "^$ns.redirect=" "... never under the name the format reads"
	run setfattr -n "$ns.opaque" -v y "$T/mp2/plant"
	unlike "$(getfattr --absolute-names -d -m - "$STORE/sandboxes/planter/upper/plant" 2>&1)" "^$ns.opaque=" \
		"$ns.opaque set through the view is escaped too"
done
run setfattr -n user.isofs.owner -v 0:0 "$T/mp2/plant"
isnt "$RUN_RC" 0 "user.isofs.* cannot be set through a view"
run iso umount "$T/mp2"
run iso sandbox commit planter planted
is "$RUN_RC" 0 "commit of the planted sandbox"
run iso run planted -- /bin/sh -c "cat /plant/shadow; ls -a /plant"
no_escape "a run of the committed image: the planted redirect leads nowhere" "$RUN_OUT$RUN_ERR"
run iso image export planted "$T/planted.tar"
no_canary_in_tar "export of the committed image: no canary" "$T/planted.tar"
nok "... no entry from the canary's directory" grep -qaF "$MARK" "$T/planted.tar"

ok "the canary is untouched" test "$(cat "$CANARY")" = "$CANARY_TEXT"
done_testing
