/* SPDX-License-Identifier: MIT */
/*
 * Public API and handle bookkeeping: argument checks, the registry of
 * live handles, the one-writer rule, and building and tearing down a
 * mapping from its parts (range.c, grow.c, a backend, writeback.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "growmap-internal.h"
#include "proto.h"


/*
 * Registry of live handles: validates handles passed back to us (double
 * close gets -EBADF) and enforces one writable attach per file inside
 * this process, where an open-file-description lock taken through a
 * shared description cannot tell two attaches apart.
 */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct growmap *registry_head;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void registry_prefork(void) { pthread_mutex_lock(&registry_lock); }
static void registry_postfork(void) { pthread_mutex_unlock(&registry_lock); }

static int open_private(struct growmap *gm, int fd, int *out);
static int take_writer_lock(struct growmap *gm);

static int inaccessible_run(struct growmap *gm, size_t first, size_t count)
{
	void *at = gm->base + first * gm->page_size;
	return mmap(at, count * gm->page_size, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) ==
	       MAP_FAILED ? -errno : 0;
}

/*
 * fork() (growmap(7), "fork(2)"): a range shared through growmapd was
 * inherited by the child, which attaches it again as its own, before
 * fork() returns there: its own connection to the daemon, writeback
 * thread and fault service. The same handle then works in the child.
 * Where that fails, the child's placeholder is made inaccessible (a store
 * there raises SIGSEGV, never lands in private memory) and the handle
 * answers -EPERM, as without the daemon, where the child has nothing at
 * the range.
 */
static void after_fork_child(struct growmap *gm)
{
	pid_t parent = gm->owner;
	gm->owner = getpid();
	gm->grow.lock = 0;          /* a parent's thread may have held it */
	__atomic_store_n(&gm->sticky_error, 0, __ATOMIC_RELAXED);
	int r = gm_writeback_after_fork(gm);   /* a new eventfd, for the daemon */
	gm_daemon_after_fork(gm);
	if (r == 0 && gm->writable && gm->ofd_locked) {
		/* The locks of the description shared with the parent are the
		 * parent's: a description of the child's own, with its pid. */
		int inherited = gm->lock_fd;
		r = open_private(gm, gm->fd, &gm->lock_fd);
		if (r == 0) {
			close(inherited);
			gm->ofd_locked = false;
			r = take_writer_lock(gm);
		} else {
			gm->lock_fd = inherited;
		}
	}
	if (r == 0 && gm->writable && gm->backend)
		r = gm->ops->after_fork(gm);
	if (r == 0 && gm->writable)
		r = gm_writeback_start(gm);
	if (r < 0) {
		gm_log(&gm->cfg, GM_LOG_ERROR, "after fork: the child cannot serve the "
		       "range it inherited (%s); its placeholder is inaccessible there",
		       strerror(-r));
		gm_each_placeholder_run(gm, inaccessible_run);
		gm->owner = parent;
	}
}

static void registry_child(void)
{
	pthread_mutex_unlock(&registry_lock);
	for (struct growmap *g = registry_head; g; g = g->registry_next)
		if (g->daemon)
			after_fork_child(g);
}

static void registry_install_atfork(void)
{
	pthread_atfork(registry_prefork, registry_postfork, registry_child);
}

void gm_registry_atfork(void)
{
	pthread_once(&atfork_once, registry_install_atfork);
}

void gm_registry_lock(void) { pthread_mutex_lock(&registry_lock); }
void gm_registry_unlock(void) { pthread_mutex_unlock(&registry_lock); }
struct growmap *gm_registry_first(void) { return registry_head; }

/* Does a writable attach of this process rule out 'gm'? Attaches through
 * growmapd share their file; any other writer excludes every writer. */
static bool registry_conflict_locked(const struct growmap *gm)
{
	for (struct growmap *g = registry_head; g; g = g->registry_next)
		if (g->writable && g->dev == gm->dev && g->ino == gm->ino &&
		    !(g->daemon && gm->daemon))
			return true;
	return false;
}

static void registry_remove(struct growmap *gm)
{
	pthread_mutex_lock(&registry_lock);
	for (struct growmap **p = &registry_head; *p; p = &(*p)->registry_next)
		if (*p == gm) {
			*p = gm->registry_next;
			break;
		}
	pthread_mutex_unlock(&registry_lock);
}

/*
 * Endings (growmap(7), ENDINGS): exit() from any thread, and return
 * from main, sync every writable mapping this process attached and has
 * not closed, with its exact size, as growmap_close() would (the mappings
 * stay: other threads may still be running). A child of fork() has none
 * of its own. _exit(2) and fatal signals skip this; their stores are in
 * the file anyway, only the size is not settled.
 */
__attribute__((destructor)) static void sync_at_exit(void)
{
	pid_t self = getpid();
	pthread_mutex_lock(&registry_lock);
	for (struct growmap *g = registry_head; g; g = g->registry_next) {
		if (!g->writable || g->owner != self)
			continue;
		int r = gm_writeback_sync(g, g->cfg.sync_on_close);
		if (r < 0)
			gm_log(&g->cfg, GM_LOG_ERROR, "at exit: sync of fd %d failed: %s",
			       g->fd, strerror(-r));
	}
	pthread_mutex_unlock(&registry_lock);
}

/* Checks a handle passed to a public call: attached, and used by the
 * process that attached it (after fork() the child's copy is dead). */
static int handle_check(const struct growmap *gm)
{
	if (!gm)
		return -EINVAL;
	int r = -EBADF;
	pthread_mutex_lock(&registry_lock);
	for (struct growmap *g = registry_head; g; g = g->registry_next)
		if (g == gm) {
			r = 0;
			break;
		}
	pthread_mutex_unlock(&registry_lock);
	if (r == 0 && gm->owner != getpid())
		r = -EPERM;
	return r;
}

void gm_record_error(struct growmap *gm, int err)
{
	int expected = 0;
	gm_stat_add(gm, writeback_errors, 1);
	__atomic_compare_exchange_n(&gm->sticky_error, &expected, err, false,
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Checks the caller's descriptor against what the mapping needs. */
static int check_fd(int fd, bool writable, struct stat *st)
{
	if (fd < 0)
		return -EBADF;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -EBADF;
	if (fl & O_PATH)
		return -EBADF;
	if (fstat(fd, st) < 0)
		return -errno;
	if (S_ISDIR(st->st_mode))
		return -EISDIR;
	if (!S_ISREG(st->st_mode))
		return -ENODEV;
	int mode = fl & O_ACCMODE;
	if (writable ? mode != O_RDWR : mode == O_WRONLY)
		return -EACCES;
	if (writable && (fl & O_APPEND))
		return -EINVAL;  /* positioned writes would append instead */
	return 0;
}

/*
 * Our own open file description of the caller's file: the one-writer
 * lock taken on it is not shared with copies of the caller's descriptor
 * (inherited across exec, or passed over a socket). Where reopening
 * through /proc is refused (no /proc, or file mode), a duplicate does.
 */
static int open_private(struct growmap *gm, int fd, int *out)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int own = open(proc, (gm->writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
	if (own >= 0) {
		struct stat st;
		if (fstat(own, &st) == 0 && st.st_dev == gm->dev && st.st_ino == gm->ino) {
			*out = own;
			return 0;
		}
		close(own);
	}
	*out = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return *out < 0 ? -errno : 0;
}

static int lock_byte(int fd, short type, off_t at)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
}

/* Exclusive for a writer alone; shared through growmapd, which holds the
 * same shared lock itself while it has writers of the file, so that no
 * writer alone can attach while they or the daemon's settling run. A
 * writer through the daemon also locks its pid's byte (proto.h). */
static int take_writer_lock(struct growmap *gm)
{
	int r = lock_byte(gm->lock_fd, gm->daemon ? F_RDLCK : F_WRLCK, GMD_LOCK_OFFSET);
	if (r == -ENOLCK)
		return 0;   /* no locks on this filesystem: in-process rule only */
	if (r == 0 && gm->daemon)
		r = lock_byte(gm->lock_fd, F_RDLCK, GMD_PID_LOCK_BASE + getpid());
	if (r < 0)
		return r;
	gm->ofd_locked = true;
	return 0;
}

static void drop_writer_lock(struct growmap *gm)
{
	if (!gm->ofd_locked)
		return;
	/* The pid's byte too: another attach of this process holds it on
	 * its own description all the same. */
	struct flock fl = {
		.l_type = F_UNLCK, .l_whence = SEEK_SET,
		.l_start = GMD_LOCK_OFFSET, .l_len = 1 + GMD_PID_LOCK_SPAN,
	};
	fcntl(gm->lock_fd, F_OFD_SETLK, &fl);
	gm->ofd_locked = false;
}

/*
 * A writable range is the file itself over the pages wholly inside it,
 * and placeholder beyond, which the backend arms (see grow.c). A
 * read-only range needs no backend: the file mapped read-only up to the
 * end of its last page, then anonymous zeros; loads are as fast as the
 * kernel's own mapping and nothing can be written. Either way a PROT_NONE
 * guard page follows, so access beyond the reservation is SIGSEGV (but
 * see gm_range_place()). Without the daemon the whole range is
 * MADV_DONTFORK: a child process has nothing there; through it the child
 * inherits the range (growmap_open(3)). 'at' is the caller's address, or
 * NULL.
 */
static int map_region(struct growmap *gm, off_t file_size, char *at)
{
	int r = at ? gm_range_place(gm, at) : gm_range_choose(gm);
	if (r < 0)
		return r;
	char *area = gm->base;
	if ((r = gm_dontfork(gm, area, gm->reserve)) < 0)
		return r;
	if (gm->guard_page &&
	    madvise(area + gm->reserve, gm->page_size, MADV_DONTFORK) < 0)
		return -errno;
	if (gm->writable)
		return gm_map_attached(gm);
	size_t ps = gm->page_size;
	size_t file_bytes = ((size_t)file_size + ps - 1) & ~(ps - 1);
	if (file_bytes > gm->reserve)
		file_bytes = gm->reserve;
	if (file_bytes && mmap(area, file_bytes, PROT_READ, MAP_SHARED | MAP_FIXED,
			       gm->fd, 0) == MAP_FAILED)
		return -errno;
	if (gm->reserve > file_bytes &&
	    mmap(area + file_bytes, gm->reserve - file_bytes, PROT_READ,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
		return -errno;
	return gm_dontfork(gm, area, gm->reserve);
}

/* Releases whatever growmap_open() set up, in reverse order; safe on a
 * partly built handle. */
static void destroy(struct growmap *gm)
{
	gm_writeback_stop(gm);
	if (gm->backend)
		gm->ops->detach(gm);
	gm_writeback_release(gm);
	if (gm->base)
		gm_range_release(gm);
	/* With nothing mapped here any more: the daemon may cut the file
	 * once we are gone. The locks go first: the daemon settles a file
	 * at its last writer's DETACH only when no other process holds its
	 * pid's byte, so a writer that still held it a moment after its
	 * own DETACH could keep the file from being settled when two close
	 * at once. (The daemon's own shared lock on the descriptor we gave
	 * it still keeps writers alone out until it has let go.) */
	drop_writer_lock(gm);
	gm_daemon_detach(gm);
	if (gm->lock_fd >= 0)
		close(gm->lock_fd);
	if (gm->fd >= 0)
		close(gm->fd);
	free(gm);
}

/*
 * Attaches the backend the configuration asks for. 'auto' takes
 * userfaultfd when the kernel offers what the backend needs and this
 * process may create a userfaultfd, else the signal backend; gm->reason
 * says what was chosen, what was refused and what the choice gives up.
 */
static int attach_backend(struct growmap *gm)
{
	if (gm->cfg.backend == GM_BACKEND_SIGNAL) {
		gm->ops = &gm_signal_ops;
		snprintf(gm->reason, sizeof(gm->reason), "signal: chosen by configuration; "
			 "system calls touching untouched pages fail with EFAULT");
		return gm->ops->attach(gm);
	}
	gm->ops = &gm_uffd_ops;
	int r = gm->ops->attach(gm);
	if (r == 0 || gm->cfg.backend == GM_BACKEND_UFFD ||
	    (r != -EPERM && r != -EOPNOTSUPP && r != -ENOSYS))
		return r;
	char why[sizeof(gm->reason)];
	snprintf(why, sizeof(why), "%s", gm->reason);
	if (gm->backend)
		gm->ops->detach(gm);
	gm->ops = &gm_signal_ops;
	snprintf(gm->reason, sizeof(gm->reason), "signal: userfaultfd unavailable (%.150s); "
		 "system calls touching untouched pages fail with EFAULT", why);
	return gm->ops->attach(gm);
}

/* The reason's last part: shared through growmapd, or why not. */
static void append_daemon_reason(struct growmap *gm)
{
	size_t len = strlen(gm->reason);
	if (gm->daemon)
		snprintf(gm->reason + len, sizeof(gm->reason) - len,
			 "; shared through growmapd");
	else if (gm->cfg.daemon == GM_DAEMON_OFF)
		snprintf(gm->reason + len, sizeof(gm->reason) - len,
			 "; without growmapd (daemon = off)");
	else
		snprintf(gm->reason + len, sizeof(gm->reason) - len,
			 "; without growmapd (%s)", gm->daemon_why);
}

GROWMAP_EXPORT int growmap_open(struct growmap **out, int fd, size_t reserve,
				unsigned flags)
{
	return growmap_open_opts(out, fd, reserve, flags, NULL);
}

GROWMAP_EXPORT int growmap_open_opts(struct growmap **out, int fd, size_t reserve,
				     unsigned flags, const struct growmap_options *opts)
{
	return gm_open_placed(out, fd, reserve, flags, opts, NULL);
}

int gm_open_placed(struct growmap **out, int fd, size_t reserve, unsigned flags,
		   const struct growmap_options *opts, void *addr)
{
	if (!out || (flags & ~GROWMAP_RDONLY))
		return -EINVAL;
	*out = NULL;
	gm_registry_atfork();

	struct gm_config cfg;
	int r = gm_config_load(&cfg, opts);
	if (r < 0)
		return r;

	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	if (reserve == 0)
		reserve = cfg.reserve;
	if (reserve > GM_RESERVE_MAX)
		return -EINVAL;
	reserve = (reserve + ps - 1) & ~(ps - 1);

	bool writable = !(flags & GROWMAP_RDONLY);
	struct stat st;
	if ((r = check_fd(fd, writable, &st)) < 0)
		return r;

	struct growmap *gm = calloc(1, sizeof(*gm));
	if (!gm)
		return -ENOMEM;
	gm->cfg = cfg;
	gm->writable = writable;
	gm->fd = -1;
	gm->lock_fd = -1;
	gm->reserve = reserve;
	gm->page_size = ps;
	gm->npages = reserve / ps;
	gm->owner = getpid();
	gm->dev = st.st_dev;
	gm->ino = st.st_ino;
	gm_grow_init(gm, st.st_size);
	if ((r = gm_writeback_init(gm)) < 0)
		goto fail;

	if ((r = open_private(gm, fd, &gm->fd)) < 0)
		goto fail;
	if (writable && (r = open_private(gm, fd, &gm->lock_fd)) < 0)
		goto fail;
	/* Through growmapd, before the lock: the daemon refuses (-EBUSY) a
	 * file that a writer alone holds. */
	off_t floor = st.st_size;
	if ((r = gm_daemon_attach(gm, &floor)) < 0)
		goto fail;
	r = 0;
	if (gm->daemon)
		gm->grow.floor_size = floor;

	/* Registry check and insertion happen under one lock hold so two
	 * threads cannot both become the writer. */
	pthread_mutex_lock(&registry_lock);
	if (writable && registry_conflict_locked(gm))
		r = -EBUSY;
	else if (writable)
		r = take_writer_lock(gm);
	if (r == 0) {
		gm->registry_next = registry_head;
		registry_head = gm;
	}
	pthread_mutex_unlock(&registry_lock);
	if (r < 0)
		goto fail;

	/* The backend first: the writeback thread may run a pass at once. */
	if ((r = map_region(gm, st.st_size, addr)) < 0)
		goto fail_registered;
	if (writable) {
		if ((r = attach_backend(gm)) < 0)
			goto fail_registered;
		if ((r = gm_writeback_start(gm)) < 0)
			goto fail_registered;
	} else {
		gm->ops = cfg.backend == GM_BACKEND_SIGNAL ? &gm_signal_ops : &gm_uffd_ops;
		snprintf(gm->reason, sizeof(gm->reason), "%s: read-only, so the file is "
			 "mapped directly and the backend has nothing to do", gm->ops->name);
	}
	append_daemon_reason(gm);
	gm_log(&gm->cfg, GM_LOG_DEBUG, "attached fd %d (%zu bytes reserved, %s): %s",
	       fd, gm->reserve, writable ? "read-write" : "read-only", gm->reason);
	*out = gm;
	return 0;

fail_registered:
	registry_remove(gm);
fail:
	destroy(gm);
	return r;
}

GROWMAP_EXPORT void *growmap_addr(const struct growmap *gm)
{
	return gm ? gm->base : NULL;
}

GROWMAP_EXPORT const char *growmap_backend(const struct growmap *gm)
{
	return gm ? gm->ops->name : NULL;
}

GROWMAP_EXPORT const char *growmap_backend_reason(const struct growmap *gm)
{
	return gm ? gm->reason : NULL;
}

GROWMAP_EXPORT int growmap_sync(struct growmap *gm)
{
	int r = handle_check(gm);
	if (r < 0)
		return r;
	if (!gm->writable)
		return 0;
	return gm_writeback_sync(gm, true);
}

GROWMAP_EXPORT int growmap_set_size(struct growmap *gm, off_t size)
{
	int r = handle_check(gm);
	if (r < 0)
		return r;
	if (size < 0 || !gm->writable)
		return -EINVAL;
	gm_writeback_set_size(gm, size);
	return 0;
}

GROWMAP_EXPORT int growmap_clear_error(struct growmap *gm)
{
	int r = handle_check(gm);
	if (r < 0)
		return r;
	return __atomic_exchange_n(&gm->sticky_error, 0, __ATOMIC_ACQ_REL);
}

GROWMAP_EXPORT int growmap_stats(const struct growmap *gm,
				 struct growmap_stats *st)
{
	if (!st)
		return -EINVAL;
	int r = handle_check(gm);
	if (r < 0)
		return r;
#define LOAD(f) __atomic_load_n(&gm->stats.f, __ATOMIC_RELAXED)
	*st = (struct growmap_stats){
		.faults = LOAD(faults),
		.pages_populated = LOAD(pages_populated),
		.pages_written = LOAD(pages_written),
		.write_batches = LOAD(write_batches),
		.bytes_written = LOAD(bytes_written),
		.syncs = LOAD(syncs),
		.writeback_errors = LOAD(writeback_errors),
	};
#undef LOAD
	return 0;
}

GROWMAP_EXPORT int growmap_close(struct growmap *gm)
{
	int r = handle_check(gm);
	if (r < 0)
		return r;
	if (gm->writable &&
	    (r = gm_writeback_sync(gm, gm->cfg.sync_on_close)) < 0)
		return r;   /* still attached and intact: caller may retry */
	/* Out of the registry before the writeback thread stops, so that
	 * sync_at_exit() never asks a stopped thread for a sync. */
	registry_remove(gm);
	gm_writeback_stop(gm);
	destroy(gm);
	return 0;
}
