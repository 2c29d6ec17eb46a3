/* SPDX-License-Identifier: MIT */
/*
 * Threads: any number may load and store at once, into one mapping or
 * several, while syncs run; every byte of every file is checked after,
 * and the checker is shown to catch a corrupted file.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "behaviour.h"

/* Many threads storing random pages at once. Each page is written
 * whole under its own lock with a seed recorded in a shadow table; after
 * close every byte of the file is checked against the table. */
enum { MT_THREADS = 4, MT_PAGES = 16384, MT_STORES = 3000 };
struct mt_shared {
	unsigned char *base;
	uint32_t seeds[MT_PAGES];
	pthread_mutex_t locks[64];
	unsigned next_seed;
};
struct mt_arg {
	struct mt_shared *sh;
	unsigned id;
};

static void *mt_worker(void *arg)
{
	struct mt_arg *a = arg;
	struct mt_shared *sh = a->sh;
	unsigned rnd = 12345 + a->id * 7919;
	for (int i = 0; i < MT_STORES; i++) {
		size_t page = rand_r(&rnd) % MT_PAGES;
		pthread_mutex_t *lock = &sh->locks[page % 64];
		pthread_mutex_lock(lock);
		uint32_t seed = __atomic_add_fetch(&sh->next_seed, 1, __ATOMIC_RELAXED);
		unsigned char *pg = sh->base + page * page_size;
		/* Verify what is there before overwriting it: a lost or torn
		 * earlier store shows up here too. */
		for (size_t b = 0; b < page_size; b += 509) {
			uint32_t had = sh->seeds[page];
			unsigned char want = had ? tu_pattern(had, page * page_size + b) : 0;
			if (pg[b] != want) {
				pthread_mutex_unlock(lock);
				return (void *)1;
			}
		}
		tu_fill_page(pg, seed, page);
		sh->seeds[page] = seed;
		pthread_mutex_unlock(lock);
		if (i % 500 == 0)
			sched_yield();
	}
	return NULL;
}

static struct mt_shared *mt_run(int fd, struct growmap *gm, off_t *expected_size)
{
	struct mt_shared *sh = calloc(1, sizeof(*sh));
	sh->base = growmap_addr(gm);
	for (int i = 0; i < 64; i++)
		pthread_mutex_init(&sh->locks[i], NULL);
	pthread_t t[MT_THREADS];
	struct mt_arg args[MT_THREADS];
	for (unsigned i = 0; i < MT_THREADS; i++) {
		args[i] = (struct mt_arg){ sh, i };
		ck_assert_int_eq(pthread_create(&t[i], NULL, mt_worker, &args[i]), 0);
	}
	/* Syncs race with the stores: each must leave a consistent file. */
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(growmap_sync(gm), 0);
		usleep(2000);
	}
	for (unsigned i = 0; i < MT_THREADS; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		ck_assert_msg(bad == NULL, "thread %u saw a page change under its lock", i);
	}
	size_t highest = 0;
	for (size_t p = 0; p < MT_PAGES; p++)
		if (sh->seeds[p])
			highest = p + 1;
	*expected_size = (off_t)(highest * page_size);
	(void)fd;
	return sh;
}

START_TEST(threads_store_random_pages_every_byte_checked)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, MT_PAGES * page_size, 0);
	off_t size;
	struct mt_shared *sh = mt_run(fd, gm, &size);
	ck_assert_int_eq(growmap_close(gm), 0);
	long long bad = tu_verify_file(fd, sh->seeds, MT_PAGES, size);
	ck_assert_msg(bad < 0, "file differs at offset %lld", bad);
	free(sh);
	close(fd);
}
END_TEST

/* The verifier above is worth something only if it fails on a bad file:
 * flip one byte in a stored page, one in a never-stored page, and cut the
 * size, and check that each is caught at the right offset. */
START_TEST(verifier_catches_corruption)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, MT_PAGES * page_size, 0);
	off_t size;
	struct mt_shared *sh = mt_run(fd, gm, &size);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_lt(tu_verify_file(fd, sh->seeds, MT_PAGES, size), 0);

	size_t stored = 0, empty = SIZE_MAX;
	while (!sh->seeds[stored])
		stored++;
	for (size_t p = 0; p < (size_t)size / page_size; p++)
		if (!sh->seeds[p]) {
			empty = p;
			break;
		}
	off_t at = (off_t)(stored * page_size + 1000);
	unsigned char c;
	ck_assert_int_eq(pread(fd, &c, 1, at), 1);
	c ^= 0x40;
	write_all(fd, &c, 1, at);
	ck_assert_int_eq(tu_verify_file(fd, sh->seeds, MT_PAGES, size), at);
	c ^= 0x40;
	write_all(fd, &c, 1, at);
	if (empty != SIZE_MAX) {
		write_all(fd, "x", 1, (off_t)(empty * page_size + 5));
		ck_assert_int_eq(tu_verify_file(fd, sh->seeds, MT_PAGES, size),
				 (long long)(empty * page_size + 5));
		write_all(fd, "\0", 1, (off_t)(empty * page_size + 5));
	}
	ck_assert_int_eq(ftruncate(fd, size - (off_t)page_size), 0);
	ck_assert_int_ge(tu_verify_file(fd, sh->seeds, MT_PAGES, size), 0);
	free(sh);
	close(fd);
}
END_TEST

/* Threads across mappings: three files attached at once, four threads
 * storing random pages into all three, every byte of every file checked. */
enum { SM_FILES = 3, SM_PAGES = 1024, SM_THREADS = 4, SM_STORES = 1500 };
struct sm_shared {
	unsigned char *base[SM_FILES];
	uint32_t seeds[SM_FILES][SM_PAGES];
	pthread_mutex_t lock;
	uint32_t next_seed;
};

static void *sm_worker(void *arg)
{
	struct sm_shared *sh = arg;
	unsigned rnd = (unsigned)(uintptr_t)pthread_self();
	for (int i = 0; i < SM_STORES; i++) {
		size_t f = rand_r(&rnd) % SM_FILES, page = rand_r(&rnd) % SM_PAGES;
		pthread_mutex_lock(&sh->lock);
		uint32_t seed = ++sh->next_seed;
		tu_fill_page(sh->base[f] + page * page_size, seed, page);
		sh->seeds[f][page] = seed;
		pthread_mutex_unlock(&sh->lock);
	}
	return NULL;
}

START_TEST(several_mappings_many_threads)
{
	static struct sm_shared sh;
	memset(&sh, 0, sizeof(sh));
	pthread_mutex_init(&sh.lock, NULL);
	int fds[SM_FILES];
	char paths[SM_FILES][PATH_MAX];
	struct growmap *gms[SM_FILES];
	for (int f = 0; f < SM_FILES; f++) {
		fds[f] = new_file();
		strcpy(paths[f], case_path);
		gms[f] = attach(fds[f], SM_PAGES * page_size, 0);
		sh.base[f] = growmap_addr(gms[f]);
	}
	pthread_t t[SM_THREADS];
	for (int i = 0; i < SM_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, sm_worker, &sh), 0);
	for (int i = 0; i < SM_THREADS; i++)
		pthread_join(t[i], NULL);
	for (int f = 0; f < SM_FILES; f++) {
		size_t highest = 0;
		for (size_t pg = 0; pg < SM_PAGES; pg++)
			if (sh.seeds[f][pg])
				highest = pg + 1;
		ck_assert_int_eq(growmap_close(gms[f]), 0);
		long long bad = tu_verify_file(fds[f], sh.seeds[f], SM_PAGES,
					       (off_t)(highest * page_size));
		ck_assert_msg(bad < 0, "file %d differs at %lld", f, bad);
		close(fds[f]);
		unlink(paths[f]);
	}
}
END_TEST

static const struct tr_case threads_cases[] = {
	TR_CASE(threads_store_random_pages_every_byte_checked),
	TR_CASE(verifier_catches_corruption),
	TR_CASE(several_mappings_many_threads),
	{ NULL }
};

static const struct tr_suite threads_suite = {
	.name = "threads",
	.cases = threads_cases,
	.setup = behaviour_setup,
	.teardown = behaviour_teardown,
};
TR_SUITE(threads_suite)
