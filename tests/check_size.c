/* SPDX-License-Identifier: MIT */
/*
 * The file's size: after a sync or close it is max(size at attach, end of
 * the highest page stored into), a store of zeros included (growmap(7),
 * "Exact size"); a size the program sets is applied at the next sync.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "behaviour.h"

/* A store at offset 90000 of an empty file leaves a file that ends with
 * the page stored into (90112 bytes on 4 KiB pages), whose bytes read(2)
 * back exactly. */
START_TEST(store_at_90000_of_empty_file)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, 0, 0);
	char *p = growmap_addr(gm);
	p[90000] = 'Z';
	size_t size = (90000 / page_size + 1) * page_size;
	ck_assert_int_eq(growmap_sync(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), size);
	ck_assert_int_eq(growmap_close(gm), 0);

	char *buf = malloc(size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, size + 1, 0), size);
	for (size_t i = 0; i < size; i++)
		ck_assert_msg(buf[i] == (i == 90000 ? 'Z' : 0), "byte %zu is %d", i, buf[i]);
	free(buf);
	close(fd);
}
END_TEST

/* The last partial page: a store inside the last page of a file that
 * ends mid-page extends it to that page's end (the page is the unit). */
START_TEST(store_in_last_partial_page_rounds_size_up)
{
	int fd = new_file();
	write_all(fd, "abc", 3, 0);
	struct growmap *gm = attach(fd, 1 << 20, 0);
	char *p = growmap_addr(gm);
	ck_assert_int_eq(p[1], 'b');
	p[1] = 'B';
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), page_size);
	char buf[4];
	ck_assert_int_eq(pread(fd, buf, 4, 0), 4);
	ck_assert_int_eq(memcmp(buf, "aBc\0", 4), 0);
	close(fd);
}
END_TEST

/* A store of zeros beyond the end of file: the page counts as stored,
 * the same on both backends. */
START_TEST(zero_store_beyond_eof)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, 1 << 20, 0);
	char *p = growmap_addr(gm);
	p[20 * page_size + 1] = 0;
	ck_assert_int_eq(growmap_close(gm), 0);
	/* Without an extent map (tmpfs) only a non-zero byte counts. */
	ck_assert_int_eq(tu_file_size(fd), tu_has_extent_map(fd) ? 21 * page_size : 0);
	close(fd);
}
END_TEST

/* The caller may set an exact byte size, applied at the next sync; a
 * shrink discards the mapping beyond it; later stores extend again
 * (growmap_set_size(3)). */
START_TEST(exact_size_applied_at_next_sync)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, 1 << 20, 0);
	unsigned char *p = growmap_addr(gm);
	p[90000] = 'a';
	ck_assert_int_eq(growmap_set_size(gm, 90001), 0);
	/* The store is in the file, its whole page. */
	ck_assert_int_ge(tu_file_size(fd), (90000 / page_size + 1) * page_size);
	ck_assert_int_eq(growmap_sync(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 90001);

	memset(p + 100, 'b', 3 * page_size);
	ck_assert_int_eq(growmap_set_size(gm, 150), 0);
	ck_assert_int_eq(growmap_sync(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 150);
	ck_assert_int_eq(p[149], 'b');
	ck_assert_int_eq(p[150], 0);                    /* tail of the page zeroed */
	ck_assert_int_eq(p[page_size + 5], 0);          /* pages beyond discarded */
	ck_assert_int_eq(p[90000], 0);
	ck_assert_int_eq(growmap_sync(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 150);        /* loads grew nothing */

	p[5 * page_size] = 'c';
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 6 * page_size);
	size_t size = 6 * page_size;
	char *buf = malloc(size);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, size, 0), size);
	for (size_t i = 0; i < size; i++) {
		char want = i >= 100 && i < 150 ? 'b' : i == 5 * page_size ? 'c' : 0;
		ck_assert_msg(buf[i] == want, "byte %zu is %d", i, buf[i]);
	}
	free(buf);
	close(fd);
}
END_TEST

static const struct tr_case size_cases[] = {
	TR_CASE(store_at_90000_of_empty_file),
	TR_CASE(store_in_last_partial_page_rounds_size_up),
	TR_CASE(zero_store_beyond_eof),
	TR_CASE(exact_size_applied_at_next_sync),
	{ NULL }
};

static const struct tr_suite size_suite = {
	.name = "size",
	.cases = size_cases,
	.setup = behaviour_setup,
	.teardown = behaviour_teardown,
};
TR_SUITE(size_suite)
