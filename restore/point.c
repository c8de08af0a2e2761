/* point.c - which base and which events a restore to a point replays: the newest
 * base artifact at or before the point whose chain reaches it, and that chain's
 * events from the base's revision + 1 to the point, one per revision (segments may
 * overlap, and must agree where they do), every segment read and checked (sha256, no
 * hole) before anything stops. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore/restore_impl.h"

/* The one place segments are read: an encrypted one with the store's identity. */
static int read_segment(struct store *st, const char *name, struct seg_contents *out)
{
	const struct age_keys *keys = NULL;
	int r = store_read_keys(st, &keys);
	if (r < 0)
		return r;
	return seg_read(st, name, keys, out);
}

/* When the artifact was taken, in ms: from its name (<cluster>-<YYYYMMDDTHHMMSS.mmmZ>-r...),
 * else its manifest's second. */
static int64_t artifact_ms(const struct snap_info *a)
{
	const char *z = strstr(a->name, "Z-r");
	int64_t s;
	if (z && z - a->name >= 19 && z[-4] == '.') {
		char compact[17];
		const char *t = z - 19;
		snprintf(compact, sizeof compact, "%.15sZ", t);
		if (rv_parse_utc_compact(compact, &s) == 0)
			return s * 1000 + strtol(z - 3, NULL, 10);
	}
	return a->created * 1000;
}

static void fmt_ms(int64_t ms, char *out, size_t len)
{
	char t[21];
	rv_utc_rfc3339(ms / 1000, t);
	snprintf(out, len, "%.19s.%03dZ", t, (int)(ms % 1000));
}

static int by_revision_desc(const void *a, const void *b)
{
	const struct snap_info *x = a, *y = b;
	return x->m.revision < y->m.revision ? 1 : x->m.revision > y->m.revision ? -1 : 0;
}

struct chain {
	const struct snap_info *base;
	char name[256];
	struct seg_info *segs; /* this chain's (seg_list_chain) */
	size_t n;
	int64_t reach, reach_ms;
	int hole; /* seg_chain_check's -EBADMSG (its sentence is lost once another is recorded) */
	char hole_msg[1024];
};

/* The chain of base artifact a: its own segments, from its index and the few after
 * it, not from a listing of the whole store. */
static int chain_of(struct store *st, const struct snap_info *a, struct chain *c)
{
	free(c->segs);
	memset(c, 0, sizeof *c);
	c->base = a;
	snprintf(c->name, sizeof c->name, "%.*s", (int)(strlen(a->name) - snap_suffix_len(a->name)), a->name);
	int r = seg_list_chain(st, c->name, &c->segs, &c->n);
	if (r < 0)
		return r;
	c->hole = seg_chain_check(NULL, c->segs, c->n, a->m.revision, false, NULL, &c->reach, &c->reach_ms, NULL);
	if (c->hole < 0)
		snprintf(c->hole_msg, sizeof c->hole_msg, "%s", rv_errmsg(c->hole));
	rv_err_clear();
	if (c->reach_ms == 0)
		c->reach_ms = artifact_ms(a);
	return 0;
}

/* Pick the chain and the point's revision (a time: its bound; the revision is found
 * while reading). */
static int choose(struct store *st, const struct restore_point_req *q, const struct snap_info *arts, size_t n_arts,
		  struct chain *c, size_t *n_segs)
{
	char t1[40], t2[40];
	const char *store = store_describe(st);
	int r;
	if (n_arts == 0)
		return rv_fail_advice(-ENOENT, RV_ADVICE_SNAPSHOT_SAVE, "store %s holds no snapshot yet", store);
	if (q->to == RESTORE_TO_LATEST) {
		if ((r = chain_of(st, &arts[0], c)) < 0)
			return r;
		*n_segs += c->n;
		if (c->hole < 0)
			return rv_fail(-EBADMSG, "cannot restore to the latest point: %s; restore to a revision before the hole",
				       c->hole_msg);
		return 0;
	}
	for (size_t i = 0; i < n_arts; i++) {
		bool before = q->to == RESTORE_TO_REVISION ? arts[i].m.revision <= q->revision
							   : artifact_ms(&arts[i]) <= q->unix_ms;
		if (!before)
			continue;
		if ((r = chain_of(st, &arts[i], c)) < 0)
			return r;
		*n_segs += c->n;
		bool reached = q->to == RESTORE_TO_REVISION ? q->revision <= c->reach : q->unix_ms <= c->reach_ms;
		if (reached)
			return 0;
		if (c->hole < 0)
			return rv_fail(-EBADMSG, "cannot restore to that point: %s", c->hole_msg);
		fmt_ms(c->reach_ms, t1, sizeof t1);
		if (q->to == RESTORE_TO_REVISION)
			return rv_fail(-ERANGE, "revision %" PRId64 " is past the reach of chain %s (revision %" PRId64
				       ", recorded %s); choose an earlier point, or the latest", q->revision, c->name,
				       c->reach, t1);
		fmt_ms(q->unix_ms, t2, sizeof t2);
		return rv_fail(-ERANGE, "%s is past the reach of chain %s (revision %" PRId64 ", recorded %s); choose an "
			       "earlier time, or the latest point", t2, c->name, c->reach, t1);
	}
	const struct snap_info *oldest = &arts[n_arts - 1];
	if (q->to == RESTORE_TO_REVISION)
		return rv_fail(-ERANGE, "revision %" PRId64 " is before the oldest base artifact %s (revision %" PRId64
			       "), so no chain reaches it; choose a later point", q->revision, oldest->name, oldest->m.revision);
	fmt_ms(q->unix_ms, t2, sizeof t2);
	fmt_ms(artifact_ms(oldest), t1, sizeof t1);
	return rv_fail(-ERANGE, "%s is before the oldest base artifact %s (taken %s), so no chain reaches it; choose a "
		       "later time", t2, oldest->name, t1);
}

static void take(struct rs_point *pt, const struct seg_event *e)
{
	if (pt->n_ev == pt->cap_ev) {
		pt->cap_ev = pt->cap_ev ? 2 * pt->cap_ev : 1024;
		pt->ev = rv_xrealloc(pt->ev, pt->cap_ev * sizeof *pt->ev);
	}
	pt->ev[pt->n_ev++] = e;
}

/* The events already taken at revision rev: [*at, *at + return). */
static size_t taken_at(const struct rs_point *pt, int64_t rev, size_t *at)
{
	size_t lo = 0, hi = pt->n_ev;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pt->ev[mid]->revision < rev)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < pt->n_ev && pt->ev[end]->revision == rev)
		end++;
	*at = lo;
	return end - lo;
}

/* Two recorders (a leader handover, a resumed daemon) wrote revisions of the chain
 * twice: the overlap must be the same history, event for event, or the chain is
 * not one history and no point in it can be trusted. */
static int differ(const struct seg_contents *c, int64_t rev)
{
	return rv_fail(-EBADMSG, "chain %s is not one history: segment %s (written by %s) has other events at revision %"
		       PRId64 " than an earlier segment of the chain; restore to a point before it, or from the full "
		       "artifact alone", c->info.chain, c->info.name, c->info.writer, rev);
}

/* e, the k-th event of its revision in c, against the k-th gathered at it. */
static int overlap_event(const struct rs_point *pt, const struct seg_contents *c, const struct seg_event *e,
			 int64_t *rev, size_t *k)
{
	size_t at;
	if (e->revision != *rev) {
		*rev = e->revision;
		*k = 0;
	}
	size_t n = taken_at(pt, e->revision, &at);
	if (*k >= n || !seg_event_same(pt->ev[at + *k], e))
		return differ(c, e->revision);
	(*k)++;
	return 0;
}

/* The overlap's last revision ended (k events): as many as gathered at it. */
static int overlap_end(const struct rs_point *pt, const struct seg_contents *c, int64_t rev, size_t k)
{
	size_t at;
	return rev && taken_at(pt, rev, &at) != k ? differ(c, rev) : 0;
}

/* Gather the events of one segment above done and within the point; cur_ops and
 * cur_bytes follow the revision being gathered; *past once past the point. Events
 * at or below done must agree with what was gathered (overlap_check). */
static int gather(struct rs_point *pt, const struct restore_point_req *q, const struct seg_contents *c,
		  int64_t done, int64_t limit, bool *past, size_t *cur_ops, uint64_t *cur_bytes)
{
	size_t ti = 0, k = 0;
	int64_t overlap_rev = 0;
	int r;
	for (size_t i = 0; i < c->n_events; i++) {
		const struct seg_event *e = &c->events[i];
		int64_t last = pt->n_ev ? pt->ev[pt->n_ev - 1]->revision : pt->base_revision;
		if (e->revision <= pt->base_revision)
			continue; /* in the base's db */
		if (e->revision <= done) {
			if ((r = overlap_event(pt, c, e, &overlap_rev, &k)) < 0)
				return r;
			continue;
		}
		if (overlap_rev) {
			if ((r = overlap_end(pt, c, overlap_rev, k)) < 0)
				return r;
			overlap_rev = 0;
		}
		if (e->revision > limit) {
			*past = true;
			return 0;
		}
		while (ti + 1 < c->n_times && c->times[ti].revision < e->revision)
			ti++;
		int64_t ms = ti < c->n_times && c->times[ti].revision == e->revision ? c->times[ti].unix_ms : 0;
		if (q->to == RESTORE_TO_TIME && ms > q->unix_ms) {
			*past = true;
			return 0;
		}
		if (e->revision != last && e->revision != last + 1)
			return rv_fail(-EBADMSG, "chain %s has a hole: segment %s goes on at revision %" PRId64
				       " after revision %" PRId64 "; a restore can reach revision %" PRId64 " at most",
				       c->info.chain, c->info.name, e->revision, last, last);
		if (e->revision != last) {
			*cur_ops = 0;
			*cur_bytes = 0;
			pt->revisions++;
		}
		(*cur_ops)++;
		*cur_bytes += e->key_len + e->value_len + 32;
		if (*cur_ops > pt->max_ops)
			pt->max_ops = *cur_ops;
		if (*cur_bytes > pt->max_bytes)
			pt->max_bytes = *cur_bytes;
		take(pt, e);
		pt->revision = e->revision;
		if (ms)
			pt->unix_ms = ms;
	}
	return overlap_end(pt, c, overlap_rev, k); /* a segment wholly inside the overlap */
}

/* Only on the way to a refusal: whether any chain at all was recorded (the whole
 * listing, which the chains themselves do without). */
static bool store_has_segments(struct store *st)
{
	struct seg_info *v = NULL;
	size_t n = 0;
	char keep[1024];
	snprintf(keep, sizeof keep, "%s", rv_errmsg(-EIO));
	int r = seg_list(st, &v, &n);
	free(v);
	if (r < 0)
		rv_fail(-EIO, "%s", keep); /* the refusal's sentence, not the listing's */
	return r < 0 || n > 0;
}

int rs_point_resolve(struct store *st, const struct restore_point_req *q, struct rs_point *pt)
{
	struct snap_info *list = NULL, *arts;
	size_t n = 0, n_arts = 0, n_segs = 0;
	struct chain c = {0};
	int r;

	memset(pt, 0, sizeof *pt);
	if ((r = snap_list(st, &list, &n)) < 0)
		return r;
	arts = rv_xcalloc(n ? n : 1, sizeof *arts);
	for (size_t i = 0; i < n; i++)
		if (!list[i].foreign && !list[i].problem[0])
			arts[n_arts++] = list[i];
	free(list);
	qsort(arts, n_arts, sizeof *arts, by_revision_desc);
	if ((r = choose(st, q, arts, n_arts, &c, &n_segs)) < 0) {
		if (r == -ERANGE && n_segs == 0 && !store_has_segments(st))
			r = rv_fail_advice(-ERANGE, RV_ADVICE_FROM_ARTIFACT,
					   "store %s holds no continuous backup (no segments), so no point past an "
					   "artifact's own revision can be reached; turn on daemon.continuous.enabled for "
					   "the future",
					   store_describe(st));
		goto out;
	}

	snprintf(pt->artifact, sizeof pt->artifact, "%s", c.base->name);
	snprintf(pt->chain, sizeof pt->chain, "%s", c.name);
	pt->base_revision = c.base->m.revision;
	pt->revision = pt->base_revision;
	pt->unix_ms = artifact_ms(c.base);
	int64_t limit = q->to == RESTORE_TO_REVISION ? q->revision : c.reach;
	int64_t done = pt->base_revision;
	size_t cur_ops = 0;
	uint64_t cur_bytes = 0;
	bool past = false;
	pt->segs = rv_xcalloc(c.n ? c.n : 1, sizeof *pt->segs);
	for (size_t i = 0; i < c.n && !past; i++) {
		const struct seg_info *s = &c.segs[i];
		/* one wholly inside what earlier segments gave is read too: it must agree */
		if (s->first > limit || (q->to == RESTORE_TO_TIME && s->first_ms > q->unix_ms))
			break;
		if ((r = read_segment(st, s->name, &pt->segs[pt->n_segs])) < 0) {
			r = rv_fail_wrap(r, "restore to a point refused before any member was stopped");
			goto out;
		}
		struct seg_contents *sc = &pt->segs[pt->n_segs++];
		if ((r = gather(pt, q, sc, done, limit, &past, &cur_ops, &cur_bytes)) < 0) {
			r = rv_fail_wrap(r, "restore to a point refused before any member was stopped");
			goto out;
		}
		if (pt->revision > done)
			done = pt->revision;
	}
	if (q->to == RESTORE_TO_REVISION && pt->revision != q->revision)
		r = rv_fail(-EBADMSG, "chain %s reaches revision %" PRId64 ", not %" PRId64 ", when its segments are read; "
			    "choose an earlier point", c.name, pt->revision, q->revision);
out:
	free(arts);
	free(c.segs);
	if (r < 0)
		rs_point_free(pt);
	return r;
}

void rs_point_free(struct rs_point *pt)
{
	for (size_t i = 0; i < pt->n_segs; i++)
		seg_contents_free(&pt->segs[i]);
	free(pt->segs);
	free(pt->ev);
	pt->segs = NULL;
	pt->ev = NULL;
	pt->n_segs = pt->n_ev = 0;
}
