/* agent_restore.c - the restore coordinated across hosts (issue 15): this process
 * (the coordinator, on any host) has every host's agent prepare its member in
 * staging. From an S3 store each host fetches the artifact itself (its own store.url
 * and credentials) and checks it against the sha256 of the artifact's manifest, which
 * is all the coordinator reads; from a local store or --from-file the coordinator
 * fetches and verifies the db and streams it to every agent. Only when every host is
 * prepared are the members committed (stopped, swapped, started quarantined on
 * client URLs only regvault uses), checked (one leader, HashKV equal at the restored
 * revision) and opened. Any failure after the first commit rolls every host back.
 * The coordinator's journal (state_dir/coordinated-restore.json) says how far it
 * got; each host keeps its own step journal, so --rollback works from any host.
 * Before the commit a cancel (SIGINT, SIGTERM) ends it with nothing stopped and the
 * hosts' staging removed; from the commit on it is not looked at. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "restore/restore.h"
#include "scheduler/agent_impl.h"

#define CHUNK (1u << 20)
#define PREPARE_TIMEOUT_MS (30 * 60 * 1000)
#define JOURNAL "coordinated-restore.json"

struct host_job {
	const struct rv_config *c;
	size_t idx;
	enum agent_method m;
	const char *stamp, *token, *artifact, *sha256, *db_path, *ic;
	const char *coord;      /* the coordinator lock's id (agent_restore_lock.c) */
	const char *store;      /* prepare: the host fetches from its own store, this one; NULL: sent */
	int64_t revision;
	int64_t got_revision;   /* prepare: the revision the host journaled */
	int retry_ms;           /* rollback: keep trying an unreachable host this long */
	const struct rv_cancel *cancel; /* prepare: looked at between chunks */
	struct agent_restore_host *h; /* the report's row of this host */
	int err;
	char msg[2048];
	char phase[32];
	pthread_t t;
};

static int step_call(struct host_job *j, const ProtobufCMessage *rq, int64_t timeout_ms)
{
	ProtobufCMessage *m = NULL;
	int r = agent_unary(j->c, j->idx, j->m, rq, &regvault__agent__v1__restore_step_response__descriptor, timeout_ms,
			    &m);
	if (r == 0) {
		const Regvault__Agent__V1__RestoreStepResponse *a = (void *)m;
		snprintf(j->phase, sizeof j->phase, "%s", a->phase ? a->phase : "");
		j->got_revision = a->revision;
		if (j->h && a->artifact_source && *a->artifact_source) {
			snprintf(j->h->artifact_source, sizeof j->h->artifact_source, "%s", a->artifact_source);
			j->h->artifact_bytes = a->artifact_bytes;
			if (strcmp(a->artifact_source, "store") == 0)
				j->h->artifact_seconds = a->artifact_seconds;
		}
		if (j->h) {
			snprintf(j->h->phase, sizeof j->h->phase, "%s", j->phase);
			if (a->old_data_dir && *a->old_data_dir)
				snprintf(j->h->old_data_dir, sizeof j->h->old_data_dir, "%s", a->old_data_dir);
		}
		protobuf_c_message_free_unpacked(m, NULL);
	}
	return r;
}

static int send_db(struct host_job *j)
{
	FILE *f = fopen(j->db_path, "rb");
	if (!f)
		return rv_fail(-errno, "cannot read %s: %s", j->db_path, strerror(errno));
	unsigned char *buf = rv_xcalloc(1, CHUNK);
	uint64_t off = 0;
	int r = 0;
	for (;;) {
		size_t n = fread(buf, 1, CHUNK, f);
		if (n == 0 && off > 0)
			break;
		Regvault__Agent__V1__RestoreChunk rq = REGVAULT__AGENT__V1__RESTORE_CHUNK__INIT;
		rq.member = j->c->cluster.members[j->idx].name;
		rq.offset = off;
		rq.coordinator = (char *)j->coord;
		rq.data.data = buf;
		rq.data.len = n;
		ProtobufCMessage *m = NULL;
		r = agent_unary(j->c, j->idx, AGENT_RESTORE_RECEIVE, &rq.base,
				&regvault__agent__v1__restore_chunk_response__descriptor, 0, &m);
		if (m)
			protobuf_c_message_free_unpacked(m, NULL);
		if (r < 0 || n < CHUNK)
			break;
		off += n;
		if (rv_cancelled(j->cancel)) {
			r = rv_fail(-EINTR, "the snapshot was not sent to member %s's host: interrupted", rq.member);
			break;
		}
	}
	free(buf);
	fclose(f);
	return r;
}

static void *host_main(void *arg)
{
	struct host_job *j = arg;
	const char *name = j->c->cluster.members[j->idx].name;
	int r;
	if (j->m == AGENT_RESTORE_PREPARE) {
		double t0 = rv_now_mono();
		r = j->store ? 0 : send_db(j);
		if (r == 0 && !j->store && j->h)
			j->h->artifact_seconds = rv_now_mono() - t0;
		if (r == 0) {
			Regvault__Agent__V1__RestorePrepareRequest rq = REGVAULT__AGENT__V1__RESTORE_PREPARE_REQUEST__INIT;
			rq.member = (char *)name;
			rq.stamp = (char *)j->stamp;
			rq.token = (char *)j->token;
			rq.initial_cluster = (char *)j->ic;
			rq.artifact = (char *)j->artifact;
			rq.sha256 = (char *)j->sha256;
			rq.revision = j->revision;
			rq.coordinator = (char *)j->coord;
			rq.fetch_from_store = j->store != NULL;
			rq.store = (char *)(j->store ? j->store : "");
			r = step_call(j, &rq.base, PREPARE_TIMEOUT_MS);
		}
	} else {
		Regvault__Agent__V1__RestoreStepRequest rq = REGVAULT__AGENT__V1__RESTORE_STEP_REQUEST__INIT;
		rq.member = (char *)name;
		rq.stamp = (char *)(j->stamp ? j->stamp : "");
		rq.coordinator = (char *)j->coord;
		/* stop (up to 15 s) and start: more than the agent's usual deadline */
		int64_t t = (j->c->agent.timeout_ms > 0 ? j->c->agent.timeout_ms : 5000) + 40000;
		double until = rv_now_mono() + j->retry_ms / 1000.0;
		for (;;) {
			r = step_call(j, &rq.base, t);
			if (!(r == -ETIMEDOUT || r == -ECONNREFUSED) || rv_now_mono() >= until)
				break;
			rv_warn("%s; trying again", rv_errmsg(r));
			rv_err_clear();
			rv_sleep_ms(1000);
		}
	}
	j->err = r;
	if (r < 0) {
		snprintf(j->msg, sizeof j->msg, "%s", rv_errmsg(r));
		if (j->h)
			snprintf(j->h->error, sizeof j->h->error, "%s", j->msg);
		rv_err_clear();
	}
	return NULL;
}

/* Run j[i] for every member, in parallel; the first failure's message recorded. */
static int on_every_host(struct host_job *jobs, size_t n)
{
	int first = 0;
	for (size_t i = 0; i < n; i++)
		if (pthread_create(&jobs[i].t, NULL, host_main, &jobs[i]) != 0)
			jobs[i].t = 0, host_main(&jobs[i]);
	for (size_t i = 0; i < n; i++)
		if (jobs[i].t)
			pthread_join(jobs[i].t, NULL);
	for (size_t i = 0; i < n; i++)
		if (jobs[i].err < 0 && !first)
			first = rv_fail(jobs[i].err, "%s", jobs[i].msg);
	return first;
}

/* What the steps share: the configuration, the coordinator lock's id, the report. */
struct coord {
	const struct rv_config *c;
	const char *id;
	struct agent_restore_report *rep;
};

static struct host_job *jobs_new(const struct coord *k, enum agent_method m)
{
	const struct rv_config *c = k->c;
	struct host_job *j = rv_xcalloc(c->cluster.n_members, sizeof *j);
	for (size_t i = 0; i < c->cluster.n_members; i++)
		j[i] = (struct host_job){.c = c, .idx = i, .m = m, .stamp = k->rep->r.plan.stamp, .coord = k->id,
					 .h = &k->rep->hosts[i]};
	return j;
}

static int simple_step(const struct coord *k, enum agent_method m, int retry_ms)
{
	const struct rv_config *c = k->c;
	struct host_job *j = jobs_new(k, m);
	for (size_t i = 0; i < c->cluster.n_members; i++)
		j[i].retry_ms = retry_ms;
	int r = on_every_host(j, c->cluster.n_members);
	free(j);
	return r;
}

static void journal_path(const struct rv_config *c, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", c->state_dir, JOURNAL);
}

static int journal_write(const struct rv_config *c, const char *phase, const struct agent_restore_report *rep)
{
	char path[PATH_MAX];
	json_t *o = json_pack("{s:s s:s s:s s:I}", "phase", phase, "stamp", rep->r.plan.stamp, "artifact",
			      rep->r.plan.artifact, "revision", (json_int_t)rep->r.revision);
	char *text = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	rv_mkdir_p(c->state_dir, 0700);
	journal_path(c, path, sizeof path);
	int r = rv_write_file_atomic(path, text);
	free(text);
	return r < 0 ? rv_fail_wrap(r, "cannot record the coordinated restore's progress") : 0;
}

static void journal_remove(const struct rv_config *c)
{
	char path[PATH_MAX];
	journal_path(c, path, sizeof path);
	unlink(path);
}

/* The configured cluster on its members' quarantine client URLs. */
static struct cluster_spec quarantined(const struct cluster_spec *cs, char (*urls)[512])
{
	struct cluster_spec q = *cs;
	q.members = rv_xcalloc(cs->n_members, sizeof *q.members);
	memcpy(q.members, cs->members, cs->n_members * sizeof *q.members);
	for (size_t i = 0; i < cs->n_members; i++) {
		restore_quarantine_url(cs->members[i].client_url, urls[i], 512);
		q.members[i].client_url = urls[i];
	}
	return q;
}

static int roll_back_all(const struct coord *k, int wait_ms)
{
	const struct rv_config *c = k->c;
	struct restore_report *rep = &k->rep->r;
	rv_test_point("coordinator-rolling-back");
	rep->rolled_back = true;
	int r = simple_step(k, AGENT_RESTORE_ROLLBACK, wait_ms);
	if (r == 0)
		r = cluster_wait_healthy(&c->cluster, wait_ms, NULL);
	if (r == 0) {
		rep->rollback_ok = true;
		snprintf(rep->rollback, sizeof rep->rollback,
			 "every host put its old data dir back and the old cluster is healthy again");
		journal_remove(c);
	} else {
		snprintf(rep->rollback, sizeof rep->rollback, "the rollback did not finish: %s; fix the cause%s (from any host)",
			 rv_errmsg(r), rv_advice_text(RV_ADVICE_RUN_ROLLBACK));
	}
	return r;
}

/* Commit, check, open, clean up; on failure every host is rolled back. */
static int commit_all(const struct coord *k, int wait_ms)
{
	const struct rv_config *c = k->c;
	struct restore_report *rep = &k->rep->r;
	const struct cluster_spec *cs = &c->cluster;
	double t0 = rv_now_mono(), t;
	char (*urls)[512] = rv_xcalloc(cs->n_members, 512);
	struct cluster_spec q = quarantined(cs, urls);
	const char *when = "committing";
	int r = journal_write(c, "committing", k->rep);
	if (r == 0) {
		rv_test_point("coordinator-committing");
		rv_info("committing on every host: stop, swap, start quarantined");
		r = simple_step(k, AGENT_RESTORE_COMMIT, 0);
	}
	rep->phases.stop = (t = rv_now_mono()) - t0;
	if (r == 0) {
		when = "checking";
		rv_test_point("coordinator-checking");
		r = cluster_wait_healthy(&q, wait_ms, NULL);
		if (r == 0)
			r = restore_check_cluster(&q, rep->revision, &rep->hash, &rep->revision_now);
	}
	rep->phases.check = rv_now_mono() - t;
	t = rv_now_mono();
	if (r == 0 && (r = journal_write(c, "opening", k->rep)) == 0) {
		when = "opening";
		rv_info("HashKV %08x at revision %" PRId64 " on every member; opening them", rep->hash, rep->revision);
		r = simple_step(k, AGENT_RESTORE_OPEN, 0);
		if (r == 0)
			r = cluster_wait_healthy(cs, wait_ms, NULL);
	}
	rep->phases.start = rv_now_mono() - t;
	free(q.members);
	free(urls);
	if (r == 0) {
		rep->done = true;
		for (size_t i = 0; i < cs->n_members; i++)
			rep->plan.members[i].kept_aside = k->rep->hosts[i].old_data_dir[0] != 0;
		int rc = simple_step(k, AGENT_RESTORE_CLEANUP, 0);
		if (rc < 0) {
			rv_warn("%s", rv_errmsg(rc));
			rv_err_clear();
		}
		journal_remove(c);
		return 0;
	}
	snprintf(rep->failure, sizeof rep->failure, "%s", rv_errmsg(r));
	rv_warn("the coordinated restore failed while %s: %s; rolling back every host", when, rep->failure);
	int rr = roll_back_all(k, wait_ms);
	return rv_fail(r, "restore of %s failed while %s: %s; %s%s", rep->plan.artifact, when, rep->failure,
		       rr < 0 ? "the rollback failed too: " : "rolled back: ", rep->rollback);
}

/* Before the commit a cancel ends the restore here, with nothing stopped. */
static int check_cancel(const struct agent_restore_opts *o, const char *when)
{
	if (!rv_cancelled(o->cancel))
		return 0;
	return rv_fail(-EINTR, "the restore was interrupted %s; nothing was stopped or changed", when);
}

/* Every host answers, has an agent, and the lock of every host is ours. */
static int hosts_ready(const struct rv_config *c, struct agent_restore_report *rep, struct agent_coord_lock **lk,
		       const struct agent_restore_opts *o)
{
	const struct cluster_spec *cs = &c->cluster;
	struct agent_host_row *rows = agent_status_all(c);
	int r = 0;
	for (size_t i = 0; i < cs->n_members && r == 0; i++)
		if (rows[i].asked && rows[i].err < 0) {
			snprintf(rep->hosts[i].error, sizeof rep->hosts[i].error, "%s", rows[i].error);
			r = rv_fail(rows[i].err, "restore refused before anything changed: %s", rows[i].error);
		}
	for (size_t i = 0; i < cs->n_members && r == 0; i++)
		if (!cs->members[i].agent)
			r = rv_fail(-EINVAL, "member %s has no agent: address; a restore across hosts needs one for every "
					     "member", cs->members[i].name);
	free(rows);
	/* One coordinator at a time, taken before anything is fetched or stopped (a
	 * dry run writes nothing: the hosts only look at their locks). */
	if (r == 0 && !o->dry_run && (r = agent_coord_lock(c, 0, false, o->cancel, lk)) < 0)
		r = rv_fail_wrap(r, "restore refused before anything changed");
	return r;
}

static void report_hosts(const struct rv_config *c, struct agent_restore_report *rep)
{
	rep->n_hosts = c->cluster.n_members;
	for (size_t i = 0; i < rep->n_hosts; i++) {
		snprintf(rep->hosts[i].member, sizeof rep->hosts[i].member, "%s", c->cluster.members[i].name);
		snprintf(rep->hosts[i].agent, sizeof rep->hosts[i].agent, "%s",
			 c->cluster.members[i].agent ? c->cluster.members[i].agent : "");
	}
}

/* Every host prepares (from_store: each fetches from its own store, else the db at
 * db_path is sent to it); on a failure or a cancel, those that did drop their
 * staging. The revision the hosts journaled raises the report's (a fetched db's own). */
static int prepare_all(const struct coord *k, const struct agent_restore_opts *o, const char *db_path,
		       const char *sha, const char *ic, const char *from_store)
{
	const struct rv_config *c = k->c;
	struct restore_report *rep = &k->rep->r;
	struct host_job *jobs = jobs_new(k, AGENT_RESTORE_PREPARE);
	for (size_t i = 0; i < c->cluster.n_members; i++) {
		jobs[i].token = rep->plan.token;
		jobs[i].artifact = rep->plan.artifact;
		jobs[i].sha256 = sha;
		jobs[i].db_path = db_path;
		jobs[i].ic = ic;
		jobs[i].revision = rep->revision;
		jobs[i].cancel = o->cancel;
		jobs[i].store = from_store;
	}
	rv_test_point("coordinator-preparing");
	int r = check_cancel(o, "before the hosts prepared");
	if (r == 0)
		r = on_every_host(jobs, c->cluster.n_members);
	if (r == 0) {
		for (size_t i = 0; i < c->cluster.n_members; i++)
			if (jobs[i].got_revision > rep->revision)
				rep->revision = jobs[i].got_revision;
		rv_test_point("coordinator-prepared");
		r = check_cancel(o, "after every host was prepared");
	} else if (rv_cancelled(o->cancel)) {
		rv_err_clear();
		r = check_cancel(o, "while the hosts prepared");
	}
	if (r < 0) {
		char msg[2048];
		snprintf(msg, sizeof msg, "%s", rv_errmsg(r));
		/* Nothing was stopped: hosts that prepared drop their staging. */
		for (size_t i = 0; i < c->cluster.n_members; i++)
			jobs[i].m = AGENT_RESTORE_ROLLBACK;
		int rr = on_every_host(jobs, c->cluster.n_members);
		if (rr < 0)
			rv_err_clear();
		r = r == -EINTR ? rv_fail(r, "%s%s", msg, rr < 0 ? "; a host could not remove its staging yet" : "; the hosts' staging was removed")
				: rv_fail(r, "restore refused before any member was stopped: %s", msg);
	}
	free(jobs);
	return r;
}

int agent_restore_run(const struct rv_config *c, const struct agent_restore_opts *o, struct agent_restore_report *rep)
{
	const struct cluster_spec *cs = &c->cluster;
	struct restore_plan *p = &rep->r.plan;
	char dir[PATH_MAX] = "", db_path[PATH_MAX + 16] = "", sha[65] = "";
	struct agent_coord_lock *lk = NULL;
	const struct rv_cancel *was = NULL;
	char *ic = NULL;
	int wait_ms = o->wait_ms > 0 ? o->wait_ms : 60000;
	double t0 = rv_now_mono(), t;
	int r;

	memset(rep, 0, sizeof *rep);
	if (o->point)
		rep->r.point = *o->point;
	report_hosts(c, rep);
	etcd_global_init();
	if ((r = hosts_ready(c, rep, &lk, o)) < 0 || (r = check_cancel(o, "before it fetched anything")) < 0)
		goto out;
	struct coord k = {.c = c, .id = agent_coord_lock_id(lk), .rep = rep};
	if ((r = restore_plan_observe(cs, p)) < 0)
		goto out;
	if (o->db_file) {
		snprintf(p->artifact, sizeof p->artifact, "%s", o->db_file);
	} else {
		snprintf(p->store, sizeof p->store, "%s", store_describe(o->store));
		if ((r = snap_resolve(o->store, o->from ? o->from : "latest", p->artifact, sizeof p->artifact)) < 0)
			goto out;
	}
	if (p->cluster_serving && !o->force && !o->dry_run) {
		r = rv_fail_advice(-EBUSY, RV_ADVICE_RESTORE_FORCE,
				   "the cluster is healthy and serving at revision %" PRId64 "; restoring %s would lose the "
				   "current data; nothing was changed",
				   p->cluster_revision, p->artifact);
		goto out;
	}
	snprintf(dir, sizeof dir, "%s/coordinated-restore-staging", c->state_dir);
	/* A coordinator killed before left its copy of the db: only a copy, fetched again. */
	snprintf(db_path, sizeof db_path, "%s/snapshot.db", dir);
	unlink(db_path);
	/* From S3 every host fetches the artifact itself: here only its manifest is read
	 * (the sha256 each host checks its copy against). A dry run still fetches and
	 * verifies it here. */
	const char *from_store = NULL;
	if (!o->db_file && o->store && strncmp(store_describe(o->store), "s3://", 5) == 0)
		from_store = store_describe(o->store);
	if (o->store)
		was = store_set_cancel(o->store, o->cancel);
	t = rv_now_mono();
	if (from_store && !o->dry_run) {
		struct snap_manifest m;
		r = snap_manifest_read(o->store, p->artifact, &m);
		if (r == 0 && strlen(m.sha256) == 64 && m.revision > 0) {
			snprintf(sha, sizeof sha, "%s", m.sha256);
			rep->r.revision = m.revision;
			rv_info("every host fetches %s from %s itself; its manifest names sha256 %s", p->artifact,
				from_store, sha);
		} else if (!rv_cancelled(o->cancel)) {
			/* no manifest beside it that names the sha256: read the artifact here */
			if (r < 0 && r != -ENOENT)
				rv_warn("%s; fetching the artifact on this host instead", rv_errmsg(r));
			rv_err_clear();
			r = 1;
		}
	}
	if (!from_store || o->dry_run || r == 1) {
		rv_info("fetching and verifying %s on this host", p->artifact);
		r = restore_fetch_verified(o->db_file ? NULL : o->store, p->artifact, o->db_file, dir, db_path,
					   sizeof db_path, &rep->r.revision, sha);
	}
	rep->r.phases.fetch = rv_now_mono() - t;
	if (o->store)
		store_set_cancel(o->store, was);
	if (r < 0 && rv_cancelled(o->cancel)) {
		rv_err_clear();
		r = check_cancel(o, "during the fetch");
	}
	if (r < 0 || (r = check_cancel(o, "after the fetch")) < 0)
		goto out;
	p->snapshot_revision = rep->r.revision;
	ic = cluster_initial_cluster(cs);
	if (o->dry_run) {
		r = agent_restore_check_all(c, db_path, ic, from_store, rep);
		goto out;
	}
	if (from_store)
		rv_info("preparing every host: each fetches %s (revision %" PRId64 ") from the store", p->artifact,
			rep->r.revision);
	else
		rv_info("preparing every host: %s (revision %" PRId64 ") sent to each agent", p->artifact, rep->r.revision);
	t = rv_now_mono();
	r = prepare_all(&k, o, db_path, sha, ic, from_store);
	p->snapshot_revision = rep->r.revision;
	rep->r.phases.restore = rv_now_mono() - t;
	if (r == 0)
		r = commit_all(&k, wait_ms);
out:
	if (db_path[0] && rv_path_exists(dir)) {
		unlink(db_path);
		rmdir(dir);
	}
	agent_coord_unlock(lk);
	free(ic);
	rep->r.phases.total = rv_now_mono() - t0;
	etcd_global_shutdown();
	return r;
}

static int journal_read(const struct rv_config *c, struct agent_restore_report *rep, char *phase, size_t len)
{
	char path[PATH_MAX];
	journal_path(c, path, sizeof path);
	json_t *o = json_load_file(path, 0, NULL);
	if (!o)
		return -ENOENT;
	const char *s;
	if ((s = json_string_value(json_object_get(o, "stamp"))))
		snprintf(rep->r.plan.stamp, sizeof rep->r.plan.stamp, "%s", s);
	if ((s = json_string_value(json_object_get(o, "artifact"))))
		snprintf(rep->r.plan.artifact, sizeof rep->r.plan.artifact, "%s", s);
	if ((s = json_string_value(json_object_get(o, "phase"))))
		snprintf(phase, len, "%s", s);
	rep->r.revision = json_integer_value(json_object_get(o, "revision"));
	json_decref(o);
	return 0;
}

/* What the hosts' journals say: the stamp of the restore they are in. */
static int hosts_state(const struct rv_config *c, struct agent_restore_report *rep)
{
	for (size_t i = 0; i < c->cluster.n_members; i++) {
		Regvault__Agent__V1__RestoreStepRequest rq = REGVAULT__AGENT__V1__RESTORE_STEP_REQUEST__INIT;
		rq.member = c->cluster.members[i].name;
		rq.stamp = "";
		ProtobufCMessage *m = NULL;
		int r = agent_unary(c, i, AGENT_RESTORE_STATUS, &rq.base,
				    &regvault__agent__v1__restore_step_response__descriptor, 0, &m);
		if (r < 0)
			return r;
		Regvault__Agent__V1__RestoreStepResponse *a = (void *)m;
		snprintf(rep->hosts[i].phase, sizeof rep->hosts[i].phase, "%s", a->phase ? a->phase : "");
		if (a->phase && *a->phase && !rep->r.plan.stamp[0]) {
			snprintf(rep->r.plan.stamp, sizeof rep->r.plan.stamp, "%s", a->stamp);
			snprintf(rep->r.plan.artifact, sizeof rep->r.plan.artifact, "%s", a->artifact);
			rep->r.revision = a->revision;
		}
		protobuf_c_message_free_unpacked(m, NULL);
	}
	return 0;
}

/* The plan's member rows, for the report: the paths the hosts' journals use. */
static void plan_rows(const struct cluster_spec *cs, struct restore_plan *p)
{
	p->n_members = cs->n_members;
	for (size_t i = 0; i < cs->n_members; i++) {
		struct restore_member_plan *m = &p->members[i];
		snprintf(m->name, sizeof m->name, "%s", cs->members[i].name);
		snprintf(m->data_dir, sizeof m->data_dir, "%s", cs->members[i].data_dir);
		snprintf(m->aside_dir, sizeof m->aside_dir, "%s.before-restore-%s", m->data_dir, p->stamp);
	}
}

int agent_restore_finish(const struct rv_config *c, bool rollback, int wait_ms, struct agent_restore_report *rep)
{
	char phase[32] = "";
	struct agent_coord_lock *lk = NULL;
	double t0 = rv_now_mono();
	int r;
	memset(rep, 0, sizeof *rep);
	report_hosts(c, rep);
	wait_ms = wait_ms > 0 ? wait_ms : 60000;
	etcd_global_init();
	/* The coordinator that was interrupted may be gone: wait for its lock to lapse. */
	if ((r = agent_coord_lock(c, AGENT_LOCK_TTL_MS + 3000, true, NULL, &lk)) < 0) {
		r = rv_fail_wrap(r, "cannot %s the coordinated restore", rollback ? "roll back" : "resume");
		goto out;
	}
	struct coord k = {.c = c, .id = agent_coord_lock_id(lk), .rep = rep};
	if (journal_read(c, rep, phase, sizeof phase) < 0 && (r = hosts_state(c, rep)) < 0)
		goto out;
	if (!rep->r.plan.stamp[0]) {
		r = rv_fail(-ENOENT, "no interrupted restore to finish or undo: no host has a restore step journaled");
		goto out;
	}
	plan_rows(&c->cluster, &rep->r.plan);
	if (rollback) {
		r = roll_back_all(&k, wait_ms);
		if (r < 0)
			r = rv_fail(r, "%s", rep->r.rollback);
	} else {
		r = commit_all(&k, wait_ms);
	}
out:
	agent_coord_unlock(lk);
	rep->r.phases.total = rv_now_mono() - t0;
	etcd_global_shutdown();
	return r;
}
