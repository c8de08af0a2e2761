/* scheduler.h - the scheduler module: configuration, the daemon and its metrics. */
#ifndef REGVAULT_SCHEDULER_H
#define REGVAULT_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

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

struct rv_config {
	char *path; /* the file read */
	struct cluster_spec cluster;
	struct store_spec store;
	struct snapshot_settings snapshot;
	struct maint_settings maint;
	char *state_dir; /* /var/lib/regvault */
	struct daemon_settings daemon;
};

/* Load path, else $REGVAULT_CONFIG, else RV_DEFAULT_CONFIG. An unknown key, a wrong
 * type or a missing required key is -EINVAL with a message naming the key and its
 * line; a secret file readable by others is -EPERM. Defaults are filled in. */
int config_load(const char *path, struct rv_config *out);
/* Parse from memory (tests); name is used in messages. */
int config_parse(const char *text, size_t len, const char *name, struct rv_config *out);
void config_free(struct rv_config *c);

#endif
