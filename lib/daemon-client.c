/* SPDX-License-Identifier: MIT */
/*
 * Attaching through growmapd (growmap(7), SHARING): several processes
 * share one growing file. Each maps the file itself and grows it with
 * fallocate(2), which never shrinks a file; the one operation that could
 * hurt another process, cutting the file down to its exact size, happens
 * only under the daemon's settle lease, which it grants to a writer that
 * is the file's only writer. The daemon settles the file itself when the
 * last writer goes without doing so (a crash). See lib/proto.h and
 * growmapd(8).
 *
 * One connection per attachment: its end is the attachment's end, so the
 * daemon learns of a crash from the kernel, not from us.
 *
 * Writeback is the daemon's too: a writer passes it the eventfd its fault
 * path writes to when the dirty limit is crossed, and its interval, and
 * asks it for the fdatasync of a sync (DATASYNC), which the daemon runs
 * once for every writer that asked meanwhile (writeback.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "growmap-internal.h"
#include "proto.h"

/* How long a request may wait for its answer before the daemon counts as
 * gone: an ATTACH waits while another writer holds the settle lease,
 * which lasts one sync. */
#define REPLY_TIMEOUT_S 30

struct gm_daemon {
	int sock;
	pthread_mutex_t lock;      /* one request at a time */
	bool lost;                 /* connection failed: never cut the file */
	struct timespec lost_at;   /* when; a sync tries again a while later */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(s);
		return -err;
	}
	return s;
}

/* The socket to try: the configured one, else the user's own daemon
 * ($XDG_RUNTIME_DIR/growmap.sock, not for root), else the system's. */
static int connect_default(const struct gm_config *cfg, char *used, size_t len)
{
	if (cfg->socket[0]) {
		snprintf(used, len, "%s", cfg->socket);
		return connect_to(cfg->socket);
	}
	const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
	if (geteuid() != 0 && xdg && *xdg) {
		char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
		if ((size_t)snprintf(path, sizeof(path), "%s/growmap.sock", xdg) < sizeof(path)) {
			int s = connect_to(path);
			if (s >= 0 || (s != -ENOENT && s != -ECONNREFUSED)) {
				snprintf(used, len, "%s", path);
				return s;
			}
		}
	}
	snprintf(used, len, "%s", GM_SYSTEM_SOCKET);
	return connect_to(GM_SYSTEM_SOCKET);
}

/* Sends one request (with 'nfds' descriptors 'fds' attached) and reads
 * its reply. A DATASYNC waits as long as the daemon's fdatasync does. */
static int request(struct gm_daemon *d, struct gmd_msg *m, const int *fds, int nfds)
{
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	uint16_t type = m->type;
	m->magic = GMD_MAGIC;
	ssize_t n;
	do
		n = sendmsg(d->sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*m))
		return n < 0 ? -errno : -EPROTO;
	size_t got = 0;
	while (got < sizeof(*m)) {
		n = recv(d->sock, (char *)m + got, sizeof(*m) - got, 0);
		if (n < 0 && (errno == EINTR ||
			      (errno == EAGAIN && type == GMD_DATASYNC)))
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		got += (size_t)n;
	}
	if (m->magic != GMD_MAGIC || m->type != (type | GMD_REPLY))
		return -EPROTO;
	return 0;
}

/* A failed exchange: the daemon is gone or confused. From now on this
 * attachment never cuts its file (its size may run ahead; growmap(7)). */
static int lose(struct growmap *gm, int err)
{
	struct gm_daemon *d = gm->daemon;
	if (!d->lost)
		gm_log(&gm->cfg, GM_LOG_WARN, "growmapd at %s: %s; going on without it "
		       "(the file is not cut to its exact size by this process)",
		       d->path, strerror(-err));
	d->lost = true;
	clock_gettime(CLOCK_MONOTONIC, &d->lost_at);
	if (d->sock >= 0)
		close(d->sock);
	d->sock = -1;
	return err;
}

/* ATTACH over d->sock: 0 and the floor, or a negative errno. 'again'
 * for an attachment whose daemon died: the new one learns the floor the
 * old one gave (GMD_F_REATTACH). */
static int send_attach(struct growmap *gm, struct gm_daemon *d, bool again, off_t *floor)
{
	struct gmd_msg m = {
		.type = GMD_ATTACH,
		.flags = (gm->writable ? GMD_F_WRITE : 0) | (again ? GMD_F_REATTACH : 0),
		.arg = { gm->reserve, (uint64_t)gm->grow.attach_size,
			 again ? (uint64_t)gm->grow.floor_size : 0,
			 gm->writable ? gm->cfg.writeback_interval_ms : 0 },
	};
	int fds[2] = { gm->fd, gm->writable ? gm_writeback_kick_fd(gm) : -1 };
	int r = request(d, &m, fds, fds[1] >= 0 ? 2 : 1);
	if (r == 0)
		r = m.status;
	if (r == 0)
		*floor = (off_t)m.arg[0];
	return r;
}

/* How often a lost daemon is looked for again, at syncs. */
#define RECONNECT_INTERVAL_S 1

/*
 * After the daemon died: at a sync, now and then, the same socket again.
 * A daemon there (a new one) learns of this attachment, and of the floor
 * this one was given, which a daemon started afresh cannot know
 * (GMD_F_REATTACH). Called with d->lock held.
 */
static void reconnect(struct growmap *gm, bool at_once)
{
	struct gm_daemon *d = gm->daemon;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!at_once && now.tv_sec - d->lost_at.tv_sec < RECONNECT_INTERVAL_S)
		return;
	d->lost_at = now;
	int s = connect_to(d->path);
	if (s < 0)
		return;
	d->sock = s;
	off_t floor;
	if (send_attach(gm, d, true, &floor) == 0) {
		d->lost = false;
		gm_log(&gm->cfg, GM_LOG_INFO, "growmapd at %s: attached again", d->path);
		return;
	}
	close(s);
	d->sock = -1;
}

int gm_daemon_attach(struct growmap *gm, off_t *floor)
{
	if (gm->cfg.daemon == GM_DAEMON_OFF)
		return 1;
	struct gm_daemon *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	d->sock = connect_default(&gm->cfg, d->path, sizeof(d->path));
	int r = d->sock;
	if (r >= 0) {
		r = send_attach(gm, d, false, floor);
		if (r == 0) {
			gm->daemon = d;
			return 0;
		}
		close(d->sock);
	}
	snprintf(gm->daemon_why, sizeof(gm->daemon_why), "growmapd at %s: %s",
		 d->path, strerror(-r));
	pthread_mutex_destroy(&d->lock);
	free(d);
	return gm->cfg.daemon == GM_DAEMON_REQUIRED ? r : 1;
}

int gm_daemon_sync_begin(struct growmap *gm, off_t *floor)
{
	struct gm_daemon *d = gm->daemon;
	pthread_mutex_lock(&d->lock);
	int r = 0;
	/* A daemon found gone here is looked for again at once: a new one
	 * may already be listening (restarted by systemd). */
	for (int tries = 0; tries < 2; tries++) {
		if (d->lost)
			reconnect(gm, tries > 0);
		if (d->lost)
			break;
		struct gmd_msg m = { .type = GMD_SYNC };
		r = request(d, &m, NULL, 0);
		if (r == 0 && (r = m.status) == 0) {
			r = m.arg[0] == 1;
			*floor = (off_t)m.arg[1];
			break;
		}
		lose(gm, r);
		r = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

void gm_daemon_settled(struct growmap *gm, off_t size)
{
	struct gm_daemon *d = gm->daemon;
	pthread_mutex_lock(&d->lock);
	if (!d->lost) {
		struct gmd_msg m = { .type = GMD_SETTLED, .arg = { (uint64_t)size } };
		int r = request(d, &m, NULL, 0);
		if (r < 0 || m.status < 0)
			lose(gm, r < 0 ? r : m.status);
	}
	pthread_mutex_unlock(&d->lock);
}

int gm_daemon_datasync(struct growmap *gm)
{
	struct gm_daemon *d = gm->daemon;
	int r = 1;
	pthread_mutex_lock(&d->lock);
	if (!d->lost) {
		struct gmd_msg m = { .type = GMD_DATASYNC };
		r = request(d, &m, NULL, 0);
		if (r == 0)
			r = m.status;   /* 0 or a writeback error of the file */
		else
			r = (lose(gm, r), 1);
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

bool gm_daemon_connected(struct growmap *gm)
{
	struct gm_daemon *d = gm->daemon;
	if (!d)
		return false;
	pthread_mutex_lock(&d->lock);
	bool up = !d->lost;
	pthread_mutex_unlock(&d->lock);
	return up;
}

void gm_daemon_after_fork(struct growmap *gm)
{
	struct gm_daemon *old = gm->daemon;
	if (old->sock >= 0)
		close(old->sock);   /* the parent's connection stays its own */
	char path[sizeof(old->path)];
	memcpy(path, old->path, sizeof(path));
	free(old);   /* the child's copy; its lock is neither taken nor destroyed */
	gm->daemon = NULL;
	off_t floor;
	enum gm_daemon_mode mode = gm->cfg.daemon;
	gm->cfg.daemon = GM_DAEMON_REQUIRED;
	int r = gm_daemon_attach(gm, &floor);
	gm->cfg.daemon = mode;
	if (r == 0)
		return;
	/* The range is shared all the same (the child inherited it): go on,
	 * but never cut the file. */
	struct gm_daemon *d = calloc(1, sizeof(*d));
	if (!d)
		abort();    /* nothing to share the range with otherwise */
	d->sock = -1;
	d->lost = true;
	pthread_mutex_init(&d->lock, NULL);
	memcpy(d->path, path, sizeof(d->path));
	gm->daemon = d;
	gm_log(&gm->cfg, GM_LOG_WARN, "after fork: %s; the child does not cut the file "
	       "to its exact size", gm->daemon_why);
}

void gm_daemon_detach(struct growmap *gm)
{
	struct gm_daemon *d = gm->daemon;
	if (!d)
		return;
	if (!d->lost) {
		struct gmd_msg m = { .type = GMD_DETACH };
		request(d, &m, NULL, 0);
	}
	if (d->sock >= 0)
		close(d->sock);
	pthread_mutex_destroy(&d->lock);
	free(d);
	gm->daemon = NULL;
}
