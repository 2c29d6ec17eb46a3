/* SPDX-License-Identifier: MIT */
/*
 * growmap's AIX layer: shmat(2) and shmdt(2) with AIX's SHM_MAP.
 *
 * growmap_shmat(fd, addr, SHM_MAP) attaches the regular file open on fd
 * as AIX does: the file appears in a 256 MiB range, stores beyond its end
 * make it grow, and growmap_shmdt() writes it back and detaches it. Calls
 * without SHM_MAP are System V shared memory and go to the system's
 * shmat(2) and shmdt(2) unchanged. growmap_shm_fsync() and
 * growmap_shm_close() are fsync(2) and close(2) that also write back
 * (fsync) or detach (close) the file's mappings.
 *
 * Unlike <growmap.h>, these functions follow the convention of the calls
 * they stand for: on failure they return (void *)-1 or -1 and set errno.
 *
 * A program written for AIX defines GROWMAP_SHM_REPLACE before including
 * this header, after its system headers, and keeps calling shmat, shmdt,
 * fsync and close (see growmap_shmat(3) and docs/PORTING-FROM-AIX.md).
 */
#ifndef GROWMAP_SHM_H
#define GROWMAP_SHM_H

#include <sys/shm.h>
#include <unistd.h>

#include <growmap.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Map the file open on the descriptor instead of attaching a System V
 * segment. AIX's value; on Linux 004000 has no meaning to shmat(2).
 * SHM_RDONLY and SHM_RND keep their Linux values, which are AIX's too.
 *
 * AIX's SHM_COPY (deferred update) is not defined: its value, 040000, is
 * Linux's SHM_REMAP, and growmap does not offer deferred update;
 * growmap_shmat() refuses that bit together with SHM_MAP (EOPNOTSUPP).
 */
#ifndef SHM_MAP
#define SHM_MAP 004000
#endif

/*
 * With SHM_MAP in 'shmflg': attach the regular file open on the descriptor
 * 'fd_or_shmid' to a new range of the configured default reservation
 * (256 MiB, one AIX segment), read-write (the descriptor must be open
 * O_RDWR) or, with SHM_RDONLY, read-only (open for reading). 'addr' NULL
 * lets the library choose the address; otherwise the range is placed at
 * 'addr', which must be a multiple of SHMLBA unless SHM_RND rounds it
 * down to one, and must not overlap anything mapped. Only one read-write
 * attach of a file may exist at a time.
 * Without SHM_MAP: shmat(2), unchanged.
 *
 * Returns the start of the range, or (void *)-1 with errno:
 * EBADF (not an open regular file), EACCES (the descriptor's access mode
 * does not allow the mapping), EINVAL (addr unusable or misaligned,
 * unknown flags, O_APPEND descriptor), EOPNOTSUPP (040000, AIX's
 * SHM_COPY), EBUSY (the file is already attached read-write), ENOMEM,
 * EMFILE, or the backend's errors (growmap_open(3)).
 */
GROWMAP_EXPORT void *growmap_shmat(int fd_or_shmid, const void *addr, int shmflg);

/*
 * If 'addr' is the start of a range attached by growmap_shmat() with
 * SHM_MAP: write every stored page back to the file and make it durable,
 * as growmap_close(3) does, detach, and, for a read-write attach, set the
 * file's modification and change times to now. If writing back fails, the range stays attached
 * and intact (the data is not lost) and -1 is returned with errno. Any
 * other address: shmdt(2), unchanged.
 *
 * Returns 0, or -1 with errno: EINVAL (nothing attached at addr), or the
 * write-back error (EIO, ENOSPC, EDQUOT, EFBIG, ...), which stays the
 * mapping's error until acknowledged (growmap_clear_error(3) on
 * growmap_shm_handle(addr)).
 */
GROWMAP_EXPORT int growmap_shmdt(const void *addr);

/*
 * fsync(2) of 'fd' after writing back every read-write range that
 * growmap_shmat() attached of the same file (through any descriptor), so
 * that every store made before the call is in the file and durable.
 *
 * Returns 0, or -1 with errno: the first write-back error (which stays
 * the mapping's error until acknowledged), or fsync(2)'s errors (EBADF).
 */
GROWMAP_EXPORT int growmap_shm_fsync(int fd);

/*
 * Detach the ranges that growmap_shmat() attached through the descriptor
 * 'fd', as growmap_shmdt() does, then close(2) it. If writing back fails,
 * -1 is returned with errno, and both the range and 'fd' stay as they
 * were. Ranges of the same file attached through other descriptors stay
 * attached.
 *
 * Returns 0, or -1 with errno: a write-back error, or close(2)'s errors.
 */
GROWMAP_EXPORT int growmap_shm_close(int fd);

/*
 * The growmap handle of the range that growmap_shmat() attached at
 * 'addr', for the functions of <growmap.h> (growmap_clear_error(3),
 * growmap_set_size(3), growmap_stats(3), growmap_backend(3), ...). It is
 * valid until the range is detached; detach it with growmap_shmdt() or
 * growmap_shm_close(), not growmap_close(3). Returns NULL with errno
 * EINVAL when no such range starts at 'addr'.
 */
GROWMAP_EXPORT struct growmap *growmap_shm_handle(const void *addr);

/*
 * Opt-in: a program written for AIX keeps calling shmat, shmdt, fsync
 * and close. Define GROWMAP_SHM_REPLACE before including this header and
 * after the system headers. These are function-like macros for C; where
 * a structure member or a C++ method is also called close or fsync, call
 * the growmap_ names instead.
 */
#ifdef GROWMAP_SHM_REPLACE
#define shmat(fd_or_shmid, addr, shmflg) growmap_shmat(fd_or_shmid, addr, shmflg)
#define shmdt(addr) growmap_shmdt(addr)
#define fsync(fd) growmap_shm_fsync(fd)
#define close(fd) growmap_shm_close(fd)
#endif

#ifdef __cplusplus
}
#endif

#endif /* GROWMAP_SHM_H */
