/* SPDX-License-Identifier: MIT */
/*
 * The file behind the range: its growth, and its exact size.
 *
 * Every page of a writable range is either the file itself (MAP_SHARED,
 * so a completed store is in the page cache and survives the process) or
 * placeholder, which the backend owns. At attach, the pages wholly inside
 * the file are the file; the rest is placeholder. A store into
 * placeholder reaches gm_grow_store() (from the uffd service thread or
 * the signal handler): it reserves disk for a window of pages with
 * fallocate(2), which also extends the file, and maps the file over the
 * window. The faulting thread then retries its store on the file page.
 * Loads of placeholder never come here: the backend answers them with
 * zeros (or the file's bytes below its size) without growing anything.
 *
 * Windows. A store that continues where the last window of a stream
 * ended doubles that stream's window, from the fault-around size up to
 * GM_CHUNK_PAGES; any other store gets its own page only, so sparse
 * stores take the disk of the pages stored and no more.
 *
 * Exact size (growmap(7), "Exact size"). The file may run ahead of it
 * by at most one window between syncs; a durable sync settles it
 * (gm_settle_size). Two cases:
 *  - the program owns its length (growmap_set_size() was called): the
 *    size is the one it set, and nothing is tracked;
 *  - otherwise the size is max(size at attach, end of the highest page
 *    stored into). Pages above the size at attach were fallocated
 *    (unwritten extents) or are holes when mapped, and only a store
 *    dirties a page; once written back, exactly the stored pages are
 *    written extents. So the file system's extent map (FIEMAP) is the
 *    record of which pages were stored into, a zero byte included, and
 *    loads leave no trace. For this to hold per page, windows above the
 *    size at attach are MADV_RANDOM: the page cache then holds them in
 *    single-page folios (a large folio is written back whole). Where a
 *    file system has no FIEMAP (tmpfs), the highest non-zero page decides
 *    instead: a store of zeros at the very top is missed there
 *    (growmap(7)).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extent.h"
#include "growmap-internal.h"

/* Largest window, and so how far the file may run ahead between syncs. */
#define GM_CHUNK_BYTES ((size_t)64 << 20)
#define GM_HUGE_BYTES ((size_t)2 << 20)

void gm_grow_init(struct growmap *gm, off_t file_size)
{
	struct gm_grow *g = &gm->grow;
	size_t page = (size_t)file_size / gm->page_size;
	g->attach_size = file_size;
	g->floor_size = file_size;
	g->attach_page = page < gm->npages ? page : gm->npages;
	g->mapped_end = g->attach_page;
	g->file_size = file_size;
}

/* A spin lock, so the signal handler may take it; holders never fault on
 * the range, and the threads that hold it outside a handler block signals. */
void gm_grow_lock(struct growmap *gm)
{
	while (__atomic_exchange_n(&gm->grow.lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

bool gm_grow_trylock(struct growmap *gm)
{
	return !__atomic_exchange_n(&gm->grow.lock, 1, __ATOMIC_ACQUIRE);
}

void gm_grow_unlock(struct growmap *gm)
{
	__atomic_store_n(&gm->grow.lock, 0, __ATOMIC_RELEASE);
}

static bool owned(const struct growmap *gm)
{
	return __atomic_load_n(&gm->grow.owned, __ATOMIC_ACQUIRE);
}

void gm_grow_set_owned(struct growmap *gm, bool own)
{
	__atomic_store_n(&gm->grow.owned, own, __ATOMIC_RELEASE);
}

/* Maps the file over pages [first, first + count) of the range. */
int gm_map_file_pages(struct growmap *gm, size_t first, size_t count, int prot)
{
	size_t ps = gm->page_size;
	char *at = gm->base + first * ps;
	int r = gm_remap(at, count * ps, prot, MAP_SHARED | MAP_FIXED, gm->fd,
			 (off_t)(first * ps));
	return r < 0 ? r : gm_dontfork(gm, at, count * ps);
}

/* Without the daemon the child of fork() gets nothing of the range;
 * through it, the child inherits the range and attaches it again
 * (gm_after_fork_child(), growmap(7)). */
int gm_dontfork(struct growmap *gm, void *at, size_t len)
{
	if (gm->daemon)
		return 0;
	return madvise(at, len, MADV_DONTFORK) < 0 ? -errno : 0;
}

int gm_each_placeholder_run(struct growmap *gm,
			    int (*fn)(struct growmap *, size_t, size_t))
{
	FILE *maps = fopen("/proc/self/maps", "re");
	if (!maps)
		return -errno;
	uintptr_t lo = (uintptr_t)gm->base, hi = lo + gm->reserve;
	char *line = NULL;
	size_t cap = 0;
	int r = 0;
	while (r == 0 && getline(&line, &cap, maps) > 0) {
		uintptr_t start, end;
		unsigned long long off, inode;
		char perms[8], dev[16];
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %llx %15s %llu", &start, &end,
			   perms, &off, dev, &inode) != 6)
			continue;
		if (inode != 0 || end <= lo || start >= hi)
			continue;   /* the file, or outside the range */
		if (start < lo)
			start = lo;
		if (end > hi)
			end = hi;
		r = fn(gm, (start - lo) / gm->page_size, (end - start) / gm->page_size);
	}
	free(line);
	fclose(maps);
	return r;
}

/* At attach: the pages wholly inside the file are the file. */
int gm_map_attached(struct growmap *gm)
{
	if (!gm->grow.attach_page)
		return 0;
	return gm_map_file_pages(gm, 0, gm->grow.attach_page, PROT_READ | PROT_WRITE);
}

/* The file's size: through growmapd others grow it too, so ask the
 * kernel; alone, what growmap last made it. */
static off_t current_size(struct growmap *gm)
{
	struct stat st;
	if (gm->daemon && fstat(gm->fd, &st) == 0)
		return st.st_size;
	return gm->grow.file_size;
}

enum gm_page_at gm_page_at(struct growmap *gm, size_t page)
{
	off_t size = current_size(gm), start = (off_t)(page * gm->page_size);
	if (start + (off_t)gm->page_size <= size)
		return GM_PAGE_INSIDE;
	return start < size ? GM_PAGE_PARTIAL : GM_PAGE_BEYOND;
}

/* The file's bytes of 'page', zeros where it has none. */
int gm_read_page(struct growmap *gm, size_t page, char *buf)
{
	return gm_read_zero_filled(gm->fd, buf, gm->page_size, (off_t)(page * gm->page_size));
}

static struct gm_stream *stream_find(struct gm_grow *g, size_t page)
{
	for (int i = 0; i < GM_STREAMS; i++)
		if (g->streams[i].window && g->streams[i].next == page)
			return &g->streams[i];
	return NULL;
}

/* Was 'page' mapped by one of the streams' last windows? Then a fault
 * message for it was queued before the window was mapped: nothing to do
 * but wake its thread. */
bool gm_grow_recent(struct growmap *gm, size_t page)
{
	struct gm_grow *g = &gm->grow;
	for (int i = 0; i < GM_STREAMS; i++)
		if (g->streams[i].window && page >= g->streams[i].start &&
		    page < g->streams[i].next)
			return true;
	return false;
}

static void stream_advance(struct gm_grow *g, struct gm_stream *st, size_t page,
			   size_t end)
{
	if (!st) {
		st = &g->streams[0];
		for (int i = 1; i < GM_STREAMS; i++)
			if (g->streams[i].used < st->used)
				st = &g->streams[i];
		st->window = 0;
	}
	size_t got = end - page;
	st->window = got > st->window ? got : st->window;
	st->start = page;
	st->next = end;
	st->used = ++g->clock;
}

/* Whole pages the file may reach under RLIMIT_FSIZE; SIZE_MAX: no limit.
 * Growth stays below it, since exceeding it would also raise SIGXFSZ. */
static size_t fsize_limit_pages(const struct growmap *gm)
{
	struct rlimit lim;
	if (getrlimit(RLIMIT_FSIZE, &lim) < 0 || lim.rlim_cur == RLIM_INFINITY)
		return SIZE_MAX;
	return (size_t)(lim.rlim_cur / gm->page_size);
}

/*
 * Reserves disk for pages [first, first + *count) and makes the file at
 * least that long: fallocate(2) in its extending mode does both. The
 * window shrinks to the faulting page alone when the whole window does
 * not fit (near ENOSPC, or crossing RLIMIT_FSIZE, which is checked here
 * since exceeding it would also raise SIGXFSZ). Returns 0 or the negative
 * errno the faulting thread's SIGBUS stands for.
 */
static int reserve_window(struct growmap *gm, size_t first, size_t *count,
			  size_t limit_pages)
{
	size_t ps = gm->page_size;
	if (first >= limit_pages)
		return -EFBIG;
	if (*count > limit_pages - first)
		*count = limit_pages - first;
	for (;;) {
		off_t off = (off_t)(first * ps), len = (off_t)(*count * ps);
		if (fallocate(gm->fd, 0, off, len) == 0)
			break;
		int err = errno;
		if (err == EINTR)
			continue;
		if (err == EOPNOTSUPP) {   /* no reservation here: extend only */
			if (off + len > current_size(gm) && ftruncate(gm->fd, off + len) < 0)
				return -errno;
			break;
		}
		if (*count > 1) {
			*count = 1;
			continue;
		}
		return -err;
	}
	off_t end = (off_t)((first + *count) * ps);
	if (end > gm->grow.file_size)
		gm->grow.file_size = end;
	return 0;
}

/* The page holding the size at attach when that size is not a whole
 * number of pages, else SIZE_MAX. It stays placeholder until a store to
 * it, which alone rounds the size up to its end (partial_stored). */
static size_t partial_page(const struct gm_grow *g, size_t ps)
{
	return g->attach_size % (off_t)ps ? g->attach_page : SIZE_MAX;
}

/*
 * An isolated store reserves its own page only, but maps the aligned
 * group of fault-around pages around it, the rest of the group as holes
 * in the file (a store there allocates its block through the file
 * system's own page_mkwrite): the disk used stays what was stored, and
 * sparse stores cost a mapping per group, not per page, so even every
 * other page of a large range stays far below vm.max_map_count. The
 * group never takes in the partial page of the size at attach unless
 * that is the page stored into, and leaves the file pages below the size
 * at attach as they are.
 */
static void isolated_group(struct growmap *gm, size_t page, size_t limit_pages,
			   size_t *first, size_t *count)
{
	struct gm_grow *g = &gm->grow;
	size_t w = gm->cfg.fault_around_pages;
	size_t lo = page - page % w, hi = lo + w;
	size_t partial = partial_page(g, gm->page_size);
	if (page >= g->attach_page && lo < g->attach_page)
		lo = g->attach_page;
	if (partial != SIZE_MAX && page > partial && lo <= partial)
		lo = partial + 1;
	if (partial != SIZE_MAX && page < partial && hi > partial)
		hi = partial;
	if (hi > gm->npages)
		hi = gm->npages;
	if (hi > limit_pages)
		hi = page + 1 > limit_pages ? page + 1 : limit_pages;
	if (gm->daemon) {
		/* Extending the file over the group with ftruncate(2) could
		 * cut what another process has grown meanwhile: the group
		 * ends with the page stored into, up to which fallocate(2)
		 * has extended the file. Later stores higher in the group
		 * map it again from its start, so its mappings still merge. */
		hi = page + 1;
	}
	off_t end = (off_t)(hi * gm->page_size);
	if (end > g->file_size && ftruncate(gm->fd, end) == 0)
		g->file_size = end;
	if (end > g->file_size)
		hi = page + 1;      /* could not extend: the page alone */
	*first = lo;
	*count = hi - lo;
}

/*
 * A store into placeholder at 'page': reserve a window of pages from
 * there, extend the file over it and map the file there. Called with the
 * grow lock held. On success [*first, *first + *count) is the file now.
 * Returns 0 or a negative errno: the store cannot be backed.
 */
int gm_grow_store(struct growmap *gm, size_t page, size_t *first, size_t *count)
{
	struct gm_grow *g = &gm->grow;
	size_t ps = gm->page_size;
	bool own = owned(gm);
	struct gm_stream *st = stream_find(g, page);
	size_t n = 1;
	if (st) {
		size_t w = gm->cfg.fault_around_pages;
		n = st->window * 2 > w ? st->window * 2 : w;
		if (n > GM_CHUNK_BYTES / ps)
			n = GM_CHUNK_BYTES / ps;
	}
	if (n > gm->npages - page)
		n = gm->npages - page;
	size_t partial = partial_page(g, ps);
	if (page < partial && page + n > partial)
		n = partial - page;       /* that page maps when it is stored */

	size_t limit_pages = fsize_limit_pages(gm);
	int r = reserve_window(gm, page, &n, limit_pages);
	if (r < 0)
		return r;
	size_t map_first = page, map_count = n;
	if (!st)
		isolated_group(gm, page, limit_pages, &map_first, &map_count);
	r = gm_map_file_pages(gm, map_first, map_count, PROT_READ | PROT_WRITE);
	if (r < 0)
		return r;
	page = map_first;
	n = map_count;
	/* Exact size needs single-page folios above the size at attach; a
	 * program that owns its length gets large folios for its streams. */
	if (!own)
		madvise(gm->base + page * ps, n * ps, MADV_RANDOM);
	else if (n * ps >= GM_HUGE_BYTES)
		madvise(gm->base + page * ps, n * ps, MADV_HUGEPAGE);
	if (partial >= page && partial < page + n)
		g->partial_stored = true;
	if (page + n > g->mapped_end)
		g->mapped_end = page + n;
	stream_advance(g, st, page, page + n);
	gm_stat_add(gm, pages_populated, n);

	uint64_t before = __atomic_fetch_add(&g->mapped_since_writeback, n, __ATOMIC_RELAXED);
	if (before < gm->cfg.dirty_limit_pages && before + n >= gm->cfg.dirty_limit_pages)
		gm_writeback_kick(gm);
	*first = page;
	*count = n;
	return 0;
}

/*
 * Through growmapd, a load of a page beyond the file's end grows the file
 * over that page (disk reserved, as for a store) and maps the file's
 * page, so that this process sees what another one stores there later; a
 * copy of zeros would hide those stores for good. The load still does
 * not count in the exact size: the page stays an unwritten extent (or a
 * page of zeros) until something is stored into it. Called with the grow
 * lock held. Returns 0, or a negative errno: the caller then answers with
 * zeros.
 */
int gm_grow_for_load(struct growmap *gm, size_t page)
{
	struct gm_grow *g = &gm->grow;
	size_t n = 1;
	int r = reserve_window(gm, page, &n, fsize_limit_pages(gm));
	if (r < 0)
		return r;
	r = gm_map_file_pages(gm, page, 1, PROT_READ | PROT_WRITE);
	if (r < 0)
		return r;
	madvise(gm->base + page * gm->page_size, gm->page_size, MADV_RANDOM);
	if (page + 1 > g->mapped_end)
		g->mapped_end = page + 1;
	gm_stat_add(gm, pages_populated, 1);
	return 0;
}

static ssize_t highest_stored(struct growmap *gm, size_t lo, size_t hi)
{
	return gm_highest_stored(gm->fd, gm->page_size, lo, hi);
}

/* Sets the file's size to 'size', once nothing is mapped beyond it. */
static int set_file_size(struct growmap *gm, off_t size)
{
	if (size == current_size(gm)) {
		gm->grow.file_size = size;
		return 0;
	}
	if (ftruncate(gm->fd, size) < 0)
		return -errno;
	gm->grow.file_size = size;
	return 0;
}

/* The program set its length: pages beyond it go back to placeholder
 * (what was stored there is discarded, as after ftruncate(2)), then the
 * file takes that length, which is also the new baseline of the exact
 * size for stores made after this sync (the page holding the end goes
 * back to placeholder too, so that a store into it is seen). Grow lock
 * held. */
static int settle_owned(struct growmap *gm, off_t size)
{
	struct gm_grow *g = &gm->grow;
	size_t ps = gm->page_size;
	size_t keep = (size_t)size / ps;
	if (keep > gm->npages)
		keep = gm->npages;
	if (keep < g->mapped_end) {
		int r = gm->ops->to_placeholder(gm, keep, g->mapped_end);
		if (r < 0)
			return r;
		g->mapped_end = keep;
		for (int i = 0; i < GM_STREAMS; i++)
			g->streams[i].window = 0;
	}
	int r = set_file_size(gm, size);
	if (r < 0)
		return r;
	g->attach_size = size;
	g->floor_size = size;
	g->attach_page = keep;
	g->partial_stored = false;
	return 0;
}

/*
 * The exact size: max(size at attach, end of the highest page stored
 * into). The highest stored page is found with the mapping live; then
 * everything mapped above the size found goes back to placeholder, so no
 * store can land there unseen, and a second look catches a store that
 * landed there in between. Only then is the file cut to size, which
 * goes to *settled, read under the lock.
 */
static int settle_exact(struct growmap *gm, off_t *settled)
{
	struct gm_grow *g = &gm->grow;
	size_t ps = gm->page_size;
	gm_grow_lock(gm);
	off_t size;
	ssize_t top = 0;
	if (g->floor_size == g->attach_size) {
		size_t lo = g->attach_page + (g->attach_size % (off_t)ps ? 1 : 0);
		/* Not only what is mapped: an earlier sync may have kept
		 * stored pages that are placeholder now. */
		size_t hi = (size_t)((current_size(gm) + (off_t)ps - 1) / (off_t)ps);
		if (hi > gm->npages)
			hi = gm->npages;
		if (hi < g->mapped_end)
			hi = g->mapped_end;
		gm_grow_unlock(gm);
		top = highest_stored(gm, lo, hi);
		if (top < 0)
			return (int)top;
		gm_grow_lock(gm);
		size = g->attach_size;
	} else {
		/* Through growmapd, attached after the file's first writer:
		 * its pages between the floor and the size at attach were
		 * the file here from the start, untracked; the file alone
		 * tells what was stored there (extent.c). */
		off_t now = current_size(gm);
		gm_grow_unlock(gm);
		size = gm_exact_size_from_file(gm->fd, ps, g->floor_size, now);
		if (size < 0)
			return (int)size;
		gm_grow_lock(gm);
	}
	if (g->partial_stored && size < (off_t)((g->attach_page + 1) * ps))
		size = (off_t)((g->attach_page + 1) * ps);
	if ((off_t)((size_t)top * ps) > size)
		size = (off_t)((size_t)top * ps);
	size_t keep = (size_t)((size + (off_t)ps - 1) / (off_t)ps);
	int r = 0;
	size_t hi = g->mapped_end;
	if (keep < hi) {
		r = gm->ops->to_placeholder(gm, keep, hi);
		if (r == 0) {
			g->mapped_end = keep;
			for (int i = 0; i < GM_STREAMS; i++)
				g->streams[i].window = 0;
			top = highest_stored(gm, keep, hi);
			if (top < 0)
				r = (int)top;
			else if ((off_t)((size_t)top * ps) > size)
				size = (off_t)((size_t)top * ps);
		}
	}
	if (r == 0)
		r = set_file_size(gm, size);
	*settled = g->file_size;
	gm_grow_unlock(gm);
	return r;
}

/*
 * Gives the file the size growmap(7) says, before a durable sync:
 * 'owned_size' when the program set one ('apply_owned'), else the exact
 * size. Runs on the writeback thread (all signals blocked). Returns 0 or
 * a negative errno, which the caller makes sticky.
 */
int gm_settle_size(struct growmap *gm, bool apply_owned, off_t owned_size)
{
	if (!apply_owned && owned(gm))
		return 0;
	off_t floor;
	if (gm->daemon) {
		/* Cut the file only as its only writer: others
		 * may have pages mapped above any size found here. */
		if (!gm_daemon_sync_begin(gm, &floor))
			return 1;
		gm_grow_lock(gm);
		gm->grow.floor_size = floor;
		gm_grow_unlock(gm);
	}
	int r;
	off_t settled = -1;
	if (apply_owned) {
		gm_grow_lock(gm);
		r = settle_owned(gm, owned_size);
		settled = gm->grow.file_size;
		gm_grow_unlock(gm);
	} else {
		r = settle_exact(gm, &settled);
	}
	/* The size left, as the lock saw it: a fault served right after
	 * may have grown the file already. */
	if (gm->daemon && settled < 0) {   /* failed before it cut the file */
		gm_grow_lock(gm);
		settled = gm->grow.file_size;
		gm_grow_unlock(gm);
	}
	if (gm->daemon)
		gm_daemon_settled(gm, settled);
	return r;
}
