/* SPDX-License-Identifier: MIT */
/*
 * Failure paths, made to happen on demand (failshim.c): each ends in a
 * sticky error with nothing lost, or is survived, and none hangs: the
 * programs check_fault_uffd and check_fault_signal.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "failshim.h"
#include "runner.h"
#include "testutil.h"

static char path[PATH_MAX];

static void setup(void)
{
	tu_install_catchers();
	alarm(20);              /* a hang ends the case, not the suite */
}

/* fdatasync failing with EIO (as after a device error) is
 * returned by that sync, by every later one and by close, which leaves
 * the mapping attached with every byte; once acknowledged, close works
 * and the file holds everything (the page cache was never lost here). */
START_TEST(fdatasync_error_is_sticky_and_close_keeps_mapping)
{
	int fd = tu_tmpfile(path);
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 256 * page_size, 0), 0);
	unsigned char *p = growmap_addr(gm);
	uint32_t seeds[40] = { 0 };
	for (size_t pg = 0; pg < 40; pg += 3) {
		seeds[pg] = (uint32_t)pg + 11;
		tu_fill_page(p + pg * page_size, seeds[pg], pg);
	}
	failshim_fdatasync(EIO, 1);
	ck_assert_int_eq(growmap_sync(gm), -EIO);
	ck_assert_int_eq(failshim_delivered(), 1);
	ck_assert_int_eq(growmap_sync(gm), -EIO);       /* sticky */
	ck_assert_int_eq(growmap_close(gm), -EIO);      /* still attached */
	ck_assert_ptr_eq(growmap_addr(gm), p);
	unsigned char page[page_size];
	for (size_t pg = 0; pg < 40; pg++) {
		if (!seeds[pg])
			continue;
		tu_fill_page(page, seeds[pg], pg);
		ck_assert_int_eq(memcmp(p + pg * page_size, page, page_size), 0);
	}
	struct growmap_stats st;
	ck_assert_int_eq(growmap_stats(gm, &st), 0);
	ck_assert_uint_ge(st.writeback_errors, 1);
	ck_assert_int_eq(growmap_clear_error(gm), -EIO);
	ck_assert_int_eq(growmap_close(gm), 0);
	long long bad = tu_verify_file(fd, seeds, 40, 40 * page_size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	close(fd);
	unlink(path);
}
END_TEST

/* The uffd fault-service thread's poll() failing (ENOMEM) must not leave
 * the next fault unserved forever: the store below completes. */
START_TEST(service_poll_error_does_not_hang_faults)
{
	int fd = tu_tmpfile(path);
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 256 * page_size, 0), 0);
	unsigned char *p = growmap_addr(gm);
	p[0] = 1;
	usleep(200000);          /* past the thread's spin: it polls now */
	failshim_poll(2, ENOMEM, 3);
	p[100 * page_size] = 2;  /* wakes the thread from the poll it was in */
	usleep(200000);          /* its next polls fail */
	ck_assert_int_ge(failshim_delivered(), 1);
	p[200 * page_size] = 3;  /* a fault after the failures is served */
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 201 * page_size);
	unsigned char c;
	ck_assert_int_eq(pread(fd, &c, 1, 100 * page_size), 1);
	ck_assert_int_eq(c, 2);
	close(fd);
	unlink(path);
}
END_TEST

/* A store whose disk reservation fails (fallocate: EIO here,
 * twice, since a failed window is retried as one page) gets SIGBUS at the
 * store, the mapping stays usable, the error is sticky, and everything
 * stored before is in the file. */
START_TEST(fallocate_error_sigbus_at_store_then_sticky)
{
	int fd = tu_tmpfile(path);
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 256 * page_size, 0), 0);
	unsigned char *p = growmap_addr(gm);
	uint32_t seeds[64] = { [2] = 5 };
	tu_fill_page(p + 2 * page_size, 5, 2);
	failshim_fallocate(EIO, 2);
	struct tu_access a = { .p = p + 40 * page_size, .value = 9 };
	void *addr;
	ck_assert_int_eq(tu_catch_signal(tu_store, &a, &addr, NULL), SIGBUS);
	ck_assert_ptr_eq(addr, p + 40 * page_size);
	tu_fill_page(p + 3 * page_size, 6, 3);           /* still usable */
	seeds[3] = 6;
	ck_assert_int_eq(growmap_sync(gm), -EIO);
	ck_assert_int_eq(growmap_sync(gm), -EIO);
	ck_assert_int_eq(growmap_clear_error(gm), -EIO);
	ck_assert_int_eq(growmap_close(gm), 0);
	long long bad = tu_verify_file(fd, seeds, 64, 4 * page_size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	close(fd);
	unlink(path);
}
END_TEST

/* The signal backend answers a load beyond the end with mprotect(2);
 * when that fails, the loading thread gets SIGBUS and the error is
 * sticky, instead of faulting forever. */
START_TEST(mprotect_error_on_load_sigbus_then_sticky)
{
	int fd = tu_tmpfile(path);
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 256 * page_size, 0), 0);
	unsigned char *p = growmap_addr(gm);
	failshim_mprotect(ENOMEM, 1);
	struct tu_access a = { .p = p + 30 * page_size };
	ck_assert_int_eq(tu_catch_signal(tu_load, &a, NULL, NULL), SIGBUS);
	ck_assert_int_eq(tu_catch_signal(tu_load, &a, NULL, NULL), 0);  /* works again */
	ck_assert_int_eq(growmap_sync(gm), -ENOMEM);
	ck_assert_int_eq(growmap_clear_error(gm), -ENOMEM);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 0);           /* loads grow nothing */
	close(fd);
	unlink(path);
}
END_TEST

/* io_uring failing once the ring is up (here: io_uring_enter refused to
 * every thread by a seccomp filter, as a sandbox applied late would):
 * writeback falls back to the system call for good, nothing is lost and
 * no error is reported, since no write failed. In a child: the filter
 * cannot be taken back. */
START_TEST(io_uring_failing_after_setup_falls_back)
{
	int fd = tu_tmpfile(path);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "20", 1);
		struct growmap *gm;
		if (growmap_open(&gm, fd, 256 * page_size, 0) < 0)
			_exit(10);
		if (!strstr(growmap_backend_reason(gm), tu_backend))
			_exit(11);
		if (tu_refuse_syscall(426 /* io_uring_enter */, EIO, true) < 0)
			_exit(12);
		unsigned char *p = growmap_addr(gm);
		for (size_t pg = 0; pg < 64; pg += 2)
			tu_fill_page(p + pg * page_size, (uint32_t)pg + 1, pg);
		long long dirty = tu_dirty_pages(fd);
		for (int i = 0; i < 300 && dirty > 0; i++) {
			usleep(10000);
			dirty = tu_dirty_pages(fd);
		}
		if (dirty > 0)
			_exit(13);          /* background writeback stopped */
		if (growmap_sync(gm) != 0)
			_exit(14);          /* a ring failure is no write error */
		if (growmap_close(gm) != 0)
			_exit(15);
		_exit(0);
	}
	TU_ASSERT_CHILD_OK(pid);
	uint32_t seeds[64] = { 0 };
	for (size_t pg = 0; pg < 64; pg += 2)
		seeds[pg] = (uint32_t)pg + 1;
	long long bad = tu_verify_file(fd, seeds, 64, 63 * page_size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	close(fd);
	unlink(path);
}
END_TEST

/* uffd, disk refused and the file page that would raise the kernel's
 * SIGBUS cannot be mapped either (mmap fails every time): the storing
 * thread still gets SIGBUS, not an endless loop of the same fault. In a
 * child, which SIGBUS ends. */
START_TEST(unmappable_refused_store_still_sigbus)
{
	int fd = tu_tmpfile(path);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(10);               /* a fault loop ends as SIGALRM */
		struct growmap *gm;
		if (growmap_open(&gm, fd, 256 * page_size, 0) < 0)
			_exit(2);
		failshim_fallocate(ENOSPC, 1000000);
		failshim_mmap_fixed_shared(ENOMEM, 1000000);
		((volatile char *)growmap_addr(gm))[40 * page_size] = 1;
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS, "status %#x", status);
	close(fd);
	unlink(path);
}
END_TEST

/* Other threads' accesses in the instant a sync turns the pages above
 * the size it found back into placeholder: a store that lands on one of
 * those pages just before is kept (the file gets the byte and the size
 * covers its page), and a load just after sees that byte, never the
 * zeros of memory the backend does not watch yet. */
START_TEST(access_racing_a_sync_is_kept)
{
	int fd = tu_tmpfile(path);
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 256 * page_size, 0), 0);
	unsigned char *p = growmap_addr(gm);
	uint32_t seeds[8] = { [0] = 3 };
	tu_fill_page(p, 3, 0);                   /* maps a window above page 0 */
	failshim_race_at_unmap(p + 5 * page_size + 7, 0x5a);
	ck_assert_int_eq(growmap_sync(gm), 0);
	ck_assert_int_eq(failshim_delivered(), 1);
	ck_assert_int_eq(failshim_race_load(), 0x5a);
	ck_assert_int_eq(p[5 * page_size + 7], 0x5a);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 6 * page_size);
	long long bad = tu_verify_file(fd, seeds, 5, 6 * page_size);  /* pages 0-4 */
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	unsigned char page[page_size], want[page_size];
	memset(want, 0, page_size);
	want[7] = 0x5a;
	ck_assert_int_eq(pread(fd, page, page_size, 5 * page_size), page_size);
	ck_assert_int_eq(memcmp(page, want, page_size), 0);
	close(fd);
	unlink(path);
}
END_TEST

/* uffd: when the pages cannot be moved back to placeholder (mremap
 * fails), they stay the file's: the sync and every later one report
 * the error, and every store is in the file. */
START_TEST(placeholder_move_error_is_sticky)
{
	int fd = tu_tmpfile(path);
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 256 * page_size, 0), 0);
	unsigned char *p = growmap_addr(gm);
	uint32_t seeds[8] = { [0] = 3, [1] = 4 };
	tu_fill_page(p, 3, 0);
	tu_fill_page(p + page_size, 4, 1);
	failshim_mremap(ENOMEM, 1);
	ck_assert_int_eq(growmap_sync(gm), -ENOMEM);
	ck_assert_int_eq(failshim_delivered(), 1);
	ck_assert_int_eq(growmap_sync(gm), -ENOMEM);
	tu_fill_page(p + 2 * page_size, 5, 2);   /* the window is the file's still */
	seeds[2] = 5;
	ck_assert_int_eq(growmap_clear_error(gm), -ENOMEM);
	ck_assert_int_eq(growmap_close(gm), 0);
	long long bad = tu_verify_file(fd, seeds, 3, 3 * page_size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	close(fd);
	unlink(path);
}
END_TEST

/* failshim.c replaces libc calls through dlsym(RTLD_NEXT), which
 * ThreadSanitizer's own interceptors of those calls break: it is left out
 * of such a build, and so are these cases. */
static const char *failshim_unavailable(void)
{
#if defined(__SANITIZE_THREAD__)
	return "check_fault: failshim cannot run under ThreadSanitizer";
#else
	return NULL;
#endif
}

static const struct tr_case fault_cases[] = {
	TR_CASE(fdatasync_error_is_sticky_and_close_keeps_mapping),
	TR_CASE(fallocate_error_sigbus_at_store_then_sticky),
	TR_CASE(io_uring_failing_after_setup_falls_back),
	TR_CASE(access_racing_a_sync_is_kept),
	TR_CASE(service_poll_error_does_not_hang_faults, .on = TR_UFFD),
	TR_CASE(unmappable_refused_store_still_sigbus, .on = TR_UFFD),
	TR_CASE(placeholder_move_error_is_sticky, .on = TR_UFFD),
	TR_CASE(mprotect_error_on_load_sigbus_then_sticky, .on = TR_SIGNAL),
	{ NULL }
};

static const struct tr_suite fault_suite = {
	.name = "fault",
	.cases = fault_cases,
	.setup = setup,
	.start = failshim_unavailable,
};
TR_SUITE(fault_suite)
