#!/bin/bash
# SPDX-License-Identifier: MIT
# image ls (table and --json), image inspect, image rm: formats, agreement with
# each other and with the images on disk, removal of what a user cannot write.
. "$(dirname "$0")/lib.sh"
setup_tmp

# ---- an empty store ---------------------------------------------------------------------

run iso image ls
is "$RUN_RC" 0 "ls on a new store succeeds"
like "$RUN_OUT" '^NAME +SIZE +FILES +CREATED$' "ls on an empty store: the header only"
run iso image ls --json
is "$RUN_RC" 0 "ls --json on an empty store succeeds"
is "$(printf '%s' "$RUN_OUT" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin))')" "[]" \
	"ls --json on an empty store: an empty array"

# ---- three images -------------------------------------------------------------------------

mkdir -p a/sub && echo one >a/f1 && echo two >a/sub/f2 && ln -s f1 a/link
tar -C a -cf a.tar .
craft many many.tar --count 300 || bail_out "craft.py failed"
start=$(date +%s)
run iso image import zeta many.tar
run iso image import alpha "$T/a"
run iso image import Mid a.tar
end=$(date +%s)

run iso image ls --json
is "$RUN_RC" 0 "ls --json succeeds"
printf '%s\n' "$RUN_OUT" >ls.json
ok "ls --json is valid JSON" "$PYTHON" -m json.tool ls.json
is "$("$PYTHON" -c '
import json
for i in json.load(open("ls.json")):
    print(i["name"], sorted(i), i["files"], i["source"], i["parent"])' | sed "s|$T|T|")" \
	"Mid ['created', 'created_unix', 'files', 'name', 'parent', 'size', 'source'] 4 tar:a.tar None
alpha ['created', 'created_unix', 'files', 'name', 'parent', 'size', 'source'] 4 dir:T/a None
zeta ['created', 'created_unix', 'files', 'name', 'parent', 'size', 'source'] 304 tar:many.tar None" \
	"ls --json: sorted by name; keys name,size,files,created,created_unix,source,parent; files, source, parent"
created_ok=$("$PYTHON" -c '
import json, sys, datetime
lo, hi = int(sys.argv[1]), int(sys.argv[2])
for i in json.load(open("ls.json")):
    t = datetime.datetime.strptime(i["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    if not lo <= t <= hi or not isinstance(i["size"], int) or i["size"] <= 0:
        print("bad:", i)' "$start" "$end")
is "$created_ok" "" "ls --json: created is an ISO 8601 UTC time of the import; size a positive integer"

run iso image ls
is "$RUN_RC" 0 "ls succeeds"
printf '%s\n' "$RUN_OUT" >ls.txt
# The table must say what --json says: name, size as 'N B'/'N.N KiB', files, created.
expected_table=$("$PYTHON" -c '
import json
def human(n):
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    v, u = float(n), 0
    while v >= 1024 and u + 1 < len(units):
        v /= 1024; u += 1
    return "%d B" % n if u == 0 else "%.1f %s" % (v, units[u])
print("%-24s %10s %8s  %s" % ("NAME", "SIZE", "FILES", "CREATED"))
for i in json.load(open("ls.json")):
    print("%-24s %10s %8d  %s" % (i["name"], human(i["size"]), i["files"], i["created"].replace("T", " ").rstrip("Z")))')
is "$(cat ls.txt)" "$expected_table" "ls: one row per image, the columns NAME SIZE FILES CREATED agree with --json"

# ---- inspect ------------------------------------------------------------------------------

run iso image inspect alpha
is "$RUN_RC" 0 "inspect succeeds"
printf '%s\n' "$RUN_OUT" >alpha.json
ok "inspect prints valid JSON" "$PYTHON" -m json.tool alpha.json
is "$("$PYTHON" -c '
import json
j = json.load(open("alpha.json"))
print(sorted(j))
print(sorted(j["import"]))')" \
	"['created', 'created_unix', 'files', 'format', 'import', 'name', 'parent', 'rootfs', 'rootless', 'size', 'source']
['acls_dropped', 'bytes', 'devices', 'devices_skipped', 'dirs', 'entries', 'fifos', 'files', 'hardlinks', 'overlay_xattrs_dropped', 'owners_dropped', 'owners_in_xattr', 'owners_subordinate', 'sockets_skipped', 'symlinks', 'xattrs_dropped']" \
	"inspect: the documented keys, and the import counters"
is "$("$PYTHON" -c '
import json
j = json.load(open("alpha.json"))
l = [i for i in json.load(open("ls.json")) if i["name"] == "alpha"][0]
print([j[k] == l[k] for k in ("name", "size", "files", "created", "source", "parent")])
i = j["import"]
print(i["entries"], i["files"], i["dirs"], i["symlinks"], i["bytes"])')" \
	"[True, True, True, True, True, True]
4 2 1 1 8" "inspect agrees with ls --json, and counts what was imported"
is "$("$PYTHON" -c 'import json; print(json.load(open("alpha.json"))["rootfs"])')" "$(readlink -f "$STORE")/images/alpha/rootfs" \
	"inspect: rootfs is the absolute path of the image's root"

# ---- rm ---------------------------------------------------------------------------------

run iso image rm alpha
is "$RUN_RC" 0 "rm succeeds"
is "$RUN_OUT$RUN_ERR" "" "rm prints nothing"
ok "rm: the image's directory is gone" test ! -e "$STORE/images/alpha"
ok "rm: STORE/tmp is empty" tmp_is_empty
is "$(image_names | tr '\n' ' ')" "Mid zeta " "rm: ls no longer shows it"
run iso image inspect alpha
expect_refused "inspect after rm"
like "$RUN_ERR" "no image named 'alpha'" "inspect after rm: no image named 'alpha'"
run iso image rm alpha
expect_refused "rm of a removed image"
like "$RUN_ERR" "^isofs: no image named 'alpha'\$" "rm of a removed image: no image named 'alpha'"

run iso image import alpha "$T/a"
is "$RUN_RC" 0 "the name can be used again"

run iso image rm Mid missing zeta
is "$RUN_RC" 1 "rm of two images and a missing one exits 1"
is "$RUN_ERR" "isofs: no image named 'missing'" "and says which one is missing, on one line"
is "$(image_names | tr '\n' ' ')" "alpha " "the two existing ones are removed anyway"

# Images whose directories their owner cannot write or even read.
run iso image import locked "$T/a"
chmod 0000 "$STORE/images/locked/rootfs/sub"
chmod 0500 "$STORE/images/locked/rootfs"
run iso image rm locked
is "$RUN_RC" 0 "rm of an image with 0000 and 0500 directories succeeds"
ok "and it is gone" test ! -e "$STORE/images/locked"
ok "STORE/tmp is empty" tmp_is_empty

craft xattr-readonly ro.tar || bail_out "craft.py failed"
run iso image import ro ro.tar
run iso image rm ro
is "$RUN_RC" 0 "rm of an image with a read-only directory full of read-only files succeeds"
ok "and it is gone" test ! -e "$STORE/images/ro"

if [ "$IS_ROOT" -eq 1 ]; then
	craft special-modes modes.tar || bail_out "craft.py failed"
	run iso image import modes modes.tar
	run iso image rm modes
	is "$RUN_RC" 0 "root: rm of an image with a 0000 directory made by import succeeds"
else
	skip "root: rm of an image with a 0000 directory made by import" "rootless cannot import one (see test-import-crafted)"
fi
is "$(image_names | tr '\n' ' ')" "alpha " "only alpha is left"

# A damaged store: an unreadable meta.json is listed, not hidden; an image naming itself as parent goes.
run iso image import broken "$T/a"
echo '{ not json' >"$STORE/images/broken/meta.json"
run iso image ls
like "$RUN_OUT" $'(^|\n)broken +- +- +damaged' "ls lists an image whose meta.json is damaged, as damaged"
run iso image ls --json
is "$(echo "$RUN_OUT" | "$PYTHON" -c 'import json,sys; print([(i["name"], i.get("damaged", False)) for i in json.load(sys.stdin)])')" \
	"[('alpha', False), ('broken', True)]" "ls --json: \"damaged\": true"
run iso image rm broken
is "$RUN_RC" 0 "rm of the damaged image"
run iso image import selfish "$T/a"
"$PYTHON" -c 'import json,sys; p=sys.argv[1]; m=json.load(open(p)); m["parent"]="selfish"; json.dump(m, open(p, "w"))' \
	"$STORE/images/selfish/meta.json"
run iso image rm selfish
is "$RUN_RC" 0 "rm of an image that names itself as its parent"
is "$(image_names | tr '\n' ' ')" "alpha " "only alpha is left again"

done_testing
