/* SPDX-License-Identifier: MIT */
/*
 * What survives when the writer dies, and what memory a large store needs:
 * the programs check_crash_uffd and check_crash_signal.
 *
 * sigkill_after_completed_store_keeps_every_store: a child attaches an
 * empty file and stores pages one by one, in lockstep with this process:
 * after each store returns it reports the page's index and waits for the
 * go-ahead. At a repeatable random point the child is killed (SIGKILL;
 * one trial abort(), one trial SIGTERM with its default action). Every
 * page reported stored must then be in the file byte for byte, read back
 * with pread(2); every page never stored reads as zeros. The size must
 * reach the end of the last stored page; it may be longer (the library
 * may have grown the file ahead of the stores) but not beyond the
 * reservation.
 *
 * memcg_1gib_in_256mib_cgroup: a child in a new memory cgroup limited to
 * 256 MiB (cgroup v2 memory.max, else v1 memory.limit_in_bytes) stores
 * 1 GiB into a 1.5 GiB reservation and closes, as it could with a plain
 * MAP_SHARED mapping of the file: it must not be OOM-killed, and the file
 * must hold exactly the 1 GiB stored. Needs root and a memory cgroup it
 * can create; without them that case is left out and says why (the
 * other still runs).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"
#include "testutil.h"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);   /* a dead child's pipe: EPIPE, not death */
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void read_all(int fd, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len)
		_exit(6);   /* only children use this: the parent went away */
}

/* ------------------------------------------------------------------------
 * Killed writer
 */

enum {
	CRASH_PAGES = 4096,
	CRASH_SIGKILL_TRIALS = 20,
	CRASH_TRIALS = CRASH_SIGKILL_TRIALS + 2,   /* + one abort(), one SIGTERM */
	CRASH_WRONG_BACKEND = -100000,             /* child's message: not tu_backend */
};
#define CRASH_RESERVE (16384 * page_size)      /* 64 MiB on 4 KiB pages */
#define CRASH_SEED 0x6772776d63726173ULL        /* fixed: every run is the same */

static uint32_t crash_seed(int trial, size_t page)
{
	return (uint32_t)trial * 0x10001u + (uint32_t)page + 1;   /* never 0 */
}

/* The writer. Reports (int32) each page index once its store returned, or
 * a negative error, then waits for one byte: 'n' next page, 'a' abort().
 * Never returns. */
static void crash_child(int fd, int trial, int report, int ack)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);   /* abort(): no 64 MiB core dump */
	signal(SIGTERM, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);

	struct growmap *gm;
	int32_t msg = growmap_open(&gm, fd, CRASH_RESERVE, 0);
	if (msg == 0 && strcmp(growmap_backend(gm), tu_backend) != 0)
		msg = CRASH_WRONG_BACKEND;
	if (msg < 0) {
		if (write(report, &msg, sizeof(msg)) < 0)
			_exit(5);
		_exit(4);
	}
	unsigned char *p = growmap_addr(gm);
	unsigned char page[page_size];
	for (size_t pg = 0;; pg++) {
		if (pg < CRASH_PAGES) {
			tu_fill_page(page, crash_seed(trial, pg), pg);
			memcpy(p + pg * page_size, page, page_size);
			msg = (int32_t)pg;
			if (write(report, &msg, sizeof(msg)) != sizeof(msg))
				_exit(5);
		}
		char c;
		read_all(ack, &c, 1);
		if (c == 'a')
			abort();
	}
}

/* Number of pages among the first 'stored' whose bytes in the file are
 * not what was stored (read as zeros past the end of the file). */
static size_t count_wrong_pages(int fd, int trial, size_t stored)
{
	size_t wrong = 0;
	unsigned char want[page_size], got[page_size];
	for (size_t pg = 0; pg < stored; pg++) {
		memset(got, 0, page_size);
		ssize_t n = pread(fd, got, page_size, (off_t)(pg * page_size));
		tu_fill_page(want, crash_seed(trial, pg), pg);
		if (n < 0 || memcmp(want, got, page_size) != 0)
			wrong++;
	}
	return wrong;
}

START_TEST(sigkill_after_completed_store_keeps_every_store)
{
	int trial = _i;
	int death = trial < CRASH_SIGKILL_TRIALS ? SIGKILL
		  : trial == CRASH_SIGKILL_TRIALS ? SIGABRT : SIGTERM;
	size_t kill_after = 1 + splitmix64(CRASH_SEED ^ (uint64_t)trial) % CRASH_PAGES;

	/* Nothing between creating the file and unlinking it asserts: a
	 * failed Check assertion _exit()s (Check 0.15), past the atexit()
	 * removal of tu_tmpfile(), and the file would stay behind. */
	int report[2], ack[2];
	ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(ack, O_CLOEXEC), 0);
	char path[PATH_MAX];
	int fd = tu_tmpfile(path);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(report[0]);
		close(ack[1]);
		crash_child(fd, trial, report[1], ack[0]);
	}
	close(report[1]);
	close(ack[0]);

	/* Lockstep: page n is reported only after its store returned, and the
	 * child stores nothing more until told; so when it dies, exactly the
	 * pages 0 .. kill_after-1 were stored. */
	size_t stored = 0;
	const char *child_error = pid < 0 ? "fork failed" : NULL;
	while (!child_error && stored < kill_after) {
		int32_t msg;
		ssize_t n = read(report[0], &msg, sizeof(msg));
		if (n != sizeof(msg))
			child_error = "child died before reporting";
		else if (msg == CRASH_WRONG_BACKEND)
			child_error = "growmap_open chose another backend";
		else if (msg < 0)
			child_error = strerror(-msg);
		else if (msg != (int32_t)stored)
			child_error = "page reported out of order";
		else if (++stored < kill_after && write(ack[1], "n", 1) != 1)
			child_error = "cannot write to the child";
	}
	if (child_error)
		kill(pid, SIGKILL);
	else if (death == SIGABRT ? write(ack[1], "a", 1) != 1 : kill(pid, death) != 0)
		child_error = "cannot make the child die";
	int status = 0;
	pid_t waited = pid > 0 ? waitpid(pid, &status, 0) : -1;
	close(report[0]);
	close(ack[1]);
	unlink(path);   /* fd stays open for the checks */
	ck_assert_msg(!child_error, "trial %d: writer failed: %s (status %#x)",
		      trial, child_error, status);
	ck_assert_int_eq(waited, pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == death,
		      "trial %d: writer should have died of %s, status %#x",
		      trial, strsignal(death), status);

	/* The file, through read(2) only. */
	off_t size = tu_file_size(fd);
	size_t npages = ((size_t)size + page_size - 1) / page_size;
	uint32_t *seeds = calloc(npages > stored ? npages : stored, sizeof(*seeds));
	ck_assert_ptr_nonnull(seeds);
	for (size_t pg = 0; pg < stored; pg++)
		seeds[pg] = crash_seed(trial, pg);
	size_t wrong = count_wrong_pages(fd, trial, stored);
	long long bad = size >= (off_t)(stored * page_size)
			? tu_verify_file(fd, seeds, npages, size) : -1;
	printf("trial %2d: %s after %4zu stored pages: file size %lld, %zu pages lost or wrong\n",
	       trial, death == SIGKILL ? "SIGKILL" : death == SIGABRT ? "abort() " : "SIGTERM",
	       stored, (long long)size, wrong);
	fflush(stdout);
	ck_assert_msg(wrong == 0 && size >= (off_t)(stored * page_size),
		      "trial %d (%s after %zu completed stores, backend %s): "
		      "%zu of the %zu stored pages are not in the file; file size %lld, "
		      "should be at least %zu",
		      trial, strsignal(death), stored, tu_backend, wrong, stored,
		      (long long)size, stored * page_size);
	ck_assert_msg(bad < 0, "trial %d (%s after %zu stores): byte at offset %lld "
		      "(page %lld) differs (never-stored pages must read as zeros)",
		      trial, strsignal(death), stored, bad, bad / (long long)page_size);
	ck_assert_msg((size_t)size <= CRASH_RESERVE,
		      "trial %d: file size %lld beyond the %zu-byte reservation",
		      trial, (long long)size, CRASH_RESERVE);
	free(seeds);
	close(fd);
}
END_TEST

/* ------------------------------------------------------------------------
 * Memory cgroup
 */

#define MEMCG_LIMIT ((size_t)256 << 20)
#define MEMCG_RESERVE ((size_t)3 << 29)     /* 1.5 GiB */
#define MEMCG_STORE ((size_t)1 << 30)       /* 1 GiB */

static char memcg_dir[PATH_MAX];   /* made by memcg_unavailable(); "" if none */
static int memcg_version;

/* Page i of the 1 GiB: its index in the first 8 bytes, then one byte
 * derived from it (never zero). */
static unsigned char memcg_byte(uint64_t i)
{
	return (unsigned char)(i * 157 % 255 + 1);
}

static int write_file(const char *dir, const char *name, const char *value)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, value, strlen(value));
	int r = n == (ssize_t)strlen(value) ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	return r;
}

static int read_file(const char *dir, const char *name, char *buf, size_t len)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

/* Is 'word' one of the space-separated words of 'list'? */
static int has_word(const char *list, const char *word)
{
	size_t w = strlen(word);
	for (const char *s = list; (s = strstr(s, word)); s += w)
		if ((s == list || s[-1] == ' ' || s[-1] == ',') &&
		    (s[w] == 0 || s[w] == ' ' || s[w] == ',' || s[w] == '\n'))
			return 1;
	return 0;
}

/* This process's cgroup path in the v2 hierarchy (version 2) or in the
 * v1 hierarchy holding the memory controller (version 1). */
static int own_cgroup(int version, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -1;
	char line[PATH_MAX + 64];
	int found = -1;
	while (found < 0 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *ctl = strchr(line, ':');
		char *path = ctl ? strchr(ctl + 1, ':') : NULL;
		if (!path)
			continue;
		*path++ = 0;
		ctl++;
		if (version == 2 ? strcmp(line, "0") == 0 && *ctl == 0 : has_word(ctl, "memory")) {
			snprintf(out, len, "%s", path);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

/* Makes a new cgroup under 'parent' with a 256 MiB memory limit. */
static const char *memcg_make_under(const char *parent, int version)
{
	static char why[PATH_MAX + 128];
	char buf[256];
	if (version == 2) {
		if (read_file(parent, "cgroup.controllers", buf, sizeof(buf)) < 0 ||
		    !has_word(buf, "memory")) {
			snprintf(why, sizeof(why), "%.3000s: no memory controller", parent);
			return why;
		}
		if (read_file(parent, "cgroup.subtree_control", buf, sizeof(buf)) < 0 ||
		    !has_word(buf, "memory")) {
			int r = write_file(parent, "cgroup.subtree_control", "+memory");
			if (r < 0) {
				snprintf(why, sizeof(why), "%.3000s: cannot enable memory for children: %s",
					 parent, strerror(-r));
				return why;
			}
		}
	}
	static unsigned serial;
	snprintf(memcg_dir, sizeof(memcg_dir), "%.3000s/growmap-crash-%d-%u", parent,
		 (int)getpid(), serial++);
	if (mkdir(memcg_dir, 0755) < 0) {
		snprintf(why, sizeof(why), "mkdir %s: %s", memcg_dir, strerror(errno));
		memcg_dir[0] = 0;
		return why;
	}
	snprintf(buf, sizeof(buf), "%zu", MEMCG_LIMIT);
	int r = write_file(memcg_dir, version == 2 ? "memory.max" : "memory.limit_in_bytes", buf);
	if (r < 0) {
		snprintf(why, sizeof(why), "%s: cannot set the memory limit: %s", memcg_dir,
			 strerror(-r));
		rmdir(memcg_dir);
		memcg_dir[0] = 0;
		return why;
	}
	memcg_version = version;
	return NULL;
}

/*
 * Makes the test's memory cgroup: on every cgroup2 mount, then on every
 * v1 mount of the memory controller, first under this process's own
 * cgroup, then under the hierarchy's root. Returns NULL, or why not.
 */
static const char *memcg_create(void)
{
	static char why[2 * PATH_MAX + 256];
	if (geteuid() != 0)
		return "needs root to make a memory cgroup";
	snprintf(why, sizeof(why), "no cgroup2 or v1 memory cgroup mount");
	for (int version = 2; version >= 1; version--) {
		FILE *f = fopen("/proc/self/mountinfo", "re");
		if (!f)
			return "cannot read /proc/self/mountinfo";
		char line[4 * PATH_MAX];
		while (fgets(line, sizeof(line), f)) {
			char root[PATH_MAX], mnt[PATH_MAX], fstype[64], opts[1024];
			char *dash = strstr(line, " - ");
			if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
			    sscanf(dash + 3, "%63s %*s %1023s", fstype, opts) != 2)
				continue;
			if (version == 2 ? strcmp(fstype, "cgroup2") != 0
					 : strcmp(fstype, "cgroup") != 0 || !has_word(opts, "memory"))
				continue;
			char own[PATH_MAX], parents[2][PATH_MAX];
			int nparents = 0;
			size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
			if (own_cgroup(version, own, sizeof(own)) == 0 &&
			    strncmp(own, root, rl) == 0 && strcmp(own + rl, "/") != 0 &&
			    own[rl] == '/')
				snprintf(parents[nparents++], sizeof(parents[0]), "%.2000s%.2000s", mnt, own + rl);
			snprintf(parents[nparents++], sizeof(parents[0]), "%s", mnt);
			for (int i = 0; i < nparents; i++) {
				const char *w = memcg_make_under(parents[i], version);
				if (!w) {
					fclose(f);
					return NULL;
				}
				snprintf(why, sizeof(why), "%s", w);
			}
		}
		fclose(f);
	}
	return why;
}

/* Kills what is left in the cgroup (only this program's children can be
 * there) and removes it. */
static void memcg_remove(void)
{
	if (!memcg_dir[0])
		return;
	for (int tries = 0; tries < 100; tries++) {
		char pids[4096];
		if (read_file(memcg_dir, "cgroup.procs", pids, sizeof(pids)) == 0)
			for (char *s = pids, *e; *s; s = e) {
				long pid = strtol(s, &e, 10);
				if (e == s)
					break;
				if (pid > 0)
					kill((pid_t)pid, SIGKILL);
			}
		if (rmdir(memcg_dir) == 0 || errno == ENOENT) {
			memcg_dir[0] = 0;
			return;
		}
		usleep(50000);
	}
	fprintf(stderr, "cannot remove cgroup %s: %s\n", memcg_dir, strerror(errno));
}

/* How many OOM kills the cgroup has seen, -1 if it does not say. */
static long memcg_oom_kills(void)
{
	char buf[2048];
	if (read_file(memcg_dir, memcg_version == 2 ? "memory.events" : "memory.oom_control",
		      buf, sizeof(buf)) < 0)
		return -1;
	char *s = strstr(buf, "oom_kill ");
	return s ? strtol(s + 9, NULL, 10) : -1;
}

/* Is this process in the test's cgroup? */
static int in_memcg(void)
{
	char buf[4096];
	if (read_file("/proc/self", "cgroup", buf, sizeof(buf)) < 0)
		return 0;
	const char *name = strrchr(memcg_dir, '/');
	return name && strstr(buf, name) != NULL;
}

enum { MC_OK, MC_NOT_IN_CGROUP = 10, MC_OPEN, MC_WRONG_BACKEND, MC_CLOSE };

static void memcg_child(int fd, int go)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	char c;
	read_all(go, &c, 1);
	if (!in_memcg())
		_exit(MC_NOT_IN_CGROUP);
	struct growmap *gm;
	int r = growmap_open(&gm, fd, MEMCG_RESERVE, 0);
	if (r < 0) {
		fprintf(stderr, "growmap_open: %s\n", strerror(-r));
		_exit(MC_OPEN);
	}
	if (strcmp(growmap_backend(gm), tu_backend) != 0)
		_exit(MC_WRONG_BACKEND);
	unsigned char *p = growmap_addr(gm);
	for (uint64_t i = 0; i < MEMCG_STORE / page_size; i++) {
		unsigned char *page = p + i * page_size;
		memcpy(page, &i, sizeof(i));
		memset(page + sizeof(i), memcg_byte(i), page_size - sizeof(i));
	}
	r = growmap_close(gm);
	if (r < 0) {
		fprintf(stderr, "growmap_close: %s\n", strerror(-r));
		_exit(MC_CLOSE);
	}
	_exit(MC_OK);
}

START_TEST(memcg_1gib_in_256mib_cgroup)
{
	ck_assert_msg(memcg_dir[0], "no cgroup");
	int go[2];
	ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
	long ooms_before = memcg_oom_kills();
	char path[PATH_MAX];
	int fd = tu_tmpfile(path);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(go[1]);
		memcg_child(fd, go[0]);
	}
	close(go[0]);
	/* Into the cgroup before it attaches; no assertion until it is reaped
	 * and the 1 GiB file unlinked. */
	int r = -ECHILD;
	if (pid > 0) {
		char pidstr[32];
		snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
		r = write_file(memcg_dir, "cgroup.procs", pidstr);
		if (r < 0 || write(go[1], "g", 1) != 1)
			kill(pid, SIGKILL);
	}
	close(go[1]);
	int status = 0;
	pid_t waited = pid > 0 ? waitpid(pid, &status, 0) : -1;
	unlink(path);   /* fd stays open for the checks */
	ck_assert_msg(r == 0, "moving the child into %s: %s", memcg_dir, strerror(-r));
	ck_assert_int_eq(waited, pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ooms = memcg_oom_kills();
	printf("memcg: writer ran %.1f s, status %#x, OOM kills in the cgroup %ld\n",
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, status,
	       ooms >= 0 && ooms_before >= 0 ? ooms - ooms_before : -1);
	fflush(stdout);
	ck_assert_msg(!WIFSIGNALED(status),
		      "writer of 1 GiB in a 256 MiB cgroup (v%d, backend %s) killed by %s%s",
		      memcg_version, tu_backend, strsignal(WTERMSIG(status)),
		      ooms > ooms_before ? " (the cgroup's OOM killer)" : "");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == MC_OK,
		      "writer failed: exit %d (%s)", WEXITSTATUS(status),
		      WEXITSTATUS(status) == MC_NOT_IN_CGROUP ? "not in the cgroup"
		      : WEXITSTATUS(status) == MC_OPEN ? "growmap_open failed"
		      : WEXITSTATUS(status) == MC_WRONG_BACKEND ? "wrong backend"
		      : WEXITSTATUS(status) == MC_CLOSE ? "growmap_close failed" : "?");

	/* The whole file, read back in 8 MiB blocks. */
	ck_assert_int_eq(tu_file_size(fd), (off_t)MEMCG_STORE);
	enum { BLOCK = 8 << 20 };
	unsigned char *buf = malloc(BLOCK);
	ck_assert_ptr_nonnull(buf);
	for (size_t off = 0; off < MEMCG_STORE; off += BLOCK) {
		ssize_t n = pread(fd, buf, BLOCK, (off_t)off);
		ck_assert_int_eq(n, BLOCK);
		for (size_t o = 0; o < BLOCK; o += page_size) {
			uint64_t i = (off + o) / page_size, got;
			unsigned char *page = buf + o;
			memcpy(&got, page, sizeof(got));
			ck_assert_msg(got == i && page[8] == memcg_byte(i) &&
				      memcmp(page + 8, page + 9, page_size - 9) == 0,
				      "page %llu (offset %zu) is not what was stored there",
				      (unsigned long long)i, off + o);
		}
	}
	free(buf);
	close(fd);
}
END_TEST

/* The memory cgroup case needs one made for it; main() of the runner
 * calls this once, and memcg_remove() after the last case. */
static const char *memcg_unavailable(void)
{
#if defined(__SANITIZE_THREAD__)
	/* ThreadSanitizer's shadow memory is charged to the cgroup too, and
	 * is several times the data: the writer is OOM-killed for it. */
	return "ThreadSanitizer's shadow memory does not fit the cgroup";
#else
	const char *why = memcg_create();
	if (!why)
		printf("memcg: cgroup v%d %s, limit %zu MiB\n", memcg_version, memcg_dir,
		       MEMCG_LIMIT >> 20);
	return why;
#endif
}

static const struct tr_case crash_cases[] = {
	TR_CASE(sigkill_after_completed_store_keeps_every_store, .loop = CRASH_TRIALS),
	TR_CASE(memcg_1gib_in_256mib_cgroup, .left_out = memcg_unavailable),
	{ NULL }
};

static const struct tr_suite crash_suite = {
	.name = "crash",
	.cases = crash_cases,
	.timeout = 300,
	.setup = setup,
	.finish = memcg_remove,
};
TR_SUITE(crash_suite)
