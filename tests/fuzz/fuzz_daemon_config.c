/* SPDX-License-Identifier: MIT */
/*
 * growmapd's configuration parser (daemon/growmapd.c built with
 * -DGROWMAPD_FUZZ): the input as the file of 'growmapd --config', read
 * and dropped again each time. allow_users and allow_groups look names
 * up in this machine's user and group databases.
 *
 * Every refusal prints a line on stderr: run with -close_fd_mask=2 (as
 * 'make fuzz' does).
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "growmapd-fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[PATH_MAX];

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/fuzz_daemon_config-%d.conf",
		 tmp ? tmp : "/tmp", (int)getpid());
	atexit(remove_file);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		perror(path);
		abort();
	}
	close(fd);
	gmd_fuzz_config(path);
	return 0;
}
