/* etcd_internal.h - private to the etcd module: the client's state and the one
 * function every RPC goes through. */
#ifndef REGVAULT_ETCD_INTERNAL_H
#define REGVAULT_ETCD_INTERNAL_H

#include <pthread.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "common/common.h"
#include "etcd.pb-c.h"
#include "etcd/etcd.h"

struct etcd_endpoint {
	char *url;    /* as configured */
	char *name;   /* member name, or NULL */
	char target[256];
	bool tls;
	grpc_channel *ch; /* created on first use */
	char label[320];  /* "etcd member etcd2 (http://127.0.0.1:2379)" */
};

struct etcd_client {
	struct etcd_endpoint *eps;
	size_t n;
	grpc_channel_credentials *plain_creds, *tls_creds;
	pthread_mutex_t mu; /* channels, token, cursor */
	char *user, *password, *token;
	unsigned token_gen; /* bumped on each authentication */
	int timeout_ms, dial_timeout_ms;
	int cursor; /* the endpoint ETCD_ANY tries first */
	int last_ep; /* the endpoint that answered the last call, of any thread */
};

/* Options of one call. */
struct etcd_call {
	const char *method;                       /* "/etcdserverpb.KV/Range" */
	const char *what;                         /* "Range", for messages */
	const ProtobufCMessage *req;
	const ProtobufCMessageDescriptor *resp_desc;
	int timeout_ms;                           /* 0: the client's */
	bool require_leader;                      /* etcd's "hasleader" metadata */
	bool no_auth;                             /* Authenticate itself */
	int *answered_ep;                         /* optional out: the endpoint asked last */
	bool once;                                /* not idempotent: no other member once sent */
};

/* Run one unary (or single-message bidi) call on ep, or on any endpoint with
 * failover when ep is ETCD_ANY. *resp is freed with protobuf_c_message_free_unpacked. */
int etcd_unary(etcd_client *c, int ep, const struct etcd_call *call, ProtobufCMessage **resp);

/* Internals shared with the streaming calls. */
/* Errors that another member may not have (connection refused, timed out). */
bool etcd_try_next_member(int r);
/* The endpoint ETCD_ANY starts from, and recording the one that answered. */
int etcd_first_endpoint(etcd_client *c);
void etcd_answered(etcd_client *c, int ep, bool move_cursor);
int etcd_ep_ready(etcd_client *c, int ep, int timeout_ms);
int etcd_auth_metadata(etcd_client *c, grpc_metadata *md, size_t *n, bool require_leader, unsigned *gen);
int etcd_status_to_errno(grpc_status_code st);
int etcd_call_error(etcd_client *c, int ep, const char *what, grpc_status_code st, grpc_slice details,
		    const char *error_string);
bool etcd_is_auth_expired(grpc_status_code st, grpc_slice details);
int etcd_authenticate(etcd_client *c, int ep, unsigned seen_gen);
/* With a user configured and no token held yet, log in through ep. */
int etcd_ensure_token(etcd_client *c, int ep);
/* etcd_unary for calls whose answer carries nothing regvault uses. */
int etcd_unary_noreply(etcd_client *c, int ep, const struct etcd_call *call);
gpr_timespec etcd_deadline_ms(int64_t ms);
/* The first four ops of every call: send metadata (waiting for the channel rather
 * than failing fast), the one request message, half-close, receive initial metadata. */
void etcd_request_ops(grpc_op ops[4], grpc_metadata *md, size_t n_md, grpc_byte_buffer *req,
		      grpc_metadata_array *initial_md);
grpc_byte_buffer *etcd_pack(const ProtobufCMessage *m);
ProtobufCMessage *etcd_unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb);
void etcd_copy_header(struct etcd_header *out, const void *pb_header);
/* A KeyValue copied into malloc'd, NUL-terminated key and value (etcd_kv_free). */
void etcd_copy_kv(struct etcd_kv *out, const void *pb_kv);
void etcd_kv_free(struct etcd_kv *kv);

/* ---- reading answers (the client's own code, also what the fuzz targets drive) ----
 * Each reads an unpacked answer into the client's struct; label names the member in
 * messages. A negative errno with a sentence for an answer that is an error. */
int etcd_watch_decode(const Etcdserverpb__WatchResponse *wr, const char *label, struct etcd_watch_resp *out);
int etcd_keepalive_decode(const Etcdserverpb__LeaseKeepAliveResponse *r, int64_t *id, int64_t *ttl,
			  struct etcd_header *hdr);
/* On failure out is freed. */
int etcd_txn_decode(const Etcdserverpb__TxnResponse *resp, struct etcd_txn_resp *out);

/* ---- one long-lived bidirectional call (etcd_stream.c) ----
 * For one thread at a time. Errors: the gRPC status mapped as for unary calls
 * once the stream ended (-EPIPE when it ended with OK or CANCELLED), -EAGAIN when
 * recv saw nothing within its timeout (the stream goes on), -EINTR when the
 * cancel token was set. */
struct etcd_stream {
	etcd_client *c;
	int ep;
	const char *what; /* "Watch", for messages */
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_metadata md[2];
	size_t n_md;
	unsigned gen; /* token generation the stream was opened with */
	grpc_metadata_array initial_md, trailing_md;
	grpc_status_code status;
	grpc_slice details;
	const char *error_string;
	grpc_byte_buffer *send_bb, *recv_bb;
	int outstanding;                    /* batches whose event has not come */
	bool send_busy, recv_busy, recv_done, status_done;
	int end_err; /* once the stream ended: what every later call returns */
};
int etcd_stream_open(etcd_client *c, int ep, const char *method, const char *what, bool require_leader,
		     struct etcd_stream **out);
int etcd_stream_send(struct etcd_stream *s, const ProtobufCMessage *m);
int etcd_stream_recv(struct etcd_stream *s, const ProtobufCMessageDescriptor *d, int timeout_ms,
		     const struct rv_cancel *cancel, ProtobufCMessage **out);
void etcd_stream_close(struct etcd_stream *s);

#endif
