/* scheduler.h - the scheduler module: configuration, the daemon and its metrics. */
#ifndef REGVAULT_SCHEDULER_H
#define REGVAULT_SCHEDULER_H

#include "maint/maint.h"
#include "registry/registry.h"
#include "restore/restore.h"
#include "snapshot/snapshot.h"

#define RV_DEFAULT_CONFIG "/etc/regvault/regvault.yaml"

struct rv_config {
	char *path; /* the file read */
	struct cluster_spec cluster;
	struct store_spec store;
	struct snapshot_settings snapshot;
	struct maint_settings maint;
	char *state_dir; /* /var/lib/regvault */
};

/* Load path, else $REGVAULT_CONFIG, else RV_DEFAULT_CONFIG. An unknown key, a wrong
 * type or a missing required key is -EINVAL with a message naming the key and its
 * line; a secret file readable by others is -EPERM. Defaults are filled in. */
int config_load(const char *path, struct rv_config *out);
/* Parse from memory (tests); name is used in messages. */
int config_parse(const char *text, size_t len, const char *name, struct rv_config *out);
void config_free(struct rv_config *c);

/* ---- metrics (metrics.c, metrics_render.c, metrics_http.c) ----
 * One object holds every series the daemon exports; its own mutex lets a job's
 * thread update it while the main loop renders it. Every series exists from the
 * start: counters 0, timestamps of what never happened 0, gauges not yet known
 * NaN. Update functions take m NULL as "no metrics asked" and do nothing, so
 * callers need no test. Names given (jobs, members, dirs) are copied; one that
 * was not declared is declared on its first update. docs/reference/metrics.md. */
struct rv_metrics;
struct rv_metrics *rv_metrics_new(void);
void rv_metrics_free(struct rv_metrics *m);

/* Results a job run ends with (regvault_job_runs_total{result}). */
#define RV_JOB_SUCCESS "success"
#define RV_JOB_FAILURE "failure"
#define RV_JOB_SKIPPED "skipped"
#define RV_JOB_CANCELLED "cancelled"

/* Times are unix seconds (fractional). */
void rv_metrics_job_declare(struct rv_metrics *m, const char *job);
void rv_metrics_job_started(struct rv_metrics *m, const char *job, double now);
/* result: one of RV_JOB_*; anything else counts as a failure. */
void rv_metrics_job_finished(struct rv_metrics *m, const char *job, const char *result, double start, double end);
/* ts 0: no run scheduled. */
void rv_metrics_job_next_run(struct rv_metrics *m, const char *job, double ts);

void rv_metrics_snapshot_saved(struct rv_metrics *m, const struct snap_info *si);
void rv_metrics_store_artifacts(struct rv_metrics *m, uint64_t n);
void rv_metrics_drill(struct rv_metrics *m, const struct drill_report *d);

void rv_metrics_member_declare(struct rv_metrics *m, const char *member);
/* One row of cluster_status(): up is "answered Status"; sizes and alarms of a
 * member that did not answer become NaN (unknown), not 0. */
void rv_metrics_member(struct rv_metrics *m, const struct member_row *row);
void rv_metrics_member_restarts(struct rv_metrics *m, const char *member, uint64_t total);

/* rc is what maint_hashcheck() returned: the verdict is taken when the members
 * were compared (0, -EIO, -EHOSTUNREACH with an answer), else left as it was. */
void rv_metrics_hashcheck(struct rv_metrics *m, const struct maint_hash_report *r, int rc);
void rv_metrics_diskcheck_declare(struct rv_metrics *m, const char *dir);
void rv_metrics_diskcheck(struct rv_metrics *m, const struct maint_diskcheck_result *r);

/* The Prometheus text format 0.0.4, appended to out: every family, HELP and TYPE
 * first, in a fixed order. */
int rv_metrics_render(struct rv_metrics *m, struct rv_buf *out);
/* For node_exporter's textfile collector: only the families this process
 * touched (declared jobs, members, dirs; snapshot, store, drill and hashcheck
 * values it set), and no regvault_build_info, which several files would
 * repeat. */
int rv_metrics_render_textfile(struct rv_metrics *m, struct rv_buf *out);
/* rv_metrics_render_textfile() into path atomically: a temporary file beside it,
 * fsync, rename, mode 0644. */
int rv_metrics_write_textfile(struct rv_metrics *m, const char *path);
/* Take the values of an earlier textfile (a missing one is no error), so that
 * counters count across runs and what this run does not measure (the last
 * success, after a failure) stays: the file is then the same as a daemon's
 * would be. Lines of other families are ignored. */
int rv_metrics_load_textfile(struct rv_metrics *m, const char *path);

/* The HTTP endpoint, for the daemon's poll() loop (no threads). listen is
 * "127.0.0.1:9479", "[::1]:9479", "host:9479" or ":9479" (every address); port 0
 * takes a free one. *fd is non-blocking and close-on-exec. */
int rv_metrics_http_listen(const char *listen, int *fd);
/* Call when poll() says listen_fd is readable: accepts one connection and answers
 * GET (or HEAD) /metrics and /healthz (200 when healthy, else 503), 404 for other
 * paths, 405 for other methods, then closes it. A client gets one second in all
 * and RV_METRICS_HTTP_MAX_REQUEST bytes; one that is slower or sends more is
 * dropped (or refused), never waited for. Returns 0 unless accept() itself failed
 * for a reason that is the server's (-EMFILE...), with a sentence. */
#define RV_METRICS_HTTP_MAX_REQUEST 4096
#define RV_METRICS_HTTP_DEADLINE_MS 1000
int rv_metrics_http_serve(int listen_fd, struct rv_metrics *m, bool healthy);

#endif
