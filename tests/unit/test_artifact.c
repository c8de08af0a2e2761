/* Unit tests for the artifact format and the local store: round trips, a flipped
 * bit anywhere, truncation, a bad trailer, aborted and killed writes. The "db" is
 * synthetic (half-compressible bytes + their sha256 trailer): the artifact does not
 * care what the db holds; restoring real etcd snapshots is in tests/it/20-snapshot.sh. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/common.h"
#include "restore/restore.h"
#include "snapshot/snap_impl.h"
#include "tests/unit/unit.h"

#define DB_LEN (3u << 20)

static char tmp_root[256];

static void remove_scratch(void)
{
	struct rv_buf b = {0};
	rv_buf_printf(&b, "rm -rf '%s'", tmp_root);
	if (system(b.data) != 0)
		fprintf(stderr, "could not remove %s\n", tmp_root);
	rv_buf_free(&b);
}

static const char *scratch(const char *name)
{
	static char paths[8][512];
	static int next;
	char *path = paths[next++ % 8];
	struct rv_buf b = {0};
	if (!tmp_root[0]) {
		snprintf(tmp_root, sizeof tmp_root, "%s/rv-unit-artifact-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(tmp_root))
			abort();
		atexit(remove_scratch);
	}
	rv_buf_printf(&b, "rm -rf '%s/%s'", tmp_root, name);
	if (system(b.data) != 0)
		abort();
	rv_buf_free(&b);
	snprintf(path, 512, "%s/%s", tmp_root, name);
	return path;
}

/* A db of n bytes: runs of one byte (compressible) alternating with pseudo-random
 * bytes, then the 32-byte sha256 trailer as etcd sends it. */
static uint8_t *make_db(size_t n, size_t *total)
{
	uint8_t *b = rv_xmalloc(n + 32);
	uint32_t x = 12345;
	unsigned mdlen;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (i / 4096) % 2 ? (uint8_t)(x >> 16) : (uint8_t)(i / 4096);
	}
	EVP_Digest(b, n, b + n, &mdlen, EVP_sha256(), NULL);
	*total = n + 32;
	return b;
}

static void fill_manifest(struct snap_manifest *m)
{
	memset(m, 0, sizeof *m);
	m->format = SNAP_FORMAT;
	strcpy(m->regvault_version, RV_VERSION);
	strcpy(m->cluster_name, "registry");
	m->cluster_id = 0xdeadbeefcafe1234ULL;
	strcpy(m->member_name, "etcd2");
	m->member_id = 42;
	strcpy(m->etcd_version, "3.4.23");
	m->revision = 1234;
	m->raft_term = 5;
	m->raft_index = 999;
	m->db_size = DB_LEN;
	m->db_size_in_use = DB_LEN / 2;
	strcpy(m->compression, "zstd");
	strcpy(m->created_at, "2026-11-21T21:52:13Z");
}

static int open_store(const char *dir, struct store **st)
{
	struct store_spec spec = {.url = (char *)dir};
	return store_open(&spec, st);
}

/* Write db through the save chain in uneven chunks; returns finish's result. */
static char last_file_sha[65];

static int write_artifact(struct store *st, const char *name, const uint8_t *db, size_t total,
			  struct snap_manifest *m)
{
	struct store_writer *w;
	struct snap_stage *chain;
	int r = store_put_begin(st, name, 0, &w);
	if (r < 0)
		return r;
	chain = snap_stage_sha256_new(m->sha256, "the test stream",
				      snap_artifact_writer_new(w, m, total, 3, name, last_file_sha, NULL));
	for (size_t off = 0, step = 1; off < total; step = step * 7 % 70001 + 1) {
		size_t n = step < total - off ? step : total - off;
		if ((r = snap_stage_write(chain, db + off, n)) < 0) {
			snap_stage_abort(chain);
			return r;
		}
		off += n;
	}
	return snap_stage_finish(chain);
}

static int count_files(const char *dir)
{
	struct rv_buf b = {0};
	FILE *f;
	int n = -1;
	rv_buf_printf(&b, "ls -A '%s' | wc -l", dir);
	f = popen(b.data, "r");
	if (f && fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f)
		pclose(f);
	rv_buf_free(&b);
	return n;
}

struct cmp {
	const uint8_t *want;
	size_t len, off;
	bool bad;
};

static int cmp_cb(const void *p, size_t n, void *ud)
{
	struct cmp *c = ud;
	if (c->off + n > c->len || memcmp(c->want + c->off, p, n) != 0)
		c->bad = true;
	c->off += n;
	return 0;
}

static const char *NAME = "registry-20261121T215213Z-r1234.tar.zst";

TEST(artifact_round_trip)
{
	const char *dir = scratch("rt");
	struct store *st;
	struct snap_manifest m;
	struct snap_read_result *res = rv_xcalloc(1, sizeof *res);
	struct snap_info *v;
	size_t total, n;
	uint8_t *db = make_db(DB_LEN, &total);
	struct cmp c = {db, total, 0, false};
	char fetched[600];
	char *got;
	size_t got_len;

	CHECK_INT(open_store(dir, &st), 0);
	fill_manifest(&m);
	CHECK_INT(write_artifact(st, NAME, db, total, &m), 0);
	CHECK_INT(strlen(m.sha256), 64);
	CHECK_INT(snap_artifact_read(st, NAME, cmp_cb, &c, res), 0);
	CHECK(!c.bad);
	CHECK_INT(c.off, total);
	CHECK(res->have_head && res->have_final);
	CHECK_STR(res->head.sha256, "");
	CHECK_STR(res->final.sha256, m.sha256);
	CHECK_INT(res->final.revision, 1234);
	CHECK(res->final.cluster_id == 0xdeadbeefcafe1234ULL);
	CHECK_INT(count_files(dir), 1); /* no temporary file left */

	/* list without a sidecar reads the head manifest */
	CHECK_INT(snap_list(st, &v, &n), 0);
	CHECK_INT(n, 1);
	CHECK_STR(v[0].name, NAME);
	CHECK(!v[0].foreign);
	CHECK_INT(v[0].m.revision, 1234);
	free(v);

	snprintf(fetched, sizeof fetched, "%s/fetched.db", scratch("rt-fetch"));
	mkdir(scratch("rt-fetch"), 0700);
	CHECK_INT(snap_fetch(st, NAME, fetched, NULL), 0);
	CHECK_INT(rv_read_file(fetched, &got, &got_len, 64 << 20), 0);
	CHECK_INT(got_len, total);
	CHECK(memcmp(got, db, total) == 0);
	free(got);
	CHECK_INT(snap_fetch(st, NAME, fetched, NULL), -EEXIST);

	free(db);
	free(res);
	store_close(st);
}

TEST(artifact_extracts_with_tar)
{
	const char *dir = scratch("tar");
	struct store *st;
	struct snap_manifest m;
	size_t total;
	uint8_t *db = make_db(DB_LEN, &total);
	struct rv_buf cmd = {0};
	char out[512];

	CHECK_INT(open_store(dir, &st), 0);
	fill_manifest(&m);
	CHECK_INT(write_artifact(st, NAME, db, total, &m), 0);
	snprintf(out, sizeof out, "%s", scratch("tar-x"));
	mkdir(out, 0700);
	rv_buf_printf(&cmd, "cd '%s' && tar --zstd -tf '%s/%s' | tr '\\n' ' ' > list && tar --zstd -xf '%s/%s'",
		      out, dir, NAME, dir, NAME);
	CHECK_INT(system(cmd.data), 0);
	rv_buf_free(&cmd);
	{
		char path[600], *txt;
		size_t len;
		snprintf(path, sizeof path, "%s/list", out);
		CHECK_INT(rv_read_file(path, &txt, &len, 4096), 0);
		CHECK_STR(txt, "manifest.json snapshot.db manifest.final.json ");
		free(txt);
		snprintf(path, sizeof path, "%s/snapshot.db", out);
		CHECK_INT(rv_read_file(path, &txt, &len, 64 << 20), 0);
		CHECK_INT(len, total);
		CHECK(memcmp(txt, db, total) == 0);
		free(txt);
	}
	free(db);
	store_close(st);
}

static int copy_with(const char *src, const char *dst, long trunc_at, long flip_at)
{
	char *data;
	size_t len;
	int fd, r = rv_read_file(src, &data, &len, 64 << 20);
	if (r < 0)
		return r;
	if (flip_at >= 0)
		data[flip_at] ^= 0x10;
	if (trunc_at >= 0)
		len = (size_t)trunc_at;
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	r = fd < 0 ? -errno : rv_write_all(fd, data, len);
	if (fd >= 0)
		close(fd);
	free(data);
	return r;
}

TEST(artifact_bit_flips_and_truncation_are_caught)
{
	const char *dir = scratch("flip");
	struct store *st;
	struct snap_manifest m;
	struct snap_read_result *res = rv_xcalloc(1, sizeof *res);
	struct snap_info vi;
	size_t total;
	uint8_t *db = make_db(DB_LEN, &total);
	char src[600], bad[600];
	struct stat sb;
	long size;
	const char *BAD = "registry-20261121T215213Z-r1235.tar.zst";

	CHECK_INT(open_store(dir, &st), 0);
	fill_manifest(&m);
	CHECK_INT(write_artifact(st, NAME, db, total, &m), 0);
	snprintf(src, sizeof src, "%s/%s", dir, NAME);
	snprintf(bad, sizeof bad, "%s/%s", dir, BAD);
	CHECK_INT(stat(src, &sb), 0);
	size = (long)sb.st_size;
	/* the bad copy gets the good artifact's sidecar, as if bits flipped on disk */
	CHECK_INT(snap_sidecar_write(st, BAD, &m, last_file_sha, (uint64_t)size), 0);
	/* every 1/97th of the file, and each of the first and last 40 bytes (zstd
	 * frame headers, the tar end, the last checksum) */
	for (long pos = 0; pos < size; pos += (pos < 40 || pos >= size - 40) ? 1 : size / 97) {
		unlink(bad);
		CHECK_INT(copy_with(src, bad, -1, pos), 0);
		struct snap_info info;
		int r = snap_verify(st, BAD, &info);
		if (r != -EBADMSG) {
			unit_failed(__FILE__, __LINE__, "a flipped bit at byte %ld of %ld gave %d", pos, size, r);
			break;
		}
		CHECK_CONTAINS(rv_errmsg(r), BAD);
		if (pos >= 40 && pos < size - 40 && pos + size / 97 >= size - 40)
			pos = size - 41;
	}
	static const double cuts[] = {0, 0.0001, 0.01, 0.5, 0.9};
	for (size_t i = 0; i < RV_ARRAY_LEN(cuts) + 3; i++) {
		long at = i < RV_ARRAY_LEN(cuts) ? (long)(cuts[i] * (double)size) : size - (long)(i - RV_ARRAY_LEN(cuts) + 1);
		unlink(bad);
		CHECK_INT(copy_with(src, bad, at, -1), 0);
		int r = snap_artifact_read(st, BAD, NULL, NULL, res);
		if (r != -EBADMSG) {
			unit_failed(__FILE__, __LINE__, "truncation at byte %ld of %ld gave %d", at, size, r);
			break;
		}
	}
	/* a truncated artifact says so */
	unlink(bad);
	CHECK_INT(copy_with(src, bad, size / 2, -1), 0);
	CHECK_INT(snap_artifact_read(st, BAD, NULL, NULL, res), -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "truncated");
	/* the good one with its sidecar verifies */
	CHECK_INT(snap_sidecar_write(st, NAME, &m, last_file_sha, (uint64_t)size), 0);
	CHECK_INT(snap_verify(st, NAME, &vi), 0);
	free(db);
	free(res);
	store_close(st);
}

/* verify names the tar entry a changed byte is in: zstd's checksum fails only at
 * the end of a frame, whatever entry the byte was in. */
TEST(artifact_verify_names_the_entry_of_a_changed_byte)
{
	const char *dir = scratch("entry");
	struct store *st;
	struct snap_manifest m;
	struct snap_info info;
	size_t total;
	uint8_t *db = make_db(DB_LEN, &total);
	char src[600], bad[600];
	struct stat sb;
	long size;
	int final_named = 0;
	const char *BAD = "registry-20261121T215213Z-r1235.tar.zst";

	CHECK_INT(open_store(dir, &st), 0);
	fill_manifest(&m);
	CHECK_INT(write_artifact(st, NAME, db, total, &m), 0);
	snprintf(src, sizeof src, "%s/%s", dir, NAME);
	snprintf(bad, sizeof bad, "%s/%s", dir, BAD);
	CHECK_INT(stat(src, &sb), 0);
	size = (long)sb.st_size;
	/* the good artifact's sidecar: its file sha256 catches the few bits zstd ignores */
	CHECK_INT(snap_sidecar_write(st, BAD, &m, last_file_sha, (uint64_t)size), 0);
	/* inside the first frame, past its header: manifest.json */
	CHECK_INT(copy_with(src, bad, -1, 150), 0);
	CHECK_INT(snap_verify(st, BAD, &info), -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "in entry manifest.json");
	/* the middle of the file: snapshot.db */
	for (int k = 2; k <= 8; k++) {
		unlink(bad);
		CHECK_INT(copy_with(src, bad, -1, size * k / 10), 0);
		CHECK_INT(snap_verify(st, BAD, &info), -EBADMSG);
		CHECK_CONTAINS(rv_errmsg(-EBADMSG), "in entry snapshot.db");
		CHECK_CONTAINS(rv_errmsg(-EBADMSG), BAD);
	}
	/* the last block holds manifest.final.json: some byte there is named so */
	for (long pos = size - 300; pos < size - 4; pos++) {
		unlink(bad);
		CHECK_INT(copy_with(src, bad, -1, pos), 0);
		CHECK_INT(snap_verify(st, BAD, &info), -EBADMSG);
		final_named += strstr(rv_errmsg(-EBADMSG), "a byte in entry manifest.final.json has changed") != NULL;
	}
	CHECK(final_named > 0);
	free(db);
	store_close(st);
}

TEST(artifact_bad_trailer_publishes_nothing)
{
	const char *dir = scratch("trailer");
	struct store *st;
	struct snap_manifest m;
	struct snap_info *v;
	size_t total, n;
	uint8_t *db = make_db(DB_LEN, &total);

	CHECK_INT(open_store(dir, &st), 0);
	fill_manifest(&m);
	db[1000] ^= 1; /* the db no longer matches its trailer */
	CHECK_INT(write_artifact(st, NAME, db, total, &m), -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "the test stream is corrupt");
	CHECK_INT(count_files(dir), 0);
	CHECK_INT(snap_list(st, &v, &n), 0);
	CHECK_INT(n, 0);
	free(v);
	free(db);
	store_close(st);
}

TEST(artifact_verify_and_sidecar)
{
	const char *dir = scratch("verify");
	struct store *st;
	struct snap_manifest m;
	struct snap_info info, *v;
	size_t total, n;
	uint8_t *db = make_db(DB_LEN, &total);
	char name[256], path[600];
	int fd;

	CHECK_INT(open_store(dir, &st), 0);
	fill_manifest(&m);
	CHECK_INT(write_artifact(st, NAME, db, total, &m), 0);
	CHECK_INT(snap_verify(st, NAME, &info), 0);
	CHECK_STR(info.m.sha256, m.sha256);
	CHECK_INT(snap_resolve(st, "registry-20261121T215213Z-r1234", name, sizeof name), 0);
	CHECK_STR(name, NAME);
	CHECK_INT(snap_resolve(st, "latest", name, sizeof name), 0);
	CHECK_STR(name, NAME);
	CHECK_INT(snap_resolve(st, "nope", name, sizeof name), -ENOENT);
	CHECK_CONTAINS(rv_errmsg(-ENOENT), "there is no snapshot nope.tar.zst");

	/* a foreign file: listed as foreign, verify says so */
	snprintf(path, sizeof path, "%s/notes.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "hello\n", 6), 6);
	close(fd);
	CHECK_INT(snap_list(st, &v, &n), 0);
	CHECK_INT(n, 2);
	CHECK_STR(v[0].name, NAME);
	CHECK(v[1].foreign);
	free(v);
	CHECK_INT(snap_verify(st, "notes.txt", &info), -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "not a regvault artifact");

	/* delete removes the artifact */
	CHECK_INT(snap_delete(st, NAME), 0);
	CHECK_INT(snap_resolve(st, "latest", name, sizeof name), -ENOENT);
	free(db);
	store_close(st);
}

TEST(local_store_temp_files_and_cleanup)
{
	const char *dir = scratch("local");
	struct store *st;
	struct store_writer *w;
	struct store_object *objs;
	size_t n;
	char path[600];
	pid_t child;
	int fd;

	CHECK_INT(open_store(dir, &st), 0); /* parent exists: created */
	CHECK(rv_path_exists(dir));
	CHECK_INT(store_put_begin(st, "a.tar.zst", 0, &w), 0);
	CHECK_INT(store_put_write(w, "abc", 3), 0);
	CHECK_INT(count_files(dir), 1);
	CHECK_INT(store_list(st, &objs, &n), 0); /* the temp file is not listed */
	CHECK_INT(n, 0);
	store_objects_free(objs, n);
	CHECK_INT(store_cleanup(st), 0); /* our own writer is alive: kept */
	CHECK_INT(count_files(dir), 1);
	store_put_abort(w);
	CHECK_INT(count_files(dir), 0);

	/* a temp file of a dead writer is removed by cleanup */
	child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	snprintf(path, sizeof path, "%s/.b.tar.zst.tmp-%ld-0000abcd", dir, (long)child);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_INT(store_cleanup(st), 0);
	CHECK_INT(count_files(dir), 0);

	/* commit never replaces an existing object */
	CHECK_INT(store_put_begin(st, "c", 0, &w), 0);
	CHECK_INT(store_put_commit(w), 0);
	CHECK_INT(store_put_begin(st, "c", 0, &w), 0);
	CHECK_INT(store_put_commit(w), -EEXIST);
	CHECK_CONTAINS(rv_errmsg(-EEXIST), "already exists");
	CHECK_INT(count_files(dir), 1);
	store_close(st);

	/* a store whose parent does not exist */
	snprintf(path, sizeof path, "%s/no/such/dir", dir);
	CHECK_INT(open_store(path, &st), -ENOENT);
	CHECK_CONTAINS(rv_errmsg(-ENOENT), "does not exist");
}

static char *read_small(const char *dir, const char *name)
{
	char path[600], *text = NULL;
	size_t len;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (rv_read_file(path, &text, &len, 1024) < 0)
		return NULL;
	return text;
}

/* Saves publishing the same name (two saves in one millisecond) each get a name
 * of their own, the next millisecond, across a second's end; nothing is replaced. */
TEST(local_store_commit_takes_the_next_free_name)
{
	const char *dir = scratch("collide");
	static const char *const want[] = {"c-20261121T215213.999Z-r5-pre-up.tar.zst",
					   "c-20261121T215214.000Z-r5-pre-up.tar.zst",
					   "c-20261121T215214.001Z-r5-pre-up.tar.zst"};
	struct store *st;
	struct store_writer *w[3];
	char *text;

	CHECK_INT(open_store(dir, &st), 0);
	for (int i = 0; i < 3; i++) { /* all three are open before any commits */
		char body[2] = {(char)('0' + i), 0};
		CHECK_INT(store_put_begin(st, want[0], 0, &w[i]), 0);
		store_put_set_next_name(w[i], snap_name_next, NULL);
		CHECK_INT(store_put_write(w[i], body, 1), 0);
	}
	for (int i = 0; i < 3; i++)
		CHECK_INT(store_put_commit(w[i]), 0);
	for (int i = 0; i < 3; i++) {
		text = read_small(dir, want[i]);
		CHECK(text != NULL);
		CHECK_INT(text[0], '0' + i);
		free(text);
	}
	CHECK_INT(count_files(dir), 3);
	/* without next_name a taken name still fails, and clearly */
	CHECK_INT(store_put_begin(st, want[1], 0, &w[0]), 0);
	CHECK_INT(store_put_commit(w[0]), -EEXIST);
	CHECK_CONTAINS(rv_errmsg(-EEXIST), "already exists in store");
	CHECK_INT(count_files(dir), 3);
	store_close(st);
}

TEST(artifact_names)
{
	char name[256];
	snap_name_format("my-cluster", 1795297933123LL, 77, NULL, name, sizeof name);
	CHECK_STR(name, "my-cluster-20261121T215213.123Z-r77.tar.zst");
	snap_name_format("c", 1795297933005LL, 5, "before-upgrade", name, sizeof name);
	CHECK_STR(name, "c-20261121T215213.005Z-r5-before-upgrade.tar.zst");
	snap_name_format("c", 1795297933000LL, 5, "", name, sizeof name);
	CHECK_STR(name, "c-20261121T215213.000Z-r5.tar.zst");
	CHECK_INT(snap_tag_check("ok.tag_1"), 0);
	CHECK_INT(snap_tag_check("before-upgrade"), 0);
	CHECK_INT(snap_tag_check("bad tag"), -EINVAL);
	CHECK_CONTAINS(rv_errmsg(-EINVAL), "letters, digits, '.', '_' and '-'");
	CHECK_INT(snap_tag_check("a/b"), -EINVAL);
	CHECK_INT(snap_tag_check(""), -EINVAL);
	{
		char side[300];
		snap_sidecar_name(name, side, sizeof side);
		CHECK_STR(side, "c-20261121T215213.000Z-r5.manifest.json");
	}
}

/* The name grammar: new names (milliseconds), the older names without them, tags
 * and cluster names holding '-', and what is not an artifact name. */
TEST(artifact_name_grammar)
{
	static const struct {
		const char *name;
		bool ok;
		const char *cluster;
		int64_t created_ms, revision;
		const char *tag;
	} cases[] = {
		{"registry-20261121T215213.123Z-r77.tar.zst", true, "registry", 1795297933123LL, 77, ""},
		{"registry-20261121T215213Z-r77.tar.zst", true, "registry", 1795297933000LL, 77, ""},
		{"my-cluster-20261121T215213.999Z-r1-base.tar.zst", true, "my-cluster", 1795297933999LL, 1, "base"},
		{"c-20261121T215213Z-r5-pre_upgrade.tar.zst", true, "c", 1795297933000LL, 5, "pre_upgrade"},
		{"c-20261121T215213.000Z-r5-before-upgrade.tar.zst", true, "c", 1795297933000LL, 5, "before-upgrade"},
		{"c-20261121T215213.000Z-r5-v1.2-rc-1.tar.zst", true, "c", 1795297933000LL, 5, "v1.2-rc-1"},
		/* a tag that looks like a revision is still a tag */
		{"c-20261121T215213.000Z-r5-r6.tar.zst", true, "c", 1795297933000LL, 5, "r6"},
		{"a-b-c-20261121T000000.001Z-r0.tar.zst", true, "a-b-c", 1795219200001LL, 0, ""},
		{"notes.txt", false, NULL, 0, 0, NULL},
		{"c-2026-r5.tar.zst", false, NULL, 0, 0, NULL},
		{"c-20261121T215213.000Z-r5.tar.zst.tmp", false, NULL, 0, 0, NULL},
		{"c-20261121T215213.000Z-r5", false, NULL, 0, 0, NULL},         /* no suffix */
		{"-20261121T215213.000Z-r5.tar.zst", false, NULL, 0, 0, NULL},  /* no cluster */
		{"c-20261121T215213.00Z-r5.tar.zst", false, NULL, 0, 0, NULL},  /* two digits of ms */
		{"c-20261121T215213.000-r5.tar.zst", false, NULL, 0, 0, NULL},  /* no Z */
		{"c-20261121T215213.000Z-5.tar.zst", false, NULL, 0, 0, NULL},  /* no r */
		{"c-20261121T215213.000Z-r.tar.zst", false, NULL, 0, 0, NULL},  /* no revision */
		{"c-20261121T215213.000Z-r5-.tar.zst", false, NULL, 0, 0, NULL}, /* empty tag */
		{"c-20261121T215213.000Z-r5-a b.tar.zst", false, NULL, 0, 0, NULL},
		{"c-20261121T215213.000Z-r5x.tar.zst", false, NULL, 0, 0, NULL},
		{"c-20261399T215213.000Z-r5.tar.zst", false, NULL, 0, 0, NULL}, /* no such date */
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		struct snap_name_parts p;
		bool ok = snap_name_parse(cases[i].name, &p);
		if (ok != cases[i].ok) {
			unit_failed(__FILE__, __LINE__, "%s: parsed %d, expected %d", cases[i].name, ok, cases[i].ok);
			return;
		}
		if (!ok)
			continue;
		CHECK_STR(p.cluster, cases[i].cluster);
		CHECK_INT(p.created_ms, cases[i].created_ms);
		CHECK_INT(p.revision, cases[i].revision);
		CHECK_STR(p.tag, cases[i].tag);
		/* a new name formats back to itself */
		if (strchr(cases[i].name, '.') < strstr(cases[i].name, "Z-r")) {
			char again[256];
			snap_name_format(p.cluster, p.created_ms, p.revision, p.tag, again, sizeof again);
			CHECK_STR(again, cases[i].name);
		}
	}
}

TEST(manifest_round_trip_and_bad_manifests)
{
	struct snap_manifest m, got;
	char *json;
	static const struct {
		const char *text, *want;
	} bad[] = {
		{"not json", "is not valid JSON"},
		{"[1]", "is not valid JSON"},
		{"{\"format\": 2}", "has format 2"},
		{"{\"format\": 1}", "lacks \"cluster_id\""},
		{"{\"format\": 1, \"cluster_id\": \"zz\"}", "bad \"cluster_id\""},
	};
	fill_manifest(&m);
	strcpy(m.sha256, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	m.duration_s = 1.5;
	json = snap_manifest_to_json(&m, true);
	CHECK_CONTAINS(json, "\"cluster_id\": \"deadbeefcafe1234\"");
	CHECK_INT(snap_manifest_from_json(json, strlen(json), "test", &got), 0);
	free(json);
	CHECK(got.cluster_id == m.cluster_id);
	CHECK_STR(got.sha256, m.sha256);
	CHECK_STR(got.created_at, m.created_at);
	CHECK(got.duration_s == 1.5);
	json = snap_manifest_to_json(&m, false);
	CHECK_CONTAINS(json, "\"sha256\": null");
	free(json);
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		int r = snap_manifest_from_json(bad[i].text, strlen(bad[i].text), "artifact X", &got);
		CHECK_INT(r, -EBADMSG);
		CHECK_CONTAINS(rv_errmsg(r), bad[i].want);
		CHECK_CONTAINS(rv_errmsg(r), "artifact X");
	}
}

/* A host's prepare that fetches the artifact from its own store (restore across
 * hosts; a local store stands in for S3, the code only reads through the store API):
 * a db whose sha256 is not the one the coordinator named is refused naming the
 * member, the artifact and both digests, and leaves nothing behind. */
TEST(member_prepare_from_the_store_checks_the_coordinators_sha256)
{
	size_t total;
	uint8_t *db = make_db(DB_LEN, &total);
	struct snap_manifest m;
	struct store *st = NULL;
	const char *dir = scratch("prepare-store");
	char store_dir[600], data_dir[600], state_dir[600], db_path[PATH_MAX];
	snprintf(store_dir, sizeof store_dir, "%s/store", dir);
	snprintf(data_dir, sizeof data_dir, "%s/etcd1", dir);
	snprintf(state_dir, sizeof state_dir, "%s/state", dir);
	CHECK_INT(rv_mkdir_p(store_dir, 0700), 0);
	fill_manifest(&m);
	CHECK_INT(open_store(store_dir, &st), 0);
	CHECK_INT(write_artifact(st, NAME, db, total, &m), 0);

	struct member_spec ms = {.name = "etcd1", .client_url = "http://127.0.0.1:1", .peer_url = "http://127.0.0.1:2",
				 .data_dir = data_dir};
	struct cluster_spec cs = {.name = "registry", .token = "t", .members = &ms, .n_members = 1};
	const char *wrong = "00000000000000000000000000000000000000000000000000000000000000ff";
	struct restore_member_req q = {.cs = &cs, .idx = 0, .state_dir = state_dir, .stamp = "20261203T120000Z",
				       .token = "t-restore", .artifact = NAME, .sha256 = wrong, .revision = 1234,
				       .store = st};
	struct restore_member_state s;
	int r = restore_member_prepare(&q, &s);
	CHECK_INT(r, -EBADMSG);
	const char *msg = rv_errmsg(r);
	CHECK_CONTAINS(msg, "member etcd1's host");
	CHECK_CONTAINS(msg, NAME);
	CHECK_CONTAINS(msg, m.sha256);
	CHECK_CONTAINS(msg, wrong);
	CHECK_CONTAINS(msg, "nothing was stopped");
	rv_err_clear();
	restore_member_db_path(&cs, 0, db_path, sizeof db_path);
	CHECK(!rv_path_exists(db_path));
	struct restore_member_state js;
	CHECK_INT(restore_member_status(state_dir, &js), 0);
	CHECK(!js.found);

	/* A store that does not have it: the host says it cannot fetch it, and what to do. */
	q.artifact = "registry-20261121T215213Z-r9.tar.zst";
	q.sha256 = m.sha256;
	r = restore_member_prepare(&q, &s);
	CHECK(r < 0);
	msg = rv_errmsg(r);
	CHECK_CONTAINS(msg, "member etcd1's host cannot fetch artifact registry-20261121T215213Z-r9.tar.zst");
	CHECK_CONTAINS(msg, "or restore from a snapshot file on the coordinator");
	rv_err_clear();
	store_close(st);
	free(db);
}
