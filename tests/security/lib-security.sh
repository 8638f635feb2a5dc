# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Sourced by every tests/security/test-*.sh after tests/integration/lib.sh:
# the canary an attack tries to reach, and the checks that it never shows up.
#
#   plant_canary            # $CANARY_DIR (outside the store), $CANARY (its file), $CANARY_TEXT
#   no_canary DESC TEXT…    # passes when none of the texts holds $CANARY_TEXT
#   no_canary_in_tar DESC TAR
#   no_canary_in_tree DESC DIR
#
# The canary's directory is $T/host (beside the store $T/store, never in it);
# its content is random, so finding it anywhere means an attack read it.

plant_canary() {
	CANARY_DIR=$T/host
	mkdir -p "$CANARY_DIR/etc"
	CANARY_TEXT="isofs-canary-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
	CANARY=$CANARY_DIR/etc/shadow
	printf '%s\n' "$CANARY_TEXT" >"$CANARY"
	chmod 0644 "$CANARY"
	# every component from / must resolve for an escape to have a chance: make it reachable
	chmod 0755 "$CANARY_DIR" "$CANARY_DIR/etc"
}

# no_canary DESC TEXT…
no_canary() {
	local desc=$1 t
	shift
	for t in "$@"; do
		if printf '%s' "$t" | grep -qF "$CANARY_TEXT"; then
			fail "$desc" "the canary's content ($CANARY) showed up"
			return 1
		fi
	done
	pass "$desc"
}

# no_canary_in_tar DESC TAR: nothing in the archive holds the canary's content
no_canary_in_tar() {
	local desc=$1 tar=$2
	if [ ! -s "$tar" ]; then
		pass "$desc (no archive written)"
		return 0
	fi
	if grep -qaF "$CANARY_TEXT" "$tar"; then
		fail "$desc" "the canary's content is in $tar"
		return 1
	fi
	pass "$desc"
}

# no_canary_in_tree DESC DIR: no file below DIR holds the canary's content
no_canary_in_tree() {
	local desc=$1 dir=$2
	if grep -rqaF "$CANARY_TEXT" "$dir" 2>/dev/null; then
		fail "$desc" "the canary's content is below $dir: $(grep -rlaF "$CANARY_TEXT" "$dir" 2>/dev/null | head -3)"
		return 1
	fi
	pass "$desc"
}
