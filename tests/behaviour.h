/* SPDX-License-Identifier: MIT */
/*
 * What the behaviour suites share: check_attach.c, check_access.c,
 * check_threads.c, check_size.c, check_writeback.c, check_disk.c and
 * check_endings.c, which make the programs check_uffd, check_signal,
 * check_uffd_daemon and check_signal_daemon. Files are real files on a
 * real filesystem; every check reads the file back through read(2),
 * never through the mapping alone.
 */
#ifndef GROWMAP_BEHAVIOUR_H
#define GROWMAP_BEHAVIOUR_H

#include <limits.h>
#include <sys/types.h>

#include "runner.h"
#include "testutil.h"

/* The path of the file new_file() made last. */
extern char case_path[PATH_MAX];

/* A new empty file opened O_RDWR; removed when the case's process ends. */
int new_file(void);

/* growmap_open() that must succeed, on the backend under test. */
struct growmap *attach(int fd, size_t reserve, unsigned flags);

/* pwrite() of all of buf at off, which must succeed. */
void write_all(int fd, const void *buf, size_t len, off_t off);

/* The checked fixture of every behaviour case. */
void behaviour_setup(void);
void behaviour_teardown(void);

#endif
