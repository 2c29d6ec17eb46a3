/* SPDX-License-Identifier: MIT */
/*
 * Preloaded into growmapd by check_daemon (LD_PRELOAD): fdatasync(2)
 * call number $GROWMAPD_TEST_EIO_AT fails with EIO after it ran, as it
 * does after a device error. It only reaches the daemon's system calls,
 * so the daemon runs with io_uring refused (its writeback then goes
 * through the system calls). No device here can fail on demand: this
 * kernel has no device mapper.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int fdatasync(int fd)
{
	static int (*real)(int);
	static long calls;
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	int r = real(fd);
	const char *at = getenv("GROWMAPD_TEST_EIO_AT");
	if (at && ++calls == atol(at)) {
		errno = EIO;
		return -1;
	}
	return r;
}
