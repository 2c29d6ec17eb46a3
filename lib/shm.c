/* SPDX-License-Identifier: MIT */
/*
 * The AIX layer: shmat(2) and shmdt(2) with AIX's SHM_MAP on top of
 * growmap, and the fsync(2) and close(2) entry points that keep a ported
 * program's durability points and detaches working. Calls without SHM_MAP
 * go to the system unchanged.
 *
 * Unlike the rest of the library, these functions follow the convention
 * of the calls they stand for: -1 or (void *)-1 with errno.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "growmap/shm.h"
#include "growmap-internal.h"

/* AIX's SHM_COPY; the same bit is Linux's SHM_REMAP. Neither has a
 * meaning growmap offers for a mapped file. */
#define SHM_COPY_BIT 040000

/* One range attached by growmap_shmat() with SHM_MAP. */
struct shm_attach {
	struct shm_attach *next;
	char *addr;
	struct growmap *gm;
	int fd;               /* the caller's descriptor, for growmap_shm_close() */
	int own_fd;           /* our duplicate: the file's times at detach, even
				 after the caller closed its descriptor */
	dev_t dev;
	ino_t ino;
	bool writable;
	pid_t owner;          /* process that attached; after fork() a child
				 has nothing mapped, unless the range is
				 shared through growmapd (growmap_open(3)) */
};

/*
 * Attached ranges of this process. The lock is held across growmap calls
 * (sync, close), so that a range cannot be detached under a caller using
 * it; growmap's registry lock is taken inside it, never the other way.
 */
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shm_attach *attach_head;
static pthread_once_t attach_once = PTHREAD_ONCE_INIT;

static void attach_prefork(void) { pthread_mutex_lock(&attach_lock); }
static void attach_postfork(void) { pthread_mutex_unlock(&attach_lock); }

/* fork() runs prepare handlers in the reverse order of installation:
 * ours after the registry's, so ours runs first, matching the lock order. */
static void attach_install_atfork(void)
{
	gm_registry_atfork();
	pthread_atfork(attach_prefork, attach_postfork, attach_postfork);
}

/* Takes the lock. In a child process, first forgets the parent's ranges
 * that the child has nothing mapped at; a range shared through growmapd
 * the child inherited, and attached again as its own, as on AIX. */
static void lock_attaches(void)
{
	pthread_once(&attach_once, attach_install_atfork);
	pthread_mutex_lock(&attach_lock);
	pid_t self = getpid();
	for (struct shm_attach **pp = &attach_head; *pp;) {
		struct shm_attach *e = *pp;
		if (e->owner != self && e->gm->owner == self)
			e->owner = self;
		if (e->owner == self) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		close(e->own_fd);
		free(e);
	}
}

static void unlock_attaches(void)
{
	pthread_mutex_unlock(&attach_lock);
}

static struct shm_attach **find_attach(const void *addr)
{
	struct shm_attach **pp = &attach_head;
	while (*pp && (*pp)->addr != addr)
		pp = &(*pp)->next;
	return pp;
}

/*
 * Writes back and detaches one range and unlinks it from the list. A
 * read-write attach then sets the file's modification time to now (the
 * change time follows), whatever was stored: the detach is the moment
 * the program's changes are complete. Returns 0 or a negative errno;
 * on failure the range stays attached and listed.
 */
static int detach_locked(struct shm_attach **pp)
{
	struct shm_attach *e = *pp;
	int r = growmap_close(e->gm);
	if (r < 0 && r != -EBADF)
		return r;  /* still attached and intact */
	*pp = e->next;
	if (r == 0 && e->writable) {
		const struct timespec times[2] = {
			{ .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_NOW },
		};
		futimens(e->own_fd, times);  /* the data is safe either way */
	}
	close(e->own_fd);
	free(e);
	/* -EBADF: the handle was closed behind our back with growmap_close(3),
	 * so nothing is attached here any more. */
	return r == -EBADF ? -EINVAL : 0;
}

/* The address to attach at, or NULL for the library's choice; (void *)-1
 * when 'addr' cannot be used: misaligned without SHM_RND, or rounded to 0. */
static char *placement(const void *addr, int shmflg)
{
	if (!addr)
		return NULL;
	uintptr_t a = (uintptr_t)addr, lba = (uintptr_t)SHMLBA;
	if (shmflg & SHM_RND)
		a -= a % lba;
	else if (a % lba)
		return (char *)-1;
	return a ? (char *)a : (char *)-1;
}

GROWMAP_EXPORT void *growmap_shmat(int fd_or_shmid, const void *addr, int shmflg)
{
	if (!(shmflg & SHM_MAP))
		return shmat(fd_or_shmid, addr, shmflg);

	int fd = fd_or_shmid, err;
	if (shmflg & SHM_COPY_BIT) {
		errno = EOPNOTSUPP;
		return (void *)-1;
	}
	char *at = placement(addr, shmflg);
	if ((shmflg & ~(SHM_MAP | SHM_RDONLY | SHM_RND)) || at == (char *)-1) {
		errno = EINVAL;
		return (void *)-1;
	}
	/* AIX: EBADF when the descriptor is not an open regular file. */
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		errno = EBADF;
		return (void *)-1;
	}
	struct shm_attach *e = calloc(1, sizeof(*e));
	if (!e) {
		errno = ENOMEM;
		return (void *)-1;
	}
	e->own_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (e->own_fd < 0) {
		err = errno;
		free(e);
		errno = err;
		return (void *)-1;
	}
	e->writable = !(shmflg & SHM_RDONLY);
	int r = gm_open_placed(&e->gm, fd, 0, e->writable ? 0 : GROWMAP_RDONLY, NULL, at);
	if (r < 0) {
		close(e->own_fd);
		free(e);
		errno = (r == -EISDIR || r == -ENODEV) ? EBADF : -r;
		return (void *)-1;
	}
	e->addr = growmap_addr(e->gm);
	e->fd = fd;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->owner = getpid();
	lock_attaches();
	e->next = attach_head;
	attach_head = e;
	unlock_attaches();
	return e->addr;
}

GROWMAP_EXPORT int growmap_shmdt(const void *addr)
{
	lock_attaches();
	struct shm_attach **pp = find_attach(addr);
	if (!*pp) {
		unlock_attaches();
		return shmdt(addr);
	}
	int r = detach_locked(pp);
	unlock_attaches();
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

GROWMAP_EXPORT int growmap_shm_fsync(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	int err = 0;
	lock_attaches();
	for (struct shm_attach *e = attach_head; e; e = e->next) {
		if (!e->writable || e->dev != st.st_dev || e->ino != st.st_ino)
			continue;
		int r = growmap_sync(e->gm);
		if (r < 0 && !err)
			err = -r;
	}
	unlock_attaches();
	/* The descriptor may carry write(2)s of its own: sync it either way. */
	if (fsync(fd) < 0 && !err)
		err = errno;
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

GROWMAP_EXPORT int growmap_shm_close(int fd)
{
	struct stat st;
	if (fstat(fd, &st) == 0) {
		lock_attaches();
		for (struct shm_attach **pp = &attach_head; *pp;) {
			struct shm_attach *e = *pp;
			if (e->fd != fd || e->dev != st.st_dev || e->ino != st.st_ino) {
				pp = &e->next;
				continue;
			}
			int r = detach_locked(pp);
			if (r < 0 && r != -EINVAL) {
				unlock_attaches();
				errno = -r;
				return -1;  /* the range and fd stay as they were */
			}
		}
		unlock_attaches();
	}
	return close(fd);
}

GROWMAP_EXPORT struct growmap *growmap_shm_handle(const void *addr)
{
	lock_attaches();
	struct shm_attach *e = *find_attach(addr);
	unlock_attaches();
	if (!e) {
		errno = EINVAL;
		return NULL;
	}
	return e->gm;
}
