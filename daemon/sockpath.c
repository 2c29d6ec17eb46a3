/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sockpath.h"

#define SYSTEM_SOCKET "/run/growmap/growmapd.sock"

const char *gmd_default_socket(const char *prog, char *buf, size_t size)
{
	const char *env = getenv("GROWMAP_SOCKET");
	int n;
	if (env && *env) {
		n = snprintf(buf, size, "%s", env);
	} else if (geteuid() == 0) {
		n = snprintf(buf, size, "%s", SYSTEM_SOCKET);
	} else {
		const char *run = getenv("XDG_RUNTIME_DIR");
		if (!run || !*run) {
			fprintf(stderr, "%s: no socket given: neither --socket, "
				"GROWMAP_SOCKET nor XDG_RUNTIME_DIR is set\n", prog);
			return NULL;
		}
		n = snprintf(buf, size, "%s/growmap.sock", run);
	}
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "%s: socket path too long\n", prog);
		return NULL;
	}
	return buf;
}
