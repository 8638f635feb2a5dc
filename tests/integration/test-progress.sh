#!/bin/bash
# SPDX-License-Identifier: MIT
# The progress bar: drawn on stderr when stderr is a terminal (script(1) gives
# one), never otherwise, never on stdout; the summary line is printed either way.
. "$(dirname "$0")/lib.sh"
setup_tmp

command -v script >/dev/null || skip_all "script(1) is not installed"
craft many many.tar --count 1000 --size 2000 || bail_out "craft.py failed"
gzip -1 -c many.tar >many.tar.gz
mkdir dir && echo x >dir/file

q() { printf '%q ' "$@"; }
# on_tty COMMAND-STRING: runs it with stdin/stdout/stderr on a pseudo-terminal; $RUN_OUT is what the terminal got
on_tty() {
	run script -qec "$1" /dev/null </dev/null
}
ISO=$(q "${ISOFS_WRAP[@]}" "$ISOFS_BIN" --store "$STORE")

# ---- not a terminal: silence on stderr ---------------------------------------------------------

run iso image import plain many.tar
is "$RUN_ERR" "" "file, stderr not a terminal: nothing on stderr"
like "$RUN_OUT" "^imported image 'plain': 1010 entries" "file, stderr not a terminal: the summary on stdout"
run iso image import plainstdin - <many.tar.gz
is "$RUN_ERR" "" "stdin, stderr not a terminal: nothing on stderr"
run iso image import plaindir dir
is "$RUN_ERR" "" "directory, stderr not a terminal: nothing on stderr"

# ---- a terminal: the bar ----------------------------------------------------------------------

on_tty "$ISO image import tty $(q "$T/many.tar")"
is "$RUN_RC" 0 "file on a terminal: import succeeds"
like "$RUN_OUT" 'importing \[[#-]{30}\] +[0-9]+% [0-9.]+ [KM]?i?B / [0-9.]+ [KM]iB, [0-9]+ entries' \
	"file on a terminal: a bar with 'importing', a percentage, sizes and 'entries'"
like "$RUN_OUT" $'\r\e\\[Kimported image \'tty\': 1010 entries' "file on a terminal: the bar is cleared before the summary"
like "$RUN_OUT" $'\r\e\\[K' "file on a terminal: the bar redraws in place (CR, erase line)"

on_tty "$ISO image import ttystdin - < $(q "$T/many.tar.gz")"
is "$RUN_RC" 0 "stdin on a terminal: import succeeds"
like "$RUN_OUT" 'importing [0-9.]+ [KM]?i?B, [0-9]+ entries' "stdin on a terminal: 'importing', bytes and 'entries' (no total known)"
like "$RUN_OUT" "imported image 'ttystdin': 1010 entries" "stdin on a terminal: the summary"

on_tty "$ISO image import ttydir $(q "$T/dir")"
like "$RUN_OUT" 'importing .*entries' "directory on a terminal: the bar"

# stderr a terminal, stdout a file: the file gets the summary only
on_tty "$ISO image import split $(q "$T/many.tar") > $(q "$T/split.out")"
is "$(cat split.out)" "$(printf '%s' "$(cat split.out)" | tr -d '\r\033')" "stdout to a file: no control characters in it"
like "$(cat split.out)" "^imported image 'split': 1010 entries[^"$'\n'"]*\$" "stdout to a file: exactly the summary line"
like "$RUN_OUT" 'importing' "stdout to a file: the bar still goes to the terminal"

# stdout a terminal, stderr a file: no bar anywhere
on_tty "$ISO image import split2 $(q "$T/many.tar") 2> $(q "$T/split2.err")"
is "$(cat split2.err)" "" "stderr to a file: nothing in it"
unlike "$RUN_OUT" 'importing' "stderr to a file: no bar on the terminal either"
like "$RUN_OUT" "imported image 'split2'" "stderr to a file: the summary on the terminal"

# An error on a terminal: the bar is cleared, the error is one line of its own.
head -c 1000000 many.tar >truncated.tar
on_tty "$ISO image import bad $(q "$T/truncated.tar")"
is "$RUN_RC" 1 "a failing import on a terminal exits 1"
like "$RUN_OUT" $'(^|\r\e\\[K)isofs: entry [^\r]*\r?$' "a failing import on a terminal: the error starts a clean line"

done_testing
