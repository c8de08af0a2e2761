/* daemon_standin.c - STAND-IN (branch daemon only) for what the "sched" branch
 * writes: job kinds, every-schedules (no cron), the daemon: section of the
 * configuration, a flock per job and the history as JSON lines. Just enough for the
 * daemon and its tests; the merge keeps sched's real implementation instead. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "scheduler/config_yaml.h"
#include "scheduler/scheduler.h"

static const char *const kind_names[JOB_KIND_COUNT] = {"snapshot", "verify", "compact", "defrag",
						       "hashcheck", "diskcheck", "drill"};

const char *job_kind_name(enum job_kind k)
{
	return k < JOB_KIND_COUNT ? kind_names[k] : "?";
}

int job_kind_parse(const char *name, enum job_kind *out)
{
	for (int k = 0; k < JOB_KIND_COUNT; k++)
		if (strcmp(name, kind_names[k]) == 0) {
			*out = (enum job_kind)k;
			return 0;
		}
	return rv_fail(-EINVAL, "'%s' is not a job; the jobs are snapshot, verify, compact, defrag, hashcheck, "
				"diskcheck and drill", name);
}

bool job_kind_exclusive(enum job_kind k)
{
	return k == JOB_SNAPSHOT || k == JOB_COMPACT || k == JOB_DEFRAG || k == JOB_DRILL || k == JOB_DISKCHECK;
}

int job_next_due(const struct job_schedule *s, int64_t after_ms, int64_t *due_ms)
{
	if (!s->enabled || s->every_ms <= 0)
		return -ENOENT;
	*due_ms = after_ms + s->every_ms;
	return 0;
}

bool job_missed_at_start(const struct job_schedule *s, int64_t last_success_ms, int64_t now_ms)
{
	return s->enabled && s->every_ms > 0 && last_success_ms > 0 && now_ms - last_success_ms > s->every_ms;
}

/* ---- configuration ---- */

void daemon_standin_defaults(struct daemon_settings *s)
{
	memset(s, 0, sizeof *s);
	s->supervise_members = true;
	s->health_interval_ms = 10000;
	s->restart_limit = 5;
	s->stop_timeout_ms = 30000;
	s->control_socket = rv_strdup("/run/regvault/regvault.sock");
	for (int k = 0; k < JOB_KIND_COUNT; k++)
		s->jobs[k].timeout_ms = 3600000;
}

static int duration(struct cfg_doc *d, const char *path, yaml_node_t *v, int64_t *out)
{
	char *s = NULL;
	int r = cfg_string(d, path, v, &s);
	if (r == 0 && rv_parse_duration_ms(s, out) < 0)
		r = cfg_fail(d, v, "%s takes a duration such as 30s, not '%s'", path, s);
	free(s);
	return r;
}

static int job_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct job_schedule *j = ud;
	if (strcmp(key, "enabled") == 0)
		return cfg_bool(d, path, v, &j->enabled);
	if (strcmp(key, "every") == 0) {
		j->enabled = true;
		return duration(d, path, v, &j->every_ms);
	}
	if (strcmp(key, "jitter") == 0)
		return duration(d, path, v, &j->jitter_ms);
	if (strcmp(key, "timeout") == 0)
		return duration(d, path, v, &j->timeout_ms);
	return CFG_UNKNOWN;
}

static int jobs_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct daemon_settings *s = ud;
	enum job_kind k = JOB_SNAPSHOT;
	if (job_kind_parse(key, &k) < 0) {
		rv_err_clear();
		return CFG_UNKNOWN;
	}
	return cfg_each_pair(d, v, path, job_pair, &s->jobs[k]);
}

static int daemon_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct daemon_settings *s = ud;
	int64_t n;
	int r;
	if (strcmp(key, "supervise_members") == 0)
		return cfg_bool(d, path, v, &s->supervise_members);
	if (strcmp(key, "stop_members_on_exit") == 0)
		return cfg_bool(d, path, v, &s->stop_members_on_exit);
	if (strcmp(key, "health_interval") == 0)
		return duration(d, path, v, &s->health_interval_ms);
	if (strcmp(key, "jitter") == 0)
		return duration(d, path, v, &s->jitter_ms);
	if (strcmp(key, "stop_timeout") == 0)
		return duration(d, path, v, &s->stop_timeout_ms);
	if (strcmp(key, "restart_limit") == 0) {
		if ((r = cfg_int(d, path, v, 0, 1000, &n)) == 0)
			s->restart_limit = (int)n;
		return r;
	}
	if (strcmp(key, "control_socket") == 0)
		return cfg_string(d, path, v, &s->control_socket);
	if (strcmp(key, "metrics_listen") == 0) {
		if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0) { /* "" disables it */
			free(s->metrics_listen);
			s->metrics_listen = rv_strdup("");
			return 0;
		}
		return cfg_string(d, path, v, &s->metrics_listen);
	}
	if (strcmp(key, "jobs") == 0)
		return cfg_each_pair(d, v, path, jobs_pair, s);
	return CFG_UNKNOWN;
}

int daemon_standin_parse(struct cfg_doc *d, const char *path, void *node, struct daemon_settings *s)
{
	return cfg_each_pair(d, node, path, daemon_pair, s);
}

void daemon_standin_free(struct daemon_settings *s)
{
	free(s->control_socket);
	free(s->metrics_listen);
	for (int k = 0; k < JOB_KIND_COUNT; k++)
		free(s->jobs[k].cron_text);
	memset(s, 0, sizeof *s);
}

/* ---- locks ---- */

struct job_lock {
	int fd;
};

int job_lock_take(const char *state_dir, enum job_kind k, const char *holder, bool wait,
		  const struct rv_cancel *cancel, struct job_lock **out)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	snprintf(dir, sizeof dir, "%s/locks", state_dir);
	int r = rv_mkdir_p(dir, 0700);
	if (r < 0)
		return rv_fail(r, "cannot create %s: %s", dir, strerror(-r));
	snprintf(path, sizeof path, "%s/%s.lock", dir, job_kind_name(k));
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return rv_fail(-errno, "cannot open the job lock %s: %s", path, strerror(errno));
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || !wait) {
			char who[256] = "";
			ssize_t n = pread(fd, who, sizeof who - 1, 0);
			who[n > 0 ? n : 0] = 0;
			who[strcspn(who, "\n")] = 0;
			close(fd);
			return rv_fail(-EBUSY, "the %s job is already running elsewhere (%s holds %s)", job_kind_name(k),
				       who[0] ? who : "another process", path);
		}
		if (rv_sleep_cancellable(200, cancel) < 0) {
			close(fd);
			return rv_fail(-EINTR, "the wait for the %s job's lock was cancelled", job_kind_name(k));
		}
	}
	if (ftruncate(fd, 0) == 0 && holder)
		(void)!pwrite(fd, holder, strlen(holder), 0);
	*out = rv_xcalloc(1, sizeof **out);
	(*out)->fd = fd;
	return 0;
}

void job_lock_release(struct job_lock *l)
{
	if (!l)
		return;
	if (ftruncate(l->fd, 0) < 0) {
		/* the holder's name stays; harmless once unlocked */
	}
	close(l->fd);
	free(l);
}

/* ---- history: <state_dir>/jobs.jsonl ---- */

static void history_path(const char *state_dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/jobs.jsonl", state_dir);
}

int job_history_append(const char *state_dir, const struct job_run *r)
{
	char path[PATH_MAX];
	json_t *o = json_object();
	json_object_set_new(o, "job", json_string(job_kind_name(r->kind)));
	json_object_set_new(o, "start_ms", json_integer(r->start_ms));
	json_object_set_new(o, "end_ms", json_integer(r->end_ms));
	json_object_set_new(o, "result", json_string(r->result));
	json_object_set_new(o, "error", r->error ? json_string(r->error) : json_null());
	json_object_set_new(o, "report", r->report ? json_incref(r->report) : json_null());
	char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	rv_mkdir_p(state_dir, 0700);
	history_path(state_dir, path, sizeof path);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int e = 0;
	if (fd < 0) {
		e = -errno;
	} else {
		size_t n = strlen(line);
		line[n] = '\n';
		e = rv_write_all(fd, line, n + 1);
		close(fd);
	}
	free(line);
	if (e < 0)
		return rv_fail(e, "cannot append to the job history %s: %s", path, strerror(-e));
	return 0;
}

int job_history_read(const char *state_dir, const char *job, size_t last_n, struct job_run **out, size_t *n)
{
	char path[PATH_MAX], *text;
	size_t len, cap = 0;
	*out = NULL;
	*n = 0;
	history_path(state_dir, path, sizeof path);
	int r = rv_read_file(path, &text, &len, 256 << 20);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return rv_fail(r, "cannot read the job history %s: %s", path, strerror(-r));
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		json_t *o = json_loads(line, 0, NULL);
		enum job_kind k = JOB_SNAPSHOT;
		const char *name = json_string_value(json_object_get(o, "job"));
		if (!o || !name || job_kind_parse(name, &k) < 0 || (job && strcmp(job, name) != 0)) {
			rv_err_clear();
			json_decref(o);
			continue;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = rv_xrealloc(*out, cap * sizeof **out);
		}
		struct job_run *jr = &(*out)[(*n)++];
		static const char *const results[] = {"success", "failure", "skipped", "cancelled"};
		const char *res = json_string_value(json_object_get(o, "result"));
		jr->kind = k;
		jr->start_ms = json_integer_value(json_object_get(o, "start_ms"));
		jr->end_ms = json_integer_value(json_object_get(o, "end_ms"));
		jr->result = "failure";
		for (size_t i = 0; res && i < RV_ARRAY_LEN(results); i++)
			if (strcmp(res, results[i]) == 0)
				jr->result = results[i];
		jr->error = rv_strdup(json_string_value(json_object_get(o, "error")));
		jr->report = json_object_get(o, "report");
		jr->report = json_is_null(jr->report) ? NULL : json_incref(jr->report);
		json_decref(o);
	}
	free(text);
	if (last_n && *n > last_n) {
		size_t drop = *n - last_n;
		for (size_t i = 0; i < drop; i++) {
			free((*out)[i].error);
			json_decref((*out)[i].report);
		}
		memmove(*out, *out + drop, last_n * sizeof **out);
		*n = last_n;
	}
	return 0;
}

int job_history_last_success(const char *state_dir, enum job_kind k, int64_t *end_ms)
{
	struct job_run *runs;
	size_t n;
	*end_ms = 0;
	int r = job_history_read(state_dir, job_kind_name(k), 0, &runs, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (strcmp(runs[i].result, "success") == 0)
			*end_ms = runs[i].end_ms;
	job_runs_free(runs, n);
	return 0;
}

void job_runs_free(struct job_run *runs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(runs[i].error);
		json_decref(runs[i].report);
	}
	free(runs);
}
