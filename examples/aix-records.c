/* SPDX-License-Identifier: MIT */
/*
 * aix-records: an AIX-style record file, written the way AIX programs
 * write them: the file is attached with shmat(fd, 0, SHM_MAP), records
 * are appended by storing them beyond the end of the file, fsync(fd)
 * makes them durable, shmdt() and close() detach. Then the file is
 * attached again read-only (SHM_RDONLY) and every record is checked.
 *
 * The only lines a port to Linux changes are the two before
 * #include <growmap/shm.h>; everything else is the AIX code as it was.
 *
 * Usage: aix-records [FILE [COUNT]]
 * Appends COUNT records (default 1000) to FILE (default: a new file in
 * $TMPDIR or /tmp, removed at the end) and checks the whole file. Run it
 * twice on one file and the second run appends to the first run's
 * records. Exits 0 when every record reads back as written.
 *
 * File layout: slot 0 (RECORD_SIZE bytes) is the header; record n
 * (counting from 0) is slot n + 1. The file's length is the end of the
 * last page stored into; the header's count says how many records exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#define GROWMAP_SHM_REPLACE     /* shmat, shmdt, fsync, close: growmap's */
#include <growmap/shm.h>

#define RECORD_SIZE 128
#define SEGMENT_SIZE (256ul << 20)  /* what one shmat(SHM_MAP) covers */
#define MAX_RECORDS (SEGMENT_SIZE / RECORD_SIZE - 1)
#define MAGIC "AIXRECS1"

struct header {
	char magic[8];
	uint32_t count;         /* records in the file */
	uint32_t record_size;
};

struct record {
	uint32_t seq;           /* record number, from 0 */
	uint32_t check;         /* seq scrambled, to catch misplaced records */
	char text[RECORD_SIZE - 8];
};

static uint32_t record_check(uint32_t seq)
{
	return seq * 2654435761u ^ 0x5a5a5a5au;
}

static void make_record(struct record *r, uint32_t seq)
{
	memset(r, 0, sizeof(*r));
	r->seq = seq;
	r->check = record_check(seq);
	snprintf(r->text, sizeof(r->text), "record %08u: appended through the mapping", seq);
}

/* Appends 'count' records; returns the new number of records, or -1. */
static long append_records(const char *path, unsigned long count)
{
	int fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd == -1) {
		perror(path);
		return -1;
	}
	char *base = shmat(fd, 0, SHM_MAP);
	if (base == (char *)-1) {
		perror("shmat(SHM_MAP)");
		close(fd);
		return -1;
	}
	struct header *hdr = (struct header *)base;
	if (hdr->magic[0] == 0) {           /* a new file: past its end, zeros */
		memcpy(hdr->magic, MAGIC, sizeof(hdr->magic));
		hdr->record_size = RECORD_SIZE;
	} else if (memcmp(hdr->magic, MAGIC, sizeof(hdr->magic)) != 0 ||
		   hdr->record_size != RECORD_SIZE) {
		fprintf(stderr, "%s: not a record file of this program\n", path);
		shmdt(base);
		close(fd);
		return -1;
	}
	if (count > MAX_RECORDS - hdr->count) {
		fprintf(stderr, "%s: %lu more records do not fit in one segment\n", path, count);
		shmdt(base);
		close(fd);
		return -1;
	}
	for (unsigned long i = 0; i < count; i++) {
		struct record *r = (struct record *)(base + (hdr->count + 1) * RECORD_SIZE);
		make_record(r, hdr->count);
		hdr->count++;               /* the record first, then the count */
	}
	long total = hdr->count;
	if (fsync(fd) == -1) {              /* the durability point */
		perror("fsync");
		shmdt(base);
		close(fd);
		return -1;
	}
	if (shmdt(base) == -1) {
		perror("shmdt");
		close(fd);
		return -1;
	}
	if (close(fd) == -1) {
		perror("close");
		return -1;
	}
	return total;
}

/* Attaches the file read-only and checks every record. Returns 0 or -1. */
static int verify_records(const char *path, long expected)
{
	int fd = open(path, O_RDONLY);
	if (fd == -1) {
		perror(path);
		return -1;
	}
	const char *base = shmat(fd, 0, SHM_MAP | SHM_RDONLY);
	if (base == (const char *)-1) {
		perror("shmat(SHM_MAP | SHM_RDONLY)");
		close(fd);
		return -1;
	}
	const struct header *hdr = (const struct header *)base;
	int bad = 0;
	if (memcmp(hdr->magic, MAGIC, sizeof(hdr->magic)) != 0 || hdr->count != expected) {
		fprintf(stderr, "%s: header says %u records, expected %ld\n", path,
			hdr->count, expected);
		bad = 1;
	}
	struct record want;
	for (uint32_t seq = 0; !bad && seq < hdr->count; seq++) {
		make_record(&want, seq);
		if (memcmp(base + (seq + 1) * (size_t)RECORD_SIZE, &want, RECORD_SIZE) != 0) {
			fprintf(stderr, "%s: record %u differs\n", path, seq);
			bad = 1;
		}
	}
	if (shmdt(base) == -1) {
		perror("shmdt");
		bad = 1;
	}
	close(fd);
	return bad ? -1 : 0;
}

int main(int argc, char *argv[])
{
	char tmp[4096];
	const char *path;
	unsigned long count = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;

	if (argc > 3 || count == 0) {
		fprintf(stderr, "usage: %s [FILE [COUNT]]\n", argv[0]);
		return 2;
	}
	if (argc > 1) {
		path = argv[1];
	} else {
		const char *dir = getenv("TMPDIR");
		snprintf(tmp, sizeof(tmp), "%s/aix-records-XXXXXX", dir ? dir : "/tmp");
		int fd = mkstemp(tmp);
		if (fd == -1) {
			perror(tmp);
			return 1;
		}
		close(fd);
		path = tmp;
	}

	long total = append_records(path, count);
	int ok = total >= 0 && verify_records(path, total) == 0;
	if (ok)
		printf("%s: %ld records, every one read back as written\n", path, total);
	if (path == tmp)
		unlink(tmp);
	return ok ? 0 : 1;
}
