/* metrics.c - the daemon's metrics: one object of every series, updated from the
 * modules' result structs (by a job's thread or the main loop, hence the mutex),
 * rendered in the Prometheus text format 0.0.4, or written as a textfile for
 * node_exporter by the one-shot commands. Names follow Prometheus' conventions:
 * units in the name, counters end in _total, label job_name (Prometheus owns job). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

/* The order runs_total lists its results in; an unknown result counts as failure. */
static const char *const job_results[] = {RV_JOB_SUCCESS, RV_JOB_FAILURE, RV_JOB_SKIPPED, RV_JOB_CANCELLED};
#define N_RESULTS RV_ARRAY_LEN(job_results)
/* The alarms etcd 3.4 raises, each a series per member. */
static const char *const member_alarms[] = {"NOSPACE", "CORRUPT"};
#define N_ALARMS RV_ARRAY_LEN(member_alarms)
/* The heartbeats' states, each a series of regvault_registry_services. */
static const char *const hb_statuses[] = {"healthy", "unhealthy", "claimed", "pending"};
#define N_HB_STATUS 4

struct job_series {
	char *name;
	double last_run, last_success, duration, next_run;
	uint64_t runs[N_RESULTS];
	bool running;
};

struct member_series {
	char *name;
	double up, is_leader, db_size, db_size_in_use, alarm[N_ALARMS];
	uint64_t restarts;
};

struct disk_series {
	char *dir;
	double p99_s;
};

struct rv_metrics {
	pthread_mutex_t mu;
	struct job_series *jobs;
	size_t n_jobs;
	struct member_series *members;
	size_t n_members;
	struct disk_series *disks;
	size_t n_disks;
	double snap_size, snap_db_size, snap_revision, store_artifacts;
	double cont_rev, cont_ts, cont_lag, cont_segments, cont_gaps;
	double cont_merged, cont_merge_deleted, cont_merge_errors;
	bool set_continuous;
	double drill_rpo_s, drill_rto_s, drill_result;
	double hash_consistent;
	/* The registry services (when configured: set_registry). */
	double reg_last_sync_success, reg_caps[2], reg_invalid;
	uint64_t reg_changes[SYNC_DEFERRED + 1], reg_renewals, reg_leases_lost;
	double reg_services[N_HB_STATUS];
	char reg_commit[64];
	/* What this process set, for the textfile (which holds only that). */
	bool set_snapshot, set_store, set_drill, set_hash, set_next_run, set_registry;
};

struct rv_metrics *rv_metrics_new(void)
{
	struct rv_metrics *m = rv_xcalloc(1, sizeof *m);
	pthread_mutex_init(&m->mu, NULL);
	m->snap_size = m->snap_db_size = m->snap_revision = m->store_artifacts = NAN;
	m->drill_rpo_s = m->drill_rto_s = m->drill_result = NAN;
	m->hash_consistent = NAN;
	m->reg_caps[0] = m->reg_caps[1] = m->reg_invalid = NAN;
	for (size_t i = 0; i < N_HB_STATUS; i++)
		m->reg_services[i] = NAN;
	return m;
}

void rv_metrics_free(struct rv_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_jobs; i++)
		free(m->jobs[i].name);
	for (size_t i = 0; i < m->n_members; i++)
		free(m->members[i].name);
	for (size_t i = 0; i < m->n_disks; i++)
		free(m->disks[i].dir);
	free(m->jobs);
	free(m->members);
	free(m->disks);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* ---- lookups (with the mutex held): declared on first use ---- */

static struct job_series *job_of(struct rv_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n_jobs; i++)
		if (strcmp(m->jobs[i].name, name) == 0)
			return &m->jobs[i];
	m->jobs = rv_xrealloc(m->jobs, (m->n_jobs + 1) * sizeof *m->jobs);
	struct job_series *j = &m->jobs[m->n_jobs++];
	memset(j, 0, sizeof *j);
	j->name = rv_strdup(name);
	j->duration = NAN; /* never ran: no duration, where the timestamps are 0 */
	return j;
}

static struct member_series *member_of(struct rv_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n_members; i++)
		if (strcmp(m->members[i].name, name) == 0)
			return &m->members[i];
	m->members = rv_xrealloc(m->members, (m->n_members + 1) * sizeof *m->members);
	struct member_series *s = &m->members[m->n_members++];
	memset(s, 0, sizeof *s);
	s->name = rv_strdup(name);
	s->up = s->is_leader = s->db_size = s->db_size_in_use = NAN;
	for (size_t a = 0; a < N_ALARMS; a++)
		s->alarm[a] = NAN;
	return s;
}

static struct disk_series *disk_of(struct rv_metrics *m, const char *dir)
{
	for (size_t i = 0; i < m->n_disks; i++)
		if (strcmp(m->disks[i].dir, dir) == 0)
			return &m->disks[i];
	m->disks = rv_xrealloc(m->disks, (m->n_disks + 1) * sizeof *m->disks);
	struct disk_series *d = &m->disks[m->n_disks++];
	d->dir = rv_strdup(dir);
	d->p99_s = NAN;
	return d;
}

#define LOCKED(m, body)                            \
	do {                                       \
		if (!(m))                          \
			return;                    \
		pthread_mutex_lock(&(m)->mu);      \
		body;                              \
		pthread_mutex_unlock(&(m)->mu);    \
	} while (0)

/* ---- updates ---- */

void rv_metrics_job_declare(struct rv_metrics *m, const char *job)
{
	LOCKED(m, job_of(m, job));
}

void rv_metrics_job_started(struct rv_metrics *m, const char *job, double now)
{
	LOCKED(m, {
		struct job_series *j = job_of(m, job);
		j->running = true;
		j->last_run = now;
	});
}

void rv_metrics_job_finished(struct rv_metrics *m, const char *job, const char *result, double start, double end)
{
	size_t r = 1; /* failure */
	for (size_t i = 0; i < N_RESULTS; i++)
		if (result && strcmp(result, job_results[i]) == 0)
			r = i;
	LOCKED(m, {
		struct job_series *j = job_of(m, job);
		j->running = false;
		j->runs[r]++;
		/* A skipped run did not run: the last run and its duration stay. */
		if (r != 2) {
			j->last_run = start;
			/* to the millisecond: unix times as doubles subtract with noise */
			j->duration = end >= start ? round((end - start) * 1000) / 1000 : 0;
		}
		if (r == 0)
			j->last_success = end;
	});
}

void rv_metrics_job_next_run(struct rv_metrics *m, const char *job, double ts)
{
	LOCKED(m, {
		job_of(m, job)->next_run = ts;
		m->set_next_run = true;
	});
}

void rv_metrics_snapshot_saved(struct rv_metrics *m, const struct snap_info *si)
{
	LOCKED(m, {
		m->snap_size = (double)si->size;
		m->snap_db_size = (double)si->m.db_size;
		m->snap_revision = (double)si->m.revision;
		m->set_snapshot = true;
	});
}

void rv_metrics_continuous(struct rv_metrics *m, int64_t revision, double persisted_ts, double lag_s,
			   uint64_t segments, uint64_t gaps)
{
	LOCKED(m, {
		m->cont_rev = (double)revision;
		m->cont_ts = persisted_ts;
		m->cont_lag = lag_s;
		m->cont_segments = (double)segments;
		m->cont_gaps = (double)gaps;
		m->set_continuous = true;
	});
}

void rv_metrics_continuous_merge(struct rv_metrics *m, uint64_t merged, uint64_t deleted, uint64_t errors)
{
	LOCKED(m, {
		m->cont_merged = (double)merged;
		m->cont_merge_deleted = (double)deleted;
		m->cont_merge_errors = (double)errors;
	});
}

void rv_metrics_store_artifacts(struct rv_metrics *m, uint64_t n)
{
	LOCKED(m, {
		m->store_artifacts = (double)n;
		m->set_store = true;
	});
}

void rv_metrics_drill(struct rv_metrics *m, const struct drill_report *d)
{
	LOCKED(m, {
		m->drill_rpo_s = d->age_s >= 0 ? d->age_s : NAN;
		m->drill_rto_s = d->recovery_time_s >= 0 ? d->recovery_time_s : NAN;
		m->drill_result = d->passed ? 1 : 0;
		m->set_drill = true;
	});
}

void rv_metrics_member_declare(struct rv_metrics *m, const char *member)
{
	LOCKED(m, member_of(m, member));
}

void rv_metrics_member(struct rv_metrics *m, const struct member_row *row)
{
	const struct etcd_member_health *h = &row->h;
	LOCKED(m, {
		struct member_series *s = member_of(m, row->name);
		s->up = h->reachable ? 1 : 0;
		s->is_leader = row->is_leader ? 1 : 0;
		s->db_size = h->reachable ? (double)h->status.db_size : NAN;
		s->db_size_in_use = h->reachable ? (double)h->status.db_size_in_use : NAN;
		for (size_t a = 0; a < N_ALARMS; a++) {
			/* The list is "NOSPACE,CORRUPT": whole names only. */
			bool raised = false;
			const char *p = h->alarms;
			size_t l = strlen(member_alarms[a]);
			while ((p = strstr(p, member_alarms[a]))) {
				if ((p == h->alarms || p[-1] == ',') && (p[l] == 0 || p[l] == ','))
					raised = true;
				p += l;
			}
			s->alarm[a] = h->reachable ? (raised ? 1 : 0) : NAN;
		}
	});
}

void rv_metrics_member_restarts(struct rv_metrics *m, const char *member, uint64_t total)
{
	LOCKED(m, member_of(m, member)->restarts = total);
}

void rv_metrics_hashcheck(struct rv_metrics *m, const struct maint_hash_report *r, int rc)
{
	bool answered = false;
	for (size_t i = 0; i < r->n; i++)
		answered |= r->rows[i].ok;
	/* Other results (-EAGAIN: members kept moving) compared nothing. */
	if (!answered || (rc != 0 && rc != -EIO && rc != -EHOSTUNREACH))
		return;
	LOCKED(m, {
		m->hash_consistent = r->consistent ? 1 : 0;
		m->set_hash = true;
	});
}

void rv_metrics_diskcheck_declare(struct rv_metrics *m, const char *dir)
{
	LOCKED(m, disk_of(m, dir));
}

void rv_metrics_diskcheck(struct rv_metrics *m, const struct maint_diskcheck_result *r)
{
	LOCKED(m, disk_of(m, r->dir)->p99_s = round(r->p99_us * 1000) / 1e9); /* to the ns */
}

void rv_metrics_registry_declare(struct rv_metrics *m)
{
	LOCKED(m, m->set_registry = true);
}

void rv_metrics_registry_sync(struct rv_metrics *m, const struct sync_report *r, bool ok, double now)
{
	LOCKED(m, {
		m->set_registry = true;
		if (ok && r) {
			m->reg_last_sync_success = now;
			m->reg_invalid = (double)r->counts[SYNC_INVALID];
			if (!r->dry_run)
				for (size_t a = 0; a <= SYNC_DEFERRED; a++)
					if (a != SYNC_UNCHANGED)
						m->reg_changes[a] += r->counts[a];
			snprintf(m->reg_commit, sizeof m->reg_commit, "%s", r->git_commit ? r->git_commit : "");
		}
	});
}

void rv_metrics_registry_capabilities(struct rv_metrics *m, const struct manifest_set *s)
{
	size_t caps[2] = {0, 0};
	for (size_t i = 0; i < s->n_caps; i++)
		caps[s->caps[i].type == CAPABILITY_SERVICE]++;
	LOCKED(m, {
		m->set_registry = true;
		m->reg_caps[0] = (double)caps[0];
		m->reg_caps[1] = (double)caps[1];
	});
}

void rv_metrics_registry_heartbeats(struct rv_metrics *m, const struct heartbeat_stat *st, size_t n,
				    const struct heartbeat_totals *t)
{
	double by[N_HB_STATUS] = {0};
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < N_HB_STATUS; k++)
			if (st[i].status && strcmp(st[i].status, hb_statuses[k]) == 0)
				by[k]++;
	LOCKED(m, {
		m->set_registry = true;
		memcpy(m->reg_services, by, sizeof by);
		if (t) {
			m->reg_renewals = t->renewals;
			m->reg_leases_lost = t->leases_lost;
		}
	});
}

/* ---- the text format ---- */

/* The shortest form that reads back as the same double; NaN and infinities
 * spelled as the format says. */
static void put_value(struct rv_buf *b, double v)
{
	char s[40];
	if (isnan(v)) {
		rv_buf_append(b, "NaN", 3);
		return;
	}
	if (isinf(v)) {
		rv_buf_printf(b, "%sInf", v > 0 ? "+" : "-");
		return;
	}
	snprintf(s, sizeof s, "%.15g", v);
	if (strtod(s, NULL) != v)
		snprintf(s, sizeof s, "%.17g", v);
	rv_buf_printf(b, "%s", s);
}

/* A label value as the format wants it: backslash, double quote and line feed
 * escaped; any other byte as it is. */
static void put_label_value(struct rv_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			rv_buf_append(b, "\\\\", 2);
		else if (*v == '"')
			rv_buf_append(b, "\\\"", 2);
		else if (*v == '\n')
			rv_buf_append(b, "\\n", 2);
		else
			rv_buf_append(b, v, 1);
	}
}

static void family(struct rv_buf *b, const char *name, const char *type, const char *help)
{
	rv_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",k2="v2"} and a space: k2 NULL for one label, k1 NULL for none. */
static void series(struct rv_buf *b, const char *name, const char *k1, const char *v1, const char *k2, const char *v2)
{
	rv_buf_printf(b, "%s", name);
	if (k1) {
		rv_buf_printf(b, "{%s=\"", k1);
		put_label_value(b, v1);
		if (k2) {
			rv_buf_printf(b, "\",%s=\"", k2);
			put_label_value(b, v2);
		}
		rv_buf_append(b, "\"}", 2);
	}
	rv_buf_append(b, " ", 1);
}

static void sample(struct rv_buf *b, const char *name, const char *k1, const char *v1, const char *k2,
		   const char *v2, double v)
{
	series(b, name, k1, v1, k2, v2);
	put_value(b, v);
	rv_buf_append(b, "\n", 1);
}

/* Counters are integers: printed whole, past 2^53 too. */
static void counter_sample(struct rv_buf *b, const char *name, const char *k1, const char *v1, const char *k2,
			   const char *v2, uint64_t v)
{
	series(b, name, k1, v1, k2, v2);
	rv_buf_printf(b, "%llu\n", (unsigned long long)v);
}

/* One gauge per job or per member: fld names the series' field. */
#define JOB_FAMILY(b, m, fam, hlp, fld)                                                         \
	do {                                                                                    \
		family(b, fam, "gauge", hlp);                                                   \
		for (size_t i_ = 0; i_ < (m)->n_jobs; i_++)                                     \
			sample(b, fam, "job_name", (m)->jobs[i_].name, NULL, NULL, (double)(m)->jobs[i_].fld); \
	} while (0)
#define MEMBER_FAMILY(b, m, fam, hlp, fld)                                                      \
	do {                                                                                    \
		family(b, fam, "gauge", hlp);                                                   \
		for (size_t i_ = 0; i_ < (m)->n_members; i_++)                                  \
			sample(b, fam, "member", (m)->members[i_].name, NULL, NULL, (m)->members[i_].fld); \
	} while (0)

static void render_registry(struct rv_metrics *m, struct rv_buf *b)
{
	family(b, "regvault_registry_sync_last_success_timestamp_seconds", "gauge",
	       "When the last registry sync pass succeeded (unix time; 0 when none did).");
	sample(b, "regvault_registry_sync_last_success_timestamp_seconds", NULL, NULL, NULL, NULL,
	       m->reg_last_sync_success);
	family(b, "regvault_registry_capabilities", "gauge",
	       "Valid capability manifests by type, when last read (NaN before).");
	sample(b, "regvault_registry_capabilities", "type", "pattern", NULL, NULL, m->reg_caps[0]);
	sample(b, "regvault_registry_capabilities", "type", "service", NULL, NULL, m->reg_caps[1]);
	family(b, "regvault_registry_invalid_manifests", "gauge",
	       "Manifests the last sync found invalid and skipped (NaN before a sync).");
	sample(b, "regvault_registry_invalid_manifests", NULL, NULL, NULL, NULL, m->reg_invalid);
	family(b, "regvault_registry_sync_changes_total", "counter",
	       "Capabilities the sync changed in etcd (or found invalid, or deferred), by action.");
	for (size_t a = 0; a <= SYNC_DEFERRED; a++)
		if (a != SYNC_UNCHANGED)
			counter_sample(b, "regvault_registry_sync_changes_total", "action",
				       sync_action_name((enum sync_action)a), NULL, NULL, m->reg_changes[a]);
	family(b, "regvault_registry_sync_commit_info", "gauge",
	       "The git commit of the manifests the last sync wrote (commit \"\" when not a git work tree).");
	sample(b, "regvault_registry_sync_commit_info", "commit", m->reg_commit, NULL, NULL, 1);
	family(b, "regvault_registry_services", "gauge",
	       "Service-type capabilities whose heartbeat this process keeps, by status (NaN before the first round).");
	for (size_t k = 0; k < N_HB_STATUS; k++)
		sample(b, "regvault_registry_services", "status", hb_statuses[k], NULL, NULL, m->reg_services[k]);
	family(b, "regvault_registry_lease_renewals_total", "counter", "Heartbeat lease renewals etcd answered.");
	counter_sample(b, "regvault_registry_lease_renewals_total", NULL, NULL, NULL, NULL, m->reg_renewals);
	family(b, "regvault_registry_leases_lost_total", "counter",
	       "Heartbeat leases found gone (expired or revoked) and granted again.");
	counter_sample(b, "regvault_registry_leases_lost_total", NULL, NULL, NULL, NULL, m->reg_leases_lost);
}

static void render(struct rv_metrics *m, struct rv_buf *b, bool textfile)
{
	if (!textfile) {
		family(b, "regvault_build_info", "gauge", "The regvault version that serves these metrics (always 1).");
		sample(b, "regvault_build_info", "version", RV_VERSION, NULL, NULL, 1);
	}
	if (m->n_jobs) {
		JOB_FAMILY(b, m, "regvault_job_last_run_timestamp_seconds",
			   "When the job's last run started (unix time; 0 before its first run).", last_run);
		JOB_FAMILY(b, m, "regvault_job_last_success_timestamp_seconds",
			   "When the job's last successful run ended (unix time; 0 when it never succeeded).",
			   last_success);
		JOB_FAMILY(b, m, "regvault_job_duration_seconds",
			   "How long the job's last run took (NaN before its first run).", duration);
		family(b, "regvault_job_runs_total", "counter", "Runs of the job by result.");
		for (size_t i = 0; i < m->n_jobs; i++)
			for (size_t r = 0; r < N_RESULTS; r++)
				counter_sample(b, "regvault_job_runs_total", "job_name", m->jobs[i].name, "result",
					       job_results[r], m->jobs[i].runs[r]);
		JOB_FAMILY(b, m, "regvault_job_running", "1 while the job runs, else 0.", running);
		if (!textfile || m->set_next_run)
			JOB_FAMILY(b, m, "regvault_job_next_run_timestamp_seconds",
				   "When the job runs next (unix time; 0 when no run is scheduled).", next_run);
	}
	if (!textfile || m->set_snapshot) {
		family(b, "regvault_snapshot_last_size_bytes", "gauge",
		       "Size in the store of the last snapshot saved (NaN before one).");
		sample(b, "regvault_snapshot_last_size_bytes", NULL, NULL, NULL, NULL, m->snap_size);
		family(b, "regvault_snapshot_last_db_size_bytes", "gauge",
		       "Size of the etcd database in the last snapshot saved (NaN before one).");
		sample(b, "regvault_snapshot_last_db_size_bytes", NULL, NULL, NULL, NULL, m->snap_db_size);
		family(b, "regvault_snapshot_last_revision", "gauge",
		       "The etcd revision of the last snapshot saved (NaN before one).");
		sample(b, "regvault_snapshot_last_revision", NULL, NULL, NULL, NULL, m->snap_revision);
	}
	if (m->set_continuous) {
		family(b, "regvault_continuous_persisted_revision", "gauge",
		       "The last revision continuous backup has in a published segment (or its chain's base).");
		sample(b, "regvault_continuous_persisted_revision", NULL, NULL, NULL, NULL, m->cont_rev);
		family(b, "regvault_continuous_persisted_timestamp_seconds", "gauge",
		       "When that revision was received (unix time; 0 for a base without segments).");
		sample(b, "regvault_continuous_persisted_timestamp_seconds", NULL, NULL, NULL, NULL, m->cont_ts);
		family(b, "regvault_continuous_lag_seconds", "gauge",
		       "How long the oldest change not yet in a published segment has waited (0 when none waits).");
		sample(b, "regvault_continuous_lag_seconds", NULL, NULL, NULL, NULL, m->cont_lag);
		family(b, "regvault_continuous_segments_written_total", "counter",
		       "Segments this daemon published since it started.");
		sample(b, "regvault_continuous_segments_written_total", NULL, NULL, NULL, NULL, m->cont_segments);
		family(b, "regvault_continuous_gaps_total", "counter",
		       "Times recording found its next revision compacted away and started a new chain.");
		sample(b, "regvault_continuous_gaps_total", NULL, NULL, NULL, NULL, m->cont_gaps);
		family(b, "regvault_continuous_segments_merged_total", "counter",
		       "Segments this daemon published by merging older, smaller ones (daemon.continuous.merge_windows).");
		sample(b, "regvault_continuous_segments_merged_total", NULL, NULL, NULL, NULL, m->cont_merged);
		family(b, "regvault_continuous_segments_merged_away_total", "counter",
		       "Segments this daemon deleted once a merged segment held their events.");
		sample(b, "regvault_continuous_segments_merged_away_total", NULL, NULL, NULL, NULL, m->cont_merge_deleted);
		family(b, "regvault_continuous_merge_errors_total", "counter",
		       "Merge passes that failed on a chain (the segments stay as they were; the log says why).");
		sample(b, "regvault_continuous_merge_errors_total", NULL, NULL, NULL, NULL, m->cont_merge_errors);
	}
	if (!textfile || m->set_store) {
		family(b, "regvault_store_artifacts", "gauge",
		       "Artifacts in the store when last counted (NaN before it was counted).");
		sample(b, "regvault_store_artifacts", NULL, NULL, NULL, NULL, m->store_artifacts);
	}
	if (!textfile || m->set_drill) {
		family(b, "regvault_drill_recovery_point_seconds", "gauge",
		       "Age of the snapshot the last drill restored, at the drill (NaN before a drill or when unknown).");
		sample(b, "regvault_drill_recovery_point_seconds", NULL, NULL, NULL, NULL, m->drill_rpo_s);
		family(b, "regvault_drill_recovery_time_seconds", "gauge",
		       "Time the last drill took to a healthy restored cluster (NaN before a drill or when it never got there).");
		sample(b, "regvault_drill_recovery_time_seconds", NULL, NULL, NULL, NULL, m->drill_rto_s);
		family(b, "regvault_drill_last_result", "gauge", "1 when the last drill passed, 0 when it failed, NaN before one.");
		sample(b, "regvault_drill_last_result", NULL, NULL, NULL, NULL, m->drill_result);
	}
	if (m->n_members) {
		MEMBER_FAMILY(b, m, "regvault_member_up", "1 when the member answered Status, 0 when not, NaN before it was asked.",
			      up);
		MEMBER_FAMILY(b, m, "regvault_member_is_leader", "1 when the member is the leader (NaN before it was asked).",
			      is_leader);
		MEMBER_FAMILY(b, m, "regvault_member_db_size_bytes",
			      "Size of the member's database file (NaN when unknown).", db_size);
		MEMBER_FAMILY(b, m, "regvault_member_db_size_in_use_bytes",
			      "Bytes of the member's database in use (NaN when unknown).", db_size_in_use);
		family(b, "regvault_member_restarts_total", "counter", "Times regvault restarted the member.");
		for (size_t i = 0; i < m->n_members; i++)
			counter_sample(b, "regvault_member_restarts_total", "member", m->members[i].name, NULL, NULL,
				       m->members[i].restarts);
		family(b, "regvault_member_alarm", "gauge", "1 when the alarm is raised on the member (NaN when unknown).");
		for (size_t i = 0; i < m->n_members; i++)
			for (size_t a = 0; a < N_ALARMS; a++)
				sample(b, "regvault_member_alarm", "member", m->members[i].name, "alarm", member_alarms[a],
				       m->members[i].alarm[a]);
	}
	if (!textfile || m->set_hash) {
		family(b, "regvault_hashcheck_consistent", "gauge",
		       "1 when the members that answered the last hash check agree, 0 when not, NaN before one.");
		sample(b, "regvault_hashcheck_consistent", NULL, NULL, NULL, NULL, m->hash_consistent);
	}
	if (m->set_registry)
		render_registry(m, b);
	if (m->n_disks) {
		family(b, "regvault_diskcheck_fdatasync_p99_seconds", "gauge",
		       "99th percentile of fdatasync latency in the last disk check of the directory (NaN before one).");
		for (size_t i = 0; i < m->n_disks; i++)
			sample(b, "regvault_diskcheck_fdatasync_p99_seconds", "dir", m->disks[i].dir, NULL, NULL,
			       m->disks[i].p99_s);
	}
}

int rv_metrics_render(struct rv_metrics *m, struct rv_buf *out)
{
	pthread_mutex_lock(&m->mu);
	render(m, out, false);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

int rv_metrics_render_textfile(struct rv_metrics *m, struct rv_buf *out)
{
	pthread_mutex_lock(&m->mu);
	render(m, out, true);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

int rv_metrics_write_textfile(struct rv_metrics *m, const char *path)
{
	struct rv_buf text = {0};
	char tmp[4096];
	int fd, r;

	if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
		return rv_fail(-ENAMETOOLONG, "the metrics textfile path %.100s... is too long", path);
	rv_metrics_render_textfile(m, &text);
	/* The temporary name does not end in .prom, so the collector never reads it
	 * half-written; beside the file, so the rename is atomic. */
	if ((fd = mkstemp(tmp)) < 0) {
		r = -errno;
		rv_buf_free(&text);
		return rv_fail(r, "cannot create a temporary file beside the metrics textfile %s: %s; check that its directory exists and is writable",
			       path, strerror(-r));
	}
	r = fchmod(fd, 0644) < 0 ? -errno : 0;
	if (r == 0)
		r = rv_write_all(fd, text.data ? text.data : "", text.len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	rv_buf_free(&text);
	if (r < 0) {
		unlink(tmp);
		return rv_fail(r, "cannot write the metrics textfile %s: %s; check the directory's space and permissions",
			       path, strerror(-r));
	}
	rv_fsync_parent(path);
	return 0;
}

/* ---- reading a textfile back ---- */

/* The label value after k=" in a series' labels, unescaped into out; false when
 * the label is not there. */
static bool label_of(const char *labels, const char *k, char *out, size_t len)
{
	size_t kl = strlen(k), o = 0;
	const char *p = labels;
	while ((p = strstr(p, k))) {
		if ((p == labels || p[-1] == '{' || p[-1] == ',') && strncmp(p + kl, "=\"", 2) == 0)
			break;
		p += kl;
	}
	if (!p)
		return false;
	for (p += kl + 2; *p && *p != '"' && o + 1 < len; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			out[o++] = *p == 'n' ? '\n' : *p;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = 0;
	return *p == '"';
}

/* One sample line of a family this module writes; others are left alone. */
static void load_line(struct rv_metrics *m, char *line)
{
	char name[128], labels[1024] = "", job[256], val[1024];
	const char *brace = strchr(line, '{'), *sp;
	size_t nl;
	if (brace) {
		const char *end = strrchr(line, '}');
		if (!end || end < brace || (size_t)(end - brace) >= sizeof labels)
			return;
		nl = (size_t)(brace - line);
		memcpy(labels, brace, (size_t)(end - brace + 1));
		labels[end - brace + 1] = 0;
		sp = end + 1;
	} else {
		sp = strchr(line, ' ');
		if (!sp)
			return;
		nl = (size_t)(sp - line);
	}
	if (nl == 0 || nl >= sizeof name || strncmp(line, "regvault_", 9) != 0)
		return;
	memcpy(name, line, nl);
	name[nl] = 0;
	char *endv;
	while (*sp == ' ')
		sp++;
	double v = strtod(sp, &endv);
	if (endv == sp)
		return;
	bool has_job = label_of(labels, "job_name", job, sizeof job);
	if (has_job && strcmp(name, "regvault_job_runs_total") == 0 && label_of(labels, "result", val, sizeof val)) {
		for (size_t r = 0; r < N_RESULTS; r++)
			if (strcmp(val, job_results[r]) == 0 && v >= 0)
				job_of(m, job)->runs[r] = strtoull(sp, NULL, 10);
	} else if (has_job && strcmp(name, "regvault_job_last_run_timestamp_seconds") == 0) {
		job_of(m, job)->last_run = v;
	} else if (has_job && strcmp(name, "regvault_job_last_success_timestamp_seconds") == 0) {
		job_of(m, job)->last_success = v;
	} else if (has_job && strcmp(name, "regvault_job_duration_seconds") == 0) {
		job_of(m, job)->duration = v;
	} else if (strcmp(name, "regvault_snapshot_last_size_bytes") == 0) {
		m->snap_size = v, m->set_snapshot = true;
	} else if (strcmp(name, "regvault_snapshot_last_db_size_bytes") == 0) {
		m->snap_db_size = v, m->set_snapshot = true;
	} else if (strcmp(name, "regvault_snapshot_last_revision") == 0) {
		m->snap_revision = v, m->set_snapshot = true;
	} else if (strcmp(name, "regvault_store_artifacts") == 0) {
		m->store_artifacts = v, m->set_store = true;
	} else if (strcmp(name, "regvault_drill_recovery_point_seconds") == 0) {
		m->drill_rpo_s = v, m->set_drill = true;
	} else if (strcmp(name, "regvault_drill_recovery_time_seconds") == 0) {
		m->drill_rto_s = v, m->set_drill = true;
	} else if (strcmp(name, "regvault_drill_last_result") == 0) {
		m->drill_result = v, m->set_drill = true;
	} else if (strcmp(name, "regvault_hashcheck_consistent") == 0) {
		m->hash_consistent = v, m->set_hash = true;
	} else if (strcmp(name, "regvault_diskcheck_fdatasync_p99_seconds") == 0 &&
		   label_of(labels, "dir", val, sizeof val)) {
		disk_of(m, val)->p99_s = v;
	}
}

int rv_metrics_load_textfile(struct rv_metrics *m, const char *path)
{
	char *text, *line, *save = NULL;
	int r = rv_read_file(path, &text, NULL, 1 << 20);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return rv_fail(r, "cannot read the metrics textfile %s: %s; check its permissions, or remove it", path,
			       r == -EFBIG ? "it is larger than 1 MiB" : strerror(-r));
	pthread_mutex_lock(&m->mu);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (line[0] != '#')
			load_line(m, line);
	pthread_mutex_unlock(&m->mu);
	free(text);
	return 0;
}
