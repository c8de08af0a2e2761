/* report_maint.c - the reports of the maintenance commands as JSON: compact, defrag,
 * alarms, recover-space, hashcheck, diskcheck and perfcheck. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "scheduler/scheduler.h"

static json_t *json_id(uint64_t id)
{
	char b[17];
	snprintf(b, sizeof b, ETCD_ID_FMT, id);
	return json_string(b);
}

json_t *report_compact_json(const struct maint_compact_report *rep)
{
	json_t *root = json_object(), *members = json_array();
	json_object_set_new(root, "current_revision", json_integer(rep->current_revision));
	json_object_set_new(root, "revision", json_integer(rep->revision));
	json_object_set_new(root, "already_compacted", json_boolean(rep->already_compacted));
	json_object_set_new(root, "seconds", json_real(rep->seconds));
	for (size_t i = 0; i < rep->n; i++) {
		json_t *m = json_object();
		json_object_set_new(m, "name", json_string(rep->before[i].name));
		json_object_set_new(m, "db_size_before", json_integer(rep->before[i].db_size));
		json_object_set_new(m, "db_size_in_use_before", json_integer(rep->before[i].db_size_in_use));
		json_object_set_new(m, "db_size_after", json_integer(rep->after[i].db_size));
		json_object_set_new(m, "db_size_in_use_after", json_integer(rep->after[i].db_size_in_use));
		json_array_append_new(members, m);
	}
	json_object_set_new(root, "members", members);
	return root;
}

json_t *report_defrag_json(const struct maint_defrag_report *rep, const char *rule, const char *rule_from,
			   bool dry_run)
{
	json_t *root = json_object(), *members = json_array();
	json_object_set_new(root, "rule", json_string(rule));
	if (rule_from)
		json_object_set_new(root, "rule_from", json_string(rule_from));
	json_object_set_new(root, "dry_run", json_boolean(dry_run));
	json_object_set_new(root, "leader_before", json_string(rep->leader_before));
	json_object_set_new(root, "leader_moved_to", json_string(rep->leader_moved_to));
	json_object_set_new(root, "defragmented", json_integer((json_int_t)rep->n_defragmented));
	json_object_set_new(root, "skipped", json_integer((json_int_t)rep->n_skipped));
	json_object_set_new(root, "failed", json_integer((json_int_t)rep->n_failed));
	for (size_t i = 0; i < rep->n; i++) {
		const struct maint_defrag_member *m = &rep->members[i];
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(m->name));
		json_object_set_new(o, "endpoint", json_string(m->endpoint));
		json_object_set_new(o, "id", json_id(m->id));
		json_object_set_new(o, "leader", json_boolean(m->leader));
		json_object_set_new(o, "outcome", json_string(maint_defrag_outcome_name(m->outcome)));
		json_object_set_new(o, "db_size_before", json_integer(m->size_before));
		json_object_set_new(o, "db_size_in_use_before", json_integer(m->in_use_before));
		json_object_set_new(o, "db_size_after", json_integer(m->size_after));
		json_object_set_new(o, "db_size_in_use_after", json_integer(m->in_use_after));
		json_object_set_new(o, "started", json_real(m->started));
		json_object_set_new(o, "finished", json_real(m->finished));
		json_object_set_new(o, "seconds", json_real(m->seconds));
		json_object_set_new(o, "error", json_string(m->error));
		json_array_append_new(members, o);
	}
	json_object_set_new(root, "members", members);
	return root;
}

json_t *report_alarms_json(const struct maint_alarm_row *rows, size_t n, bool disarmed, size_t n_disarmed)
{
	json_t *root = json_object(), *members = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_object(), *list = json_array();
		json_object_set_new(m, "name", json_string(rows[i].name));
		json_object_set_new(m, "id", json_id(rows[i].id));
		json_object_set_new(m, "endpoint", json_string(rows[i].endpoint));
		if (rows[i].nospace)
			json_array_append_new(list, json_string("NOSPACE"));
		if (rows[i].corrupt)
			json_array_append_new(list, json_string("CORRUPT"));
		json_object_set_new(m, "alarms", list);
		json_array_append_new(members, m);
	}
	json_object_set_new(root, "members", members);
	if (disarmed)
		json_object_set_new(root, "disarmed", json_integer((json_int_t)n_disarmed));
	return root;
}

json_t *report_recover_space_json(const struct maint_recover_report *rep, bool ok)
{
	json_t *root = json_object(), *steps = json_array();
	json_object_set_new(root, "ok", json_boolean(ok));
	json_object_set_new(root, "nospace_before", json_boolean(rep->nospace_before));
	json_object_set_new(root, "disarmed", json_boolean(rep->disarmed));
	json_object_set_new(root, "quota_bytes", json_integer(rep->quota_bytes));
	json_object_set_new(root, "limit_bytes", json_integer(rep->limit_bytes));
	for (size_t i = 0; i < MAINT_RECOVER_STEPS; i++) {
		json_t *s = json_object();
		json_object_set_new(s, "step", json_string(rep->steps[i].name));
		json_object_set_new(s, "result",
				    json_string(!rep->steps[i].done ? "not-run" : rep->steps[i].ok ? "ok" : "failed"));
		json_object_set_new(s, "detail", json_string(rep->steps[i].detail));
		json_object_set_new(s, "seconds", json_real(rep->steps[i].seconds));
		json_array_append_new(steps, s);
	}
	json_object_set_new(root, "steps", steps);
	if (rep->defrag.n)
		json_object_set_new(root, "defrag", report_defrag_json(&rep->defrag, "true", NULL, false));
	return root;
}

json_t *report_hashcheck_json(const struct maint_hash_report *rep)
{
	json_t *root = json_object(), *members = json_array();
	json_object_set_new(root, "revision", json_integer(rep->revision));
	json_object_set_new(root, "consistent", json_boolean(rep->consistent));
	json_object_set_new(root, "complete", json_boolean(rep->complete));
	for (size_t i = 0; i < rep->n; i++) {
		const struct maint_hash_row *row = &rep->rows[i];
		json_t *m = json_object();
		char h[9];
		snprintf(h, sizeof h, "%08" PRIx32, row->hash);
		json_object_set_new(m, "name", json_string(row->name));
		json_object_set_new(m, "endpoint", json_string(row->endpoint));
		json_object_set_new(m, "hash", row->ok ? json_string(h) : json_null());
		json_object_set_new(m, "compact_revision", row->ok ? json_integer(row->compact_revision) : json_null());
		json_object_set_new(m, "agrees", json_boolean(row->agrees));
		json_object_set_new(m, "error", json_string(row->error));
		json_array_append_new(members, m);
	}
	json_object_set_new(root, "members", members);
	return root;
}

/* Microseconds to one decimal: more digits would only be noise. */
static json_t *json_us(double v)
{
	return json_real(round(v * 10) / 10);
}

static json_t *disk_json(const struct maint_diskcheck_result *d, const char *member)
{
	json_t *o = json_object();
	json_object_set_new(o, "dir", json_string(d->dir));
	if (member)
		json_object_set_new(o, "members", json_string(member));
	json_object_set_new(o, "writes", json_integer((json_int_t)d->writes));
	json_object_set_new(o, "iops", json_us(d->iops));
	json_object_set_new(o, "min_us", json_us(d->min_us));
	json_object_set_new(o, "p50_us", json_us(d->p50_us));
	json_object_set_new(o, "p90_us", json_us(d->p90_us));
	json_object_set_new(o, "p99_us", json_us(d->p99_us));
	json_object_set_new(o, "p999_us", json_us(d->p999_us));
	json_object_set_new(o, "max_us", json_us(d->max_us));
	json_object_set_new(o, "threshold_us", json_integer(d->threshold_us));
	json_object_set_new(o, "pass", json_boolean(d->pass));
	return o;
}

json_t *report_diskcheck_json(const struct maint_diskcheck_result *res, char *const *members, size_t n)
{
	size_t worst = 0;
	bool pass = true;
	for (size_t i = 0; i < n; i++) {
		pass = pass && res[i].pass;
		if (res[i].p99_us > res[worst].p99_us)
			worst = i;
	}
	json_t *root = disk_json(&res[worst], members ? members[worst] : NULL);
	json_t *all = json_array();
	json_object_set_new(root, "pass", json_boolean(pass));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(all, disk_json(&res[i], members ? members[i] : NULL));
	json_object_set_new(root, "results", all);
	return root;
}

json_t *report_perfcheck_json(const struct maint_perfcheck_result *res)
{
	json_t *root = json_object(), *checks = json_object();
	json_object_set_new(root, "load", json_string(res->load.name));
	json_object_set_new(root, "target_rate", json_integer(res->load.rate));
	json_object_set_new(root, "clients", json_integer(res->load.clients));
	json_object_set_new(root, "seconds", json_real(res->seconds));
	json_object_set_new(root, "requests", json_integer((json_int_t)res->requests));
	json_object_set_new(root, "errors", json_integer((json_int_t)res->errors));
	json_object_set_new(root, "throughput", json_real(res->throughput));
	json_object_set_new(root, "p50_ms", json_real(res->p50_ms));
	json_object_set_new(root, "p95_ms", json_real(res->p95_ms));
	json_object_set_new(root, "p99_ms", json_real(res->p99_ms));
	json_object_set_new(root, "max_ms", json_real(res->max_ms));
	json_object_set_new(root, "mean_ms", json_real(res->mean_ms));
	json_object_set_new(root, "stddev_ms", json_real(res->stddev_ms));
	json_object_set_new(checks, "throughput", json_boolean(res->throughput_ok));
	json_object_set_new(checks, "slowest", json_boolean(res->slowest_ok));
	json_object_set_new(checks, "stddev", json_boolean(res->stddev_ok));
	json_object_set_new(checks, "errors", json_boolean(res->errors_ok));
	json_object_set_new(root, "checks", checks);
	json_object_set_new(root, "pass", json_boolean(res->pass));
	json_object_set_new(root, "interrupted", json_boolean(res->interrupted));
	json_object_set_new(root, "deleted", json_integer(res->deleted));
	json_object_set_new(root, "first_error", json_string(res->first_error));
	return root;
}
