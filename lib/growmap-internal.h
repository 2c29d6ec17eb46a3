/*
 * Internal structures shared by the region bookkeeping (growmap.c), the
 * backends (backend-*.c), writeback (writeback.c) and configuration.
 *
 * Threads of one mapping:
 *  - application threads touch the range and call the public API;
 *  - the backend's fault-service thread (uffd) populates pages;
 *  - the writeback thread owns the io_uring ring and does all file
 *    writes, syncs and size changes; public calls hand it requests.
 */
#ifndef GROWMAP_INTERNAL_H
#define GROWMAP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <liburing.h>

#include "growmap.h"

#define GM_INTERNAL __attribute__((visibility("hidden")))

/* Largest reservation accepted: 64 TiB (x86-64 user space is 128 TiB). */
#define GM_RESERVE_MAX ((size_t)1 << 46)

enum gm_backend_kind {
	GM_BACKEND_AUTO,
	GM_BACKEND_UFFD,
	GM_BACKEND_SIGNAL,
};

enum gm_log_level {
	GM_LOG_ERROR,
	GM_LOG_WARN,
	GM_LOG_INFO,
	GM_LOG_DEBUG,
};

/* Tunables; see config.c for the file keys, environment variables and
 * defaults, and growmap.conf(5) for the user's view. */
struct gm_config {
	enum gm_backend_kind backend;
	size_t reserve;               /* bytes, default reservation */
	unsigned writeback_interval_ms;
	size_t dirty_limit_pages;     /* background writeback beyond this */
	unsigned fault_around_pages;  /* power of two, 1..512 */
	unsigned queue_depth;         /* io_uring entries */
	bool sync_on_close;           /* fdatasync at close */
	enum gm_log_level log_level;
};

/*
 * Builds the configuration for one growmap_open(): compiled-in defaults,
 * then the config file ($GROWMAP_CONFIG, else SYSCONFDIR/growmap.conf),
 * then environment variables, then 'opts' (may be NULL). Returns 0 or
 * -EINVAL after logging one line naming the file and line, the
 * environment variable, or the option, and the key; an unreadable file
 * named by GROWMAP_CONFIG is an error (its -errno), a missing default
 * file is not.
 */
GM_INTERNAL int gm_config_load(struct gm_config *cfg,
			       const struct growmap_options *opts);

/* Prints "growmap: <message>" on stderr when 'level' is enabled by the
 * configuration of the call in progress ('cfg' may be NULL: errors only). */
GM_INTERNAL void gm_log(const struct gm_config *cfg, enum gm_log_level level,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));

struct growmap;

/*
 * What a backend provides. Region creation, disk reservation, file reads
 * and writeback are shared; a backend decides how pages become present
 * and how stores are noticed.
 */
struct gm_backend_ops {
	const char *name;
	/* Arm the range at gm->base (already mapped) and start serving faults. */
	int (*attach)(struct growmap *gm);
	/* Call gm_mark_pending() for every page stored into since the last
	 * call and re-arm tracking for them. Runs on the writeback thread. */
	int (*collect_written)(struct growmap *gm);
	/* Drop pages [from, to) so they fault afresh. Caller holds resolve_lock. */
	void (*discard_pages)(struct growmap *gm, size_t from, size_t to);
	/* Make pages that failed at first touch touchable again.
	 * Runs on the writeback thread after a durable sync. */
	void (*recover_failed)(struct growmap *gm);
	/* Stop serving faults and release backend resources. */
	void (*detach)(struct growmap *gm);
};

GM_INTERNAL extern const struct gm_backend_ops gm_uffd_ops;
GM_INTERNAL extern const struct gm_backend_ops gm_signal_ops;

/* Writeback state, owned by writeback.c. */
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

	/* Only the writeback thread touches these. */
	struct io_uring ring;
	bool ring_ready;
	bool fixed_file;
	uint64_t *pending;        /* stored into, not yet written */
	uint64_t *unsynced;       /* written, not yet made durable */
	/* Page extents [lo, hi) outside which the bitmaps above are clear,
	 * so a pass costs what was dirtied, not what was reserved. */
	size_t pending_lo, pending_hi;
	size_t unsynced_lo, unsynced_hi;
};

struct growmap {
	const struct gm_backend_ops *ops;
	struct gm_config cfg;
	bool writable;
	int fd;                   /* our duplicate of the caller's fd */
	int memfd;                /* the pages themselves (shmem) */
	char *base;               /* the application's view */
	bool guard_page;          /* the page after the range is our PROT_NONE
				     guard (registry_lock); see place_range() */
	char *io_base;            /* where writeback reads pages from */
	size_t reserve;
	size_t page_size;
	size_t npages;
	pid_t owner;              /* process that attached */
	dev_t dev;
	ino_t ino;
	struct growmap *registry_next;
	bool ofd_locked;

	/* Offsets below data_size are read from the file when a page is
	 * populated; above it the file has no data. Atomic. */
	int64_t data_size;

	/* Serialises the uffd fault path with discarding pages. */
	pthread_mutex_t resolve_lock;
	uint64_t *populated;      /* pages made present (writable only); set atomically */
	uint64_t populated_since_writeback; /* atomic */

	int sticky_error;         /* atomic; first error wins */
	char reason[256];         /* why this backend; see growmap_backend_reason */

	struct gm_writeback wb;

	struct {                  /* atomic counters, see growmap_stats */
		uint64_t faults, pages_populated, pages_written, write_batches,
			 bytes_written, syncs, writeback_errors;
	} stats;

	void *backend;            /* backend private state */
};

#define gm_stat_add(gm, field, n) \
	__atomic_fetch_add(&(gm)->stats.field, (uint64_t)(n), __ATOMIC_RELAXED)

/* growmap.c: shared region services for backends. */
GM_INTERNAL void gm_record_error(struct growmap *gm, int err);
GM_INTERNAL int gm_reserve_disk(struct growmap *gm, size_t fault_page,
				size_t *first, size_t *count);
GM_INTERNAL int gm_read_file(struct growmap *gm, size_t first, size_t count,
			     char *buf);
GM_INTERNAL void gm_note_populated(struct growmap *gm, size_t first,
				   size_t count);

/*
 * growmap_open_opts() with the range placed at 'addr' (page aligned)
 * instead of an address of the library's choosing; NULL: its choice.
 * -EINVAL when addr is misaligned or the range cannot be used there.
 * For the AIX layer (shm.c), whose callers may name the address.
 */
GM_INTERNAL int gm_open_placed(struct growmap **out, int fd, size_t reserve,
			       unsigned flags, const struct growmap_options *opts,
			       void *addr);

/*
 * Installs the fork handlers of the registry lock (once). Code whose own
 * lock is held while calling growmap functions installs its handlers
 * after calling this, so that fork() takes the locks in that order.
 */
GM_INTERNAL void gm_registry_atfork(void);

/* writeback.c */
GM_INTERNAL void gm_mark_pending(struct growmap *gm, size_t from, size_t to);
GM_INTERNAL int gm_writeback_init(struct growmap *gm);
GM_INTERNAL int gm_writeback_start(struct growmap *gm);
GM_INTERNAL int gm_writeback_sync(struct growmap *gm, bool datasync);
GM_INTERNAL void gm_writeback_kick(struct growmap *gm);
GM_INTERNAL void gm_writeback_set_size(struct growmap *gm, off_t size);
GM_INTERNAL void gm_writeback_stop(struct growmap *gm);
GM_INTERNAL void gm_writeback_release(struct growmap *gm);

#endif
