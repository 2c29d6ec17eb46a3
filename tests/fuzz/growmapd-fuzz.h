/* SPDX-License-Identifier: MIT */
/*
 * What daemon/growmapd.c offers the fuzzing harnesses when compiled with
 * -DGROWMAPD_FUZZ: no main(), no listening socket, no signals; a harness
 * makes the connections (socketpairs) and the daemon's epoll set, as in
 * the daemon, says which of them to read.
 */
#ifndef GROWMAPD_FUZZ_H
#define GROWMAPD_FUZZ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct client;

/* The daemon's state as main() sets it up, once per process. */
void gmd_fuzz_init(void);

/* A connection on 'sock' (the daemon's end, non-blocking) from a peer
 * with 'uid' (and gid 'uid'), 'allowed' by the allow-list or not. The
 * client stays valid, ended or not, until gmd_fuzz_reset(). NULL when it
 * could not be listed (the socket is then closed). */
struct client *gmd_fuzz_connect(int sock, uid_t uid, bool allowed);

/* Handles every event ready in the daemon's epoll set (level-triggered,
 * no waiting), as one turn of the daemon's main loop; returns how many
 * there were. Aborts when the daemon's state breaks an invariant. */
int gmd_fuzz_poll(void);

/* Whether operations go through io_uring (the default, where the kernel
 * allows it) or run at once as system calls, as in a daemon io_uring was
 * refused to. Only between inputs, with nothing in flight. */
void gmd_fuzz_ring(bool use);

/* The ring's completions are not events of gmd_fuzz_poll: this waits for
 * every operation in flight and handles their completions (the disk is
 * done); returns whether there were any. Aborts as gmd_fuzz_poll does. */
bool gmd_fuzz_complete(void);

/* Moves the daemon's clock (its writeback intervals) 'ms' forward; it
 * stands still otherwise. */
void gmd_fuzz_advance(uint64_t ms);

/* The peer process of c died (its pidfd became readable). */
void gmd_fuzz_exit(struct client *c);

/* Whether the daemon has ended c's connection (and closed its end). */
bool gmd_fuzz_ended(const struct client *c);

/* Ends every connection and frees what the daemon holds; aborts if a file
 * stays listed after that. */
void gmd_fuzz_reset(void);

/* growmapd --config 'path', without exiting: 0, or -1 after the message
 * naming the file, line and key. The configuration read is then dropped,
 * so every call starts from the defaults. Aborts when a file that loads
 * set a limit out of its range or an empty allow-list. */
int gmd_fuzz_config(const char *path);

#endif
