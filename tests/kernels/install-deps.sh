#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Installs what make check-kernels needs beyond the README's packages, all
# from Debian 12's archive with apt-get: the distribution's own kernel
# (linux-image-amd64, Linux 6.1, into /boot and /lib/modules), QEMU,
# a statically linked busybox for the VM's initramfs, cpio to pack it and
# e2fsprogs for its ext4 disk. Root (or sudo). Nothing is downloaded when
# the test runs.
#
#   tests/kernels/install-deps.sh
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
	linux-image-amd64 qemu-system-x86 busybox-static cpio e2fsprogs
