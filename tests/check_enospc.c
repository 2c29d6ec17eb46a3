/* SPDX-License-Identifier: MIT */
/*
 * Out of disk space on a real small filesystem (SPEC 5): a tmpfs mounted
 * with size= in a private mount namespace of the test process. Needs
 * CAP_SYS_ADMIN; without it the program exits 77 (skip) and says why.
 *
 * GROWMAP_ENOSPC_DIR names a directory on a small filesystem of the
 * caller's (make check-fs: ext4, xfs, btrfs, tmpfs) to use instead: the
 * test fills that filesystem up itself, leaving FREE_PAGES pages, and
 * needs no privilege.
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
enum { FREE_PAGES = 16 }; /* left free in GROWMAP_ENOSPC_DIR */
static char mnt[PATH_MAX];
static const char *fill_dir; /* GROWMAP_ENOSPC_DIR, or NULL */

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

/* Fills fill_dir's filesystem but for FREE_PAGES pages: a reserve file of
 * that many pages is allocated first, then a filler with fallocate(2) in
 * ever smaller pieces until not one page more fits, then the reserve is
 * removed and the file system synced so that its blocks are free again.
 * Returns the filler's descriptor. */
static int fill_filesystem(void)
{
	char path[PATH_MAX];
	int reserve = tu_tmpfile(path);
	char reserve_path[PATH_MAX];
	strcpy(reserve_path, path);
	int filler = tu_tmpfile(path);
	ck_assert_int_eq(fallocate(reserve, 0, 0, FREE_PAGES * PS), 0);
	for (off_t piece = (off_t)1 << 30; piece >= PS;) {
		off_t end = tu_file_size(filler);
		if (fallocate(filler, 0, end, piece) == 0)
			continue;
		ck_assert_msg(errno == ENOSPC || errno == EINTR,
			      "filling %s: %s", fill_dir, strerror(errno));
		if (errno == ENOSPC)
			piece /= 2;
	}
	ck_assert_int_eq(fsync(filler), 0);
	ck_assert_int_eq(unlink(reserve_path), 0);
	close(reserve);
	ck_assert_int_eq(syncfs(filler), 0);
	return filler;
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
	int filler = fill_dir ? fill_filesystem() : -1;
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
	printf("SIGBUS at the store into page %zu\n", failed_at);
	fflush(stdout);
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
	const char *dir = getenv("GROWMAP_ENOSPC_DIR");
	if (dir && *dir) {
		fill_dir = dir;
		setenv("GROWMAP_TEST_DIR", dir, 1);
		printf("filling the filesystem of %s\n", dir);
	} else if (geteuid() != 0) {
		printf("SKIP: needs root to mount a small tmpfs\n");
		return 77;
	}
	tu_require_backend();
	const char *why = fill_dir ? NULL : mount_small_tmpfs();
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
	if (!fill_dir) {
		umount2(mnt, MNT_DETACH);
		rmdir(mnt);
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
