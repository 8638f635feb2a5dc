#!/bin/bash
# Capabilities: commands keep rootless podman's default set in their own user
# namespace; --cap-drop CAP|ALL and --cap-add CAP|ALL change it as podman
# does; bad names are one-line setup errors (125).  The default set does what
# a system needs (chown, setuid among the sandbox's ids, permissions of its
# files); with one id mapped, ids other than 0 stay out of reach.
. "$(dirname "$0")/lib.sh"
setup_tmp

: "${ISOFS_SYS_PROBE:=$(dirname "$ISOFS_BIN")/../tests/security/sys-probe}"
[ -x "$ISOFS_SYS_PROBE" ] || bail_out "no sys-probe at $ISOFS_SYS_PROBE"
mkdir -p "$T/probe"
cp "$ISOFS_SYS_PROBE" "$T/probe/sys-probe"
chmod 0755 "$T/probe" "$T/probe/sys-probe"
PROBE=(--bind "$T/probe:/probe:ro")

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true

# capability names by number (linux/capability.h)
CAP_NAMES=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
	NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT
	SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE
	AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ
	PERFMON BPF CHECKPOINT_RESTORE)
DEFAULT="CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT"
# every capability this kernel knows, by name
LAST=$(cat /proc/sys/kernel/cap_last_cap)
ALL=$(for ((i = 0; i <= LAST; i++)); do echo "${CAP_NAMES[i]:-cap_$i}"; done | sort | tr '\n' ' ' | sed 's/ $//')

# decode HEX: the names of a mask, sorted, on one line ("-" for none)
decode() {
	local m=$((16#$1)) i out=()
	for ((i = 0; i < 64; i++)); do
		(((m >> i) & 1)) && out+=("${CAP_NAMES[i]:-cap_$i}")
	done
	[ ${#out[@]} -gt 0 ] || { echo -; return; }
	printf '%s\n' "${out[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
# sets TEXT: "Inh=… Prm=… Eff=… Bnd=… Amb=…" decoded from /proc/self/status lines
sets() {
	local k v out=()
	while read -r k v; do
		case $k in Cap*:) k=${k#Cap}; out+=("${k%:}=$(decode "$v" | tr ' ' ,)") ;; esac
	done <<<"$1"
	echo "${out[*]}"
}
expect() { # expect EFF_BND_NAMES: Prm, Eff and Bnd are that set, Inh and Amb empty
	local s=${1// /,}
	echo "Inh=- Prm=$s Eff=$s Bnd=$s Amb=-"
}
status() { iso run "$@" bb -- grep ^Cap /proc/self/status; }

# ---- the set, and the options -----------------------------------------------------------
run status
is "$(sets "$RUN_OUT")" "$(expect "$DEFAULT")" "default: podman's 11 capabilities, effective, permitted and bounding"
run status --cap-drop CHOWN --cap-drop cap_setfcap
is "$(sets "$RUN_OUT")" "$(expect "${DEFAULT/CHOWN /}" | sed 's/,SETFCAP//g')" "--cap-drop CHOWN --cap-drop cap_setfcap: both gone"
run status --cap-drop ALL
is "$(sets "$RUN_OUT")" "$(expect -)" "--cap-drop ALL: none at all"
run status --cap-drop all --cap-add Chown
is "$(sets "$RUN_OUT")" "$(expect CHOWN)" "--cap-drop ALL --cap-add CHOWN: only CHOWN"
run status --cap-add CAP_NET_RAW
is "$(sets "$RUN_OUT")" "$(expect "$(echo "$DEFAULT NET_RAW" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')")" \
	"--cap-add CAP_NET_RAW: the default and NET_RAW"
run status --cap-add ALL
is "$(sets "$RUN_OUT")" "$(expect "$ALL")" "--cap-add ALL: every capability the kernel knows ($((LAST + 1)))"
run status --cap-add ALL --cap-drop SYS_ADMIN
is "$(sets "$RUN_OUT")" "$(expect "${ALL/SYS_ADMIN /}")" "--cap-add ALL --cap-drop SYS_ADMIN: all but SYS_ADMIN"

# Another uid keeps only what --cap-add named (podman's rule); root of the sandbox the set.
run status -u 1000:1000
is "$(sets "$RUN_OUT")" "Inh=- Prm=- Eff=- Bnd=${DEFAULT// /,} Amb=-" "-u 1000: no capability, the default as bounding set"
run status -u 1000:1000 --cap-add NET_BIND_SERVICE
is "$(sets "$RUN_OUT")" "Inh=NET_BIND_SERVICE Prm=NET_BIND_SERVICE Eff=NET_BIND_SERVICE Bnd=${DEFAULT// /,} Amb=NET_BIND_SERVICE" \
	"-u 1000 --cap-add NET_BIND_SERVICE: that one, ambient"

# serve takes the same options
run iso serve --cap-drop ALL bb <<<'{"type":"exec","argv":["grep","^CapEff","/proc/self/status"]}'
like "$RUN_OUT" 'CapEff:\\t0000000000000000' "serve --cap-drop ALL: none"

# ---- bad names and conflicts: one line naming the capability, exit 125 ---------------------
for args in "--cap-add NOT_A_CAP:NOT_A_CAP" "--cap-drop bogus:bogus" "--cap-add CAP_:CAP_" \
	"--cap-add CHOWN --cap-drop CHOWN:both dropped and added" "--cap-drop ALL --cap-add ALL:ALL"; do
	opts=${args%%:*} what=${args#*:}
	# shellcheck disable=SC2086
	run iso run $opts bb -- true
	is "$RUN_RC/$RUN_ERR_LINES" 125/1 "$opts: exit 125, one line"
	like "$RUN_ERR" "^isofs: .*$what" "... naming '$what'"
done
run iso serve --cap-drop bogus bb </dev/null
is "$RUN_RC" 125 "serve --cap-drop bogus: exit 125"

# ---- what the default set is for --------------------------------------------------------
ids=65536
if [ "$IS_ROOT" -ne 1 ] && ! grep -q "^$(id -un):" /etc/subuid 2>/dev/null; then
	ids=1
fi
if [ "$ids" -eq 65536 ]; then
	script='
	set -e
	touch /f /tmp/f; mkdir /d
	chown 1000:1000 /f /tmp/f /d; stat -c "%n %u:%g" /f /tmp/f /d
	echo secret > /d/s; chown 1000:1000 /d/s; chmod 0600 /d/s; chmod 0700 /d
	cat /d/s
	chmod 0640 /d/s; echo fowner=$?
	/probe/sys-probe as 1000 1001 id -u; /probe/sys-probe as 1000 1001 id -g
	'
	run iso run "${PROBE[@]}" bb -- sh -c "$script"
	is "$RUN_OUT" $'/f 1000:1000\n/tmp/f 1000:1000\n/d 1000:1000\nsecret\nfowner=0\n1000\n1001' \
		"default: chown (overlay, tmpfs), read another uid's 0600 file, chmod it, setuid/setgid to 1000:1001"
	run iso run --cap-drop CHOWN bb -- sh -c 'touch /f; chown 1000 /f'
	like "$RUN_ERR" 'Operation not permitted' "--cap-drop CHOWN: chown refused"
	run iso run "${PROBE[@]}" --cap-drop SETUID bb -- /probe/sys-probe as 1000 1000 id -u
	is "$RUN_RC" 125 "--cap-drop SETUID: setuid to 1000 refused"
	run iso run --cap-drop DAC_OVERRIDE bb -- sh -c 'mkdir /d; chown 1000 /d; chmod 0700 /d; ls /d'
	like "$RUN_ERR" 'Permission denied' "--cap-drop DAC_OVERRIDE: another uid's 0700 directory is closed"
else
	skip "chown, setuid among the sandbox's ids" "one id mapped"
fi

# NET_BIND_SERVICE: ports below 1024 in the sandbox's own network (--net=none);
# the host's network belongs to the host, where the sandbox holds nothing.
listen80='nc -l -p 80 & sleep 0.3; netstat -ltn | grep -c ":80 "; kill %1 2>/dev/null'
run iso run --net=none bb -- sh -c "$listen80"
is "$RUN_OUT" 1 "--net=none: a command listens on port 80"
run iso run --net=none --cap-drop NET_BIND_SERVICE bb -- sh -c "$listen80"
is "$RUN_OUT" 0 "--net=none --cap-drop NET_BIND_SERVICE: port 80 refused"
like "$RUN_ERR" 'Permission denied' "... permission denied"
run iso run bb -- sh -c 'nc -l -p 80 & sleep 0.3; kill %1 2>/dev/null'
like "$RUN_ERR" 'Permission denied' "the host's network: port 80 refused all the same"

# ---- one id mapped: the set reaches no other id ------------------------------------------
# A uid without a name has no subordinate range: isofs maps that one id (as
# for a user without /etc/subuid) and denies setgroups.
if [ "$IS_ROOT" -eq 1 ]; then
	lone=61999
	while getent passwd "$lone" >/dev/null || getent group "$lone" >/dev/null; do lone=$((lone + 1)); done
	mkdir -p "$T/lone" && chown "$lone:$lone" "$T/lone"
	as_lone() { timeout -k 10 "$ISOFS_TEST_TIMEOUT" setpriv --reuid="$lone" --regid="$lone" --clear-groups -- \
		env HOME="$T/lone" "$ISOFS_BIN" --store "$T/lone/store" "$@"; }
	run as_lone image bootstrap bb --busybox
	is "$RUN_RC" 0 "one id: bootstrap (uid $lone, no name)"
	run as_lone run "${PROBE[@]}" bb -- sh -c 'grep ^Cap /proc/self/status; cat /proc/self/setgroups
		touch /f; chown 0:0 /f && echo chown0=ok; chown 1000 /f 2>/dev/null || echo chown1000=refused
		/probe/sys-probe as 1000 1000 id -u 2>&1; /probe/sys-probe as 0 0 id -u 2>&1'
	like "$RUN_ERR" 'one id mapped.*setgroups denied' "one id: isofs says so"
	is "$(sets "$(grep ^Cap <<<"$RUN_OUT")")" "$(expect "$DEFAULT")" "one id: the default set all the same"
	is "$(grep -v ^Cap <<<"$RUN_OUT")" $'deny\nchown0=ok\nchown1000=refused\nas: Operation not permitted\nas: Operation not permitted' \
		"one id: chown to 0 works, to 1000 is refused (unmapped); setgroups is denied, so the probe's setuid fails even to 0"
else
	skip "one id mapped" "root only (runs as a uid without a name)"
fi

done_testing
