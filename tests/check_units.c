/* SPDX-License-Identifier: MIT */
/*
 * growmapd's systemd units, as built, pass 'systemd-analyze verify' with
 * no complaint at all (unknown keys are only warnings there, so any
 * output fails the case). The units name the installed daemon, which is
 * not there yet at 'make check': each is verified from a copy whose
 * ExecStart names the built one. Skipped (77) without systemd-analyze.
 */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[PATH_MAX];

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	const char *base = getenv("TMPDIR");
	int n = snprintf(tmp, sizeof(tmp), "%s/growmapd-units-XXXXXX",
			 base ? base : "/var/tmp");
	ck_assert(n > 0 && (size_t)n < sizeof(tmp));
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
	nftw(tmp, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Copies sub/name to tmp/name, ExecStart naming the built daemon: from
 * the build directory for a generated service, else from the sources. */
static void copy_unit(const char *sub, const char *name, char *dst, size_t size)
{
	char src[PATH_MAX];
	bool generated = strstr(name, ".service") != NULL;
	int n = snprintf(src, sizeof(src), "%s/%s%s",
			 generated ? UNIT_BUILDDIR : UNIT_SRCDIR, sub, name);
	ck_assert(n > 0 && (size_t)n < sizeof(src));
	n = snprintf(dst, size, "%s/%s", tmp, name);
	ck_assert(n > 0 && (size_t)n < size);
	FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
	ck_assert_msg(in != NULL, "%s missing", src);
	ck_assert_ptr_nonnull(out);
	char line[1024];
	int execs = 0;
	while (fgets(line, sizeof(line), in)) {
		if (!strncmp(line, "ExecStart=", 10)) {
			fprintf(out, "ExecStart=%s\n", GROWMAPD_PROG);
			execs++;
		} else {
			fputs(line, out);
		}
	}
	ck_assert_int_eq(fclose(in), 0);
	ck_assert_int_eq(fclose(out), 0);
	ck_assert_int_eq(execs, generated ? 1 : 0);
}

/* Runs systemd-analyze [--user] verify on the two units of 'sub'. */
static void verify(const char *sub, bool user)
{
	char sock[PATH_MAX], svc[PATH_MAX], rt[PATH_MAX + 4], out[8192];
	copy_unit(sub, "growmapd.socket", sock, sizeof(sock));
	copy_unit(sub, "growmapd.service", svc, sizeof(svc));
	/* A user manager wants its runtime directory, even offline. */
	snprintf(rt, sizeof(rt), "%s/rt", tmp);
	ck_assert_int_eq(mkdir(rt, 0700), 0);
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	fflush(stdout);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		setenv("XDG_RUNTIME_DIR", rt, 1);
		/* --man=no: the man pages are not installed yet either. */
		if (user)
			execlp("systemd-analyze", "systemd-analyze", "--user", "verify",
			       "--man=no", sock, svc, (char *)NULL);
		else
			execlp("systemd-analyze", "systemd-analyze", "verify",
			       "--man=no", sock, svc, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	size_t len = 0;
	ssize_t n;
	while (len + 1 < sizeof(out) &&
	       (n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = 0;
	close(p[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "systemd-analyze %sverify: status %#x:\n%s",
		      user ? "--user " : "", status, out);
	ck_assert_msg(len == 0, "systemd-analyze %sverify complained:\n%s",
		      user ? "--user " : "", out);
}

START_TEST(system_units)
{
	verify("", false);
}
END_TEST

START_TEST(user_units)
{
	verify("user/", true);
}
END_TEST

/* Whether 'prog' is an executable in $PATH. */
static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *dirs = strdup(path ? path : "/usr/bin:/bin");
	bool found = false;
	for (char *d = strtok(dirs, ":"); d && !found; d = strtok(NULL, ":")) {
		char full[PATH_MAX];
		int n = snprintf(full, sizeof(full), "%s/%s", d, prog);
		found = n > 0 && (size_t)n < sizeof(full) && access(full, X_OK) == 0;
	}
	free(dirs);
	return found;
}

int main(void)
{
	if (!in_path("systemd-analyze")) {
		printf("SKIP: systemd-analyze not found in PATH\n");
		return 77;
	}
	Suite *s = suite_create("units");
	TCase *tc = tcase_create("verify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, system_units);
	tcase_add_test(tc, user_units);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
