import os, pty, sys, time, select, struct, fcntl, termios
isofs, store = sys.argv[1], sys.argv[2]
# An interactive shell in a sandbox through a real pty (what a terminal user gets);
# further arguments replace `run -t -i bb -- /bin/sh` (`exec -t -i s1 -- /bin/sh`).
command = sys.argv[3:] or ["run", "-t", "-i", "bb", "--", "/bin/sh"]
pid, fd = pty.fork()
if pid == 0:
    os.execv(isofs, [isofs, "--store", store] + command)
# set a window size on our side: isofs forwards it to the sandbox's pty
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
out = b""
def read_until(token, timeout=10):
    global out
    end = time.time() + timeout
    while token not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return token in out
read_until(b"#")
os.write(fd, b"tty; stty size; echo $((6*7))\n")
read_until(b"42")
os.write(fd, b"exit 3\n")
_, status = os.waitpid(pid, 0)
read_until(b"never", 0.5)
print(out.decode(errors="replace").replace("\r", ""))
print("STATUS", os.waitstatus_to_exitcode(status))
