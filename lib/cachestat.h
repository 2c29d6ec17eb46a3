/* SPDX-License-Identifier: MIT */
/*
 * cachestat(2) (Linux 6.5) of a whole file: how many of its pages are in
 * the page cache, dirty and under writeback. Shared by the library, the
 * daemon and the tests; none of them has the glibc wrapper to rely on.
 */
#ifndef GROWMAP_CACHESTAT_H
#define GROWMAP_CACHESTAT_H

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_cachestat
#define SYS_cachestat 451   /* the same number on every architecture */
#endif

struct gm_cachestat {
	uint64_t cache, dirty, writeback, evicted, recently_evicted;
};

/* The counts of the file open on fd, in pages; -1 where the kernel has
 * no cachestat(2) (errno set), else 0. */
static inline int gm_cachestat(int fd, struct gm_cachestat *cs)
{
	struct { uint64_t off, len; } whole = { 0, 0 };
	return syscall(SYS_cachestat, fd, &whole, cs, 0) < 0 ? -1 : 0;
}

#endif
