/* report_prefix.c - `snapshot diff` and `restore --prefix` as JSON
 * (docs/reference/restore-prefix.md lists the keys). */
#include <stdio.h>
#include <stdlib.h>

#include "scheduler/scheduler.h"

static json_t *bytes_json(const uint8_t *p, size_t n, size_t max)
{
	size_t len = (max ? max : n) * 4 + 64;
	char *s = rv_xcalloc(1, len);
	json_t *j = json_string(prefix_printable(p, n, max, s, len));
	free(s);
	return j;
}

static json_t *side_json(const struct prefix_keys *k)
{
	json_t *o = json_object();
	json_object_set_new(o, "source", k->kind ? json_string(k->kind) : json_null());
	json_object_set_new(o, "artifact", k->artifact[0] ? json_string(k->artifact) : json_null());
	json_object_set_new(o, "revision", json_integer(k->revision));
	json_object_set_new(o, "keys", json_integer((json_int_t)k->n));
	if (k->chain[0]) { /* a point of continuous backup */
		char t[21], at[40];
		rv_utc_rfc3339(k->unix_ms / 1000, t);
		snprintf(at, sizeof at, "%.19s.%03dZ", t, (int)(k->unix_ms % 1000));
		json_object_set_new(o, "chain", json_string(k->chain));
		json_object_set_new(o, "recorded", json_string(at));
		json_object_set_new(o, "events", json_integer((json_int_t)k->events));
	}
	return o;
}

static json_t *kv_json(const struct snap_db_kv *kv)
{
	if (!kv)
		return json_null();
	json_t *o = json_object();
	json_object_set_new(o, "size", json_integer((json_int_t)kv->value_len));
	json_object_set_new(o, "mod_revision", json_integer(kv->mod_revision));
	json_object_set_new(o, "lease", json_integer(kv->lease));
	json_object_set_new(o, "value", bytes_json(kv->value, kv->value_len, PREFIX_VALUE_SHOWN));
	return o;
}

static json_t *changes_json(const struct prefix_diff *d, const char *a_name, const char *b_name)
{
	json_t *v = json_array();
	for (size_t i = 0; i < d->n; i++) {
		const struct prefix_change *c = &d->v[i];
		const struct snap_db_kv *any = c->a ? c->a : c->b;
		json_t *o = json_object();
		json_object_set_new(o, "key", bytes_json(any->key, any->key_len, 0));
		json_object_set_new(o, "change", json_string(prefix_change_name(c->kind)));
		json_object_set_new(o, a_name, kv_json(c->a));
		json_object_set_new(o, b_name, kv_json(c->b));
		json_array_append_new(v, o);
	}
	return v;
}

static json_t *counts_json(const struct prefix_diff *d)
{
	json_t *o = json_object();
	json_object_set_new(o, "added", json_integer((json_int_t)d->added));
	json_object_set_new(o, "removed", json_integer((json_int_t)d->removed));
	json_object_set_new(o, "changed", json_integer((json_int_t)d->changed));
	json_object_set_new(o, "unchanged", json_integer((json_int_t)d->unchanged));
	return o;
}

json_t *report_snapshot_diff_json(const char *prefix, const struct prefix_keys *a, const struct prefix_keys *b,
				  const struct prefix_diff *d)
{
	json_t *j = json_object();
	json_object_set_new(j, "prefix", json_string(prefix));
	json_object_set_new(j, "a", side_json(a));
	json_object_set_new(j, "b", side_json(b));
	json_object_set_new(j, "counts", counts_json(d));
	json_object_set_new(j, "changes", changes_json(d, "a", "b"));
	return j;
}

static const char *skip_reason(enum prefix_skip_reason r)
{
	return r == PREFIX_SKIP_LEASE ? "lease" : r == PREFIX_SKIP_LIVE_LEASE ? "live-lease" : "no-delete";
}

/* The action the restore takes for a change of source (a) against live (b). */
static const char *action_of(enum prefix_change_kind k)
{
	return k == PREFIX_ADDED ? "delete" : "put";
}

json_t *report_restore_prefix_json(const char *prefix, const struct prefix_keys *source,
				   const struct prefix_restore_report *rep, int r, bool dry_run)
{
	json_t *j = json_object(), *sk = json_array(), *cf = json_array();
	const char *result = r < 0 ? "failed" : dry_run ? "planned" : "restored";
	json_object_set_new(j, "result", json_string(result));
	json_object_set_new(j, "prefix", json_string(prefix));
	json_object_set_new(j, "source", side_json(source));
	json_object_set_new(j, "live_revision", rep->live_revision ? json_integer(rep->live_revision) : json_null());
	json_object_set_new(j, "put", json_integer((json_int_t)rep->put));
	json_object_set_new(j, "deleted", json_integer((json_int_t)rep->deleted));
	json_object_set_new(j, "unchanged", json_integer((json_int_t)rep->unchanged));
	json_object_set_new(j, "skipped", json_integer((json_int_t)rep->n_skipped));
	json_object_set_new(j, "conflicts", json_integer((json_int_t)rep->n_conflicts));
	json_object_set_new(j, "txns", json_integer((json_int_t)rep->txns));
	json_t *rr = json_object();
	json_object_set_new(rr, "first", rep->first_revision ? json_integer(rep->first_revision) : json_null());
	json_object_set_new(rr, "last", rep->last_revision ? json_integer(rep->last_revision) : json_null());
	json_object_set_new(j, "revision_range", rr);
	json_object_set_new(j, "seconds", json_real(rep->seconds));
	for (size_t i = 0; i < rep->n_skipped; i++) {
		const struct prefix_key_note *n = &rep->skipped[i];
		json_t *o = json_object();
		json_object_set_new(o, "key", bytes_json((const uint8_t *)n->key, n->key_len, 0));
		json_object_set_new(o, "action", json_string(action_of(n->kind)));
		json_object_set_new(o, "reason", json_string(skip_reason(n->reason)));
		json_object_set_new(o, "lease", json_integer(n->lease));
		json_array_append_new(sk, o);
	}
	json_object_set_new(j, "skipped_keys", sk);
	for (size_t i = 0; i < rep->n_conflicts; i++) {
		const struct prefix_key_note *n = &rep->conflicts[i];
		json_t *o = json_object();
		json_object_set_new(o, "key", bytes_json((const uint8_t *)n->key, n->key_len, 0));
		json_object_set_new(o, "action", json_string(action_of(n->kind)));
		json_object_set_new(o, "expected_mod_revision", json_integer(n->expected_mod));
		json_object_set_new(o, "found_mod_revision", json_integer(n->found_mod));
		json_object_set_new(o, "overwritten", json_boolean(n->overwritten));
		json_array_append_new(cf, o);
	}
	json_object_set_new(j, "conflict_keys", cf);
	json_object_set_new(j, "plan", counts_json(&rep->plan));
	json_object_set_new(j, "changes", changes_json(&rep->plan, "source", "live"));
	if (r < 0)
		json_object_set_new(j, "error", json_string(rv_errmsg(r)));
	return j;
}
