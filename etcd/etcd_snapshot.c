/* etcd_snapshot.c - the server-streamed Maintenance.Snapshot of one member,
 * delivered chunk by chunk to the caller. One RECV_MESSAGE is in flight at a time
 * (gRPC allows no more); the next is armed before the chunk is handed on, so the
 * transport keeps receiving while the caller compresses and writes. */
#include <errno.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>

#include "common/common.h"
#include "etcd.pb-c.h"
#include "etcd/etcd_internal.h"

enum { TAG_START = 1, TAG_MSG, TAG_STATUS };

/* The queue is waited on in slices this long, to look at the cancel between:
 * a member that stops sending (stopped, or its disk hung) must not hold it. */
#define CANCEL_SLICE_MS 100

struct stream {
	etcd_client *c;
	int ep;
	etcd_snapshot_cb cb;
	void *ud;
	uint64_t total, received;
	bool have_total;
	int cb_error;
};

/* The message's bytes, slice by slice, without a copy: SnapshotResponse is read
 * in place and its blob handed on as the slices hold it (a copy into one buffer,
 * then protobuf-c's own copy of the blob, were a fifth of the client's CPU). */
#define MAX_SLICES 64
struct pb_cursor {
	grpc_slice sl[MAX_SLICES];
	size_t n, i, off; /* slice i, offset off */
};

static int cur_byte(struct pb_cursor *c, uint8_t *b)
{
	while (c->i < c->n && c->off == GRPC_SLICE_LENGTH(c->sl[c->i])) {
		c->i++;
		c->off = 0;
	}
	if (c->i == c->n)
		return -1;
	*b = GRPC_SLICE_START_PTR(c->sl[c->i])[c->off++];
	return 0;
}

static int cur_varint(struct pb_cursor *c, uint64_t *v)
{
	uint8_t b;
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (cur_byte(c, &b) < 0)
			return -1;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

/* Pass n bytes: to the spans when spans is not NULL. */
struct span {
	const uint8_t *p;
	size_t n;
};
static int cur_take(struct pb_cursor *c, uint64_t n, struct span *spans, size_t *n_spans)
{
	while (n > 0) {
		if (c->i == c->n)
			return -1;
		size_t have = GRPC_SLICE_LENGTH(c->sl[c->i]) - c->off;
		size_t k = have < n ? have : (size_t)n;
		if (k && spans) {
			if (*n_spans == MAX_SLICES)
				return -1;
			spans[(*n_spans)++] = (struct span){GRPC_SLICE_START_PTR(c->sl[c->i]) + c->off, k};
		}
		c->off += k;
		n -= k;
		if (c->off == GRPC_SLICE_LENGTH(c->sl[c->i])) {
			c->i++;
			c->off = 0;
		}
	}
	return 0;
}

/* remaining_bytes (field 2) and the blob's spans (field 3); every other field skipped.
 * -1: not a SnapshotResponse regvault can read in place (then protobuf-c decides). */
static int parse_in_place(struct pb_cursor *c, uint64_t *remaining, struct span *spans, size_t *n_spans)
{
	uint64_t key, v;
	*remaining = 0;
	*n_spans = 0;
	for (;;) {
		uint8_t b;
		if (cur_byte(c, &b) < 0)
			return 0; /* the end of the message */
		c->off--; /* put it back: cur_byte left c->i on a slice that has it */
		if (cur_varint(c, &key) < 0)
			return -1;
		switch (key & 7) {
		case 0:
			if (cur_varint(c, &v) < 0)
				return -1;
			if (key >> 3 == 2)
				*remaining = v;
			break;
		case 1:
			if (cur_take(c, 8, NULL, NULL) < 0)
				return -1;
			break;
		case 2:
			if (cur_varint(c, &v) < 0)
				return -1;
			if (key >> 3 == 3 && *n_spans)
				return -1; /* a second blob: protobuf merges, leave it to protobuf-c */
			if (cur_take(c, v, key >> 3 == 3 ? spans : NULL, n_spans) < 0)
				return -1;
			break;
		case 5:
			if (cur_take(c, 4, NULL, NULL) < 0)
				return -1;
			break;
		default:
			return -1;
		}
	}
}

static int deliver_unpacked(struct stream *s, grpc_byte_buffer *bb)
{
	Etcdserverpb__SnapshotResponse *r =
		(Etcdserverpb__SnapshotResponse *)etcd_unpack(&etcdserverpb__snapshot_response__descriptor, bb);
	int rc;
	if (!r)
		return rv_fail(-EBADMSG, "Snapshot from %s sent a message regvault cannot decode", s->c->eps[s->ep].label);
	if (!s->have_total) {
		/* The first message tells the db size: its blob plus what remains. */
		s->total = r->blob.len + r->remaining_bytes;
		s->have_total = true;
	}
	s->received += r->blob.len;
	rc = r->blob.len ? s->cb(r->blob.data, r->blob.len, s->total, s->ud) : 0;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

/* One SnapshotResponse: returns the callback's verdict. */
static int deliver(struct stream *s, grpc_byte_buffer *bb)
{
	struct pb_cursor c = {.n = 0};
	struct span spans[MAX_SLICES];
	size_t n_spans = 0, blob = 0;
	uint64_t remaining;
	grpc_byte_buffer_reader rd;
	int rc = 0, ok;

	if (!grpc_byte_buffer_reader_init(&rd, bb))
		return deliver_unpacked(s, bb);
	while (c.n < MAX_SLICES && grpc_byte_buffer_reader_next(&rd, &c.sl[c.n]))
		c.n++;
	ok = c.n < MAX_SLICES || grpc_byte_buffer_length(bb) == 0;
	grpc_byte_buffer_reader_destroy(&rd);
	if (ok)
		ok = parse_in_place(&c, &remaining, spans, &n_spans) == 0;
	if (ok) {
		for (size_t i = 0; i < n_spans; i++)
			blob += spans[i].n;
		if (!s->have_total) {
			s->total = blob + remaining;
			s->have_total = true;
		}
		s->received += blob;
		for (size_t i = 0; i < n_spans && rc == 0; i++)
			rc = s->cb(spans[i].p, spans[i].n, s->total, s->ud);
	}
	for (size_t i = 0; i < c.n; i++)
		grpc_slice_unref(c.sl[i]);
	return ok ? rc : deliver_unpacked(s, bb);
}

/* *gen: the token generation the call was made with, for a second login. */
static int snapshot_once(etcd_client *c, int ep, int timeout_ms, const struct rv_cancel *cancel, etcd_snapshot_cb cb,
			 void *ud, bool *auth_expired, unsigned *gen)
{
	Etcdserverpb__SnapshotRequest req = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
	struct stream s = {.c = c, .ep = ep, .cb = cb, .ud = ud};
	grpc_metadata md[2];
	size_t n_md = 0;
	grpc_byte_buffer *req_bb, *recv_bb = NULL;
	grpc_metadata_array initial_md, trailing_md;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	const char *error_string = NULL;
	grpc_completion_queue *cq;
	grpc_call *gc;
	grpc_op ops[4], st_op, rm_op;
	int outstanding = 0, r;
	double give_up = rv_now_mono() + ((double)timeout_ms + 5000) / 1000;
	bool call_cancelled = false;

	*auth_expired = false;
	r = etcd_ep_ready(c, ep, c->dial_timeout_ms);
	if (r < 0)
		return r;
	etcd_auth_metadata(c, md, &n_md, false, gen);
	req_bb = etcd_pack(&req.base); /* empty, but still a message */
	grpc_metadata_array_init(&initial_md);
	grpc_metadata_array_init(&trailing_md);
	cq = grpc_completion_queue_create_for_next(NULL);
	gc = grpc_channel_create_call(c->eps[ep].ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
				      grpc_slice_from_static_string("/etcdserverpb.Maintenance/Snapshot"), NULL,
				      etcd_deadline_ms(timeout_ms), NULL);

	etcd_request_ops(ops, md, n_md, req_bb, &initial_md);
	memset(&st_op, 0, sizeof st_op);
	st_op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	st_op.data.recv_status_on_client.trailing_metadata = &trailing_md;
	st_op.data.recv_status_on_client.status = &status;
	st_op.data.recv_status_on_client.status_details = &details;
	st_op.data.recv_status_on_client.error_string = &error_string;
	memset(&rm_op, 0, sizeof rm_op);
	rm_op.op = GRPC_OP_RECV_MESSAGE;
	rm_op.data.recv_message.recv_message = &recv_bb;

	if (grpc_call_start_batch(gc, ops, 4, (void *)TAG_START, NULL) == GRPC_CALL_OK)
		outstanding++;
	if (outstanding && grpc_call_start_batch(gc, &st_op, 1, (void *)TAG_STATUS, NULL) == GRPC_CALL_OK)
		outstanding++;
	if (outstanding == 2 && grpc_call_start_batch(gc, &rm_op, 1, (void *)TAG_MSG, NULL) == GRPC_CALL_OK)
		outstanding++;
	if (outstanding < 3) {
		grpc_call_cancel(gc, NULL);
		if (!outstanding)
			s.cb_error = rv_fail(-EIO, "Snapshot on %s could not start", c->eps[ep].label);
	}

	while (outstanding > 0) {
		grpc_event ev = grpc_completion_queue_next(cq, etcd_deadline_ms(CANCEL_SLICE_MS), NULL);
		if (!s.cb_error && rv_cancelled(cancel))
			s.cb_error = rv_fail(-EINTR, "the snapshot stream from %s was interrupted after %llu bytes",
					     c->eps[ep].label, (unsigned long long)s.received);
		if (!call_cancelled && (s.cb_error || rv_now_mono() > give_up)) {
			/* the ops still out complete (failed) at once: drained below */
			grpc_call_cancel(gc, NULL);
			call_cancelled = true;
		}
		if (ev.type == GRPC_QUEUE_TIMEOUT)
			continue;
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		outstanding--;
		if ((intptr_t)ev.tag != TAG_MSG)
			continue;
		grpc_byte_buffer *got = recv_bb;
		recv_bb = NULL;
		if (!ev.success || !got) /* end of stream, or the call failed: see status */
			continue;
		if (!s.cb_error && grpc_call_start_batch(gc, &rm_op, 1, (void *)TAG_MSG, NULL) == GRPC_CALL_OK)
			outstanding++;
		if (!s.cb_error)
			s.cb_error = deliver(&s, got);
		grpc_byte_buffer_destroy(got);
		if (s.cb_error && !call_cancelled) {
			grpc_call_cancel(gc, NULL);
			call_cancelled = true;
		}
	}

	if (s.cb_error) {
		r = s.cb_error; /* the caller's reason beats our CANCELLED */
	} else if (status != GRPC_STATUS_OK) {
		*auth_expired = c->user && etcd_is_auth_expired(status, details);
		r = etcd_call_error(c, ep, "Snapshot", status, details, error_string);
		if (s.received)
			r = rv_fail_wrap(r, "the snapshot stream broke after %llu of %llu bytes",
					 (unsigned long long)s.received, (unsigned long long)s.total + 32);
	} else if (!s.have_total || s.received != s.total + 32) {
		r = rv_fail(-EPROTO, "Snapshot from %s ended after %llu bytes, expected %llu (db and 32-byte checksum)",
			    c->eps[ep].label, (unsigned long long)s.received, (unsigned long long)s.total + 32);
	} else {
		r = 0;
	}

	if (recv_bb)
		grpc_byte_buffer_destroy(recv_bb);
	grpc_byte_buffer_destroy(req_bb);
	grpc_metadata_array_destroy(&initial_md);
	grpc_metadata_array_destroy(&trailing_md);
	grpc_slice_unref(details);
	gpr_free((void *)error_string);
	for (size_t i = 0; i < n_md; i++) {
		grpc_slice_unref(md[i].key);
		grpc_slice_unref(md[i].value);
	}
	grpc_call_unref(gc);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	return r;
}

int etcd_snapshot(etcd_client *c, int ep, int timeout_ms, const struct rv_cancel *cancel, etcd_snapshot_cb cb,
		  void *ud)
{
	bool expired;
	unsigned gen = 0;
	int r;

	if (ep < 0 || (size_t)ep >= c->n)
		return rv_fail(-EINVAL, "a snapshot needs one member; no endpoint number %d", ep);
	if (timeout_ms <= 0)
		timeout_ms = 3600 * 1000;
	if ((r = etcd_ensure_token(c, ep)) < 0)
		return r;
	r = snapshot_once(c, ep, timeout_ms, cancel, cb, ud, &expired, &gen);
	/* An expired token shows before any byte arrives: safe to start over. */
	if (r < 0 && expired) {
		if ((r = etcd_authenticate(c, ep, gen)) < 0)
			return r;
		r = snapshot_once(c, ep, timeout_ms, cancel, cb, ud, &expired, &gen);
	}
	return r;
}
