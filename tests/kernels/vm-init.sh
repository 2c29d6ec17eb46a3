#!/bin/busybox sh
# SPDX-License-Identifier: MIT
#
# make check-kernels: /init of the test VM's initramfs (built by
# tests/kernels/check-kernels.sh), run by busybox as PID 1. Mounts what
# the tests need (proc, sys, devtmpfs, tmpfs /dev/shm, cgroup2,
# and the ext4 disk /dev/vda on /mnt), prints what the kernel offers, runs
# each test program with its files on the ext4 disk, and reports on the
# serial console, every line the host reads starting "GROWMAP-KERNELS: ":
#
#   BOOT RELEASE UPTIME          the kernel is up
#   FEATURE KEY: VALUE           kernel-features' lines
#   AUTO REASON                  growmap_backend_reason() of the default attach
#   LOG NAME BEGIN ... LOG NAME END   a program's output, between them
#   RESULT NAME EXIT SECONDS     a program's exit status (77: skipped)
#   ERROR TEXT                   the VM could not be set up
#   DONE                         all ran; the VM powers off next
#
# Settings come from /etc/check-kernels.conf (written by the host script):
# BUILD (the static build directory the programs sit in, as compiled in),
# PROGRAMS, PARALLEL (how many run at once), TIMEOUT (seconds per
# program), BENCH (1: also run growmap-bench --quick), EXTRA_ENV
# (NAME=VALUE words to export).
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
umask 022

mark() {
	echo "GROWMAP-KERNELS: $*"
}

# Prints a file between LOG markers, every line of it ending in a newline.
show_log() {
	mark "LOG $1 BEGIN"
	awk '{ sub(/\r$/, ""); print }' "$2"
	mark "LOG $1 END"
}

halt() {
	sync
	umount /mnt 2>/dev/null
	poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /tmp /mnt /sys/fs/cgroup
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# /tmp stays the initramfs's own (memory already): the build tree sits
# at its host path inside it, which may be under /tmp (a CI checkout),
# and a tmpfs mounted there would hide the programs.
chmod 1777 /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# The memory controller for child cgroups, as systemd enables it (the
# benchmark's memcg workload looks for it; check_crash enables it itself).
echo +memory >/sys/fs/cgroup/cgroup.subtree_control
ln -s /proc/self/fd /dev/fd 2>/dev/null

# shellcheck disable=SC1091 # written by the host script
. /etc/check-kernels.conf

while read -r m; do
	insmod "/lib/modules/$m" || mark "ERROR insmod $m failed"
done </lib/modules/load-order
i=0
while [ ! -b /dev/vda ] && [ "$i" -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
if ! mount -t ext4 -o discard /dev/vda /mnt; then
	mark "ERROR cannot mount /dev/vda (ext4) on /mnt"
	dmesg | tail -n 30
	halt
fi
mkdir -p /mnt/tmp /mnt/logs
chmod 1777 /mnt/tmp
export GROWMAP_TEST_DIR=/mnt/tmp TMPDIR=/mnt/tmp
# As make check does, with room for emulation (Check scales every
# case's timeout by CK_TIMEOUT_MULTIPLIER).
export CK_DEFAULT_TIMEOUT=120 CK_TIMEOUT_MULTIPLIER="${CK_TIMEOUT_MULTIPLIER:-4}"
# shellcheck disable=SC2086,SC2163 # NAME=VALUE words
[ -z "$EXTRA_ENV" ] || export $EXTRA_ENV
cd /mnt/tmp || halt

accel=tcg
dmesg | grep -q "Hypervisor detected: KVM" && accel=kvm
mark "BOOT $(uname -r) $accel $(cut -d' ' -f1 /proc/uptime)"
/bin/kernel-features | while read -r line; do
	mark "FEATURE $line"
done

# What 'auto' picks here, in growmap-demo's words (its file on the disk).
"$BUILD/tools/growmap-demo" /mnt/tmp/growmap-demo.out >/mnt/logs/growmap-demo.log 2>&1
rc=$?
mark "AUTO $(sed -n 's/^ *backend //p' /mnt/logs/growmap-demo.log | head -n 1)"
show_log growmap-demo /mnt/logs/growmap-demo.log
mark "RESULT growmap-demo $rc 0"
rm -f /mnt/tmp/growmap-demo.out

# Runs one program; its RESULT line at once, its log in /mnt/logs.
run_one() {
	prog=$1
	log=/mnt/logs/$prog.log
	start=$(cut -d. -f1 /proc/uptime)
	CK_XML_LOG_FILE_NAME=/mnt/logs/$prog.xml \
		timeout -s KILL "$TIMEOUT" "$BUILD/tests/$prog" >"$log" 2>&1
	rc=$?
	secs=$(($(cut -d. -f1 /proc/uptime) - start))
	[ "$rc" -eq 137 ] && echo "check-kernels: killed after $TIMEOUT s" >>"$log"
	# The slowest cases, from Check's XML log: seconds and name.
	if [ -f "/mnt/logs/$prog.xml" ]; then
		echo "slowest cases (seconds):" >>"$log"
		sed -n 's|.*<id>\(.*\)</id>.*|\1|p; s|.*<duration>\(.*\)</duration>.*|\1|p' \
			"/mnt/logs/$prog.xml" | paste - - | awk '{ printf "  %8.1f %s\n", $2, $1 }' |
			sort -rn | head -n 8 >>"$log"
	fi
	echo "$rc $secs" >"/mnt/logs/$prog.result"
	mark "RESULT $prog $rc $secs"
}

# PARALLEL workers take the programs in turn, in the order given (the
# longest first): each claims the next one not yet claimed.
mkdir -p /tmp/claimed
worker() {
	for prog in $PROGRAMS; do
		mkdir "/tmp/claimed/$prog" 2>/dev/null || continue
		run_one "$prog"
	done
}
w=0
while [ "$w" -lt "${PARALLEL:-1}" ]; do
	worker &
	w=$((w + 1))
done
wait
# The logs one after the other, once all ran.
for prog in $PROGRAMS; do
	show_log "$prog" "/mnt/logs/$prog.log"
done
rm -rf /mnt/tmp/growmap-* /tmp/growmap*

if [ "$BENCH" = 1 ]; then
	log=/mnt/logs/growmap-bench.log
	start=$(cut -d. -f1 /proc/uptime)
	"$BUILD/tools/growmap-bench" --quick --timeout 600 --dir /mnt/tmp >"$log" 2>&1
	rc=$?
	show_log growmap-bench "$log"
	mark "RESULT growmap-bench $rc $(($(cut -d. -f1 /proc/uptime) - start))"
fi

dmesg >/mnt/logs/dmesg.log
show_log dmesg /mnt/logs/dmesg.log
mark "DONE"
halt
