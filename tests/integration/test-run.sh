#!/bin/bash
# isofs run: namespaces, the root it builds, privileges, the process model,
# exit codes, signals, ephemeral and persistent sandboxes, binds.
. "$(dirname "$0")/lib.sh"
setup_tmp

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true
store_snapshot

# in CMD…: runs a shell command in a fresh ephemeral sandbox of bb
in_bb() { iso run "$@"; }
sh_bb() { iso run bb -- /bin/sh -c "$1"; }

# ---- namespaces -----------------------------------------------------------------
for ns in user mnt pid ipc uts; do
	host=$(readlink "/proc/self/ns/$ns")
	run sh_bb "readlink /proc/self/ns/$ns"
	is "$RUN_RC" 0 "read the $ns namespace inside"
	isnt "$RUN_OUT" "$host" "the $ns namespace differs from the host's"
done
run sh_bb 'readlink /proc/self/ns/net'
is "$RUN_OUT" "$(readlink /proc/self/ns/net)" "the network is shared by default"
run iso run --net=none bb -- /bin/sh -c 'readlink /proc/self/ns/net; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "; ifconfig lo | grep -c UP'
isnt "$(echo "$RUN_OUT" | head -1)" "$(readlink /proc/self/ns/net)" "--net=none: a network namespace of its own"
is "$(echo "$RUN_OUT" | sed -n 2,3p)" $'lo\n1' "--net=none: only loopback, and it is up"

# ---- ids ------------------------------------------------------------------------
run sh_bb 'id -u; id -g; cat /proc/self/uid_map | wc -l'
is "$(echo "$RUN_OUT" | head -2 | tr '\n' ' ')" "0 0 " "the caller is root in the sandbox"
if [ "$IS_ROOT" -eq 1 ] || grep -q "^$(id -un):" /etc/subuid 2>/dev/null; then
	run sh_bb 'cat /proc/self/uid_map'
	like "$RUN_OUT" '65536|65535' "a range of 65536 ids is mapped"
	run iso run bb -- /bin/sh -c 'mkdir /tmp/d /root/d && chown 1000:1000 /tmp/d /root/d && stat -c %u:%g /tmp/d /root/d'
	is "$RUN_OUT" $'1000:1000\n1000:1000' "chown to another id works (CAP_CHOWN by default; tmpfs and the overlay)"
fi

# The caller's umask alone shapes new modes (the overlay server's own is not applied again).
run sh_bb 'umask 0; mkdir /d /tmp/d2; touch /f; mkfifo /p; umask 027; mkdir /e; touch /g; stat -c %a /d /f /p /e /g'
is "$(echo "$RUN_OUT" | tr '\n' ' ')" "777 666 666 750 640 " "new modes under umask 0 and 027 are the kernel's (777 666 666, 750 640)"

# One id when the user has no subordinate range: said once on stderr, and it still works.
if [ "$IS_ROOT" -eq 1 ] && command -v useradd >/dev/null; then
	nosub=isofs-nosub$$
	if useradd -M -N -s /bin/sh "$nosub" 2>/dev/null; then
		at_cleanup "userdel '$nosub'"
		usermod --del-subuids 1-4294967294 --del-subgids 1-4294967294 "$nosub" 2>/dev/null
		sed -i "/^$nosub:/d" /etc/subuid /etc/subgid 2>/dev/null
		mkdir -p "$T/nosub" && chown "$nosub" "$T/nosub"
		run setpriv --reuid="$nosub" --regid="$(id -g "$nosub")" --clear-groups env HOME="$T/nosub" \
			"$ISOFS_BIN" --store "$T/nosub/store" image bootstrap b1 --busybox
		run setpriv --reuid="$nosub" --regid="$(id -g "$nosub")" --clear-groups env HOME="$T/nosub" \
			"$ISOFS_BIN" --store "$T/nosub/store" run b1 -- /bin/sh -c 'id -u; cat /proc/self/uid_map | wc -l; cat /proc/self/setgroups'
		is "$RUN_OUT" $'0\n1\ndeny' "a user without a subordinate range: one id mapped, setgroups denied"
		like "$RUN_ERR" '^isofs: one id mapped \(no range' "... said once on stderr"
		is "$RUN_ERR_LINES" 1 "... in one line"
	fi
fi

# The old root is detached: nothing of the host's mount table is left inside.
run sh_bb 'cat /proc/self/mountinfo'
unlike "$RUN_OUT" "$STORE" "the host's mounts (the store) are not in the sandbox's mount table"
unlike "$RUN_OUT" ' /tmp/root ' "... nor the staging root"

# ---- pid 1, reaping ----------------------------------------------------------------
run sh_bb 'echo $$; cat /proc/1/comm'
is "$RUN_OUT" $'2\nisofs' "the command is pid 2; pid 1 is the sandbox's init"
run sh_bb '(sh -c "sleep 0.1 & exit 0"); sleep 0.5; ps -o stat,pid | grep -c "^Z" || true'
is "$(echo "$RUN_OUT" | tail -1)" 0 "orphaned children are reaped (no zombies)"

# ---- /proc --------------------------------------------------------------------------
run sh_bb 'stat -f -c %T /proc'
is "$RUN_OUT" proc "a fresh proc"
for f in kcore keys timer_list sched_debug latency_stats timer_stats; do
	if [ -e "/proc/$f" ]; then
		run sh_bb "stat -c %t:%T /proc/$f; cat /proc/$f | wc -c"
		is "$RUN_OUT" $'1:3\n0' "/proc/$f is masked (/dev/null)"
	fi
done
for d in acpi scsi asound; do
	if [ -d "/proc/$d" ]; then
		run sh_bb "ls -A /proc/$d | wc -l; touch /proc/$d/x"
		is "$(echo "$RUN_OUT" | head -1)" 0 "/proc/$d is masked (empty)"
	fi
done
run sh_bb 'echo x > /proc/sys/kernel/hostname'
isnt "$RUN_RC" 0 "/proc/sys is read-only"
like "$RUN_ERR" "Read-only file system" "... EROFS"
run sh_bb 'echo 1 > /proc/sysrq-trigger'
isnt "$RUN_RC" 0 "/proc/sysrq-trigger is read-only"

# ---- /dev, /tmp -----------------------------------------------------------------------
run sh_bb 'for n in null zero full random urandom tty; do stat -c "%n %t:%T" /dev/$n; done'
is "$RUN_OUT" $'/dev/null 1:3\n/dev/zero 1:5\n/dev/full 1:7\n/dev/random 1:8\n/dev/urandom 1:9\n/dev/tty 5:0' \
	"/dev holds the usual nodes (major:minor)"
run sh_bb 'stat -f -c %T /dev /dev/shm /tmp; stat -c %a /tmp /dev/shm; ls /dev/pts/ptmx; for l in fd stdin ptmx; do readlink /dev/$l; done'
is "$RUN_OUT" $'tmpfs\ntmpfs\ntmpfs\n1777\n1777\n/dev/pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\npts/ptmx' \
	"/dev, /dev/shm and /tmp are tmpfs; devpts with ptmx; the fd links"
run sh_bb 'mknod /tmp/n c 1 3'
isnt "$RUN_RC" 0 "mknod of a device is refused"
run sh_bb 'echo hi > /dev/null && head -c 4 /dev/zero | wc -c && echo x > /dev/full'
is "$(echo "$RUN_OUT" | head -1)" 4 "/dev/zero reads"
like "$RUN_ERR" "No space left" "/dev/full is full"

# ---- privileges ------------------------------------------------------------------------
run sh_bb 'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)" /proc/self/status | tr -s "\t " " "'
is "$RUN_OUT" $'CapInh: 0000000000000000\nCapPrm: 00000000800405fb\nCapEff: 00000000800405fb\nCapBnd: 00000000800405fb\nCapAmb: 0000000000000000\nNoNewPrivs: 1' \
	"podman's default capabilities (test-caps.sh decodes them), no_new_privs set"
run iso run --cap-drop ALL --cap-add CAP_NET_RAW bb -- /bin/sh -c 'grep CapEff /proc/self/status'
is "$RUN_OUT" "CapEff:	0000000000002000" "--cap-drop ALL --cap-add keeps that capability only"
run iso run --cap-add NOT_A_CAP bb -- true
is "$RUN_RC" 125 "an unknown capability is a setup error (125)"
run sh_bb 'ls /proc/self/fd | sort -n | tr "\n" " "'
is "$RUN_OUT" "0 1 2 3 " "no fd but 0-2 reaches the command (3 is ls's own)"
run sh_bb 'ps -o sid,pid | awk "\$2 == 2 { print \$1 }"'
is "$RUN_OUT" 2 "the command leads a session of its own (setsid)"
export FOO=leak
run iso run bb -- /bin/sh -c 'env | cut -d= -f1 | sort | tr "\n" " "'
unset FOO
unlike "$RUN_OUT" FOO "the caller's environment does not leak in"
like "$RUN_OUT" 'HOME HOSTNAME PATH PWD' "a clean environment: PATH, HOME, HOSTNAME"

# ---- options ----------------------------------------------------------------------------
run iso run --hostname box1 -e A=1 -e B=two -w /etc -u 1000:1001 bb -- /bin/sh -c 'hostname; echo $A $B; pwd; id -u; id -g'
is "$RUN_OUT" $'box1\n1 two\n/etc\n1000\n1001' "--hostname, --env, --workdir, --user"
run iso run bb -- /bin/sh -c 'hostname'
like "$RUN_OUT" '^bb-[a-z0-9]{6}$' "the hostname defaults to the sandbox's name"
run iso run --dns 192.0.2.53 --dns 192.0.2.54 bb -- cat /etc/resolv.conf
is "$RUN_OUT" $'nameserver 192.0.2.53\nnameserver 192.0.2.54' "--dns writes the sandbox's resolv.conf"
if [ -r /etc/resolv.conf ]; then
	run iso run bb -- cat /etc/resolv.conf
	is "$RUN_OUT" "$(cat /etc/resolv.conf)" "the host's resolv.conf by default"
fi
ok "resolv.conf was never written into the image" test ! -e "$STORE/images/bb/rootfs/etc/resolv.conf"

# ---- binds ---------------------------------------------------------------------------------
mkdir -p "$T/share/sub" && echo shared >"$T/share/file"
run iso run --bind "$T/share:/mnt/share" bb -- /bin/sh -c 'cat /mnt/share/file; echo new > /mnt/share/new'
is "$RUN_OUT" shared "a bind shows the host directory"
is "$(cat "$T/share/new" 2>&1)" new "a read-write bind writes through"
run iso run --bind "$T/share:/mnt/share:ro" bb -- /bin/sh -c 'echo x > /mnt/share/ro'
isnt "$RUN_RC" 0 "a :ro bind refuses writes"
ok "nothing was written through the :ro bind" test ! -e "$T/share/ro"
if [ "$IS_ROOT" -eq 1 ]; then
	mount -t tmpfs tmpfs "$T/share/sub"
	at_cleanup "umount '$T/share/sub'"
	run iso run --bind "$T/share:/mnt/share:ro" bb -- /bin/sh -c 'echo x > /mnt/share/sub/x'
	isnt "$RUN_RC" 0 "a :ro bind is read-only in its submounts too"
	ok "nothing was written in the submount" test ! -e "$T/share/sub/x"
fi
run iso run --bind "$T/missing:/mnt/x" bb -- true
is "$RUN_RC" 125 "a bind of a missing source fails (125)"
like "$RUN_ERR" "missing" "the error names the source"
run iso run --bind "relative:/mnt/x" bb -- true
is "$RUN_RC" 2 "a relative bind source is a usage error"

# A symlink in the image pointing at a host path: the bind stays inside the root.
mkdir -p "$T/img/etc" && ln -s /etc "$T/img/hostetc" && ln -s ../../../../../etc "$T/img/updir"
run iso image import evil "$T/img"
run iso run --bind "$T/share:/hostetc/isofs-bind-target" evil -- /bin/busybox cat /etc/isofs-bind-target/file
if [ "$RUN_RC" -eq 127 ]; then
	skip "a bind through an image symlink stays in the root" "the image has no busybox"
fi
ok "the host's /etc got no mountpoint from a bind through an image symlink" test ! -e /etc/isofs-bind-target
run iso run --bind "$T/share:/updir/isofs-bind-target2" bb -- true
ok "nor through a ../ symlink" test ! -e /etc/isofs-bind-target2

# ---- exit codes, signals ------------------------------------------------------------------------
run sh_bb 'exit 0'
is "$RUN_RC" 0 "exit 0"
run sh_bb 'exit 7'
is "$RUN_RC" 7 "exit 7"
run sh_bb 'kill -KILL $$'
is "$RUN_RC" 137 "killed by SIGKILL: 137"
run sh_bb 'kill -SEGV $$'
is "$RUN_RC" 139 "killed by SIGSEGV: 139"
run iso run bb -- /no/such/command
is "$RUN_RC" 127 "a missing command: 127"
like "$RUN_ERR" "No such file" "... with a reason"
is "$RUN_ERR_LINES" 1 "... on one line"
run iso run bb -- /etc/passwd
is "$RUN_RC" 126 "a command that cannot be executed: 126"
run iso run -w /no/such/dir bb -- true
is "$RUN_RC" 125 "a setup failure (working directory): 125"
is "$RUN_ERR" "isofs: working directory '/no/such/dir': No such file or directory" "... whose message names the directory and the cause"
mkdir -p "$T/adir"
run iso run --bind "$T/adir:/etc/passwd" bb -- true
is "$RUN_RC" 125 "a setup failure in the sandbox's init (a directory bound over a file): 125"
like "$RUN_ERR" "^isofs: sandbox setup: bind /etc/passwd: [A-Z][a-z]" "... whose message names the step and the cause"
run iso run nosuchimage -- true
is "$RUN_RC" 125 "a missing image: 125"
run iso run bb
is "$RUN_RC" 2 "no command: usage error"

for sig in INT TERM HUP QUIT USR1 USR2; do
	# Emptied here, not by the background job's redirection, which may come after
	# wait_until has already seen the last round's "ready" (a signal sent too early).
	: >"$T/sig.out"
	# isofs itself gets the signal (no timeout wrapper in between)
	"$ISOFS_BIN" --store "$STORE" run bb -- /bin/sh -c "trap 'echo got $sig; exit 42' $sig; echo ready; sleep 10 & wait" >"$T/sig.out" 2>&1 &
	pid=$!
	bg_track "$pid"
	wait_until 10 grep -q ready "$T/sig.out"
	kill -"$sig" "$pid"
	wait "$pid"
	rc=$?
	is "$rc:$(grep got "$T/sig.out")" "42:got $sig" "SIG$sig is forwarded to the command"
done

# ---- ephemeral and persistent -----------------------------------------------------------------
run sh_bb 'echo gone > /etc/ephemeral; cat /etc/ephemeral'
is "$RUN_OUT" gone "an ephemeral sandbox is writable"
run sh_bb 'cat /etc/ephemeral'
isnt "$RUN_RC" 0 "... and its writes are gone at exit"
ok "an ephemeral run leaves nothing in the store's tmp/" tmp_is_empty
is "$(ls -A "$STORE/sandboxes")" "" "... and no sandbox"
run iso run --sandbox keep1 bb -- true
isnt "$RUN_RC" 0 "--sandbox needs an existing sandbox"
run iso mount bb "$T/mp" --sandbox keep1 2>/dev/null || true
mkdir -p "$T/mp"
run iso mount bb "$T/mp" --sandbox keep1
run iso umount "$T/mp"
run iso run --sandbox keep1 -- /bin/sh -c 'echo kept > /root/file'
is "$RUN_RC" 0 "a run in a persistent sandbox"
run iso run --sandbox keep1 -- cat /root/file
is "$RUN_OUT" kept "... keeps its writes for the next run"
run iso mount bb "$T/mp" --sandbox keep1
is "$(cat "$T/mp/root/file" 2>&1)" kept "... which the mounted view shows"
run iso run "$T/mp" -- /bin/sh -c 'echo both > /root/both'
is "$(cat "$T/mp/root/both" 2>&1)" both "a run in a mounted view writes into it at once"
run iso run --sandbox keep1 -- cat /root/both
is "$RUN_OUT" both "--sandbox of a mounted sandbox runs in its view"
iso umount "$T/mp" >/dev/null 2>&1

# ---- resource limits -------------------------------------------------------------------------
if [ "$IS_ROOT" -eq 1 ] || [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
	run iso run --pids 8 bb -- /bin/sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done'
	like "$RUN_ERR" "can't fork" "--pids: the sandbox cannot make more processes"
	run iso run --memory 16m bb -- /bin/sh -c 'awk "BEGIN { s = \"xxxxxxxxxxxxxxxx\"; while (1) s = s s }"'
	is "$RUN_RC" 137 "--memory: a command beyond the limit is killed (137)"
	run iso run --cpus 0.5 bb -- /bin/sh -c 'cat /proc/self/cgroup'
	is "$RUN_RC" 0 "--cpus: runs"
	is "$(find /sys/fs/cgroup -maxdepth 4 -name 'isofs-*' 2>/dev/null | head -1)" "" "the sandbox's cgroups are gone afterwards"
else
	run iso run --memory 16m bb -- true
	is "$RUN_RC" 125 "rootless on a cgroup v1 host: --memory is a setup error"
	like "$RUN_ERR" "cgroup v1" "... that says why"
fi
run iso run --memory lots bb -- true
is "$RUN_RC" 2 "--memory with a bad size is a usage error"

# ---- the library ---------------------------------------------------------------------------------
EXAMPLE=$(dirname "$ISOFS_BIN")/../examples/run-in-sandbox
if [ -x "$EXAMPLE" ]; then
	run "$EXAMPLE" "$STORE" bb /bin/sh -c 'echo from the library; exit 5'
	is "$RUN_RC" 0 "the library example runs"
	like "$RUN_OUT" $'from the library\nsandbox bb-[a-z0-9]+: exit status 5' "... a command in a sandbox, with its status"
else
	skip "the library example runs" "not built"
fi

# ---- images in use -----------------------------------------------------------------------
# A run (or a view) of an image holds its whole chain: image rm refuses it until the run ends.
run iso image bootstrap victim --busybox
run iso sandbox create onvictim victim
run iso sandbox commit onvictim victim2
"$ISOFS_BIN" --store "$STORE" run victim2 -- /bin/sh -c 'echo started; sleep 30; echo still here' >"$T/victim.out" 2>&1 &
victim=$!
bg_track "$victim"
wait_until 10 grep -q started "$T/victim.out"
run iso sandbox rm onvictim
run iso image rm victim2
expect_refused "image rm of an image an ephemeral run is using"
like "$RUN_ERR" "in use by a running sandbox" "... the error says it is in use"
ok "... and the image is still there" test -d "$STORE/images/victim2/rootfs"
run iso image rm victim
expect_refused "image rm of the parent of an image a run is using"
kill -TERM "$victim"
wait "$victim"
is "$?" 143 "the run ends normally (killed by the TERM it was sent, not by a vanished image)"
run iso image rm victim2 victim
is "$RUN_RC" 0 "image rm once the run has ended"
mkdir -p "$T/vmp"
run iso image bootstrap victim3 --busybox
run iso mount victim3 "$T/vmp" --read-only
run iso image rm victim3
expect_refused "image rm of an image a read-only view shows"
run iso umount "$T/vmp"
run iso image rm victim3
is "$RUN_RC" 0 "image rm once the view is unmounted"

done_testing
