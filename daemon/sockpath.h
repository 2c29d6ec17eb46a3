/* SPDX-License-Identifier: MIT */
/* The socket growmapd listens on and growmapctl connects to. */
#ifndef GROWMAP_SOCKPATH_H
#define GROWMAP_SOCKPATH_H

#include <stddef.h>

/*
 * The default socket path: $GROWMAP_SOCKET if set, else
 * /run/growmap/growmapd.sock for uid 0, else
 * $XDG_RUNTIME_DIR/growmap.sock. Writes it to buf and returns buf, or
 * returns NULL with a message on stderr (prefixed by 'prog') when none
 * applies or it does not fit.
 */
const char *gmd_default_socket(const char *prog, char *buf, size_t size);

#endif
