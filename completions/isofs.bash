# SPDX-License-Identifier: MIT
# bash completion for isofs(1): commands, subcommands, their options, image
# and sandbox names (from `isofs [--store DIR] image|sandbox ls --quiet`, the
# store given earlier on the line or $ISOFS_STORE), paths where a path goes.
# Works alone or with the bash-completion package (its _filedir when there).
# The lists follow each command's --help; tests/integration/test-help.sh checks
# that every option --help names is here.

_isofs_caps="CAP_AUDIT_CONTROL CAP_AUDIT_READ CAP_AUDIT_WRITE CAP_BLOCK_SUSPEND CAP_BPF CAP_CHECKPOINT_RESTORE
CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_IPC_LOCK CAP_IPC_OWNER CAP_KILL CAP_LEASE
CAP_LINUX_IMMUTABLE CAP_MAC_ADMIN CAP_MAC_OVERRIDE CAP_MKNOD CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_BROADCAST
CAP_NET_RAW CAP_PERFMON CAP_SETFCAP CAP_SETGID CAP_SETPCAP CAP_SETUID CAP_SYSLOG CAP_SYS_ADMIN CAP_SYS_BOOT
CAP_SYS_CHROOT CAP_SYS_MODULE CAP_SYS_NICE CAP_SYS_PACCT CAP_SYS_PTRACE CAP_SYS_RAWIO CAP_SYS_RESOURCE CAP_SYS_TIME
CAP_SYS_TTY_CONFIG CAP_WAKE_ALARM"

# Names of images or sandboxes ($1: image|sandbox) in the store this line uses.
_isofs_names() {
	local -a store=()
	local i w bin=${COMP_WORDS[0]}
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--store)
			# "--store DIR", or "--store = DIR" as bash splits "--store=DIR"
			if [[ ${COMP_WORDS[i + 1]-} == = ]]; then
				store=(--store "${COMP_WORDS[i + 2]-}")
			else
				store=(--store "${COMP_WORDS[i + 1]-}")
			fi
			;;
		--store=*) store=("$w") ;;
		esac
	done
	[[ ${#store[@]} -eq 2 && ${store[1]} == '~/'* ]] && store[1]=$HOME/${store[1]#'~/'}
	[[ $bin == '~/'* ]] && bin=$HOME/${bin#'~/'}
	"$bin" "${store[@]}" "$1" ls --quiet 2>/dev/null
}

_isofs_reply() { # words to offer, the current word
	local IFS=$' \t\n'
	COMPREPLY=($(compgen -W "$1" -- "$2"))
}

_isofs_files() { # $1: -d for directories only
	if declare -F _filedir >/dev/null; then
		_filedir $1
	else
		local IFS=$'\n'
		COMPREPLY=($(compgen ${1:--f} -- "$cur"))
		compopt -o filenames 2>/dev/null
	fi
}

_isofs() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]-}
	local i w cmd= sub= npos=0 dashdash=
	COMPREPLY=()

	# Global options and their values come before the command.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--store | --log-level) ((i++)); [[ ${COMP_WORDS[i]-} == = ]] && ((i++)) ;;
		-*) ;;
		*) cmd=$w; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		case $prev in
		--store) _isofs_files -d; return ;;
		--log-level) _isofs_reply "error warning info debug" "$cur"; return ;;
		esac
		if [[ $cur == -* ]]; then
			_isofs_reply "--store --log-level --debug --help --version" "$cur"
		else
			_isofs_reply "image sandbox mount umount run serve exec ps help" "$cur"
		fi
		return
	fi

	# Options that take a value, per command: what follows one is not a positional argument.
	local valued='--ref|--mirror|--debian|--format|--platform|--authfile|--timeout|--sandbox|--env|-e|--workdir|-w|--user|-u|--hostname|--net|--dns|--bind|--volume|-v|--env-file|--cap-add|--cap-drop|--seccomp|--memory|--pids|--cpus|--tmp-size|--shm-size'
	local start=$((i + 1))
	case $cmd in
	image | sandbox | help)
		for ((i = start; i < COMP_CWORD; i++)); do
			[[ ${COMP_WORDS[i]} == -* ]] && continue
			sub=${COMP_WORDS[i]}
			start=$((i + 1))
			break
		done
		if [[ -z $sub ]]; then
			case $cmd in
			image) _isofs_reply "import bootstrap ls inspect rm export pull push" "$cur" ;;
			sandbox) _isofs_reply "create ls rm reset diff commit" "$cur" ;;
			help) _isofs_reply "image sandbox mount umount run serve exec ps" "$cur" ;;
			esac
			[[ $cur == -* ]] && _isofs_reply "--help" "$cur"
			return
		fi
		;;
	esac
	# The positional arguments before the current word (options and their values left out).
	for ((i = start; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ -n $dashdash ]]; then
			((npos++))
			continue
		fi
		case $w in
		--) dashdash=$i ;;
		=) ;;
		-*) [[ $w =~ ^($valued)$ ]] && { ((i++)); [[ ${COMP_WORDS[i]-} == = ]] && ((i++)); } ;;
		*) ((npos++)) ;;
		esac
	done
	# After "--" comes the command run in the sandbox: its words are its own.
	if [[ -n $dashdash ]]; then
		[[ $((COMP_CWORD - dashdash)) -eq 1 ]] && COMPREPLY=($(compgen -c -- "$cur" | sort -u))
		[[ $((COMP_CWORD - dashdash)) -gt 1 ]] && _isofs_files
		return
	fi

	# The value of an option.
	[[ $prev == = ]] && prev=${COMP_WORDS[COMP_CWORD - 2]-}
	case $prev in
	--format) _isofs_reply "tar oci" "$cur"; return ;;
	--authfile) _isofs_files; return ;;
	--sandbox) _isofs_reply "$(_isofs_names sandbox)" "$cur"; return ;;
	--net) _isofs_reply "none host private" "$cur"; return ;;
	--seccomp) _isofs_reply "unconfined" "$cur"; return ;;
	--tls-verify) _isofs_reply "false true" "$cur"; return ;;
	--cap-add | --cap-drop) _isofs_reply "ALL $_isofs_caps" "$cur"; return ;;
	--bind | --volume | -v | --env-file) _isofs_files; return ;;
	--workdir | -w) return ;;
	--ref | --mirror | --debian | --platform | --timeout | --env | -e | --user | -u | --hostname | --dns | --memory | --pids | --cpus | --tmp-size | --shm-size) return ;;
	esac

	local opts= what=
	case $cmd/$sub in
	image/import) opts="--ref"; what="new file" ;;
	image/bootstrap) opts="--busybox --busybox= --debian --mirror"; what="new" ;;
	image/ls | sandbox/ls) opts="--json --quiet" ;;
	image/inspect) what="image" ;;
	image/rm) what="image..." ;;
	image/export) opts="--format --ref"; what="image file" ;;
	image/pull) opts="--platform --authfile --tls-verify=false --timeout"; what="new" ;;
	image/push) opts="--authfile --tls-verify=false --timeout"; what="image" ;;
	sandbox/create) what="new image" ;;
	sandbox/rm) opts="--force"; what="sandbox..." ;;
	sandbox/reset) what="sandbox" ;;
	sandbox/diff) opts="--json"; what="sandbox" ;;
	sandbox/commit) what="sandbox new" ;;
	help/image) _isofs_reply "import bootstrap ls inspect rm export pull push" "$cur"; return ;;
	help/sandbox) _isofs_reply "create ls rm reset diff commit" "$cur"; return ;;
	help/*) return ;;
	mount/) opts="--sandbox --read-only"; what="image dir" ;;
	umount/) what="dir" ;;
	run/ | serve/)
		opts="--sandbox --hostname --net=none --net=private --dns --bind --volume --in-place --ephemeral --view-idle --home --cap-add --cap-drop --seccomp=unconfined --memory --pids --cpus --tmp-size --shm-size"
		[[ $cmd == run ]] && opts+=" --env --env-file --workdir --user --tty --interactive --json --"
		what="target"
		;;
	exec/) opts="--env --workdir --user --tty --interactive --json --"; what="sandbox" ;;
	ps/) opts="--json" ;;
	*) return ;;
	esac
	[[ $cur == -* ]] && { _isofs_reply "$opts --help" "$cur"; return; }

	local -a whats=($what)
	local kind=${whats[npos]-}
	[[ -z $kind && ${whats[-1]-} == *... ]] && kind=${whats[-1]}
	case ${kind%...} in
	image) _isofs_reply "$(_isofs_names image)" "$cur" ;;
	sandbox) _isofs_reply "$(_isofs_names sandbox)" "$cur" ;;
	file) _isofs_files ;;
	dir) _isofs_files -d ;;
	target) # an image, or the mountpoint of a view (a path)
		if [[ $cur == */* || $cur == .* || $cur == '~'* ]]; then
			_isofs_files -d
		else
			_isofs_reply "$(_isofs_names image)" "$cur"
		fi
		;;
	esac
}

complete -F _isofs isofs
