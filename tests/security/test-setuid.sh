#!/bin/bash
# A sandbox run as root makes a file setuid-root; it lands as such in the
# store's upper directory.  No host user may run it as root: the store's
# images/, sandboxes/ and tmp/ are 0700 (not traversable, even in a store
# whose own directory is 0755), and an `isofs mount` view — allow_other as
# root — is nosuid,nodev, so exec through the view gives no privilege.
# Inside a sandbox, setuid-root files and file capabilities give a command
# nothing beyond its capability set (no_new_privs, the bounding set).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-security.sh"
setup_tmp
plant_canary

unmount_all_at_exit
mount_opts() { awk -v p="$1" '$5 == p { o = $6 } END { print o }' /proc/self/mountinfo; }

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true
mkdir -p "$T/mp"

# ---- every view is nosuid,nodev (root and rootless) -------------------------------------------
run iso mount bb "$T/mp" --sandbox s1
is "$RUN_RC" 0 "mount a view"
like "$(mount_opts "$T/mp")" '(^|,)nosuid(,|$)' "the view is mounted nosuid"
like "$(mount_opts "$T/mp")" '(^|,)nodev(,|$)' "the view is mounted nodev"
run iso umount "$T/mp"

# ---- the store's directories are 0700, even when the store's own is opened up -------------------
chmod 0755 "$STORE" "$STORE/images" "$STORE/sandboxes" "$STORE/tmp"
run iso image ls
is "$(stat -c %a "$STORE/images" "$STORE/sandboxes" "$STORE/tmp" | tr '\n' ' ')" "700 700 700 " \
	"images/, sandboxes/ and tmp/ are 0700 again once isofs opens the store"

# ---- inside a sandbox: setuid-root and file capabilities give nothing beyond the set ----------
: "${ISOFS_SYS_PROBE:=$(dirname "$ISOFS_BIN")/../tests/security/sys-probe}"
mkdir -p "$T/probe" && cp "$ISOFS_SYS_PROBE" "$T/probe/sys-probe" && chmod 0755 "$T/probe" "$T/probe/sys-probe"
# /bin/sp: the probe setuid-root, with SYS_ADMIN, DAC_READ_SEARCH and NET_RAW as file capabilities
# (SETFCAP is in the default set); run as root of the sandbox and as uid 1000.
run iso run --bind "$T/probe:/probe:ro" bb -- sh -c 'cp /probe/sys-probe /bin/sp && chmod 4755 /bin/sp &&
	/probe/sys-probe setfcap /bin/sp && stat -c "%a %u" /bin/sp && /bin/sp creds &&
	/probe/sys-probe as 1000 1000 /bin/sp creds'
caps_of() { grep -E '^(uids|Cap)' <<<"$1" | tr -s '\t ' ' ' | tr '\n' ' '; }
like "$RUN_OUT" $'setfcap ok\n4755 0' "a sandbox makes a setuid-root file with file capabilities"
set=00000000800405fb
is "$(caps_of "$(sed -n '/^uids 0/,/^CapAmb/p' <<<"$RUN_OUT")")" \
	"uids 0 0 0 CapInh: 0000000000000000 CapPrm: $set CapEff: $set CapBnd: $set CapAmb: 0000000000000000 " \
	"run by root of the sandbox: the default set, none of the file's capabilities"
is "$(caps_of "$(sed -n '/^uids 1000/,/^CapAmb/p' <<<"$RUN_OUT")")" \
	"uids 1000 1000 1000 CapInh: 0000000000000000 CapPrm: 0000000000000000 CapEff: 0000000000000000 CapBnd: $set CapAmb: 0000000000000000 " \
	"run by uid 1000: still uid 1000, no capability"

if [ "$IS_ROOT" -ne 1 ]; then
	skip "a host user runs a sandbox's setuid-root file" "root only: a user's sandbox root is that user"
	done_testing
fi

# ---- as root: a setuid-root file planted by a sandbox ---------------------------------------------
user=${ISOFS_TEST_USER:-isofs-test}
id "$user" >/dev/null 2>&1 || bail_out "no user $user"
as_user() { setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups -- "$@"; }
# coreutils id: prints the effective uid, and does not drop privileges as busybox does
idbin=$(command -v id)

# Control: the same binary setuid-root where suid is honoured gives the user euid 0.
mkdir -p "$T/ctl" && cp "$idbin" "$T/ctl/sush" && chmod 4755 "$T/ctl/sush"
control=$(as_user "$T/ctl/sush" -u 2>&1)

run iso run --sandbox s1 --bind "$idbin:/hostid:ro" -- sh -c 'cp /hostid /bin/sush && chmod 4755 /bin/sush && stat -c "%a %u" /bin/sush'
is "$RUN_OUT" "4755 0" "the sandbox makes /bin/sush setuid root"
is "$(stat -c '%a %u' "$STORE/sandboxes/s1/upper/bin/sush" 2>&1)" "4755 0" "it lands setuid-root in the upper directory"

run iso mount bb "$T/mp" --sandbox s1
is "$RUN_RC" 0 "mount the sandbox as root (allow_other)"
is "$(as_user stat -c '%a %u' "$T/mp/bin/sush" 2>&1)" "4755 0" "the host user sees the setuid-root file through the view"
got=$(as_user "$T/mp/bin/sush" -u 2>&1)
if [ "$control" = 0 ]; then
	pass "control: the same file setuid-root outside the view gives the user euid 0"
else
	skip "control: setuid honoured outside the view" "$T is on a nosuid file system ($control)"
fi
is "$got" "$(id -u "$user")" "run through the view it gives the user no euid 0"

# File capabilities: cat with cap_dac_read_search+ep in security.capability (v2: magic 0x02000001, bit 2).
fcap=0x0100000204000000000000000000000000000000
echo "$CANARY_TEXT" >"$T/rootonly" && chmod 0600 "$T/rootonly"
cp "$(command -v cat)" "$T/ctl/capcat" && setfattr -n security.capability -v "$fcap" "$T/ctl/capcat"
control=$(as_user "$T/ctl/capcat" "$T/rootonly" 2>/dev/null)
cp "$(command -v cat)" "$T/mp/bin/capcat" && setfattr -n security.capability -v "$fcap" "$T/mp/bin/capcat"
is "$(getfattr --absolute-names -e hex -n security.capability --only-values "$STORE/sandboxes/s1/upper/bin/capcat" 2>/dev/null | od -An -tx1 | tr -d ' \n' | cut -c1-8)" \
	"01000002" "a file capability set in the view lands in the upper directory"
if [ "$control" = "$CANARY_TEXT" ]; then
	pass "control: the capability outside the view lets the user read a 0600 root file"
else
	skip "control: file capabilities honoured outside the view" "not here ($T)"
fi
got=$(as_user "$T/mp/bin/capcat" "$T/rootonly" 2>&1)
no_canary "run through the view, the file capability gives the user nothing" "$got"
run iso umount "$T/mp"

nok "the user cannot list the store's sandboxes" as_user ls "$STORE/sandboxes"
nok "the user cannot reach the planted file in the upper directory" as_user stat "$STORE/sandboxes/s1/upper/bin/sush"
nok "the user cannot list the store's images" as_user ls "$STORE/images"

done_testing
