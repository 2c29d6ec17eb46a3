#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make check-fs: the behaviour suites of both backends, alone and through
# growmapd (check_uffd, check_signal, check_uffd_daemon,
# check_signal_daemon), and the out-of-space test (check_enospc_uffd,
# check_enospc_signal, which fills the filesystem up itself) on small
# filesystems of each kind: loop-mounted ext4, xfs and btrfs images
# (sparse files under /var/tmp) and a sized tmpfs. Root only.
#
#   tests/check-fs.sh BUILDDIR [FS...]      FS: ext4 xfs btrfs tmpfs (default all)
#
# Environment: CHECK_FS_MB (image and tmpfs size, MiB, default 512; xfs
# needs 300, btrfs 114), CHECK_FS_TESTS (the programs of BUILDDIR/tests to
# run, default those six), CHECK_FS_TIMEOUT (seconds per program,
# default 1200). Logs: BUILDDIR/tests/check-fs/FS/PROGRAM.log.
#
# A filesystem whose mkfs tool or kernel support is missing, or that finds
# no loop device, is skipped with the reason printed; so is everything when
# not root or not allowed to mount. Exit status: 1 if any test failed (or a
# filesystem could not be set up), else 77 if anything was skipped, else 0
# (make check-fs passes on 77 too, saying so).
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 BUILDDIR [ext4|xfs|btrfs|tmpfs ...]" >&2
	exit 2
fi
builddir=$(cd "$1" && pwd)
shift
[ $# -gt 0 ] || set -- ext4 xfs btrfs tmpfs
mb=${CHECK_FS_MB:-512}
limit=${CHECK_FS_TIMEOUT:-1200}

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: check-fs: needs root to make and mount filesystems"
	exit 77
fi
for tool in losetup mount umount truncate timeout; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: check-fs: $tool not found"
		exit 77
	fi
done

PROGRAMS=${CHECK_FS_TESTS:-check_uffd check_signal check_uffd_daemon
check_signal_daemon check_enospc_uffd check_enospc_signal}
for prog in $PROGRAMS; do
	if [ ! -x "$builddir/tests/$prog" ]; then
		echo "check-fs: $builddir/tests/$prog not built (make check-fs builds it)" >&2
		exit 1
	fi
done

work=$(mktemp -d /var/tmp/growmap-check-fs.XXXXXX)
logroot=$builddir/tests/check-fs
rm -rf "$logroot"
mkdir -p "$logroot"
mnt=
dev=

# Root without the right to mount (a container without CAP_SYS_ADMIN):
# nothing here can run.
mkdir "$work/probe"
if ! mount -t tmpfs -o size=1m tmpfs "$work/probe" 2>"$logroot/probe.log"; then
	echo "SKIP: check-fs: cannot mount filesystems here: $(tail -n 1 "$logroot/probe.log")"
	rm -rf "$work"
	exit 77
fi
umount "$work/probe"
rmdir "$work/probe"

# Unmounts and detaches the current filesystem, if any; never fails.
teardown() {
	if [ -n "$mnt" ]; then
		if grep -q " $mnt " /proc/mounts; then
			i=0
			while ! umount "$mnt" 2>/dev/null; do
				i=$((i + 1))
				if [ "$i" -ge 10 ]; then
					echo "check-fs: $mnt busy, detaching it lazily" >&2
					umount -l "$mnt" || true
					break
				fi
				sleep 1
			done
		fi
		rmdir "$mnt" 2>/dev/null || true
	fi
	if [ -n "$dev" ]; then
		losetup -d "$dev" 2>/dev/null || true
	fi
	mnt=
	dev=
	rm -f "$work/image"
}
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	set +e
	teardown
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# Makes and mounts filesystem $1 on $mnt. Returns 0; 77 with $reason set
# when this machine cannot have it; 1 with $reason set when setting it up
# failed.
setup() {
	fs=$1
	reason=
	if ! grep -qw "$fs" /proc/filesystems; then
		modprobe "$fs" >/dev/null 2>&1 || true
		if ! grep -qw "$fs" /proc/filesystems; then
			reason="the kernel has no $fs (not in /proc/filesystems)"
			return 77
		fi
	fi
	mnt=$work/mnt-$fs
	if ! mkdir "$mnt"; then
		reason="cannot make $mnt"
		return 1
	fi
	if [ "$fs" = tmpfs ]; then
		if ! mount -t tmpfs -o "size=${mb}m,mode=1777" tmpfs "$mnt"; then
			reason="mount -t tmpfs failed"
			return 1
		fi
		return 0
	fi
	case $fs in
	ext4) mkfs="mkfs.ext4 -q -F" pkg=e2fsprogs ;;
	xfs) mkfs="mkfs.xfs -q -f" pkg=xfsprogs ;;
	btrfs) mkfs="mkfs.btrfs -q -f" pkg=btrfs-progs ;;
	*) reason="unknown filesystem $fs"; return 1 ;;
	esac
	if ! command -v "${mkfs%% *}" >/dev/null 2>&1; then
		reason="${mkfs%% *} not found (Debian package $pkg)"
		return 77
	fi
	if ! truncate -s "${mb}M" "$work/image"; then
		reason="cannot make the image $work/image"
		return 1
	fi
	if ! $mkfs "$work/image" >"$logroot/$fs/mkfs.log" 2>&1; then
		reason="$mkfs failed: $(tail -n 1 "$logroot/$fs/mkfs.log")"
		return 1
	fi
	if ! dev=$(losetup --find --show "$work/image" 2>"$logroot/$fs/losetup.log"); then
		dev=
		reason="no loop device: $(tail -n 1 "$logroot/$fs/losetup.log")"
		return 77
	fi
	if ! mount -t "$fs" "$dev" "$mnt" 2>"$logroot/$fs/mount.log"; then
		reason="mount -t $fs $dev failed: $(tail -n 1 "$logroot/$fs/mount.log")"
		return 1
	fi
	chmod 1777 "$mnt"
	return 0
}

# Check's own count from a log: "N checks" or nothing.
checks() {
	sed -n 's/^[0-9]*%: Checks: \([0-9]*\),.*/\1 checks/p' "$1" | tail -n 1
}

start=$(date +%s)
total_run=0 total_pass=0 total_fail=0 total_skip=0
fs_failed='' fs_skipped='' summary=''

for fs in "$@"; do
	mkdir -p "$logroot/$fs"
	fs_start=$(date +%s)
	rc=0
	setup "$fs" || rc=$?
	if [ "$rc" -ne 0 ]; then
		teardown
		if [ "$rc" -eq 77 ]; then
			echo "SKIP: $fs: $reason"
			fs_skipped="$fs_skipped $fs"
			line="$fs: skipped ($reason)"
		else
			echo "FAIL: $fs: $reason"
			fs_failed="$fs_failed $fs"
			line="$fs: not set up ($reason)"
		fi
		summary="$summary$line
"
		continue
	fi
	echo "== $fs: $(df -h --output=size "$mnt" | tail -n 1 | tr -d ' ') on $mnt${dev:+ ($dev)}"
	run=0 pass=0 fail=0 skip=0 failed_names=
	for prog in $PROGRAMS; do
		log=$logroot/$fs/$prog.log
		t0=$(date +%s)
		rc=0
		case $prog in
		check_enospc_*)
			env GROWMAP_ENOSPC_DIR="$mnt" CK_DEFAULT_TIMEOUT=120 \
				timeout -k 10 "$limit" "$builddir/tests/$prog" >"$log" 2>&1 || rc=$?
			;;
		*)
			env GROWMAP_TEST_DIR="$mnt" CK_DEFAULT_TIMEOUT=120 \
				timeout -k 10 "$limit" "$builddir/tests/$prog" >"$log" 2>&1 || rc=$?
			;;
		esac
		secs=$(($(date +%s) - t0))
		n=$(checks "$log")
		run=$((run + 1))
		case $rc in
		0)
			pass=$((pass + 1))
			echo "PASS: $fs $prog (${n:+$n, }${secs} s)"
			;;
		77)
			skip=$((skip + 1))
			echo "SKIP: $fs $prog: $(grep -m 1 '^SKIP' "$log" || echo 'exit 77')"
			;;
		*)
			fail=$((fail + 1))
			failed_names="$failed_names $prog"
			[ "$rc" -eq 124 ] && echo "check-fs: $prog timed out after $limit s" >>"$log"
			echo "FAIL: $fs $prog (exit $rc, ${n:+$n, }${secs} s; log $log)"
			# Check's failure lines, or the log's end when there are none.
			if grep -q ':[EF]:' "$log"; then
				grep ':[EF]:' "$log" | sed 's/^/    /'
			else
				tail -n 5 "$log" | sed 's/^/    /'
			fi
			;;
		esac
		# A test that failed may leave its files: never let them fill the
		# filesystem under the next one.
		rm -f "$mnt"/growmap-test-*
	done
	teardown
	total_run=$((total_run + run))
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
	[ "$fail" -eq 0 ] || fs_failed="$fs_failed $fs"
	[ "$skip" -eq 0 ] || fs_skipped="$fs_skipped $fs"
	line="$fs: $run tests run, $pass passed, $fail failed, $skip skipped, $(($(date +%s) - fs_start)) s${failed_names:+ (failed:$failed_names)}"
	summary="$summary$line
"
done

secs=$(($(date +%s) - start))
echo
echo "==== check-fs summary"
printf '%s' "$summary"
echo "check-fs: $total_run tests run, $total_pass passed, $total_fail failed, $total_skip skipped; filesystems failed:${fs_failed:- none}, skipped:${fs_skipped:- none}; $((secs / 60)) min $((secs % 60)) s"
if [ -n "$fs_failed" ]; then
	exit 1
fi
if [ -n "$fs_skipped" ]; then
	exit 77
fi
exit 0
