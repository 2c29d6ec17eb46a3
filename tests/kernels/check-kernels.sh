#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make check-kernels: the test programs on Debian 12's own kernel
# (linux-image-amd64, Linux 6.1), in a QEMU VM. Root only.
#
#   tests/kernels/check-kernels.sh BUILDDIR
#
# 1. Builds the programs statically: a copy of the distribution ('make
#    distdir' of BUILDDIR) configured with --disable-shared in
#    BUILDDIR/tests/kernels/static, made with -all-static; growmapd gets
#    sd-daemon-stub.c for libsystemd, which Debian ships only shared.
# 2. Packs them into an initramfs with busybox and vm-init.sh as /init,
#    and the kernel modules the disk needs (virtio, ext4), and makes an
#    ext4 image for the VM's disk.
# 3. Boots the kernel under qemu-system-x86_64 (KVM where /dev/kvm can be
#    used, else TCG; 2 vCPUs, 2 GiB), which runs each program and reports
#    on the serial console; reads its markers and prints a line per
#    program.
#
# Environment:
#   CHECK_KERNELS_KERNEL   the kernel image (default: the newest
#                          /boot/vmlinuz-6.1.*)
#   CHECK_KERNELS_ACCEL    auto (default), kvm or tcg
#   CHECK_KERNELS_TESTS    the programs of tests/ to run (default below)
#   CHECK_KERNELS_PARALLEL how many programs run at once in the VM (default 2)
#   CHECK_KERNELS_TIMEOUT  seconds per program inside the VM (default 300)
#   CHECK_KERNELS_VM_TIMEOUT  seconds for the whole VM (default 1500)
#   CHECK_KERNELS_BOOT_TIMEOUT  seconds to the first line from the VM
#                          (default 120; KVM that does not boot: TCG)
#   CHECK_KERNELS_BENCH    1: also run growmap-bench --quick in the VM
#   CHECK_KERNELS_ENV      NAME=VALUE words exported to the programs in the
#                          VM (GROWMAP_LOG_LEVEL=debug, say)
#   CHECK_KERNELS_JOBS     make -j for the static build (default: nproc)
#
# Logs: BUILDDIR/tests/kernels/run/ (console.log, PROGRAM.log each).
# Exit status: 0 when every program passed; 1 when one failed or the VM
# did not finish; 77 when this machine cannot run it (the reason is
# printed; tests/kernels/install-deps.sh installs what is missing) or a
# program skipped inside the VM.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILDDIR" >&2
	exit 2
fi
builddir=$(cd "$1" && pwd)
# Its own makes, whatever make runs this one with (make check-kernels).
unset MAKEFLAGS MFLAGS MAKELEVEL
here=$(cd "$(dirname "$0")" && pwd)

skip() {
	echo "SKIP: check-kernels: $*"
	exit 77
}

[ "$(id -u)" -eq 0 ] || skip "needs root (to read the kernel's modules and to run the VM's tests as root)"
[ "$(uname -m)" = x86_64 ] || skip "the VM is x86-64; this machine is $(uname -m)"
for tool in qemu-system-x86_64 cpio mkfs.ext4 timeout; do
	command -v "$tool" >/dev/null 2>&1 ||
		skip "$tool not found (tests/kernels/install-deps.sh installs it)"
done
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
	skip "no statically linked busybox (Debian package busybox-static; tests/kernels/install-deps.sh)"
fi
kernel=${CHECK_KERNELS_KERNEL:-}
if [ -z "$kernel" ]; then
	# shellcheck disable=SC2012 # the names are Debian's own, no odd characters
	kernel=$(ls /boot/vmlinuz-6.1.* 2>/dev/null | sort -V | tail -n 1)
fi
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
	skip "no Linux 6.1 kernel in /boot (Debian package linux-image-amd64; tests/kernels/install-deps.sh)"
fi
release=${kernel##*/vmlinuz-}
moddir=/lib/modules/$release
[ -f "$moddir/modules.dep" ] || skip "no $moddir/modules.dep for $kernel"

# The longest first: PARALLEL of them run at once, each taking the next.
PROGRAMS=${CHECK_KERNELS_TESTS:-check_crash_signal check_crash_uffd
check_uffd_daemon check_signal_daemon check_shared_uffd check_shared_signal
check_uffd check_signal check_shm_uffd check_shm_signal check_fault_uffd
check_fault_signal check_enospc_uffd check_enospc_signal check_unprivileged}
# shellcheck disable=SC2086,SC2116 # one line of words
PROGRAMS=$(echo $PROGRAMS)
nprograms=$(echo "$PROGRAMS" | wc -w)
parallel=${CHECK_KERNELS_PARALLEL:-2}
limit=${CHECK_KERNELS_TIMEOUT:-300}
jobs=${CHECK_KERNELS_JOBS:-$(nproc)}
accel=${CHECK_KERNELS_ACCEL:-auto}
if [ "$accel" = auto ]; then
	accel=tcg
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		accel=kvm
	fi
fi
case $accel in
kvm | tcg) ;;
*) echo "check-kernels: CHECK_KERNELS_ACCEL=$accel: give auto, kvm or tcg" >&2; exit 2 ;;
esac

start=$(date +%s)
kdir=$builddir/tests/kernels
static=$kdir/static
run=$kdir/run
rm -rf "$run"
mkdir -p "$static" "$run"

# ---- 1. the static build --------------------------------------------------
echo "check-kernels: building the test programs statically in $static"
rm -rf "$kdir/dist"
make -s -C "$builddir" distdir distdir="$kdir/dist" >"$run/build.log" 2>&1 || {
	cat "$run/build.log"; echo "check-kernels: make distdir failed" >&2; exit 1; }
# Copied over the last build with their times kept: only what changed is
# made again.
cp -pR "$kdir/dist/." "$static/"
rm -rf "$kdir/dist"
cd "$static"
cc=${CC:-cc}
$cc -O2 -c -o sd-daemon-stub.o "$here/sd-daemon-stub.c"
rm -f libsd-daemon-stub.a
ar rcs libsd-daemon-stub.a sd-daemon-stub.o
if [ ! -f Makefile ]; then
	./configure -q --disable-shared --enable-static LDFLAGS=-static \
		LIBSYSTEMD_CFLAGS=" " LIBSYSTEMD_LIBS="$static/libsd-daemon-stub.a" \
		>>"$run/build.log" 2>&1 || {
		tail -n 30 "$run/build.log"; echo "check-kernels: configure of the static build failed" >&2; exit 1; }
fi
targets="tests/end-by-return examples/aix-records daemon/growmapd tools/growmap-demo tools/growmap-bench"
for prog in $PROGRAMS; do
	targets="$targets tests/$prog"
done
# shellcheck disable=SC2086 # word lists
make -j"$jobs" LDFLAGS=-all-static $targets >>"$run/build.log" 2>&1 || {
	tail -n 30 "$run/build.log"; echo "check-kernels: the static build failed" >&2; exit 1; }
$cc -static -O2 -o "$run/kernel-features" "$here/kernel-features.c" >>"$run/build.log" 2>&1 || {
	tail -n 30 "$run/build.log"; echo "check-kernels: building kernel-features failed" >&2; exit 1; }
for t in $targets; do
	if ldd "$t" >/dev/null 2>&1; then
		echo "check-kernels: $static/$t is not statically linked" >&2
		exit 1
	fi
done
echo "check-kernels: static build done ($(($(date +%s) - start)) s)"

# ---- 2. the initramfs and the disk -----------------------------------------
root=$run/initramfs
mkdir -p "$root/bin" "$root/etc" "$root/lib/modules" "$root/proc" "$root/sys" \
	"$root/dev" "$root/tmp" "$root/mnt" "$root$static/tests"
cp "$busybox" "$root/bin/busybox"
cp "$here/vm-init.sh" "$root/init"
chmod 755 "$root/init"
cp "$run/kernel-features" "$root/bin/"
# The programs at the paths compiled into them (GROWMAPD_PROG,
# END_BY_RETURN_PROG, AIX_RECORDS_PROG), without their debug sections.
for t in $targets; do
	mkdir -p "$root$static/${t%/*}"
	strip --strip-debug -o "$root$static/$t" "$t"
done

# The modules for a virtio disk with ext4 on it, each after what it needs
# (modules.dep; crc32c for ext4's checksums is asked for by name).
loaded=
add_module() {
	case " $loaded " in *" $1 "*) return 0 ;; esac
	deps=$(sed -n "s|^$1: *||p" "$moddir/modules.dep")
	[ -n "$deps" ] || grep -q "^$1:" "$moddir/modules.dep" || {
		echo "check-kernels: $1 not in $moddir/modules.dep" >&2; return 1; }
	for dep in $deps; do
		add_module "$dep" || return 1
	done
	loaded="$loaded $1"
	name=${1##*/}
	case $name in
	*.ko.xz) xz -dc "$moddir/$1" >"$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
	*.ko.zst) zstd -qdc "$moddir/$1" >"$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
	*) cp "$moddir/$1" "$root/lib/modules/" ;;
	esac
	echo "$name" >>"$root/lib/modules/load-order"
}
: >"$root/lib/modules/load-order"
for m in virtio_pci virtio_blk crc32c_generic ext4; do
	path=$(sed -n "s|^\(kernel/.*/$m\.ko[.a-z]*\):.*|\1|p" "$moddir/modules.dep" | head -n 1)
	if [ -z "$path" ]; then
		# Built in: nothing to load.
		continue
	fi
	add_module "$path"
done

cat >"$root/etc/check-kernels.conf" <<EOF
BUILD='$static'
PROGRAMS='$PROGRAMS'
PARALLEL='$parallel'
TIMEOUT='$limit'
BENCH='${CHECK_KERNELS_BENCH:-0}'
EXTRA_ENV='${CHECK_KERNELS_ENV:-}'
EOF
(cd "$root" && find . | cpio -o -H newc --quiet) >"$run/initramfs.cpio"
# The disk's image in memory where /dev/shm has room (the host's own disk
# then sees none of the tests' gigabytes, and removing the image never
# waits for its writeback), else beside the logs; blocks the VM frees are
# punched out of it again (discard).
disk=$run/disk.img
if [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')" -gt $((6 << 20)) ] 2>/dev/null; then
	disk=$(mktemp /dev/shm/growmap-check-kernels.XXXXXX)
fi
trap 'rm -f "$disk"' EXIT
truncate -s 4G "$disk"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$disk"
echo "check-kernels: initramfs and disk ready ($(($(date +%s) - start)) s)"

# ---- 3. the VM ---------------------------------------------------------------
vm_limit=${CHECK_KERNELS_VM_TIMEOUT:-1500}
boot_limit=${CHECK_KERNELS_BOOT_TIMEOUT:-120}   # to the first marker (TCG: 5 s when idle)
# Ends the VM, if one is running (its pid from QEMU's -pidfile).
stop_vm() {
	if [ -s "$run/qemu.pid" ]; then
		kill "$(cat "$run/qemu.pid")" 2>/dev/null || true
	fi
}
trap 'stop_vm; exit 130' INT
trap 'stop_vm; exit 143' TERM HUP
# Boots the VM with accelerator $1; every line of the console goes to
# console.log, and the host shows the markers as they come. Returns 1
# when the kernel did not come up within boot_limit seconds.
boot() {
	case $1 in
	kvm) set -- -accel kvm -cpu host ;;
	tcg) set -- -accel tcg,thread=multi -cpu max ;;
	esac
	rm -f "$run/qemu.pid"
	: >"$run/console.raw"
	(timeout -k 10 "$vm_limit" qemu-system-x86_64 "$@" -smp 2 -m 2048 \
		-nodefaults -display none -no-reboot -serial stdio -pidfile "$run/qemu.pid" \
		-kernel "$kernel" -initrd "$run/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 loglevel=3 mitigations=off" \
		-drive file="$disk",if=virtio,format=raw,cache=unsafe,discard=unmap \
		</dev/null 2>"$run/qemu.err" | tee "$run/console.raw" |
		sed -u -n 's/\r$//; s/^GROWMAP-KERNELS: \(BOOT\|RESULT\|AUTO\|ERROR\|DONE\)/  \1/p') &
	vm=$!
	booted=0 waited=0
	while kill -0 "$vm" 2>/dev/null; do
		if grep -q '^GROWMAP-KERNELS: ' "$run/console.raw"; then
			booted=1
			break
		fi
		if [ "$waited" -ge "$boot_limit" ]; then
			echo "check-kernels: the kernel did not come up in $boot_limit s under $accel"
			stop_vm
			break
		fi
		sleep 1
		waited=$((waited + 1))
	done
	wait "$vm" || true
	tr -d '\r' <"$run/console.raw" >"$run/console.log"
	rm -f "$run/console.raw"
	[ "$booted" -eq 1 ] || grep -q '^GROWMAP-KERNELS: ' "$run/console.log"
}
echo "check-kernels: booting $kernel ($accel, 2 vCPUs, 2 GiB) with $nprograms programs; logs in $run"
vm_start=$(date +%s)
if ! boot "$accel" && [ "$accel" = kvm ]; then
	echo "check-kernels: KVM did not work here ($(tail -n 1 "$run/qemu.err")); TCG instead"
	accel=tcg
	vm_start=$(date +%s)
	boot tcg || true
fi
trap - INT TERM HUP
vm_secs=$(($(date +%s) - vm_start))
rm -f "$disk" "$run/initramfs.cpio"
rm -rf "$root"

# ---- 4. the results ------------------------------------------------------------
# Each program's log into run/NAME.log.
awk -v dir="$run" '
	/^GROWMAP-KERNELS: LOG .* BEGIN$/ { file = dir "/" $3 ".log"; printf "" > file; next }
	/^GROWMAP-KERNELS: LOG .* END$/ { close(file); file = ""; next }
	file != "" { print >> file }' "$run/console.log"

echo
echo "==== check-kernels: $release, $accel"
sed -n 's/^GROWMAP-KERNELS: FEATURE /  /p' "$run/console.log"
echo "  auto: $(sed -n 's/^GROWMAP-KERNELS: AUTO //p' "$run/console.log")"
pass=0 fail=0 skipped=0 failed_names='' skipped_names=''
for prog in $PROGRAMS; do
	line=$(grep "^GROWMAP-KERNELS: RESULT $prog " "$run/console.log" | tail -n 1 || true)
	log=$run/$prog.log
	n=$(sed -n 's/^[0-9]*%: Checks: \([0-9]*\),.*/\1 checks/p' "$log" 2>/dev/null | tail -n 1)
	if [ -z "$line" ]; then
		fail=$((fail + 1))
		failed_names="$failed_names $prog"
		echo "FAIL: $prog (no result: the VM ended before it finished)"
		continue
	fi
	# shellcheck disable=SC2086 # the marker's words
	set -- $line
	rc=$4 secs=$5
	case $rc in
	0)
		pass=$((pass + 1))
		echo "PASS: $prog (${n:+$n, }$secs s)"
		;;
	77)
		skipped=$((skipped + 1))
		skipped_names="$skipped_names $prog"
		echo "SKIP: $prog: $(grep -m 1 '^SKIP' "$log" || echo 'exit 77')"
		;;
	*)
		fail=$((fail + 1))
		failed_names="$failed_names $prog"
		echo "FAIL: $prog (exit $rc, ${n:+$n, }$secs s; log $log)"
		if grep -q ':[EF]:' "$log"; then
			grep ':[EF]:' "$log" | sed 's/^/    /'
		else
			tail -n 10 "$log" | sed 's/^/    /'
		fi
		;;
	esac
done
if [ "${CHECK_KERNELS_BENCH:-0}" = 1 ]; then
	echo "growmap-bench --quick: $(grep "^GROWMAP-KERNELS: RESULT growmap-bench " "$run/console.log" |
		awk '{ print "exit " $4 ", " $5 " s" }'); output in $run/growmap-bench.log"
fi
sed -n 's/^GROWMAP-KERNELS: ERROR /ERROR: /p' "$run/console.log"
done_ok=1
grep -q '^GROWMAP-KERNELS: DONE' "$run/console.log" || done_ok=0
if [ "$done_ok" -eq 0 ]; then
	echo "check-kernels: the VM did not finish (after $vm_secs s); the console's end:"
	tail -n 30 "$run/console.log" | sed 's/^/    /'
	[ -s "$run/qemu.err" ] && sed 's/^/    qemu: /' "$run/qemu.err"
fi
secs=$(($(date +%s) - start))
echo "check-kernels: Linux $release under $accel: VM $vm_secs s, all $((secs / 60)) min $((secs % 60)) s${failed_names:+; failed:$failed_names}${skipped_names:+; skipped:$skipped_names}"
echo "check-kernels: $pass passed, $fail failed, $skipped skipped"
if [ "$fail" -gt 0 ] || [ "$done_ok" -eq 0 ]; then
	exit 1
fi
[ "$skipped" -eq 0 ] || skip "$skipped programs skipped in the VM:$skipped_names"
exit 0
