/* SPDX-License-Identifier: MIT */
/*
 * growmap: extend-on-write memory-mapped files for Linux.
 *
 * A growmap attaches a regular file to a large reserved address range.
 * Loads inside the file's size show its bytes, loads beyond show zeros;
 * stores anywhere in the range extend the file page by page, and modified
 * pages are written back to the file, in the background and at
 * growmap_sync() / growmap_close(). This is the behaviour of AIX
 * shmat(fd, addr, SHM_MAP), which mmap(2) lacks.
 *
 * Every function that returns int returns 0 (or a documented non-negative
 * value) on success and a negative errno value on failure; none of them
 * reads or depends on errno. See growmap_open(3) and the other pages.
 */
#ifndef GROWMAP_H
#define GROWMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GROWMAP_EXPORT __attribute__((visibility("default")))
#else
#define GROWMAP_EXPORT
#endif

struct growmap;

/* Flags for growmap_open(). */
#define GROWMAP_RDONLY 0x1u /* map read-only: stores raise SIGSEGV, the file is never written */

/* Reservation used when growmap_open() is given reserve == 0: 256 MiB,
 * one AIX segment. */
#define GROWMAP_DEFAULT_RESERVE ((size_t)256 << 20)

/*
 * Attach the regular file open on 'fd' to a new reserved range of
 * 'reserve' bytes (rounded up to a page; 0 means GROWMAP_DEFAULT_RESERVE).
 * The caller keeps ownership of 'fd'; growmap works on its own duplicate.
 * A writable mapping needs 'fd' open O_RDWR (not O_APPEND); GROWMAP_RDONLY
 * needs it open for reading. Only one writable attach of a file may exist
 * at a time, across all processes.
 *
 * Returns 0 and stores the handle in *out, or a negative errno:
 * -EINVAL (bad flags, NULL out, absurd reserve, O_APPEND fd),
 * -EBADF (fd not open), -EISDIR, -ENODEV (not a regular file),
 * -EACCES (fd's access mode does not allow the mapping),
 * -EBUSY (file already attached for writing), -EPERM / -EOPNOTSUPP /
 * -ENOSYS (the backend asked for is not allowed or not offered here),
 * -EMFILE (too many signal-backend mappings), -ENOMEM,
 * and the errors of reading the configuration (see growmap.conf(5)).
 */
GROWMAP_EXPORT int growmap_open(struct growmap **out, int fd, size_t reserve,
				unsigned flags);

/*
 * Start of the reserved range; it never changes while attached.
 * Returns NULL for a NULL handle.
 */
GROWMAP_EXPORT void *growmap_addr(const struct growmap *gm);

/*
 * Write every page stored into before this call back to the file, apply
 * a size set with growmap_set_size(), and make it durable (fdatasync).
 * Returns 0, or the first error met by this mapping (disk reservation or
 * writeback): errors are sticky until growmap_clear_error(). -EPERM in a
 * child process after fork(); -EBADF for a handle that is not attached.
 */
GROWMAP_EXPORT int growmap_sync(struct growmap *gm);

/*
 * growmap_sync(), then detach: release the range and the handle, and trim
 * disk reserved beyond the final size. If the sync fails (including a
 * sticky error not yet cleared) the error is returned and the mapping
 * stays attached and intact; the caller may fix the cause and retry.
 * After success the handle is invalid, like freed memory.
 * Returns 0 or a negative errno; -EBADF for a handle that is not attached.
 */
GROWMAP_EXPORT int growmap_close(struct growmap *gm);

/*
 * Name of the backend serving the mapping: "uffd" or "signal".
 * Returns NULL for a NULL handle.
 */
GROWMAP_EXPORT const char *growmap_backend(const struct growmap *gm);

/*
 * Set the exact byte size the file gets at the next growmap_sync() or
 * growmap_close(), for programs that keep their own logical length. When
 * it shrinks the file, the mapping's bytes beyond 'size' are discarded and
 * read as zeros afterwards, as after ftruncate(2) of a kernel mapping.
 * Stores made after that sync extend the file again by the usual rule.
 * Returns 0, -EINVAL (negative size, read-only mapping), -EBADF, -EPERM.
 */
GROWMAP_EXPORT int growmap_set_size(struct growmap *gm, off_t size);

/*
 * Per-call options for growmap_open_opts(). A zero field means "as
 * configured": configuration comes from compiled-in defaults, overridden
 * by the config file, overridden by environment variables, overridden by
 * these options (see growmap.conf(5)). Start from
 * 'struct growmap_options opts = { 0 };' and set what you need.
 */
struct growmap_options {
	const char *backend;            /* "auto", "uffd" or "signal"; NULL: as configured */
	size_t reserve;                 /* default reservation in bytes (used when the
					   reserve argument is 0) */
	unsigned writeback_interval_ms; /* background writeback interval */
	size_t dirty_limit_pages;       /* background writeback beyond this many pages */
	unsigned fault_around_pages;    /* fault-around window, power of two 1..512:
					   see growmap.conf(5) */
	unsigned queue_depth;           /* 1..4096; accepted, no longer has an effect */
	int sync_on_close;              /* 1: close makes data durable (fdatasync);
					   -1: close writes back without fdatasync; 0: as configured */
	int log_level;                  /* 1 error, 2 warn, 3 info, 4 debug; 0: as configured */
	uint64_t reserved[8];           /* must be zero */
};

/*
 * growmap_open() with per-call options; 'opts' may be NULL.
 * Returns what growmap_open() returns; -EINVAL also for a bad option
 * (a line on stderr names it) or a bad configuration file or environment
 * variable (the line names the file and line, or the variable, and the key).
 */
GROWMAP_EXPORT int growmap_open_opts(struct growmap **out, int fd, size_t reserve,
				     unsigned flags,
				     const struct growmap_options *opts);

/*
 * Why this backend serves the mapping, in one line: what was chosen, what
 * was tried and refused, and what the choice gives up (for example
 * "uffd (user-mode only): ... read(2) into untouched pages fails with
 * EFAULT"). The string lives as long as the handle. NULL for NULL.
 */
GROWMAP_EXPORT const char *growmap_backend_reason(const struct growmap *gm);

/* Counters of one mapping since growmap_open(). */
struct growmap_stats {
	uint64_t faults;          /* faults served (messages or signals) */
	uint64_t pages_populated; /* pages made present by the backend */
	uint64_t pages_written;   /* pages written back to the file */
	uint64_t write_batches;   /* writeback submissions */
	uint64_t bytes_written;   /* bytes written back to the file */
	uint64_t syncs;           /* durable syncs completed (fdatasync) */
	uint64_t writeback_errors;/* failed writes, syncs or reservations */
};

/*
 * Copy the mapping's counters into *st.
 * Returns 0, or -EINVAL for NULL arguments.
 */
GROWMAP_EXPORT int growmap_stats(const struct growmap *gm,
				 struct growmap_stats *st);

/*
 * Acknowledge the mapping's sticky error so that later syncs and close
 * report only new errors. A store refused for lack of disk (ENOSPC,
 * EDQUOT, EFBIG) was never made, and everything stored before it is in
 * the file. After an I/O error the kernel may have dropped pages it could
 * not write: clearing the error does not bring them back (growmap(7)).
 * Returns the error that was cleared (negative errno) or 0 if none.
 */
GROWMAP_EXPORT int growmap_clear_error(struct growmap *gm);

#ifdef __cplusplus
}
#endif

#endif /* GROWMAP_H */
