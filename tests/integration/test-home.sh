#!/bin/bash
# SPDX-License-Identifier: MIT
# --home, toolbox-style (issue 14): the command runs as the caller — its uid,
# gid and name (a passwd and group line in the sandbox, never in the image) —
# with its home bound where the host has it (what it writes there is the
# caller's on the host), $XDG_RUNTIME_DIR bound and the session's variables
# passed; root inside still works (the rest of the id range is mapped around
# the caller's id).  Root and rootless.
. "$(dirname "$0")/lib.sh"
setup_tmp

me=$(id -un)
home=$(getent passwd "$(id -u)" | cut -d: -f6)
[ -d "$home" ] && [ -w "$home" ] || skip_all "the home directory $home is not writable"
if [ "$IS_ROOT" -eq 0 ] && ! awk -F: -v n="$me" '$1 == n' /etc/subuid | grep -q .; then
	skip_all "$me has no subordinate id range (--home needs one)"
fi
mark=".isofs-home-test.$$.$RANDOM"
at_cleanup "rm -f '$home/$mark' '$home/$mark.made'"
echo "from the host" >"$home/$mark"

run iso image bootstrap bb --busybox
[ "$RUN_RC" -eq 0 ] || bail_out "bootstrap failed: $RUN_ERR"

run iso run --home bb sh -c 'id -u; id -g; id -un; echo "$HOME|$USER|$LOGNAME"; pwd'
is "$RUN_RC" 0 "--home runs"
is "$RUN_OUT" "$(id -u)
$(id -g)
$me
$home|$me|$me
$home" "as the caller: its uid, gid, name, HOME, USER, in its home"
run iso run --home bb cat "$home/$mark"
is "$RUN_OUT" "from the host" "the home's content is visible"
run iso run --home bb sh -c "echo made > '$home/$mark.made'"
is "$(stat -c '%u:%g %s' "$home/$mark.made" 2>/dev/null)" "$(id -u):$(id -g) 5" "a file made in the home inside is the caller's on the host"
run iso run --home bb sh -c 'grep "^'"$me"':" /etc/passwd | cut -d: -f1,3,4,6'
is "$RUN_OUT" "$me:$(id -u):$(id -g):$home" "the caller's passwd line is in the sandbox"
run iso run bb sh -c 'grep -c "^'"$me"':" /etc/passwd'
is "$RUN_OUT" "$([ "$me" = root ] && echo 1 || echo 0)" "... and not in the image"

run iso run --home -u 0 bb sh -c 'id -u; touch /made-by-root && stat -c %u /made-by-root; stat -c %u /bin/busybox'
is "$RUN_OUT" $'0\n0\n0' "-u 0 with --home: root inside, the image's files root's"

mkdir -p "$T/xdg" && chmod 0700 "$T/xdg" && echo sock >"$T/xdg/wayland-9"
run env XDG_RUNTIME_DIR="$T/xdg" WAYLAND_DISPLAY=wayland-9 DISPLAY=:9 "$ISOFS_BIN" --store "$STORE" run --home bb \
	sh -c 'echo "$XDG_RUNTIME_DIR $WAYLAND_DISPLAY $DISPLAY"; cat "$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY"'
is "$RUN_OUT" "$T/xdg wayland-9 :9
sock" "XDG_RUNTIME_DIR bound, WAYLAND_DISPLAY and DISPLAY passed"

run env SHELL=/bin/sh "$ISOFS_BIN" --store "$STORE" run --home bb </dev/null
is "$RUN_RC" 0 "--home without a command: the login shell (here on an empty stdin)"

# a persistent sandbox: its own /etc/passwd is never written
run iso sandbox create dev bb
run iso run --home --sandbox dev sh -c 'id -un'
is "$RUN_OUT" "$me" "--home in a persistent sandbox"
run iso sandbox diff dev
unlike "$RUN_OUT" 'etc/passwd|etc/group' "... whose changes hold no passwd or group line"

run iso run --home --in-place "$T" -- true
isnt "$RUN_RC" 0 "--home with --in-place of a directory holding no shell: refused or failing, never hanging"

done_testing
