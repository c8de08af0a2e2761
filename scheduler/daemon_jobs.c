/* daemon_jobs.c - the schedule and the workers. Only the loop thread calls these;
 * a worker thread touches nothing but its own job_worker, and says it is done
 * through the wake-up pipe.
 *
 * The rules: one run at a time per job; exclusive jobs (job_kind_exclusive) never
 * overlap, so one that comes due while another runs waits, and a wait longer than
 * its interval (it comes due again while waiting) is a skipped run; a job still
 * running when due again skips that run; each run takes the job's lock, and a
 * one-shot command holding it makes the run a skipped one naming the holder. */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "scheduler/daemon_impl.h"

static const struct job_schedule *schedule_of(const struct daemon *d, enum job_kind k)
{
	return &d->cfg->cfg.daemon.jobs[k];
}

static int64_t jitter_of(struct daemon *d, enum job_kind k)
{
	int64_t j = schedule_of(d, k)->jitter_ms > 0 ? schedule_of(d, k)->jitter_ms : d->cfg->cfg.daemon.jitter_ms;
	return j > 0 ? (int64_t)(rand_r(&d->rand_state) % (unsigned)(j > 2000000000 ? 2000000000 : j)) : 0;
}

/* The next run after now, on the clock its schedule uses. */
static void schedule_next(struct daemon *d, enum job_kind k)
{
	struct job_state *j = &d->jobs[k];
	const struct job_schedule *s = schedule_of(d, k);
	int64_t now_wall = rv_now_unix_ms(), due;
	j->has_due = false;
	if (!s->enabled || job_next_due(s, now_wall, &due) < 0) {
		rv_err_clear();
		return;
	}
	due += jitter_of(d, k);
	j->has_due = true;
	j->cron = s->cron != NULL;
	j->due_wall_ms = due;
	j->due_mono_ms = daemon_mono_ms() + (due - now_wall);
	j->next_wall_ms = due;
	observe_job_next(k, due);
}

static bool is_due(const struct job_state *j, int64_t mono, int64_t wall)
{
	return j->has_due && (j->cron ? wall >= j->due_wall_ms : mono >= j->due_mono_ms);
}

/* The cluster-wide jobs run on the leader's daemon only; every daemon checks its
 * own disk. */
static bool runs_here(struct daemon *d, enum job_kind k)
{
	return k == JOB_DISKCHECK || leader_is_me(d->leader);
}

static void due_now(struct daemon *d, enum job_kind k)
{
	struct job_state *j = &d->jobs[k];
	j->has_due = true;
	j->cron = false;
	j->due_mono_ms = daemon_mono_ms();
	j->next_wall_ms = rv_now_unix_ms();
}

/* Several daemons (hosts of their own, or daemon.member naming which one this is)
 * share each cluster-wide job's last run through etcd (job_shared.c). */
static bool shares_runs(const struct rv_config *cfg)
{
	return config_uses_agents(cfg) || cfg->daemon.member;
}

/* When job k last succeeded on another daemon, as shared through etcd (0: unknown). */
static int64_t shared_last_success(const json_t *shared, enum job_kind k)
{
	const json_t *run = shared ? json_object_get(shared, job_kind_name(k)) : NULL;
	const char *result = json_string_value(json_object_get(run, "result"));
	const char *end = json_string_value(json_object_get(run, "finished_at"));
	int64_t s;
	if (!result || strcmp(result, "success") != 0 || json_is_true(json_object_get(run, "prune_only")) || !end ||
	    rv_parse_rfc3339(end, &s) < 0)
		return 0;
	return (s + 1) * 1000; /* the second it ended in, rounded up: never due early */
}

/* Due now when a run was missed (or never succeeded), else at its next time.
 * other_ms: the last success elsewhere (the previous leader's), 0 none. */
static void schedule_first(struct daemon *d, enum job_kind k, int64_t now, int64_t other_ms)
{
	const struct job_schedule *s = schedule_of(d, k);
	int64_t last;
	if (!s->enabled)
		return;
	int r = job_history_last_success(d->cfg->cfg.state_dir, k, &last);
	if (r < 0) {
		rv_warn("%s", rv_errmsg(r));
		rv_err_clear();
		last = 0;
	}
	if (other_ms > last)
		last = other_ms;
	if (job_missed_at_start(s, last, now)) {
		char at[21];
		rv_utc_rfc3339(last / 1000, at);
		if (last > 0)
			rv_info("job %s: a run was missed while the daemon was down (last success %s); running it now",
				job_kind_name(k), at);
		else
			rv_info("job %s has never succeeded; running it now", job_kind_name(k));
		due_now(d, k);
	} else {
		schedule_next(d, k);
	}
}

void jobs_init(struct daemon *d)
{
	int64_t now = rv_now_unix_ms();
	for (int k = 0; k < JOB_KIND_COUNT; k++) {
		/* A run asked for on the control socket before the members were up is
		 * running already: it keeps its worker and its waiters. */
		if (d->jobs[k].phase == JOB_WAITING)
			d->jobs[k].phase = JOB_IDLE;
		schedule_first(d, (enum job_kind)k, now, 0);
	}
}

void jobs_leadership_changed(struct daemon *d, bool leader)
{
	int64_t now = rv_now_unix_ms();
	json_t *shared = NULL;
	const struct rv_config *cfg = &d->cfg->cfg;
	/* what the previous leader ran: a job it has just run is not run again at once */
	if (leader && shares_runs(cfg) && job_shared_read(cfg, 2000, &shared) < 0) {
		rv_warn("the jobs' last runs on the previous leader could not be read from etcd (%s); each runs as this "
			"daemon's own history says", rv_errmsg(-EIO));
		rv_err_clear();
	}
	for (int k = 0; k < JOB_KIND_COUNT; k++) {
		struct job_state *j = &d->jobs[k];
		if (k == JOB_DISKCHECK)
			continue;
		if (leader && j->phase == JOB_IDLE && !(j->has_due && is_due(j, daemon_mono_ms(), now))) {
			/* what the last leader's absence missed */
			schedule_first(d, (enum job_kind)k, now, shared_last_success(shared, (enum job_kind)k));
		} else if (!leader && j->phase == JOB_RUNNING) {
			rv_warn("job %s: cancelled, this daemon is no longer the leader (another one may run it now)",
				job_kind_name((enum job_kind)k));
			rv_cancel_request(&j->w->cancel);
		} else if (!leader && j->phase == JOB_WAITING) {
			j->phase = JOB_IDLE;
		}
	}
	json_decref(shared);
}

static bool same_schedule(const struct job_schedule *a, const struct job_schedule *b)
{
	const char *ca = a->cron_text ? a->cron_text : "", *cb = b->cron_text ? b->cron_text : "";
	return a->enabled == b->enabled && a->every_ms == b->every_ms && strcmp(ca, cb) == 0 &&
	       a->jitter_ms == b->jitter_ms;
}

void jobs_reschedule(struct daemon *d, const struct rv_config *old)
{
	for (int k = 0; k < JOB_KIND_COUNT; k++)
		if (!same_schedule(&old->daemon.jobs[k], schedule_of(d, (enum job_kind)k)))
			schedule_next(d, (enum job_kind)k);
}

/* A run that did not happen: counted, logged, in the history. */
static void record_skipped(struct daemon *d, enum job_kind k, const char *why)
{
	struct job_run r = {.kind = k, .start_ms = rv_now_unix_ms(), .result = "skipped", .error = (char *)why};
	r.end_ms = r.start_ms;
	d->jobs[k].skipped++;
	rv_warn("job %s: run skipped: %s", job_kind_name(k), why);
	int e = job_history_append(d->cfg->cfg.state_dir, &r);
	if (e < 0) {
		rv_warn("%s", rv_errmsg(e));
		rv_err_clear();
	}
	observe_job_finished(&r);
}

static void *worker_main(void *arg)
{
	struct job_worker *w = arg;
	struct job_lock *lock = NULL;
	const struct rv_config *cfg = &w->cfg->cfg;
	json_t *report = NULL;
	char dur[16];
	observe_job_started(w->kind, w->run.start_ms);
	int r = job_lock_take(cfg->state_dir, w->kind, w->holder, false, &w->cancel, &lock);
	if (r == -EBUSY) {
		w->run.result = "skipped";
	} else if (r == 0) {
		r = job_exec(w->kind, cfg, &w->cancel, &report);
		job_lock_release(lock);
		if (r == 0)
			w->run.result = "success";
		else if (atomic_load(&w->timed_out))
			w->run.result = "failure";
		else if (rv_cancelled(&w->cancel))
			w->run.result = "cancelled";
		else
			w->run.result = "failure";
	} else {
		w->run.result = "failure";
	}
	w->run.end_ms = rv_now_unix_ms();
	if (r < 0 && atomic_load(&w->timed_out)) {
		char *e = NULL;
		rv_fmt_duration((double)w->timeout_ms / 1000, dur, sizeof dur);
		if (asprintf(&e, "the run did not finish within its timeout of %s and was cancelled: %s", dur,
			     rv_errmsg(r)) < 0)
			e = NULL;
		w->run.error = e;
	} else if (r < 0) {
		w->run.error = rv_strdup(rv_errmsg(r));
	}
	rv_err_clear();
	w->run.report = report;
	if ((r = job_history_append(cfg->state_dir, &w->run)) < 0) {
		rv_warn("%s", rv_errmsg(r));
		rv_err_clear();
	}
	/* Every host's `daemon status` shows where and how a cluster-wide job last ran
	 * (a run skipped for the lock is another's), and a new leader goes on from it
	 * instead of running at once what the last one has just run. */
	if (shares_runs(cfg) && w->kind != JOB_DISKCHECK && strcmp(w->run.result, "skipped") != 0) {
		char own[64];
		if ((r = config_own_member(cfg, own, sizeof own)) < 0 ||
		    (r = job_shared_publish(cfg, own, &w->run)) < 0) {
			rv_warn("job %s: its run could not be recorded in etcd for the other hosts: %s",
				job_kind_name(w->kind), rv_errmsg(r));
			rv_err_clear();
		}
	}
	atomic_store(&w->done, true);
	daemon_wake(w->wake_fd);
	return NULL;
}

static bool exclusive_running(const struct daemon *d)
{
	for (int k = 0; k < JOB_KIND_COUNT; k++)
		if (d->jobs[k].phase == JOB_RUNNING && job_kind_exclusive((enum job_kind)k))
			return true;
	return false;
}

static const char *exclusive_running_name(const struct daemon *d)
{
	for (int k = 0; k < JOB_KIND_COUNT; k++)
		if (d->jobs[k].phase == JOB_RUNNING && job_kind_exclusive((enum job_kind)k))
			return job_kind_name((enum job_kind)k);
	return "another";
}

static void answer_waiters(struct daemon *d, enum job_kind k, const struct job_run *r)
{
	struct job_state *j = &d->jobs[k];
	for (size_t i = 0; i < j->n_waiters; i++) {
		json_t *a = json_object();
		json_object_set_new(a, "ok", json_true());
		json_object_set_new(a, "run", job_run_json(r));
		control_answer(d, j->waiters[i], a);
	}
	j->n_waiters = 0;
}

static void start_worker(struct daemon *d, enum job_kind k)
{
	struct job_state *j = &d->jobs[k];
	struct job_worker *w = rv_xcalloc(1, sizeof *w);
	const struct job_schedule *s = schedule_of(d, k);
	w->kind = k;
	w->cfg = cfg_ref_get(d->cfg);
	w->wake_fd = d->wake_wr;
	w->timeout_ms = s->timeout_ms; /* 0: none */
	w->run.kind = k;
	w->run.start_ms = rv_now_unix_ms(); /* here: the loop reads it while the worker runs */
	snprintf(w->holder, sizeof w->holder, "%s", d->holder);
	int r = pthread_create(&w->thread, NULL, worker_main, w);
	if (r != 0) {
		char why[256];
		snprintf(why, sizeof why, "cannot start a thread for it: %s", strerror(r));
		cfg_ref_put(w->cfg);
		free(w);
		j->phase = JOB_IDLE;
		record_skipped(d, k, why);
		struct job_run sk = {.kind = k, .result = "skipped", .error = why};
		answer_waiters(d, k, &sk);
		return;
	}
	rv_info("job %s started", job_kind_name(k));
	j->w = w;
	j->phase = JOB_RUNNING;
	j->deadline_mono_ms = w->timeout_ms > 0 ? daemon_mono_ms() + w->timeout_ms : INT64_MAX;
}

/* Due or asked for: start it, or wait for the exclusive job that runs. */
static void try_start(struct daemon *d, enum job_kind k)
{
	struct job_state *j = &d->jobs[k];
	if (job_kind_exclusive(k) && exclusive_running(d)) {
		if (j->phase != JOB_WAITING) {
			rv_info("job %s waits for the %s job to finish (they never run at once)", job_kind_name(k),
				exclusive_running_name(d));
			j->phase = JOB_WAITING;
			j->waiting_since_ms = daemon_mono_ms();
		}
		return;
	}
	start_worker(d, k);
}

/* The waiting job that waited longest, once no exclusive job runs. */
static void start_waiting(struct daemon *d)
{
	while (!d->stopping && !exclusive_running(d)) {
		int best = -1;
		for (int k = 0; k < JOB_KIND_COUNT; k++)
			if (d->jobs[k].phase == JOB_WAITING && runs_here(d, (enum job_kind)k) &&
			    (best < 0 || d->jobs[k].waiting_since_ms < d->jobs[best].waiting_since_ms))
				best = k;
		if (best < 0)
			return;
		start_worker(d, (enum job_kind)best);
	}
}

void jobs_tick(struct daemon *d)
{
	int64_t mono = daemon_mono_ms(), wall = rv_now_unix_ms();
	char why[256];
	for (int k = 0; k < JOB_KIND_COUNT; k++) {
		struct job_state *j = &d->jobs[k];
		if (j->phase == JOB_RUNNING && mono >= j->deadline_mono_ms && !atomic_load(&j->w->timed_out)) {
			rv_warn("job %s: over its timeout; cancelling it", job_kind_name((enum job_kind)k));
			atomic_store(&j->w->timed_out, true);
			rv_cancel_request(&j->w->cancel);
		}
		if (d->stopping || !is_due(j, mono, wall))
			continue;
		schedule_next(d, (enum job_kind)k);
		if (!runs_here(d, (enum job_kind)k))
			continue; /* the leader's daemon runs it */
		if (j->phase == JOB_RUNNING) {
			char at[21];
			rv_utc_rfc3339(j->w->run.start_ms / 1000, at);
			snprintf(why, sizeof why, "the run started at %s was still running when the next one came due", at);
			record_skipped(d, (enum job_kind)k, why);
		} else if (j->phase == JOB_WAITING) {
			snprintf(why, sizeof why, "it waited longer than its interval for the %s job to finish",
				 exclusive_running_name(d));
			record_skipped(d, (enum job_kind)k, why);
			j->waiting_since_ms = mono; /* the new run waits from now */
		} else {
			try_start(d, (enum job_kind)k);
		}
	}
	start_waiting(d);
}

void jobs_reap(struct daemon *d)
{
	char dur[16];
	for (int k = 0; k < JOB_KIND_COUNT; k++) {
		struct job_state *j = &d->jobs[k];
		struct job_worker *w = j->w;
		if (j->phase != JOB_RUNNING || !atomic_load(&w->done))
			continue;
		pthread_join(w->thread, NULL);
		rv_fmt_duration((double)(w->run.end_ms - w->run.start_ms) / 1000, dur, sizeof dur);
		if (strcmp(w->run.result, "success") == 0)
			rv_info("job %s finished: success in %s", job_kind_name(w->kind), dur);
		else
			rv_log(strcmp(w->run.result, "failure") == 0 ? RV_LOG_ERROR : RV_LOG_WARN,
			       "job %s finished: %s in %s: %s", job_kind_name(w->kind), w->run.result, dur,
			       w->run.error ? w->run.error : "");
		observe_job_finished(&w->run);
		answer_waiters(d, (enum job_kind)k, &w->run);
		if (strcmp(w->run.result, "skipped") == 0)
			j->skipped++;
		else
			j->runs++;
		free(j->last.error);
		j->last = w->run;
		j->last.report = NULL;
		j->has_last = true;
		json_decref(w->run.report);
		cfg_ref_put(w->cfg);
		free(w);
		j->w = NULL;
		j->phase = JOB_IDLE;
		/* A run's buffers (a snapshot's chunks, a drill's) go back to the system
		 * between runs, so months of runs leave the RSS where the first ones did. */
		malloc_trim(0);
		d->idle_released = false; /* what the run touched, once idle again */
	}
	start_waiting(d);
}

/* The daemon idle holds about 10 MB: most of its RSS otherwise is library code
 * and data that loading ~100 shared libraries, their constructors and the runs
 * touched once (gRPC, OpenSSL, libcurl's GnuTLS, libarchive's libxml2 and ICU)
 * and that stays resident, clean, until the kernel needs the memory. Idle, those
 * pages are handed back (MADV_PAGEOUT on our file mappings: the kernel skips what
 * another process maps too); what the health checks and the control socket use is
 * faulted in again at once, and the next run faults in what it needs (read again
 * from disk when the page cache let it go: the loop does this only when the next
 * run is a while away). */
void jobs_release_idle_memory(void)
{
	char line[PATH_MAX + 128];
	malloc_trim(0);
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned long a, b, off, ino;
		char perms[8], dev[16];
		int name_at = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &a, &b, perms, &off, dev, &ino, &name_at) < 6)
			continue;
		/* Files only (not the heap, stacks or anonymous memory), and not written
		 * pages: a private page we wrote would be swapped, not dropped. */
		if (ino == 0 || name_at <= 0 || line[name_at] != '/' || perms[1] == 'w')
			continue;
		if (madvise((void *)a, b - a, MADV_PAGEOUT) < 0 && (errno == EINVAL || errno == ENOSYS))
			break; /* a kernel before 5.4: nothing to do */
	}
	fclose(f);
}

int64_t jobs_next_event_ms(struct daemon *d)
{
	int64_t mono = daemon_mono_ms(), wall = rv_now_unix_ms(), best = INT64_MAX;
	for (int k = 0; k < JOB_KIND_COUNT; k++) {
		const struct job_state *j = &d->jobs[k];
		int64_t t = INT64_MAX;
		if (j->has_due && !d->stopping)
			t = j->cron ? j->due_wall_ms - wall : j->due_mono_ms - mono;
		if (j->phase == JOB_RUNNING && j->deadline_mono_ms - mono < t)
			t = j->deadline_mono_ms - mono;
		if (t < best)
			best = t;
	}
	return best < 0 ? 0 : best;
}

int jobs_run_now(struct daemon *d, enum job_kind k, int client_fd)
{
	struct job_state *j = &d->jobs[k];
	if (d->stopping)
		return rv_fail(-ESHUTDOWN, "the daemon is stopping and starts no more runs");
	if (!runs_here(d, k)) {
		char leader[64], why[512];
		leader_get(d->leader, leader, sizeof leader, why, sizeof why);
		if (leader[0])
			return rv_fail(-EREMOTE, "the %s job runs on the leader, the daemon of member %s; this daemon is not "
						 "the leader", job_kind_name(k), leader);
		return rv_fail(-EREMOTE, "the %s job runs on the leader and no daemon leads now (%s)", job_kind_name(k), why);
	}
	if (j->phase == JOB_RUNNING) {
		char at[21];
		rv_utc_rfc3339(j->w->run.start_ms / 1000, at);
		return rv_fail(-EBUSY, "the %s job is already running (since %s); wait for it to finish",
			       job_kind_name(k), at);
	}
	if (client_fd >= 0 && j->n_waiters == DAEMON_MAX_WAITERS)
		return rv_fail(-EAGAIN, "too many clients wait for the %s job already; try again later", job_kind_name(k));
	if (client_fd >= 0)
		j->waiters[j->n_waiters++] = client_fd;
	rv_info("job %s: run asked for on the control socket", job_kind_name(k));
	if (j->phase == JOB_IDLE)
		try_start(d, k);
	return 0;
}

void jobs_cancel_all(struct daemon *d)
{
	for (int k = 0; k < JOB_KIND_COUNT; k++) {
		struct job_state *j = &d->jobs[k];
		if (j->phase == JOB_RUNNING)
			rv_cancel_request(&j->w->cancel);
		if (j->phase == JOB_WAITING) {
			struct job_run r = {.kind = (enum job_kind)k, .start_ms = rv_now_unix_ms(), .result = "cancelled",
					    .error = "the daemon stopped before the run could start"};
			r.end_ms = r.start_ms;
			answer_waiters(d, (enum job_kind)k, &r);
			j->phase = JOB_IDLE;
		}
		j->has_due = false;
	}
}

void jobs_running_names(const struct daemon *d, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = 0;
	for (int k = 0; k < JOB_KIND_COUNT && at < len; k++)
		if (d->jobs[k].phase == JOB_RUNNING)
			at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "", job_kind_name((enum job_kind)k));
}

bool jobs_any_running(const struct daemon *d)
{
	for (int k = 0; k < JOB_KIND_COUNT; k++)
		if (d->jobs[k].phase == JOB_RUNNING)
			return true;
	return false;
}

static json_t *ms_time(int64_t ms)
{
	char t[21];
	if (ms <= 0)
		return json_null();
	rv_utc_rfc3339(ms / 1000, t);
	return json_string(t);
}

json_t *job_run_json(const struct job_run *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "job", json_string(job_kind_name(r->kind)));
	json_object_set_new(o, "result", json_string(r->result));
	json_object_set_new(o, "started_at", ms_time(r->start_ms));
	json_object_set_new(o, "finished_at", ms_time(r->end_ms));
	json_object_set_new(o, "duration_s", json_real((double)(r->end_ms - r->start_ms) / 1000));
	json_object_set_new(o, "error", r->error ? json_string(r->error) : json_null());
	json_object_set_new(o, "report", r->report ? json_incref(r->report) : json_null());
	return o;
}

json_t *jobs_status_json(const struct daemon *d)
{
	static const char *const phases[] = {"idle", "waiting", "running"};
	json_t *a = json_array();
	for (int k = 0; k < JOB_KIND_COUNT; k++) {
		const struct job_state *j = &d->jobs[k];
		const struct job_schedule *s = &d->cfg->cfg.daemon.jobs[k];
		json_t *o = json_object();
		char every[16];
		json_object_set_new(o, "job", json_string(job_kind_name((enum job_kind)k)));
		json_object_set_new(o, "enabled", json_boolean(s->enabled));
		if (s->cron_text)
			json_object_set_new(o, "schedule", json_string(s->cron_text));
		else if (s->every_ms > 0)
			json_object_set_new(o, "schedule", json_sprintf("every %s", rv_fmt_duration((double)s->every_ms / 1000, every, sizeof every)));
		else
			json_object_set_new(o, "schedule", json_null());
		json_object_set_new(o, "state", json_string(phases[j->phase]));
		json_object_set_new(o, "running_since", j->phase == JOB_RUNNING ? ms_time(j->w->run.start_ms) : json_null());
		if (j->has_last) {
			json_t *last = job_run_json(&j->last);
			json_object_del(last, "report");
			json_object_set_new(o, "last_run", last);
		} else {
			json_object_set_new(o, "last_run", json_null());
		}
		json_object_set_new(o, "next_run", j->has_due && !d->stopping ? ms_time(j->next_wall_ms) : json_null());
		json_object_set_new(o, "runs", json_integer((json_int_t)j->runs));
		json_object_set_new(o, "skipped", json_integer((json_int_t)j->skipped));
		json_array_append_new(a, o);
	}
	return a;
}

void jobs_summary(const struct daemon *d, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = 0;
	for (int k = 0; k < JOB_KIND_COUNT && off < len; k++) {
		const struct job_state *j = &d->jobs[k];
		char at[21];
		if (j->phase == JOB_RUNNING) {
			off += (size_t)snprintf(buf + off, len - off, "%s%s running", off ? ", " : "",
						job_kind_name((enum job_kind)k));
		} else if (j->has_last) {
			rv_utc_rfc3339(j->last.end_ms / 1000, at);
			off += (size_t)snprintf(buf + off, len - off, "%s%s %s %s", off ? ", " : "",
						job_kind_name((enum job_kind)k), j->last.result, at + 11);
		}
	}
}

void jobs_free(struct daemon *d)
{
	for (int k = 0; k < JOB_KIND_COUNT; k++) {
		free(d->jobs[k].last.error);
		d->jobs[k].last.error = NULL;
	}
}
