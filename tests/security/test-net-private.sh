#!/bin/bash
# SPDX-License-Identifier: MIT
# --net=private (issue 14): the sandbox's own network namespace, connected by
# slirp4netns.  A server on the host's loopback is reached through the
# gateway 10.0.2.2 only, never as the sandbox's own 127.0.0.1; an abstract
# unix socket of the host — the canary's text behind it — is unreachable (and,
# as a control, reachable with the default shared network).  Without
# slirp4netns the error says what to install, and nothing is left behind.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-security.sh"
setup_tmp
plant_canary
: "${ISOFS_SYS_PROBE:=$(dirname "$ISOFS_BIN")/../tests/security/sys-probe}"

command -v slirp4netns >/dev/null || skip_all "slirp4netns is not installed (Debian package slirp4netns)"
[ -r /dev/net/tun ] && [ -w /dev/net/tun ] || skip_all "/dev/net/tun is not open to this user"

run iso image bootstrap bb --busybox
[ "$RUN_RC" -eq 0 ] || bail_out "bootstrap failed: $RUN_ERR"
mkdir -p "$T/probe" && cp "$ISOFS_SYS_PROBE" "$T/probe/sys-probe" && chmod 0755 "$T/probe" "$T/probe/sys-probe"
PROBE=(--bind "$T/probe:/probe:ro")

# A server on the host's loopback, answering one line: the canary's text.
port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
abstract="isofs-net-canary-$$-$RANDOM"
"$PYTHON" - "$port" "$abstract" "$CANARY_TEXT" <<'PY' &
import socket, sys, threading
port, name, text = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def serve(sock):
    while True:
        c, _ = sock.accept()
        c.sendall((text + "\n").encode())
        c.close()
tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", port)); tcp.listen(8)
unix = socket.socket(socket.AF_UNIX); unix.bind("\0" + name); unix.listen(8)
threading.Thread(target=serve, args=(unix,), daemon=True).start()
serve(tcp)
PY
server=$!
at_cleanup "kill $server 2>/dev/null"
wait_until 10 "$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" || bail_out "the host server did not start"

# control: the shared network reaches both
run iso run "${PROBE[@]}" bb -- sh -c "nc -w 3 127.0.0.1 $port; /probe/sys-probe connect-abstract $abstract"
like "$RUN_OUT" "$CANARY_TEXT.*$CANARY_TEXT" "control: the default shared network reaches the host's loopback and abstract socket"

run iso run --net=private bb -- sh -c 'ip -4 addr show tap0 | grep -o "inet [0-9./]*"; ip route | grep default; cat /etc/resolv.conf'
is "$RUN_RC" 0 "--net=private: the sandbox starts"
like "$RUN_OUT" 'inet 10\.0\.2\.100/24' "... with tap0 10.0.2.100/24"
like "$RUN_OUT" 'default via 10\.0\.2\.2' "... its default route the gateway"
like "$RUN_OUT" 'nameserver 10\.0\.2\.3' "... and slirp4netns's DNS"
run iso run --net=private bb -- sh -c "nc -w 3 10.0.2.2 $port"
like "$RUN_OUT" "$CANARY_TEXT" "the host's loopback server is reached through the gateway"
run iso run --net=private bb -- sh -c "nc -w 3 127.0.0.1 $port; echo rc=\$?"
no_canary "the sandbox's 127.0.0.1 is its own" "$RUN_OUT" "$RUN_ERR"
run iso run --net=private "${PROBE[@]}" bb -- /probe/sys-probe connect-abstract "$abstract"
isnt "$RUN_RC" 0 "the host's abstract unix socket cannot be reached"
no_canary "... and says nothing" "$RUN_OUT" "$RUN_ERR"
run iso run --net=private --dns 192.0.2.53 bb -- cat /etc/resolv.conf
like "$RUN_OUT" 'nameserver 192\.0\.2\.53' "--net=private --dns: the given server"

# without slirp4netns: one line saying what to install, nothing left behind
mkdir -p "$T/nobin"
for t in sh newuidmap newgidmap fusermount3 fusermount; do
	p=$(command -v "$t") && ln -sf "$p" "$T/nobin/$t"
done
run env PATH="$T/nobin" "$ISOFS_BIN" --store "$STORE" run --net=private bb -- true
is "$RUN_RC" 125 "--net=private without slirp4netns: exit 125"
like "$RUN_ERR" 'slirp4netns \(Debian package slirp4netns\)' "... naming the package"
is "$RUN_ERR_LINES" 1 "... in one line"
ok "STORE/tmp is empty" tmp_is_empty
run iso run --net=bogus bb -- true
is "$RUN_RC" 2 "--net=bogus: usage error"

done_testing
