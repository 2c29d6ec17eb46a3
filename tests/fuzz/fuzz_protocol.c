/* SPDX-License-Identifier: MIT */
/*
 * growmapd's request handling (daemon/growmapd.c built with
 * -DGROWMAPD_FUZZ) driven by clients whose messages come from the input.
 *
 * Each client is a socketpair: the daemon's end is handed to the daemon
 * as an accepted connection, the harness writes requests into the other
 * end and the daemon's own epoll set says what to read, as in the real
 * daemon; replies are drained after each step. The input is a sequence
 * of records, each starting with an operation byte:
 *
 *   bits 0-1  client slot (4); a free slot is connected on first use
 *   bits 2-3  0: send a message, 1: the client closes its socket,
 *             2: the client's process dies (its pidfd fires),
 *             3: the client stops reading replies, or reads them again;
 *             with bit 6 instead, 1: the client writes 1 to its eventfd
 *             (its dirty limit crossed), or with bit 5 too makes that
 *             eventfd blocking, or non-blocking again (the open file
 *             description is the daemon's too); 2: time passes, as long
 *             as the next byte says (time_step); 3: another process
 *             (pid 1) takes its pid's lock byte of file A, or lets it go
 *             (a writer through a daemon that died: no lease, no settle
 *             while it holds it)
 *   bit  4    uid of a new connection: 1000 or 1001 (the per-user limits)
 *   bit  5    a new connection is not allowed (the allow-list refused it)
 *   bit  7    the disk is slow: the operations in flight (writeback,
 *             fdatasync, the settle's) stay so through the next record;
 *             else they complete after this one. In the input's first
 *             byte instead: io_uring is refused for this input, the
 *             operations run at once as system calls.
 *
 * A send is followed by a flag byte and the 64-byte message:
 *
 *   bit  0    a descriptor comes with the message
 *   bit  1    ... opened O_RDWR (else O_RDONLY)
 *   bits 2-3  ... of file A (tmpfs), B (TMPDIR), C (tmpfs, a writer alone
 *             holds it: ATTACH for writing gets -EBUSY) or /dev/null
 *   bit  4    two descriptors come with it (a writer's eventfd; for
 *             anything else a violation), the second being
 *   bits 6-7  0: /dev/null, 1: the non-blocking eventfd the client
 *             keeps (made on first use, kept across its connections), 2:
 *             a blocking eventfd, 3: the eventfd the next client keeps
 *             (one eventfd, two watches)
 *   bit  5    the message arrives in two parts
 *
 * A message cut short by the end of the input is sent as it is, so that
 * the daemon holds a partial request when the connection ends.
 *
 * Every reply read must be well formed (check_reply) and answer the
 * oldest request of its connection not answered yet; STATUS's records
 * must come as FILE, WRITEBACK, then CLIENTs, with the file's size. Once
 * the daemon is idle after the last record, the only request a client
 * that reads its replies may still wait for is an ATTACH (the lease).
 * Every file is put back to the same contents before each input, and the
 * daemon ends every connection and frees everything after it (a file left
 * listed aborts; ASan's leak check sees the rest).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "growmapd-fuzz.h"
#include "proto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SLOTS 4
#define MSG_SIZE 64
#define PAGE 4096

enum op { OP_SEND, OP_HANGUP, OP_DIE, OP_STALL };

enum {
	O_BLOCK = 1u << 5,  /* with O_ALT on HANGUP: the eventfd's mode */
	O_ALT = 1u << 6,    /* HANGUP: the eventfd, DIE: time, STALL: pid 1 */
	O_SLOW = 1u << 7,
};

enum {
	F_FD = 1u << 0,
	F_RDWR = 1u << 1,
	F_WHICH = 3u << 2,
	F_TWO_FDS = 1u << 4,
	F_SPLIT = 1u << 5,
	F_SECOND = 3u << 6,
};

enum second { S_NULL, S_EVENTFD, S_BLOCKING, S_NEXT_EVENTFD };

#define OWED 128

struct slot {
	struct client *c;   /* NULL: free */
	int peer;           /* the client's end */
	bool stalled;       /* not reading replies */
	struct gmd_msg in;  /* reply being read */
	size_t in_len;
	/* Requests sent and not answered yet, oldest first (their types);
	 * 'lost' once a message went out in part, which the checks then
	 * cannot follow. */
	uint16_t owed[OWED];
	unsigned owed_first, owed_n;
	bool lost;
	uint32_t records;   /* STATUS records still to come */
	bool want_wb;       /* ... the next one a WRITEBACK */
	bool in_file;       /* ... after a FILE record */
};

static struct slot slots[SLOTS];
static int kicks[SLOTS] = { -1, -1, -1, -1 };   /* each client's eventfd */
static char paths[3][PATH_MAX];   /* files A, B and C */
static struct stat file_st[3];
static int foreign = -1;          /* A, for the other process's pid lock */
static bool foreign_held;

static void die(const char *what)
{
	perror(what);
	abort();
}

static void make_paths(void)
{
	const char *tmp = getenv("TMPDIR");
	/* A and C on tmpfs (no extent map: the daemon reads the pages),
	 * B on a disk file system (the extent map), when there are both. */
	const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(paths[0], PATH_MAX, "%s/fuzz_protocol-A-%d", shm, (int)getpid());
	snprintf(paths[1], PATH_MAX, "%s/fuzz_protocol-B-%d", tmp ? tmp : "/var/tmp",
		 (int)getpid());
	snprintf(paths[2], PATH_MAX, "%s/fuzz_protocol-C-%d", shm, (int)getpid());
}

static void remove_paths(void)
{
	for (int i = 0; i < 3; i++)
		unlink(paths[i]);
}

/* Same contents before every input: a partial page stored at 1.5 pages
 * into a file of 4 pages, so that a settle has something to cut. */
static void reset_files(void)
{
	static const char data[] = "growmap";
	for (int i = 0; i < 3; i++) {
		int fd = open(paths[i], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || pwrite(fd, data, sizeof(data), PAGE + PAGE / 2) < 0 ||
		    ftruncate(fd, 4 * PAGE) < 0 || fstat(fd, &file_st[i]) < 0)
			die(paths[i]);
		close(fd);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	make_paths();
	atexit(remove_paths);
	reset_files();
	/* C's writers' lock taken exclusive, as a writer without the
	 * daemon holds it (lib/proto.h), for as long as the process runs. */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = GMD_LOCK_OFFSET, .l_len = 1 };
	int alone = open(paths[2], O_RDWR | O_CLOEXEC);
	if (alone < 0 || fcntl(alone, F_OFD_SETLK, &fl) < 0)
		die(paths[2]);
	foreign = open(paths[0], O_RDWR | O_CLOEXEC);
	if (foreign < 0)
		die(paths[0]);
	gmd_fuzz_init();
	return 0;
}

/* Takes or lets go of pid 1's byte of file A, as that process would
 * while it writes A through a daemon (lib/proto.h, GMD_PID_LOCK_BASE). */
static void foreign_lock(bool hold)
{
	struct flock fl = { .l_type = hold ? F_RDLCK : F_UNLCK, .l_whence = SEEK_SET,
			    .l_start = GMD_PID_LOCK_BASE + 1, .l_len = 1 };
	if (fcntl(foreign, F_OFD_SETLK, &fl) < 0)
		die("F_OFD_SETLK");
	foreign_held = hold;
}

/* The eventfd client k keeps, made if it has none. */
static int kick_fd(unsigned k)
{
	if (kicks[k] < 0 && (kicks[k] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		die("eventfd");
	return kicks[k];
}

/* The descriptor(s) a flag byte of client k asks for: how many were
 * opened (the caller closes them; an eventfd kept is duplicated). */
static int open_fds(unsigned k, uint8_t flags, int fds[2])
{
	if (!(flags & F_FD))
		return 0;
	int mode = flags & F_RDWR ? O_RDWR : O_RDONLY;
	unsigned which = (flags & F_WHICH) >> 2;
	const char *path = which < 3 ? paths[which] : "/dev/null";
	fds[0] = open(path, mode | O_CLOEXEC);
	if (fds[0] < 0)
		die(path);
	if (!(flags & F_TWO_FDS))
		return 1;
	switch ((enum second)((flags & F_SECOND) >> 6)) {
	case S_NULL:
		fds[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		break;
	case S_EVENTFD:
		fds[1] = fcntl(kick_fd(k), F_DUPFD_CLOEXEC, 0);
		break;
	case S_BLOCKING:
		fds[1] = eventfd(0, EFD_CLOEXEC);
		break;
	case S_NEXT_EVENTFD:
		fds[1] = fcntl(kick_fd((k + 1) % SLOTS), F_DUPFD_CLOEXEC, 0);
		break;
	}
	if (fds[1] < 0)
		die("second descriptor");
	return 2;
}

/* Client k crosses its dirty limit (writes 1 to its eventfd), or with
 * 'mode' makes its eventfd blocking or non-blocking again: the open file
 * description the daemon watches, whose flags are the daemon's too. */
static void kick(unsigned k, bool mode)
{
	if (kicks[k] < 0)
		return;
	if (mode) {
		int fl = fcntl(kicks[k], F_GETFL);
		if (fl < 0 || fcntl(kicks[k], F_SETFL, fl ^ O_NONBLOCK) < 0)
			die("F_SETFL");
		return;
	}
	uint64_t one = 1;
	if (write(kicks[k], &one, sizeof(one)) < 0 && errno != EAGAIN)
		die("eventfd write");
}

/* How long a time record lets pass, in ms: up to 223 ms one by one,
 * then powers of two from 256 ms (past GMD_MAX_INTERVAL_MS). */
static uint64_t time_step(uint8_t b)
{
	return b < 0xe0 ? b : (uint64_t)1 << (b - 0xe0 + 8);
}

/* Writes 'len' bytes of a message, with 'nfds' descriptors, as a client
 * would; a full socket (a client that never reads) loses the rest.
 * Whether all of it went. */
static bool send_part(int sock, const uint8_t *buf, size_t len, const int *fds,
		      int nfds)
{
	struct iovec iov = { (void *)buf, len };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(h), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len;
}

/* A FILE record: one of the files, its size as it is now or larger
 * (the daemon only ever cuts them), unknown only for a file kept listed by
 * operations in flight alone (no client attached). */
static void check_file_record(const struct gmd_msg *m)
{
	for (int i = 0; i < 3; i++) {
		struct stat st;
		if (m->arg[0] != (uint64_t)file_st[i].st_dev ||
		    m->arg[1] != (uint64_t)file_st[i].st_ino)
			continue;
		if (stat(paths[i], &st) < 0)
			die(paths[i]);
		if (m->arg[2] == UINT64_MAX ? m->count + m->flags != 0
					    : m->arg[2] < (uint64_t)st.st_size ||
					      m->arg[2] > 4 * PAGE)
			abort();
		return;
	}
	abort();
}

/* Whatever the requests, what the daemon sends s is, in order, a reply
 * to the oldest request it has not answered, or one of the status
 * records STATUS's reply announced; never a positive status, and never a
 * floor (ATTACH's and SYNC's) that is not a file size. */
static void check_reply(struct slot *s, const struct gmd_msg *m)
{
	if (m->magic != GMD_MAGIC)
		abort();
	if (s->records) {
		s->records--;
		if (s->want_wb) {
			/* Every fdatasync served at least one request. */
			if (m->type != GMD_REC_WRITEBACK || m->arg[2] > m->arg[1])
				abort();
			s->want_wb = false;
		} else if (m->type == GMD_REC_FILE) {
			check_file_record(m);
			s->want_wb = s->in_file = true;
		} else if (m->type != GMD_REC_CLIENT || !s->in_file) {
			abort();
		}
		if (s->want_wb && !s->records)
			abort();
		return;
	}
	unsigned req = m->type & ~GMD_REPLY;
	if (!(m->type & GMD_REPLY) || m->status > 0 ||
	    (m->type == (GMD_ATTACH | GMD_REPLY) && m->arg[0] > INT64_MAX) ||
	    (m->type == (GMD_SYNC | GMD_REPLY) && (m->arg[0] > 1 || m->arg[1] > INT64_MAX)))
		abort();
	if (!s->lost) {
		if (!s->owed_n || s->owed[s->owed_first] != req)
			abort();
		s->owed_first = (s->owed_first + 1) % OWED;
		s->owed_n--;
	}
	if (req == GMD_STATUS && m->status == 0) {
		s->records = m->count;
		s->want_wb = s->in_file = false;
	}
}

/* Reads what the daemon sent s, message by message. */
static bool drain(struct slot *s)
{
	bool any = false;
	ssize_t n;
	while ((n = recv(s->peer, (char *)&s->in + s->in_len,
			 sizeof(s->in) - s->in_len, MSG_DONTWAIT)) > 0) {
		any = true;
		s->in_len += (size_t)n;
		if (s->in_len == sizeof(s->in)) {
			check_reply(s, &s->in);
			s->in_len = 0;
		}
	}
	return any;
}

/* Lets the daemon handle what is ready, as its main loop would, and
 * reads the replies of the clients that read theirs; 'rounds' bounds it,
 * in case readiness never settles. Whether anything happened. */
static bool pump_rounds(int rounds)
{
	bool any = false;
	for (int round = 0; round < rounds; round++) {
		bool drained = false;
		for (int i = 0; i < SLOTS; i++)
			if (slots[i].c && !slots[i].stalled)
				drained |= drain(&slots[i]);
		if (gmd_fuzz_poll() == 0 && !drained)
			break;
		any = true;
	}
	for (int i = 0; i < SLOTS; i++) {
		if (slots[i].c && gmd_fuzz_ended(slots[i].c)) {
			close(slots[i].peer);
			slots[i].c = NULL;
		}
	}
	return any;
}

static void pump(void)
{
	pump_rounds(16);
}

/* The disk finishes what is in flight, and the daemon answers and goes
 * on, until nothing more happens (bounded). */
static void complete(void)
{
	for (int i = 0; i < 64 && gmd_fuzz_complete(); i++)
		pump();
}

/* Once the daemon is idle, a client reading its replies waits for none
 * but a writer's ATTACH behind the lease. */
static void check_idle(void)
{
	for (int i = 0; i < 64; i++) {
		bool any = pump_rounds(256);
		if (!gmd_fuzz_complete() && !any)
			break;
	}
	for (int i = 0; i < SLOTS; i++) {
		const struct slot *s = &slots[i];
		if (s->c && !s->stalled && !s->lost && s->owed_n &&
		    s->owed[s->owed_first] != GMD_ATTACH)
			abort();
	}
}

/* A whole message went to s: a request it is owed a reply to. */
static void owe(struct slot *s, const uint8_t *msg)
{
	struct gmd_msg m;
	memcpy(&m, msg, sizeof(m));
	if (s->owed_n == OWED) {
		s->lost = true;
		return;
	}
	s->owed[(s->owed_first + s->owed_n++) % OWED] = m.type;
}

static struct slot *slot_for(uint8_t op)
{
	struct slot *s = &slots[op & 3];
	if (s->c)
		return s;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	/* The smallest send buffer on the daemon's end, so that a client
	 * that stops reading fills it within a few replies. */
	int one = 1;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
	s->c = gmd_fuzz_connect(sv[0], op & 0x10 ? 1001 : 1000, !(op & 0x20));
	if (!s->c)
		die("gmd_fuzz_connect");
	s->peer = sv[1];
	s->stalled = false;
	s->in_len = 0;
	s->owed_first = s->owed_n = 0;
	s->lost = false;
	s->records = 0;
	s->want_wb = s->in_file = false;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	reset_files();
	foreign_lock(false);
	gmd_fuzz_ring(!(size > 0 && (data[0] & O_SLOW)));
	size_t i = 0;
	bool slow = false;
	while (i < size) {
		bool first = i == 0;
		uint8_t op = data[i++];
		unsigned k = op & 3;
		struct slot *s = slot_for(op);
		switch ((enum op)((op >> 2) & 3)) {
		case OP_SEND: {
			if (i >= size)
				break;
			uint8_t flags = data[i++];
			size_t len = size - i < MSG_SIZE ? size - i : MSG_SIZE;
			int fds[2];
			int nfds = open_fds(k, flags, fds);
			size_t part = flags & F_SPLIT ? len / 2 : len;
			bool sent = send_part(s->peer, data + i, part, fds, nfds);
			if (part < len) {
				pump();
				/* The daemon may have ended it on the first part. */
				sent = s->c && send_part(s->peer, data + i + part,
							 len - part, NULL, 0) && sent;
			}
			if (s->c && len == MSG_SIZE) {
				if (sent)
					owe(s, data + i);
				else
					s->lost = true;
			}
			for (int n = 0; n < nfds; n++)
				close(fds[n]);
			i += len;
			break;
		}
		case OP_HANGUP:
			if (op & O_ALT)
				kick(k, op & O_BLOCK);
			else
				shutdown(s->peer, SHUT_RDWR);
			break;
		case OP_DIE:
			if (!(op & O_ALT))
				gmd_fuzz_exit(s->c);
			else if (i < size)
				gmd_fuzz_advance(time_step(data[i++]));
			break;
		case OP_STALL:
			if (op & O_ALT)
				foreign_lock(!foreign_held);
			else
				s->stalled = !s->stalled;
			break;
		}
		pump();
		slow = (op & O_SLOW) && !first;
		if (!slow)
			complete();
	}
	if (!slow)
		check_idle();
	gmd_fuzz_reset();
	for (int n = 0; n < SLOTS; n++) {
		if (slots[n].c) {
			close(slots[n].peer);
			slots[n].c = NULL;
		}
		if (kicks[n] >= 0) {
			close(kicks[n]);
			kicks[n] = -1;
		}
	}
	return 0;
}
