/* SPDX-License-Identifier: MIT */
/*
 * Out of disk space on a real small filesystem (SPEC 5): a tmpfs mounted
 * with size= in a private mount namespace of the test process. Needs
 * CAP_SYS_ADMIN; without it the program exits 77 (skip) and says why.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

enum { FS_PAGES = 64 };   /* tmpfs size: 256 KiB */
static char mnt[PATH_MAX];

/* Mounts a FS_PAGES-page tmpfs on a new directory, visible only in this
 * process's own mount namespace, so it vanishes with the process. */
static const char *mount_small_tmpfs(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return "unshare(CLONE_NEWNS) refused (needs CAP_SYS_ADMIN)";
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return "cannot make mounts private";
	snprintf(mnt, sizeof(mnt), "/tmp/growmap-enospc-%d", getpid());
	mkdir(mnt, 0700);
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%u", FS_PAGES * PS);
	if (mount("tmpfs", mnt, "tmpfs", 0, opts) < 0)
		return "mount -t tmpfs refused";
	setenv("GROWMAP_TEST_DIR", mnt, 1);
	return NULL;
}

static void setup(void)
{
	tu_select_backend();
	tu_install_catchers();
}

/* Stores page after page until the filesystem is full: the storing thread
 * gets SIGBUS at the first page that cannot be reserved, the mapping stays
 * usable, the next sync says ENOSPC, and every page stored before is in
 * the file. Freeing space makes the failed page storable again. */
START_TEST(enospc_store_sigbus_then_sync_reports_everything_kept)
{
	setenv("GROWMAP_FAULT_AROUND", "16", 1);
	char path[PATH_MAX];
	int fd = tu_tmpfile(path);
	int filler = -1;
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 2 * FS_PAGES * PS, 0), 0);
	unsigned char *p = growmap_addr(gm);

	uint32_t seeds[2 * FS_PAGES] = { 0 };
	size_t failed_at = SIZE_MAX;
	unsigned char page[PS];
	for (size_t pg = 0; pg < 2 * FS_PAGES; pg++) {
		tu_fill_page(page, (uint32_t)pg + 1, pg);
		struct tu_access a = { .p = p + pg * PS, .value = page[0] };
		void *addr;
		int code;
		int sig = tu_catch_signal(tu_store, &a, &addr, &code);
		if (sig) {
			ck_assert_int_eq(sig, SIGBUS);
			ck_assert_ptr_eq(addr, p + pg * PS);
			failed_at = pg;
			break;
		}
		memcpy(p + pg * PS, page, PS);
		seeds[pg] = (uint32_t)pg + 1;
	}
	ck_assert_msg(failed_at != SIZE_MAX, "no SIGBUS although the filesystem is full");
	ck_assert_uint_gt(failed_at, 0);
	ck_assert_uint_le(failed_at, FS_PAGES);

	/* The mapping stays usable: rewrite a stored page, load a failed one's
	 * neighbours' data. */
	seeds[0] = 999;
	tu_fill_page(p, 999, 0);
	ck_assert_int_eq(growmap_sync(gm), -ENOSPC);
	ck_assert_int_eq(growmap_sync(gm), -ENOSPC);
	long long bad = tu_verify_file(fd, seeds, 2 * FS_PAGES, (off_t)(failed_at * PS));
	ck_assert_msg(bad < 0, "file differs at offset %lld", bad);

	/* Free space by shrinking the file, acknowledge, and the page that
	 * failed can be stored into now. */
	ck_assert_int_eq(growmap_clear_error(gm), -ENOSPC);
	ck_assert_int_eq(growmap_set_size(gm, 4 * PS), 0);
	ck_assert_int_eq(growmap_sync(gm), 0);
	memset(seeds + 4, 0, sizeof(seeds) - 4 * sizeof(seeds[0]));
	struct tu_access a = { .p = p + failed_at * PS, .value = 0x5a };
	ck_assert_int_eq(tu_catch_signal(tu_store, &a, NULL, NULL), 0);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), (off_t)((failed_at + 1) * PS));
	unsigned char c;
	ck_assert_int_eq(pread(fd, &c, 1, (off_t)(failed_at * PS)), 1);
	ck_assert_int_eq(c, 0x5a);
	bad = tu_verify_file(fd, seeds, 4, (off_t)((failed_at + 1) * PS));
	ck_assert_msg(bad < 0, "file differs at offset %lld", bad);
	if (filler >= 0)
		close(filler);
	close(fd);
	unlink(path);
}
END_TEST

int main(void)
{
	if (geteuid() != 0) {
		printf("SKIP: needs root to mount a small tmpfs\n");
		return 77;
	}
	tu_require_backend();
	const char *why = mount_small_tmpfs();
	if (why) {
		printf("SKIP: %s: %s\n", why, strerror(errno));
		return 77;
	}
	Suite *s = suite_create("enospc-" TEST_BACKEND);
	TCase *tc = tcase_create("enospc");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, enospc_store_sigbus_then_sync_reports_everything_kept);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
