/*
 * The userfaultfd backend.
 *
 * The range is a memfd mapping registered with userfaultfd in MISSING and
 * WP modes. A dedicated fault-service thread reads fault messages and
 * resolves each with UFFDIO_COPY of a small aligned window of pages
 * (fault-around): the file's bytes inside its size, zeros beyond, disk
 * reserved first. Every page is copied in write-protected; with
 * UFFD_FEATURE_WP_ASYNC the kernel itself lifts the protection on the
 * first store, without a message, and PAGEMAP_SCAN later lists exactly
 * the pages stored into and re-protects them in one call. So stores cost
 * nothing after the first touch and writeback writes only what changed.
 *
 * Pages are not resolved with UFFDIO_ZEROPAGE: it cannot install a page
 * write-protected, and an unprotected page counts as stored into, so a
 * load beyond the end of file would later grow the file.
 *
 * Write protection is armed per 2 MiB chunk, just before the first page of
 * the chunk is populated: PAGEMAP_SCAN treats never-protected pages as
 * written, and arming the whole reservation up front would allocate page
 * tables for all of it.
 *
 * When disk cannot be reserved the faulting page is poisoned
 * (UFFDIO_POISON): the touching thread gets SIGBUS, as with a plain
 * mapping on a full disk, and the error becomes the mapping's sticky
 * error. The next durable sync clears the poison so the page can be
 * touched again.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bitmap.h"
#include "growmap-internal.h"
#include "uffd-compat.h"

#define CHUNK_BYTES ((size_t)2 << 20)
#define UFFD_MSG_BATCH 64
#define SPIN_NS 50000             /* see spin_read() */

/* Features the backend cannot work without; checked against UFFDIO_API. */
#define UFFD_REQUIRED_FEATURES                                          \
	(UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM | \
	 UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_POISON)

#define UFFD_STREAMS 4
#define RESERVE_AHEAD_PAGES 8192  /* a stream reserves 32 MiB at a time */
#define STREAM_MAX_PAGES 512

struct uffd_stream {
	size_t next;               /* page where the last window ended */
	size_t window;             /* pages of that window */
	size_t reserved_end;       /* disk is reserved for pages before this */
	uint64_t used;             /* for replacing the least recently used */
};

struct uffd_backend {
	int uffd;
	int stop_fd;               /* eventfd: wakes the service thread to exit */
	int pagemap_fd;            /* /proc/self/pagemap, for PAGEMAP_SCAN */
	pthread_t thread;
	bool thread_running;
	size_t chunk_pages;
	size_t nchunks;
	uint64_t *armed_chunks;    /* chunks write-protected; set atomically */
	uint64_t *poisoned;        /* pages failed at first touch; set atomically */
	char *buf;                 /* a window's bytes, STREAM_MAX_PAGES pages */
	struct uffd_stream streams[UFFD_STREAMS];   /* under resolve_lock */
	uint64_t stream_clock;
};

/* How a userfaultfd can be had, best first. */
enum uffd_mode {
	UFFD_MODE_SYSCALL,     /* userfaultfd(2): serves faults from kernel code too */
	UFFD_MODE_DEVICE,      /* /dev/userfaultfd: the same, for its users */
	UFFD_MODE_USER_ONLY,   /* UFFD_USER_MODE_ONLY: faults from system calls fail */
	UFFD_MODE_COUNT,
};

static const char *const uffd_mode_text[UFFD_MODE_COUNT] = {
	"uffd: userfaultfd(2)",
	"uffd: /dev/userfaultfd (userfaultfd(2) refused)",
	"uffd (user-mode only): userfaultfd(2) and /dev/userfaultfd refused; "
	"system calls touching untouched pages fail with EFAULT",
};

/*
 * A userfaultfd in 'mode', or -errno. With vm.unprivileged_userfaultfd=0
 * an unprivileged process may still open /dev/userfaultfd if its
 * permissions allow, or create a user-mode-only descriptor.
 */
static int uffd_create(enum uffd_mode mode)
{
	int flags = O_CLOEXEC | O_NONBLOCK;
	switch (mode) {
	case UFFD_MODE_SYSCALL:
	case UFFD_MODE_USER_ONLY: {
		if (mode == UFFD_MODE_USER_ONLY)
			flags |= UFFD_USER_MODE_ONLY;
		int fd = (int)syscall(SYS_userfaultfd, flags);
		return fd >= 0 ? fd : -errno;
	}
	case UFFD_MODE_DEVICE: {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev < 0)
			return -errno;
		int fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
		int err = errno;
		close(dev);
		return fd >= 0 ? fd : -err;
	}
	default:
		return -EINVAL;
	}
}

/* Features this kernel offers, asked on a throwaway descriptor (UFFDIO_API
 * may be called once per descriptor). */
static int uffd_offered_features(int fd, uint64_t *features)
{
	struct uffdio_api api = { .api = UFFD_API };
	int r = ioctl(fd, UFFDIO_API, &api) < 0 ? -errno : 0;
	close(fd);
	*features = api.features;
	return r;
}

static int uffd_ioctl_range(int uffd, unsigned long req, void *arg)
{
	for (;;) {
		if (ioctl(uffd, req, arg) == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static int wp_range(struct growmap *gm, size_t first, size_t count, __u64 mode)
{
	struct uffd_backend *ub = gm->backend;
	struct uffdio_writeprotect wp = {
		.range = { .start = (unsigned long)(gm->base + first * gm->page_size),
			   .len = count * gm->page_size },
		.mode = mode,
	};
	return uffd_ioctl_range(ub->uffd, UFFDIO_WRITEPROTECT, &wp);
}

/* Arms write protection on every chunk of pages [first, first + count)
 * not armed yet. */
static int arm_chunks(struct growmap *gm, size_t first, size_t count)
{
	struct uffd_backend *ub = gm->backend;
	for (size_t chunk = first / ub->chunk_pages;
	     chunk * ub->chunk_pages < first + count; chunk++) {
		if (bitmap_test_atomic(ub->armed_chunks, chunk))
			continue;
		size_t start = chunk * ub->chunk_pages;
		size_t n = gm->npages - start < ub->chunk_pages ? gm->npages - start
								: ub->chunk_pages;
		int r = wp_range(gm, start, n, UFFDIO_WRITEPROTECT_MODE_WP);
		if (r < 0)
			return r;
		bitmap_set_atomic(ub->armed_chunks, chunk);
	}
	return 0;
}

/* Write-protects again the pages of [from, to) that lie in armed chunks,
 * after their PTEs (and markers) were dropped: a page of an armed chunk
 * with no marker would count as stored into. Unarmed chunks stay as they
 * are; they are armed whole before their first page is populated. */
static void rearm_armed(struct growmap *gm, size_t from, size_t to)
{
	struct uffd_backend *ub = gm->backend;
	for (size_t c = from / ub->chunk_pages; c * ub->chunk_pages < to; c++) {
		if (!bitmap_test_atomic(ub->armed_chunks, c))
			continue;
		size_t a = c * ub->chunk_pages > from ? c * ub->chunk_pages : from;
		size_t b = (c + 1) * ub->chunk_pages < to ? (c + 1) * ub->chunk_pages : to;
		wp_range(gm, a, b - a, UFFDIO_WRITEPROTECT_MODE_WP);
	}
}

/* Makes the faulting thread take SIGBUS for 'page' (and wakes it). */
static void fail_page(struct growmap *gm, size_t page, int err)
{
	struct uffd_backend *ub = gm->backend;
	unsigned long addr = (unsigned long)(gm->base + page * gm->page_size);
	gm_record_error(gm, err);
	/* Marked first: once its write-protect marker is gone, a concurrent
	 * PAGEMAP_SCAN reports the page as stored into, and only this bit
	 * keeps writeback from writing (and growing the file to) a page
	 * that has no disk. */
	bitmap_set_atomic(ub->poisoned, page);
	int r = -EEXIST;
	for (int tries = 0; tries < 3 && r == -EEXIST; tries++) {
		/* POISON needs an empty PTE: drop the marker without waking
		 * the thread yet. A scan may re-protect the page meanwhile
		 * (EEXIST): then again. */
		wp_range(gm, page, 1, UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
		struct uffdio_poison po = { .range = { .start = addr, .len = gm->page_size } };
		r = uffd_ioctl_range(ub->uffd, UFFDIO_POISON, &po);
	}
	if (r < 0) {        /* the thread faults again and is tried again */
		wp_range(gm, page, 1, UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
		bitmap_clear_atomic(ub->poisoned, page);
		struct uffdio_range wake = { .start = addr, .len = gm->page_size };
		uffd_ioctl_range(ub->uffd, UFFDIO_WAKE, &wake);
	}
}

/* Copies 'count' pages from the window buffer to 'first', skipping pages
 * that another path made present meanwhile (EEXIST). Wakes nobody: the
 * caller accounts for the pages first, then wakes the faulting threads, so
 * a thread that resumes sees its own fault in the counters. */
static int copy_pages(struct growmap *gm, size_t first, size_t count)
{
	struct uffd_backend *ub = gm->backend;
	size_t ps = gm->page_size, done = 0;
	while (done < count * ps) {
		struct uffdio_copy c = {
			.dst = (unsigned long)(gm->base + first * ps + done),
			.src = (unsigned long)(ub->buf + done),
			.len = count * ps - done,
			.mode = UFFDIO_COPY_MODE_WP | UFFDIO_COPY_MODE_DONTWAKE,
		};
		if (ioctl(ub->uffd, UFFDIO_COPY, &c) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (c.copy > 0) {          /* partial: carry on after it */
			done += (size_t)c.copy;
			continue;
		}
		if (errno == EEXIST) {
			done += ps;
			continue;
		}
		if (errno == EAGAIN)       /* address space changing: retry */
			continue;
		return -errno;
	}
	return 0;
}

/*
 * Sequential streams. A fault at the page where an earlier window ended
 * continues that stream, and its window doubles (starting from the
 * fault-around size), up to STREAM_MAX_PAGES: a sequential fill of 1 GiB
 * then costs about 600 round trips to this thread instead of 16384.
 * Any other fault gets its own page only, so random first touches keep
 * exactly the pages touched resident, as a plain mapping does; it starts
 * a stream, so a run of stores costs one more round trip before it is
 * recognised. A few streams are tracked so that threads filling
 * different parts do not reset each other.
 */
static struct uffd_stream *stream_find(struct uffd_backend *ub, size_t page)
{
	for (int i = 0; i < UFFD_STREAMS; i++)
		if (ub->streams[i].window && ub->streams[i].next == page)
			return &ub->streams[i];
	return NULL;
}

/* The end of the window a fault at 'page' may populate from 'page' on;
 * 'st' is the stream the fault continues, or NULL. */
static size_t fault_window_end(struct growmap *gm, const struct uffd_stream *st, size_t page)
{
	size_t w = gm->cfg.fault_around_pages;
	size_t n = 1;
	if (st) {
		n = st->window * 2 > w ? st->window * 2 : w;
		if (n > STREAM_MAX_PAGES)
			n = STREAM_MAX_PAGES;
	}
	return page + n < gm->npages ? page + n : gm->npages;
}

/* After populating [page, end) for a fault that continued 'st' (or NULL):
 * the stream now expects 'end'; a new fault starts a stream (the least
 * recently used slot is reused). */
static void stream_advance(struct uffd_backend *ub, struct uffd_stream *st, size_t page,
			   size_t end)
{
	if (!st) {
		st = &ub->streams[0];
		for (int i = 1; i < UFFD_STREAMS; i++)
			if (ub->streams[i].used < st->used)
				st = &ub->streams[i];
		st->window = 0;
		st->reserved_end = 0;
	}
	size_t got = end - page;
	st->window = got > st->window ? got : st->window;
	st->next = end;
	st->used = ++ub->stream_clock;
}

/*
 * Reserves disk for the window [*first, *first + *count) of a fault at
 * 'page', or for less (down to the faulting page alone) near ENOSPC or
 * RLIMIT_FSIZE, shrinking the window to match. A sequential stream
 * reserves RESERVE_AHEAD_PAGES at a time, beyond its window: fallocate
 * takes the inode lock, which the writeback thread's buffered writes hold
 * while they copy, so a fault that must reserve waits for a write to
 * finish; reserving ahead makes that happen once per 32 MiB of a stream
 * instead of once per window. What is reserved beyond the final size is
 * given back at close.
 */
static int reserve_window(struct growmap *gm, struct uffd_stream *st, size_t page,
			  size_t *first, size_t *count)
{
	if (st && st->reserved_end >= *first + *count)
		return 0;
	size_t rf = *first, rc = *count;
	if (st && rc < RESERVE_AHEAD_PAGES)
		rc = gm->npages - rf < RESERVE_AHEAD_PAGES ? gm->npages - rf : RESERVE_AHEAD_PAGES;
	int r = gm_reserve_disk(gm, page, &rf, &rc);
	if (r < 0)
		return r;
	if (rf == *first && rc >= *count) {
		if (st)
			st->reserved_end = rf + rc;
	} else {            /* fell back to a shorter range: shrink the window */
		if (rc > *count)
			rc = *count;
		*first = rf;
		*count = rc;
	}
	return 0;
}

/* Resolves a missing-page fault at 'page' together with the unpopulated
 * pages after it inside its window. */
static void resolve_fault(struct growmap *gm, size_t page)
{
	struct uffd_backend *ub = gm->backend;
	pthread_mutex_lock(&gm->resolve_lock);
	if (bitmap_test(gm->populated, page) || bitmap_test_atomic(ub->poisoned, page)) {
		/* Raced with another fault on the same window, or a second
		 * message for a page already failed (and reported) once: the
		 * thread finds the page present, or the poison and SIGBUS. */
		struct uffdio_range wake = { .start = (unsigned long)(gm->base + page * gm->page_size),
					     .len = gm->page_size };
		uffd_ioctl_range(ub->uffd, UFFDIO_WAKE, &wake);
		pthread_mutex_unlock(&gm->resolve_lock);
		return;
	}
	struct uffd_stream *st = stream_find(ub, page);
	size_t hi = fault_window_end(gm, st, page);
	size_t first = page, end = page + 1;
	while (end < hi && !bitmap_test(gm->populated, end) &&
	       !bitmap_test_atomic(ub->poisoned, end))
		end++;
	size_t count = end - first;

	int r = reserve_window(gm, st, page, &first, &count);
	if (r == 0)
		r = arm_chunks(gm, first, count);
	if (r == 0)
		r = gm_read_file(gm, first, count, ub->buf);
	if (r == 0)
		r = copy_pages(gm, first, count);
	gm_stat_add(gm, faults, 1);
	if (r == 0) {
		gm_note_populated(gm, first, count);
		stream_advance(ub, st, page, first + count);
		struct uffdio_range wake = { .start = (unsigned long)(gm->base + first * gm->page_size),
					     .len = count * gm->page_size };
		uffd_ioctl_range(ub->uffd, UFFDIO_WAKE, &wake);
	} else if (r != -ESRCH) {
		fail_page(gm, page, r);
	}
	pthread_mutex_unlock(&gm->resolve_lock);
}

/*
 * After serving faults, the thread polls the descriptor without sleeping
 * for a short while before it blocks. Faults come in bursts (a run of
 * stores crossing from one window into the next, several threads at
 * once): a fault that arrives while the thread spins is read at once,
 * instead of paying for waking this thread on another CPU, which costs
 * more than serving the fault (see growmap(7)). Returns what read(2)
 * returned, or -1 when nothing came.
 */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

static ssize_t spin_read(struct uffd_backend *ub, struct uffd_msg *msgs, size_t len)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n = read(ub->uffd, msgs, len);
		if (n > 0)
			return n;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long ns = (t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec);
		if (ns >= SPIN_NS)
			return -1;
		cpu_relax();
	}
}

static void *service_main(void *arg)
{
	struct growmap *gm = arg;
	struct uffd_backend *ub = gm->backend;
	struct uffd_msg msgs[UFFD_MSG_BATCH];
	struct pollfd pfd[2] = {
		{ .fd = ub->uffd, .events = POLLIN },
		{ .fd = ub->stop_fd, .events = POLLIN },
	};
	bool spin = false;
	for (;;) {
		ssize_t n = spin ? spin_read(ub, msgs, sizeof(msgs)) : -1;
		if (n < 0) {
			if (poll(pfd, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (pfd[1].revents)
				break;
			if (pfd[0].revents & (POLLERR | POLLHUP))
				break;
			n = read(ub->uffd, msgs, sizeof(msgs));
		}
		spin = n > 0;
		if (n < 0)
			continue;  /* EAGAIN: another wake-up raced us */
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			char *addr = (char *)(uintptr_t)msgs[i].arg.pagefault.address;
			if (addr < gm->base || addr >= gm->base + gm->reserve)
				continue;
			resolve_fault(gm, (size_t)(addr - gm->base) / gm->page_size);
		}
	}
	return NULL;
}

/* Sets ub->uffd up with the features the mapping needs, or says which
 * one this kernel lacks. */
static int uffd_setup(struct growmap *gm, struct uffd_backend *ub)
{
	enum uffd_mode mode;
	int probe = -EPERM;
	for (mode = 0; mode < UFFD_MODE_COUNT; mode++)
		if ((probe = uffd_create(mode)) >= 0)
			break;
	if (probe < 0) {
		snprintf(gm->reason, sizeof(gm->reason), "no userfaultfd: userfaultfd(2), "
			 "/dev/userfaultfd and user-mode-only all refused (%s)", strerror(-probe));
		return probe == -ENOSYS ? -ENOSYS : -EPERM;
	}
	uint64_t offered = 0;
	int r = uffd_offered_features(probe, &offered);
	if (r < 0)
		return r;
	uint64_t need = UFFD_REQUIRED_FEATURES;
	if ((offered & need) != need) {
		snprintf(gm->reason, sizeof(gm->reason), "userfaultfd lacks features "
			 "0x%llx (offered 0x%llx; needs shmem missing faults, shmem "
			 "write-protect, WP_ASYNC and POISON)",
			 (unsigned long long)(need & ~offered), (unsigned long long)offered);
		return -EOPNOTSUPP;
	}
	snprintf(gm->reason, sizeof(gm->reason), "%s", uffd_mode_text[mode]);
	ub->uffd = uffd_create(mode);
	if (ub->uffd < 0)
		return ub->uffd;
	struct uffdio_api api = { .api = UFFD_API, .features = need };
	if (ioctl(ub->uffd, UFFDIO_API, &api) < 0)
		return -errno;
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)gm->base, .len = gm->reserve },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};
	if (ioctl(ub->uffd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	uint64_t ioctls_needed = (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_WAKE) |
				 (1ULL << _UFFDIO_POISON) |
				 (1ULL << _UFFDIO_WRITEPROTECT);
	if ((reg.ioctls & ioctls_needed) != ioctls_needed)
		return -EOPNOTSUPP;
	ub->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (ub->pagemap_fd < 0) {
		/* EACCES: a process made non-dumpable (setuid and
		 * friends) cannot open its own pagemap. */
		int err = errno;
		snprintf(gm->reason, sizeof(gm->reason), "cannot open /proc/self/pagemap "
			 "for write tracking (%s)", strerror(err));
		return err == EACCES || err == EPERM ? -EPERM : -err;
	}
	/* PAGEMAP_SCAN arrived with WP_ASYNC but is a separate ioctl:
	 * probe it on an empty range. */
	struct pm_scan_arg scan_probe = {
		.size = sizeof(scan_probe), .start = (unsigned long)gm->base,
		.end = (unsigned long)gm->base, .category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	if (ioctl(ub->pagemap_fd, PAGEMAP_SCAN, &scan_probe) < 0) {
		snprintf(gm->reason, sizeof(gm->reason), "no PAGEMAP_SCAN ioctl");
		return errno == ENOTTY || errno == EINVAL ? -EOPNOTSUPP : -errno;
	}
	return 0;
}

static void uffd_detach(struct growmap *gm)
{
	struct uffd_backend *ub = gm->backend;
	if (ub->thread_running) {
		uint64_t one = 1;
		if (write(ub->stop_fd, &one, sizeof(one)) != sizeof(one))
			abort();   /* an eventfd write of 1 cannot fail */
		pthread_join(ub->thread, NULL);
	}
	if (ub->uffd >= 0) {
		struct uffdio_range range = { .start = (unsigned long)gm->base,
					      .len = gm->reserve };
		ioctl(ub->uffd, UFFDIO_UNREGISTER, &range);
		close(ub->uffd);
	}
	if (ub->stop_fd >= 0)
		close(ub->stop_fd);
	if (ub->pagemap_fd >= 0)
		close(ub->pagemap_fd);
	free(ub->armed_chunks);
	free(ub->poisoned);
	free(ub->buf);
	free(ub);
	gm->backend = NULL;
}

static int uffd_attach(struct growmap *gm)
{
	struct uffd_backend *ub = calloc(1, sizeof(*ub));
	if (!ub)
		return -ENOMEM;
	ub->uffd = ub->stop_fd = ub->pagemap_fd = -1;
	gm->backend = ub;
	ub->chunk_pages = CHUNK_BYTES / gm->page_size;
	ub->nchunks = (gm->npages + ub->chunk_pages - 1) / ub->chunk_pages;
	ub->armed_chunks = bitmap_alloc(ub->nchunks);
	ub->poisoned = bitmap_alloc(gm->npages);
	size_t window_max = gm->cfg.fault_around_pages > STREAM_MAX_PAGES ?
			    gm->cfg.fault_around_pages : STREAM_MAX_PAGES;
	ub->buf = aligned_alloc(gm->page_size, window_max * gm->page_size);
	if (!ub->armed_chunks || !ub->poisoned || !ub->buf)
		return -ENOMEM;
	int r = uffd_setup(gm, ub);
	if (r < 0)
		return r;
	ub->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (ub->stop_fd < 0)
		return -errno;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&ub->thread, NULL, service_main, gm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	ub->thread_running = true;
	return 0;
}

/* PAGEMAP_SCAN over each run of armed chunks: pages stored into since the
 * last scan are marked pending and write-protected again, atomically. */
static int uffd_collect_written(struct growmap *gm)
{
	struct uffd_backend *ub = gm->backend;
	struct page_region regions[256];
	size_t ps = gm->page_size;
	for (size_t chunk = bitmap_next_set_atomic(ub->armed_chunks, 0, ub->nchunks);
	     chunk < ub->nchunks;
	     chunk = bitmap_next_set_atomic(ub->armed_chunks, chunk + 1, ub->nchunks)) {
		size_t last = chunk;
		while (last + 1 < ub->nchunks && bitmap_test_atomic(ub->armed_chunks, last + 1))
			last++;
		size_t end_page = (last + 1) * ub->chunk_pages;
		if (end_page > gm->npages)
			end_page = gm->npages;
		unsigned long cur = (unsigned long)(gm->base + chunk * ub->chunk_pages * ps);
		unsigned long end = (unsigned long)(gm->base + end_page * ps);
		while (cur < end) {
			struct pm_scan_arg arg = {
				.size = sizeof(arg),
				.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
				.start = cur, .end = end,
				.vec = (unsigned long)regions, .vec_len = 256,
				.category_mask = PAGE_IS_WRITTEN,
				.return_mask = PAGE_IS_WRITTEN,
			};
			int n = ioctl(ub->pagemap_fd, PAGEMAP_SCAN, &arg);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			for (int i = 0; i < n; i++) {
				size_t from = (regions[i].start - (unsigned long)gm->base) / ps;
				size_t to = (regions[i].end - (unsigned long)gm->base) / ps;
				/* A poisoned page has no data to write. */
				for (size_t p = from; p < to;) {
					size_t q = p;
					while (q < to && !bitmap_test_atomic(ub->poisoned, q))
						q++;
					if (q > p)
						gm_mark_pending(gm, p, q);
					p = q + 1;
				}
			}
			if (arg.walk_end <= cur)
				break;
			cur = arg.walk_end;
		}
		chunk = last;
	}
	return 0;
}

/* Empties pages from the memfd (they fault afresh) and re-arms their
 * write protection, since a page with no marker counts as stored into.
 * The file was shrunk to 'from': what streams reserved beyond is gone.
 * Called with resolve_lock held. */
static void uffd_discard_pages(struct growmap *gm, size_t from, size_t to)
{
	struct uffd_backend *ub = gm->backend;
	for (int i = 0; i < UFFD_STREAMS; i++)
		if (ub->streams[i].reserved_end > from)
			ub->streams[i].reserved_end = from;
	size_t ps = gm->page_size;
	fallocate(gm->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		  (off_t)(from * ps), (off_t)((to - from) * ps));
	rearm_armed(gm, from, to);
}

/* Clears poisoned pages so a later touch faults (and is tried) again. */
static void uffd_recover_failed(struct growmap *gm)
{
	struct uffd_backend *ub = gm->backend;
	size_t ps = gm->page_size;
	pthread_mutex_lock(&gm->resolve_lock);
	size_t from = 0, to;
	while (bitmap_next_run(ub->poisoned, gm->npages, &from, &to)) {
		madvise(gm->base + from * ps, (to - from) * ps, MADV_DONTNEED);
		rearm_armed(gm, from, to);
		bitmap_assign_range(ub->poisoned, from, to, false);
		from = to;
	}
	pthread_mutex_unlock(&gm->resolve_lock);
}

const struct gm_backend_ops gm_uffd_ops = {
	.name = "uffd",
	.attach = uffd_attach,
	.collect_written = uffd_collect_written,
	.discard_pages = uffd_discard_pages,
	.recover_failed = uffd_recover_failed,
	.detach = uffd_detach,
};
