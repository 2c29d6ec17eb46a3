/* SPDX-License-Identifier: MIT */
/* Numbers in configuration files, for the library and growmapd alike. */
#ifndef GROWMAP_PARSE_NUMBER_H
#define GROWMAP_PARSE_NUMBER_H

#include <stdbool.h>

#ifndef GM_INTERNAL
#define GM_INTERNAL __attribute__((visibility("hidden")))
#endif

/* A decimal unsigned number with an optional K/M/G/T (binary) suffix,
 * itself optionally followed by "iB" or "B", when 'suffixes' is set.
 * False on anything else, signs and blanks included, and on overflow. */
GM_INTERNAL bool gm_parse_number(const char *text, bool suffixes, unsigned long long *out);

#endif
