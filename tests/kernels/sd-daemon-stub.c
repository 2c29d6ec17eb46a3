/* SPDX-License-Identifier: MIT */
/*
 * make check-kernels: the three libsystemd calls growmapd makes, for its
 * static build (Debian ships no static libsystemd). The test VM has no
 * systemd: nothing is passed by socket activation and no one listens for
 * readiness, so growmapd always binds its own socket there.
 */
#include <stddef.h>
#include <systemd/sd-daemon.h>

int sd_listen_fds(int unset_environment)
{
	(void)unset_environment;
	return 0;
}

int sd_is_socket_unix(int fd, int type, int listening, const char *path, size_t length)
{
	(void)fd;
	(void)type;
	(void)listening;
	(void)path;
	(void)length;
	return 0;
}

int sd_notify(int unset_environment, const char *state)
{
	(void)unset_environment;
	(void)state;
	return 0;
}
