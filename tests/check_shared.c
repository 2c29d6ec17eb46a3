/* SPDX-License-Identifier: MIT */
/*
 * Sharing one growing file through growmapd: any number of processes
 * attach it writable and see one coherent file whose size covers
 * everyone's stores (growmap(7), SHARING). Each case starts the real
 * daemon (GROWMAPD_PROG) on a socket of its own, kills and restarts it as
 * it needs: the programs check_shared_uffd and check_shared_signal.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <growmap/shm.h>

#include "runner.h"
#include "testutil.h"

static char path[PATH_MAX];

static void setup(void)
{
	tu_install_catchers();
	signal(SIGPIPE, SIG_IGN);
	alarm(120);              /* a hang ends the case, not the suite */
}

/* growmapd dies at once (SIGKILL), as in a crash; reaped here. */
static void kill_daemon(pid_t d)
{
	int status;
	kill(d, SIGKILL);
	ck_assert_int_eq(waitpid(d, &status, 0), d);
}

static void wait_child_ok(pid_t pid)
{
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child %d: status %#x (exit %d)", (int)pid, status,
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ------------------------------------------------------------------------
 * Two processes, four threads each, one file.
 *
 * Page p < SHARE_OWN belongs to process p % 2, thread p / 2 % 4, and holds
 * seed p + 1. Pages SHARE_OWN..SHARE_OWN + SHARE_BOTH are written by both
 * processes, the first half of each by process 0, the second by process 1.
 * Process 0 also stores a single zero byte at page SHARE_TOP, the highest
 * page: the size after both close is (SHARE_TOP + 1) pages.
 */
enum { SHARE_OWN = 512, SHARE_BOTH = 32, SHARE_TOP = 700, SHARE_THREADS = 4 };

struct share_sync {
	int ready;      /* processes done storing */
};

struct share_thread {
	unsigned char *base;
	int proc, thread;
};

static unsigned char both_byte(size_t page, size_t off)
{
	return tu_pattern((uint32_t)page + 7777, off);
}

static void *share_store(void *arg)
{
	struct share_thread *t = arg;
	for (size_t p = 0; p < SHARE_OWN; p++)
		if ((int)(p % 2) == t->proc && (int)(p / 2 % SHARE_THREADS) == t->thread)
			tu_fill_page(t->base + p * page_size, (uint32_t)p + 1, p);
	for (size_t p = SHARE_OWN + (size_t)t->thread; p < SHARE_OWN + SHARE_BOTH;
	     p += SHARE_THREADS) {
		size_t from = t->proc ? page_size / 2 : 0;
		for (size_t i = from; i < from + page_size / 2; i++)
			t->base[p * page_size + i] = both_byte(p, i);
	}
	return NULL;
}

/* One process's part; returns its exit status. */
static int share_process(int fd, int proc, struct share_sync *sync)
{
	struct growmap *gm;
	if (growmap_open(&gm, fd, (size_t)64 << 20, 0) < 0)
		return 2;
	if (!strstr(growmap_backend_reason(gm), "shared through growmapd"))
		return 3;
	unsigned char *base = growmap_addr(gm);
	pthread_t th[SHARE_THREADS];
	struct share_thread args[SHARE_THREADS];
	for (int t = 0; t < SHARE_THREADS; t++) {
		args[t] = (struct share_thread){ base, proc, t };
		if (pthread_create(&th[t], NULL, share_store, &args[t]))
			return 4;
	}
	for (int t = 0; t < SHARE_THREADS; t++)
		pthread_join(th[t], NULL);
	if (proc == 0)
		base[SHARE_TOP * page_size + 5] = 0;
	__atomic_add_fetch(&sync->ready, 1, __ATOMIC_ACQ_REL);
	for (int i = 0; i < 20000 && __atomic_load_n(&sync->ready, __ATOMIC_ACQUIRE) < 2; i++)
		usleep(1000);
	if (__atomic_load_n(&sync->ready, __ATOMIC_ACQUIRE) < 2)
		return 5;
	/* Every page of the other process, through this mapping. */
	unsigned char page[page_size];
	for (size_t p = 0; p < SHARE_OWN; p++) {
		if ((int)(p % 2) == proc)
			continue;
		tu_fill_page(page, (uint32_t)p + 1, p);
		if (memcmp(base + p * page_size, page, page_size))
			return 6;
	}
	for (size_t p = SHARE_OWN; p < SHARE_OWN + SHARE_BOTH; p++)
		for (size_t i = 0; i < page_size; i++)
			if (base[p * page_size + i] != both_byte(p, i))
				return 7;
	if (growmap_close(gm) != 0)
		return 8;
	return 0;
}

START_TEST(two_processes_share_one_file)
{
	pid_t d = tu_start_daemon();
	int fd = tu_tmpfile(path);
	struct share_sync *sync = mmap(NULL, sizeof(*sync), PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(sync, MAP_FAILED);
	pid_t kids[2];
	for (int proc = 0; proc < 2; proc++) {
		kids[proc] = fork();
		ck_assert_int_ge(kids[proc], 0);
		if (kids[proc] == 0)
			_exit(share_process(fd, proc, sync));
	}
	wait_child_ok(kids[0]);
	wait_child_ok(kids[1]);
	off_t want = (off_t)(SHARE_TOP + 1) * page_size;
	ck_assert_int_eq(tu_wait_for_size(fd, want, 1000), want);
	uint32_t seeds[SHARE_OWN];
	for (size_t p = 0; p < SHARE_OWN; p++)
		seeds[p] = (uint32_t)p + 1;
	long long bad = tu_verify_file(fd, seeds, SHARE_OWN, want);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	unsigned char page[page_size];
	for (size_t p = SHARE_OWN; p < SHARE_OWN + SHARE_BOTH; p++) {
		ck_assert_int_eq(pread(fd, page, page_size, (off_t)(p * page_size)), page_size);
		for (size_t i = 0; i < page_size; i++)
			ck_assert_msg(page[i] == both_byte(p, i), "page %zu byte %zu", p, i);
	}
	for (size_t p = SHARE_OWN + SHARE_BOTH; p <= SHARE_TOP; p++) {
		ck_assert_int_eq(pread(fd, page, page_size, (off_t)(p * page_size)), page_size);
		for (size_t i = 0; i < page_size; i++)
			ck_assert_msg(page[i] == 0, "page %zu byte %zu not zero", p, i);
	}
	close(fd);
	unlink(path);
	ck_assert_int_eq(tu_stop_daemon(d), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * A writer killed right after a completed store: every store it made is
 * in the file, and within a second of its death the daemon has cut the
 * file to its exact size (the end of the highest page stored: pages hold
 * non-zero bytes here, so the size is the same whether the daemon reads
 * it from the extent map or, without one, from the highest non-zero page).
 */
enum { CRASH_PAGES = 512, CRASH_TRIALS = 20 };

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void crash_child(int fd, int report, int go)
{
	struct growmap *gm;
	if (growmap_open(&gm, fd, 4096 * page_size, 0) < 0)
		_exit(2);
	unsigned char *base = growmap_addr(gm);
	for (size_t p = 0; p < CRASH_PAGES; p++) {
		tu_fill_page(base + p * page_size, (uint32_t)p + 3, p);
		uint32_t done = (uint32_t)p;
		char c;
		if (write(report, &done, sizeof(done)) != sizeof(done) ||
		    read(go, &c, 1) != 1)
			_exit(3);
	}
	_exit(4);
}

START_TEST(killed_writer_keeps_stores_size_exact_within_1s)
{
	pid_t d = tu_start_daemon();
	for (int trial = 0; trial < CRASH_TRIALS; trial++) {
		int fd = tu_tmpfile(path);
		int report[2], go[2];
		ck_assert_int_eq(pipe(report), 0);
		ck_assert_int_eq(pipe(go), 0);
		size_t kill_after = 1 + mix((uint64_t)trial) % (CRASH_PAGES - 1);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(report[0]);
			close(go[1]);
			crash_child(fd, report[1], go[0]);
		}
		close(report[1]);
		close(go[0]);
		uint32_t last = 0;
		for (size_t n = 0; n < kill_after; n++) {
			ck_assert_int_eq(read(report[0], &last, sizeof(last)), sizeof(last));
			if (n + 1 < kill_after)
				ck_assert_int_eq(write(go[1], "g", 1), 1);
		}
		kill(pid, SIGKILL);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		off_t want = (off_t)(last + 1) * page_size;
		off_t got = tu_wait_for_size(fd, want, 1000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ck_assert_msg(got == want, "trial %d: size %lld after %ld ms, want %lld", trial,
			      (long long)got,
			      (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000),
			      (long long)want);
		uint32_t seeds[CRASH_PAGES] = { 0 };
		for (size_t p = 0; p <= last; p++)
			seeds[p] = (uint32_t)p + 3;
		long long bad = tu_verify_file(fd, seeds, last + 1, want);
		ck_assert_msg(bad < 0, "trial %d: file differs at %lld", trial, bad);
		close(report[0]);
		close(go[1]);
		close(fd);
		unlink(path);
	}
	ck_assert_int_eq(tu_stop_daemon(d), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * daemon = required with no daemon: the attach fails with the
 * connection's errno; auto works alone and says so.
 */
START_TEST(required_without_daemon_fails_auto_works_alone)
{
	int fd = tu_tmpfile(path);
	struct growmap *gm;
	setenv("GROWMAP_SOCKET", "/nonexistent-growmap-dir/growmapd.sock", 1);
	setenv("GROWMAP_DAEMON", "required", 1);
	ck_assert_int_eq(growmap_open(&gm, fd, 1 << 20, 0), -ENOENT);
	ck_assert_int_eq(growmap_open(&gm, fd, 1 << 20, GROWMAP_RDONLY), -ENOENT);
	setenv("GROWMAP_DAEMON", "auto", 1);
	ck_assert_int_eq(growmap_open(&gm, fd, 1 << 20, 0), 0);
	ck_assert_msg(strstr(growmap_backend_reason(gm), "without growmapd (growmapd at "
			     "/nonexistent-growmap-dir/growmapd.sock: No such file"),
		      "reason: %s", growmap_backend_reason(gm));
	((char *)growmap_addr(gm))[page_size + 904] = 'x';
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 2 * page_size);
	setenv("GROWMAP_DAEMON", "off", 1);
	ck_assert_int_eq(growmap_open(&gm, fd, 1 << 20, 0), 0);
	ck_assert_ptr_nonnull(strstr(growmap_backend_reason(gm), "(daemon = off)"));
	ck_assert_int_eq(growmap_close(gm), 0);
	close(fd);
	unlink(path);
}
END_TEST

/* ------------------------------------------------------------------------
 * growmapd killed while two writers are attached: both keep storing,
 * sync and close with 0, nothing is lost; a new growmapd on the same
 * socket serves new attaches.
 */
static int survivor(int fd, int proc, struct share_sync *sync, pid_t daemon_pid)
{
	struct growmap *gm;
	if (growmap_open(&gm, fd, (size_t)16 << 20, 0) < 0)
		return 2;
	unsigned char *base = growmap_addr(gm);
	for (size_t p = (size_t)proc; p < 128; p += 2)
		tu_fill_page(base + p * page_size, (uint32_t)p + 1, p);
	__atomic_add_fetch(&sync->ready, 1, __ATOMIC_ACQ_REL);
	/* the test kills the daemon once both are here */
	for (int i = 0; i < 20000 && kill(daemon_pid, 0) == 0; i++)
		usleep(1000);
	for (size_t p = 128 + (size_t)proc; p < 256; p += 2)
		tu_fill_page(base + p * page_size, (uint32_t)p + 1, p);
	if (growmap_sync(gm) != 0)
		return 3;
	if (growmap_close(gm) != 0)
		return 4;
	return 0;
}

START_TEST(daemon_killed_clients_keep_working)
{
	pid_t d = tu_start_daemon();
	int fd = tu_tmpfile(path);
	struct share_sync *sync = mmap(NULL, sizeof(*sync), PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(sync, MAP_FAILED);
	pid_t kids[2];
	for (int proc = 0; proc < 2; proc++) {
		kids[proc] = fork();
		ck_assert_int_ge(kids[proc], 0);
		if (kids[proc] == 0)
			_exit(survivor(fd, proc, sync, d));
	}
	for (int i = 0; i < 20000 && __atomic_load_n(&sync->ready, __ATOMIC_ACQUIRE) < 2; i++)
		usleep(1000);
	ck_assert_int_eq(__atomic_load_n(&sync->ready, __ATOMIC_ACQUIRE), 2);
	kill_daemon(d);
	wait_child_ok(kids[0]);
	wait_child_ok(kids[1]);
	/* Nobody could cut the file: it may run ahead, never short. */
	uint32_t seeds[256];
	for (size_t p = 0; p < 256; p++)
		seeds[p] = (uint32_t)p + 1;
	off_t size = tu_file_size(fd);
	ck_assert_int_ge(size, 256 * page_size);
	long long bad = tu_verify_file(fd, seeds, 256, size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);

	d = tu_start_daemon();      /* the same socket path, left behind */
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 1 << 20, 0), 0);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_wait_for_size(fd, 256 * page_size, 1000), 256 * page_size);
	close(fd);
	unlink(path);
	ck_assert_int_eq(tu_stop_daemon(d), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Writeback is the daemon's: a client attached through it runs no
 * writeback thread, and its syncs are the daemon's fdatasync. When the
 * daemon dies, the client's next sync runs fdatasync itself and starts
 * the thread, which writes back from then on.
 */

/* Threads of this process named 'name' (/proc/self/task/N/comm). */
static int threads_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char p[300], comm[32] = "";
		snprintf(p, sizeof(p), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
		n += strcmp(comm, name) == 0;
	}
	closedir(d);
	return n;
}

/* The same once growmap_close() has joined its threads: pthread_join()
 * returns when the kernel clears the thread's id, a moment before it
 * removes the task from /proc/self/task, and on a slow machine (Linux
 * 6.1 under TCG, make check-kernels) that moment was seen. Waits up to
 * a second for the count to drop to 0. */
static int threads_named_after_join(const char *name)
{
	int n = threads_named(name);
	for (int i = 0; i < 100 && n > 0; i++) {
		usleep(10000);
		n = threads_named(name);
	}
	return n;
}

START_TEST(writeback_is_the_daemons)
{
	pid_t d = tu_start_daemon();
	setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "50", 1);
	int fd = tu_tmpfile(path);
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 256 * page_size, 0), 0);
	ck_assert_int_eq(threads_named("growmap-wb"), 0);
	unsigned char *p = growmap_addr(gm);
	uint32_t seeds[64] = { 0 };
	for (size_t pg = 0; pg < 32; pg++)
		tu_fill_page(p + pg * page_size, seeds[pg] = (uint32_t)pg + 7, pg);
	/* The daemon's interval pass writes them back, no sync asked. */
	long long left = tu_dirty_pages(fd);
	for (int i = 0; i < 200 && left != 0; i++) {
		usleep(10000);
		left = tu_dirty_pages(fd);
	}
	ck_assert_msg(left <= 0, "%lld pages still dirty", left);
	ck_assert_int_eq(growmap_sync(gm), 0);
	struct growmap_stats st;
	ck_assert_int_eq(growmap_stats(gm, &st), 0);
	ck_assert_uint_eq(st.syncs, 1);
	ck_assert_int_eq(threads_named("growmap-wb"), 0);

	kill_daemon(d);
	for (size_t pg = 32; pg < 64; pg++)
		tu_fill_page(p + pg * page_size, seeds[pg] = (uint32_t)pg + 7, pg);
	ck_assert_int_eq(growmap_sync(gm), 0);       /* fdatasync of its own */
	ck_assert_int_eq(threads_named("growmap-wb"), 1);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(threads_named_after_join("growmap-wb"), 0);
	long long bad = tu_verify_file(fd, seeds, 64, tu_file_size(fd));
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	unsetenv("GROWMAP_WRITEBACK_INTERVAL_MS");
	close(fd);
	unlink(path);
}
END_TEST

/* ------------------------------------------------------------------------
 * Two writers closing at once: each one's sync finds the other attached
 * and leaves the size; the last DETACH the daemon handles must settle it,
 * which it does only if no other writer holds its pid's lock byte then.
 * A writer lets go of its locks before it detaches, or the daemon could
 * see the other still holding its byte a moment after its own DETACH.
 */
struct close_sync {
	int ready, go;
};

static int close_together(int fd, int proc, struct close_sync *cs)
{
	struct growmap *gm;
	if (growmap_open(&gm, fd, 256 * page_size, 0) < 0)
		return 2;
	unsigned char *base = growmap_addr(gm);
	size_t page = proc ? 40 : 10;
	tu_fill_page(base + page * page_size, (uint32_t)page + 1, page);
	__atomic_add_fetch(&cs->ready, 1, __ATOMIC_ACQ_REL);
	for (int i = 0; i < 2000000 && !__atomic_load_n(&cs->go, __ATOMIC_ACQUIRE); i++)
		sched_yield();
	return growmap_close(gm) == 0 ? 0 : 3;
}

START_TEST(writers_closing_together_leave_the_exact_size)
{
	pid_t d = tu_start_daemon();
	int fd = tu_tmpfile(path);
	struct close_sync *cs = mmap(NULL, sizeof(*cs), PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(cs, MAP_FAILED);
	pid_t kids[2];
	for (int proc = 0; proc < 2; proc++) {
		kids[proc] = fork();
		ck_assert_int_ge(kids[proc], 0);
		if (kids[proc] == 0)
			_exit(close_together(fd, proc, cs));
	}
	for (int i = 0; i < 20000 && __atomic_load_n(&cs->ready, __ATOMIC_ACQUIRE) < 2; i++)
		usleep(1000);
	__atomic_store_n(&cs->go, 1, __ATOMIC_RELEASE);
	wait_child_ok(kids[0]);
	wait_child_ok(kids[1]);
	ck_assert_int_eq(tu_wait_for_size(fd, 41 * page_size, 1000), 41 * page_size);
	uint32_t seeds[41] = { [10] = 11, [40] = 41 };
	long long bad = tu_verify_file(fd, seeds, 41, 41 * page_size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	munmap(cs, sizeof(*cs));
	close(fd);
	unlink(path);
	ck_assert_int_eq(tu_stop_daemon(d), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * A daemon started afresh knows nothing of the clients of the one that
 * died, which go on writing: a writer attached through the new daemon,
 * alone as far as that daemon knows, must not cut the file under them
 * (the pid locks tell it), so the old client's later store above what
 * the new one found stays a store, not a SIGBUS.
 */
static int old_client(int fd, int ready, int go)
{
	struct growmap *gm;
	if (growmap_open(&gm, fd, (size_t)16 << 20, 0) < 0)
		return 2;
	unsigned char *base = growmap_addr(gm);
	char c = 'r';
	for (size_t p = 0; p < 32; p++)
		tu_fill_page(base + p * page_size, (uint32_t)p + 1, p);
	if (write(ready, &c, 1) != 1 || read(go, &c, 1) != 1)
		return 3;
	/* The new daemon's writer is attached now: grow further, a stream
	 * whose windows reach well above its last store. */
	for (size_t p = 32; p < 64; p++)
		tu_fill_page(base + p * page_size, (uint32_t)p + 1, p);
	if (write(ready, &c, 1) != 1 || read(go, &c, 1) != 1)
		return 4;
	tu_fill_page(base + 70 * page_size, 71, 70); /* mapped, above what was stored */
	if (growmap_sync(gm) != 0)
		return 5;
	return growmap_close(gm) == 0 ? 0 : 6;
}

START_TEST(new_daemon_does_not_cut_under_an_old_client)
{
	pid_t d = tu_start_daemon();
	int fd = tu_tmpfile(path);
	int ready[2], go[2];
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(old_client(fd, ready[1], go[0]));
	char c;
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	kill_daemon(d);
	d = tu_start_daemon();
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, (size_t)16 << 20, 0), 0);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	/* Alone as far as the new daemon knows; the old client writes on. */
	ck_assert_int_eq(growmap_sync(gm), 0);
	ck_assert_int_ge(tu_file_size(fd), 71 * page_size);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	wait_child_ok(pid);
	ck_assert_int_eq(growmap_close(gm), 0);       /* the last writer: exact */
	ck_assert_int_eq(tu_file_size(fd), 71 * page_size);
	uint32_t seeds[71] = { [70] = 71 };
	for (size_t p = 0; p < 64; p++)
		seeds[p] = (uint32_t)p + 1;
	long long bad = tu_verify_file(fd, seeds, 71, 71 * page_size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	close(fd);
	unlink(path);
	ck_assert_int_eq(tu_stop_daemon(d), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * A client whose daemon died attaches again to the new one at its next
 * sync and tells it the floor, which the new daemon could not know: the
 * last writer's close then cuts the file to its exact size, below the
 * size the file had when the new daemon's first writer attached.
 */
START_TEST(restarted_daemon_relearns_the_floor)
{
	pid_t d = tu_start_daemon();
	int fd = tu_tmpfile(path);
	struct growmap *old;
	ck_assert_int_eq(growmap_open(&old, fd, (size_t)16 << 20, 0), 0);
	unsigned char *p = growmap_addr(old);
	for (size_t pg = 0; pg < 32; pg++)       /* windows mapped ahead */
		tu_fill_page(p + pg * page_size, (uint32_t)pg + 1, pg);
	off_t ahead = tu_file_size(fd);
	ck_assert_int_gt(ahead, 32 * page_size);
	kill_daemon(d);
	d = tu_start_daemon();
	struct growmap *fresh;
	ck_assert_int_eq(growmap_open(&fresh, fd, (size_t)16 << 20, 0), 0);
	ck_assert_int_eq(growmap_sync(old), 0);     /* attaches again */
	ck_assert_int_eq(growmap_close(old), 0);
	ck_assert_int_eq(growmap_close(fresh), 0);  /* last: exact */
	ck_assert_int_eq(tu_file_size(fd), 32 * page_size);
	uint32_t seeds[32];
	for (size_t pg = 0; pg < 32; pg++)
		seeds[pg] = (uint32_t)pg + 1;
	long long bad = tu_verify_file(fd, seeds, 32, 32 * page_size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	close(fd);
	unlink(path);
	ck_assert_int_eq(tu_stop_daemon(d), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * A writer alone and writers through the daemon exclude each other; two
 * attaches through the daemon in one process share the file.
 */
START_TEST(writers_alone_and_shared_exclude_each_other)
{
	pid_t d = tu_start_daemon();
	int fd = tu_tmpfile(path);
	struct growmap *alone, *a, *b;
	setenv("GROWMAP_DAEMON", "off", 1);
	ck_assert_int_eq(growmap_open(&alone, fd, 256 * page_size, 0), 0);
	setenv("GROWMAP_DAEMON", "required", 1);
	ck_assert_int_eq(growmap_open(&a, fd, 256 * page_size, 0), -EBUSY);
	ck_assert_int_eq(growmap_close(alone), 0);

	ck_assert_int_eq(growmap_open(&a, fd, 256 * page_size, 0), 0);
	ck_assert_int_eq(growmap_open(&b, fd, 256 * page_size, 0), 0);
	setenv("GROWMAP_DAEMON", "off", 1);
	ck_assert_int_eq(growmap_open(&alone, fd, 256 * page_size, 0), -EBUSY);
	char *pa = growmap_addr(a), *pb = growmap_addr(b);
	pa[30 * page_size + 1] = 'a';
	pb[20 * page_size + 2] = 'b';
	ck_assert_int_eq(pb[30 * page_size + 1], 'a');
	ck_assert_int_eq(pa[20 * page_size + 2], 'b');
	ck_assert_int_eq(growmap_sync(b), 0);    /* not alone: nothing cut */
	ck_assert_int_ge(tu_file_size(fd), 31 * page_size);
	ck_assert_int_eq(pa[30 * page_size + 1], 'a');
	ck_assert_int_eq(growmap_close(a), 0);
	/* b alone now: exact, a's higher page included */
	ck_assert_int_eq(growmap_close(b), 0);
	ck_assert_int_eq(tu_file_size(fd), 31 * page_size);
	close(fd);
	unlink(path);
	ck_assert_int_eq(tu_stop_daemon(d), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * fork() through the daemon, as on AIX: the child inherits the
 * attachment and shares the file. It sees the parent's stores; its own,
 * into the parent's pages and beyond the end (one of them a page the
 * parent had loaded as zeros before), reach the parent and the file; its
 * exit() keeps them; the handle works in the child.
 */
START_TEST(forked_child_shares_the_file)
{
	pid_t d = tu_start_daemon();
	int fd = tu_tmpfile(path);
	struct growmap *gm;
	ck_assert_int_eq(growmap_open(&gm, fd, 256 * page_size, 0), 0);
	unsigned char *p = growmap_addr(gm);
	for (size_t pg = 0; pg < 8; pg++)
		tu_fill_page(p + pg * page_size, (uint32_t)pg + 1, pg);
	ck_assert_int_eq(p[50 * page_size + 9], 0); /* loaded before the fork */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		unsigned char page[page_size];
		for (size_t pg = 0; pg < 8; pg++) {
			tu_fill_page(page, (uint32_t)pg + 1, pg);
			if (memcmp(p + pg * page_size, page, page_size))
				_exit(2);
		}
		tu_fill_page(p + 3 * page_size, 104, 3);
		tu_fill_page(p + 50 * page_size, 51, 50);
		tu_fill_page(p + 60 * page_size, 61, 60);
		if (growmap_sync(gm) != 0)
			_exit(3);
		exit(0);
	}
	wait_child_ok(pid);
	unsigned char page[page_size];
	tu_fill_page(page, 104, 3);
	ck_assert_int_eq(memcmp(p + 3 * page_size, page, page_size), 0);
	tu_fill_page(page, 51, 50);
	ck_assert_int_eq(memcmp(p + 50 * page_size, page, page_size), 0);
	tu_fill_page(page, 61, 60);
	ck_assert_int_eq(memcmp(p + 60 * page_size, page, page_size), 0);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 61 * page_size);
	uint32_t seeds[61] = { 0 };
	for (size_t pg = 0; pg < 8; pg++)
		seeds[pg] = (uint32_t)pg + 1;
	seeds[3] = 104;
	seeds[50] = 51;
	seeds[60] = 61;
	long long bad = tu_verify_file(fd, seeds, 61, 61 * page_size);
	ck_assert_msg(bad < 0, "file differs at %lld", bad);
	close(fd);
	unlink(path);
	ck_assert_int_eq(tu_stop_daemon(d), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * The AIX layer through the daemon: two attaches of one file with SHM_MAP
 * (here in one process) and a forked child that inherits the attachment,
 * stores beyond the end and detaches with shmdt(), as on AIX.
 */
START_TEST(aix_shmat_shared_and_inherited)
{
	pid_t d = tu_start_daemon();
	int fd = tu_tmpfile(path);
	char *a = growmap_shmat(fd, NULL, SHM_MAP);
	ck_assert_ptr_ne(a, (char *)-1);
	char *b = growmap_shmat(fd, NULL, SHM_MAP);
	ck_assert_ptr_ne(b, (char *)-1);
	strcpy(a + 100, "first");
	ck_assert_str_eq(b + 100, "first");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (strcmp(a + 100, "first"))
			_exit(2);
		strcpy(a + 40 * page_size, "child");
		_exit(growmap_shmdt(a) == 0 && growmap_shmdt(b) == 0 ? 0 : 3);
	}
	wait_child_ok(pid);
	ck_assert_str_eq(b + 40 * page_size, "child");
	ck_assert_int_eq(growmap_shmdt(a), 0);
	ck_assert_int_eq(growmap_shmdt(b), 0);
	ck_assert_int_eq(tu_wait_for_size(fd, 41 * page_size, 1000), 41 * page_size);
	char buf[8] = "";
	ck_assert_int_eq(pread(fd, buf, 6, 40 * page_size), 6);
	ck_assert_str_eq(buf, "child");
	close(fd);
	unlink(path);
	ck_assert_int_eq(tu_stop_daemon(d), 0);
}
END_TEST

static const char *daemon_not_built(void)
{
	static char why[PATH_MAX + 32];
	if (access(GROWMAPD_PROG, X_OK) == 0)
		return NULL;
	snprintf(why, sizeof(why), "%s not built", GROWMAPD_PROG);
	return why;
}

/* The child of fork() starts threads of its own for the range it
 * inherited; ThreadSanitizer's copy of the parent's threads in the child
 * makes it die ("dup thread with used id"). */
static const char *forked_child_starts_threads(void)
{
#if defined(__SANITIZE_THREAD__)
	return "ThreadSanitizer cannot follow threads started after fork()";
#else
	return NULL;
#endif
}

static const struct tr_case shared_cases[] = {
	TR_CASE(two_processes_share_one_file),
	TR_CASE(killed_writer_keeps_stores_size_exact_within_1s),
	TR_CASE(required_without_daemon_fails_auto_works_alone),
	TR_CASE(daemon_killed_clients_keep_working),
	TR_CASE(writeback_is_the_daemons),
	TR_CASE(writers_closing_together_leave_the_exact_size, .loop = 20),
	TR_CASE(new_daemon_does_not_cut_under_an_old_client),
	TR_CASE(restarted_daemon_relearns_the_floor),
	TR_CASE(writers_alone_and_shared_exclude_each_other),
	TR_CASE(forked_child_shares_the_file, .left_out = forked_child_starts_threads),
	TR_CASE(aix_shmat_shared_and_inherited, .left_out = forked_child_starts_threads),
	{ NULL }
};

static const struct tr_suite shared_suite = {
	.name = "shared",
	.cases = shared_cases,
	.timeout = 180,
	.setup = setup,
	.start = daemon_not_built,
};
TR_SUITE(shared_suite)
