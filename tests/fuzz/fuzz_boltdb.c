/* fuzz_boltdb.c - the bbolt reader (restore/boltdb.c) that finds the revision a
 * snapshot's db holds. It reads a path (it maps the file), so each input is
 * written to one scratch file first. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "restore/restore_impl.h"

static char path[64];
static int fd = -1;

static void cleanup(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t rev;
	if (fd < 0) {
		snprintf(path, sizeof path, "/tmp/regvault-fuzz-boltdb-XXXXXX");
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		atexit(cleanup);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	rs_db_last_revision(path, &rev);
	rv_err_clear();
	return 0;
}
