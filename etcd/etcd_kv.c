/* etcd_kv.c - Range (with pagination), Put, DeleteRange. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "etcd.pb-c.h"
#include "etcd/etcd_internal.h"

uint8_t *etcd_prefix_end(const void *prefix, size_t len, size_t *end_len)
{
	uint8_t *end = rv_xmalloc(len ? len : 1);
	memcpy(end, prefix, len);
	/* Increment the last byte that is not 0xff; drop the 0xff bytes after it. */
	for (size_t i = len; i-- > 0;) {
		if (end[i] < 0xff) {
			end[i]++;
			*end_len = i + 1;
			return end;
		}
	}
	end[0] = 0; /* empty prefix or all 0xff: every key from prefix on */
	*end_len = 1;
	return end;
}

static void set_bytes(ProtobufCBinaryData *b, const void *p, size_t n)
{
	b->data = (uint8_t *)p;
	b->len = n;
}

void etcd_copy_kv(struct etcd_kv *out, const void *pb_kv)
{
	const Etcdserverpb__KeyValue *kv = pb_kv;
	out->key_len = kv->key.len;
	out->key = rv_xmalloc(kv->key.len + 1);
	if (kv->key.len) /* an empty key may come with no data pointer at all */
		memcpy(out->key, kv->key.data, kv->key.len);
	out->key[kv->key.len] = 0;
	out->value_len = kv->value.len;
	out->value = rv_xmalloc(kv->value.len + 1);
	if (kv->value.len)
		memcpy(out->value, kv->value.data, kv->value.len);
	out->value[kv->value.len] = 0;
	out->create_revision = kv->create_revision;
	out->mod_revision = kv->mod_revision;
	out->version = kv->version;
	out->lease = kv->lease;
}

void etcd_kv_free(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	kv->key = kv->value = NULL;
}

static void fill_range_req(Etcdserverpb__RangeRequest *r, const struct etcd_range_req *req)
{
	set_bytes(&r->key, req->key, req->key_len);
	if (req->range_end)
		set_bytes(&r->range_end, req->range_end, req->range_end_len);
	r->limit = req->limit;
	r->revision = req->revision;
	r->keys_only = req->keys_only;
	r->count_only = req->count_only;
	r->serializable = req->serializable;
}

static int range_raw(etcd_client *c, int ep, const Etcdserverpb__RangeRequest *req,
		     Etcdserverpb__RangeResponse **resp)
{
	struct etcd_call call = {
		.method = "/etcdserverpb.KV/Range",
		.what = "Range",
		.req = &req->base,
		.resp_desc = &etcdserverpb__range_response__descriptor,
		.require_leader = !req->serializable,
	};
	return etcd_unary(c, ep, &call, (ProtobufCMessage **)resp);
}

int etcd_range(etcd_client *c, int ep, const struct etcd_range_req *req, struct etcd_range_resp *out)
{
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	Etcdserverpb__RangeResponse *resp;
	int rc;

	memset(out, 0, sizeof *out);
	fill_range_req(&r, req);
	rc = range_raw(c, ep, &r, &resp);
	if (rc < 0)
		return rc;
	etcd_copy_header(&out->hdr, resp->header);
	out->more = resp->more;
	out->count = resp->count;
	out->n_kvs = resp->n_kvs;
	out->kvs = rv_xcalloc(resp->n_kvs ? resp->n_kvs : 1, sizeof *out->kvs);
	for (size_t i = 0; i < resp->n_kvs; i++)
		etcd_copy_kv(&out->kvs[i], resp->kvs[i]);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

void etcd_range_resp_free(struct etcd_range_resp *r)
{
	if (!r->kvs)
		return;
	for (size_t i = 0; i < r->n_kvs; i++)
		etcd_kv_free(&r->kvs[i]);
	free(r->kvs);
	r->kvs = NULL;
	r->n_kvs = 0;
}

/* Pages of page_size keys at one revision: the next page starts just after the
 * last key seen (key + "\0"), so a large range never needs one huge response. */
int etcd_range_each(etcd_client *c, int ep, const struct etcd_range_req *req, int64_t page_size, etcd_kv_cb cb,
		    void *ud, int64_t *revision_out)
{
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	uint8_t *next_key = NULL;
	int64_t revision = req->revision;
	int rc = 0;

	fill_range_req(&r, req);
	r.limit = page_size > 0 ? page_size : 1000;
	for (;;) {
		Etcdserverpb__RangeResponse *resp;
		r.revision = revision;
		rc = range_raw(c, ep, &r, &resp);
		if (rc < 0)
			break;
		if (revision == 0 && resp->header)
			revision = resp->header->revision;
		for (size_t i = 0; i < resp->n_kvs && rc == 0; i++) {
			struct etcd_kv kv;
			const Etcdserverpb__KeyValue *p = resp->kvs[i];
			kv.key = p->key.data;
			kv.key_len = p->key.len;
			kv.value = p->value.data;
			kv.value_len = p->value.len;
			kv.create_revision = p->create_revision;
			kv.mod_revision = p->mod_revision;
			kv.version = p->version;
			kv.lease = p->lease;
			rc = cb(&kv, ud);
		}
		bool more = resp->more && resp->n_kvs > 0;
		if (rc == 0 && more) {
			const ProtobufCBinaryData *last = &resp->kvs[resp->n_kvs - 1]->key;
			free(next_key);
			next_key = rv_xmalloc(last->len + 1);
			if (last->len)
				memcpy(next_key, last->data, last->len);
			next_key[last->len] = 0;
			set_bytes(&r.key, next_key, last->len + 1);
		}
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (rc != 0 || !more)
			break;
	}
	free(next_key);
	if (rc == 0 && revision_out)
		*revision_out = revision;
	return rc;
}

int etcd_put(etcd_client *c, const void *key, size_t key_len, const void *val, size_t val_len, int64_t lease,
	     struct etcd_header *hdr)
{
	Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
	ProtobufCMessage *resp;
	struct etcd_call call = {
		.method = "/etcdserverpb.KV/Put",
		.what = "Put",
		.req = &req.base,
		.resp_desc = &etcdserverpb__put_response__descriptor,
		.require_leader = true,
	};
	int r;
	set_bytes(&req.key, key, key_len);
	set_bytes(&req.value, val, val_len);
	req.lease = lease;
	r = etcd_unary(c, ETCD_ANY, &call, &resp);
	if (r < 0)
		return r;
	if (hdr)
		etcd_copy_header(hdr, ((Etcdserverpb__PutResponse *)resp)->header);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

int etcd_delete_range(etcd_client *c, const void *key, size_t key_len, const void *range_end, size_t range_end_len,
		      int64_t *deleted)
{
	Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	ProtobufCMessage *resp;
	struct etcd_call call = {
		.method = "/etcdserverpb.KV/DeleteRange",
		.what = "DeleteRange",
		.req = &req.base,
		.resp_desc = &etcdserverpb__delete_range_response__descriptor,
		.require_leader = true,
	};
	int r;
	set_bytes(&req.key, key, key_len);
	if (range_end)
		set_bytes(&req.range_end, range_end, range_end_len);
	r = etcd_unary(c, ETCD_ANY, &call, &resp);
	if (r < 0)
		return r;
	if (deleted)
		*deleted = ((Etcdserverpb__DeleteRangeResponse *)resp)->deleted;
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}
