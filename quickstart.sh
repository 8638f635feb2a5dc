#!/bin/bash
# The quick start: installs what isofs needs (Debian packages), builds it,
# bootstraps the default busybox image and runs a command in a sandbox of it.  Run as root
# (sudo ./quickstart.sh) or as a user with sudo for the package step.
set -euo pipefail
cd "$(dirname "$0")"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
missing=$(grep -v '^#' .ci/packages | while read -r p; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"
done)
if [ -n "$missing" ]; then
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
	# shellcheck disable=SC2086
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
isofs=build/cli/isofs

$isofs image inspect busybox >/dev/null 2>&1 || $isofs image bootstrap busybox --busybox
$isofs image ls
echo
echo "A command in an ephemeral sandbox of it (every write discarded):"
$isofs run busybox -- /bin/sh -c 'echo "hello from $(hostname), pid $$, uid $(id -u)"; echo scratch > /etc/motd; ls /'
