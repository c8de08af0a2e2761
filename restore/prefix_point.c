/* prefix_point.c - the keys under one prefix at a point of continuous backup: the
 * point's base artifact read in place (prefix_keys.c), then the chain's events under
 * the prefix up to the point laid over it, the last event of each key winning. The
 * segments are chosen, read and checked by point.c, as for a full restore. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore/restore_impl.h"

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int c = n ? memcmp(a, b, n) : 0;
	return c ? c : an < bn ? -1 : an > bn;
}

/* Events of one key in the order they happened: by key, then by revision (a key has
 * at most one event per revision). */
static int by_key_then_revision(const void *x, const void *y)
{
	const struct seg_event *a = *(const struct seg_event *const *)x, *b = *(const struct seg_event *const *)y;
	int c = bytes_cmp(a->key, a->key_len, b->key, b->key_len);
	return c ? c : a->revision < b->revision ? -1 : a->revision > b->revision;
}

static struct snap_db_kv kv_of_event(const struct seg_event *e)
{
	return (struct snap_db_kv){.key = e->key, .key_len = e->key_len, .value = e->value, .value_len = e->value_len,
				   .create_revision = e->create_revision, .mod_revision = e->revision,
				   .version = e->version, .lease = e->lease};
}

/* base (sorted) with the last event of each key (last[], sorted by key) laid over it. */
static void overlay(struct prefix_keys *out, const struct seg_event **last, size_t n_last)
{
	struct snap_db_kv *kvs = rv_xcalloc(out->n + n_last + 1, sizeof *kvs);
	size_t i = 0, j = 0, n = 0;
	while (i < out->n || j < n_last) {
		int c = i == out->n   ? 1
			: j == n_last ? -1
				      : bytes_cmp(out->kvs[i].key, out->kvs[i].key_len, last[j]->key, last[j]->key_len);
		if (c < 0) {
			kvs[n++] = out->kvs[i++];
			continue;
		}
		if (c == 0)
			i++; /* the event replaces the base's key */
		if (last[j]->type == SEG_PUT)
			kvs[n++] = kv_of_event(last[j]);
		j++;
	}
	free(out->kvs);
	out->kvs = kvs;
	out->n = n;
}

static int apply_events(struct prefix_keys *out, const char *prefix, size_t len)
{
	const struct rs_point *pt = out->point;
	const struct seg_event **mine = rv_xcalloc(pt->n_ev + 1, sizeof *mine);
	size_t n = 0, n_last = 0;
	for (size_t i = 0; i < pt->n_ev; i++) {
		const struct seg_event *e = pt->ev[i];
		if (e->revision <= out->revision)
			continue; /* already in the base's db */
		if (e->key_len >= len && (len == 0 || memcmp(e->key, prefix, len) == 0))
			mine[n++] = e;
	}
	out->events = n;
	qsort(mine, n, sizeof *mine, by_key_then_revision);
	for (size_t i = 0; i < n; i++) /* keep each key's last event, in place */
		if (i + 1 == n || bytes_cmp(mine[i]->key, mine[i]->key_len, mine[i + 1]->key, mine[i + 1]->key_len) != 0)
			mine[n_last++] = mine[i];
	overlay(out, mine, n_last);
	free(mine);
	return 0;
}

int prefix_keys_point(struct store *st, const struct restore_point_req *q, const char *tmp_dir, const char *prefix,
		      size_t len, const struct rv_cancel *cancel, struct prefix_keys *out)
{
	struct rs_point *pt = rv_xcalloc(1, sizeof *pt);
	char t[21];
	int r = rs_point_resolve(st, q, pt);
	if (r < 0) {
		free(pt);
		memset(out, 0, sizeof *out);
		out->kind = "point";
		return r;
	}
	if ((r = prefix_keys_artifact(st, pt->artifact, tmp_dir, prefix, len, cancel, out)) < 0) {
		rs_point_free(pt);
		free(pt);
		out->kind = "point";
		return r;
	}
	out->point = pt;
	out->kind = "point";
	if (pt->revision < out->revision) {
		/* the db holds more than its manifest says: a point inside it cannot be read */
		r = rv_fail(-ERANGE, "artifact %s holds revision %" PRId64 ", past the point's revision %" PRId64
			    "; choose a point at or after it", pt->artifact, out->revision, pt->revision);
		prefix_keys_free(out);
		return r;
	}
	apply_events(out, prefix, len);
	out->revision = pt->revision;
	out->unix_ms = pt->unix_ms;
	snprintf(out->chain, sizeof out->chain, "%s", pt->chain);
	rv_utc_rfc3339(pt->unix_ms / 1000, t);
	snprintf(out->what, sizeof out->what, "revision %" PRId64 " (recorded %.19s.%03dZ; artifact %s and %zu events of its chain)",
		 pt->revision, t, (int)(pt->unix_ms % 1000), pt->artifact, out->events);
	return 0;
}
