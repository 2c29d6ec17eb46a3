/*
 * Configuration: compiled-in defaults overridden by environment variables.
 * A value that does not parse is refused with -EINVAL and one line on
 * stderr naming the variable, so a typo never silently changes behaviour.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "growmap-internal.h"

/* Parse a decimal unsigned number with an optional K/M/G/T (binary) suffix
 * when 'suffixes' is set. Returns false on anything else. */
static bool parse_size(const char *text, bool suffixes, unsigned long long *out)
{
	if (!text || *text < '0' || *text > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno)
		return false;
	unsigned shift = 0;
	if (suffixes && *end) {
		switch (*end) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		case 't': case 'T': shift = 40; break;
		default: return false;
		}
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
	}
	if (*end)
		return false;
	if (shift && v > (ULLONG_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

static int env_number(const char *name, bool suffixes, unsigned long long min,
		      unsigned long long max, unsigned long long *value)
{
	const char *text = getenv(name);
	if (!text)
		return 0;
	unsigned long long v;
	if (!parse_size(text, suffixes, &v) || v < min || v > max) {
		fprintf(stderr, "growmap: environment variable %s: invalid value '%s' "
			"(expected %llu..%llu%s)\n", name, text, min, max,
			suffixes ? ", optional K/M/G/T suffix" : "");
		return -EINVAL;
	}
	*value = v;
	return 1;
}

int gm_config_load(struct gm_config *cfg)
{
	*cfg = (struct gm_config){
		.backend = GM_BACKEND_AUTO,
		.reserve = GROWMAP_DEFAULT_RESERVE,
		.writeback_interval_ms = 1000,
		.dirty_limit_pages = 16384,
		.fault_around_pages = 16,
		.queue_depth = 64,
	};

	const char *backend = getenv("GROWMAP_BACKEND");
	if (backend) {
		if (!strcmp(backend, "auto"))
			cfg->backend = GM_BACKEND_AUTO;
		else if (!strcmp(backend, "uffd"))
			cfg->backend = GM_BACKEND_UFFD;
		else if (!strcmp(backend, "signal"))
			cfg->backend = GM_BACKEND_SIGNAL;
		else {
			fprintf(stderr, "growmap: environment variable GROWMAP_BACKEND: "
				"invalid value '%s' (expected auto, uffd or signal)\n",
				backend);
			return -EINVAL;
		}
	}

	unsigned long long v;
	int r;
	if ((r = env_number("GROWMAP_RESERVE", true, 1, GM_RESERVE_MAX, &v)) < 0)
		return r;
	if (r)
		cfg->reserve = v;
	if ((r = env_number("GROWMAP_WRITEBACK_INTERVAL_MS", false, 1, 3600000, &v)) < 0)
		return r;
	if (r)
		cfg->writeback_interval_ms = (unsigned)v;
	if ((r = env_number("GROWMAP_DIRTY_LIMIT", false, 1, 1ULL << 34, &v)) < 0)
		return r;
	if (r)
		cfg->dirty_limit_pages = v;
	if ((r = env_number("GROWMAP_FAULT_AROUND", false, 1, 512, &v)) < 0)
		return r;
	if (r) {
		if (v & (v - 1)) {
			fprintf(stderr, "growmap: environment variable GROWMAP_FAULT_AROUND: "
				"invalid value '%s' (expected a power of two 1..512)\n",
				getenv("GROWMAP_FAULT_AROUND"));
			return -EINVAL;
		}
		cfg->fault_around_pages = (unsigned)v;
	}
	if ((r = env_number("GROWMAP_QUEUE_DEPTH", false, 1, 4096, &v)) < 0)
		return r;
	if (r)
		cfg->queue_depth = (unsigned)v;
	return 0;
}
