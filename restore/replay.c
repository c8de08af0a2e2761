/* replay.c - the events of a chain replayed into a restored cluster that no client
 * reaches, one Txn per original revision and nothing else that writes, so that its
 * revisions, versions and create/mod revisions come out as the original's.
 *
 * Leases (the watch does not carry them): a lease the base's keys are on is kept
 * alive while the events are replayed, so that none expires and deletes keys at a
 * revision of its own; a put under a lease the cluster does not have (granted after
 * the base) grants it again under its own id with RS_REPLAY_LEASE_TTL (its TTL is
 * not recorded), so that a client still holding it keeps it alive, and its keys
 * expire like the original's otherwise. A lease grant creates no revision. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "restore/restore_impl.h"

#define RS_REPLAY_LEASE_TTL 60
#define RS_REPLAY_KEEPALIVE_S 0.5
#define RS_REPLAY_TXN_TIMEOUT_MS 30000
#define RS_BUMP_KEY "\x01regvault-bump-revision"

void rs_replay_flags(const struct etcd_flags *f, const struct rs_point *pt, struct etcd_flags *out, char buf[2][64])
{
	size_t ops = pt->max_ops * 2 > 1024 ? pt->max_ops * 2 : 1024;
	uint64_t bytes = pt->max_bytes * 2 + (1u << 20);
	if (bytes < 3u << 20)
		bytes = 3u << 20;
	*out = *f;
	out->extra_args = rv_xcalloc(f->n_extra_args + 2, sizeof *out->extra_args);
	for (size_t i = 0; i < f->n_extra_args; i++)
		out->extra_args[i] = f->extra_args[i];
	/* After the configured ones: etcd takes the last of a flag given twice. */
	snprintf(buf[0], 64, "--max-txn-ops=%zu", ops);
	snprintf(buf[1], 64, "--max-request-bytes=%" PRIu64, bytes);
	out->extra_args[f->n_extra_args] = buf[0];
	out->extra_args[f->n_extra_args + 1] = buf[1];
	out->n_extra_args = f->n_extra_args + 2;
}

struct leases {
	pthread_mutex_t mu; /* v and n: workers add the leases they grant */
	int64_t *v;
	size_t n, cap;
	etcd_keepalive *ka;
	double last;
};

static bool lease_has(const struct leases *l, int64_t id)
{
	for (size_t i = 0; i < l->n; i++) /* few leases in practice; linear is fine */
		if (l->v[i] == id)
			return true;
	return false;
}

static void lease_add(struct leases *l, int64_t id)
{
	if (id == 0 || lease_has(l, id))
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = rv_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = id;
}

static int note_lease(const struct etcd_kv *kv, void *ud)
{
	lease_add(ud, kv->lease);
	return 0;
}

/* Renew every lease (each answer read: a stream of renewals nobody reads stalls). */
static int keep_alive(etcd_client *c, struct leases *l, bool force)
{
	int r = 0;
	if (!force && rv_now_mono() - l->last < RS_REPLAY_KEEPALIVE_S)
		return 0;
	pthread_mutex_lock(&l->mu);
	size_t n = l->n;
	int64_t *ids = n ? rv_xmalloc(n * sizeof *ids) : NULL;
	if (n)
		memcpy(ids, l->v, n * sizeof *ids);
	pthread_mutex_unlock(&l->mu);
	if (n == 0)
		return 0;
	if (!l->ka && (r = etcd_keepalive_open(c, ETCD_ANY, &l->ka)) < 0)
		goto out;
	for (size_t i = 0; i < n && r == 0; i++)
		r = etcd_keepalive_send(l->ka, ids[i]);
	for (size_t i = 0; i < n && r == 0; i++) {
		int64_t id, ttl;
		r = etcd_keepalive_read(l->ka, 5000, NULL, &id, &ttl, NULL);
		if (r == -ENOENT) { /* already gone when the cluster started: its keys went with it */
			rv_err_clear();
			r = 0;
		}
	}
	if (r == 0)
		l->last = rv_now_mono();
out:
	free(ids);
	return r < 0 ? rv_fail_wrap(r, "cannot keep the base's leases alive during the replay") : 0;
}

/* The Txn's operations for events [from, to), the leases they are put with granted
 * first when the cluster does not have them. */
static int revision_ops(etcd_client *c, const struct rs_point *pt, size_t from, size_t to, struct etcd_op *ops,
			struct leases *l, struct restore_point_report *rep)
{
	int64_t rev = pt->ev[from]->revision;
	int r = 0;
	for (size_t i = from; i < to; i++) {
		const struct seg_event *e = pt->ev[i];
		struct etcd_op *op = &ops[i - from];
		memset(op, 0, sizeof *op);
		op->key = e->key;
		op->key_len = e->key_len;
		if (e->type == SEG_DELETE) {
			op->type = ETCD_OP_DELETE;
			continue;
		}
		op->type = ETCD_OP_PUT;
		op->value = e->value;
		op->value_len = e->value_len;
		op->lease = e->lease;
		if (!e->lease)
			continue;
		pthread_mutex_lock(&l->mu); /* one grant per lease, also from several senders */
		if (!lease_has(l, e->lease)) {
			int64_t id = e->lease, ttl = 0;
			if ((r = etcd_lease_grant_id(c, RS_REPLAY_LEASE_TTL, &id, &ttl)) == 0) {
				lease_add(l, e->lease);
				rep->leases_granted++;
			}
		}
		pthread_mutex_unlock(&l->mu);
		if (r < 0)
			return rv_fail_wrap(r, "cannot grant lease %" PRIx64 " again for revision %" PRId64, e->lease, rev);
	}
	return 0;
}

/* One original revision: events [from, to) in one Txn, which must make exactly it. */
static int replay_revision(etcd_client *c, const struct rs_point *pt, size_t from, size_t to, struct etcd_op *ops,
			   struct leases *l, struct restore_point_report *rep)
{
	int64_t rev = pt->ev[from]->revision;
	int r = revision_ops(c, pt, from, to, ops, l, rep);
	if (r < 0)
		return r;
	struct etcd_txn_req req = {.success = ops, .n_success = to - from};
	struct etcd_txn_resp resp;
	for (int attempt = 0;; attempt++) {
		r = etcd_txn(c, &req, &resp);
		if (r == 0) {
			int64_t got = resp.hdr.revision;
			etcd_txn_resp_free(&resp);
			if (got != rev)
				return rv_fail(-EIO, "replaying revision %" PRId64 " made revision %" PRId64 " in the restored "
					       "cluster; its data is not the original's", rev, got);
			return 0;
		}
		/* A Txn that timed out may have been applied: the revision says. */
		struct etcd_status st;
		int s = etcd_status(c, ETCD_ANY, &st);
		if (s == 0 && st.hdr.revision == rev) {
			rv_err_clear();
			return 0;
		}
		if (attempt >= 2 || s < 0 || st.hdr.revision != rev - 1 || (r != -ETIMEDOUT && r != -EHOSTUNREACH))
			return rv_fail_wrap(r, "replaying revision %" PRId64, rev);
		rv_err_clear();
	}
}

/* ---- several revisions in flight ----
 * One Txn at a time waits a raft round and an fsync per revision (a few hundred a
 * second). With several in flight etcd commits them together, but may apply them in
 * another order than sent: each Txn (after the first) is guarded on the revision
 * before it having been made (its first event: the key's mod_revision is that
 * revision, or a deleted key is gone), and a Txn whose guard fails changes nothing
 * and is sent again once that revision is made. The revisions made are then always
 * the first ones, in order. A failed call ends the pipeline; the replay goes on one
 * revision at a time from the cluster's revision. */
#define RS_REPLAY_IN_FLIGHT 16

struct rev_span {
	size_t from, to; /* events of one revision in pt->ev */
};

struct pipeline {
	etcd_client *c;
	const struct rs_point *pt;
	const struct rev_span *revs;
	size_t n_revs;
	struct leases *l;
	struct restore_point_report *rep;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t next;     /* the next revision to send */
	size_t sent;     /* revisions [0, sent) were handed to the client, in order */
	size_t hold;     /* after a guard failed: revisions from hold wait for [0, hold) made */
	size_t made;     /* revisions [0, made) are in the cluster */
	bool *done;      /* per revision: its Txn succeeded */
	int err;         /* the first failure: no more are sent */
	bool wrong_data; /* a revision not made as the original's: the replay fails */
	char msg[1024];
};

/* A Txn's guard: a put of the revision before (its key's mod_revision is that
 * revision only once it is made). false when that revision only deletes: a key gone
 * is also gone before it was first made, so nothing tells that revision from an
 * earlier one; such a Txn is sent once the revision before is made, unguarded. */
static bool guard_on(const struct rs_point *pt, const struct rev_span *prev, struct etcd_compare *cmp)
{
	for (size_t k = prev->from; k < prev->to; k++) {
		const struct seg_event *e = pt->ev[k];
		if (e->type == SEG_DELETE)
			continue;
		memset(cmp, 0, sizeof *cmp);
		cmp->key = e->key;
		cmp->key_len = e->key_len;
		cmp->target = ETCD_CMP_MOD;
		cmp->result = ETCD_CMP_EQUAL;
		cmp->number = e->revision;
		return true;
	}
	return false;
}

/* Until revisions [0, i) are made; false when the pipeline ended meanwhile. */
static bool wait_made(struct pipeline *p, size_t i)
{
	pthread_mutex_lock(&p->mu);
	while (!p->err && p->made < i)
		pthread_cond_wait(&p->cv, &p->mu);
	bool going = !p->err;
	pthread_mutex_unlock(&p->mu);
	return going;
}

struct sent_mark {
	struct pipeline *p;
	size_t i;
};

/* Revision i was handed to gRPC (or its call ended without): the next may go. */
static void mark_sent(void *ud)
{
	struct sent_mark *m = ud;
	pthread_mutex_lock(&m->p->mu);
	if (m->p->sent < m->i + 1) {
		m->p->sent = m->i + 1;
		pthread_cond_broadcast(&m->p->cv);
	}
	pthread_mutex_unlock(&m->p->mu);
}

/* 0 made, 1 not sent (the pipeline ended meanwhile), < 0 failed (*wrong: not as the original). */
static int send_revision(struct pipeline *p, size_t i, struct etcd_op *ops, bool *wrong)
{
	const struct rev_span *sp = &p->revs[i];
	int64_t rev = p->pt->ev[sp->from]->revision;
	int r = revision_ops(p->c, p->pt, sp->from, sp->to, ops, p->l, p->rep);
	if (r < 0)
		return r;
	struct etcd_compare cmp;
	struct etcd_txn_req req = {.success = ops, .n_success = sp->to - sp->from};
	if (i > 0 && guard_on(p->pt, &p->revs[i - 1], &cmp)) {
		req.cmp = &cmp;
		req.n_cmp = 1;
	} else if (i > 0 && !wait_made(p, i)) {
		return 1;
	}
	/* Each Txn starts once the one before was handed to gRPC (on_sent), so that they
	 * go out on the connection in revision order and mostly reach etcd in it (handed
	 * over in order but started by threads racing each other, 79 % of the guards
	 * failed at first). And once a guard failed, every Txn already sent after it
	 * fails too (the one before it is not made): new ones wait until those are made,
	 * or each of them would fail in turn and the pipeline never recover
	 * (bench/continuous.sh: every Txn sent twice, 267 events/s). The guards keep the
	 * order either way. */
	struct sent_mark mark = {p, i};
	pthread_mutex_lock(&p->mu);
	while (!p->err && (p->sent < i || (i >= p->hold && p->made < p->hold)))
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	req.on_sent = mark_sent;
	req.on_sent_ud = &mark;
	if (i % 2 == 0 && rv_test_point_paused("replay-send-even")) {
		mark_sent(&mark); /* a test delays these: the next ones arrive first */
		rv_test_point("replay-send-even");
	}
	for (int tries = 0;; tries++) {
		struct etcd_txn_resp resp;
		r = etcd_txn(p->c, &req, &resp);
		mark_sent(&mark); /* also when the call failed before it was sent */
		if (r < 0)
			return rv_fail_wrap(r, "replaying revision %" PRId64, rev);
		bool ok = resp.succeeded;
		int64_t got = resp.hdr.revision;
		etcd_txn_resp_free(&resp);
		if (ok && got == rev)
			return 0;
		if (ok || tries > 0) {
			*wrong = true;
			return ok ? rv_fail(-EIO, "replaying revision %" PRId64 " made revision %" PRId64 " in the restored "
					     "cluster; its data is not the original's", rev, got)
				  : rv_fail(-EIO, "replaying revision %" PRId64 ": the revision before it is not the "
					     "original's in the restored cluster", rev);
		}
		pthread_mutex_lock(&p->mu); /* the one before is not made yet */
		p->rep->resent++;
		if (p->sent > p->hold)
			p->hold = p->sent;
		pthread_mutex_unlock(&p->mu);
		if (!wait_made(p, i))
			return 1;
	}
}

static void *pipeline_sender(void *arg)
{
	struct pipeline *p = arg;
	struct etcd_op *ops = rv_xcalloc(p->pt->max_ops ? p->pt->max_ops : 1, sizeof *ops);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		if (p->err || p->next == p->n_revs) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		size_t i = p->next++;
		pthread_mutex_unlock(&p->mu);
		bool wrong = false;
		int r = send_revision(p, i, ops, &wrong);
		pthread_mutex_lock(&p->mu);
		if (r < 0 && !p->err) {
			p->err = r;
			p->wrong_data = wrong;
			snprintf(p->msg, sizeof p->msg, "%s", rv_errmsg(r));
		} else if (r == 0) {
			p->done[i] = true;
			while (p->made < p->n_revs && p->done[p->made])
				p->made++;
			rv_test_point("replayed-revision"); /* under the lock: a pause slows every sender */
		}
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		rv_err_clear();
	}
	free(ops);
	return NULL;
}

/* Revisions [0, n) of revs in flight; the leases renewed meanwhile. *made: how many
 * are in the cluster (the first ones). < 0 only when one was not made as the
 * original's; a failed call ends it early with 0 (the caller goes on from *made). */
static int replay_pipelined(etcd_client *c, const struct rs_point *pt, const struct rev_span *revs, size_t n,
			    struct leases *l, struct restore_point_report *rep, size_t *made)
{
	struct pipeline p = {.c = c, .pt = pt, .revs = revs, .n_revs = n, .l = l, .rep = rep};
	pthread_t th[RS_REPLAY_IN_FLIGHT];
	size_t n_th = 0;
	int r = 0;
	p.done = rv_xcalloc(n, sizeof *p.done);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	for (; n_th < RS_REPLAY_IN_FLIGHT && n_th < n; n_th++)
		if (pthread_create(&th[n_th], NULL, pipeline_sender, &p) != 0)
			break;
	pthread_mutex_lock(&p.mu);
	while (n_th > 0 && !p.err && p.made < n) {
		pthread_mutex_unlock(&p.mu);
		if ((r = keep_alive(c, l, false)) < 0) {
			pthread_mutex_lock(&p.mu);
			if (!p.err) {
				p.err = r;
				p.wrong_data = true; /* a lease may expire: not safe to go on */
				snprintf(p.msg, sizeof p.msg, "%s", rv_errmsg(r));
			}
			pthread_cond_broadcast(&p.cv);
			break;
		}
		pthread_mutex_lock(&p.mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!p.err && p.made < n)
			pthread_cond_timedwait(&p.cv, &p.mu, &until);
	}
	pthread_mutex_unlock(&p.mu);
	for (size_t t = 0; t < n_th; t++)
		pthread_join(th[t], NULL);
	*made = p.made;
	r = p.err && p.wrong_data ? rv_fail(p.err, "%s", p.msg) : 0;
	if (p.err && !p.wrong_data)
		rv_warn("replaying with several revisions in flight stopped at revision %zu of %zu (%s); going on one at a "
			"time", p.made, n, p.msg);
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	free(p.done);
	return r;
}

static int bump_revision(etcd_client *c, int64_t bump, struct leases *l, struct restore_point_report *rep)
{
	const char *k = RS_BUMP_KEY;
	int64_t deleted = 0;
	struct etcd_header h = {0};
	int r = 0;
	for (int64_t i = 0; i + 1 < bump && r == 0; i++)
		if ((r = keep_alive(c, l, false)) == 0)
			r = etcd_put(c, k, strlen(k), "", 0, 0, &h);
	if (r == 0)
		r = etcd_delete_range(c, k, strlen(k), NULL, 0, &deleted);
	if (r < 0)
		return rv_fail_wrap(r, "cannot advance the revision after the replay");
	struct etcd_status st;
	if ((r = etcd_status(c, ETCD_ANY, &st)) < 0)
		return r;
	rep->bumped_to = st.hdr.revision;
	return 0;
}

int rs_replay(etcd_client *c, const struct rs_point *pt, int64_t bump, struct restore_point_report *rep)
{
	struct leases l = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct etcd_status st;
	struct etcd_op *ops = NULL;
	struct rev_span *revs = NULL;
	double t0 = rv_now_mono();
	size_t i = 0;
	int r;

	rep->revision = pt->revision;
	rep->unix_ms = pt->unix_ms;
	rep->segments = pt->n_segs;
	if ((r = etcd_status(c, ETCD_ANY, &st)) < 0)
		return rv_fail_wrap(r, "cannot read the restored db's revision");
	rep->db_revision = st.hdr.revision;
	if (st.hdr.revision > pt->revision)
		return rv_fail(-ERANGE, "the base %s already holds revision %" PRId64 ", past the point %" PRId64
			       "; choose a later point", pt->artifact, st.hdr.revision, pt->revision);
	/* The keys' leases: only those with keys can delete anything by expiring. */
	struct etcd_range_req all = {.key = "\0", .key_len = 1, .range_end = "\0", .range_end_len = 1, .keys_only = true};
	if ((r = etcd_range_each(c, ETCD_ANY, &all, 1000, note_lease, &l, NULL)) < 0) {
		r = rv_fail_wrap(r, "cannot read the restored keys' leases");
		goto out;
	}
	rep->leases_kept = l.n;
	if ((r = keep_alive(c, &l, true)) < 0)
		goto out;
	while (i < pt->n_ev && pt->ev[i]->revision <= st.hdr.revision)
		i++; /* the db holds these already (its manifest's revision was read before it) */
	if (i < pt->n_ev && pt->ev[i]->revision != st.hdr.revision + 1) {
		r = rv_fail(-EBADMSG, "the segments of chain %s go on at revision %" PRId64 ", but the restored db ends at "
			    "revision %" PRId64 "; nothing reaches the revisions between", pt->chain, pt->ev[i]->revision,
			    st.hdr.revision);
		goto out;
	}
	ops = rv_xcalloc(pt->max_ops ? pt->max_ops : 1, sizeof *ops);
	rv_info("replaying %zu events of chain %s from revision %" PRId64 " to %" PRId64, pt->n_ev - i, pt->chain,
		st.hdr.revision + 1, pt->revision);
	/* the revisions, then as many as can go in flight, then one at a time from
	 * wherever that stopped */
	size_t n_revs = 0, made = 0;
	for (size_t k = i; k < pt->n_ev;) {
		size_t j = k + 1;
		while (j < pt->n_ev && pt->ev[j]->revision == pt->ev[k]->revision)
			j++;
		if (n_revs % 1024 == 0)
			revs = rv_xrealloc(revs, (n_revs + 1024) * sizeof *revs);
		revs[n_revs++] = (struct rev_span){k, j};
		k = j;
	}
	if (n_revs > 1 && (r = replay_pipelined(c, pt, revs, n_revs, &l, rep, &made)) < 0)
		goto out;
	for (size_t k = 0; k < made; k++) {
		rep->events += revs[k].to - revs[k].from;
		rep->revisions++;
	}
	if (n_revs > 1 && made < n_revs) { /* where the cluster is now: a call that failed may have been made */
		if ((r = etcd_status(c, ETCD_ANY, &st)) < 0) {
			r = rv_fail_wrap(r, "cannot read the restored cluster's revision during the replay");
			goto out;
		}
		while (made < n_revs && pt->ev[revs[made].from]->revision <= st.hdr.revision) {
			rep->events += revs[made].to - revs[made].from;
			rep->revisions++;
			made++;
		}
	}
	for (size_t k = made; k < n_revs; k++) {
		if ((r = keep_alive(c, &l, false)) < 0 ||
		    (r = replay_revision(c, pt, revs[k].from, revs[k].to, ops, &l, rep)) < 0)
			goto out;
		rep->events += revs[k].to - revs[k].from;
		rep->revisions++;
		rv_test_point("replayed-revision");
	}
	if (bump > 0 && (r = bump_revision(c, bump, &l, rep)) < 0)
		goto out;
	rep->seconds = rv_now_mono() - t0;
	rep->rate = rep->seconds > 0 ? (double)rep->events / rep->seconds : 0;
out:
	if (l.ka)
		etcd_keepalive_close(l.ka);
	free(l.v);
	free(ops);
	free(revs);
	pthread_mutex_destroy(&l.mu);
	return r;
}

static bool loopback_port_taken(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool taken = bind(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno == EADDRINUSE;
	close(fd);
	return taken;
}

/* The quarantine URL (restore_quarantine_url); on a loopback member whose port + 10000
 * is taken (the kernel's range for outgoing connections starts at 32768), a free
 * port instead: the quarantined members are only reached through this process. */
static int url_port(const char *url)
{
	const char *colon = strrchr(url, ':');
	return colon ? atoi(colon + 1) : 0;
}

/* A port free now that a member will bind: a quarantine URL chosen before (urls[0,
 * n)), or a member's own client or peer port (stopped during the restore). */
static bool port_planned(int port, const struct cluster_spec *cs, char (*urls)[512], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (url_port(urls[i]) == port)
			return true;
	for (size_t i = 0; i < cs->n_members; i++)
		if (url_port(cs->members[i].client_url) == port || url_port(cs->members[i].peer_url) == port)
			return true;
	return false;
}

/* urls[idx] from restore_quarantine_url, unless that port is taken or planned. */
static void quarantine_url(const struct cluster_spec *cs, char (*urls)[512], size_t idx)
{
	char *out = urls[idx];
	restore_quarantine_url(cs->members[idx].client_url, out, sizeof urls[idx]);
	const char *colon = strrchr(out, ':');
	int port = url_port(out), other;
	bool loopback = strstr(out, "://127.0.0.1:") || strstr(out, "://localhost:");
	if (!loopback || port <= 0 || (!loopback_port_taken(port) && !port_planned(port, cs, urls, idx)))
		return;
	for (int tries = 0; tries < 50; tries++) {
		if (rv_free_port(&other) < 0)
			return;
		if (port_planned(other, cs, urls, idx))
			continue; /* free now, but a member's soon */
		char base[512];
		snprintf(base, sizeof base, "%.*s", (int)(colon - out), out);
		snprintf(out, sizeof urls[idx], "%s:%d", base, other);
		return;
	}
}

int rs_replay_quarantined(const struct cluster_spec *cs, const struct rs_point *pt, int64_t bump, int wait_ms,
			  struct restore_point_report *rep)
{
	struct cluster_spec q = *cs;
	char (*urls)[512] = rv_xcalloc(cs->n_members, sizeof *urls);
	char flags[2][64];
	etcd_client *c = NULL;
	int r = 0;

	q.members = rv_xcalloc(cs->n_members, sizeof *q.members);
	memcpy(q.members, cs->members, cs->n_members * sizeof *q.members);
	for (size_t i = 0; i < cs->n_members; i++) {
		quarantine_url(cs, urls, i);
		q.members[i].client_url = urls[i];
	}
	rs_replay_flags(&cs->etcd, pt, &q.etcd, flags);
	rv_info("starting the restored members quarantined (client URLs moved, e.g. %s) to replay up to revision %" PRId64,
		urls[0], pt->revision);
	for (size_t i = 0; i < q.n_members && r == 0; i++)
		if (!rs_member_running(&q, i))
			r = rs_member_start(&q, i);
	if (r == 0)
		r = cluster_wait_healthy(&q, wait_ms, NULL);
	if (r == 0)
		r = cluster_client_new(&q, RS_REPLAY_TXN_TIMEOUT_MS, &c);
	if (r == 0)
		r = rs_replay(c, pt, bump, rep);
	etcd_client_free(c);
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", r < 0 ? rv_errmsg(r) : "");
	int s = rs_stop_all(&q); /* the next step starts them on their own URLs */
	if (r == 0 && s < 0)
		r = s;
	else if (r < 0)
		r = rv_fail(r, "%s", msg); /* the stop's messages are not the cause */
	free(q.etcd.extra_args);
	free(q.members);
	free(urls);
	return r;
}
