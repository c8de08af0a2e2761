/* scheduler.h - the scheduler module: configuration, the daemon and its metrics. */
#ifndef REGVAULT_SCHEDULER_H
#define REGVAULT_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/common.h"
#include "maint/maint.h"
#include "registry/registry.h"
#include "restore/restore.h"
#include "snapshot/snapshot.h"

#define RV_DEFAULT_CONFIG "/etc/regvault/regvault.yaml"

/* ---- jobs (job.c): what the daemon runs, and one-shot commands too ---- */
enum job_kind { JOB_SNAPSHOT, JOB_VERIFY, JOB_COMPACT, JOB_DEFRAG, JOB_HASHCHECK, JOB_DISKCHECK, JOB_DRILL,
		JOB_KIND_COUNT };
const char *job_kind_name(enum job_kind k);               /* "snapshot", "verify", ... */
int job_kind_parse(const char *name, enum job_kind *out);  /* -EINVAL with a sentence listing the names */
/* Jobs that load or change the cluster never overlap: snapshot, compact, defrag, drill, diskcheck. */
bool job_kind_exclusive(enum job_kind k);

/* ---- cron (cron.c) ---- */
/* A parsed 5-field cron expression (minute hour day-of-month month day-of-week) or
 * @hourly, @daily, @weekly, @monthly, @yearly, in local time (TZ as the process has
 * it). When both day fields are restricted (neither starts with '*'), a day matching
 * either runs, as in Vixie cron. Clock changes: a local time that a spring-forward
 * skips runs once, at the first instant after the gap; a local time that a fall-back
 * repeats runs once, at its first occurrence. */
struct cron_expr;
int cron_parse(const char *text, struct cron_expr **out);  /* -EINVAL + sentence naming the bad field */
void cron_free(struct cron_expr *c);
const char *cron_text(const struct cron_expr *c);          /* as written */
/* First scheduled minute strictly after `after` (unix seconds). */
int cron_next(const struct cron_expr *c, int64_t after, int64_t *next);
/* Last scheduled minute at or before `at`. */
int cron_prev(const struct cron_expr *c, int64_t at, int64_t *prev);

/* ---- schedules (job.c) ---- */
struct job_schedule {
	bool enabled;
	char *cron_text;          /* NULL when every_ms is used */
	struct cron_expr *cron;   /* parsed cron_text */
	int64_t every_ms;         /* 0 when cron is used */
	int64_t jitter_ms;        /* random delay up to it; default daemon.jitter */
	int64_t timeout_ms;       /* 0: none */
};
struct daemon_settings {
	bool supervise_members;        /* default true */
	int64_t health_interval_ms;    /* default 5s */
	int restart_limit;             /* default 5 (within 10 minutes) */
	bool stop_members_on_exit;     /* default false */
	int64_t jitter_ms;             /* default 0 */
	int64_t stop_timeout_ms;       /* default 30s */
	char *control_socket;          /* default /run/regvault/regvault.sock */
	char *metrics_listen;          /* default 127.0.0.1:9479; "" disables */
	char *member;                  /* this host's member (daemon.member); NULL: found from the addresses */
	int64_t leader_ttl_ms;         /* the leader's lease, default 10s */
	bool continuous_enabled;       /* daemon.continuous.enabled, default false */
	int64_t continuous_flush_ms;   /* daemon.continuous.flush, default 1s */
	int64_t continuous_merge_ms[4]; /* daemon.continuous.merge_windows, ascending, default 5m, 1h */
	size_t continuous_merge_n;      /* 0: segments are never merged */
	struct job_schedule jobs[JOB_KIND_COUNT];
};

/* When the job is next due after `after_ms` (unix ms), without jitter: cron's next
 * minute after it, or after_ms + every_ms (pass when the last run started, or now).
 * Pass the later of now and the last run, so that a clock set back runs nothing
 * twice and a clock set forward runs the job once, never once per skipped run.
 * -ENOENT for a disabled job. */
int job_next_due(const struct job_schedule *s, int64_t after_ms, int64_t *due_ms);
/* A run missed while the daemon was down is made once at start: true when the last
 * success is older than the previous scheduled time (cron) or than the interval
 * (every), or there was none (0); never once per missed run. False when disabled. */
bool job_missed_at_start(const struct job_schedule *s, int64_t last_success_ms /* 0: never */, int64_t now_ms);

/* ---- job locks (job_lock.c) ---- */
/* One flock per job in state_dir/locks/<job>.lock (created 0700 when missing),
 * released on close, so a crashed holder frees it. The file's first line names the
 * holder ("<pid> <unix seconds> <holder>"), so that the one refused can say who holds
 * it. holder is what runs the job: "regvault daemon", "regvault snapshot save". */
struct job_lock;
/* Exclusive (the daemon). -EBUSY + "job snapshot is already running in <holder> (pid
 * N, since <time>); ..." when !wait and held; with wait, polls until it is free or
 * cancel is requested (-EINTR). */
int job_lock_take(const char *state_dir, enum job_kind k, const char *holder, bool wait,
		  const struct rv_cancel *cancel, struct job_lock **out);
/* Shared (one-shot commands): refused with -EBUSY while an exclusive holder (the
 * daemon) runs the job, and keeps the daemon from it, but two commands an operator
 * starts run side by side as they always did. Never waits. */
int job_lock_take_shared(const char *state_dir, enum job_kind k, const char *holder, struct job_lock **out);
void job_lock_release(struct job_lock *l); /* NULL is fine */

/* ---- job history (job_history.c) ---- */
/* One JSON line per run in state_dir/jobs.jsonl: {"job", "start_ms", "end_ms",
 * "result", "error", "report"}, each appended with one write (O_APPEND, fsync).
 * Past JOB_HISTORY_MAX_BYTES the file is moved to jobs.jsonl.1 (replacing the one
 * before), so two files at most. Readers skip a torn or unreadable line. */
#define JOB_HISTORY_MAX_BYTES (4 << 20)
struct job_run {
	enum job_kind kind;
	int64_t start_ms, end_ms;
	const char *result;   /* "success", "failure", "skipped", "cancelled" (static strings when read) */
	char *error;          /* the error sentence, NULL on success */
	json_t *report;       /* the job's report (jansson), may be NULL */
};
int job_history_append(const char *state_dir, const struct job_run *r);
/* The same with another size limit (tests). */
int job_history_append_max(const char *state_dir, const struct job_run *r, size_t max_bytes);
/* The last last_n runs (0: all) of one job (NULL: all jobs), oldest first; *out is
 * NULL and *n 0 when there are none. */
int job_history_read(const char *state_dir, const char *job /* NULL: all */, size_t last_n,
		     struct job_run **out, size_t *n);
int job_history_last_success(const char *state_dir, enum job_kind k, int64_t *end_ms /* 0: never */);
void job_runs_free(struct job_run *runs, size_t n);
struct rv_config;
/* Each cluster-wide job's last run, shared through etcd (job_shared.c): the daemon
 * that ran it puts /regvault/<cluster>/jobs/<job>; read gives an object job name ->
 * run (job_run's JSON without the report, plus "member", the one whose host ran it). */
int job_shared_publish(const struct rv_config *cfg, const char *member, const struct job_run *r);
int job_shared_read(const struct rv_config *cfg, int timeout_ms, json_t **out);

/* The agent: section (config_agent.c, docs/reference/agent.md): the gRPC service
 * each host's daemon runs for the others, with mutual TLS unless insecure. */
struct agent_settings {
	bool configured;  /* the file has an agent: section */
	char *listen;     /* host:port; NULL: the own member's agent address, else its client host :9480 */
	char *ca_file, *cert_file, *key_file;
	bool insecure;    /* plain text, only when written so */
	int64_t timeout_ms; /* deadline of each call, default 5s */
};
#define AGENT_DEFAULT_PORT 9480

struct rv_config {
	char *path; /* the file read */
	struct cluster_spec cluster;
	struct store_spec store;
	struct snapshot_settings snapshot;
	struct maint_settings maint;
	char *state_dir; /* /var/lib/regvault */
	struct daemon_settings daemon;
	struct registry_settings registry; /* registry.configured false without a registry: section */
	struct agent_settings agent;
};

/* Whether any member is on another host (has an agent:) or the file has an agent: section. */
bool config_uses_agents(const struct rv_config *c);
/* Member i is on this host: it has no agent: address, or it is this host's own
 * member (daemon.member, else the first whose client URL is a local address). */
bool config_member_here(const struct rv_config *c, size_t i);
/* This host's member: daemon.member, else the first whose client URL is a local
 * address. -ENOENT with a sentence when none is. */
int config_own_member(const struct rv_config *c, char *buf, size_t len);
/* With daemon.continuous.enabled: the revision compaction must not pass (the newest
 * chain's last persisted revision + 1; its base's + 1 before any segment), else 0.
 * continuous_limit.c. */
int continuous_compact_limit(const struct rv_config *cfg, int64_t *limit);

/* ---- the agent's client (agent_client.c): calls to the agent on the host of a
 * member with an agent: address, each with agent.timeout as its deadline. A host
 * that does not answer is -ETIMEDOUT or -ECONNREFUSED with a sentence naming the
 * host and its address; an error of the agent's is its own sentence. ---- */
struct agent_host_status {
	char hostname[256], member[64], data_dir[1024];
	int pid, agent_pid;
	bool running;
	uint64_t disk_free_bytes;
	char disk_error[300];
	bool etcd_answered;
	char etcd_error[512];
	struct etcd_status etcd;
};
int agent_host_status(const struct rv_config *c, size_t member_idx, struct agent_host_status *out);
int agent_member_start(const struct rv_config *c, size_t member_idx, int *pid);
int agent_member_stop(const struct rv_config *c, size_t member_idx, int timeout_ms, bool *was_running);
int agent_member_log_tail(const struct rv_config *c, size_t member_idx, int lines, char **text);
/* HostStatus of every member with an agent: address, in parallel (one deadline in all). */
/* ---- the restore coordinated across hosts (agent_restore.c) ---- */
/* One host's part, for the report (and with --dry-run its RestoreCheck answer). */
struct agent_restore_host {
	char member[64], agent[256];
	char phase[32];              /* its journaled step when the coordinator last heard ("" none) */
	char old_data_dir[PATH_MAX]; /* where its old data dir was kept ("" none) */
	char error[1024];            /* its failure, or with --dry-run why it could not prepare */
	bool checked, could;         /* --dry-run: asked; could prepare */
	bool has_data;
	uint64_t disk_free_bytes, need_bytes;
	char tool[PATH_MAX], etcd_binary[PATH_MAX];
	/* how it got the artifact once prepared: "store" (fetched it from its own store)
	 * or "streamed" (sent by the coordinator); "" not (yet) prepared */
	char artifact_source[16];
	uint64_t artifact_bytes;
	double artifact_seconds;     /* its fetch, or the coordinator's send to it */
};
struct agent_restore_report {
	/* The one-host restore's report, for the same JSON: the plan's members are the
	 * hosts' members; phases: fetch (and verify) here, restore = every host's
	 * prepare, stop = the commit (stop, swap, start quarantined), check, start = the
	 * open. */
	struct restore_report r;
	size_t n_hosts;
	struct agent_restore_host hosts[RESTORE_MAX_MEMBERS];
};
struct agent_restore_opts {
	struct store *store;      /* NULL with db_file */
	const char *from, *db_file;
	bool force, dry_run;      /* dry_run: every host is asked whether it could prepare */
	int wait_ms;              /* bound on waiting for health; 0 = 60 s */
	const struct rv_cancel *cancel; /* looked at until the commit, not after */
	/* a restore to a point: db_file is the db replayed here (restore_point_db), and
	 * the report's point is this */
	const struct restore_point_report *point;
};
/* When any member has agent: `regvault restore` runs this: every host prepares, then
 * every host commits (quarantined), HashKV agrees, every host opens; rolled back on
 * any failure after the first commit. A second coordinator while one runs is
 * refused before anything changes (the hosts' coordinator lock). */
int agent_restore_run(const struct rv_config *c, const struct agent_restore_opts *o, struct agent_restore_report *rep);
/* --rollback / --resume from any host (this host's coordinator journal, else the
 * hosts' own journals). */
int agent_restore_finish(const struct rv_config *c, bool rollback, int wait_ms, struct agent_restore_report *rep);
/* The JSON of either: report_restore_json's fields and "hosts" (report_restore.c). */
json_t *report_agent_restore_json(const struct agent_restore_report *rep, int r, bool dry_run);

struct agent_host_row {
	bool asked;       /* the member has an agent: address */
	int err;          /* 0: answered */
	char error[1024]; /* the sentence, when not */
	struct agent_host_status st;
};
struct agent_host_row *agent_status_all(const struct rv_config *c); /* n_members rows, malloc'd */
/* The same in two halves, to ask the agents while something else runs; c must outlive end. */
struct agent_status_batch;
struct agent_status_batch *agent_status_begin(const struct rv_config *c);
struct agent_host_row *agent_status_end(struct agent_status_batch *b);
/* cluster up and down for a configuration with members on other hosts: those
 * through their agents, the others here as cluster_up/cluster_down do; the leader
 * last on the way down. */
int agent_cluster_up(const struct rv_config *c, int wait_ms);
int agent_cluster_down(const struct rv_config *c, int timeout_ms);
/* Each member's etcd pid (0: not running, or its host does not answer). */
void agent_member_pids(const struct rv_config *c, pid_t *pids);
/* The "agent" object of a member's row in cluster status -o json (NULL when not asked). */
json_t *report_agent_host_json(const struct member_spec *m, const struct agent_host_row *row);

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
/* Continuous backup's recorder (shown once the leader's recorder runs). */
void rv_metrics_continuous(struct rv_metrics *m, int64_t revision, double persisted_ts, double lag_s,
			   uint64_t segments, uint64_t gaps);
/* Its merging of older segments (totals since the daemon started). */
void rv_metrics_continuous_merge(struct rv_metrics *m, uint64_t merged, uint64_t deleted, uint64_t errors);
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

/* The registry services: the families exist from the declare on (a daemon with a
 * registry: section). ok: the pass succeeded (r may then be read); dry runs
 * count no changes. */
void rv_metrics_registry_declare(struct rv_metrics *m);
void rv_metrics_registry_sync(struct rv_metrics *m, const struct sync_report *r, bool ok, double now);
void rv_metrics_registry_capabilities(struct rv_metrics *m, const struct manifest_set *s);
void rv_metrics_registry_heartbeats(struct rv_metrics *m, const struct heartbeat_stat *st, size_t n,
				    const struct heartbeat_totals *t);

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

/* ---- reports as JSON (report*.c) ----
 * What each command prints with -o json, built from the module's report, so that the
 * daemon serves the same objects for its jobs. Each returns a new reference. */
json_t *report_cluster_status_json(const struct member_row *rows, size_t n);
/* was_running[i], pids[i]: member i before the start and now. */
json_t *report_cluster_up_json(const struct cluster_spec *cs, const bool *was_running, const pid_t *pids);
json_t *report_cluster_down_json(const struct cluster_spec *cs, const pid_t *pids_before, const pid_t *pids_now);

/* One artifact (save; also each entry of list). */
json_t *report_snapshot_save_json(const struct snap_info *si);
json_t *report_snapshot_list_json(const struct snap_info *v, size_t n);
/* ok false: si->name and si->problem say what is wrong. */
json_t *report_snapshot_verify_json(const struct snap_info *si, bool ok);
json_t *report_snapshot_fetch_json(const char *name, const char *file, const struct snap_manifest *m);
json_t *report_snapshot_delete_json(const char *name);
json_t *report_prune_json(const struct prune_decision *d, size_t n, bool dry_run);

json_t *report_compact_json(const struct maint_compact_report *rep);
/* rule_from: where the rule came from ("--rule", "maint.defrag_rule"); NULL: regvault chose it. */
json_t *report_defrag_json(const struct maint_defrag_report *rep, const char *rule, const char *rule_from,
			   bool dry_run);
json_t *report_alarms_json(const struct maint_alarm_row *rows, size_t n, bool disarmed, size_t n_disarmed);
json_t *report_recover_space_json(const struct maint_recover_report *rep, bool ok);
json_t *report_hashcheck_json(const struct maint_hash_report *rep);
/* One result per directory (members[i]: the members on it, or members NULL): the
 * worst directory's keys at the top, pass for all of them, every one under results. */
json_t *report_diskcheck_json(const struct maint_diskcheck_result *res, char *const *members, size_t n);
json_t *report_perfcheck_json(const struct maint_perfcheck_result *res);

/* The registry services (report_registry.c): `registry sync` and `registry validate`
 * (report_registry_sync.c), `registry status` (report_registry_status.c). */
json_t *report_registry_sync_json(const struct sync_report *r);
json_t *report_registry_validate_json(const struct manifest_set *s);
/* One entry per capability known from the manifests or from etcd (registry.h's
 * registry_status_collect builds the rows); see docs/reference/registry-heartbeat.md
 * for the keys. */
json_t *report_registry_status_json(const struct registry_status_row *rows, size_t n, bool ok);

/* r: what the restore (or rollback, resume) returned; its error is rv_errmsg(r). */
json_t *report_restore_json(const struct restore_report *rep, int r, bool dry_run);
/* `snapshot diff` and `restore --prefix` (report_prefix.c). */
json_t *report_snapshot_diff_json(const char *prefix, const struct prefix_keys *a, const struct prefix_keys *b,
				  const struct prefix_diff *d);
json_t *report_restore_prefix_json(const char *prefix, const struct prefix_keys *source,
				   const struct prefix_restore_report *rep, int r, bool dry_run);
json_t *report_restore_cleanup_json(const struct restore_leftover *v, size_t n, bool dry_run);
json_t *report_drill_json(const struct drill_report *d);
/* Write the drill's report to <state_dir>/drills/drill-<time>.json (atomically) and
 * set d->report_path; run after restore_drill() returned 0. */
int report_drill_save(const char *state_dir, struct drill_report *d);

/* How every report is written: two-space indent, keys in insertion order, reals with
 * 15 significant digits. dumps: malloc'd text without a final newline; write: the
 * text and a newline to f; save: the text to path, atomically. */
char *report_json_dumps(const json_t *root);
int report_json_write(const json_t *root, FILE *f);
int report_json_save(const json_t *root, const char *path);

/* The daemon's wording of the modules' advice (common.h, enum rv_advice): what to
 * change or look at, never a flag to type; "" for none. install: make it the wording
 * rv_errmsg() appends, once at the daemon's start. */
const char *report_advice_config_text(enum rv_advice a);
void report_advice_install_config(void);

/* ---- the daemon (daemon*.c): schedule, workers, supervision, control socket ----
 * One thread runs the loop (poll over signals, the control socket, the metrics
 * socket and a wake-up pipe); each job runs on a worker thread of its own; a
 * supervisor thread watches the local members. docs/reference/daemon.md. */
struct daemon_opts {
	const char *config_path; /* what SIGHUP reloads (NULL: the default chain) */
	int signal_fd;           /* a signalfd for SIGHUP, SIGTERM and SIGINT, which the
				  * caller blocked: the loop reads them as events */
	/* Set when daemon.stop_timeout ended with a job (or the supervisor) still
	 * running, cancelled but not finished: its thread still uses the process's
	 * libraries, so the caller ends the process at once (_exit) rather than run
	 * exit handlers under it. What the job wrote is not published. */
	bool *threads_left;
};
/* Runs until SIGTERM/SIGINT; takes cfg (frees it). 0 after a clean stop; a negative
 * errno with a sentence when it could not start (a socket, another daemon). */
int daemon_run(struct rv_config *cfg, const struct daemon_opts *o);

/* The control socket's client: one request (a JSON object with "cmd"), one answer.
 * -ECONNREFUSED with the sentence saying no daemon answers when none does. */
int daemon_request(const char *socket_path, json_t *request, int timeout_ms, json_t **answer);

#endif
