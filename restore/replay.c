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
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	size_t n = l->n;
	const int64_t *ids = l->v;
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
		if (!lease_has(l, e->lease)) {
			int64_t id = e->lease, ttl = 0;
			if ((r = etcd_lease_grant_id(c, RS_REPLAY_LEASE_TTL, &id, &ttl)) == 0) {
				lease_add(l, e->lease);
				rep->leases_granted++;
			}
		}
		if (r < 0)
			return rv_fail_wrap(r, "cannot grant lease %" PRIx64 " again for revision %" PRId64, e->lease, rev);
	}
	return 0;
}

/* A guard that revision rev is not made yet: its first put's key was last changed
 * before it. false when it only deletes (a key gone is gone before and after). */
static bool not_made_guard(const struct rs_point *pt, size_t from, size_t to, struct etcd_compare *cmp)
{
	for (size_t k = from; k < to; k++) {
		const struct seg_event *e = pt->ev[k];
		if (e->type == SEG_DELETE)
			continue;
		memset(cmp, 0, sizeof *cmp);
		cmp->key = e->key;
		cmp->key_len = e->key_len;
		cmp->target = ETCD_CMP_MOD;
		cmp->result = ETCD_CMP_LESS;
		cmp->number = e->revision;
		return true;
	}
	return false;
}

/* One original revision: events [from, to) in one Txn, which must make exactly it.
 * One at a time: several in flight reach etcd's apply in another order than sent
 * (gRPC writes them out together, etcd's handlers race), so each would need a guard
 * and most fail and go again; measured, one at a time was the faster
 * (bench/continuous.sh: 924 events/s against 808 to 895 with 2 to 16 in flight). */
static int replay_revision(etcd_client *c, const struct rs_point *pt, size_t from, size_t to, struct etcd_op *ops,
			   struct leases *l, struct restore_point_report *rep)
{
	int64_t rev = pt->ev[from]->revision;
	int r = revision_ops(c, pt, from, to, ops, l, rep);
	if (r < 0)
		return r;
	struct etcd_compare cmp;
	struct etcd_txn_req req = {.success = ops, .n_success = to - from};
	struct etcd_txn_resp resp;
	for (int attempt = 0;; attempt++) {
		if (rv_test_fail_once("replay-txn-unsent")) {
			r = rv_fail(-ETIMEDOUT, "Txn timed out (a test's fault, never sent)");
		} else {
			r = etcd_txn(c, &req, &resp);
			if (r == 0 && rv_test_fail_once("replay-txn-answer-lost")) {
				etcd_txn_resp_free(&resp);
				r = rv_fail(-ETIMEDOUT, "Txn timed out (a test's fault, made but its answer lost)");
			}
		}
		if (r == 0) {
			int64_t got = resp.hdr.revision;
			etcd_txn_resp_free(&resp);
			/* made by this Txn, or (a retry's guard failed) by the first try after all */
			if (got == rev)
				return 0;
			return rv_fail(-EIO, "replaying revision %" PRId64 " made revision %" PRId64 " in the restored "
				       "cluster; its data is not the original's", rev, got);
		}
		/* A Txn that timed out may have been applied, or still be: the revision says,
		 * and the retry is guarded so that it cannot be made twice. */
		struct etcd_status st;
		int s = etcd_status(c, ETCD_ANY, &st);
		if (s == 0 && st.hdr.revision == rev) {
			rv_err_clear();
			return 0;
		}
		if (attempt >= 2 || s < 0 || st.hdr.revision != rev - 1 || (r != -ETIMEDOUT && r != -EHOSTUNREACH))
			return rv_fail_wrap(r, "replaying revision %" PRId64, rev);
		if (not_made_guard(pt, from, to, &cmp)) {
			req.cmp = &cmp;
			req.n_cmp = 1;
		}
		rep->resent++;
		rv_err_clear();
	}
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

int rs_replay(etcd_client *c, const struct rs_point *pt, int64_t bump, const struct rv_cancel *cancel,
	      struct restore_point_report *rep)
{
	struct leases l = {0};
	struct etcd_status st;
	struct etcd_op *ops = NULL;
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
	for (size_t k = i; k < pt->n_ev;) {
		size_t j = k + 1;
		while (j < pt->n_ev && pt->ev[j]->revision == pt->ev[k]->revision)
			j++;
		if (rv_cancelled(cancel)) {
			r = rv_fail(-EINTR, "the replay was stopped at revision %" PRId64 " of %" PRId64,
				    pt->ev[k]->revision - 1, pt->revision);
			goto out;
		}
		if ((r = keep_alive(c, &l, false)) < 0 || (r = replay_revision(c, pt, k, j, ops, &l, rep)) < 0)
			goto out;
		rep->events += j - k;
		rep->revisions++;
		rv_test_point("replayed-revision");
		k = j;
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
	return r;
}
