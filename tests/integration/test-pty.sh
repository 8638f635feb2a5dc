#!/bin/bash
# isofs run -t -i: an interactive shell in the sandbox's own pty.
. "$(dirname "$0")/lib.sh"
setup_tmp

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true

run timeout 60 "$PYTHON" "$TESTS_DIR/pty-session.py" "$ISOFS_BIN" "$STORE"
is "$RUN_RC" 0 "a session through a pty"
like "$RUN_OUT" $'/dev/pts/0\n' "the shell's terminal is a pty of the sandbox's devpts"
like "$RUN_OUT" $'33 101\n' "the terminal's window size reached the sandbox's pty"
like "$RUN_OUT" $'\n42\n' "commands typed at the prompt run"
like "$RUN_OUT" 'STATUS 3' "the shell's exit status is isofs's"

run sh -c "stty -a < /dev/null >/dev/null 2>&1; '$ISOFS_BIN' --store '$STORE' run -t bb -- /bin/sh -c 'tty' < /dev/null"
is "$RUN_RC" 0 "-t without a terminal on our side still gives the command a pty"
like "$RUN_OUT" '^/dev/pts/' "... which it sees as its terminal"

done_testing
