/* SPDX-License-Identifier: MIT */
/*
 * Failures on demand, for tests of the library's failure paths. The test
 * program links failshim.c, whose fdatasync() and poll() take the place
 * (and fallocate(), mprotect() and mmap()) take the place of the C library's for
 * every caller in the process, libgrowmap
 * included (an executable's definitions come first in symbol lookup).
 * Each passes the call on to the real function unless a failure is armed.
 */
#ifndef GROWMAP_FAILSHIM_H
#define GROWMAP_FAILSHIM_H

/* The next 'count' fdatasync() calls fail with 'err'. */
void failshim_fdatasync(int err, int count);

/* The next 'count' poll() calls on exactly 'nfds' descriptors fail with
 * 'err' (the uffd service thread polls two, the writeback thread one). */
void failshim_poll(unsigned nfds, int err, int count);

/* The next 'count' fallocate() calls fail with 'err'. */
void failshim_fallocate(int err, int count);

/* The next 'count' mprotect() calls fail with 'err'. */
void failshim_mprotect(int err, int count);

/* The next 'count' mmap() calls with MAP_FIXED | MAP_SHARED fail with
 * 'err' (the library's mapping of the file over the range). */
void failshim_mmap_fixed_shared(int err, int count);

/* How many armed failures have been delivered so far. */
int failshim_delivered(void);

#endif
