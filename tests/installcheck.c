/* SPDX-License-Identifier: MIT */
/* Built by 'make installcheck' against the installed headers, library and
 * pkg-config file: proof that what 'make install' ships works, including
 * <growmap/shm.h> used the way a ported AIX program uses it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <growmap.h>
#define GROWMAP_SHM_REPLACE
#include <growmap/shm.h>

static int check_size(int fd, const char *what)
{
	struct stat st;
	fstat(fd, &st);
	printf("installcheck: %s: file size %lld (want 90112)\n", what, (long long)st.st_size);
	return st.st_size == 90112 ? 0 : 1;
}

int main(void)
{
	char path[] = "/tmp/growmap-installcheck-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 1;
	unlink(path);
	struct growmap *gm;
	int r = growmap_open(&gm, fd, 0, 0);
	if (r == -EPERM || r == -EOPNOTSUPP) {
		printf("installcheck: linked and ran; userfaultfd unavailable here (%s)\n",
		       strerror(-r));
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "growmap_open: %s\n", strerror(-r));
		return 1;
	}
	strcpy((char *)growmap_addr(gm) + 90000, "x");
	if ((r = growmap_close(gm)) < 0) {
		fprintf(stderr, "growmap_close: %s\n", strerror(-r));
		return 1;
	}
	if (check_size(fd, "growmap_open") != 0)
		return 1;
	close(fd);

	char path2[] = "/tmp/growmap-installcheck-XXXXXX";
	fd = mkstemp(path2);
	if (fd < 0)
		return 1;
	unlink(path2);
	char *base = shmat(fd, 0, SHM_MAP);
	if (base == (char *)-1) {
		perror("shmat(SHM_MAP)");
		return 1;
	}
	strcpy(base + 90000, "x");
	if (fsync(fd) == -1 || shmdt(base) == -1) {
		perror("fsync, shmdt");
		return 1;
	}
	r = check_size(fd, "shmat(SHM_MAP)");
	close(fd);
	return r;
}
