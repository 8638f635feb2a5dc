#!/bin/bash
# A sandbox cannot fill the host's memory through its tmpfs: /tmp and
# /dev/shm have sizes (defaults, --tmp-size, --shm-size) and writing beyond
# them fails with ENOSPC.  With --memory the overlay server (the manager
# process) is in the sandbox's memory cgroup too (root: cgroup v1 here).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-security.sh"
setup_tmp

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true

# df -k: the 1K-blocks of a mountpoint
DF='df -k "$0" | awk "NR == 2 { print \$2 }"'
ram_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
want_tmp=$((ram_kb / 4))
[ "$want_tmp" -gt 4194304 ] && want_tmp=4194304

run iso run bb -- sh -c "$DF" /tmp
tmp_kb=$RUN_OUT
# tmpfs rounds to pages: allow the last page
num "$(( (want_tmp - tmp_kb) < 0 ? tmp_kb - want_tmp : want_tmp - tmp_kb ))" -le 4 \
	"/tmp is a quarter of the RAM at most 4 GiB by default (${tmp_kb} KiB)"
run iso run bb -- sh -c "$DF" /dev/shm
is "$RUN_OUT" 65536 "/dev/shm is 64 MiB by default"

run iso run --tmp-size 2m --shm-size 1m bb -- sh -c 'df -k /tmp /dev/shm | awk "NR > 1 { print \$2 }"' 
is "$RUN_OUT" $'2048\n1024' "--tmp-size 2m and --shm-size 1m: df shows 2048 and 1024 KiB"

run iso run --tmp-size 2m bb -- sh -c 'dd if=/dev/zero of=/tmp/big bs=1k count=3000 2>&1; echo "rc=$?"'
like "$RUN_OUT" "No space left on device" "writing 3 MB into a 2 MiB /tmp fails with ENOSPC"
like "$RUN_OUT" "rc=1" "... and dd fails"
run iso run --shm-size 1m bb -- sh -c 'dd if=/dev/zero of=/dev/shm/big bs=1k count=2000 2>&1; echo "rc=$?"'
like "$RUN_OUT" "No space left on device" "writing 2 MB into a 1 MiB /dev/shm fails with ENOSPC"

run iso run --tmp-size 0 bb -- true
expect_refused "--tmp-size 0" 2
run iso run --shm-size lots bb -- true
expect_refused "--shm-size lots" 2

# ---- with --memory, the overlay server is charged to the sandbox ------------------------
if [ "$IS_ROOT" -ne 1 ]; then
	skip "the manager in the sandbox's memory cgroup" "cgroup v1 controllers need root on this host"
else
	out=$T/cg.out
	iso run --memory 256m bb -- sh -c 'grep -E "^[0-9]+:memory:" /proc/self/cgroup; exec sleep 30' >"$out" 2>&1 &
	job=$!
	bg_track "$job"
	wait_until 30 grep -q memory: "$out"
	cg=$(sed -n 's/^[0-9]*:memory://p' "$out")
	procs=/sys/fs/cgroup/memory$cg/cgroup.procs
	manager=
	for p in $(cat "$procs" 2>/dev/null); do
		# the manager: a forked isofs in the host's pid namespace (the sandbox's init is in its own)
		if [ "$(readlink "/proc/$p/ns/pid")" = "$(readlink /proc/self/ns/pid)" ] &&
			[ "$(cat "/proc/$p/comm" 2>/dev/null)" = isofs ]; then
			manager=$p
		fi
	done
	isnt "$manager" "" "--memory: the manager (the overlay server) is in the sandbox's memory cgroup ($cg)"
	ppid=$(awk '/^PPid:/ { print $2 }' "/proc/${manager:-0}/status" 2>/dev/null)
	[ -n "$ppid" ] && at_cleanup "kill $ppid"
	is "$(cat "/proc/${ppid:-0}/comm" 2>/dev/null)" isofs "... it is the child of the isofs command (the caller stays out)"
	caller_cg=$(sed -n 's/^[0-9]*:memory://p' "/proc/${ppid:-0}/cgroup")
	isnt "$caller_cg" "$cg" "... whose own memory cgroup is not the sandbox's"
	# SIGTERM to the isofs command is forwarded to the command: the session ends, its cgroup goes.
	[ -n "$ppid" ] && kill "$ppid" 2>/dev/null
	wait "$job" 2>/dev/null
	ok "the sandbox's memory cgroup is gone once it has ended" test ! -e "/sys/fs/cgroup/memory$cg"
fi

done_testing
