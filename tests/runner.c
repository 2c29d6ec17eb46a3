/* SPDX-License-Identifier: MIT */
/*
 * main() of the test programs that run cases on one backend (runner.h).
 * Makefile.am gives each program its backend (RUNNER_BACKEND, "uffd" or
 * "signal") and, for the ones named *_daemon, RUNNER_DAEMON: every attach
 * then goes through a growmapd this program starts. The suites are the
 * files linked in; each registered itself with TR_SUITE() before main().
 *
 * The program exits 77 (automake's "skipped") and says why when its
 * backend cannot run here, when a suite's start() says the program
 * cannot, or when no case is left to run.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"
#include "testutil.h"

#ifndef RUNNER_BACKEND
#error "RUNNER_BACKEND must name the program's backend (Makefile.am)"
#endif
#ifdef RUNNER_DAEMON
#define RUNNER_MODE TR_DAEMON
#else
#define RUNNER_MODE TR_ALONE
#endif

enum { MAX_SUITES = 16 };
static const struct tr_suite *suites[MAX_SUITES];
static int nsuites;
static char suite_names[MAX_SUITES][64];   /* Check keeps the pointers */

void tr_register(const struct tr_suite *suite)
{
	if (nsuites == MAX_SUITES) {
		fprintf(stderr, "runner: more than %d suites\n", MAX_SUITES);
		abort();
	}
	suites[nsuites++] = suite;
}

/* Does a case marked 'on' run in a program whose backend and mode are
 * 'here'? A missing backend or mode bit means any. */
static bool runs_here(unsigned on, unsigned here)
{
	unsigned backends = on & (TR_UFFD | TR_SIGNAL), modes = on & (TR_ALONE | TR_DAEMON);
	return (!backends || (backends & here)) && (!modes || (modes & here));
}

/* The helper "--NAME" names, or NULL. */
static const struct tr_helper *find_helper(const char *arg)
{
	if (strncmp(arg, "--", 2) != 0)
		return NULL;
	for (int i = 0; i < nsuites; i++)
		for (const struct tr_helper *h = suites[i]->helpers; h && h->name; h++)
			if (strcmp(h->name, arg + 2) == 0)
				return h;
	return NULL;
}

/* Check's suite for suites[i]: a test case per case that runs here;
 * NULL if none does. */
static Suite *make_suite(int i, unsigned here)
{
	const struct tr_suite *ts = suites[i];
	snprintf(suite_names[i], sizeof(suite_names[i]), "%s-%s%s", ts->name, tu_backend,
		 tu_through_daemon ? "-daemon" : "");
	Suite *s = NULL;
	for (const struct tr_case *c = ts->cases; c->name; c++) {
		if (!runs_here(c->on, here))
			continue;
		const char *why = c->left_out ? c->left_out() : NULL;
		if (why) {
			printf("SKIP: %s: %s\n", c->name, why);
			continue;
		}
		if (!s)
			s = suite_create(suite_names[i]);
		TCase *tc = tcase_create(c->name);
		if (ts->setup || ts->teardown)
			tcase_add_checked_fixture(tc, ts->setup, ts->teardown);
		tcase_set_timeout(tc, ts->timeout ? ts->timeout : 120);
		if (c->loop > 0)
			tcase_add_loop_test(tc, *c->test, 0, c->loop);
		else
			tcase_add_test(tc, *c->test);
		suite_add_tcase(s, tc);
	}
	return s;
}

static void finish_suites(int started)
{
	for (int i = started; i-- > 0;)
		if (suites[i]->finish)
			suites[i]->finish();
}

int main(int argc, char **argv)
{
	tu_backend = RUNNER_BACKEND;
	tu_through_daemon = RUNNER_MODE == TR_DAEMON;
	unsigned here = (tu_backend_is("uffd") ? TR_UFFD : TR_SIGNAL) | RUNNER_MODE;
	if (argc > 1) {
		const struct tr_helper *h = find_helper(argv[1]);
		if (!h) {
			fprintf(stderr, "%s: no helper %s (the program takes no arguments)\n",
				argv[0], argv[1]);
			return 2;
		}
		tu_select_backend();
		return h->main(argc, argv);
	}

	tu_require_backend();   /* exits 77, saying why, if the backend cannot run */
	for (int i = 0; i < nsuites; i++) {
		const char *why = suites[i]->start ? suites[i]->start() : NULL;
		if (why) {
			printf("SKIP: %s\n", why);
			finish_suites(i);
			return 77;
		}
	}
	SRunner *sr = NULL;
	for (int i = 0; i < nsuites; i++) {
		Suite *s = make_suite(i, here);
		if (s && !sr)
			sr = srunner_create(s);
		else if (s)
			srunner_add_suite(sr, s);
	}
	if (!sr) {
		printf("SKIP: no case of this program runs here\n");
		finish_suites(nsuites);
		return 77;
	}
#ifdef RUNNER_DAEMON
	pid_t daemon = tu_start_daemon();
#endif
	fflush(stdout);   /* before Check forks a process per case */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_ENV);   /* CK_VERBOSITY=verbose names each case */
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
#ifdef RUNNER_DAEMON
	if (tu_stop_daemon(daemon) < 0)
		failed++;
#endif
	finish_suites(nsuites);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
