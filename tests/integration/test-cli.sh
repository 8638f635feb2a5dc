#!/bin/bash
# SPDX-License-Identifier: MIT
# The command line: help, version, usage errors (exit 2, one line, no side
# effects), image names, and the exit status of a failing command.
. "$(dirname "$0")/lib.sh"
setup_tmp

# ---- help and version: stdout, exit 0, nothing else -----------------------------------

check_help() {
	local want=$1
	shift
	run isofs_cmd --store "$STORE" "$@"
	is "$RUN_RC" 0 "'isofs $*' exits 0"
	like "$RUN_OUT" "$want" "'isofs $*' prints its usage on stdout"
	is "$RUN_ERR" "" "'isofs $*' prints nothing on stderr"
}
check_help '^Usage: isofs \[--store DIR\] .*COMMAND' --help
check_help '^Usage: isofs \[--store DIR\] .*COMMAND' -h
check_help '^Usage: isofs image COMMAND' image --help
check_help '^Usage: isofs image COMMAND' image -h
check_help '^Usage: isofs image import NAME SOURCE' image import --help
check_help '^Usage: isofs image import NAME SOURCE' image import -h
check_help '^Usage: isofs image bootstrap NAME --busybox' image bootstrap --help
check_help '^Usage: isofs image ls' image ls --help
check_help '^Usage: isofs image inspect NAME' image inspect --help
check_help '^Usage: isofs image rm NAME' image rm --help

run isofs_cmd --help
like "$RUN_OUT" 'image' "the main usage lists the image command"
like "$RUN_OUT" 'Exit status: 0 success, 1 failure, 2 usage error' "the main usage documents the exit codes"

run isofs_cmd --version
is "$RUN_RC" 0 "--version exits 0"
like "$RUN_OUT" '^isofs [0-9]+\.[0-9]+\.[0-9]+$' "--version prints 'isofs X.Y.Z'"
is "$RUN_ERR" "" "--version prints nothing on stderr"
run isofs_cmd -V
like "$RUN_OUT" '^isofs [0-9]+\.[0-9]+\.[0-9]+$' "-V is --version"

ok "help and version did not create the store" test ! -e "$STORE"
ok "nor the default store" test ! -e "$ISOFS_STORE"

# ---- usage errors: exit 2, one 'isofs: ' line, no store created -------------------------

usage_error() {
	run isofs_cmd "$@"
	expect_refused "usage error: isofs $*" 2
}
usage_error --store "$STORE" bogus
usage_error --store "$STORE" --bogus image ls
usage_error --store "$STORE" -x image ls
usage_error --store
usage_error --store= image ls
usage_error --store "" image ls
usage_error --store "$STORE" image
usage_error --store "$STORE" image bogus
usage_error --store "$STORE" image import
usage_error --store "$STORE" image import onlyname
usage_error --store "$STORE" image import a b c
usage_error --store "$STORE" image import --bogus a b
usage_error --store "$STORE" image ls extra
usage_error --store "$STORE" image ls --bogus
usage_error --store "$STORE" image inspect
usage_error --store "$STORE" image inspect a b
usage_error --store "$STORE" image rm
usage_error --store "$STORE" image bootstrap
usage_error --store "$STORE" image bootstrap bb
usage_error --store "$STORE" image bootstrap bb --busybox --debian bookworm
usage_error --store "$STORE" image bootstrap bb --busybox --mirror http://deb.debian.org/debian
usage_error --store "$STORE" image bootstrap bb --debian
usage_error --store "$STORE" image bootstrap a b --busybox

run isofs_cmd --store "$STORE" image bogus
like "$RUN_ERR" "unknown command 'bogus'" "an unknown command is named in the error"

# isofs without a command: exit 2 and a first line starting 'isofs: '
run isofs_cmd --store "$STORE"
is "$RUN_RC" 2 "isofs without a command exits 2"
like "$RUN_ERR" '^isofs: missing command' "isofs without a command says so"

ok "usage errors did not create the store" test ! -e "$STORE"

# ---- image names ----------------------------------------------------------------------

mkdir src && echo data >src/file
name64=$(printf 'n%.0s' $(seq 1 64))
name65=$(printf 'n%.0s' $(seq 1 65))

for bad in "" . .. .hidden _under -dash a/b "a b" 'a:b' 'ä' 'a*' "$name65" 'a\' $'\t'; do
	printable=$(printf '%q' "$bad")
	for cmd in "import $bad src" "inspect $bad" "rm $bad" "bootstrap $bad --busybox"; do
		case $cmd in
		import*) args=(image import "$bad" src) ;;
		inspect*) args=(image inspect "$bad") ;;
		rm*) args=(image rm "$bad") ;;
		bootstrap*) args=(image bootstrap "$bad" --busybox) ;;
		esac
		run iso "${args[@]}"
		if [ "$RUN_RC" -eq 2 ] && [ "$RUN_ERR_LINES" -eq 1 ] && [[ $RUN_ERR == "isofs: "* ]]; then
			pass "invalid name $printable: '${args[1]}' exits 2 with one error line"
		else
			fail "invalid name $printable: '${args[1]}' exits 2 with one error line" "exit $RUN_RC" "$RUN_ERR"
		fi
	done
done
# The error quotes the name: a newline in it must not split the one error line.
run iso image import $'bad\nname' src
is "$RUN_RC" 2 "a name with a newline exits 2"
is "$RUN_ERR_LINES" 1 "a name with a newline still gives a one-line error"
run iso image import "$name65" src
like "$RUN_ERR" "invalid image name" "the error says the name is invalid"
ok "invalid names did not create the store" test ! -e "$STORE"

for good in a 0 Z "$name64" A.b_c-1 a.. 9-_. x--y; do
	run iso image import "$good" src
	is "$RUN_RC" 0 "valid name '$good' is accepted"
done
run iso image ls --json
is "$(image_names | LC_ALL=C sort)" "$(printf '%s\n' 0 9-_. A.b_c-1 Z a a.. "$name64" x--y | LC_ALL=C sort)" \
	"all valid names are listed"
ok "a 64-character name is a directory of the store" test -d "$STORE/images/$name64/rootfs"

# ---- failures: exit 1 ---------------------------------------------------------------

run iso image inspect missing
expect_refused "inspect of a missing image"
like "$RUN_ERR" "missing" "the error names the missing image"
run iso image rm missing
expect_refused "rm of a missing image"
run iso image import new "$T/does-not-exist"
expect_refused "import of a missing source"
like "$RUN_ERR" "does-not-exist" "the error names the missing source"

done_testing
