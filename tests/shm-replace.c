/* SPDX-License-Identifier: MIT */
/*
 * Compiled the way a ported AIX program is: system headers first, then
 * GROWMAP_SHM_REPLACE and <growmap/shm.h>, then the plain names. What
 * these calls reach is checked by check_shm.c: a plain shmat(2) would
 * take the descriptor for a segment id, a plain fsync(2) or close(2)
 * would leave the mapping alone.
 */
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#define GROWMAP_SHM_REPLACE
#include <growmap/shm.h>

#include "shm-replace.h"

#ifdef SHM_COPY
#error "SHM_COPY must stay undefined: AIX's value is Linux's SHM_REMAP"
#endif
#if SHM_MAP != 004000
#error "SHM_MAP must have AIX's value, 004000"
#endif
#if SHM_RDONLY != 010000 || SHM_RND != 020000
#error "SHM_RDONLY and SHM_RND must keep their values (AIX's and Linux's)"
#endif

void *replaced_shmat(int fd_or_shmid, const void *addr, int shmflg)
{
	return shmat(fd_or_shmid, addr, shmflg);
}

int replaced_shmdt(const void *addr)
{
	return shmdt(addr);
}

int replaced_fsync(int fd)
{
	return fsync(fd);
}

int replaced_close(int fd)
{
	return close(fd);
}
