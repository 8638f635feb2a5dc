# SPDX-License-Identifier: MIT
# A raw client of a sandbox's exec socket (STORE/running/ID.sock), speaking the
# init's control messages (core/ctl.h) without isofs: it prints what the init
# answers, then asks it to run argv with our stdin, stdout and stderr anyway.
#   exec-client.py SOCKET CMD [ARG...]
import array, socket, struct, sys

CTL = {1: "READY", 2: "FAILED", 3: "EXEC", 4: "STARTED", 5: "EXEC_FAILED", 6: "EXITED"}
HEADER = "=IiiI"  # type, a, b, payload length


def recv(s):
    try:
        data, _, _, _ = s.recvmsg(1 << 16, socket.CMSG_SPACE(4 * 4))
    except (OSError, socket.timeout) as e:
        return "error " + (e.strerror or "timeout")
    if not data:
        return "EOF"
    t, a, _, n = struct.unpack(HEADER, data[:16])
    return "%s %d %s" % (CTL.get(t, t), a, data[16:16 + n].decode(errors="replace"))


s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect:", e.strerror)
    sys.exit(0)
s.settimeout(10)
print("first:", recv(s), flush=True)
argv = sys.argv[2:]
payload = struct.pack("=IIIIII", 1, 0, 0, len(argv), 0, 0) + b"".join(a.encode() + b"\0" for a in argv)
try:
    s.sendmsg([struct.pack(HEADER, 3, 0, 0, len(payload)) + payload],
               [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
except OSError as e:
    print("send:", e.strerror)
    sys.exit(0)
for _ in range(3):
    m = recv(s)
    print("then:", m, flush=True)
    if m == "EOF" or m.startswith(("error", "EXITED", "EXEC_FAILED")):
        break
