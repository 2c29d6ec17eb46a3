/* SPDX-License-Identifier: MIT */
/*
 * Disk is reserved at first touch, not at writeback. A store that cannot
 * be given disk (here: past RLIMIT_FSIZE) gets SIGBUS, as with a plain
 * mapping; the mapping stays usable, the next sync reports the error, and
 * nothing stored before is lost (growmap(7), "Errors and a full disk").
 * check_enospc.c runs out of space on a real filesystem.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "behaviour.h"

/* RLIMIT_FSIZE: a store past the limit gives the storing
 * thread SIGBUS, the mapping stays usable, the next sync says EFBIG, and
 * everything stored before is in the file. */
START_TEST(rlimit_fsize_store_sigbus_then_sync_efbig)
{
	/* SIGXFSZ keeps its default action (end the process): the library
	 * must turn a write past the limit into -EFBIG, not a signal. */
	signal(SIGXFSZ, SIG_DFL);
	int fd = new_file();
	struct growmap *gm = attach(fd, 256 * page_size, 0);
	unsigned char *p = growmap_addr(gm);
	struct rlimit lim = { 16 * page_size, RLIM_INFINITY };
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);

	tu_fill_page(p + 3 * page_size, 1, 3);
	void *addr;
	int code;
	struct tu_access a = { .p = p + 20 * page_size + 7, .value = 9 };
	ck_assert_int_eq(tu_catch_signal(tu_store, &a, &addr, &code), SIGBUS);
	ck_assert_ptr_eq(addr, p + 20 * page_size + 7);
	/* userfaultfd's poison raises BUS_MCEERR_AR on kernels built with
	 * CONFIG_MEMORY_FAILURE, BUS_ADRERR otherwise (growmap(7)). */
	if (tu_backend_is("signal"))
		ck_assert_int_eq(code, BUS_ADRERR);
	else
		ck_assert_msg(code == BUS_ADRERR || code == BUS_MCEERR_AR, "si_code %d", code);
	tu_fill_page(p + 5 * page_size, 2, 5);          /* still usable */
	ck_assert_int_eq(growmap_sync(gm), -EFBIG);
	ck_assert_int_eq(growmap_sync(gm), -EFBIG);     /* sticky */

	uint32_t seeds[32] = { [3] = 1, [5] = 2 };
	ck_assert_int_lt(tu_verify_file(fd, seeds, 32, 6 * page_size), 0);

	/* Once the limit allows it, the page can be stored into after all. */
	lim.rlim_cur = RLIM_INFINITY;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(tu_catch_signal(tu_store, &a, NULL, NULL), 0);
	ck_assert_int_eq(growmap_close(gm), -EFBIG);    /* not acknowledged yet */
	ck_assert_int_eq(growmap_clear_error(gm), -EFBIG);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 21 * page_size);
	unsigned char c;
	ck_assert_int_eq(pread(fd, &c, 1, 20 * page_size + 7), 1);
	ck_assert_int_eq(c, 9);
	close(fd);
}
END_TEST

/* Disk is reserved at first touch, not at writeback. Lowering
 * RLIMIT_FSIZE below the file after the stores cannot make writeback
 * fail: every byte reaches the file and the size is exact. (An I/O error
 * of the device is sticky like any other: see the ENOSPC and EFBIG tests
 * for the sticky path.) */
START_TEST(stores_reserved_at_touch_survive_a_lower_rlimit)
{
	/* SIGXFSZ keeps its default action (end the process): nothing the
	 * library does may write past the limit. */
	signal(SIGXFSZ, SIG_DFL);
	int fd = new_file();
	struct growmap *gm = attach(fd, 256 * page_size, 0);
	unsigned char *p = growmap_addr(gm);
	uint32_t seeds[64] = { 0 };
	for (size_t pg = 0; pg < 64; pg += 9) {
		seeds[pg] = (uint32_t)pg + 100;
		tu_fill_page(p + pg * page_size, seeds[pg], pg);
	}
	struct rlimit lim = { 8 * page_size, RLIM_INFINITY };
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(growmap_sync(gm), 0);
	struct growmap_stats st;
	ck_assert_int_eq(growmap_stats(gm, &st), 0);
	ck_assert_uint_eq(st.writeback_errors, 0);
	ck_assert_int_eq(growmap_close(gm), 0);
	lim.rlim_cur = RLIM_INFINITY;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	long long bad = tu_verify_file(fd, seeds, 64, 64 * page_size);  /* page 63 stored */
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	close(fd);
}
END_TEST

/* When the application ignores SIGBUS, a store that cannot get
 * disk must still end the process with SIGBUS, as a kernel mapping's
 * would, not retry forever. */
START_TEST(unreservable_store_kills_even_with_sigbus_ignored)
{
	int fd = new_file();
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGBUS, SIG_IGN);
		alarm(20);                               /* a retry loop ends as SIGALRM */
		struct growmap *gm;
		if (growmap_open(&gm, fd, 256 * page_size, 0) < 0)
			_exit(2);
		struct rlimit lim = { 4 * page_size, RLIM_INFINITY };
		setrlimit(RLIMIT_FSIZE, &lim);
		((volatile char *)growmap_addr(gm))[10 * page_size] = 1;
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS, "status 0x%x", status);
	close(fd);
}
END_TEST

static const struct tr_case disk_cases[] = {
	TR_CASE(rlimit_fsize_store_sigbus_then_sync_efbig),
	TR_CASE(stores_reserved_at_touch_survive_a_lower_rlimit),
	TR_CASE(unreservable_store_kills_even_with_sigbus_ignored),
	{ NULL }
};

static const struct tr_suite disk_suite = {
	.name = "disk",
	.cases = disk_cases,
	.setup = behaviour_setup,
	.teardown = behaviour_teardown,
};
TR_SUITE(disk_suite)
