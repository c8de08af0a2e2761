/* heartbeat_impl.h - private to registry/: what the heartbeat files share
 * (heartbeat.c: the object and its run loop; heartbeat_step.c: one target's etcd
 * work; heartbeat_pool.c: the worker threads).
 *
 * Who touches what. The run loop (heartbeat_run's thread) owns the keep-alive
 * stream and decides when each target needs work; the work itself (grant, claim,
 * the heartbeat Txn, revoke) runs on a few etcd worker threads, and health checks
 * on a few check threads, so that N slow calls or N check timeouts never queue
 * behind one another on one thread. A target is handed to an etcd worker by setting
 * busy under h->mu; while busy only that worker touches its run fields, and the run
 * loop touches them only while it is not busy (the hand-over through the mutex
 * orders the two). The published state (st) and the check fields are under h->mu. */
#ifndef REGVAULT_HEARTBEAT_IMPL_H
#define REGVAULT_HEARTBEAT_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "registry/registry.h"

/* ---- a small pool of worker threads (heartbeat_pool.c) ---- */
struct hb_job {
	void (*fn)(void *arg);
	void *arg;
	struct hb_job *next;
};
struct hb_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* a job queued, or stop */
	pthread_cond_t idle; /* the queue ran empty and no job runs */
	struct hb_job *head, *tail;
	pthread_t *threads;
	size_t n_threads, max_threads, n_idle, n_running, n_queued;
	bool stop;
	const char *what; /* "etcd", "check": for messages */
};
void hb_pool_init(struct hb_pool *p, size_t max_threads, const char *what);
/* Queue fn(arg); a thread is started for it when none is idle (up to max). */
void hb_pool_submit(struct hb_pool *p, void (*fn)(void *), void *arg);
/* Until every queued job has run. */
void hb_pool_drain(struct hb_pool *p);
/* Drain, then end and join the threads. */
void hb_pool_destroy(struct hb_pool *p);

/* ---- one target ---- */
enum hb_state {
	HB_ACQUIRE = 0, /* no lease or no claim: grant one and claim the namespace */
	HB_HELD,        /* lease and claim ours: keep alive, write the health key */
	HB_CLAIMED,     /* another owner's claim: look again each interval */
};

struct hb_target {
	char *ns;
	struct health_check check; /* a deep copy; kind NONE: always healthy */
	char *health_key, *claim_key;
	uint64_t id; /* for log lines that outlive a target (never reused) */

	/* run fields: the run loop's while !busy, the worker's while busy */
	enum hb_state state;
	int64_t lease;     /* 0: none */
	int64_t claim_rev; /* the mod_revision of our claim key */
	bool lease_lost;   /* acquire again because the lease went (counted, logged) */
	bool claim_lost;   /* ... because our claim went (with the lease, or deleted) */
	bool ever_granted;
	double due;        /* monotonic: next heartbeat (HELD) or look (CLAIMED) */
	double retry_at;   /* monotonic: ACQUIRE after a failure */
	bool write_due;    /* a heartbeat should be written (HELD) */
	bool removing;     /* set_targets dropped it: revoke, then free */
	bool written_healthy_known;
	bool written_healthy; /* the status last written, for transition logs */
	char owner_seen[256]; /* CLAIMED: who holds it, as logged */

	/* the run loop's alone */
	bool busy;          /* under h->mu: handed to an etcd worker */
	int64_t ka_lease;   /* the lease the last keep-alive was sent for */
	double ka_due;      /* monotonic: its next keep-alive */
	int64_t lost_seen;  /* a keep-alive answered "gone" for this lease */
	bool awaiting_check; /* HELD: write when the check answers or at write_deadline */
	double write_deadline;
	bool remove_done;   /* the revoke ran: free it */

	/* under h->mu: the health check */
	bool check_running;
	bool check_fresh;    /* a result came since the last write was queued */
	bool check_known;    /* some check has answered */
	bool check_healthy;
	char check_detail[256];

	/* under h->mu: what heartbeat_stats() copies */
	struct heartbeat_stat st;
};

struct heartbeat {
	etcd_client *c;
	char *prefix, *state_prefix, *owner, *host;
	pid_t pid;
	int64_t ttl_s, interval_ms;

	pthread_mutex_t mu;
	/* the set wanted (set_targets), sorted by namespace, deep copies */
	struct hb_want {
		char *ns;
		struct health_check check;
	} *want;
	size_t n_want;
	uint64_t want_gen, applied_gen;

	/* the run loop's targets (array changed under mu by the run loop only, sorted
	 * by namespace) */
	struct hb_target **live;
	size_t n_live;
	uint64_t next_id;

	/* under mu */
	struct heartbeat_totals totals;
	double backoff_until; /* monotonic: etcd did not answer, wait before more calls */
	int64_t backoff_ms;
	bool stopping;        /* the run is ending: revokes only */
	bool revoke_gave_up;  /* stopping, and etcd does not answer: leave the rest to their TTL */
	size_t revoke_failed;

	struct hb_pool etcd_pool, check_pool;
	struct rv_cancel check_cancel; /* ends the checks running at the stop */
};

/* heartbeat_step.c: the etcd work of one target, on an etcd worker (t is busy). */
void hb_step(struct heartbeat *h, struct hb_target *t);
/* The heartbeats of several HELD targets (all busy) in one Txn; each on its own
 * when that fails. */
#define HB_BATCH_MAX 64 /* puts per Txn: well under etcd's --max-txn-ops (128) and 1.5 MiB */
void hb_write_batch(struct heartbeat *h, struct hb_target **t, size_t n);
/* A failed etcd call: back off when etcd did not answer. Under no lock. */
void hb_note_etcd_result(struct heartbeat *h, int r);
bool hb_unreachable(int r);

/* heartbeat.c: set t->busy false (under h->mu), from a worker, after its step. */
void hb_release(struct heartbeat *h, struct hb_target *t);

/* JSON text with "..." escaped (the string's quotes included). */
void hb_json_str(struct rv_buf *b, const char *s);

/* Deep copy and free of a health check. */
void hb_check_copy(struct health_check *dst, const struct health_check *src);
void hb_check_clear(struct health_check *hc);
bool hb_check_equal(const struct health_check *a, const struct health_check *b);

#endif
