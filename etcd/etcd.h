/* etcd.h - the etcd module: an etcd v3 client over gRPC C core, one prefix (etcd_).
 *
 * Client: one etcd_client holds the cluster's endpoints. Every call takes an
 * endpoint index: ETCD_ANY lets the client pick one and move on to the next when
 * the endpoint is unavailable; an index >= 0 pins the call to that member (Status,
 * Defragment, HashKV, Snapshot are per member). Every unary call has a deadline;
 * the streams (Watch, LeaseKeepAlive) have none, each read its own timeout. On
 * failure a call returns a negative errno and records one sentence naming the
 * endpoint, the gRPC status and etcd's message (common.h, rv_errmsg; the message is
 * per thread).
 *
 *   gRPC status            errno
 *   UNAVAILABLE            -EHOSTUNREACH (member down / no leader)
 *   DEADLINE_EXCEEDED      -ETIMEDOUT
 *   RESOURCE_EXHAUSTED     -ENOSPC      (NOSPACE alarm, quota)
 *   OUT_OF_RANGE           -ERANGE      (compacted / future revision)
 *   PERMISSION_DENIED      -EACCES
 *   UNAUTHENTICATED        -EPERM
 *   INVALID_ARGUMENT       -EINVAL
 *   NOT_FOUND              -ENOENT
 *   FAILED_PRECONDITION    -EBUSY
 *   CANCELLED              -ECANCELED   (also when a snapshot callback aborts)
 *   other                  -EIO
 */
#ifndef REGVAULT_ETCD_H
#define REGVAULT_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>

struct rv_cancel; /* common.h */

#define ETCD_ANY (-1)

/* One client holds a channel per endpoint (made on first use), the TLS
 * credentials and the auth token (got once, again only when etcd says it expired),
 * and is made once for many calls. Any number of threads may call through one
 * client at once: each call has its own completion queue and results, and what
 * calls share is under the client's lock. A stream object (etcd_watch,
 * etcd_keepalive) is for one thread at a time; two streams may be on two threads. */
typedef struct etcd_client etcd_client;

struct etcd_tls_opts {
	char *ca_file, *cert_file, *key_file; /* all NULL: plaintext */
};

struct etcd_client_opts {
	char **endpoints; /* "host:port", "http://host:port" or "https://host:port" */
	size_t n_endpoints;
	struct etcd_tls_opts tls;
	const char *user, *password; /* NULL: no authentication */
	int timeout_ms;              /* deadline of one unary call; 0 = 5000 */
	int dial_timeout_ms;         /* time allowed to connect; 0 = 2000 */
	char **names;                /* optional member names, one per endpoint, for messages */
};

struct etcd_header {
	uint64_t cluster_id, member_id;
	int64_t revision;
	uint64_t raft_term;
};

/* Process-wide setup (grpc_init) and teardown; both are reference counted. */
void etcd_global_init(void);
void etcd_global_shutdown(void);

int etcd_client_new(const struct etcd_client_opts *o, etcd_client **out);
void etcd_client_free(etcd_client *c);
size_t etcd_client_n_endpoints(const etcd_client *c);
/* The endpoint as configured (for messages). */
const char *etcd_client_endpoint(const etcd_client *c, int ep);
/* Index of the endpoint the client's last call went to (ETCD_ANY: the one that
 * answered), whichever thread made it; -1 before any. With threads sharing the
 * client it is only a hint: a call's own answer names its member (hdr.member_id),
 * a Txn's its endpoint (etcd_txn_resp.ep), a stream its own (etcd_*_endpoint). */
int etcd_client_last_endpoint(etcd_client *c);

/* ---- cluster / maintenance ---- */
/* Member ids everywhere (tables, JSON, messages) as etcdctl prints them:
 * lower-case hex without leading zeros. Takes a uint64_t. */
#define ETCD_ID_FMT "%" PRIx64
struct etcd_status {
	struct etcd_header hdr; /* hdr.member_id is this member's id */
	char version[32];
	int64_t db_size, db_size_in_use;
	uint64_t leader, raft_index, raft_term, raft_applied_index;
	bool is_learner;
	char errors[256]; /* etcd's errors, joined with "; " */
};
int etcd_status(etcd_client *c, int ep, struct etcd_status *out);

struct etcd_member {
	uint64_t id;
	char name[64];
	char peer_url[256], client_url[256]; /* first of each; "" if none (unstarted) */
	bool is_learner;
};
int etcd_member_list(etcd_client *c, int ep, struct etcd_member **out, size_t *n);

enum etcd_alarm_type { ETCD_ALARM_NONE = 0, ETCD_ALARM_NOSPACE = 1, ETCD_ALARM_CORRUPT = 2 };
struct etcd_alarm {
	uint64_t member_id;
	enum etcd_alarm_type type;
};
const char *etcd_alarm_name(enum etcd_alarm_type t); /* "NOSPACE", "CORRUPT", "NONE" */
int etcd_alarm_list(etcd_client *c, int ep, struct etcd_alarm **out, size_t *n);
/* member_id 0 and type NONE disarm every alarm, as etcdctl alarm disarm does. */
int etcd_alarm_disarm(etcd_client *c, uint64_t member_id, enum etcd_alarm_type t);

int etcd_compact(etcd_client *c, int64_t revision, bool physical);
/* Defragment can take long on a large db: its own deadline. */
int etcd_defragment(etcd_client *c, int ep, int timeout_ms);
int etcd_hashkv(etcd_client *c, int ep, int64_t revision, uint32_t *hash,
		int64_t *compact_revision, struct etcd_header *hdr);
/* Must be sent to the leader. */
int etcd_move_leader(etcd_client *c, int leader_ep, uint64_t target_id);

/* ---- key-value ---- */
struct etcd_kv {
	uint8_t *key, *value;
	size_t key_len, value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct etcd_range_req {
	const void *key;
	size_t key_len;
	const void *range_end; /* NULL: the single key */
	size_t range_end_len;
	int64_t limit, revision;
	bool keys_only, count_only, serializable;
};
struct etcd_range_resp {
	struct etcd_header hdr;
	struct etcd_kv *kvs;
	size_t n_kvs;
	bool more;
	int64_t count;
};
int etcd_range(etcd_client *c, int ep, const struct etcd_range_req *req, struct etcd_range_resp *out);
void etcd_range_resp_free(struct etcd_range_resp *r);

/* Every key in [key, range_end) at one revision, page_size keys per request, in key
 * order. The callback returns 0 to go on, anything else to stop (returned as is).
 * *revision_out (optional) is the revision read at. */
typedef int (*etcd_kv_cb)(const struct etcd_kv *kv, void *ud);
int etcd_range_each(etcd_client *c, int ep, const struct etcd_range_req *req, int64_t page_size,
		    etcd_kv_cb cb, void *ud, int64_t *revision_out);

/* Range end for "every key with this prefix" (etcdctl --prefix); len 1 "\0" for an
 * empty prefix. Returns a malloc'd buffer. */
uint8_t *etcd_prefix_end(const void *prefix, size_t len, size_t *end_len);

int etcd_put(etcd_client *c, const void *key, size_t key_len, const void *val, size_t val_len,
	     int64_t lease, struct etcd_header *hdr);
int etcd_delete_range(etcd_client *c, const void *key, size_t key_len, const void *range_end,
		      size_t range_end_len, int64_t *deleted);

/* Txn: if every compare holds, the success ops run, else the failure ops, all at
 * one revision. A compare tests key (or every key in [key, range_end)) on one
 * target: VALUE against value, the others against number. etcd refuses (-EINVAL)
 * more than 128 ops (its --max-txn-ops) and two ops writing one key. A Txn is
 * sent to one member only: after a timeout (-ETIMEDOUT, -EHOSTUNREACH once sent)
 * it may have been applied; read to find out before sending it again. */
enum etcd_cmp_target { ETCD_CMP_VERSION = 0, ETCD_CMP_CREATE = 1, ETCD_CMP_MOD = 2, ETCD_CMP_VALUE = 3 };
enum etcd_cmp_result { ETCD_CMP_EQUAL = 0, ETCD_CMP_GREATER = 1, ETCD_CMP_LESS = 2, ETCD_CMP_NOT_EQUAL = 3 };
struct etcd_compare {
	const void *key;
	size_t key_len;
	const void *range_end; /* NULL: the single key */
	size_t range_end_len;
	enum etcd_cmp_target target;
	enum etcd_cmp_result result;
	int64_t number; /* version, create_revision or mod_revision */
	const void *value;
	size_t value_len;
};
enum etcd_op_type { ETCD_OP_RANGE, ETCD_OP_PUT, ETCD_OP_DELETE };
struct etcd_op {
	enum etcd_op_type type;
	const void *key;
	size_t key_len;
	const void *range_end; /* RANGE, DELETE; NULL: the single key */
	size_t range_end_len;
	const void *value; /* PUT */
	size_t value_len;
	int64_t lease;        /* PUT */
	bool prev_kv;         /* PUT, DELETE: return what was there */
	int64_t limit;        /* RANGE */
	bool keys_only, count_only; /* RANGE */
};
struct etcd_txn_req {
	const struct etcd_compare *cmp;
	size_t n_cmp;
	const struct etcd_op *success, *failure;
	size_t n_success, n_failure;
};
struct etcd_op_resp {
	enum etcd_op_type type;
	struct etcd_header hdr;
	/* RANGE: the keys read; PUT: the previous key (0 or 1, when prev_kv); DELETE:
	 * the keys deleted (when prev_kv) */
	struct etcd_kv *kvs;
	size_t n_kvs;
	bool more;       /* RANGE */
	int64_t count;   /* RANGE */
	int64_t deleted; /* DELETE */
};
struct etcd_txn_resp {
	struct etcd_header hdr;
	bool succeeded;
	struct etcd_op_resp *resps; /* one per op of the list that ran */
	size_t n_resps;
	int ep; /* the endpoint that answered */
};
int etcd_txn(etcd_client *c, const struct etcd_txn_req *req, struct etcd_txn_resp *out);
void etcd_txn_resp_free(struct etcd_txn_resp *r);

/* ---- watch ---- */
/* A Watch stream on one member, for one key, a range or the whole keyspace
 * (key "\0", range_end "\0"; etcd_prefix_end for a prefix). Events come in
 * revision order from start_revision (0: from now). Reconnecting is the
 * caller's: after an error the stream is dead; open a new one from the revision
 * after the last seen (on another endpoint when this one failed). */
typedef struct etcd_watch etcd_watch;
struct etcd_watch_opts {
	const void *key;
	size_t key_len;
	const void *range_end; /* NULL: the single key */
	size_t range_end_len;
	int64_t start_revision;
	bool prev_kv;         /* events carry the key as it was before */
	bool progress_notify; /* etcd sends an empty answer now and then when idle */
};
enum etcd_event_type { ETCD_EVENT_PUT = 0, ETCD_EVENT_DELETE = 1 };
struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv; /* DELETE: key and mod_revision only */
	bool has_prev_kv;
	struct etcd_kv prev_kv;
};
struct etcd_watch_resp {
	struct etcd_header hdr; /* hdr.revision: everything up to it has been sent */
	struct etcd_event *events;
	size_t n_events; /* 0: a progress notification */
	int64_t compact_revision; /* set with -ERANGE */
};
/* ep: a member, or ETCD_ANY for the first that answers. Returns when etcd has
 * created the watch. -ERANGE: start_revision is compacted. */
int etcd_watch_open(etcd_client *c, int ep, const struct etcd_watch_opts *o, etcd_watch **out);
int etcd_watch_endpoint(const etcd_watch *w);
/* The next answer: events or a progress notification. Errors: -EAGAIN nothing
 * within timeout_ms (the stream goes on); -EINTR the token was cancelled (ditto);
 * -ERANGE the revision to watch from was compacted (out->compact_revision: the
 * oldest left; the watch is over); -ECANCELED etcd cancelled the watch (reason in
 * the message); a broken stream (the member died: -EHOSTUNREACH or -EPIPE), as
 * for unary calls. */
int etcd_watch_read(etcd_watch *w, int timeout_ms, const struct rv_cancel *cancel, struct etcd_watch_resp *out);
void etcd_watch_resp_free(struct etcd_watch_resp *r);
/* Ask for a progress notification: an answer with no events whose revision says
 * the watch has seen everything up to it. */
int etcd_watch_request_progress(etcd_watch *w);
void etcd_watch_close(etcd_watch *w);

/* ---- leases ---- */
int etcd_lease_grant(etcd_client *c, int64_t ttl, int64_t *id, int64_t *granted_ttl);
/* The same with the id chosen by the caller (*id != 0; etcd refuses one in use). */
int etcd_lease_grant_id(etcd_client *c, int64_t ttl, int64_t *id, int64_t *granted_ttl);
/* One keep-alive round trip on a stream of its own; *ttl is 0 when the lease has
 * expired. A process that renews leases keeps an etcd_keepalive open instead. */
int etcd_lease_keepalive(etcd_client *c, int64_t id, int64_t *ttl);
int etcd_lease_revoke(etcd_client *c, int64_t id);
/* What is left of a lease: -ENOENT when it expired or was revoked. */
int etcd_lease_time_to_live(etcd_client *c, int64_t id, int64_t *ttl, int64_t *granted_ttl);

/* One LeaseKeepAlive stream for any number of leases: send a renewal for a lease,
 * read the answers (in the order sent). ep: a member or ETCD_ANY. */
typedef struct etcd_keepalive etcd_keepalive;
int etcd_keepalive_open(etcd_client *c, int ep, etcd_keepalive **out);
int etcd_keepalive_endpoint(const etcd_keepalive *k);
int etcd_keepalive_send(etcd_keepalive *k, int64_t id);
/* The next answer: *id and *ttl (hdr optional). -ENOENT: the lease *id is gone
 * (expired or revoked; the stream goes on). Else as etcd_watch_read: -EAGAIN,
 * -EINTR, or the stream broke. */
int etcd_keepalive_read(etcd_keepalive *k, int timeout_ms, const struct rv_cancel *cancel, int64_t *id,
			int64_t *ttl, struct etcd_header *hdr);
void etcd_keepalive_close(etcd_keepalive *k);

/* ---- snapshot ---- */
/* The streamed Maintenance.Snapshot of one member, chunk by chunk, exactly as etcd
 * sends it: the db bytes, then 32 bytes of sha256 (the last message). total is the
 * db size without the trailer (known from the first message). The callback returns 0
 * to go on or a negative errno to abort the stream (returned as is). Nothing is
 * buffered beyond one message. cancel (NULL: none) ends the stream within about a
 * second with -EINTR, also while the member sends nothing. */
typedef int (*etcd_snapshot_cb)(const uint8_t *data, size_t len, uint64_t total, void *ud);
int etcd_snapshot(etcd_client *c, int ep, int timeout_ms, const struct rv_cancel *cancel, etcd_snapshot_cb cb,
		  void *ud);

/* ---- endpoints and health ---- */
/* Parse "host:port" or "http(s)://host:port[/]" into the gRPC target "host:port".
 * *tls is set for https. Returns -EINVAL with a message on anything else. */
int etcd_parse_endpoint(const char *url, char *target, size_t len, bool *tls);

/* Health as etcd's /health means it: the member answers Status within the deadline,
 * knows a leader, and no alarm is raised (in the cluster's alarm list). */
struct etcd_member_health {
	bool reachable, healthy;
	struct etcd_status status;
	char alarms[64];   /* "NOSPACE,CORRUPT" raised on this member, or "" */
	char reason[256];  /* why not healthy */
	int err;           /* the call's negative errno when not reachable, else 0 */
};
int etcd_member_health(etcd_client *c, int ep, struct etcd_member_health *out);
/* The same with the cluster's alarm list already read (one AlarmList for all
 * members, each one a raft round trip in etcd 3.4); alarms NULL: ask this member. */
int etcd_member_health_with(etcd_client *c, int ep, const struct etcd_alarm *alarms, size_t n_alarms,
			    struct etcd_member_health *out);

#endif
