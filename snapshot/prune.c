/* prune.c - snapshot prune: retention.c decides over the artifacts, and each
 * decision carries the artifact's chain (continuous backup's segments), which is
 * kept or removed with it as a whole. A chain's segments are removed before its
 * base and newest first, so a prune cut short leaves a base with a shorter chain
 * and no hole, never a segment without its base. Segments whose base is not in the
 * store at all (the recorder may publish one more segment of a chain for a moment
 * after a prune removed its base) are removed as a chain of their own. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

/* The chain name of artifact `name`: the name without its suffix. */
static void chain_of(const char *name, char *chain, size_t len)
{
	snprintf(chain, len, "%.*s", (int)(strlen(name) - snap_suffix_len(name)), name);
}

static void count_chain(const struct seg_info *segs, size_t s0, size_t cnt, struct prune_decision *d)
{
	d->segments = cnt;
	for (size_t i = s0; i < s0 + cnt; i++) {
		d->segment_bytes += segs[i].size;
		if (segs[i].last > d->segments_last_revision)
			d->segments_last_revision = segs[i].last;
	}
}

/* True when some object of the listing is the base of chain (an artifact of that
 * name, good or not: an unreadable base keeps its segments too). */
static bool has_base(const struct snap_info *v, size_t nv, const char *chain)
{
	for (size_t i = 0; i < nv; i++) {
		size_t sl = snap_suffix_len(v[i].name);
		if (sl && strlen(v[i].name) - sl == strlen(chain) && strncmp(v[i].name, chain, strlen(chain)) == 0)
			return true;
	}
	return false;
}

/* Remove the chain's index, then its segments, newest first (a chain cut short is
 * listed by prefix, without an index that would name segments gone). */
static int delete_chain(struct store *st, const char *chain, const struct seg_info *segs, size_t s0, size_t cnt)
{
	char idx[300];
	seg_index_name(chain, idx, sizeof idx);
	int d = store_delete(st, idx);
	if (d == -ENOENT)
		rv_err_clear();
	else if (d < 0)
		return d;
	for (size_t i = s0 + cnt; i > s0; i--) {
		int r = store_delete(st, segs[i - 1].name);
		if (r == -ENOENT) {
			rv_err_clear(); /* gone already: what we wanted */
			continue;
		}
		if (r < 0)
			return r;
		rv_test_point("prune-segment");
	}
	return 0;
}

int snap_prune(struct store *st, const struct retention_policy *p, bool dry_run, struct prune_decision **out,
	       size_t *n)
{
	struct snap_info *v;
	struct seg_info *segs = NULL;
	struct retention_item *items;
	struct prune_decision *d;
	size_t nv, ns = 0, cnt = 0, norphan = 0;
	int r = snap_list(st, &v, &nv);

	if (r < 0)
		return r;
	if ((r = seg_list(st, &segs, &ns)) < 0) {
		free(v);
		return r;
	}
	items = rv_xcalloc(nv ? nv : 1, sizeof *items);
	for (size_t i = 0; i < nv; i++) {
		if (!snap_is_artifact_name(v[i].name))
			continue; /* foreign files are not prune's business */
		items[cnt].name = v[i].name;
		items[cnt].created = v[i].created;
		items[cnt].good = !v[i].foreign;
		items[cnt].tagged = !v[i].foreign && v[i].m.tag[0];
		cnt++;
	}
	/* room for a decision per chain whose base is gone */
	for (size_t i = 0; i < ns; i++)
		if (i == 0 || strcmp(segs[i].chain, segs[i - 1].chain) != 0)
			norphan += !has_base(v, nv, segs[i].chain);
	d = rv_xcalloc(cnt + norphan ? cnt + norphan : 1, sizeof *d);
	snap_retention_decide(p, items, cnt, d);
	for (size_t i = 0; i < cnt; i++) {
		char chain[256];
		size_t s0, c;
		chain_of(d[i].name, chain, sizeof chain);
		seg_chain_range(segs, ns, chain, &s0, &c);
		count_chain(segs, s0, c, &d[i]);
	}
	size_t k = cnt;
	for (size_t i = 0; i < ns; i++) {
		if ((i > 0 && strcmp(segs[i].chain, segs[i - 1].chain) == 0) || has_base(v, nv, segs[i].chain))
			continue;
		size_t s0, c;
		struct prune_decision *o = &d[k++];
		snprintf(o->name, sizeof o->name, "%s", segs[i].chain);
		snprintf(o->reason, sizeof o->reason, "segments whose base artifact is no longer in the store");
		o->base_missing = true;
		seg_chain_range(segs, ns, segs[i].chain, &s0, &c);
		count_chain(segs, s0, c, o);
	}
	for (size_t i = 0; i < k && !dry_run; i++) {
		char chain[256];
		size_t s0, c;
		if (d[i].keep)
			continue;
		if (d[i].base_missing)
			snprintf(chain, sizeof chain, "%s", d[i].name);
		else
			chain_of(d[i].name, chain, sizeof chain);
		seg_chain_range(segs, ns, chain, &s0, &c);
		r = delete_chain(st, chain, segs, s0, c);
		if (r == 0 && !d[i].base_missing)
			r = snap_delete(st, d[i].name);
		if (r < 0) {
			r = rv_fail_wrap(r, "prune stopped");
			break;
		}
	}
	free(items);
	free(segs);
	free(v);
	if (r < 0) {
		free(d);
		return r;
	}
	*out = d;
	*n = k;
	return 0;
}
