#!/bin/bash
# Who may run commands in a running sandbox (isofs exec): its user alone.  As
# root, a sandbox runs with the canary's directory bound in; the unprivileged
# user tries to exec into it — through isofs, then straight at its socket
# after the store's directories and the socket itself were opened up — and
# must never get a command run (the init checks SO_PEERCRED).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-security.sh"
setup_tmp
plant_canary

CLIENT=$TESTS_DIR/../security/exec-client.py

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true
run iso sandbox create s1 bb

"$ISOFS_BIN" --store "$STORE" run --sandbox s1 --bind "$CANARY_DIR:/host:ro" -- sh -c 'echo ready; sleep 120' \
	>"$T/session.out" 2>&1 &
session=$!
bg_track "$session"
wait_until 30 grep -q ready "$T/session.out" || fail "the session started" "$(cat "$T/session.out")"

is "$(stat -c %a "$STORE/running")" 700 "STORE/running is 0700"
is "$(stat -c '%a %F' "$STORE/running/s1.sock")" "600 socket" "the exec socket is 0600"

# Control: the socket's own user, with the raw client, gets its command run.
run timeout 30 "$PYTHON" "$CLIENT" "$STORE/running/s1.sock" sh -c 'echo control-ok'
like "$RUN_OUT" "first: READY" "control: the sandbox's user is accepted"
like "$RUN_OUT" "control-ok" "control: ... and its command runs"

if [ "$IS_ROOT" -ne 1 ]; then
	skip "another user execs into the sandbox" "root only: a rootless test has no other user to be"
	done_testing
fi

user=${ISOFS_TEST_USER:-isofs-test}
id "$user" >/dev/null 2>&1 || bail_out "no user $user"
as_user() { setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups -- "$@"; }

run as_user "$ISOFS_BIN" --store "$STORE" exec s1 -- cat /host/etc/shadow
isnt "$RUN_RC" 0 "another user's isofs exec into root's sandbox fails"
is "$RUN_ERR_LINES" 1 "... with one error line"
no_canary "... and never shows the canary" "$RUN_OUT" "$RUN_ERR"

run as_user timeout 30 "$PYTHON" "$CLIENT" "$STORE/running/s1.sock" cat /host/etc/shadow
like "$RUN_OUT" "connect: Permission denied" "the raw client cannot connect through the store's 0700 directories"
no_canary "... and never shows the canary" "$RUN_OUT" "$RUN_ERR"

# The store opened up (a misconfiguration): the init's own check must still refuse.
chmod o+x "$STORE" "$STORE/running"
chmod 0666 "$STORE/running/s1.sock"
at_cleanup "chmod 0700 '$STORE' '$STORE/running'"
run as_user timeout 30 "$PYTHON" "$CLIENT" "$STORE/running/s1.sock" cat /host/etc/shadow
like "$RUN_OUT" "first: FAILED 13 permission denied" "with the socket reachable, the init refuses another uid (SO_PEERCRED)"
unlike "$RUN_OUT" "STARTED" "... and starts no command for it"
no_canary "... and the canary never shows" "$RUN_OUT" "$RUN_ERR"
run iso exec s1 -- sh -c 'ps | awk "\$3 == \"cat\" { n++ } END { print n + 0 }"'
is "$RUN_OUT" 0 "no command of the other user's runs in the sandbox"
ok "the session still runs" kill -0 "$session"

done_testing
