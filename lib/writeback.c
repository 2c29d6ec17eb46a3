/*
 * Writeback: one thread per writable mapping owns the io_uring ring and
 * does every file write, size change and fdatasync. Application threads
 * ask it for a durable sync and wait; otherwise it wakes on an interval,
 * or when the fault path reports the dirty limit crossed, and writes what
 * was stored into without syncing.
 *
 * Two page bitmaps carry the state between passes:
 *   pending  - stored into, not yet written to the file;
 *   unsynced - written, but not yet covered by a successful fdatasync.
 * A failed write leaves its pages pending; a failed fdatasync moves every
 * unsynced page back to pending, because after a failed fsync Linux may
 * have dropped the data it could not write and a retried fsync may falsely
 * succeed. So nothing is marked durable until it is.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bitmap.h"
#include "growmap-internal.h"

/* Largest single write: long dirty runs are split so that one slow
 * request does not hold the whole batch. */
#define WB_MAX_WRITE ((size_t)8 << 20)

static void extent_widen(size_t *lo, size_t *hi, size_t from, size_t to)
{
	if (*lo >= *hi) {
		*lo = from;
		*hi = to;
		return;
	}
	if (from < *lo)
		*lo = from;
	if (to > *hi)
		*hi = to;
}

void gm_mark_pending(struct growmap *gm, size_t from, size_t to)
{
	bitmap_assign_range(gm->wb.pending, from, to, true);
	extent_widen(&gm->wb.pending_lo, &gm->wb.pending_hi, from, to);
}

/* Clears a bitmap inside its extent and empties the extent. */
static void extent_clear(uint64_t *map, size_t *lo, size_t *hi)
{
	if (*lo < *hi)
		bitmap_assign_range(map, *lo, *hi, false);
	*lo = *hi = 0;
}

/* Pages [first, first + n) reached the file: no longer pending, not yet
 * durable. */
static void wb_run_written(struct growmap *gm, size_t first, size_t n)
{
	bitmap_assign_range(gm->wb.pending, first, first + n, false);
	bitmap_assign_range(gm->wb.unsynced, first, first + n, true);
	extent_widen(&gm->wb.unsynced_lo, &gm->wb.unsynced_hi, first, first + n);
	gm_stat_add(gm, pages_written, n);
}

struct wb_slot {
	size_t first_page, npages;   /* what the slot covers, for the bitmaps */
	size_t done;                 /* bytes written so far (short writes) */
	bool busy;
};

struct wb_batch {
	struct growmap *gm;
	struct wb_slot *slots;
	unsigned nslots;
	unsigned inflight;
	unsigned queued;             /* prepared, not yet submitted */
	int first_error;
};

static void wb_prep_slot(struct wb_batch *b, unsigned idx)
{
	struct growmap *gm = b->gm;
	struct gm_writeback *wb = &gm->wb;
	struct wb_slot *s = &b->slots[idx];
	size_t off = s->first_page * gm->page_size + s->done;
	size_t len = s->npages * gm->page_size - s->done;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&wb->ring);
	/* A free slot always has a free SQE: the ring holds nslots entries. */
	if (wb->fixed_file) {
		io_uring_prep_write(sqe, 0, gm->io_base + off, (unsigned)len, (__u64)off);
		sqe->flags |= IOSQE_FIXED_FILE;
	} else {
		io_uring_prep_write(sqe, gm->fd, gm->io_base + off, (unsigned)len, (__u64)off);
	}
	io_uring_sqe_set_data64(sqe, idx);
	b->queued++;
}

static int wb_submit(struct wb_batch *b)
{
	if (!b->queued)
		return 0;
	int r;
	do
		r = io_uring_submit(&b->gm->wb.ring);
	while (r == -EINTR);
	if (r < 0)
		return r;
	b->inflight += b->queued;
	b->queued = 0;
	gm_stat_add(b->gm, write_batches, 1);
	return 0;
}

/* Reap one completion: finished slots update the bitmaps, short writes
 * are resubmitted, failures keep their pages pending. */
static int wb_reap_one(struct wb_batch *b)
{
	struct growmap *gm = b->gm;
	struct io_uring_cqe *cqe;
	int r;
	do
		r = io_uring_wait_cqe(&gm->wb.ring, &cqe);
	while (r == -EINTR);
	if (r < 0)
		return r;
	unsigned idx = (unsigned)io_uring_cqe_get_data64(cqe);
	int res = cqe->res;
	io_uring_cqe_seen(&gm->wb.ring, cqe);
	b->inflight--;

	struct wb_slot *s = &b->slots[idx];
	size_t len = s->npages * gm->page_size;
	if (res == -EAGAIN || res == -EINTR) {
		wb_prep_slot(b, idx);
		return 0;
	}
	if (res <= 0) {
		int err = res < 0 ? res : -EIO;  /* no progress: treat as an I/O error */
		if (!b->first_error)
			b->first_error = err;
		gm_record_error(gm, err);
		s->busy = false;
		return 0;
	}
	s->done += (size_t)res;
	gm_stat_add(gm, bytes_written, res);
	if (s->done < len) {
		wb_prep_slot(b, idx);
		return 0;
	}
	wb_run_written(gm, s->first_page, s->npages);
	s->busy = false;
	return 0;
}

static int wb_free_slot(struct wb_batch *b)
{
	for (unsigned i = 0; i < b->nslots; i++)
		if (!b->slots[i].busy)
			return (int)i;
	return -1;
}

/* Without io_uring (refused by a seccomp profile or
 * kernel.io_uring_disabled): the same runs, written with pwrite(2). */
static int wb_write_pending_sync(struct growmap *gm)
{
	size_t ps = gm->page_size, max_pages = WB_MAX_WRITE / ps;
	size_t from = gm->wb.pending_lo, to;
	int first_error = 0;
	while (bitmap_next_run(gm->wb.pending, gm->wb.pending_hi, &from, &to)) {
		for (; from < to;) {
			size_t n = to - from < max_pages ? to - from : max_pages;
			size_t len = n * ps, done = 0;
			off_t off = (off_t)(from * ps);
			int err = 0;
			while (done < len && !err) {
				ssize_t w = pwrite(gm->fd, gm->io_base + off + done, len - done,
						   off + (off_t)done);
				if (w > 0) {
					done += (size_t)w;
					gm_stat_add(gm, bytes_written, w);
				} else if (w < 0 && errno == EINTR) {
					continue;
				} else {
					err = w < 0 ? -errno : -EIO;
				}
			}
			gm_stat_add(gm, write_batches, 1);
			if (err) {
				gm_record_error(gm, err);
				if (!first_error)
					first_error = err;
			} else {
				wb_run_written(gm, from, n);
			}
			from += n;
		}
	}
	if (!first_error)
		gm->wb.pending_lo = gm->wb.pending_hi = 0;
	return first_error;
}

/* Writes every pending page, one request per contiguous run (split at
 * WB_MAX_WRITE), as many in flight as the ring holds. */
static int wb_write_pending(struct growmap *gm)
{
	if (!gm->wb.ring_ready)
		return wb_write_pending_sync(gm);
	struct wb_batch b = { .gm = gm, .nslots = gm->cfg.queue_depth };
	struct wb_slot slots[b.nslots];
	memset(slots, 0, sizeof(slots));
	b.slots = slots;
	size_t max_pages = WB_MAX_WRITE / gm->page_size;
	size_t from = gm->wb.pending_lo, to;
	int r = 0;

	while (r == 0 && bitmap_next_run(gm->wb.pending, gm->wb.pending_hi, &from, &to)) {
		while (from < to && r == 0) {
			int idx = wb_free_slot(&b);
			if (idx < 0) {
				if ((r = wb_submit(&b)) == 0)
					r = wb_reap_one(&b);
				continue;
			}
			size_t n = to - from < max_pages ? to - from : max_pages;
			b.slots[idx] = (struct wb_slot){ .first_page = from, .npages = n,
							 .busy = true };
			wb_prep_slot(&b, (unsigned)idx);
			from += n;
		}
	}
	while (r == 0 && (b.queued || b.inflight)) {
		if ((r = wb_submit(&b)) == 0 && b.inflight)
			r = wb_reap_one(&b);
	}
	if (r == 0 && !b.first_error)
		gm->wb.pending_lo = gm->wb.pending_hi = 0;   /* all written */
	if (r < 0) {
		gm_record_error(gm, r);
		return r;
	}
	return b.first_error;
}

/*
 * Applies an exact size set by growmap_set_size(). Shrinking also discards
 * the mapping's pages beyond the new end and zeroes the tail of the last
 * page in the memfd (not through the mapping, so it is not taken for a
 * store), as ftruncate does to a kernel mapping.
 */
static int wb_apply_size(struct growmap *gm, off_t size)
{
	size_t ps = gm->page_size;
	pthread_mutex_lock(&gm->resolve_lock);
	int r = 0;
	if (ftruncate(gm->fd, size) < 0)
		r = -errno;
	if (r == 0) {
		__atomic_store_n(&gm->data_size, (int64_t)size, __ATOMIC_RELEASE);
		size_t keep = (size_t)((size + (off_t)ps - 1) / (off_t)ps);
		if (keep < gm->npages) {
			struct gm_writeback *wb = &gm->wb;
			gm->ops->discard_pages(gm, keep, gm->npages);
			bitmap_assign_range(gm->populated, keep, gm->npages, false);
			if (wb->pending_hi > keep) {
				bitmap_assign_range(wb->pending, keep, wb->pending_hi, false);
				wb->pending_hi = keep > wb->pending_lo ? keep : wb->pending_lo;
			}
			if (wb->unsynced_hi > keep) {
				bitmap_assign_range(wb->unsynced, keep, wb->unsynced_hi, false);
				wb->unsynced_hi = keep > wb->unsynced_lo ? keep : wb->unsynced_lo;
			}
		}
		size_t tail = (size_t)size % ps;
		size_t last = (size_t)size / ps;
		if (tail && last < gm->npages && bitmap_test(gm->populated, last)) {
			static const char zeros[4096];
			for (size_t done = 0; done < ps - tail;) {
				size_t n = ps - tail - done;
				if (n > sizeof(zeros))
					n = sizeof(zeros);
				ssize_t w = pwrite(gm->memfd, zeros, n, size + (off_t)done);
				if (w <= 0)
					break;
				done += (size_t)w;
			}
		}
	}
	pthread_mutex_unlock(&gm->resolve_lock);
	if (r < 0)
		gm_record_error(gm, r);
	return r;
}

static int wb_datasync(struct growmap *gm)
{
	int r;
	do
		r = fdatasync(gm->fd);
	while (r < 0 && errno == EINTR);
	struct gm_writeback *wb = &gm->wb;
	if (r == 0) {
		extent_clear(wb->unsynced, &wb->unsynced_lo, &wb->unsynced_hi);
		gm_stat_add(gm, syncs, 1);
		return 0;
	}
	r = -errno;
	gm_record_error(gm, r);
	size_t from = wb->unsynced_lo, to;
	while (bitmap_next_run(wb->unsynced, wb->unsynced_hi, &from, &to)) {
		gm_mark_pending(gm, from, to);
		from = to;
	}
	extent_clear(wb->unsynced, &wb->unsynced_lo, &wb->unsynced_hi);
	return r;
}

/* One writeback pass; 'durable' for a sync or close, which 'datasync'
 * makes durable on disk too. Returns the sticky error. */
static int wb_pass(struct growmap *gm, bool durable, bool datasync,
		   bool apply_size, off_t size)
{
	__atomic_store_n(&gm->populated_since_writeback, 0, __ATOMIC_RELAXED);
	int r = gm->ops->collect_written(gm);
	if (r < 0)
		gm_record_error(gm, r);
	wb_write_pending(gm);
	if (durable) {
		if (apply_size)
			wb_apply_size(gm, size);
		if (datasync)
			wb_datasync(gm);
		gm->ops->recover_failed(gm);
	}
	return __atomic_load_n(&gm->sticky_error, __ATOMIC_ACQUIRE);
}

static int wb_ring_setup(struct growmap *gm)
{
	struct gm_writeback *wb = &gm->wb;
	unsigned flags = 0;
#if defined(IORING_SETUP_SINGLE_ISSUER) && defined(IORING_SETUP_DEFER_TASKRUN)
	flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
#endif
	int r = io_uring_queue_init(gm->cfg.queue_depth, &wb->ring, flags);
	if (r == -EINVAL && flags)
		r = io_uring_queue_init(gm->cfg.queue_depth, &wb->ring, 0);
	if (r < 0)
		return r;
	wb->ring_ready = true;
	wb->fixed_file = io_uring_register_files(&wb->ring, &gm->fd, 1) == 0;
	return 0;
}

static void *wb_thread_main(void *arg)
{
	struct growmap *gm = arg;
	struct gm_writeback *wb = &gm->wb;
	int r = wb_ring_setup(gm);
	if (r == -EPERM || r == -ENOSYS || r == -EACCES) {
		/* io_uring refused: write synchronously, and say so. */
		size_t len = strlen(gm->reason);
		snprintf(gm->reason + len, sizeof(gm->reason) - len,
			 "; writeback with pwrite(2): io_uring refused (%s)", strerror(-r));
		r = 0;
	}

	pthread_mutex_lock(&wb->lock);
	wb->start_result = r;
	wb->started = true;
	pthread_cond_broadcast(&wb->done);
	if (r < 0) {
		pthread_mutex_unlock(&wb->lock);
		return NULL;
	}
	for (;;) {
		bool work = wb->stop || wb->requested != wb->completed ||
			    __atomic_load_n(&wb->kick, __ATOMIC_ACQUIRE);
		if (!work) {
			pthread_mutex_unlock(&wb->lock);
			struct pollfd pfd = { .fd = wb->wake_fd, .events = POLLIN };
			poll(&pfd, 1, (int)gm->cfg.writeback_interval_ms);
			uint64_t n;
			while (read(wb->wake_fd, &n, sizeof(n)) == sizeof(n))
				;
			pthread_mutex_lock(&wb->lock);
		}
		if (wb->stop && wb->requested == wb->completed)
			break;
		/* Every wake-up is a pass: a durable one when a sync waits,
		 * else background writeback (interval or dirty limit). */
		uint64_t target = wb->requested;
		bool durable = target != wb->completed;
		bool datasync = durable && wb->want_datasync;
		bool apply_size = durable && wb->exact_size_set;
		off_t size = wb->exact_size;
		if (apply_size)
			wb->exact_size_set = false;
		if (durable)
			wb->want_datasync = false;
		__atomic_store_n(&wb->kick, false, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&wb->lock);

		int result = wb_pass(gm, durable, datasync, apply_size, size);

		pthread_mutex_lock(&wb->lock);
		if (durable) {
			wb->completed = target;
			wb->result = result;
			pthread_cond_broadcast(&wb->done);
		}
	}
	pthread_mutex_unlock(&wb->lock);
	if (wb->ring_ready)
		io_uring_queue_exit(&wb->ring);
	wb->ring_ready = false;
	return NULL;
}

/* Locks and condition variables, ready before any thread of the mapping
 * runs: the fault path may kick writeback as soon as it serves a fault. */
int gm_writeback_init(struct growmap *gm)
{
	struct gm_writeback *wb = &gm->wb;
	pthread_mutex_init(&wb->lock, NULL);
	pthread_cond_init(&wb->done, NULL);
	wb->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return wb->wake_fd < 0 ? -errno : 0;
}

int gm_writeback_start(struct growmap *gm)
{
	struct gm_writeback *wb = &gm->wb;
	wb->pending = bitmap_alloc(gm->npages);
	wb->unsynced = bitmap_alloc(gm->npages);
	if (!wb->pending || !wb->unsynced)
		return -ENOMEM;

	/* Library threads take no signals: SIGXFSZ from a write past
	 * RLIMIT_FSIZE must become -EFBIG, not end the process. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&wb->thread, NULL, wb_thread_main, gm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	pthread_mutex_lock(&wb->lock);
	wb->thread_running = true;
	while (!wb->started)
		pthread_cond_wait(&wb->done, &wb->lock);
	r = wb->start_result;
	pthread_mutex_unlock(&wb->lock);
	if (r < 0)
		gm_writeback_stop(gm);
	return r;
}

/* Wakes the writeback thread. Async-signal-safe: the signal backend's
 * fault handler kicks writeback when the dirty limit is crossed. */
static void wb_wake(struct gm_writeback *wb)
{
	uint64_t one = 1;
	if (write(wb->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so a wake-up is pending anyway. */
	}
}

int gm_writeback_sync(struct growmap *gm, bool datasync)
{
	struct gm_writeback *wb = &gm->wb;
	pthread_mutex_lock(&wb->lock);
	uint64_t mine = ++wb->requested;
	if (datasync)
		wb->want_datasync = true;
	wb_wake(wb);
	while (wb->completed < mine)
		pthread_cond_wait(&wb->done, &wb->lock);
	int r = wb->result;
	pthread_mutex_unlock(&wb->lock);
	return r;
}

void gm_writeback_kick(struct growmap *gm)
{
	__atomic_store_n(&gm->wb.kick, true, __ATOMIC_RELEASE);
	wb_wake(&gm->wb);
}

void gm_writeback_set_size(struct growmap *gm, off_t size)
{
	pthread_mutex_lock(&gm->wb.lock);
	gm->wb.exact_size = size;
	gm->wb.exact_size_set = true;
	pthread_mutex_unlock(&gm->wb.lock);
}

void gm_writeback_stop(struct growmap *gm)
{
	struct gm_writeback *wb = &gm->wb;
	if (!wb->thread_running)
		return;
	pthread_mutex_lock(&wb->lock);
	wb->stop = true;
	wb_wake(wb);
	pthread_mutex_unlock(&wb->lock);
	pthread_join(wb->thread, NULL);
	wb->thread_running = false;
}

void gm_writeback_release(struct growmap *gm)
{
	gm_writeback_stop(gm);
	if (gm->wb.wake_fd >= 0)
		close(gm->wb.wake_fd);
	gm->wb.wake_fd = -1;
	free(gm->wb.pending);
	free(gm->wb.unsynced);
	gm->wb.pending = gm->wb.unsynced = NULL;
}
