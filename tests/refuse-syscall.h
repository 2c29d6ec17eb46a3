/* SPDX-License-Identifier: MIT */
/* A seccomp filter refusing one system call, for tests that need a
 * kernel facility to be missing (io_uring in a container, say). */
#ifndef GROWMAP_REFUSE_SYSCALL_H
#define GROWMAP_REFUSE_SYSCALL_H

#include <stdbool.h>

/* Makes system call 'nr' fail with 'err' from now on, in this thread
 * only or in every thread of the process ('all_threads'), as a seccomp
 * profile would; it cannot be undone and survives execve(2), so call it
 * in a child. Returns 0 or -1 (errno set). */
int tu_refuse_syscall(int nr, int err, bool all_threads);

#endif
