/* SPDX-License-Identifier: MIT */
/*
 * How a program ends with a mapping attached: exit() from any thread and
 * a return from main settle the exact size, _exit() keeps every store
 * (growmap(7), ENDINGS); and what a child of fork() gets alone, without
 * growmapd (nothing: growmap(7), NOTES, "fork(2)").
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "behaviour.h"

/* A program that ends without growmap_close, by exit() from its
 * main thread, by exit() from another thread, or by returning from main
 * (which is exit()), leaves its file with the exact size: every page
 * stored, the last one holding only a zero byte. _exit() skips that: the
 * stores are in the file (they live in its page cache), but the size may
 * be up to one growth window long. */
enum { END_EXIT, END_EXIT_THREAD, END_RETURN, END_UNDERSCORE_EXIT };
static void *exit_from_thread(void *arg)
{
	(void)arg;
	exit(0);
}

static void end_without_close(int how)
{
	int fd = new_file();
	uint32_t seeds[48] = { 0 };
	for (size_t pg = 0; pg < 40; pg += 3)
		seeds[pg] = (uint32_t)pg + 7;
	pid_t pid = fork();
	if (pid == 0 && how == END_RETURN) {
		/* tests/end-by-return.c attaches as below, stores the same
		 * pages, then returns */
		char arg[16];
		snprintf(arg, sizeof(arg), "%d", fd);
		fcntl(fd, F_SETFD, 0);
		execl(END_BY_RETURN_PROG, END_BY_RETURN_PROG, arg, (char *)NULL);
		_exit(4);
	}
	if (pid == 0) {
		struct growmap *gm;
		if (growmap_open(&gm, fd, 256 * page_size, 0) < 0)
			_exit(2);
		unsigned char *p = growmap_addr(gm);
		for (size_t pg = 0; pg < 40; pg++)
			if (seeds[pg])
				tu_fill_page(p + pg * page_size, seeds[pg], pg);
		p[44 * page_size + 9] = 0;           /* the highest page: a zero */
		if (how == END_UNDERSCORE_EXIT)
			_exit(0);
		if (how == END_EXIT_THREAD) {
			pthread_t t;
			pthread_create(&t, NULL, exit_from_thread, NULL);
			pthread_join(t, NULL);       /* never returns */
		}
		exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	off_t size = tu_file_size(fd);
	/* Without an extent map (tmpfs) the zero in page 44 does not count:
	 * the highest page with a non-zero byte, 39, decides. */
	off_t exact = (off_t)((tu_has_extent_map(fd) ? 45 : 40) * page_size);
	if (how == END_UNDERSCORE_EXIT) {
		ck_assert_int_ge(size, exact);
		ck_assert_int_le(size, 64 << 20);
	} else {
		ck_assert_int_eq(size, exact);
	}
	long long bad = tu_verify_file(fd, seeds, 48, size);
	ck_assert_msg(bad < 0, "file differs at offset %lld", bad);
	close(fd);
}

START_TEST(exit_without_close_settles_size)
{
	end_without_close(END_EXIT);
}
END_TEST

START_TEST(exit_from_another_thread_settles_size)
{
	end_without_close(END_EXIT_THREAD);
}
END_TEST

START_TEST(return_from_main_settles_size)
{
	end_without_close(END_RETURN);
}
END_TEST

START_TEST(underscore_exit_keeps_stores)
{
	end_without_close(END_UNDERSCORE_EXIT);
}
END_TEST

/* Without growmapd, after fork() the child has nothing mapped at the
 * range (touching it is SIGSEGV), its inherited handle answers -EPERM,
 * and the parent's mapping and file are unaffected. (Through growmapd
 * the child shares the file: check_shared.c.) */
START_TEST(fork_child_gets_no_mapping)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, 1 << 20, 0);
	char *p = growmap_addr(gm);
	strcpy(p, "parent");
	pid_t pid = fork();
	if (pid == 0) {
		struct tu_access a = { .p = (unsigned char *)p, .value = 'c' };
		if (tu_catch_signal(tu_store, &a, NULL, NULL) != SIGSEGV)
			_exit(1);
		a.p = (unsigned char *)p + 5 * page_size;
		if (tu_catch_signal(tu_load, &a, NULL, NULL) != SIGSEGV)
			_exit(2);
		if (growmap_sync(gm) != -EPERM || growmap_close(gm) != -EPERM)
			_exit(3);
		struct growmap *g;
		int fd3 = open(case_path, O_RDWR);
		if (growmap_open(&g, fd3, 1 << 20, 0) != -EBUSY)
			_exit(4);
		_exit(0);
	}
	TU_ASSERT_CHILD_OK(pid);
	ck_assert_str_eq(p, "parent");
	p[page_size] = 'x';
	ck_assert_int_eq(growmap_close(gm), 0);
	char buf[8];
	ck_assert_int_eq(pread(fd, buf, 7, 0), 7);
	ck_assert_str_eq(buf, "parent");
	ck_assert_int_eq(tu_file_size(fd), 2 * page_size);
	close(fd);
}
END_TEST

static const struct tr_case endings_cases[] = {
	TR_CASE(exit_without_close_settles_size),
	TR_CASE(exit_from_another_thread_settles_size),
	TR_CASE(return_from_main_settles_size),
	TR_CASE(underscore_exit_keeps_stores),
	TR_CASE(fork_child_gets_no_mapping, .on = TR_ALONE),
	{ NULL }
};

static const struct tr_suite endings_suite = {
	.name = "endings",
	.cases = endings_cases,
	.setup = behaviour_setup,
	.teardown = behaviour_teardown,
};
TR_SUITE(endings_suite)
