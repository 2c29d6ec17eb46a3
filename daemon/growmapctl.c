/* SPDX-License-Identifier: MIT */
/*
 * growmapctl: asks growmapd what it holds (STATUS, lib/proto.h) and
 * prints it as text or JSON. See growmapctl(8).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "sockpath.h"

#define PROG "growmapctl"

/* How long the daemon may take to answer before it counts as unreachable. */
#define TIMEOUT_MS 5000

static void usage(FILE *out)
{
	fprintf(out, "usage: " PROG " [--socket PATH] status [--json]\n");
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly len bytes before the deadline; 0 or a negative errno. */
static int read_full(int fd, void *buf, size_t len, int64_t deadline)
{
	size_t done = 0;
	while (done < len) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

/* The STATUS records, read from the daemon at 'path'. Returns the count
 * of records in *recs, or exits 1 with a message. */
static size_t fetch_status(const char *path, struct gmd_msg **recs)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, PROG ": socket path too long: %s\n", path);
		exit(1);
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, PROG ": cannot reach growmapd at %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	struct gmd_msg m = { .magic = GMD_MAGIC, .type = GMD_STATUS };
	if (send(fd, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m)) {
		fprintf(stderr, PROG ": cannot send to growmapd at %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	int64_t deadline = now_ms() + TIMEOUT_MS;
	int r = read_full(fd, &m, sizeof(m), deadline);
	if (r == 0 && (m.magic != GMD_MAGIC || m.type != (GMD_STATUS | GMD_REPLY)))
		r = -EPROTO;
	if (r == 0 && m.status < 0)
		r = m.status;
	if (r < 0) {
		fprintf(stderr, PROG ": no status from growmapd at %s: %s\n", path,
			strerror(-r));
		exit(1);
	}
	*recs = calloc(m.count ? m.count : 1, sizeof(**recs));
	if (!*recs) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	r = read_full(fd, *recs, m.count * sizeof(**recs), deadline);
	if (r < 0) {
		fprintf(stderr, PROG ": status from growmapd at %s cut short: %s\n",
			path, strerror(-r));
		exit(1);
	}
	close(fd);
	return m.count;
}

/* The FILE record a CLIENT record points to, or NULL. */
static const struct gmd_msg *file_of(const struct gmd_msg *recs, size_t n,
				     uint64_t index)
{
	for (size_t i = 0; i < n; i++)
		if (recs[i].type == GMD_REC_FILE && index-- == 0)
			return &recs[i];
	return NULL;
}

/* The WRITEBACK record that follows FILE record i, or zeros. */
static struct gmd_msg writeback_of(const struct gmd_msg *recs, size_t n, size_t i)
{
	if (i + 1 < n && recs[i + 1].type == GMD_REC_WRITEBACK)
		return recs[i + 1];
	return (struct gmd_msg){ .type = GMD_REC_WRITEBACK };
}

static void print_text(const struct gmd_msg *recs, size_t n)
{
	printf("%-24s %14s %14s %7s %7s %12s %12s  %s\n", "FILE (DEV:INO)", "SIZE",
	       "FLOOR", "WRITERS", "READERS", "DIRTY", "WRITEBACK", "LAST ERROR");
	for (size_t i = 0; i < n; i++) {
		const struct gmd_msg *r = &recs[i];
		if (r->type != GMD_REC_FILE)
			continue;
		char id[48];
		snprintf(id, sizeof(id), "%" PRIu64 ":%" PRIu64, r->arg[0], r->arg[1]);
		printf("%-24s %14" PRId64 " %14" PRId64 " %7u %7u %12" PRId64 " %12" PRId64
		       "  %s\n", id, (int64_t)r->arg[2], (int64_t)r->arg[3], r->count,
		       r->flags, (int64_t)r->arg[4], (int64_t)r->arg[5],
		       r->status ? strerror(-r->status) : "-");
	}
	printf("\n%-24s %12s %14s %12s %12s %8s\n", "WRITEBACK (DEV:INO)", "PASSES",
	       "SYNC REQUESTS", "FDATASYNCS", "UNASKED", "ERRORS");
	for (size_t i = 0; i < n; i++) {
		const struct gmd_msg *r = &recs[i];
		if (r->type != GMD_REC_FILE)
			continue;
		struct gmd_msg w = writeback_of(recs, n, i);
		char id[48];
		snprintf(id, sizeof(id), "%" PRIu64 ":%" PRIu64, r->arg[0], r->arg[1]);
		printf("%-24s %12" PRIu64 " %14" PRIu64 " %12" PRIu64 " %12" PRIu64
		       " %8" PRIu64 "\n", id, w.arg[0], w.arg[1], w.arg[2], w.arg[4],
		       w.arg[3]);
	}
	printf("\n%-10s %10s %-24s %-4s %16s\n", "PID", "UID", "FILE (DEV:INO)",
	       "MODE", "RESERVED");
	for (size_t i = 0; i < n; i++) {
		const struct gmd_msg *r = &recs[i];
		if (r->type != GMD_REC_CLIENT)
			continue;
		const struct gmd_msg *f = file_of(recs, n, r->arg[2]);
		char id[48] = "?";
		if (f)
			snprintf(id, sizeof(id), "%" PRIu64 ":%" PRIu64, f->arg[0], f->arg[1]);
		printf("%-10" PRIu64 " %10" PRIu64 " %-24s %-4s %16" PRIu64 "\n",
		       r->arg[0], r->arg[1], id, (r->flags & GMD_F_WRITE) ? "rw" : "r",
		       r->arg[3]);
	}
}

static void print_json(const struct gmd_msg *recs, size_t n)
{
	const char *sep = "";
	printf("{\"files\":[");
	for (size_t i = 0; i < n; i++) {
		const struct gmd_msg *r = &recs[i];
		if (r->type != GMD_REC_FILE)
			continue;
		struct gmd_msg w = writeback_of(recs, n, i);
		printf("%s{\"dev\":%" PRIu64 ",\"ino\":%" PRIu64 ",\"size\":%" PRId64
		       ",\"floor\":%" PRId64 ",\"writers\":%u,\"readers\":%u"
		       ",\"dirty\":%" PRId64 ",\"writeback\":%" PRId64 ",\"error\":%d"
		       ",\"passes\":%" PRIu64 ",\"sync_requests\":%" PRIu64
		       ",\"fdatasyncs\":%" PRIu64 ",\"unasked_fdatasyncs\":%" PRIu64
		       ",\"errors\":%" PRIu64 "}",
		       sep, r->arg[0], r->arg[1], (int64_t)r->arg[2], (int64_t)r->arg[3],
		       r->count, r->flags, (int64_t)r->arg[4], (int64_t)r->arg[5],
		       r->status, w.arg[0], w.arg[1], w.arg[2], w.arg[4], w.arg[3]);
		sep = ",";
	}
	printf("],\"clients\":[");
	sep = "";
	for (size_t i = 0; i < n; i++) {
		const struct gmd_msg *r = &recs[i];
		if (r->type != GMD_REC_CLIENT)
			continue;
		printf("%s{\"pid\":%" PRIu64 ",\"uid\":%" PRIu64 ",\"file\":%" PRIu64
		       ",\"mode\":\"%s\",\"reserved\":%" PRIu64 "}", sep, r->arg[0],
		       r->arg[1], r->arg[2], (r->flags & GMD_F_WRITE) ? "rw" : "r",
		       r->arg[3]);
		sep = ",";
	}
	printf("]}\n");
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false, status = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--socket") && i + 1 < argc) {
			path = argv[++i];
		} else if (!strncmp(a, "--socket=", 9)) {
			path = a + 9;
		} else if (!strcmp(a, "--json") && status) {
			json = true;
		} else if (!strcmp(a, "status") && !status) {
			status = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!status) {
		usage(stderr);
		return 2;
	}
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (!path && !(path = gmd_default_socket(PROG, buf, sizeof(buf))))
		return 1;
	struct gmd_msg *recs;
	size_t n = fetch_status(path, &recs);
	if (json)
		print_json(recs, n);
	else
		print_text(recs, n);
	free(recs);
	return fflush(stdout) == 0 ? 0 : 1;
}
