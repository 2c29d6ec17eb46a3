/*
 * The signal backend: the classic PROT_NONE + SIGSEGV + mprotect pager,
 * for kernels or processes without userfaultfd, and the baseline the
 * userfaultfd backend is measured against.
 *
 * The range is the same memfd mapping as for userfaultfd, protected
 * PROT_NONE. A second, private view of the memfd (io_base) is always
 * readable and writable: the handler reads file data into it and
 * writeback reads pages from it, so neither ever faults on the
 * application's view.
 *
 * Page states, one byte per page:
 *   UNTOUCHED  PROT_NONE, never populated (or discarded);
 *   CLEAN      PROT_READ, populated, not stored into since the last scan;
 *   DIRTY      PROT_READ|PROT_WRITE, possibly stored into.
 * A fault on UNTOUCHED pages populates them (disk reserved first); a
 * fault on CLEAN pages can only be a store, so they become DIRTY. Both
 * act on a whole block of pages at once, so protection changes happen at
 * block granularity and the number of VMAs stays below
 * npages / block_pages however sparse the stores: per-page mprotect would
 * split a 256 MiB range into 65536 VMAs, past vm.max_map_count.
 *
 * Because a store makes its whole block writable, a scan refines DIRTY
 * pages by content: a page is written back only if its bytes differ from
 * the file's (zeros beyond the end of file). So sync writes only modified
 * pages. What this cannot see is a store of bytes equal to what is
 * already there; the one visible effect is that storing zeros beyond the
 * end of file does not extend the file (documented in growmap(7)).
 *
 * The handler uses only async-signal-safe operations: system calls,
 * atomics and spin locks; no malloc, no stdio, no pthread locks. Faults
 * outside growmap's regions (or in a child after fork) go to the handler
 * that was installed before growmap's, or get the default action.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "bitmap.h"
#include "growmap-internal.h"

enum page_state {
	PAGE_UNTOUCHED = 0,
	PAGE_CLEAN,
	PAGE_DIRTY,
};

#define STRIPES 64          /* block locks: block index modulo STRIPES */
#define MAX_REGIONS 256     /* signal-backend mappings per process */
#define VMA_BUDGET 16384    /* most VMAs one mapping may need */

struct signal_backend {
	uint8_t *state;             /* enum page_state per page; atomic */
	uint64_t *dirty_blocks;     /* blocks with DIRTY pages; atomic */
	size_t block_pages;
	size_t nblocks;
	int stripe[STRIPES];        /* spin locks */
	int slot;                   /* index in the region table */
};

/* Regions the handler serves; read lock-free by the handler. */
static struct growmap *regions[MAX_REGIONS];
static int handlers_running;       /* handlers inside region code; atomic */
static struct sigaction previous_segv;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;

static void stripe_lock(struct signal_backend *sb, size_t block)
{
	int *l = &sb->stripe[block % STRIPES];
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void stripe_unlock(struct signal_backend *sb, size_t block)
{
	__atomic_store_n(&sb->stripe[block % STRIPES], 0, __ATOMIC_RELEASE);
}

static uint8_t state_get(struct signal_backend *sb, size_t page)
{
	return __atomic_load_n(&sb->state[page], __ATOMIC_ACQUIRE);
}

static void state_set(struct signal_backend *sb, size_t from, size_t to, uint8_t st)
{
	for (size_t p = from; p < to; p++)
		__atomic_store_n(&sb->state[p], st, __ATOMIC_RELEASE);
}

static int protect(struct growmap *gm, size_t from, size_t to, int prot)
{
	size_t ps = gm->page_size;
	return mprotect(gm->base + from * ps, (to - from) * ps, prot) < 0 ? -errno : 0;
}

/* The run of pages around 'page', inside its block, in state 'st'. */
static void block_run(struct growmap *gm, size_t page, uint8_t st,
		      size_t *from, size_t *to)
{
	struct signal_backend *sb = gm->backend;
	size_t lo = page - page % sb->block_pages;
	size_t hi = lo + sb->block_pages < gm->npages ? lo + sb->block_pages : gm->npages;
	size_t a = page, b = page + 1;
	while (a > lo && state_get(sb, a - 1) == st)
		a--;
	while (b < hi && state_get(sb, b) == st)
		b++;
	*from = a;
	*to = b;
}

/* Was the fault a store? Only x86 tells us up front; elsewhere a store to
 * an untouched page takes a second fault, on the then read-only page. */
static bool fault_is_store(const void *ucontext)
{
#if defined(__x86_64__)
	const ucontext_t *uc = ucontext;
	return uc && (uc->uc_mcontext.gregs[REG_ERR] & 2);
#else
	(void)ucontext;
	return false;
#endif
}

/* Populates the untouched run around 'page'. Returns 0 or -errno. */
static int populate(struct growmap *gm, size_t page, bool store)
{
	struct signal_backend *sb = gm->backend;
	size_t from, to;
	block_run(gm, page, PAGE_UNTOUCHED, &from, &to);
	size_t count = to - from;
	int r = gm_reserve_disk(gm, page, &from, &count);
	if (r == 0)
		r = gm_read_file(gm, from, count, gm->io_base + from * gm->page_size);
	if (r < 0)
		return r;
	to = from + count;
	bool dirty = store;
	r = protect(gm, from, to, dirty ? PROT_READ | PROT_WRITE : PROT_READ);
	if (r < 0)
		return r;
	state_set(sb, from, to, dirty ? PAGE_DIRTY : PAGE_CLEAN);
	if (dirty)
		bitmap_set_atomic(sb->dirty_blocks, page / sb->block_pages);
	gm_note_populated(gm, from, count);
	return 0;
}

/* A store into clean pages: make their run writable and note the block. */
static int make_dirty(struct growmap *gm, size_t page)
{
	struct signal_backend *sb = gm->backend;
	size_t from, to;
	block_run(gm, page, PAGE_CLEAN, &from, &to);
	bitmap_set_atomic(sb->dirty_blocks, page / sb->block_pages);
	int r = protect(gm, from, to, PROT_READ | PROT_WRITE);
	if (r == 0)
		state_set(sb, from, to, PAGE_DIRTY);
	return r;
}

/* SIGBUS for the faulting thread, with the address, as a kernel mapping
 * would raise on a full disk. */
static void raise_sigbus(void *addr)
{
	siginfo_t info;
	memset(&info, 0, sizeof(info));
	info.si_signo = SIGBUS;
	info.si_code = BUS_ADRERR;
	info.si_addr = addr;
	/* Like the kernel's own fault signals: neither blocked nor ignored,
	 * else the access would retry forever. */
	sigset_t bus;
	sigemptyset(&bus);
	sigaddset(&bus, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
	struct sigaction cur;
	if (sigaction(SIGBUS, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_handler == SIG_IGN) {
		memset(&cur, 0, sizeof(cur));
		cur.sa_handler = SIG_DFL;
		sigaction(SIGBUS, &cur, NULL);
	}
	syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), SIGBUS, &info);
}

/* Passes a fault growmap does not own to the handler installed before
 * ours, or lets the default action happen. */
static void chain(int sig, siginfo_t *info, void *ucontext)
{
	struct sigaction prev = previous_segv;
	if (prev.sa_flags & SA_SIGINFO) {
		prev.sa_sigaction(sig, info, ucontext);
		return;
	}
	if (prev.sa_handler == SIG_DFL || prev.sa_handler == SIG_IGN) {
		/* A fault cannot be ignored: return into it with the default
		 * action in place, as the kernel would. */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(sig, &dfl, NULL);
		return;
	}
	prev.sa_handler(sig);
}

/* The owning region of 'addr', or NULL. */
static struct growmap *region_of(const char *addr)
{
	for (int i = 0; i < MAX_REGIONS; i++) {
		struct growmap *gm = __atomic_load_n(&regions[i], __ATOMIC_ACQUIRE);
		if (gm && addr >= gm->base && addr < gm->base + gm->reserve)
			return gm;
	}
	return NULL;
}

static void segv_handler(int sig, siginfo_t *info, void *ucontext)
{
	int saved_errno = errno;
	__atomic_add_fetch(&handlers_running, 1, __ATOMIC_ACQ_REL);
	char *addr = info->si_addr;
	struct growmap *gm = region_of(addr);
	if (!gm || gm->owner != getpid()) {
		__atomic_sub_fetch(&handlers_running, 1, __ATOMIC_ACQ_REL);
		errno = saved_errno;
		chain(sig, info, ucontext);
		return;
	}
	struct signal_backend *sb = gm->backend;
	size_t page = (size_t)(addr - gm->base) / gm->page_size;
	size_t block = page / sb->block_pages;
	int r = 0;

	gm_stat_add(gm, faults, 1);
	stripe_lock(sb, block);
	switch (state_get(sb, page)) {
	case PAGE_UNTOUCHED:
		r = populate(gm, page, fault_is_store(ucontext));
		break;
	case PAGE_CLEAN:
		r = make_dirty(gm, page);   /* readable, so this was a store */
		break;
	default:
		break;   /* another thread resolved it meanwhile: retry the access */
	}
	stripe_unlock(sb, block);
	if (r < 0)
		gm_record_error(gm, r);
	__atomic_sub_fetch(&handlers_running, 1, __ATOMIC_ACQ_REL);
	errno = saved_errno;
	if (r < 0)
		raise_sigbus(addr);
}

/* Installs the handler once per process; it stays: later faults outside
 * growmap still reach the previous handler through it. An application
 * handler installed afterwards must chain to growmap's (growmap(7)):
 * installing growmap's again in front of it could make two handlers that
 * chain to each other recurse forever. */
static int install_handler(void)
{
	pthread_mutex_lock(&install_lock);
	int r = 0;
	if (!installed) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = segv_handler;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
		/* Asynchronous signals wait while the handler holds a block lock:
		 * their handlers might touch the same block. */
		sigfillset(&sa.sa_mask);
		sigdelset(&sa.sa_mask, SIGBUS);
		sigdelset(&sa.sa_mask, SIGFPE);
		sigdelset(&sa.sa_mask, SIGILL);
		sigdelset(&sa.sa_mask, SIGTRAP);
		if (sigaction(SIGSEGV, &sa, &previous_segv) < 0)
			r = -errno;
		else
			installed = true;
	}
	pthread_mutex_unlock(&install_lock);
	return r;
}

static int signal_attach(struct growmap *gm)
{
	struct signal_backend *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	sb->slot = -1;
	gm->backend = sb;
	/* Blocks large enough that one mapping never needs more than
	 * VMA_BUDGET VMAs, and at least the fault-around window. */
	size_t bp = gm->cfg.fault_around_pages;
	while (gm->npages / bp > VMA_BUDGET)
		bp *= 2;
	sb->block_pages = bp;
	sb->nblocks = (gm->npages + bp - 1) / bp;
	sb->state = calloc(gm->npages, 1);
	sb->dirty_blocks = bitmap_alloc(sb->nblocks);
	if (!sb->state || !sb->dirty_blocks)
		return -ENOMEM;

	void *view = mmap(NULL, gm->reserve, PROT_READ | PROT_WRITE, MAP_SHARED,
			  gm->memfd, 0);
	if (view == MAP_FAILED)
		return -errno;
	gm->io_base = view;
	if (madvise(view, gm->reserve, MADV_DONTFORK) < 0)
		return -errno;
	if (mprotect(gm->base, gm->reserve, PROT_NONE) < 0)
		return -errno;
	int r = install_handler();
	if (r < 0)
		return r;
	for (int i = 0; i < MAX_REGIONS; i++) {
		struct growmap *none = NULL;
		if (__atomic_compare_exchange_n(&regions[i], &none, gm, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			sb->slot = i;
			return 0;
		}
	}
	snprintf(gm->reason, sizeof(gm->reason), "signal: more than %d mappings", MAX_REGIONS);
	return -EMFILE;
}

static void signal_detach(struct growmap *gm)
{
	struct signal_backend *sb = gm->backend;
	if (sb->slot >= 0) {
		__atomic_store_n(&regions[sb->slot], NULL, __ATOMIC_RELEASE);
		/* A handler that found the region before it left the table may
		 * still be using it. */
		while (__atomic_load_n(&handlers_running, __ATOMIC_ACQUIRE))
			sched_yield();
	}
	if (gm->io_base && gm->io_base != gm->base)
		munmap(gm->io_base, gm->reserve);
	gm->io_base = gm->base;
	free(sb->state);
	free(sb->dirty_blocks);
	free(sb);
	gm->backend = NULL;
}

/* Does page 'p' of the view differ from the file? 'size' is the file's
 * size; beyond it the file reads as zeros. */
static bool page_changed(struct growmap *gm, size_t p, off_t size, char *file_page)
{
	size_t ps = gm->page_size;
	const char *mem = gm->io_base + p * ps;
	off_t off = (off_t)(p * ps);
	size_t have = 0;
	if (off < size) {
		ssize_t n = pread(gm->fd, file_page, ps, off);
		have = n > 0 ? (size_t)n : 0;
		if (n < 0)
			return true;   /* cannot compare: write it */
	}
	if (have && memcmp(mem, file_page, have))
		return true;
	for (size_t i = have; i < ps; i++)
		if (mem[i])
			return true;
	return false;
}

/*
 * For each block with dirty pages: protect them read-only again (so the
 * next store faults and is seen), then mark pending the pages whose
 * bytes differ from the file.
 */
static int signal_collect_written(struct growmap *gm)
{
	struct signal_backend *sb = gm->backend;
	struct stat st;
	if (fstat(gm->fd, &st) < 0)
		return -errno;
	char *file_page = malloc(gm->page_size);
	if (!file_page)
		return -ENOMEM;
	int r = 0;
	for (size_t block = bitmap_next_set_atomic(sb->dirty_blocks, 0, sb->nblocks);
	     block < sb->nblocks;
	     block = bitmap_next_set_atomic(sb->dirty_blocks, block + 1, sb->nblocks)) {
		size_t lo = block * sb->block_pages;
		size_t hi = lo + sb->block_pages < gm->npages ? lo + sb->block_pages : gm->npages;
		stripe_lock(sb, block);
		bitmap_clear_atomic(sb->dirty_blocks, block);
		size_t first_dirty = hi, last_dirty = lo;
		for (size_t p = lo; p < hi; p++) {
			if (state_get(sb, p) != PAGE_DIRTY)
				continue;
			size_t q = p;
			while (q < hi && state_get(sb, q) == PAGE_DIRTY)
				q++;
			int e = protect(gm, p, q, PROT_READ);
			if (e < 0 && !r)
				r = e;
			state_set(sb, p, q, PAGE_CLEAN);
			if (p < first_dirty)
				first_dirty = p;
			last_dirty = q;
			p = q - 1;
		}
		stripe_unlock(sb, block);
		/* Compare after re-protecting: a store from now on faults again. */
		for (size_t p = first_dirty; p < last_dirty; p++)
			if (page_changed(gm, p, st.st_size, file_page))
				gm_mark_pending(gm, p, p + 1);
	}
	free(file_page);
	return r;
}

/* Drops pages [from, to): their memory is freed and they fault afresh. */
static void signal_discard_pages(struct growmap *gm, size_t from, size_t to)
{
	struct signal_backend *sb = gm->backend;
	size_t ps = gm->page_size;
	for (size_t block = from / sb->block_pages; block * sb->block_pages < to; block++) {
		size_t lo = block * sb->block_pages > from ? block * sb->block_pages : from;
		size_t hi = (block + 1) * sb->block_pages < to ? (block + 1) * sb->block_pages : to;
		stripe_lock(sb, block);
		protect(gm, lo, hi, PROT_NONE);
		state_set(sb, lo, hi, PAGE_UNTOUCHED);
		stripe_unlock(sb, block);
	}
	fallocate(gm->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		  (off_t)(from * ps), (off_t)((to - from) * ps));
}

/* Pages that failed at first touch stayed untouched: nothing to undo. */
static void signal_recover_failed(struct growmap *gm)
{
	(void)gm;
}

const struct gm_backend_ops gm_signal_ops = {
	.name = "signal",
	.attach = signal_attach,
	.collect_written = signal_collect_written,
	.discard_pages = signal_discard_pages,
	.recover_failed = signal_recover_failed,
	.detach = signal_detach,
};
