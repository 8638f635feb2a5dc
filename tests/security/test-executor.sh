#!/bin/bash
# The executor's confinement: a fresh session keyring, the default seccomp
# filter (and --seccomp=unconfined), and mounts locked below a nested user
# namespace, so that no capability given with --cap-add undoes a :ro bind or a
# /proc mask; the default capabilities (podman's) reach only the sandbox's ids
# and files.  Every attack must leave the canary unread and unchanged.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-security.sh"
setup_tmp
plant_canary

# The probe beside the isofs binary's build tree (the rootless re-run keeps ISOFS_BIN only).
: "${ISOFS_SYS_PROBE:=$(dirname "$ISOFS_BIN")/../tests/security/sys-probe}"

# has_line TEXT REGEX DESC: some whole line of TEXT matches; no_line: none does
has_line() {
	if grep -qxE -- "$2" <<<"$1"; then pass "$3"; else fail "$3" "'$1'" "has no line /$2/"; fi
}
no_line() {
	if grep -qxE -- "$2" <<<"$1"; then fail "$3" "'$1'" "has a line /$2/"; else pass "$3"; fi
}

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true

# The static probe, where the sandbox's user can read it.
mkdir -p "$T/probe"
cp "$ISOFS_SYS_PROBE" "$T/probe/sys-probe"
chmod 0755 "$T/probe" "$T/probe/sys-probe"
PROBE=(--bind "$T/probe:/probe:ro")

# ---- seccomp ------------------------------------------------------------------------
run iso run bb -- grep '^Seccomp:' /proc/self/status
has_line "$RUN_OUT" 'Seccomp:[[:space:]]+2' "a command runs under a seccomp filter by default"
run iso run --seccomp=unconfined bb -- grep '^Seccomp:' /proc/self/status
has_line "$RUN_OUT" 'Seccomp:[[:space:]]+0' "--seccomp=unconfined: no filter"

run iso run --seccomp=bogus bb -- true
is "$RUN_RC" 2 "--seccomp=bogus is a usage error (exit 2)"
is "$RUN_ERR_LINES" 1 "... said in one line"
like "$RUN_ERR" "bogus" "... naming the value"
run isofs_cmd --store "$STORE" serve --seccomp=bogus bb </dev/null
is "$RUN_RC" 2 "isofs serve --seccomp=bogus: exit 2 as well"

# with the default capabilities, none of which unlocks a rule
run iso run "${PROBE[@]}" bb -- /probe/sys-probe syscalls
is "$RUN_RC" 0 "the probe runs in the sandbox"
for call in keyctl add_key request_key bpf perf_event_open userfaultfd io_uring_setup open_by_handle_at \
	unshare_user setns mount personality_norandom; do
	has_line "$RUN_OUT" "$call EPERM" "default filter: $call gives EPERM"
done
has_line "$RUN_OUT" "clone3 ENOSYS" "default filter: clone3 gives ENOSYS (so that libc falls back to clone)"
run iso run "${PROBE[@]}" bb -- sh -c 'unshare -U true; echo "unshare: $?"'
like "$RUN_OUT" 'unshare: [1-9]' "busybox unshare -U fails under the filter"

run iso run --seccomp=unconfined "${PROBE[@]}" bb -- /probe/sys-probe syscalls
has_line "$RUN_OUT" "keyctl ok" "--seccomp=unconfined: keyctl reaches the kernel"
has_line "$RUN_OUT" "io_uring_setup EFAULT" "--seccomp=unconfined: io_uring_setup reaches the kernel (EFAULT for NULL)"
has_line "$RUN_OUT" "clone3 EINVAL" "--seccomp=unconfined: clone3 reaches the kernel (EINVAL for a short size)"

# A capability given lets its calls through, as docker's profile does.
run iso run --cap-add CAP_SYS_ADMIN "${PROBE[@]}" bb -- /probe/sys-probe syscalls
has_line "$RUN_OUT" "mount ENOENT" "--cap-add CAP_SYS_ADMIN: mount reaches the kernel"
has_line "$RUN_OUT" "keyctl EPERM" "--cap-add CAP_SYS_ADMIN: keyctl still refused"

# ---- the default capabilities give no way out ----------------------------------------
# CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT
caps_of() { grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' <<<"$1" | tr -s '\t ' ' '; }
run iso run bb -- cat /proc/self/status
is "$(caps_of "$RUN_OUT")" $'CapInh: 0000000000000000\nCapPrm: 00000000800405fb\nCapEff: 00000000800405fb\nCapBnd: 00000000800405fb\nCapAmb: 0000000000000000' \
	"by default a command has exactly podman's 11 capabilities (0x800405fb)"
run iso run --cap-drop ALL bb -- cat /proc/self/status
is "$(caps_of "$RUN_OUT")" $'CapInh: 0000000000000000\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: 0000000000000000\nCapAmb: 0000000000000000' \
	"--cap-drop ALL: none"

# Host files whose owner the sandbox does not map stay closed to DAC_OVERRIDE
# (the kernel honours it only over inodes of mapped ids): as root, a copy of
# the canary owned by 70000 (above the 65536 mapped ids); rootless, the
# host's /etc/shadow (root and shadow are not mapped).  Output is discarded.
if [ "$IS_ROOT" -eq 1 ]; then
	mkdir -p "$T/unmapped" && cp "$CANARY" "$T/unmapped/secret"
	chown -R 70000:70000 "$T/unmapped" && chmod 0600 "$T/unmapped/secret"
	run iso run --bind "$T/unmapped:/x:ro" bb -- sh -c 'stat -c "%u %a" /x/secret; cat /x/secret'
	is "$(head -1 <<<"$RUN_OUT")" "65534 600" "an unmapped owner shows as the overflow id"
	like "$RUN_ERR" 'Permission denied' "DAC_OVERRIDE does not open a file of an unmapped owner"
	no_canary "... and its content never shows" "$RUN_OUT" "$RUN_ERR"
	run iso run "${PROBE[@]}" bb -- /probe/sys-probe as 70000 70000 id -u
	is "$RUN_RC/$RUN_ERR" "125/as: Invalid argument" "SETUID/SETGID reach no id outside the map"
elif [ -r /etc/shadow ]; then
	fail "rootless: /etc/shadow is readable by the test user"
elif [ -e /etc/shadow ]; then
	run iso run --bind /etc:/x:ro bb -- sh -c 'cat /x/shadow >/dev/null && echo read-it'
	is "$RUN_OUT" "" "DAC_OVERRIDE does not open the host's /etc/shadow (root is not mapped)"
	like "$RUN_ERR" 'Permission denied' "... permission denied"
else
	skip "DAC_OVERRIDE over an unmapped owner" "no /etc/shadow to try"
fi

# SYS_CHROOT: the classic breakout climbs to the sandbox's root, never above.
attack="cd /; /probe/sys-probe chroot-escape '$CANARY'; /probe/sys-probe chroot-escape /bin/busybox"
run iso run "${PROBE[@]}" bb -- sh -c "$attack"
has_line "$RUN_OUT" "chroot_escape ok" "SYS_CHROOT: out of a chroot (the breakout works)"
is "$(grep ^open <<<"$RUN_OUT" | tr '\n' ' ')" "open ENOENT open ok " "... up to the sandbox's root only: the canary's path is not there"
no_canary "... the canary never shows" "$RUN_OUT" "$RUN_ERR"

# /proc of the init (more privileged, not dumpable): no DAC_OVERRIDE gets through.
run iso run bb -- sh -c 'ls /proc/1/root/ 2>&1; readlink /proc/1/cwd 2>&1; cat /proc/1/environ 2>&1'
unlike "$RUN_OUT" 'bin|etc' "the init's root and cwd stay closed"
like "$RUN_OUT" 'Permission denied' "... permission denied"
# KILL: a pid namespace's init ignores SIGKILL from inside.
run iso run bb -- sh -c 'kill -KILL 1; sleep 0.2; echo alive'
is "$RUN_OUT" alive "KILL: kill -9 1 does not end the sandbox"
# the filter refuses mounts without SYS_ADMIN, whatever the default set holds
run iso run bb -- sh -c 'mount --bind / /mnt 2>&1 || echo refused'
like "$RUN_OUT" 'refused' "no mount with the default set"

# ---- session keyring ----------------------------------------------------------------
# The caller's session (a new one of this test's own) holds a key with the canary.
cat >"$T/keyring.sh" <<'EOF'
set -u
key=$(keyctl add user isofs-canary "$CANARY_TEXT" @s) || exit 3
ring=$(keyctl id @s) || exit 3
echo "host-key $key"
echo "host-ring $ring"
"$ISOFS_BIN" --store "$STORE" run --seccomp=unconfined --bind "$T/probe:/probe:ro" bb -- \
	/probe/sys-probe keyring "$key" "$ring"
echo "inside-default: $("$ISOFS_BIN" --store "$STORE" run --bind "$T/probe:/probe:ro" bb -- \
	/probe/sys-probe keyring "$key" "$ring" | grep '^session_keyring')"
"$ISOFS_BIN" --store "$STORE" run bb -- cat /proc/keys
[ "$(keyctl pipe "$key")" = "$CANARY_TEXT" ] && echo "host-key-unchanged"
EOF
if command -v keyctl >/dev/null; then
	run env CANARY_TEXT="$CANARY_TEXT" STORE="$STORE" T="$T" ISOFS_BIN="$ISOFS_BIN" \
		keyctl session - bash "$T/keyring.sh"
	host_key=$(echo "$RUN_OUT" | sed -n 's/^host-key //p')
	host_ring=$(echo "$RUN_OUT" | sed -n 's/^host-ring //p')
	inside=$(echo "$RUN_OUT" | sed -n 's/^session //p')
	ok "a key with the canary was added to the caller's session keyring" test -n "$host_key"
	like "$inside" '^[0-9]+$' "unconfined: the command has a session keyring"
	isnt "$inside" "$host_ring" "... not the caller's"
	has_line "$RUN_OUT" 'search_canary ENOKEY' "... the caller's key is not found in it"
	no_line "$RUN_OUT" 'read_key ok' "... the caller's key cannot be read by its serial"
	no_line "$RUN_OUT" 'update_key ok' "... nor updated"
	no_line "$RUN_OUT" 'link_key ok' "... nor linked into the sandbox's keyring"
	no_line "$RUN_OUT" 'search_after_link ok' "... nor found through the caller's keyring"
	like "$RUN_OUT" 'inside-default: session_keyring EPERM' "by default, keyctl is refused altogether"
	no_canary "the canary's payload never shows up inside" "$RUN_OUT" "$RUN_ERR"
	has_line "$RUN_OUT" host-key-unchanged "the caller's key is unchanged after the attempts"
else
	skip "session keyring checks" "keyctl (package keyutils) is missing"
fi

# ---- locked mounts ------------------------------------------------------------------
# With CAP_SYS_ADMIN, a command tries to make a :ro bind writable and to
# unmount or re-bind /proc's masks; the filter lets mount calls through, so
# only the locks stand in the way.
before=$(cat "$CANARY")
attack='
mount -o remount,rw,bind /x 2>&1; echo "remount-bind: $?"
mount -o remount,rw /x 2>&1; echo "remount: $?"
echo pwned > /x/shadow 2>&1; echo "write: $?"
umount /x 2>&1; echo "umount: $?"
umount -l /x 2>&1; echo "umount-lazy: $?"
echo pwned > /x/shadow 2>&1; echo "write-after: $?"
umount /proc/keys 2>&1; echo "umount-mask: $?"
umount -l /proc/keys 2>&1; echo "umount-mask-lazy: $?"
umount -l /proc/acpi 2>&1; echo "umount-mask-dir: $?"
mount -o remount,rw /proc/sys 2>&1; echo "remount-proc-sys: $?"
mkdir -p /mnt/p; mount --bind /proc /mnt/p 2>&1; echo "bind-proc: $?"
mount -t proc proc /mnt/p 2>&1; echo "new-proc: $?"
stat -c "keys %t:%T" /proc/keys
grep -c "" /proc/keys
cat /x/shadow
'
for mode in default unconfined; do
	extra=()
	[ "$mode" = unconfined ] && extra=(--seccomp=unconfined)
	run iso run "${extra[@]}" --cap-add CAP_SYS_ADMIN --bind "$CANARY_DIR/etc:/x:ro" bb -- sh -c "$attack"
	is "$(cat "$CANARY")" "$before" "$mode: the host file behind a :ro bind is unchanged"
	for step in remount-bind remount write umount umount-lazy write-after umount-mask umount-mask-lazy \
		remount-proc-sys bind-proc new-proc; do
		has_line "$RUN_OUT" "$step: [1-9][0-9]*" "$mode, CAP_SYS_ADMIN: $step fails"
	done
	has_line "$RUN_OUT" 'keys 1:3' "$mode: /proc/keys is still the /dev/null mask"
	if [ -d /proc/acpi ]; then
		has_line "$RUN_OUT" 'umount-mask-dir: [1-9][0-9]*' "$mode: the /proc/acpi mask cannot be unmounted"
	fi
done

# Before the fix, remounting the bind rw worked: check the attack is a real one
# by doing it where the mounts are not locked (a mount namespace of our own).
if [ "$IS_ROOT" -eq 1 ]; then
	run unshare -m sh -c "mount --bind '$CANARY_DIR/etc' '$T/probe' && mount -o remount,ro,bind '$T/probe' &&
		mount -o remount,rw,bind '$T/probe' && echo remount-works"
	is "$RUN_OUT" remount-works "(control: where the bind is not locked, the same remount succeeds)"
fi

# ---- what still works in the nested namespaces ------------------------------------
run iso run bb -- sh -c 'echo $$; cat /proc/1/comm; id -u'
is "$RUN_OUT" $'2\nisofs\n0' "the command is pid 2 under the init, and root"
ids=1
if [ "$IS_ROOT" -eq 1 ] || grep -q "^$(id -un):" /etc/subuid 2>/dev/null; then
	ids=65536
fi
# The nested namespace maps the init's whole range 1:1 (65536 ids, or the one id of a user without subuids).
run iso run bb -- sh -c 'for m in uid_map gid_map; do awk "{ n += \$3; if (\$1 != \$2) bad = 1 } END { print n, bad + 0 }" /proc/self/$m; done'
is "$RUN_OUT" "$ids 0"$'\n'"$ids 0" "uid_map and gid_map: $ids ids, each mapped to itself"

# In a session, every command joins the same nested namespaces and the same keyring.
req='{"type":"exec","argv":["sh","-c","for n in user mnt; do readlink /proc/self/ns/$n; done; /probe/sys-probe keyring 0 0 | grep ^session"]}'
run iso serve --seccomp=unconfined "${PROBE[@]}" bb < <(printf '%s\n%s\n' "$req" "$req")
# each command's output whole, however its frames cut it (up to its exit frame)
outputs=$(echo "$RUN_OUT" | "$PYTHON" -c '
import json, sys
out = [""]
for line in sys.stdin:
    f = json.loads(line)
    if f.get("type") == "log":
        out[-1] += f["data"]
    elif f.get("type") == "exit":
        out.append("")
print(json.dumps(out[:2]))')
first=$(echo "$outputs" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[0])')
second=$(echo "$outputs" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[1])')
like "$first" 'user:.*mnt:.*session [0-9]+' "serve: a command reports its namespaces and keyring"
is "$second" "$first" "serve: the next command shares them"

run iso run --cap-add CAP_SYS_ADMIN bb -- sh -c 'mount -t tmpfs t /mnt && touch /mnt/f && echo mounted'
is "$RUN_OUT" mounted "CAP_SYS_ADMIN: new mounts in the command's own namespace work"
run iso run --cap-add CAP_NET_RAW bb -- grep CapEff /proc/self/status
is "$RUN_OUT" $'CapEff:\t00000000800425fb' "--cap-add: the capability is in the command's effective set, beside the default"
run iso run --user 1000:1000 bb -- sh -c 'id -u; id -g'
if [ "$IS_ROOT" -eq 1 ] || grep -q "^$(id -un):" /etc/subuid 2>/dev/null; then
	is "$RUN_OUT" $'1000\n1000' "--user 1000:1000 works through the nested namespace"
else
	skip "--user 1000 through the nested namespace" "one id mapped"
fi

done_testing
