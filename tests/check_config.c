/* SPDX-License-Identifier: MIT */
/*
 * Configuration tests: gm_config_load() and gm_log() called directly
 * (this program is linked with lib/config.c, not the library). Every
 * case runs in its own process (CK_FORK) with the GROWMAP_* environment
 * cleared and stderr redirected to a file, so that the exact message
 * lines can be compared.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "growmap-internal.h"

#ifndef GROWMAP_SYSCONFDIR
#define GROWMAP_SYSCONFDIR "/etc"
#endif

static const char *const env_vars[] = {
	"GROWMAP_CONFIG", "GROWMAP_BACKEND", "GROWMAP_RESERVE",
	"GROWMAP_WRITEBACK_INTERVAL_MS", "GROWMAP_DIRTY_LIMIT",
	"GROWMAP_FAULT_AROUND", "GROWMAP_QUEUE_DEPTH",
	"GROWMAP_SYNC_ON_CLOSE", "GROWMAP_LOG_LEVEL", "GROWMAP_DAEMON", "GROWMAP_SOCKET",
};

/* Files and directories made here, removed at exit: a failing assertion
 * ends the case's process with exit(), past any teardown. */
static char made[8][PATH_MAX];
static unsigned nmade;

static void remove_made(void)
{
	for (unsigned i = 0; i < nmade; i++)
		if (unlink(made[i]) < 0 && errno == EISDIR)
			rmdir(made[i]);
}

static void remember(const char *path)
{
	ck_assert_uint_lt(nmade, sizeof(made) / sizeof(made[0]));
	if (nmade == 0)
		atexit(remove_made);
	snprintf(made[nmade++], PATH_MAX, "%s", path);
}

/* stderr goes to this (unlinked) file for the whole case. */
static int err_fd = -1;

static void setup(void)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	/* No file unless a case asks for one. */
	setenv("GROWMAP_CONFIG", "", 1);

	char tmpl[] = "/tmp/check_config-stderr-XXXXXX";
	err_fd = mkstemp(tmpl);
	ck_assert_int_ge(err_fd, 0);
	unlink(tmpl);
	ck_assert_int_eq(dup2(err_fd, STDERR_FILENO), STDERR_FILENO);
}

/* Everything written on stderr since the case started or since
 * clear_stderr(). */
static const char *captured(void)
{
	static char buf[16384];
	ssize_t n = pread(err_fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_ge(n, 0);
	buf[n] = 0;
	return buf;
}

static void clear_stderr(void)
{
	ck_assert_int_eq(ftruncate(err_fd, 0), 0);
	ck_assert_int_eq(lseek(STDERR_FILENO, 0, SEEK_SET), 0);
}

/* Writes 'len' bytes of 'text' to a new file, points GROWMAP_CONFIG at
 * it and returns its path. */
static const char *write_conf_len(const char *text, size_t len)
{
	static char path[PATH_MAX];
	snprintf(path, sizeof(path), "/tmp/check_config-XXXXXX.conf");
	int fd = mkstemps(path, 5);
	ck_assert_int_ge(fd, 0);
	remember(path);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	setenv("GROWMAP_CONFIG", path, 1);
	return path;
}

static const char *write_conf(const char *text)
{
	return write_conf_len(text, strlen(text));
}

static int load(struct gm_config *cfg, const struct growmap_options *opts)
{
	memset(cfg, 0xa5, sizeof(*cfg));
	return gm_config_load(cfg, opts);
}

static void assert_defaults(const struct gm_config *c)
{
	ck_assert_int_eq(c->backend, GM_BACKEND_AUTO);
	ck_assert_uint_eq(c->reserve, (size_t)256 << 20);
	ck_assert_uint_eq(c->writeback_interval_ms, 1000);
	ck_assert_uint_eq(c->dirty_limit_pages, 16384);
	ck_assert_uint_eq(c->fault_around_pages, 16);
	ck_assert_uint_eq(c->queue_depth, 64);
	ck_assert(c->sync_on_close);
	ck_assert_int_eq(c->log_level, GM_LOG_WARN);
	ck_assert_int_eq(c->daemon, GM_DAEMON_AUTO);
	ck_assert_str_eq(c->socket, "");
}

START_TEST(defaults_without_file)
{
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), 0);
	assert_defaults(&c);
	ck_assert_str_eq(captured(), "");

	/* Options with every field zero change nothing. */
	struct growmap_options o = { 0 };
	ck_assert_int_eq(load(&c, &o), 0);
	assert_defaults(&c);
	ck_assert_str_eq(captured(), "");
}
END_TEST

/* A missing default file (SYSCONFDIR/growmap.conf) is not an error. */
START_TEST(missing_default_file_is_not_an_error)
{
	const char *def = GROWMAP_SYSCONFDIR "/growmap.conf";
	unsetenv("GROWMAP_CONFIG");
	if (access(def, F_OK) == 0 || errno != ENOENT) {
		fprintf(stdout, "note: %s exists here, not testing its absence\n", def);
		return;
	}
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), 0);
	assert_defaults(&c);
	ck_assert_str_eq(captured(), "");
}
END_TEST

START_TEST(file_sets_every_key)
{
	write_conf("backend = signal\n"
		   "reserve = 1GiB\n"
		   "writeback_interval_ms = 250\n"
		   "dirty_limit = 1000\n"
		   "fault_around = 64\n"
		   "queue_depth = 128\n"
		   "sync_on_close = no\n"
		   "log_level = debug\n"
		   "daemon = required\n"
		   "socket = /run/user/1000/growmap.sock\n");
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), 0);
	ck_assert_int_eq(c.daemon, GM_DAEMON_REQUIRED);
	ck_assert_str_eq(c.socket, "/run/user/1000/growmap.sock");
	ck_assert_int_eq(c.backend, GM_BACKEND_SIGNAL);
	ck_assert_uint_eq(c.reserve, (size_t)1 << 30);
	ck_assert_uint_eq(c.writeback_interval_ms, 250);
	ck_assert_uint_eq(c.dirty_limit_pages, 1000);
	ck_assert_uint_eq(c.fault_around_pages, 64);
	ck_assert_uint_eq(c.queue_depth, 128);
	ck_assert(!c.sync_on_close);
	ck_assert_int_eq(c.log_level, GM_LOG_DEBUG);
	ck_assert_str_eq(captured(), "");

	write_conf("backend = uffd\nlog_level = error\n");
	ck_assert_int_eq(load(&c, NULL), 0);
	ck_assert_int_eq(c.backend, GM_BACKEND_UFFD);
	ck_assert_int_eq(c.log_level, GM_LOG_ERROR);
	ck_assert_uint_eq(c.queue_depth, 64);
}
END_TEST

/* Comments, blank lines, blanks around everything, an inline comment
 * after a blank, CRLF, a last line without newline, a repeated key. */
START_TEST(file_syntax)
{
	write_conf("# growmap test configuration\n"
		   "\n"
		   " \t \n"
		   "   # an indented comment = with an equals sign\n"
		   "reserve=2G\n"
		   "\tqueue_depth\t=\t32\t\n"
		   "fault_around = 8 # eight pages\n"
		   "dirty_limit = 77\t# tab before the comment\n"
		   "writeback_interval_ms = 500\r\n"
		   "queue_depth = 33\n"
		   "log_level = info");
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), 0);
	ck_assert_str_eq(captured(), "");
	ck_assert_uint_eq(c.reserve, (size_t)2 << 30);
	ck_assert_uint_eq(c.queue_depth, 33);
	ck_assert_uint_eq(c.fault_around_pages, 8);
	ck_assert_uint_eq(c.dirty_limit_pages, 77);
	ck_assert_uint_eq(c.writeback_interval_ms, 500);
	ck_assert_int_eq(c.log_level, GM_LOG_INFO);
	ck_assert_int_eq(c.backend, GM_BACKEND_AUTO);
	ck_assert(c.sync_on_close);

	/* An empty file is fine too. */
	write_conf("");
	ck_assert_int_eq(load(&c, NULL), 0);
	assert_defaults(&c);
}
END_TEST

/* defaults < file < environment < options */
START_TEST(precedence)
{
	write_conf("reserve = 1G\n"
		   "queue_depth = 100\n"
		   "backend = uffd\n"
		   "log_level = info\n"
		   "fault_around = 32\n"
		   "sync_on_close = no\n");
	setenv("GROWMAP_RESERVE", "2G", 1);
	setenv("GROWMAP_QUEUE_DEPTH", "200", 1);
	setenv("GROWMAP_BACKEND", "signal", 1);
	setenv("GROWMAP_SYNC_ON_CLOSE", "yes", 1);
	struct growmap_options o = { .queue_depth = 300, .backend = "auto",
				     .sync_on_close = -1 };
	struct gm_config c;
	ck_assert_int_eq(load(&c, &o), 0);
	ck_assert_str_eq(captured(), "");
	ck_assert_uint_eq(c.reserve, (size_t)2 << 30);     /* environment */
	ck_assert_uint_eq(c.queue_depth, 300);             /* options */
	ck_assert_int_eq(c.backend, GM_BACKEND_AUTO);      /* options */
	ck_assert(!c.sync_on_close);                       /* options */
	ck_assert_int_eq(c.log_level, GM_LOG_INFO);        /* file */
	ck_assert_uint_eq(c.fault_around_pages, 32);       /* file */
	ck_assert_uint_eq(c.writeback_interval_ms, 1000);  /* default */

	/* Without the options, the environment wins over the file. */
	ck_assert_int_eq(load(&c, NULL), 0);
	ck_assert_uint_eq(c.queue_depth, 200);
	ck_assert_int_eq(c.backend, GM_BACKEND_SIGNAL);
	ck_assert(c.sync_on_close);

	/* Without the environment either, the file wins over the defaults. */
	unsetenv("GROWMAP_RESERVE");
	unsetenv("GROWMAP_QUEUE_DEPTH");
	unsetenv("GROWMAP_BACKEND");
	unsetenv("GROWMAP_SYNC_ON_CLOSE");
	ck_assert_int_eq(load(&c, NULL), 0);
	ck_assert_uint_eq(c.reserve, (size_t)1 << 30);
	ck_assert_uint_eq(c.queue_depth, 100);
	ck_assert_int_eq(c.backend, GM_BACKEND_UFFD);
	ck_assert(!c.sync_on_close);
}
END_TEST

/* A bad file: contents, the line reported, and the message after
 * "growmap: <file>:<line>: ". */
static const struct {
	const char *text;
	unsigned line;
	const char *message;
} bad_files[] = {
	{ "# c\n\nqueue_depth = 8\nfrobnicate = 1\n", 4, "unknown key 'frobnicate'" },
	{ "dirty_limit_pages = 5\n", 1, "unknown key 'dirty_limit_pages'" },
	{ "bogus =\n", 1, "unknown key 'bogus'" },
	{ "\n\nqueue_depth\n", 3, "expected 'key = value'" },
	{ "= 5\n", 1, "expected 'key = value'" },
	{ "queue depth = 5\n", 1, "expected 'key = value'" },
	{ "reserve: 1G\n", 1, "expected 'key = value'" },
	{ "# x\nreserve =   # nothing\n", 2, "key 'reserve': missing value" },
	{ "log_level=\n", 1, "key 'log_level': missing value" },
	{ "reserve = 1X\n", 1, "key 'reserve': invalid value '1X' "
	  "(expected 1..70368744177664, optional K/M/G/T suffix)" },
	{ "reserve = 1Ki\n", 1, "key 'reserve': invalid value '1Ki' "
	  "(expected 1..70368744177664, optional K/M/G/T suffix)" },
	{ "reserve = 65T\n", 1, "key 'reserve': invalid value '65T' "
	  "(expected 1..70368744177664, optional K/M/G/T suffix)" },
	{ "reserve = 0\n", 1, "key 'reserve': invalid value '0' "
	  "(expected 1..70368744177664, optional K/M/G/T suffix)" },
	{ "reserve = -1\n", 1, "key 'reserve': invalid value '-1' "
	  "(expected 1..70368744177664, optional K/M/G/T suffix)" },
	{ "reserve = 99999999999999999999999\n", 1,
	  "key 'reserve': invalid value '99999999999999999999999' "
	  "(expected 1..70368744177664, optional K/M/G/T suffix)" },
	{ "fault_around = 24\n", 1, "key 'fault_around': invalid value '24' "
	  "(expected a power of two 1..512)" },
	{ "fault_around = 1024\n", 1, "key 'fault_around': invalid value '1024' "
	  "(expected a power of two 1..512)" },
	{ "fault_around = 8K\n", 1, "key 'fault_around': invalid value '8K' "
	  "(expected a power of two 1..512)" },
	{ "queue_depth = 4097\n", 1, "key 'queue_depth': invalid value '4097' "
	  "(expected 1..4096)" },
	{ "queue_depth = 0x10\n", 1, "key 'queue_depth': invalid value '0x10' "
	  "(expected 1..4096)" },
	{ "queue_depth = 1 6\n", 1, "key 'queue_depth': invalid value '1 6' "
	  "(expected 1..4096)" },
	{ "writeback_interval_ms = 3600001\n", 1, "key 'writeback_interval_ms': "
	  "invalid value '3600001' (expected 1..3600000)" },
	{ "dirty_limit = 17179869185\n", 1, "key 'dirty_limit': invalid value "
	  "'17179869185' (expected 1..17179869184)" },
	{ "sync_on_close = maybe\n", 1, "key 'sync_on_close': invalid value "
	  "'maybe' (expected yes, no, true, false, on, off, 1 or 0)" },
	{ "sync_on_close = Yes\n", 1, "key 'sync_on_close': invalid value "
	  "'Yes' (expected yes, no, true, false, on, off, 1 or 0)" },
	{ "log_level = verbose\n", 1, "key 'log_level': invalid value 'verbose' "
	  "(expected error, warn, info or debug)" },
	{ "backend = kernel\n", 1, "key 'backend': invalid value 'kernel' "
	  "(expected auto, uffd or signal)" },
	{ "backend = signal#x\n", 1, "key 'backend': invalid value 'signal#x' "
	  "(expected auto, uffd or signal)" },
	{ "daemon = yes\n", 1, "key 'daemon': invalid value 'yes' "
	  "(expected off, auto or required)" },
	{ "socket = growmap.sock\n", 1, "key 'socket': invalid value 'growmap.sock' "
	  "(expected an absolute path shorter than 108 bytes)" },
	{ "socket = /run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  1, "key 'socket': invalid value '/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' "
	  "(expected an absolute path shorter than 108 bytes)" },
	/* The first bad line is reported, even with a later bad one. */
	{ "queue_depth = 8\nqueue_depth = 9999\nfoo = 1\n", 2,
	  "key 'queue_depth': invalid value '9999' (expected 1..4096)" },
};

START_TEST(bad_file_is_refused)
{
	const char *path = write_conf(bad_files[_i].text);
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), -EINVAL);
	char want[PATH_MAX + 256];
	snprintf(want, sizeof(want), "growmap: %s:%u: %s\n", path,
		 bad_files[_i].line, bad_files[_i].message);
	ck_assert_str_eq(captured(), want);
}
END_TEST

START_TEST(long_line_is_refused)
{
	static char text[2100];
	/* 1023 characters are fine, 1024 are not. */
	memset(text, ' ', 1023);
	memcpy(text + 1023 - 14, "queue_depth=99", 14);
	strcpy(text + 1023, "\n");
	write_conf(text);
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), 0);
	ck_assert_uint_eq(c.queue_depth, 99);

	strcpy(text, "queue_depth = 5\n# ");
	memset(text + 18, 'x', 1022);
	strcpy(text + 1024 + 16, "\n");
	const char *path = write_conf(text);
	ck_assert_int_eq(load(&c, NULL), -EINVAL);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want),
		 "growmap: %s:2: line longer than 1023 characters\n", path);
	ck_assert_str_eq(captured(), want);
}
END_TEST

/* A NUL byte would otherwise hide the rest of its line. */
START_TEST(nul_byte_is_refused)
{
	static const char text[] = "queue_depth = 8\nqueue_depth = 9\0 junk\n";
	const char *path = write_conf_len(text, sizeof(text) - 1);
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), -EINVAL);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want),
		 "growmap: %s:2: line contains a NUL byte\n", path);
	ck_assert_str_eq(captured(), want);
}
END_TEST

START_TEST(config_file_missing_is_enoent)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/tmp/check_config-missing-%ld/growmap.conf",
		 (long)getpid());
	setenv("GROWMAP_CONFIG", path, 1);
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), -ENOENT);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want), "growmap: cannot read configuration file "
		 "%s: No such file or directory\n", path);
	ck_assert_str_eq(captured(), want);
}
END_TEST

START_TEST(config_file_directory_is_eisdir)
{
	char dir[] = "/tmp/check_config-dir-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	remember(dir);
	setenv("GROWMAP_CONFIG", dir, 1);
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), -EISDIR);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want), "growmap: cannot read configuration file "
		 "%s: Is a directory\n", dir);
	ck_assert_str_eq(captured(), want);
}
END_TEST

/* A file the process may not read: -EACCES. Root reads anything, so as
 * root the load runs in a child that has dropped to nobody. */
START_TEST(config_file_unreadable_is_eacces)
{
	const char *path = write_conf("queue_depth = 8\n");
	ck_assert_int_eq(chmod(path, 0), 0);
	struct gm_config c;
	if (geteuid() != 0) {
		if (access(path, R_OK) == 0) {
			fprintf(stdout, "note: can read a mode 000 file, "
				"not testing EACCES\n");
			return;
		}
		ck_assert_int_eq(load(&c, NULL), -EACCES);
	} else {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
			    setuid(65534) < 0)
				_exit(77);
			_exit(load(&c, NULL) == -EACCES ? 0 : 1);
		}
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status));
		if (WEXITSTATUS(status) == 77) {
			fprintf(stdout, "note: cannot drop privileges, "
				"not testing EACCES\n");
			return;
		}
		ck_assert_int_eq(WEXITSTATUS(status), 0);
	}
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want), "growmap: cannot read configuration file "
		 "%s: Permission denied\n", path);
	ck_assert_str_eq(captured(), want);
}
END_TEST

START_TEST(environment_sets_every_key)
{
	setenv("GROWMAP_BACKEND", "uffd", 1);
	setenv("GROWMAP_RESERVE", "3M", 1);
	setenv("GROWMAP_WRITEBACK_INTERVAL_MS", "3600000", 1);
	setenv("GROWMAP_DIRTY_LIMIT", "17179869184", 1);
	setenv("GROWMAP_FAULT_AROUND", "512", 1);
	setenv("GROWMAP_QUEUE_DEPTH", "1", 1);
	setenv("GROWMAP_SYNC_ON_CLOSE", "off", 1);
	setenv("GROWMAP_LOG_LEVEL", "error", 1);
	setenv("GROWMAP_DAEMON", "off", 1);
	setenv("GROWMAP_SOCKET", "/tmp/g.sock", 1);
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), 0);
	ck_assert_str_eq(captured(), "");
	ck_assert_int_eq(c.daemon, GM_DAEMON_OFF);
	ck_assert_str_eq(c.socket, "/tmp/g.sock");
	ck_assert_int_eq(c.backend, GM_BACKEND_UFFD);
	ck_assert_uint_eq(c.reserve, (size_t)3 << 20);
	ck_assert_uint_eq(c.writeback_interval_ms, 3600000);
	ck_assert_uint_eq(c.dirty_limit_pages, (size_t)1 << 34);
	ck_assert_uint_eq(c.fault_around_pages, 512);
	ck_assert_uint_eq(c.queue_depth, 1);
	ck_assert(!c.sync_on_close);
	ck_assert_int_eq(c.log_level, GM_LOG_ERROR);
}
END_TEST

static const struct {
	const char *text;
	size_t bytes;
} sizes[] = {
	{ "1", 1 }, { "4096", 4096 }, { "1K", 1024 }, { "1k", 1024 },
	{ "1KiB", 1024 }, { "1KB", 1024 }, { "3M", 3 << 20 },
	{ "2g", (size_t)2 << 30 }, { "2GiB", (size_t)2 << 30 },
	{ "64T", (size_t)1 << 46 }, { "64TiB", (size_t)1 << 46 },
	{ "70368744177664", (size_t)1 << 46 },
};

START_TEST(size_suffixes)
{
	setenv("GROWMAP_RESERVE", sizes[_i].text, 1);
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), 0);
	ck_assert_uint_eq(c.reserve, sizes[_i].bytes);
}
END_TEST

static const struct {
	const char *text;
	bool value;
} bools[] = {
	{ "yes", true }, { "true", true }, { "1", true }, { "on", true },
	{ "no", false }, { "false", false }, { "0", false }, { "off", false },
};

/* Each word against a file saying the opposite, so each can fail. */
START_TEST(bool_words)
{
	write_conf(bools[_i].value ? "sync_on_close = no\n" : "sync_on_close = yes\n");
	setenv("GROWMAP_SYNC_ON_CLOSE", bools[_i].text, 1);
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), 0);
	ck_assert_int_eq(c.sync_on_close, bools[_i].value);
}
END_TEST

START_TEST(log_level_words)
{
	static const char *const words[] = { "error", "warn", "info", "debug" };
	struct gm_config c;
	for (int i = 0; i < 4; i++) {
		/* The file says something else each time. */
		write_conf(i == 3 ? "log_level = error\n" : "log_level = debug\n");
		setenv("GROWMAP_LOG_LEVEL", words[i], 1);
		ck_assert_int_eq(load(&c, NULL), 0);
		ck_assert_int_eq(c.log_level, GM_LOG_ERROR + i);
	}
}
END_TEST

static const struct {
	const char *var, *value, *expected;
} bad_env[] = {
	{ "GROWMAP_BACKEND", "fast", "auto, uffd or signal" },
	{ "GROWMAP_BACKEND", "", "auto, uffd or signal" },
	{ "GROWMAP_RESERVE", "1Q", "1..70368744177664, optional K/M/G/T suffix" },
	{ "GROWMAP_RESERVE", " 1G", "1..70368744177664, optional K/M/G/T suffix" },
	{ "GROWMAP_RESERVE", "65TiB", "1..70368744177664, optional K/M/G/T suffix" },
	{ "GROWMAP_WRITEBACK_INTERVAL_MS", "0", "1..3600000" },
	{ "GROWMAP_DIRTY_LIMIT", "-5", "1..17179869184" },
	{ "GROWMAP_FAULT_AROUND", "3", "a power of two 1..512" },
	{ "GROWMAP_QUEUE_DEPTH", "5000", "1..4096" },
	{ "GROWMAP_SYNC_ON_CLOSE", "nah", "yes, no, true, false, on, off, 1 or 0" },
	{ "GROWMAP_LOG_LEVEL", "trace", "error, warn, info or debug" },
	{ "GROWMAP_DAEMON", "on", "off, auto or required" },
	{ "GROWMAP_SOCKET", "", "an absolute path shorter than 108 bytes" },
};

START_TEST(bad_environment_is_refused)
{
	setenv(bad_env[_i].var, bad_env[_i].value, 1);
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), -EINVAL);
	char want[512];
	snprintf(want, sizeof(want), "growmap: environment variable %s: "
		 "invalid value '%s' (expected %s)\n", bad_env[_i].var,
		 bad_env[_i].value, bad_env[_i].expected);
	ck_assert_str_eq(captured(), want);
}
END_TEST

/* A bad file is reported before the environment is looked at. */
START_TEST(file_error_comes_first)
{
	const char *path = write_conf("nope = 1\n");
	setenv("GROWMAP_QUEUE_DEPTH", "0", 1);
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), -EINVAL);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "growmap: %s:1: unknown key 'nope'\n", path);
	ck_assert_str_eq(captured(), want);
}
END_TEST

START_TEST(options_set_every_field)
{
	struct growmap_options o = {
		.backend = "signal",
		.reserve = GM_RESERVE_MAX,
		.writeback_interval_ms = 3600000,
		.dirty_limit_pages = (size_t)1 << 34,
		.fault_around_pages = 1,
		.queue_depth = 4096,
		.sync_on_close = -1,
		.log_level = 4,
	};
	struct gm_config c;
	ck_assert_int_eq(load(&c, &o), 0);
	ck_assert_str_eq(captured(), "");
	ck_assert_int_eq(c.backend, GM_BACKEND_SIGNAL);
	ck_assert_uint_eq(c.reserve, (size_t)1 << 46);
	ck_assert_uint_eq(c.writeback_interval_ms, 3600000);
	ck_assert_uint_eq(c.dirty_limit_pages, (size_t)1 << 34);
	ck_assert_uint_eq(c.fault_around_pages, 1);
	ck_assert_uint_eq(c.queue_depth, 4096);
	ck_assert(!c.sync_on_close);
	ck_assert_int_eq(c.log_level, GM_LOG_DEBUG);

	/* The other values of the int fields, against a file saying the
	 * opposite. */
	write_conf("sync_on_close = no\nlog_level = debug\nbackend = signal\n");
	o = (struct growmap_options){ .sync_on_close = 1, .log_level = 1,
				      .backend = "uffd" };
	ck_assert_int_eq(load(&c, &o), 0);
	ck_assert(c.sync_on_close);
	ck_assert_int_eq(c.log_level, GM_LOG_ERROR);
	ck_assert_int_eq(c.backend, GM_BACKEND_UFFD);
	o = (struct growmap_options){ .log_level = 2 };
	ck_assert_int_eq(load(&c, &o), 0);
	ck_assert_int_eq(c.log_level, GM_LOG_WARN);
	o = (struct growmap_options){ .log_level = 3 };
	ck_assert_int_eq(load(&c, &o), 0);
	ck_assert_int_eq(c.log_level, GM_LOG_INFO);
	ck_assert(!c.sync_on_close);
}
END_TEST

static const struct {
	struct growmap_options opts;
	const char *message;
} bad_opts[] = {
	{ { .backend = "fast" },
	  "option backend: invalid value 'fast' (expected auto, uffd or signal)" },
	{ { .backend = "" },
	  "option backend: invalid value '' (expected auto, uffd or signal)" },
	{ { .reserve = GM_RESERVE_MAX + 1 }, "option reserve: invalid value "
	  "70368744177665 (expected 1..70368744177664, or 0)" },
	{ { .writeback_interval_ms = 3600001 }, "option writeback_interval_ms: "
	  "invalid value 3600001 (expected 1..3600000, or 0)" },
	{ { .dirty_limit_pages = ((size_t)1 << 34) + 1 }, "option dirty_limit_pages: "
	  "invalid value 17179869185 (expected 1..17179869184, or 0)" },
	{ { .fault_around_pages = 48 }, "option fault_around_pages: invalid value "
	  "48 (expected a power of two 1..512, or 0)" },
	{ { .fault_around_pages = 1024 }, "option fault_around_pages: invalid value "
	  "1024 (expected a power of two 1..512, or 0)" },
	{ { .queue_depth = 4097 }, "option queue_depth: invalid value 4097 "
	  "(expected 1..4096, or 0)" },
	{ { .sync_on_close = 2 }, "option sync_on_close: invalid value 2 "
	  "(expected 1, -1 or 0)" },
	{ { .log_level = 5 }, "option log_level: invalid value 5 (expected 0..4)" },
	{ { .log_level = -1 }, "option log_level: invalid value -1 (expected 0..4)" },
	{ { .reserved[0] = 1 }, "option reserved[0]: invalid value 1 (expected 0)" },
	{ { .reserved[7] = 1ULL << 63 }, "option reserved[7]: invalid value "
	  "9223372036854775808 (expected 0)" },
};

START_TEST(bad_options_are_refused)
{
	struct gm_config c;
	ck_assert_int_eq(load(&c, &bad_opts[_i].opts), -EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "growmap: %s\n", bad_opts[_i].message);
	ck_assert_str_eq(captured(), want);
}
END_TEST

START_TEST(log_levels_and_format)
{
	struct gm_config c;
	ck_assert_int_eq(load(&c, NULL), 0);  /* log_level warn */

	errno = EXDEV;
	gm_log(&c, GM_LOG_INFO, "not shown %d", 1);
	gm_log(&c, GM_LOG_DEBUG, "not shown %d", 2);
	gm_log(&c, GM_LOG_WARN, "shown %d", 3);
	gm_log(&c, GM_LOG_ERROR, "shown %s", "four");
	gm_log(NULL, GM_LOG_WARN, "not shown %d", 5);
	gm_log(NULL, GM_LOG_ERROR, "shown %d", 6);
	ck_assert_int_eq(errno, EXDEV);
	ck_assert_str_eq(captured(), "growmap: shown 3\ngrowmap: shown four\n"
			 "growmap: shown 6\n");

	clear_stderr();
	c.log_level = GM_LOG_DEBUG;
	gm_log(&c, GM_LOG_DEBUG, "debug");
	c.log_level = GM_LOG_ERROR;
	gm_log(&c, GM_LOG_WARN, "warn");
	ck_assert_str_eq(captured(), "growmap: debug\n");

	/* A line longer than any internal buffer comes out whole. */
	clear_stderr();
	static char big[3001], want[3100];
	memset(big, 'y', 3000);
	gm_log(NULL, GM_LOG_ERROR, "%s!", big);
	snprintf(want, sizeof(want), "growmap: %s!\n", big);
	ck_assert_str_eq(captured(), want);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	struct {
		const char *name;
		const TTest *test;
		int loops;
	} cases[] = {
#define CASE(fn, n) { #fn, fn, n }
#define COUNT(a) (int)(sizeof(a) / sizeof(a[0]))
		CASE(defaults_without_file, 1),
		CASE(missing_default_file_is_not_an_error, 1),
		CASE(file_sets_every_key, 1),
		CASE(file_syntax, 1),
		CASE(precedence, 1),
		CASE(bad_file_is_refused, COUNT(bad_files)),
		CASE(long_line_is_refused, 1),
		CASE(nul_byte_is_refused, 1),
		CASE(config_file_missing_is_enoent, 1),
		CASE(config_file_directory_is_eisdir, 1),
		CASE(config_file_unreadable_is_eacces, 1),
		CASE(environment_sets_every_key, 1),
		CASE(size_suffixes, COUNT(sizes)),
		CASE(bool_words, COUNT(bools)),
		CASE(log_level_words, 1),
		CASE(bad_environment_is_refused, COUNT(bad_env)),
		CASE(file_error_comes_first, 1),
		CASE(options_set_every_field, 1),
		CASE(bad_options_are_refused, COUNT(bad_opts)),
		CASE(log_levels_and_format, 1),
#undef COUNT
#undef CASE
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, NULL);
		tcase_add_loop_test(tc, cases[i].test, 0, cases[i].loops);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
