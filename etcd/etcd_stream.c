/* etcd_stream.c - one bidirectional gRPC call (Watch, LeaseKeepAlive) kept open
 * for many messages. gRPC allows one SEND_MESSAGE and one RECV_MESSAGE in flight
 * per call, and every completion of the call arrives on the stream's own queue:
 * pump() takes one event and updates the stream's state, whichever operation it
 * belongs to, so a send that waits may complete a receive and the reverse. The
 * stream has no deadline (it lives as long as the caller wants); each read has
 * its own timeout and looks at the cancel token between short waits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/support/alloc.h>

#include "common/common.h"
#include "etcd/etcd_internal.h"

/* How often a blocked read looks at its cancel token. */
#define STREAM_POLL_MS 200
/* A send waits this long for the previous one to leave (flow control). */
#define STREAM_SEND_WAIT_MS 10000

enum { TAG_START = 1, TAG_INITMD, TAG_STATUS, TAG_SEND, TAG_RECV };

/* One event: false when none came before the deadline. */
static bool pump(struct etcd_stream *s, gpr_timespec deadline)
{
	grpc_event ev = grpc_completion_queue_next(s->cq, deadline, NULL);
	if (ev.type != GRPC_OP_COMPLETE)
		return false;
	s->outstanding--;
	switch ((intptr_t)ev.tag) {
	case TAG_SEND:
		s->send_busy = false;
		grpc_byte_buffer_destroy(s->send_bb);
		s->send_bb = NULL;
		break;
	case TAG_RECV:
		s->recv_busy = false;
		s->recv_done = true; /* recv_bb NULL: the stream ended */
		break;
	case TAG_STATUS:
		s->status_done = true;
		break;
	default:
		break;
	}
	return true;
}

static int start(struct etcd_stream *s, grpc_op *ops, size_t n, intptr_t tag)
{
	grpc_call_error ce = grpc_call_start_batch(s->call, ops, n, (void *)tag, NULL);
	if (ce != GRPC_CALL_OK)
		return rv_fail(-EIO, "%s stream on %s: gRPC refused an operation (%s)", s->what, s->c->eps[s->ep].label,
			       grpc_call_error_to_string(ce));
	s->outstanding++;
	return 0;
}

int etcd_stream_open(etcd_client *c, int ep, const char *method, const char *what, bool require_leader,
		     struct etcd_stream **out)
{
	struct etcd_stream *s;
	grpc_op op;
	int r;

	*out = NULL;
	if ((r = etcd_ensure_token(c, ep)) < 0)
		return r;
	if ((r = etcd_ep_ready(c, ep, c->dial_timeout_ms)) < 0)
		return r;
	s = rv_xcalloc(1, sizeof *s);
	s->c = c;
	s->ep = ep;
	s->what = what;
	s->status = GRPC_STATUS_UNKNOWN;
	s->details = grpc_empty_slice();
	grpc_metadata_array_init(&s->initial_md);
	grpc_metadata_array_init(&s->trailing_md);
	etcd_auth_metadata(c, s->md, &s->n_md, require_leader, &s->gen);
	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->call = grpc_channel_create_call(c->eps[ep].ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
					   grpc_slice_from_static_string(method), NULL,
					   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

	/* Not WAIT_FOR_READY: the channel was ready a moment ago, and a member that
	 * went away since must fail the stream now, not when it comes back. */
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_SEND_INITIAL_METADATA;
	op.data.send_initial_metadata.count = s->n_md;
	op.data.send_initial_metadata.metadata = s->md;
	r = start(s, &op, 1, TAG_START);
	/* Separate batches: LeaseKeepAlive's server sends its headers only with
	 * the first answer, and the status comes whenever the stream ends. */
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_INITIAL_METADATA;
	op.data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
	if (r == 0)
		r = start(s, &op, 1, TAG_INITMD);
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
	op.data.recv_status_on_client.status = &s->status;
	op.data.recv_status_on_client.status_details = &s->details;
	op.data.recv_status_on_client.error_string = &s->error_string;
	if (r == 0)
		r = start(s, &op, 1, TAG_STATUS);
	if (r < 0) {
		etcd_stream_close(s);
		return r;
	}
	*out = s;
	return 0;
}

/* The stream is over: its error, once the status has come. */
static int ended(struct etcd_stream *s)
{
	if (s->end_err)
		return s->end_err;
	/* After the last message the status follows at once; the bound only
	 * guards against a lost event. */
	gpr_timespec dl = etcd_deadline_ms(5000);
	while (!s->status_done && pump(s, dl))
		;
	if (!s->status_done) {
		grpc_call_cancel(s->call, NULL);
		s->end_err = rv_fail(-EPIPE, "the %s stream on %s ended without a status; open a new one", s->what,
				     s->c->eps[s->ep].label);
	} else if (s->status == GRPC_STATUS_OK) {
		s->end_err = rv_fail(-EPIPE, "%s on %s: the member closed the stream; open a new one", s->what,
				     s->c->eps[s->ep].label);
	} else {
		s->end_err = etcd_call_error(s->c, s->ep, s->what, s->status, s->details, s->error_string);
		/* etcd_call_error maps CANCELLED to -ECANCELED, which the streams keep
		 * for etcd's own cancel answer: a cancelled call is a broken stream. */
		if (s->end_err == -ECANCELED)
			s->end_err = -EPIPE;
	}
	return s->end_err;
}

int etcd_stream_send(struct etcd_stream *s, const ProtobufCMessage *m)
{
	gpr_timespec dl = etcd_deadline_ms(STREAM_SEND_WAIT_MS);
	grpc_op op;

	if (s->end_err)
		return s->end_err;
	while (s->send_busy && !s->status_done && pump(s, dl))
		;
	if (s->status_done)
		return ended(s);
	if (s->send_busy)
		return rv_fail(-ETIMEDOUT, "%s on %s: the member takes no more requests (the last one has not left in %d s)",
			       s->what, s->c->eps[s->ep].label, STREAM_SEND_WAIT_MS / 1000);
	s->send_bb = etcd_pack(m);
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = s->send_bb;
	if (start(s, &op, 1, TAG_SEND) < 0) {
		grpc_byte_buffer_destroy(s->send_bb);
		s->send_bb = NULL;
		return ended(s);
	}
	s->send_busy = true;
	return 0;
}

int etcd_stream_recv(struct etcd_stream *s, const ProtobufCMessageDescriptor *d, int timeout_ms,
		     const struct rv_cancel *cancel, ProtobufCMessage **out)
{
	gpr_timespec until = etcd_deadline_ms(timeout_ms < 0 ? 0 : timeout_ms);
	grpc_byte_buffer *bb;
	grpc_op op;

	*out = NULL;
	if (s->end_err)
		return s->end_err;
	if (!s->recv_busy && !s->recv_done) {
		memset(&op, 0, sizeof op);
		op.op = GRPC_OP_RECV_MESSAGE;
		op.data.recv_message.recv_message = &s->recv_bb;
		if (start(s, &op, 1, TAG_RECV) < 0)
			return ended(s);
		s->recv_busy = true;
	}
	while (!s->recv_done) {
		if (rv_cancelled(cancel))
			return rv_fail(-EINTR, "reading the %s stream on %s was cancelled", s->what,
				       s->c->eps[s->ep].label);
		gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
		gpr_timespec step = gpr_time_add(now, gpr_time_from_millis(STREAM_POLL_MS, GPR_TIMESPAN));
		bool last = gpr_time_cmp(now, until) >= 0; /* past the timeout: only what is queued */
		if (!pump(s, last ? now : cancel && gpr_time_cmp(step, until) < 0 ? step : until) && last)
			/* nothing yet; the receive stays armed for the next read */
			return rv_fail(-EAGAIN, "nothing came on the %s stream on %s within %d ms", s->what,
				       s->c->eps[s->ep].label, timeout_ms);
	}
	s->recv_done = false;
	bb = s->recv_bb;
	s->recv_bb = NULL;
	if (!bb)
		return ended(s);
	*out = etcd_unpack(d, bb);
	grpc_byte_buffer_destroy(bb);
	if (!*out)
		return rv_fail(-EBADMSG, "%s on %s sent a message regvault cannot decode", s->what,
			       s->c->eps[s->ep].label);
	return 0;
}

void etcd_stream_close(struct etcd_stream *s)
{
	if (!s)
		return;
	if (s->call) {
		/* Ends the call on both sides; every operation still queued then
		 * completes at once. */
		grpc_call_cancel(s->call, NULL);
		while (s->outstanding > 0)
			pump(s, gpr_inf_future(GPR_CLOCK_REALTIME));
		grpc_call_unref(s->call);
	}
	if (s->recv_bb)
		grpc_byte_buffer_destroy(s->recv_bb);
	if (s->send_bb)
		grpc_byte_buffer_destroy(s->send_bb);
	grpc_metadata_array_destroy(&s->initial_md);
	grpc_metadata_array_destroy(&s->trailing_md);
	grpc_slice_unref(s->details);
	gpr_free((void *)s->error_string);
	for (size_t i = 0; i < s->n_md; i++) {
		grpc_slice_unref(s->md[i].key);
		grpc_slice_unref(s->md[i].value);
	}
	if (s->cq) {
		grpc_completion_queue_shutdown(s->cq);
		while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		       GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(s->cq);
	}
	free(s);
}
