/* Built by 'make installcheck' against the installed header, library and
 * pkg-config file: proof that what 'make install' ships works. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <growmap.h>

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
	struct stat st;
	fstat(fd, &st);
	printf("installcheck: file size %lld (want 90112)\n", (long long)st.st_size);
	return st.st_size == 90112 ? 0 : 1;
}
