/* daemon_impl.h - what the daemon's files share (not a module API):
 *   daemon.c            the loop: poll, signals, reload, stop, readiness
 *   daemon_jobs.c       the schedule and the worker threads (one per running job)
 *   daemon_control.c    the control socket, server side and client
 *   daemon_supervise.c  the supervisor thread of the local members
 *   daemon_notify.c     sd_notify
 *   daemon_observe.c    one function per event, for metrics
 *   job_exec.c          one function per job kind: the modules, and the report JSON
 * Ownership: the loop owns struct daemon and every job_state; a worker owns its
 * job_worker until it sets done; the supervisor's member states are under its mutex. */
#ifndef REGVAULT_DAEMON_IMPL_H
#define REGVAULT_DAEMON_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "scheduler/scheduler.h"

#define DAEMON_MAX_CLIENTS 32
#define DAEMON_MAX_WAITERS 8

/* A configuration shared by the loop, the supervisor and running jobs: a reload
 * makes a new one, and the last user frees the old one. */
struct cfg_ref {
	struct rv_config cfg;
	atomic_int refs;
};
struct cfg_ref *cfg_ref_new(struct rv_config *cfg); /* takes cfg's contents */
struct cfg_ref *cfg_ref_get(struct cfg_ref *r);
void cfg_ref_put(struct cfg_ref *r);

/* ---- one job run on its worker thread ---- */
struct job_worker {
	pthread_t thread;
	enum job_kind kind;
	struct cfg_ref *cfg;
	struct rv_cancel cancel;
	atomic_bool timed_out; /* set before the cancel when the timeout ended it */
	atomic_bool done;      /* run is filled in; the loop joins */
	int wake_fd;
	char holder[96];
	int64_t timeout_ms;
	struct job_run run;
};

enum job_phase { JOB_IDLE, JOB_WAITING, JOB_RUNNING };

struct job_state {
	enum job_phase phase;
	bool has_due, cron;
	int64_t due_mono_ms, due_wall_ms; /* intervals on the monotonic clock, cron on the wall clock */
	int64_t next_wall_ms;             /* the next run, for status */
	int64_t waiting_since_ms;         /* monotonic */
	int64_t deadline_mono_ms;         /* the running job's timeout */
	struct job_worker *w;
	bool has_last;
	struct job_run last; /* error owned, report NULL */
	uint64_t runs, skipped;
	int waiters[DAEMON_MAX_WAITERS]; /* clients of 'run' waiting for this run's end */
	size_t n_waiters;
};

struct control_client {
	int fd; /* -1: free slot */
	struct rv_buf in;
	bool waiting; /* its answer comes when a job ends */
};

struct supervisor;
struct registry_services;
struct leader_election;
struct agent_server;
#define AGENT_FINGERPRINT_MAX 2048

struct daemon {
	struct cfg_ref *cfg;
	const struct daemon_opts *o;
	int sig_fd, ctl_fd, wake_rd, wake_wr, metrics_fd;
	char ctl_path[108];
	char metrics_at[256]; /* the address metrics_fd listens on, "" none */
	bool idle_released; /* jobs_release_idle_memory ran since the last run ended */
	struct supervisor *sup;
	struct registry_services *reg; /* NULL without a registry: section, or while not the leader */
	struct continuous *cont;       /* NULL unless daemon.continuous.enabled and the leader */
	struct leader_election *leader;
	struct agent_server *agent; /* NULL when no member is on another host and there is no agent: section */
	char agent_fp[AGENT_FINGERPRINT_MAX]; /* what the agent serves with (agent_reload.c) */
	bool was_leader;
	struct job_state jobs[JOB_KIND_COUNT];
	struct control_client clients[DAEMON_MAX_CLIENTS];
	bool ready, stopping;
	int64_t stop_deadline_ms, watchdog_ms, next_watchdog_ms, started_ms;
	char holder[96];
	unsigned rand_state;
};

static inline int64_t daemon_mono_ms(void)
{
	return (int64_t)(rv_now_mono() * 1000.0);
}
void daemon_wake(int fd);

/* ---- daemon_jobs.c ---- */
void jobs_init(struct daemon *d);
/* After a reload: new schedules for the jobs whose schedule changed. */
void jobs_reschedule(struct daemon *d, const struct rv_config *old);
/* Start what is due, skip what cannot run, time out what runs too long. */
void jobs_tick(struct daemon *d);
/* Join the workers that are done: record, log, answer the clients waiting. */
void jobs_reap(struct daemon *d);
/* ms until jobs_tick has something to do (capped by the caller). */
int64_t jobs_next_event_ms(struct daemon *d);
/* 'run JOB': 0 when started or queued (client_fd, if >= 0, waits for the end);
 * -EBUSY with a sentence when it runs already. */
int jobs_run_now(struct daemon *d, enum job_kind k, int client_fd);
void jobs_cancel_all(struct daemon *d);
/* This daemon became the leader (runs what was missed) or stopped being it
 * (cancels the cluster-wide jobs it runs). */
void jobs_leadership_changed(struct daemon *d, bool leader);
bool jobs_any_running(const struct daemon *d);
/* Idle: freed memory back to the system, and the library pages idle does not use
 * (see daemon_jobs.c). The loop calls it once no job runs and the next is at least
 * DAEMON_IDLE_RELEASE_MS away (a run due sooner would fault them in again). */
#define DAEMON_IDLE_RELEASE_MS 60000
void jobs_release_idle_memory(void);
/* "snapshot, drill": the jobs running now. */
void jobs_running_names(const struct daemon *d, char *buf, size_t len);
json_t *jobs_status_json(const struct daemon *d);
/* "snapshot success 12:00:01Z, verify failure ..." for STATUS= */
void jobs_summary(const struct daemon *d, char *buf, size_t len);
void jobs_free(struct daemon *d);
json_t *job_run_json(const struct job_run *r);

/* ---- daemon_control.c ---- */
int control_listen(const char *path, int *fd);
void control_accept(struct daemon *d);
/* Read from a client; a complete line is handled. */
void control_readable(struct daemon *d, struct control_client *c);
/* Send one answer line and close the client. */
void control_answer(struct daemon *d, int fd, json_t *answer);
void control_close_all(struct daemon *d);

/* ---- daemon_supervise.c ---- */
int supervisor_start(struct cfg_ref *cfg, int wake_fd, struct supervisor **out);
void supervisor_set_config(struct supervisor *s, struct cfg_ref *cfg);
/* The first start of the members is over (or was not needed); status says how. */
bool supervisor_ready(struct supervisor *s, char *status, size_t len);
json_t *supervisor_status_json(struct supervisor *s);
void supervisor_summary(struct supervisor *s, char *buf, size_t len);
/* Stop the thread; then stop the local members when asked. */
void supervisor_stop(struct supervisor *s, bool stop_members);
/* Ask it to stop (it finishes the check it is in), without waiting. */
void supervisor_request_stop(struct supervisor *s);
/* supervisor_stop that waits for the thread until deadline_ms (daemon_mono_ms):
 * false (s left as it is, still running) when it has not ended by then. */
bool supervisor_stop_by(struct supervisor *s, bool stop_members, int64_t deadline_ms);

/* ---- daemon_registry.c: the registry services' threads ---- */
/* *out stays NULL when the configuration has no registry services to run. */
/* ---- continuous backup's recorder (daemon_continuous.c), on the leader ---- */
struct continuous;
struct continuous_stats {
	int64_t persisted_revision; /* the last revision in a published segment */
	int64_t persisted_unix_ms;  /* when it was received */
	uint64_t segments_written, gaps;
	int64_t pending_since_ms;   /* when the oldest change not yet published came, 0 none */
	uint64_t merged, merged_away, merge_errors; /* daemon_merge.c */
};
/* daemon_merge.c: the thread that merges aged segments (daemon.continuous.merge_windows),
 * beside the recorder. */
struct seg_merger;
int seg_merger_start(struct cfg_ref *cfg, const char *writer, struct seg_merger **out); /* *out NULL: off */
void seg_merger_stop(struct seg_merger *m); /* NULL is fine */
void seg_merger_stats(struct seg_merger *m, struct continuous_stats *into);
/* Nothing (*out NULL) unless daemon.continuous.enabled. */
int continuous_start(struct cfg_ref *cfg, struct continuous **out);
void continuous_stop(struct continuous *c); /* NULL is fine */
void continuous_stats_get(struct continuous *c, struct continuous_stats *out);
/* Its numbers into the metrics (before they are served). NULL is fine. */
void continuous_observe(struct continuous *c);

int registry_services_start(struct cfg_ref *cfg, struct registry_services **out);
/* After a reload: may stop, start or restart them (*rs changes). */
int registry_services_reload(struct registry_services **rs, struct cfg_ref *cfg);
void registry_services_stop(struct registry_services *rs); /* revokes the leases; NULL is fine */
json_t *registry_services_status_json(struct registry_services *rs);
void registry_services_observe(struct registry_services *rs);

/* ---- daemon_leader.c: one leader among the daemons, elected through etcd ---- */
/* This host's member: daemon.member, else the first whose client URL is a local
 * address. -ENOENT with a sentence when none is. */
int daemon_own_member(const struct rv_config *cfg, char *buf, size_t len);
int leader_start(struct cfg_ref *cfg, int wake_fd, struct leader_election **out);
/* True when this daemon leads (false for e NULL). */
bool leader_is_me(struct leader_election *e);
/* The leader's member ("" none) and why there is none. */
void leader_get(struct leader_election *e, char *leader, size_t len, char *why, size_t wlen);
const char *leader_member(struct leader_election *e); /* this daemon's member */
void leader_stop(struct leader_election *e);           /* resigns: the lease is revoked */

/* ---- agent_server.c: the agent's gRPC service for the other hosts ---- */
/* *out stays NULL when the configuration uses no agents. */
int agent_server_start(struct cfg_ref *cfg, struct agent_server **out);
void agent_server_stop(struct agent_server *s); /* NULL is fine */
/* agent_reload.c: after a SIGHUP, the agent restarted when its settings, its member
 * or its certificate files changed (old: the configuration it served with). */
void agent_fingerprint(const struct rv_config *c, char *buf, size_t len);
void agent_reload(struct daemon *d, struct cfg_ref *old);

/* ---- daemon_notify.c ---- */
void notify_ready(const char *status);
void notify_status(const char *status);
void notify_reloading(void);
void notify_stopping(void);
/* Half of WATCHDOG_USEC in ms when systemd asks for keep-alives, else 0. */
int64_t notify_watchdog_interval_ms(void);
void notify_watchdog(void);

/* ---- daemon_observe.c: the metrics module's hooks ---- */
void observe_daemon_started(const struct rv_config *cfg);
void observe_job_started(enum job_kind k, int64_t start_ms);
void observe_job_finished(const struct job_run *r);
void observe_job_next(enum job_kind k, int64_t next_wall_ms);
/* row: the member's cluster_status() row, NULL when the round had none. */
void observe_member_status(const char *member, const char *state, bool healthy, const struct member_row *row);
/* From the job workers, with the modules' results. */
void observe_snapshot_saved(const struct snap_info *si);
void observe_store_artifacts(uint64_t n);
void observe_drill(const struct drill_report *d);
void observe_hashcheck(const struct maint_hash_report *r, int rc);
void observe_diskcheck(const struct maint_diskcheck_result *r);
void observe_member_restarted(const char *member);
void observe_registry_started(void);
void observe_registry_capabilities(const struct manifest_set *s);
void observe_registry_sync(const struct sync_report *r, bool ok, double now);
void observe_registry_heartbeats(const struct heartbeat_stat *st, size_t n, const struct heartbeat_totals *t);
void observe_continuous(const struct continuous_stats *st);
/* An extra listening socket for the loop to poll (HTTP metrics): -1 for none. */
int observe_listen(const struct daemon_settings *ds);
/* After a reload: *fd moves to ds->metrics_listen when it differs from bound, the
 * address *fd listens on ("" none): the new socket first; the old one is kept,
 * and the failure logged, when it cannot be had; "" closes it. bound follows. */
void observe_relisten(char *bound, size_t len, const struct daemon_settings *ds, int *fd);
/* It is readable: accept and serve. */
void observe_serve(int fd, bool healthy);
void observe_close(int fd);

/* ---- job_exec.c ---- */
/* Run one job through the modules. 0 on success; a negative errno with a sentence
 * otherwise. *report (may be set also on failure) has the keys the one-shot
 * command's -o json prints. */
int job_exec(enum job_kind k, const struct rv_config *cfg, const struct rv_cancel *cancel, json_t **report);

#endif
