/* SPDX-License-Identifier: MIT */
/*
 * Loads and stores: what an existing file shows and what lies beyond its
 * end, the faults a fill costs, system calls reading into and writing
 * out of the range, and a whole 256 MiB segment stored into.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "behaviour.h"

/* An existing file's bytes are visible; loads beyond its end read zero
 * and never change its size or its bytes. */
START_TEST(existing_file_visible_loads_beyond_eof_read_zero)
{
	int fd = new_file();
	size_t size = 3 * page_size + 1234;
	unsigned char *data = malloc(size), *back = malloc(size);
	ck_assert(data && back);
	for (size_t i = 0; i < size; i++)
		data[i] = tu_pattern(7, i);
	write_all(fd, data, size, 0);

	struct growmap *gm = attach(fd, 64 << 20, 0);
	unsigned char *p = growmap_addr(gm);
	ck_assert_int_eq(memcmp(p, data, size), 0);
	for (size_t i = size; i < 8 * page_size; i++)   /* rest of the last page, and on */
		ck_assert_int_eq(p[i], 0);
	for (size_t off = 8 * page_size; off < (64 << 20); off += 97 * page_size)
		ck_assert_int_eq(p[off], 0);
	ck_assert_int_eq(growmap_sync(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), size);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), size);
	ck_assert_int_eq(pread(fd, back, size, 0), size);
	ck_assert_int_eq(memcmp(back, data, size), 0);
	struct stat st;
	fstat(fd, &st);
	/* Disk reserved for loaded pages is given back at close. */
	ck_assert_int_le(st.st_blocks * 512, 8 * page_size);
	free(data);
	free(back);
	close(fd);
}
END_TEST

/* Filling pages in order costs few faults: a store that continues a
 * stream doubles its window. Sparse stores past every window reserve
 * disk for the page stored only (the rest of the page group they map is
 * holes) and never map more than a fault-around group each. */
START_TEST(sequential_fill_takes_few_faults)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, 16384 * page_size, 0);   /* 64 MiB on 4 KiB pages */
	char *p = growmap_addr(gm);
	enum { SEQ = 4096 };
	for (size_t pg = 0; pg < SEQ; pg++)
		p[pg * page_size] = 1;
	struct growmap_stats st;
	growmap_stats(gm, &st);
	ck_assert_msg(st.faults <= 24, "%llu faults", (unsigned long long)st.faults);
	uint64_t before = st.pages_populated, faults = st.faults;
	struct stat sb;
	ck_assert_int_eq(fstat(fd, &sb), 0);
	blkcnt_t blocks = sb.st_blocks;
	/* Beyond any window the fill could have mapped (it stops short of
	 * 2 * SEQ), 48 pages apart and in descending order, so no store
	 * continues a stream. */
	for (size_t i = 100; i-- > 0;)
		p[(2 * SEQ + 64 + i * 48 + 5) * page_size] = 2;
	growmap_stats(gm, &st);
	ck_assert_uint_eq(st.faults - faults, 100);
	ck_assert_uint_le(st.pages_populated - before, 100 * 16);
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert_msg((sb.st_blocks - blocks) * 512 <= (blkcnt_t)(2 * 100 * page_size),
		      "100 sparse stores took %lld bytes of disk",
		      (long long)(sb.st_blocks - blocks) * 512);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), (2 * SEQ + 64 + 99 * 48 + 6) * page_size);
	close(fd);
}
END_TEST

/* read(2) from another file straight into untouched pages of the region
 * (across several pages and the old end of file) works, and write(2) out
 * of untouched pages writes zeros. The signal backend (and
 * user-mode-only userfaultfd) cannot serve the kernel: there the
 * documented EFAULT is asserted instead, and nothing reaches the file. */
START_TEST(read_syscall_into_untouched_pages)
{
	int src = new_file();
	char src_path[PATH_MAX];
	strcpy(src_path, case_path);
	size_t len = 5 * page_size + 100;
	unsigned char *data = malloc(len), *back = malloc(len + 5);
	ck_assert(data && back);
	for (size_t i = 0; i < len; i++)
		data[i] = tu_pattern(3, i);
	write_all(src, data, len, 0);

	int fd = new_file();
	write_all(fd, "0123456789", 10, 0);
	struct growmap *gm = attach(fd, 256 * page_size, 0);
	unsigned char *p = growmap_addr(gm);
	bool kernel_ok = tu_kernel_access(gm);
	ssize_t n = pread(src, p + 5, len, 0);
	if (kernel_ok) {
		ck_assert_int_eq(n, len);
		ck_assert_int_eq(memcmp(p, "01234", 5), 0);
		ck_assert_int_eq(memcmp(p + 5, data, len), 0);
	} else {
		ck_assert_int_eq(n, -1);
		ck_assert_int_eq(errno, EFAULT);
	}
	ck_assert_int_eq(pwrite(src, p + 100 * page_size, page_size, 0),
			 kernel_ok ? (ssize_t)page_size : -1);
	if (kernel_ok) {
		unsigned char page[page_size];
		ck_assert_int_eq(pread(src, page, page_size, 0), page_size);
		for (size_t i = 0; i < page_size; i++)
			ck_assert_int_eq(page[i], 0);
	} else {
		ck_assert_int_eq(errno, EFAULT);
	}
	ck_assert_int_eq(growmap_close(gm), 0);
	if (kernel_ok) {
		/* The page after the data's last: the write(2) changed nothing. */
		ck_assert_int_eq(tu_file_size(fd), 6 * page_size);
		ck_assert_int_eq(pread(fd, back, len + 5, 0), len + 5);
		ck_assert_int_eq(memcmp(back, "01234", 5), 0);
		ck_assert_int_eq(memcmp(back + 5, data, len), 0);
	} else {
		ck_assert_int_eq(tu_file_size(fd), 10);
	}
	unlink(src_path);
	free(data);
	free(back);
	close(src);
	close(fd);
}
END_TEST

/* A 256 MiB reservation (65536 pages of 4 KiB) with every other page
 * stored: the signal backend must not split the range into one VMA per
 * page (vm.max_map_count is 65530); neither backend may fail. */
static size_t vmas_in(const char *from, const char *to)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	size_t n = 0;
	while (fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    lo >= (unsigned long)from && hi <= (unsigned long)to)
			n++;
	}
	fclose(maps);
	return n;
}

START_TEST(every_other_page_of_256_mib)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, 256 << 20, 0);
	unsigned char *p = growmap_addr(gm);
	size_t pages = ((size_t)256 << 20) / page_size;
	for (size_t pg = 0; pg < pages; pg += 2)
		p[pg * page_size + (pg % 7)] = (unsigned char)(pg | 1);
	size_t vmas = vmas_in((char *)p, (char *)p + (256 << 20));
	ck_assert_msg(vmas < 20000, "%zu VMAs in the range", vmas);
	ck_assert_int_eq(growmap_sync(gm), 0);
	for (size_t pg = 1; pg < pages; pg += 2)
		ck_assert_int_eq(p[pg * page_size], 0);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), (pages - 1) * page_size);
	for (size_t pg = 0; pg < pages; pg += 2) {
		unsigned char c;
		ck_assert_int_eq(pread(fd, &c, 1, (off_t)(pg * page_size + (pg % 7))), 1);
		ck_assert_int_eq(c, (unsigned char)(pg | 1));
	}
	close(fd);
}
END_TEST

static const struct tr_case access_cases[] = {
	TR_CASE(existing_file_visible_loads_beyond_eof_read_zero),
	TR_CASE(sequential_fill_takes_few_faults),
	TR_CASE(read_syscall_into_untouched_pages),
	TR_CASE(every_other_page_of_256_mib),
	{ NULL }
};

static const struct tr_suite access_suite = {
	.name = "access",
	.cases = access_cases,
	.setup = behaviour_setup,
	.teardown = behaviour_teardown,
};
TR_SUITE(access_suite)
