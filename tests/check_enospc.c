/* SPDX-License-Identifier: MIT */
/*
 * Out of disk space on a real small filesystem: the programs
 * check_enospc_uffd and check_enospc_signal. By default a tmpfs mounted
 * with size= in a private mount namespace of the test process. Needs
 * CAP_SYS_ADMIN; without it the program exits 77 (skip) and says why.
 *
 * GROWMAP_ENOSPC_DIR names a directory on a small filesystem of the
 * caller's (make check-fs: ext4, xfs, btrfs, tmpfs) to use instead; it
 * needs no privilege. Either way each case fills the filesystem up
 * itself, leaving a few pages free.
 *
 * Two ways a store meets a full disk (growmap(7), "Errors and a full
 * disk"; README, "Not done yet"):
 *  - growmap reserves the page (fallocate(2)) and cannot: SIGBUS for the
 *    storing thread and the error sticky, returned by every sync;
 *  - the page is a hole of an isolated store's fault-around group, which
 *    the file system allocates itself: its own SIGBUS at the store, which
 *    growmap never sees, so no sticky error.
 * On btrfs, storing again into a page already written back needs new
 * space (copy-on-write): on a full btrfs that store gets the file
 * system's SIGBUS too, until space is freed.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "runner.h"
#include "testutil.h"

enum { FS_PAGES = 64 };   /* tmpfs size: 256 KiB */
enum { FREE_PAGES = 16 }; /* left free for the store that growmap refuses */
enum { GROUP = 16 };      /* fault-around group of the hole case */
enum { HOLE_FREE_PAGES = 8 }; /* left free for it: runs out inside the group */
static char mnt[PATH_MAX];   /* the tmpfs of this process's own, if any */
static const char *fill_dir; /* the filesystem to fill */

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
	snprintf(opts, sizeof(opts), "size=%zu", FS_PAGES * page_size);
	if (mount("tmpfs", mnt, "tmpfs", 0, opts) < 0)
		return "mount -t tmpfs refused";
	return NULL;
}

/* A file of the test's own in fill_dir, emptied: a case that failed
 * (Check ends its process with _exit, so nothing removes its files)
 * leaves its filler, and the next case takes that space back here. */
static int fixed_file(const char *name, char *path)
{
	snprintf(path, PATH_MAX, "%s/growmap-test-enospc-%s", fill_dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	return fd;
}

/* Fills fill_dir's filesystem but for 'free_pages' pages: a reserve file
 * of that many pages is allocated first, then a filler with fallocate(2)
 * in ever smaller pieces until not one page more fits, then the reserve
 * is removed and the file system synced so that its blocks are free
 * again. Returns the filler's descriptor; its path goes to 'path'. */
static int fill_filesystem(unsigned free_pages, char *path)
{
	char reserve_path[PATH_MAX];
	int filler = fixed_file("filler", path);
	int reserve = fixed_file("reserve", reserve_path);
	ck_assert_int_eq(syncfs(filler), 0);   /* what was freed before */
	ck_assert_int_eq(fallocate(reserve, 0, 0, (off_t)free_pages * page_size), 0);
	for (off_t piece = (off_t)1 << 30; piece >= (off_t)page_size;) {
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

/* Does storing again into a page already written back need new space?
 * On btrfs (copy-on-write) it does. */
static bool rewrite_needs_space(int fd)
{
	struct statfs sfs;
	ck_assert_int_eq(fstatfs(fd, &sfs), 0);
	return sfs.f_type == BTRFS_SUPER_MAGIC;
}

/* Stores page after page (seed page + 1) from page 0 until a store gets
 * SIGBUS, at its own address; returns that page. seeds[] records what
 * was stored. */
static size_t store_until_sigbus(unsigned char *p, uint32_t *seeds, size_t npages)
{
	unsigned char page[page_size];
	for (size_t pg = 0; pg < npages; pg++) {
		tu_fill_page(page, (uint32_t)pg + 1, pg);
		struct tu_access a = { .p = p + pg * page_size, .value = page[0] };
		void *addr;
		int sig = tu_catch_signal(tu_store, &a, &addr, NULL);
		if (sig) {
			ck_assert_int_eq(sig, SIGBUS);
			ck_assert_ptr_eq(addr, p + pg * page_size);
			printf("SIGBUS at the store into page %zu\n", pg);
			fflush(stdout);
			return pg;
		}
		memcpy(p + pg * page_size, page, page_size);
		seeds[pg] = (uint32_t)pg + 1;
	}
	ck_abort_msg("no SIGBUS in %zu pages although the filesystem is full", npages);
	return 0;
}

/* A store into page 0, stored before and written back by a sync since.
 * It lands, except on a btrfs that is 'full': there it needs new space
 * and gets the file system's SIGBUS at that address, and the page keeps
 * what it had. Returns whether it landed (seeds[0] then says so). */
static bool rewrite_first_page(int fd, unsigned char *p, uint32_t *seeds, bool full)
{
	struct tu_access a = { .p = p, .value = tu_pattern(999, 0) };
	void *addr = NULL;
	int sig = tu_catch_signal(tu_store, &a, &addr, NULL);
	if (full && rewrite_needs_space(fd)) {
		ck_assert_msg(sig == SIGBUS, "full btrfs: rewriting a written page got "
			      "signal %d, not SIGBUS", sig);
		ck_assert_ptr_eq(addr, p);
		return false;
	}
	ck_assert_msg(sig == 0, "rewriting page 0 got signal %d", sig);
	tu_fill_page(p, 999, 0);
	seeds[0] = 999;
	return true;
}

/* Every page is reserved by growmap (fault-around of one page: no holes):
 * the storing thread gets SIGBUS at the first page that cannot be
 * reserved, the mapping stays usable, every sync says ENOSPC until
 * acknowledged, and every page stored before is in the file. Freeing
 * space by shrinking the file makes the failed page storable again. */
START_TEST(enospc_store_sigbus_then_sync_reports_everything_kept)
{
	setenv("GROWMAP_FAULT_AROUND", "1", 1);
	char path[PATH_MAX], filler_path[PATH_MAX];
	int fd = tu_tmpfile(path);
	int filler = fill_filesystem(FREE_PAGES, filler_path);
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 2 * FS_PAGES * page_size, 0), 0);
	unsigned char *p = growmap_addr(gm);

	uint32_t seeds[2 * FS_PAGES] = { 0 };
	size_t failed_at = store_until_sigbus(p, seeds, 2 * FS_PAGES);
	ck_assert_uint_gt(failed_at, 0);
	ck_assert_uint_le(failed_at, FREE_PAGES);

	ck_assert_int_eq(growmap_sync(gm), -ENOSPC);
	/* The mapping stays usable. */
	bool rewritten = rewrite_first_page(fd, p, seeds, true);
	ck_assert_int_eq(growmap_sync(gm), -ENOSPC);
	long long bad = tu_verify_file(fd, seeds, 2 * FS_PAGES, (off_t)(failed_at * page_size));
	ck_assert_msg(bad < 0, "file differs at offset %lld", bad);

	/* Free space by shrinking the file, acknowledge, and the page that
	 * failed can be stored into now, and page 0 rewritten on btrfs. */
	ck_assert_int_eq(growmap_clear_error(gm), -ENOSPC);
	ck_assert_int_eq(growmap_set_size(gm, 4 * page_size), 0);
	ck_assert_int_eq(growmap_sync(gm), 0);
	memset(seeds + 4, 0, sizeof(seeds) - 4 * sizeof(seeds[0]));
	if (!rewritten)
		rewrite_first_page(fd, p, seeds, false);
	struct tu_access a = { .p = p + failed_at * page_size, .value = 0x5a };
	ck_assert_int_eq(tu_catch_signal(tu_store, &a, NULL, NULL), 0);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), (off_t)((failed_at + 1) * page_size));
	unsigned char c;
	ck_assert_int_eq(pread(fd, &c, 1, (off_t)(failed_at * page_size)), 1);
	ck_assert_int_eq(c, 0x5a);
	bad = tu_verify_file(fd, seeds, 4, (off_t)((failed_at + 1) * page_size));
	ck_assert_msg(bad < 0, "file differs at offset %lld", bad);
	close(filler);
	unlink(filler_path);
	close(fd);
	unlink(path);
}
END_TEST

/* An isolated store reserves its own page and maps its fault-around group
 * with the rest of the group as holes. With fewer pages free than the
 * group, a store into one of those holes is the one refused, by the file
 * system: its SIGBUS, at the store's address, and no sticky error, since
 * growmap never sees it (README, "Not done yet"). Everything stored
 * before is in the file, the exact size ends at the last page stored,
 * and once space is freed the refused page is stored like any other. */
START_TEST(enospc_store_into_hole_gets_the_file_systems_sigbus)
{
	char buf[16];
	snprintf(buf, sizeof(buf), "%d", GROUP);
	setenv("GROWMAP_FAULT_AROUND", buf, 1);
	char path[PATH_MAX], filler_path[PATH_MAX];
	int fd = tu_tmpfile(path);
	int filler = fill_filesystem(HOLE_FREE_PAGES, filler_path);
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 2 * FS_PAGES * page_size, 0), 0);
	unsigned char *p = growmap_addr(gm);

	uint32_t seeds[2 * FS_PAGES] = { 0 };
	size_t failed_at = store_until_sigbus(p, seeds, 2 * FS_PAGES);
	/* Page 0 was growmap's to reserve; the pages after it up to the end
	 * of its group are holes. */
	ck_assert_uint_gt(failed_at, 0);
	ck_assert_uint_lt(failed_at, GROUP);

	/* No sticky error: the refusal was the file system's. */
	ck_assert_int_eq(growmap_sync(gm), 0);
	long long bad = tu_verify_file(fd, seeds, 2 * FS_PAGES, (off_t)(failed_at * page_size));
	ck_assert_msg(bad < 0, "file differs at offset %lld", bad);
	bool rewritten = rewrite_first_page(fd, p, seeds, true);

	/* Free space by cutting the filler down: page 0 (if btrfs refused
	 * it) and the refused page are stored now. */
	off_t shorter = tu_file_size(filler) - (off_t)(GROUP * page_size);
	ck_assert_int_eq(ftruncate(filler, shorter), 0);
	ck_assert_int_eq(syncfs(filler), 0);
	if (!rewritten)
		rewrite_first_page(fd, p, seeds, false);
	unsigned char page[page_size];
	tu_fill_page(page, 777, failed_at);
	struct tu_access a = { .p = p + failed_at * page_size, .value = page[0] };
	ck_assert_int_eq(tu_catch_signal(tu_store, &a, NULL, NULL), 0);
	memcpy(p + failed_at * page_size, page, page_size);
	seeds[failed_at] = 777;
	ck_assert_int_eq(growmap_close(gm), 0);
	bad = tu_verify_file(fd, seeds, 2 * FS_PAGES, (off_t)((failed_at + 1) * page_size));
	ck_assert_msg(bad < 0, "file differs at offset %lld", bad);
	close(filler);
	unlink(filler_path);
	close(fd);
	unlink(path);
}
END_TEST

/* The filesystem to fill: GROWMAP_ENOSPC_DIR's, else a small tmpfs of
 * this process's own (root only). */
static const char *choose_filesystem(void)
{
	static char why[256];
	const char *dir = getenv("GROWMAP_ENOSPC_DIR");
	if (dir && *dir) {
		printf("filling the filesystem of %s\n", dir);
	} else {
		if (geteuid() != 0)
			return "needs root to mount a small tmpfs";
		const char *err = mount_small_tmpfs();
		if (err) {
			snprintf(why, sizeof(why), "%s: %s", err, strerror(errno));
			return why;
		}
		dir = mnt;
	}
	fill_dir = dir;
	setenv("GROWMAP_TEST_DIR", dir, 1);
	return NULL;
}

static void unmount_own_tmpfs(void)
{
	if (fill_dir == mnt) {
		umount2(mnt, MNT_DETACH);
		rmdir(mnt);
	}
}

static const struct tr_case enospc_cases[] = {
	TR_CASE(enospc_store_sigbus_then_sync_reports_everything_kept),
	TR_CASE(enospc_store_into_hole_gets_the_file_systems_sigbus),
	{ NULL }
};

static const struct tr_suite enospc_suite = {
	.name = "enospc",
	.cases = enospc_cases,
	.setup = tu_install_catchers,
	.start = choose_filesystem,
	.finish = unmount_own_tmpfs,
};
TR_SUITE(enospc_suite)
