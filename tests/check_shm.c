/* SPDX-License-Identifier: MIT */
/*
 * The AIX layer (<growmap/shm.h>): the programs check_shm_uffd and
 * check_shm_signal. Every case runs in its own child process; files are
 * read back with read(2), never through the mapping alone.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <growmap/shm.h>

#include "runner.h"
#include "shm-replace.h"
#include "testutil.h"

/* The reservation of a growmap_shmat() attach: the configured default. */
#define SEG ((size_t)256 << 20)

static char path[PATH_MAX];

static void *const FAILED = (void *)-1;

/* growmap_shmat() that must succeed, served by the backend under test. */
static char *attach(int fd, const void *addr, int flags)
{
	char *p = growmap_shmat(fd, addr, flags);
	ck_assert_msg(p != FAILED, "growmap_shmat(%d, %p, %#o): %s", fd, addr, flags,
		      strerror(errno));
	struct growmap *gm = growmap_shm_handle(p);
	ck_assert_ptr_nonnull(gm);
	ck_assert_ptr_eq(growmap_addr(gm), p);
	ck_assert_str_eq(growmap_backend(gm), tu_backend);
	return p;
}

/* growmap_shmat() that must fail with 'err'. */
static void attach_fails(int fd, const void *addr, int flags, int err)
{
	errno = 0;
	void *p = growmap_shmat(fd, addr, flags);
	ck_assert_msg(p == FAILED, "growmap_shmat(%d, %p, %#o) succeeded", fd, addr, flags);
	ck_assert_msg(errno == err, "growmap_shmat(%d, %p, %#o): errno %s, want %s",
		      fd, addr, flags, strerror(errno), strerror(err));
}

/* Is anything mapped at the page of 'p'? msync(2) says ENOMEM if not. */
static bool is_mapped(const void *p)
{
	void *page = (void *)((uintptr_t)p & ~(uintptr_t)(page_size - 1));
	return msync(page, page_size, MS_ASYNC) == 0 || errno != ENOMEM;
}

/* A free stretch of address space of 'len' bytes, held by a PROT_NONE
 * placeholder: carve() frees the part an attach is about to use, so
 * that threads started by earlier attaches cannot put stacks there. */
static char *hold_address_space(size_t len)
{
	char *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

static void carve(char *p, size_t len)
{
	ck_assert_int_eq(munmap(p, len), 0);
}

static int store_signal(char *p, unsigned char value)
{
	struct tu_access a = { .p = (unsigned char *)p, .value = value };
	return tu_catch_signal(tu_store, &a, NULL, NULL);
}

static int load_signal(const char *p)
{
	struct tu_access a = { .p = (unsigned char *)p };
	return tu_catch_signal(tu_load, &a, NULL, NULL);
}

static void set_old_times(int fd)
{
	const struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	ck_assert_int_eq(futimens(fd, old), 0);
}

static void expect_bytes(int fd, off_t off, const char *want, size_t len)
{
	char buf[64];
	ck_assert_uint_le(len, sizeof(buf));
	ck_assert_int_eq(pread(fd, buf, len, off), (ssize_t)len);
	ck_assert_msg(memcmp(buf, want, len) == 0, "file bytes at %lld differ", (long long)off);
}

/* Stores beyond the end of the file make it grow to the end of the
 * highest page stored into; what was in the file shows through. */
START_TEST(stores_beyond_eof_grow_the_file)
{
	int fd = tu_tmpfile(path);
	ck_assert_int_eq(pwrite(fd, "head", 4, 0), 4);
	char *p = attach(fd, NULL, SHM_MAP);
	ck_assert_int_eq(memcmp(p, "head", 4), 0);
	ck_assert_int_eq(p[5000], 0);
	memcpy(p + 3 * page_size + 10, "mid", 3);
	p[90000] = 'Z';
	ck_assert_int_eq(growmap_shmdt(p), 0);
	/* The end of the highest page stored into: 90000's, 90112 bytes on
	 * 4 KiB pages (on pages of 32 KiB or more, page 3's). */
	size_t highest = 90000 / page_size > 3 ? 90000 / page_size : 3;
	size_t size = (highest + 1) * page_size;
	ck_assert_int_eq(tu_file_size(fd), size);

	char *buf = malloc(size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, size + 1, 0), size);
	for (size_t i = 0; i < size; i++) {
		char want = 0;
		if (i < 4)
			want = "head"[i];
		else if (i >= 3 * page_size + 10 && i < 3 * page_size + 13)
			want = "mid"[i - (3 * page_size + 10)];
		else if (i == 90000)
			want = 'Z';
		ck_assert_msg(buf[i] == want, "byte %zu is %d, want %d", i, buf[i], want);
	}
	free(buf);
	close(fd);
}
END_TEST

/* The range is one AIX segment, 256 MiB (the configured default
 * reservation); beyond it is the guard page. */
START_TEST(range_is_one_segment_by_default)
{
	int fd = tu_tmpfile(path);
	char *p = attach(fd, NULL, SHM_MAP);
	ck_assert_int_eq(store_signal(p + SEG - 1, 'e'), 0);
	ck_assert_int_eq(store_signal(p + SEG, 'x'), SIGSEGV);
	ck_assert_int_eq(growmap_shmdt(p), 0);
	ck_assert_int_eq(tu_file_size(fd), (off_t)SEG);
	expect_bytes(fd, SEG - 1, "e", 1);

	/* The configured default reservation is what counts. */
	setenv("GROWMAP_RESERVE", "1M", 1);
	p = attach(fd, NULL, SHM_MAP | SHM_RDONLY);
	ck_assert_int_eq(load_signal(p + (1 << 20) - 1), 0);
	ck_assert_int_eq(load_signal(p + (1 << 20)), SIGSEGV);
	ck_assert_int_eq(growmap_shmdt(p), 0);
	close(fd);
}
END_TEST

/* SHM_RDONLY: loads see the file, stores raise SIGSEGV, and the file,
 * its size and its times stay exactly as they were. */
START_TEST(rdonly_store_is_sigsegv_and_file_untouched)
{
	int fd = tu_tmpfile(path);
	ck_assert_int_eq(pwrite(fd, "hello", 5, 0), 5);
	set_old_times(fd);
	int ro = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(ro, 0);

	char *p = attach(ro, NULL, SHM_MAP | SHM_RDONLY);
	ck_assert_int_eq(memcmp(p, "hello", 5), 0);
	ck_assert_int_eq(p[3 * page_size], 0);
	ck_assert_int_eq(store_signal(p + 1, 'E'), SIGSEGV);
	ck_assert_int_eq(store_signal(p + 3 * page_size, 'x'), SIGSEGV);
	ck_assert_int_eq(growmap_shm_fsync(ro), 0);
	ck_assert_int_eq(growmap_shmdt(p), 0);
	ck_assert(!is_mapped(p));

	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 5);
	ck_assert_int_eq(st.st_mtim.tv_sec, 1000000000);
	ck_assert_int_eq(st.st_mtim.tv_nsec, 0);
	expect_bytes(fd, 0, "hello", 5);

	/* The descriptor's access mode must allow the mapping. */
	attach_fails(ro, NULL, SHM_MAP, EACCES);
	int wo = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(wo, 0);
	attach_fails(wo, NULL, SHM_MAP | SHM_RDONLY, EACCES);
	attach_fails(wo, NULL, SHM_MAP, EACCES);
	close(wo);
	close(ro);
	close(fd);
}
END_TEST

/* A non-zero address is honoured exactly; the guard page follows. */
START_TEST(address_is_honoured)
{
	int fd = tu_tmpfile(path);
	char *x = hold_address_space(SEG + 2 * page_size);
	carve(x, SEG + 2 * page_size);
	char *p = attach(fd, x, SHM_MAP);
	ck_assert_ptr_eq(p, x);
	strcpy(p + 7, "placed");
	ck_assert_int_eq(load_signal(p + SEG), SIGSEGV);
	ck_assert(is_mapped(p + SEG));                   /* the guard, not a hole */
	ck_assert_int_eq(growmap_shmdt(p), 0);
	ck_assert(!is_mapped(p));
	ck_assert(!is_mapped(p + SEG));
	expect_bytes(fd, 7, "placed", 7);

	/* Attached again at the same address, read-only: the same bytes. */
	p = attach(fd, x, SHM_MAP | SHM_RDONLY);
	ck_assert_ptr_eq(p, x);
	ck_assert_str_eq(p + 7, "placed");
	ck_assert_int_eq(growmap_shmdt(p), 0);
	close(fd);
}
END_TEST

/* SHM_RND rounds the address down to a multiple of SHMLBA; without it a
 * misaligned address is EINVAL, and so is one that rounds to zero. */
START_TEST(shm_rnd_rounds_down_misaligned_is_einval)
{
	int fd = tu_tmpfile(path);
	size_t lba = SHMLBA;
	char *x = hold_address_space(SEG + 2 * page_size + lba);
	x = (char *)(((uintptr_t)x + lba - 1) & ~(uintptr_t)(lba - 1));
	carve(x, SEG + page_size);

	attach_fails(fd, x + lba / 2 + 3, SHM_MAP, EINVAL);
	attach_fails(fd, x + 1, SHM_MAP | SHM_RDONLY, EINVAL);
	attach_fails(fd, (void *)(uintptr_t)(lba - 1), SHM_MAP | SHM_RND, EINVAL);
	char *p = attach(fd, x + lba / 2 + 3, SHM_MAP | SHM_RND);
	ck_assert_ptr_eq(p, x);
	p[1] = 'r';
	ck_assert_int_eq(growmap_shmdt(p), 0);
	expect_bytes(fd, 1, "r", 1);
	/* The refused attaches left nothing behind: no writer, nothing mapped. */
	p = attach(fd, NULL, SHM_MAP);
	ck_assert_int_eq(growmap_shmdt(p), 0);
	close(fd);
}
END_TEST

/* A range overlapping anything already mapped is EINVAL, and what is
 * mapped there is left as it was. */
START_TEST(occupied_range_is_einval)
{
	int fd = tu_tmpfile(path);
	char *x = hold_address_space(SEG + 2 * page_size);
	carve(x, SEG + 2 * page_size);
	char *mine = mmap(x + 10 * page_size, page_size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ck_assert_ptr_eq(mine, x + 10 * page_size);
	*mine = 'k';
	attach_fails(fd, x, SHM_MAP, EINVAL);
	attach_fails(fd, x, SHM_MAP | SHM_RDONLY, EINVAL);
	ck_assert_int_eq(*mine, 'k');
	ck_assert(!is_mapped(x));                        /* nothing left around it */
	ck_assert(!is_mapped(x + 11 * page_size));
	munmap(mine, page_size);

	/* Over another growmap range. */
	char *p = attach(fd, x, SHM_MAP);
	int fd2 = tu_tmpfile(path);
	attach_fails(fd2, x + SEG - page_size, SHM_MAP, EINVAL);
	attach_fails(fd2, x, SHM_MAP | SHM_RDONLY, EINVAL);
	p[0] = 'a';
	ck_assert_int_eq(growmap_shmdt(p), 0);
	expect_bytes(fd, 0, "a", 1);
	ck_assert_int_eq(tu_file_size(fd2), 0);
	close(fd2);
	close(fd);
}
END_TEST

/* Segments attached back to back, as AIX programs lay them out: the
 * second takes over the first one's guard page, an access beyond the
 * first reaches the second, and the guard comes back at detach. */
START_TEST(back_to_back_segments)
{
	char path2[PATH_MAX];
	int f1 = tu_tmpfile(path), f2 = tu_tmpfile(path2);
	char *x = hold_address_space(2 * SEG + 2 * page_size);

	carve(x, SEG + page_size);
	char *a = attach(f1, x, SHM_MAP);
	carve(x + SEG + page_size, SEG);
	char *b = attach(f2, x + SEG, SHM_MAP);
	ck_assert_ptr_eq(b, a + SEG);
	a[SEG - 1] = 'a';
	a[SEG] = 'b';                                     /* b[0] */
	ck_assert_int_eq(b[0], 'b');
	ck_assert_int_eq(store_signal(b + SEG, 'x'), SIGSEGV);  /* b's guard */
	ck_assert_int_eq(growmap_shmdt(b), 0);
	ck_assert(is_mapped(a + SEG));                    /* a's guard is back */
	ck_assert_int_eq(load_signal(a + SEG), SIGSEGV);
	ck_assert(!is_mapped(a + SEG + page_size));

	/* The other order: the first range is attached where its guard page
	 * would be the second range's first page, so it has none. */
	b = attach(f2, a + SEG, SHM_MAP);                 /* takes a's guard again */
	ck_assert_int_eq(growmap_shmdt(a), 0);
	ck_assert(!is_mapped(a));
	a = attach(f1, x, SHM_MAP);
	ck_assert_ptr_eq(a, x);
	ck_assert_int_eq(a[SEG - 1], 'a');
	ck_assert_int_eq(a[SEG], 'b');
	ck_assert_int_eq(growmap_shmdt(b), 0);
	ck_assert(is_mapped(a + SEG));                    /* a gets a guard */
	ck_assert_int_eq(store_signal(a + SEG, 'x'), SIGSEGV);
	ck_assert_int_eq(growmap_shmdt(a), 0);
	ck_assert(!is_mapped(a));
	ck_assert(!is_mapped(a + SEG));

	ck_assert_int_eq(tu_file_size(f1), (off_t)SEG);
	ck_assert_int_eq(tu_file_size(f2), page_size);
	expect_bytes(f1, SEG - 1, "a", 1);
	expect_bytes(f2, 0, "b", 1);
	munmap(x + 2 * SEG + page_size, page_size);
	close(f1);
	close(f2);
}
END_TEST

/* shmdt writes back, detaches, and sets the modification and change
 * times of a read-write attach to the time of the detach. */
START_TEST(shmdt_writes_back_detaches_sets_times)
{
	int fd = tu_tmpfile(path);
	set_old_times(fd);
	time_t before = time(NULL) - 1;  /* the file system clock is coarse */
	char *p = attach(fd, NULL, SHM_MAP);
	strcpy(p + 2 * page_size, "data");
	ck_assert_int_eq(growmap_shmdt(p), 0);
	ck_assert(!is_mapped(p));
	ck_assert(!is_mapped(p + 5 * page_size));
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_ge(st.st_mtime, before);
	ck_assert_int_ge(st.st_ctime, before);
	/* (atime is the kernel's: mapping a file counts as reading it.) */
	ck_assert_int_eq(st.st_size, 3 * page_size);
	expect_bytes(fd, 2 * page_size, "data", 5);        /* (reading sets atime) */

	/* A read-write attach with no store: the detach still counts. */
	set_old_times(fd);
	p = attach(fd, NULL, SHM_MAP);
	ck_assert_int_eq(p[2 * page_size], 'd');
	ck_assert_int_eq(growmap_shmdt(p), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_ge(st.st_mtime, before);
	ck_assert_int_eq(st.st_size, 3 * page_size);

	/* Detached: a second shmdt finds nothing; the descriptor is open. */
	errno = 0;
	ck_assert_int_eq(growmap_shmdt(p), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	close(fd);
}
END_TEST

/* growmap_shm_fsync() puts every store made before it in the file,
 * through the descriptor attached or any other one of the same file. */
START_TEST(shm_fsync_writes_back_and_syncs)
{
	setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "3600000", 1);  /* no background pass */
	int fd = tu_tmpfile(path);
	char *p = attach(fd, NULL, SHM_MAP);
	memcpy(p + 5 * page_size + 7, "durable", 7);
	expect_bytes(fd, 5 * page_size + 7, "durable", 7); /* in the file at once */
	ck_assert_int_eq(growmap_shm_fsync(fd), 0);
	ck_assert_int_eq(tu_file_size(fd), 6 * page_size);
	expect_bytes(fd, 5 * page_size + 7, "durable", 7);

	int other = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(other, 0);
	p[9 * page_size] = 'q';
	ck_assert_int_eq(growmap_shm_fsync(other), 0);
	ck_assert_int_eq(tu_file_size(fd), 10 * page_size);
	expect_bytes(fd, 9 * page_size, "q", 1);
	struct growmap_stats st;
	ck_assert_int_eq(growmap_stats(growmap_shm_handle(p), &st), 0);
	ck_assert_uint_eq(st.syncs, 2);

	/* A file nothing maps: plain fsync. A bad descriptor: EBADF. */
	char path2[PATH_MAX];
	int plain = tu_tmpfile(path2);
	ck_assert_int_eq(growmap_shm_fsync(plain), 0);
	errno = 0;
	ck_assert_int_eq(growmap_shm_fsync(-1), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(growmap_shmdt(p), 0);
	close(plain);
	close(other);
	close(fd);
}
END_TEST

/* growmap_shm_close() detaches what was attached through the descriptor,
 * writing it back first, then closes the descriptor; attaches of the
 * same file through other descriptors stay. */
START_TEST(shm_close_detaches_and_closes)
{
	setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "3600000", 1);
	int fd = tu_tmpfile(path);
	int ro = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(ro, 0);
	char *p = attach(fd, NULL, SHM_MAP);
	char *q = attach(ro, NULL, SHM_MAP | SHM_RDONLY);
	p[4 * page_size] = 'c';
	ck_assert_int_eq(growmap_shm_close(fd), 0);
	errno = 0;
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert(!is_mapped(p));
	ck_assert_ptr_null(growmap_shm_handle(p));
	ck_assert(is_mapped(q));
	ck_assert_int_eq(tu_file_size(ro), 5 * page_size);
	expect_bytes(ro, 4 * page_size, "c", 1);

	ck_assert_int_eq(growmap_shm_close(ro), 0);
	ck_assert(!is_mapped(q));
	ck_assert_int_eq(fcntl(ro, F_GETFD), -1);

	/* A descriptor nothing was attached through: plain close. */
	int plain = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(growmap_shm_close(plain), 0);
	ck_assert_int_eq(fcntl(plain, F_GETFD), -1);
	errno = 0;
	ck_assert_int_eq(growmap_shm_close(-1), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

/* When the file cannot be written (here: a store past RLIMIT_FSIZE, which
 * gets SIGBUS), shmdt, fsync and close say so, and the mapping and the
 * descriptor stay: nothing stored is lost. Once the cause is gone and the
 * error acknowledged, the detach completes. */
START_TEST(writeback_failure_keeps_mapping_and_descriptor)
{
	signal(SIGXFSZ, SIG_DFL);    /* a write past the limit must be EFBIG */
	setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "3600000", 1);
	int fd = tu_tmpfile(path);
	char *p = attach(fd, NULL, SHM_MAP);
	uint32_t seeds[80] = { 0 };
	for (size_t pg = 0; pg < 64; pg += 9) {
		seeds[pg] = (uint32_t)pg + 300;
		tu_fill_page((unsigned char *)p + pg * page_size, seeds[pg], pg);
	}
	struct rlimit lim = { 72 * page_size, RLIM_INFINITY };
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	struct tu_access a = { .p = (unsigned char *)p + 75 * page_size, .value = 7 };
	ck_assert_int_eq(tu_catch_signal(tu_store, &a, NULL, NULL), SIGBUS);
	errno = 0;
	ck_assert_int_eq(growmap_shmdt(p), -1);
	ck_assert_int_eq(errno, EFBIG);
	errno = 0;
	ck_assert_int_eq(growmap_shm_fsync(fd), -1);
	ck_assert_int_eq(errno, EFBIG);
	errno = 0;
	ck_assert_int_eq(growmap_shm_close(fd), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);          /* not closed */
	ck_assert_ptr_nonnull(growmap_shm_handle(p));     /* still attached */
	unsigned char page[page_size];
	for (size_t pg = 0; pg < 64; pg += 9) {
		tu_fill_page(page, seeds[pg], pg);
		ck_assert_int_eq(memcmp(p + pg * page_size, page, page_size), 0);
	}

	lim.rlim_cur = RLIM_INFINITY;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(growmap_shmdt(p), -1);          /* sticky until acknowledged */
	ck_assert_int_eq(growmap_clear_error(growmap_shm_handle(p)), -EFBIG);
	ck_assert_int_eq(growmap_shmdt(p), 0);
	long long bad = tu_verify_file(fd, seeds, 80, 64 * page_size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	close(fd);
}
END_TEST

/* SHM_COPY (AIX's deferred update, 040000) is refused with EOPNOTSUPP;
 * the header leaves the name undefined (its value is Linux's SHM_REMAP).
 * Flags that mean nothing with SHM_MAP are EINVAL. */
START_TEST(shm_copy_refused_unknown_flags_einval)
{
#ifdef SHM_COPY
	ck_abort_msg("<growmap/shm.h> defines SHM_COPY");
#endif
	ck_assert_int_eq(SHM_MAP, 004000);
	int fd = tu_tmpfile(path);
	attach_fails(fd, NULL, SHM_MAP | 040000, EOPNOTSUPP);
	attach_fails(fd, NULL, SHM_MAP | SHM_RDONLY | 040000, EOPNOTSUPP);
	attach_fails(fd, NULL, SHM_MAP | SHM_EXEC, EINVAL);
	attach_fails(fd, NULL, SHM_MAP | 01, EINVAL);
	char *p = attach(fd, NULL, SHM_MAP);          /* nothing was left attached */
	ck_assert_int_eq(growmap_shmdt(p), 0);
	ck_assert_int_eq(tu_file_size(fd), 0);
	close(fd);
}
END_TEST

/* Bad descriptors and addresses get the errno AIX documents. */
START_TEST(bad_input_gets_errno)
{
	attach_fails(-1, NULL, SHM_MAP, EBADF);
	attach_fails(-1, NULL, SHM_MAP | SHM_RDONLY, EBADF);
	int closed = tu_tmpfile(path);
	close(closed);
	attach_fails(closed, NULL, SHM_MAP, EBADF);

	int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	attach_fails(dir, NULL, SHM_MAP | SHM_RDONLY, EBADF);
	attach_fails(dir, NULL, SHM_MAP, EBADF);
	close(dir);
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	attach_fails(pipefd[0], NULL, SHM_MAP | SHM_RDONLY, EBADF);
	attach_fails(pipefd[1], NULL, SHM_MAP, EBADF);
	close(pipefd[0]);
	close(pipefd[1]);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	attach_fails(null, NULL, SHM_MAP, EBADF);
	close(null);

	int fd = tu_tmpfile(path);
	int opath = open(path, O_PATH | O_CLOEXEC);
	attach_fails(opath, NULL, SHM_MAP | SHM_RDONLY, EBADF);
	close(opath);
	int app = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	attach_fails(app, NULL, SHM_MAP, EINVAL);
	close(app);

	/* One read-write attach per file; read-only ones alongside. */
	char *p = attach(fd, NULL, SHM_MAP);
	int again = open(path, O_RDWR | O_CLOEXEC);
	attach_fails(again, NULL, SHM_MAP, EBUSY);
	attach_fails(fd, NULL, SHM_MAP, EBUSY);
	char *q = attach(again, NULL, SHM_MAP | SHM_RDONLY);
	ck_assert_int_eq(growmap_shmdt(q), 0);
	close(again);

	/* shmdt of an address where nothing starts: EINVAL, nothing detached. */
	char *heap = malloc(64);
	errno = 0;
	ck_assert_int_eq(growmap_shmdt(heap), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(growmap_shmdt(NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(growmap_shmdt(p + page_size), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(growmap_shm_handle(heap));
	ck_assert_int_eq(errno, EINVAL);
	free(heap);
	p[0] = 'k';
	ck_assert(is_mapped(p + page_size));
	ck_assert_int_eq(growmap_shmdt(p), 0);
	expect_bytes(fd, 0, "k", 1);
	close(fd);
}
END_TEST

/* After fork() the child has nothing attached (growmap_open(3)): its
 * shmdt finds nothing, its close closes only its descriptor, and the
 * parent's attach is unaffected. */
START_TEST(fork_child_has_no_attachment)
{
	int fd = tu_tmpfile(path);
	char *p = attach(fd, NULL, SHM_MAP);
	strcpy(p, "parent");
	pid_t pid = fork();
	if (pid == 0) {
		if (growmap_shm_handle(p) != NULL)
			_exit(1);
		if (growmap_shmdt(p) != -1 || errno != EINVAL)
			_exit(2);
		if (store_signal(p, 'c') != SIGSEGV)
			_exit(3);
		if (growmap_shm_fsync(fd) != 0)
			_exit(4);
		if (growmap_shm_close(fd) != 0 || fcntl(fd, F_GETFD) != -1)
			_exit(5);
		int fd2 = open(path, O_RDWR);
		if (growmap_shmat(fd2, NULL, SHM_MAP) != FAILED || errno != EBUSY)
			_exit(6);  /* the parent is the file's writer */
		_exit(0);
	}
	TU_ASSERT_CHILD_OK(pid);
	ck_assert_str_eq(p, "parent");
	p[page_size] = 'x';
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	ck_assert_int_eq(growmap_shmdt(p), 0);
	ck_assert_int_eq(tu_file_size(fd), 2 * page_size);
	expect_bytes(fd, 0, "parent", 7);
	expect_bytes(fd, page_size, "x", 1);
	close(fd);
}
END_TEST

/* A program compiled with GROWMAP_SHM_REPLACE: its shmat, fsync, close
 * and shmdt are growmap's (plain ones would fail or leave the file). */
START_TEST(opt_in_macros_reach_growmap)
{
	setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "3600000", 1);
	int fd = tu_tmpfile(path);
	char *p = replaced_shmat(fd, 0, SHM_MAP);
	ck_assert_msg(p != FAILED, "shmat: %s", strerror(errno));
	ck_assert_ptr_nonnull(growmap_shm_handle(p));
	memcpy(p + 70000, "aix", 3);
	ck_assert_int_eq(replaced_fsync(fd), 0);
	ck_assert_int_eq(tu_file_size(fd), 73728);
	expect_bytes(fd, 70000, "aix", 3);

	char *q = replaced_shmat(fd, 0, SHM_MAP | SHM_RDONLY);
	ck_assert_ptr_ne(q, FAILED);
	ck_assert_int_eq(memcmp(q + 70000, "aix", 3), 0);
	ck_assert_int_eq(replaced_shmdt(q), 0);
	ck_assert(!is_mapped(q));

	p[0] = 'x';
	ck_assert_int_eq(replaced_close(fd), 0);
	ck_assert(!is_mapped(p));
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	expect_bytes(fd, 0, "x", 1);
	close(fd);
}
END_TEST

/* Without SHM_MAP the calls are System V shared memory, unchanged. */
static int sysv_id = -1;
static void remove_sysv(void)
{
	if (sysv_id >= 0)
		shmctl(sysv_id, IPC_RMID, NULL);
}

static int sysv_attaches(int id)
{
	struct shmid_ds ds;
	ck_assert_int_eq(shmctl(id, IPC_STAT, &ds), 0);
	return (int)ds.shm_nattch;
}

START_TEST(sysv_segment_passes_through)
{
	sysv_id = shmget(IPC_PRIVATE, 64 << 10, IPC_CREAT | 0600);
	ck_assert_int_ge(sysv_id, 0);
	atexit(remove_sysv);

	char *a = growmap_shmat(sysv_id, NULL, 0);
	ck_assert_msg(a != FAILED, "shmat: %s", strerror(errno));
	ck_assert_ptr_null(growmap_shm_handle(a));       /* not growmap's */
	strcpy(a, "sysv");
	char *b = replaced_shmat(sysv_id, NULL, SHM_RDONLY);
	ck_assert_ptr_ne(b, FAILED);
	ck_assert_ptr_ne(b, a);
	ck_assert_str_eq(b, "sysv");
	ck_assert_int_eq(store_signal(b, 'x'), SIGSEGV);

	/* At an address, rounded with SHM_RND, as shmat(2) does. */
	size_t lba = SHMLBA;
	char *x = hold_address_space((64 << 10) + 2 * lba);
	x = (char *)(((uintptr_t)x + lba - 1) & ~(uintptr_t)(lba - 1));
	carve(x, 64 << 10);
	char *c = growmap_shmat(sysv_id, x + 5, SHM_RND);
	ck_assert_ptr_eq(c, x);
	ck_assert_str_eq(c, "sysv");
	ck_assert_int_eq(sysv_attaches(sysv_id), 3);

	ck_assert_int_eq(growmap_shmdt(c), 0);
	ck_assert_int_eq(replaced_shmdt(b), 0);
	ck_assert_int_eq(growmap_shmdt(a), 0);
	ck_assert_int_eq(sysv_attaches(sysv_id), 0);
	errno = 0;
	ck_assert_int_eq(growmap_shmdt(a), -1);
	ck_assert_int_eq(errno, EINVAL);

	ck_assert_int_eq(shmctl(sysv_id, IPC_RMID, NULL), 0);
	errno = 0;
	ck_assert_ptr_eq(growmap_shmat(sysv_id, NULL, 0), FAILED);
	ck_assert_int_eq(errno, EINVAL);
	sysv_id = -1;
}
END_TEST

/* The example AIX-style program, run twice on one file: the second run
 * appends to the first's records. The file is then checked here, with
 * read(2), against the layout documented in examples/aix-records.c. */
static int run_example(const char *file, const char *count)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execl(AIX_RECORDS_PROG, AIX_RECORDS_PROG, file, count, (char *)NULL);
		_exit(127);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "%s: status %#x", AIX_RECORDS_PROG, status);
	return WEXITSTATUS(status);
}

START_TEST(aix_records_example)
{
	int fd = tu_tmpfile(path);
	ck_assert_int_eq(run_example(path, "300"), 0);
	ck_assert_int_eq(run_example(path, "300"), 0);
	enum { RECORD = 128, COUNT = 600 };
	/* Slot 0 is the header, records follow; the file ends at the end of
	 * the page holding the last record. */
	off_t end = (off_t)(COUNT + 1) * RECORD;
	ck_assert_int_eq(tu_file_size(fd), (end + page_size - 1) / page_size * page_size);
	unsigned char slot[RECORD];
	ck_assert_int_eq(pread(fd, slot, RECORD, 0), RECORD);
	ck_assert_int_eq(memcmp(slot, "AIXRECS1", 8), 0);
	uint32_t count, size;
	memcpy(&count, slot + 8, 4);
	memcpy(&size, slot + 12, 4);
	ck_assert_uint_eq(count, COUNT);
	ck_assert_uint_eq(size, RECORD);
	for (uint32_t seq = 0; seq < COUNT; seq++) {
		ck_assert_int_eq(pread(fd, slot, RECORD, (off_t)(seq + 1) * RECORD), RECORD);
		uint32_t got_seq, got_check;
		memcpy(&got_seq, slot, 4);
		memcpy(&got_check, slot + 4, 4);
		ck_assert_uint_eq(got_seq, seq);
		ck_assert_uint_eq(got_check, seq * 2654435761u ^ 0x5a5a5a5au);
		char text[RECORD - 8];
		snprintf(text, sizeof(text), "record %08u: appended through the mapping", seq);
		ck_assert_str_eq((char *)slot + 8, text);
	}

	/* The program's own check fails on a damaged record. */
	ck_assert_int_eq(pwrite(fd, "#", 1, 11 * RECORD + 20), 1);
	ck_assert_int_eq(run_example(path, "1"), 1);
	close(fd);
}
END_TEST

/* Can this process use System V shared memory (not in every sandbox)? */
static const char *sysv_unavailable(void)
{
	static char why[128];
	int id = shmget(IPC_PRIVATE, page_size, IPC_CREAT | 0600);
	if (id < 0) {
		snprintf(why, sizeof(why), "System V shared memory unavailable here (%s)",
			 strerror(errno));
		return why;
	}
	shmctl(id, IPC_RMID, NULL);
	return NULL;
}

static const struct tr_case shm_cases[] = {
	TR_CASE(stores_beyond_eof_grow_the_file),
	TR_CASE(range_is_one_segment_by_default),
	TR_CASE(rdonly_store_is_sigsegv_and_file_untouched),
	TR_CASE(address_is_honoured),
	TR_CASE(shm_rnd_rounds_down_misaligned_is_einval),
	TR_CASE(occupied_range_is_einval),
	TR_CASE(back_to_back_segments),
	TR_CASE(shmdt_writes_back_detaches_sets_times),
	TR_CASE(shm_fsync_writes_back_and_syncs),
	TR_CASE(shm_close_detaches_and_closes),
	TR_CASE(writeback_failure_keeps_mapping_and_descriptor),
	TR_CASE(shm_copy_refused_unknown_flags_einval),
	TR_CASE(bad_input_gets_errno),
	TR_CASE(fork_child_has_no_attachment),
	TR_CASE(opt_in_macros_reach_growmap),
	TR_CASE(aix_records_example),
	TR_CASE(sysv_segment_passes_through, .left_out = sysv_unavailable),
	{ NULL }
};

static const struct tr_suite shm_suite = {
	.name = "shm",
	.cases = shm_cases,
	.timeout = 60,
	.setup = tu_install_catchers,
};
TR_SUITE(shm_suite)
