/* report_restore.c - the reports of restore, its cleanup and the drill as JSON, and
 * the drill's report file under <state_dir>/drills/. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/scheduler.h"

static json_t *phases_json(const struct restore_phases *ph)
{
	json_t *o = json_object();
	json_object_set_new(o, "fetch", json_real(ph->fetch));
	json_object_set_new(o, "verify", json_real(ph->verify));
	json_object_set_new(o, "restore", json_real(ph->restore));
	json_object_set_new(o, "stop", json_real(ph->stop));
	json_object_set_new(o, "start", json_real(ph->start));
	json_object_set_new(o, "check", json_real(ph->check));
	json_object_set_new(o, "total", json_real(ph->total));
	return o;
}

/* A restore or drill to a point: where it got and how fast; null when not one. */
static json_t *point_json(const struct restore_point_report *p)
{
	char t[21], when[32];
	if (!p->used)
		return json_null();
	json_t *o = json_object();
	rv_utc_rfc3339(p->unix_ms / 1000, t);
	snprintf(when, sizeof when, "%.19s.%03dZ", t, (int)(p->unix_ms % 1000));
	json_object_set_new(o, "chain", p->chain[0] ? json_string(p->chain) : json_null());
	json_object_set_new(o, "revision", p->revision ? json_integer(p->revision) : json_null());
	json_object_set_new(o, "time", p->revision && p->unix_ms ? json_string(when) : json_null());
	json_object_set_new(o, "db_revision", json_integer(p->db_revision));
	json_object_set_new(o, "segments", json_integer((json_int_t)p->segments));
	json_object_set_new(o, "events_replayed", json_integer((json_int_t)p->events));
	json_object_set_new(o, "revisions_replayed", json_integer((json_int_t)p->revisions));
	json_object_set_new(o, "replay_seconds", json_real(p->seconds));
	json_object_set_new(o, "replay_events_per_second", json_real(p->rate));
	json_object_set_new(o, "leases_kept", json_integer((json_int_t)p->leases_kept));
	json_object_set_new(o, "leases_granted", json_integer((json_int_t)p->leases_granted));
	json_object_set_new(o, "txns_resent", json_integer((json_int_t)p->resent));
	json_object_set_new(o, "bumped_to_revision", p->bumped_to ? json_integer(p->bumped_to) : json_null());
	/* etcd 3.4 cannot tell a watcher that the revisions it saw are gone. */
	json_object_set_new(o, "watchers_must_relist", json_true());
	return o;
}

static const char *result_of(const struct restore_report *rep, int r, bool dry_run)
{
	if (r == 0 && dry_run)
		return "planned";
	if (r == 0 && rep->done)
		return "restored";
	if (rep->rolled_back)
		return rep->rollback_ok ? "rolled-back" : "rollback-failed";
	return r == 0 ? "rolled-back" : "refused";
}

json_t *report_restore_json(const struct restore_report *rep, int r, bool dry_run)
{
	const struct restore_plan *p = &rep->plan;
	json_t *j = json_object(), *ms = json_array();
	char hash[16];
	json_object_set_new(j, "result", json_string(result_of(rep, r, dry_run)));
	json_object_set_new(j, "artifact", json_string(p->artifact));
	json_object_set_new(j, "store", p->store[0] ? json_string(p->store) : json_null());
	json_object_set_new(j, "snapshot_revision", json_integer(p->snapshot_revision));
	/* null when the members were not asked (a refusal before, a rollback, a resume) */
	json_object_set_new(j, "cluster_revision_before",
			    p->cluster_observed ? json_integer(p->cluster_revision) : json_null());
	json_object_set_new(j, "cluster_serving_before", p->cluster_observed ? json_boolean(p->cluster_serving) : json_null());
	json_object_set_new(j, "token", p->token[0] ? json_string(p->token) : json_null());
	json_object_set_new(j, "revision", rep->done ? json_integer(rep->revision) : json_null());
	json_object_set_new(j, "revision_now", rep->done ? json_integer(rep->revision_now) : json_null());
	snprintf(hash, sizeof hash, "%08x", rep->hash);
	json_object_set_new(j, "hashkv", rep->done ? json_string(hash) : json_null());
	json_object_set_new(j, "phases", phases_json(&rep->phases));
	if (rep->point.used)
		json_object_set_new(json_object_get(j, "phases"), "replay", json_real(rep->phases.replay));
	json_object_set_new(j, "point", point_json(&rep->point));
	for (size_t i = 0; i < p->n_members; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(p->members[i].name));
		json_object_set_new(o, "data_dir", json_string(p->members[i].data_dir));
		/* Where the old data dir is now, or in a dry run would be: never a path
		 * nothing was moved to. */
		const struct restore_member_plan *m = &p->members[i];
		bool kept = m->kept_aside || (dry_run && r == 0 && m->has_data);
		json_object_set_new(o, "old_data_dir", kept ? json_string(m->aside_dir) : json_null());
		json_array_append_new(ms, o);
	}
	json_object_set_new(j, "members", ms);
	json_object_set_new(j, "error", r < 0 ? json_string(rv_errmsg(r)) : json_null());
	json_object_set_new(j, "rollback", rep->rollback[0] ? json_string(rep->rollback) : json_null());
	return j;
}

json_t *report_restore_cleanup_json(const struct restore_leftover *v, size_t n, bool dry_run)
{
	json_t *j = json_object(), *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "path", json_string(v[i].path));
		json_object_set_new(o, "bytes", json_integer((json_int_t)v[i].bytes));
		json_array_append_new(a, o);
	}
	json_object_set_new(j, dry_run ? "would_remove" : "removed", a);
	return j;
}

/* The drill's reals were written with 6 significant digits before the reports had
 * one writer: rounded so here, they print as they did (values below 10^6). */
static json_t *real6(double v)
{
	char b[32];
	snprintf(b, sizeof b, "%.6g", v);
	return json_real(strtod(b, NULL));
}

json_t *report_drill_json(const struct drill_report *d)
{
	json_t *j = json_object(), *ph = json_object(), *rs = json_array();
	char hash[16];

	json_object_set_new(j, "artifact", json_string(d->artifact));
	json_object_set_new(j, "store", d->store[0] ? json_string(d->store) : json_null());
	json_object_set_new(j, "created_at", d->created_at[0] ? json_string(d->created_at) : json_null());
	json_object_set_new(j, "drilled_at", json_string(d->drilled_at));
	json_object_set_new(j, "recovery_point_s", d->age_s >= 0 ? real6(d->age_s) : json_null());
	json_object_set_new(j, "recovery_time_s", d->recovery_time_s >= 0 ? real6(d->recovery_time_s) : json_null());
	json_object_set_new(j, "snapshot_revision", json_integer(d->snapshot_revision));
	json_object_set_new(j, "revision", json_integer(d->revision));
	snprintf(hash, sizeof hash, "%08x", d->hash);
	json_object_set_new(j, "hashkv", d->revision ? json_string(hash) : json_null());
	json_object_set_new(j, "key_count", json_integer(d->key_count));
	json_object_set_new(j, "sample_keys_read", json_integer(d->sample_keys_read));
	json_object_set_new(ph, "fetch", real6(d->phases.fetch));
	json_object_set_new(ph, "verify", real6(d->phases.verify));
	json_object_set_new(ph, "restore", real6(d->phases.restore));
	json_object_set_new(ph, "start", real6(d->phases.start));
	json_object_set_new(ph, "check", real6(d->phases.check));
	json_object_set_new(ph, "total", real6(d->phases.total));
	if (d->point.used)
		json_object_set_new(ph, "replay", real6(d->phases.replay));
	json_object_set_new(j, "phases", ph);
	json_object_set_new(j, "point", point_json(&d->point));
	json_object_set_new(j, "result", json_string(d->passed ? "pass" : "fail"));
	json_object_set_new(j, "passed", json_boolean(d->passed));
	for (int i = 0; i < d->n_reasons; i++)
		json_array_append_new(rs, json_string(d->reasons[i]));
	json_object_set_new(j, "reasons", rs);
	if (d->report_path[0])
		json_object_set_new(j, "report", json_string(d->report_path));
	return j;
}

int report_drill_save(const char *state_dir, struct drill_report *d)
{
	char dir[PATH_MAX], stamp[17];
	int64_t when;
	int r;
	/* Named by the drill's start, as drilled_at says it. */
	if (rv_parse_rfc3339(d->drilled_at, &when) < 0)
		when = rv_now_unix();
	rv_utc_compact(when, stamp);
	snprintf(dir, sizeof dir, "%s/drills", state_dir);
	r = rv_mkdir_p(dir, 0700);
	if (r < 0)
		return rv_fail(r, "cannot create %s for the drill report: %s", dir, strerror(-r));
	snprintf(d->report_path, sizeof d->report_path, "%s/drill-%s.json", dir, stamp);
	for (int i = 2; rv_path_exists(d->report_path) && i < 100; i++)
		snprintf(d->report_path, sizeof d->report_path, "%s/drill-%s-%d.json", dir, stamp, i);
	json_t *j = report_drill_json(d);
	r = report_json_save(j, d->report_path);
	json_decref(j);
	return r;
}

/* The coordinated restore: the one-host report's fields, and one row a host. */
json_t *report_agent_restore_json(const struct agent_restore_report *rep, int r, bool dry_run)
{
	json_t *j = report_restore_json(&rep->r, r, dry_run), *hs = json_array();
	for (size_t i = 0; i < rep->n_hosts; i++) {
		const struct agent_restore_host *h = &rep->hosts[i];
		json_t *o = json_object();
		json_object_set_new(o, "member", json_string(h->member));
		json_object_set_new(o, "agent", h->agent[0] ? json_string(h->agent) : json_null());
		json_object_set_new(o, "phase", h->phase[0] ? json_string(h->phase) : json_null());
		json_object_set_new(o, "old_data_dir", h->old_data_dir[0] ? json_string(h->old_data_dir) : json_null());
		json_object_set_new(o, "error", h->error[0] ? json_string(h->error) : json_null());
		/* how the host got the artifact: fetched from its own store, or streamed */
		json_object_set_new(o, "artifact_source", h->artifact_source[0] ? json_string(h->artifact_source) : json_null());
		json_object_set_new(o, "artifact_bytes",
				    h->artifact_source[0] ? json_integer((json_int_t)h->artifact_bytes) : json_null());
		json_object_set_new(o, "artifact_seconds", h->artifact_source[0] ? json_real(h->artifact_seconds) : json_null());
		if (h->checked) { /* --dry-run */
			json_object_set_new(o, "could_prepare", json_boolean(h->could));
			json_object_set_new(o, "has_data", json_boolean(h->has_data));
			json_object_set_new(o, "disk_free_bytes", json_integer((json_int_t)h->disk_free_bytes));
			json_object_set_new(o, "need_bytes", json_integer((json_int_t)h->need_bytes));
			json_object_set_new(o, "tool", h->tool[0] ? json_string(h->tool) : json_null());
			json_object_set_new(o, "etcd_binary", h->etcd_binary[0] ? json_string(h->etcd_binary) : json_null());
		}
		json_array_append_new(hs, o);
	}
	json_object_set_new(j, "hosts", hs);
	return j;
}
