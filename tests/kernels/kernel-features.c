/* SPDX-License-Identifier: MIT */
/*
 * kernel-features: what this kernel offers of what growmap uses, one
 * "key: value" line each. make check-kernels runs it inside the VM and on
 * the host and prints both; it tests nothing and always exits 0.
 *
 *   kernel-features
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

/* UFFDIO_API feature bits by name, as Linux 6.18 numbers them (Debian
 * 12's headers stop before the newer ones). */
static const char *const feature_names[] = {
	"PAGEFAULT_FLAG_WP", "EVENT_FORK", "EVENT_REMAP", "EVENT_REMOVE",
	"MISSING_HUGETLBFS", "MISSING_SHMEM", "EVENT_UNMAP", "SIGBUS",
	"THREAD_ID", "MINOR_HUGETLBFS", "MINOR_SHMEM", "EXACT_ADDRESS",
	"WP_HUGETLBFS_SHMEM", "WP_UNPOPULATED", "POISON", "WP_ASYNC", "MOVE",
};
enum { NFEATURES = sizeof(feature_names) / sizeof(feature_names[0]) };

/* The ioctls UFFDIO_API and UFFDIO_REGISTER report, by _IOC_NR. */
static const struct {
	unsigned nr;
	const char *name;
} ioctl_names[] = {
	{ 0x00, "REGISTER" }, { 0x01, "UNREGISTER" }, { 0x02, "WAKE" },
	{ 0x03, "COPY" }, { 0x04, "ZEROPAGE" }, { 0x05, "MOVE" },
	{ 0x06, "WRITEPROTECT" }, { 0x07, "CONTINUE" }, { 0x08, "POISON" },
	{ 0x3F, "API" },
};

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
#ifndef PAGEMAP_SCAN
#define PAGEMAP_SCAN _IOWR('f', 16, char[96])
#endif

static void print_ioctls(const char *key, uint64_t mask)
{
	printf("%s: 0x%llx", key, (unsigned long long)mask);
	for (size_t i = 0; i < sizeof(ioctl_names) / sizeof(ioctl_names[0]); i++)
		if (mask & (1ULL << ioctl_names[i].nr))
			printf(" %s", ioctl_names[i].name);
	printf("\n");
}

/* Opens a userfaultfd: the system call, else /dev/userfaultfd. */
static int open_uffd(const char **how)
{
	int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	*how = "userfaultfd(2)";
	if (fd >= 0)
		return fd;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	*how = "/dev/userfaultfd";
	if (dev < 0)
		return -1;
	fd = ioctl(dev, _IO(0xAA, 0x00), O_CLOEXEC | O_NONBLOCK); /* USERFAULTFD_IOC_NEW */
	close(dev);
	return fd;
}

static void userfaultfd_features(void)
{
	const char *how;
	int fd = open_uffd(&how);
	if (fd < 0) {
		printf("userfaultfd: unavailable (%s)\n", strerror(errno));
		return;
	}
	printf("userfaultfd: %s\n", how);
	/* Asking for no feature makes the kernel say which it has. */
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		printf("uffdio_api: refused (%s)\n", strerror(errno));
		close(fd);
		return;
	}
	printf("uffdio_api_features: 0x%llx", (unsigned long long)api.features);
	for (int i = 0; i < 64; i++)
		if (api.features & (1ULL << i))
			printf(" %s", i < NFEATURES ? feature_names[i] : "?");
	printf("\n");
	print_ioctls("uffdio_api_ioctls", api.ioctls);

	/* What registering anonymous memory gives, missing-page faults with
	 * write-protect and without. */
	size_t len = 1 << 20;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		printf("register: mmap failed (%s)\n", strerror(errno));
		close(fd);
		return;
	}
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)p, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};
	if (ioctl(fd, UFFDIO_REGISTER, &reg) == 0) {
		print_ioctls("register_anon_missing_wp", reg.ioctls);
		struct uffdio_range r = { .start = (uintptr_t)p, .len = len };
		ioctl(fd, UFFDIO_UNREGISTER, &r);
	} else {
		printf("register_anon_missing_wp: refused (%s)\n", strerror(errno));
	}
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(fd, UFFDIO_REGISTER, &reg) == 0)
		print_ioctls("register_anon_missing", reg.ioctls);
	else
		printf("register_anon_missing: refused (%s)\n", strerror(errno));
	munmap(p, len);
	close(fd);
}

int main(void)
{
	struct utsname u;
	if (uname(&u) == 0)
		printf("kernel: %s %s\n", u.release, u.machine);
	userfaultfd_features();

	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
	int unpriv = -1;
	if (f) {
		if (fscanf(f, "%d", &unpriv) != 1)
			unpriv = -1;
		fclose(f);
	}
	printf("vm.unprivileged_userfaultfd: %d\n", unpriv);

	/* io_uring: io_uring_setup(2) with one entry and nothing else. */
	char params[120] = { 0 };
	int ring = (int)syscall(__NR_io_uring_setup, 1, params);
	printf("io_uring: %s\n", ring >= 0 ? "yes" : strerror(errno));
	if (ring >= 0)
		close(ring);

	/* cachestat(2) (6.5): a null range of a file is enough to ask. */
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	long r = syscall(__NR_cachestat, fd, NULL, NULL, 0);
	printf("cachestat: %s\n", r == 0 || errno == EFAULT || errno == EINVAL ? "yes" : strerror(errno));
	close(fd);

	/* PAGEMAP_SCAN (6.7): a zeroed argument is refused with EINVAL
	 * where the ioctl exists, ENOTTY where it does not. */
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	char arg[96] = { 0 };
	r = fd < 0 ? -1 : ioctl(fd, PAGEMAP_SCAN, arg);
	printf("pagemap_scan: %s\n", r == 0 || errno == EINVAL ? "yes" : strerror(errno));
	if (fd >= 0)
		close(fd);
	return 0;
}
