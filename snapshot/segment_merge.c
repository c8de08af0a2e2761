/* segment_merge.c - segments merged as they age (continuous backup): the recorder
 * writes one small segment a second, so a day would be 86,400 objects. A pass takes
 * each chain's runs of small segments that lie wholly inside one closed window of
 * time (5 minutes, then an hour: windows aligned to the epoch, so the small ones nest
 * in the large) and join without a gap or an overlap, and publishes each run as one
 * segment of the same events and times; only then are the small ones deleted. A pass
 * cut short anywhere leaves either the small segments, or the merged one beside
 * some of them: the same events twice, which restore orders and checks (segments may
 * overlap and must agree). The next pass removes a segment that another of its chain
 * covers, after reading both and finding the same events at every revision. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

/* A merged segment stops growing at this many compressed bytes, and a segment this
 * large is left as it is (so a run split at the cap is not merged again and again). */
#define MERGE_TARGET_BYTES (4u << 20)
/* Nor does it take another segment once the builder (the events in memory,
 * uncompressed) holds this much: well-compressing events stay bounded in memory
 * (the daemon's RSS is measured: bench/continuous.sh). */
#define MERGE_MAX_RAW_BYTES (8u << 20)
/* Merges in one pass: a pass is bounded however far behind merging is. */
#define MERGES_PER_PASS 64

/* The first event of c at revision rev or after. */
static size_t first_at(const struct seg_contents *c, int64_t rev)
{
	size_t lo = 0, hi = c->n_events;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->events[mid].revision < rev)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Every revision of inner has the same events in outer, in the same order. */
static bool covered_by(const struct seg_contents *inner, const struct seg_contents *outer)
{
	size_t i = 0;
	while (i < inner->n_events) {
		int64_t rev = inner->events[i].revision;
		size_t j = first_at(outer, rev);
		while (i < inner->n_events && inner->events[i].revision == rev) {
			if (j >= outer->n_events || !seg_event_same(&inner->events[i], &outer->events[j]))
				return false;
			i++;
			j++;
		}
		if (j < outer->n_events && outer->events[j].revision == rev)
			return false; /* outer has more events at rev */
	}
	return true;
}

static int64_t time_of(const struct seg_contents *c, size_t *ti, int64_t rev)
{
	while (*ti + 1 < c->n_times && c->times[*ti].revision < rev)
		(*ti)++;
	return *ti < c->n_times && c->times[*ti].revision == rev ? c->times[*ti].unix_ms : 0;
}

struct pass {
	struct store *st;
	const struct age_keys *keys;
	const char *writer;
	int level;
	struct seg_merge_report *rep;
	size_t merges;
	/* uncompressed bytes per stored byte, from the segments read (0: none yet): the
	 * compressed budget that keeps a merge under MERGE_MAX_RAW_BYTES, so a segment
	 * merged up to that cap counts as large and is not read again pass after pass */
	double ratio;
};

/* The compressed size at which a segment is left as it is. */
static uint64_t large_bytes(const struct pass *p)
{
	uint64_t by_raw = p->ratio > 0 ? (uint64_t)(MERGE_MAX_RAW_BYTES / p->ratio) : MERGE_TARGET_BYTES;
	return by_raw < MERGE_TARGET_BYTES ? by_raw : MERGE_TARGET_BYTES;
}

/* Publish the first *n of segs[0..*n) (one chain, contiguous, in order; fewer when
 * the builder reaches MERGE_MAX_RAW_BYTES, *n says how many) as one segment, then
 * delete them. Nothing is deleted unless the merged one is published. 1: fewer than
 * two fit, nothing done. */
static int merge_run(struct pass *p, const struct seg_info *segs, size_t *n_io, struct seg_info *merged)
{
	struct seg_builder *b = NULL;
	char name[384];
	size_t n = 0;
	int r = 0;
	for (size_t i = 0; i < *n_io && r == 0; i++) {
		if (b && seg_builder_bytes(b) >= MERGE_MAX_RAW_BYTES)
			break;
		struct seg_contents c;
		if ((r = seg_read(p->st, segs[i].name, p->keys, &c)) < 0)
			break;
		if (!b)
			b = seg_builder_new(segs[i].chain, c.base_revision, p->writer);
		size_t before = seg_builder_bytes(b);
		size_t ti = 0;
		for (size_t k = 0; k < c.n_events && r == 0; k++) {
			int64_t ms = time_of(&c, &ti, c.events[k].revision);
			r = seg_builder_add(b, &c.events[k], ms ? ms : segs[i].last_ms);
		}
		seg_contents_free(&c);
		if (segs[i].size > 0 && seg_builder_bytes(b) > before) {
			double q = (double)(seg_builder_bytes(b) - before) / (double)segs[i].size;
			if (q > p->ratio)
				p->ratio = q; /* the most compressible seen: the safe side for memory */
		}
		n = i + 1;
	}
	*n_io = n;
	if (r == 0 && n < 2) {
		seg_builder_free(b);
		return 1;
	}
	if (r == 0)
		r = seg_builder_publish(b, p->st, p->level, name, sizeof name);
	seg_builder_free(b);
	if (r < 0)
		return rv_fail_wrap(r, "merging %zu segments of chain %s from revision %lld failed; they stay as they are",
				    *n_io, segs[0].chain, (long long)segs[0].first);
	if (seg_name_parse(name, merged) < 0)
		return rv_fail(-EINVAL, "the merged segment's name %s does not parse", name);
	struct store_object o;
	if (store_stat(p->st, name, &o) == 0) { /* its size, for the index */
		merged->size = o.size;
		free(o.name);
	}
	rv_err_clear();
	p->merges++;
	p->rep->merged++;
	p->rep->segments_in += n;
	for (size_t i = 0; i < n; i++) {
		int d = store_delete(p->st, segs[i].name);
		if (d < 0) /* covered by the merged one: the next pass removes it */
			return rv_fail_wrap(d, "segment %s was merged into %s but could not be deleted; the next pass "
					    "removes it", segs[i].name, name);
		p->rep->deleted++;
	}
	return 0;
}

/* Segments of the chain that another covers (the first of equal ones stays),
 * deleted once both were read and agree. keep[i] false for those deleted. */
static int drop_covered(struct pass *p, const struct seg_info *v, size_t n, bool *keep)
{
	struct seg_contents cover_c = {0};
	size_t cover = SIZE_MAX, cover_loaded = SIZE_MAX;
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		keep[i] = true;
		if (cover != SIZE_MAX && v[i].last <= v[cover].last) {
			struct seg_contents c;
			if (cover_loaded != cover) {
				seg_contents_free(&cover_c);
				memset(&cover_c, 0, sizeof cover_c);
				if ((r = seg_read(p->st, v[cover].name, p->keys, &cover_c)) < 0)
					break;
				cover_loaded = cover;
			}
			if ((r = seg_read(p->st, v[i].name, p->keys, &c)) < 0)
				break;
			bool agree = covered_by(&c, &cover_c);
			seg_contents_free(&c);
			if (!agree) /* restore refuses such a chain and says where; not merging's to decide */
				continue;
			if ((r = store_delete(p->st, v[i].name)) < 0)
				break;
			keep[i] = false;
			p->rep->deleted++;
			p->rep->covered++;
			continue;
		}
		if (cover == SIZE_MAX || v[i].last > v[cover].last)
			cover = i;
	}
	seg_contents_free(&cover_c);
	return r;
}

/* After a whole pass over the chain (live: what it holds now, by first revision):
 * the segments from the first on that join without a gap or an overlap and whose
 * largest window closed are settled, as merged as they will be and deleted only
 * with the chain, so its index names them. Rewritten only when that grows. */
static int index_settled(struct pass *p, const struct seg_info *live, size_t n, int64_t win, int64_t now_ms,
			 int64_t grace_ms)
{
	size_t k = 0;
	while (k < n && (live[k].last_ms / win + 1) * win + grace_ms <= now_ms &&
	       (k == 0 || live[k].first == live[k - 1].last + 1))
		k++;
	if (k == 0)
		return 0;
	struct seg_info *had = NULL;
	size_t n_had = 0;
	int r = seg_index_read(p->st, live[0].chain, &had, &n_had);
	bool same = r == 0 && n_had == k;
	for (size_t i = 0; same && i < k; i++)
		same = strcmp(had[i].name, live[i].name) == 0;
	free(had);
	rv_err_clear(); /* unreadable: written anew */
	if (same)
		return 0;
	if ((r = seg_index_write(p->st, live[0].chain, live, k)) == 0)
		p->rep->indexed++;
	return r;
}

/* By first revision; of those that start together the longest first, so that it is
 * the one that covers the others. */
static int by_first_longest(const void *a, const void *b)
{
	const struct seg_info *x = a, *y = b;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if (x->last != y->last)
		return x->last > y->last ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int merge_chain(struct pass *p, const struct seg_info *v, size_t n, const int64_t *windows, size_t n_windows,
		       int64_t now_ms, int64_t grace_ms)
{
	bool *keep = rv_xcalloc(n ? n : 1, sizeof *keep);
	struct seg_info *live = rv_xcalloc(n ? n : 1, sizeof *live);
	struct seg_info *sorted = rv_xcalloc(n ? n : 1, sizeof *sorted);
	size_t n_live = 0;
	memcpy(sorted, v, n * sizeof *v);
	qsort(sorted, n, sizeof *sorted, by_first_longest);
	int r = drop_covered(p, sorted, n, keep);
	for (size_t i = 0; i < n; i++)
		if (keep[i])
			live[n_live++] = sorted[i];
	free(sorted);
	for (size_t w = 0; w < n_windows && r == 0; w++) {
		int64_t win = windows[w];
		size_t i = 0;
		while (i < n_live && r == 0 && p->merges < MERGES_PER_PASS) {
			int64_t k = live[i].first_ms / win;
			bool closed = (k + 1) * win + grace_ms <= now_ms;
			uint64_t large = large_bytes(p);
			if (!closed || live[i].last_ms / win != k || live[i].size >= large) {
				i++;
				continue;
			}
			size_t j = i + 1;
			uint64_t bytes = live[i].size;
			while (j < n_live && live[j].first == live[j - 1].last + 1 && live[j].first_ms / win == k &&
			       live[j].last_ms / win == k && live[j].size < large && bytes < large) {
				bytes += live[j].size;
				j++;
			}
			struct seg_info merged;
			size_t used = j - i;
			if (used >= 2 && (r = merge_run(p, &live[i], &used, &merged)) == 0) {
				/* the merged one stands for the segments it took, also in the larger windows */
				live[i] = merged;
				memmove(&live[i + 1], &live[i + used], (n_live - i - used) * sizeof *live);
				n_live -= used - 1;
				i++;
				continue;
			}
			if (r == 1)
				r = 0;
			i += used ? used : 1;
		}
	}
	if (r == 0 && n_windows && p->merges < MERGES_PER_PASS)
		r = index_settled(p, live, n_live, windows[n_windows - 1], now_ms, grace_ms);
	free(keep);
	free(live);
	return r;
}

int seg_merge_pass(struct store *st, const int64_t *windows_ms, size_t n_windows, int64_t now_ms, int64_t grace_ms,
		   const char *writer, int level, struct seg_merge_report *rep)
{
	struct pass p = {.st = st, .writer = writer, .level = level, .rep = rep};
	struct seg_info *all = NULL;
	size_t n = 0, i = 0;
	int r, err = 0;

	p.ratio = rep->ratio;
	memset(rep, 0, sizeof *rep);
	if ((r = store_read_keys(st, &p.keys)) < 0)
		return r;
	if ((r = seg_list(st, &all, &n)) < 0)
		return r;
	while (i < n) {
		size_t start, count;
		seg_chain_range(all, n, all[i].chain, &start, &count); /* all[i] is of it: count >= 1 */
		bool readable = true;
		for (size_t k = start; k < start + count; k++)
			if (all[k].encrypted && !p.keys)
				readable = false;
		if (!readable) {
			rep->chains_unreadable++; /* encrypted, and no identity on this host */
		} else if ((r = merge_chain(&p, all + start, count, windows_ms, n_windows, now_ms, grace_ms)) < 0) {
			rep->errors++;
			err = r; /* the last one: its sentence is the one recorded */
		}
		i = start + count;
	}
	free(all);
	rep->ratio = p.ratio;
	return err;
}
