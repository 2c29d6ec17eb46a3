/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#include "extent.h"

static ssize_t highest_written_extent(int fd, size_t ps, size_t lo, size_t hi)
{
	size_t best = 0;
	enum { NEXT = 128 };
	struct {
		struct fiemap map;
		struct fiemap_extent ext[NEXT];
	} fm;
	uint64_t from = (uint64_t)lo * ps, to = (uint64_t)hi * ps;
	unsigned flags = FIEMAP_FLAG_SYNC;
	while (from < to) {
		memset(&fm.map, 0, sizeof(fm.map));
		fm.map.fm_start = from;
		fm.map.fm_length = to - from;
		fm.map.fm_flags = flags;
		fm.map.fm_extent_count = NEXT;
		if (ioctl(fd, FS_IOC_FIEMAP, &fm) < 0)
			return errno == ENOTTY || errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
		flags = 0;
		unsigned n = fm.map.fm_mapped_extents;
		if (n == 0)
			break;
		for (unsigned i = 0; i < n; i++) {
			const struct fiemap_extent *e = &fm.ext[i];
			if (e->fe_flags & (FIEMAP_EXTENT_UNWRITTEN | FIEMAP_EXTENT_DELALLOC))
				continue;
			uint64_t end = e->fe_logical + e->fe_length;
			if (end > to)
				end = to;
			size_t end_page = (size_t)((end + ps - 1) / ps);
			if (end_page > best)
				best = end_page;
		}
		const struct fiemap_extent *last = &fm.ext[n - 1];
		if ((last->fe_flags & FIEMAP_EXTENT_LAST) || n < NEXT)
			break;
		from = last->fe_logical + last->fe_length;
	}
	return (ssize_t)best;
}

int gm_read_zero_filled(int fd, char *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	memset(buf + done, 0, len - done);
	return 0;
}

static bool all_zero(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

static ssize_t highest_nonzero_page(int fd, size_t ps, size_t lo, size_t hi)
{
	char *buf = malloc(ps);
	if (!buf)
		return -ENOMEM;
	ssize_t r = 0;
	for (size_t p = hi; p > lo; p--) {
		int e = gm_read_zero_filled(fd, buf, ps, (off_t)((p - 1) * ps));
		if (e < 0) {
			r = e;
			break;
		}
		if (!all_zero(buf, ps)) {
			r = (ssize_t)p;
			break;
		}
	}
	free(buf);
	return r;
}

ssize_t gm_highest_stored(int fd, size_t ps, size_t lo, size_t hi)
{
	if (lo >= hi)
		return 0;
	ssize_t r = highest_written_extent(fd, ps, lo, hi);
	if (r == -EOPNOTSUPP)
		r = highest_nonzero_page(fd, ps, lo, hi);
	return r;
}

off_t gm_exact_size_from_file(int fd, size_t ps, off_t floor, off_t size)
{
	if (size <= floor)
		return size;
	size_t lo = (size_t)((floor + (off_t)ps - 1) / (off_t)ps);
	size_t hi = (size_t)((size + (off_t)ps - 1) / (off_t)ps);
	ssize_t top = gm_highest_stored(fd, ps, lo, hi);
	if (top < 0)
		return top;
	off_t exact = (off_t)((size_t)top * ps);
	if (exact < floor)
		exact = floor;
	size_t tail = (size_t)(floor % (off_t)ps);
	if (exact == floor && tail) {
		/* the page holding the floor: stored into beyond it? */
		off_t page_end = floor - (off_t)tail + (off_t)ps;
		char *buf = malloc(ps);
		if (!buf)
			return -ENOMEM;
		int e = gm_read_zero_filled(fd, buf, ps - tail, floor);
		bool stored = e == 0 && !all_zero(buf, ps - tail);
		free(buf);
		if (e < 0)
			return e;
		if (stored)
			exact = page_end < size ? page_end : size;
	}
	return exact;
}
