/* SPDX-License-Identifier: MIT */
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
 *   uffd        growmap, userfaultfd backend; the file's size follows the
 *               highest page stored into (exact-size mode)
 *   signal      growmap, signal backend, likewise
 *   uffd-own    the uffd backend, but the program owns its length: it calls
 *               growmap_set_size(final size) right after growmap_open and
 *               before any store (write workloads with a known final size)
 *   signal-own  the signal backend, likewise
 *   uffd-sys    uffd, with io_uring_setup(2) refused by a seccomp filter in
 *               the run's child: the library starts background writeback
 *               with the sync_file_range(2) system call instead of through
 *               io_uring (write workloads; against uffd it shows what
 *               io_uring brings to writeback)
 *   uffd-daemon the uffd backend, every attach through the growmapd the
 *               benchmark starts for the whole run (GROWMAP_DAEMON=required
 *               on a socket of its own); the other growmap contenders run
 *               with GROWMAP_DAEMON=off, so a system daemon takes none over
 *   signal-daemon the signal backend, likewise (both: every workload but
 *               memcg and reserve-8t)
 *   K1          MAP_SHARED of a file pre-sized with ftruncate to the final size
 *   K2          MAP_SHARED over the whole reservation, a SIGBUS handler that
 *               extends the file (fallocate) in 1 MiB steps, exact size
 *               set at the end
 *   pwrite      1 MiB pwrite(2) blocks + fdatasync: the disk's own bandwidth
 *               (write workloads only)
 * Every contender ends with its data durable (growmap_close, msync
 * MS_SYNC + fdatasync, or fdatasync).
 *
 * The shared workload is two processes writing one new file: the daemon
 * contenders and K1 fork two, each attached to the file (K1's each
 * ftruncate it to the final size first), filling the even and the odd
 * 2 MiB chunks; a local growmap writer excludes every other writer
 * (-EBUSY), so uffd and signal fork one process that fills it all.
 *
 * The syncs workload is four processes each storing a few new pages and
 * syncing, round after round: the daemon contenders and K1 share one
 * file (through the daemon, syncs that meet share an fdatasync), uffd
 * and signal each sync a file of its own, for the same reason as above.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <growmap.h>

#include "bench.h"
#include "proto.h"

#define PS 4096u
#define MIB (1024u * 1024u)
#define GIB ((size_t)1 << 30)
#define MAX_REPS 1000u

enum contender { C_UFFD, C_SIGNAL, C_UFFD_OWN, C_SIGNAL_OWN, C_UFFD_SYS, C_UFFD_DAEMON,
		 C_SIGNAL_DAEMON, C_K1, C_K2, C_PWRITE, NCONTENDERS };
static const char *const contender_name[NCONTENDERS] = {
	"uffd", "signal", "uffd-own", "signal-own", "uffd-sys", "uffd-daemon", "signal-daemon",
	"K1", "K2", "pwrite",
};

enum workload { W_SEQFILL, W_SEQFILL_2G, W_SPARSE, W_READ_COLD, W_READ_WARM, W_READ_RW,
		W_READ_RW_COLD, W_REWRITE, W_THREADS1, W_THREADSN, W_MEMCG, W_RESERVE_8T,
		W_SHARED, W_SYNCS, NWORKLOADS };
static const char *const workload_name[NWORKLOADS] = {
	"seqfill", "seqfill-2g", "sparse", "read-cold", "read-warm", "read-rw", "read-rw-cold",
	"rewrite", "threads-1", "threads-n", "memcg", "reserve-8t", "shared", "syncs",
};

/* seqfill-2g's file, and reserve-8t's reservation and second store. */
#define SEQFILL_2G_SIZE (2 * GIB)
#define RESERVE_8T ((size_t)8 << 40)
#define RESERVE_8T_FAR ((size_t)4 << 40)

/* shared: chunk k of the file is filled by process k % 2. */
#define SHARED_CHUNK (2 * MIB)

/* syncs: processes, and new pages each stores before each sync. */
#define SYNCS_PROCS 4u
#define SYNCS_PAGES 4u

/* The growmapd the daemon contenders attach through: one for the whole
 * run, started by the benchmark in a directory of its own (a socket path
 * must fit sun_path, which --dir need not) and stopped at the end. */
static struct {
	pid_t pid;             /* 0: not running */
	char dir[64];          /* "" until made */
	char sock[96];
	char log[96];          /* its standard error */
	char why[300];         /* why the daemon contenders are n/a, or "" */
} gmd;

static int daemon_file_syncs(int fd, uint64_t *requests, uint64_t *fdatasyncs);

struct params {
	size_t size;           /* bytes: sequential fill, read and rewrite files */
	size_t reserve;        /* sparse workload's reservation */
	size_t sparse_pages;   /* first touches in the sparse workload */
	size_t run_bytes;      /* rewrite run length */
	size_t rewrites;       /* rewrite runs */
	size_t memcg_size;     /* memcg workload: bytes written ... */
	size_t memcg_limit;    /* ... by a child in a cgroup limited to this */
	unsigned threads;      /* threads-n */
	size_t sync_rounds;    /* syncs: rounds of stores and a sync per process */
	unsigned reps;
	unsigned timeout_s;    /* a run taking longer is killed and fails */
	bool prewarm;          /* touch the run's memory before it (below) */
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
	uint64_t faults;       /* minor + major faults of the process, timed part */
	double disk_per_stored;/* new files: allocated bytes / stored bytes; else NAN */
	double rss_growth_kib; /* reserve-8t: peak RSS growth, KiB; else NAN */
	bool wb_syscall;       /* writeback was started without io_uring */
	char mode[240];        /* growmap_backend_reason() of its mapping */
	uint64_t wb_passes;    /* background writeback passes (growmap) */
	uint64_t sync_requests;/* syncs through the daemon: its DATASYNC requests
				  for the file and the fdatasync(2) calls that */
	uint64_t fdatasyncs;   /* served them, before close; 0 when unknown */
	bool timed_out;        /* set by the parent: the run was killed */
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

/* Zeroed memory, or the end of the process: a benchmark that cannot get
 * its buffers has nothing to report (a run's child then dies with exit
 * status 3, which the parent reports as the run's failure). */
static void *xcalloc(size_t n, size_t size)
{
	void *m = calloc(n ? n : 1, size ? size : 1);
	if (!m) {
		fprintf(stderr, "growmap-bench: out of memory (%zu bytes)\n", n * size);
		_exit(3);
	}
	return m;
}

static void *xrealloc(void *old, size_t size)
{
	void *m = realloc(old, size ? size : 1);
	if (!m) {
		fprintf(stderr, "growmap-bench: out of memory (%zu bytes)\n", size);
		_exit(3);
	}
	return m;
}

/* ---- contenders: how a run gets its memory and makes it durable ---- */

/* The growmap backend a contender uses, or NULL for the kernel's mapping
 * and pwrite. */
static const char *backend_of(enum contender who)
{
	switch (who) {
	case C_UFFD: case C_UFFD_OWN: case C_UFFD_SYS: case C_UFFD_DAEMON: return "uffd";
	case C_SIGNAL: case C_SIGNAL_OWN: case C_SIGNAL_DAEMON: return "signal";
	default: return NULL;
	}
}

static bool through_daemon(enum contender who)
{
	return who == C_UFFD_DAEMON || who == C_SIGNAL_DAEMON;
}

static bool owns_size(enum contender who)
{
	return who == C_UFFD_OWN || who == C_SIGNAL_OWN;
}

/* Whether a contender takes part in a workload; the others print n/a. */
static bool applies(enum workload w, enum contender who)
{
	switch (w) {
	case W_SEQFILL:
	case W_SEQFILL_2G:
		return true;
	case W_REWRITE:            /* K2 on an existing file is K1 */
		return who != C_K2;
	case W_THREADS1:
	case W_THREADSN:
		return who != C_PWRITE;
	case W_MEMCG:              /* growmap against the kernel's own mapping
				      under memory pressure; the daemon, only on
				      the attach path, is left out of this
				      longest row */
		return who != C_K2 && who != C_PWRITE && !through_daemon(who);
	case W_RESERVE_8T:         /* a reservation is growmap's business */
		return who == C_UFFD || who == C_SIGNAL;
	case W_SHARED:             /* sharing, K1's two processes, and one local
				      growmap process writing the file alone */
	case W_SYNCS:              /* likewise; local: a file per process */
		return who == C_UFFD || who == C_SIGNAL || through_daemon(who) || who == C_K1;
	case W_SPARSE:             /* no final size to own, no pwrite */
		return who != C_PWRITE && !owns_size(who);
	default:                   /* reads: nothing to own, write or write back */
		return who != C_PWRITE && !owns_size(who) && who != C_UFFD_SYS;
	}
}

struct mapping {
	enum contender who;
	int fd;
	char *base;
	size_t len;
	struct growmap *gm;
	off_t final_size;      /* K1 pre-size, K2 exact size at the end,
				  the -own contenders' growmap_set_size() */
	uint64_t signal_faults;/* set by map_close: faults served by a signal
				  handler (signal backend, K2), which
				  getrusage(2) does not count */
	bool wb_syscall;       /* growmap started background writeback with
				  sync_file_range(2): io_uring was refused */
	uint64_t wb_passes;    /* set by map_close: growmap's writeback passes
				  before close (write_batches) */
	char mode[240];        /* growmap_backend_reason() at open */
};

static int k2_fd = -1;
static char *k2_base;
static size_t k2_len;
static off_t k2_size;          /* atomic: the handler runs in any thread */
static uint64_t k2_signals;    /* SIGBUS faults served, atomic */

/* K2: a store or load past the end of file raises SIGBUS; extend the file
 * in 1 MiB steps and let the access retry. fallocate(2) without
 * FALLOC_FL_KEEP_SIZE reserves the step and extends the file over it but
 * never shrinks it: with several threads, an ftruncate(2) to the end of a
 * lower step could cut off what another thread just stored above. */
static void k2_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	char *addr = si->si_addr;
	if (addr < k2_base || addr >= k2_base + k2_len) {
		signal(sig, SIG_DFL);
		return;
	}
	__atomic_add_fetch(&k2_signals, 1, __ATOMIC_RELAXED);
	off_t chunk = (off_t)((size_t)(addr - k2_base) / MIB) * MIB, end = chunk + (off_t)MIB;
	off_t size = __atomic_load_n(&k2_size, __ATOMIC_ACQUIRE);
	if (end <= size)
		return;        /* another thread extended the file meanwhile */
	if (fallocate(k2_fd, 0, chunk, MIB) < 0) {
		signal(sig, SIG_DFL);
		return;
	}
	while (size < end &&
	       !__atomic_compare_exchange_n(&k2_size, &size, end, false, __ATOMIC_RELEASE,
					    __ATOMIC_ACQUIRE))
		;
}

static int growmap_map_open(struct mapping *m, bool writable)
{
	/* Durable at close whatever the configuration says, like K1. */
	struct growmap_options o = { .backend = backend_of(m->who), .sync_on_close = 1 };
	int r = growmap_open_opts(&m->gm, m->fd, m->len, writable ? 0 : GROWMAP_RDONLY, &o);
	if (r < 0)
		return r;
	/* GROWMAP_DAEMON=required should make this impossible, but a row
	 * labelled daemon must never time a local attach. */
	if (through_daemon(m->who) &&
	    !strstr(growmap_backend_reason(m->gm), "; shared through growmapd")) {
		growmap_close(m->gm);
		m->gm = NULL;
		return -ENOTCONN;
	}
	m->base = growmap_addr(m->gm);
	snprintf(m->mode, sizeof(m->mode), "%s", growmap_backend_reason(m->gm));
	m->wb_syscall = writable && strstr(growmap_backend_reason(m->gm),
					   "writeback started with sync_file_range(2)");
	/* The program owns its length: it says so before the first store, so
	 * the library need not track the highest page stored into. */
	if (owns_size(m->who) && (r = growmap_set_size(m->gm, m->final_size)) < 0) {
		growmap_close(m->gm);
		m->gm = NULL;
		return r;
	}
	return 0;
}

static int map_open(struct mapping *m, int fd, size_t len, off_t final_size, bool writable)
{
	m->fd = fd;
	m->len = len;
	m->final_size = final_size;
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	switch (m->who) {
	case C_UFFD:
	case C_SIGNAL:
	case C_UFFD_OWN:
	case C_SIGNAL_OWN:
	case C_UFFD_SYS:
	case C_UFFD_DAEMON:
	case C_SIGNAL_DAEMON:
		return growmap_map_open(m, writable);
	case C_K1:
		if (writable && ftruncate(fd, final_size) < 0)
			return -errno;
		break;
	case C_K2: {
		struct stat st;
		if (fstat(fd, &st) < 0)
			return -errno;
		k2_fd = fd;
		k2_size = st.st_size;
		k2_len = len;
		k2_signals = 0;
		struct sigaction sa = { .sa_sigaction = k2_sigbus, .sa_flags = SA_SIGINFO };
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, NULL) < 0)
			return -errno;
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
	if (m->gm) {
		/* The signal backend's faults end in SIGSEGV, which the
		 * kernel does not count as a page fault; the retried access
		 * is counted. (A userfaultfd fault is one fault, counted.) */
		struct growmap_stats st;
		if (growmap_stats(m->gm, &st) == 0) {
			if (!strcmp(growmap_backend(m->gm), "signal"))
				m->signal_faults = st.faults;
			m->wb_passes = st.write_batches;
		}
		return growmap_close(m->gm);
	}
	if (m->who == C_K2)
		m->signal_faults = __atomic_load_n(&k2_signals, __ATOMIC_RELAXED);
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

/* Makes the stores so far durable and stays attached: growmap_sync, or
 * for K1 msync(MS_SYNC) of the 'len' bytes at 'off' that were stored
 * (on Linux the fdatasync(2) of that range). */
static int map_sync(struct mapping *m, size_t off, size_t len)
{
	if (m->gm)
		return growmap_sync(m->gm);
	return msync(m->base + off, len, MS_SYNC) < 0 ? -errno : 0;
}

/* ---- verification: the file itself, through pread ---- */

/* The file's size is 'size', or -1 with why. */
static int check_size(int fd, off_t size, char *why, size_t whylen)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		snprintf(why, whylen, "fstat: %s", strerror(errno));
		return -1;
	}
	if (st.st_size != size) {
		snprintf(why, whylen, "size %lld, expected %lld", (long long)st.st_size,
			 (long long)size);
		return -1;
	}
	return 0;
}

/* Expected bytes of a file, one value per page (0: never stored); with
 * 'first_word_only' a page holds its value in its first 8 bytes only.
 * Every byte is compared: a page at a time against the page it should
 * be, then byte by byte to name the first that differs. */
static int verify_pages(int fd, const unsigned char *page_byte, size_t npages,
			size_t expect_size, bool first_word_only, char *why, size_t whylen)
{
	if (check_size(fd, (off_t)expect_size, why, whylen) < 0)
		return -1;
	unsigned char *buf = xcalloc(1, MIB), want[PS];
	int r = 0;
	for (size_t off = 0; off < expect_size && !r; off += MIB) {
		size_t n = expect_size - off < MIB ? expect_size - off : MIB;
		if (pread(fd, buf, n, (off_t)off) != (ssize_t)n) {
			snprintf(why, whylen, "short read at %zu", off);
			r = -1;
		}
		for (size_t i = 0; i < n && !r; i += PS) {
			size_t page = (off + i) / PS, len = n - i < PS ? n - i : PS;
			unsigned char b = page < npages ? page_byte[page] : 0;
			memset(want, first_word_only ? 0 : b, len);
			memset(want, b, len < 8 ? len : 8);
			if (!memcmp(buf + i, want, len))
				continue;
			size_t k = 0;
			while (buf[i + k] == want[k])
				k++;
			snprintf(why, whylen, "byte %zu is %u, expected %u", off + i + k, buf[i + k],
				 want[k]);
			r = -1;
		}
	}
	free(buf);
	return r;
}

/* A file every page of which holds fill_byte(page), 'size' bytes long. */
static int verify_fill(int fd, size_t size, char *why, size_t whylen)
{
	size_t npages = (size + PS - 1) / PS;
	unsigned char *expect = xcalloc(npages, 1);
	for (size_t pg = 0; pg < npages; pg++)
		expect[pg] = fill_byte(pg);
	int r = verify_pages(fd, expect, npages, size, false, why, whylen);
	free(expect);
	return r;
}

/* A page of a sparse file and the byte all of it holds. */
struct stored_page {
	off_t off;
	unsigned char byte;
};

static unsigned char expected_byte(const struct stored_page *pg, size_t n, off_t off)
{
	for (size_t i = 0; i < n; i++)
		if (off >= pg[i].off && off < pg[i].off + (off_t)PS)
			return pg[i].byte;
	return 0;
}

/* A file too large to read whole (terabytes): 'size' bytes long, the 'n'
 * pages holding their byte and zeros everywhere else. Holes read as zeros
 * by definition, so only the data extents (SEEK_DATA/SEEK_HOLE) are read,
 * every byte of them. */
static int verify_extents(int fd, off_t size, const struct stored_page *pg, size_t n,
			  char *why, size_t whylen)
{
	if (check_size(fd, size, why, whylen) < 0)
		return -1;
	unsigned char *buf = xcalloc(1, MIB);
	int r = 0;
	off_t data;
	for (data = lseek(fd, 0, SEEK_DATA); data >= 0 && data < size && !r;
	     data = lseek(fd, data, SEEK_DATA)) {
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			snprintf(why, whylen, "SEEK_HOLE: %s", strerror(errno));
			r = -1;
		}
		for (; data < hole && !r; data += MIB) {
			size_t len = hole - data < (off_t)MIB ? (size_t)(hole - data) : MIB;
			if (pread(fd, buf, len, data) != (ssize_t)len) {
				snprintf(why, whylen, "short read at %lld", (long long)data);
				r = -1;
			}
			for (size_t i = 0; i < len && !r; i++) {
				unsigned char want = expected_byte(pg, n, data + (off_t)i);
				if (buf[i] != want) {
					snprintf(why, whylen, "byte %lld is %u, expected %u",
						 (long long)(data + (off_t)i), buf[i], want);
					r = -1;
				}
			}
		}
		data = hole;
	}
	if (data < 0 && errno != ENXIO && !r) {   /* ENXIO: no data past there */
		snprintf(why, whylen, "SEEK_DATA: %s", strerror(errno));
		r = -1;
	}
	/* A stored page must not have become a hole. */
	for (size_t i = 0; i < n && !r; i++) {
		unsigned char b;
		if (pread(fd, &b, 1, pg[i].off) != 1 || b != pg[i].byte) {
			snprintf(why, whylen, "byte %lld is not %u", (long long)pg[i].off, pg[i].byte);
			r = -1;
		}
	}
	free(buf);
	return r;
}

/* ---- files ---- */

/* A new empty file in p->dir, already unlinked: its fd, or -errno. */
static int new_file(const struct params *p)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/growmap-bench-XXXXXX", p->dir);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

/* Writes 'size' bytes of fill_byte() pages from offset 0 in 1 MiB
 * pwrite(2) blocks: 0 or -errno. */
static int write_fill(int fd, size_t size)
{
	unsigned char *buf = xcalloc(1, MIB);
	int r = 0;
	for (size_t off = 0; off < size && !r; off += MIB) {
		size_t n = size - off < MIB ? size - off : MIB;
		for (size_t i = 0; i < n; i += PS)
			memset(buf + i, fill_byte((off + i) / PS), PS < n - i ? PS : n - i);
		ssize_t w = pwrite(fd, buf, n, (off_t)off);
		if (w != (ssize_t)n)
			r = w < 0 ? -errno : -EIO;
	}
	free(buf);
	return r;
}

/* A file of 'size' bytes filled with fill_byte(), on disk; not in the
 * page cache if 'drop_cache'. Its fd, or -errno. */
static int make_source_file(const struct params *p, size_t size, bool drop_cache)
{
	int fd = new_file(p);
	if (fd < 0)
		return fd;
	int r = write_fill(fd, size);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (!r && drop_cache)
		r = -posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* ---- workloads, each run in a child process ---- */

struct run_ctx {
	const struct params *p;
	enum contender who;
	struct run_report rep;
	uint64_t *lat;         /* latency samples, or NULL */
	double t0;             /* start of the timed part */
	uint64_t faults0;      /* the process's faults at its start */
};

static void fail(struct run_ctx *c, const char *what, int err)
{
	c->rep.ok = -1;
	snprintf(c->rep.why, sizeof(c->rep.why), "%s: %s", what, strerror(-err));
}

/* Minor + major faults of the whole process. RUSAGE_SELF, not
 * RUSAGE_THREAD: the library serves faults and writes back in threads of
 * its own, and their faults are part of the price. A fault the kernel
 * turns into a signal (SIGSEGV, SIGBUS) is not in these counts: the
 * mapping adds those (struct mapping's signal_faults). */
static uint64_t process_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt;
}

static void timing_begin(struct run_ctx *c)
{
	c->faults0 = process_faults();
	c->t0 = now();
}

/* 'm': the run's mapping once closed, or NULL (pwrite). */
static void timing_end(struct run_ctx *c, const struct mapping *m)
{
	c->rep.seconds = now() - c->t0;
	c->rep.faults = process_faults() - c->faults0 + (m ? m->signal_faults : 0);
	c->rep.wb_syscall = m && m->wb_syscall;
	c->rep.wb_passes = m ? m->wb_passes : 0;
	if (m)
		snprintf(c->rep.mode, sizeof(c->rep.mode), "%s", m->mode);
}

/* The run's verdict from its verification: 0, or -1 with why set. */
static void verdict(struct run_ctx *c, int verified)
{
	c->rep.ok = verified == 0 ? 1 : -1;
}

/* A run that made a new file and stored 'bytes' into it, in 'pages'
 * pages: what it handled, and the disk the file takes after close for
 * what was stored (st_blocks is in 512-byte units). */
static void new_file_done(struct run_ctx *c, int fd, uint64_t pages, uint64_t bytes)
{
	struct stat st;
	c->rep.pages = pages;
	c->rep.bytes = bytes;
	if (fstat(fd, &st) == 0 && bytes)
		c->rep.disk_per_stored = (double)st.st_blocks * 512 / (double)bytes;
}

/* A field of /proc/self/status in KiB ("VmRSS:", "VmHWM:"), or -1. */
static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	char line[256];
	long kib = -1;
	size_t n = strlen(field);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n))
			kib = strtol(line + n, NULL, 10);
	fclose(f);
	return kib;
}

/* Resets this process's peak RSS (VmHWM) to its current RSS. */
static bool reset_peak_rss(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok;
}

/* (a) with pwrite: 1 MiB blocks of a new file of 'size' bytes, fdatasync. */
static void run_pwrite_fill(struct run_ctx *c, size_t size)
{
	int fd = new_file(c->p);
	if (fd < 0)
		return fail(c, "creating the file", fd);
	timing_begin(c);
	int r = write_fill(fd, size);
	if (r < 0)
		return fail(c, "pwrite", r);
	if (fdatasync(fd) < 0)
		return fail(c, "fdatasync", -errno);
	timing_end(c, NULL);
	new_file_done(c, fd, size / PS, size);
	verdict(c, verify_fill(fd, size, c->rep.why, sizeof(c->rep.why)));
	close(fd);
}

/* (a), (e), (f): T threads filling disjoint slices of a new file of 'size'
 * bytes through the mapping, then sync and close; with T = 0 the calling
 * thread fills it all. */
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

static void run_fill(struct run_ctx *c, size_t size, unsigned nthreads)
{
	int fd = new_file(c->p);
	if (fd < 0)
		return fail(c, "creating the file", fd);
	size_t pages = size / PS;
	struct mapping m = { .who = c->who };
	timing_begin(c);
	int r = map_open(&m, fd, size, (off_t)size, true);
	if (r < 0)
		return fail(c, "open", r);
	pthread_t t[64];
	struct slice s[64];
	unsigned started = 0;
	if (nthreads == 0) {
		s[0] = (struct slice){ m.base, 0, pages };
		fill_slice(&s[0]);
	}
	for (unsigned i = 0; i < nthreads && !r; i++) {
		s[i] = (struct slice){ m.base, pages * i / nthreads,
				       pages * (i + 1) / nthreads - pages * i / nthreads };
		if ((r = -pthread_create(&t[i], NULL, fill_slice, &s[i])) == 0)
			started++;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	if (r < 0)
		return fail(c, "pthread_create", r);
	if ((r = map_close(&m)) < 0)
		return fail(c, "close", r);
	timing_end(c, &m);
	new_file_done(c, fd, pages, size);
	verdict(c, verify_fill(fd, size, c->rep.why, sizeof(c->rep.why)));
	close(fd);
}

/* (a) sequential fill of a new file, then sync and close: through the
 * mapping in the calling thread, or with pwrite. */
static void run_seqfill(struct run_ctx *c, size_t size)
{
	if (c->who == C_PWRITE)
		run_pwrite_fill(c, size);
	else
		run_fill(c, size, 0);
}

/* (b) random sparse first-touch stores into a large reservation; each
 * store's latency is recorded (it includes the first-touch fault). Also
 * how much disk the file takes for what was stored: a store-at-a-time
 * program should not pay for whole blocks of reservation-ahead. */
static void run_sparse(struct run_ctx *c)
{
	const struct params *p = c->p;
	size_t npages = p->reserve / PS;
	unsigned char *expect = xcalloc(npages, 1);
	size_t *order = xcalloc(p->sparse_pages, sizeof(size_t));
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
	/* Touch the sample array now, so its faults are not counted. */
	c->lat = xcalloc(p->sparse_pages, sizeof(uint64_t));
	memset(c->lat, 0, p->sparse_pages * sizeof(uint64_t));
	int fd = new_file(p);
	if (fd < 0)
		return fail(c, "creating the file", fd);
	struct mapping m = { .who = c->who };
	timing_begin(c);
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
	timing_end(c, &m);
	new_file_done(c, fd, p->sparse_pages, p->sparse_pages * PS);
	c->rep.nlat = p->sparse_pages;
	verdict(c, verify_pages(fd, expect, npages, highest * PS, true, c->rep.why,
				sizeof(c->rep.why)));
	free(expect);
	free(order);
	close(fd);
}

/* (c) read an existing file through the mapping: every 8-byte word.
 * Read-only mappings unless 'writable' (through a writable mapping: what
 * a program that reads before it writes pays). */
static void run_read(struct run_ctx *c, bool cold, bool writable)
{
	const struct params *p = c->p;
	int fd = make_source_file(p, p->size, cold);
	if (fd < 0)
		return fail(c, "source file", fd);
	if (!cold) {                      /* warm: in the page cache */
		unsigned char *buf = xcalloc(1, MIB);
		for (size_t off = 0; off < p->size; off += MIB)
			if (pread(fd, buf, MIB, (off_t)off) < 0)
				break;
		free(buf);
	}
	struct mapping m = { .who = c->who, .final_size = -1 };
	timing_begin(c);
	int r = map_open(&m, fd, p->size, writable ? (off_t)p->size : -1, writable);
	if (r < 0)
		return fail(c, "open", r);
	uint64_t sum = 0;
	const uint64_t *w = (const uint64_t *)m.base;
	for (size_t i = 0; i < p->size / 8; i++)
		sum += w[i];
	if ((r = map_close(&m)) < 0)
		return fail(c, "close", r);
	timing_end(c, &m);
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
		verdict(c, verify_fill(fd, p->size, c->rep.why, sizeof(c->rep.why)));
	}
	close(fd);
}

/* (d) random rewrites of runs of an existing file, then sync. Timed from
 * attach to durable close; pwrite writes the same runs and fdatasyncs. */
static void run_rewrite(struct run_ctx *c)
{
	const struct params *p = c->p;
	int fd = make_source_file(p, p->size, false);
	if (fd < 0)
		return fail(c, "source file", fd);
	size_t npages = p->size / PS, run_pages = p->run_bytes / PS;
	size_t slots = npages / run_pages;
	size_t nruns = p->rewrites < slots ? p->rewrites : slots;
	unsigned char *expect = xcalloc(npages, 1);
	for (size_t pg = 0; pg < npages; pg++)
		expect[pg] = fill_byte(pg);
	size_t *slot = xcalloc(slots, sizeof(size_t));
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
	struct mapping m = { .who = c->who };
	int r;
	timing_begin(c);
	if (c->who == C_PWRITE) {
		unsigned char *buf = xcalloc(1, p->run_bytes);
		for (size_t i = 0; i < nruns; i++) {
			memset(buf, expect[slot[i] * run_pages], p->run_bytes);
			ssize_t n = pwrite(fd, buf, p->run_bytes, (off_t)(slot[i] * p->run_bytes));
			if (n != (ssize_t)p->run_bytes)
				return fail(c, "pwrite", n < 0 ? -errno : -EIO);
		}
		if (fdatasync(fd) < 0)
			return fail(c, "fdatasync", -errno);
		free(buf);
		c->rep.wb_seconds = now() - c->t0;
	} else {
		if ((r = map_open(&m, fd, p->size, (off_t)p->size, true)) < 0)
			return fail(c, "open", r);
		for (size_t i = 0; i < nruns; i++)
			memset(m.base + slot[i] * p->run_bytes, expect[slot[i] * run_pages], p->run_bytes);
		double t1 = now();
		if ((r = map_close(&m)) < 0)
			return fail(c, "close", r);
		c->rep.wb_seconds = now() - t1;
	}
	timing_end(c, &m);
	c->rep.pages = nruns * run_pages;
	c->rep.bytes = nruns * p->run_bytes;
	verdict(c, verify_pages(fd, expect, npages, p->size, false, c->rep.why,
				sizeof(c->rep.why)));
	free(expect);
	free(slot);
	close(fd);
}

/* (g) what a huge reservation costs when almost none of it is used: an
 * 8 TiB reservation of an empty file, one page stored at 0 and one at
 * 4 TiB, close. Per-page state sized by the reservation shows up as time
 * and as resident memory: the peak RSS (VmHWM, reset just before open)
 * after close, less the RSS at open; /proc is read outside the timed
 * part. */
static void run_reserve_8t(struct run_ctx *c)
{
	if (sizeof(size_t) < 8)
		return fail(c, "an 8 TiB reservation needs a 64-bit address space", -EOVERFLOW);
	int fd = new_file(c->p);
	if (fd < 0)
		return fail(c, "creating the file", fd);
	const struct stored_page pg[2] = { { 0, 0x5a }, { (off_t)RESERVE_8T_FAR, 0xa5 } };
	struct mapping m = { .who = c->who, .final_size = -1 };
	long rss0 = reset_peak_rss() ? status_kib("VmHWM:") : -1;
	timing_begin(c);
	int r = map_open(&m, fd, RESERVE_8T, -1, true);
	if (r < 0)
		return fail(c, "open of an 8 TiB reservation", r);
	for (size_t i = 0; i < 2; i++)
		memset(m.base + pg[i].off, pg[i].byte, PS);
	if ((r = map_close(&m)) < 0)
		return fail(c, "close", r);
	timing_end(c, &m);
	long peak = status_kib("VmHWM:");
	if (rss0 >= 0 && peak >= 0)
		c->rep.rss_growth_kib = (double)(peak - rss0);
	new_file_done(c, fd, 2, 2 * PS);
	verdict(c, verify_extents(fd, (off_t)(RESERVE_8T_FAR + PS), pg, 2, c->rep.why,
				  sizeof(c->rep.why)));
	close(fd);
}

/* (h) What a process of the shared workload tells its run, through
 * memory they share. */
struct shared_report {
	int err;               /* 0, or the negative errno of 'what' */
	char what[16];
	uint64_t signal_faults;
	bool wb_syscall;
	uint64_t wb_passes;
};

/* Whether every process of a multi-process workload exited 0; if not,
 * the run fails with what the first one that did not reported. */
static bool processes_ok(struct run_ctx *c, const int *status,
			 const struct shared_report *sr, unsigned nproc)
{
	for (unsigned i = 0; i < nproc; i++) {
		if (WIFEXITED(status[i]) && !WEXITSTATUS(status[i]))
			continue;
		c->rep.ok = -1;
		if (sr[i].err)
			snprintf(c->rep.why, sizeof(c->rep.why), "process %u: %s: %s", i,
				 sr[i].what, strerror(-sr[i].err));
		else
			snprintf(c->rep.why, sizeof(c->rep.why), "process %u died (%s %d)", i,
				 WIFSIGNALED(status[i]) ? "signal" : "exit",
				 WIFSIGNALED(status[i]) ? WTERMSIG(status[i]) : WEXITSTATUS(status[i]));
		return false;
	}
	return true;
}

/* One of the shared workload's 'nproc' processes: attach the file, fill
 * chunks idx, idx + nproc, ..., make them durable and detach. */
static void shared_process(const struct run_ctx *c, int fd, unsigned idx, unsigned nproc,
			   struct shared_report *out)
{
	/* A run killed for its timeout takes its processes along. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	size_t size = c->p->size;
	struct mapping m = { .who = c->who };
	int r = map_open(&m, fd, size, (off_t)size, true);
	if (r < 0) {
		*out = (struct shared_report){ .err = r, .what = "open" };
		_exit(1);
	}
	for (size_t off = idx * SHARED_CHUNK; off < size; off += nproc * SHARED_CHUNK) {
		size_t end = size - off < SHARED_CHUNK ? size : off + SHARED_CHUNK;
		struct slice s = { m.base, off / PS, (end - off) / PS };
		fill_slice(&s);
	}
	if ((r = map_close(&m)) < 0) {
		*out = (struct shared_report){ .err = r, .what = "close" };
		_exit(1);
	}
	*out = (struct shared_report){ .signal_faults = m.signal_faults,
				       .wb_syscall = m.wb_syscall, .wb_passes = m.wb_passes };
	_exit(0);
}

static uint64_t children_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt;
}

/* (h) Two processes fill one new file of p->size bytes, each attached to
 * it, then close; timed from their fork until both are gone and the file
 * has its exact size. Through the daemon the last writer to close cuts
 * the file, or the daemon settles it at the last detach, before that
 * close returns: the wait for the size is only a net. */
static void run_shared(struct run_ctx *c)
{
	const struct params *p = c->p;
	unsigned nproc = through_daemon(c->who) || c->who == C_K1 ? 2 : 1;
	struct shared_report *sr = mmap(NULL, 2 * sizeof(*sr), PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sr == MAP_FAILED)
		return fail(c, "mmap", -errno);
	int fd = new_file(p);
	if (fd < 0)
		return fail(c, "creating the file", fd);
	fflush(NULL);
	uint64_t child_faults0 = children_faults();
	pid_t pid[2];
	unsigned started = 0;
	int r = 0, status[2] = { 0, 0 };
	timing_begin(c);
	for (unsigned i = 0; i < nproc; i++) {
		if ((pid[i] = fork()) == 0)
			shared_process(c, fd, i, nproc, &sr[i]);
		if (pid[i] < 0) {
			r = -errno;
			break;
		}
		started++;
	}
	for (unsigned i = 0; i < started; i++)
		while (waitpid(pid[i], &status[i], 0) < 0 && errno == EINTR)
			;
	if (r < 0)
		return fail(c, "fork", r);
	if (!processes_ok(c, status, sr, nproc))
		return;
	struct stat st;
	for (double until = now() + 2; fstat(fd, &st) == 0 && st.st_size != (off_t)p->size &&
	     now() < until;)
		usleep(1000);
	struct mapping all = { .who = c->who };
	for (unsigned i = 0; i < nproc; i++) {
		all.signal_faults += sr[i].signal_faults;
		all.wb_syscall |= sr[i].wb_syscall;
		all.wb_passes += sr[i].wb_passes;
	}
	timing_end(c, &all);
	c->rep.faults += children_faults() - child_faults0;   /* the stores were theirs */
	new_file_done(c, fd, p->size / PS, p->size);
	verdict(c, verify_fill(fd, p->size, c->rep.why, sizeof(c->rep.why)));
	munmap(sr, 2 * sizeof(*sr));
	close(fd);
}

/* (i) Whether the syncs workload's processes share one file: through the
 * daemon and K1; a local growmap writer excludes every other (-EBUSY). */
static bool syncs_share(enum contender who)
{
	return through_daemon(who) || who == C_K1;
}

/* (i) Tells the run this process is at one of its two waits, then waits
 * for the run's word: the end of 'go', whose write end only the run
 * holds. */
static void syncs_wait(int ready, int go)
{
	char b = 0;
	if (write(ready, &b, 1) != 1)
		_exit(1);
	while (read(go, &b, 1) < 0 && errno == EINTR)
		;
}

/* (i) One of the syncs workload's processes: attach its file, wait for
 * the start, then p->sync_rounds rounds of SYNCS_PAGES new pages stored
 * and a sync, each sync timed into lat[]; wait again (the run asks the
 * daemon for its counts meanwhile), then close. In round i the process
 * stores pages (i * nslots + slot) * SYNCS_PAGES on: on a shared file
 * slot is its index and nslots the processes, on its own file 0 and 1. */
static void syncs_process(const struct run_ctx *c, int fd, unsigned slot, unsigned nslots,
			  int ready, const int *go, uint64_t *lat, struct shared_report *out)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	size_t rounds = c->p->sync_rounds, size = rounds * nslots * SYNCS_PAGES * PS;
	struct mapping m = { .who = c->who };
	int r = map_open(&m, fd, size, (off_t)size, true);
	if (r < 0) {
		*out = (struct shared_report){ .err = r, .what = "open" };
		_exit(1);
	}
	syncs_wait(ready, go[0]);
	for (size_t i = 0; i < rounds; i++) {
		size_t first = (i * nslots + slot) * SYNCS_PAGES;
		struct slice s = { m.base, first, SYNCS_PAGES };
		fill_slice(&s);
		uint64_t a = now_ns();
		r = map_sync(&m, first * PS, SYNCS_PAGES * PS);
		lat[i] = now_ns() - a;
		if (r < 0) {
			*out = (struct shared_report){ .err = r, .what = "sync" };
			_exit(1);
		}
	}
	syncs_wait(ready, go[1]);
	if ((r = map_close(&m)) < 0) {
		*out = (struct shared_report){ .err = r, .what = "close" };
		_exit(1);
	}
	*out = (struct shared_report){ .signal_faults = m.signal_faults,
				       .wb_syscall = m.wb_syscall, .wb_passes = m.wb_passes };
	_exit(0);
}

/* (i) Whether one of the n processes has ended (it can only have failed:
 * each waits for the run before it closes); none is reaped. */
static bool any_gone(const pid_t *pid, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid[i], &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid)
			return true;
	}
	return false;
}

/* (i) A byte from each of the n processes at one of their waits: true,
 * or false when one of them ended instead. */
static bool syncs_gather(int ready, const pid_t *pid, unsigned n)
{
	for (unsigned got = 0; got < n;) {
		struct pollfd pfd = { .fd = ready, .events = POLLIN };
		int r = poll(&pfd, 1, 100);
		if (r < 0 && errno != EINTR)
			return false;
		if (r > 0) {
			char buf[SYNCS_PROCS];
			ssize_t k = read(ready, buf, n - got);
			if (k == 0 || (k < 0 && errno != EINTR))
				return false;
			got += k > 0 ? (unsigned)k : 0;
		} else if (any_gone(pid, n)) {
			return false;
		}
	}
	return true;
}

/* (i) SYNCS_PROCS processes, each attached to the file (daemon
 * contenders, K1) or to a new file of its own (uffd, signal), each doing
 * p->sync_rounds rounds of SYNCS_PAGES new pages stored and a sync. Timed
 * from the start the run gives them, all attached, until the last has
 * done its last sync; each sync's latency is a sample. Through the daemon
 * its counts of DATASYNC requests and fdatasync calls for the file are
 * read before the processes close. */
static void run_syncs(struct run_ctx *c)
{
	const struct params *p = c->p;
	unsigned nproc = SYNCS_PROCS, nfiles = syncs_share(c->who) ? 1 : SYNCS_PROCS;
	size_t rounds = p->sync_rounds, nlat = nproc * rounds;
	size_t shm_len = nproc * sizeof(struct shared_report) + nlat * sizeof(uint64_t);
	struct shared_report *sr = mmap(NULL, shm_len, PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sr == MAP_FAILED)
		return fail(c, "mmap", -errno);
	uint64_t *lat = (uint64_t *)(sr + nproc);
	int fd[SYNCS_PROCS], ready[2], go[2][2];
	for (unsigned i = 0; i < nfiles; i++)
		if ((fd[i] = new_file(p)) < 0)
			return fail(c, "creating the file", fd[i]);
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go[0], O_CLOEXEC) < 0 ||
	    pipe2(go[1], O_CLOEXEC) < 0)
		return fail(c, "pipe", -errno);
	fflush(NULL);
	uint64_t child_faults0 = children_faults();
	pid_t pid[SYNCS_PROCS];
	unsigned started = 0;
	int r = 0, status[SYNCS_PROCS] = { 0 };
	for (unsigned i = 0; i < nproc; i++) {
		if ((pid[i] = fork()) == 0) {
			close(ready[0]);
			close(go[0][1]);
			close(go[1][1]);
			int gor[2] = { go[0][0], go[1][0] };
			syncs_process(c, fd[nfiles > 1 ? i : 0], nfiles > 1 ? 0 : i,
				      nfiles > 1 ? 1 : nproc, ready[1], gor, lat + i * rounds, &sr[i]);
		}
		if (pid[i] < 0) {
			r = -errno;
			break;
		}
		started++;
	}
	close(ready[1]);
	close(go[0][0]);
	close(go[1][0]);
	bool all = r == 0 && syncs_gather(ready[0], pid, nproc);
	timing_begin(c);
	close(go[0][1]);               /* the start */
	all = all && syncs_gather(ready[0], pid, nproc);
	double t1 = now();
	if (all && through_daemon(c->who))
		daemon_file_syncs(fd[0], &c->rep.sync_requests, &c->rep.fdatasyncs);
	close(go[1][1]);               /* the close */
	for (unsigned i = 0; i < started; i++)
		while (waitpid(pid[i], &status[i], 0) < 0 && errno == EINTR)
			;
	close(ready[0]);               /* not before: a write to it must not fail */
	if (r < 0)
		return fail(c, "fork", r);
	if (!processes_ok(c, status, sr, nproc))
		return;
	struct mapping sum = { .who = c->who };
	for (unsigned i = 0; i < nproc; i++) {
		sum.signal_faults += sr[i].signal_faults;
		sum.wb_syscall |= sr[i].wb_syscall;
		sum.wb_passes += sr[i].wb_passes;
	}
	timing_end(c, &sum);
	c->rep.seconds = t1 - c->t0;   /* the rounds; faults: open to close */
	c->rep.faults += children_faults() - child_faults0;
	c->rep.pages = nlat * SYNCS_PAGES;
	c->rep.bytes = c->rep.pages * PS;
	size_t size = rounds * (nproc / nfiles) * SYNCS_PAGES * PS;
	blkcnt_t blocks = 0;
	int v = 0;
	for (unsigned i = 0; i < nfiles; i++) {
		struct stat st;
		if (fstat(fd[i], &st) == 0)
			blocks += st.st_blocks;
		if (!v)
			v = verify_fill(fd[i], size, c->rep.why, sizeof(c->rep.why));
		close(fd[i]);
	}
	c->rep.disk_per_stored = (double)blocks * 512 / (double)c->rep.bytes;
	c->lat = xcalloc(nlat, sizeof(uint64_t));
	memcpy(c->lat, lat, nlat * sizeof(uint64_t));
	c->rep.nlat = nlat;
	verdict(c, v);
	munmap(sr, shm_len);
}

static void run_workload(struct run_ctx *c, enum workload w)
{
	const struct params *p = c->p;
	switch (w) {
	case W_SEQFILL: run_seqfill(c, p->size); break;
	case W_SEQFILL_2G: run_seqfill(c, SEQFILL_2G_SIZE); break;
	case W_SPARSE: run_sparse(c); break;
	case W_READ_COLD: run_read(c, true, false); break;
	case W_READ_WARM: run_read(c, false, false); break;
	case W_READ_RW: run_read(c, false, true); break;
	case W_READ_RW_COLD: run_read(c, true, true); break;
	case W_REWRITE: run_rewrite(c); break;
	case W_THREADS1: run_fill(c, p->size, 1); break;
	case W_THREADSN: run_fill(c, p->size, p->threads); break;
	case W_MEMCG: run_fill(c, p->memcg_size, 0); break;   /* run_child put us in the cgroup */
	case W_RESERVE_8T: run_reserve_8t(c); break;
	case W_SHARED: run_shared(c); break;
	case W_SYNCS: run_syncs(c); break;
	default: break;
	}
}

/* ---- a memory cgroup for the memcg workload ---- */

/* One cgroup made by the benchmark, and removed by it. */
struct memcg {
	char dir[PATH_MAX];
	bool v2;
	size_t limit;
};

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int err = n < 0 ? -errno : 0;
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return err;
}

static int write_text(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

/* Whether 'word' is one of the words of 'list' (separated by spaces,
 * commas, colons or newlines). */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *s = list; (s = strstr(s, word)); s += n)
		if ((s == list || strchr(" ,\n:", s[-1])) && strchr(" ,\n:", s[n]))
			return true;
	return false;
}

/* This process's cgroup path for a v1 controller ("memory"), or for v2
 * (controller NULL), from /proc/self/cgroup. */
static bool own_cgroup(const char *controller, char *path, size_t len)
{
	char buf[4096];
	if (read_text("/proc/self/cgroup", buf, sizeof(buf)) < 0)
		return false;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *ctl = strchr(line, ':'), *cg = ctl ? strchr(ctl + 1, ':') : NULL;
		if (!cg)
			continue;
		*cg++ = 0;
		ctl++;
		if (controller ? has_word(ctl, controller) : !*ctl) {
			snprintf(path, len, "%s", cg);
			return true;
		}
	}
	return false;
}

/* Where the cgroup hierarchy is mounted: v1 with the memory controller
 * (v2 false), else cgroup2 (v2 true), from /proc/self/mountinfo. The
 * mount's root within the hierarchy goes to 'root'. */
static bool cgroup_mount(bool v2, char *mnt, size_t mlen, char *root, size_t rlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* id parent major:minor root mount-point options ... - fstype source super-options */
		char r[1024], m[1024], type[64], super[1024];
		const char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", r, m) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", type, super) != 2)
			continue;
		if (v2 ? strcmp(type, "cgroup2") != 0
		       : strcmp(type, "cgroup") != 0 || !has_word(super, "memory"))
			continue;
		snprintf(mnt, mlen, "%s", m);
		snprintf(root, rlen, "%s", r);
		found = true;
	}
	fclose(f);
	return found;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directory of this process's cgroup 'cg' (a path in the hierarchy)
 * under the mount 'mnt' of hierarchy path 'root'; the mount itself when
 * the cgroup is not below the mount's root (another namespace). */
static void cgroup_dir(const char *mnt, const char *root, const char *cg, char *dir, size_t len)
{
	size_t n = strlen(root);
	if (!strcmp(root, "/"))
		n = 0;
	if (strncmp(cg, root, n) || (cg[n] && cg[n] != '/'))
		cg = "";
	else
		cg += n;
	snprintf(dir, len, "%s%s", mnt, strcmp(cg, "/") ? cg : "");
	if (!is_dir(dir))
		snprintf(dir, len, "%s", mnt);
}

/* The directory to make the cgroup in: under this process's own memory
 * cgroup (v1), or under the nearest v2 ancestor that hands the memory
 * controller to its children. NULL, or why there is none. */
static const char *memcg_parent(char *dir, size_t len, bool *v2)
{
	char mnt[1024], root[1024], own[PATH_MAX] = "/", buf[4096];
	if (cgroup_mount(false, mnt, sizeof(mnt), root, sizeof(root))) {
		*v2 = false;
		own_cgroup("memory", own, sizeof(own));
		cgroup_dir(mnt, root, own, dir, len);
		return NULL;
	}
	if (!cgroup_mount(true, mnt, sizeof(mnt), root, sizeof(root)))
		return "no memory cgroup controller: neither a cgroup v1 hierarchy with "
		       "memory nor cgroup2 is mounted";
	snprintf(dir, len, "%s/cgroup.controllers", mnt);
	if (read_text(dir, buf, sizeof(buf)) < 0 || !has_word(buf, "memory"))
		return "no memory cgroup controller: not in cgroup2's cgroup.controllers "
		       "(and no cgroup v1 hierarchy has it)";
	*v2 = true;
	own_cgroup(NULL, own, sizeof(own));
	cgroup_dir(mnt, root, own, dir, len);
	/* v2 lets only a cgroup whose parent enables the controller have it. */
	for (;;) {
		char ctl[PATH_MAX + 64];
		snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", dir);
		if (read_text(ctl, buf, sizeof(buf)) == 0 && has_word(buf, "memory"))
			return NULL;
		if (strlen(dir) <= strlen(mnt))
			return "the memory controller is not enabled in any cgroup2 "
			       "cgroup.subtree_control from this process's cgroup up";
		*strrchr(dir, '/') = 0;
	}
}

/* Makes a fresh cgroup limited to 'limit' bytes. 0, or -1 with why. */
static int memcg_create(struct memcg *cg, size_t limit, char *why, size_t whylen)
{
	static unsigned serial;
	char parent[PATH_MAX - 64], num[32];
	const char *reason = memcg_parent(parent, sizeof(parent), &cg->v2);
	if (reason) {
		snprintf(why, whylen, "%s", reason);
		return -1;
	}
	snprintf(cg->dir, sizeof(cg->dir), "%s/growmap-bench-%d-%u", parent, (int)getpid(),
		 serial++);
	if (mkdir(cg->dir, 0755) < 0) {
		int err = errno;
		if ((err == EACCES || err == EPERM || err == EROFS) && geteuid() != 0)
			snprintf(why, whylen, "not root, and cannot make a cgroup in %.150s: %s",
				 parent, strerror(err));
		else
			snprintf(why, whylen, "mkdir %.150s: %s", cg->dir, strerror(err));
		return -1;
	}
	cg->limit = limit;
	snprintf(num, sizeof(num), "%zu", limit);
	int r = write_text(cg->dir, cg->v2 ? "memory.max" : "memory.limit_in_bytes", num);
	if (r < 0) {
		snprintf(why, whylen, "setting the limit of %.150s: %s", cg->dir, strerror(-r));
		rmdir(cg->dir);
		return -1;
	}
	/* No swapping past the limit either, where swap is accounted: the
	 * limit is on memory, not on RAM. Absent files are fine. */
	if (cg->v2)
		write_text(cg->dir, "memory.swap.max", "0");
	else
		write_text(cg->dir, "memory.memsw.limit_in_bytes", num);
	return 0;
}

/* In the child, before it allocates anything: move the whole process in. */
static int memcg_enter(const struct memcg *cg)
{
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return write_text(cg->dir, "cgroup.procs", pid);
}

/* OOM kills in the cgroup so far, or -1 when the kernel does not say. */
static long memcg_oom_kills(const struct memcg *cg)
{
	char path[PATH_MAX + 32], buf[1024];
	snprintf(path, sizeof(path), "%s/%s", cg->dir,
		 cg->v2 ? "memory.events" : "memory.oom_control");
	if (read_text(path, buf, sizeof(buf)) < 0)
		return -1;
	for (const char *s = buf; (s = strstr(s, "oom_kill ")); s++)
		if (s == buf || s[-1] == '\n')
			return strtol(s + 9, NULL, 10);
	return -1;
}

/* Once its processes are gone; the kernel may take a moment to let go. */
static void memcg_remove(const struct memcg *cg)
{
	for (int i = 0; i < 100; i++) {
		if (rmdir(cg->dir) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			break;
		usleep(10000);
	}
	fprintf(stderr, "growmap-bench: could not remove cgroup %s: %s\n", cg->dir,
		strerror(errno));
}

/* Whether a cgroup can be made here and a process moved into it, tried
 * once before any run: the row is skipped, not failed, when not. */
static bool memcg_usable(const struct params *p, char *why, size_t whylen)
{
	struct memcg cg;
	if (memcg_create(&cg, p->memcg_limit, why, whylen) < 0)
		return false;
	pid_t pid = fork();
	if (pid == 0) {
		int r = memcg_enter(&cg);
		_exit(r < 0 ? -r : 0);
	}
	int status = 0;
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	bool ok = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (!ok)
		snprintf(why, whylen, "cannot move a process into %.150s: %s", cg.dir,
			 pid < 0 ? strerror(errno) : WIFEXITED(status) ?
			 strerror(WEXITSTATUS(status)) : "the trial process died");
	memcg_remove(&cg);
	return ok;
}

/* ---- running one (workload, contender) in a child ---- */

/* Set by SIGINT, SIGTERM or SIGHUP in the parent: the run in progress
 * stops (its child is killed and its cgroup removed), no other starts,
 * and the benchmark ends by the same signal. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };

static void catch_stop_signals(bool catch)
{
	struct sigaction sa = { .sa_handler = catch ? on_stop_signal : SIG_DFL };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaction(stop_signals[i], &sa, NULL);
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

/* Reads 'len' bytes before 'deadline' (now() seconds): 1 read, 0 end of
 * file or error (the child died), -1 the deadline passed, -2 a stop
 * signal came. */
static int read_by(int fd, void *buf, size_t len, double deadline)
{
	for (size_t done = 0; done < len;) {
		if (stop_signal)
			return -2;
		double left = deadline - now();
		if (left <= 0)
			return -1;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, left > 1e6 ? 1000000000 : (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return 0;
		if (r == 0)
			continue;           /* the loop head sees the deadline */
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n <= 0)
			return 0;
		done += (size_t)n;
	}
	return 1;
}

/* uffd-sys: io_uring_setup(2) fails with ENOSYS in this process from now
 * on, as on a kernel without io_uring (or under a container's seccomp
 * profile). 0 or -errno. */
static int refuse_io_uring(void)
{
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#if defined(__x86_64__)
#define BENCH_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define BENCH_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
	struct sock_filter filter[] = {
#ifdef BENCH_AUDIT_ARCH   /* another ABI's system call numbers pass */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BENCH_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
#endif
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

/*
 * Memory a run will take for its file's pages, made resident and freed
 * again just before the run, outside the timed part. On a virtual machine
 * that reports free memory to the host (virtio-balloon free page
 * reporting), memory freed a few seconds ago is given back, and touching
 * it again costs a fault in the host: about 1 s per GiB here, against
 * 0.07 s for memory freed a moment ago. Which contender got such memory
 * depended on what the run before it had freed, and when; after this,
 * every run starts on memory just freed.
 */
static size_t prewarm_bytes(const struct params *p, enum workload w)
{
	switch (w) {
	case W_SEQFILL_2G: return SEQFILL_2G_SIZE;
	case W_SPARSE: return p->sparse_pages * PS * 2;
	case W_SYNCS: return SYNCS_PROCS * p->sync_rounds * SYNCS_PAGES * PS;
	case W_MEMCG: return p->memcg_size;
	case W_RESERVE_8T: return 0;
	default: return p->size;
	}
}

static void prewarm(size_t bytes)
{
	if (!bytes)
		return;
	char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return;        /* only a measure against noise: carry on */
	madvise(m, bytes, MADV_HUGEPAGE);
	for (size_t off = 0; off < bytes; off += PS)
		m[off] = 1;
	munmap(m, bytes);
}

/* The child: into the cgroup if any, run, report through the pipe. */
static void child_main(const struct params *p, enum workload w, enum contender who,
		       const struct memcg *cg, int out)
{
	catch_stop_signals(false);
	struct run_ctx c = { .p = p, .who = who };
	c.rep.disk_per_stored = NAN;
	c.rep.rss_growth_kib = NAN;
	if (p->prewarm) {       /* before the cgroup: not charged to it */
		prewarm(prewarm_bytes(p, w));
		reset_peak_rss();   /* the RSS column is the run's, not this */
	}
	/* Through the benchmark's daemon, or through none: not through a
	 * system daemon that the default (auto) would find. */
	if (backend_of(who))
		setenv("GROWMAP_DAEMON", through_daemon(who) ? "required" : "off", 1);
	if (through_daemon(who))
		setenv("GROWMAP_SOCKET", gmd.sock, 1);
	int r;
	if (cg && (r = memcg_enter(cg)) < 0) {
		fail(&c, "entering the memory cgroup", r);
	} else if (who == C_UFFD_SYS && (r = refuse_io_uring()) < 0) {
		fail(&c, "installing the seccomp filter that refuses io_uring", r);
	} else {
		run_workload(&c, w);
		if (who == C_UFFD_SYS && c.rep.ok == 1 && !c.rep.wb_syscall) {
			c.rep.ok = -1;
			snprintf(c.rep.why, sizeof(c.rep.why),
				 "io_uring was not refused: the library did not fall back");
		}
	}
	if (!write_all(out, &c.rep, sizeof(c.rep)) ||
	    (c.rep.nlat && !write_all(out, c.lat, c.rep.nlat * sizeof(uint64_t))))
		_exit(2);
	_exit(0);
}

/* Why a child that did not report died. */
static void death_reason(struct run_report *rep, int status, const struct params *p,
			 const struct memcg *cg)
{
	if (rep->timed_out) {
		snprintf(rep->why, sizeof(rep->why), "timed out after %u s, killed", p->timeout_s);
	} else if (stop_signal) {
		snprintf(rep->why, sizeof(rep->why), "interrupted (signal %d)", (int)stop_signal);
	} else if (cg && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
		   memcg_oom_kills(cg) != 0) {   /* > 0, or -1: the kernel does not count */
		snprintf(rep->why, sizeof(rep->why), "OOM-killed in a %zu MiB cgroup",
			 cg->limit / MIB);
	} else {
		snprintf(rep->why, sizeof(rep->why), "run died (%s %d)",
			 WIFSIGNALED(status) ? "signal" : "exit",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
}

/* Runs one (workload, contender) in a child, in 'cg' if not NULL; returns
 * its report, its latency samples in *lat (malloc'd, rep.nlat of them)
 * and the child's peak RSS. A child that outlives p->timeout_s is killed. */
static struct run_report run_child(const struct params *p, enum workload w,
				   enum contender who, const struct memcg *cg,
				   uint64_t **lat, long *rss_kib)
{
	struct run_report rep = { .ok = -1 };
	*lat = NULL;
	int pipefd[2];
	if (pipe(pipefd) < 0) {
		snprintf(rep.why, sizeof(rep.why), "pipe: %s", strerror(errno));
		return rep;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		child_main(p, w, who, cg, pipefd[1]);
	}
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		snprintf(rep.why, sizeof(rep.why), "fork: %s", strerror(errno));
		return rep;
	}
	double deadline = now() + p->timeout_s;
	int got = read_by(pipefd[0], &rep, sizeof(rep), deadline);
	if (got == 1 && rep.nlat) {
		*lat = xcalloc(rep.nlat, sizeof(uint64_t));
		got = read_by(pipefd[0], *lat, rep.nlat * sizeof(uint64_t), deadline);
	}
	if (got < 0)
		kill(pid, SIGKILL);
	close(pipefd[0]);
	int status = 0;
	struct rusage ru = { 0 };
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	*rss_kib = ru.ru_maxrss;
	if (got == 1 && rep.ok == 0 && WIFEXITED(status) && !WEXITSTATUS(status))
		snprintf(rep.why, sizeof(rep.why), "the run reported no result");
	if (got == 1 && rep.ok != 1)
		rep.ok = -1;         /* its own reason stands */
	if (got != 1 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		rep.ok = -1;
		rep.nlat = 0;
		rep.timed_out = got == -1;
		death_reason(&rep, status, p, cg);
	}
	if (rep.ok != 1) {
		free(*lat);
		*lat = NULL;
	}
	return rep;
}

/* ---- statistics ---- */

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

/* Sorts v. NAN for no values. */
static double median(double *v, size_t n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One contender's runs of one workload: the verified runs' samples, and
 * the failures. */
struct tally {
	unsigned n;                 /* verified runs: the arrays hold n samples */
	unsigned failed;
	bool gave_up;               /* a run timed out: no more runs of this one */
	char why[200];              /* the first failure's reason */
	double seconds[MAX_REPS], wb[MAX_REPS], fpp[MAX_REPS], disk[MAX_REPS],
	       rss_growth[MAX_REPS];
	uint64_t pages, bytes;
	unsigned wb_syscall;        /* runs whose writeback did without io_uring */
	double wb_passes[MAX_REPS]; /* growmap's background writeback passes */
	uint64_t sync_requests, fdatasyncs;   /* the daemon's, summed over the runs */
	unsigned sync_counted;      /* runs whose daemon counts were read */
	long rss_kib;               /* largest peak RSS */
	uint64_t *lat;              /* pooled latency samples */
	size_t nlat;
};

static void tally_add(struct tally *t, const struct run_report *rep, uint64_t *lat, long kib)
{
	if (rep->ok < 0) {
		if (!t->failed++)
			snprintf(t->why, sizeof(t->why), "%s", rep->why);
		t->gave_up |= rep->timed_out;
		return;
	}
	unsigned i = t->n++;
	t->seconds[i] = rep->seconds;
	t->wb[i] = rep->wb_seconds;
	t->fpp[i] = rep->pages ? (double)rep->faults / (double)rep->pages : NAN;
	t->disk[i] = rep->disk_per_stored;
	t->rss_growth[i] = rep->rss_growth_kib;
	t->pages = rep->pages;
	t->bytes = rep->bytes;
	t->wb_syscall += rep->wb_syscall;
	t->wb_passes[i] = (double)rep->wb_passes;
	if (rep->sync_requests) {
		t->sync_requests += rep->sync_requests;
		t->fdatasyncs += rep->fdatasyncs;
		t->sync_counted++;
	}
	if (kib > t->rss_kib)
		t->rss_kib = kib;
	if (rep->nlat) {
		t->lat = xrealloc(t->lat, (t->nlat + rep->nlat) * sizeof(uint64_t));
		memcpy(t->lat + t->nlat, lat, rep->nlat * sizeof(uint64_t));
		t->nlat += rep->nlat;
	}
}

/* The median of those of the n values that were measured (not NAN). */
static double median_measured(double *v, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!isnan(v[i]))
			v[k++] = v[i];
	return median(v, k);
}

/* The tally as a result; the ratios are filled in once all are known. */
static struct bench_result summarise(struct tally *t, const char *workload,
				     const char *title, const char *contender)
{
	double med = median(t->seconds, t->n);   /* sorted: min first, max last */
	struct bench_result r = {
		.workload = workload, .title = title, .contender = contender, .reps = t->n,
		.median_s = med, .min_s = t->seconds[0], .max_s = t->seconds[t->n - 1],
		.mb_per_s = (double)t->bytes / med / 1e6,
		.ns_per_page = med * 1e9 / (double)t->pages,
		.vs_k1 = NAN, .vs_signal = NAN, .p50_ns = NAN, .p99_ns = NAN,
		.peak_rss_kib = t->rss_kib, .wb_mb_per_s = NAN,
		.faults_per_page = median_measured(t->fpp, t->n),
		.disk_per_stored = median_measured(t->disk, t->n),
		.rss_growth_kib = median_measured(t->rss_growth, t->n),
		.failed_runs = t->failed,
	};
	double wb = median(t->wb, t->n);
	if (wb > 0)
		r.wb_mb_per_s = (double)t->bytes / wb / 1e6;
	if (t->nlat) {
		qsort(t->lat, t->nlat, sizeof(uint64_t), cmp_u64);
		r.p50_ns = (double)t->lat[t->nlat / 2];
		r.p99_ns = (double)t->lat[t->nlat * 99 / 100];
	}
	return r;
}

/* ---- output ---- */

/* State of one workload's row, for its table and the summary. */
struct row {
	char title[160];
	char skipped[240];          /* why the row did not run, or "" */
	bool ran;
	bool failed[NCONTENDERS];   /* no verified run, and some failed */
};

static void human_size(size_t bytes, char *out, size_t len)
{
	if (bytes >= (size_t)1 << 40 && bytes % ((size_t)1 << 40) == 0)
		snprintf(out, len, "%zu TiB", bytes >> 40);
	else if (bytes >= GIB && bytes % GIB == 0)
		snprintf(out, len, "%zu GiB", bytes >> 30);
	else if (bytes >= MIB)
		snprintf(out, len, "%zu MiB", bytes / MIB);
	else
		snprintf(out, len, "%zu KiB", bytes >> 10);
}

static void workload_title(const struct params *p, enum workload w, char *out, size_t len)
{
	char sz[32], rs[32], run[32], two[32], mcs[32], mcl[32], r8[32], far[32], chunk[32];
	human_size(p->size, sz, sizeof(sz));
	human_size(p->reserve, rs, sizeof(rs));
	human_size(p->run_bytes, run, sizeof(run));
	human_size(SEQFILL_2G_SIZE, two, sizeof(two));
	human_size(p->memcg_size, mcs, sizeof(mcs));
	human_size(p->memcg_limit, mcl, sizeof(mcl));
	human_size(RESERVE_8T, r8, sizeof(r8));
	human_size(RESERVE_8T_FAR, far, sizeof(far));
	human_size(SHARED_CHUNK, chunk, sizeof(chunk));
	switch (w) {
	case W_SEQFILL: snprintf(out, len, "(a) sequential fill of a new %s file, sync+close", sz); break;
	case W_SEQFILL_2G: snprintf(out, len, "(a) sequential fill of a new %s file, sync+close", two); break;
	case W_SPARSE: snprintf(out, len, "(b) %zu random first-touch stores in %s, sync+close", p->sparse_pages, rs); break;
	case W_READ_COLD: snprintf(out, len, "(c) read a %s file through the mapping, cold cache", sz); break;
	case W_READ_WARM: snprintf(out, len, "(c) read a %s file through the mapping, warm cache", sz); break;
	case W_READ_RW: snprintf(out, len, "(c) read a %s file through a writable mapping, warm cache", sz); break;
	case W_READ_RW_COLD: snprintf(out, len, "(c) read a %s file through a writable mapping, cold cache", sz); break;
	case W_REWRITE: snprintf(out, len, "(d) %zu random %s rewrites of a %s file, sync", p->rewrites, run, sz); break;
	case W_THREADS1: snprintf(out, len, "(e) 1 thread filling a new %s file, sync+close", sz); break;
	case W_THREADSN: snprintf(out, len, "(e) %u threads filling a new %s file, sync+close", p->threads, sz); break;
	case W_MEMCG: snprintf(out, len, "(f) sequential fill of a new %s file in a %s memory cgroup, sync+close", mcs, mcl); break;
	case W_RESERVE_8T: snprintf(out, len, "(g) %s reservation of an empty file, a page stored at 0 and at %s, open..close", r8, far); break;
	case W_SHARED: snprintf(out, len, "(h) 2 processes fill one new %s file, even and odd %s chunks, sync+close (uffd, signal: 1 process)", sz, chunk); break;
	case W_SYNCS: snprintf(out, len, "(i) %u processes, %zu rounds each of %u new pages stored and a sync, one new file (uffd, signal: a file each)", SYNCS_PROCS, p->sync_rounds, SYNCS_PAGES); break;
	default: snprintf(out, len, "?"); break;
	}
}

static void print_header(const char *title)
{
	printf("\n%s\n", title);
	printf("  %-13s %10s %10s %10s %9s %10s %7s %7s %9s %9s %8s %11s %11s\n", "",
	       "median ms", "min ms", "max ms", "MB/s", "ns/page", "vs K1", "vs sig", "p50 ns",
	       "p99 ns", "RSS MiB", "faults/page", "disk/stored");
}

static void print_result(const struct bench_result *r)
{
	printf("  %-13s %10.1f %10.1f %10.1f %9.0f %10.0f %7.2f %7.2f %9.0f %9.0f %8.1f %11.2f %11.2f\n",
	       r->contender, r->median_s * 1e3, r->min_s * 1e3, r->max_s * 1e3, r->mb_per_s,
	       r->ns_per_page, r->vs_k1, r->vs_signal, r->p50_ns, r->p99_ns,
	       r->peak_rss_kib / 1024.0, r->faults_per_page, r->disk_per_stored);
}

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

/* For reserve-8t: what the reservation costs in resident memory. */
static void print_rss_growth(const struct bench_result *results, size_t nres,
			     const char *workload)
{
	bool any = false;
	for (size_t i = 0; i < nres; i++) {
		if (results[i].workload != workload || isnan(results[i].rss_growth_kib))
			continue;
		if (!any)
			printf("  RSS growth, peak from open to close (VmHWM) less RSS at open "
			       "(median), KiB:");
		any = true;
		printf(" %s %.0f", results[i].contender, results[i].rss_growth_kib);
	}
	if (any)
		printf("\n");
}

/* The growmap contenders whose background writeback was started with
 * sync_file_range(2) because io_uring was refused: uffd-sys by design;
 * any other means this machine refuses io_uring, and uffd against
 * uffd-sys then compares nothing. */
static void print_wb_syscall(struct tally *t)
{
	const char *sep = "  writeback started with sync_file_range(2), io_uring refused:";
	for (int c = 0; c < NCONTENDERS; c++) {
		if (!t[c].wb_syscall)
			continue;
		printf("%s %s (%u of %u runs)", sep, contender_name[c], t[c].wb_syscall, t[c].n);
		sep = ",";
	}
	if (*sep != ',')
		return;
	/* How often the path that differs between them ran at all (a pass
	 * still running at close is not counted). */
	printf("\n  background writeback passes completed before close, per run (median):");
	for (int c = 0; c < NCONTENDERS; c++)
		if (backend_of(c) && t[c].n)
			printf(" %s %.0f", contender_name[c], median(t[c].wb_passes, t[c].n));
	printf("\n");
}

/* For syncs: the mean time of a sync, all processes' syncs of all runs,
 * and through the daemon how many fdatasync(2) calls served how many
 * DATASYNC requests (the syncs that met shared one). */
static void print_syncs(const struct tally *t, const struct bench_latencies *lats,
			size_t nlats, const char *workload)
{
	const char *sep = "  time per sync, mean of all syncs, us:";
	for (size_t i = 0; i < nlats; i++) {
		if (lats[i].workload != workload || !lats[i].n)
			continue;
		double sum = 0;
		for (size_t k = 0; k < lats[i].n; k++)
			sum += (double)lats[i].ns[k];
		printf("%s %s %.0f", sep, lats[i].contender, sum / (double)lats[i].n / 1e3);
		sep = ",";
	}
	if (*sep == ',')
		printf("\n");
	sep = "  growmapd: fdatasyncs / DATASYNC requests, before close, all runs:";
	for (int c = 0; c < NCONTENDERS; c++) {
		if (!through_daemon(c) || !t[c].n)
			continue;
		if (t[c].sync_counted < t[c].n)
			printf("%s %s not read (%u of %u runs)", sep, contender_name[c],
			       t[c].sync_counted, t[c].n);
		else
			printf("%s %s %llu / %llu = %.2f", sep, contender_name[c],
			       (unsigned long long)t[c].fdatasyncs,
			       (unsigned long long)t[c].sync_requests,
			       (double)t[c].fdatasyncs / (double)t[c].sync_requests);
		sep = ",";
	}
	if (*sep == ',')
		printf("\n");
}

/* Failed runs under the table (each was also reported as it happened),
 * then the contenders that do not take part in this workload. */
static void print_failures_and_na(const struct params *p, enum workload w,
				  const struct tally *t)
{
	for (int c = 0; c < NCONTENDERS; c++) {
		if (!t[c].failed)
			continue;
		printf("  %-10s FAILED %u of %u runs: %s%s\n", contender_name[c], t[c].failed,
		       t[c].failed + t[c].n, t[c].why,
		       t[c].gave_up ? " (no further runs)" : "");
	}
	const char *sep = "  n/a:";
	for (int c = 0; c < NCONTENDERS; c++)
		if (p->enabled_c[c] && !applies(w, c)) {
			printf("%s %s", sep, contender_name[c]);
			sep = ",";
		}
	if (*sep == ',')
		printf("\n");
	sep = "  n/a:";
	for (int c = 0; c < NCONTENDERS; c++)
		if (p->enabled_c[c] && applies(w, c) && through_daemon(c) && *gmd.why) {
			printf("%s %s", sep, contender_name[c]);
			sep = ",";
		}
	if (*sep == ',')
		printf(": %s\n", gmd.why);
}

static const struct bench_result *find_result(const struct bench_result *results, size_t nres,
					      const char *workload, enum contender c)
{
	for (size_t i = 0; i < nres; i++)
		if (results[i].workload == workload && !strcmp(results[i].contender,
							       contender_name[c]))
			return &results[i];
	return NULL;
}

/* The summary's columns: how much faster 'a' is than 'b', their median
 * times' ratio (b / a). */
static const struct {
	const char *head;
	enum contender a, b;
} summary_col[] = {
	{ "uffd/K1", C_UFFD, C_K1 },
	{ "signal/K1", C_SIGNAL, C_K1 },
	{ "u-own/K1", C_UFFD_OWN, C_K1 },
	{ "s-own/K1", C_SIGNAL_OWN, C_K1 },
	{ "uffd/signal", C_UFFD, C_SIGNAL },
	{ "u-own/s-own", C_UFFD_OWN, C_SIGNAL_OWN },
	{ "uffd/u-sys", C_UFFD, C_UFFD_SYS },
	{ "u-dmn/uffd", C_UFFD_DAEMON, C_UFFD },
	{ "s-dmn/sig", C_SIGNAL_DAEMON, C_SIGNAL },
	{ "u-dmn/K1", C_UFFD_DAEMON, C_K1 },
	{ "s-dmn/K1", C_SIGNAL_DAEMON, C_K1 },
};

/* One ratio of the summary: a number, "failed" when either had runs and
 * none verified, or "-" when either did not run. */
static void print_speedup(const struct row *row, const struct bench_result *results,
			  size_t nres, enum workload w, enum contender a, enum contender b)
{
	const struct bench_result *ra = find_result(results, nres, workload_name[w], a);
	const struct bench_result *rb = find_result(results, nres, workload_name[w], b);
	if (ra && rb)
		printf(" %11.2f", rb->median_s / ra->median_s);
	else
		printf(" %11s", row->failed[a] || row->failed[b] ? "failed" : "-");
}

/* The ratios BENCHMARKS.md quotes, all from this one run: the columns of
 * contenders that were asked for. */
static void print_summary(const struct params *p, const struct row *rows,
			  const struct bench_result *results, size_t nres)
{
	size_t ncol = sizeof(summary_col) / sizeof(summary_col[0]);
	bool shown[sizeof(summary_col) / sizeof(summary_col[0])];
	printf("\nsummary: speed ratios of median times (uffd/K1 = K1 median / uffd median, "
	       "...;\n  above 1: the first named is faster; u-own, s-own, u-sys, u-dmn, s-dmn: "
	       "uffd-own,\n  signal-own, uffd-sys, uffd-daemon, signal-daemon)\n");
	if (rows[W_SHARED].ran)
		printf("  shared: uffd and signal are one local process filling the file alone "
		       "(a second\n  local writer gets -EBUSY); the daemon contenders and K1 are "
		       "two processes\n");
	if (rows[W_SYNCS].ran)
		printf("  syncs: uffd and signal are %u processes each syncing a file of its own; "
		       "the\n  daemon contenders and K1 are %u processes syncing one file\n",
		       SYNCS_PROCS, SYNCS_PROCS);
	printf("  %-12s", "workload");
	for (size_t i = 0; i < ncol; i++) {
		shown[i] = p->enabled_c[summary_col[i].a] && p->enabled_c[summary_col[i].b];
		if (shown[i])
			printf(" %11s", summary_col[i].head);
	}
	printf("\n");
	for (int w = 0; w < NWORKLOADS; w++) {
		const struct row *row = &rows[w];
		if (!row->ran && !*row->skipped)
			continue;
		printf("  %-12s", workload_name[w]);
		if (*row->skipped) {
			printf(" skipped: %s\n", row->skipped);
			continue;
		}
		for (size_t i = 0; i < ncol; i++)
			if (shown[i])
				print_speedup(row, results, nres, w, summary_col[i].a,
					      summary_col[i].b);
		printf("\n");
	}
}

static void write_csv(FILE *f, const struct bench_result *results, size_t nres)
{
	fprintf(f, "workload,contender,reps,median_s,min_s,max_s,mb_per_s,ns_per_page,"
		   "vs_k1,vs_signal,p50_ns,p99_ns,peak_rss_kib,writeback_mb_per_s,"
		   "faults_per_page,disk_per_stored,rss_growth_kib\n");
	for (size_t i = 0; i < nres; i++) {
		const struct bench_result *r = &results[i];
		fprintf(f, "%s,%s,%u,%.6f,%.6f,%.6f,%.1f,%.1f,%.3f,%.3f,%.0f,%.0f,%ld,%.1f,"
			"%.3f,%.3f,%.0f\n",
			r->workload, r->contender, r->reps, r->median_s, r->min_s,
			r->max_s, r->mb_per_s, r->ns_per_page, r->vs_k1, r->vs_signal,
			r->p50_ns, r->p99_ns, r->peak_rss_kib, r->wb_mb_per_s,
			r->faults_per_page, r->disk_per_stored, r->rss_growth_kib);
	}
}

/* ---- one workload: every contender, interleaved ---- */

/* One run of one contender: in a fresh cgroup for memcg (so each run's
 * charges and OOM count are its own), else as it is. */
static struct run_report run_one(const struct params *p, enum workload w, enum contender c,
				 uint64_t **lat, long *kib)
{
	if (w != W_MEMCG)
		return run_child(p, w, c, NULL, lat, kib);
	struct memcg cg;
	struct run_report rep = { .ok = -1 };
	*lat = NULL;
	if (memcg_create(&cg, p->memcg_limit, rep.why, sizeof(rep.why)) < 0)
		return rep;
	rep = run_child(p, w, c, &cg, lat, kib);
	memcg_remove(&cg);
	return rep;
}

/* What each growmap contender measured: its backend and mode, as the
 * library told the first run that reported it (growmap_backend_reason()). */
static char measured_mode[NCONTENDERS][240];

static void note_mode(enum contender c, const struct run_report *rep)
{
	if (rep->ok == 1 && *rep->mode && !*measured_mode[c])
		snprintf(measured_mode[c], sizeof(measured_mode[c]), "%s", rep->mode);
}

static void print_modes(void)
{
	bool any = false;
	for (int c = 0; c < NCONTENDERS; c++) {
		if (!*measured_mode[c])
			continue;
		if (!any)
			printf("\nmodes measured (growmap_backend_reason()):\n");
		any = true;
		printf("  %-14s %s\n", contender_name[c], measured_mode[c]);
	}
}

/* Runs the repetitions, A B C D, A B C D, ...; returns the failed runs. */
static int run_reps(const struct params *p, enum workload w, struct tally *t)
{
	int failures = 0;
	bool tty = isatty(2);
	for (unsigned r = 0; r < p->reps; r++) {
		for (int c = 0; c < NCONTENDERS; c++) {
			if (!p->enabled_c[c] || !applies(w, c) || t[c].gave_up || stop_signal ||
			    (through_daemon(c) && *gmd.why))
				continue;
			if (tty)
				fprintf(stderr, "\r  %-10s rep %u/%u %-13s", workload_name[w],
					r + 1, p->reps, contender_name[c]);
			uint64_t *lat;
			long kib = 0;
			struct run_report rep = run_one(p, w, c, &lat, &kib);
			if (rep.ok < 0 && !stop_signal) {
				fprintf(stderr, "%s  FAILED: %s / %s: %s\n", tty ? "\n" : "",
					workload_name[w], contender_name[c], rep.why);
				failures++;
			}
			note_mode(c, &rep);
			tally_add(&t[c], &rep, lat, kib);
			free(lat);
		}
	}
	if (tty)
		fprintf(stderr, "\r%60s\r", "");
	return failures;
}

/* Runs and prints one workload's table; appends its results. */
static int run_row(const struct params *p, enum workload w, struct row *row,
		   struct bench_result *results, size_t *nres,
		   struct bench_latencies *lats, size_t *nlats)
{
	workload_title(p, w, row->title, sizeof(row->title));
	if (!isatty(2))
		fprintf(stderr, "running %s ...\n", workload_name[w]);
	if (w == W_MEMCG && !memcg_usable(p, row->skipped, sizeof(row->skipped))) {
		printf("\n%s\n  skipped: %s\n", row->title, row->skipped);
		return 0;
	}
	row->ran = true;
	struct tally *t = xcalloc(NCONTENDERS, sizeof(*t));
	int failures = run_reps(p, w, t);

	size_t first = *nres;
	double med[NCONTENDERS];
	for (int c = 0; c < NCONTENDERS; c++) {
		med[c] = NAN;
		row->failed[c] = !t[c].n && t[c].failed;
		if (!t[c].n)
			continue;
		results[*nres] = summarise(&t[c], workload_name[w], row->title, contender_name[c]);
		med[c] = results[*nres].median_s;
		if (t[c].nlat)      /* the samples now belong to lats */
			lats[(*nlats)++] = (struct bench_latencies){ workload_name[w],
				contender_name[c], t[c].lat, t[c].nlat,
				w == W_SYNCS ? "sync" : "first-touch" };
		else
			free(t[c].lat);
		(*nres)++;
	}
	/* Ratios once all medians are known. */
	print_header(row->title);
	for (size_t i = first; i < *nres; i++) {
		results[i].vs_k1 = med[C_K1] / results[i].median_s;
		results[i].vs_signal = med[C_SIGNAL] / results[i].median_s;
		print_result(&results[i]);
	}
	print_failures_and_na(p, w, t);
	if (w == W_SHARED)
		printf("  uffd, signal: one local process fills the whole file (a second local "
		       "writer gets -EBUSY);\n  ratios against them are sharing against "
		       "not sharing\n");
	if (w == W_SYNCS) {
		printf("  uffd, signal: each process syncs a file of its own (a second local "
		       "writer gets -EBUSY);\n  time: the rounds, from the start given to "
		       "all attached until the last sync;\n  p50, p99: one sync; K1's sync: "
		       "msync(MS_SYNC) of the pages stored\n");
		print_syncs(t, lats, *nlats, workload_name[w]);
	}
	print_wb_syscall(t);
	print_writeback(results, *nres, workload_name[w]);
	print_rss_growth(results, *nres, workload_name[w]);
	fflush(stdout);
	free(t);
	return failures;
}

/* ---- the daemon of the daemon contenders ---- */

/* Whether some run will attach through the daemon. */
static bool daemon_needed(const struct params *p)
{
	for (int w = 0; w < NWORKLOADS; w++)
		for (int c = 0; c < NCONTENDERS; c++)
			if (p->enabled_w[w] && p->enabled_c[c] && through_daemon(c) && applies(w, c))
				return true;
	return false;
}

/* The growmapd to run: --growmapd; else the build tree's, when this is
 * the benchmark in the build tree (tools/ or libtool's tools/.libs/, the
 * daemon in daemon/ beside it); else the installed one. */
static void daemon_program(const char *opt, char *out, size_t len)
{
	if (opt) {
		snprintf(out, len, "%s", opt);
		return;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		*slash = 0;
		size_t dl = strlen(exe);
		if (dl >= 6 && !strcmp(exe + dl - 6, "/.libs"))
			exe[dl - 6] = 0;
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/../daemon/growmapd", exe);
		if (access(path, X_OK) == 0 && realpath(path, exe)) {
			snprintf(out, len, "%s", exe);
			return;
		}
	}
	snprintf(out, len, "%s", GROWMAPD_PATH);
}

static bool socket_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	bool ok = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(s);
	return ok;
}

/* The last line of the daemon's log, to say why it stopped. */
static void last_log_line(char *out, size_t len)
{
	char buf[4096];
	*out = 0;
	if (read_text(gmd.log, buf, sizeof(buf)) < 0)
		return;
	size_t n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = 0;
	char *line = strrchr(buf, '\n');
	snprintf(out, len, "%s", line ? line + 1 : buf);
}

/* Starts growmapd and waits until its socket accepts connections; when it
 * cannot, gmd.why says why and the daemon contenders are n/a. */
static void daemon_start(const char *prog)
{
	if (access(prog, X_OK) < 0) {
		snprintf(gmd.why, sizeof(gmd.why), "growmapd %.200s: %s (see --growmapd)", prog,
			 strerror(errno));
		return;
	}
	snprintf(gmd.dir, sizeof(gmd.dir), "/tmp/growmap-bench-XXXXXX");
	if (!mkdtemp(gmd.dir)) {
		snprintf(gmd.why, sizeof(gmd.why), "mkdtemp %s: %s", gmd.dir, strerror(errno));
		*gmd.dir = 0;
		return;
	}
	snprintf(gmd.sock, sizeof(gmd.sock), "%s/growmapd.sock", gmd.dir);
	snprintf(gmd.log, sizeof(gmd.log), "%s/growmapd.log", gmd.dir);
	int log = open(gmd.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log < 0) {
		snprintf(gmd.why, sizeof(gmd.why), "%s: %s", gmd.log, strerror(errno));
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(log, 1);
		dup2(log, 2);
		execl(prog, "growmapd", "--socket", gmd.sock, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(log);
	if (pid < 0) {
		snprintf(gmd.why, sizeof(gmd.why), "fork: %s", strerror(errno));
		return;
	}
	gmd.pid = pid;
	for (double until = now() + 5; !socket_answers(gmd.sock); usleep(10000)) {
		int status;
		char line[200];
		if (waitpid(pid, &status, WNOHANG) == pid) {
			gmd.pid = 0;
			last_log_line(line, sizeof(line));
			snprintf(gmd.why, sizeof(gmd.why), "growmapd %.100s exited at start (%s %d)%s%.120s",
				 prog, WIFSIGNALED(status) ? "signal" : "status",
				 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
				 *line ? ": " : "", line);
			return;
		}
		if (now() > until) {
			snprintf(gmd.why, sizeof(gmd.why), "growmapd %.100s did not answer on %s "
				 "within 5 s", prog, gmd.sock);
			return;
		}
	}
}

/* The daemon's counts for the file open as 'fd' (STATUS, lib/proto.h: the
 * WRITEBACK record after the file's FILE record): its DATASYNC requests
 * and the fdatasync(2) calls that served them. 0, or -errno (-ENOENT:
 * the daemon holds no such file). */
static int daemon_file_syncs(int fd, uint64_t *requests, uint64_t *fdatasyncs)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", gmd.sock);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct gmd_msg m = { .magic = GMD_MAGIC, .type = GMD_STATUS }, *recs = NULL;
	double deadline = now() + 5;
	int r = -EPROTO;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(s, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		r = -errno;
	else if (read_by(s, &m, sizeof(m), deadline) == 1 && m.magic == GMD_MAGIC &&
		 m.type == (GMD_STATUS | GMD_REPLY) && m.status == 0) {
		recs = xcalloc(m.count, sizeof(*recs));
		if (read_by(s, recs, m.count * sizeof(*recs), deadline) == 1)
			r = -ENOENT;
		for (uint32_t i = 0; r == -ENOENT && i + 1 < m.count; i++)
			if (recs[i].type == GMD_REC_FILE && recs[i].arg[0] == (uint64_t)st.st_dev &&
			    recs[i].arg[1] == (uint64_t)st.st_ino &&
			    recs[i + 1].type == GMD_REC_WRITEBACK) {
				*requests = recs[i + 1].arg[1];
				*fdatasyncs = recs[i + 1].arg[2];
				r = 0;
			}
	}
	free(recs);
	close(s);
	return r;
}

/* Ends the daemon and removes its directory; its log stays when 'keep_log'
 * (some run failed: the daemon may say why). */
static void daemon_stop(bool keep_log)
{
	if (gmd.pid > 0) {
		kill(gmd.pid, SIGTERM);
		int status;
		while (waitpid(gmd.pid, &status, 0) < 0 && errno == EINTR)
			;
		gmd.pid = 0;
	}
	if (!*gmd.dir)
		return;
	unlink(gmd.sock);     /* when growmapd did not get to remove it */
	if (keep_log && *gmd.why == 0) {
		printf("\ngrowmapd's log is kept: %s\n", gmd.log);
		return;
	}
	unlink(gmd.log);
	rmdir(gmd.dir);
}

/* ---- options ---- */

static bool parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return false;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (v > (SIZE_MAX >> shift))
		return false;
	v <<= shift;
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
	char *copy = strcpy(xcalloc(strlen(s) + 1, 1), s), *save = NULL;
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
"  --quick              small sizes, 5 repetitions, no seqfill-2g, no uffd-sys:\n"
"                       about a minute\n"
"  --size BYTES         file size for fill, read, rewrite and thread workloads\n"
"                       (default 1G; --quick 32M)\n"
"  --reserve BYTES      reservation of the sparse workload (default 4G; --quick 512M)\n"
"  --sparse-pages N     first-touch stores in the sparse workload (default 16384;\n"
"                       --quick 2048)\n"
"  --rewrite-run BYTES  length of each rewrite run (default 64K)\n"
"  --rewrites N         rewrite runs (default 4096; --quick 256)\n"
"  --threads N          threads of the threads-n workload (default 2)\n"
"  --sync-rounds N      rounds of stores and a sync of each process of the syncs\n"
"                       workload (default 200; --quick 50)\n"
"  --memcg-size BYTES   bytes written in the memcg workload (default 1G; --quick 256M)\n"
"  --memcg-limit BYTES  its cgroup's memory limit (default 256M; --quick 64M)\n"
"  --reps N             repetitions, at least 5 (default 5)\n"
"  --timeout SECONDS    a run taking longer is killed and fails (default 600;\n"
"                       --quick 60)\n"
"  --workloads LIST     comma list of: seqfill,seqfill-2g,sparse,read-cold,read-warm,\n"
"                       read-rw,read-rw-cold,rewrite,threads-1,threads-n,memcg,\n"
"                       reserve-8t,shared,syncs\n"
"                       (default all; --quick all but seqfill-2g)\n"
"  --contenders LIST    comma list of: uffd,signal,uffd-own,signal-own,uffd-sys,\n"
"                       uffd-daemon,signal-daemon,K1,K2,pwrite\n"
"                       (default all)\n"
"  --growmapd PATH      the growmapd the daemon contenders attach through, started\n"
"                       for the run (default: the build tree's daemon/growmapd\n"
"                       when run from it, else " GROWMAPD_PATH ")\n"
"  --dir DIR            where the benchmark's files live (default $TMPDIR or /var/tmp)\n"
"  --csv FILE           also write the results as CSV\n"
"  --plot DIR           also draw plots (PNG and SVG) with gnuplot into DIR\n"
"  --no-prewarm         do not touch and free a run's memory just before it\n"
"  --help\n");
}

struct outputs {
	const char *csv, *plot;
	const char *growmapd;  /* --growmapd, or NULL */
};

/* Fills *p and *o from the command line: 0, or the exit status. */
static int parse_args(int argc, char **argv, struct params *p, struct outputs *o)
{
	*p = (struct params){
		.size = GIB, .reserve = 4 * GIB, .sparse_pages = 16384,
		.run_bytes = 64 << 10, .rewrites = 4096, .memcg_size = GIB,
		.memcg_limit = 256 * MIB, .threads = 2, .sync_rounds = 200, .reps = 5,
		.timeout_s = 600, .prewarm = true,
	};
	const char *tmp = getenv("TMPDIR");
	p->dir = tmp && *tmp ? tmp : "/var/tmp";
	for (int i = 0; i < NWORKLOADS; i++)
		p->enabled_w[i] = true;
	for (int i = 0; i < NCONTENDERS; i++)
		p->enabled_c[i] = true;
	bool quick = false, size_set = false, reserve_set = false, sparse_set = false,
	     rewrites_set = false, memcg_size_set = false, memcg_limit_set = false,
	     timeout_set = false, workloads_set = false, contenders_set = false,
	     sync_rounds_set = false;

	enum { O_QUICK = 1, O_SIZE, O_RESERVE, O_SPARSE, O_RUN, O_REWRITES, O_THREADS,
	       O_SYNC_ROUNDS, O_MEMCG_SIZE, O_MEMCG_LIMIT, O_REPS, O_TIMEOUT, O_WORKLOADS, O_CONTENDERS,
	       O_DIR, O_CSV, O_PLOT, O_GROWMAPD, O_NO_PREWARM, O_HELP };
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, O_QUICK },
		{ "size", required_argument, NULL, O_SIZE },
		{ "reserve", required_argument, NULL, O_RESERVE },
		{ "sparse-pages", required_argument, NULL, O_SPARSE },
		{ "rewrite-run", required_argument, NULL, O_RUN },
		{ "rewrites", required_argument, NULL, O_REWRITES },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "sync-rounds", required_argument, NULL, O_SYNC_ROUNDS },
		{ "memcg-size", required_argument, NULL, O_MEMCG_SIZE },
		{ "memcg-limit", required_argument, NULL, O_MEMCG_LIMIT },
		{ "reps", required_argument, NULL, O_REPS },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "workloads", required_argument, NULL, O_WORKLOADS },
		{ "contenders", required_argument, NULL, O_CONTENDERS },
		{ "dir", required_argument, NULL, O_DIR },
		{ "csv", required_argument, NULL, O_CSV },
		{ "plot", required_argument, NULL, O_PLOT },
		{ "growmapd", required_argument, NULL, O_GROWMAPD },
		{ "no-prewarm", no_argument, NULL, O_NO_PREWARM },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	size_t v;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (opt) {
		case O_QUICK: quick = true; break;
		case O_SIZE: ok = parse_size(optarg, &p->size) && p->size >= MIB; size_set = true; break;
		case O_RESERVE: ok = parse_size(optarg, &p->reserve) && p->reserve >= MIB; reserve_set = true; break;
		case O_SPARSE: ok = parse_size(optarg, &p->sparse_pages) && p->sparse_pages > 0; sparse_set = true; break;
		case O_RUN: ok = parse_size(optarg, &p->run_bytes) && p->run_bytes >= PS && p->run_bytes % PS == 0; break;
		case O_REWRITES: ok = parse_size(optarg, &p->rewrites) && p->rewrites > 0; rewrites_set = true; break;
		case O_THREADS: ok = parse_size(optarg, &v) && v >= 1 && v <= 64; p->threads = (unsigned)v; break;
		case O_SYNC_ROUNDS: ok = parse_size(optarg, &p->sync_rounds) && p->sync_rounds > 0 && p->sync_rounds <= 100000; sync_rounds_set = true; break;
		case O_MEMCG_SIZE: ok = parse_size(optarg, &p->memcg_size) && p->memcg_size >= MIB; memcg_size_set = true; break;
		case O_MEMCG_LIMIT: ok = parse_size(optarg, &p->memcg_limit) && p->memcg_limit >= 4 * MIB; memcg_limit_set = true; break;
		case O_REPS: ok = parse_size(optarg, &v) && v >= 5 && v <= MAX_REPS; p->reps = (unsigned)v; break;
		case O_TIMEOUT: ok = parse_size(optarg, &v) && v >= 1 && v <= 86400; p->timeout_s = (unsigned)v; timeout_set = true; break;
		case O_WORKLOADS: ok = parse_list(optarg, workload_name, NWORKLOADS, p->enabled_w); workloads_set = true; break;
		case O_CONTENDERS: ok = parse_list(optarg, contender_name, NCONTENDERS, p->enabled_c); contenders_set = true; break;
		case O_DIR: p->dir = optarg; break;
		case O_CSV: o->csv = optarg; break;
		case O_PLOT: o->plot = optarg; break;
		case O_GROWMAPD: o->growmapd = optarg; break;
		case O_NO_PREWARM: p->prewarm = false; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (!ok) {
			fprintf(stderr, "growmap-bench: bad value for --%s: '%s'\n",
				opts[opt - 1].name, optarg);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "growmap-bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (quick) {
		if (!size_set)
			p->size = 32 * MIB;
		if (!reserve_set)
			p->reserve = 512 * MIB;
		if (!sparse_set)
			p->sparse_pages = 2048;
		if (!rewrites_set)
			p->rewrites = 256;
		if (!sync_rounds_set)
			p->sync_rounds = 50;
		if (!memcg_size_set)
			p->memcg_size = 256 * MIB;
		if (!memcg_limit_set)
			p->memcg_limit = 64 * MIB;
		if (!timeout_set)
			p->timeout_s = 60;
		if (!workloads_set)     /* 2 GiB is not quick; asked for by name it runs */
			p->enabled_w[W_SEQFILL_2G] = false;
		/* At quick sizes hardly a background writeback pass runs, so
		 * uffd-sys would measure nothing; named, it runs. */
		if (!contenders_set)
			p->enabled_c[C_UFFD_SYS] = false;
	}
	p->size -= p->size % PS;
	p->reserve -= p->reserve % PS;
	p->memcg_size -= p->memcg_size % PS;
	if (p->sparse_pages > p->reserve / PS / 2) {
		fprintf(stderr, "growmap-bench: --sparse-pages must be at most half the reserved pages\n");
		return 2;
	}
	if (p->run_bytes > p->size) {
		fprintf(stderr, "growmap-bench: --rewrite-run larger than --size\n");
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct params p;
	struct outputs out = { NULL, NULL, NULL };
	int status = parse_args(argc, argv, &p, &out);
	if (status >= 0)
		return status;

	struct bench_result *results = xcalloc(NWORKLOADS * NCONTENDERS, sizeof(*results));
	struct bench_latencies *lats = xcalloc(NWORKLOADS * NCONTENDERS, sizeof(*lats));
	static struct row rows[NWORKLOADS];
	size_t nres = 0, nlats = 0;
	int failures = 0;
	printf("growmap-bench: %u repetitions, contenders interleaved, every run verified; files in %s\n",
	       p.reps, p.dir);
	if (daemon_needed(&p)) {
		char prog[PATH_MAX];
		daemon_program(out.growmapd, prog, sizeof(prog));
		daemon_start(prog);
		if (*gmd.why)
			printf("growmapd: n/a: %s\n", gmd.why);
		else
			printf("growmapd: %s, on %s for the whole run\n", prog, gmd.sock);
	}
	fflush(stdout);      /* before the progress lines on stderr */

	catch_stop_signals(true);
	for (int w = 0; w < NWORKLOADS && !stop_signal; w++)
		if (p.enabled_w[w])
			failures += run_row(&p, w, &rows[w], results, &nres, lats, &nlats);
	if (stop_signal) {      /* the run in progress was stopped and cleaned up */
		daemon_stop(false);
		fprintf(stderr, "\ngrowmap-bench: interrupted by signal %d\n", (int)stop_signal);
		catch_stop_signals(false);
		raise(stop_signal);
		return 128 + stop_signal;
	}

	if (out.csv) {
		FILE *f = fopen(out.csv, "w");
		if (!f) {
			fprintf(stderr, "growmap-bench: %s: %s\n", out.csv, strerror(errno));
			failures++;
		} else {
			write_csv(f, results, nres);
			fclose(f);
			printf("\nCSV written to %s\n", out.csv);
		}
	}
	if (out.plot) {
		int r = bench_plot(out.plot, results, nres, lats, nlats);
		if (r == -ENOENT)
			printf("\nplots skipped: gnuplot is not installed (apt-get install gnuplot-nox)\n");
		else if (r < 0)
			printf("\nplots failed: %s\n", strerror(-r));
		else
			printf("\nplots written to %s\n", out.plot);
	}
	daemon_stop(failures > 0);
	print_modes();
	print_summary(&p, rows, results, nres);
	printf("\n%s: %d failed verification\n", failures ? "FAILED" : "ok", failures);
	for (size_t i = 0; i < nlats; i++)
		free((void *)lats[i].ns);
	free(lats);
	free(results);
	return failures ? 1 : 0;
}
