/* SPDX-License-Identifier: MIT */
/*
 * Writeback: the pages are the file's own page cache, so the kernel
 * writes them back; this thread only bounds how much is at risk and
 * settles the exact size.
 *
 * Through growmapd there is no thread: the daemon starts writeback of the
 * file on the interval and when the fault path's eventfd says the dirty
 * limit was crossed, and a durable sync runs in the caller's thread
 * (signals blocked, as on the thread), its fdatasync run by the daemon,
 * once for all its writers that asked meanwhile. When the daemon is
 * lost, the thread is started and works as without one.
 *
 * Alone, one thread per writable mapping. It wakes on the configured interval,
 * or when the fault path reports that the dirty limit's worth of pages
 * was mapped, and starts writeback of the whole file without waiting
 * (sync_file_range(2), submitted through io_uring where it is allowed,
 * so the thread never blocks on the disk for a background pass). A
 * durable sync asked for by growmap_sync() or growmap_close() settles
 * the file's size (grow.c) and then runs fdatasync. Errors are sticky
 * (growmap.c): after a failed fsync Linux may have dropped the data it
 * could not write, and a retried fsync may falsely succeed.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <liburing.h>

#include "cachestat.h"
#include "growmap-internal.h"

/* One mapping's writeback thread and the requests it serves. */
struct gm_writeback {
	pthread_t thread;
	bool thread_running;
	pthread_mutex_t lock;     /* guards the request fields below */
	int wake_fd;              /* eventfd the writeback thread polls */
	pthread_cond_t done;      /* sync callers wait here */
	uint64_t requested;       /* durable syncs asked for */
	uint64_t completed;       /* durable syncs finished */
	int result;               /* result of the last durable sync */
	bool stop;
	bool want_datasync;       /* a waiting sync wants fdatasync */
	bool kick;                /* dirty limit crossed; atomic */
	bool exact_size_set;
	off_t exact_size;
	int start_result;         /* ring setup result, reported to open */
	bool started;
	bool inline_sync;         /* through growmapd: syncs run in the caller */
	bool lost_start;          /* the thread was started once growmapd was lost */
	struct io_uring *ring;    /* NULL where io_uring is refused */
};

/* Dirty pages of the file now, or -1 where cachestat(2) is missing
 * (Linux 6.5): the written-pages counters then stay 0. */
static int64_t dirty_pages(struct growmap *gm)
{
	struct gm_cachestat cs;
	return gm_cachestat(gm->fd, &cs) < 0 ? -1 : (int64_t)cs.dirty;
}

/* Counts a pass that wrote back 'dirty' pages (-1: unknown). */
static void wb_count(struct growmap *gm, int64_t dirty)
{
	gm_stat_add(gm, write_batches, 1);
	if (dirty > 0) {
		gm_stat_add(gm, pages_written, dirty);
		gm_stat_add(gm, bytes_written, (uint64_t)dirty * gm->page_size);
	}
}

/* Starts writeback of every dirty page of the file, without waiting. */
/*
 * sync_file_range(SYNC_FILE_RANGE_WRITE) of the whole file through the
 * ring: the operation's result, or 1 when the ring itself failed (submit
 * or wait), in which case the ring is given up for good, with nothing of
 * it left in flight, and the caller uses the system call.
 */
static int wb_ring_sync_range(struct growmap *gm)
{
	struct io_uring *ring = gm->wb->ring;
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int r = -EBUSY;
	if (sqe) {   /* the ring is idle between passes, so an entry is free */
		io_uring_prep_sync_file_range(sqe, gm->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		do
			r = io_uring_submit_and_wait(ring, 1);
		while (r == -EINTR);
		if (r == 1) {
			struct io_uring_cqe *cqe;
			do
				r = io_uring_wait_cqe(ring, &cqe);
			while (r == -EINTR);
			if (r == 0) {
				r = cqe->res;
				io_uring_cqe_seen(ring, cqe);
				return r;
			}
		} else if (r >= 0) {
			r = -EIO;   /* nothing submitted */
		}
	}
	gm_log(&gm->cfg, GM_LOG_WARN, "io_uring failed (%s): writeback is started "
	       "with sync_file_range(2) from now on", strerror(-r));
	io_uring_queue_exit(ring);   /* waits for what is still in flight */
	free(ring);
	gm->wb->ring = NULL;
	return 1;
}

/* Starts writeback of every dirty page of the file, without waiting. */
static void wb_start_writeback(struct growmap *gm)
{
	int64_t dirty = dirty_pages(gm);
	if (dirty == 0)
		return;     /* nothing to write: no request */
	int r = gm->wb->ring ? wb_ring_sync_range(gm) : 1;
	if (r == 1)
		r = sync_file_range(gm->fd, 0, 0, SYNC_FILE_RANGE_WRITE) < 0 ? -errno : 0;
	if (r < 0) {
		gm_record_error(gm, r);
		return;
	}
	wb_count(gm, dirty);
}

/* A durable pass: the exact size (growmap(7)), then fdatasync. Returns
 * true when the size had to be left as it is for now (others share the
 * file through growmapd). */
static bool wb_durable(struct growmap *gm, bool datasync, bool apply_size, off_t size)
{
	int64_t dirty = dirty_pages(gm);    /* before the size settles: FIEMAP writes back */
	int r = gm_settle_size(gm, apply_size, size);
	bool deferred = r == 1;
	if (deferred)
		r = 0;
	if (r == 0 && datasync) {
		r = gm->daemon ? gm_daemon_datasync(gm) : 1;
		while (r == 1 || r == -EINTR)
			r = fdatasync(gm->fd) < 0 ? -errno : 0;
		if (r == 0)
			gm_stat_add(gm, syncs, 1);
	}
	if (r < 0)
		gm_record_error(gm, r);
	else if (dirty)
		wb_count(gm, dirty);
	return deferred;
}

/* One pass; 'durable' for a sync or close, which 'datasync' makes durable
 * on disk too. Returns the sticky error. */
static int wb_pass(struct growmap *gm, bool durable, bool datasync,
		   bool apply_size, off_t size, bool *deferred)
{
	__atomic_store_n(&gm->grow.mapped_since_writeback, 0, __ATOMIC_RELAXED);
	if (durable)
		*deferred = wb_durable(gm, datasync, apply_size, size);
	else
		wb_start_writeback(gm);
	return __atomic_load_n(&gm->sticky_error, __ATOMIC_ACQUIRE);
}

/* After a durable pass that was to apply the program's size: done, so
 * stores are tracked again from it, or left for the next sync (others
 * share the file), unless a newer size was set meanwhile. wb->lock held. */
static void wb_size_done(struct growmap *gm, bool apply_size, bool deferred, off_t size)
{
	struct gm_writeback *wb = gm->wb;
	if (!apply_size || wb->exact_size_set)
		return;
	if (deferred) {
		wb->exact_size = size;
		wb->exact_size_set = true;
	} else {
		gm_grow_set_owned(gm, false);
	}
}

static int wb_ring_setup(struct growmap *gm)
{
	struct io_uring *ring = calloc(1, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	unsigned flags = 0;
#if defined(IORING_SETUP_SINGLE_ISSUER) && defined(IORING_SETUP_DEFER_TASKRUN)
	flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
#endif
	int r = io_uring_queue_init(4, ring, flags);
	if (r == -EINVAL && flags)
		r = io_uring_queue_init(4, ring, 0);
	if (r < 0) {
		free(ring);
		return r;
	}
	gm->wb->ring = ring;
	return 0;
}

static void *wb_thread_main(void *arg)
{
	struct growmap *gm = arg;
	struct gm_writeback *wb = gm->wb;
	pthread_setname_np(pthread_self(), "growmap-wb");   /* for ps and tests */
	int r = wb_ring_setup(gm);
	if (r == -EPERM || r == -ENOSYS || r == -EACCES) {
		/* io_uring refused: start writeback with the system call.
		 * (A thread started once growmapd was lost leaves the
		 * reason, which the program may be reading, as it is.) */
		size_t len = wb->inline_sync ? sizeof(gm->reason) - 1 : strlen(gm->reason);
		snprintf(gm->reason + len, sizeof(gm->reason) - len,
			 "; writeback started with sync_file_range(2): io_uring refused (%s)",
			 strerror(-r));
		r = 0;
	}
	if (!wb->inline_sync && dirty_pages(gm) < 0 && errno == ENOSYS) {
		size_t len = strlen(gm->reason);
		snprintf(gm->reason + len, sizeof(gm->reason) - len,
			 "; no cachestat(2): pages written back are not counted");
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
		bool timed_out = false;
		if (!work) {
			pthread_mutex_unlock(&wb->lock);
			struct pollfd pfd = { .fd = wb->wake_fd, .events = POLLIN };
			timed_out = poll(&pfd, 1, (int)gm->cfg.writeback_interval_ms) == 0;
			uint64_t n;
			while (read(wb->wake_fd, &n, sizeof(n)) == sizeof(n))
				;
			pthread_mutex_lock(&wb->lock);
		}
		if (wb->stop && wb->requested == wb->completed)
			break;
		uint64_t target = wb->requested;
		bool durable = target != wb->completed;
		bool kicked = __atomic_exchange_n(&wb->kick, false, __ATOMIC_ACQ_REL);
		if (!durable && !kicked && !timed_out)
			continue;
		bool datasync = durable && wb->want_datasync;
		bool apply_size = durable && wb->exact_size_set;
		off_t size = wb->exact_size;
		if (durable)
			wb->want_datasync = false;
		if (apply_size)
			wb->exact_size_set = false;
		pthread_mutex_unlock(&wb->lock);

		bool deferred = false;
		int result = wb_pass(gm, durable, datasync, apply_size, size, &deferred);

		pthread_mutex_lock(&wb->lock);
		wb_size_done(gm, apply_size, deferred, size);
		if (durable) {
			wb->completed = target;
			wb->result = result;
			pthread_cond_broadcast(&wb->done);
		}
	}
	pthread_mutex_unlock(&wb->lock);
	if (wb->ring) {
		io_uring_queue_exit(wb->ring);
		free(wb->ring);
		wb->ring = NULL;
	}
	return NULL;
}

/* Locks and condition variables, ready before any thread of the mapping
 * runs: the fault path may kick writeback as soon as it serves a fault. */
int gm_writeback_init(struct growmap *gm)
{
	struct gm_writeback *wb = calloc(1, sizeof(*wb));
	if (!wb)
		return -ENOMEM;
	gm->wb = wb;
	pthread_mutex_init(&wb->lock, NULL);
	pthread_cond_init(&wb->done, NULL);
	wb->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return wb->wake_fd < 0 ? -errno : 0;
}

/* In the child of fork(): the parent's writeback state was copied, its
 * thread was not. Drops the copies of the parent's descriptors and memory
 * and starts afresh (the copied locks, which a parent's thread may have
 * held, are neither taken nor destroyed); the
 * caller then calls gm_writeback_start(), once attached again. */
int gm_writeback_after_fork(struct growmap *gm)
{
	struct gm_writeback *old = gm->wb;
	if (old) {
		if (old->ring)
			io_uring_queue_exit(old->ring);
		if (old->wake_fd >= 0)
			close(old->wake_fd);
		free(old);   /* its locks are never taken or destroyed here */
	}
	gm->wb = NULL;
	return gm_writeback_init(gm);
}

static int wb_start_thread(struct growmap *gm)
{
	struct gm_writeback *wb = gm->wb;
	/* Library threads take no signals: SIGXFSZ must become -EFBIG, not
	 * end the process, and the grow lock is never held by a thread that
	 * a handler could interrupt. */
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

int gm_writeback_start(struct growmap *gm)
{
	if (gm_daemon_connected(gm)) {
		gm->wb->inline_sync = true;   /* the daemon writes back */
		return 0;
	}
	return wb_start_thread(gm);
}

/*
 * A durable sync in the caller's thread, through growmapd. All signals
 * are blocked meanwhile, as on the writeback thread: a handler storing
 * into the range must not find the grow lock held by its own thread, and
 * a size past RLIMIT_FSIZE must give -EFBIG, not end the process (the
 * SIGXFSZ the kernel queues with it is taken back). Syncs of one
 * mapping run one at a time. When the daemon was lost, the writeback
 * thread takes over background writeback from then on.
 */
static int wb_sync_inline(struct growmap *gm, bool datasync)
{
	struct gm_writeback *wb = gm->wb;
	sigset_t all, old, pending;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	sigpending(&pending);
	bool xfsz_pending = sigismember(&pending, SIGXFSZ);

	pthread_mutex_lock(&wb->lock);
	bool apply_size = wb->exact_size_set;
	off_t size = wb->exact_size;
	wb->exact_size_set = false;
	bool deferred = false;
	int r = wb_pass(gm, true, datasync, apply_size, size, &deferred);
	wb_size_done(gm, apply_size, deferred, size);
	bool start = !gm_daemon_connected(gm) && !wb->thread_running && !wb->stop;
	pthread_mutex_unlock(&wb->lock);

	sigpending(&pending);
	if (!xfsz_pending && sigismember(&pending, SIGXFSZ)) {
		sigset_t xfsz;
		sigemptyset(&xfsz);
		sigaddset(&xfsz, SIGXFSZ);
		struct timespec now = { 0, 0 };
		sigtimedwait(&xfsz, NULL, &now);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (start && !__atomic_exchange_n(&wb->lost_start, true, __ATOMIC_ACQ_REL)) {
		gm_log(&gm->cfg, GM_LOG_INFO, "writeback thread started: growmapd is gone");
		wb_start_thread(gm);
	}
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
	struct gm_writeback *wb = gm->wb;
	pthread_mutex_lock(&wb->lock);
	if (wb->inline_sync && !wb->thread_running && !wb->stop) {
		pthread_mutex_unlock(&wb->lock);
		return wb_sync_inline(gm, datasync);
	}
	if (!wb->thread_running || wb->stop) {   /* not started, or stopping */
		pthread_mutex_unlock(&wb->lock);
		return __atomic_load_n(&gm->sticky_error, __ATOMIC_ACQUIRE);
	}
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

/* The eventfd the fault path writes to; growmapd watches it. */
int gm_writeback_kick_fd(struct growmap *gm)
{
	return gm->wb->wake_fd;
}

void gm_writeback_kick(struct growmap *gm)
{
	__atomic_store_n(&gm->wb->kick, true, __ATOMIC_RELEASE);
	wb_wake(gm->wb);
}

/* The program owns its length until the next durable sync applies it:
 * stores meanwhile are not tracked. */
void gm_writeback_set_size(struct growmap *gm, off_t size)
{
	gm_grow_set_owned(gm, true);
	pthread_mutex_lock(&gm->wb->lock);
	gm->wb->exact_size = size;
	gm->wb->exact_size_set = true;
	pthread_mutex_unlock(&gm->wb->lock);
}

void gm_writeback_stop(struct growmap *gm)
{
	struct gm_writeback *wb = gm->wb;
	if (!wb || !wb->thread_running)
		return;
	pthread_mutex_lock(&wb->lock);
	wb->stop = true;
	wb_wake(wb);
	pthread_mutex_unlock(&wb->lock);
	pthread_join(wb->thread, NULL);
	pthread_mutex_lock(&wb->lock);
	wb->thread_running = false;
	pthread_mutex_unlock(&wb->lock);
}

void gm_writeback_release(struct growmap *gm)
{
	struct gm_writeback *wb = gm->wb;
	if (!wb)
		return;
	gm_writeback_stop(gm);
	if (wb->wake_fd >= 0)
		close(wb->wake_fd);
	pthread_cond_destroy(&wb->done);
	pthread_mutex_destroy(&wb->lock);
	free(wb);
	gm->wb = NULL;
}
