/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "failshim.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int fdatasync_err, fdatasync_left;
static int poll_err, poll_left;
static unsigned poll_nfds;
static int fallocate_err, fallocate_left;
static int mprotect_err, mprotect_left;
static int mmap_err, mmap_left;
static int mremap_err, mremap_left;
static char *race_addr;
static unsigned char race_byte;
static int delivered;
static pthread_t race_loader;
static bool race_loader_started;
static int race_loaded = -1;
static int race_load_done;

void failshim_mremap(int err, int count)
{
	__atomic_store_n(&mremap_err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&mremap_left, count, __ATOMIC_RELEASE);
}

void failshim_race_at_unmap(void *addr, unsigned char byte)
{
	race_byte = byte;
	race_loaded = -1;
	race_load_done = 0;
	race_loader_started = false;
	__atomic_store_n(&race_addr, (char *)addr, __ATOMIC_RELEASE);
}

int failshim_race_load(void)
{
	if (race_loader_started) {
		pthread_join(race_loader, NULL);
		race_loader_started = false;
	}
	return __atomic_load_n(&race_loaded, __ATOMIC_ACQUIRE);
}

void failshim_mmap_fixed_shared(int err, int count)
{
	__atomic_store_n(&mmap_err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&mmap_left, count, __ATOMIC_RELEASE);
}

void failshim_fallocate(int err, int count)
{
	__atomic_store_n(&fallocate_err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&fallocate_left, count, __ATOMIC_RELEASE);
}

void failshim_mprotect(int err, int count)
{
	__atomic_store_n(&mprotect_err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&mprotect_left, count, __ATOMIC_RELEASE);
}

void failshim_fdatasync(int err, int count)
{
	__atomic_store_n(&fdatasync_err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&fdatasync_left, count, __ATOMIC_RELEASE);
}

void failshim_poll(unsigned nfds, int err, int count)
{
	__atomic_store_n(&poll_nfds, nfds, __ATOMIC_RELAXED);
	__atomic_store_n(&poll_err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&poll_left, count, __ATOMIC_RELEASE);
}

int failshim_delivered(void)
{
	return __atomic_load_n(&delivered, __ATOMIC_ACQUIRE);
}

#if !defined(__SANITIZE_THREAD__)
/* (Under ThreadSanitizer, whose start-up calls mmap(2) before dlsym(3)
 * can serve these, they are left out, and check_fault skips.) */

/* The calls replaced, made directly: what a replacement calls where
 * dlsym(RTLD_NEXT) finds no next definition, in a statically linked
 * program (make check-kernels runs this one in a VM without shared
 * libraries). */
static int sys_fdatasync(int fd)
{
	return (int)syscall(SYS_fdatasync, fd);
}

static int sys_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000 };
	return ppoll(fds, nfds, timeout < 0 ? NULL : &ts, NULL);
}

static int sys_fallocate(int fd, int mode, off_t offset, off_t len)
{
	return (int)syscall(SYS_fallocate, fd, mode, offset, len);
}

static int sys_mprotect(void *addr, size_t len, int prot)
{
	return (int)syscall(SYS_mprotect, addr, len, prot);
}

/* (Always called with the fifth argument.) */
static void *sys_mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	void *to = va_arg(ap, void *);
	va_end(ap);
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, to);
}

static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

/* Sets 'real', if unset, to the next definition of 'name', else to
 * sys_name (never to NULL, even for a moment). */
#define NEXT(real, name)                                                        \
	do {                                                                    \
		if (!(real)) {                                                  \
			__typeof__(real) next_ =                                \
				(__typeof__(real))dlsym(RTLD_NEXT, #name);      \
			(real) = next_ ? next_ : sys_##name;                    \
		}                                                               \
	} while (0)

/* Takes one armed failure, if any is left: its errno, else 0. */
static int take(int *left, const int *err)
{
	int n = __atomic_load_n(left, __ATOMIC_ACQUIRE);
	while (n > 0)
		if (__atomic_compare_exchange_n(left, &n, n - 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			__atomic_add_fetch(&delivered, 1, __ATOMIC_ACQ_REL);
			return __atomic_load_n(err, __ATOMIC_RELAXED);
		}
	return 0;
}

int fdatasync(int fd)
{
	static int (*real)(int);
	NEXT(real, fdatasync);
	int err = take(&fdatasync_left, &fdatasync_err);
	if (err) {
		errno = err;
		return -1;
	}
	return real(fd);
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	static int (*real)(struct pollfd *, nfds_t, int);
	NEXT(real, poll);
	if (nfds == __atomic_load_n(&poll_nfds, __ATOMIC_RELAXED)) {
		int err = take(&poll_left, &poll_err);
		if (err) {
			errno = err;
			return -1;
		}
	}
	return real(fds, nfds, timeout);
}

int fallocate(int fd, int mode, off_t offset, off_t len)
{
	static int (*real)(int, int, off_t, off_t);
	NEXT(real, fallocate);
	int err = take(&fallocate_left, &fallocate_err);
	if (err) {
		errno = err;
		return -1;
	}
	return real(fd, mode, offset, len);
}

int mprotect(void *addr, size_t len, int prot)
{
	static int (*real)(void *, size_t, int);
	NEXT(real, mprotect);
	int err = take(&mprotect_left, &mprotect_err);
	if (err) {
		errno = err;
		return -1;
	}
	return real(addr, len, prot);
}

/* Takes the armed racing store if [addr, addr + len) holds it. */
static char *take_race(void *addr, size_t len)
{
	char *at = __atomic_load_n(&race_addr, __ATOMIC_ACQUIRE);
	if (!at || at < (char *)addr || at >= (char *)addr + len)
		return NULL;
	if (!__atomic_compare_exchange_n(&race_addr, &at, NULL, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return NULL;
	__atomic_add_fetch(&delivered, 1, __ATOMIC_ACQ_REL);
	return at;
}

/* The other thread of an armed race: loads the byte, with the signals
 * the signal backend's handler needs unblocked (the library's threads
 * block them all). */
static void *race_load(void *arg)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_UNBLOCK, &all, NULL);
	__atomic_store_n(&race_loaded, *(volatile unsigned char *)arg, __ATOMIC_RELEASE);
	__atomic_store_n(&race_load_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Just after the pages changed hands: the other thread's load, given up
 * to 200 ms to finish. A backend that leaves no unseen instant makes it
 * wait for the sync (the grow lock the caller holds), so it finishes
 * after; one that leaves the page plain memory lets it finish now. */
static void race_after(char *race)
{
	if (pthread_create(&race_loader, NULL, race_load, race) != 0)
		return;
	race_loader_started = true;
	for (int i = 0; i < 200 && !__atomic_load_n(&race_load_done, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	static void *(*real)(void *, size_t, size_t, int, ...);
	NEXT(real, mremap);
	void *to = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		to = va_arg(ap, void *);
		va_end(ap);
	}
	int err = take(&mremap_left, &mremap_err);
	if (err) {
		errno = err;
		return MAP_FAILED;
	}
	char *race = to ? take_race(to, new_len) : NULL;
	if (race)
		*(volatile unsigned char *)race = race_byte;
	void *r = real(old, old_len, new_len, flags, to);
	if (race && r != MAP_FAILED)
		race_after(race);
	return r;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static void *(*real)(void *, size_t, int, int, int, off_t);
	NEXT(real, mmap);
	if ((flags & (MAP_FIXED | MAP_SHARED)) == (MAP_FIXED | MAP_SHARED)) {
		int err = take(&mmap_left, &mmap_err);
		if (err) {
			errno = err;
			return MAP_FAILED;
		}
	}
	char *race = NULL;
	if ((flags & (MAP_FIXED | MAP_ANONYMOUS)) == (MAP_FIXED | MAP_ANONYMOUS))
		race = take_race(addr, len);
	if (race)
		*(volatile unsigned char *)race = race_byte;
	void *r = real(addr, len, prot, flags, fd, off);
	if (race && r != MAP_FAILED)
		race_after(race);
	return r;
}
#endif /* !__SANITIZE_THREAD__ */
