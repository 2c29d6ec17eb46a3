/* SPDX-License-Identifier: MIT */
/*
 * Writeback: close alone writes everything back; the writeback thread
 * starts writeback on its interval and when the dirty limit is crossed;
 * without io_uring it uses the system call; the counters count what was
 * done; attaches and detaches overlap its passes.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "behaviour.h"

/* Close alone writes everything back. */
START_TEST(close_writes_everything)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, 2048 * page_size, 0);
	unsigned char *p = growmap_addr(gm);
	uint32_t seeds[2048] = { 0 };
	for (size_t pg = 1; pg < 2048; pg = pg * 3 + 1) {
		seeds[pg] = (uint32_t)pg;
		tu_fill_page(p + pg * page_size, seeds[pg], pg);
	}
	/* Rewrites after a sync are seen again. */
	ck_assert_int_eq(growmap_sync(gm), 0);
	seeds[40] = 77;
	tu_fill_page(p + 40 * page_size, 77, 40);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_lt(tu_verify_file(fd, seeds, 2048, 1094 * page_size), 0);
	close(fd);
}
END_TEST

/* Pages of [first, first + count) in written extents (neither delayed nor
 * unwritten: their data has reached the disk), or -1 where the file
 * system has no extent map. */
static long long written_back_pages(int fd, size_t first, size_t count)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent ext[64];
	} m = { .fm = { .fm_start = (uint64_t)first * page_size,
			.fm_length = (uint64_t)count * page_size, .fm_extent_count = 64 } };
	if (ioctl(fd, FS_IOC_FIEMAP, &m.fm) < 0)
		return -1;
	uint64_t lo = (uint64_t)first * page_size, hi = lo + (uint64_t)count * page_size;
	uint64_t bytes = 0;
	for (unsigned i = 0; i < m.fm.fm_mapped_extents; i++) {
		const struct fiemap_extent *e = &m.ext[i];
		if (e->fe_flags & (FIEMAP_EXTENT_UNWRITTEN | FIEMAP_EXTENT_DELALLOC))
			continue;
		uint64_t a = e->fe_logical > lo ? e->fe_logical : lo;
		uint64_t b = e->fe_logical + e->fe_length < hi ? e->fe_logical + e->fe_length : hi;
		if (b > a)
			bytes += b - a;
	}
	return (long long)(bytes / page_size);
}

/* Whether background writeback of a page of [first, first + count)
 * happened, waiting up to 'ms', where cachestat(2) cannot say (before
 * Linux 6.5). Alone, the writeback thread's counter says it. Through
 * growmapd writeback is the daemon's and no counter of this process
 * moves: a page in a written extent says it, which only writeback
 * makes; where the file system has no extent map either, nothing can,
 * and the case says so. */
static bool written_back_without_cachestat(struct growmap *gm, int fd, size_t first,
					    size_t count, int ms)
{
	struct growmap_stats st = { 0 };
	long long n = 0;
	for (int i = 0; i <= ms / 10; i++) {
		if (!tu_through_daemon) {
			growmap_stats(gm, &st);
			if (st.write_batches >= 1)
				return true;
		} else if ((n = written_back_pages(fd, first, count)) != 0) {
			break;
		}
		usleep(10000);
	}
	if (n < 0)
		printf("no cachestat(2) and no extent map: writeback through growmapd not seen\n");
	return n != 0;
}

/* Background writeback writes dirty pages on its own, on the interval,
 * without any sync. */
START_TEST(background_writeback_on_interval)
{
	setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "50", 1);
	int fd = new_file();
	struct growmap *gm = attach(fd, 1 << 20, 0);
	char *p = growmap_addr(gm);
	strcpy(p + 3 * page_size, "background");
	/* The store is in the page cache at once; the kernel's own writeback
	 * would wait for its 30 s expiry, the writeback thread starts it on
	 * the interval: wait (up to 2 s) until the file has no dirty page. */
	struct growmap_stats st = { 0 };
	long long dirty = tu_dirty_pages(fd);
	for (int i = 0; i < 200 && dirty != 0; i++) {
		usleep(10000);
		dirty = tu_dirty_pages(fd);
	}
	if (dirty < 0)                                   /* no cachestat(2) */
		ck_assert_msg(written_back_without_cachestat(gm, fd, 3, 1, 2000),
			      "page 3 not written back");
	else
		ck_assert_msg(dirty == 0, "%lld pages still dirty", dirty);
	growmap_stats(gm, &st);
	char buf[11] = "";
	ck_assert_int_eq(pread(fd, buf, 10, 3 * page_size), 10);
	ck_assert_str_eq(buf, "background");
	ck_assert_uint_eq(st.syncs, 0);                 /* no sync was asked for */
	/* (Not pages_written: on a loaded machine the kernel's flusher may
	 * write the page first, and the pass then finds nothing to do.) */
	ck_assert_int_eq(growmap_close(gm), 0);
	close(fd);
}
END_TEST

/* Crossing the dirty limit starts writeback before the interval. */
START_TEST(background_writeback_on_dirty_limit)
{
	setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "3600000", 1);
	setenv("GROWMAP_DIRTY_LIMIT", "64", 1);
	int fd = new_file();
	struct growmap *gm = attach(fd, 1024 * page_size, 0);
	char *p = growmap_addr(gm);
	for (size_t pg = 0; pg < 256; pg++)
		p[pg * page_size] = 'd';
	/* The stores are in the page cache at once; what the limit changes
	 * is that writeback of them starts (and, with cachestat(2), that
	 * pages stop being dirty) long before the interval. */
	struct growmap_stats st = { 0 };
	long long dirty = tu_dirty_pages(fd);
	for (int i = 0; i < 300 && dirty >= 256; i++) {
		usleep(10000);
		dirty = tu_dirty_pages(fd);
	}
	if (dirty < 0)                                   /* no cachestat(2) */
		ck_assert_msg(written_back_without_cachestat(gm, fd, 0, 256, 3000),
			      "no page written back");
	else
		ck_assert_msg(dirty < 256, "%lld of 256 pages still dirty", dirty);
	growmap_stats(gm, &st);
	ck_assert_uint_eq(st.syncs, 0);
	ck_assert_int_eq(growmap_close(gm), 0);
	close(fd);
}
END_TEST

/* Attach and detach many times while the writeback thread wakes every
 * millisecond, so passes overlap start-up and shutdown. (The start-up
 * order bug this exercises was found by ThreadSanitizer; this case does
 * not lose that race reliably on its own, a TSan build does.) */
START_TEST(open_close_cycles_with_busy_writeback)
{
	setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "1", 1);
	int fd = new_file();
	for (int i = 0; i < 150; i++) {
		struct growmap *gm = attach(fd, 4 << 20, 0);
		char *p = growmap_addr(gm);
		p[(size_t)(i % 16) * page_size] = (char)(i + 1);
		ck_assert_int_eq(growmap_close(gm), 0);
	}
	for (int pg = 0; pg < 16; pg++) {
		char c;
		ck_assert_int_eq(pread(fd, &c, 1, (off_t)(pg * page_size)), 1);
		ck_assert_int_eq(c, (char)(150 - 16 + ((pg - 150 % 16 + 16) % 16) + 1));
	}
	close(fd);
}
END_TEST

/* Where io_uring is refused (container seccomp profiles, or
 * kernel.io_uring_disabled), writeback is started with the system call
 * and the reason says so; nothing else changes. (Through growmapd the
 * daemon writes back, so the reason says nothing of it.) A child refuses
 * io_uring_setup to itself with a seccomp filter, as such a profile
 * would. */
START_TEST(writeback_without_io_uring)
{
	int fd = new_file();
	pid_t pid = fork();
	if (pid == 0) {
		if (tu_refuse_syscall(425 /* io_uring_setup */, ENOSYS, false) < 0)
			_exit(10);
		struct growmap *gm;
		if (growmap_open(&gm, fd, 256 * page_size, 0) < 0)
			_exit(11);
		/* Through growmapd the daemon writes back: the client has no
		 * ring to be refused. */
		const char *reason = growmap_backend_reason(gm);
		if (tu_through_daemon ? strstr(reason, "sync_file_range") != NULL
				      : !strstr(reason, "writeback started with sync_file_range(2)"))
			_exit(12);
		unsigned char *p = growmap_addr(gm);
		for (size_t pg = 0; pg < 64; pg += 3)
			tu_fill_page(p + pg * page_size, (uint32_t)pg + 1, pg);
		if (growmap_sync(gm) < 0)
			_exit(13);
		tu_fill_page(p + 70 * page_size, 500, 70);
		if (growmap_close(gm) < 0)
			_exit(14);
		_exit(0);
	}
	TU_ASSERT_CHILD_OK(pid);
	uint32_t seeds[80] = { [70] = 500 };
	for (size_t pg = 0; pg < 64; pg += 3)
		seeds[pg] = (uint32_t)pg + 1;
	long long bad = tu_verify_file(fd, seeds, 80, 71 * page_size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	close(fd);
}
END_TEST

/* A kernel without cachestat(2) (before Linux 6.5), as a seccomp filter
 * refusing it makes one: the reason says the written-pages counters are
 * not kept, they stay 0, and every store still reaches the file. Through
 * growmapd the client starts no writeback of its own, so the reason says
 * nothing of it. */
START_TEST(writeback_without_cachestat)
{
	int fd = new_file();
	pid_t pid = fork();
	if (pid == 0) {
		if (tu_refuse_syscall(451 /* cachestat */, ENOSYS, false) < 0)
			_exit(10);
		struct growmap *gm;
		if (growmap_open(&gm, fd, 256 * page_size, 0) < 0)
			_exit(11);
		bool said = strstr(growmap_backend_reason(gm), "no cachestat(2)") != NULL;
		if (said == tu_through_daemon)
			_exit(12);
		unsigned char *p = growmap_addr(gm);
		for (size_t pg = 0; pg < 40; pg++)
			tu_fill_page(p + pg * page_size, (uint32_t)pg + 1, pg);
		struct growmap_stats st;
		if (growmap_sync(gm) < 0 || growmap_stats(gm, &st) < 0)
			_exit(13);
		if (st.pages_written != 0 || st.bytes_written != 0)
			_exit(14);
		if (growmap_close(gm) < 0)
			_exit(15);
		_exit(0);
	}
	TU_ASSERT_CHILD_OK(pid);
	uint32_t seeds[40];
	for (size_t pg = 0; pg < 40; pg++)
		seeds[pg] = (uint32_t)pg + 1;
	long long bad = tu_verify_file(fd, seeds, 40, 40 * page_size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	close(fd);
}
END_TEST

/* The counters count what happened. */
START_TEST(counters_report_work)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, 1024 * page_size, 0);
	char *p = growmap_addr(gm);
	struct growmap_stats st;
	ck_assert_int_eq(growmap_stats(gm, &st), 0);
	ck_assert_uint_eq(st.pages_written, 0);
	for (size_t pg = 0; pg < 100; pg++)
		p[pg * page_size] = 1;
	ck_assert_int_eq(growmap_sync(gm), 0);
	ck_assert_int_eq(growmap_stats(gm, &st), 0);
	ck_assert_uint_ge(st.faults, 1);
	ck_assert_uint_ge(st.pages_populated, 100);
	/* The pages the library found dirty and wrote: all 100 on a quiet
	 * machine, fewer where the kernel's flusher got to some first, none
	 * without cachestat(2). Never more. */
	ck_assert_uint_le(st.pages_written, 100);
	ck_assert_uint_eq(st.bytes_written, st.pages_written * page_size);
	ck_assert_uint_eq(st.syncs, 1);
	ck_assert_uint_eq(st.writeback_errors, 0);
	uint64_t written = st.pages_written;
	ck_assert_int_eq(growmap_sync(gm), 0);          /* nothing new to write */
	ck_assert_int_eq(growmap_stats(gm, &st), 0);
	ck_assert_uint_eq(st.pages_written, written);
	ck_assert_uint_eq(st.syncs, 2);
	ck_assert_int_eq(growmap_close(gm), 0);
	close(fd);
}
END_TEST

static const struct tr_case writeback_cases[] = {
	TR_CASE(close_writes_everything),
	TR_CASE(background_writeback_on_interval),
	TR_CASE(background_writeback_on_dirty_limit),
	TR_CASE(open_close_cycles_with_busy_writeback),
	TR_CASE(writeback_without_io_uring),
	TR_CASE(writeback_without_cachestat),
	TR_CASE(counters_report_work),
	{ NULL }
};

static const struct tr_suite writeback_suite = {
	.name = "writeback",
	.cases = writeback_cases,
	.setup = behaviour_setup,
	.teardown = behaviour_teardown,
};
TR_SUITE(writeback_suite)
