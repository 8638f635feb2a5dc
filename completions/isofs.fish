# SPDX-License-Identifier: MIT
# fish completion for isofs(1): commands, subcommands, their options, image and
# sandbox names (from `isofs [--store DIR] image|sandbox ls --quiet`, the store
# given earlier on the line or $ISOFS_STORE), paths where a path goes.  The
# lists follow each command's --help (tests/integration/test-help.sh checks).

# The words of the line before the cursor, global options (and their values) left out.
function __isofs_args
    set -l words (commandline -opc)
    set -e words[1]
    while set -q words[1]
        switch $words[1]
            case --store --log-level
                set -e words[1..2]
            case '-*'
                set -e words[1]
            case '*'
                break
        end
    end
    test (count $words) -gt 0; and printf '%s\n' $words
end

# True when the command (and subcommand) is $argv and nothing else is needed to say so.
function __isofs_is
    set -l args (__isofs_args)
    test (count $args) -ge (count $argv); or return 1
    for i in (seq (count $argv))
        test "$args[$i]" = "$argv[$i]"; or return 1
    end
end

function __isofs_no_command
    test (count (__isofs_args)) -eq 0
end

# The group $argv[1] without its subcommand yet.
function __isofs_group_needs_sub
    set -l args (__isofs_args)
    test (count $args) -eq 1 -a "$args[1]" = "$argv[1]"
end

# Names of images or sandboxes ($argv[1]: image|sandbox) in the store this line uses.
function __isofs_names
    set -l words (commandline -opc)
    set -l store
    for i in (seq 2 (count $words))
        switch $words[$i]
            case --store
                set store --store $words[(math $i + 1)]
            case '--store=*'
                set store $words[$i]
        end
    end
    command $words[1] $store $argv[1] ls --quiet 2>/dev/null
end

complete -c isofs -f

# Global options
complete -c isofs -n __isofs_no_command -l store -r -F -d 'the store'
complete -c isofs -n __isofs_no_command -l log-level -x -a 'error warning info debug' -d 'what isofs says'
complete -c isofs -n __isofs_no_command -l debug -d '--log-level debug'
complete -c isofs -n __isofs_no_command -s h -l help -d 'the usage'
complete -c isofs -n __isofs_no_command -s V -l version -d 'the version'

# Commands
complete -c isofs -n __isofs_no_command -a image -d 'images: import, bootstrap, ls, inspect, rm, export'
complete -c isofs -n __isofs_no_command -a sandbox -d 'persistent sandboxes: create, ls, rm, reset, diff, commit'
complete -c isofs -n __isofs_no_command -a mount -d 'mount a copy-on-write view of an image'
complete -c isofs -n __isofs_no_command -a umount -d 'unmount a view and wait for its server'
complete -c isofs -n __isofs_no_command -a run -d 'run a command in a sandbox'
complete -c isofs -n __isofs_no_command -a serve -d 'drive a sandbox with JSON frames on stdin/stdout'
complete -c isofs -n __isofs_no_command -a exec -d 'run a command beside the one running in a sandbox'
complete -c isofs -n __isofs_no_command -a ps -d 'list the sandboxes where commands run'
complete -c isofs -n __isofs_no_command -a help -d 'the usage of a command'

# help [COMMAND [SUBCOMMAND]]
complete -c isofs -n '__isofs_group_needs_sub help' -a 'image sandbox mount umount run serve exec ps'
complete -c isofs -n '__isofs_is help image; and test (count (__isofs_args)) -eq 2' -a 'import bootstrap ls inspect rm export pull push'
complete -c isofs -n '__isofs_is help sandbox; and test (count (__isofs_args)) -eq 2' -a 'create ls rm reset diff commit'

# image
complete -c isofs -n '__isofs_group_needs_sub image' -a import -d 'import a tar, a directory, - or an image archive'
complete -c isofs -n '__isofs_group_needs_sub image' -a bootstrap -d 'make an image from busybox or with debootstrap'
complete -c isofs -n '__isofs_group_needs_sub image' -a ls -d 'list images'
complete -c isofs -n '__isofs_group_needs_sub image' -a inspect -d "an image's metadata as JSON"
complete -c isofs -n '__isofs_group_needs_sub image' -a rm -d 'remove images'
complete -c isofs -n '__isofs_group_needs_sub image' -a export -d 'write an image as a tar or an OCI archive'
complete -c isofs -n '__isofs_group_needs_sub image' -a pull -d 'pull an image from a registry'
complete -c isofs -n '__isofs_group_needs_sub image' -a push -d 'push an image to a registry'
complete -c isofs -n '__isofs_is image import' -l ref -x -d 'the image of an archive holding several'
complete -c isofs -n '__isofs_is image import' -F
complete -c isofs -n '__isofs_is image bootstrap' -l busybox -d "from the host's static busybox"
complete -c isofs -n '__isofs_is image bootstrap' -l debian -x -a 'bookworm trixie sid bullseye' -d 'a Debian minbase image'
complete -c isofs -n '__isofs_is image bootstrap' -l mirror -x -d 'the Debian mirror'
complete -c isofs -n '__isofs_is image ls' -l json -d 'an array of objects'
complete -c isofs -n '__isofs_is image ls' -s q -l quiet -d 'names only'
complete -c isofs -n '__isofs_is image inspect' -a '(__isofs_names image)'
complete -c isofs -n '__isofs_is image rm' -a '(__isofs_names image)'
complete -c isofs -n '__isofs_is image export' -l format -x -a 'tar oci' -d 'the format'
complete -c isofs -n '__isofs_is image export' -l ref -x -d 'the name in an OCI archive'
complete -c isofs -n '__isofs_is image export' -a '(__isofs_names image)' -F
complete -c isofs -n '__isofs_is image pull' -l platform -x -d 'OS/ARCH[/VARIANT]'
complete -c isofs -n '__isofs_is image pull; or __isofs_is image push' -l authfile -r -F -d 'credentials'
complete -c isofs -n '__isofs_is image pull; or __isofs_is image push' -l tls-verify -x -a 'false true' -d 'verify TLS certificates'
complete -c isofs -n '__isofs_is image pull; or __isofs_is image push' -l timeout -x -d 'seconds'
complete -c isofs -n '__isofs_is image push' -a '(__isofs_names image)'

# sandbox
complete -c isofs -n '__isofs_group_needs_sub sandbox' -a create -d 'a persistent sandbox of an image'
complete -c isofs -n '__isofs_group_needs_sub sandbox' -a ls -d 'list sandboxes'
complete -c isofs -n '__isofs_group_needs_sub sandbox' -a rm -d 'remove sandboxes'
complete -c isofs -n '__isofs_group_needs_sub sandbox' -a reset -d 'drop every change'
complete -c isofs -n '__isofs_group_needs_sub sandbox' -a diff -d 'the changes against the image'
complete -c isofs -n '__isofs_group_needs_sub sandbox' -a commit -d 'the changes as a new image'
complete -c isofs -n '__isofs_is sandbox create; and test (count (__isofs_args)) -eq 3' -a '(__isofs_names image)'
complete -c isofs -n '__isofs_is sandbox ls' -l json -d 'an array of objects'
complete -c isofs -n '__isofs_is sandbox ls' -s q -l quiet -d 'names only'
complete -c isofs -n '__isofs_is sandbox rm' -l force -d 'also one in use'
complete -c isofs -n '__isofs_is sandbox diff' -l json -d 'an array of objects'
complete -c isofs -n '__isofs_is sandbox rm; or __isofs_is sandbox reset; or __isofs_is sandbox diff' -a '(__isofs_names sandbox)'
complete -c isofs -n '__isofs_is sandbox commit; and test (count (__isofs_args)) -eq 2' -a '(__isofs_names sandbox)'

# mount, umount
complete -c isofs -n '__isofs_is mount' -l sandbox -x -a '(__isofs_names sandbox)' -d 'the sandbox that keeps the changes'
complete -c isofs -n '__isofs_is mount' -l read-only -d 'a read-only view'
complete -c isofs -n '__isofs_is mount; and test (count (__isofs_args)) -eq 1' -a '(__isofs_names image)'
complete -c isofs -n '__isofs_is mount; and test (count (__isofs_args)) -ge 2' -a '(__fish_complete_directories)'
complete -c isofs -n '__isofs_is umount' -a '(__fish_complete_directories)'

# run, serve: the sandbox's options; the target an image or a mountpoint (a path)
set -l __isofs_session '__isofs_is run; or __isofs_is serve'
complete -c isofs -n $__isofs_session -l sandbox -x -a '(__isofs_names sandbox)' -d 'a persistent sandbox'
complete -c isofs -n $__isofs_session -l hostname -x -d 'the hostname'
complete -c isofs -n $__isofs_session -l net -x -a 'none host private' -d 'the network'
complete -c isofs -n $__isofs_session -l dns -x -d 'a DNS server'
complete -c isofs -n $__isofs_session -l bind -r -F -d 'HOST:SANDBOX[:ro]'
complete -c isofs -n $__isofs_session -s v -l volume -r -F -d 'HOST:SANDBOX[:ro], as podman'
complete -c isofs -n $__isofs_session -l in-place -d 'write a directory target in place'
complete -c isofs -n $__isofs_session -l ephemeral -d 'a throwaway writable layer over a read-only view (a mountpoint, or one kept for an image)'
complete -c isofs -n $__isofs_session -l view-idle -x -d 'with --ephemeral IMAGE: seconds the kept view stays after its last run'
complete -c isofs -n $__isofs_session -l home -d 'toolbox-style: as yourself, with your home'
complete -c isofs -n $__isofs_session -l cap-add -x -a 'ALL CAP_AUDIT_CONTROL CAP_AUDIT_READ CAP_AUDIT_WRITE CAP_BLOCK_SUSPEND CAP_BPF CAP_CHECKPOINT_RESTORE CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_IPC_LOCK CAP_IPC_OWNER CAP_KILL CAP_LEASE CAP_LINUX_IMMUTABLE CAP_MAC_ADMIN CAP_MAC_OVERRIDE CAP_MKNOD CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_BROADCAST CAP_NET_RAW CAP_PERFMON CAP_SETFCAP CAP_SETGID CAP_SETPCAP CAP_SETUID CAP_SYSLOG CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_CHROOT CAP_SYS_MODULE CAP_SYS_NICE CAP_SYS_PACCT CAP_SYS_PTRACE CAP_SYS_RAWIO CAP_SYS_RESOURCE CAP_SYS_TIME CAP_SYS_TTY_CONFIG CAP_WAKE_ALARM' -d 'add a capability'
complete -c isofs -n $__isofs_session -l cap-drop -x -a 'ALL CAP_AUDIT_CONTROL CAP_AUDIT_READ CAP_AUDIT_WRITE CAP_BLOCK_SUSPEND CAP_BPF CAP_CHECKPOINT_RESTORE CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_IPC_LOCK CAP_IPC_OWNER CAP_KILL CAP_LEASE CAP_LINUX_IMMUTABLE CAP_MAC_ADMIN CAP_MAC_OVERRIDE CAP_MKNOD CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_BROADCAST CAP_NET_RAW CAP_PERFMON CAP_SETFCAP CAP_SETGID CAP_SETPCAP CAP_SETUID CAP_SYSLOG CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_CHROOT CAP_SYS_MODULE CAP_SYS_NICE CAP_SYS_PACCT CAP_SYS_PTRACE CAP_SYS_RAWIO CAP_SYS_RESOURCE CAP_SYS_TIME CAP_SYS_TTY_CONFIG CAP_WAKE_ALARM' -d 'drop a default capability'
complete -c isofs -n $__isofs_session -l seccomp -x -a unconfined -d 'no seccomp filter'
complete -c isofs -n $__isofs_session -l memory -x -d 'memory limit'
complete -c isofs -n $__isofs_session -l pids -x -d 'process limit'
complete -c isofs -n $__isofs_session -l cpus -x -d 'CPU time limit'
complete -c isofs -n $__isofs_session -l tmp-size -x -d 'size of /tmp'
complete -c isofs -n $__isofs_session -l shm-size -x -d 'size of /dev/shm'
complete -c isofs -n '__isofs_is run' -s e -l env -x -d 'K=V or K'
complete -c isofs -n '__isofs_is run' -l env-file -r -F -d 'lines K=V or K'
complete -c isofs -n '__isofs_is run' -s w -l workdir -x -d 'working directory'
complete -c isofs -n '__isofs_is run' -s u -l user -x -d 'USER[:GROUP]'
complete -c isofs -n '__isofs_is run' -s t -l tty -d 'a pty in the sandbox'
complete -c isofs -n '__isofs_is run' -s i -l interactive -d 'keep stdin'
complete -c isofs -n '__isofs_is run' -l json -d 'output as JSON frames'
complete -c isofs -n "$__isofs_session; and not contains -- -- (commandline -opc)" -a '(__isofs_names image)'
complete -c isofs -n "$__isofs_session; and not contains -- -- (commandline -opc)" -a '(__fish_complete_directories)'

# Every command's --help
complete -c isofs -n 'not __isofs_no_command' -s h -l help -d 'the usage'

# exec SANDBOX -- CMD, ps
complete -c isofs -n '__isofs_is exec' -s e -l env -x -d 'K=V'
complete -c isofs -n '__isofs_is exec' -s w -l workdir -x -d 'working directory'
complete -c isofs -n '__isofs_is exec' -s u -l user -x -d 'UID[:GID]'
complete -c isofs -n '__isofs_is exec' -s t -l tty -d 'a pty in the sandbox'
complete -c isofs -n '__isofs_is exec' -s i -l interactive -d 'keep stdin'
complete -c isofs -n '__isofs_is exec' -l json -d 'output as JSON frames'
complete -c isofs -n '__isofs_is exec' -x -a '(__isofs_names sandbox)'
complete -c isofs -n '__isofs_is ps' -l json -d 'an array of objects'
