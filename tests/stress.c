/* SPDX-License-Identifier: MIT */
/*
 * A long-running stress test of growmap, after the kernel's userfaultfd
 * stress test: many threads store into and load from one growing mapping
 * for minutes while syncs, size changes and background writeback run
 * underneath, every load is checked as it happens, and at the end the
 * file is checked byte by byte against a shadow copy.
 *
 *   tests/stress --minutes N --backend uffd|signal [--threads T] [--daemon]
 *                [--self-test] [--seed S]
 *
 * Each of the T threads owns the pages whose index modulo T is its id, so
 * every page has one writer. A store writes a whole page of generation g
 * (tu_fill_page(page, g, index)) in 8-byte words and then publishes g in
 * the shadow array. A load by the owner must show exactly the shadow's
 * generation; a load by another thread may race with the owner's store,
 * so each of its words must belong to a generation between the shadow's
 * value before the copy and one past its value after (or be zero while
 * the page was never stored): release/acquire fences around the words
 * make that bound exact, so the check cannot fire falsely.
 *
 * With --daemon the mapping goes through a growmapd started here: half
 * the time one process as above, the other half two processes, each
 * owning half of the pages of one file, the parent checking the file
 * after both have closed. --self-test then corrupts one byte of the file
 * with pwrite(2) and passes only if the final check reports exactly it.
 *
 * Exit status: 0 all checks passed, 1 a check failed or an error was met,
 * 2 bad usage, 77 the backend is unavailable here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

enum {
	MAX_THREADS = 1024,
	MAX_REPORTS = 20,       /* mismatch messages printed per run */
	LIMIT_STEPS = 6,        /* times the storable range grows */
	SIZE_STEPS = 3,         /* of which the first ones go through set_size */
};

#define WORDS (page_size / 8)   /* 8-byte words in a page */

#define RESERVE ((size_t)256 << 20)

/* State every process of a run sees: anonymous MAP_SHARED memory. */
struct shared {
	uint32_t limit;         /* pages [0, limit) may be stored into */
	int stop;               /* workers leave their loop */
	off_t size_floor;       /* the last size applied by set_size, 0: none */
	uint64_t stores, loads, syncs, set_sizes, faults, errors;
	uint64_t load_bad;      /* bytes a load found wrong */
	uint64_t sync_max_us;   /* the longest sync */
	uint64_t slow_syncs;    /* syncs that took over a second */
	uint64_t close_max_us;  /* the longest growmap_close */
	int reports;
	uint32_t gen[];         /* the shadow: generation per page, 0 never stored */
};

struct run {
	struct shared *sh;
	size_t npages;
	uint32_t limit_first, limit_last;
	unsigned nprocs, threads;       /* threads per process */
	double seconds;
	bool set_size;
	uint64_t seed;
};

struct worker {
	const struct run *run;
	unsigned char *base;
	unsigned id, nowners;
	uint64_t rng;
	uint64_t stores, loads;
	uint64_t *want, *got;
};

static void report(struct shared *sh, const char *fmt, ...)
{
	if (__atomic_fetch_add(&sh->reports, 1, __ATOMIC_RELAXED) >= MAX_REPORTS)
		return;
	va_list ap;
	va_start(ap, fmt);
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "stress[%d]: %s\n", (int)getpid(), line);
}

static void count(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/* Keeps the longest sync and notes (on stderr, the first few) slow ones. */
static void note_sync(struct shared *sh, double took, const char *what)
{
	uint64_t us = (uint64_t)(took * 1e6), old = __atomic_load_n(&sh->sync_max_us, __ATOMIC_RELAXED);
	while (us > old && !__atomic_compare_exchange_n(&sh->sync_max_us, &old, us, false,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	if (took > 1 && __atomic_add_fetch(&sh->slow_syncs, 1, __ATOMIC_RELAXED) <= 5)
		fprintf(stderr, "stress[%d]: %s took %.2f s\n", (int)getpid(), what, took);
}

static uint64_t next_random(uint64_t *state)
{
	uint64_t x = (*state += 0x9e3779b97f4a7c15ULL);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The page of generation g (zeros for 0), as 8-byte words. */
static void expected_page(uint64_t *page, uint32_t g, size_t p)
{
	if (g)
		tu_fill_page((unsigned char *)page, g, p);
	else
		memset(page, 0, page_size);
}

/* Word w of page p at generation g. */
static uint64_t expected_word(uint32_t g, size_t p, size_t w)
{
	unsigned char b[8];
	for (size_t i = 0; i < 8; i++)
		b[i] = g ? tu_pattern(g, p * page_size + w * 8 + i) : 0;
	uint64_t v;
	memcpy(&v, b, 8);
	return v;
}

static unsigned differing_bytes(uint64_t a, uint64_t b)
{
	unsigned n = 0;
	for (uint64_t x = a ^ b; x; x >>= 8)
		n += (x & 0xff) != 0;
	return n;
}

static void store_page(struct worker *w, size_t p)
{
	struct shared *sh = w->run->sh;
	uint32_t g = __atomic_load_n(&sh->gen[p], __ATOMIC_RELAXED) + 1;
	uint64_t *dst = (uint64_t *)(w->base + p * page_size);
	expected_page(w->want, g, p);
	/* Orders the publication of g - 1 before the words of g, so a reader
	 * that sees a word of g then sees the shadow at g - 1 or later. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (size_t i = 0; i < WORDS; i++)
		__atomic_store_n(&dst[i], w->want[i], __ATOMIC_RELAXED);
	__atomic_store_n(&sh->gen[p], g, __ATOMIC_RELEASE);
	w->stores++;
}

static void load_page(struct worker *w, size_t p)
{
	struct shared *sh = w->run->sh;
	const uint64_t *src = (const uint64_t *)(w->base + p * page_size);
	uint32_t before = __atomic_load_n(&sh->gen[p], __ATOMIC_ACQUIRE);
	for (size_t i = 0; i < WORDS; i++)
		w->got[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	uint32_t after = __atomic_load_n(&sh->gen[p], __ATOMIC_RELAXED);
	w->loads++;

	bool own = p % w->nowners == w->id;
	expected_page(w->want, before, p);
	if (!memcmp(w->got, w->want, page_size))
		return;
	/* The words may be of any generation from 'before' to after + 1
	 * (the owner's store in progress); the owner sees exactly 'before'. */
	uint32_t newest = own ? before : after + 1;
	uint64_t bad = 0;
	size_t first = WORDS;
	for (size_t i = 0; i < WORDS; i++) {
		if (w->got[i] == w->want[i])
			continue;
		bool ok = false;
		for (uint32_t g = before + 1; g && g <= newest && !ok; g++)
			ok = w->got[i] == expected_word(g, p, i);
		if (!ok) {
			bad += differing_bytes(w->got[i], w->want[i]);
			if (first == WORDS)
				first = i;
		}
	}
	if (!bad)
		return;
	count(&sh->load_bad, bad);
	uint64_t seen = w->got[first];
	bool zeros = true;
	for (size_t i = 0; i < WORDS && zeros; i++)
		zeros = w->got[i] == 0;
	report(sh, "load by %s of page %zu (owner %zu, thread %u): %" PRIu64
	       " bad bytes, first word %zu = %016" PRIx64 ", page %s; generation %u..%u",
	       own ? "its owner" : "another thread", p, p % w->nowners, w->id,
	       bad, first, seen, zeros ? "all zeros" : "not all zeros", before, newest);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->run->sh;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		uint64_t r = next_random(&w->rng);
		uint32_t limit = __atomic_load_n(&sh->limit, __ATOMIC_ACQUIRE);
		size_t own = limit > w->id ? (limit - w->id + w->nowners - 1) / w->nowners : 0;
		if ((r & 1) && own) {
			store_page(w, w->id + (size_t)((r >> 1) % own) * w->nowners);
		} else if (r & 2) {
			/* One of its own, checked exactly. */
			size_t mine = (w->run->npages - w->id + w->nowners - 1) / w->nowners;
			load_page(w, w->id + (size_t)((r >> 2) % mine) * w->nowners);
		} else {
			load_page(w, (size_t)((r >> 2) % w->run->npages));
		}
	}
	count(&sh->stores, w->stores);
	count(&sh->loads, w->loads);
	return NULL;
}

static void sleep_until(double t)
{
	double d = t - now_seconds();
	if (d <= 0)
		return;
	struct timespec ts = { (time_t)d, (long)((d - (time_t)d) * 1e9) };
	nanosleep(&ts, NULL);
}

/*
 * Process 'proc' of the run: attaches the file, runs the workers, and in
 * this thread syncs every 100-500 ms and (process 0) grows the storable
 * range in LIMIT_STEPS steps, the first SIZE_STEPS through set_size. A
 * size set is never below a page that may be stored into until the sync
 * that applies it (it would discard that store), so the range grows only
 * after that sync. Returns the number of errors met.
 */
static int run_process(const struct run *run, int fd, unsigned proc)
{
	struct shared *sh = run->sh;
	struct growmap *gm;
	int r = growmap_open(&gm, fd, RESERVE, 0);
	if (r < 0) {
		report(sh, "growmap_open: %s", strerror(-r));
		return 1;
	}
	int errors = 0;
	struct worker *w = calloc(run->threads, sizeof(*w));
	pthread_t *th = calloc(run->threads, sizeof(*th));
	if (!w || !th)
		abort();
	for (unsigned t = 0; t < run->threads; t++) {
		w[t] = (struct worker){ .run = run, .base = growmap_addr(gm),
					.id = proc * run->threads + t,
					.nowners = run->nprocs * run->threads };
		w[t].rng = run->seed ^ ((uint64_t)w[t].id << 40);
		if (posix_memalign((void **)&w[t].want, page_size, page_size) ||
		    posix_memalign((void **)&w[t].got, page_size, page_size))
			abort();
		if (pthread_create(&th[t], NULL, worker_main, &w[t]))
			abort();
	}

	uint64_t rng = run->seed ^ 0x5157 ^ proc;
	double start = now_seconds(), end = start + run->seconds;
	double next_sync = start + 0.1 + (double)(next_random(&rng) % 400) / 1000;
	unsigned step = 0;
	for (;;) {
		double next_step = start + run->seconds * (step + 1) / (LIMIT_STEPS + 2);
		double next = next_sync < end ? next_sync : end;
		if (proc == 0 && step < LIMIT_STEPS && next_step < next)
			next = next_step;
		sleep_until(next);
		double now = now_seconds();
		if (now >= end)
			break;
		if (now >= next_sync) {
			if ((r = growmap_sync(gm)) < 0) {
				report(sh, "growmap_sync: %s", strerror(-r));
				errors++;
			}
			count(&sh->syncs, 1);
			double took = now_seconds() - now;
			note_sync(sh, took, "growmap_sync");
			next_sync = now + took + 0.1 + (double)(next_random(&rng) % 400) / 1000;
		}
		if (proc != 0 || step >= LIMIT_STEPS || now < next_step)
			continue;
		uint32_t limit = __atomic_load_n(&sh->limit, __ATOMIC_RELAXED);
		if (run->set_size && step < SIZE_STEPS) {
			/* A size in the page above the range: that page's
			 * first store rounds the size up to its end. */
			off_t size = (off_t)(limit * page_size + 1 + next_random(&rng) % (page_size - 1));
			double t0 = now_seconds();
			if ((r = growmap_set_size(gm, size)) < 0 || (r = growmap_sync(gm)) < 0) {
				report(sh, "growmap_set_size(%lld) then sync: %s",
				       (long long)size, strerror(-r));
				errors++;
			} else {
				sh->size_floor = size;
			}
			count(&sh->set_sizes, 1);
			count(&sh->syncs, 1);
			note_sync(sh, now_seconds() - t0, "growmap_set_size then growmap_sync");
		}
		step++;
		limit = run->limit_first +
			(uint32_t)((uint64_t)(run->limit_last - run->limit_first) * step / LIMIT_STEPS);
		__atomic_store_n(&sh->limit, limit, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	for (unsigned t = 0; t < run->threads; t++) {
		pthread_join(th[t], NULL);
		free(w[t].want);
		free(w[t].got);
	}
	free(w);
	free(th);
	struct growmap_stats st;
	if (growmap_stats(gm, &st) == 0)
		count(&sh->faults, st.faults);
	double t0 = now_seconds();
	r = growmap_close(gm);
	uint64_t us = (uint64_t)((now_seconds() - t0) * 1e6);
	if (us > sh->close_max_us)
		sh->close_max_us = us;     /* a race between two closes only loses a figure */
	if (r < 0) {
		report(sh, "growmap_close: %s", strerror(-r));
		errors++;
	}
	return errors;
}

/* The size the file must have: max(size set, end of highest stored page). */
static off_t expected_size(const struct run *run)
{
	off_t size = run->sh->size_floor;
	for (size_t p = run->npages; p-- > 0;)
		if (run->sh->gen[p]) {
			if ((off_t)((p + 1) * page_size) > size)
				size = (off_t)((p + 1) * page_size);
			break;
		}
	return size;
}

struct verdict {
	uint64_t verified, bad;
	long long first_bad;    /* -1: none */
	off_t size, want_size;
};

/*
 * Reads the file back with pread(2) against the shadow: every byte below
 * the expected size is compared (a byte missing from a short file counts
 * as bad), and tu_verify_file() must agree on the first bad byte.
 */
static int verify_file(const struct run *run, int fd, struct verdict *v)
{
	const size_t chunk = 256;
	unsigned char *buf = malloc(chunk * page_size), *want = malloc(page_size);
	if (!buf || !want)
		abort();
	*v = (struct verdict){ .first_bad = -1, .size = tu_file_size(fd),
			       .want_size = expected_size(run) };
	size_t pages = (size_t)((v->want_size + page_size - 1) / page_size);
	for (size_t at = 0; at < pages; at += chunk) {
		size_t n = pages - at < chunk ? pages - at : chunk;
		ssize_t got = pread(fd, buf, n * page_size, (off_t)(at * page_size));
		if (got < 0) {
			perror("pread");
			got = 0;
		}
		for (size_t i = 0; i < n; i++) {
			size_t p = at + i;
			expected_page((uint64_t *)want, run->sh->gen[p], p);
			if ((i + 1) * page_size <= (size_t)got &&
			    (off_t)((p + 1) * page_size) <= v->want_size &&
			    !memcmp(buf + i * page_size, want, page_size)) {
				v->verified += page_size;
				continue;
			}
			for (size_t b = 0;
			     b < page_size && (off_t)(p * page_size + b) < v->want_size; b++) {
				bool present = i * page_size + b < (size_t)got;
				if (present && buf[i * page_size + b] == want[b]) {
					v->verified++;
					continue;
				}
				v->verified += present;
				if (v->first_bad < 0)
					v->first_bad = (long long)(p * page_size + b);
				v->bad++;
			}
		}
	}
	free(buf);
	free(want);
	long long first = tu_verify_file(fd, run->sh->gen, run->npages, v->want_size);
	long long mine = v->first_bad >= 0 ? v->first_bad :
			 v->size != v->want_size ? (long long)v->size : -1;
	if (first != mine && !(v->size < v->want_size && first == v->size)) {
		fprintf(stderr, "stress: tu_verify_file reports %lld, this check %lld\n",
			first, mine);
		return 1;
	}
	if (v->bad)
		fprintf(stderr, "stress: file has %" PRIu64 " bad bytes, the first at %lld\n",
			v->bad, v->first_bad);
	if (v->size != v->want_size) {
		fprintf(stderr, "stress: file size %lld, want %lld\n",
			(long long)v->size, (long long)v->want_size);
		return 1;
	}
	return v->bad ? 1 : 0;
}

/*
 * Corrupts one byte of a stored page with pwrite(2) and checks the file
 * again: the check must report that byte and only it.
 */
static int self_test(const struct run *run, int fd)
{
	uint64_t rng = run->seed ^ 0xbadULL;
	size_t p = (size_t)(next_random(&rng) % run->npages);
	for (int tries = 0; tries < 1000000 && !run->sh->gen[p]; tries++)
		p = (size_t)(next_random(&rng) % run->npages);
	if (!run->sh->gen[p]) {
		fprintf(stderr, "stress: self-test: no stored page to corrupt\n");
		return 1;
	}
	off_t at = (off_t)(p * page_size + next_random(&rng) % page_size);
	unsigned char byte;
	if (pread(fd, &byte, 1, at) != 1)
		return 1;
	byte ^= 0x5a;
	if (pwrite(fd, &byte, 1, at) != 1 || fdatasync(fd) < 0) {
		perror("stress: self-test: pwrite");
		return 1;
	}
	struct verdict v;
	verify_file(run, fd, &v);
	bool caught = v.bad == 1 && v.first_bad == (long long)at && v.size == v.want_size;
	printf("stress: self-test: corrupted byte %lld (page %zu), the check found %" PRIu64
	       " bad byte(s), first at %lld: %s\n", (long long)at, p, v.bad, v.first_bad,
	       caught ? "caught" : "MISSED");
	return caught ? 0 : 1;
}

struct totals {
	uint64_t stores, loads, syncs, set_sizes, verified, bad;
};

/*
 * One phase: a new file, 'nprocs' processes (1: this one; 2: children)
 * storing into it, then the file checked against the shadow.
 */
static int run_phase(struct run *run, unsigned nprocs, bool set_size, bool self,
		     const char *what, struct totals *tot)
{
	size_t shsize = sizeof(struct shared) + run->npages * sizeof(uint32_t);
	struct shared *sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	run->sh = sh;
	run->nprocs = nprocs;
	run->set_size = set_size;
	sh->limit = run->limit_first;
	char path[PATH_MAX];
	int fd = tu_tmpfile(path);
	int errors = 0;
	if (nprocs == 1) {
		errors += run_process(run, fd, 0);
	} else {
		pid_t kids[2];
		fflush(NULL);
		for (unsigned proc = 0; proc < 2; proc++) {
			kids[proc] = fork();
			if (kids[proc] < 0) {
				perror("fork");
				abort();
			}
			if (kids[proc] == 0) {
				alarm((unsigned)run->seconds + 600);
				_exit(run_process(run, fd, proc) ? 1 : 0);
			}
		}
		for (unsigned proc = 0; proc < 2; proc++) {
			int status;
			if (waitpid(kids[proc], &status, 0) != kids[proc] ||
			    !WIFEXITED(status) || WEXITSTATUS(status)) {
				fprintf(stderr, "stress: process %u ended with status %#x\n",
					proc, status);
				errors++;
			}
		}
		/* The daemon settles a file its last writers left together. */
		tu_wait_for_size(fd, expected_size(run), 5000);
	}
	double t0 = now_seconds();
	struct verdict v;
	errors += verify_file(run, fd, &v);
	double verify_s = now_seconds() - t0;
	printf("stress: %s: stores %" PRIu64 ", loads %" PRIu64 ", syncs %" PRIu64
	       " (%" PRIu64 " after set_size, %" PRIu64 " over 1 s, longest %.2f s), faults %" PRIu64
	       ", load bad bytes %" PRIu64
	       ", close %.2f s, file %lld bytes (want %lld), bytes verified %" PRIu64
	       " in %.1f s, bad bytes %" PRIu64 "\n",
	       what, sh->stores, sh->loads, sh->syncs, sh->set_sizes, sh->slow_syncs,
	       sh->sync_max_us / 1e6,
	       sh->faults, sh->load_bad, sh->close_max_us / 1e6,
	       (long long)v.size, (long long)v.want_size, v.verified, verify_s, v.bad);
	if (sh->load_bad)
		errors++;
	if (self && !errors)
		errors += self_test(run, fd);
	else if (self)
		fprintf(stderr, "stress: self-test not run: the run itself failed\n");
	tot->stores += sh->stores;
	tot->loads += sh->loads;
	tot->syncs += sh->syncs;
	tot->set_sizes += sh->set_sizes;
	tot->verified += v.verified;
	tot->bad += v.bad + sh->load_bad;
	close(fd);
	unlink(path);
	munmap(sh, shsize);
	return errors;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: stress --minutes N --backend uffd|signal [--threads T] [--daemon]\n"
		"              [--self-test] [--seed S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "minutes", required_argument, NULL, 'm' },
		{ "backend", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 't' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "self-test", no_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	double minutes = -1;
	const char *backend = NULL;
	long threads = 3 * sysconf(_SC_NPROCESSORS_ONLN);
	bool through_daemon = false, self = false;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	char *end;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 'm':
			minutes = strtod(optarg, &end);
			if (*end || !(minutes > 0))
				usage();
			break;
		case 'b':
			backend = optarg;
			if (strcmp(backend, "uffd") && strcmp(backend, "signal"))
				usage();
			break;
		case 't':
			threads = strtol(optarg, &end, 10);
			if (*end || threads < 1 || threads > MAX_THREADS)
				usage();
			break;
		case 'd':
			through_daemon = true;
			break;
		case 's':
			self = true;
			break;
		case 'S':
			seed = strtoull(optarg, &end, 0);
			if (*end)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || minutes < 0 || !backend)
		usage();
	if (threads < 1)
		threads = 1;

	tu_backend = backend;
	/* Background writeback often and early, unless the caller says. */
	setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "50", 0);
	setenv("GROWMAP_DIRTY_LIMIT", "64", 0);
	tu_require_backend();     /* exits 77 if the backend cannot run here */
	setvbuf(stdout, NULL, _IOLBF, 0);

	double seconds = minutes * 60;
	alarm((unsigned)seconds + 600);   /* a hang ends the run */
	struct run run = { .npages = RESERVE / page_size, .seconds = seconds, .seed = seed };
	/* Stores start in the first quarter of the range and spread to all
	 * but the top 1/16: loads there must read zeros and grow nothing. */
	run.limit_first = (uint32_t)(run.npages / 4);
	run.limit_last = (uint32_t)(run.npages - run.npages / 16);
	struct totals tot = { 0 };
	int errors = 0;
	char what[128];
	if (!through_daemon) {
		run.threads = (unsigned)threads;
		snprintf(what, sizeof(what), "%s alone, 1 process x %u threads",
			 backend, run.threads);
		errors += run_phase(&run, 1, true, self, what, &tot);
	} else {
		pid_t d = tu_start_daemon();
		run.seconds = seconds / 2;
		run.threads = (unsigned)threads;
		snprintf(what, sizeof(what), "%s through growmapd, 1 process x %u threads",
			 backend, run.threads);
		errors += run_phase(&run, 1, true, false, what, &tot);
		run.threads = threads >= 2 ? (unsigned)threads / 2 : 1;
		snprintf(what, sizeof(what), "%s through growmapd, 2 processes x %u threads",
			 backend, run.threads);
		errors += run_phase(&run, 2, false, self, what, &tot);
		if (tu_stop_daemon(d) < 0)
			errors++;
	}
	bool pass = errors == 0 && tot.bad == 0;
	printf("stress: backend %s%s, threads %ld, minutes %g, seed %#" PRIx64
	       ", stores %" PRIu64 ", loads %" PRIu64 ", syncs %" PRIu64
	       ", bytes verified %" PRIu64 ", bad bytes %" PRIu64 ", errors %d%s: %s\n",
	       backend, through_daemon ? " through growmapd" : "", threads, minutes, seed,
	       tot.stores, tot.loads, tot.syncs, tot.verified, tot.bad, errors,
	       self ? ", self-test" : "", pass ? "PASS" : "FAIL");
	return pass ? 0 : 1;
}
