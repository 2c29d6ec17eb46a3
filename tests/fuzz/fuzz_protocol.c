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
 *             with bit 6 instead: another process (pid 1) takes its pid's
 *             lock byte of file A, or lets it go (a writer through a
 *             daemon that died: no lease, no settle while it holds it)
 *   bit  4    uid of a new connection: 1000 or 1001 (the per-user limits)
 *   bit  5    a new connection is not allowed (the allow-list refused it)
 *
 * A send is followed by a flag byte and the 64-byte message:
 *
 *   bit  0    a descriptor comes with the message
 *   bit  1    ... opened O_RDWR (else O_RDONLY)
 *   bits 2-3  ... of file A (tmpfs), B (TMPDIR), C (tmpfs, a writer alone
 *             holds it: ATTACH for writing gets -EBUSY) or /dev/null
 *   bit  4    two descriptors come with it (a violation)
 *   bit  5    the message arrives in two parts
 *
 * A message cut short by the end of the input is sent as it is, so that
 * the daemon holds a partial request when the connection ends.
 *
 * Every reply read must be well formed (check_reply). Every file is put
 * back to the same contents before each input, and the daemon ends every
 * connection and frees everything after it (a file left listed aborts;
 * ASan's leak check sees the rest).
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
	F_FD = 1u << 0,
	F_RDWR = 1u << 1,
	F_WHICH = 3u << 2,
	F_TWO_FDS = 1u << 4,
	F_SPLIT = 1u << 5,
};

struct slot {
	struct client *c;   /* NULL: free */
	int peer;           /* the client's end */
	bool stalled;       /* not reading replies */
	struct gmd_msg in;  /* reply being read */
	size_t in_len;
};

static struct slot slots[SLOTS];
static char paths[3][PATH_MAX];   /* files A, B and C */
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
		    ftruncate(fd, 4 * PAGE) < 0)
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

/* The descriptor(s) a flag byte asks for: how many were opened. */
static int open_fds(uint8_t flags, int fds[2])
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
	fds[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fds[1] < 0)
		die("/dev/null");
	return 2;
}

/* Writes 'len' bytes of a message, with 'nfds' descriptors, as a client
 * would; a full socket (a client that never reads) loses the rest. */
static void send_part(int sock, const uint8_t *buf, size_t len, const int *fds,
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
	sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Whatever the requests, what the daemon sends is replies and status
 * records, never a positive status, and never a floor (ATTACH's and
 * SYNC's) that is not a file size. */
static void check_reply(const struct gmd_msg *m)
{
	unsigned req = m->type & ~GMD_REPLY;
	bool reply = (m->type & GMD_REPLY) && req >= GMD_ATTACH && req <= GMD_STATUS;
	bool record = m->type == GMD_REC_FILE || m->type == GMD_REC_CLIENT;
	if (m->magic != GMD_MAGIC || !(reply || record) || m->status > 0 ||
	    (m->type == (GMD_ATTACH | GMD_REPLY) && m->arg[0] > INT64_MAX) ||
	    (m->type == (GMD_SYNC | GMD_REPLY) && m->arg[1] > INT64_MAX))
		abort();
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
			check_reply(&s->in);
			s->in_len = 0;
		}
	}
	return any;
}

/* Lets the daemon handle what is ready, as its main loop would, and
 * reads the replies of the clients that read theirs. */
static void pump(void)
{
	/* A bound, in case readiness never settles. */
	for (int round = 0; round < 16; round++) {
		bool drained = false;
		for (int i = 0; i < SLOTS; i++)
			if (slots[i].c && !slots[i].stalled)
				drained |= drain(&slots[i]);
		if (gmd_fuzz_poll() == 0 && !drained)
			break;
	}
	for (int i = 0; i < SLOTS; i++) {
		if (slots[i].c && gmd_fuzz_ended(slots[i].c)) {
			close(slots[i].peer);
			slots[i].c = NULL;
		}
	}
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
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	reset_files();
	foreign_lock(false);
	size_t i = 0;
	while (i < size) {
		uint8_t op = data[i++];
		struct slot *s = slot_for(op);
		switch ((enum op)((op >> 2) & 3)) {
		case OP_SEND: {
			if (i >= size)
				break;
			uint8_t flags = data[i++];
			size_t len = size - i < MSG_SIZE ? size - i : MSG_SIZE;
			int fds[2];
			int nfds = open_fds(flags, fds);
			size_t first = flags & F_SPLIT ? len / 2 : len;
			send_part(s->peer, data + i, first, fds, nfds);
			if (first < len) {
				pump();
				/* The daemon may have ended it on the first part. */
				if (s->c)
					send_part(s->peer, data + i + first, len - first,
						  NULL, 0);
			}
			for (int k = 0; k < nfds; k++)
				close(fds[k]);
			i += len;
			break;
		}
		case OP_HANGUP:
			shutdown(s->peer, SHUT_RDWR);
			break;
		case OP_DIE:
			gmd_fuzz_exit(s->c);
			break;
		case OP_STALL:
			if (op & 0x40)
				foreign_lock(!foreign_held);
			else
				s->stalled = !s->stalled;
			break;
		}
		pump();
	}
	gmd_fuzz_reset();
	for (int k = 0; k < SLOTS; k++) {
		if (slots[k].c) {
			close(slots[k].peer);
			slots[k].c = NULL;
		}
	}
	return 0;
}
