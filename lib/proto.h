/* SPDX-License-Identifier: MIT */
/*
 * The protocol between libgrowmap and growmapd (and growmapctl), over a
 * unix stream socket. Not installed: both ends are built from this tree,
 * and growmapd(8) describes it for readers.
 *
 * Every message, either way, is one struct gmd_msg (64 bytes, host byte
 * order: both ends run on the same machine). A client connection carries
 * one attachment:
 *
 *   client                                 daemon
 *   ATTACH + the file's descriptor   ->
 *     (SCM_RIGHTS, exactly one)      <-    REPLY(ATTACH): status, floor
 *   SYNC (about to settle the size)  ->
 *                                    <-    REPLY(SYNC): alone?, floor
 *   SETTLED (only after alone = 1)   ->
 *                                    <-    REPLY(SETTLED)
 *   DATASYNC                         ->
 *     (after the daemon's fdatasync) <-    REPLY(DATASYNC): error
 *   DETACH                           ->
 *                                    <-    REPLY(DETACH); then close
 *
 * Writeback is the daemon's (growmapd(8)): a writer passes, with its
 * ATTACH, an eventfd it writes to when its dirty limit is crossed, and
 * its writeback interval; the daemon starts writeback of the file then
 * and on the shortest interval of its writers, and runs one fdatasync
 * for all the DATASYNC requests that came while the previous one ran.
 *
 * A status connection (growmapctl) sends STATUS and reads the reply,
 * whose 'count' says how many FILE and CLIENT records follow.
 *
 * Requests are answered in order, one at a time per connection. A
 * message with a bad magic, type, flag or argument, a descriptor where
 * none belongs (or none where one does), or a second ATTACH ends the
 * connection; for an attachment that counts as the client dying.
 */
#ifndef GROWMAP_PROTO_H
#define GROWMAP_PROTO_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define GMD_MAGIC 0x31444d47u      /* "GMD1" */

/* The byte whose open-file-description lock (F_OFD_SETLK) keeps writers
 * apart: exclusive for a writer alone, shared for writers through the
 * daemon, which holds the same shared lock on every writer's descriptor
 * until it has let go of the file (growmap_open(3)). Far above any offset
 * applications lock themselves. */
#define GMD_LOCK_OFFSET ((off_t)1 << 62)

/* A writer through the daemon also holds a shared lock on the byte
 * GMD_PID_LOCK_BASE + its pid, for as long as it is attached, whether or
 * not its connection to the daemon lives: the kernel's record of every
 * process writing the file through a daemon, which a daemon started
 * afresh could not otherwise know. The daemon grants the settle lease,
 * and settles a file itself, only when no other process holds one. */
#define GMD_PID_LOCK_BASE (GMD_LOCK_OFFSET + 1)
#define GMD_PID_LOCK_SPAN ((off_t)1 << 22)      /* PID_MAX_LIMIT */

enum gmd_type {
	/*
	 * Attach the file whose descriptor comes with the message, and
	 * for a writer optionally a second descriptor: an eventfd (opened
	 * EFD_NONBLOCK) that the client writes to when its dirty limit is
	 * crossed, to have writeback of the file started at once.
	 * flags: GMD_F_WRITE for a writable attach (the descriptor must
	 * then be open O_RDWR); GMD_F_REATTACH for an attachment whose
	 * daemon died, arg[2] then being the floor it was last given.
	 * arg[0]: bytes reserved (for limits and status). arg[1]: the
	 * file's size as the client saw it at attach. arg[3]: the client's
	 * writeback interval in milliseconds (0: none of its own; the
	 * daemon caps it at GMD_MAX_INTERVAL_MS).
	 * Reply: status 0 or -errno (-EACCES: descriptor's access mode or
	 * peer not allowed; -EBADF: not a regular file; -EMFILE/-ENOSPC: a
	 * limit; -EBUSY: a writer alone holds the file); arg[0]: the floor,
	 * the size the exact size never goes below (the file's size when
	 * its first writer attached or the size a lease holder last settled
	 * it to, or more when a reader attached at a larger size); arg[1]:
	 * writers now attached, this one included.
	 */
	GMD_ATTACH = 1,
	/*
	 * A writer is about to settle the file's exact size. Reply arg[0]:
	 * 1 when it is the only writer attached, and no other process holds
	 * its pid's byte (GMD_PID_LOCK_BASE); it then holds the file's
	 * settle lease (no writer attaches until SETTLED or the connection
	 * ends) and may cut the file down to arg[1] (the floor) or more. 0:
	 * others are attached, so the file must not be cut (its size may
	 * run ahead until the last writer settles).
	 */
	GMD_SYNC = 2,
	/* The lease holder is done; arg[0]: the size it left, the file's
	 * exact size now and so its floor from now on. */
	GMD_SETTLED = 3,
	/* The attachment ends normally (after its last sync). */
	GMD_DETACH = 4,
	/* growmapctl: reply 'count' = number of records that follow. */
	GMD_STATUS = 5,
	/*
	 * Status records (daemon to growmapctl).
	 * FILE: arg[0] st_dev, arg[1] st_ino, arg[2] size, arg[3] floor,
	 *   arg[4] dirty bytes, arg[5] bytes under writeback (-1: unknown;
	 *   size, dirty and writeback all -1 for a file no client is
	 *   attached to any more, listed while its settle or writeback
	 *   completes); count = writers, flags = readers, status = last
	 *   error seen.
	 * CLIENT: arg[0] pid, arg[1] uid, arg[2] index of its FILE record,
	 *   arg[3] bytes reserved; flags = GMD_F_WRITE when writable.
	 */
	GMD_REC_FILE = 6,
	GMD_REC_CLIENT = 7,
	/*
	 * Make every store the client made before this request durable:
	 * the daemon runs fdatasync(2) on the file, one for every request
	 * that arrived while the previous one ran. Reply status: 0, or
	 * the first writeback error of the file this attachment has not
	 * been told of yet (the file's errors are counted, like the
	 * kernel's errseq_t, so that each attachment hears of each error
	 * once, whichever request's fdatasync met it).
	 */
	GMD_DATASYNC = 8,
	/*
	 * Status record following each FILE record: the daemon's
	 * writeback of that file. arg[0] background passes started
	 * (sync_file_range(2)), arg[1] DATASYNC requests, arg[2]
	 * fdatasync(2) calls that served them, arg[3] writeback errors,
	 * arg[4] fdatasync(2) calls nobody asked for (after a settle, and
	 * when a writer died while others write on).
	 */
	GMD_REC_WRITEBACK = 9,
};

/* A reply carries the request's type with this bit set. */
#define GMD_REPLY 0x80u

#define GMD_F_WRITE 0x1u
/* ATTACH by an attachment whose daemon died, to the daemon now on the
 * socket: arg[2] is the floor the old daemon gave it, which a daemon
 * started afresh could not know. */
#define GMD_F_REATTACH 0x2u

/* How many fdatasyncs of one file the daemon runs at once for DATASYNC
 * requests; those that come while they run wait for the next one, which
 * serves them all. One: growmap-bench's syncs workload found two no
 * faster on ext4 (which merges concurrent fdatasyncs into one journal
 * commit itself) for 1.5 times the calls. */
#define GMD_SYNCS_IN_FLIGHT 1

/* The longest writeback interval the daemon keeps (one hour). */
#define GMD_MAX_INTERVAL_MS 3600000u

struct gmd_msg {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	int32_t status;        /* replies: 0 or a negative errno */
	uint32_t count;
	uint64_t arg[6];
};

_Static_assert(sizeof(struct gmd_msg) == 64, "gmd_msg is 64 bytes");

/*
 * Checks a message a daemon received from a client: magic, a request
 * type (ATTACH, SYNC, SETTLED, DETACH, STATUS, DATASYNC), only known
 * flags, status and count zero, and 'nfds' descriptors: one, or two for
 * a writer, with an ATTACH, none with anything else. Returns 0 or
 * -EPROTO. Pure: the fuzzing harness calls it too.
 */
static inline int gmd_check_request(const struct gmd_msg *m, unsigned nfds)
{
	if (m->magic != GMD_MAGIC || m->status != 0 || m->count != 0)
		return -EPROTO;
	switch (m->type) {
	case GMD_ATTACH:
		if (nfds < 1 || nfds > ((m->flags & GMD_F_WRITE) ? 2u : 1u) ||
		    (m->flags & ~(GMD_F_WRITE | GMD_F_REATTACH)))
			return -EPROTO;
		return 0;
	case GMD_SYNC:
	case GMD_SETTLED:
	case GMD_DETACH:
	case GMD_STATUS:
	case GMD_DATASYNC:
		if (nfds || m->flags)
			return -EPROTO;
		return 0;
	default:
		return -EPROTO;
	}
}

#endif
