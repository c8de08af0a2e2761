/* report_snapshot.c - the reports of the snapshot commands as JSON: save, list,
 * verify, fetch, delete and prune. */
#include <stdio.h>

#include "scheduler/scheduler.h"

json_t *report_snapshot_save_json(const struct snap_info *si)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(si->name));
	if (si->foreign) {
		json_object_set_new(o, "size", json_integer((json_int_t)si->size));
		json_object_set_new(o, "foreign", json_true());
		json_object_set_new(o, "problem", json_string(si->problem));
		return o;
	}
	json_object_set_new(o, "revision", json_integer(si->m.revision));
	json_object_set_new(o, "db_size", json_integer(si->m.db_size));
	json_object_set_new(o, "size", json_integer((json_int_t)si->size));
	json_object_set_new(o, "sha256", si->m.sha256[0] ? json_string(si->m.sha256) : json_null());
	json_object_set_new(o, "created_at", json_string(si->m.created_at));
	json_object_set_new(o, "source_member", json_string(si->m.member_name));
	json_object_set_new(o, "tag", si->m.tag[0] ? json_string(si->m.tag) : json_null());
	json_object_set_new(o, "quorum", si->m.quorum < 0 ? json_null() : json_boolean(si->m.quorum));
	json_object_set_new(o, "cluster_name", json_string(si->m.cluster_name));
	{
		char id[17];
		snprintf(id, sizeof id, "%016llx", (unsigned long long)si->m.cluster_id);
		json_object_set_new(o, "cluster_id", json_string(id));
	}
	json_object_set_new(o, "etcd_version", json_string(si->m.etcd_version));
	json_object_set_new(o, "raft_term", json_integer((json_int_t)si->m.raft_term));
	json_object_set_new(o, "raft_index", json_integer((json_int_t)si->m.raft_index));
	json_object_set_new(o, "db_size_in_use", json_integer(si->m.db_size_in_use));
	json_object_set_new(o, "compression", json_string(si->m.compression));
	json_object_set_new(o, "duration_s", json_real(si->m.duration_s));
	json_object_set_new(o, "foreign", json_false());
	return o;
}

json_t *report_snapshot_list_json(const struct snap_info *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, report_snapshot_save_json(&v[i]));
	return a;
}

json_t *report_snapshot_verify_json(const struct snap_info *si, bool ok)
{
	json_t *o = ok ? report_snapshot_save_json(si) : json_object();
	if (!ok) {
		json_object_set_new(o, "name", json_string(si->name));
		json_object_set_new(o, "problem", json_string(si->problem));
	}
	json_object_set_new(o, "ok", json_boolean(ok));
	if (ok && rv_str_has_suffix(si->name, SNAP_SUFFIX_AGE))
		json_object_set_new(o, "checked", json_string(si->hash_only ? "file sha256 against the sidecar" : "end to end"));
	return o;
}

json_t *report_snapshot_fetch_json(const char *name, const char *file, const struct snap_manifest *m)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "file", json_string(file));
	json_object_set_new(o, "revision", json_integer(m->revision));
	json_object_set_new(o, "db_size", json_integer(m->db_size));
	json_object_set_new(o, "sha256", json_string(m->sha256));
	return o;
}

json_t *report_snapshot_delete_json(const char *name)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "deleted", json_true());
	return o;
}

json_t *report_prune_json(const struct prune_decision *d, size_t n, bool dry_run)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_object();
		json_object_set_new(e, "name", json_string(d[i].name));
		json_object_set_new(e, "keep", json_boolean(d[i].keep));
		json_object_set_new(e, "reason", json_string(d[i].reason));
		json_object_set_new(e, "removed", json_boolean(!d[i].keep && !dry_run));
		/* the chain goes with its base (continuous backup) */
		json_object_set_new(e, "segments", json_integer((json_int_t)d[i].segments));
		json_object_set_new(e, "segment_bytes", json_integer((json_int_t)d[i].segment_bytes));
		if (d[i].segments)
			json_object_set_new(e, "segments_last_revision", json_integer(d[i].segments_last_revision));
		json_object_set_new(e, "base_missing", json_boolean(d[i].base_missing));
		json_array_append_new(a, e);
	}
	return a;
}
