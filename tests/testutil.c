/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "testutil.h"
#include "cachestat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

size_t page_size;
const char *tu_backend;
bool tu_through_daemon;

__attribute__((constructor)) static void tu_init_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	if (ps <= 0)
		abort();
	page_size = (size_t)ps;
}

bool tu_backend_is(const char *name)
{
	return tu_backend && strcmp(tu_backend, name) == 0;
}

void tu_select_backend(void)
{
	if (!tu_backend) {
		fprintf(stderr, "no backend under test chosen\n");
		abort();
	}
	setenv("GROWMAP_BACKEND", tu_backend, 1);
	/* Alone, whatever daemon this machine runs, unless this program
	 * started its own (tu_start_daemon, which says "required"). */
	if (!tu_through_daemon)
		setenv("GROWMAP_DAEMON", "off", 1);
}

/* Files made by tu_tmpfile(), removed when the process exits: a failing
 * Check assertion ends the case's process with exit(), past any teardown. */
static char tu_paths[16][PATH_MAX];
static int tu_npaths;

static void tu_remove_files(void)
{
	for (int i = 0; i < tu_npaths; i++)
		unlink(tu_paths[i]);
}

int tu_tmpfile(char *path)
{
	const char *dir = getenv("GROWMAP_TEST_DIR");
	if (!dir)
		dir = getenv("TMPDIR");
	if (!dir)
		dir = "/var/tmp";
	snprintf(path, PATH_MAX, "%s/growmap-test-XXXXXX", dir);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		perror(path);
		abort();
	}
	if (tu_npaths == 0)
		atexit(tu_remove_files);
	if (tu_npaths < 16)
		strcpy(tu_paths[tu_npaths++], path);
	return fd;
}

void tu_require_backend(void)
{
	tu_select_backend();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char path[PATH_MAX];
		int fd = tu_tmpfile(path);
		struct growmap *gm;
		int r = growmap_open(&gm, fd, 1 << 20, 0);
		if (r == -EPERM || r == -EOPNOTSUPP || r == -ENOSYS) {
			printf("SKIP: backend %s unavailable here: %s\n", tu_backend, strerror(-r));
			exit(77);
		}
		if (r < 0) {
			printf("FAIL: growmap_open with backend %s: %s\n", tu_backend, strerror(-r));
			exit(1);
		}
		printf("backend %s: %s\n", growmap_backend(gm), growmap_backend_reason(gm));
		exit(growmap_close(gm) == 0 ? 0 : 1);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		exit(1);
	if (WEXITSTATUS(status))
		exit(WEXITSTATUS(status));
}

bool tu_kernel_access(const struct growmap *gm)
{
	return strcmp(growmap_backend(gm), "signal") != 0 &&
	       !strstr(growmap_backend_reason(gm), "user-mode only");
}

off_t tu_file_size(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		abort();
	return st.st_size;
}

bool tu_has_extent_map(int fd)
{
	struct fiemap fm = { .fm_start = 0, .fm_length = FIEMAP_MAX_OFFSET };
	return ioctl(fd, FS_IOC_FIEMAP, &fm) == 0;
}

off_t tu_wait_for_size(int fd, off_t size, int ms)
{
	off_t now = tu_file_size(fd);
	for (int i = 0; i < ms && now != size; i++) {
		usleep(1000);
		now = tu_file_size(fd);
	}
	return now;
}

long long tu_dirty_pages(int fd)
{
	struct gm_cachestat cs;
	return gm_cachestat(fd, &cs) < 0 ? -1 : (long long)(cs.dirty + cs.writeback);
}

void tu_fill_page(unsigned char *page, uint32_t seed, size_t page_index)
{
	for (size_t i = 0; i < page_size; i++)
		page[i] = tu_pattern(seed, page_index * page_size + i);
}

long long tu_verify_file(int fd, const uint32_t *seeds, size_t npages,
			 off_t expected_size)
{
	unsigned char buf[page_size];
	off_t size = tu_file_size(fd);
	for (size_t p = 0; p < npages && (off_t)(p * page_size) < size; p++) {
		ssize_t n = pread(fd, buf, page_size, (off_t)(p * page_size));
		if (n < 0)
			return (long long)(p * page_size);
		for (ssize_t i = 0; i < n; i++) {
			size_t at = p * page_size + (size_t)i;
			unsigned char want = seeds[p] ? tu_pattern(seeds[p], at) : 0;
			if (buf[i] != want)
				return (long long)(p * page_size) + i;
		}
	}
	if (size != expected_size)
		return (long long)size;
	return -1;
}

static __thread sigjmp_buf tu_jump;
static __thread volatile int tu_armed;
static __thread volatile int tu_signo, tu_code;
static __thread void *volatile tu_addr;

static void tu_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!tu_armed) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	tu_signo = sig;
	tu_code = si->si_code;
	tu_addr = si->si_addr;
	siglongjmp(tu_jump, 1);
}

void tu_install_catchers(void)
{
	struct sigaction sa = { .sa_sigaction = tu_handler, .sa_flags = SA_SIGINFO | SA_NODEFER };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

int tu_catch_signal(void (*fn)(void *), void *arg, void **addr, int *code)
{
	tu_signo = 0;
	if (sigsetjmp(tu_jump, 1) == 0) {
		tu_armed = 1;
		fn(arg);
	}
	tu_armed = 0;
	if (addr)
		*addr = tu_addr;
	if (code)
		*code = tu_code;
	return tu_signo;
}

void tu_store(void *access)
{
	struct tu_access *a = access;
	*a->p = a->value;
}

void tu_load(void *access)
{
	struct tu_access *a = access;
	a->value = *a->p;
}

#ifdef GROWMAPD_PROG
#include <sys/socket.h>
#include <sys/un.h>

static char tu_sock_dir[PATH_MAX], tu_sock_path[PATH_MAX];

static bool tu_socket_answers(const char *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p) >= sizeof(sa.sun_path))
		return false;   /* too long to connect to */
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

pid_t tu_start_daemon(void)
{
	if (!tu_sock_dir[0]) {
		snprintf(tu_sock_dir, sizeof(tu_sock_dir), "/tmp/growmapd-test-XXXXXX");
		if (!mkdtemp(tu_sock_dir)) {
			perror("mkdtemp");
			abort();
		}
		if ((size_t)snprintf(tu_sock_path, sizeof(tu_sock_path), "%s/growmapd.sock",
				     tu_sock_dir) >= sizeof(tu_sock_path))
			abort();   /* a mkdtemp() name in /tmp always fits */
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		abort();
	}
	if (pid == 0) {
		execl(GROWMAPD_PROG, "growmapd", "--socket", tu_sock_path, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !tu_socket_answers(tu_sock_path); i++) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "growmapd exited at start, status %#x\n", status);
			abort();
		}
		usleep(10000);
	}
	if (!tu_socket_answers(tu_sock_path)) {
		fprintf(stderr, "growmapd never answered on %s\n", tu_sock_path);
		abort();
	}
	setenv("GROWMAP_SOCKET", tu_sock_path, 1);
	setenv("GROWMAP_DAEMON", "required", 1);
	return pid;
}

int tu_stop_daemon(pid_t pid)
{
	int status;
	kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "growmapd ended with status %#x\n", status);
		return -1;
	}
	if (access(tu_sock_path, F_OK) == 0) {
		fprintf(stderr, "growmapd left its socket %s\n", tu_sock_path);
		return -1;
	}
	rmdir(tu_sock_dir);
	return 0;
}
#endif
