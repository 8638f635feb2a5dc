#!/bin/bash
# SPDX-License-Identifier: MIT
# image bootstrap --debian: as root, a bookworm minbase image from
# deb.debian.org made by debootstrap, in which dpkg and /bin/sh work; bad
# suites and mirrors fail cleanly.  Rootless: a clear one-line error that
# points to mmdebstrap.  Slow (minutes): suite 'slow'.
. "$(dirname "$0")/lib.sh"
setup_tmp

MIRROR=http://deb.debian.org/debian
mkdir src && echo x >src/f
run iso image import base src
is "$RUN_RC" 0 "a base image imports"
store_snapshot

if [ "$IS_ROOT" -eq 0 ]; then
	run iso image bootstrap deb --debian bookworm
	expect_refused "rootless: bootstrap --debian"
	like "$RUN_ERR" "needs root" "rootless: the error says debootstrap needs root"
	like "$RUN_ERR" "mmdebstrap" "rootless: the error points to mmdebstrap"
	expect_store_unchanged "rootless: bootstrap --debian"
	run iso image bootstrap deb --debian bookworm --mirror "$MIRROR"
	expect_refused "rootless: bootstrap --debian --mirror"
	expect_store_unchanged "rootless: bootstrap --debian --mirror"
	done_testing
fi

PATH=$PATH:/usr/sbin:/sbin command -v debootstrap >/dev/null || skip_all "debootstrap is not installed"

# ---- failures (fast) -----------------------------------------------------------------------

run iso image bootstrap deb --debian Bookworm
expect_refused "an invalid suite name"
like "$RUN_ERR" "invalid Debian suite 'Bookworm'" "an invalid suite name: says so"
expect_store_unchanged "an invalid suite name"

run iso image bootstrap deb --debian no-such-suite
expect_refused "a suite debootstrap does not know"
like "$RUN_ERR" "debootstrap no-such-suite failed" "a suite debootstrap does not know: says debootstrap failed"
expect_store_unchanged "a suite debootstrap does not know"

run iso image bootstrap deb --debian bookworm --mirror http://127.0.0.1:9/debian
expect_refused "an unreachable mirror"
expect_store_unchanged "an unreachable mirror"

# ---- the real thing --------------------------------------------------------------------------

if ! timeout 30 "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/dists/bookworm/Release", timeout=20).read(100)' "$MIRROR" 2>/dev/null; then
	skip "bootstrap bookworm from $MIRROR" "the mirror is unreachable from here"
	done_testing
fi

ISOFS_TEST_TIMEOUT=900 run iso image bootstrap deb --debian bookworm
is "$RUN_RC" 0 "bootstrap --debian bookworm succeeds"
[ "$RUN_RC" -eq 0 ] || diag "$RUN_ERR"
is "$RUN_OUT" "bootstrapped image 'deb': Debian bookworm (minbase)" "the summary line"
R=$STORE/images/deb/rootfs
like "$(cat "$R/etc/debian_version" 2>&1)" '^12\.' "etc/debian_version says 12.x"
installed=$(timeout 60 chroot "$R" dpkg -l 2>/dev/null | grep -c '^ii')
num "$installed" -gt 50 "dpkg -l in the image lists $installed installed packages (> 50)"
run timeout 60 chroot "$R" /bin/sh -c 'echo ok'
is "$RUN_OUT" ok "/bin/sh -c 'echo ok' runs in the image"
run iso image inspect deb
like "$RUN_OUT" '"source":[[:space:]]*"debian:bookworm"' "inspect: source is debian:bookworm"
files=$(printf '%s' "$RUN_OUT" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["files"])')
num "$files" -gt 3000 "inspect: $files entries"
is "$(image_names | tr '\n' ' ')" "base deb " "ls shows it"
ok "STORE/tmp is empty (the debootstrap log went with it)" tmp_is_empty

done_testing
