/* Unit tests for the etcd client's pure parts: endpoint URLs, prefix ranges, and
 * the wire encoding of requests (field numbers from etcd's rpc.proto). */
#include <errno.h>
#include <stdlib.h>

#include "common/common.h"
#include "etcd.pb-c.h"
#include "etcd/etcd.h"
#include "tests/unit/unit.h"

TEST(endpoint_parsing)
{
	static const struct {
		const char *url, *target;
		bool tls;
		int rc;
	} cases[] = {
		{"127.0.0.1:2379", "127.0.0.1:2379", false, 0},
		{"http://127.0.0.1:2379", "127.0.0.1:2379", false, 0},
		{"http://127.0.0.1:2379/", "127.0.0.1:2379", false, 0},
		{"https://etcd1.example:2379", "etcd1.example:2379", true, 0},
		{"localhost:1", "localhost:1", false, 0},
		{"[::1]:2379", "[::1]:2379", false, 0},
		{"", NULL, false, -EINVAL},
		{"127.0.0.1", NULL, false, -EINVAL},
		{"http://127.0.0.1", NULL, false, -EINVAL},
		{"unix:///run/etcd.sock", NULL, false, -EINVAL},
		{"http://127.0.0.1:abc", NULL, false, -EINVAL},
		{"http://127.0.0.1:70000", NULL, false, -EINVAL},
		{"http://127.0.0.1:2379/v3/kv", NULL, false, -EINVAL},
		{":2379", NULL, false, -EINVAL},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		char target[256] = "";
		bool tls = false;
		int r = etcd_parse_endpoint(cases[i].url, target, sizeof target, &tls);
		CHECK_INT(r, cases[i].rc);
		if (r == 0) {
			CHECK_STR(target, cases[i].target);
			CHECK_INT(tls, cases[i].tls);
		} else {
			CHECK_CONTAINS(rv_errmsg(r), "endpoint");
		}
	}
}

TEST(prefix_range_end)
{
	size_t n;
	uint8_t *e = etcd_prefix_end("/svc/", 5, &n);
	CHECK_INT(n, 5);
	CHECK(memcmp(e, "/svc0", 5) == 0);
	free(e);
	e = etcd_prefix_end("a\xff\xff", 3, &n);
	CHECK_INT(n, 1);
	CHECK_INT(e[0], 'b');
	free(e);
	e = etcd_prefix_end("", 0, &n);
	CHECK_INT(n, 1);
	CHECK_INT(e[0], 0);
	free(e);
}

/* RangeRequest{key="a", range_end="b", limit=5, keys_only=true}: tags 0x0a, 0x12,
 * 0x18 (field 3 varint), 0x40 (field 8 varint). */
TEST(range_request_encoding)
{
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	uint8_t buf[64];
	static const uint8_t want[] = {0x0a, 0x01, 'a', 0x12, 0x01, 'b', 0x18, 0x05, 0x40, 0x01};
	r.key.data = (uint8_t *)"a";
	r.key.len = 1;
	r.range_end.data = (uint8_t *)"b";
	r.range_end.len = 1;
	r.limit = 5;
	r.keys_only = 1;
	size_t n = protobuf_c_message_pack(&r.base, buf);
	CHECK_INT(n, sizeof want);
	CHECK(memcmp(buf, want, n) == 0);
}

/* SnapshotResponse{remaining_bytes=7, blob="xy"} decodes; empty requests encode to
 * zero bytes but are still sent as a message. */
TEST(snapshot_response_decoding)
{
	static const uint8_t wire[] = {0x10, 0x07, 0x1a, 0x02, 'x', 'y'};
	Etcdserverpb__SnapshotResponse *r = etcdserverpb__snapshot_response__unpack(NULL, sizeof wire, wire);
	CHECK(r != NULL);
	CHECK_INT(r->remaining_bytes, 7);
	CHECK_INT(r->blob.len, 2);
	CHECK(memcmp(r->blob.data, "xy", 2) == 0);
	etcdserverpb__snapshot_response__free_unpacked(r, NULL);
	Etcdserverpb__SnapshotRequest q = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
	CHECK_INT(protobuf_c_message_get_packed_size(&q.base), 0);
}

/* StatusResponse fields etcd sends (dbSize=3, leader=4, dbSizeInUse=9). */
TEST(status_response_decoding)
{
	static const uint8_t wire[] = {0x12, 0x06, '3', '.', '4', '.', '2', '3', 0x18, 0x80, 0x20,
				       0x20, 0x2a, 0x48, 0x80, 0x10};
	Etcdserverpb__StatusResponse *r = etcdserverpb__status_response__unpack(NULL, sizeof wire, wire);
	CHECK(r != NULL);
	CHECK_STR(r->version, "3.4.23");
	CHECK_INT(r->dbsize, 4096);
	CHECK_INT(r->leader, 42);
	CHECK_INT(r->dbsizeinuse, 2048);
	etcdserverpb__status_response__free_unpacked(r, NULL);
}

TEST(alarm_names)
{
	CHECK_STR(etcd_alarm_name(ETCD_ALARM_NOSPACE), "NOSPACE");
	CHECK_STR(etcd_alarm_name(ETCD_ALARM_CORRUPT), "CORRUPT");
	CHECK_STR(etcd_alarm_name(ETCD_ALARM_NONE), "NONE");
}

/* Compare{result=GREATER, target=MOD, key="k", mod_revision=5}: the target's value
 * is field 6 of the oneof (etcd's rpc.proto). */
TEST(txn_compare_encoding)
{
	Etcdserverpb__Compare c = ETCDSERVERPB__COMPARE__INIT;
	uint8_t buf[32];
	static const uint8_t want[] = {0x08, 0x01, 0x10, 0x02, 0x1a, 0x01, 'k', 0x30, 0x05};
	c.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER;
	c.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
	c.key.data = (uint8_t *)"k";
	c.key.len = 1;
	c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
	c.mod_revision = 5;
	size_t n = protobuf_c_message_pack(&c.base, buf);
	CHECK_INT(n, sizeof want);
	CHECK(memcmp(buf, want, n) == 0);
}

/* WatchRequest: create {key="a", start_revision=3, prev_kv=true} is field 1; a
 * progress request is field 3 with an empty message, still present on the wire. */
TEST(watch_request_encoding)
{
	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	Etcdserverpb__WatchProgressRequest pr = ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;
	Etcdserverpb__WatchRequest w = ETCDSERVERPB__WATCH_REQUEST__INIT;
	uint8_t buf[32];
	static const uint8_t want_create[] = {0x0a, 0x07, 0x0a, 0x01, 'a', 0x18, 0x03, 0x30, 0x01};
	static const uint8_t want_progress[] = {0x1a, 0x00};
	cr.key.data = (uint8_t *)"a";
	cr.key.len = 1;
	cr.start_revision = 3;
	cr.prev_kv = 1;
	w.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	w.create_request = &cr;
	size_t n = protobuf_c_message_pack(&w.base, buf);
	CHECK_INT(n, sizeof want_create);
	CHECK(memcmp(buf, want_create, n) == 0);
	w.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
	w.progress_request = &pr;
	n = protobuf_c_message_pack(&w.base, buf);
	CHECK_INT(n, sizeof want_progress);
	CHECK(memcmp(buf, want_progress, n) == 0);
}

/* WatchResponse{compact_revision=9, canceled=true} and an event with prev_kv
 * (Event: type=1, kv=2, prev_kv=3; WatchResponse.events is field 11). */
TEST(watch_response_decoding)
{
	static const uint8_t compacted[] = {0x20, 0x01, 0x28, 0x09};
	static const uint8_t event[] = {0x5a, 0x0c, 0x08, 0x01, 0x12, 0x03, 0x0a, 0x01, 'k',
					0x1a, 0x03, 0x2a, 0x01, 'v'};
	Etcdserverpb__WatchResponse *r = etcdserverpb__watch_response__unpack(NULL, sizeof compacted, compacted);
	CHECK(r != NULL);
	CHECK_INT(r->canceled, 1);
	CHECK_INT(r->compact_revision, 9);
	etcdserverpb__watch_response__free_unpacked(r, NULL);
	r = etcdserverpb__watch_response__unpack(NULL, sizeof event, event);
	CHECK(r != NULL);
	CHECK_INT(r->n_events, 1);
	CHECK_INT(r->events[0]->type, ETCDSERVERPB__EVENT__EVENT_TYPE__DELETE);
	CHECK(r->events[0]->kv && r->events[0]->kv->key.len == 1 && r->events[0]->kv->key.data[0] == 'k');
	CHECK(r->events[0]->prev_kv && r->events[0]->prev_kv->value.len == 1);
	etcdserverpb__watch_response__free_unpacked(r, NULL);
}
