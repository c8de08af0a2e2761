/* test_boltdb.c - the bbolt reader (snapshot/boltdb.c) against real etcd dbs
 * (tests/unit/boltdb/make.sh wrote them with etcd 3.4; its comment lists the
 * writes), and against damaged copies of them. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/snapshot.h"
#include "unit.h"

#define HISTORY "tests/unit/boltdb/history.db"
#define COMPACTED "tests/unit/boltdb/compacted.db"

static bool kv_is(const struct snap_db_kv *kv, const char *key, const char *value, int64_t create, int64_t mod)
{
	return kv->key_len == strlen(key) && memcmp(kv->key, key, kv->key_len) == 0 && kv->value_len == strlen(value) &&
	       memcmp(kv->value, value, kv->value_len) == 0 && kv->create_revision == create && kv->mod_revision == mod;
}

TEST(boltdb_prefix_latest)
{
	struct snap_db *db;
	struct snap_db_kv *kv;
	size_t n;
	int64_t rev, compacted;
	CHECK_INT(snap_db_open(HISTORY, &db), 0);
	CHECK_INT(snap_db_revision(db, &rev), 0);
	CHECK_INT(rev, 10);
	CHECK_INT(snap_db_compact_revision(db, &compacted), 0);
	CHECK_INT(compacted, 0);
	CHECK_INT(snap_db_prefix(db, "/p/", 3, 0, NULL, &kv, &n), 0);
	CHECK_INT(n, 6);
	CHECK(kv_is(&kv[0], "/p/a", "1b", 2, 6));
	CHECK(kv_is(&kv[1], "/p/b", "2b", 9, 9)); /* deleted at 7, created again */
	CHECK(kv_is(&kv[2], "/p/c", "3", 4, 4));
	CHECK(kv_is(&kv[3], "/p/d", "4", 8, 8));
	CHECK(kv[3].lease != 0 && kv[0].lease == 0);
	CHECK(kv_is(&kv[4], "/p/e", "5", 10, 10)); /* one Txn: one main revision */
	CHECK(kv_is(&kv[5], "/p/f", "6", 10, 10));
	CHECK_INT(kv[0].version, 2);
	free(kv);
	/* Every key, and a prefix that only some keys start with. */
	CHECK_INT(snap_db_prefix(db, "", 0, 0, NULL, &kv, &n), 0);
	CHECK_INT(n, 7);
	CHECK(kv_is(&kv[6], "/q/x", "9", 5, 5));
	free(kv);
	CHECK_INT(snap_db_prefix(db, "/p/a", 4, 0, NULL, &kv, &n), 0);
	CHECK_INT(n, 1);
	free(kv);
	CHECK_INT(snap_db_prefix(db, "/nothing/", 9, 0, NULL, &kv, &n), 0);
	CHECK_INT(n, 0);
	free(kv);
	snap_db_close(db);
}

TEST(boltdb_prefix_at_revision)
{
	struct snap_db *db;
	struct snap_db_kv *kv;
	size_t n;
	CHECK_INT(snap_db_open(HISTORY, &db), 0);
	/* At 5: a, b, c as first written. */
	CHECK_INT(snap_db_prefix(db, "/p/", 3, 5, NULL, &kv, &n), 0);
	CHECK_INT(n, 3);
	CHECK(kv_is(&kv[0], "/p/a", "1", 2, 2));
	CHECK(kv_is(&kv[1], "/p/b", "2", 3, 3));
	free(kv);
	/* At 7: b's tombstone hides it. */
	CHECK_INT(snap_db_prefix(db, "/p/", 3, 7, NULL, &kv, &n), 0);
	CHECK_INT(n, 2);
	CHECK(kv_is(&kv[0], "/p/a", "1b", 2, 6));
	CHECK(kv_is(&kv[1], "/p/c", "3", 4, 4));
	free(kv);
	CHECK_INT(snap_db_prefix(db, "/p/", 3, 11, NULL, &kv, &n), -ERANGE);
	snap_db_close(db);
}

TEST(boltdb_compacted)
{
	struct snap_db *db;
	struct snap_db_kv *kv;
	size_t n;
	int64_t rev;
	CHECK_INT(snap_db_open(COMPACTED, &db), 0);
	CHECK_INT(snap_db_compact_revision(db, &rev), 0);
	CHECK_INT(rev, 9);
	CHECK_INT(snap_db_prefix(db, "/p/", 3, 0, NULL, &kv, &n), 0);
	CHECK_INT(n, 6);
	CHECK(kv_is(&kv[0], "/p/a", "1b", 2, 6));
	CHECK(kv_is(&kv[1], "/p/b", "2b", 9, 9));
	free(kv);
	CHECK_INT(snap_db_prefix(db, "/p/", 3, 9, NULL, &kv, &n), 0);
	CHECK_INT(n, 4);
	free(kv);
	/* Before the compaction the db no longer knows. */
	CHECK_INT(snap_db_prefix(db, "/p/", 3, 5, NULL, &kv, &n), -ERANGE);
	CHECK_CONTAINS(rv_errmsg(-ERANGE), "compacted at revision 9");
	snap_db_close(db);
	CHECK_INT(snap_db_last_revision(COMPACTED, &rev), 0);
	CHECK_INT(rev, 10);
}

/* A copy of HISTORY with bytes changed at off. */
static const char *damaged(long off, const void *bytes, size_t n, size_t truncate_to)
{
	static char path[] = "/tmp/regvault-unit-boltdb-XXXXXX";
	static char buf[1 << 16];
	int in = open(HISTORY, O_RDONLY), out;
	ssize_t len = read(in, buf, sizeof buf);
	close(in);
	strcpy(path, "/tmp/regvault-unit-boltdb-XXXXXX");
	out = mkstemp(path);
	if (len <= 0 || out < 0)
		return NULL;
	if (n)
		memcpy(buf + off, bytes, n);
	if (write(out, buf, truncate_to ? truncate_to : (size_t)len) < 0)
		path[0] = 0;
	close(out);
	return path;
}

TEST(boltdb_damaged_refused)
{
	struct snap_db *db;
	struct snap_db_kv *kv;
	size_t n;
	const char *p;
	static const uint8_t ff[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
	/* Both meta pages' checksums broken. */
	CHECK((p = damaged(16 + 60, ff, 4, 0)) != NULL);
	int fd = open(p, O_WRONLY);
	CHECK(pwrite(fd, ff, 4, 4096 + 16 + 60) == 4);
	close(fd);
	CHECK_INT(snap_db_open(p, &db), -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "no valid bbolt meta page");
	unlink(p);
	/* Cut short: the pages the meta names are gone. */
	CHECK((p = damaged(0, NULL, 0, 3 * 4096)) != NULL);
	int r = snap_db_open(p, &db);
	if (r == 0) {
		r = snap_db_prefix(db, "", 0, 0, NULL, &kv, &n);
		snap_db_close(db);
	}
	CHECK_INT(r, -EBADMSG);
	unlink(p);
	/* Every page after the metas overwritten with junk, one at a time: refused or
	 * read, never a crash (ASan runs this too). */
	for (long pg = 2; pg < 5; pg++) {
		uint8_t junk[4096];
		for (size_t i = 0; i < sizeof junk; i++)
			junk[i] = (uint8_t)(i * 37 + (size_t)pg);
		CHECK((p = damaged(pg * 4096, junk, sizeof junk, 0)) != NULL);
		if (snap_db_open(p, &db) == 0) {
			if (snap_db_prefix(db, "", 0, 0, NULL, &kv, &n) == 0)
				free(kv);
			snap_db_close(db);
		}
		rv_err_clear();
		unlink(p);
	}
	/* Not a db at all. */
	CHECK_INT(snap_db_open("tests/unit/boltdb/make.sh", &db), -EBADMSG);
	CHECK_INT(snap_db_open("tests/unit/boltdb/none.db", &db), -ENOENT);
}
