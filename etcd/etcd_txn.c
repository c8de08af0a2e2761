/* etcd_txn.c - KV.Txn: compares, then the success or the failure ops. The
 * request is built on the stack and in one arena of pointers, pointing at the
 * caller's bytes (nothing copied); the answer is copied out as etcd_range does. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "etcd.pb-c.h"
#include "etcd/etcd_internal.h"

static void set_bytes(ProtobufCBinaryData *b, const void *p, size_t n)
{
	b->data = (uint8_t *)p;
	b->len = n;
}

static void fill_compare(Etcdserverpb__Compare *pc, const struct etcd_compare *cmp)
{
	etcdserverpb__compare__init(pc);
	set_bytes(&pc->key, cmp->key, cmp->key_len);
	if (cmp->range_end)
		set_bytes(&pc->range_end, cmp->range_end, cmp->range_end_len);
	pc->result = (Etcdserverpb__Compare__CompareResult)cmp->result;
	pc->target = (Etcdserverpb__Compare__CompareTarget)cmp->target;
	switch (cmp->target) {
	case ETCD_CMP_VERSION:
		pc->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
		pc->version = cmp->number;
		break;
	case ETCD_CMP_CREATE:
		pc->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
		pc->create_revision = cmp->number;
		break;
	case ETCD_CMP_MOD:
		pc->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
		pc->mod_revision = cmp->number;
		break;
	case ETCD_CMP_VALUE:
		pc->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
		set_bytes(&pc->value, cmp->value, cmp->value_len);
		break;
	}
}

/* The three request kinds of one op; only the one op->type names is used. */
struct op_msgs {
	Etcdserverpb__RequestOp op;
	Etcdserverpb__RangeRequest range;
	Etcdserverpb__PutRequest put;
	Etcdserverpb__DeleteRangeRequest del;
};

static void fill_op(struct op_msgs *m, const struct etcd_op *o)
{
	etcdserverpb__request_op__init(&m->op);
	switch (o->type) {
	case ETCD_OP_RANGE:
		etcdserverpb__range_request__init(&m->range);
		set_bytes(&m->range.key, o->key, o->key_len);
		if (o->range_end)
			set_bytes(&m->range.range_end, o->range_end, o->range_end_len);
		m->range.limit = o->limit;
		m->range.keys_only = o->keys_only;
		m->range.count_only = o->count_only;
		m->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
		m->op.request_range = &m->range;
		break;
	case ETCD_OP_PUT:
		etcdserverpb__put_request__init(&m->put);
		set_bytes(&m->put.key, o->key, o->key_len);
		set_bytes(&m->put.value, o->value, o->value_len);
		m->put.lease = o->lease;
		m->put.prev_kv = o->prev_kv;
		m->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		m->op.request_put = &m->put;
		break;
	case ETCD_OP_DELETE:
		etcdserverpb__delete_range_request__init(&m->del);
		set_bytes(&m->del.key, o->key, o->key_len);
		if (o->range_end)
			set_bytes(&m->del.range_end, o->range_end, o->range_end_len);
		m->del.prev_kv = o->prev_kv;
		m->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
		m->op.request_delete_range = &m->del;
		break;
	}
}

static void copy_kvs(struct etcd_op_resp *out, Etcdserverpb__KeyValue **kvs, size_t n)
{
	out->n_kvs = n;
	out->kvs = rv_xcalloc(n ? n : 1, sizeof *out->kvs);
	for (size_t i = 0; i < n; i++)
		etcd_copy_kv(&out->kvs[i], kvs[i]);
}

static int copy_resp(struct etcd_op_resp *out, const Etcdserverpb__ResponseOp *ro)
{
	switch (ro->response_case) {
	case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE:
		out->type = ETCD_OP_RANGE;
		etcd_copy_header(&out->hdr, ro->response_range->header);
		copy_kvs(out, ro->response_range->kvs, ro->response_range->n_kvs);
		out->more = ro->response_range->more;
		out->count = ro->response_range->count;
		return 0;
	case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT:
		out->type = ETCD_OP_PUT;
		etcd_copy_header(&out->hdr, ro->response_put->header);
		copy_kvs(out, &ro->response_put->prev_kv, ro->response_put->prev_kv ? 1 : 0);
		return 0;
	case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE:
		out->type = ETCD_OP_DELETE;
		etcd_copy_header(&out->hdr, ro->response_delete_range->header);
		copy_kvs(out, ro->response_delete_range->prev_kvs, ro->response_delete_range->n_prev_kvs);
		out->deleted = ro->response_delete_range->deleted;
		return 0;
	default:
		return -EBADMSG;
	}
}

int etcd_txn_decode(const Etcdserverpb__TxnResponse *resp, struct etcd_txn_resp *out)
{
	int r = 0;
	etcd_copy_header(&out->hdr, resp->header);
	out->succeeded = resp->succeeded;
	out->resps = rv_xcalloc(resp->n_responses ? resp->n_responses : 1, sizeof *out->resps);
	for (size_t i = 0; i < resp->n_responses && r == 0; i++) {
		r = copy_resp(&out->resps[i], resp->responses[i]);
		out->n_resps = i + (r == 0);
	}
	if (r < 0)
		etcd_txn_resp_free(out);
	return r;
}

int etcd_txn(etcd_client *c, const struct etcd_txn_req *req, struct etcd_txn_resp *out)
{
	Etcdserverpb__TxnRequest tr = ETCDSERVERPB__TXN_REQUEST__INIT;
	Etcdserverpb__TxnResponse *resp;
	size_t n_ops = req->n_success + req->n_failure;
	Etcdserverpb__Compare *cmps = rv_xcalloc(req->n_cmp ? req->n_cmp : 1, sizeof *cmps);
	struct op_msgs *ops = rv_xcalloc(n_ops ? n_ops : 1, sizeof *ops);
	void **ptrs = rv_xcalloc(req->n_cmp + n_ops + 1, sizeof *ptrs);
	struct etcd_call call = {
		.method = "/etcdserverpb.KV/Txn",
		.what = "Txn",
		.req = &tr.base,
		.resp_desc = &etcdserverpb__txn_response__descriptor,
		.require_leader = true,
		.answered_ep = &out->ep,
		.once = true,
	};
	int r;

	memset(out, 0, sizeof *out);
	out->ep = -1;
	for (size_t i = 0; i < req->n_cmp; i++) {
		fill_compare(&cmps[i], &req->cmp[i]);
		ptrs[i] = &cmps[i];
	}
	for (size_t i = 0; i < n_ops; i++) {
		fill_op(&ops[i], i < req->n_success ? &req->success[i] : &req->failure[i - req->n_success]);
		ptrs[req->n_cmp + i] = &ops[i].op;
	}
	tr.n_compare = req->n_cmp;
	tr.compare = (Etcdserverpb__Compare **)ptrs;
	tr.n_success = req->n_success;
	tr.success = (Etcdserverpb__RequestOp **)(ptrs + req->n_cmp);
	tr.n_failure = req->n_failure;
	tr.failure = (Etcdserverpb__RequestOp **)(ptrs + req->n_cmp + req->n_success);

	r = etcd_unary(c, ETCD_ANY, &call, (ProtobufCMessage **)&resp);
	free(cmps);
	free(ops);
	free(ptrs);
	if (r < 0)
		return r;
	int ep = out->ep;
	r = etcd_txn_decode(resp, out);
	out->ep = ep;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	if (r < 0) {
		return rv_fail(r, "Txn on %s returned an answer regvault does not know (a nested transaction?)",
			       etcd_client_endpoint(c, out->ep));
	}
	return 0;
}

void etcd_txn_resp_free(struct etcd_txn_resp *r)
{
	if (!r->resps)
		return;
	for (size_t i = 0; i < r->n_resps; i++) {
		for (size_t j = 0; j < r->resps[i].n_kvs; j++)
			etcd_kv_free(&r->resps[i].kvs[j]);
		free(r->resps[i].kvs);
	}
	free(r->resps);
	r->resps = NULL;
	r->n_resps = 0;
}
