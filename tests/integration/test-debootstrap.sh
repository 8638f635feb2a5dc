#!/bin/bash
# SPDX-License-Identifier: MIT
# image bootstrap --debian: a bookworm minbase image from deb.debian.org made
# by debootstrap (root) or mmdebstrap --mode=unshare (rootless), in which dpkg
# and /bin/sh work; bad suites and mirrors fail cleanly.  Then the
# dev-environment scenario: apt-get install in a persistent sandbox with no
# capability flag (the default set is enough), commit, a new sandbox of the
# committed image has the package and dpkg --verify is clean; as root, apt
# with one id mapped too.  Slow (minutes): suite 'slow'.
. "$(dirname "$0")/lib.sh"
setup_tmp

MIRROR=http://deb.debian.org/debian
mkdir src && echo x >src/f
run iso image import base src
is "$RUN_RC" 0 "a base image imports"
store_snapshot

if [ "$IS_ROOT" -eq 1 ]; then
	PATH=$PATH:/usr/sbin:/sbin command -v debootstrap >/dev/null || skip_all "debootstrap is not installed"
	TOOL=debootstrap
else
	command -v mmdebstrap >/dev/null || skip_all "mmdebstrap is not installed"
	grep -q "^$(id -un):" /etc/subuid || skip_all "no subordinate ids for $(id -un) (mmdebstrap --mode=unshare)"
	TOOL=mmdebstrap
fi

# ---- failures (fast) -----------------------------------------------------------------------

run iso image bootstrap deb --debian Bookworm
expect_refused "an invalid suite name"
like "$RUN_ERR" "invalid Debian suite 'Bookworm'" "an invalid suite name: says so"
expect_store_unchanged "an invalid suite name"

run iso image bootstrap deb --debian no-such-suite
expect_refused "a suite debootstrap does not know"
like "$RUN_ERR" "$TOOL no-such-suite failed" "a suite $TOOL does not know: says $TOOL failed"
expect_store_unchanged "a suite debootstrap does not know"

run iso image bootstrap deb --debian bookworm --mirror http://127.0.0.1:9/debian
expect_refused "an unreachable mirror"
expect_store_unchanged "an unreachable mirror"

# ---- the real thing --------------------------------------------------------------------------

if ! timeout 30 "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/dists/bookworm/Release", timeout=20).read(100)' "$MIRROR" 2>/dev/null; then
	skip "bootstrap bookworm from $MIRROR" "the mirror is unreachable from here"
	done_testing
fi

# Killed in the middle: the tool dies with isofs, and its directory is cleaned only once nothing of it runs.
"$ISOFS_BIN" --store "$STORE" image bootstrap killed --debian bookworm >/dev/null 2>&1 &
boot=$!
bg_track "$boot"
tool_pids() { pgrep -f "$TOOL.*bookworm" | while read -r p; do [ "$(stat -c %u /proc/"$p" 2>/dev/null)" = "$(id -u)" ] && echo "$p"; done; }
wait_until 120 eval '[ -n "$(tool_pids)" ]'
sleep 3 # well into its work
kill -9 "$boot"
wait "$boot" 2>/dev/null
wait_until 10 eval '[ -z "$(tool_pids)" ]'
is "$(tool_pids | wc -l)" 0 "SIGKILL of isofs during bootstrap --debian: $TOOL dies with it"
wait_until 300 eval 'iso image ls >/dev/null; tmp_is_empty'
ok "... and its temporary directory is cleaned by a later command" tmp_is_empty
nok "... and no image was made" test -e "$STORE/images/killed"

if [ "$TOOL" = debootstrap ]; then
	# on a terminal (script(1)'s pty): debootstrap's stages, a line each, then the summary
	ISOFS_TEST_TIMEOUT=900 run script -qefc "'$ISOFS_BIN' --store '$STORE' image bootstrap deb --debian bookworm" /dev/null
	is "$RUN_RC" 0 "bootstrap --debian bookworm succeeds"
	[ "$RUN_RC" -eq 0 ] || diag "$RUN_ERR"
	like "$RUN_OUT" 'debootstrap: Retrieving InRelease' "on a terminal, debootstrap's stages show as they come"
	like "$RUN_OUT" 'debootstrap: (Installing|Configuring) ' "... to the last ones"
	like "$RUN_OUT" "bootstrapped image 'deb': Debian bookworm \\(minbase\\)" "the summary line"
else
	ISOFS_TEST_TIMEOUT=900 run iso image bootstrap deb --debian bookworm
	is "$RUN_RC" 0 "bootstrap --debian bookworm succeeds"
	[ "$RUN_RC" -eq 0 ] || diag "$RUN_ERR"
	is "$RUN_OUT" "bootstrapped image 'deb': Debian bookworm (minbase)" "the summary line"
fi
R=$STORE/images/deb/rootfs
like "$(cat "$R/etc/debian_version" 2>&1)" '^12\.' "etc/debian_version says 12.x"
installed=$(iso run deb -- dpkg -l 2>/dev/null | grep -c '^ii')
num "$installed" -gt 50 "dpkg -l in the image lists $installed installed packages (> 50)"
run iso run deb -- /bin/sh -c 'echo ok'
is "$RUN_OUT" ok "/bin/sh -c 'echo ok' runs in the image"
run iso image inspect deb
if [ "$IS_ROOT" -eq 1 ]; then
	like "$RUN_OUT" '"source":[[:space:]]*"debian:bookworm"' "inspect: source is debian:bookworm"
fi
files=$(printf '%s' "$RUN_OUT" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["files"])')
num "$files" -gt 3000 "inspect: $files entries"
is "$(image_names | tr '\n' ' ')" "base deb " "ls shows it"
ok "STORE/tmp is empty (the debootstrap log went with it)" tmp_is_empty

# ---- a dev environment: apt in a sandbox, commit, a new sandbox of it ---------------------------
# apt and dpkg need what root has on a real system (ownership, permissions,
# setuid to _apt): the default capabilities, without a flag.
APT_HELLO='apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends hello >/dev/null && hello'
run iso run --cap-drop ALL deb -- apt-get update -qq
like "$RUN_ERR" 'setgroups 65534 failed' "--cap-drop ALL: apt-get update fails dropping to _apt (the issue's symptom)"
run iso sandbox create dev deb
is "$RUN_RC" 0 "a persistent sandbox of the Debian image"
ISOFS_TEST_TIMEOUT=600 run iso run --sandbox dev -- /bin/sh -c "$APT_HELLO"
is "$RUN_RC" 0 "apt-get update && apt-get install hello in the sandbox, no capability flag"
[ "$RUN_RC" -eq 0 ] || diag "$RUN_ERR"
is "$(echo "$RUN_OUT" | tail -1)" "Hello, world!" "the installed program runs"
run iso sandbox diff dev
like "$RUN_OUT" 'A /usr/bin/hello' "sandbox diff shows the installed file"
run iso sandbox commit dev deb-hello
is "$RUN_RC" 0 "commit the sandbox as an image"
run iso sandbox create dev2 deb-hello
run iso run --sandbox dev2 -- /bin/sh -c 'hello; dpkg --verify hello; echo verify=$?; dpkg -s hello | grep ^Status'
is "$RUN_OUT" $'Hello, world!\nverify=0\nStatus: install ok installed' \
	"a new sandbox of the committed image has the package, and dpkg --verify is clean"
run iso image inspect deb-hello
like "$RUN_OUT" '"parent":[[:space:]]*"deb"' "the committed image is a layer on the Debian image"

# One id mapped (a uid without a name, so without a subordinate range):
# setgroups is denied and _apt is not mapped, so apt must not drop to it.
if [ "$IS_ROOT" -eq 1 ]; then
	lone=61999
	while getent passwd "$lone" >/dev/null || getent group "$lone" >/dev/null; do lone=$((lone + 1)); done
	mkdir -p "$T/lone" && chown "$lone:$lone" "$T/lone"
	as_lone() { timeout -k 10 600 setpriv --reuid="$lone" --regid="$lone" --clear-groups -- \
		env HOME="$T/lone" "$ISOFS_BIN" --store "$T/lone/store" "$@"; }
	run iso image export deb "$T/lone/deb.tar"
	chown "$lone" "$T/lone/deb.tar"
	run as_lone image import deb "$T/lone/deb.tar"
	is "$RUN_RC" 0 "one id: the image imports (uid $lone)"
	run as_lone run deb -- apt-get update -qq
	like "$RUN_ERR" 'setgroups 65534 failed' "one id: apt-get update cannot drop to _apt"
	run as_lone run deb -- /bin/sh -c "${APT_HELLO//apt-get /apt-get -o APT::Sandbox::User=root }"
	is "$RUN_RC" 0 "one id: with -o APT::Sandbox::User=root, apt-get update and install work"
	is "$(echo "$RUN_OUT" | tail -1)" "Hello, world!" "... and hello runs"
fi

done_testing
