/* heartbeat.c - the heartbeat service: the health keys of many capabilities, each
 * under a lease of its own, all renewed over one LeaseKeepAlive stream.
 *
 * heartbeat_run's thread is the run loop: it applies the set of targets wanted,
 * sends each held lease's keep-alive when its heartbeat is due, reads the answers
 * (a lease etcd calls gone is granted again at once), starts health checks, and
 * hands each target that needs etcd work to a worker (heartbeat_step.c). See
 * heartbeat_impl.h for who touches what. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/heartbeat_impl.h"

#define ETCD_WORKERS 4   /* Txns in flight at once: etcd batches them into few proposals */
#define CHECK_WORKERS 8  /* health checks at once */
/* The run loop goes round 20 times an interval, every 50 ms to 500 ms: new targets,
 * finished work, check answers and lost leases are seen within one round. */
#define TICKS_PER_INTERVAL 20
#define TICK_MIN_MS 50
#define TICK_MAX_MS 500
#define STREAM_RETRY_MIN_MS 250
#define STREAM_RETRY_MAX_MS 5000

static void target_free(struct hb_target *t)
{
	if (!t)
		return;
	free(t->ns);
	free(t->health_key);
	free(t->claim_key);
	hb_check_clear(&t->check);
	free(t);
}

static void want_clear(struct heartbeat *h)
{
	for (size_t i = 0; i < h->n_want; i++) {
		free(h->want[i].ns);
		hb_check_clear(&h->want[i].check);
	}
	free(h->want);
	h->want = NULL;
	h->n_want = 0;
}

int heartbeat_new(etcd_client *c, const struct heartbeat_opts *o, struct heartbeat **out)
{
	*out = NULL;
	if (!c || !o || !o->prefix || !*o->prefix || !o->state_prefix || !*o->state_prefix)
		return rv_fail(-EINVAL, "heartbeats need a key prefix and a prefix for their claims");
	if (o->ttl_ms < 1000 || o->interval_ms <= 0)
		return rv_fail(-EINVAL, "heartbeats need a lease TTL of at least 1 s and an interval above 0 (TTL %" PRId64
					" ms, interval %" PRId64 " ms)", o->ttl_ms, o->interval_ms);
	if (o->interval_ms >= o->ttl_ms)
		return rv_fail(-EINVAL, "the heartbeat interval (%" PRId64 " ms) must be shorter than the lease TTL (%" PRId64
					" ms), or the leases expire between heartbeats", o->interval_ms, o->ttl_ms);
	struct heartbeat *h = rv_xcalloc(1, sizeof *h);
	char host[256] = "";
	if (gethostname(host, sizeof host - 1) < 0 || !host[0])
		snprintf(host, sizeof host, "localhost");
	h->c = c;
	h->prefix = rv_strdup(o->prefix);
	size_t n = strlen(h->prefix);
	while (n > 1 && h->prefix[n - 1] == '/')
		h->prefix[--n] = 0;
	h->state_prefix = rv_strdup(o->state_prefix);
	h->host = rv_strdup(host);
	h->pid = getpid();
	if (o->owner && *o->owner) {
		h->owner = rv_strdup(o->owner);
	} else if (asprintf(&h->owner, "regvault on %s (pid %d)", host, (int)h->pid) < 0) {
		h->owner = rv_strdup("regvault");
	}
	h->ttl_s = (o->ttl_ms + 999) / 1000; /* etcd's leases are whole seconds */
	h->interval_ms = o->interval_ms;
	pthread_mutex_init(&h->mu, NULL);
	*out = h;
	return 0;
}

static int cmp_want(const void *a, const void *b)
{
	return strcmp(((const struct hb_want *)a)->ns, ((const struct hb_want *)b)->ns);
}

int heartbeat_set_targets(struct heartbeat *h, const struct heartbeat_target *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!t[i].ns || !*t[i].ns || strchr(t[i].ns, '/'))
			return rv_fail(-EINVAL, "'%s' is no capability namespace (dotted lower-case words)",
				       t[i].ns ? t[i].ns : "");
	struct hb_want *w = rv_xcalloc(n ? n : 1, sizeof *w);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		w[m].ns = rv_strdup(t[i].ns);
		hb_check_copy(&w[m].check, t[i].check);
		m++;
	}
	qsort(w, m, sizeof *w, cmp_want);
	/* one namespace named twice: the first */
	size_t k = 0;
	for (size_t i = 0; i < m; i++) {
		if (k && strcmp(w[k - 1].ns, w[i].ns) == 0) {
			free(w[i].ns);
			hb_check_clear(&w[i].check);
			continue;
		}
		w[k++] = w[i];
	}
	pthread_mutex_lock(&h->mu);
	want_clear(h);
	h->want = w;
	h->n_want = k;
	h->want_gen++;
	pthread_mutex_unlock(&h->mu);
	return 0;
}

int heartbeat_stats(struct heartbeat *h, struct heartbeat_stat **out, size_t *n, struct heartbeat_totals *tot)
{
	pthread_mutex_lock(&h->mu);
	struct heartbeat_stat *s = rv_xcalloc(h->n_want ? h->n_want : 1, sizeof *s);
	/* the set wanted, with the state of the live target of each (both sorted) */
	size_t j = 0;
	for (size_t i = 0; i < h->n_want; i++) {
		int c = 1;
		while (j < h->n_live && (c = strcmp(h->live[j]->ns, h->want[i].ns)) < 0)
			j++;
		if (j < h->n_live && c == 0) {
			s[i] = h->live[j]->st;
		} else {
			s[i].status = "pending";
		}
		snprintf(s[i].ns, sizeof s[i].ns, "%s", h->want[i].ns);
	}
	*n = h->n_want;
	if (tot)
		*tot = h->totals;
	pthread_mutex_unlock(&h->mu);
	*out = s;
	return 0;
}

/* ---- the run loop ---- */

struct run {
	struct heartbeat *h;
	struct hb_target **dying; /* dropped from the set: revoked, then freed */
	size_t n_dying;
	etcd_keepalive *ka;
	int ka_next_ep;    /* where to open the stream next */
	double ka_retry_at;
	int64_t ka_backoff_ms;
	bool ka_broken_logged;
	bool resend_all;   /* a new stream: renew every lease now */
	int64_t *to_send;  /* the keep-alives of this round */
	size_t n_to_send, cap_to_send;
	struct batch_arg *batch; /* the heartbeats of this round, not yet handed over */
};

static void step_job(void *arg);

struct step_arg {
	struct heartbeat *h;
	struct hb_target *t;
};

/* Under h->mu, t not busy. */
static void hand_to_worker(struct heartbeat *h, struct hb_target *t)
{
	struct step_arg *a = rv_xmalloc(sizeof *a);
	a->h = h;
	a->t = t;
	t->busy = true;
	hb_pool_submit(&h->etcd_pool, step_job, a);
}

static void step_job(void *arg)
{
	struct step_arg *a = arg;
	hb_step(a->h, a->t);
	hb_release(a->h, a->t);
	free(a);
}

struct batch_arg {
	struct heartbeat *h;
	size_t n;
	struct hb_target *t[HB_BATCH_MAX];
};

static void batch_job(void *arg)
{
	struct batch_arg *a = arg;
	hb_write_batch(a->h, a->t, a->n);
	pthread_mutex_lock(&a->h->mu);
	for (size_t i = 0; i < a->n; i++)
		a->t[i]->busy = false;
	pthread_mutex_unlock(&a->h->mu);
	free(a);
}

/* Under h->mu: the heartbeats collected this tick, to a worker. */
static void batch_flush(struct run *rn)
{
	if (!rn->batch || !rn->batch->n)
		return;
	hb_pool_submit(&rn->h->etcd_pool, batch_job, rn->batch);
	rn->batch = NULL;
}

/* Under h->mu, t not busy: its heartbeat goes with the others due now. */
static void batch_add(struct run *rn, struct hb_target *t)
{
	if (!rn->batch) {
		rn->batch = rv_xcalloc(1, sizeof *rn->batch);
		rn->batch->h = rn->h;
	}
	t->busy = true;
	rn->batch->t[rn->batch->n++] = t;
	if (rn->batch->n == HB_BATCH_MAX)
		batch_flush(rn);
}

void hb_release(struct heartbeat *h, struct hb_target *t)
{
	pthread_mutex_lock(&h->mu);
	t->busy = false;
	pthread_mutex_unlock(&h->mu);
}

struct check_arg {
	struct heartbeat *h;
	struct hb_target *t;
	struct health_check hc;
};

static void check_job(void *arg)
{
	struct check_arg *a = arg;
	char detail[256];
	int r = health_check_run(&a->hc, &a->h->check_cancel, detail, sizeof detail);
	rv_err_clear();
	pthread_mutex_lock(&a->h->mu);
	struct hb_target *t = a->t;
	t->check_known = true;
	t->check_healthy = r == 0;
	snprintf(t->check_detail, sizeof t->check_detail, "%s", r == 0 ? "" : detail);
	t->check_fresh = true;
	t->check_running = false;
	pthread_mutex_unlock(&a->h->mu);
	hb_check_clear(&a->hc);
	free(a);
}

/* Under h->mu. */
static void start_check(struct heartbeat *h, struct hb_target *t)
{
	struct check_arg *a = rv_xcalloc(1, sizeof *a);
	a->h = h;
	a->t = t;
	hb_check_copy(&a->hc, &t->check);
	t->check_running = true;
	t->check_fresh = false;
	hb_pool_submit(&h->check_pool, check_job, a);
}

static struct hb_target *target_new(struct heartbeat *h, const struct hb_want *w)
{
	struct hb_target *t = rv_xcalloc(1, sizeof *t);
	t->ns = rv_strdup(w->ns);
	hb_check_copy(&t->check, &w->check);
	if (asprintf(&t->health_key, "%s/%s/health", h->prefix, w->ns) < 0 ||
	    asprintf(&t->claim_key, "%s/heartbeat/%s", h->state_prefix, w->ns) < 0)
		abort(); /* as rv_xmalloc does on no memory */
	t->id = ++h->next_id;
	t->state = HB_ACQUIRE;
	t->st.status = "pending";
	snprintf(t->st.ns, sizeof t->st.ns, "%s", w->ns);
	return t;
}

/* The wanted set into the live one (under h->mu). A target whose check changed
 * while busy is left for the next round: false then. */
static bool apply_changes(struct run *rn)
{
	struct heartbeat *h = rn->h;
	struct hb_target **live = rv_xcalloc(h->n_want + 1, sizeof *live);
	size_t n = 0, i = 0, j = 0;
	bool complete = true;
	while (i < h->n_want || j < h->n_live) {
		int c = i >= h->n_want ? 1 : j >= h->n_live ? -1 : strcmp(h->want[i].ns, h->live[j]->ns);
		if (c < 0) { /* new: starts at once */
			live[n++] = target_new(h, &h->want[i]);
			i++;
		} else if (c > 0) { /* dropped: revoked when no worker has it */
			struct hb_target *t = h->live[j++];
			rn->dying = rv_xrealloc(rn->dying, (rn->n_dying + 1) * sizeof *rn->dying);
			rn->dying[rn->n_dying++] = t;
		} else {
			struct hb_target *t = h->live[j++];
			if (!hb_check_equal(&t->check, &h->want[i].check)) {
				if (t->busy) {
					complete = false;
				} else {
					hb_check_clear(&t->check);
					hb_check_copy(&t->check, &h->want[i].check);
					t->check_known = false;
				}
			}
			live[n++] = t;
			i++;
		}
	}
	free(h->live);
	h->live = live;
	h->n_live = n;
	return complete;
}

static void queue_keepalive(struct run *rn, int64_t lease)
{
	if (rn->n_to_send == rn->cap_to_send) {
		rn->cap_to_send = rn->cap_to_send ? rn->cap_to_send * 2 : 64;
		rn->to_send = rv_xrealloc(rn->to_send, rn->cap_to_send * sizeof *rn->to_send);
	}
	rn->to_send[rn->n_to_send++] = lease;
}

/* The keep-alive of a target's lease each interval (under h->mu), busy or not: a
 * heartbeat Txn that waits for etcd (an election, a member gone) must not let the
 * lease run out meanwhile. st.lease is the lease as the worker last published it. */
static void renew(struct run *rn, struct hb_target *t, double now)
{
	if (!rn->resend_all && now < t->ka_due)
		return;
	t->ka_due = now + (double)rn->h->interval_ms / 1000;
	if (rn->ka && t->st.lease) {
		queue_keepalive(rn, t->st.lease);
		t->ka_lease = t->st.lease;
	}
}

/* What one target needs this round (under h->mu, t not busy). */
static void plan(struct run *rn, struct hb_target *t, double now, bool in_backoff)
{
	struct heartbeat *h = rn->h;
	double interval = (double)h->interval_ms / 1000;
	switch (t->state) {
	case HB_ACQUIRE:
		/* a lost lease is granted again at once; anything else waits out a failure */
		if ((t->lease_lost || !in_backoff) && now >= t->retry_at) {
			hand_to_worker(h, t);
		}
		return;
	case HB_CLAIMED:
		if (now >= t->due && !in_backoff) {
			t->due = now + interval;
			hand_to_worker(h, t);
		}
		return;
	case HB_HELD:
		break;
	}
	if (t->lost_seen && t->lost_seen != t->lease)
		t->lost_seen = 0; /* an answer about a lease already replaced */
	if (t->lost_seen && t->lost_seen == t->lease) {
		/* the keep-alive's answer: etcd no longer knows the lease */
		t->lost_seen = 0;
		t->lease_lost = true;
		t->state = HB_ACQUIRE;
		hand_to_worker(h, t);
		return;
	}
	if (now >= t->due) {
		t->due += interval;
		if (t->due < now)
			t->due = now + interval;
		if (t->check.kind != HEALTH_CHECK_NONE) {
			if (!t->check_running)
				start_check(h, t);
			int64_t to = t->check.timeout_ms > 0 ? t->check.timeout_ms : 5000;
			t->awaiting_check = true;
			t->write_deadline = now + (double)to / 1000 + 1;
		} else {
			t->write_due = true;
		}
	}
	if (t->awaiting_check && (t->check_fresh || now >= t->write_deadline)) {
		t->awaiting_check = false;
		t->check_fresh = false;
		t->write_due = true;
	}
	if (t->write_due && !in_backoff) {
		t->write_due = false;
		batch_add(rn, t);
	}
}

/* Dropped targets: revoke, then free (under h->mu). */
static void tend_dying(struct run *rn)
{
	struct heartbeat *h = rn->h;
	size_t k = 0;
	for (size_t i = 0; i < rn->n_dying; i++) {
		struct hb_target *t = rn->dying[i];
		if (!t->busy && !t->remove_done) {
			t->removing = true;
			hand_to_worker(h, t);
		}
		if (!t->busy && t->remove_done && !t->check_running) {
			target_free(t);
			continue;
		}
		rn->dying[k++] = t;
	}
	rn->n_dying = k;
}

static struct hb_target *find_by_ka_lease(struct heartbeat *h, int64_t lease)
{
	for (size_t i = 0; i < h->n_live; i++)
		if (h->live[i]->ka_lease == lease)
			return h->live[i];
	return NULL;
}

static void stream_broke(struct run *rn, int r)
{
	int ep = etcd_keepalive_endpoint(rn->ka);
	if (!rn->ka_broken_logged)
		rv_warn("the keep-alive stream on %s broke: %s; opening another", etcd_client_endpoint(rn->h->c, ep),
			rv_errmsg(r));
	rn->ka_broken_logged = true;
	etcd_keepalive_close(rn->ka);
	rn->ka = NULL;
	rn->ka_next_ep = (int)((size_t)(ep + 1) % etcd_client_n_endpoints(rn->h->c));
	rn->ka_retry_at = 0; /* another member at once; then back off */
}

static void stream_open(struct run *rn, double now)
{
	if (rn->ka || now < rn->ka_retry_at)
		return;
	etcd_keepalive *ka = NULL;
	int r = etcd_keepalive_open(rn->h->c, rn->ka_next_ep, &ka);
	if (r < 0)
		r = etcd_keepalive_open(rn->h->c, ETCD_ANY, &ka);
	if (r < 0) {
		if (!rn->ka_broken_logged)
			rv_warn("cannot open a keep-alive stream: %s; trying again", rv_errmsg(r));
		rn->ka_broken_logged = true;
		rn->ka_backoff_ms = rn->ka_backoff_ms ? rn->ka_backoff_ms * 2 : STREAM_RETRY_MIN_MS;
		if (rn->ka_backoff_ms > STREAM_RETRY_MAX_MS)
			rn->ka_backoff_ms = STREAM_RETRY_MAX_MS;
		rn->ka_retry_at = now + (double)rn->ka_backoff_ms / 1000;
		return;
	}
	if (rn->ka_broken_logged)
		rv_info("keep-alive stream open again on %s", etcd_client_endpoint(rn->h->c, etcd_keepalive_endpoint(ka)));
	else
		rv_debug("keep-alive stream open on %s", etcd_client_endpoint(rn->h->c, etcd_keepalive_endpoint(ka)));
	rn->ka = ka;
	rn->ka_broken_logged = false;
	rn->ka_backoff_ms = 0;
	rn->ka_next_ep = etcd_keepalive_endpoint(ka);
	rn->resend_all = true;
}

/* Send this round's keep-alives, then read answers until wait_ms has passed. */
static void keepalive_io(struct run *rn, int wait_ms, const struct rv_cancel *cancel)
{
	struct heartbeat *h = rn->h;
	for (size_t i = 0; i < rn->n_to_send && rn->ka; i++) {
		int r = etcd_keepalive_send(rn->ka, rn->to_send[i]);
		if (r < 0)
			stream_broke(rn, r);
	}
	rn->n_to_send = 0;
	if (!rn->ka) {
		rv_sleep_cancellable(wait_ms, cancel);
		return;
	}
	double until = rv_now_mono() + (double)wait_ms / 1000;
	uint64_t renewed = 0;
	for (;;) {
		int left = (int)((until - rv_now_mono()) * 1000);
		int64_t id = 0, ttl = 0;
		int r = etcd_keepalive_read(rn->ka, left > 0 ? left : 0, cancel, &id, &ttl, NULL);
		if (r == 0) {
			renewed++;
			continue; /* more may be queued */
		}
		if (r == -ENOENT) {
			pthread_mutex_lock(&h->mu);
			struct hb_target *t = find_by_ka_lease(h, id);
			if (t)
				t->lost_seen = id;
			pthread_mutex_unlock(&h->mu);
			continue;
		}
		if (r != -EAGAIN && r != -EINTR)
			stream_broke(rn, r);
		break;
	}
	rv_err_clear();
	if (renewed) {
		pthread_mutex_lock(&h->mu);
		h->totals.renewals += renewed;
		pthread_mutex_unlock(&h->mu);
	}
}

/* The stop: every lease revoked (in parallel on the workers), every target freed. */
static void stop_all(struct run *rn)
{
	struct heartbeat *h = rn->h;
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	pthread_mutex_unlock(&h->mu);
	rv_cancel_request(&h->check_cancel);
	hb_pool_drain(&h->check_pool);
	hb_pool_drain(&h->etcd_pool);
	size_t n = 0;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n_live; i++) {
		struct hb_target *t = h->live[i];
		if (t->lease)
			n++;
		t->removing = true;
		hand_to_worker(h, t);
	}
	for (size_t i = 0; i < rn->n_dying; i++) {
		struct hb_target *t = rn->dying[i];
		if (t->busy || t->remove_done)
			continue;
		if (t->lease)
			n++;
		t->removing = true;
		hand_to_worker(h, t);
	}
	pthread_mutex_unlock(&h->mu);
	hb_pool_drain(&h->etcd_pool);

	pthread_mutex_lock(&h->mu);
	size_t failed = h->revoke_failed;
	for (size_t i = 0; i < h->n_live; i++)
		target_free(h->live[i]);
	free(h->live);
	h->live = NULL;
	h->n_live = 0;
	h->applied_gen = 0;
	h->stopping = false;
	h->revoke_gave_up = false;
	h->revoke_failed = 0;
	h->backoff_until = 0;
	h->backoff_ms = 0;
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; i < rn->n_dying; i++)
		target_free(rn->dying[i]);
	free(rn->dying);
	if (n)
		rv_info("heartbeats stopped: %zu lease%s revoked%s", n - (failed < n ? failed : n), n == 1 ? "" : "s",
			failed ? ", the others expire by their TTL" : "");
}

int heartbeat_run(struct heartbeat *h, const struct rv_cancel *cancel)
{
	struct run rn = {.h = h};
	hb_pool_init(&h->etcd_pool, ETCD_WORKERS, "etcd");
	hb_pool_init(&h->check_pool, CHECK_WORKERS, "health check");
	atomic_store(&h->check_cancel.requested, 0);
	/* Rounds: what is due is done together (its heartbeats in one Txn), a little
	 * late rather than a wake-up for each of a thousand targets. */
	double tick = (double)h->interval_ms / 1000 / TICKS_PER_INTERVAL;
	if (tick < (double)TICK_MIN_MS / 1000)
		tick = (double)TICK_MIN_MS / 1000;
	if (tick > (double)TICK_MAX_MS / 1000)
		tick = (double)TICK_MAX_MS / 1000;

	while (!rv_cancelled(cancel)) {
		double now = rv_now_mono();
		stream_open(&rn, now);
		pthread_mutex_lock(&h->mu);
		if (h->applied_gen != h->want_gen) {
			uint64_t gen = h->want_gen;
			if (apply_changes(&rn))
				h->applied_gen = gen;
		}
		bool in_backoff = now < h->backoff_until;
		for (size_t i = 0; i < h->n_live; i++) {
			struct hb_target *t = h->live[i];
			renew(&rn, t, now);
			if (!t->busy)
				plan(&rn, t, now, in_backoff);
		}
		batch_flush(&rn);
		rn.resend_all = false;
		tend_dying(&rn);
		pthread_mutex_unlock(&h->mu);

		/* then the answers until the next round */
		int wait_ms = (int)((now + tick - rv_now_mono()) * 1000);
		keepalive_io(&rn, wait_ms < 0 ? 0 : wait_ms, cancel);
	}

	stop_all(&rn);
	etcd_keepalive_close(rn.ka);
	free(rn.to_send);
	hb_pool_destroy(&h->etcd_pool);
	hb_pool_destroy(&h->check_pool);
	return 0;
}

void heartbeat_free(struct heartbeat *h)
{
	if (!h)
		return;
	want_clear(h);
	for (size_t i = 0; i < h->n_live; i++)
		target_free(h->live[i]);
	free(h->live);
	free(h->prefix);
	free(h->state_prefix);
	free(h->owner);
	free(h->host);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
