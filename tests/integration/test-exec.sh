#!/bin/bash
# isofs exec and isofs ps: commands run beside the one running in a sandbox,
# in its PID namespace, root, mounts and confinement; the sessions listed;
# both refused once it ends.  isofs mount --sandbox NAME without the IMAGE.
. "$(dirname "$0")/lib.sh"
setup_tmp
unmount_all_at_exit

# The host's pid of a sandbox process `inner` among `pids`: the one whose innermost NSpid is it.
host_pid_of() {
	local inner=$1 p
	shift
	for p in "$@"; do
		[ "$(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null)" = "$inner" ] && { echo "$p"; return 0; }
	done
	return 1
}
running() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
# A field of `isofs ps --json`'s entry NAME, by a Python expression over it (e).
ps_field() {
	iso ps --json | "$PYTHON" -c '
import json, sys
name, expr = sys.argv[1], sys.argv[2]
for e in json.load(sys.stdin):
    if e["name"] == name:
        print(eval(expr))
' "$1" "$2"
}

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true
run iso sandbox create s1 bb
run iso sandbox create idle bb

# ---- the session: waits for a file exec writes, answers with one, then for the end ------------
"$ISOFS_BIN" --store "$STORE" run --sandbox s1 -- /bin/sh -c '
	echo $$ > /tmp/pid; echo ready
	until [ -e /tmp/ping ]; do sleep 0.1; done; echo "pong to $(cat /tmp/ping)" > /tmp/pong
	until [ -e /tmp/stop ]; do sleep 0.1; done; exit 7' >"$T/session.out" 2>"$T/session.err" &
session=$!
bg_track "$session"
wait_until 30 grep -q ready "$T/session.out" || fail "the session started" "$(cat "$T/session.err")"
SPID=$(iso exec s1 -- cat /tmp/pid)

# ---- the same sandbox: PID namespace, tmpfs, files, mounts ------------------------------------
run iso exec s1 -- cat /tmp/pid
is "$RUN_RC" 0 "exec runs a command in the running sandbox"
like "$RUN_OUT" '^[0-9]+$' "... which sees the session's /tmp (its tmpfs): /tmp/pid"
run iso exec s1 -- sh -c "test -d /proc/$SPID && cat /proc/$SPID/cmdline | tr '\\0' ' '"
like "$RUN_OUT" "^/bin/sh -c" "... and the session's command in its /proc: the same PID namespace"
run iso exec s1 -- ps
like "$RUN_OUT" "$SPID +[^ ]+ +/bin/sh -c" "ps in exec lists the session's command"
run iso exec s1 -- sh -c 'echo hello > /tmp/ping'
wait_until 10 iso exec s1 -- test -e /tmp/pong
run iso exec s1 -- cat /tmp/pong
is "$RUN_OUT" "pong to hello" "a file exec wrote is seen by the session's command, and its answer by exec"
run iso exec s1 -- sh -c 'echo kept > /root/from-exec'
run iso exec s1 -- cat /root/from-exec
is "$RUN_OUT" kept "a second exec sees the first's writes to the view"
for ns in user mnt pid ipc uts; do
	run iso exec s1 -- sh -c "[ \$(readlink /proc/self/ns/$ns) = \$(readlink /proc/$SPID/ns/$ns) ] && echo same"
	is "$RUN_OUT" same "exec's $ns namespace is the session command's"
done
run iso exec s1 -- sh -c "[ \"\$(cat /proc/self/cgroup)\" = \"\$(cat /proc/$SPID/cgroup)\" ] && echo same"
is "$RUN_OUT" same "... and so is its cgroup"

# ---- the same confinement as the first command -----------------------------------------------
run iso exec s1 -- grep -E '^(Seccomp|NoNewPrivs|CapEff|CapBnd):' /proc/self/status
like "$RUN_OUT" 'NoNewPrivs:[[:space:]]+1' "exec'd commands run with no_new_privs"
like "$RUN_OUT" 'Seccomp:[[:space:]]+2' "... under the seccomp filter"
# the session's set: the default one (rootless podman's), as the first command has it
like "$RUN_OUT" 'CapEff:[[:space:]]+00000000800405fb'$'\n' "... with the default capabilities, no more"
like "$RUN_OUT" 'CapBnd:[[:space:]]+00000000800405fb'$'\n' "... the same bounding set"
run iso exec s1 -- sh -c 'mount -o remount,rw /proc/sys 2>&1; echo rc=$?'
like "$RUN_OUT" 'rc=[1-9]' "... and cannot undo the sandbox's read-only mounts"

# ---- exit statuses, stdin, environment ------------------------------------------------------
run iso exec s1 -- sh -c 'exit 3'
is "$RUN_RC" 3 "the command's exit status is exec's (3)"
run iso exec s1 -- sh -c 'kill -TERM $$'
is "$RUN_RC" 143 "killed by SIGTERM: 128+15"
run iso exec s1 -- no-such-command
expect_refused "a command that does not exist" 127
like "$RUN_ERR" "no-such-command" "... named in the error"
run iso exec s1 -- /etc/passwd
expect_refused "a command that cannot be executed" 126
run iso exec -w /nonexistent s1 -- true
expect_refused "a working directory that does not exist" 125
run sh -c "printf 'line one\nline two\n' | '$ISOFS_BIN' --store '$STORE' exec -i s1 -- sh -c 'cat; echo done'"
is "$RUN_OUT" $'line one\nline two\ndone' "-i: stdin is forwarded to the command, then EOF"
run sh -c "echo unread | '$ISOFS_BIN' --store '$STORE' exec s1 -- cat"
is "$RUN_OUT" "" "without -i the command's stdin is /dev/null"
run iso exec -e FOO=bar -w /tmp -u 1000:1001 s1 -- sh -c 'echo "$FOO $(pwd) $(id -u):$(id -g)"'
is "$RUN_OUT" "bar /tmp 1000:1001" "-e, -w and -u apply"
run iso exec s1 sh -c 'echo without dashes'
is "$RUN_OUT" "without dashes" "the '--' before the command may be left out"

# ---- --json ---------------------------------------------------------------------------------------
run iso exec --json s1 -- sh -c 'echo out; echo err >&2; exit 5'
is "$RUN_RC" 5 "--json: exit status 5"
is "$(printf '%s\n' "$RUN_OUT" | "$PYTHON" -c '
import json, sys
f = [json.loads(l) for l in sys.stdin]
print(" ".join(x["type"] + ":" + (x.get("stream", "") + "=" + x.get("data", "").strip() if x["type"] == "log" else str(x["code"])) for x in f))')" \
	"log:stdout=out log:stderr=err exit:5" "--json: log frames for each stream, then one exit frame"
run iso exec --json s1 -- no-such-command
is "$RUN_RC" 127 "--json: a missing command exits 127"
like "$RUN_OUT" '"type":"error","code":127' "... with an error frame"
like "$RUN_OUT" '"type":"exit","code":127' "... and an exit frame"
run iso exec --json idle -- true
is "$RUN_RC" 125 "--json: nothing running gives 125"
like "$RUN_OUT" '"type":"error","code":125.*no command running' "... in an error frame"

# ---- -t: a pty of the sandbox's own -------------------------------------------------------------
run timeout 60 "$PYTHON" "$TESTS_DIR/pty-session.py" "$ISOFS_BIN" "$STORE" exec -t -i s1 -- /bin/sh
is "$RUN_RC" 0 "exec -t -i: a shell through a pty"
like "$RUN_OUT" $'/dev/pts/[0-9]+\n' "the shell's terminal is a pty of the sandbox's devpts"
like "$RUN_OUT" $'33 101\n' "the window size reached the sandbox's pty"
like "$RUN_OUT" $'\n42\n' "commands typed at the prompt run"
like "$RUN_OUT" 'STATUS 3' "the shell's exit status is exec's"

# ---- isofs ps ---------------------------------------------------------------------------------------
"$ISOFS_BIN" --store "$STORE" exec s1 -- sleep 100 >/dev/null 2>&1 &
execpid=$!
bg_track "$execpid"
wait_until 10 sh -c "'$ISOFS_BIN' --store '$STORE' exec s1 -- ps | grep -q 'sleep 100'"
run iso ps
is "$RUN_RC" 0 "isofs ps"
like "$RUN_OUT" '^NAME +IMAGE +PID +STARTED \(UTC\) +COMMAND' "a header"
like "$RUN_OUT" $'\ns1 +bb +[0-9]+ +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z +\\(init\\)' \
	"the sandbox, its image, the init's pid and start time"
like "$RUN_OUT" $'\n +[0-9]+ +[0-9T:Z-]+ +sleep 100' "the exec'd command, with its pid"
unlike "$RUN_OUT" 'idle' "a sandbox where nothing runs is not listed"
run iso ps --json
ok "ps --json parses" "$PYTHON" -c 'import json,sys; json.loads(sys.argv[1])' "$RUN_OUT"
is "$(ps_field s1 '(e["sandbox"], e["image"], e["ephemeral"], e["mountpoint"])')" "('s1', 'bb', False, None)" \
	"ps --json: sandbox, image, not ephemeral, its own view"
INIT=$(ps_field s1 'e["init"]["pid"]')
ok "the init's pid is a host process" running "$INIT"
is "$(awk '/^NSpid:/ { print $NF }' "/proc/$INIT/status")" 1 "... the sandbox's pid 1"
now=$(date +%s)
num "$(ps_field s1 'abs(e["init"]["started_unix"] - '"$now"')')" -lt 300 "... started just now (unix seconds)"
like "$(ps_field s1 'e["init"]["started"]')" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "... and in ISO 8601 UTC"
read -ra CMDPIDS <<<"$(ps_field s1 '" ".join(str(c["pid"]) for c in e["commands"])')"
hp=$(host_pid_of "$SPID" "${CMDPIDS[@]}")
isnt "${hp:-}" "" "the session's command is listed with its host pid"
is "$(ps_field s1 '[c["argv"][:2] for c in e["commands"] if c["pid"] == '"${hp:-0}"'][0]')" "['/bin/sh', '-c']" \
	"... and its command line"
is "$(ps_field s1 '[c["argv"] for c in e["commands"] if c["argv"][:1] == ["sleep"]][0]')" "['sleep', '100']" \
	"the exec'd command is listed with its argv"

# ---- an ephemeral sandbox: by the name ps shows ---------------------------------------------------
"$ISOFS_BIN" --store "$STORE" run bb -- sh -c 'echo ready; echo eph > /tmp/mark; sleep 60' >"$T/eph.out" 2>&1 &
eph=$!
bg_track "$eph"
wait_until 30 grep -q ready "$T/eph.out"
EPH=$(iso ps --json | "$PYTHON" -c 'import json,sys; print(" ".join(e["name"] for e in json.load(sys.stdin) if e["ephemeral"]))')
like "$EPH" '^bb-[a-z0-9]{6}$' "ps lists an ephemeral run by its generated name"
run iso exec "$EPH" -- cat /tmp/mark
is "$RUN_OUT" eph "exec reaches an ephemeral sandbox by that name"
kill "$eph"
wait "$eph" 2>/dev/null
wait_until 10 sh -c "! '$ISOFS_BIN' --store '$STORE' ps | grep -q '$EPH'"
run iso ps
unlike "$RUN_OUT" "$EPH" "... and no longer lists it once it ended"

# ---- the same in a sandbox over the kept view (run --ephemeral IMAGE), whose close does not wait ----
# for the namespaces' teardown: an exec'd command still running is killed and told so first
"$ISOFS_BIN" --store "$STORE" run --ephemeral bb -- sh -c \
	'echo ready; while [ ! -e /tmp/stop ]; do sleep 0.1; done; exit 7' >"$T/kv.out" 2>&1 &
kv=$!
bg_track "$kv"
if wait_until 30 grep -q ready "$T/kv.out"; then
	KV=$(iso ps --json | "$PYTHON" -c 'import json,sys; print(" ".join(e["name"] for e in json.load(sys.stdin) if e["ephemeral"]))')
	"$ISOFS_BIN" --store "$STORE" exec "$KV" -- sleep 61 &
	kvexec=$!
	bg_track "$kvexec"
	wait_until 10 sh -c "'$ISOFS_BIN' --store '$STORE' ps | grep -q 'sleep 61'"
	run iso exec "$KV" -- touch /tmp/stop
	wait "$kv"
	is "$?" 7 "a kept view's session: its command ends (exit 7)"
	wait "$kvexec"
	is "$?" 137 "... and an exec'd command still running is killed with the sandbox (137)"
	no_sleep61() { ! pgrep -f 'sleep 61' >/dev/null; }
	ok "... none of its processes is left when isofs run has returned" no_sleep61
	"$ISOFS_BIN" --store "$STORE" umount "$STORE/views/bb/root" 2>/dev/null
else
	for _ in 1 2 3; do skip "a kept view's session" "$(tail -1 "$T/kv.out")"; done
fi

# ---- the session ends: exec'd commands are killed, exec and ps refuse it -----------------------
run iso run --sandbox s1 -- true
is "$RUN_RC" 125 "a second run in the busy sandbox is refused"
like "$RUN_ERR" "isofs exec s1" "... pointing to isofs exec"
run iso exec s1 -- touch /tmp/stop
wait "$session"
is "$?" 7 "the session's command ends (exit 7)"
wait "$execpid"
is "$?" 137 "an exec'd command still running is killed with the sandbox (137)"
run iso ps
unlike "$RUN_OUT" $'\ns1 ' "ps no longer lists the sandbox"
run iso exec s1 -- true
expect_refused "exec once the session has ended" 125
like "$RUN_ERR" "no command running" "... says nothing runs there"
run iso exec idle -- true
expect_refused "exec into a sandbox where nothing runs" 125
run iso exec nosuch -- true
expect_refused "exec into a sandbox that does not exist" 125
like "$RUN_ERR" "no sandbox .*'nosuch'" "... says so"
run iso exec 'bad/name' -- true
expect_refused "an invalid sandbox name" 2
is "$(ls -A "$STORE/running")" "" "the session's socket and record are gone"

# ---- a killed session: a stale record is never listed, and cleaned ---------------------------
"$ISOFS_BIN" --store "$STORE" run --sandbox idle -- sh -c 'echo ready; sleep 60' >"$T/victim.out" 2>&1 &
victim=$!
bg_track "$victim"
wait_until 30 grep -q ready "$T/victim.out"
VINIT=$(ps_field idle 'e["init"]["pid"]')
kill -9 "$victim"
wait "$victim" 2>/dev/null
wait_until 10 sh -c "! kill -0 '${VINIT:-1}' 2>/dev/null"
ok "the killed session left its record behind" test -e "$STORE/running/idle.json"
run iso ps --json
is "$RUN_OUT" "[]" "ps does not list a session whose init is gone"
ok "... and removed its record" test ! -e "$STORE/running/idle.json"
run iso exec idle -- true
expect_refused "exec into a killed session" 125

# ---- a record the machine went down under (empty: renamed in without an fsync) -----------------
: >"$STORE/running/lost.json"
: >"$STORE/running/lost.sock"
touch -d '2000-01-01' "$STORE/running/lost.json"
: >"$STORE/running/fresh.json" # unreadable but of this boot: written by hand, left alone
run iso ps --json
is "$RUN_OUT" "[]" "ps lists no unreadable record"
ok "... removes one written before this boot" test ! -e "$STORE/running/lost.json"
ok "... with its socket" test ! -e "$STORE/running/lost.sock"
ok "... and leaves one of this boot" test -e "$STORE/running/fresh.json"
rm -f "$STORE/running/fresh.json"

# ---- isofs mount of an existing sandbox needs no IMAGE -----------------------------------------
mkdir -p "$T/mp"
run iso mount --sandbox s1 "$T/mp"
is "$RUN_RC" 0 "mount --sandbox NAME MOUNTPOINT, without the IMAGE"
is "$(cat "$T/mp/root/from-exec" 2>&1)" kept "the view shows what exec wrote into the sandbox"
run iso umount "$T/mp"
run iso mount --sandbox nosuch "$T/mp"
expect_refused "mount --sandbox of a sandbox that does not exist, without IMAGE"
like "$RUN_ERR" "IMAGE" "... asks for the IMAGE to create it"
run iso mount "$T/mp"
expect_refused "mount without IMAGE or --sandbox" 2

done_testing
