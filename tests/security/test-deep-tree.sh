#!/bin/bash
# A sandbox makes a directory tree 10,500 levels deep (deeper than PATH_MAX
# allows to name, more levels than fds a process may hold): every removal —
# the ephemeral sandbox's end, sandbox rm, sandbox reset — still takes it all,
# with 64 fds at most, and leaves nothing in STORE/tmp.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-security.sh"
setup_tmp

run iso image bootstrap bb --busybox
is "$RUN_RC" 0 "bootstrap the busybox image" || true

# Chunks of 1050 levels (a path that still fits PATH_MAX), each new chunk
# taking the tree so far at its bottom: 10 chunks, 10,509 levels below /t.
DEEP='c=$(printf "d/%.0s" $(seq 1050)); mkdir -p /t/$c || exit 1
i=0; while [ $i -lt 9 ]; do mkdir -p /n/$c && mv /t /n/$c/t && mv /n /t || exit 1; i=$((i+1)); done
cd /t/$c && echo bottom > bottom-of-first-chunk && echo made'

tmp_listing() { ls -A "$STORE/tmp" 2>&1; }

# ---- an ephemeral sandbox ---------------------------------------------------------
run iso run bb -- sh -c "$DEEP"
is "$RUN_OUT" made "an ephemeral sandbox makes a 10,509-level tree" || diag "$RUN_ERR"
is "$(tmp_listing)" "" "STORE/tmp is empty once the ephemeral sandbox has ended"

# ---- sandbox rm, with 64 fds ------------------------------------------------------------
run iso sandbox create deep1 bb
run iso run --sandbox deep1 -- sh -c "$DEEP"
is "$RUN_OUT" made "a persistent sandbox keeps a 10,509-level tree"
ok "its upper directory holds the tree" test -d "$STORE/sandboxes/deep1/upper/t/d/d/d"
run bash -c 'ulimit -n 64 && exec "$@"' _ "$ISOFS_BIN" --store "$STORE" sandbox rm deep1
is "$RUN_RC" 0 "sandbox rm of it succeeds with ulimit -n 64" || diag "$RUN_ERR"
ok "the sandbox's directory is gone" test ! -e "$STORE/sandboxes/deep1"
is "$(tmp_listing)" "" "STORE/tmp is empty after sandbox rm"

# ---- sandbox reset, with 64 fds --------------------------------------------------------
run iso sandbox create deep2 bb
run iso run --sandbox deep2 -- sh -c "$DEEP"
is "$RUN_OUT" made "another sandbox makes the tree"
run bash -c 'ulimit -n 64 && exec "$@"' _ "$ISOFS_BIN" --store "$STORE" sandbox reset deep2
is "$RUN_RC" 0 "sandbox reset of it succeeds with ulimit -n 64" || diag "$RUN_ERR"
is "$(ls -A "$STORE/sandboxes/deep2/upper" 2>&1)" "" "its upper directory is empty"
is "$(tmp_listing)" "" "STORE/tmp is empty after sandbox reset"

# ---- a stale temporary directory (an interrupted command's), removed by the next command ----
mkdir -p "$STORE/tmp/run.stale/upper"
(cd "$STORE/tmp/run.stale/upper" && python3 -c '
import os
for i in range(10500):
    os.mkdir("d"); os.chdir("d")
')
run bash -c 'ulimit -n 64 && exec "$@"' _ "$ISOFS_BIN" --store "$STORE" image ls
is "$RUN_RC" 0 "the next command (with ulimit -n 64) succeeds"
is "$(tmp_listing)" "" "... and has removed the deep stale temporary directory"

done_testing
