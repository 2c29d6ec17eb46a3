/* SPDX-License-Identifier: MIT */
/* shmat, shmdt, fsync and close as a ported AIX program calls them:
 * compiled with GROWMAP_SHM_REPLACE (shm-replace.c). */
#ifndef GROWMAP_SHM_REPLACE_TEST_H
#define GROWMAP_SHM_REPLACE_TEST_H

void *replaced_shmat(int fd_or_shmid, const void *addr, int shmflg);
int replaced_shmdt(const void *addr);
int replaced_fsync(int fd);
int replaced_close(int fd);

#endif
