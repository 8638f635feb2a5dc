# SPDX-License-Identifier: MIT
# Sourced by tests that drive the real podman (after lib.sh and setup_tmp):
# conf NAME [MOUNT_PROGRAM|vfs] makes a private podman setup (its own storage,
# runroot, containers.conf: runc, cgroupfs, no network; vfs: the vfs driver,
# layers applied by podman itself), pm NAME ARGS… runs
# podman with it under a timeout ($PT seconds, default 180), and everything is
# removed at exit (rootless: the subordinate-owned store and the pause process).
PT=${PT:-${ISOFS_PODMAN_TIMEOUT:-180}}

# Short paths for podman's sockets (conmon's, under the runroot and XDG_RUNTIME_DIR): a unix socket's
# path has at most 107 bytes, and a longer one costs every podman run a 20 s timeout.
PM_RUN=$(mktemp -d /tmp/pm.XXXXXX) || bail_out "mktemp failed"
at_cleanup "rm -rf '$PM_RUN'"

# conf NAME [MOUNT_PROGRAM|vfs]: a private podman setup in $T/NAME and $PM_RUN/NAME (none: the kernel's overlay)
conf() {
	local b=$T/$1 r=$PM_RUN/$1
	mkdir -p "$b/graph" "$r/run" "$r/tmp" "$r/xdg"
	chmod 0700 "$r/xdg"
	{
		echo '[storage]'
		if [ "${2:-}" = vfs ]; then echo 'driver = "vfs"'; else echo 'driver = "overlay"'; fi
		echo "graphroot = \"$b/graph\""
		echo "runroot = \"$r/run\""
		if [ -n "${2:-}" ] && [ "$2" != vfs ]; then
			echo '[storage.options.overlay]'
			echo "mount_program = \"$2\""
		fi
	} >"$b/storage.conf"
	# runc: crun refuses this machine's hybrid cgroups; podman's default rlimits are refused (EPERM)
	cat >"$b/containers.conf" <<-EOT
		[containers]
		default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
		netns = "none"
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		tmp_dir = "$r/tmp"
	EOT
	at_cleanup "pm_cleanup '$1'"
}

# pm NAME ARGS…: podman with NAME's setup, under a timeout
pm() {
	local b=$T/$1
	shift
	CONTAINERS_STORAGE_CONF=$b/storage.conf CONTAINERS_CONF=$b/containers.conf XDG_RUNTIME_DIR=$PM_RUN/${b##*/}/xdg \
		CONTAINERS_REGISTRIES_CONF=/dev/null timeout -k 10 "$PT" podman "$@"
}

pm_cleanup() {
	pm "$1" rm -fa >/dev/null 2>&1
	pm "$1" rmi -fa >/dev/null 2>&1
	# rootless: the store holds subordinate ids; its pause process holds podman's namespaces
	[ "$IS_ROOT" -eq 1 ] || pm "$1" unshare rm -rf "$T/$1/graph" "$PM_RUN/$1/run" >/dev/null 2>&1
	pm "$1" system migrate >/dev/null 2>&1
	local p
	p=$(cat "$PM_RUN/$1/xdg/libpod/tmp/pause.pid" 2>/dev/null) && kill -9 "$p" 2>/dev/null
}

