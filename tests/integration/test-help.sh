#!/bin/bash
# SPDX-License-Identifier: MIT
# Help, manual pages and shell completion: `isofs help`, each subcommand's own
# usage, a man page for every command that renders without warnings and names
# every option its --help does, and the bash, zsh and fish completions
# (commands, options, image and sandbox names of the store on the line).
. "$(dirname "$0")/lib.sh"
setup_tmp

: "${ISOFS_MAN_DIR:=}"
: "${ISOFS_COMPLETIONS_DIR:=$TESTS_DIR/../../completions}"
COMPL=$ISOFS_COMPLETIONS_DIR

# ---- isofs help ----------------------------------------------------------------------

# help_is DESC WANT_FIRST_LINE ARGS…: exit 0, that usage alone on stdout, nothing on stderr.
help_is() {
	local desc=$1 want=$2
	shift 2
	run iso "$@"
	is "$RUN_RC" 0 "$desc: exit 0"
	is "$(head -n 1 <<<"$RUN_OUT")" "$want" "$desc: its usage"
	is "$RUN_ERR" "" "$desc: nothing on stderr"
}
help_is "isofs help" "Usage: isofs [--store DIR] [--log-level LEVEL | --debug] COMMAND [ARGS…]" help
top=$RUN_OUT
run iso --help
is "$RUN_OUT" "$top" "isofs help prints what isofs --help does"
help_is "isofs help image" "Usage: isofs image COMMAND [ARGS…]" help image
run iso image --help
is "$RUN_OUT" "$(iso help image)" "isofs help image prints what isofs image --help does"
help_is "isofs help sandbox create" "Usage: isofs sandbox create NAME IMAGE" help sandbox create
create_help=$RUN_OUT
help_is "isofs sandbox create --help" "Usage: isofs sandbox create NAME IMAGE" sandbox create --help
is "$RUN_OUT" "$create_help" "isofs sandbox create --help is isofs help sandbox create"
unlike "$RUN_OUT" "commit|reset|diff" "sandbox create's usage is its own, not the group's"
run iso help run
like "$RUN_OUT" "^Usage: isofs run \\[OPTIONS\\] IMAGE" "isofs help run: run's usage"

# The commands of the top-level help, and each group's subcommands (from the group's help).
commands=$(sed -n '/^Commands:/,/^$/s/^  \([a-z]\+\) .*/\1/p' <<<"$top")
like "$commands" "export|image" "the top-level help lists commands"
like "$(grep '^  image ' <<<"$top")" "export" "the top-level help names image export"
for c in $commands; do
	subs=$(iso help "$c" | sed -n '/^Commands:/,/^$/s/^  \([a-z]\+\) .*/\1/p')
	for s in $subs; do
		run iso help "$c" "$s"
		if [ "$RUN_RC" -eq 0 ] && [[ $RUN_OUT == "Usage: isofs $c $s"* ]]; then
			pass "isofs help $c $s: its own usage"
		else
			fail "isofs help $c $s: its own usage" "$RUN_OUT" "$RUN_ERR"
		fi
		run iso "$c" "$s" --help
		is "$RUN_OUT" "$(iso help "$c" "$s")" "isofs $c $s --help is isofs help $c $s"
	done
done

# Unknown names: one line, exit 2, nothing created.
for args in "nosuch" "image nosuch" "run extra" "image ls extra"; do
	# shellcheck disable=SC2086
	run iso help $args
	is "$RUN_RC" 2 "isofs help $args: exit 2"
	is "$RUN_ERR_LINES" 1 "isofs help $args: one line on stderr"
	like "$RUN_ERR" "^isofs: help: " "isofs help $args: names the problem"
	is "$RUN_OUT" "" "isofs help $args: nothing on stdout"
done
ok "help did not create the store" test ! -e "$STORE"

# ---- --log-level, --debug ---------------------------------------------------------------

run iso --log-level nosuch image ls
is "$RUN_RC" 2 "--log-level nosuch: a usage error"
like "$RUN_ERR" "expected error, warning, info or debug" "--log-level nosuch: names the levels"
mkdir -p "$T/rootdir/etc"
echo hello >"$T/rootdir/etc/motd"
run iso --debug image import tiny "$T/rootdir"
is "$RUN_RC" 0 "--debug image import succeeds"
like "$RUN_ERR" "isofs: debug: store $STORE: given \(--store\)" "--debug says which store, and why"
run iso --log-level debug image ls --quiet
is "$RUN_OUT" "tiny" "image ls --quiet: the names only"
like "$RUN_ERR" "isofs: debug: store" "--log-level debug is --debug"
run iso image ls --quiet
is "$RUN_ERR" "" "no debug messages by default"
run iso sandbox create box tiny
is "$RUN_RC" 0 "sandbox create"
run iso sandbox ls -q
is "$RUN_OUT" "box" "sandbox ls -q: the names only"
run iso sandbox ls --json --quiet
is "$RUN_RC" 2 "sandbox ls: --json and --quiet do not go together"

# The long options a help text names; --variant is debootstrap's (image bootstrap).
help_options() {
	grep -o -- '--[a-z][a-z-]*' <<<"$1" | grep -v -x -e '--variant' | sort -u
}

# ---- man pages ------------------------------------------------------------------------

if [ -z "$ISOFS_MAN_DIR" ] || ! command -v man >/dev/null; then
	skip "man pages" "not built (scdoc missing) or man missing"
else
	pages="isofs.1"
	for c in $commands; do
		pages+=" isofs-$c.1"
	done
	pages+=" isofs-overlay.8"
	for p in $pages; do
		f=$ISOFS_MAN_DIR/$p
		if [ ! -f "$f" ]; then
			fail "man page $p exists" "no $f"
			continue
		fi
		run env MANWIDTH=80 man --warnings -l "$f"
		is "$RUN_RC" 0 "man -l $p renders"
		is "$RUN_ERR" "" "$p renders without warnings"
		ok "$p has a NAME section" grep -q '^NAME' <<<"$RUN_OUT"
	done
	# Every long option a command's --help names is in its man page.
	check_options() { # PAGE HELP_TEXT WHAT
		local text missing= o
		text=$(MANWIDTH=1000 man -l "$ISOFS_MAN_DIR/$1" 2>/dev/null)
		for o in $(help_options "$2"); do
			grep -q -- "$o" <<<"$text" || missing+=" $o"
		done
		is "$missing" "" "$1 names every option of $3's --help"
	}
	check_options isofs.1 "$top" "isofs"
	for c in $commands; do
		check_options "isofs-$c.1" "$(iso help "$c")" "isofs $c"
		for s in $(iso help "$c" | sed -n '/^Commands:/,/^$/s/^  \([a-z]\+\) .*/\1/p'); do
			check_options "isofs-$c.1" "$(iso help "$c" "$s")" "isofs $c $s"
		done
	done
	if [ -n "${ISOFS_OVERLAY_BIN:-}" ]; then
		check_options isofs-overlay.8 "$("$ISOFS_OVERLAY_BIN" --help | grep -v '^  [a-z_]*=')" "isofs-overlay"
	fi
fi

# ---- completion -------------------------------------------------------------------------

# The completions call `isofs` (the word typed): the one under test.
mkdir -p "$T/bin"
ln -s "$ISOFS_BIN" "$T/bin/isofs"
export PATH=$T/bin:$PATH

# Every option the --help texts name is in each completion script.
all_help="$top"
for c in $commands; do
	all_help+=$'\n'$(iso help "$c")
	for s in $(iso help "$c" | sed -n '/^Commands:/,/^$/s/^  \([a-z]\+\) .*/\1/p'); do
		all_help+=$'\n'$(iso help "$c" "$s")
	done
done
for script in isofs.bash _isofs isofs.fish; do
	missing=
	for o in $(help_options "$all_help") $commands; do
		grep -q -- "${o#--}" "$COMPL/$script" || missing+=" $o"
	done
	is "$missing" "" "$script names every command and every option of the --help texts"
done

# bash: COMP_WORDS as the line before the cursor, the last word the one completed
bash_complete() {
	bash -c 'source "$1/isofs.bash" || exit 3; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _isofs; echo "${COMPREPLY[*]}"' \
		bash "$COMPL" "$@"
}
run bash -c 'source "$1/isofs.bash"; complete -p isofs' bash "$COMPL"
is "$RUN_OUT" "complete -F _isofs isofs" "bash: the completion loads"
is "$RUN_ERR" "" "bash: loads without errors"
is "$(bash_complete isofs ima)" "image" "bash: isofs ima -> image"
is "$(bash_complete isofs --store "$STORE" run "")" "tiny" "bash: an image after isofs --store STORE run"
is "$(bash_complete isofs --store "$STORE" run t)" "tiny" "bash: isofs run t -> tiny"
is "$(ISOFS_STORE=$STORE bash_complete isofs image rm "")" "tiny" "bash: \$ISOFS_STORE honoured"
is "$(bash_complete isofs --store "$STORE" sandbox rm --force "")" "box" "bash: a sandbox after sandbox rm --force"
is "$(bash_complete isofs --store "$STORE" mount --sandbox "")" "box" "bash: a sandbox after --sandbox"
is "$(bash_complete isofs sandbox c)" "create commit" "bash: subcommands"
is "$(bash_complete isofs help sandbox r)" "rm reset" "bash: isofs help GROUP SUB"
is "$(bash_complete isofs image export --format "")" "tar oci" "bash: option values"
is "$(bash_complete isofs --log-level d)" "debug" "bash: --log-level's levels"
like "$(bash_complete isofs run --)" "--tmp-size" "bash: run's options"
mkdir -p "$T/pathdir"
is "$(cd "$T" && bash_complete isofs --store "$STORE" mount tiny pathd)" "pathdir" "bash: a directory where a mountpoint goes"
is "$(cd "$T" && bash_complete isofs --store "$STORE" run ./pathd)" "./pathdir" "bash: a path for a run's mountpoint"

# zsh: an interactive zsh in a pty completes the line; `echo ` put before it shows the result.
if command -v zsh >/dev/null && zsh -c 'zmodload zsh/zpty' 2>/dev/null; then
	run zsh -n "$COMPL/_isofs"
	is "$RUN_RC" 0 "zsh: _isofs parses"
	zsh_complete() { # LINE -> the line after TAB
		timeout 30 zsh -f "$TESTS_DIR/zsh-complete.zsh" "$COMPL" "$1" | sed 's/ $//'
	}
	is "$(zsh_complete 'isofs ima')" "isofs image" "zsh: isofs ima -> image"
	is "$(zsh_complete "isofs --store $STORE run t")" "isofs --store $STORE run tiny" "zsh: an image after isofs run"
	is "$(zsh_complete "isofs --store $STORE sandbox reset b")" "isofs --store $STORE sandbox reset box" "zsh: a sandbox name"
	is "$(zsh_complete 'isofs image export --format o')" "isofs image export --format oci" "zsh: option values"
else
	skip "zsh completion" "zsh (with zsh/zpty) is not installed"
fi

# fish: `complete -C LINE` lists what TAB would offer
if command -v fish >/dev/null; then
	fish_complete() {
		fish -c 'source $argv[1]; complete -C $argv[2]' "$COMPL/isofs.fish" "$1" 2>&1 | cut -f1 | tr '\n' ' ' | sed 's/ $//'
	}
	is "$(fish_complete 'isofs ima')" "image" "fish: isofs ima -> image"
	is "$(fish_complete "isofs --store $STORE run t")" "tiny" "fish: an image after isofs run"
	is "$(fish_complete "isofs --store $STORE sandbox rm ")" "box" "fish: a sandbox name"
	is "$(fish_complete 'isofs sandbox c')" "commit create" "fish: subcommands"
	is "$(fish_complete 'isofs --log-level d')" "debug" "fish: --log-level's levels"
else
	skip "fish completion" "fish is not installed"
fi

done_testing
