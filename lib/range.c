/* SPDX-License-Identifier: MIT */
/*
 * The reserved address range: where it goes, its guard page, and giving
 * it back. A range is reserved PROT_NONE; the backend and grow.c decide
 * what is mapped inside it.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "growmap-internal.h"

/*
 * mmap(MAP_FIXED) over pages of a range other threads are using: a page
 * becoming the file's, or placeholder again. The kernel orders it with
 * those threads' accesses (one that comes first faults and waits), which
 * ThreadSanitizer cannot see: its mmap interceptor counts the mapping as
 * a write to every byte, and each first touch after it as a race. Built
 * with ThreadSanitizer, the system call is made directly, unseen; the
 * bytes there are the same memory to the program either way.
 */
int gm_remap(void *at, size_t len, int prot, int flags, int fd, off_t off)
{
#if defined(__SANITIZE_THREAD__) && defined(SYS_mmap)
	long r = syscall(SYS_mmap, at, len, prot, flags, fd, off);
	return r < 0 ? -errno : 0;
#else
	return mmap(at, len, prot, flags, fd, off) == MAP_FAILED ? -errno : 0;
#endif
}

/* The same for mremap(2), which ThreadSanitizer does not follow either. */
int gm_move_over(void *from, size_t len, void *to)
{
	int flags = MREMAP_MAYMOVE | MREMAP_FIXED;
#if defined(__SANITIZE_THREAD__) && defined(SYS_mremap)
	long r = syscall(SYS_mremap, from, len, len, flags, to);
	return r < 0 ? -errno : 0;
#else
	return mremap(from, len, len, flags, to) == MAP_FAILED ? -errno : 0;
#endif
}

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000  /* Linux 4.17; older kernels ignore it */
#endif

/* Maps 'len' bytes of PROT_NONE at exactly 'at', never over an existing
 * mapping. Returns 0, -EEXIST where something is mapped already (also on
 * kernels before Linux 4.17, which take the address as a mere hint), or
 * the negative errno of mmap(2). */
static int map_placeholder(char *at, size_t len)
{
	char *p = mmap(at, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		       MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (p != at) {
		munmap(p, len);
		return -EEXIST;
	}
	return 0;
}

/* The range plus its guard page at an address of our choosing, aligned to
 * 2 MiB like the kernel's own large file mappings, so large folios and
 * huge page tables line up with the range (file offset and address agree
 * modulo 2 MiB, since the range maps the file from offset 0). */
int gm_range_choose(struct growmap *gm)
{
	const size_t align = (size_t)2 << 20;
	size_t total = gm->reserve + gm->page_size;
	char *raw = mmap(NULL, total + align, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return -errno;
	char *area = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	if (area > raw)
		munmap(raw, (size_t)(area - raw));
	if (raw + total + align > area + total)
		munmap(area + total, (size_t)(raw + total + align - (area + total)));
	gm_registry_lock();
	gm->base = area;
	gm->guard_page = true;
	gm_registry_unlock();
	return 0;
}

/*
 * The range at the address the caller named (the AIX layer's shmat with
 * an address), never over anything already mapped. Its guard page follows
 * when that page is free. When that page is the guard of another growmap
 * range ending at 'at', it is taken over (and given back at detach), so
 * ranges can be attached back to back like AIX segments, and an access
 * beyond one reaches the next, as on AIX. When the page after the range
 * is in use by anything else, the range has no guard: the caller placed
 * it next to a neighbour that is already there.
 * Returns 0 or -EINVAL (misaligned, or the range cannot be used there).
 */
int gm_range_place(struct growmap *gm, char *at)
{
	size_t ps = gm->page_size;
	if (((uintptr_t)at & (ps - 1)) || (uintptr_t)at > UINTPTR_MAX - gm->reserve - ps)
		return -EINVAL;
	gm_registry_lock();
	struct growmap *below = NULL;
	for (struct growmap *g = gm_registry_first(); g; g = g->registry_next)
		if (g != gm && g->base && g->guard_page && g->base + g->reserve == at)
			below = g;
	if (below)
		munmap(at, ps);
	bool guard = true;
	int r = map_placeholder(at, gm->reserve + ps);
	if (r == -EEXIST) {
		guard = false;
		r = map_placeholder(at, gm->reserve);
	}
	if (r == 0) {
		gm->base = at;
		gm->guard_page = guard;
		if (below)
			below->guard_page = false;
	} else if (below && (map_placeholder(at, ps) < 0 ||
			     madvise(at, ps, MADV_DONTFORK) < 0)) {
		below->guard_page = false;  /* lost the page to a racing mmap */
	}
	gm_registry_unlock();
	return r < 0 ? -EINVAL : 0;
}

/* Unmaps the range and its guard page. A range ending where this one
 * starts, whose guard page this one took over, gets a guard again. */
void gm_range_release(struct growmap *gm)
{
	size_t ps = gm->page_size;
	gm_registry_lock();
	munmap(gm->base, gm->reserve + (gm->guard_page ? ps : 0));
	for (struct growmap *g = gm_registry_first(); g; g = g->registry_next)
		if (g != gm && g->base && !g->guard_page && g->base + g->reserve == gm->base) {
			if (map_placeholder(gm->base, ps) == 0 &&
			    madvise(gm->base, ps, MADV_DONTFORK) == 0)
				g->guard_page = true;
			break;
		}
	gm->base = NULL;
	gm_registry_unlock();
}
