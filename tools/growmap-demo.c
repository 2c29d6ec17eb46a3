/* SPDX-License-Identifier: MIT */
/*
 * growmap-demo: attach a new file, store through the mapping at scattered
 * offsets and in one sequential run, sync, and show what reached the file
 * and what the library counted. Verifies the file's bytes before it says so.
 *
 * usage: growmap-demo [FILE]   (default: a temporary file, removed after)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <growmap.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "growmap-demo: %s: %s\n", what, strerror(-err));
	return 1;
}

int main(int argc, char **argv)
{
	char path[] = "/tmp/growmap-demo-XXXXXX";
	const char *file = argc > 1 ? argv[1] : path;
	int fd = argc > 1 ? open(file, O_RDWR | O_CREAT | O_TRUNC, 0644) : mkstemp(path);
	if (fd < 0)
		return fail(file, -errno);

	struct growmap *gm;
	int r = growmap_open(&gm, fd, 0, 0);
	if (r < 0) {
		if (argc == 1)
			unlink(path);
		return fail("growmap_open", r);
	}
	char *p = growmap_addr(gm);
	printf("attached %s (empty) at %p, 256 MiB reserved\n  backend %s\n", file,
	       (void *)p, growmap_backend_reason(gm));

	const size_t offsets[] = { 90000, 5, 1 << 20, 200 << 20 };
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		snprintf(p + offsets[i], 32, "store #%zu", i);
		printf("  stored \"store #%zu\" at offset %zu\n", i, offsets[i]);
	}
	size_t seq = 64 << 20;
	double t0 = now();
	for (size_t off = 0; off < seq; off += 4096)
		p[(8 << 20) + off] = (char)(off >> 12);
	double t1 = now();
	if ((r = growmap_sync(gm)) < 0)
		return fail("growmap_sync", r);
	double t2 = now();
	printf("  filled 64 MiB sequentially at offset 8 MiB: %.0f MB/s, sync %.1f ms\n",
	       seq / (t1 - t0) / 1e6, (t2 - t1) * 1e3);

	struct stat st;
	fstat(fd, &st);
	printf("after sync: file size %lld bytes (highest store's page ends at %zu), "
	       "%lld KiB on disk\n", (long long)st.st_size,
	       ((200 << 20) / 4096 + 1) * (size_t)4096, (long long)st.st_blocks / 2);

	struct growmap_stats s;
	growmap_stats(gm, &s);
	printf("counters: faults %llu, pages populated %llu, pages written %llu, "
	       "write batches %llu, bytes written %llu, syncs %llu, errors %llu\n",
	       (unsigned long long)s.faults, (unsigned long long)s.pages_populated,
	       (unsigned long long)s.pages_written, (unsigned long long)s.write_batches,
	       (unsigned long long)s.bytes_written, (unsigned long long)s.syncs,
	       (unsigned long long)s.writeback_errors);

	if ((r = growmap_close(gm)) < 0)
		return fail("growmap_close", r);

	/* Check the file itself, not the mapping. */
	char buf[32];
	int bad = 0;
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		char want[32];
		snprintf(want, sizeof(want), "store #%zu", i);
		if (pread(fd, buf, strlen(want), (off_t)offsets[i]) != (ssize_t)strlen(want) ||
		    memcmp(buf, want, strlen(want)))
			bad++;
	}
	for (size_t off = 0; off < seq; off += 4096) {
		char c;
		if (pread(fd, &c, 1, (off_t)((8 << 20) + off)) != 1 || c != (char)(off >> 12))
			bad++;
	}
	printf("closed; read back through read(2): %s\n", bad ? "MISMATCH" : "all bytes match");
	close(fd);
	if (argc == 1)
		unlink(path);
	return bad ? 1 : 0;
}
