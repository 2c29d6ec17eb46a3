/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "parse-number.h"

bool gm_parse_number(const char *text, bool suffixes, unsigned long long *out)
{
	if (*text < '0' || *text > '9')
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
	if (*end || (shift && v > (ULLONG_MAX >> shift)))
		return false;
	*out = v << shift;
	return true;
}
