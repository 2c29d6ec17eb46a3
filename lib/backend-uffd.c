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
 * Needs userfaultfd missing-page faults on anonymous memory, with the
 * REMAP event and the faulting thread's id (Linux 4.14); write-protect
 * (5.7) lets loads stay loads. Without it, a load of placeholder grows
 * the file like a store until the next sync settles the exact size.
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
	int wake_fd;               /* eventfd: wakes the service thread, to exit
				    * ('stopping') or to read while a remap
				    * waits ('remapping') */
	pthread_t thread;
	bool thread_running;
	bool wp;                   /* write-protect mode registered */
	bool remapping;            /* uffd_to_placeholder() is moving pages */
	bool stopping;             /* uffd_detach() waits for the thread */
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


/* Wakes the service thread from poll(2). (An eventfd write of 1 fails
 * only when the counter is near overflow, which a reader empties.) */
static void wake_service(struct uffd_backend *ub)
{
	uint64_t one = 1;
	while (write(ub->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void wake_range(struct uffd_backend *ub, char *at, size_t len)
{
	struct uffdio_range wake = { .start = (unsigned long)at, .len = len };
	uffd_ioctl_range(ub->uffd, UFFDIO_WAKE, &wake);
}

/* Registers 'len' bytes at 'at' for missing-page faults, and for
 * write-protect faults where the kernel offers them. */
static int register_at(struct uffd_backend *ub, char *at, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)at, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING | (ub->wp ? UFFDIO_REGISTER_MODE_WP : 0),
	};
	return uffd_ioctl_range(ub->uffd, UFFDIO_REGISTER, &reg);
}

/* Registers [from, to) of the range: placeholder from now on. */
static int register_range(struct growmap *gm, size_t from, size_t to)
{
	size_t ps = gm->page_size;
	return register_at(gm->backend, gm->base + from * ps, (to - from) * ps);
}

/*
 * While uffd_to_placeholder() moves pages (with the grow lock held), the
 * service thread reads the descriptor: the mremap(2) there returns only
 * once the REMAP event it queued has been read, and the event needs
 * nothing more. The thread of a fault read meanwhile is woken unserved,
 * to fault again once the mover is done.
 */
static void read_while_remapping(struct growmap *gm, struct uffd_backend *ub)
{
	while (__atomic_load_n(&ub->remapping, __ATOMIC_ACQUIRE)) {
		struct uffd_msg msgs[UFFD_MSG_BATCH];
		ssize_t n = read(ub->uffd, msgs, sizeof(msgs));
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++)
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				wake_range(ub, (char *)(uintptr_t)(msgs[i].arg.pagefault.address &
						~(uint64_t)(gm->page_size - 1)), gm->page_size);
		sched_yield();
	}
}

/* The grow lock, for the service thread: its holder may be moving pages. */
static void lock_serving(struct growmap *gm, struct uffd_backend *ub)
{
	while (!gm_grow_trylock(gm)) {
		read_while_remapping(gm, ub);
		sched_yield();
	}
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
	lock_serving(gm, ub);
	if (store)
		answer_store(gm, page, (pid_t)msg->arg.pagefault.feat.ptid);
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
		{ .fd = ub->wake_fd, .events = POLLIN },
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
			if (pfd[1].revents) {
				uint64_t v;
				if (read(ub->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					break;
				if (__atomic_load_n(&ub->stopping, __ATOMIC_ACQUIRE))
					break;
				read_while_remapping(gm, ub);
				continue;
			}
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
	/* UFFDIO_API answers once per descriptor: this first one tells what
	 * the kernel offers, the second is the one used. Beyond missing-page
	 * faults the backend needs UFFD_FEATURE_EVENT_REMAP (Linux 4.11), so
	 * that pages go back to placeholder without an unregistered instant
	 * (uffd_to_placeholder()), and UFFD_FEATURE_THREAD_ID (4.14), for the
	 * last resort of answer_store(). Write-protect is asked for at
	 * registration and done without where refused. */
	const uint64_t need = UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_THREAD_ID;
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int r = ioctl(probe, UFFDIO_API, &api) < 0 ? -errno : 0;
	close(probe);
	if (r == 0 && (api.features & need) != need) {
		snprintf(gm->reason, sizeof(gm->reason), "no userfaultfd: the kernel "
			 "lacks%s%s", api.features & UFFD_FEATURE_EVENT_REMAP ? "" :
			 " UFFD_FEATURE_EVENT_REMAP", api.features & UFFD_FEATURE_THREAD_ID ?
			 "" : " UFFD_FEATURE_THREAD_ID");
		return -EOPNOTSUPP;
	}
	if (r == 0) {
		ub->uffd = uffd_create(mode);
		r = ub->uffd;
	}
	api = (struct uffdio_api){ .api = UFFD_API, .features = need };
	if (r >= 0 && ioctl(ub->uffd, UFFDIO_API, &api) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(gm->reason, sizeof(gm->reason), "no userfaultfd: UFFDIO_API "
			 "refused (%s)", strerror(-r));
		return -EOPNOTSUPP;
	}
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
		__atomic_store_n(&ub->stopping, true, __ATOMIC_RELEASE);
		wake_service(ub);
		pthread_join(ub->thread, NULL);
	}
	if (ub->uffd >= 0)
		close(ub->uffd);   /* unregisters what it registered */
	if (ub->wake_fd >= 0)
		close(ub->wake_fd);
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
	ub->uffd = ub->wake_fd = -1;
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
	ub->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ub->wake_fd < 0)
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

/*
 * Turns [from, to) back into registered placeholder with no instant in
 * which another thread could touch it unregistered (where a load would
 * read zeros and a store would stay in private memory, unseen): fresh
 * anonymous memory is registered elsewhere, then moved over the pages
 * with mremap(2), which replaces the old mapping in one step under the
 * kernel's mmap lock and, with UFFD_FEATURE_EVENT_REMAP, keeps the
 * registration. An access racing it meets either the file's page (the
 * caller's second look for stored pages sees a store there) or the
 * placeholder, whose fault waits for the grow lock the caller holds.
 * mremap(2) returns once the REMAP event it queued has been read: the
 * service thread, woken first, reads it (read_while_remapping()).
 */
static int uffd_to_placeholder(struct growmap *gm, size_t from, size_t to)
{
	struct uffd_backend *ub = gm->backend;
	size_t ps = gm->page_size;
	size_t len = (to - from) * ps;
	char *fresh = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (fresh == MAP_FAILED)
		return -errno;
	int r = gm_dontfork(gm, fresh, len);
	if (r == 0)
		r = register_at(ub, fresh, len);
	if (r == 0) {
		__atomic_store_n(&ub->remapping, true, __ATOMIC_RELEASE);
		wake_service(ub);
		r = gm_move_over(fresh, len, gm->base + from * ps);
		__atomic_store_n(&ub->remapping, false, __ATOMIC_RELEASE);
	}
	if (r < 0)
		munmap(fresh, len);
	return r;
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
	if (old->wake_fd >= 0)
		close(old->wake_fd);
	struct uffd_backend *ub = calloc(1, sizeof(*ub));
	if (!ub)
		return -ENOMEM;
	ub->uffd = ub->wake_fd = -1;
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
