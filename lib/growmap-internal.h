/* SPDX-License-Identifier: MIT */
/*
 * Internal structures shared by the region bookkeeping (growmap.c), the
 * backends (backend-*.c), writeback (writeback.c) and configuration.
 *
 * Threads of one mapping:
 *  - application threads touch the range and call the public API;
 *  - the backend's fault-service thread (uffd) grows the file and maps it;
 *  - the writeback thread starts the kernel's writeback on an interval,
 *    and settles the exact size and syncs when public calls ask it to.
 */
#ifndef GROWMAP_INTERNAL_H
#define GROWMAP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "growmap.h"

#define GM_INTERNAL __attribute__((visibility("hidden")))

/* Largest reservation accepted: 64 TiB (x86-64 user space is 128 TiB). */
#define GM_RESERVE_MAX ((size_t)1 << 46)

enum gm_backend_kind {
	GM_BACKEND_AUTO,
	GM_BACKEND_UFFD,
	GM_BACKEND_SIGNAL,
};

enum gm_daemon_mode {
	GM_DAEMON_OFF,
	GM_DAEMON_AUTO,               /* through growmapd when it answers */
	GM_DAEMON_REQUIRED,
};

/* sizeof(struct sockaddr_un.sun_path) */
#define GM_SOCKET_PATH_MAX 108
/* The system instance's socket (growmapd(8)). */
#define GM_SYSTEM_SOCKET "/run/growmap/growmapd.sock"

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
	unsigned queue_depth;         /* accepted for old files; no effect since
					 writeback is one request per pass */
	bool sync_on_close;           /* fdatasync at close */
	enum gm_log_level log_level;
	enum gm_daemon_mode daemon;
	char socket[GM_SOCKET_PATH_MAX]; /* "": the default sockets */
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
 * What a backend provides. The file, its growth, the exact size and
 * writeback are shared (grow.c, writeback.c); a backend owns the part of
 * the range that is not the file yet (the placeholder) and decides how a
 * fault there is noticed and answered.
 */
struct gm_backend_ops {
	const char *name;
	/* Arm the placeholder [gm->grow.attach_page, npages) and start
	 * serving faults. */
	int (*attach)(struct growmap *gm);
	/*
	 * Turn pages [from, to) back into placeholder, whatever is mapped
	 * there now, so that the next access faults again. Called with the
	 * grow lock held. No access by another thread may meet the pages
	 * in between, neither the file's nor placeholder: that access would
	 * be unseen (a store lost, a load of zeros). Returns 0 or -errno.
	 */
	int (*to_placeholder)(struct growmap *gm, size_t from, size_t to);
	/* Stop serving faults and release backend resources. */
	void (*detach)(struct growmap *gm);
	/* In the child of fork() of a range shared through growmapd, which
	 * the child inherited: serve its placeholder in the child, where
	 * none of the parent's threads run. Returns 0 or -errno. */
	int (*after_fork)(struct growmap *gm);
};

GM_INTERNAL extern const struct gm_backend_ops gm_uffd_ops;
GM_INTERNAL extern const struct gm_backend_ops gm_signal_ops;

/* A run of store faults at consecutive windows; see grow.c. */
struct gm_stream {
	size_t start;              /* first page of the last window */
	size_t next;               /* page where the last window ended */
	size_t window;             /* pages of that window */
	uint64_t used;             /* for replacing the least recently used */
};
#define GM_STREAMS 4

/*
 * Growth state, owned by grow.c, guarded by 'lock' (a spin lock, since
 * the signal backend takes it inside its fault handler).
 */
struct gm_grow {
	int lock;
	off_t attach_size;         /* the file's size at attach */
	off_t floor_size;          /* the exact size never goes below this:
				      attach_size, or through growmapd the
				      size when the file's first writer
				      attached */
	size_t attach_page;        /* first page not wholly inside the file at attach */
	bool partial_stored;       /* the page holding attach_size was stored into */
	size_t mapped_end;         /* pages below are the file or placeholder;
				      none at or above are the file */
	off_t file_size;           /* the file's size as growmap last set it */
	bool owned;                /* growmap_set_size() was called since the
				      last durable sync: the program owns the
				      size, nothing is tracked; atomic */
	struct gm_stream streams[GM_STREAMS];
	uint64_t clock;
	uint64_t mapped_since_writeback; /* atomic */
};

/* Writeback state, private to writeback.c. */
struct gm_writeback;

struct growmap {
	const struct gm_backend_ops *ops;
	struct gm_config cfg;
	bool writable;
	int fd;                   /* our own description of the caller's file */
	int lock_fd;              /* a second one, carrying the one-writer lock;
				     io_uring never sees it (its teardown outlives
				     the process) */
	char *base;               /* the application's view */
	bool guard_page;          /* the page after the range is our PROT_NONE
				     guard (registry_lock); see range.c */
	size_t reserve;
	size_t page_size;
	size_t npages;
	pid_t owner;              /* process that attached */
	dev_t dev;
	ino_t ino;
	struct growmap *registry_next;
	bool ofd_locked;

	struct gm_grow grow;

	int sticky_error;         /* atomic; first error wins */
	char reason[512];         /* why this backend; see growmap_backend_reason */

	struct gm_writeback *wb;  /* NULL until gm_writeback_init() */

	struct gm_daemon *daemon; /* attached through growmapd, else NULL */
	char daemon_why[200];     /* why not through growmapd, for the reason */

	struct {                  /* atomic counters, see growmap_stats */
		uint64_t faults, pages_populated, pages_written, write_batches,
			 bytes_written, syncs, writeback_errors;
	} stats;

	void *backend;            /* backend private state */
};

#define gm_stat_add(gm, field, n) \
	__atomic_fetch_add(&(gm)->stats.field, (uint64_t)(n), __ATOMIC_RELAXED)

/* growmap.c */
GM_INTERNAL void gm_record_error(struct growmap *gm, int err);

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
GM_INTERNAL void gm_registry_lock(void);
GM_INTERNAL void gm_registry_unlock(void);
GM_INTERNAL struct growmap *gm_registry_first(void);

/* range.c: the reserved address range. gm_remap(): mmap(MAP_FIXED) of
 * pages inside it while other threads use it; 0 or a negative errno. */
GM_INTERNAL int gm_remap(void *at, size_t len, int prot, int flags, int fd, off_t off);
/* mremap(2) of the whole mapping [from, from + len) over [to, to + len),
 * replacing what was there in one step. */
GM_INTERNAL int gm_move_over(void *from, size_t len, void *to);
GM_INTERNAL int gm_range_choose(struct growmap *gm);
GM_INTERNAL int gm_range_place(struct growmap *gm, char *at);
GM_INTERNAL void gm_range_release(struct growmap *gm);

/* grow.c: the file behind the range, its growth and its exact size. */
GM_INTERNAL void gm_grow_init(struct growmap *gm, off_t file_size);
GM_INTERNAL int gm_map_attached(struct growmap *gm);
GM_INTERNAL void gm_grow_lock(struct growmap *gm);
GM_INTERNAL bool gm_grow_trylock(struct growmap *gm);
GM_INTERNAL void gm_grow_unlock(struct growmap *gm);
GM_INTERNAL int gm_grow_store(struct growmap *gm, size_t page, size_t *first,
			      size_t *count);
GM_INTERNAL bool gm_grow_recent(struct growmap *gm, size_t page);
GM_INTERNAL int gm_grow_for_load(struct growmap *gm, size_t page);
/* Where a page stands against the file's size now (one fstat(2) through
 * growmapd, where others grow the file too). */
enum gm_page_at {
	GM_PAGE_INSIDE,            /* wholly inside the file */
	GM_PAGE_PARTIAL,           /* holds the file's end */
	GM_PAGE_BEYOND,            /* wholly beyond it */
};
GM_INTERNAL enum gm_page_at gm_page_at(struct growmap *gm, size_t page);
GM_INTERNAL int gm_read_page(struct growmap *gm, size_t page, char *buf);
GM_INTERNAL int gm_map_file_pages(struct growmap *gm, size_t first, size_t count,
				  int prot);
GM_INTERNAL int gm_dontfork(struct growmap *gm, void *at, size_t len);
/* Returns 0, a negative errno, or 1 when the size was left as it is
 * because other writers share the file through growmapd (an owned size
 * then waits for a later sync). */
GM_INTERNAL int gm_settle_size(struct growmap *gm, bool apply_owned, off_t owned_size);
GM_INTERNAL void gm_grow_set_owned(struct growmap *gm, bool own);

/*
 * daemon-client.c: attaching through growmapd. gm_daemon_attach() returns
 * 0 when attached through it (gm->daemon set, *floor the file's floor),
 * 1 when working alone (daemon = off, or auto and no daemon answered or
 * it refused: gm->daemon_why says why), or a negative errno when the
 * configuration requires the daemon. gm_daemon_sync_begin() returns 1
 * when this attachment is the file's only writer and may cut it (then
 * call gm_daemon_settled()), else 0.
 */
struct gm_daemon;
GM_INTERNAL int gm_daemon_attach(struct growmap *gm, off_t *floor);
GM_INTERNAL int gm_daemon_sync_begin(struct growmap *gm, off_t *floor);
GM_INTERNAL void gm_daemon_settled(struct growmap *gm, off_t size);
/* fdatasync through the daemon: 0 or a writeback error of the file, or 1
 * when no daemon answered (the caller runs fdatasync itself). */
GM_INTERNAL int gm_daemon_datasync(struct growmap *gm);
/* Attached through a daemon that answered the last request. */
GM_INTERNAL bool gm_daemon_connected(struct growmap *gm);
GM_INTERNAL void gm_daemon_detach(struct growmap *gm);
/* In the child of fork(): a connection of the child's own, attaching the
 * inherited range again; when that fails, the child never cuts the file. */
GM_INTERNAL void gm_daemon_after_fork(struct growmap *gm);

/* Calls fn(gm, first, count) for every run of pages of the range that is
 * anonymous memory (placeholder) now, per /proc/self/maps. Returns 0 or
 * the first negative errno of fn or of reading the map. */
GM_INTERNAL int gm_each_placeholder_run(struct growmap *gm,
					int (*fn)(struct growmap *, size_t, size_t));

/* writeback.c */
GM_INTERNAL int gm_writeback_init(struct growmap *gm);
GM_INTERNAL int gm_writeback_start(struct growmap *gm);
GM_INTERNAL int gm_writeback_sync(struct growmap *gm, bool datasync);
GM_INTERNAL void gm_writeback_kick(struct growmap *gm);
GM_INTERNAL int gm_writeback_kick_fd(struct growmap *gm);
GM_INTERNAL void gm_writeback_set_size(struct growmap *gm, off_t size);
GM_INTERNAL void gm_writeback_stop(struct growmap *gm);
GM_INTERNAL void gm_writeback_release(struct growmap *gm);
GM_INTERNAL int gm_writeback_after_fork(struct growmap *gm);

#endif
