/* SPDX-License-Identifier: MIT */
/* Helpers shared by growmap's Check suites. */
#ifndef GROWMAP_TESTUTIL_H
#define GROWMAP_TESTUTIL_H

#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <growmap.h>

#include "refuse-syscall.h"

/* The page size, sysconf(_SC_PAGESIZE), set before main(). */
extern size_t page_size;

/* The backend under test, "uffd" or "signal" (a program's runner, or
 * stress's --backend, sets it before anything else), and whether every
 * attach goes through a growmapd the program started (tu_start_daemon). */
extern const char *tu_backend;
extern bool tu_through_daemon;

/* Is the backend under test the one named? */
bool tu_backend_is(const char *name);

/* Selects tu_backend for growmap_open() in this process (and its
 * children), and, unless tu_through_daemon, no daemon. */
void tu_select_backend(void);

/* Exits 77 (skip) with the reason when the backend cannot run here.
 * Probes in a child process, leaving this one untouched. */
void tu_require_backend(void);

/* Can system calls read into / write from untouched pages of gm's range?
 * Not with the signal backend, nor with user-mode-only userfaultfd. */
bool tu_kernel_access(const struct growmap *gm);

/* A new empty file in the test directory ($GROWMAP_TEST_DIR, else
 * $TMPDIR, else /var/tmp); its path goes to 'path' (PATH_MAX bytes). */
int tu_tmpfile(char *path);

/* Size of the file open on fd. */
off_t tu_file_size(int fd);

/* Whether the file system of fd maps extents (FS_IOC_FIEMAP): where it
 * does not (tmpfs), a store of zeros into the highest page does not count
 * for the exact size (growmap(7), "Exact size"). */
bool tu_has_extent_map(int fd);

/* Waits up to 'ms' milliseconds for the file open on fd to reach 'size'
 * (growmapd settling it); returns the last size seen. */
off_t tu_wait_for_size(int fd, off_t size, int ms);

/* Dirty pages of the file in the page cache (cachestat(2), Linux 6.5),
 * or -1 where the kernel cannot say. */
long long tu_dirty_pages(int fd);

/* The byte a verifiable page holds at 'offset' for 'seed'. */
static inline unsigned char tu_pattern(uint32_t seed, size_t offset)
{
	uint64_t x = ((uint64_t)seed << 32) ^ offset;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 29;
	return (unsigned char)(x | 1);  /* never zero: zero means "untouched" */
}
void tu_fill_page(unsigned char *page, uint32_t seed, size_t page_index);

/*
 * Checks a file against a map of seeds, one per page (0: never stored,
 * must read as zeros), and its size against expected_size. Returns -1 when
 * everything matches, else the offset of the first wrong byte (or the
 * size itself when only the size is wrong).
 */
long long tu_verify_file(int fd, const uint32_t *seeds, size_t npages,
			 off_t expected_size);

/*
 * Installs the test's SIGSEGV/SIGBUS catchers. Call before the first
 * growmap_open() of the process: the signal backend then chains faults it
 * does not own to them, as it would to an application's handler.
 */
void tu_install_catchers(void);

/*
 * Runs fn(arg) and reports the signal (SIGSEGV or SIGBUS) it raised in
 * this thread, 0 if none. si_addr and si_code go to *addr and *code.
 * Needs tu_install_catchers().
 */
int tu_catch_signal(void (*fn)(void *), void *arg, void **addr, int *code);

/* Store / load one byte, as functions for tu_catch_signal(). */
struct tu_access {
	volatile unsigned char *p;
	unsigned char value;
};
void tu_store(void *access);
void tu_load(void *access);

#ifdef GROWMAPD_PROG
/*
 * Starts the built growmapd (GROWMAPD_PROG) on a socket in a new
 * temporary directory (the same one at every call in a process, so a
 * daemon started again takes over the socket) and points this process's
 * attaches at it, daemon required. Returns its pid once the socket
 * accepts connections; aborts with a message if it never does.
 */
pid_t tu_start_daemon(void);
/* SIGTERM, then checks it exited 0 and removed its socket. Returns 0, or
 * -1 with a message on stderr. */
int tu_stop_daemon(pid_t pid);
#endif

/* In a Check test: waits for the child 'pid' and fails unless it exited
 * with 0 (a child reports which of its checks failed as its exit code). */
#define TU_ASSERT_CHILD_OK(pid)                                                \
	do {                                                                   \
		int tu_status_;                                                \
		ck_assert_int_eq(waitpid((pid), &tu_status_, 0), (pid));       \
		ck_assert_msg(WIFEXITED(tu_status_) && WEXITSTATUS(tu_status_) == 0, \
			      "child check %d failed",                         \
			      WIFEXITED(tu_status_) ? WEXITSTATUS(tu_status_) : -1); \
	} while (0)

#endif
