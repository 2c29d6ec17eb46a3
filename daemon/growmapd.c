/* SPDX-License-Identifier: MIT */
/*
 * growmapd: the authority over cutting a shared growmap file down to its
 * exact size, the one who settles it after its last writer dies, and the
 * one who writes its attached files back. See growmapd(8) for what it
 * does and lib/proto.h for the protocol.
 *
 * One thread, one epoll set, every descriptor non-blocking: a client can
 * never stall another. Each connection carries at most one attachment,
 * and its peer process is watched through a pidfd, so the attachment ends
 * when the process dies even if a child inherited the socket.
 *
 * A client is never waited for: a reply that cannot be sent at once
 * dooms the connection (it is ended after the current event, never from
 * inside the code walking a file's lists), and a STATUS reply that does
 * not fit the socket waits in the connection's output queue, while no
 * further request is read from that connection.
 *
 * Nor is the disk waited for: writeback (sync_file_range(2)) and
 * fdatasync(2) go through one io_uring whose completions wake the epoll
 * loop through an eventfd. Where io_uring is refused they run as system
 * calls in the loop.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include <systemd/sd-daemon.h>

#include "cachestat.h"
#include "extent.h"
#include "parse-number.h"
#include "proto.h"
#include "sockpath.h"

#define PROG "growmapd"

/* ------------------------------------------------------------------------
 * Logging
 */

enum level { L_ERROR, L_WARN, L_INFO, L_DEBUG };
static const char *const level_words[] = { "error", "warn", "info", "debug", NULL };

static enum level log_level = L_INFO;

__attribute__((format(printf, 2, 3)))
static void logmsg(enum level level, const char *fmt, ...)
{
	if (level > log_level)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so that lines of a restarted daemon sharing
	 * the stream never interleave. */
	fprintf(stderr, PROG ": %s: %s\n", level_words[level], line);
}

/* ------------------------------------------------------------------------
 * Configuration (growmapd(8), CONFIGURATION)
 */

#define MAX_LINE 1023

struct idlist {
	unsigned *ids;
	size_t n;
	bool set;
};

static struct {
	struct idlist users, groups;
	unsigned long long max_attaches;  /* per uid */
	unsigned long long max_reserve;   /* per uid, bytes; 0: no limit */
} conf = { .max_attaches = 4096 };

/* Prints what is wrong with a line and returns -1: the caller gives up
 * the file (the daemon then exits 2). Returning rather than exiting lets
 * the fuzzing harness call the parser in a loop. */
__attribute__((format(printf, 4, 5)))
static int config_error(const char *path, unsigned lineno, const char *key,
			const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (key)
		fprintf(stderr, PROG ": %s:%u: key '%s': %s\n", path, lineno, key, what);
	else
		fprintf(stderr, PROG ": %s:%u: %s\n", path, lineno, what);
	return -1;
}

/* "name|id, name|id, ...": users (getpwnam) or groups (getgrnam). Names
 * are resolved once, here, so a typo fails at start, not at attach. */
static int parse_idlist(struct idlist *list, bool groups, char *value,
			const char *path, unsigned lineno, const char *key)
{
	list->n = 0;
	list->set = true;
	for (char *item = strtok(value, ","); item; item = strtok(NULL, ",")) {
		while (isspace((unsigned char)*item))
			item++;
		char *end = item + strlen(item);
		while (end > item && isspace((unsigned char)end[-1]))
			end--;
		*end = 0;
		if (!*item)
			return config_error(path, lineno, key, "empty name in list");
		unsigned long long v;
		unsigned id;
		if (gm_parse_number(item, false, &v)) {
			if (v >= UINT_MAX)
				return config_error(path, lineno, key,
						    "id '%s' out of range", item);
			id = (unsigned)v;
		} else if (groups) {
			struct group *g = getgrnam(item);
			if (!g)
				return config_error(path, lineno, key,
						    "unknown group '%s'", item);
			id = g->gr_gid;
		} else {
			struct passwd *pw = getpwnam(item);
			if (!pw)
				return config_error(path, lineno, key,
						    "unknown user '%s'", item);
			id = pw->pw_uid;
		}
		unsigned *ids = realloc(list->ids, (list->n + 1) * sizeof(*ids));
		if (!ids)
			return config_error(path, lineno, key, "out of memory");
		list->ids = ids;
		list->ids[list->n++] = id;
	}
	if (list->n == 0)
		return config_error(path, lineno, key, "missing value");
	return 0;
}

static int apply_line(const char *path, unsigned lineno, char *line)
{
	char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	if (!*p || *p == '#')
		return 0;
	char *key = p;
	while (*p && *p != '=' && !isspace((unsigned char)*p))
		p++;
	char *key_end = p;
	while (isspace((unsigned char)*p))
		p++;
	if (key_end == key || *p != '=')
		return config_error(path, lineno, NULL, "expected 'key = value'");
	*key_end = 0;
	p++;
	/* As in growmap.conf(5): '#' starts a comment only after a blank. */
	for (char *c = p; *c; c++) {
		if (*c == '#' && isspace((unsigned char)c[-1])) {
			*c = 0;
			break;
		}
	}
	while (isspace((unsigned char)*p))
		p++;
	char *value = p;
	char *end = value + strlen(value);
	while (end > value && isspace((unsigned char)end[-1]))
		end--;
	*end = 0;

	bool known = !strcmp(key, "allow_users") || !strcmp(key, "allow_groups") ||
		     !strcmp(key, "max_attaches_per_user") ||
		     !strcmp(key, "max_reserve_per_user") || !strcmp(key, "log_level");
	if (!known)
		return config_error(path, lineno, key, "unknown key");
	if (!*value)
		return config_error(path, lineno, key, "missing value");

	unsigned long long v;
	if (!strcmp(key, "allow_users")) {
		return parse_idlist(&conf.users, false, value, path, lineno, key);
	} else if (!strcmp(key, "allow_groups")) {
		return parse_idlist(&conf.groups, true, value, path, lineno, key);
	} else if (!strcmp(key, "max_attaches_per_user")) {
		if (!gm_parse_number(value, false, &v) || v < 1 || v > UINT32_MAX)
			return config_error(path, lineno, key, "invalid value '%s' "
					    "(expected 1..%u)", value, UINT32_MAX);
		conf.max_attaches = v;
	} else if (!strcmp(key, "max_reserve_per_user")) {
		if (!gm_parse_number(value, true, &v))
			return config_error(path, lineno, key, "invalid value '%s' (expected "
					    "bytes, optional K/M/G/T suffix; 0: no limit)", value);
		conf.max_reserve = v;
	} else {
		unsigned i;
		for (i = 0; level_words[i] && strcmp(value, level_words[i]); i++)
			;
		if (!level_words[i])
			return config_error(path, lineno, key, "invalid value '%s' "
					    "(expected error, warn, info or debug)", value);
		log_level = (enum level)i;
	}
	return 0;
}

/* Applies the file at 'path': 0, or -1 once a message says what is
 * wrong with it. */
static int load_config(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, PROG ": cannot read configuration file %s: %s\n",
			path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int r = 0;
	errno = 0;
	while (r == 0 && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = 0;
		if (len > MAX_LINE)
			r = config_error(path, lineno, NULL, "line longer than %d characters",
					 MAX_LINE);
		else if (strlen(line) != (size_t)len)
			r = config_error(path, lineno, NULL, "line contains a NUL byte");
		else
			r = apply_line(path, lineno, line);
	}
	free(line);
	if (r == 0 && ferror(f)) {
		fprintf(stderr, PROG ": cannot read configuration file %s: %s\n",
			path, strerror(errno ? errno : EIO));
		r = -1;
	}
	fclose(f);
	return r;
}

/* ------------------------------------------------------------------------
 * State
 */

struct link {
	struct link *prev, *next;
};

static void list_init(struct link *head)
{
	head->prev = head->next = head;
}

static bool list_empty(const struct link *head)
{
	return head->next == head;
}

static void list_add_tail(struct link *head, struct link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

static void list_del(struct link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = l;
}

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))
#define list_for_each(pos, head) \
	for (struct link *pos = (head)->next; pos != (head); pos = pos->next)

/* What an epoll event is about. */
enum ev_kind { EV_LISTEN, EV_SIGNAL, EV_SOCK, EV_PIDFD, EV_KICK, EV_RING };
struct ev {
	enum ev_kind kind;
	struct client *c;
};

enum cstate {
	C_NEW,       /* no ATTACH yet */
	C_QUEUED,    /* writable ATTACH waiting for the lease to end */
	C_ATTACHED,
	C_DONE,      /* ATTACH refused or DETACHed: only STATUS left */
	C_DEAD,      /* ended; freed after the current epoll batch */
};

struct file {
	struct link link;          /* files */
	dev_t dev;
	ino_t ino;
	off_t floor;               /* size when its first writer attached */
	unsigned writers, readers;
	struct client *lease;      /* holder of the settle lease, or NULL */
	struct link attached;      /* clients, by flink */
	struct link queue;         /* C_QUEUED clients, by flink, in order */
	bool exact;                /* a lease holder settled it, no writer since */
	int last_error;            /* negative errno of the last failure */
	/* Writeback (see "Writeback" below). */
	unsigned ops;              /* operations in flight: the file stays */
	bool wb_running;           /* a background pass is in flight */
	unsigned syncs_running;    /* request fdatasyncs in flight */
	bool sync_wanted;          /* a DATASYNC waits for a free slot */
	uint64_t sync_gen;         /* request fdatasyncs started */
	uint64_t err_seq;          /* writeback errors met, counted */
	int err;                   /* the last of them */
	uint64_t next_wb_ms;       /* the next background pass, or 0 */
	uint64_t passes, sync_requests, fsyncs, durables;   /* for STATUS */
};

struct client {
	struct link link;          /* clients, or zombies once C_DEAD */
	struct link flink;         /* its file's attached list or queue */
	struct link dlink;         /* doomed, while 'doomed' */
	enum cstate state;
	bool allowed;
	bool doomed;               /* a reply could not be sent */
	bool write;
	bool settled_last;         /* its last request was SETTLED */
	int sock, pidfd;
	int fd;                    /* the file's descriptor, once attached */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	struct file *file;
	uint64_t reserve;          /* ATTACH arg[0] */
	bool reattach;             /* ATTACH with GMD_F_REATTACH */
	off_t old_floor;           /* its arg[2]: the floor a dead daemon gave */
	off_t reader_size;         /* a reader's file size at attach */
	uint32_t events;           /* epoll interest of 'sock' */
	struct gmd_msg in;         /* request being read */
	size_t in_len;
	int in_fds[2];             /* descriptors that came with it, or -1 */
	unsigned in_nfds;          /* how many came (more are closed) */
	char *out;                 /* STATUS reply not yet sent */
	size_t out_len, out_off;
	int kick_fd;               /* a writer's eventfd, or -1 */
	uint32_t interval_ms;      /* its writeback interval, 0: none */
	uint64_t sync_wait;        /* fdatasync its DATASYNC waits for, or 0 */
	uint64_t err_seen;         /* file's err_seq it has been told of */
	struct ev sock_ev, pid_ev, kick_ev;
};

static struct link files, clients, zombies, doomed;
static int epfd;
static size_t page_size;

static unsigned long long dev_ull(dev_t dev)
{
	return (unsigned long long)dev;
}

/* The floor used and returned: a reader's mapped pages are never cut. */
static off_t file_floor(const struct file *f)
{
	off_t floor = f->floor;
	list_for_each(l, &f->attached) {
		const struct client *c = container_of(l, struct client, flink);
		if (!c->write && c->reader_size > floor)
			floor = c->reader_size;
	}
	return floor;
}

static struct file *file_get(const struct stat *st)
{
	list_for_each(l, &files) {
		struct file *f = container_of(l, struct file, link);
		if (f->dev == st->st_dev && f->ino == st->st_ino)
			return f;
	}
	struct file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	list_init(&f->attached);
	list_init(&f->queue);
	list_add_tail(&files, &f->link);
	return f;
}

static void file_put(struct file *f)
{
	if (!list_empty(&f->attached) || !list_empty(&f->queue) || f->ops)
		return;
	list_del(&f->link);
	free(f);
}

/* ------------------------------------------------------------------------
 * Sending
 */

static void update_events(struct client *c)
{
	uint32_t want = 0;
	if (c->out)
		want |= EPOLLOUT;
	else if (c->state != C_QUEUED && !c->sync_wait)
		want |= EPOLLIN;   /* one request at a time */
	if (want == c->events)
		return;
	struct epoll_event e = { .events = want, .data.ptr = &c->sock_ev };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->sock, &e) == 0)
		c->events = want;
	else
		logmsg(L_ERROR, "epoll_ctl: %s", strerror(errno));
}

static void doom(struct client *c)
{
	if (c->doomed || c->state == C_DEAD)
		return;
	c->doomed = true;
	list_add_tail(&doomed, &c->dlink);
}

/* Sends a one-message reply now or dooms the client. */
static void reply(struct client *c, enum gmd_type type, int32_t status,
		  uint64_t a0, uint64_t a1)
{
	if (c->doomed)
		return;
	struct gmd_msg m = {
		.magic = GMD_MAGIC, .type = (uint16_t)(type | GMD_REPLY),
		.status = status, .arg = { a0, a1 },
	};
	ssize_t n = send(c->sock, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n != (ssize_t)sizeof(m)) {
		logmsg(L_WARN, "pid %d: cannot send reply: %s", (int)c->pid,
		       n < 0 ? strerror(errno) : "socket full");
		doom(c);
	}
}

static void flush_output(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->sock, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			doom(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		free(c->out);
		c->out = NULL;
	}
	update_events(c);
}

/* ------------------------------------------------------------------------
 * Writeback: one io_uring for every attached file.
 *
 * Background passes start writeback of a file's dirty pages without
 * waiting (sync_file_range(2), SYNC_FILE_RANGE_WRITE), when a writer's
 * eventfd says its dirty limit was crossed and on the shortest
 * writeback interval of the file's writers. A DATASYNC is answered once
 * an fdatasync(2) that started after it arrived has finished: one
 * started at once while fewer than GMD_SYNCS_IN_FLIGHT (proto.h) run for
 * the file, else the next one, which serves every request that came
 * meanwhile (group commit). fdatasyncs are numbered; the end of number g
 * serves every request waiting for g or less, which all came before g
 * started.
 *
 * Each operation runs on a duplicate of a client's descriptor, its own
 * until it completes, whatever the client does meanwhile, and f->ops
 * keeps the file listed until its operations are done.
 */

/* OP_DURABLE: an fdatasync nobody waits for (after a settle, or the
 * death of a writer while others write on). */
enum op_kind { OP_WRITEBACK, OP_DATASYNC, OP_DURABLE };
struct op {
	struct file *f;
	enum op_kind kind;
	int fd;
	uint64_t gen;              /* OP_DATASYNC: its number */
};

static struct io_uring ring;
static bool have_ring;
static int ring_efd = -1;

#ifdef GROWMAPD_FUZZ
/* The fuzzing harness's clock (gmd_fuzz_advance), so that the writeback
 * intervals fire at the points an input chooses. */
static uint64_t fuzz_clock_ms = 1000;
#endif

static uint64_t now_ms(void)
{
#ifdef GROWMAPD_FUZZ
	return fuzz_clock_ms;
#else
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
#endif
}

/* Sets the ring up; without it, writeback runs as system calls. */
static void ring_init(void)
{
	int r = io_uring_queue_init(64, &ring, 0);
	if (r == 0) {
		ring_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (ring_efd < 0)
			r = -errno;
		else if ((r = io_uring_register_eventfd(&ring, ring_efd)) < 0)
			close(ring_efd);
		if (r < 0)
			io_uring_queue_exit(&ring);
	}
	if (r < 0) {
		ring_efd = -1;
		logmsg(L_WARN, "io_uring refused (%s): writeback and fdatasync run as "
		       "system calls, and a slow disk slows every client", strerror(-r));
		return;
	}
	static const struct ev ring_ev = { EV_RING, NULL };
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = (void *)&ring_ev };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, ring_efd, &e) < 0) {
		logmsg(L_ERROR, "epoll_ctl: %s", strerror(errno));
		io_uring_queue_exit(&ring);
		close(ring_efd);
		ring_efd = -1;
		return;
	}
	have_ring = true;
}

/* A writeback error of f: counted, so that every attachment hears of it
 * once (its DATASYNC reply). */
static void wb_error(struct file *f, int err, const char *what)
{
	f->err = err;
	f->err_seq++;
	f->last_error = err;
	logmsg(L_ERROR, "%s of %llu:%llu failed: %s", what, dev_ull(f->dev),
	       (unsigned long long)f->ino, strerror(-err));
}

/* The answer to c's DATASYNC: the first error it has not been told of. */
static void answer_datasync(struct client *c)
{
	struct file *f = c->file;
	int status = 0;
	if (c->err_seen != f->err_seq) {
		status = f->err;
		c->err_seen = f->err_seq;
	}
	c->sync_wait = 0;
	reply(c, GMD_DATASYNC, status, 0, 0);
	update_events(c);
}

/* Dirty and writeback bytes of the file (cachestat(2)), or -1 each. */
static void cache_state(int fd, uint64_t *dirty, uint64_t *writeback)
{
	struct gm_cachestat cs;
	if (gm_cachestat(fd, &cs) < 0) {
		*dirty = *writeback = UINT64_MAX;
		return;
	}
	*dirty = cs.dirty * page_size;
	*writeback = cs.writeback * page_size;
}

static void op_submit(struct file *f, enum op_kind kind, int fd, uint64_t gen);

static void start_datasync(struct file *f, int fd)
{
	f->syncs_running++;
	f->sync_wanted = false;
	op_submit(f, OP_DATASYNC, fd, ++f->sync_gen);
}

/* Any descriptor of f's attached clients, or -1. */
static int file_any_fd(const struct file *f)
{
	if (list_empty(&f->attached))
		return -1;
	return container_of(f->attached.next, struct client, flink)->fd;
}

/* An operation of 'kind' on f finished with 'res'. May answer clients
 * (and doom them); never frees f, which whoever called it still uses:
 * ring_event() puts it after, an operation run at once leaves it to
 * op_submit()'s caller. */
static void op_done(struct file *f, enum op_kind kind, uint64_t gen, int res)
{
	f->ops--;
	switch (kind) {
	case OP_WRITEBACK:
		f->wb_running = false;
		if (res < 0)
			wb_error(f, res, "writeback");
		break;
	case OP_DURABLE:
		f->durables++;
		if (res < 0)
			wb_error(f, res, "fdatasync");
		break;
	case OP_DATASYNC:
		f->syncs_running--;
		f->fsyncs++;
		if (res < 0)
			wb_error(f, res, "fdatasync");
		list_for_each(l, &f->attached) {
			struct client *c = container_of(l, struct client, flink);
			if (c->sync_wait && c->sync_wait <= gen)
				answer_datasync(c);
		}
		/* Requests that waited for a free slot: the next one, for all. */
		int fd = file_any_fd(f);
		if (f->sync_wanted && fd >= 0)
			start_datasync(f, fd);
		break;
	}
}

/* 'kind' as a system call on fd, here and now: 0 or -errno. */
static int op_syscall(enum op_kind kind, int fd)
{
	int r = kind == OP_WRITEBACK ? sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)
				     : fdatasync(fd);
	return r < 0 ? -errno : 0;
}

static void op_complete(struct op *op, int res)
{
	struct file *f = op->f;
	enum op_kind kind = op->kind;
	uint64_t gen = op->gen;
	close(op->fd);
	free(op);
	op_done(f, kind, gen, res);
}

/* Starts 'kind' on f through (a duplicate of) fd: on the ring, or at
 * once where there is none (op_done() then runs before this returns, and
 * f stays listed until the caller puts it). */
static void op_submit(struct file *f, enum op_kind kind, int fd, uint64_t gen)
{
	f->ops++;
	struct op *op = malloc(sizeof(*op));
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (!op || dup_fd < 0) {
		/* Out of memory or descriptors: here and now, on fd. */
		free(op);
		if (dup_fd >= 0)
			close(dup_fd);
		op_done(f, kind, gen, op_syscall(kind, fd));
		return;
	}
	*op = (struct op){ .f = f, .kind = kind, .fd = dup_fd, .gen = gen };
	fd = dup_fd;
	if (have_ring) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		if (!sqe && io_uring_submit(&ring) >= 0)
			sqe = io_uring_get_sqe(&ring);
		if (sqe) {
			if (kind == OP_WRITEBACK)
				io_uring_prep_sync_file_range(sqe, fd, 0, 0,
							      SYNC_FILE_RANGE_WRITE);
			else
				io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
			io_uring_sqe_set_data(sqe, op);
			int r;
			do
				r = io_uring_submit(&ring);
			while (r == -EINTR);
			if (r >= 0)
				return;
			/* Not submitted: it must not complete later as well. */
			io_uring_prep_nop(sqe);
			io_uring_sqe_set_data(sqe, NULL);
			logmsg(L_WARN, "io_uring submit: %s; running it as a system call",
			       strerror(-r));
		}
	}
	op_complete(op, op_syscall(kind, fd));
}

/* Completions of the ring; then the ends they made due. */
static void end_doomed(void);
static void ring_event(void)
{
	uint64_t n;
	if (read(ring_efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		logmsg(L_ERROR, "ring eventfd: %s", strerror(errno));
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&ring, &cqe) == 0) {
		struct op *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		if (op) {
			struct file *f = op->f;
			op_complete(op, res);
			file_put(f);
		}
	}
	end_doomed();
}

/* Waits for every operation in flight (growmapd exiting, the fuzzing
 * harness resetting). */
static void ring_drain(void)
{
	bool busy = true;
	while (have_ring && busy) {
		busy = false;
		list_for_each(l, &files)
			busy |= container_of(l, struct file, link)->ops != 0;
		struct io_uring_cqe *cqe;
		if (busy && io_uring_wait_cqe(&ring, &cqe) == 0)
			ring_event();
	}
}

/* Starts a background pass of f through fd, unless one is in flight or
 * nothing is dirty (cachestat(2); without it, always). */
static void start_writeback(struct file *f, int fd)
{
	uint64_t dirty, writeback;
	if (f->wb_running || fd < 0)
		return;
	cache_state(fd, &dirty, &writeback);
	if (dirty == 0)
		return;
	f->wb_running = true;
	f->passes++;
	op_submit(f, OP_WRITEBACK, fd, 0);
}

static void drop_kick_fd(struct client *c);

/* A writer's dirty limit was crossed (its eventfd). Read with
 * RWF_NOWAIT: O_NONBLOCK is the client's to clear again (one open file
 * description), and another watch of the same eventfd may have emptied
 * it in this batch; a plain read() would then block the daemon. */
static void kick_event(struct client *c)
{
	uint64_t n;
	struct iovec iov = { &n, sizeof(n) };
	if (c->kick_fd < 0)
		return;   /* dropped earlier in this batch */
	if (preadv2(c->kick_fd, &iov, 1, -1, RWF_NOWAIT) < 0 && errno != EAGAIN) {
		logmsg(L_WARN, "pid %d: eventfd: %s; no longer watched", (int)c->pid,
		       strerror(errno));
		drop_kick_fd(c);
		return;
	}
	if (c->state == C_ATTACHED)
		start_writeback(c->file, c->fd);
}

/* The shortest writeback interval of f's writers, or 0. */
static uint32_t file_interval(const struct file *f)
{
	uint32_t ms = 0;
	list_for_each(l, &f->attached) {
		const struct client *c = container_of(l, struct client, flink);
		if (c->interval_ms && (!ms || c->interval_ms < ms))
			ms = c->interval_ms;
	}
	return ms;
}

/* Runs the passes that are due; returns the milliseconds until the next
 * one, or -1 (epoll_wait's timeout). */
static int writeback_timers(void)
{
	uint64_t now = now_ms(), next = UINT64_MAX;
	list_for_each(l, &files) {
		struct file *f = container_of(l, struct file, link);
		uint32_t ms = f->writers ? file_interval(f) : 0;
		if (!ms) {
			f->next_wb_ms = 0;
			continue;
		}
		if (!f->next_wb_ms || f->next_wb_ms > now + ms)
			f->next_wb_ms = now + ms;   /* new, or a shorter interval */
		if (f->next_wb_ms <= now) {
			start_writeback(f, file_any_fd(f));
			f->next_wb_ms = now + ms;
		}
		if (f->next_wb_ms < next)
			next = f->next_wb_ms;
	}
	if (next == UINT64_MAX)
		return -1;
	return next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

/* An fdatasync of f that starts after now: at once through fd, or the
 * next one when one is running. */
static void want_datasync(struct file *f, int fd)
{
	if (f->syncs_running >= GMD_SYNCS_IN_FLIGHT)
		f->sync_wanted = true;
	else
		start_datasync(f, fd);
}

/* DATASYNC from c. */
static void do_datasync(struct client *c)
{
	struct file *f = c->file;
	f->sync_requests++;
	c->sync_wait = f->sync_gen + 1;
	want_datasync(f, c->fd);   /* may answer c at once */
}

/* Checks a writer's second descriptor: a non-blocking eventfd, which the
 * daemon reads without ever blocking on it. */
static int check_kick_fd(int fd)
{
	char path[64], target[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	int fl = fcntl(fd, F_GETFL);
	if (n < 0 || fl < 0)
		return -EINVAL;
	target[n] = '\0';
	if (strcmp(target, "anon_inode:[eventfd]") != 0 || !(fl & O_NONBLOCK))
		return -EINVAL;
	return 0;
}

/* Stops watching c's eventfd. Its open file description is the client's
 * too, so closing our descriptor alone would leave it in the epoll set. */
static void drop_kick_fd(struct client *c)
{
	if (c->kick_fd < 0)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->kick_fd, NULL);
	close(c->kick_fd);
	c->kick_fd = -1;
}

/* ------------------------------------------------------------------------
 * Attachments
 */

static void complete_attach(struct client *c);

/* Hands the file to the writers that waited for its lease to end. */
static void answer_queue(struct file *f)
{
	while (!f->lease && !list_empty(&f->queue)) {
		struct client *c = container_of(f->queue.next, struct client, flink);
		list_del(&c->flink);
		complete_attach(c);
		update_events(c);
	}
}

static void complete_attach(struct client *c)
{
	struct file *f = c->file;
	struct stat st;
	if (fstat(c->fd, &st) < 0)
		st.st_size = 0;   /* cannot fail on a descriptor we hold */
	if (c->write) {
		/* A client of a daemon that died knows the floor this daemon,
		 * started afresh, cannot: the lower one holds. */
		if (f->writers == 0)
			f->floor = st.st_size;
		if (c->reattach && c->old_floor < f->floor)
			f->floor = c->old_floor;
		f->writers++;
		f->exact = false;
	} else {
		c->reader_size = st.st_size;
		f->readers++;
	}
	c->state = C_ATTACHED;
	list_add_tail(&f->attached, &c->flink);
	off_t floor = file_floor(f);
	logmsg(L_INFO, "attach pid %d uid %u %llu:%llu %s, size %lld floor %lld, "
	       "%u writers %u readers", (int)c->pid, (unsigned)c->uid,
	       dev_ull(f->dev), (unsigned long long)f->ino, c->write ? "rw" : "r",
	       (long long)st.st_size, (long long)floor, f->writers, f->readers);
	reply(c, GMD_ATTACH, 0, (uint64_t)floor, f->writers);
}

/*
 * Does a process other than 'self' hold its pid's byte of the file
 * (GMD_PID_LOCK_BASE, proto.h): a writer through a daemon, known to this
 * one or not (a client of a daemon that died, not attached again yet)?
 * The kernel says, through 'fd'; a file system without locks says no.
 */
static bool other_writer_holds(int fd, pid_t self)
{
	off_t ranges[2][2] = {
		{ GMD_PID_LOCK_BASE, (off_t)self },
		{ GMD_PID_LOCK_BASE + self + 1, GMD_PID_LOCK_SPAN - self - 1 },
	};
	for (int i = 0; i < 2; i++) {
		if (ranges[i][1] <= 0)
			continue;
		struct flock fl = {
			.l_type = F_WRLCK, .l_whence = SEEK_SET,
			.l_start = ranges[i][0], .l_len = ranges[i][1],
		};
		if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
			return true;
	}
	return false;
}

/* Settles a file whose last writer, c, has just ended: cut it down to
 * what was stored above the floor, from the file alone, and sync it. */
static void settle(struct file *f, struct client *c, bool detached)
{
	struct stat st;
	off_t exact = -1;
	int err = 0;
	if (fstat(c->fd, &st) < 0) {
		err = -errno;
	} else {
		exact = gm_exact_size_from_file(c->fd, page_size, file_floor(f),
						st.st_size);
		if (exact < 0)
			err = (int)exact;
		else if (exact < st.st_size && ftruncate(c->fd, exact) < 0)
			err = -errno;
	}
	if (err) {
		f->last_error = err;
		logmsg(L_ERROR, "cannot settle %llu:%llu after writer pid %d: %s",
		       dev_ull(f->dev), (unsigned long long)f->ino, (int)c->pid,
		       strerror(-err));
		return;
	}
	f->exact = true;
	op_submit(f, OP_DURABLE, c->fd, 0);   /* its stores and the new size, durable */
	logmsg(L_INFO, "settled %llu:%llu from %lld to %lld bytes (writer pid %d %s)",
	       dev_ull(f->dev), (unsigned long long)f->ino, (long long)st.st_size,
	       (long long)(exact < st.st_size ? exact : st.st_size), (int)c->pid,
	       detached ? "detached" : "died");
}

/* The attachment of c ends: by DETACH ('detached') or because the client
 * died, broke the protocol or could not be answered. */
static void end_attachment(struct client *c, bool detached, const char *why)
{
	struct file *f = c->file;
	list_del(&c->flink);
	if (c->state == C_QUEUED) {
		logmsg(L_INFO, "pid %d gone while waiting to attach %llu:%llu (%s)",
		       (int)c->pid, dev_ull(f->dev), (unsigned long long)f->ino, why);
	} else {
		bool held = f->lease == c;
		if (held)
			f->lease = NULL;
		if (c->write)
			f->writers--;
		else
			f->readers--;
		logmsg(L_INFO, "%s pid %d %llu:%llu %s%s%s, %u writers %u readers left",
		       detached ? "detach" : "crash", (int)c->pid, dev_ull(f->dev),
		       (unsigned long long)f->ino, c->write ? "rw" : "r",
		       detached ? "" : ": ", detached ? "" : why,
		       f->writers, f->readers);
		/* A client that settled the file itself and left right after
		 * knew its exact size better than the extent map does. */
		bool self_settled = detached && c->settled_last && f->exact;
		bool settled = false;
		if (c->write && f->writers == 0 && !self_settled) {
			if (other_writer_holds(c->fd, c->pid)) {
				logmsg(L_INFO, "not settling %llu:%llu: a writer this "
				       "daemon does not know still holds it",
				       dev_ull(f->dev), (unsigned long long)f->ino);
			} else {
				settle(f, c, detached);
				settled = true;
			}
		}
		/* A writer that died while others write on: its stores
		 * durable now, not at the others' next sync. */
		if (c->write && !detached && !settled)
			op_submit(f, OP_DURABLE, c->fd, 0);
		if (held)
			answer_queue(f);
	}
	drop_kick_fd(c);
	close(c->fd);
	c->fd = -1;
	c->file = NULL;
	c->sync_wait = 0;
	file_put(f);
}

static void client_end(struct client *c, const char *why)
{
	if (c->state == C_DEAD)
		return;
	if (c->state == C_ATTACHED || c->state == C_QUEUED)
		end_attachment(c, false, why);
	else
		logmsg(L_DEBUG, "pid %d disconnected (%s)", (int)c->pid, why);
	for (int i = 0; i < 2; i++)
		if (c->in_fds[i] >= 0)
			close(c->in_fds[i]);
	close(c->sock);
	close(c->pidfd);
	free(c->out);
	c->out = NULL;
	if (c->doomed)
		list_del(&c->dlink);
	c->doomed = false;
	c->state = C_DEAD;
	list_del(&c->link);
	list_add_tail(&zombies, &c->link);
}

/* Ends the clients whose replies could not be sent; ending one may doom
 * another (a deferred ATTACH answered when a lease is released). */
static void end_doomed(void)
{
	while (!list_empty(&doomed)) {
		struct client *c = container_of(doomed.next, struct client, dlink);
		client_end(c, "reply not sent");
	}
}

/* ------------------------------------------------------------------------
 * Requests
 */

static void violation(struct client *c, const char *what)
{
	logmsg(L_WARN, "pid %d: protocol violation: %s", (int)c->pid, what);
	client_end(c, what);
}

/* Sum of what uid holds (attached or waiting), for the limits. */
static void usage_of(uid_t uid, unsigned long long *attaches,
		     unsigned long long *reserve)
{
	*attaches = *reserve = 0;
	list_for_each(l, &clients) {
		const struct client *c = container_of(l, struct client, link);
		if (c->uid == uid && (c->state == C_ATTACHED || c->state == C_QUEUED)) {
			++*attaches;
			*reserve += c->reserve;
		}
	}
}

static int check_attach(struct client *c, const struct gmd_msg *m, int fd,
			struct stat *st)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_PATH) || fstat(fd, st) < 0 || !S_ISREG(st->st_mode))
		return -EBADF;
	int acc = fl & O_ACCMODE;
	if ((m->flags & GMD_F_WRITE) ? acc != O_RDWR : acc == O_WRONLY)
		return -EACCES;
	unsigned long long attaches, reserve;
	usage_of(c->uid, &attaches, &reserve);
	if (attaches >= conf.max_attaches)
		return -EMFILE;
	if (conf.max_reserve && (m->arg[0] > conf.max_reserve ||
				 reserve > conf.max_reserve - m->arg[0]))
		return -ENOSPC;
	return 0;
}

/*
 * The writers' lock, shared, on the writer's descriptor: held until the
 * daemon closes that descriptor, after any settle, so that a writer alone
 * (which takes it exclusive) cannot attach while writers through the
 * daemon, or the daemon's cut of the file, are under way. -EBUSY when a
 * writer alone holds the file.
 */
static int share_writer_lock(int fd)
{
	struct flock fl = {
		.l_type = F_RDLCK, .l_whence = SEEK_SET,
		.l_start = GMD_LOCK_OFFSET, .l_len = 1,
	};
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0 || errno == ENOLCK)
		return 0;
	return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
}

/* Watches a writer's eventfd (its dirty limit crossed). */
static int watch_kick_fd(struct client *c, int kick_fd)
{
	int err = check_kick_fd(kick_fd);
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &c->kick_ev };
	if (!err && epoll_ctl(epfd, EPOLL_CTL_ADD, kick_fd, &e) < 0)
		err = -errno;
	if (err) {
		close(kick_fd);
		return err;
	}
	c->kick_fd = kick_fd;
	return 0;
}

static void do_attach(struct client *c, const struct gmd_msg *m, int fd, int kick_fd)
{
	if (!c->allowed) {
		logmsg(L_WARN, "pid %d uid %u gid %u: not allowed", (int)c->pid,
		       (unsigned)c->uid, (unsigned)c->gid);
		close(fd);
		if (kick_fd >= 0)
			close(kick_fd);
		reply(c, GMD_ATTACH, -EACCES, 0, 0);
		client_end(c, "not allowed");
		return;
	}
	struct stat st;
	int err = check_attach(c, m, fd, &st);
	if (!err && kick_fd >= 0) {
		err = watch_kick_fd(c, kick_fd);
		kick_fd = -1;
	}
	struct file *f = err ? NULL : file_get(&st);
	if (!err && !f)
		err = -ENOMEM;
	if (!err && (m->flags & GMD_F_WRITE) && (err = share_writer_lock(fd)) < 0)
		file_put(f);
	if (err) {
		logmsg(L_INFO, "attach pid %d uid %u refused: %s", (int)c->pid,
		       (unsigned)c->uid, err == -EBUSY ? "a writer alone holds the file"
						      : strerror(-err));
		close(fd);
		if (kick_fd >= 0)
			close(kick_fd);
		drop_kick_fd(c);
		c->state = C_DONE;
		reply(c, GMD_ATTACH, err, 0, 0);
		return;
	}
	c->interval_ms = m->arg[3] > GMD_MAX_INTERVAL_MS ? GMD_MAX_INTERVAL_MS
							 : (uint32_t)m->arg[3];
	c->err_seen = f->err_seq;
	c->fd = fd;
	c->file = f;
	c->write = m->flags & GMD_F_WRITE;
	c->reserve = m->arg[0];
	c->reattach = m->flags & GMD_F_REATTACH;
	c->old_floor = m->arg[2] > INT64_MAX ? INT64_MAX : (off_t)m->arg[2];
	if (c->write && f->lease) {
		logmsg(L_DEBUG, "attach pid %d %llu:%llu waits for pid %d's lease",
		       (int)c->pid, dev_ull(f->dev), (unsigned long long)f->ino,
		       (int)f->lease->pid);
		c->state = C_QUEUED;
		list_add_tail(&f->queue, &c->flink);
		return;
	}
	complete_attach(c);
}

static void do_sync(struct client *c)
{
	struct file *f = c->file;
	off_t floor = file_floor(f);
	if (c->write && f->writers == 1 && (!f->lease || f->lease == c) &&
	    !other_writer_holds(c->fd, c->pid)) {
		f->lease = c;
		logmsg(L_DEBUG, "pid %d holds the lease of %llu:%llu", (int)c->pid,
		       dev_ull(f->dev), (unsigned long long)f->ino);
		reply(c, GMD_SYNC, 0, 1, (uint64_t)floor);
	} else {
		reply(c, GMD_SYNC, 0, 0, (uint64_t)floor);
	}
}

static void do_settled(struct client *c, const struct gmd_msg *m)
{
	struct file *f = c->file;
	f->lease = NULL;
	f->exact = true;
	/* Exact now: a later settle never goes below it, and a size the
	 * program set below the old floor holds. A size beyond any file's
	 * is kept as the largest one, not wrapped to a negative floor,
	 * which would let the settle cut the file below what was left. */
	f->floor = m->arg[0] > INT64_MAX ? INT64_MAX : (off_t)m->arg[0];
	c->settled_last = true;
	logmsg(L_INFO, "pid %d settled %llu:%llu at %llu bytes", (int)c->pid,
	       dev_ull(f->dev), (unsigned long long)f->ino,
	       (unsigned long long)m->arg[0]);
	reply(c, GMD_SETTLED, 0, 0, 0);
	answer_queue(f);
}

static size_t status_records(void)
{
	size_t n = 0;
	list_for_each(l, &files) {
		const struct file *f = container_of(l, struct file, link);
		n += 2;   /* FILE, WRITEBACK */
		list_for_each(k, &f->attached)
			n++;
	}
	return n;
}

static void do_status(struct client *c)
{
	if (!c->allowed) {
		logmsg(L_WARN, "pid %d uid %u gid %u: status not allowed", (int)c->pid,
		       (unsigned)c->uid, (unsigned)c->gid);
		reply(c, GMD_STATUS, -EACCES, 0, 0);
		client_end(c, "not allowed");
		return;
	}
	size_t count = status_records();
	struct gmd_msg *m = calloc(count + 1, sizeof(*m));
	if (!m) {
		reply(c, GMD_STATUS, -ENOMEM, 0, 0);
		return;
	}
	m[0] = (struct gmd_msg){ .magic = GMD_MAGIC,
		.type = GMD_STATUS | GMD_REPLY, .count = (uint32_t)count };
	size_t i = 1;
	uint64_t index = 0;
	list_for_each(l, &files) {
		const struct file *f = container_of(l, struct file, link);
		/* A file only operations in flight keep listed (its last
		 * client gone) has no descriptor here: size and cache unknown. */
		int fd = file_any_fd(f);
		struct stat st;
		struct gmd_msg *r = &m[i++];
		*r = (struct gmd_msg){ .magic = GMD_MAGIC, .type = GMD_REC_FILE,
			.count = f->writers, .flags = (uint16_t)f->readers,
			.status = f->last_error };
		r->arg[0] = (uint64_t)f->dev;
		r->arg[1] = (uint64_t)f->ino;
		r->arg[2] = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX;
		r->arg[3] = (uint64_t)file_floor(f);
		cache_state(fd, &r->arg[4], &r->arg[5]);
		r = &m[i++];
		*r = (struct gmd_msg){ .magic = GMD_MAGIC, .type = GMD_REC_WRITEBACK,
			.arg = { f->passes, f->sync_requests, f->fsyncs, f->err_seq,
				 f->durables } };
		list_for_each(k, &f->attached) {
			const struct client *a = container_of(k, struct client, flink);
			r = &m[i++];
			*r = (struct gmd_msg){ .magic = GMD_MAGIC, .type = GMD_REC_CLIENT,
				.flags = a->write ? GMD_F_WRITE : 0,
				.arg = { (uint64_t)a->pid, a->uid, index, a->reserve } };
		}
		index++;
	}
	c->out = (char *)m;
	c->out_len = (count + 1) * sizeof(*m);
	c->out_off = 0;
	flush_output(c);
}

static void handle_request(struct client *c, const struct gmd_msg *m,
			   const int fds[2], unsigned nfds)
{
	int fd = fds[0];
	if (gmd_check_request(m, nfds) < 0) {
		for (unsigned i = 0; i < 2 && i < nfds; i++)
			close(fds[i]);
		violation(c, nfds > 2 ? "more than two descriptors" : "bad message");
		return;
	}
	if (m->type != GMD_SETTLED && m->type != GMD_DETACH)
		c->settled_last = false;
	if (m->type == GMD_STATUS) {
		do_status(c);
		return;
	}
	if (m->type == GMD_ATTACH) {
		if (c->state != C_NEW) {
			close(fd);
			if (nfds == 2)
				close(fds[1]);
			violation(c, "second ATTACH");
		} else {
			do_attach(c, m, fd, nfds == 2 ? fds[1] : -1);
		}
		return;
	}
	if (c->state != C_ATTACHED) {
		violation(c, "request without an attachment");
		return;
	}
	switch (m->type) {
	case GMD_SYNC:
		do_sync(c);
		break;
	case GMD_SETTLED:
		if (c->file->lease != c)
			violation(c, "SETTLED without the lease");
		else
			do_settled(c, m);
		break;
	case GMD_DATASYNC:
		do_datasync(c);
		break;
	case GMD_DETACH:
		/* The attachment ends now, not at EOF: when the client reads
		 * this reply, the file is already settled if it was the last
		 * writer, and others see one writer fewer. */
		end_attachment(c, true, "detached");
		c->state = C_DONE;
		reply(c, GMD_DETACH, 0, 0, 0);
		break;
	}
}

/* Reads (part of) one request; handles it once all 64 bytes are in. */
static void client_readable(struct client *c)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(8 * sizeof(int))];
	} ctl;
	struct iovec iov = { (char *)&c->in + c->in_len, sizeof(c->in) - c->in_len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(c->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* Descriptors first: they are ours now, whatever else happens. */
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
			if (c->in_nfds < 2)
				c->in_fds[c->in_nfds] = fd;
			else
				close(fd);
			c->in_nfds++;
		}
	}
	if (n > 0 && (mh.msg_flags & MSG_CTRUNC))
		c->in_nfds += 3;   /* more than fit: more than two */
	if (n <= 0) {
		client_end(c, n == 0 ? "connection closed" : strerror(errno));
		return;
	}
	c->in_len += (size_t)n;
	if (c->in_len < sizeof(c->in))
		return;
	struct gmd_msg m = c->in;
	int fds[2] = { c->in_fds[0], c->in_fds[1] };
	unsigned nfds = c->in_nfds;
	c->in_len = 0;
	c->in_fds[0] = c->in_fds[1] = -1;
	c->in_nfds = 0;
	handle_request(c, &m, fds, nfds);
	if (c->state != C_DEAD)
		update_events(c);
}

/* ------------------------------------------------------------------------
 * Connections
 */

#ifndef GROWMAPD_FUZZ
static bool in_list(const struct idlist *list, unsigned id)
{
	for (size_t i = 0; i < list->n; i++)
		if (list->ids[i] == id)
			return true;
	return false;
}

static bool peer_allowed(int sock, const struct ucred *cr)
{
	if (!conf.users.set && !conf.groups.set)
		return cr->uid == 0 || cr->uid == geteuid();
	if (in_list(&conf.users, cr->uid) || in_list(&conf.groups, cr->gid))
		return true;
	if (!conf.groups.set)
		return false;
	/* Supplementary groups: the kernel keeps the peer's at connect(). */
	gid_t small[64], *groups = small;
	socklen_t len = sizeof(small);
	bool found = false;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0 &&
	    errno == ERANGE) {
		groups = malloc(len);
		if (groups && getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
			len = 0;
	}
	for (size_t i = 0; groups && !found && i < len / sizeof(gid_t); i++)
		found = in_list(&conf.groups, groups[i]);
	if (groups != small)
		free(groups);
	return found;
}

#endif

/* Lists a connection from the peer 'cr' on 'sock', its process watched
 * through 'pidfd'; closes both and returns NULL when that fails. */
static struct client *add_client(int sock, int pidfd, const struct ucred *cr,
				 bool allowed)
{
	struct client *c = calloc(1, sizeof(*c));
	if (!c) {
		logmsg(L_ERROR, "out of memory");
		close(pidfd);
		close(sock);
		return NULL;
	}
	*c = (struct client){ .state = C_NEW, .sock = sock, .pidfd = pidfd,
		.fd = -1, .in_fds = { -1, -1 }, .kick_fd = -1, .pid = cr->pid,
		.uid = cr->uid, .gid = cr->gid, .events = EPOLLIN,
		.sock_ev = { EV_SOCK, c }, .pid_ev = { EV_PIDFD, c },
		.kick_ev = { EV_KICK, c } };
	list_init(&c->flink);
	c->allowed = allowed;
	struct epoll_event se = { .events = EPOLLIN, .data.ptr = &c->sock_ev };
	struct epoll_event pe = { .events = EPOLLIN, .data.ptr = &c->pid_ev };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sock, &se) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, pidfd, &pe) < 0) {
		logmsg(L_ERROR, "epoll_ctl: %s", strerror(errno));
		close(pidfd);
		close(sock);
		free(c);
		return NULL;
	}
	list_add_tail(&clients, &c->link);
	logmsg(L_DEBUG, "connection from pid %d uid %u gid %u%s", (int)c->pid,
	       (unsigned)c->uid, (unsigned)c->gid, c->allowed ? "" : " (not allowed)");
	return c;
}

#ifndef GROWMAPD_FUZZ
static void accept_client(int lfd)
{
	int sock = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (sock < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			logmsg(L_ERROR, "accept: %s", strerror(errno));
		return;
	}
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		logmsg(L_ERROR, "SO_PEERCRED: %s", strerror(errno));
		close(sock);
		return;
	}
	/* The peer may already be gone (ESRCH) or in another pid namespace
	 * (pid 0): without a pidfd its death could go unseen, so no. */
	int pidfd = cr.pid > 0 ? (int)syscall(SYS_pidfd_open, cr.pid, 0) : -1;
	if (pidfd < 0) {
		logmsg(L_WARN, "pid %d: cannot watch the peer: %s", (int)cr.pid,
		       cr.pid > 0 ? strerror(errno) : "pid unknown");
		close(sock);
		return;
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	add_client(sock, pidfd, &cr, peer_allowed(sock, &cr));
}
#endif

/* The state main() starts from (the fuzzing harness too). */
static void daemon_init(void)
{
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	list_init(&files);
	list_init(&clients);
	list_init(&zombies);
	list_init(&doomed);
}

/* Frees the clients ended so far, once no event can name them any more. */
static void free_zombies(void)
{
	while (!list_empty(&zombies)) {
		struct client *c = container_of(zombies.next, struct client, link);
		list_del(&c->link);
		free(c);
	}
}

static void client_event(struct client *c, uint32_t events)
{
	if (c->state == C_DEAD)
		return;   /* ended earlier in this batch */
	if (events & EPOLLOUT)
		flush_output(c);
	if (c->doomed)
		return;
	if ((events & EPOLLIN) && (c->events & EPOLLIN))
		client_readable(c);
	else if (events & (EPOLLHUP | EPOLLERR))
		client_end(c, "connection closed");
}

/* An event of a connection's socket, its peer's pidfd or its eventfd, or
 * of the ring; then the ends it made due. */
static void connection_event(const struct ev *e, uint32_t events)
{
	if (e->kind == EV_SOCK)
		client_event(e->c, events);
	else if (e->kind == EV_KICK)
		kick_event(e->c);
	else if (e->kind == EV_RING)
		ring_event();
	else
		client_end(e->c, "process exited");
	end_doomed();
}

#ifdef GROWMAPD_FUZZ
/* ------------------------------------------------------------------------
 * Entry points of the fuzzing harnesses (tests/fuzz/growmapd-fuzz.h): the
 * code above, driven without main(), a listening socket or signals.
 */

#include "growmapd-fuzz.h"

void gmd_fuzz_init(void)
{
	daemon_init();
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		abort();
	ring_init();
	/* The ring's completions are handled when the harness says the
	 * disk is done (gmd_fuzz_complete), not whenever they come. */
	if (have_ring)
		epoll_ctl(epfd, EPOLL_CTL_DEL, ring_efd, NULL);
}

void gmd_fuzz_ring(bool use)
{
	have_ring = use && ring_efd >= 0;
}

void gmd_fuzz_advance(uint64_t ms)
{
	fuzz_clock_ms += ms;
}

struct client *gmd_fuzz_connect(int sock, uid_t uid, bool allowed)
{
	/* The harness's own process: its pidfd never fires, the harness
	 * says when the peer "exits" (gmd_fuzz_exit). */
	int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0)
		abort();
	struct ucred cr = { .pid = getpid(), .uid = uid, .gid = uid };
	return add_client(sock, pidfd, &cr, allowed);
}

/* What must hold between events whatever the clients sent; a breach
 * aborts, so that the fuzzer reports it as a crash. */
static void check_state(void)
{
	list_for_each(l, &files) {
		const struct file *f = container_of(l, struct file, link);
		unsigned writers = 0, readers = 0;
		bool lease_attached = false;
		list_for_each(k, &f->attached) {
			const struct client *c = container_of(k, struct client, flink);
			if (c->state != C_ATTACHED || c->file != f)
				abort();
			c->write ? writers++ : readers++;
			lease_attached |= f->lease == c;
		}
		list_for_each(k, &f->queue) {
			const struct client *c = container_of(k, struct client, flink);
			if (c->state != C_QUEUED || c->file != f || !c->write)
				abort();
		}
		/* The floor is a file size: the settle never cuts below it. */
		if (f->floor < 0 || writers != f->writers || readers != f->readers ||
		    (f->lease && !lease_attached) ||
		    (!list_empty(&f->queue) && !f->lease) ||
		    (list_empty(&f->attached) && list_empty(&f->queue) && !f->ops))
			abort();
	}
}

int gmd_fuzz_poll(void)
{
	struct epoll_event ev[64];
	writeback_timers();
	int n = epoll_wait(epfd, ev, 64, 0);
	for (int i = 0; i < n; i++) {
		connection_event(ev[i].data.ptr, ev[i].events);
		check_state();
	}
	return n;
}

static bool ops_in_flight(void)
{
	list_for_each(l, &files)
		if (container_of(l, struct file, link)->ops)
			return true;
	return false;
}

bool gmd_fuzz_complete(void)
{
	bool any = false;
	while (have_ring && ops_in_flight()) {
		struct io_uring_cqe *cqe;
		int r;
		/* libFuzzer's -timeout alarm interrupts the wait. */
		while ((r = io_uring_wait_cqe(&ring, &cqe)) == -EINTR)
			;
		if (r < 0)
			abort();
		ring_event();
		check_state();
		any = true;
	}
	return any;
}

void gmd_fuzz_exit(struct client *c)
{
	connection_event(&c->pid_ev, EPOLLIN);
	check_state();
}

bool gmd_fuzz_ended(const struct client *c)
{
	return c->state == C_DEAD;
}

void gmd_fuzz_reset(void)
{
	while (!list_empty(&clients))
		client_end(container_of(clients.next, struct client, link), "reset");
	end_doomed();
	ring_drain();
	free_zombies();
	/* A file still listed once every client ended is one leaked. */
	if (!list_empty(&files) || !list_empty(&doomed))
		abort();
}

int gmd_fuzz_config(const char *path)
{
	__typeof__(conf) before = conf;
	enum level level_before = log_level;
	int r = load_config(path);
	/* What a file that loads may set (growmapd(8), CONFIGURATION). */
	if (r == 0 && (conf.max_attaches < 1 || conf.max_attaches > UINT32_MAX ||
		       (conf.users.set && !conf.users.n) ||
		       (conf.groups.set && !conf.groups.n)))
		abort();
	free(conf.users.ids);
	free(conf.groups.ids);
	conf = before;
	log_level = level_before;
	return r;
}

#else /* !GROWMAPD_FUZZ: the daemon proper */

/* ------------------------------------------------------------------------
 * Listening socket
 */

static void make_parent_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		logmsg(L_WARN, "cannot create %s: %s", dir, strerror(errno));
}

/* Removes what a dead daemon left at 'path'; refuses to take the place
 * of a live one, or of anything that is not a socket. */
static int remove_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		logmsg(L_ERROR, "%s exists and is not a socket", sa->sun_path);
		return -EEXIST;
	}
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	int r = connect(s, (const struct sockaddr *)sa, sizeof(*sa));
	close(s);
	if (r == 0) {
		logmsg(L_ERROR, "another daemon is listening on %s", sa->sun_path);
		return -EADDRINUSE;
	}
	return unlink(sa->sun_path) < 0 && errno != ENOENT ? -errno : 0;
}

static int create_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		logmsg(L_ERROR, "socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	make_parent_dir(path);
	if (remove_stale(&sa) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		logmsg(L_ERROR, "socket: %s", strerror(errno));
		return -1;
	}
	/* World-connectable, as with the socket unit's SocketMode=0666:
	 * the allow-list decides who may attach. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
		logmsg(L_ERROR, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The socket systemd passed, if any: -1 none, -2 unusable. */
static int activated_socket(void)
{
	int n = sd_listen_fds(1);
	if (n == 0)
		return -1;
	if (n != 1) {
		logmsg(L_ERROR, "expected one socket from systemd, got %d%s%s", n,
		       n < 0 ? ": " : "", n < 0 ? strerror(-n) : "");
		return -2;
	}
	int fd = SD_LISTEN_FDS_START;
	if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
		logmsg(L_ERROR, "the socket from systemd is not a listening unix stream socket");
		return -2;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		logmsg(L_ERROR, "fcntl: %s", strerror(errno));
		return -2;
	}
	return fd;
}

/* ------------------------------------------------------------------------
 * Main
 */

static void usage(FILE *out)
{
	fprintf(out, "usage: " PROG " [--socket PATH] [--config FILE]\n");
}

/* Room for a descriptor per client socket, pidfd and file. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *config = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "s:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 's': path = optarg; break;
		case 'c': config = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (config && load_config(config) < 0)
		return 2;

	daemon_init();
	raise_nofile();

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || epfd < 0) {
		logmsg(L_ERROR, "signalfd/epoll: %s", strerror(errno));
		return 1;
	}
	ring_init();

	char pathbuf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd = activated_socket();
	bool created = lfd == -1;
	if (lfd == -2)
		return 1;
	if (created) {
		if (!path && !(path = gmd_default_socket(PROG, pathbuf, sizeof(pathbuf))))
			return 1;
		lfd = create_socket(path);
		if (lfd < 0)
			return 1;
	}
	static const struct ev listen_ev = { EV_LISTEN, NULL }, signal_ev = { EV_SIGNAL, NULL };
	struct epoll_event le = { .events = EPOLLIN, .data.ptr = (void *)&listen_ev };
	struct epoll_event ge = { .events = EPOLLIN, .data.ptr = (void *)&signal_ev };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &le) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ge) < 0) {
		logmsg(L_ERROR, "epoll_ctl: %s", strerror(errno));
		return 1;
	}
	sd_notify(0, "READY=1");
	logmsg(L_INFO, "listening on %s", created ? path : "the socket from systemd");

	int signo = 0;
	while (!signo) {
		struct epoll_event ev[64];
		int n = epoll_wait(epfd, ev, 64, writeback_timers());
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			logmsg(L_ERROR, "epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			const struct ev *e = ev[i].data.ptr;
			switch (e->kind) {
			case EV_LISTEN:
				accept_client(lfd);
				break;
			case EV_SIGNAL: {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof(si)) == sizeof(si))
					signo = (int)si.ssi_signo;
				break;
			}
			case EV_SOCK:
			case EV_PIDFD:
			case EV_KICK:
			case EV_RING:
				connection_event(e, ev[i].events);
				break;
			}
		}
		free_zombies();
	}

	/* Attached clients keep working without the daemon: nothing is
	 * settled here, connections just close with the process, once the
	 * operations under way are done and their clients answered. */
	logmsg(L_INFO, "exiting on %s", strsignal(signo));
	ring_drain();
	close(lfd);
	if (created && unlink(path) < 0)
		logmsg(L_WARN, "cannot remove %s: %s", path, strerror(errno));
	return 0;
}
#endif /* GROWMAPD_FUZZ */
