/* SPDX-License-Identifier: MIT */
/*
 * Attaching: bad input, the reservation, read-only attaches, one writer
 * per file, the backend's reason and the options that choose it, and
 * what each backend does to the application's signal handlers.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "behaviour.h"

/* Bad input (a bad or closed descriptor, a directory, a pipe, a descriptor
 * not open for what the attach needs, bad flags, sizes or configuration,
 * a double close) gets a clear negative errno and changes nothing. */
START_TEST(bad_input_gets_negative_errno)
{
	struct growmap *gm = (struct growmap *)0x1;
	int fd = new_file();
	ck_assert_int_eq(growmap_open(&gm, -1, 0, 0), -EBADF);
	ck_assert_ptr_null(gm);
	int closed = dup(fd);
	close(closed);
	ck_assert_int_eq(growmap_open(&gm, closed, 0, 0), -EBADF);
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(growmap_open(&gm, dir, 0, 0), -EISDIR);
	ck_assert_int_eq(growmap_open(&gm, dir, 0, GROWMAP_RDONLY), -EISDIR);
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	ck_assert_int_eq(growmap_open(&gm, pipefd[0], 0, GROWMAP_RDONLY), -ENODEV);
	ck_assert_int_eq(growmap_open(&gm, pipefd[1], 0, 0), -ENODEV);
	int ro = open(case_path, O_RDONLY);
	ck_assert_int_eq(growmap_open(&gm, ro, 0, 0), -EACCES);
	int wo = open(case_path, O_WRONLY);
	ck_assert_int_eq(growmap_open(&gm, wo, 0, 0), -EACCES);
	ck_assert_int_eq(growmap_open(&gm, wo, 0, GROWMAP_RDONLY), -EACCES);
	int ap = open(case_path, O_RDWR | O_APPEND);
	ck_assert_int_eq(growmap_open(&gm, ap, 0, 0), -EINVAL);
	int op = open(case_path, O_PATH);
	ck_assert_int_eq(growmap_open(&gm, op, 0, 0), -EBADF);
	ck_assert_int_eq(growmap_open(NULL, fd, 0, 0), -EINVAL);
	ck_assert_int_eq(growmap_open(&gm, fd, 0, 0x80), -EINVAL);
	ck_assert_int_eq(growmap_open(&gm, fd, SIZE_MAX, 0), -EINVAL);
	ck_assert_int_eq(growmap_open(&gm, fd, (size_t)1 << 50, 0), -EINVAL);

	ck_assert_int_eq(growmap_sync(NULL), -EINVAL);
	ck_assert_int_eq(growmap_close(NULL), -EINVAL);
	ck_assert_ptr_null(growmap_addr(NULL));
	ck_assert_ptr_null(growmap_backend(NULL));
	struct growmap_stats st;
	ck_assert_int_eq(growmap_stats(NULL, &st), -EINVAL);

	ck_assert_int_eq(growmap_open(&gm, fd, 1 << 20, 0), 0);
	ck_assert_int_eq(growmap_stats(gm, NULL), -EINVAL);
	ck_assert_int_eq(growmap_set_size(gm, -1), -EINVAL);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(growmap_close(gm), -EBADF);    /* double close */
	ck_assert_int_eq(growmap_sync(gm), -EBADF);
	ck_assert_int_eq(tu_file_size(fd), 0);          /* nothing written */

	/* Bad configuration in the environment. */
	setenv("GROWMAP_FAULT_AROUND", "3", 1);
	ck_assert_int_eq(growmap_open(&gm, fd, 0, 0), -EINVAL);
	setenv("GROWMAP_FAULT_AROUND", "16x", 1);
	ck_assert_int_eq(growmap_open(&gm, fd, 0, 0), -EINVAL);
	unsetenv("GROWMAP_FAULT_AROUND");
	setenv("GROWMAP_BACKEND", "bogus", 1);
	ck_assert_int_eq(growmap_open(&gm, fd, 0, 0), -EINVAL);
	tu_select_backend();
	close(ro);
	close(wo);
	close(ap);
	close(op);
	close(dir);
	close(pipefd[0]);
	close(pipefd[1]);
	close(fd);
}
END_TEST

/* The reservation is rounded up to a whole page, the address never
 * changes, and access beyond the reservation is SIGSEGV (growmap_open(3)). */
START_TEST(reservation_rounded_and_bounded)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, page_size + 904, 0);   /* 5000 bytes on 4 KiB pages */
	unsigned char *p = growmap_addr(gm);
	size_t end = 2 * page_size;                           /* rounded up */
	p[end - 1] = 1;
	struct tu_access a = { .p = p + end, .value = 1 };
	void *addr;
	ck_assert_int_eq(tu_catch_signal(tu_store, &a, &addr, NULL), SIGSEGV);
	ck_assert_ptr_eq(addr, p + end);
	ck_assert_int_eq(growmap_sync(gm), 0);
	ck_assert_ptr_eq(growmap_addr(gm), p);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), end);
	close(fd);
}
END_TEST

/* A read-only mapping shows the file, raises SIGSEGV on a store, and
 * never writes. */
START_TEST(rdonly_store_raises_sigsegv_and_never_writes)
{
	int fd = new_file();
	write_all(fd, "hello", 5, 0);
	struct stat before;
	fstat(fd, &before);
	int ro = open(case_path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(ro, 0);

	struct growmap *gm = attach(ro, 1 << 20, GROWMAP_RDONLY);
	unsigned char *p = growmap_addr(gm);
	ck_assert_int_eq(memcmp(p, "hello", 5), 0);
	for (size_t i = 5; i < 3 * page_size; i++)      /* past the end: zeros */
		ck_assert_int_eq(p[i], 0);
	ck_assert_int_eq(p[(1 << 20) - 1], 0);
	void *addr;
	struct tu_access a = { .p = p + 2 * page_size, .value = 1 };
	ck_assert_int_eq(tu_catch_signal(tu_store, &a, &addr, NULL), SIGSEGV);
	ck_assert_ptr_eq(addr, p + 2 * page_size);
	a.p = p + 1;
	ck_assert_int_eq(tu_catch_signal(tu_store, &a, &addr, NULL), SIGSEGV);
	ck_assert_int_eq(growmap_sync(gm), 0);
	ck_assert_int_eq(growmap_set_size(gm, 100), -EINVAL);
	ck_assert_int_eq(growmap_close(gm), 0);

	struct stat after;
	fstat(fd, &after);
	ck_assert_int_eq(after.st_size, 5);
	ck_assert_int_eq(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	ck_assert_int_eq(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	char buf[5];
	ck_assert_int_eq(pread(fd, buf, 5, 0), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	close(ro);
	close(fd);
}
END_TEST

/* A read-only attach of an empty file: all zeros, nothing written. */
START_TEST(rdonly_empty_file_reads_zeros)
{
	int fd = new_file();
	int ro = open(case_path, O_RDONLY | O_CLOEXEC);
	struct growmap *gm = attach(ro, 64 << 10, GROWMAP_RDONLY);
	const unsigned char *p = growmap_addr(gm);
	for (size_t i = 0; i < (64 << 10); i += 97)
		ck_assert_int_eq(p[i], 0);
	struct tu_access a = { .p = (unsigned char *)p + 5, .value = 1 };
	ck_assert_int_eq(tu_catch_signal(tu_store, &a, NULL, NULL), SIGSEGV);
	a.p = (unsigned char *)p + (64 << 10);            /* the guard page */
	ck_assert_int_eq(tu_catch_signal(tu_load, &a, NULL, NULL), SIGSEGV);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 0);
	close(ro);
	close(fd);
}
END_TEST

/* Without growmapd, one writer per file: a second writable attach of the
 * same file fails with -EBUSY, through the same descriptor, another
 * descriptor, or another process. (Through growmapd they share it:
 * check_shared.c.) */
START_TEST(second_writable_attach_is_ebusy)
{
	int fd = new_file();
	struct growmap *gm = attach(fd, 1 << 20, 0), *other;
	ck_assert_int_eq(growmap_open(&other, fd, 1 << 20, 0), -EBUSY);
	int fd2 = open(case_path, O_RDWR | O_CLOEXEC);
	ck_assert_int_eq(growmap_open(&other, fd2, 1 << 20, 0), -EBUSY);

	pid_t pid = fork();
	if (pid == 0) {
		int fd3 = open(case_path, O_RDWR);
		struct growmap *g;
		_exit(growmap_open(&g, fd3, 1 << 20, 0) == -EBUSY ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "another process could attach the file for writing");

	/* A read-only attach does not conflict. */
	int ro = open(case_path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(growmap_open(&other, ro, 1 << 20, GROWMAP_RDONLY), 0);
	ck_assert_int_eq(growmap_close(other), 0);

	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(growmap_open(&other, fd2, 1 << 20, 0), 0);
	ck_assert_int_eq(growmap_close(other), 0);
	close(ro);
	close(fd2);
	close(fd);
}
END_TEST

/* The one-writer lock goes with the writer. A writer that has stored and
 * is killed (its writeback thread holding an io_uring, whose teardown
 * outlives the process) leaves the file free for the next writable
 * attach the moment waitpid() returns: 100 trials, no -EBUSY. */
START_TEST(writer_killed_lock_free_at_waitpid)
{
	int fd = new_file();
	size_t reserve = 256 * page_size;
	int busy = 0;
	for (int trial = 0; trial < 100; trial++) {
		int ready[2];
		ck_assert_int_eq(pipe(ready), 0);
		pid_t pid = fork();
		if (pid == 0) {
			/* Writeback passes in flight all the time. */
			setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "1", 1);
			struct growmap *g;
			if (growmap_open(&g, fd, reserve, 0) < 0)
				_exit(2);
			for (size_t pg = 0; pg < 200; pg += 2)
				((char *)growmap_addr(g))[pg * page_size] = 2;
			((char *)growmap_addr(g))[(size_t)trial * page_size + 1] = 1;
			if (write(ready[1], "r", 1) != 1)
				_exit(3);
			pause();
			_exit(4);
		}
		close(ready[1]);
		char c;
		ck_assert_int_eq(read(ready[0], &c, 1), 1);
		close(ready[0]);
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		struct growmap *gm;
		int r = growmap_open(&gm, fd, reserve, 0);
		if (r == -EBUSY) {
			busy++;
			continue;
		}
		ck_assert_int_eq(r, 0);
		ck_assert_int_eq(((char *)growmap_addr(gm))[(size_t)trial * page_size + 1], 1);
		ck_assert_int_eq(growmap_close(gm), 0);
	}
	ck_assert_msg(busy == 0, "%d of 100 attaches right after waitpid got -EBUSY", busy);
	close(fd);
}
END_TEST

/* One writer per file through a shared descriptor: a program exec'ed with
 * a copy of the writer's own descriptor (same open file description)
 * still gets -EBUSY: the lock lives on growmap's private open of the file.
 * The program is this one again, running attach_fd_main(). */
static int attach_fd_main(int argc, char **argv)
{
	struct growmap *gm;
	return argc == 3 && growmap_open(&gm, atoi(argv[2]), 1 << 20, 0) == -EBUSY ? 0 : 1;
}

START_TEST(writer_lock_holds_across_exec_of_shared_descriptor)
{
	int fd = new_file();
	int shared = fcntl(fd, F_DUPFD, 10);            /* no FD_CLOEXEC */
	ck_assert_int_ge(shared, 0);
	struct growmap *gm = attach(shared, 1 << 20, 0);
	pid_t pid = fork();
	if (pid == 0) {
		char num[16];
		snprintf(num, sizeof(num), "%d", shared);
		execl("/proc/self/exe", "check", "--attach-fd", num, (char *)NULL);
		_exit(3);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "exec'ed program attached the file too (status %d)", WEXITSTATUS(status));
	ck_assert_int_eq(growmap_close(gm), 0);
	close(shared);
	close(fd);
}
END_TEST

/* The backend's reason is available through the API and, at log level
 * debug, in one line on stderr at open; per-call options pick the backend
 * and override the environment. */
START_TEST(reason_logged_and_options_override_environment)
{
	int fd = new_file();
	char logpath[PATH_MAX];
	int logfd = tu_tmpfile(logpath);
	int saved = dup(2);
	dup2(logfd, 2);
	setenv("GROWMAP_LOG_LEVEL", "debug", 1);
	setenv("GROWMAP_FAULT_AROUND", "3", 1);          /* invalid */
	struct growmap_options opts = { .backend = tu_backend, .fault_around_pages = 4 };
	struct growmap *gm = NULL;
	int r = growmap_open_opts(&gm, fd, 1 << 20, 0, &opts);
	unsetenv("GROWMAP_FAULT_AROUND");
	/* A bad environment value is refused even when an option would
	 * replace it: every layer is checked. */
	ck_assert_int_eq(r, -EINVAL);
	setenv("GROWMAP_BACKEND", tu_backend_is("signal") ? "uffd" : "signal", 1);
	r = growmap_open_opts(&gm, fd, 1 << 20, 0, &opts);
	dup2(saved, 2);
	close(saved);
	ck_assert_int_eq(r, 0);
	ck_assert_str_eq(growmap_backend(gm), tu_backend);     /* the option won */
	const char *reason = growmap_backend_reason(gm);
	ck_assert_ptr_nonnull(reason);
	const char *how = tu_through_daemon ? "; shared through growmapd"
					    : "; without growmapd (daemon = off)";
	ck_assert_msg(strstr(reason, how), "reason: %s", reason);
	char log[2048] = "";
	ck_assert_int_ge(pread(logfd, log, sizeof(log) - 1, 0), 0);
	ck_assert_msg(strstr(log, "growmap: environment variable GROWMAP_FAULT_AROUND"), "log: %s", log);
	ck_assert_msg(strstr(log, "growmap: attached fd"), "log: %s", log);
	ck_assert_msg(strstr(log, reason), "reason '%s' not in log: %s", reason, log);
	ck_assert_int_eq(growmap_close(gm), 0);

	opts.fault_around_pages = 3;
	ck_assert_int_eq(growmap_open_opts(&gm, fd, 1 << 20, 0, &opts), -EINVAL);
	opts.fault_around_pages = 0;
	opts.reserved[2] = 1;
	ck_assert_int_eq(growmap_open_opts(&gm, fd, 1 << 20, 0, &opts), -EINVAL);
	tu_select_backend();
	close(logfd);
	close(fd);
}
END_TEST

/* The uffd backend installs no signal handler: the application's own
 * stays in place. The signal backend installs one in front of it and
 * passes on every fault outside its regions: the application's handler
 * still sees (and resolves) a fault on a page of its own. */
static char *app_page;
static volatile int app_hits;

static void app_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (si->si_addr == app_page) {
		app_hits++;
		mprotect(app_page, page_size, PROT_READ | PROT_WRITE);
		return;
	}
	signal(sig, SIG_DFL);
}

START_TEST(signal_handlers_left_alone_or_chained)
{
	struct sigaction mine = { .sa_sigaction = app_handler, .sa_flags = SA_SIGINFO }, seen;
	sigemptyset(&mine.sa_mask);
	sigaction(SIGSEGV, &mine, NULL);
	sigaction(SIGBUS, &mine, NULL);
	app_page = mmap(NULL, page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(app_page, MAP_FAILED);

	int fd = new_file(), fd2 = new_file();
	struct growmap *gm = attach(fd, 1 << 20, 0);
	struct growmap *gm2 = attach(fd2, 1 << 20, 0);
	char *p = growmap_addr(gm), *q = growmap_addr(gm2);
	p[0] = 1;
	q[3 * page_size] = 2;
	p[9 * page_size] = (char)(p[5 * page_size] + 1);   /* a load, then a store */
	*(volatile char *)app_page = 'a';           /* the application's own fault */
	ck_assert_int_eq(app_hits, 1);
	ck_assert_int_eq(app_page[0], 'a');
	ck_assert_int_eq(growmap_sync(gm), 0);

	sigaction(SIGSEGV, NULL, &seen);
	if (tu_backend_is("signal"))
		ck_assert_ptr_ne((void *)seen.sa_sigaction, (void *)app_handler);
	else
		ck_assert_ptr_eq((void *)seen.sa_sigaction, (void *)app_handler);
	sigaction(SIGBUS, NULL, &seen);
	ck_assert_ptr_eq((void *)seen.sa_sigaction, (void *)app_handler);
	ck_assert_int_eq(growmap_close(gm2), 0);
	ck_assert_int_eq(growmap_close(gm), 0);
	ck_assert_int_eq(tu_file_size(fd), 10 * page_size);
	ck_assert_int_eq(tu_file_size(fd2), 4 * page_size);
	close(fd);
	close(fd2);
}
END_TEST

static const struct tr_case attach_cases[] = {
	TR_CASE(bad_input_gets_negative_errno),
	TR_CASE(reservation_rounded_and_bounded),
	TR_CASE(rdonly_store_raises_sigsegv_and_never_writes),
	TR_CASE(rdonly_empty_file_reads_zeros),
	TR_CASE(second_writable_attach_is_ebusy, .on = TR_ALONE),
	TR_CASE(writer_killed_lock_free_at_waitpid),
	TR_CASE(writer_lock_holds_across_exec_of_shared_descriptor, .on = TR_ALONE),
	TR_CASE(reason_logged_and_options_override_environment),
	TR_CASE(signal_handlers_left_alone_or_chained),
	{ NULL }
};

static const struct tr_helper attach_helpers[] = {
	{ "attach-fd", attach_fd_main },
	{ NULL }
};

static const struct tr_suite attach_suite = {
	.name = "attach",
	.cases = attach_cases,
	.setup = behaviour_setup,
	.teardown = behaviour_teardown,
	.helpers = attach_helpers,
};
TR_SUITE(attach_suite)
