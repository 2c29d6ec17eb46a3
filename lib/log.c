/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per message on stderr, "growmap: <message>", written
 * with a single write(2) so that lines of concurrent threads never
 * interleave. The level comes from the configuration (log_level in
 * growmap.conf(5)); with no configuration only errors are printed.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "growmap-internal.h"

void gm_log(const struct gm_config *cfg, enum gm_log_level level,
	    const char *fmt, ...)
{
	if (level > (cfg ? cfg->log_level : GM_LOG_ERROR))
		return;

	/* Callers often log just before returning -errno. */
	int saved_errno = errno;

	/* The whole line goes out in one write(2), so that lines from
	 * concurrent threads never interleave: format it into one buffer,
	 * on the heap if the stack one is too small (truncated if even
	 * that fails). */
	static const char prefix[] = "growmap: ";
	const size_t plen = sizeof(prefix) - 1;
	char small[512], *buf = small;
	size_t size = sizeof(small);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small + plen, size - plen - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= size - plen - 1) {
		char *big = malloc(plen + (size_t)n + 2);
		if (big) {
			buf = big;
			size = plen + (size_t)n + 2;
			va_start(ap, fmt);
			vsnprintf(buf + plen, size - plen - 1, fmt, ap);
			va_end(ap);
		} else {
			n = (int)(size - plen - 2);
		}
	}
	memcpy(buf, prefix, plen);
	size_t len = plen + (size_t)n;
	buf[len++] = '\n';

	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		len -= (size_t)w;
	}
	if (buf != small)
		free(buf);
	errno = saved_errno;
}
