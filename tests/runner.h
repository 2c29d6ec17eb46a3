/* SPDX-License-Identifier: MIT */
/*
 * The runner of the Check suites. Each file of tests lists its cases once,
 * in a table saying where each runs (backend, and alone or through
 * growmapd), and registers the table with TR_SUITE(). A test program is
 * tests/runner.c and some such files, built once per backend and mode
 * (Makefile.am: RUNNER_BACKEND, RUNNER_DAEMON); the runner makes Check
 * suites of the cases that apply to its own backend and mode and leaves
 * the others out. TESTING.md says how to add a case.
 */
#ifndef GROWMAP_RUNNER_H
#define GROWMAP_RUNNER_H

#include <check.h>

/*
 * Where a case runs. A case with no backend bit runs on both backends;
 * with no mode bit, in both modes: TR_UFFD alone means "uffd, alone and
 * through growmapd"; TR_ALONE alone means "both backends, never through
 * growmapd"; 0 means everywhere its suite runs.
 */
enum {
	TR_UFFD = 1 << 0,     /* the userfaultfd backend */
	TR_SIGNAL = 1 << 1,   /* the PROT_NONE + SIGSEGV backend */
	TR_ALONE = 1 << 2,    /* no growmapd but those a case starts itself */
	TR_DAEMON = 1 << 3,   /* every attach through the growmapd the runner started */
};

struct tr_case {
	const char *name;
	const TTest *const *test;   /* &name: START_TEST(name) made the TTest pointer */
	unsigned on;          /* TR_* bits, as above */
	int loop;             /* > 0: the case runs 'loop' times, _i from 0 */
	/* NULL, or why the case cannot run in this program here: the runner
	 * prints the reason and leaves the case out. Called once, in the
	 * runner's process, after the suites' start(). */
	const char *(*left_out)(void);
};

/* One entry of a suite's table: TR_CASE(test) or, with fields of
 * struct tr_case, TR_CASE(test, .on = TR_UFFD). */
#define TR_CASE(fn, ...) { .name = #fn, .test = &fn, __VA_ARGS__ }

/* A case that re-executes its own program, execl("/proc/self/exe", "x",
 * "--NAME", ...), runs the helper NAME in the new process instead of the
 * suites: main(argc, argv), argv[1] being "--NAME". */
struct tr_helper {
	const char *name;
	int (*main)(int argc, char **argv);
};

struct tr_suite {
	const char *name;              /* the concern: "attach", "shm", ... */
	const struct tr_case *cases;   /* ends with an entry whose name is NULL */
	int timeout;                   /* seconds per case; 0: 120 */
	/* Check's checked fixture, in each case's own process. The runner has
	 * already selected the backend (tu_select_backend()). */
	void (*setup)(void);
	void (*teardown)(void);
	/* Once in the runner's process, before any case: NULL, or why the
	 * program cannot run here at all (it prints it and exits 77). */
	const char *(*start)(void);
	/* Once after the last case, if start() succeeded. */
	void (*finish)(void);
	const struct tr_helper *helpers;   /* ends with { NULL } */
};

/* Adds a suite to the program's; TR_SUITE does it before main(). */
void tr_register(const struct tr_suite *suite);

#define TR_SUITE(suite)                                                       \
	__attribute__((constructor)) static void tr_register_##suite(void)    \
	{                                                                     \
		tr_register(&suite);                                          \
	}

#endif
