/* SPDX-License-Identifier: MIT */
/*
 * A program that attaches the file open at descriptor argv[1], stores the
 * pages end_without_close() in check_endings.c expects, and returns from
 * main without growmap_close(): the library must settle the file at exit.
 */
#include <stdlib.h>

#include "testutil.h"

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct growmap *gm;
	if (growmap_open(&gm, atoi(argv[1]), 256 * page_size, 0) < 0)
		return 3;
	unsigned char *p = growmap_addr(gm);
	for (size_t pg = 0; pg < 40; pg += 3)
		tu_fill_page(p + pg * page_size, (uint32_t)pg + 7, pg);
	p[44 * page_size + 9] = 0;           /* the highest page: a zero */
	return 0;
}
