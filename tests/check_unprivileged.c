/* SPDX-License-Identifier: MIT */
/*
 * Unprivileged use, under vm.unprivileged_userfaultfd=0 too (growmap(7),
 * "Obtaining a userfaultfd"): a child drops to uid/gid 65534 and attaches
 * with GROWMAP_BACKEND=auto. It must get a working mapping, and the
 * reason growmap reports must match what this kernel allows an
 * unprivileged process, which the child finds out itself: full
 * userfaultfd (syscall or /dev/userfaultfd), user-mode-only userfaultfd,
 * or none (the signal backend). Needs root to drop privileges; otherwise
 * exits 77 (skip).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "uffd-compat.h"


/* What the kernel lets this process have, asked directly. */
static const char *expected_prefix(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return "uffd: userfaultfd(2)";
	}
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
		close(dev);
		if (fd >= 0) {
			close(fd);
			return "uffd: /dev/userfaultfd";
		}
	}
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd >= 0) {
		close(fd);
		return "uffd (user-mode only)";
	}
	return "signal: userfaultfd unavailable";
}

/* Attach, store, read(2) into an untouched page, close, check the file.
 * Returns NULL or what failed. */
static const char *exercise(const char *want_prefix, char *reason, size_t len)
{
	char path[PATH_MAX];
	int fd = tu_tmpfile(path);
	unlink(path);            /* the child ends with _exit: no cleanup runs */
	struct growmap *gm;
	int r = growmap_open(&gm, fd, 1 << 20, 0);
	if (r < 0)
		return "growmap_open failed";
	snprintf(reason, len, "%s", growmap_backend_reason(gm));
	if (strncmp(reason, want_prefix, strlen(want_prefix)))
		return "reason does not match what the kernel allows";
	char *p = growmap_addr(gm);
	strcpy(p + 90000, "unprivileged");
	int src = open("/proc/self/stat", O_RDONLY);
	ssize_t n = read(src, p + 200000, 64);
	close(src);
	bool kernel_ok = tu_kernel_access(gm);
	if (kernel_ok ? n <= 0 : !(n == -1 && errno == EFAULT))
		return "read(2) into an untouched page did not behave as the reason says";
	if (growmap_close(gm) < 0)
		return "growmap_close failed";
	char buf[13] = "";
	if (pread(fd, buf, 12, 90000) != 12 || strcmp(buf, "unprivileged"))
		return "the store did not reach the file";
	close(fd);
	return NULL;
}

/* Runs the exercise in a child as 'uid' (0: stay root); 'dumpable' false
 * leaves it as setuid(2) leaves a process: unable to open its own
 * /proc/self/pagemap, which the backends must not need. */
static void run_as(uid_t uid, bool dumpable, const char *label)
{
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		if (uid && (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0))
			_exit(3);
		/* Changing credentials made this process non-dumpable; a process
		 * an unprivileged user starts is dumpable (and may open its own
		 * /proc/self/pagemap). */
		prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0);
		setenv("GROWMAP_BACKEND", "auto", 1);
		setenv("GROWMAP_TEST_DIR", "/tmp", 1);
		const char *want = expected_prefix();
		char reason[256] = "", msg[600];
		const char *bad = exercise(want, reason, sizeof(reason));
		snprintf(msg, sizeof(msg), "%s: expected '%s...', reason '%s'%s%s", label,
			 want, reason, bad ? ": " : "", bad ? bad : "");
		if (write(pipefd[1], msg, strlen(msg)) < 0)
			_exit(4);
		_exit(bad ? 1 : 0);
	}
	close(pipefd[1]);
	char msg[600] = "";
	ssize_t n = read(pipefd[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = 0;
	close(pipefd[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	printf("%s\n", msg);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s (status %d)", msg,
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

START_TEST(auto_as_unprivileged_user)
{
	run_as(65534, true, "uid 65534");
}
END_TEST

START_TEST(auto_as_unprivileged_non_dumpable)
{
	run_as(65534, false, "uid 65534, not dumpable");
}
END_TEST

START_TEST(auto_as_root)
{
	run_as(0, true, "root");
}
END_TEST

int main(void)
{
	if (geteuid() != 0) {
		printf("SKIP: needs root to drop to an unprivileged uid\n");
		return 77;
	}
	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
	int sysctl = -1;
	if (f) {
		if (fscanf(f, "%d", &sysctl) != 1)
			sysctl = -1;
		fclose(f);
	}
	printf("vm.unprivileged_userfaultfd = %d\n", sysctl);
	Suite *s = suite_create("unprivileged");
	TCase *tc = tcase_create("auto");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, auto_as_unprivileged_user);
	tcase_add_test(tc, auto_as_unprivileged_non_dumpable);
	tcase_add_test(tc, auto_as_root);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
