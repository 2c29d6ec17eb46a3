/* SPDX-License-Identifier: MIT */
/* Shared between growmap-bench's measuring core and its plot output. */
#ifndef GROWMAP_BENCH_H
#define GROWMAP_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* One contender on one workload, summarised over all repetitions. */
struct bench_result {
	const char *workload;    /* short name, e.g. "seqfill" */
	const char *title;       /* e.g. "(a) sequential fill, 64 MiB, sync+close" */
	const char *contender;   /* "uffd", "signal", "uffd-own", "signal-own",
				    "uffd-sys", "uffd-daemon", "signal-daemon",
				    "K1", "K2", "pwrite" */
	unsigned reps;
	double median_s, min_s, max_s;   /* seconds per run */
	double mb_per_s;         /* megabytes (1e6) per second at the median */
	double ns_per_page;      /* median time / pages handled */
	double vs_k1;            /* K1 median time / this median time (>1: faster
				    than K1); NAN when K1 did not run */
	double vs_signal;        /* likewise against the signal backend */
	double p50_ns, p99_ns;   /* first-touch latency (syncs: a sync's), NAN
				    when not measured */
	long peak_rss_kib;       /* largest peak RSS of the runs' processes */
	double wb_mb_per_s;      /* (d) only: bytes / median time of the
				    writing-back part; NAN elsewhere */
	double faults_per_page;  /* median over the runs of the process's minor +
				    major page faults in the timed part / pages */
	double disk_per_stored;  /* workloads that make a new file: median of the
				    file's allocated bytes after close / bytes
				    stored; NAN elsewhere */
	double rss_growth_kib;   /* reserve-8t only: median of the peak RSS from
				    open to close less the RSS at open; NAN
				    elsewhere */
	unsigned failed_runs;    /* runs that failed (the median is of the rest) */
};

/* Latencies of one contender on a workload that measures them (all
 * repetitions pooled): first touches, or syncs. */
struct bench_latencies {
	const char *workload;
	const char *contender;
	const uint64_t *ns;      /* one sample per first touch, or per sync */
	size_t n;
	const char *what;        /* "first-touch" or "sync" */
};

/*
 * Writes plots for the results into 'dir' (created if missing), each as
 * PNG and SVG: one bar chart per workload of speed relative to K1 per
 * contender (bars labelled with the ratio, error bars from min/max), one
 * summary chart with all workloads, and a latency histogram (log-scale x)
 * per workload that has latencies. Data files (.dat) and the gnuplot
 * script (.gp) are left in 'dir' too, so a plot can be redrawn by hand.
 * Returns 0, -ENOENT when gnuplot is not installed (the caller reports it
 * and carries on), or another negative errno.
 */
int bench_plot(const char *dir, const struct bench_result *results, size_t nresults,
	       const struct bench_latencies *lat, size_t nlat);

#endif
