#!/bin/bash
# SPDX-License-Identifier: MIT
# An import killed half-way (SIGKILL, SIGTERM, SIGINT) while reading a slow
# tar stream on stdin: while it runs, other commands leave its work alone and
# do not show it; once it is dead, the next command removes what it left.
. "$(dirname "$0")/lib.sh"
setup_tmp

craft many many.tar --count 3000 --size 100 || bail_out "craft.py failed"
half=$(($(stat -c %s many.tar) / 2))
mkdir base && echo base >base/file
run iso image import base base
is "$RUN_RC" 0 "the base image imports"

# Dead (gone or a zombie not yet reaped).
pid_dead() { [ ! -e "/proc/$1" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]; }
in_progress() { compgen -G "$STORE/tmp/new.slow.*/rootfs/many/d001" >/dev/null; }

# interrupted SIGNAL
interrupted() {
	local sig=$1 feeder importer st
	rm -f feed && mkfifo feed
	# Half the archive at once, then nothing for 60 s (one process: exec).
	(head -c "$half" many.tar && exec sleep 60) >feed &
	feeder=$!
	bg_track "$feeder"
	# Background jobs of a script start with SIGINT ignored: restore the default.
	env --default-signal=INT "$ISOFS_BIN" --store "$STORE" image import slow - <feed >slow.out 2>slow.err &
	importer=$!
	bg_track "$importer"

	if wait_until 30 in_progress; then
		pass "$sig: the import is under way in STORE/tmp"
	else
		fail "$sig: the import is under way in STORE/tmp" "$(ls -R "$STORE/tmp" | head)"
	fi
	run iso image ls
	is "$RUN_RC" 0 "$sig: image ls during the import succeeds"
	unlike "$RUN_OUT" '(^|[[:space:]])slow[[:space:]]' "$sig: image ls does not show the unfinished image"
	run iso image inspect slow
	is "$RUN_RC" 1 "$sig: image inspect of the unfinished image fails"
	ok "$sig: image ls left the work in progress alone" in_progress
	ok "$sig: the importer is still running" kill -0 "$importer"

	kill "-$sig" "$importer"
	if ! wait_until 10 pid_dead "$importer"; then
		fail "$sig: the importer dies" "still running 10 s after SIG$sig; killing it"
		kill -9 "$importer"
	fi
	wait "$importer"
	st=$?
	is "$st" "$((128 + $(kill -l "$sig")))" "$sig: the importer died of $sig"
	kill -9 "$feeder" 2>/dev/null
	wait "$feeder" 2>/dev/null

	ok "$sig: the dead import left its directory (nothing cleans it yet)" in_progress
	run iso image ls
	is "$RUN_RC" 0 "$sig: image ls after the kill succeeds"
	is "$(image_names)" base "$sig: only the base image is listed"
	ok "$sig: the next command emptied STORE/tmp" tmp_is_empty
	ok "$sig: no images/slow" test ! -e "$STORE/images/slow"
}

interrupted KILL
interrupted TERM
interrupted INT

run iso image import slow - <many.tar
is "$RUN_RC" 0 "the name is free: a complete import of it succeeds"
is "$(find "$STORE/images/slow/rootfs/many" -type f | wc -l)" 3000 "with all 3000 files"
is "$(cat "$STORE/images/base/rootfs/file")" base "the base image is intact"

done_testing
