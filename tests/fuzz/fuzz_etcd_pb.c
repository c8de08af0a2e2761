/* fuzz_etcd_pb.c - etcd's protobuf answers as the client decodes and reads them
 * (registry/etcd_kv.c, etcd_maintenance.c, etcd_lease.c). The target is linked
 * with -Wl,--wrap=etcd_unary: the client's calls then reach __wrap_etcd_unary
 * below, which unpacks the fuzzer's bytes with the descriptor the call expects,
 * as etcd_unpack does with what came off the wire; the client's own code reads
 * the message. The answers that do not go through etcd_unary from another file
 * (Authenticate, the Snapshot stream, calls whose answer is ignored) are
 * unpacked here and read as the client reads them.
 *
 * Input: one byte choosing the call, then the answers it is given in turn,
 * separated by SEP (a paged Range or a disarm asks more than once); past the
 * last one a call fails, as a member that went away. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "etcd.pb-c.h"
#include "maint/maint.h"
#include "etcd/etcd_internal.h"

#define SEP "\xfe\xfe\xfe\xfe"
#define SEP_LEN 4

static const uint8_t *next_msg, *input_end;

int __wrap_etcd_unary(etcd_client *c, int ep, const struct etcd_call *call, ProtobufCMessage **resp);
int __wrap_etcd_unary(etcd_client *c, int ep, const struct etcd_call *call, ProtobufCMessage **resp)
{
	(void)c;
	(void)ep;
	*resp = NULL;
	if (!next_msg)
		return rv_fail(-EIO, "%s: no more answers", call->what);
	const uint8_t *end = memmem(next_msg, (size_t)(input_end - next_msg), SEP, SEP_LEN);
	const uint8_t *msg = next_msg;
	size_t len = (size_t)((end ? end : input_end) - msg);
	next_msg = end ? end + SEP_LEN : NULL;
	*resp = protobuf_c_message_unpack(call->resp_desc, NULL, len, msg);
	if (!*resp)
		return rv_fail(-EBADMSG, "%s returned a message regvault cannot decode", call->what);
	return 0;
}

static int count_kv(const struct etcd_kv *kv, void *ud)
{
	size_t *n = ud;
	*n += kv->key_len + kv->value_len;
	return 0;
}

/* The answers read where they arrive (etcd_client.c, etcd_snapshot.c), or not at all. */
static void unpack_other(int which, const uint8_t *data, size_t size)
{
	static const ProtobufCMessageDescriptor *const descs[] = {
		&etcdserverpb__authenticate_response__descriptor,
		&etcdserverpb__snapshot_response__descriptor,
		&etcdserverpb__put_response__descriptor,
		&etcdserverpb__delete_range_response__descriptor,
		&etcdserverpb__compaction_response__descriptor,
		&etcdserverpb__defragment_response__descriptor,
		&etcdserverpb__move_leader_response__descriptor,
		&etcdserverpb__lease_revoke_response__descriptor,
	};
	const ProtobufCMessageDescriptor *d = descs[(size_t)which % RV_ARRAY_LEN(descs)];
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, size, data);
	if (!m)
		return;
	if (d == &etcdserverpb__authenticate_response__descriptor) {
		free(rv_strdup(((Etcdserverpb__AuthenticateResponse *)m)->token));
	} else if (d == &etcdserverpb__snapshot_response__descriptor) {
		Etcdserverpb__SnapshotResponse *r = (Etcdserverpb__SnapshotResponse *)m;
		volatile uint64_t total = r->blob.len + r->remaining_bytes;
		volatile uint8_t last = r->blob.len ? r->blob.data[r->blob.len - 1] : 0;
		(void)total;
		(void)last;
	}
	protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int which = data[0];
	next_msg = data + 1;
	input_end = data + size;

	switch (which % 12) {
	case 0: {
		struct etcd_range_req rq = {.key = "/", .key_len = 1, .range_end = "0", .range_end_len = 1};
		struct etcd_range_resp rs;
		if (etcd_range(NULL, 0, &rq, &rs) == 0)
			etcd_range_resp_free(&rs);
		break;
	}
	case 1: {
		struct etcd_range_req rq = {.key = "", .key_len = 1, .range_end = "", .range_end_len = 1};
		size_t n = 0;
		int64_t rev;
		etcd_range_each(NULL, ETCD_ANY, &rq, 2, count_kv, &n, &rev);
		break;
	}
	case 2: {
		struct etcd_status st;
		struct maint_rule_vars v;
		if (etcd_status(NULL, 0, &st) == 0)
			maint_rule_vars_from_status(&st, 0, &v);
		break;
	}
	case 3: {
		struct etcd_member *ms;
		size_t n;
		if (etcd_member_list(NULL, 0, &ms, &n) == 0)
			free(ms);
		break;
	}
	case 4: {
		struct etcd_alarm *as;
		size_t n;
		if (etcd_alarm_list(NULL, 0, &as, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				(void)etcd_alarm_name(as[i].type);
			free(as);
		}
		break;
	}
	case 5:
		etcd_alarm_disarm(NULL, 0, ETCD_ALARM_NONE);
		break;
	case 6: {
		uint32_t hash;
		int64_t compact;
		struct etcd_header hdr;
		etcd_hashkv(NULL, 0, 0, &hash, &compact, &hdr);
		break;
	}
	case 7: {
		struct etcd_member_health h;
		etcd_member_health(NULL, 0, &h);
		break;
	}
	case 8: {
		int64_t id, ttl;
		etcd_lease_grant(NULL, 60, &id, &ttl);
		break;
	}
	case 9: {
		int64_t ttl;
		etcd_lease_keepalive(NULL, 1, &ttl);
		break;
	}
	default:
		unpack_other(which / 12, data + 1, size - 1);
		break;
	}
	rv_err_clear();
	return 0;
}
