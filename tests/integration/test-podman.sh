#!/bin/bash
# isofs-overlay as podman's mount_program (containers/storage's overlay driver),
# driving the real podman with a private storage.conf and containers.conf: run
# (writes, exit codes), run --rm, build of a Containerfile whose RUN steps
# delete, rename and replace directories, diff, commit, save.  The same steps
# run with fuse-overlayfs as the mount_program (and, as root, the kernel's
# overlay), and what a user sees must be equal: outputs, image contents, the
# layers podman save writes.  Root and rootless.
. "$(dirname "$0")/lib.sh"
setup_tmp

OVL=$(readlink -f "$(dirname "$ISOFS_BIN")/../fuse/isofs-overlay")
[ -x "$OVL" ] || skip_all "isofs-overlay is not built"
command -v podman >/dev/null || skip_all "podman is not installed (Debian package podman)"
command -v runc >/dev/null || skip_all "runc is not installed"
FOVL=$(command -v fuse-overlayfs || true)
PT=${ISOFS_PODMAN_TIMEOUT:-180}

# The busybox image, from the host's static busybox: podman import of a tar.
mkdir -p rootfs/bin rootfs/etc rootfs/tmp
cp /bin/busybox rootfs/bin/
for a in $(rootfs/bin/busybox --list); do [ -e "rootfs/bin/$a" ] || ln -s busybox "rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >rootfs/etc/passwd
echo 'root:x:0:' >rootfs/etc/group
chmod 1777 rootfs/tmp
tar --numeric-owner --owner=0 --group=0 -C rootfs -cf bb.tar .

cat >Containerfile <<'EOF'
FROM localhost/bb
RUN mkdir -p /usr/sbin /sbin /srv/keep /srv/tree/a/b /opt/dir && touch /usr/sbin/a /sbin/b /srv/keep/k /srv/tree/a/b/f /opt/file && ln -s /srv/keep /srv/link
RUN rm -rf /usr/sbin && mv /sbin /sbin2 && rm /srv/keep/k && mv /srv/tree /srv/moved
RUN mkdir /usr/sbin && echo new > /usr/sbin/c && rm -rf /opt/dir && echo now-a-file > /opt/dir && rm /opt/file && mkdir /opt/file && rm /srv/link && mkdir /srv/link
RUN rm -rf /srv/moved/a && echo again > /srv/moved/f
EOF

. "$(dirname "$0")/lib-podman.sh"

# scenario NAME: every step, its output in $T/NAME.out (one "## step" header each)
scenario() {
	local n=$1
	{
		echo "## import"
		pm "$n" import -q "$T/bb.tar" localhost/bb:latest >/dev/null && echo ok
		echo "## run --rm"
		pm "$n" run --pull=never --rm localhost/bb sh -c 'echo hi > /f && cat /f && id -u'
		echo "rc=$?"
		echo "## run, exit code"
		pm "$n" run --pull=never --name c1 localhost/bb sh -c 'mkdir -p /d/e && echo x > /d/e/f && rm /bin/cat && rm -rf /tmp && exit 3'
		echo "rc=$?"
		echo "## diff"
		pm "$n" diff c1 | sort
		echo "## commit"
		pm "$n" commit -q c1 localhost/c1img >/dev/null && echo ok
		pm "$n" run --pull=never --rm localhost/c1img sh -c 'cat /d/e/f; ls /bin/cat /tmp 2>&1 | sort'
		echo "## build"
		pm "$n" build --network none -q -t localhost/t1 -f "$T/Containerfile" "$T" >/dev/null && echo ok
		echo "## the built image"
		pm "$n" run --pull=never --rm localhost/t1 sh -c 'cd / && find usr/sbin sbin sbin2 srv opt 2>&1 | sort; cat usr/sbin/c opt/dir srv/moved/f'
		echo "## export"
		pm "$n" create --pull=never --name x1 localhost/t1 true >/dev/null
		pm "$n" export x1 | tar -tf - | grep -E '^(\./)?(usr/sbin|sbin|sbin2|srv|opt)(/|$)' | sed 's|^\./||' | sort
		echo "## save: the layers' entries"
		pm "$n" save -q -o "$T/$n-t1.tar" localhost/t1 && mkdir -p "$T/$n-save" && tar -C "$T/$n-save" -xf "$T/$n-t1.tar"
		"$PYTHON" - "$T/$n-save" <<-'EOF'
			import json, sys, tarfile
			d = sys.argv[1]
			for layer in json.load(open(d + "/manifest.json"))[0]["Layers"]:
			    names = sorted(m.name.lstrip("./") for m in tarfile.open(d + "/" + layer))
			    print(" ".join(n for n in names if n.startswith(("usr", "sbin", "srv", "opt", "d/", "f"))))
		EOF
		if [ "$IS_ROOT" -eq 1 ]; then
			# containers/storage passes uidmapping=/gidmapping= to the mount program for this
			echo "## run --uidmap"
			pm "$n" run --pull=never --rm --uidmap 0:200000:65536 --gidmap 0:200000:65536 localhost/c1img \
				sh -c 'stat -c "%u:%g" /bin/busybox /d/e/f; mkdir /new && chown 5:6 /new && stat -c "%u:%g" /new; id -u'
			echo "rc=$?"
		fi
		echo "## rm, rmi"
		pm "$n" rm -a >/dev/null && pm "$n" rmi -a >/dev/null && echo ok
		pm "$n" images -q | wc -l
	} >"$T/$n.out" 2>"$T/$n.err"
}

conf iso "$OVL"
scenario iso
step() { awk -v s="## $2" '/^## /{p = ($0 == s)} p && !/^## /' "$T/$1.out"; }

is "$(step iso 'run --rm')" "hi
0
rc=0" "isofs-overlay: podman run --rm writes and reads a file" || diag "$(cat "$T/iso.err")"
like "$(step iso 'run, exit code')" 'rc=3' "isofs-overlay: podman run passes the exit code on"
like "$(step iso diff)" 'A /d' "isofs-overlay: podman diff shows the new directory"
like "$(step iso diff)" 'D /bin/cat' "... and the removed file"
is "$(step iso commit)" "ok
x
ls: /bin/cat: No such file or directory
ls: /tmp: No such file or directory" "isofs-overlay: podman commit keeps the new file and the removals"
is "$(step iso build)" ok "isofs-overlay: podman build of several RUN steps" || diag "$(tail -5 "$T/iso.err")"
like "$(step iso 'the built image')" 'find: sbin: No such file or directory' "isofs-overlay: a directory renamed away is gone"
unlike "$(step iso 'the built image')" 'usr/sbin/a' "isofs-overlay: a directory removed and made again has none of its old content"
if [ "$IS_ROOT" -eq 1 ]; then
	# the image's files show as fuse-overlayfs shows them (compared below; docs/podman.md says why 65534)
	like "$(step iso 'run --uidmap')" $'\n5:6\n0\nrc=0$' \
		"isofs-overlay: podman run --uidmap 0:200000:65536 (uidmapping=): runs as root inside, chown works"
fi
is "$(step iso 'rm, rmi')" "ok
0" "isofs-overlay: podman rm and rmi leave no image"

if [ -n "$FOVL" ]; then
	conf fuse "$FOVL"
	scenario fuse
	for s in 'run --rm' 'run, exit code' diff commit build 'the built image' export "save: the layers' entries" \
		'run --uidmap'; do
		is "$(step iso "$s")" "$(step fuse "$s")" "isofs-overlay as fuse-overlayfs: $s"
	done
else
	skip "the same with fuse-overlayfs" "fuse-overlayfs is not installed"
fi
if [ "$IS_ROOT" -eq 1 ]; then
	conf native
	scenario native
	for s in 'the built image' export; do
		is "$(step iso "$s")" "$(step native "$s")" "isofs-overlay as the kernel's overlay: $s"
	done
fi

done_testing
