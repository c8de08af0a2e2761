/* job_exec.c - each job the daemon runs, through the modules as the one-shot
 * commands call them, with the report their -o json prints (the same
 * report_*_json builders). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/daemon_impl.h"

#define DEFAULT_RULE "dbQuotaUsage > 0.8 || dbSizeFree > 200MiB"

/* ---- snapshot: save, then prune by snapshot.retention ---- */

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
	observe_snapshot_saved(&si);
	json_t *root = json_object();
	json_object_set_new(root, "save", report_snapshot_save_json(&si));
	r = snap_prune(st, &cfg->snapshot.retention, false, &d, &n);
	if (r < 0) {
		r = rv_fail_wrap(r, "saved %s, but applying snapshot.retention failed", si.name);
	} else {
		size_t kept = 0;
		for (size_t i = 0; i < n; i++)
			kept += d[i].keep;
		observe_store_artifacts(kept);
		json_object_set_new(root, "prune", report_prune_json(d, n, false));
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
	store_set_cancel(st, cancel);
	if ((r = snap_list(st, &v, &n)) < 0) {
		store_close(st);
		return r;
	}
	observe_store_artifacts(n);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		struct snap_info si;
		if (rv_cancelled(cancel)) {
			r = rv_fail(-EINTR, "the verification of %s was cancelled after %zu of %zu artifacts",
				    store_describe(st), i, n);
			break;
		}
		int vr = snap_verify(st, v[i].name, &si);
		if (vr < 0) {
			if (!bad++)
				snprintf(first, sizeof first, "%s", rv_errmsg(vr));
			snprintf(si.name, sizeof si.name, "%s", v[i].name);
			snprintf(si.problem, sizeof si.problem, "%s", rv_errmsg(vr));
			rv_err_clear();
		}
		json_array_append_new(a, report_snapshot_verify_json(&si, vr == 0));
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
	struct maint_compact_report rep = {0};
	int r = cluster_client_new(&cfg->cluster, 0, &c);
	if (r < 0)
		return r;
	r = continuous_compact_limit(cfg, &o.at_most);
	if (r == 0)
		r = maint_compact(c, &cfg->cluster, &o, &rep);
	if (r == 0) {
		*report = report_compact_json(&rep);
		maint_compact_report_free(&rep);
	}
	etcd_client_free(c);
	return r;
}

/* ---- defrag: maint.defrag_rule, followers first, the leader last ---- */

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
		*report = report_defrag_json(&rep, maint_rule_text(rule), "maint.defrag_rule", false);
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
	observe_hashcheck(&rep, r);
	*report = report_hashcheck_json(&rep);
	maint_hash_report_free(&rep);
	etcd_client_free(c);
	return r;
}

/* ---- diskcheck: the filesystem of every member's data dir ---- */

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
		observe_diskcheck(&res[done]);
		pass = pass && res[done].pass;
		if (res[done].p99_us > res[worst].p99_us)
			worst = done;
	}
	if (r == 0) {
		*report = report_diskcheck_json(res, members, n);
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
	if (r == 0)
		r = report_drill_save(cfg->state_dir, d);
	if (r == 0) {
		observe_drill(d);
		*report = report_drill_json(d);
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
