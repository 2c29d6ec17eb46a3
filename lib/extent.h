/* SPDX-License-Identifier: MIT */
/*
 * Which pages of a file were stored into, read from the file alone (its
 * extent map), so that both the library and growmapd can settle a
 * file's exact size. See grow.c for why the extent map is that record.
 */
#ifndef GROWMAP_EXTENT_H
#define GROWMAP_EXTENT_H

#include <stddef.h>
#include <sys/types.h>

#ifndef GM_INTERNAL
#define GM_INTERNAL __attribute__((visibility("hidden")))
#endif

/*
 * End (in pages of 'ps' bytes) of the highest page of [lo, hi) stored
 * into, or 0 when none was: the end of the last written extent, after
 * writing back what is dirty (FIEMAP_FLAG_SYNC). Where the file system
 * has no extent map (tmpfs), the highest page holding a non-zero byte
 * instead. Returns that end or a negative errno.
 */
GM_INTERNAL ssize_t gm_highest_stored(int fd, size_t ps, size_t lo, size_t hi);

/* Reads [off, off + len) of the file into buf, zeros past its end.
 * Returns 0 or a negative errno. */
GM_INTERNAL int gm_read_zero_filled(int fd, char *buf, size_t len, off_t off);

/*
 * The exact size of a file that no process has mapped for writing any
 * more, from the file alone: max(floor, end of the highest page stored
 * into above it), where the page holding a floor that is not a whole
 * number of pages counts as stored when it holds a non-zero byte beyond
 * the floor. 'size' is the file's size now. Returns the size or a
 * negative errno.
 */
GM_INTERNAL off_t gm_exact_size_from_file(int fd, size_t ps, off_t floor, off_t size);

#endif
