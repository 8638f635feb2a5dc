#!/bin/bash
# SPDX-License-Identifier: MIT
# Layers in containers/storage's form (".wh.NAME" whiteouts, ".wh..wh..opq"
# opaque markers, AUFS names), as it unpacks image layers for a mount program
# and as fuse-overlayfs leaves an upper: a run, a mounted view, export, diff
# and commit all see what the markers say, and never a marker.  An imported
# tar's ".wh." entries are kept as they are and read the same way.
. "$(dirname "$0")/lib.sh"
setup_tmp

unmount_all_at_exit
mkdir -p "$T/mp"

# no_markers DESC TEXT: no name of the format in TEXT
no_markers() {
	unlike "$2" '\.wh\.' "$1"
}

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true
run iso sandbox create s bb
run iso run --sandbox s -- /bin/sh -c 'mkdir -p /srv/keep /srv/opq /srv/gone &&
	echo k >/srv/keep/k && echo o >/srv/opq/o && echo g >/srv/gone/g && echo f >/srv/file && echo b >/srv/both'
run iso sandbox commit s base2
is "$RUN_RC" 0 "an image of two layers"
run iso sandbox create t base2
run iso run --sandbox t -- /bin/sh -c 'echo top >/srv/opq/top && echo new >/srv/new'
run iso sandbox commit t img
is "$RUN_RC" 0 "a third layer on it"

# The top layer as containers/storage would have unpacked it: markers beside its own entries.
L=$STORE/images/img/rootfs
mkdir -p "$L/etc" "$L/.wh..wh.plnk"
touch "$L/srv/.wh.file" "$L/srv/.wh.gone" "$L/srv/opq/.wh..wh..opq" "$L/etc/.wh.hosts" "$L/srv/.wh." \
	"$L/srv/.wh..." "$L/.wh..wh.aufs" "$L/.wh..wh.plnk/1.2"
echo mine >"$L/srv/both" && touch "$L/srv/.wh.both" # a name beside its own marker: hidden in its layer too
ok "markers planted in the image's top layer" test -e "$L/srv/.wh.file"

# ---- a run and a mounted view ---------------------------------------------------------------
run iso run img -- /bin/sh -c 'ls -a /srv; echo; ls -a /srv/opq; echo; ls -a /; cat /srv/file /srv/both /etc/hosts'
is "$(printf '%s\n' "$RUN_OUT" | sed -n '1,/^$/p' | tr '\n' ' ')" ". .. keep new opq  " \
	"isofs run: a marker hides its name below (file, dir) and in its own layer (both); markers never listed"
is "$(printf '%s\n' "$RUN_OUT" | sed -n '/^$/,/^$/p' | sed -n 2,4p | tr '\n' ' ')" ". .. top " \
	"... .wh..wh..opq hides the directory's lower content"
no_markers "... nothing of the format in any listing" "$RUN_OUT"
like "$RUN_ERR" "/srv/file'?: No such file" "... reading a whited-out file fails"
like "$RUN_ERR" "/srv/both'?: No such file" "... or one beside its marker"
like "$RUN_ERR" "/etc/hosts'?: No such file" "... in a directory the marker's layer merges with the image's"

run iso mount img "$T/mp" --sandbox view
is "$RUN_RC" 0 "isofs mount of the image"
is "$(ls -a "$T/mp/srv" | tr '\n' ' ')" ". .. keep new opq " "a mounted view: the same listing"
run stat "$T/mp/srv/.wh.file"
isnt "$RUN_RC" 0 "... a marker cannot be looked up by its name"
run touch "$T/mp/srv/.wh.x"
like "$RUN_ERR" "Invalid argument" "... nor a name of the format created (EINVAL)"
run sh -c "echo again >'$T/mp/srv/file' && mkdir '$T/mp/srv/gone' && cat '$T/mp/srv/file' && ls -A '$T/mp/srv/gone'"
is "$RUN_OUT" "again" "... names made again over markers: a file, and a directory without the lower content"
run iso umount "$T/mp"
is "$RUN_RC" 0 "umount"

# ---- export ----------------------------------------------------------------------------------
run iso image export img "$T/img.tar"
is "$RUN_RC" 0 "export of the image"
list=$(tar -tf "$T/img.tar" | LC_ALL=C sort)
is "$(printf '%s\n' "$list" | grep '^\./srv/' | tr '\n' ' ')" \
	"./srv/ ./srv/keep/ ./srv/keep/k ./srv/new ./srv/opq/ ./srv/opq/top " \
	"export: what markers hide is not exported (a file, a directory, a name beside its marker, lower content of an opaque dir)"
no_markers "... nor any marker or AUFS name" "$list"
unlike "$list" $'(^|\n)\\./etc/hosts(\n|$)' "... a marker in a merged directory too"
like "$list" $'(^|\n)\\./etc/passwd(\n|$)' "... its other names are there"

# ---- diff and commit -------------------------------------------------------------------------
run iso sandbox create d img
run iso sandbox diff d
is "$RUN_OUT" "" "a new sandbox of the image: no changes (the markers are the image's)"
run iso run --sandbox d -- /bin/sh -c 'echo again >/srv/file && rm /srv/keep/k && echo two >/srv/opq/o2 && mkdir /srv/gone'
run iso sandbox diff d
is "$RUN_OUT" "C /srv
A /srv/file
A /srv/gone
C /srv/keep
D /srv/keep/k
C /srv/opq
A /srv/opq/o2" "sandbox diff: names the image's markers hide come back as added; no marker shows"
run iso sandbox commit d img2
is "$RUN_RC" 0 "commit"
run iso image export img2 "$T/img2.tar"
list=$(tar -tf "$T/img2.tar" | LC_ALL=C sort)
is "$(printf '%s\n' "$list" | grep '^\./srv/' | tr '\n' ' ')" \
	"./srv/ ./srv/file ./srv/gone/ ./srv/keep/ ./srv/new ./srv/opq/ ./srv/opq/o2 ./srv/opq/top " \
	"the committed image over the markers: the new names, still nothing of what they hide"
is "$(tar -xOf "$T/img2.tar" ./srv/file)" again "... the file made again"

# ---- an upper in that form (an upper fuse-overlayfs wrote) -------------------------------------
run iso sandbox create u img
U=$STORE/sandboxes/u/upper
mkdir -p "$U/srv" && touch "$U/srv/.wh.new" && mkdir "$U/srv/keep" && touch "$U/srv/keep/.wh..wh..opq"
run iso sandbox diff u
is "$RUN_OUT" "C /srv
C /srv/keep
D /srv/keep/k
D /srv/new" "a sandbox whose upper holds markers: diff says what they remove"
run iso run --sandbox u -- /bin/sh -c 'ls -A /srv /srv/keep; echo back >/srv/new; cat /srv/new'
is "$RUN_OUT" $'/srv:\nkeep\nopq\n\n/srv/keep:\nback' "... a run sees it; a name made again is there"
ok "... and its marker is gone from the upper" test ! -e "$U/srv/.wh.new"

# ---- an imported tar with ".wh." entries ------------------------------------------------------
mkdir -p tarsrc/d tarsrc/.wh..wh.plnk
echo x >tarsrc/x && touch tarsrc/.wh.x && echo y >tarsrc/y && touch tarsrc/d/.wh..wh..opq && echo z >tarsrc/d/z
touch tarsrc/.wh.gone tarsrc/.wh..wh.plnk/1
tar -C tarsrc -cf wh.tar .
run iso image import imp wh.tar
is "$RUN_RC" 0 "import of a tar holding .wh. entries"
ok "... they are kept as they are in the layer" test -e "$STORE/images/imp/rootfs/.wh.x"
run iso image export imp "$T/imp.tar"
list=$(tar -tf "$T/imp.tar" | LC_ALL=C sort)
is "$(printf '%s\n' "$list" | tr '\n' ' ')" "./ ./d/ ./d/z ./y " \
	"... and read as markers: exported without them, nor what they hide"

done_testing
