/* etcd_watch.c - one Watch stream holding one watch. etcd answers a create with
 * created=true (or canceled=true and a reason); a start revision already compacted
 * shows as a later answer with compact_revision set, and etcd cancels the watch
 * with it. Progress notifications are answers without events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "etcd.pb-c.h"
#include "etcd/etcd_internal.h"

struct etcd_watch {
	struct etcd_stream *s;
	int64_t watch_id;
};

static void set_bytes(ProtobufCBinaryData *b, const void *p, size_t n)
{
	b->data = (uint8_t *)p;
	b->len = n;
}

/* What etcd's answer to the create says; takes the answer. *expired: refused
 * for the token (etcd 3.4 checks a watch with the stream's token and answers a
 * stale one with a cancel, reason "invalid auth token"). */
static int created_or_not(struct etcd_stream *s, Etcdserverpb__WatchResponse *wr, int64_t *id, bool *expired)
{
	const char *why = *wr->cancel_reason ? wr->cancel_reason : "no reason given";
	bool denied = strstr(why, "permission denied") != NULL;
	int r = 0;

	*expired = wr->canceled && (strstr(why, "invalid auth token") || strstr(why, "auth store is old"));
	if (wr->compact_revision)
		r = rv_fail(-ERANGE, "Watch on %s: revision %" PRId64 " is compacted; watch from %" PRId64 " or later",
			    s->c->eps[s->ep].label, wr->compact_revision, wr->compact_revision);
	else if (wr->canceled)
		r = rv_fail(denied ? -EACCES : *expired ? -EPERM : -ECANCELED, "Watch on %s was refused: %s%s",
			    s->c->eps[s->ep].label, why,
			    denied ? "; the configured user needs read access to the watched keys" : "");
	else if (!wr->created)
		r = rv_fail(-EPROTO, "Watch on %s answered the create with something else", s->c->eps[s->ep].label);
	else
		*id = wr->watch_id;
	protobuf_c_message_free_unpacked(&wr->base, NULL);
	return r;
}

static int open_once(etcd_client *c, int ep, const struct etcd_watch_opts *o, etcd_watch **out, bool *expired,
		     unsigned *gen)
{
	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	ProtobufCMessage *m;
	struct etcd_stream *s;
	int64_t id = 0;
	int r;

	*expired = false;
	/* "hasleader": a member cut off from the others ends the stream
	 * (UNAVAILABLE) rather than keep it open with no events. */
	if ((r = etcd_stream_open(c, ep, "/etcdserverpb.Watch/Watch", "Watch", true, &s)) < 0)
		return r;
	*gen = s->gen;
	set_bytes(&cr.key, o->key, o->key_len);
	if (o->range_end)
		set_bytes(&cr.range_end, o->range_end, o->range_end_len);
	cr.start_revision = o->start_revision;
	cr.prev_kv = o->prev_kv;
	cr.progress_notify = o->progress_notify;
	req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	req.create_request = &cr;
	r = etcd_stream_send(s, &req.base);
	if (r == 0) {
		r = etcd_stream_recv(s, &etcdserverpb__watch_response__descriptor, c->timeout_ms, NULL, &m);
		if (r == -EAGAIN)
			r = rv_fail(-ETIMEDOUT, "Watch on %s: no answer to the create within %d ms",
				    c->eps[ep].label, c->timeout_ms);
	}
	if (r == 0)
		r = created_or_not(s, (Etcdserverpb__WatchResponse *)m, &id, expired);
	if (r < 0) {
		etcd_stream_close(s);
		return r;
	}
	*out = rv_xcalloc(1, sizeof **out);
	(*out)->s = s;
	(*out)->watch_id = id;
	return 0;
}

static int open_on(etcd_client *c, int ep, const struct etcd_watch_opts *o, etcd_watch **out)
{
	bool expired;
	unsigned gen = 0;
	int r = open_once(c, ep, o, out, &expired, &gen);
	if (r < 0 && expired && c->user) {
		rv_debug("auth token expired on %s; logging in again", c->eps[ep].label);
		if ((r = etcd_authenticate(c, ep, gen)) < 0)
			return r;
		r = open_once(c, ep, o, out, &expired, &gen);
	}
	return r;
}

int etcd_watch_open(etcd_client *c, int ep, const struct etcd_watch_opts *o, etcd_watch **out)
{
	int r = 0, first;

	*out = NULL;
	if (ep >= 0) {
		if ((size_t)ep >= c->n)
			return rv_fail(-EINVAL, "no etcd endpoint number %d", ep);
		return open_on(c, ep, o, out);
	}
	first = etcd_first_endpoint(c);
	for (size_t i = 0; i < c->n; i++) {
		int e = (int)((first + i) % c->n);
		r = open_on(c, e, o, out);
		if (r == 0 || !etcd_try_next_member(r))
			break;
		rv_debug("%s", rv_errmsg(r));
	}
	return r;
}

int etcd_watch_endpoint(const etcd_watch *w)
{
	return w->s->ep;
}

static void copy_event(struct etcd_event *out, const Etcdserverpb__Event *ev)
{
	static const Etcdserverpb__KeyValue empty = ETCDSERVERPB__KEY_VALUE__INIT;
	out->type = ev->type == ETCDSERVERPB__EVENT__EVENT_TYPE__DELETE ? ETCD_EVENT_DELETE : ETCD_EVENT_PUT;
	etcd_copy_kv(&out->kv, ev->kv ? ev->kv : &empty);
	out->has_prev_kv = ev->prev_kv != NULL;
	if (ev->prev_kv)
		etcd_copy_kv(&out->prev_kv, ev->prev_kv);
}

int etcd_watch_decode(const Etcdserverpb__WatchResponse *wr, const char *label, struct etcd_watch_resp *out)
{
	int r = 0;
	etcd_copy_header(&out->hdr, wr->header);
	if (wr->compact_revision) {
		out->compact_revision = wr->compact_revision;
		r = rv_fail(-ERANGE,
			    "Watch on %s: the revision to watch from is compacted (the oldest left is %" PRId64
			    "); read the keys again and watch from there",
			    label, wr->compact_revision);
	} else if (wr->canceled) {
		r = rv_fail(-ECANCELED, "etcd cancelled the watch on %s: %s", label,
			    wr->cancel_reason && *wr->cancel_reason ? wr->cancel_reason : "no reason given");
	} else {
		out->n_events = wr->n_events;
		out->events = rv_xcalloc(wr->n_events ? wr->n_events : 1, sizeof *out->events);
		for (size_t i = 0; i < wr->n_events; i++)
			copy_event(&out->events[i], wr->events[i]);
	}
	return r;
}

int etcd_watch_read(etcd_watch *w, int timeout_ms, const struct rv_cancel *cancel, struct etcd_watch_resp *out)
{
	struct etcd_stream *s = w->s;
	Etcdserverpb__WatchResponse *wr;
	int r;

	memset(out, 0, sizeof *out);
	r = etcd_stream_recv(s, &etcdserverpb__watch_response__descriptor, timeout_ms, cancel,
			     (ProtobufCMessage **)&wr);
	if (r < 0)
		return r;
	r = etcd_watch_decode(wr, s->c->eps[s->ep].label, out);
	protobuf_c_message_free_unpacked(&wr->base, NULL);
	if (r < 0)
		s->end_err = r; /* etcd has dropped the watch: the stream is over */
	return r;
}

void etcd_watch_resp_free(struct etcd_watch_resp *r)
{
	if (!r->events)
		return;
	for (size_t i = 0; i < r->n_events; i++) {
		etcd_kv_free(&r->events[i].kv);
		if (r->events[i].has_prev_kv)
			etcd_kv_free(&r->events[i].prev_kv);
	}
	free(r->events);
	r->events = NULL;
	r->n_events = 0;
}

int etcd_watch_request_progress(etcd_watch *w)
{
	Etcdserverpb__WatchProgressRequest pr = ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
	req.progress_request = &pr;
	return etcd_stream_send(w->s, &req.base);
}

void etcd_watch_close(etcd_watch *w)
{
	if (!w)
		return;
	etcd_stream_close(w->s);
	free(w);
}
