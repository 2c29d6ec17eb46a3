/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "behaviour.h"

#include <check.h>
#include <string.h>
#include <unistd.h>

char case_path[PATH_MAX];

int new_file(void)
{
	return tu_tmpfile(case_path);
}

void behaviour_setup(void)
{
	tu_install_catchers();
	case_path[0] = 0;
}

void behaviour_teardown(void)
{
	if (case_path[0])
		unlink(case_path);
}

struct growmap *attach(int fd, size_t reserve, unsigned flags)
{
	struct growmap *gm = NULL;
	int r = growmap_open(&gm, fd, reserve, flags);
	ck_assert_msg(r == 0, "growmap_open: %s", strerror(-r));
	ck_assert_str_eq(growmap_backend(gm), tu_backend);
	return gm;
}

void write_all(int fd, const void *buf, size_t len, off_t off)
{
	ck_assert_int_eq(pwrite(fd, buf, len, off), (ssize_t)len);
}
