/* SPDX-License-Identifier: MIT */
/*
 * Failures on demand, for tests of the library's failure paths. The test
 * program links failshim.c, whose fdatasync(), poll(), fallocate(),
 * mprotect(), mmap() and mremap() take the place of the C library's for
 * every caller in the process, libgrowmap included (an executable's
 * definitions come first in symbol lookup). Each passes the call on to
 * the real function unless a failure (or a racing store) is armed.
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

/* The next 'count' mremap() calls fail with 'err'. */
void failshim_mremap(int err, int count);

/* The next mmap() of anonymous memory with MAP_FIXED, or mremap() with
 * MREMAP_FIXED, over a range that holds 'addr' (the library turning
 * pages back into placeholder) comes with another thread's accesses in
 * that instant: a store of 'byte' at 'addr' just before the call (the
 * page still maps the file), and a load of 'addr' by a new thread just
 * after it, which failshim_race_load() returns. Counts as one delivery. */
void failshim_race_at_unmap(void *addr, unsigned char byte);

/* The byte the racing load read (after waiting for it to finish), or -1
 * if there was none. */
int failshim_race_load(void);

/* How many armed failures have been delivered so far. */
int failshim_delivered(void);

#endif
