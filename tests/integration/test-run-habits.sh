#!/bin/bash
# SPDX-License-Identifier: MIT
# Podman habits `isofs run` takes (issue 14): IMAGE CMD… without "--"
# (options before IMAGE), -e VAR passing the caller's value, --env-file, -v as
# --bind (ro, rw, z, Z), -u NAME[:GROUP] looked up in the image; and a plain
# directory as the target: the read-only lower of an ephemeral sandbox, never
# written — unless --in-place, which is refused for the store's own directories.
. "$(dirname "$0")/lib.sh"
setup_tmp

"$PYTHON" "$(dirname "$0")/oci_image.py" "$T/layout" || bail_out "oci_image.py failed"
run iso image import img "$T/layout"
[ "$RUN_RC" -eq 0 ] || bail_out "import failed: $RUN_ERR"

# ---- IMAGE CMD… without "--" ----
run iso run --user 0 img echo hello world
is "$RUN_OUT" "hello world" "run IMAGE CMD ARG… without --"
run iso run --user 0 img sh -c 'echo $0 $1' a -x
is "$RUN_OUT" "a -x" "options after the command are the command's"
run iso run --user 0 img echo a -- b
is "$RUN_OUT" "a -- b" "a '--' after the command is the command's"
run iso run --user 0 img -- echo -- c
is "$RUN_OUT" "-- c" "IMAGE -- CMD: the first '--' after the target ends isofs's words, the next is the command's"
run iso run --user 0 --sandbox nosuch echo x
expect_refused "--sandbox NAME CMD: the sandbox must exist" 125
run iso sandbox create sb img
run iso run --user 0 --sandbox sb echo in the sandbox
is "$RUN_OUT" "in the sandbox" "--sandbox NAME CMD… without --: every word is the command"
run iso run --user 0 --sandbox sb echo x -- y
is "$RUN_OUT" "x -- y" "--sandbox NAME CMD … -- …: the '--' is the command's"

# ---- environment ----
export ISOFS_T_VAR="from the caller" ISOFS_T_OTHER=other
unset ISOFS_T_UNSET
run iso run -e ISOFS_T_VAR -e ISOFS_T_UNSET -e X=1 img sh -c 'echo "$ISOFS_T_VAR|${ISOFS_T_UNSET-unset}|$X"'
is "$RUN_OUT" "from the caller|unset|1" "-e VAR passes the caller's value; an unset one is left out"
printf '# a comment\n\nA=file\n  B=file\nISOFS_T_OTHER\nGREETING=from-file\n' >"$T/env"
run iso run --env-file "$T/env" -e A=option img sh -c 'echo "$A $B $ISOFS_T_OTHER $GREETING"'
is "$RUN_OUT" "option file other from-file" "--env-file: K=V, K, comments; -e wins over it, it over the image's Env"
printf 'OK=1\nnot a variable=2\n' >"$T/badenv"
run iso run --env-file "$T/badenv" img true
expect_refused "--env-file with a bad line" 2
like "$RUN_ERR" "line 2" "... the error names the line"
run iso run --env-file "$T/nosuch" img true
expect_refused "--env-file that does not exist" 2
run iso run -e '1X=2' img true
expect_refused "-e with a bad name" 2

# ---- -v ----
mkdir -p "$T/vol" && echo vol >"$T/vol/f"
run iso run --user 0 -v "$T/vol:/mnt/v" img sh -c 'cat /mnt/v/f && echo new > /mnt/v/g'
is "$RUN_OUT" "vol" "-v HOST:SANDBOX binds"
is "$(cat "$T/vol/g" 2>/dev/null)" "new" "-v is read-write by default"
run iso run --user 0 -v "$T/vol:/mnt/v:ro,Z" img sh -c 'cat /mnt/v/f; echo x > /mnt/v/h'
isnt "$RUN_RC" 0 "-v …:ro,Z: read-only (Z accepted)"
ok "nothing written through :ro" test ! -e "$T/vol/h"
run iso run -v myvolume:/data img true
expect_refused "-v with a named volume" 2
run iso run -v "$T/vol:/mnt/v:bogus" img true
is "$RUN_RC" 125 "-v with an unknown option: refused"
like "$RUN_ERR" "unknown option 'bogus'" "... named"

# ---- -u NAME ----
run iso run -u user img id
is "$RUN_OUT" "uid=1000(user) gid=1000(user)" "-u NAME: from the image's /etc/passwd"
run iso run -u user:root img id
is "$RUN_OUT" "uid=1000(user) gid=0(root)" "-u NAME:GROUP: the group from /etc/group"
run iso run -u 0:user img id
is "$RUN_OUT" "uid=0(root) gid=1000(user)" "-u UID:GROUP"
run iso run -u nosuch img id
is "$RUN_RC" 125 "-u with a name the image lacks: refused"
like "$RUN_ERR" "user 'nosuch' is not in the image's /etc/passwd" "... named"

# ---- exec into a container image's sandbox: its Env, WorkingDir and User apply ----
iso run --user 0 --sandbox sb sh -c 'touch /tmp/up; until [ -e /tmp/stop ]; do sleep 0.1; done' >/dev/null 2>&1 &
bg_track $!
if wait_until 20 iso exec sb -- test -e /tmp/up; then
	run iso exec sb -- sh -c 'echo "$GREETING $(pwd) $(id -u):$(id -g)"'
	is "$RUN_OUT" "hello /data 1000:1000" "exec: the image's Env, WorkingDir and User, as podman exec"
	run iso exec -u root -w / -e GREETING=bye sb -- sh -c 'echo "$GREETING $(pwd) $(id -un)"'
	is "$RUN_OUT" "bye / root" "exec -u NAME -w -e: they win"
	run env ISOFS_T_VAR=passed "$ISOFS_BIN" --store "$STORE" exec -e ISOFS_T_VAR sb -- sh -c 'echo "$ISOFS_T_VAR"'
	is "$RUN_OUT" "passed" "exec -e VAR: the caller's value"
	iso exec -u 0 sb -- touch /tmp/stop
	wait_until 20 eval '! iso exec sb -- true 2>/dev/null'
else
	fail "exec: the sandbox's first command did not start"
fi

# ---- a plain directory: copy-on-write, never written in place ----
mkdir -p "$T/dir/bin" && cp /bin/busybox "$T/dir/bin/" && ln -s busybox "$T/dir/bin/sh" && echo orig >"$T/dir/f"
before=$(cd "$T/dir" && find . -printf '%P %y %m %s %T@\n' | sort && cat f)
run iso run "$T/dir" /bin/sh -c 'echo changed > /f; /bin/busybox cat /f; /bin/busybox mkdir /new; /bin/busybox rm /bin/sh'
is "$RUN_OUT" "changed" "run DIR: the command writes in its view"
is "$(cd "$T/dir" && find . -printf '%P %y %m %s %T@\n' | sort && cat f)" "$before" "run DIR: the directory is untouched"
run iso run --in-place "$T/dir" -- /bin/sh -c 'echo in-place > /f'
is "$(cat "$T/dir/f")" "in-place" "run --in-place DIR writes into it"
run iso run --in-place "$STORE/images/img" -- /bin/sh -c true
is "$RUN_RC" 125 "--in-place on a directory of the store: refused"
like "$RUN_ERR" "is in the store" "... said so"
run iso run --in-place img true
expect_refused "--in-place with an IMAGE" 2
run iso run -u user "$T/dir" /bin/sh -c true
is "$RUN_RC" 125 "-u NAME with a directory (no image to look it up in): refused"
ok "STORE/tmp is empty" tmp_is_empty

done_testing
