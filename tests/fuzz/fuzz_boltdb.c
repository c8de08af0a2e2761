/* fuzz_boltdb.c - the bbolt reader (snapshot/boltdb.c): the revision a snapshot's
 * db holds, and every key it holds. It reads a path (it maps the file), so each
 * input is written to one scratch file first. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "snapshot/snapshot.h"

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
	struct snap_db *db;
	if (snap_db_open(path, &db) == 0) {
		struct snap_db_kv *kvs;
		size_t n;
		snap_db_revision(db, &rev);
		if (snap_db_prefix(db, "", 0, 0, NULL, &kvs, &n) == 0)
			free(kvs);
		snap_db_close(db);
	}
	rv_err_clear();
	return 0;
}
