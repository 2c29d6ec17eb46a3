/*
 * Public API and region bookkeeping: argument checks, the one-writer rule,
 * the reserved range itself, and the services every backend shares
 * (reserving disk at first touch, reading file data, counting).
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

#include "bitmap.h"
#include "growmap-internal.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000  /* Linux 4.17; older kernels ignore it */
#endif

/* Byte locked (open-file-description lock) by a writable attach, far above
 * any offset applications lock themselves. */
#define GM_LOCK_OFFSET ((off_t)1 << 62)

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
static void registry_install_atfork(void)
{
	pthread_atfork(registry_prefork, registry_postfork, registry_postfork);
}

void gm_registry_atfork(void)
{
	pthread_once(&atfork_once, registry_install_atfork);
}

static bool registry_has_writer_locked(dev_t dev, ino_t ino)
{
	for (struct growmap *g = registry_head; g; g = g->registry_next)
		if (g->writable && g->dev == dev && g->ino == ino)
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

/*
 * Reserve disk for pages [*first, *first + *count) before they become
 * present, so that a store never finds the disk full at writeback (SPEC 5).
 * The window shrinks to the faulting page alone when the whole window does
 * not fit (near ENOSPC, or crossing RLIMIT_FSIZE, which fallocate with
 * FALLOC_FL_KEEP_SIZE does not check). Returns 0 or the negative errno
 * the faulting thread's SIGBUS stands for.
 */
int gm_reserve_disk(struct growmap *gm, size_t fault_page, size_t *first,
		    size_t *count)
{
	size_t ps = gm->page_size;
	struct rlimit lim;
	if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
		size_t limit_pages = lim.rlim_cur / ps;
		if (fault_page >= limit_pages)
			return -EFBIG;
		if (*first + *count > limit_pages)
			*count = limit_pages - *first;
	}
	for (;;) {
		if (fallocate(gm->fd, FALLOC_FL_KEEP_SIZE, (off_t)(*first * ps),
			      (off_t)(*count * ps)) == 0)
			return 0;
		int err = errno;
		if (err == EINTR)
			continue;
		if (err == EOPNOTSUPP)
			return 0;     /* cannot reserve here: writeback may meet ENOSPC */
		if (*count > 1) {     /* retry with the faulting page alone */
			*first = fault_page;
			*count = 1;
			continue;
		}
		return -err;
	}
}

/* Fill 'buf' with the file's bytes for pages [first, first + count): zeros
 * where the file has none. Returns 0 or a negative errno (EIO). */
int gm_read_file(struct growmap *gm, size_t first, size_t count, char *buf)
{
	size_t ps = gm->page_size;
	size_t len = count * ps, done = 0;
	off_t off = (off_t)(first * ps);
	int64_t data_size = __atomic_load_n(&gm->data_size, __ATOMIC_ACQUIRE);
	if (off < data_size) {
		size_t want = (size_t)(data_size - off) < len ? (size_t)(data_size - off) : len;
		while (done < want) {
			ssize_t n = pread(gm->fd, buf + done, want - done, off + (off_t)done);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (n == 0)
				break;   /* the file is shorter than we thought */
			done += (size_t)n;
		}
	}
	memset(buf + done, 0, len - done);
	return 0;
}

/* Account pages a backend made present, and start background writeback
 * once enough of them accumulated. Async-signal-safe. */
void gm_note_populated(struct growmap *gm, size_t first, size_t count)
{
	for (size_t p = first; p < first + count; p++)
		bitmap_set_atomic(gm->populated, p);
	gm_stat_add(gm, pages_populated, count);
	if (!gm->writable)
		return;
	uint64_t before = __atomic_fetch_add(&gm->populated_since_writeback, count,
					     __ATOMIC_RELAXED);
	if (before < gm->cfg.dirty_limit_pages &&
	    before + count >= gm->cfg.dirty_limit_pages)
		gm_writeback_kick(gm);
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
static int open_private(struct growmap *gm, int fd)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int own = open(proc, (gm->writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
	if (own >= 0) {
		struct stat st;
		if (fstat(own, &st) == 0 && st.st_dev == gm->dev && st.st_ino == gm->ino) {
			gm->fd = own;
			return 0;
		}
		close(own);
	}
	gm->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return gm->fd < 0 ? -errno : 0;
}

static int take_writer_lock(struct growmap *gm)
{
	struct flock fl = {
		.l_type = F_WRLCK, .l_whence = SEEK_SET,
		.l_start = GM_LOCK_OFFSET, .l_len = 1,
	};
	if (fcntl(gm->fd, F_OFD_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			return -EBUSY;
		if (errno == ENOLCK)
			return 0;   /* no locks on this filesystem: in-process rule only */
		return -errno;
	}
	gm->ofd_locked = true;
	return 0;
}

static void drop_writer_lock(struct growmap *gm)
{
	if (!gm->ofd_locked)
		return;
	struct flock fl = {
		.l_type = F_UNLCK, .l_whence = SEEK_SET,
		.l_start = GM_LOCK_OFFSET, .l_len = 1,
	};
	fcntl(gm->fd, F_OFD_SETLK, &fl);
	gm->ofd_locked = false;
}

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
 * huge page tables line up with the range. */
static int choose_range(struct growmap *gm)
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
	pthread_mutex_lock(&registry_lock);
	gm->base = gm->io_base = area;
	gm->guard_page = true;
	pthread_mutex_unlock(&registry_lock);
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
static int place_range(struct growmap *gm, char *at)
{
	size_t ps = gm->page_size;
	if (((uintptr_t)at & (ps - 1)) || (uintptr_t)at > UINTPTR_MAX - gm->reserve - ps)
		return -EINVAL;
	pthread_mutex_lock(&registry_lock);
	struct growmap *below = NULL;
	for (struct growmap *g = registry_head; g; g = g->registry_next)
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
		gm->base = gm->io_base = at;
		gm->guard_page = guard;
		if (below)
			below->guard_page = false;
	} else if (below && (map_placeholder(at, ps) < 0 ||
			     madvise(at, ps, MADV_DONTFORK) < 0)) {
		below->guard_page = false;  /* lost the page to a racing mmap */
	}
	pthread_mutex_unlock(&registry_lock);
	return r < 0 ? -EINVAL : 0;
}

/* Unmaps the range and its guard page. A range ending where this one
 * starts, whose guard page this one took over, gets a guard again. */
static void release_range(struct growmap *gm)
{
	size_t ps = gm->page_size;
	pthread_mutex_lock(&registry_lock);
	munmap(gm->base, gm->reserve + (gm->guard_page ? ps : 0));
	for (struct growmap *g = registry_head; g; g = g->registry_next)
		if (g != gm && g->base && !g->guard_page && g->base + g->reserve == gm->base) {
			if (map_placeholder(gm->base, ps) == 0 &&
			    madvise(gm->base, ps, MADV_DONTFORK) == 0)
				g->guard_page = true;
			break;
		}
	gm->base = NULL;
	pthread_mutex_unlock(&registry_lock);
}

/*
 * A writable range is a memfd (shmem) mapped MAP_SHARED, so another
 * process (the daemon) can map the very same pages, and a backend pages
 * the file in and out of it. A read-only range needs no paging: it is the
 * file itself, mapped read-only up to the end of its last page, then
 * anonymous zeros; loads are as fast as the kernel's own mapping and
 * nothing can be written. Either way a PROT_NONE guard page follows, so
 * access beyond the reservation is SIGSEGV (but see place_range()), and
 * the whole range is MADV_DONTFORK: a child process has nothing there
 * (growmap_open(3)). 'at' is the caller's address, or NULL.
 */
static int map_region(struct growmap *gm, off_t file_size, char *at)
{
	int r = at ? place_range(gm, at) : choose_range(gm);
	if (r < 0)
		return r;
	char *area = gm->base;
	if (gm->writable) {
		gm->memfd = memfd_create("growmap", MFD_CLOEXEC);
		if (gm->memfd < 0)
			return -errno;
		if (ftruncate(gm->memfd, (off_t)gm->reserve) < 0)
			return -errno;
		if (mmap(area, gm->reserve, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 gm->memfd, 0) == MAP_FAILED)
			return -errno;
	} else {
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
	}
	if (madvise(area, gm->reserve + (gm->guard_page ? gm->page_size : 0),
		    MADV_DONTFORK) < 0)
		return -errno;
	return 0;
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
		release_range(gm);
	if (gm->memfd >= 0)
		close(gm->memfd);
	drop_writer_lock(gm);
	if (gm->fd >= 0)
		close(gm->fd);
	free(gm->populated);
	pthread_mutex_destroy(&gm->resolve_lock);
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
	gm->memfd = -1;
	gm->reserve = reserve;
	gm->page_size = ps;
	gm->npages = reserve / ps;
	gm->owner = getpid();
	gm->dev = st.st_dev;
	gm->ino = st.st_ino;
	gm->data_size = st.st_size;
	pthread_mutex_init(&gm->resolve_lock, NULL);
	if ((r = gm_writeback_init(gm)) < 0)
		goto fail;

	if ((r = open_private(gm, fd)) < 0)
		goto fail;
	if (writable && !(gm->populated = bitmap_alloc(gm->npages))) {
		r = -ENOMEM;
		goto fail;
	}

	/* Registry check and insertion happen under one lock hold so two
	 * threads cannot both become the writer. */
	pthread_mutex_lock(&registry_lock);
	if (writable && registry_has_writer_locked(gm->dev, gm->ino))
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

/* Gives back disk that fault-around reserved beyond the final size:
 * ext4 drops it on a same-size truncate, tmpfs on a punch past EOF. */
static void trim_reservation(struct growmap *gm)
{
	struct stat st;
	if (fstat(gm->fd, &st) < 0)
		return;
	if (ftruncate(gm->fd, st.st_size) < 0)
		return;
	off_t from = (st.st_size + (off_t)gm->page_size - 1) & ~((off_t)gm->page_size - 1);
	off_t to = (off_t)gm->reserve;
	if (to > from)
		fallocate(gm->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  from, to - from);
}

GROWMAP_EXPORT int growmap_close(struct growmap *gm)
{
	int r = handle_check(gm);
	if (r < 0)
		return r;
	if (gm->writable) {
		if ((r = gm_writeback_sync(gm, gm->cfg.sync_on_close)) < 0)
			return r;   /* still attached and intact: caller may retry */
		gm_writeback_stop(gm);
		trim_reservation(gm);
	}
	registry_remove(gm);
	destroy(gm);
	return 0;
}
