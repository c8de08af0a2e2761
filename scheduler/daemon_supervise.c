/* daemon_supervise.c - the supervisor thread (daemon.supervise_members): starts the
 * local members that are not running, as 'cluster up' does, checks them every
 * health_interval, and restarts one whose process died, with back-off (1 s
 * doubling to 60 s) and at most restart_limit restarts in 10 minutes.
 *
 * It does not fight an operator: a member whose pid file is gone was stopped on
 * purpose ('regvault cluster down' removes it; a crash leaves it) and is left
 * stopped until it runs again; and while a restore holds its lock or an interrupted
 * restore's journal exists, nothing is looked at or started. Members are looked at
 * and started under a shared hold of the restore lock, so a restore that begins
 * meanwhile waits for the start to finish instead of racing it. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduler/daemon_impl.h"

#define RESTART_WINDOW_MS (10 * 60 * 1000)
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define STABLE_MS 60000 /* running this long: the back-off starts again from 1 s */
#define FIRST_WAIT_MS 60000
#define MAX_RESTARTS_KEPT 64

enum sup_state { SUP_UNKNOWN, SUP_RUNNING, SUP_RESTARTING, SUP_GAVE_UP, SUP_STOPPED_BY_OPERATOR, SUP_UNSUPERVISED };

static const char *const state_names[] = {"unknown", "running", "restarting", "gave-up", "stopped-by-operator",
					  "not-supervised"};

struct member_sup {
	char name[64];
	bool local;
	enum sup_state state;
	pid_t pid;
	bool healthy;
	int64_t restart_at_ms, backoff_ms, running_since_ms;
	int64_t restarts[MAX_RESTARTS_KEPT]; /* when, monotonic ms, the oldest first */
	size_t n_restarts;
	bool restarted; /* this daemon started it again and has not yet seen it run */
	char reason[2048];
};

struct supervisor {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cfg_ref *cfg;
	bool stop, ready, paused;
	char ready_status[1024], pause_reason[512];
	struct member_sup *m;
	size_t n;
	int wake_fd;
};

/* Members as configured; the states of those that keep their name are kept. */
static void members_from_config(struct supervisor *s, const struct rv_config *cfg)
{
	const struct cluster_spec *cs = &cfg->cluster;
	struct member_sup *m = rv_xcalloc(cs->n_members ? cs->n_members : 1, sizeof *m);
	for (size_t i = 0; i < cs->n_members; i++) {
		snprintf(m[i].name, sizeof m[i].name, "%s", cs->members[i].name);
		m[i].local = cs->members[i].control == MEMBER_CONTROL_LOCAL && config_member_here(cfg, i);
		m[i].backoff_ms = BACKOFF_MIN_MS;
		for (size_t j = 0; j < s->n; j++)
			if (strcmp(s->m[j].name, m[i].name) == 0)
				m[i] = s->m[j];
		m[i].local = cs->members[i].control == MEMBER_CONTROL_LOCAL && config_member_here(cfg, i);
		if (!m[i].local || !cfg->daemon.supervise_members)
			m[i].state = SUP_UNSUPERVISED;
		else if (m[i].state == SUP_UNSUPERVISED)
			m[i].state = SUP_UNKNOWN;
	}
	free(s->m);
	s->m = m;
	s->n = cs->n_members;
}

static bool pid_file_exists(const struct member_spec *ms)
{
	char path[PATH_MAX];
	member_pid_path(ms, path, sizeof path);
	return rv_path_exists(path);
}

static size_t restarts_in_window(struct member_sup *m, int64_t now)
{
	size_t keep = 0;
	for (size_t i = 0; i < m->n_restarts; i++)
		if (now - m->restarts[i] < RESTART_WINDOW_MS)
			m->restarts[keep++] = m->restarts[i];
	m->n_restarts = keep;
	return keep;
}

/* Why supervision must wait, or "" (then *hold_fd holds the restore lock shared).
 * The lock first: a restore that runs has a journal too. */
static void pause_reason(const struct rv_config *cfg, char *buf, size_t len, int *hold_fd)
{
	struct restore_pending p;
	bool found = false, held = false;
	*hold_fd = -1;
	buf[0] = 0;
	int r = restore_hold(cfg->state_dir, hold_fd, &held);
	if (r < 0) {
		snprintf(buf, len, "%s", rv_errmsg(r));
		rv_err_clear();
		return;
	}
	if (!held) {
		snprintf(buf, len, "a restore, rollback or cleanup holds the restore lock in %s", cfg->state_dir);
		return;
	}
	r = restore_pending(cfg->state_dir, &p, &found);
	if (r == 0 && found) {
		snprintf(buf, len, "an interrupted restore of %s waits in phase %s (%s)", p.artifact, p.phase, p.hint);
		restore_hold_release(*hold_fd);
		*hold_fd = -1;
	}
	rv_err_clear();
}

/* The pid a member's pid file names, 0 when none. */
static long pid_in_file(const struct member_spec *ms)
{
	char path[PATH_MAX], *s;
	member_pid_path(ms, path, sizeof path);
	if (rv_read_file(path, &s, NULL, 64) < 0) {
		rv_err_clear();
		return 0;
	}
	long pid = strtol(s, NULL, 10);
	free(s);
	return pid;
}

/* One member whose process is not there. Called with the restore lock held. */
static void member_down(struct supervisor *s, const struct rv_config *cfg, size_t i, int64_t now)
{
	struct member_sup *m = &s->m[i];
	const struct member_spec *ms = &cfg->cluster.members[i];
	char wait[16];
	switch (m->state) {
	case SUP_RUNNING:
		if (!pid_file_exists(ms)) {
			m->state = SUP_STOPPED_BY_OPERATOR;
			rv_info("member %s was stopped (its pid file is gone, as stopping the cluster on purpose leaves it); "
				"the daemon leaves it stopped until it runs again", m->name);
			return;
		}
		rv_warn("member %s (pid %d) died; restarting it in %s", m->name, (int)m->pid,
			rv_fmt_duration((double)m->backoff_ms / 1000, wait, sizeof wait));
		m->state = SUP_RESTARTING;
		m->restart_at_ms = now + m->backoff_ms;
		return;
	case SUP_UNKNOWN: /* not seen running since the start or a pause */
		m->state = SUP_RESTARTING;
		m->restarted = false;
		if (pid_file_exists(ms)) {
			rv_warn("member %s (pid %ld) died; restarting it in %s", m->name, pid_in_file(ms),
				rv_fmt_duration((double)m->backoff_ms / 1000, wait, sizeof wait));
			m->restart_at_ms = now + m->backoff_ms;
			return;
		}
		rv_info("member %s is not running; starting it", m->name);
		m->restart_at_ms = now;
		break;
	case SUP_RESTARTING:
		/* restarted, then stopped on purpose (cluster down, here or through the
		 * agent) before a round saw it run: its pid file is gone */
		if (m->restarted && !pid_file_exists(ms)) {
			m->state = SUP_STOPPED_BY_OPERATOR;
			m->restarted = false;
			rv_info("member %s was stopped (its pid file is gone, as stopping the cluster on purpose leaves it); "
				"the daemon leaves it stopped until it runs again", m->name);
			return;
		}
		break;
	default:
		return; /* gave up, or stopped by an operator: until it runs again */
	}
	if (now < m->restart_at_ms)
		return;
	if (restarts_in_window(m, now) >= (size_t)(cfg->daemon.restart_limit > 0 ? cfg->daemon.restart_limit : 0)) {
		char *tail = member_log_tail(ms, 5);
		char path[PATH_MAX];
		member_log_path(ms, path, sizeof path);
		m->state = SUP_GAVE_UP;
		snprintf(m->reason, sizeof m->reason,
			 "member %s was restarted %zu times within 10 minutes and still does not stay up; the daemon "
			 "stopped restarting it: fix what its log %s says and start the member again (the daemon takes it back once it runs); "
			 "the log ends:\n%s",
			 m->name, m->n_restarts, path, tail);
		free(tail);
		rv_log(RV_LOG_ERROR, "%s", m->reason);
		return;
	}
	int r = member_start(&cfg->cluster, i);
	if (m->n_restarts == MAX_RESTARTS_KEPT)
		memmove(m->restarts, m->restarts + 1, --m->n_restarts * sizeof *m->restarts);
	m->restarts[m->n_restarts++] = now;
	if (r < 0) {
		snprintf(m->reason, sizeof m->reason, "%s", rv_errmsg(r));
		rv_warn("restarting member %s failed: %s", m->name, m->reason);
		rv_err_clear();
	} else {
		m->reason[0] = 0;
		m->restarted = true;
		rv_info("restarted member %s (restart %zu within 10 minutes)", m->name, m->n_restarts);
		observe_member_restarted(m->name);
	}
	m->restart_at_ms = now + m->backoff_ms;
	m->backoff_ms = m->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : m->backoff_ms * 2;
}

/* One round: health of every member, then (unless paused) the local processes. */
static void check_members(struct supervisor *s, const struct rv_config *cfg, etcd_client *health)
{
	struct member_row *rows = NULL;
	size_t n_rows = 0;
	char why[512];
	int hold = -1;
	if ((health ? cluster_status_on(health, &cfg->cluster, &rows, &n_rows)
		    : cluster_status(&cfg->cluster, &rows, &n_rows)) < 0)
		rv_err_clear();
	bool supervise = cfg->daemon.supervise_members;
	if (supervise)
		pause_reason(cfg, why, sizeof why, &hold);
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n && i < n_rows; i++)
		s->m[i].healthy = rows[i].h.healthy;
	if (supervise && why[0]) {
		if (!s->paused)
			rv_info("member supervision paused: %s", why);
		s->paused = true;
		snprintf(s->pause_reason, sizeof s->pause_reason, "%s", why);
	} else if (supervise) {
		if (s->paused) {
			rv_info("member supervision resumed");
			for (size_t i = 0; i < s->n; i++)
				if (s->m[i].state != SUP_UNSUPERVISED)
					s->m[i].state = SUP_UNKNOWN;
		}
		s->paused = false;
		s->pause_reason[0] = 0;
		int64_t now = daemon_mono_ms();
		for (size_t i = 0; i < s->n; i++) {
			struct member_sup *m = &s->m[i];
			if (m->state == SUP_UNSUPERVISED)
				continue;
			pid_t pid = member_running_pid(&cfg->cluster.members[i]);
			if (pid > 0) {
				if (m->state != SUP_RUNNING) {
					if (m->state == SUP_RESTARTING || m->state == SUP_GAVE_UP ||
					    m->state == SUP_STOPPED_BY_OPERATOR)
						rv_info("member %s runs again (pid %d)", m->name, (int)pid);
					m->state = SUP_RUNNING;
					m->restarted = false;
					m->running_since_ms = now;
					m->reason[0] = 0;
				}
				if (now - m->running_since_ms >= STABLE_MS)
					m->backoff_ms = BACKOFF_MIN_MS;
				m->pid = pid;
				/* Months of running must not fill the disk with its log. */
				bool rotated;
				int lr = member_log_rotate(&cfg->cluster.members[i], MEMBER_LOG_MAX_BYTES,
							   MEMBER_LOG_KEEP, &rotated);
				if (lr < 0) {
					rv_warn("%s", rv_errmsg(lr));
					rv_err_clear();
				} else if (rotated) {
					rv_info("member %s: its log passed %llu MiB and was rotated", m->name,
						(unsigned long long)(MEMBER_LOG_MAX_BYTES >> 20));
				}
			} else {
				member_down(s, cfg, i, now);
			}
		}
	}
	for (size_t i = 0; i < s->n; i++)
		observe_member_status(s->m[i].name, state_names[s->m[i].state], s->m[i].healthy,
				      i < n_rows ? &rows[i] : NULL);
	pthread_mutex_unlock(&s->mu);
	restore_hold_release(hold);
	free(rows);
}

static bool stop_asked(struct supervisor *s)
{
	pthread_mutex_lock(&s->mu);
	bool stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

/* The first start: what is not running is started, then a bounded wait for health. */
static void first_start(struct supervisor *s, const struct rv_config *cfg)
{
	char status[1024] = "", why[512];
	int hold = -1;
	const struct cluster_spec *cs = &cfg->cluster;
	if (!cfg->daemon.supervise_members) {
		snprintf(status, sizeof status, "members are not supervised (daemon.supervise_members is false)");
	} else {
		pause_reason(cfg, why, sizeof why, &hold);
		if (why[0]) {
			snprintf(status, sizeof status, "member supervision paused: %s", why);
			rv_info("%s", status);
			pthread_mutex_lock(&s->mu);
			s->paused = true;
			snprintf(s->pause_reason, sizeof s->pause_reason, "%s", why);
			pthread_mutex_unlock(&s->mu);
		} else {
			for (size_t i = 0; i < cs->n_members; i++) {
				if (cs->members[i].control != MEMBER_CONTROL_LOCAL || !config_member_here(cfg, i) ||
				    member_running_pid(&cs->members[i]) > 0)
					continue;
				rv_info("starting member %s", cs->members[i].name);
				int r = member_start(cs, i);
				if (r < 0) {
					rv_warn("%s", rv_errmsg(r));
					rv_err_clear();
				}
			}
			restore_hold_release(hold);
			/* In slices, so that a stop does not wait for the whole bound. */
			int r = -ETIMEDOUT;
			for (int64_t waited = 0; waited < FIRST_WAIT_MS && r < 0 && !stop_asked(s); waited += 2000) {
				rv_err_clear();
				r = cluster_wait_healthy(cs, 2000, NULL);
			}
			if (r < 0 && stop_asked(s)) {
				rv_err_clear();
			} else if (r < 0) {
				snprintf(status, sizeof status, "not every member is up: %s", rv_errmsg(r));
				rv_warn("%s", status);
				rv_err_clear();
			}
		}
	}
	pthread_mutex_lock(&s->mu);
	s->ready = true;
	snprintf(s->ready_status, sizeof s->ready_status, "%s", status);
	pthread_mutex_unlock(&s->mu);
	daemon_wake(s->wake_fd);
}

static void *supervisor_main(void *arg)
{
	struct supervisor *s = arg;
	pthread_mutex_lock(&s->mu);
	struct cfg_ref *cfg = cfg_ref_get(s->cfg);
	pthread_mutex_unlock(&s->mu);
	etcd_client *health = NULL;
	struct cfg_ref *health_cfg = NULL;
	first_start(s, &cfg->cfg);
	cfg_ref_put(cfg);
	for (;;) {
		pthread_mutex_lock(&s->mu);
		int64_t interval = s->cfg->cfg.daemon.health_interval_ms > 0 ? s->cfg->cfg.daemon.health_interval_ms : 10000;
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += interval / 1000;
		until.tv_nsec += (interval % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT)
			;
		if (s->stop) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		cfg = cfg_ref_get(s->cfg);
		pthread_mutex_unlock(&s->mu);
		/* One client per configuration: channels are not set up again every
		 * health_interval (the ref held keeps its address from being reused). */
		if (cfg != health_cfg) {
			etcd_client_free(health);
			health = NULL;
			if (health_cfg)
				cfg_ref_put(health_cfg);
			health_cfg = cfg_ref_get(cfg);
			if (cluster_client_new(&cfg->cfg.cluster, 3000, &health) < 0) {
				rv_err_clear();
				health = NULL;
			}
		}
		check_members(s, &cfg->cfg, health);
		cfg_ref_put(cfg);
		daemon_wake(s->wake_fd); /* STATUS= may have changed */
	}
	etcd_client_free(health);
	if (health_cfg)
		cfg_ref_put(health_cfg);
	return NULL;
}

int supervisor_start(struct cfg_ref *cfg, int wake_fd, struct supervisor **out)
{
	struct supervisor *s = rv_xcalloc(1, sizeof *s);
	pthread_condattr_t ca;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	s->cfg = cfg_ref_get(cfg);
	s->wake_fd = wake_fd;
	members_from_config(s, &cfg->cfg);
	int r = pthread_create(&s->thread, NULL, supervisor_main, s);
	if (r != 0) {
		cfg_ref_put(s->cfg);
		free(s->m);
		free(s);
		return rv_fail(-r, "cannot start the supervisor thread: %s", strerror(r));
	}
	*out = s;
	return 0;
}

void supervisor_set_config(struct supervisor *s, struct cfg_ref *cfg)
{
	pthread_mutex_lock(&s->mu);
	cfg_ref_put(s->cfg);
	s->cfg = cfg_ref_get(cfg);
	members_from_config(s, &cfg->cfg);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

bool supervisor_ready(struct supervisor *s, char *status, size_t len)
{
	pthread_mutex_lock(&s->mu);
	bool ready = s->ready;
	snprintf(status, len, "%s", s->ready_status);
	pthread_mutex_unlock(&s->mu);
	return ready;
}

json_t *supervisor_status_json(struct supervisor *s)
{
	json_t *o = json_object(), *a = json_array();
	int64_t now = daemon_mono_ms();
	pthread_mutex_lock(&s->mu);
	json_object_set_new(o, "enabled", json_boolean(s->cfg->cfg.daemon.supervise_members));
	json_object_set_new(o, "paused", json_boolean(s->paused));
	json_object_set_new(o, "pause_reason", s->paused ? json_string(s->pause_reason) : json_null());
	for (size_t i = 0; i < s->n; i++) {
		struct member_sup *m = &s->m[i];
		json_t *e = json_object();
		json_object_set_new(e, "name", json_string(m->name));
		json_object_set_new(e, "control", json_string(m->local ? "local" : "systemd"));
		json_object_set_new(e, "supervision", json_string(state_names[m->state]));
		json_object_set_new(e, "pid", m->state == SUP_RUNNING ? json_integer(m->pid) : json_null());
		json_object_set_new(e, "healthy", json_boolean(m->healthy));
		json_object_set_new(e, "restarts_10m", json_integer((json_int_t)restarts_in_window(m, now)));
		json_object_set_new(e, "reason", m->reason[0] ? json_string(m->reason) : json_null());
		json_array_append_new(a, e);
	}
	pthread_mutex_unlock(&s->mu);
	json_object_set_new(o, "members", a);
	return o;
}

void supervisor_summary(struct supervisor *s, char *buf, size_t len)
{
	size_t healthy = 0, off;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n; i++)
		healthy += s->m[i].healthy;
	off = (size_t)snprintf(buf, len, "members %zu/%zu healthy", healthy, s->n);
	if (s->paused && off < len)
		off += (size_t)snprintf(buf + off, len - off, ", supervision paused");
	for (size_t i = 0; i < s->n && off < len; i++)
		if (s->m[i].state == SUP_RESTARTING || s->m[i].state == SUP_GAVE_UP)
			off += (size_t)snprintf(buf + off, len - off, ", %s %s", s->m[i].name, state_names[s->m[i].state]);
	pthread_mutex_unlock(&s->mu);
}

void supervisor_request_stop(struct supervisor *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void supervisor_free(struct supervisor *s, bool stop_members);

void supervisor_stop(struct supervisor *s, bool stop_members)
{
	if (!s)
		return;
	supervisor_request_stop(s);
	pthread_join(s->thread, NULL);
	supervisor_free(s, stop_members);
}

bool supervisor_stop_by(struct supervisor *s, bool stop_members, int64_t deadline_ms)
{
	if (!s)
		return true;
	supervisor_request_stop(s);
	/* pthread_timedjoin_np takes CLOCK_REALTIME: the monotonic time left, on it. */
	int64_t left = deadline_ms - daemon_mono_ms();
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	if (left < 0)
		left = 0;
	until.tv_sec += left / 1000;
	until.tv_nsec += (left % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(s->thread, NULL, &until) != 0)
		return false;
	supervisor_free(s, stop_members);
	return true;
}

static void supervisor_free(struct supervisor *s, bool stop_members)
{
	if (stop_members) {
		rv_info("stopping the members (daemon.stop_members_on_exit)");
		int r = cluster_down(&s->cfg->cfg.cluster, 10000);
		if (r < 0) {
			rv_warn("%s", rv_errmsg(r));
			rv_err_clear();
		}
	}
	cfg_ref_put(s->cfg);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s->m);
	free(s);
}
