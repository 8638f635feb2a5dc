#!/bin/bash
# isofs run --ephemeral IMAGE: the throwaway layer of --ephemeral over a
# read-only view of the image that isofs keeps mounted between such runs
# (STORE/views/IMAGE/root): started by the first run, shared by the next ones
# (one server, one page cache), detached once idle (--view-idle) or by an
# `image rm`, replaced when its server was killed; a sandbox still running
# in a detached view keeps it, and keeps the image from `image rm`.
. "$(dirname "$0")/lib.sh"
setup_tmp
unmount_all_at_exit
# servers and watchers of this store's views, whatever the test left (all of them exit once unmounted)
at_cleanup 'for p in $(pgrep -f -- "--store $STORE "); do kill -9 "$p" 2>/dev/null; done'

view_of() { echo "$STORE/views/$1/root"; }
# the view's FUSE device (major:minor) as mountinfo shows it, or nothing when none is mounted there
view_dev() { awk -v p="$(view_of "$1")" '$5 == p { dev = $3 } END { print dev }' /proc/self/mountinfo; }
# its options, file system type and source (after mountinfo's " - ")
view_line() {
	awk -v p="$(view_of "$1")" '$5 == p { for (i = 7; $i != "-"; i++) ; print $6, $(i + 1), $(i + 2) }' /proc/self/mountinfo
}
no_procs() { ! pgrep -f -- "$1" >/dev/null; }
# the pid of the process serving the view of $1: of the two its first run left (their command
# line is that run's), the server has threads, its watcher one (a rootless server's fds are not
# readable: it is not dumpable)
view_server() {
	local p
	for p in $(pgrep -f -- "--store $STORE "); do
		if [ "$(awk '/^Threads:/ { print $2 }' "/proc/$p/status" 2>/dev/null)" -gt 1 ] 2>/dev/null; then
			grep -qzx -- "$1" "/proc/$p/cmdline" && echo "$p"
		fi
	done
}
wait_until() { # SECONDS COMMAND...: polls every 0.2 s
	local n=$(($1 * 5))
	shift
	while ! "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.2
	done
}
no_view() { [ -z "$(view_dev "$1")" ]; }

for img in bb bb2 bb3 bb4; do
	run iso image bootstrap "$img" --busybox
	[ "$RUN_RC" -eq 0 ] || bail_out "bootstrap --busybox $img failed: $RUN_ERR"
done

# ---- the first run starts the view, the next ones share it --------------------------
# (bb's view is kept through the whole test: waits below add up to more than the default minute)
run iso run --ephemeral --view-idle 900 bb sh -c 'echo new >/etc/new && cat /etc/new && echo more >>/etc/passwd && hostname'
case $RUN_ERR in *"needs user xattrs on tmpfs"*) skip_all "--ephemeral: no user xattrs on tmpfs (Linux < 6.6)" ;; esac
is "$RUN_RC" 0 "run --ephemeral IMAGE: the command ran"
like "$RUN_OUT" $'^new\nbb-[a-z0-9]{6}$' "it saw its own write; its hostname is named after the image"
like "$(view_line bb)" "^ro,[^ ]* fuse.isofs-overlay isofs-overlay$" "the image's view is mounted at STORE/views/bb/root, read-only"
ok "the view never got the write" test ! -e "$(view_of bb)/etc/new"
dev=$(view_dev bb)
store_snapshot

run iso run --ephemeral bb sh -c 'test ! -e /etc/new && grep -c more /etc/passwd'
is "$RUN_OUT" "0" "the next run starts from the image again (nothing of the last run's)"
is "$(view_dev bb)" "$dev" "... in the same view (the same FUSE connection: no new server)"
run iso run --ephemeral bb sh -c 'exit 7'
is "$RUN_RC" 7 "the command's exit status is isofs run's"
is "$(echo piped | iso run -i --ephemeral bb cat)" "piped" "stdin reaches the command"
# isofs run returns on the command's exit (the namespaces are torn down after, as bwrap does):
# what the command left running is killed all the same
run iso run --ephemeral bb sh -c 'sleep 1017 </dev/null >/dev/null 2>&1 & echo started'
is "$RUN_RC:$RUN_OUT" "0:started" "a run that leaves a process behind returns"
ok "... which is killed with the sandbox" wait_until 10 no_procs "sleep 1017"
# the init lives on its own (its manager exits once it runs): a killed isofs run still ends it
"$ISOFS_BIN" --store "$STORE" run --ephemeral bb sh -c 'echo ready; sleep 1019' >"$T/killed.out" 2>&1 &
owner=$!
bg_track "$owner"
ok "a run to be killed has started" wait_until 30 grep -q ready "$T/killed.out"
kill -9 "$owner"
ok "... killed, its sandbox ends (its command is gone)" wait_until 10 no_procs "sleep 1019"
is "$(image_names)" "$_snap_names" "no image added or removed by the runs"
is "$(store_digest)" "$_snap_digest" "the image is untouched"
is "$(ls "$STORE/tmp" | grep -v '^view-')" "" "nothing of the runs left in STORE/tmp (the view's lock alone)"

# ---- isofs serve: one layer for the session's commands --------------------------------
run iso serve --ephemeral bb <<'EOF'
{"type":"exec","argv":["sh","-c","echo first >/etc/served"]}
{"type":"exec","argv":["cat","/etc/served"]}
EOF
is "$RUN_RC" 0 "serve --ephemeral IMAGE"
like "$RUN_OUT" '"data":"first\\n"' "the session's second command sees the first one's file"
is "$(view_dev bb)" "$dev" "... through the same kept view"

# The session ends (serve's EOF) while an isofs exec command still runs in it: that command is
# killed and its client told (137), and nothing of the sandbox runs once serve has returned.
mkfifo "$T/serve.in"
"$ISOFS_BIN" --store "$STORE" serve --ephemeral bb <"$T/serve.in" >"$T/serve.out" 2>&1 &
serve_pid=$!
bg_track "$serve_pid"
exec 7>"$T/serve.in"
echo '{"type":"exec","argv":["true"]}' >&7
ok "serve ran a first command" wait_until 30 grep -q '"type":"exit"' "$T/serve.out"
sess=$(sed -n 's/.*"type":"hello".*"sandbox":"\([^"]*\)".*/\1/p' "$T/serve.out")
"$ISOFS_BIN" --store "$STORE" exec "$sess" -- sleep 1022 7>&- & # (the fifo's one writer stays ours)
exec_pid=$!
bg_track "$exec_pid"
ok "an isofs exec command runs beside it" \
	wait_until 10 sh -c "'$ISOFS_BIN' --store '$STORE' ps | grep -q 'sleep 1022'"
exec 7>&-
wait "$serve_pid"
is "$?" 0 "serve ends at EOF"
ok "... and no process of its sandbox is left when it has returned" no_procs "sleep 1022"
wait "$exec_pid"
is "$?" 137 "... the exec'd command was killed with the sandbox (137)"

# ---- long use: hundreds of runs in one view leak nothing in its server -------------------
# Its own image and view, started without meson's MALLOC_PERTURB_ (which makes malloc touch
# every page it hands out or takes back: RSS would measure that).  status is readable even for
# a rootless server, which is not dumpable: FDSize is the size of its fd table, which an fd
# leaked per run would grow past 256.  Measured after 100 runs: by then the server has the
# worker threads it needs.
perturb=${MALLOC_PERTURB_-}
unset MALLOC_PERTURB_
run iso image bootstrap bb6 --busybox
for i in $(seq 100); do iso run --ephemeral bb6 sh -c 'ls /etc >/dev/null' || break; done
srv=$(view_server bb6)
ok "the server of bb6's view is found" test -n "$srv"
rss_before=$(awk '/^VmRSS:/ { print $2 }' "/proc/$srv/status")
fails=0
for i in $(seq 300); do iso run --ephemeral bb6 sh -c 'echo $$ >/tmp/x && ls /etc >/dev/null' || fails=$((fails + 1)); done
is "$fails" 0 "300 runs in a row in a kept view succeed"
is "$(view_server bb6)" "$srv" "... all served by the same server"
fdsize=$(awk '/^FDSize:/ { print $2 }' "/proc/$srv/status")
ok "... whose fd table stays small (FDSize $fdsize <= 256)" test "$fdsize" -le 256
rss_after=$(awk '/^VmRSS:/ { print $2 }' "/proc/$srv/status")
ok "... and whose memory does not grow with the runs (${rss_before} kB -> ${rss_after} kB)" \
	test "$((rss_after - rss_before))" -lt 2048
run iso image rm bb6
is "$RUN_RC" 0 "image rm of bb6 stops its view"
[ -n "$perturb" ] && export MALLOC_PERTURB_=$perturb

# ---- started once by runs that come together ------------------------------------------
pids=()
for i in 1 2 3 4 5 6; do
	iso run --ephemeral bb2 sh -c "echo $i >/etc/n && cat /etc/n" >"$T/par.$i" 2>&1 &
	pids+=($!)
	bg_track $!
done
fails=0
for i in 1 2 3 4 5 6; do
	wait "${pids[$((i - 1))]}" || fails=$((fails + 1))
	[ "$(cat "$T/par.$i")" = "$i" ] || { fails=$((fails + 1)); diag "run $i: $(cat "$T/par.$i")"; }
done
is "$fails" 0 "six runs of an image with no view yet, at once: each succeeds with its own layer"
is "$(grep -c " $(view_of bb2) " /proc/self/mountinfo)" 1 "... and one view of it is mounted"

# ---- a caller's pipe is not held by the view's server ----------------------------------
# fd 7 is inherited without CLOEXEC: a server keeping it would keep `cat` waiting for weeks.
out=$( { timeout 60 "${ISOFS_WRAP[@]}" "$ISOFS_BIN" --store "$STORE" run --ephemeral bb3 echo piped-out 7>&1; } |
	{ timeout 30 cat; echo "cat: $?"; })
is "$out" "piped-out
cat: 0" "a run that starts a view returns, and its caller's pipe ends (the server holds none of its fds)"

# ---- image rm stops an idle view --------------------------------------------------------
run iso image rm bb2
is "$RUN_RC" 0 "image rm of an image whose kept view is idle"
ok "its view is unmounted" no_view bb2
ok "the image is gone" test ! -e "$STORE/images/bb2"
is "$(view_dev bb)" "$dev" "the view of another image stays"

# ---- ... but not one a sandbox still runs in --------------------------------------------
mkdir -p "$T/mark"
chmod 0777 "$T/mark"
iso run --ephemeral --bind "$T/mark:/mark" bb3 sh -c 'touch /mark/started; while [ ! -e /mark/go ]; do sleep 0.1; done; cat /bin/busybox >/dev/null && echo still-reading' >"$T/long.out" 2>&1 &
long=$!
bg_track $long
wait_until 30 test -e "$T/mark/started"
run iso image rm bb3
expect_refused "image rm while a sandbox runs in the image's kept view" 1
like "$RUN_ERR" "in use" "... the error says it is in use"
ok "the image is still there" test -d "$STORE/images/bb3"
ok "its view was detached meanwhile" no_view bb3
touch "$T/mark/go"
wait $long
is "$?" 0 "the sandbox in the detached view ran on"
is "$(cat "$T/long.out")" "still-reading" "... reading through it to the end"
ok "the server of the detached view exits with its last sandbox" wait_until 20 no_procs "--store $STORE run --ephemeral --bind"
run iso image rm bb3
is "$RUN_RC" 0 "image rm once that sandbox has ended"

# ---- idle: detached once no run came for --view-idle -------------------------------------
run iso run --ephemeral --view-idle 3 bb4 true
dev4=$(view_dev bb4)
for i in 1 2 3 4 5 6; do
	sleep 1
	iso run --ephemeral bb4 true || diag "run $i in bb4's view failed"
done
is "$(view_dev bb4)" "$dev4" "runs closer together than --view-idle 3 keep the view (6 s, one run a second)"
srv4=$(view_server bb4)
ok "... served by one server all along" test -n "$srv4" -a "$(echo "$srv4" | wc -w)" -eq 1
ok "then it is detached once idle (within 20 s)" wait_until 20 no_view bb4
ok "... and its server and watcher exit" wait_until 20 no_procs "--store $STORE run --ephemeral --view-idle 3"

run iso run --ephemeral --view-idle 1 bb4 true
is "$RUN_RC" 0 "a run with --view-idle 1"
ok "its view is mounted" test -n "$(view_dev bb4)"
ok "it is detached once idle (within 20 s)" wait_until 20 no_view bb4
ok "its server and watcher exit" wait_until 20 no_procs "--store $STORE run --ephemeral --view-idle 1 bb4"
run iso image rm bb4
is "$RUN_RC" 0 "image rm right after: nothing holds it"

# ---- a killed server: its dead view is replaced -------------------------------------------
srv=$(view_server bb)
ok "the server of bb's view is found" test -n "$srv"
kill -9 $srv 2>/dev/null
run iso run --ephemeral bb hostname
is "$RUN_RC" 0 "the next run after its server was killed succeeds"
srv2=$(view_server bb)
ok "... in a new view, with a server of its own" test -n "$srv2" -a "$srv2" != "$srv"

# ---- a killed watcher: its view, which nothing would stop, is replaced -----------------------
# (the view's two processes share the first run's command line; the watcher has one thread)
watcher=
for p in $(pgrep -f -- "--store $STORE "); do
	[ "$p" = "$srv2" ] && continue
	if [ "$(awk '/^Threads:/ { print $2 }' "/proc/$p/status" 2>/dev/null)" = 1 ] &&
		grep -qzx -- bb "/proc/$p/cmdline" 2>/dev/null; then
		watcher=$p
	fi
done
ok "the watcher of bb's view is found" test -n "$watcher"
kill -9 "$watcher" 2>/dev/null
run iso run --ephemeral bb hostname
is "$RUN_RC" 0 "the next run after its watcher was killed succeeds"
srv3=$(view_server bb)
ok "... in a new view, with a server of its own" test -n "$srv3" -a "$srv3" != "$srv2"
ok "... the unwatched view's server exits" wait_until 20 sh -c "! kill -0 $srv2 2>/dev/null"

# ---- isofs umount of the kept view, then a run starts it again ------------------------------
run iso umount "$(view_of bb)"
is "$RUN_RC" 0 "isofs umount of the kept view"
ok "it is unmounted" no_view bb
run iso run --ephemeral bb true
is "$RUN_RC" 0 "a run after that starts it again"
ok "mounted again" test -n "$(view_dev bb)"

# ---- the kept view shows no xattrs (noxattrs): the kernel stops asking it ----------------------
# Each lookup of the sandbox's kernel overlay asks its lower for overlay xattrs: a round trip to
# the view each, unless the view says it has none (ENOSYS, which the kernel remembers).
xsrc="$T/xsrc"
mkdir -p "$xsrc/bin" "$xsrc/etc"
cp "$(command -v busybox)" "$xsrc/bin/busybox"
for a in sh cat; do ln -s busybox "$xsrc/bin/$a"; done
echo data >"$xsrc/etc/tagged"
setfattr -n user.tag -v kept "$xsrc/etc/tagged"
run iso image import bbx "$xsrc"
is "$RUN_RC" 0 "an image with a user xattr on /etc/tagged"
run iso run --ephemeral bbx sh -c 'echo more >>/etc/tagged && cat /etc/tagged'
is "$RUN_RC:$RUN_OUT" $'0:data\nmore' "a file with xattrs is copied up and written in the sandbox"
xattr_of() { python3 -c 'import os, sys
try: print(os.getxattr(sys.argv[1], "user.tag").decode())
except OSError as e: print(os.strerror(e.errno))' "$1"; }
is "$(xattr_of "$(view_of bbx)/etc/tagged")" "$(python3 -c 'import errno, os; print(os.strerror(errno.EOPNOTSUPP))')" \
	"the kept view shows no xattrs (EOPNOTSUPP)"
mkdir "$T/bbx-view"
run iso mount bbx "$T/bbx-view" --read-only
is "$RUN_RC" 0 "isofs mount --read-only of the same image"
is "$(xattr_of "$T/bbx-view/etc/tagged")" "kept" "... shows them (the image keeps its xattrs)"
run iso umount "$T/bbx-view"
run iso umount "$(view_of bbx)"
is "$RUN_RC" 0 "its kept view unmounted"

# ---- bad input: one line, nothing run ---------------------------------------------------------
store_snapshot
run iso run --ephemeral --view-idle 0 bb true
expect_refused "--view-idle 0" 2
run iso run --ephemeral --view-idle soon bb true
expect_refused "--view-idle that is not a number" 2
like "$RUN_ERR" "--view-idle 'soon'" "... the error names the value"
run iso run --view-idle 5 bb true
expect_refused "--view-idle without --ephemeral" 2
run iso sandbox create sb bb
run iso run --ephemeral --sandbox sb true
expect_refused "--ephemeral with a sandbox" 2
run iso run --ephemeral nosuch true
expect_refused "--ephemeral with an image that does not exist" 125
like "$RUN_ERR" "nosuch" "... the error names it"
ok "no view for it" test ! -e "$STORE/views/nosuch"
run iso sandbox rm sb
is "$(image_names)" "$_snap_names" "no image added or removed by the refused runs"
is "$(store_digest)" "$_snap_digest" "... nor changed"

done_testing
