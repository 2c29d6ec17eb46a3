/*
 * growmap-bench: the one instrument for growmap's speed claims.
 *
 * Runs each workload against every contender in the same invocation,
 * interleaved (A B C D, A B C D, ...), each run in a fresh child process
 * (so peak RSS, signal handlers and page tables are its own), and checks
 * the file's size and bytes after every run: a fast wrong answer fails
 * the benchmark.
 *
 * Contenders:
 *   uffd    growmap, userfaultfd backend
 *   signal  growmap, signal backend
 *   K1      MAP_SHARED of a file pre-sized with ftruncate to the final size
 *   K2      MAP_SHARED over the whole reservation, a SIGBUS handler that
 *           extends the file (fallocate + ftruncate) in 1 MiB steps, exact
 *           size set at the end
 *   pwrite  1 MiB pwrite(2) blocks + fdatasync: the disk's own bandwidth
 *           (write workloads only)
 * Every contender ends with its data durable (growmap_close, msync
 * MS_SYNC + fdatasync, or fdatasync).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <growmap.h>

#include "bench.h"

#define PS 4096u
#define MIB (1024u * 1024u)

enum contender { C_UFFD, C_SIGNAL, C_K1, C_K2, C_PWRITE, NCONTENDERS };
static const char *const contender_name[NCONTENDERS] = {
	"uffd", "signal", "K1", "K2", "pwrite",
};

enum workload { W_SEQFILL, W_SPARSE, W_READ_COLD, W_READ_WARM, W_READ_RW, W_REWRITE,
		W_THREADS1, W_THREADSN, NWORKLOADS };
static const char *const workload_name[NWORKLOADS] = {
	"seqfill", "sparse", "read-cold", "read-warm", "read-rw", "rewrite", "threads-1",
	"threads-n",
};

struct params {
	size_t size;           /* bytes: sequential fill, read and rewrite files */
	size_t reserve;        /* sparse workload's reservation */
	size_t sparse_pages;   /* first touches in the sparse workload */
	size_t run_bytes;      /* rewrite run length */
	size_t rewrites;       /* rewrite runs */
	unsigned threads;      /* threads-n */
	unsigned reps;
	const char *dir;
	bool enabled_w[NWORKLOADS];
	bool enabled_c[NCONTENDERS];
};

/* What a child reports back for one run. */
struct run_report {
	int ok;                /* 1 verified, 0 not run (contender n/a), -1 failed */
	char why[200];
	double seconds;
	double wb_seconds;     /* (d): the writing-back part alone (sync+close,
				  or pwrites+fdatasync); 0 elsewhere */
	uint64_t pages;        /* pages the workload handled */
	uint64_t bytes;        /* bytes it moved */
	uint64_t nlat;         /* latency samples that follow */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The byte every page holds in the fill workloads and the original file. */
static unsigned char fill_byte(size_t page)
{
	return (unsigned char)((page * 31 + 7) | 1);
}

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- contenders: how a run gets its memory and makes it durable ---- */

struct mapping {
	enum contender who;
	int fd;
	char *base;
	size_t len;
	struct growmap *gm;
	off_t final_size;      /* K1 pre-size, K2 exact size at the end */
};

static int k2_fd = -1;
static char *k2_base;
static size_t k2_len;
static off_t k2_size;

/* K2: a store or load past the end of file raises SIGBUS; extend the file
 * in 1 MiB steps and let the access retry. */
static void k2_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	char *addr = si->si_addr;
	if (addr < k2_base || addr >= k2_base + k2_len) {
		signal(sig, SIG_DFL);
		return;
	}
	off_t chunk = (off_t)((size_t)(addr - k2_base) / MIB) * MIB;
	if (chunk + (off_t)MIB > k2_size) {
		/* Reserve the chunk, then grow the size over it (holes below). */
		if (fallocate(k2_fd, FALLOC_FL_KEEP_SIZE, chunk, MIB) < 0 ||
		    ftruncate(k2_fd, chunk + (off_t)MIB) < 0) {
			signal(sig, SIG_DFL);
			return;
		}
		k2_size = chunk + (off_t)MIB;
	}
}

static int map_open(struct mapping *m, int fd, size_t len, off_t final_size, bool writable)
{
	m->fd = fd;
	m->len = len;
	m->final_size = final_size;
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	switch (m->who) {
	case C_UFFD:
	case C_SIGNAL: {
		struct growmap_options o = { .backend = contender_name[m->who] };
		int r = growmap_open_opts(&m->gm, fd, len, writable ? 0 : GROWMAP_RDONLY, &o);
		if (r < 0)
			return r;
		m->base = growmap_addr(m->gm);
		return 0;
	}
	case C_K1:
		if (writable && ftruncate(fd, final_size) < 0)
			return -errno;
		break;
	case C_K2: {
		struct stat st;
		fstat(fd, &st);
		k2_fd = fd;
		k2_size = st.st_size;
		k2_len = len;
		struct sigaction sa = { .sa_sigaction = k2_sigbus, .sa_flags = SA_SIGINFO };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, NULL);
		break;
	}
	default:
		return -EINVAL;
	}
	m->base = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
	if (m->base == MAP_FAILED)
		return -errno;
	k2_base = m->base;
	return 0;
}

/* Makes everything durable and detaches. */
static int map_close(struct mapping *m)
{
	if (m->gm)
		return growmap_close(m->gm);
	int r = 0;
	if (m->who == C_K2 && m->final_size >= 0 && ftruncate(m->fd, m->final_size) < 0)
		r = -errno;
	if (msync(m->base, m->len, MS_SYNC) < 0 && !r)
		r = -errno;
	munmap(m->base, m->len);
	if (fdatasync(m->fd) < 0 && !r)
		r = -errno;
	return r;
}

/* ---- verification: the file itself, through pread ---- */

/* Expected bytes of a file, one value per page (0: never stored). */
static int verify_pages(int fd, const unsigned char *page_byte, size_t npages,
			size_t expect_size, bool first_word_only, char *why, size_t whylen)
{
	struct stat st;
	fstat(fd, &st);
	if ((size_t)st.st_size != expect_size) {
		snprintf(why, whylen, "size %lld, expected %zu", (long long)st.st_size, expect_size);
		return -1;
	}
	unsigned char *buf = malloc(MIB);
	for (size_t off = 0; off < expect_size; off += MIB) {
		size_t n = expect_size - off < MIB ? expect_size - off : MIB;
		if (pread(fd, buf, n, (off_t)off) != (ssize_t)n) {
			snprintf(why, whylen, "short read at %zu", off);
			free(buf);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			size_t page = (off + i) / PS, in = (off + i) % PS;
			unsigned char want = page < npages ? page_byte[page] : 0;
			if (first_word_only && in >= 8)
				want = 0;
			if (buf[i] != want) {
				snprintf(why, whylen, "byte %zu is %u, expected %u", off + i, buf[i], want);
				free(buf);
				return -1;
			}
		}
	}
	free(buf);
	return 0;
}

/* A file every page of which holds fill_byte(page), 'size' bytes long. */
static int verify_fill(int fd, size_t size, char *why, size_t whylen)
{
	size_t npages = (size + PS - 1) / PS;
	unsigned char *expect = malloc(npages);
	for (size_t pg = 0; pg < npages; pg++)
		expect[pg] = fill_byte(pg);
	int r = verify_pages(fd, expect, npages, size, false, why, whylen);
	free(expect);
	return r;
}

/* ---- files ---- */

static int new_file(const struct params *p, char *path)
{
	snprintf(path, PATH_MAX, "%s/growmap-bench-XXXXXX", p->dir);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/* A file of 'size' bytes filled with fill_byte(), on disk, not cached. */
static int make_source_file(const struct params *p, size_t size, bool drop_cache)
{
	char path[PATH_MAX];
	int fd = new_file(p, path);
	if (fd < 0)
		return -errno;
	unsigned char *buf = malloc(MIB);
	for (size_t off = 0; off < size; off += MIB) {
		size_t n = size - off < MIB ? size - off : MIB;
		for (size_t i = 0; i < n; i += PS)
			memset(buf + i, fill_byte((off + i) / PS), PS < n - i ? PS : n - i);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
			free(buf);
			close(fd);
			return -EIO;
		}
	}
	free(buf);
	fsync(fd);
	if (drop_cache)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	return fd;
}

/* ---- workloads, each run in a child process ---- */

struct run_ctx {
	const struct params *p;
	enum contender who;
	struct run_report rep;
	uint64_t *lat;         /* latency samples, or NULL */
};

static void fail(struct run_ctx *c, const char *what, int err)
{
	c->rep.ok = -1;
	snprintf(c->rep.why, sizeof(c->rep.why), "%s: %s", what, strerror(-err));
}

static void run_threads(struct run_ctx *c, unsigned nthreads);

/* (a) sequential fill of a new file, then sync and close: through the
 * mapping as in (e), in the calling thread; or with pwrite. */
static void run_seqfill(struct run_ctx *c)
{
	const struct params *p = c->p;
	if (c->who != C_PWRITE) {
		run_threads(c, 0);
		return;
	}
	char path[PATH_MAX];
	int fd = new_file(p, path);
	size_t pages = p->size / PS;
	double t0 = now();
	unsigned char *buf = malloc(MIB);
	for (size_t off = 0; off < p->size; off += MIB) {
		for (size_t i = 0; i < MIB; i += PS)
			memset(buf + i, fill_byte((off + i) / PS), PS);
		if (pwrite(fd, buf, MIB, (off_t)off) != MIB) {
			free(buf);
			close(fd);
			return fail(c, "pwrite", -EIO);
		}
	}
	fdatasync(fd);
	free(buf);
	c->rep.seconds = now() - t0;
	c->rep.pages = pages;
	c->rep.bytes = p->size;
	c->rep.ok = verify_fill(fd, p->size, c->rep.why, sizeof(c->rep.why)) == 0 ? 1 : -1;
	close(fd);
}

/* (b) random sparse first-touch stores into a large reservation; each
 * store's latency is recorded (it includes the first-touch fault). */
static void run_sparse(struct run_ctx *c)
{
	const struct params *p = c->p;
	if (c->who == C_PWRITE) {
		c->rep.ok = 0;
		return;
	}
	size_t npages = p->reserve / PS;
	unsigned char *expect = calloc(npages, 1);
	size_t *order = malloc(p->sparse_pages * sizeof(size_t));
	uint64_t seed = 42;
	size_t highest = 0;
	for (size_t i = 0; i < p->sparse_pages; i++) {
		size_t pg;
		do
			pg = splitmix(&seed) % npages;
		while (expect[pg]);
		expect[pg] = (unsigned char)(pg | 1);
		order[i] = pg;
		if (pg + 1 > highest)
			highest = pg + 1;
	}
	char path[PATH_MAX];
	int fd = new_file(p, path);
	struct mapping m = { .who = c->who };
	double t0 = now();
	int r = map_open(&m, fd, p->reserve, (off_t)(highest * PS), true);
	if (r < 0)
		return fail(c, "open", r);
	for (size_t i = 0; i < p->sparse_pages; i++) {
		uint64_t a = now_ns();
		*(volatile uint64_t *)(m.base + order[i] * PS) = 0x0101010101010101ULL * expect[order[i]];
		c->lat[i] = now_ns() - a;
	}
	if ((r = map_close(&m)) < 0)
		return fail(c, "close", r);
	c->rep.seconds = now() - t0;
	c->rep.pages = p->sparse_pages;
	c->rep.bytes = p->sparse_pages * PS;
	c->rep.nlat = p->sparse_pages;
	c->rep.ok = verify_pages(fd, expect, npages, highest * PS, true, c->rep.why,
				 sizeof(c->rep.why)) == 0 ? 1 : -1;
	free(expect);
	free(order);
	close(fd);
}

/* (c) read an existing file through the mapping: every 8-byte word.
 * Read-only mappings unless 'writable' (warm, through a writable mapping:
 * what a program that reads before it writes pays). */
static void run_read(struct run_ctx *c, bool cold, bool writable)
{
	const struct params *p = c->p;
	if (c->who == C_PWRITE) {
		c->rep.ok = 0;
		return;
	}
	int fd = make_source_file(p, p->size, cold);
	if (fd < 0)
		return fail(c, "source file", fd);
	if (!cold) {                      /* warm: in the page cache */
		unsigned char *buf = malloc(MIB);
		for (size_t off = 0; off < p->size; off += MIB)
			if (pread(fd, buf, MIB, (off_t)off) < 0)
				break;
		free(buf);
	}
	struct mapping m = { .who = c->who, .final_size = -1 };
	double t0 = now();
	int r = map_open(&m, fd, p->size, writable ? (off_t)p->size : -1, writable);
	if (r < 0)
		return fail(c, "open", r);
	uint64_t sum = 0;
	const uint64_t *w = (const uint64_t *)m.base;
	for (size_t i = 0; i < p->size / 8; i++)
		sum += w[i];
	if ((r = map_close(&m)) < 0)
		return fail(c, "close", r);
	c->rep.seconds = now() - t0;
	c->rep.pages = p->size / PS;
	c->rep.bytes = p->size;
	uint64_t want = 0;
	for (size_t pg = 0; pg < p->size / PS; pg++)
		want += (uint64_t)(PS / 8) * (0x0101010101010101ULL * fill_byte(pg));
	if (sum != want) {
		c->rep.ok = -1;
		snprintf(c->rep.why, sizeof(c->rep.why), "checksum %llx, expected %llx",
			 (unsigned long long)sum, (unsigned long long)want);
	} else {   /* and reading changed nothing */
		c->rep.ok = verify_fill(fd, p->size, c->rep.why, sizeof(c->rep.why)) == 0 ? 1 : -1;
	}
	close(fd);
}

/* (d) random rewrites of runs of an existing file, then sync. Timed from
 * attach to durable close; pwrite writes the same runs and fdatasyncs. */
static void run_rewrite(struct run_ctx *c)
{
	const struct params *p = c->p;
	if (c->who == C_K2) {             /* same as K1 on an existing file */
		c->rep.ok = 0;
		return;
	}
	int fd = make_source_file(p, p->size, false);
	if (fd < 0)
		return fail(c, "source file", fd);
	size_t npages = p->size / PS, run_pages = p->run_bytes / PS;
	size_t slots = npages / run_pages;
	size_t nruns = p->rewrites < slots ? p->rewrites : slots;
	unsigned char *expect = malloc(npages);
	for (size_t pg = 0; pg < npages; pg++)
		expect[pg] = fill_byte(pg);
	size_t *slot = malloc(slots * sizeof(size_t));
	for (size_t i = 0; i < slots; i++)
		slot[i] = i;
	uint64_t seed = 7;
	for (size_t i = 0; i < nruns; i++) {      /* distinct runs: a partial shuffle */
		size_t j = i + splitmix(&seed) % (slots - i);
		size_t t = slot[i];
		slot[i] = slot[j];
		slot[j] = t;
		unsigned char b = (unsigned char)((i * 13 + 5) | 0x80);
		memset(expect + slot[i] * run_pages, b, run_pages);
	}
	double t0 = now();
	if (c->who == C_PWRITE) {
		unsigned char *buf = malloc(p->run_bytes);
		for (size_t i = 0; i < nruns; i++) {
			memset(buf, expect[slot[i] * run_pages], p->run_bytes);
			if (pwrite(fd, buf, p->run_bytes, (off_t)(slot[i] * p->run_bytes)) !=
			    (ssize_t)p->run_bytes)
				return fail(c, "pwrite", -EIO);
		}
		fdatasync(fd);
		free(buf);
		c->rep.wb_seconds = now() - t0;
	} else {
		struct mapping m = { .who = c->who, .final_size = (off_t)p->size };
		int r = map_open(&m, fd, p->size, (off_t)p->size, true);
		if (r < 0)
			return fail(c, "open", r);
		for (size_t i = 0; i < nruns; i++)
			memset(m.base + slot[i] * p->run_bytes, expect[slot[i] * run_pages], p->run_bytes);
		double t1 = now();
		if ((r = map_close(&m)) < 0)
			return fail(c, "close", r);
		c->rep.wb_seconds = now() - t1;
	}
	c->rep.seconds = now() - t0;
	c->rep.pages = nruns * run_pages;
	c->rep.bytes = nruns * p->run_bytes;
	c->rep.ok = verify_pages(fd, expect, npages, p->size, false, c->rep.why,
				 sizeof(c->rep.why)) == 0 ? 1 : -1;
	free(expect);
	free(slot);
	close(fd);
}

/* (e) T threads filling disjoint slices of a new file at once; with T = 0
 * the calling thread fills it all (workload (a)). */
struct slice {
	char *base;
	size_t first, count;
};

static void *fill_slice(void *arg)
{
	struct slice *s = arg;
	for (size_t pg = s->first; pg < s->first + s->count; pg++)
		memset(s->base + pg * PS, fill_byte(pg), PS);
	return NULL;
}

static void run_threads(struct run_ctx *c, unsigned nthreads)
{
	const struct params *p = c->p;
	if (c->who == C_PWRITE) {
		c->rep.ok = 0;
		return;
	}
	char path[PATH_MAX];
	int fd = new_file(p, path);
	size_t pages = p->size / PS;
	struct mapping m = { .who = c->who };
	double t0 = now();
	int r = map_open(&m, fd, p->size, (off_t)p->size, true);
	if (r < 0)
		return fail(c, "open", r);
	pthread_t t[64];
	struct slice s[64];
	if (nthreads == 0) {
		s[0] = (struct slice){ m.base, 0, pages };
		fill_slice(&s[0]);
	}
	for (unsigned i = 0; i < nthreads; i++) {
		s[i] = (struct slice){ m.base, pages * i / nthreads,
				       pages * (i + 1) / nthreads - pages * i / nthreads };
		pthread_create(&t[i], NULL, fill_slice, &s[i]);
	}
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	if ((r = map_close(&m)) < 0)
		return fail(c, "close", r);
	c->rep.seconds = now() - t0;
	c->rep.pages = pages;
	c->rep.bytes = p->size;
	c->rep.ok = verify_fill(fd, p->size, c->rep.why, sizeof(c->rep.why)) == 0 ? 1 : -1;
	close(fd);
}

static void run_workload(struct run_ctx *c, enum workload w)
{
	switch (w) {
	case W_SEQFILL: run_seqfill(c); break;
	case W_SPARSE: run_sparse(c); break;
	case W_READ_COLD: run_read(c, true, false); break;
	case W_READ_WARM: run_read(c, false, false); break;
	case W_READ_RW: run_read(c, false, true); break;
	case W_REWRITE: run_rewrite(c); break;
	case W_THREADS1: run_threads(c, 1); break;
	case W_THREADSN: run_threads(c, c->p->threads); break;
	default: break;
	}
}

static bool write_all(int fd, const void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

static bool read_all(int fd, void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

/* Runs one (workload, contender) in a child; returns its report, latency
 * samples appended to *lat, and the child's peak RSS. */
static struct run_report run_child(const struct params *p, enum workload w,
				   enum contender who, uint64_t **lat, size_t *nlat,
				   long *rss_kib)
{
	struct run_report rep = { .ok = -1 };
	int pipefd[2];
	if (pipe(pipefd) < 0) {
		snprintf(rep.why, sizeof(rep.why), "pipe: %s", strerror(errno));
		return rep;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		struct run_ctx c = { .p = p, .who = who };
		if (w == W_SPARSE)
			c.lat = calloc(p->sparse_pages, sizeof(uint64_t));
		run_workload(&c, w);
		if (!write_all(pipefd[1], &c.rep, sizeof(c.rep)) ||
		    (c.rep.nlat && !write_all(pipefd[1], c.lat, c.rep.nlat * sizeof(uint64_t))))
			_exit(2);
		_exit(0);
	}
	close(pipefd[1]);
	bool got = read_all(pipefd[0], &rep, sizeof(rep));
	if (got && rep.nlat) {
		*lat = realloc(*lat, (*nlat + rep.nlat) * sizeof(uint64_t));
		got = read_all(pipefd[0], *lat + *nlat, rep.nlat * sizeof(uint64_t));
		if (got)
			*nlat += rep.nlat;
	}
	close(pipefd[0]);
	int status;
	struct rusage ru;
	wait4(pid, &status, 0, &ru);
	*rss_kib = ru.ru_maxrss;
	if (!got || !WIFEXITED(status) || WEXITSTATUS(status)) {
		rep.ok = -1;
		snprintf(rep.why, sizeof(rep.why), "run died (%s %d)",
			 WIFSIGNALED(status) ? "signal" : "exit",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
	return rep;
}

/* ---- statistics and output ---- */

/* For the rewrite workload: the writing-back part alone (a mapping's
 * sync+close; pwrite's writes+fdatasync), against the pwrite bandwidth. */
static void print_writeback(const struct bench_result *results, size_t nres,
			    const char *workload)
{
	double base = NAN;
	bool any = false;
	for (size_t i = 0; i < nres; i++)
		if (results[i].workload == workload && !isnan(results[i].wb_mb_per_s)) {
			any = true;
			if (!strcmp(results[i].contender, "pwrite"))
				base = results[i].wb_mb_per_s;
		}
	if (!any)
		return;
	printf("  writeback alone (sync+close; pwrite: writes+fdatasync), MB/s%s:\n   ",
	       isnan(base) ? "" : " and vs pwrite");
	for (size_t i = 0; i < nres; i++) {
		if (results[i].workload != workload || isnan(results[i].wb_mb_per_s))
			continue;
		printf(" %s %.0f", results[i].contender, results[i].wb_mb_per_s);
		if (!isnan(base))
			printf(" (%.2f)", results[i].wb_mb_per_s / base);
	}
	printf("\n");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void human_size(size_t bytes, char *out, size_t len)
{
	if (bytes >= (size_t)1 << 30 && bytes % ((size_t)1 << 30) == 0)
		snprintf(out, len, "%zu GiB", bytes >> 30);
	else if (bytes >= MIB)
		snprintf(out, len, "%zu MiB", bytes / MIB);
	else
		snprintf(out, len, "%zu KiB", bytes >> 10);
}

static void workload_title(const struct params *p, enum workload w, char *out, size_t len)
{
	char sz[32], rs[32], run[32];
	human_size(p->size, sz, sizeof(sz));
	human_size(p->reserve, rs, sizeof(rs));
	human_size(p->run_bytes, run, sizeof(run));
	switch (w) {
	case W_SEQFILL: snprintf(out, len, "(a) sequential fill of a new %s file, sync+close", sz); break;
	case W_SPARSE: snprintf(out, len, "(b) %zu random first-touch stores in %s, sync+close", p->sparse_pages, rs); break;
	case W_READ_COLD: snprintf(out, len, "(c) read a %s file through the mapping, cold cache", sz); break;
	case W_READ_WARM: snprintf(out, len, "(c) read a %s file through the mapping, warm cache", sz); break;
	case W_READ_RW: snprintf(out, len, "(c) read a %s file through a writable mapping, warm cache", sz); break;
	case W_REWRITE: snprintf(out, len, "(d) %zu random %s rewrites of a %s file, sync", p->rewrites, run, sz); break;
	case W_THREADS1: snprintf(out, len, "(e) 1 thread filling a new %s file, sync+close", sz); break;
	case W_THREADSN: snprintf(out, len, "(e) %u threads filling a new %s file, sync+close", p->threads, sz); break;
	default: snprintf(out, len, "?"); break;
	}
}

static bool parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		return false;
	*out = (size_t)v;
	return true;
}

static bool parse_list(const char *s, const char *const *names, size_t n, bool *enabled)
{
	memset(enabled, 0, n * sizeof(bool));
	char *copy = strdup(s), *save = NULL;
	bool ok = true;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < n; i++)
			if (!strcasecmp(tok, names[i]))
				break;
		if (i == n) {
			fprintf(stderr, "growmap-bench: unknown name '%s'\n", tok);
			ok = false;
		} else {
			enabled[i] = true;
		}
	}
	free(copy);
	return ok;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: growmap-bench [options]\n"
"  --quick              small sizes, 5 repetitions: well under a minute\n"
"  --size BYTES         file size for fill, read, rewrite and thread workloads\n"
"                       (default 1G; --quick 32M)\n"
"  --reserve BYTES      reservation of the sparse workload (default 4G; --quick 512M)\n"
"  --sparse-pages N     first-touch stores in the sparse workload (default 16384;\n"
"                       --quick 2048)\n"
"  --rewrite-run BYTES  length of each rewrite run (default 64K)\n"
"  --rewrites N         rewrite runs (default 4096; --quick 256)\n"
"  --threads N          threads of the threads-n workload (default 2)\n"
"  --reps N             repetitions, at least 5 (default 5)\n"
"  --workloads LIST     comma list of: seqfill,sparse,read-cold,read-warm,read-rw,\n"
"                       rewrite,threads-1,threads-n (default all)\n"
"  --contenders LIST    comma list of: uffd,signal,K1,K2,pwrite (default all)\n"
"  --dir DIR            where the benchmark's files live (default $TMPDIR or /var/tmp)\n"
"  --csv FILE           also write the results as CSV\n"
"  --plot DIR           also draw plots (PNG and SVG) with gnuplot into DIR\n"
"  --help\n");
}

int main(int argc, char **argv)
{
	struct params p = {
		.size = (size_t)1 << 30, .reserve = (size_t)4 << 30, .sparse_pages = 16384,
		.run_bytes = 64 << 10, .rewrites = 4096, .threads = 2, .reps = 5,
	};
	const char *tmp = getenv("TMPDIR");
	p.dir = tmp && *tmp ? tmp : "/var/tmp";
	for (int i = 0; i < NWORKLOADS; i++)
		p.enabled_w[i] = true;
	for (int i = 0; i < NCONTENDERS; i++)
		p.enabled_c[i] = true;
	const char *csv = NULL, *plot = NULL;
	bool quick = false, size_set = false, reserve_set = false, sparse_set = false,
	     rewrites_set = false;

	enum { O_QUICK = 1, O_SIZE, O_RESERVE, O_SPARSE, O_RUN, O_REWRITES, O_THREADS,
	       O_REPS, O_WORKLOADS, O_CONTENDERS, O_DIR, O_CSV, O_PLOT, O_HELP };
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, O_QUICK },
		{ "size", required_argument, NULL, O_SIZE },
		{ "reserve", required_argument, NULL, O_RESERVE },
		{ "sparse-pages", required_argument, NULL, O_SPARSE },
		{ "rewrite-run", required_argument, NULL, O_RUN },
		{ "rewrites", required_argument, NULL, O_REWRITES },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "reps", required_argument, NULL, O_REPS },
		{ "workloads", required_argument, NULL, O_WORKLOADS },
		{ "contenders", required_argument, NULL, O_CONTENDERS },
		{ "dir", required_argument, NULL, O_DIR },
		{ "csv", required_argument, NULL, O_CSV },
		{ "plot", required_argument, NULL, O_PLOT },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	size_t v;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (opt) {
		case O_QUICK: quick = true; break;
		case O_SIZE: ok = parse_size(optarg, &p.size) && p.size >= MIB; size_set = true; break;
		case O_RESERVE: ok = parse_size(optarg, &p.reserve) && p.reserve >= MIB; reserve_set = true; break;
		case O_SPARSE: ok = parse_size(optarg, &p.sparse_pages) && p.sparse_pages > 0; sparse_set = true; break;
		case O_RUN: ok = parse_size(optarg, &p.run_bytes) && p.run_bytes >= PS && p.run_bytes % PS == 0; break;
		case O_REWRITES: ok = parse_size(optarg, &p.rewrites) && p.rewrites > 0; rewrites_set = true; break;
		case O_THREADS: ok = parse_size(optarg, &v) && v >= 1 && v <= 64; p.threads = (unsigned)v; break;
		case O_REPS: ok = parse_size(optarg, &v) && v >= 5 && v <= 1000; p.reps = (unsigned)v; break;
		case O_WORKLOADS: ok = parse_list(optarg, workload_name, NWORKLOADS, p.enabled_w); break;
		case O_CONTENDERS: ok = parse_list(optarg, contender_name, NCONTENDERS, p.enabled_c); break;
		case O_DIR: p.dir = optarg; break;
		case O_CSV: csv = optarg; break;
		case O_PLOT: plot = optarg; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (!ok) {
			fprintf(stderr, "growmap-bench: bad value for --%s: '%s'\n",
				opts[opt - 1].name, optarg);
			return 2;
		}
	}
	if (quick) {
		if (!size_set)
			p.size = 32 * MIB;
		if (!reserve_set)
			p.reserve = 512 * MIB;
		if (!sparse_set)
			p.sparse_pages = 2048;
		if (!rewrites_set)
			p.rewrites = 256;
	}
	p.size -= p.size % PS;
	p.reserve -= p.reserve % PS;
	if (p.sparse_pages > p.reserve / PS / 2) {
		fprintf(stderr, "growmap-bench: --sparse-pages must be at most half the reserved pages\n");
		return 2;
	}
	if (p.run_bytes > p.size) {
		fprintf(stderr, "growmap-bench: --rewrite-run larger than --size\n");
		return 2;
	}

	struct bench_result *results = calloc(NWORKLOADS * NCONTENDERS, sizeof(*results));
	struct bench_latencies *lats = calloc(NWORKLOADS * NCONTENDERS, sizeof(*lats));
	static char titles[NWORKLOADS][160];
	size_t nres = 0, nlats = 0;
	int failures = 0;
	bool tty = isatty(2);
	printf("growmap-bench: %u repetitions, contenders interleaved, every run verified; files in %s\n",
	       p.reps, p.dir);

	for (int w = 0; w < NWORKLOADS; w++) {
		if (!p.enabled_w[w])
			continue;
		workload_title(&p, w, titles[w], sizeof(titles[w]));
		if (!tty)
			fprintf(stderr, "running %s ...\n", workload_name[w]);
		double times[NCONTENDERS][1000], wb_times[NCONTENDERS][1000];
		long rss[NCONTENDERS] = { 0 };
		uint64_t pages[NCONTENDERS] = { 0 }, bytes[NCONTENDERS] = { 0 };
		uint64_t *lat[NCONTENDERS] = { NULL };
		size_t nlat[NCONTENDERS] = { 0 };
		bool ran[NCONTENDERS] = { false };
		for (unsigned r = 0; r < p.reps; r++) {
			for (int c = 0; c < NCONTENDERS; c++) {
				if (!p.enabled_c[c])
					continue;
				if (tty)
					fprintf(stderr, "\r  %-10s rep %u/%u %-7s", workload_name[w],
						r + 1, p.reps, contender_name[c]);
				long kib = 0;
				struct run_report rep = run_child(&p, w, c, &lat[c], &nlat[c], &kib);
				if (rep.ok == 0)
					continue;
				if (rep.ok < 0) {
					fprintf(stderr, "\n  FAILED: %s / %s: %s\n", workload_name[w],
						contender_name[c], rep.why);
					failures++;
					continue;
				}
				ran[c] = true;
				times[c][r] = rep.seconds;
				wb_times[c][r] = rep.wb_seconds;
				pages[c] = rep.pages;
				bytes[c] = rep.bytes;
				if (kib > rss[c])
					rss[c] = kib;
			}
		}
		if (tty)
			fprintf(stderr, "\r%60s\r", "");
		double med[NCONTENDERS];
		for (int c = 0; c < NCONTENDERS; c++)
			med[c] = NAN;
		for (int c = 0; c < NCONTENDERS; c++) {
			if (!ran[c])
				continue;
			struct bench_result *res = &results[nres++];
			double mn = times[c][0], mx = times[c][0];
			for (unsigned r = 0; r < p.reps; r++) {
				mn = fmin(mn, times[c][r]);
				mx = fmax(mx, times[c][r]);
			}
			med[c] = median(times[c], p.reps);
			*res = (struct bench_result){
				.workload = workload_name[w], .title = titles[w],
				.contender = contender_name[c], .reps = p.reps,
				.median_s = med[c], .min_s = mn, .max_s = mx,
				.mb_per_s = (double)bytes[c] / med[c] / 1e6,
				.ns_per_page = med[c] * 1e9 / (double)pages[c],
				.p50_ns = NAN, .p99_ns = NAN, .peak_rss_kib = rss[c],
				.wb_mb_per_s = NAN,
			};
			double wb = median(wb_times[c], p.reps);
			if (wb > 0)
				res->wb_mb_per_s = (double)bytes[c] / wb / 1e6;
			if (nlat[c]) {
				qsort(lat[c], nlat[c], sizeof(uint64_t), cmp_u64);
				res->p50_ns = (double)lat[c][nlat[c] / 2];
				res->p99_ns = (double)lat[c][nlat[c] * 99 / 100];
				lats[nlats++] = (struct bench_latencies){ workload_name[w],
					contender_name[c], lat[c], nlat[c] };
			}
		}
		/* Ratios once all medians are known. */
		printf("\n%s\n", titles[w]);
		printf("  %-8s %10s %10s %10s %9s %10s %7s %7s %9s %9s %8s\n", "", "median ms",
		       "min ms", "max ms", "MB/s", "ns/page", "vs K1", "vs sig", "p50 ns", "p99 ns",
		       "RSS MiB");
		for (size_t i = 0; i < nres; i++) {
			struct bench_result *res = &results[i];
			if (res->workload != workload_name[w])
				continue;
			res->vs_k1 = med[C_K1] / res->median_s;
			res->vs_signal = med[C_SIGNAL] / res->median_s;
			printf("  %-8s %10.1f %10.1f %10.1f %9.0f %10.0f %7.2f %7.2f %9.0f %9.0f %8.1f\n",
			       res->contender, res->median_s * 1e3, res->min_s * 1e3, res->max_s * 1e3,
			       res->mb_per_s, res->ns_per_page, res->vs_k1, res->vs_signal,
			       res->p50_ns, res->p99_ns, res->peak_rss_kib / 1024.0);
		}
		print_writeback(results, nres, workload_name[w]);
		fflush(stdout);
	}

	if (csv) {
		FILE *f = fopen(csv, "w");
		if (!f) {
			fprintf(stderr, "growmap-bench: %s: %s\n", csv, strerror(errno));
			failures++;
		} else {
			fprintf(f, "workload,contender,reps,median_s,min_s,max_s,mb_per_s,ns_per_page,"
				   "vs_k1,vs_signal,p50_ns,p99_ns,peak_rss_kib,writeback_mb_per_s\n");
			for (size_t i = 0; i < nres; i++) {
				const struct bench_result *r = &results[i];
				fprintf(f, "%s,%s,%u,%.6f,%.6f,%.6f,%.1f,%.1f,%.3f,%.3f,%.0f,%.0f,%ld,%.1f\n",
					r->workload, r->contender, r->reps, r->median_s, r->min_s,
					r->max_s, r->mb_per_s, r->ns_per_page, r->vs_k1, r->vs_signal,
					r->p50_ns, r->p99_ns, r->peak_rss_kib, r->wb_mb_per_s);
			}
			fclose(f);
			printf("\nCSV written to %s\n", csv);
		}
	}
	if (plot) {
		int r = bench_plot(plot, results, nres, lats, nlats);
		if (r == -ENOENT)
			printf("\nplots skipped: gnuplot is not installed (apt-get install gnuplot-nox)\n");
		else if (r < 0)
			printf("\nplots failed: %s\n", strerror(-r));
		else
			printf("\nplots written to %s\n", plot);
	}
	printf("\n%s: %d failed verification\n", failures ? "FAILED" : "ok", failures);
	for (size_t i = 0; i < nlats; i++)
		free((void *)lats[i].ns);
	free(lats);
	free(results);
	return failures ? 1 : 0;
}
