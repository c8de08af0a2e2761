/* Unit tests for continuous backup's segments: names, a round trip through a local
 * store, damage caught, and a chain's holes. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "snapshot/snapshot.h"
#include "tests/unit/unit.h"

static struct store *open_tmp(char *dir)
{
	struct store *st = NULL;
	strcpy(dir, "/tmp/rv-unit-seg-XXXXXX");
	if (!mkdtemp(dir))
		return NULL;
	struct store_spec spec = {.url = dir};
	if (store_open(&spec, &st) < 0)
		return NULL;
	return st;
}

static void rm_tree(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TEST(segment_name_round_trip)
{
	char name[384];
	struct seg_info i;
	seg_name_format("prod-20261202T101500.000Z-r41-before-x", 42, 1000, 1764670500000LL, 1764670501000LL,
			"etcd-a-1", name, sizeof name);
	CHECK(seg_is_name(name));
	CHECK_INT(seg_name_parse(name, &i), 0);
	CHECK_STR(i.chain, "prod-20261202T101500.000Z-r41-before-x");
	CHECK_INT(i.first, 42);
	CHECK_INT(i.last, 1000);
	CHECK_INT(i.first_ms, 1764670500000LL);
	CHECK_INT(i.last_ms, 1764670501000LL);
	CHECK_STR(i.writer, "etcd-a-1");
	CHECK(!seg_is_name("prod-20261202T101500.000Z-r41.tar.zst"));
	CHECK(!seg_is_name("x.seg-r1-r2-t1-t2-w.rvseg.zst"));
	/* last before first */
	seg_name_format("c", 5, 4, 1, 2, "w", name, sizeof name);
	CHECK(!seg_is_name(name));
}

static int add(struct seg_builder *b, int64_t rev, const char *k, const char *v, int del)
{
	struct seg_event e = {.type = del ? SEG_DELETE : SEG_PUT, .revision = rev, .create_revision = rev - 1,
			      .version = 2, .lease = 0x1234, .key = (uint8_t *)k, .key_len = strlen(k),
			      .value = (uint8_t *)v, .value_len = v ? strlen(v) : 0, .has_prev = true,
			      .prev_create_revision = rev - 1, .prev_mod_revision = rev - 1, .prev_version = 1,
			      .prev_value = (uint8_t *)"old", .prev_value_len = 3};
	return seg_builder_add(b, &e, 1764670500000LL + rev);
}

TEST(segment_round_trip_and_damage)
{
	char dir[64], name[384], path[512];
	struct store *st = open_tmp(dir);
	struct seg_contents c;
	CHECK(st);
	struct seg_builder *b = seg_builder_new("c-20261202T101500.000Z-r10", 10, "m1");
	CHECK_INT(add(b, 11, "a", "1", 0), 0);
	CHECK_INT(add(b, 12, "b", "2", 0), 0);
	CHECK_INT(add(b, 12, "c", "3", 0), 0); /* two events of one revision (a Txn) */
	CHECK_INT(add(b, 13, "a", NULL, 1), 0);
	CHECK(add(b, 12, "x", "y", 0) < 0); /* out of order */
	rv_err_clear();
	CHECK_INT(seg_builder_events(b), 4);
	CHECK_INT(seg_builder_publish(b, st, 3, name, sizeof name), 0);
	CHECK_INT(seg_builder_events(b), 0);
	CHECK_INT(seg_builder_last(b), 13);
	CHECK_INT(add(b, 14, "d", "4", 0), 0);
	CHECK_INT(seg_builder_publish(b, st, 3, NULL, 0), 0);
	seg_builder_free(b);

	CHECK_INT(seg_read(st, name, NULL, &c), 0);
	CHECK_INT(c.n_events, 4);
	CHECK_INT(c.n_times, 3);
	CHECK_INT(c.base_revision, 10);
	CHECK_INT(c.events[2].revision, 12);
	CHECK_STR((char *)c.events[2].key, "c");
	CHECK_STR((char *)c.events[2].value, "3");
	CHECK_INT(c.events[2].lease, 0x1234);
	CHECK(c.events[2].has_prev);
	CHECK_STR((char *)c.events[2].prev_value, "old");
	CHECK_INT(c.events[3].type, SEG_DELETE);
	CHECK_INT(c.times[2].revision, 13);
	CHECK_INT(c.times[2].unix_ms, 1764670500013LL);
	seg_contents_free(&c);

	struct seg_info *v;
	size_t n, s0, cnt;
	int64_t reach, reach_ms;
	CHECK_INT(seg_list(st, &v, &n), 0);
	CHECK_INT(n, 2);
	seg_chain_range(v, n, "c-20261202T101500.000Z-r10", &s0, &cnt);
	CHECK_INT(cnt, 2);
	CHECK_INT(seg_chain_check(st, v + s0, cnt, 10, true, NULL, &reach, &reach_ms, NULL), 0);
	CHECK_INT(reach, 14);
	CHECK_INT(reach_ms, 1764670500014LL);
	/* a base newer than the start is an overlap, not a hole; an older one a hole */
	CHECK_INT(seg_chain_check(st, v + s0, cnt, 12, false, NULL, &reach, NULL, NULL), 0);
	CHECK(seg_chain_check(st, v + s0, cnt, 8, false, NULL, &reach, NULL, NULL) == -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "revisions 9 to 10");
	rv_err_clear();
	free(v);

	/* flip one byte in the middle of the first segment */
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	off_t size = lseek(fd, 0, SEEK_END);
	unsigned char ch;
	CHECK(pread(fd, &ch, 1, size / 2) == 1);
	ch ^= 0x5a;
	CHECK(pwrite(fd, &ch, 1, size / 2) == 1);
	close(fd);
	CHECK(seg_read(st, name, NULL, &c) == -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "is damaged");
	rv_err_clear();
	store_close(st);
	rm_tree(dir);
}

/* A store with store.encryption: segments encrypted for a recipient, read with
 * its identity; without it only the names are checked. */
TEST(segment_encrypted_round_trip)
{
	char dir[64], name[384], path[512], idpath[512], identity[128], recipient[128], other_id[128],
		other_rcp[128];
	struct store *st = NULL, *reader = NULL, *wrong = NULL;
	struct seg_contents c;
	const struct age_keys *keys = NULL;
	strcpy(dir, "/tmp/rv-unit-seg-XXXXXX");
	CHECK(mkdtemp(dir));
	CHECK_INT(age_keygen(identity, sizeof identity, recipient, sizeof recipient), 0);
	CHECK_INT(age_keygen(other_id, sizeof other_id, other_rcp, sizeof other_rcp), 0);
	char *rcps[] = {recipient};
	struct store_spec spec = {.url = dir, .enc = {.recipients = rcps, .n_recipients = 1}};
	CHECK_INT(store_open(&spec, &st), 0);

	struct seg_builder *b = seg_builder_new("c-20261202T101500.000Z-r10", 10, "m1");
	CHECK_INT(add(b, 11, "a", "TOPSECRET", 0), 0);
	CHECK_INT(add(b, 12, "b", "2", 0), 0);
	CHECK_INT(seg_builder_publish(b, st, 3, name, sizeof name), 0);
	CHECK_INT(add(b, 13, "c", "3", 0), 0);
	CHECK_INT(seg_builder_publish(b, st, 3, NULL, 0), 0);
	seg_builder_free(b);
	CHECK(rv_str_has_suffix(name, SEG_SUFFIX_AGE));

	/* the writer has no identity: -EACCES naming the segment and the key */
	CHECK_INT(store_read_keys(st, &keys), 0);
	CHECK(keys == NULL);
	CHECK(seg_read(st, name, NULL, &c) == -EACCES);
	CHECK_CONTAINS(rv_errmsg(-EACCES), name);
	CHECK_CONTAINS(rv_errmsg(-EACCES), "identity_file");
	rv_err_clear();

	struct seg_info *v;
	size_t n, s0, cnt, unchecked = 0;
	int64_t reach;
	CHECK_INT(seg_list(st, &v, &n), 0);
	CHECK_INT(n, 2);
	CHECK(v[0].encrypted && v[1].encrypted);
	seg_chain_range(v, n, "c-20261202T101500.000Z-r10", &s0, &cnt);
	CHECK_INT(seg_chain_check(st, v + s0, cnt, 10, true, NULL, &reach, NULL, &unchecked), 0);
	CHECK_INT(reach, 13);
	CHECK_INT(unchecked, 2);

	/* a reader with the identity */
	snprintf(idpath, sizeof idpath, "%s.key", dir);
	FILE *f = fopen(idpath, "w");
	CHECK(f);
	fprintf(f, "%s\n", identity);
	fclose(f);
	chmod(idpath, 0600);
	struct store_spec rs = {.url = dir, .enc = {.identity_file = idpath}};
	CHECK_INT(store_open(&rs, &reader), 0);
	CHECK_INT(store_read_keys(reader, &keys), 0);
	CHECK(keys != NULL);
	CHECK_INT(seg_read(reader, name, keys, &c), 0);
	CHECK_INT(c.n_events, 2);
	CHECK_STR((char *)c.events[0].value, "TOPSECRET");
	seg_contents_free(&c);
	CHECK_INT(seg_chain_check(reader, v + s0, cnt, 10, true, keys, &reach, NULL, &unchecked), 0);
	CHECK_INT(unchecked, 0);

	/* no plaintext in the store */
	snprintf(path, sizeof path, "%s/%s", dir, name);
	{
		char *text;
		size_t len;
		CHECK_INT(rv_read_file(path, &text, &len, 1 << 20), 0);
		CHECK(memmem(text, len, "TOPSECRET", 9) == NULL);
		CHECK(len > 22 && memcmp(text, "age-encryption.org/v1\n", 22) == 0);
		free(text);
	}

	/* another identity: not made for this key */
	snprintf(idpath, sizeof idpath, "%s.other", dir);
	f = fopen(idpath, "w");
	CHECK(f);
	fprintf(f, "%s\n", other_id);
	fclose(f);
	chmod(idpath, 0600);
	struct store_spec ws = {.url = dir, .enc = {.identity_file = idpath}};
	CHECK_INT(store_open(&ws, &wrong), 0);
	CHECK_INT(store_read_keys(wrong, &keys), 0);
	CHECK(seg_read(wrong, name, keys, &c) == -EACCES);
	CHECK_CONTAINS(rv_errmsg(-EACCES), "not made for this key");
	rv_err_clear();

	/* a flipped byte in the payload fails authentication */
	CHECK_INT(store_read_keys(reader, &keys), 0);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	off_t size = lseek(fd, 0, SEEK_END);
	unsigned char ch;
	CHECK(pread(fd, &ch, 1, size - 20) == 1);
	ch ^= 0x01;
	CHECK(pwrite(fd, &ch, 1, size - 20) == 1);
	close(fd);
	CHECK(seg_read(reader, name, keys, &c) == -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "is damaged");
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), name);
	rv_err_clear();
	CHECK(seg_chain_check(reader, v + s0, cnt, 10, true, keys, &reach, NULL, NULL) == -EBADMSG);
	rv_err_clear();
	free(v);

	store_close(st);
	store_close(reader);
	store_close(wrong);
	snprintf(path, sizeof path, "%s.key", dir);
	unlink(path);
	unlink(idpath);
	rm_tree(dir);
}

/* A chain's index names its settled segments; the chain is read as the index plus
 * the segments listed after its last one, never another chain's. An index that is
 * not this chain's, or damaged, is passed over: all of them are listed then. */
TEST(segment_chain_index_and_tail)
{
	char dir[64], path[512], idx[300];
	const char *chain = "c-20261202T101500.000Z-r10", *other = "c-20261202T111500.000Z-r50";
	struct store *st = open_tmp(dir);
	CHECK(st);
	struct seg_builder *b = seg_builder_new(chain, 10, "m1");
	for (int64_t rev = 11; rev <= 14; rev++) { /* four segments of one revision each */
		CHECK_INT(add(b, rev, "k", "v", 0), 0);
		CHECK_INT(seg_builder_publish(b, st, 3, NULL, 0), 0);
	}
	seg_builder_free(b);
	b = seg_builder_new(other, 50, "m1");
	CHECK_INT(add(b, 51, "k", "v", 0), 0);
	CHECK_INT(seg_builder_publish(b, st, 3, NULL, 0), 0);
	seg_builder_free(b);

	struct seg_info *all, *v;
	size_t n_all, n;
	CHECK_INT(seg_list(st, &all, &n_all), 0);
	CHECK_INT(n_all, 5);
	/* no index: the chain's own, by prefix */
	CHECK_INT(seg_list_chain(st, chain, &v, &n), 0);
	CHECK_INT(n, 4);
	CHECK_INT(v[3].last, 14);
	CHECK(v[0].size > 0);
	free(v);

	/* an index of the first two: they come from it, the other two after them */
	CHECK_INT(seg_index_write(st, chain, all, 2), 0);
	struct seg_info *had;
	size_t n_had;
	CHECK_INT(seg_index_read(st, chain, &had, &n_had), 0);
	CHECK_INT(n_had, 2);
	CHECK_STR(had[1].name, all[1].name);
	CHECK_INT(had[1].size, all[1].size);
	free(had);
	/* proof that the indexed ones are not listed: remove one from the store */
	snprintf(path, sizeof path, "%s/%s", dir, all[0].name);
	CHECK_INT(unlink(path), 0);
	CHECK_INT(seg_list_chain(st, chain, &v, &n), 0);
	CHECK_INT(n, 4);
	CHECK_STR(v[0].name, all[0].name);
	CHECK_INT(v[0].first, 11);
	CHECK_INT(v[3].first, 14);
	free(v);

	/* a damaged index (a line that names another chain's segment): listed instead */
	seg_index_name(chain, idx, sizeof idx);
	snprintf(path, sizeof path, "%s/%s", dir, idx);
	FILE *f = fopen(path, "a");
	CHECK(f);
	fprintf(f, "%s 10\n", all[4].name);
	fclose(f);
	CHECK_INT(seg_index_read(st, chain, &had, &n_had), 0);
	CHECK_INT(n_had, 0);
	free(had);
	CHECK_INT(seg_list_chain(st, chain, &v, &n), 0);
	CHECK_INT(n, 3); /* the one removed is gone from the listing */
	CHECK_INT(v[0].first, 12);
	free(v);
	/* the index is no artifact and no segment */
	CHECK_INT(seg_list(st, &v, &n), 0);
	CHECK_INT(n, 4);
	free(v);
	free(all);
	store_close(st);
	rm_tree(dir);
}
