/* SPDX-License-Identifier: MIT */
/*
 * userfaultfd definitions newer than some kernel headers
 * (UFFD_USER_MODE_ONLY: Linux 5.11; /dev/userfaultfd: 6.1). Support is always detected at run time, from UFFDIO_API's answer
 * and from the calls' own results, never from these.
 */
#ifndef GROWMAP_UFFD_COMPAT_H
#define GROWMAP_UFFD_COMPAT_H

#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

#endif
