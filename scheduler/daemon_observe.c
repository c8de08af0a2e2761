/* daemon_observe.c - the daemon's metrics: the daemon calls one function per event
 * here and nowhere else, and each updates the one metrics object (scheduler/metrics.c,
 * which has its own mutex: the loop, the supervisor thread and the job workers call
 * in). The object lives from observe_daemon_started to observe_close; one daemon
 * runs per process, so it is kept here. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scheduler/daemon_impl.h"

static struct rv_metrics *metrics;

/* Restarts per member since the daemon started (regvault_member_restarts_total). */
#define MAX_MEMBERS_COUNTED 16
static struct {
	char name[64];
	uint64_t restarts;
} restarts[MAX_MEMBERS_COUNTED];
static pthread_mutex_t restarts_mu = PTHREAD_MUTEX_INITIALIZER;

void observe_daemon_started(const struct rv_config *cfg)
{
	if (!metrics)
		metrics = rv_metrics_new();
	for (int k = 0; k < JOB_KIND_COUNT; k++)
		rv_metrics_job_declare(metrics, job_kind_name((enum job_kind)k));
	for (size_t i = 0; i < cfg->cluster.n_members; i++)
		rv_metrics_member_declare(metrics, cfg->cluster.members[i].name);
	char **dirs = NULL, **members = NULL;
	size_t n = 0;
	maint_diskcheck_dirs(&cfg->cluster, &dirs, &members, &n);
	for (size_t i = 0; i < n; i++)
		rv_metrics_diskcheck_declare(metrics, dirs[i]);
	maint_strv_free(dirs, n);
	maint_strv_free(members, members ? n : 0);
}

void observe_registry_started(void)
{
	rv_metrics_registry_declare(metrics);
}

void observe_registry_capabilities(const struct manifest_set *s)
{
	rv_metrics_registry_capabilities(metrics, s);
}

void observe_registry_sync(const struct sync_report *r, bool ok, double now)
{
	rv_metrics_registry_sync(metrics, r, ok, now);
}

void observe_registry_heartbeats(const struct heartbeat_stat *st, size_t n, const struct heartbeat_totals *t)
{
	rv_metrics_registry_heartbeats(metrics, st, n, t);
}

void observe_continuous(const struct continuous_stats *st)
{
	int64_t now = rv_now_unix_ms();
	double lag = st->pending_since_ms && now > st->pending_since_ms ? (double)(now - st->pending_since_ms) / 1000.0 : 0;
	rv_metrics_continuous(metrics, st->persisted_revision, (double)st->persisted_unix_ms / 1000.0, lag,
			      st->segments_written, st->gaps);
	rv_metrics_continuous_merge(metrics, st->merged, st->merged_away, st->merge_errors);
}

void observe_job_started(enum job_kind k, int64_t start_ms)
{
	rv_metrics_job_started(metrics, job_kind_name(k), (double)start_ms / 1000.0);
}

void observe_job_finished(const struct job_run *r)
{
	rv_metrics_job_finished(metrics, job_kind_name(r->kind), r->result, (double)r->start_ms / 1000.0,
				(double)r->end_ms / 1000.0);
}

void observe_job_next(enum job_kind k, int64_t next_wall_ms)
{
	rv_metrics_job_next_run(metrics, job_kind_name(k), next_wall_ms > 0 ? (double)next_wall_ms / 1000.0 : 0);
}

void observe_snapshot_saved(const struct snap_info *si)
{
	rv_metrics_snapshot_saved(metrics, si);
}

void observe_store_artifacts(uint64_t n)
{
	rv_metrics_store_artifacts(metrics, n);
}

void observe_drill(const struct drill_report *d)
{
	rv_metrics_drill(metrics, d);
}

void observe_hashcheck(const struct maint_hash_report *r, int rc)
{
	rv_metrics_hashcheck(metrics, r, rc);
}

void observe_diskcheck(const struct maint_diskcheck_result *r)
{
	rv_metrics_diskcheck(metrics, r);
}

void observe_member_status(const char *member, const char *state, bool healthy, const struct member_row *row)
{
	(void)state;
	(void)healthy;
	(void)member;
	if (row)
		rv_metrics_member(metrics, row);
}

void observe_member_restarted(const char *member)
{
	uint64_t total = 0;
	pthread_mutex_lock(&restarts_mu);
	for (int i = 0; i < MAX_MEMBERS_COUNTED; i++) {
		if (!restarts[i].name[0])
			snprintf(restarts[i].name, sizeof restarts[i].name, "%s", member);
		if (strcmp(restarts[i].name, member) == 0) {
			total = ++restarts[i].restarts;
			break;
		}
	}
	pthread_mutex_unlock(&restarts_mu);
	rv_metrics_member_restarts(metrics, member, total);
}

int observe_listen(const struct daemon_settings *ds)
{
	int fd = -1;
	if (!ds->metrics_listen || !*ds->metrics_listen)
		return -1;
	int r = rv_metrics_http_listen(ds->metrics_listen, &fd);
	if (r < 0) {
		/* Metrics are for watching; a port in use is no reason to leave the
		 * cluster unsupervised. The log says it once. */
		rv_warn("%s; the daemon runs without metrics", rv_errmsg(r));
		rv_err_clear();
		return -1;
	}
	rv_info("metrics on http://%s/metrics", ds->metrics_listen);
	return fd;
}

void observe_relisten(char *bound, size_t len, const struct daemon_settings *ds, int *fd)
{
	const char *now = ds->metrics_listen ? ds->metrics_listen : "";
	int nfd = -1;
	if (strcmp(bound, now) == 0)
		return;
	if (!*now) {
		if (*fd >= 0) {
			close(*fd);
			rv_info("daemon.metrics_listen is empty now: no more metrics on http://%s", bound);
		}
		*fd = -1;
		bound[0] = 0;
		return;
	}
	int r = rv_metrics_http_listen(now, &nfd);
	if (r < 0) {
		if (*fd >= 0)
			rv_log(RV_LOG_ERROR, "%s; the daemon keeps its metrics on http://%s", rv_errmsg(r), bound);
		else
			rv_log(RV_LOG_ERROR, "%s; the daemon runs without metrics", rv_errmsg(r));
		rv_err_clear();
		return;
	}
	if (*fd >= 0)
		close(*fd);
	*fd = nfd;
	snprintf(bound, len, "%s", now);
	rv_info("metrics on http://%s/metrics now", now);
}

void observe_serve(int fd, bool healthy)
{
	int r = rv_metrics_http_serve(fd, metrics, healthy);
	if (r < 0) {
		rv_warn("%s", rv_errmsg(r));
		rv_err_clear();
	}
}

void observe_close(int fd)
{
	if (fd >= 0)
		close(fd);
	rv_metrics_free(metrics);
	metrics = NULL;
}
