/* daemon_api.h - STAND-IN (branch daemon only): the declarations the "sched" branch
 * writes in scheduler/scheduler.h (the daemon: settings, job kinds, schedules, job
 * locks and the job history), so that the daemon builds and is tested before the
 * merge. Implemented minimally in daemon_standin.c. When merging: delete this file
 * and daemon_standin.c, and the #include of this file in scheduler.h. */
#ifndef REGVAULT_DAEMON_API_H
#define REGVAULT_DAEMON_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/common.h"

enum job_kind { JOB_SNAPSHOT, JOB_VERIFY, JOB_COMPACT, JOB_DEFRAG, JOB_HASHCHECK, JOB_DISKCHECK, JOB_DRILL,
		JOB_KIND_COUNT };
const char *job_kind_name(enum job_kind k);
int job_kind_parse(const char *name, enum job_kind *out);
bool job_kind_exclusive(enum job_kind k); /* snapshot, compact, defrag, drill, diskcheck never overlap */

struct cron_expr;
struct job_schedule {
	bool enabled;
	char *cron_text;
	struct cron_expr *cron;
	int64_t every_ms;
	int64_t jitter_ms;
	int64_t timeout_ms;
};
struct daemon_settings {
	bool supervise_members;
	int64_t health_interval_ms;
	int restart_limit;
	bool stop_members_on_exit;
	int64_t jitter_ms;
	int64_t stop_timeout_ms;
	char *control_socket;
	char *metrics_listen;
	struct job_schedule jobs[JOB_KIND_COUNT];
};

int job_next_due(const struct job_schedule *s, int64_t after_ms, int64_t *due_ms);
bool job_missed_at_start(const struct job_schedule *s, int64_t last_success_ms, int64_t now_ms);

struct job_lock;
int job_lock_take(const char *state_dir, enum job_kind k, const char *holder, bool wait,
		  const struct rv_cancel *cancel, struct job_lock **out); /* -EBUSY + who holds it */
void job_lock_release(struct job_lock *l);

struct job_run {
	enum job_kind kind;
	int64_t start_ms, end_ms;
	const char *result; /* success failure skipped cancelled */
	char *error;
	json_t *report;
};
int job_history_append(const char *state_dir, const struct job_run *r);
int job_history_read(const char *state_dir, const char *job, size_t last_n, struct job_run **out, size_t *n);
int job_history_last_success(const char *state_dir, enum job_kind k, int64_t *end_ms);
void job_runs_free(struct job_run *runs, size_t n);

/* Stand-in only, called by config.c: defaults, the daemon: section, free. */
struct cfg_doc;
void daemon_standin_defaults(struct daemon_settings *s);
int daemon_standin_parse(struct cfg_doc *d, const char *path, void *node, struct daemon_settings *s);
void daemon_standin_free(struct daemon_settings *s);

#endif
