/* SPDX-License-Identifier: MIT */
/*
 * The userfaultfd backend.
 *
 * The placeholder part of the range (see grow.c) is anonymous memory
 * registered with userfaultfd for missing-page and write-protect faults.
 * A dedicated service thread reads the fault messages:
 *  - a store (or a kernel write into the range, e.g. read(2) into it)
 *    grows the file and maps it over a window of pages (gm_grow_store),
 *    then wakes the faulting thread, which retries on the file page;
 *  - a load is answered with a page of zeros (or of the file's bytes,
 *    below its size) copied in write-protected: the file does not grow,
 *    and a later store to that page is a write-protect fault, which grows
 *    the file as above.
 * So once a page is the file, stores and loads cost what they cost on the
 * kernel's own mapping, and a completed store is in the page cache.
 *
 * When a store cannot be backed (ENOSPC, EDQUOT, EFBIG), the page is
 * mapped from the file beyond its end and the thread woken: its store
 * raises the kernel's own SIGBUS (BUS_ADRERR), as with a plain mapping,
 * and the error becomes the mapping's sticky error. The next durable sync
 * returns such pages to placeholder, so they can be tried again.
 *
 * Needs userfaultfd missing-page faults on anonymous memory (Linux 4.3);
 * write-protect (5.7) lets loads stay loads. Without it, a load of
 * placeholder grows the file like a store until the next sync settles
 * the exact size.
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

#include "growmap-internal.h"
#include "uffd-compat.h"

#define UFFD_MSG_BATCH 64
#define SPIN_NS 50000             /* see spin_read() */

struct uffd_backend {
	int uffd;
	int stop_fd;               /* eventfd: wakes the service thread to exit */
	int pagemap_fd;            /* /proc/self/pagemap, for to_placeholder's salvage */
	pthread_t thread;
	bool thread_running;
	bool wp;                   /* write-protect mode registered */
	bool thread_id;            /* fault messages carry the thread id */
	char *page_buf;            /* one page, for loads */
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

static int uffd_ioctl_range(int uffd, unsigned long req, void *arg)
{
	for (;;) {
		if (ioctl(uffd, req, arg) == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
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


static void wake_range(struct uffd_backend *ub, char *at, size_t len)
{
	struct uffdio_range wake = { .start = (unsigned long)at, .len = len };
	uffd_ioctl_range(ub->uffd, UFFDIO_WAKE, &wake);
}

/* Registers [from, to) of the range: placeholder from now on. */
static int register_range(struct growmap *gm, size_t from, size_t to)
{
	struct uffd_backend *ub = gm->backend;
	size_t ps = gm->page_size;
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)(gm->base + from * ps),
			   .len = (to - from) * ps },
		.mode = UFFDIO_REGISTER_MODE_MISSING | (ub->wp ? UFFDIO_REGISTER_MODE_WP : 0),
	};
	return uffd_ioctl_range(ub->uffd, UFFDIO_REGISTER, &reg);
}

/* A load of placeholder: zeros, or the file's bytes below its size,
 * copied in write-protected so that a later store is seen. */
static void answer_load(struct growmap *gm, size_t page)
{
	struct uffd_backend *ub = gm->backend;
	size_t ps = gm->page_size;
	char *at = gm->base + page * ps;
	/* Through growmapd another process may store there: the file's own
	 * page, so that this one sees those stores. (Alone, a page wholly
	 * inside the file is never placeholder: only the partial last one,
	 * whose copy keeps a store into it seen.) */
	enum gm_page_at where = gm_page_at(gm, page);
	if (gm->daemon) {
		int r = -EAGAIN;
		if (where == GM_PAGE_INSIDE) {
			r = gm_map_file_pages(gm, page, 1, PROT_READ | PROT_WRITE);
			if (r == 0 && page + 1 > gm->grow.mapped_end)
				gm->grow.mapped_end = page + 1;
		} else if (where == GM_PAGE_BEYOND) {
			r = gm_grow_for_load(gm, page);
		}
		if (r == 0) {
			wake_range(ub, at, ps);
			return;
		}
	}
	if (where != GM_PAGE_BEYOND) {
		if (gm_read_page(gm, page, ub->page_buf) < 0)
			memset(ub->page_buf, 0, ps);
	} else {
		memset(ub->page_buf, 0, ps);
	}
	struct uffdio_copy c = {
		.dst = (unsigned long)at, .src = (unsigned long)ub->page_buf, .len = ps,
		.mode = UFFDIO_COPY_MODE_WP,
	};
	/* EEXIST: resolved already; EAGAIN/ENOENT: the range changed hands
	 * meanwhile. Either way the thread retries its access and faults
	 * again if it must. */
	if (ioctl(ub->uffd, UFFDIO_COPY, &c) < 0)
		wake_range(ub, at, ps);
	gm_stat_add(gm, pages_populated, 1);
}

/* A store into placeholder: grow, or make the thread's store raise
 * SIGBUS when the disk cannot back it. */
static void answer_store(struct growmap *gm, size_t page, pid_t tid)
{
	struct uffd_backend *ub = gm->backend;
	size_t ps = gm->page_size;
	size_t first, count;
	if (gm_grow_recent(gm, page)) {
		wake_range(ub, gm->base + page * ps, ps);
		return;
	}
	int r = gm_grow_store(gm, page, &first, &count);
	if (r == 0) {
		wake_range(ub, gm->base + first * ps, count * ps);
		return;
	}
	gm_record_error(gm, r);
	/* The file's page beyond its end: the kernel raises SIGBUS at the
	 * store. Below the end (a hole), the file system's own page_mkwrite
	 * fails the same way on a full disk. */
	if (gm_map_file_pages(gm, page, 1, PROT_READ | PROT_WRITE) == 0) {
		if (page + 1 > gm->grow.mapped_end)
			gm->grow.mapped_end = page + 1;
	} else if (tid > 0) {
		/* Even that failed: signal the faulting thread itself, else
		 * it would fault here again and again. */
		syscall(SYS_tgkill, getpid(), tid, SIGBUS);
	}
	wake_range(ub, gm->base + page * ps, ps);
}

static void serve_fault(struct growmap *gm, const struct uffd_msg *msg)
{
	char *addr = (char *)(uintptr_t)msg->arg.pagefault.address;
	if (addr < gm->base || addr >= gm->base + gm->reserve)
		return;
	size_t page = (size_t)(addr - gm->base) / gm->page_size;
	struct uffd_backend *ub = gm->backend;
	bool store = !ub->wp || (msg->arg.pagefault.flags &
				 (UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP));
	gm_stat_add(gm, faults, 1);
	gm_grow_lock(gm);
	if (store)
		answer_store(gm, page, ub->thread_id ? (pid_t)msg->arg.pagefault.feat.ptid : 0);
	else
		answer_load(gm, page);
	gm_grow_unlock(gm);
}

static void *service_main(void *arg)
{
	struct growmap *gm = arg;
	struct uffd_backend *ub = gm->backend;
	pthread_setname_np(pthread_self(), "growmap-uffd");
	struct uffd_msg msgs[UFFD_MSG_BATCH];
	struct pollfd pfd[2] = {
		{ .fd = ub->uffd, .events = POLLIN },
		{ .fd = ub->stop_fd, .events = POLLIN },
	};
	bool spin = false, poll_failed = false;
	for (;;) {
		ssize_t n = spin ? spin_read(ub, msgs, sizeof(msgs)) : -1;
		if (n < 0) {
			if (poll(pfd, 2, -1) < 0) {
				/* Never leave: a fault nobody serves hangs its
				 * thread for good. ENOMEM passes; say so once. */
				if (errno != EINTR && !poll_failed) {
					gm_log(&gm->cfg, GM_LOG_ERROR, "uffd: poll: %s; "
					       "retrying", strerror(errno));
					poll_failed = true;
				}
				if (errno != EINTR)
					usleep(1000);
				continue;
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
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++)
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				serve_fault(gm, &msgs[i]);
	}
	return NULL;
}

/* Sets ub->uffd up, or says why it cannot be had. */
static int uffd_open(struct growmap *gm, struct uffd_backend *ub)
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
	snprintf(gm->reason, sizeof(gm->reason), "%s", uffd_mode_text[mode]);
	ub->uffd = probe;
	/* Missing-page faults are all the backend needs; write-protect is
	 * asked for at registration and done without where refused. */
	/* The faulting thread's id (Linux 4.14), where offered, is for the
	 * last resort of answer_store(). A refused UFFDIO_API may leave the
	 * descriptor unusable, so the second try is on a new one. */
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_THREAD_ID };
	ub->thread_id = true;
	if (ioctl(ub->uffd, UFFDIO_API, &api) < 0) {
		close(ub->uffd);
		ub->uffd = uffd_create(mode);
		ub->thread_id = false;
		api = (struct uffdio_api){ .api = UFFD_API, .features = 0 };
		if (ub->uffd < 0 || ioctl(ub->uffd, UFFDIO_API, &api) < 0) {
			snprintf(gm->reason, sizeof(gm->reason), "no userfaultfd: UFFDIO_API "
				 "refused (%s)", strerror(ub->uffd < 0 ? -ub->uffd : errno));
			return -EOPNOTSUPP;
		}
	}
	ub->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	return 0;
}

/* Sets ub->uffd up and registers the placeholder above the size at
 * attach, or says why it cannot be had. */
static int uffd_setup(struct growmap *gm, struct uffd_backend *ub)
{
	int r = uffd_open(gm, ub);
	if (r < 0)
		return r;
	if (gm->grow.attach_page >= gm->npages)
		return 0;        /* the file fills the range: nothing to serve */
	ub->wp = true;
	r = register_range(gm, gm->grow.attach_page, gm->npages);
	if (r == -EINVAL) {      /* no write-protect on anonymous memory here */
		ub->wp = false;
		r = register_range(gm, gm->grow.attach_page, gm->npages);
		size_t len = strlen(gm->reason);
		snprintf(gm->reason + len, sizeof(gm->reason) - len,
			 "; no write-protect: a load beyond the end grows the file "
			 "until the next sync");
	}
	return r;
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
	if (ub->uffd >= 0)
		close(ub->uffd);   /* unregisters what it registered */
	if (ub->stop_fd >= 0)
		close(ub->stop_fd);
	if (ub->pagemap_fd >= 0)
		close(ub->pagemap_fd);
	free(ub->page_buf);
	free(ub);
	gm->backend = NULL;
}

static int uffd_start(struct growmap *gm, struct uffd_backend *ub);

static int uffd_attach(struct growmap *gm)
{
	struct uffd_backend *ub = calloc(1, sizeof(*ub));
	if (!ub)
		return -ENOMEM;
	ub->uffd = ub->stop_fd = ub->pagemap_fd = -1;
	gm->backend = ub;
	ub->page_buf = aligned_alloc(gm->page_size, gm->page_size);
	if (!ub->page_buf)
		return -ENOMEM;
	size_t ps = gm->page_size;
	size_t from = gm->grow.attach_page;
	int r;
	if (from < gm->npages &&
	    mmap(gm->base + from * ps, (gm->npages - from) * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
		return -errno;
	if (from < gm->npages &&
	    (r = gm_dontfork(gm, gm->base + from * ps, (gm->npages - from) * ps)) < 0)
		return r;
	r = uffd_setup(gm, ub);
	if (r < 0)
		return r;
	return uffd_start(gm, ub);
}

/* Starts the fault-service thread. */
static int uffd_start(struct growmap *gm, struct uffd_backend *ub)
{
	ub->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (ub->stop_fd < 0)
		return -errno;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&ub->thread, NULL, service_main, gm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	ub->thread_running = true;
	return 0;
}

/* Was the anonymous page at 'addr' written (a private copy, not the
 * shared zero page)? /proc/self/pagemap's "exclusively mapped" bit. */
static bool anon_page_written(struct uffd_backend *ub, const char *addr, size_t ps)
{
	uint64_t entry = 0;
	if (ub->pagemap_fd < 0)
		return true;      /* cannot tell: keep it */
	off_t off = (off_t)((uintptr_t)addr / ps * sizeof(entry));
	if (pread(ub->pagemap_fd, &entry, sizeof(entry), off) != sizeof(entry))
		return true;
	return (entry >> 63 & 1) && (entry >> 56 & 1);
}

/* Copies a store that slipped into anonymous memory into the file. The
 * anonymous page started as zeros, so its non-zero bytes are the store;
 * the file's page may hold an earlier store of the same instant, which
 * its other bytes keep. (A zero byte stored in that instant over a
 * non-zero one is the one thing not kept.) */
static void salvage_page(struct growmap *gm, const char *anon, size_t page)
{
	struct uffd_backend *ub = gm->backend;
	size_t ps = gm->page_size;
	if (gm_read_page(gm, page, ub->page_buf) < 0) {
		gm_record_error(gm, -EIO);
		return;
	}
	for (size_t i = 0; i < ps; i++)
		if (anon[i])
			ub->page_buf[i] = anon[i];
	if (pwrite(gm->fd, ub->page_buf, ps, (off_t)(page * ps)) != (ssize_t)ps)
		gm_record_error(gm, -EIO);
}

/*
 * Turns [from, to) back into registered placeholder. Between mapping the
 * anonymous memory and registering it, another thread may touch it and
 * get an ordinary anonymous page, which userfaultfd never sees. With
 * 'salvage' such a page, if it was stored into, is write-protected and
 * copied into the file (which still covers it), so the store is kept;
 * then every page is dropped so that the next access faults.
 */
static int uffd_to_placeholder(struct growmap *gm, size_t from, size_t to, bool salvage)
{
	struct uffd_backend *ub = gm->backend;
	size_t ps = gm->page_size;
	char *at = gm->base + from * ps;
	size_t len = (to - from) * ps;
	int r = gm_remap(at, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	if (r == 0)
		r = gm_dontfork(gm, at, len);
	if (r < 0)
		return r;
	r = register_range(gm, from, to);
	if (r < 0)
		return r;
	if (salvage) {
		if (ub->wp) {
			struct uffdio_writeprotect wp = {
				.range = { .start = (unsigned long)at, .len = len },
				.mode = UFFDIO_WRITEPROTECT_MODE_WP,
			};
			uffd_ioctl_range(ub->uffd, UFFDIO_WRITEPROTECT, &wp);
		}
		unsigned char vec[256];
		for (size_t p = 0; p < to - from; p += sizeof(vec)) {
			size_t n = to - from - p < sizeof(vec) ? to - from - p : sizeof(vec);
			if (mincore(at + p * ps, n * ps, vec) < 0)
				break;
			for (size_t i = 0; i < n; i++) {
				char *pg = at + (p + i) * ps;
				if (!(vec[i] & 1) || !anon_page_written(ub, pg, ps))
					continue;
				salvage_page(gm, pg, from + p + i);
			}
		}
	}
	madvise(at, len, MADV_DONTNEED);
	return 0;
}

/* One run of anonymous memory the child inherited: the parent's answers
 * to loads are dropped (the next access faults here again), and the run
 * is registered with the child's own userfaultfd. */
static int register_inherited(struct growmap *gm, size_t first, size_t count)
{
	struct uffd_backend *ub = gm->backend;
	if (madvise(gm->base + first * gm->page_size, count * gm->page_size,
		    MADV_DONTNEED) < 0)
		return -errno;
	int r = register_range(gm, first, first + count);
	if (r == -EINVAL && ub->wp) {
		ub->wp = false;
		r = register_range(gm, first, first + count);
	}
	return r;
}

/*
 * The child of fork() inherited the range (through growmapd) without the
 * parent's userfaultfd: the kernel left the child's placeholder plain
 * anonymous memory, where a store would stay private. Before fork()
 * returns in the child, that memory is registered with a userfaultfd of
 * the child's own, served by a thread of its own.
 */
static int uffd_after_fork(struct growmap *gm)
{
	struct uffd_backend *old = gm->backend;
	if (old->uffd >= 0)
		close(old->uffd);
	if (old->stop_fd >= 0)
		close(old->stop_fd);
	if (old->pagemap_fd >= 0)
		close(old->pagemap_fd);
	struct uffd_backend *ub = calloc(1, sizeof(*ub));
	if (!ub)
		return -ENOMEM;
	ub->uffd = ub->stop_fd = ub->pagemap_fd = -1;
	ub->wp = old->wp;
	gm->backend = ub;
	free(old->page_buf);   /* the child's copies (no lock of them is taken) */
	free(old);
	ub->page_buf = aligned_alloc(gm->page_size, gm->page_size);
	if (!ub->page_buf)
		return -ENOMEM;
	char reason[sizeof(gm->reason)];
	memcpy(reason, gm->reason, sizeof(reason));
	int r = uffd_open(gm, ub);
	memcpy(gm->reason, reason, sizeof(reason));
	if (r == 0)
		r = gm_each_placeholder_run(gm, register_inherited);
	if (r == 0)
		r = uffd_start(gm, ub);
	return r;
}

const struct gm_backend_ops gm_uffd_ops = {
	.name = "uffd",
	.attach = uffd_attach,
	.to_placeholder = uffd_to_placeholder,
	.detach = uffd_detach,
	.after_fork = uffd_after_fork,
};
