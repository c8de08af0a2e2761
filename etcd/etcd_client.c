/* etcd_client.c - channels, deadlines, failover, authentication and error
 * reporting: everything an etcd RPC needs except its message. Each call gets its
 * own completion queue and keeps its own results (the endpoint that answered
 * among them); what the calls share (channels, token, cursor) is under c->mu, so
 * the client is safe to share between threads. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "common/common.h"
#include "etcd.pb-c.h"
#include "etcd/etcd_internal.h"

static pthread_mutex_t global_mu = PTHREAD_MUTEX_INITIALIZER;
static int global_refs;

/* gRPC core logs to stderr by itself (TLS handshake failures, for one); the
 * failing call reports the cause once, so its own lines are only for -v. */
static void grpc_log_to_debug(gpr_log_func_args *a)
{
	rv_debug("grpc: %s", a->message);
}

void etcd_global_init(void)
{
	pthread_mutex_lock(&global_mu);
	if (global_refs++ == 0) {
		gpr_set_log_function(grpc_log_to_debug);
		grpc_init();
	}
	pthread_mutex_unlock(&global_mu);
}

void etcd_global_shutdown(void)
{
	pthread_mutex_lock(&global_mu);
	if (global_refs > 0 && --global_refs == 0)
		grpc_shutdown();
	pthread_mutex_unlock(&global_mu);
}

gpr_timespec etcd_deadline_ms(int64_t ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

void etcd_request_ops(grpc_op ops[4], grpc_metadata *md, size_t n_md, grpc_byte_buffer *req,
		      grpc_metadata_array *initial_md)
{
	memset(ops, 0, 4 * sizeof *ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = n_md;
	ops[0].data.send_initial_metadata.metadata = md;
	ops[0].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = initial_md;
}

grpc_byte_buffer *etcd_pack(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(len);
	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

/* Messages usually arrive as several slices; protobuf-c wants one buffer. */
ProtobufCMessage *etcd_unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb)
{
	grpc_byte_buffer_reader r;
	grpc_slice *first;
	ProtobufCMessage *m;
	size_t total = grpc_byte_buffer_length(bb);

	if (!grpc_byte_buffer_reader_init(&r, bb))
		return NULL;
	if (grpc_byte_buffer_reader_peek(&r, &first) && GRPC_SLICE_LENGTH(*first) == total) {
		m = protobuf_c_message_unpack(d, NULL, total, GRPC_SLICE_START_PTR(*first));
		grpc_byte_buffer_reader_destroy(&r);
		return m;
	}
	grpc_byte_buffer_reader_destroy(&r);
	if (!grpc_byte_buffer_reader_init(&r, bb))
		return NULL;
	grpc_slice all = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
	grpc_slice_unref(all);
	return m;
}

void etcd_copy_header(struct etcd_header *out, const void *pb_header)
{
	const Etcdserverpb__ResponseHeader *h = pb_header;
	memset(out, 0, sizeof *out);
	if (!h)
		return;
	out->cluster_id = h->cluster_id;
	out->member_id = h->member_id;
	out->revision = h->revision;
	out->raft_term = h->raft_term;
}

/* ---- construction ---- */

static char *read_pem(const char *path, int *err)
{
	char *s = NULL;
	int r;
	*err = 0;
	if (!path)
		return NULL;
	r = rv_read_file(path, &s, NULL, 1 << 20);
	if (r < 0)
		*err = rv_fail(r, "cannot read TLS file %s: %s; check cluster.tls in the configuration", path,
			       strerror(-r));
	return s;
}

static int make_tls_creds(etcd_client *c, const struct etcd_tls_opts *t)
{
	int e1, e2, e3;
	char *ca = read_pem(t->ca_file, &e1);
	char *cert = read_pem(t->cert_file, &e2);
	char *key = read_pem(t->key_file, &e3);
	int r = e1 ? e1 : e2 ? e2 : e3;
	if (r == 0 && (!cert) != (!key))
		r = rv_fail(-EINVAL, "cluster.tls needs both cert_file and key_file for a client certificate");
	if (r == 0) {
		grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
		/* With no CA file gRPC falls back to the system roots. */
		c->tls_creds = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
		if (!c->tls_creds)
			r = rv_fail(-EINVAL, "cannot set up TLS with the configured certificates");
	}
	free(ca);
	free(cert);
	if (key) {
		memset(key, 0, strlen(key));
		free(key);
	}
	return r;
}

int etcd_client_new(const struct etcd_client_opts *o, etcd_client **out)
{
	etcd_client *c;
	bool any_tls = o->tls.ca_file || o->tls.cert_file;
	int r = 0;

	if (o->n_endpoints == 0)
		return rv_fail(-EINVAL, "no etcd endpoints are configured");
	c = rv_xcalloc(1, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
	c->n = o->n_endpoints;
	c->eps = rv_xcalloc(c->n, sizeof *c->eps);
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
	c->dial_timeout_ms = o->dial_timeout_ms > 0 ? o->dial_timeout_ms : 2000;
	c->last_ep = -1;
	c->user = rv_strdup(o->user);
	c->password = rv_strdup(o->password);
	for (size_t i = 0; i < c->n; i++) {
		struct etcd_endpoint *e = &c->eps[i];
		e->url = rv_strdup(o->endpoints[i]);
		e->name = o->names ? rv_strdup(o->names[i]) : NULL;
		if (e->name)
			snprintf(e->label, sizeof e->label, "etcd member %s (%s)", e->name, e->url);
		else
			snprintf(e->label, sizeof e->label, "etcd member at %s", e->url);
		if (r == 0)
			r = etcd_parse_endpoint(e->url, e->target, sizeof e->target, &e->tls);
		/* A CA or client certificate means TLS even for a bare host:port. */
		if (any_tls)
			e->tls = true;
		if (e->tls)
			any_tls = true;
	}
	etcd_global_init();
	if (r == 0 && any_tls)
		r = make_tls_creds(c, &o->tls);
	c->plain_creds = grpc_insecure_credentials_create();
	if (r < 0) {
		etcd_client_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void etcd_client_free(etcd_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		if (c->eps[i].ch)
			grpc_channel_destroy(c->eps[i].ch);
		free(c->eps[i].url);
		free(c->eps[i].name);
	}
	free(c->eps);
	if (c->plain_creds)
		grpc_channel_credentials_release(c->plain_creds);
	if (c->tls_creds)
		grpc_channel_credentials_release(c->tls_creds);
	if (c->password) {
		memset(c->password, 0, strlen(c->password));
		free(c->password);
	}
	if (c->token) {
		memset(c->token, 0, strlen(c->token));
		free(c->token);
	}
	free(c->user);
	pthread_mutex_destroy(&c->mu);
	free(c);
	etcd_global_shutdown();
}

size_t etcd_client_n_endpoints(const etcd_client *c)
{
	return c->n;
}

const char *etcd_client_endpoint(const etcd_client *c, int ep)
{
	if (ep < 0 || (size_t)ep >= c->n)
		return "(any member)";
	return c->eps[ep].url;
}

int etcd_client_last_endpoint(etcd_client *c)
{
	int ep;
	pthread_mutex_lock(&c->mu);
	ep = c->last_ep;
	pthread_mutex_unlock(&c->mu);
	return ep;
}

int etcd_first_endpoint(etcd_client *c)
{
	int ep;
	pthread_mutex_lock(&c->mu);
	ep = c->cursor;
	pthread_mutex_unlock(&c->mu);
	return ep;
}

void etcd_answered(etcd_client *c, int ep, bool move_cursor)
{
	pthread_mutex_lock(&c->mu);
	c->last_ep = ep;
	if (move_cursor)
		c->cursor = ep;
	pthread_mutex_unlock(&c->mu);
}

static grpc_channel *channel(etcd_client *c, int ep)
{
	struct etcd_endpoint *e = &c->eps[ep];
	grpc_channel *ch;
	pthread_mutex_lock(&c->mu);
	if (!e->ch) {
		/* Reconnect quickly after a member comes back (default backoff grows to
		 * two minutes); allow large Range responses. Not MIN_RECONNECT_BACKOFF:
		 * in gRPC 1.51 it is also the connect timeout, and TLS under load needs
		 * more than 100 ms. */
		grpc_arg args[] = {
			{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
			 .value.integer = 1 << 30},
			{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
			 .value.integer = 100},
			{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
			 .value.integer = 1000},
			/* Bound what the transport reads ahead of the snapshot consumer: BDP
			 * probing grows the window to tens of MB; 1 MiB keeps the stream as
			 * fast and the memory flat (measured with massif). */
			{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_HTTP2_BDP_PROBE, .value.integer = 0},
			{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES,
			 .value.integer = 1 << 20},
			/* A Watch or KeepAlive stream can be quiet for hours: pings find a
			 * member that vanished without closing the connection, so a read
			 * fails instead of hanging. Only while a call is open (etcd refuses
			 * pings without one) and no more often than etcd's 5 s minimum. */
			{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_KEEPALIVE_TIME_MS, .value.integer = 10000},
			{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_KEEPALIVE_TIMEOUT_MS, .value.integer = 5000},
			{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, .value.integer = 0},
			/* Connections of this client's own: gRPC shares them between channels to
			 * one address by default, and a client made just as another to the same
			 * members is freed can be handed ones that are going away. */
			{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1},
		};
		grpc_channel_args ca = {RV_ARRAY_LEN(args), args};
		e->ch = grpc_channel_create(e->target, e->tls ? c->tls_creds : c->plain_creds, &ca);
	}
	ch = e->ch;
	pthread_mutex_unlock(&c->mu);
	return ch;
}

/* Wait until the endpoint's channel is connected. A refused connection fails at
 * once (TRANSIENT_FAILURE), a silent one after timeout_ms: either way the caller
 * moves on to the next member instead of spending the whole call deadline. */
int etcd_ep_ready(etcd_client *c, int ep, int timeout_ms)
{
	grpc_channel *ch = channel(c, ep);
	grpc_connectivity_state st = grpc_channel_check_connectivity_state(ch, 1);
	gpr_timespec dl = etcd_deadline_ms(timeout_ms);
	grpc_completion_queue *cq;
	bool saw_connecting = false;

	if (st == GRPC_CHANNEL_READY)
		return 0;
	cq = grpc_completion_queue_create_for_pluck(NULL);
	for (;;) {
		if (st == GRPC_CHANNEL_READY)
			break;
		if (st == GRPC_CHANNEL_CONNECTING)
			saw_connecting = true;
		/* Failure after a fresh attempt: the member is not there. */
		if (st == GRPC_CHANNEL_TRANSIENT_FAILURE && saw_connecting)
			break;
		if (st == GRPC_CHANNEL_SHUTDOWN)
			break;
		grpc_channel_watch_connectivity_state(ch, st, dl, cq, (void *)1);
		grpc_event ev = grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (!ev.success)
			break; /* deadline */
		st = grpc_channel_check_connectivity_state(ch, 1);
	}
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	if (st == GRPC_CHANNEL_READY)
		return 0;
	if (st == GRPC_CHANNEL_TRANSIENT_FAILURE)
		return rv_fail_advice(-EHOSTUNREACH, RV_ADVICE_CLUSTER_STATUS,
				      "%s is unreachable (connection failed); check that it is running", c->eps[ep].label);
	return rv_fail(-ETIMEDOUT, "%s did not accept a connection within %d ms; check that it is running and reachable",
		       c->eps[ep].label, timeout_ms);
}

/* ---- errors ---- */

int etcd_status_to_errno(grpc_status_code st)
{
	switch (st) {
	case GRPC_STATUS_OK: return 0;
	case GRPC_STATUS_UNAVAILABLE: return -EHOSTUNREACH;
	case GRPC_STATUS_DEADLINE_EXCEEDED: return -ETIMEDOUT;
	case GRPC_STATUS_RESOURCE_EXHAUSTED: return -ENOSPC;
	case GRPC_STATUS_OUT_OF_RANGE: return -ERANGE;
	case GRPC_STATUS_PERMISSION_DENIED: return -EACCES;
	case GRPC_STATUS_UNAUTHENTICATED: return -EPERM;
	case GRPC_STATUS_INVALID_ARGUMENT: return -EINVAL;
	case GRPC_STATUS_NOT_FOUND: return -ENOENT;
	case GRPC_STATUS_FAILED_PRECONDITION: return -EBUSY;
	case GRPC_STATUS_CANCELLED: return -ECANCELED;
	default: return -EIO;
	}
}

static const char *status_name(grpc_status_code st)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED",
	};
	if ((unsigned)st < RV_ARRAY_LEN(names))
		return names[st];
	return "UNKNOWN";
}

/* What an operator can do about it; *edge: the advice whose wording the edge adds. */
static const char *advice(grpc_status_code st, const char *msg, enum rv_advice *edge)
{
	if (strstr(msg, "no leader"))
		return "; the member has no leader: check that a majority of members is running";
	switch (st) {
	case GRPC_STATUS_UNAVAILABLE: *edge = RV_ADVICE_CLUSTER_STATUS; return "; check that the member is running";
	case GRPC_STATUS_DEADLINE_EXCEEDED: return "; the member is overloaded or unreachable";
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
		*edge = RV_ADVICE_RECOVER_SPACE;
		return "; the database is over its quota";
	case GRPC_STATUS_UNAUTHENTICATED:
	case GRPC_STATUS_INVALID_ARGUMENT:
		if (strstr(msg, "authentication failed") || strstr(msg, "user name"))
			return "; check cluster.auth.user and the password file";
		return "";
	case GRPC_STATUS_PERMISSION_DENIED: return "; the configured user lacks the role this needs (snapshots need root)";
	default: return "";
	}
}

int etcd_call_error(etcd_client *c, int ep, const char *what, grpc_status_code st, grpc_slice details,
		    const char *error_string)
{
	char msg[512];
	size_t n = GRPC_SLICE_LENGTH(details);
	if (n >= sizeof msg)
		n = sizeof msg - 1;
	memcpy(msg, GRPC_SLICE_START_PTR(details), n);
	msg[n] = 0;
	if (!n && error_string)
		snprintf(msg, sizeof msg, "%s", error_string);
	if (!n && !error_string)
		snprintf(msg, sizeof msg, "no details");
	enum rv_advice edge = RV_ADVICE_NONE;
	const char *what_to_do = advice(st, msg, &edge);
	return rv_fail_advice(etcd_status_to_errno(st), edge, "%s on %s failed: %s (gRPC %s)%s", what, c->eps[ep].label,
			      msg, status_name(st), what_to_do);
}

bool etcd_is_auth_expired(grpc_status_code st, grpc_slice details)
{
	const char *d = (const char *)GRPC_SLICE_START_PTR(details);
	size_t n = GRPC_SLICE_LENGTH(details);
	/* KV calls say UNAUTHENTICATED "etcdserver: invalid auth token"; etcd 3.4's
	 * maintenance calls (Defragment, Status...) pass the raw error through as
	 * UNKNOWN "auth: invalid auth token". */
	if (st != GRPC_STATUS_UNAUTHENTICATED && st != GRPC_STATUS_INVALID_ARGUMENT && st != GRPC_STATUS_UNKNOWN)
		return false;
	return (n && memmem(d, n, "invalid auth token", 18)) || (n && memmem(d, n, "auth store is old", 17));
}

/* ---- authentication ---- */

/* Get a token unless another thread refreshed it since seen_gen. */
int etcd_authenticate(etcd_client *c, int ep, unsigned seen_gen)
{
	Etcdserverpb__AuthenticateRequest req = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	struct etcd_call call = {
		.method = "/etcdserverpb.Auth/Authenticate",
		.what = "Authenticate",
		.req = &req.base,
		.resp_desc = &etcdserverpb__authenticate_response__descriptor,
		.no_auth = true,
	};
	int r;

	pthread_mutex_lock(&c->mu);
	if (c->token && c->token_gen != seen_gen) {
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	pthread_mutex_unlock(&c->mu);
	req.name = c->user;
	req.password = c->password;
	r = etcd_unary(c, ep, &call, &m);
	if (r < 0)
		return rv_fail_wrap(r, "cannot log in to etcd as user %s", c->user);
	pthread_mutex_lock(&c->mu);
	if (c->token)
		free(c->token);
	c->token = rv_strdup(((Etcdserverpb__AuthenticateResponse *)m)->token);
	c->token_gen++;
	pthread_mutex_unlock(&c->mu);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

/* Fill request metadata: the token (copied: it may be replaced concurrently) and
 * "hasleader". The caller unrefs md[i].value for the token (md[0] when *n counts it). */
int etcd_auth_metadata(etcd_client *c, grpc_metadata *md, size_t *n, bool require_leader, unsigned *gen)
{
	*n = 0;
	pthread_mutex_lock(&c->mu);
	*gen = c->token_gen;
	if (c->token) {
		md[*n].key = grpc_slice_from_static_string("token");
		md[*n].value = grpc_slice_from_copied_string(c->token);
		(*n)++;
	}
	pthread_mutex_unlock(&c->mu);
	if (require_leader) {
		md[*n].key = grpc_slice_from_static_string("hasleader");
		md[*n].value = grpc_slice_from_static_string("true");
		(*n)++;
	}
	return 0;
}

static void free_metadata(grpc_metadata *md, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		grpc_slice_unref(md[i].key);
		grpc_slice_unref(md[i].value);
	}
}

/* ---- one call on one endpoint ---- */

/* *sent: the request went out (the member may have acted on it). */
static int unary_once(etcd_client *c, int ep, const struct etcd_call *call, ProtobufCMessage **resp,
		      bool *auth_expired, unsigned *gen, bool *sent)
{
	int timeout = call->timeout_ms > 0 ? call->timeout_ms : c->timeout_ms;
	grpc_metadata md[2];
	size_t n_md = 0;
	grpc_byte_buffer *req_bb, *resp_bb = NULL;
	grpc_metadata_array initial_md, trailing_md;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	const char *error_string = NULL;
	grpc_completion_queue *cq;
	grpc_call *gc;
	grpc_op ops[6];
	int r = 0;

	*resp = NULL;
	*auth_expired = false;
	r = etcd_ep_ready(c, ep, c->dial_timeout_ms < timeout ? c->dial_timeout_ms : timeout);
	if (r < 0)
		return r;
	if (!call->no_auth)
		etcd_auth_metadata(c, md, &n_md, call->require_leader, gen);
	req_bb = etcd_pack(call->req);
	grpc_metadata_array_init(&initial_md);
	grpc_metadata_array_init(&trailing_md);
	cq = grpc_completion_queue_create_for_pluck(NULL);
	gc = grpc_channel_create_call(channel(c, ep), NULL, GRPC_PROPAGATE_DEFAULTS, cq,
				      grpc_slice_from_static_string(call->method), NULL, etcd_deadline_ms(timeout),
				      NULL);
	memset(ops, 0, sizeof ops);
	etcd_request_ops(ops, md, n_md, req_bb, &initial_md);
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &resp_bb;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	ops[5].data.recv_status_on_client.error_string = &error_string;

	grpc_call_error ce = grpc_call_start_batch(gc, ops, 6, (void *)1, NULL);
	if (ce != GRPC_CALL_OK) {
		r = rv_fail(-EIO, "%s on %s could not start: %s", call->what, c->eps[ep].label,
			    grpc_call_error_to_string(ce));
		goto out; /* nothing queued: no event will come */
	}
	*sent = true;
	/* The call's deadline ends it; the margin only guards against a lost event. */
	for (;;) {
		grpc_event ev = grpc_completion_queue_pluck(cq, (void *)1, etcd_deadline_ms(timeout + 5000), NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			break;
		grpc_call_cancel(gc, NULL);
	}
	if (status != GRPC_STATUS_OK) {
		*auth_expired = !call->no_auth && c->user && etcd_is_auth_expired(status, details);
		r = etcd_call_error(c, ep, call->what, status, details, error_string);
		goto out;
	}
	if (!resp_bb || !(*resp = etcd_unpack(call->resp_desc, resp_bb)))
		r = rv_fail(-EBADMSG, "%s on %s returned a message regvault cannot decode", call->what,
			    c->eps[ep].label);
out:
	if (resp_bb)
		grpc_byte_buffer_destroy(resp_bb);
	grpc_byte_buffer_destroy(req_bb);
	grpc_metadata_array_destroy(&initial_md);
	grpc_metadata_array_destroy(&trailing_md);
	grpc_slice_unref(details);
	gpr_free((void *)error_string);
	free_metadata(md, n_md);
	grpc_call_unref(gc);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	return r;
}

int etcd_ensure_token(etcd_client *c, int ep)
{
	bool have;
	unsigned gen;
	if (!c->user)
		return 0;
	pthread_mutex_lock(&c->mu);
	have = c->token != NULL;
	gen = c->token_gen;
	pthread_mutex_unlock(&c->mu);
	return have ? 0 : etcd_authenticate(c, ep, gen);
}

/* Log in when needed, and once more when the token has expired. */
static int unary_authed(etcd_client *c, int ep, const struct etcd_call *call, ProtobufCMessage **resp,
			bool *sent)
{
	bool expired;
	unsigned gen = 0;
	int r;

	if (!call->no_auth && (r = etcd_ensure_token(c, ep)) < 0)
		return r;
	r = unary_once(c, ep, call, resp, &expired, &gen, sent);
	if (r < 0 && expired) {
		rv_debug("auth token expired on %s; logging in again", c->eps[ep].label);
		if ((r = etcd_authenticate(c, ep, gen)) < 0)
			return r;
		r = unary_once(c, ep, call, resp, &expired, &gen, sent);
	}
	return r;
}

int etcd_unary_noreply(etcd_client *c, int ep, const struct etcd_call *call)
{
	ProtobufCMessage *resp;
	int r = etcd_unary(c, ep, call, &resp);
	if (r == 0)
		protobuf_c_message_free_unpacked(resp, NULL);
	return r;
}

bool etcd_try_next_member(int r)
{
	return r == -EHOSTUNREACH || r == -ETIMEDOUT;
}

int etcd_unary(etcd_client *c, int ep, const struct etcd_call *call, ProtobufCMessage **resp)
{
	bool sent = false;
	int r = 0, start;

	if (ep >= 0) {
		if ((size_t)ep >= c->n)
			return rv_fail(-EINVAL, "no etcd endpoint number %d", ep);
		if (call->answered_ep)
			*call->answered_ep = ep;
		etcd_answered(c, ep, false);
		return unary_authed(c, ep, call, resp, &sent);
	}
	start = etcd_first_endpoint(c);
	for (size_t i = 0; i < c->n; i++) {
		int e = (int)((start + i) % c->n);
		sent = false;
		r = unary_authed(c, e, call, resp, &sent);
		/* A timeout after the request went out may hide a write that was
		 * applied: a call that must not run twice stops there. */
		if (r == 0 || !etcd_try_next_member(r) || (call->once && sent)) {
			if (call->answered_ep)
				*call->answered_ep = e;
			etcd_answered(c, e, r == 0 && e != start);
			return r;
		}
		rv_debug("%s", rv_errmsg(r));
	}
	if (c->n > 1) {
		/* Every member failed to connect: name them once, not each error in turn. */
		struct rv_buf names = {0};
		for (size_t i = 0; i < c->n; i++)
			rv_buf_printf(&names, "%s%s", i ? ", " : "", c->eps[i].name ? c->eps[i].name : c->eps[i].url);
		r = rv_fail_advice(r, RV_ADVICE_CLUSTER_UP, "no member answers (%s), so %s could not be asked; start them",
				   names.data, call->what);
		rv_buf_free(&names);
	}
	return r;
}

/* ---- endpoints ---- */

int etcd_parse_endpoint(const char *url, char *target, size_t len, bool *tls)
{
	const char *hostport = url;
	size_t n;
	*tls = false;
	if (!url || !*url)
		return rv_fail(-EINVAL, "an etcd endpoint is empty");
	if (strncmp(url, "http://", 7) == 0) {
		hostport = url + 7;
	} else if (strncmp(url, "https://", 8) == 0) {
		hostport = url + 8;
		*tls = true;
	} else if (strstr(url, "://")) {
		return rv_fail(-EINVAL, "etcd endpoint %s has an unknown scheme; use host:port, http:// or https://", url);
	}
	n = strcspn(hostport, "/");
	if (hostport[n] == '/' && hostport[n + 1] != 0)
		return rv_fail(-EINVAL, "etcd endpoint %s has a path; use host:port", url);
	const char *colon = memrchr(hostport, ':', n);
	if (!colon || colon == hostport || colon + 1 == hostport + n)
		return rv_fail(-EINVAL, "etcd endpoint %s needs a host and a port (host:port)", url);
	for (const char *p = colon + 1; p < hostport + n; p++)
		if (*p < '0' || *p > '9')
			return rv_fail(-EINVAL, "etcd endpoint %s has a port that is not a number", url);
	long port = strtol(colon + 1, NULL, 10);
	if (port < 1 || port > 65535)
		return rv_fail(-EINVAL, "etcd endpoint %s has a port out of range", url);
	if (n + 1 > len)
		return rv_fail(-ENAMETOOLONG, "etcd endpoint %s is too long", url);
	memcpy(target, hostport, n);
	target[n] = 0;
	return 0;
}
