/* SPDX-License-Identifier: MIT */
/*
 * The signal backend: the classic PROT_NONE + SIGSEGV pager, for kernels
 * or processes without userfaultfd, and the baseline the userfaultfd
 * backend is measured against.
 *
 * The placeholder part of the range (see grow.c) is anonymous PROT_NONE
 * memory. The SIGSEGV handler answers a fault there:
 *  - a store grows the file and maps it over a window of pages
 *    (gm_grow_store), and the store is retried on the file page;
 *  - a load makes the page readable: zeros, or the file's own page
 *    read-only below its size; a later store to it faults again and
 *    grows the file as above.
 * Only x86 tells a store from a load up front; elsewhere every fault is
 * taken for a store, so a load beyond the end grows the file until the
 * next sync settles the exact size.
 *
 * When a store cannot be backed (ENOSPC, EDQUOT, EFBIG) the handler
 * raises SIGBUS for the faulting thread, as a plain mapping would on a
 * full disk; the page stays placeholder and may be stored into again.
 * The kernel touching placeholder (read(2) into it) gets EFAULT, not a
 * signal: the limit of this backend (growmap(7)).
 *
 * The handler uses only async-signal-safe operations: system calls,
 * atomics and the grow lock (a spin lock); no malloc, no stdio, no
 * pthread locks. Faults outside growmap's regions (or in a child after
 * fork) go to the handler installed before growmap's, or get the default
 * action.
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

#include "growmap-internal.h"

#define MAX_REGIONS 256     /* signal-backend mappings per process */

struct signal_backend {
	int slot;                   /* index in the region table */
};

/* Regions the handler serves; read lock-free by the handler. */
static struct growmap *regions[MAX_REGIONS];
static int handlers_running;       /* handlers inside region code; atomic */
static struct sigaction previous_segv;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;

/* Was the fault a store? Only x86 tells us up front. */
#if defined(__x86_64__)
#define FAULT_KIND_KNOWN 1
#else
#define FAULT_KIND_KNOWN 0
#endif
static bool fault_is_store(const void *ucontext)
{
#if defined(__x86_64__)
	const ucontext_t *uc = ucontext;
	return uc && (uc->uc_mcontext.gregs[REG_ERR] & 2);
#else
	(void)ucontext;
	return true;
#endif
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
	pid_t tid = (pid_t)syscall(SYS_gettid);
	/* Queuing with an address can fail (EAGAIN: too many signals
	 * pending); the plain signal cannot, and still ends the loop. */
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGBUS, &info) < 0)
		syscall(SYS_tgkill, getpid(), tid, SIGBUS);
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
		struct growmap *gm = __atomic_load_n(&regions[i], __ATOMIC_SEQ_CST);
		if (gm && addr >= gm->base && addr < gm->base + gm->reserve)
			return gm;
	}
	return NULL;
}

/* A load of placeholder: the file's page read-only below its size,
 * else the anonymous page itself, readable (zeros). */
static int answer_load(struct growmap *gm, size_t page)
{
	size_t ps = gm->page_size;
	if (gm_page_at(gm, page) != GM_PAGE_BEYOND)
		return gm_map_file_pages(gm, page, 1, PROT_READ);
	/* Through growmapd: the file's page, which shows others' stores. */
	if (gm->daemon && gm_grow_for_load(gm, page) == 0)
		return 0;
	return mprotect(gm->base + page * ps, ps, PROT_READ) < 0 ? -errno : 0;
}

static void segv_handler(int sig, siginfo_t *info, void *ucontext)
{
	int saved_errno = errno;
	/* Sequentially consistent with signal_detach(): either it sees this
	 * handler running or this handler sees the region gone. */
	__atomic_add_fetch(&handlers_running, 1, __ATOMIC_SEQ_CST);
	char *addr = info->si_addr;
	struct growmap *gm = region_of(addr);
	if (!gm || gm->owner != getpid()) {
		__atomic_sub_fetch(&handlers_running, 1, __ATOMIC_ACQ_REL);
		errno = saved_errno;
		chain(sig, info, ucontext);
		return;
	}
	size_t page = (size_t)(addr - gm->base) / gm->page_size;
	size_t first, count;
	int r;
	gm_stat_add(gm, faults, 1);
	/* Another thread may have mapped the page since this one faulted:
	 * mapping the file there again loses nothing (the page cache holds
	 * the bytes), so no check is needed. */
	gm_grow_lock(gm);
	if (fault_is_store(ucontext))
		r = gm_grow_store(gm, page, &first, &count);
	else
		r = answer_load(gm, page);
	gm_grow_unlock(gm);
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
	(void)FAULT_KIND_KNOWN;
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
		__atomic_store_n(&regions[sb->slot], NULL, __ATOMIC_SEQ_CST);
		/* A handler that found the region before it left the table may
		 * still be using it. */
		while (__atomic_load_n(&handlers_running, __ATOMIC_SEQ_CST))
			sched_yield();
	}
	free(sb);
	gm->backend = NULL;
}

/* Back to PROT_NONE: the next access faults into the handler, which waits
 * for the grow lock the caller holds, so nothing can slip in. */
static int signal_to_placeholder(struct growmap *gm, size_t from, size_t to)
{
	size_t ps = gm->page_size;
	char *at = gm->base + from * ps;
	size_t len = (to - from) * ps;
	int r = gm_remap(at, len, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	return r < 0 ? r : gm_dontfork(gm, at, len);
}

/* The child inherited the placeholder as it is (PROT_NONE, or readable
 * zeros) and the handler with it, which serves the child from now on. */
static int signal_after_fork(struct growmap *gm)
{
	(void)gm;
	return 0;
}

const struct gm_backend_ops gm_signal_ops = {
	.name = "signal",
	.attach = signal_attach,
	.to_placeholder = signal_to_placeholder,
	.detach = signal_detach,
	.after_fork = signal_after_fork,
};
