#!/bin/busybox sh
# /init of the kernel-check initramfs (busybox). Written into the archive by
# crates/xtask/src/kernel_check/initramfs.rs.
#
# Mounts the pseudo file systems iomem reads (proc, sysfs, securityfs for
# the lockdown state, debugfs for the PAT memory types), loads the virtio
# transport modules listed in /etc/boot-modules (virtio_mem itself is
# loaded later, on the host's command, so the state before the driver can
# be captured), then serves the host on the second serial port (/dev/ttyS1;
# the kernel console stays on ttyS0):
#
#   guest -> host  "@ready RELEASE" (again after any empty line)
#   host  -> guest "run ID COMMAND"      run COMMAND with sh -c
#                  "put ID PATH LENGTH"  then LENGTH raw bytes: write PATH
#                  "off ID"              power off
#   guest -> host  "@done ID RC OUTLEN ERRLEN", then OUTLEN bytes of the
#                  command's standard output and ERRLEN of its standard
#                  error, exactly (the port is raw, so any byte passes)
/bin/busybox mkdir -p /proc /sys /dev /tmp /bin
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

echo "kernel-check init: $(uname -r): $(cat /proc/cmdline)"
while read -r m; do
	[ -n "$m" ] || continue
	insmod "/lib/modules/$m.ko" || echo "kernel-check init: insmod $m failed"
done </etc/boot-modules

port=/dev/ttyS1
i=0
while [ ! -c "$port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
stty -F "$port" raw -echo -echoe -echok -echoctl -echoke
exec 3<>"$port"
echo "kernel-check init: serving on $port"

reply() { # ID RC
	printf '@done %s %s %s %s\n' "$1" "$2" "$(wc -c </tmp/out)" "$(wc -c </tmp/err)" >&3
	cat /tmp/out /tmp/err >&3
}

# no globbing of the request line (commands run in their own sh -c)
set -f
echo "@ready $(uname -r)" >&3
while :; do
	IFS= read -r line <&3 || { sleep 1; continue; }
	set -- $line
	case "$1" in
	run)
		id=$2
		cmd=${line#run "$id" }
		sh -c "$cmd" >/tmp/out 2>/tmp/err
		reply "$id" $?
		;;
	put)
		dd of="$3" bs=1 count="$4" <&3 2>/dev/null
		: >/tmp/out
		: >/tmp/err
		reply "$2" 0
		;;
	off)
		echo "@bye $2" >&3
		sync
		poweroff -f
		;;
	*) echo "@ready $(uname -r)" >&3 ;;
	esac
done
