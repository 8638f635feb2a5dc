#!/bin/bash
# SPDX-License-Identifier: MIT
# isofs run --ephemeral puts kernel overlayfs over a view of an image, and a
# view shows the image's own escaped overlay xattrs (user.overlay.overlay.X
# stored, user.overlay.X shown: nested overlays) to that kernel overlayfs.  A
# hostile image names the canary in every one the kernel reads — redirects
# (absolute, climbing), metacopy with a redirect, origin, opaque, whiteout
# marks — on directories and files; inside the sandbox, in reads, listings
# and copy-ups, the canary never shows, and the host is never written: over a
# view of isofs mount, and over the view isofs keeps for `run --ephemeral IMAGE`.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-security.sh"
setup_tmp
plant_canary
unmount_all_at_exit
CANARY_BEFORE=$(cd "$CANARY_DIR" && find . -printf '%P %y %m %s\n' | LC_ALL=C sort && cat etc/shadow)

run iso image bootstrap bb --busybox
[ "$RUN_RC" -eq 0 ] || bail_out "bootstrap --busybox failed: $RUN_ERR"
run iso image export bb "$T/bb.tar"
[ "$RUN_RC" -eq 0 ] || bail_out "export of the busybox image failed: $RUN_ERR"

# The busybox image plus entries carrying escaped overlay xattrs that name the canary.
"$PYTHON" - "$T/bb.tar" "$T/hostile.tar" "$CANARY_DIR" <<'EOF'
import io, sys, tarfile
src, dst, canary = sys.argv[1:4]
up = "../" * 12 + canary.lstrip("/")
def x(**kv):
    return {"SCHILY.xattr.user.overlay.overlay." + k: v for k, v in kv.items()}
entries = [
    ("abs", tarfile.DIRTYPE, x(redirect=canary)),
    ("up", tarfile.DIRTYPE, x(redirect=up)),
    ("etc2", tarfile.DIRTYPE, x(redirect=canary + "/etc", opaque="y", origin="\0" * 20)),
    ("meta", tarfile.REGTYPE, x(metacopy="", redirect=canary + "/etc/shadow")),
    ("meta2", tarfile.REGTYPE, x(metacopy="", redirect="/" + up + "/etc/shadow")),
    ("opq", tarfile.DIRTYPE, x(opaque="x")),
    ("opq/shadow", tarfile.REGTYPE, x(whiteout="y")),
]
with tarfile.open(src) as i, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as o:
    for m in i.getmembers():
        o.addfile(m, i.extractfile(m) if m.isreg() else None)
    for name, kind, pax in entries:
        t = tarfile.TarInfo(name)
        t.type, t.pax_headers = kind, pax
        t.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        data = b"the image's own\n" if kind == tarfile.REGTYPE else b""
        t.size = len(data)
        o.addfile(t, io.BytesIO(data) if data else None)
EOF
run iso image import hostile "$T/hostile.tar"
[ "$RUN_RC" -eq 0 ] || bail_out "import of the hostile image failed: $RUN_ERR"
mkdir -p "$T/view"
run iso mount hostile "$T/view" --read-only
[ "$RUN_RC" -eq 0 ] || bail_out "read-only view of the hostile image failed: $RUN_ERR"
run iso run --ephemeral "$T/view" true
case $RUN_ERR in *"needs user xattrs on tmpfs"*) skip_all "--ephemeral: no user xattrs on tmpfs (Linux < 6.6)" ;; esac
if command -v getfattr >/dev/null; then
	is "$(getfattr -h --only-values -n user.overlay.redirect "$T/view/abs" 2>/dev/null)" "$CANARY_DIR" \
		"the view shows the escaped redirect as user.overlay.redirect (what the kernel reads)"
fi

# Everywhere a followed redirect or metacopy would show the canary: reads,
# listings, then the same after copy-ups of each entry (a write, a chmod).
# shellcheck disable=SC2016
PROBE='for d in /abs /up /etc2 /opq; do ls -la "$d" "$d/etc" 2>&1; cat "$d/shadow" "$d/etc/shadow" 2>&1; done
cat /meta /meta2 2>&1; ls -la / 2>&1
echo w >>/meta; echo w >>/meta2; chmod 700 /abs /up /etc2 /opq; touch /abs/n /etc2/n /opq/n
for d in /abs /up /etc2 /opq; do ls -la "$d" "$d/etc" 2>&1; cat "$d/shadow" "$d/etc/shadow" 2>&1; done
cat /meta /meta2 2>&1; grep -r . /abs /up /etc2 /opq 2>&1; true'
run iso run --ephemeral "$T/view" grep " / " /proc/self/mountinfo
like "$RUN_OUT" " overlay overlay .*userxattr" "the layer is kernel overlayfs in userxattr mode"
like "$RUN_OUT" "redirect_dir=nofollow" "... which follows no redirect"
unlike "$RUN_OUT" "metacopy=on" "... and trusts no metacopy"
ISOFS_TEST_TIMEOUT=30 run iso run --ephemeral "$T/view" sh -c "$PROBE"
is "$RUN_RC" 0 "the probe ran to its end in the --ephemeral sandbox"
no_canary "no read, listing or copy-up in the sandbox shows the canary" "$RUN_OUT" "$RUN_ERR"
like "$RUN_OUT" "the image's own" "the files read are the image's own"
like "$RUN_OUT" "can't open '/meta': Operation not permitted" "a metacopy-marked file is refused, not followed"
is "$(cd "$CANARY_DIR" && find . -printf '%P %y %m %s\n' | LC_ALL=C sort && cat etc/shadow)" "$CANARY_BEFORE" \
	"the canary's directory is unchanged"
ok "nothing was written into the view" test ! -e "$T/view/abs/n"
no_canary_in_tree "nothing of the canary in the store" "$STORE"

run iso umount "$T/view"
is "$RUN_RC" 0 "umount the view"

# The same through the view isofs keeps for `run --ephemeral IMAGE` (STORE/views/hostile/root).
ISOFS_TEST_TIMEOUT=30 run iso run --ephemeral hostile sh -c "$PROBE"
is "$RUN_RC" 0 "the probe ran to its end in the kept view of the image"
no_canary "... where nothing shows the canary either" "$RUN_OUT" "$RUN_ERR"
like "$RUN_OUT" "the image's own" "... the files read are the image's own"
unlike "$RUN_OUT" "can't open '/meta'" "... and its marks are not even read (the kept view shows no xattrs): /meta opens"
is "$(cd "$CANARY_DIR" && find . -printf '%P %y %m %s
' | LC_ALL=C sort && cat etc/shadow)" "$CANARY_BEFORE" \
	"the canary's directory is unchanged"
ok "nothing was written into the kept view" test ! -e "$STORE/views/hostile/root/abs/n"
run iso image rm hostile
is "$RUN_RC" 0 "image rm of the hostile image stops its kept view"
no_canary_in_tree "nothing of the canary in the store" "$STORE"

done_testing
