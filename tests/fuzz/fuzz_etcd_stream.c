/* fuzz_etcd_stream.c - the answers of etcd's streams and of Txn as the client reads
 * them (etcd/etcd_watch.c, etcd_lease.c, etcd_txn.c): the fuzzer's bytes are unpacked
 * with the answer's descriptor, as etcd_stream_recv and etcd_unary do with what came
 * off the wire, then read by the client's own decode function, and what it made is
 * walked and freed.
 *
 * Input: one byte choosing the answer (0 Watch, 1 LeaseKeepAlive, 2 Txn), then the
 * message. */
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "etcd/etcd_internal.h"

static size_t walk_kv(const struct etcd_kv *kv)
{
	return kv->key_len + kv->value_len + (kv->key_len ? (uint8_t)kv->key[kv->key_len - 1] : 0) +
	       (kv->value_len ? (uint8_t)kv->value[kv->value_len - 1] : 0);
}

static void watch(const uint8_t *data, size_t size)
{
	Etcdserverpb__WatchResponse *wr = (Etcdserverpb__WatchResponse *)protobuf_c_message_unpack(
		&etcdserverpb__watch_response__descriptor, NULL, size, data);
	if (!wr)
		return;
	struct etcd_watch_resp out = {0};
	volatile size_t n = 0;
	if (etcd_watch_decode(wr, "fuzz", &out) == 0)
		for (size_t i = 0; i < out.n_events; i++)
			n += walk_kv(&out.events[i].kv) + (out.events[i].has_prev_kv ? walk_kv(&out.events[i].prev_kv) : 0);
	(void)n;
	rv_err_clear();
	etcd_watch_resp_free(&out);
	protobuf_c_message_free_unpacked(&wr->base, NULL);
}

static void keepalive(const uint8_t *data, size_t size)
{
	Etcdserverpb__LeaseKeepAliveResponse *r = (Etcdserverpb__LeaseKeepAliveResponse *)protobuf_c_message_unpack(
		&etcdserverpb__lease_keep_alive_response__descriptor, NULL, size, data);
	if (!r)
		return;
	int64_t id, ttl;
	struct etcd_header hdr;
	etcd_keepalive_decode(r, &id, &ttl, &hdr);
	rv_err_clear();
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void txn(const uint8_t *data, size_t size)
{
	Etcdserverpb__TxnResponse *resp = (Etcdserverpb__TxnResponse *)protobuf_c_message_unpack(
		&etcdserverpb__txn_response__descriptor, NULL, size, data);
	if (!resp)
		return;
	struct etcd_txn_resp out = {0};
	volatile size_t n = 0;
	if (etcd_txn_decode(resp, &out) == 0) {
		for (size_t i = 0; i < out.n_resps; i++)
			for (size_t j = 0; j < out.resps[i].n_kvs; j++)
				n += walk_kv(&out.resps[i].kvs[j]);
		etcd_txn_resp_free(&out);
	}
	(void)n;
	rv_err_clear();
	protobuf_c_message_free_unpacked(&resp->base, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: watch(data + 1, size - 1); break;
	case 1: keepalive(data + 1, size - 1); break;
	default: txn(data + 1, size - 1); break;
	}
	return 0;
}
