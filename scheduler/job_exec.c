/* job_exec.c - each job the daemon runs, through the modules as the one-shot
 * commands call them, with a report that has the keys their -o json prints.
 * The builders are copied from cli/cmd_*.c; the shared report_*_json of the
 * scheduler module replace them at the merge. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/daemon_impl.h"

#define DEFAULT_RULE "dbQuotaUsage > 0.8 || dbSizeFree > 200MiB"

static json_t *json_id(uint64_t id)
{
	char b[17];
	snprintf(b, sizeof b, ETCD_ID_FMT, id);
	return json_string(b);
}

/* ---- snapshot: save, then prune by snapshot.retention ---- */

static json_t *info_json(const struct snap_info *si)
{
	json_t *o = json_object();
	char id[17];
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
	snprintf(id, sizeof id, "%016llx", (unsigned long long)si->m.cluster_id);
	json_object_set_new(o, "cluster_id", json_string(id));
	json_object_set_new(o, "etcd_version", json_string(si->m.etcd_version));
	json_object_set_new(o, "raft_term", json_integer((json_int_t)si->m.raft_term));
	json_object_set_new(o, "raft_index", json_integer((json_int_t)si->m.raft_index));
	json_object_set_new(o, "db_size_in_use", json_integer(si->m.db_size_in_use));
	json_object_set_new(o, "compression", json_string(si->m.compression));
	json_object_set_new(o, "duration_s", json_real(si->m.duration_s));
	json_object_set_new(o, "foreign", json_false());
	return o;
}

static int exec_snapshot(const struct rv_config *cfg, const struct rv_cancel *cancel, json_t **report)
{
	struct store *st;
	struct snap_info si;
	struct prune_decision *d = NULL;
	size_t n = 0;
	struct snap_save_opts so = {.settings = &cfg->snapshot, .cancel = cancel};
	int r = store_open(&cfg->store, &st);
	if (r < 0)
		return r;
	if ((r = snap_save(&cfg->cluster, st, &so, &si)) < 0) {
		store_close(st);
		return r;
	}
	json_t *root = json_object();
	json_object_set_new(root, "save", info_json(&si));
	r = snap_prune(st, &cfg->snapshot.retention, false, &d, &n);
	if (r < 0) {
		r = rv_fail_wrap(r, "saved %s, but applying snapshot.retention failed", si.name);
	} else {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_object();
			json_object_set_new(e, "name", json_string(d[i].name));
			json_object_set_new(e, "keep", json_boolean(d[i].keep));
			json_object_set_new(e, "reason", json_string(d[i].reason));
			json_object_set_new(e, "removed", json_boolean(!d[i].keep));
			json_array_append_new(a, e);
		}
		json_object_set_new(root, "prune", a);
	}
	free(d);
	store_close(st);
	*report = root;
	return r;
}

/* ---- verify: every artifact, as 'snapshot verify --all' ---- */

static int exec_verify(const struct rv_config *cfg, const struct rv_cancel *cancel, json_t **report)
{
	struct store *st;
	struct snap_info *v = NULL;
	size_t n = 0, bad = 0;
	char first[1024] = "";
	int r = store_open(&cfg->store, &st);
	if (r < 0)
		return r;
	if ((r = snap_list(st, &v, &n)) < 0) {
		store_close(st);
		return r;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		struct snap_info si;
		json_t *o;
		if (rv_cancelled(cancel)) {
			r = rv_fail(-EINTR, "the verification of %s was cancelled after %zu of %zu artifacts",
				    store_describe(st), i, n);
			break;
		}
		int vr = snap_verify(st, v[i].name, &si);
		if (vr < 0) {
			if (!bad++)
				snprintf(first, sizeof first, "%s", rv_errmsg(vr));
			o = json_object();
			json_object_set_new(o, "name", json_string(v[i].name));
			json_object_set_new(o, "problem", json_string(rv_errmsg(vr)));
			rv_err_clear();
		} else {
			o = info_json(&si);
		}
		json_object_set_new(o, "ok", json_boolean(json_object_get(o, "problem") == NULL));
		json_array_append_new(a, o);
	}
	if (r == 0 && bad)
		r = rv_fail(-EBADMSG, "%zu of %zu artifacts in %s failed verification; the first: %s", bad, n,
			    store_describe(st), first);
	free(v);
	store_close(st);
	*report = a;
	return r;
}

/* ---- compact ---- */

static int exec_compact(const struct rv_config *cfg, json_t **report)
{
	etcd_client *c;
	struct maint_compact_opts o = {.keep_revisions = cfg->maint.compact_keep_revisions};
	struct maint_compact_report rep;
	int r = cluster_client_new(&cfg->cluster, 0, &c);
	if (r < 0)
		return r;
	r = maint_compact(c, &cfg->cluster, &o, &rep);
	if (r == 0) {
		json_t *root = json_object(), *members = json_array();
		json_object_set_new(root, "current_revision", json_integer(rep.current_revision));
		json_object_set_new(root, "revision", json_integer(rep.revision));
		json_object_set_new(root, "already_compacted", json_boolean(rep.already_compacted));
		json_object_set_new(root, "seconds", json_real(rep.seconds));
		for (size_t i = 0; i < rep.n; i++) {
			json_t *m = json_object();
			json_object_set_new(m, "name", json_string(rep.before[i].name));
			json_object_set_new(m, "db_size_before", json_integer(rep.before[i].db_size));
			json_object_set_new(m, "db_size_in_use_before", json_integer(rep.before[i].db_size_in_use));
			json_object_set_new(m, "db_size_after", json_integer(rep.after[i].db_size));
			json_object_set_new(m, "db_size_in_use_after", json_integer(rep.after[i].db_size_in_use));
			json_array_append_new(members, m);
		}
		json_object_set_new(root, "members", members);
		*report = root;
		maint_compact_report_free(&rep);
	}
	etcd_client_free(c);
	return r;
}

/* ---- defrag: maint.defrag_rule, followers first, the leader last ---- */

static json_t *defrag_json(const struct maint_defrag_report *rep, const char *rule)
{
	json_t *root = json_object(), *members = json_array();
	json_object_set_new(root, "rule", json_string(rule));
	json_object_set_new(root, "rule_from", json_string("maint.defrag_rule"));
	json_object_set_new(root, "dry_run", json_false());
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

static int exec_defrag(const struct rv_config *cfg, const struct rv_cancel *cancel, json_t **report)
{
	const char *text = cfg->maint.defrag_rule && *cfg->maint.defrag_rule ? cfg->maint.defrag_rule : DEFAULT_RULE;
	maint_rule *rule;
	etcd_client *c;
	int r = maint_rule_parse(text, &rule, NULL);
	if (r < 0)
		return rv_fail_wrap(r, "maint.defrag_rule is not valid");
	if ((r = cluster_client_new(&cfg->cluster, 0, &c)) < 0) {
		maint_rule_free(rule);
		return r;
	}
	struct maint_defrag_opts o = {.rule = rule, .quota_bytes = cfg->cluster.etcd.quota_backend_bytes,
				      .allow_nospace = true, .cancel = cancel};
	struct maint_defrag_report rep;
	r = maint_defrag(c, &cfg->cluster, &o, &rep);
	if (rep.n)
		*report = defrag_json(&rep, maint_rule_text(rule));
	maint_defrag_report_free(&rep);
	maint_rule_free(rule);
	etcd_client_free(c);
	return r;
}

/* ---- hashcheck ---- */

static int exec_hashcheck(const struct rv_config *cfg, json_t **report)
{
	etcd_client *c;
	struct maint_hash_report rep;
	int r = cluster_client_new(&cfg->cluster, 0, &c);
	if (r < 0)
		return r;
	r = maint_hashcheck(c, &cfg->cluster, &rep);
	json_t *root = json_object(), *members = json_array();
	json_object_set_new(root, "revision", json_integer(rep.revision));
	json_object_set_new(root, "consistent", json_boolean(rep.consistent));
	json_object_set_new(root, "complete", json_boolean(rep.complete));
	for (size_t i = 0; i < rep.n; i++) {
		const struct maint_hash_row *row = &rep.rows[i];
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
	*report = root;
	maint_hash_report_free(&rep);
	etcd_client_free(c);
	return r;
}

/* ---- diskcheck: the filesystem of every member's data dir ---- */

static json_t *json_us(double v)
{
	return json_real(round(v * 10) / 10);
}

static json_t *disk_json(const struct maint_diskcheck_result *d, const char *members)
{
	json_t *o = json_object();
	json_object_set_new(o, "dir", json_string(d->dir));
	if (members)
		json_object_set_new(o, "members", json_string(members));
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

static int exec_diskcheck(const struct rv_config *cfg, const struct rv_cancel *cancel, json_t **report)
{
	char **dirs = NULL, **members = NULL;
	size_t n = 0, worst = 0, done;
	struct maint_diskcheck_opts o = {.size = 22u << 20, .block_size = 2300, .threshold_us = 10000, .cancel = cancel};
	bool pass = true;
	int r = 0;
	maint_diskcheck_dirs(&cfg->cluster, &dirs, &members, &n);
	if (n == 0) {
		free(dirs);
		free(members);
		return rv_fail(-EINVAL, "the configuration has no members whose disks could be checked");
	}
	struct maint_diskcheck_result *res = rv_xcalloc(n, sizeof *res);
	for (done = 0; done < n; done++) {
		o.dir = dirs[done];
		if ((r = maint_diskcheck(&o, &res[done])) < 0)
			break;
		pass = pass && res[done].pass;
		if (res[done].p99_us > res[worst].p99_us)
			worst = done;
	}
	if (r == 0) {
		json_t *root = disk_json(&res[worst], members ? members[worst] : NULL), *all = json_array();
		json_object_set_new(root, "pass", json_boolean(pass));
		for (size_t i = 0; i < n; i++)
			json_array_append_new(all, disk_json(&res[i], members ? members[i] : NULL));
		json_object_set_new(root, "results", all);
		*report = root;
		if (!pass)
			r = rv_fail(-EIO, "the disk at %s is too slow for etcd: the 99th percentile of fdatasync latency is %.0f us, not under %lld us",
				    res[worst].dir, res[worst].p99_us, (long long)o.threshold_us);
	}
	free(res);
	maint_strv_free(dirs, n);
	maint_strv_free(members, members ? n : 0);
	return r;
}

/* ---- drill: the newest artifact into a scratch cluster ---- */

static int exec_drill(const struct rv_config *cfg, const struct rv_cancel *cancel, json_t **report)
{
	struct store *st;
	int r = store_open(&cfg->store, &st);
	if (r < 0)
		return r;
	struct drill_opts o = {.cs = &cfg->cluster, .state_dir = cfg->state_dir, .store = st, .from = "latest",
			       .cancel = cancel};
	struct drill_report *d = rv_xcalloc(1, sizeof *d);
	r = restore_drill(&o, d);
	if (r == 0) {
		char *text = restore_drill_json(d);
		*report = json_loads(text, 0, NULL);
		free(text);
		if (!d->passed)
			r = rv_fail(-EIO, "the drill of %s failed: %s", d->artifact,
				    d->n_reasons ? d->reasons[0] : "see the report");
	}
	free(d);
	store_close(st);
	return r;
}

int job_exec(enum job_kind k, const struct rv_config *cfg, const struct rv_cancel *cancel, json_t **report)
{
	*report = NULL;
	switch (k) {
	case JOB_SNAPSHOT: return exec_snapshot(cfg, cancel, report);
	case JOB_VERIFY: return exec_verify(cfg, cancel, report);
	case JOB_COMPACT: return exec_compact(cfg, report);
	case JOB_DEFRAG: return exec_defrag(cfg, cancel, report);
	case JOB_HASHCHECK: return exec_hashcheck(cfg, report);
	case JOB_DISKCHECK: return exec_diskcheck(cfg, cancel, report);
	case JOB_DRILL: return exec_drill(cfg, cancel, report);
	default: return rv_fail(-EINVAL, "job kind %d is unknown", (int)k);
	}
}
