/* config_daemon.c - the daemon: section of the configuration: supervision, the
 * control and metrics sockets, and the schedule of each job. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/common.h"
#include "scheduler/config_yaml.h"
#include "scheduler/scheduler.h"

#define MS_S 1000LL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)

/* A sane appliance out of the box: a snapshot every hour, the night's maintenance
 * at minutes no hourly snapshot uses (exclusive jobs wait for each other), and
 * outside 02:00-03:00, the hour clock changes skip or repeat in Europe and America. */
static const struct {
	const char *cron;
	int64_t every_ms, timeout_ms;
} job_defaults[JOB_KIND_COUNT] = {
	[JOB_SNAPSHOT] = {"0 * * * *", 0, 1 * MS_H},
	[JOB_VERIFY] = {"20 4 * * *", 0, 1 * MS_H},
	[JOB_COMPACT] = {"15 3 * * *", 0, 10 * MS_M},
	[JOB_DEFRAG] = {"30 3 * * *", 0, 1 * MS_H},
	[JOB_HASHCHECK] = {NULL, 5 * MS_M, 1 * MS_M},
	[JOB_DISKCHECK] = {"40 4 * * *", 0, 10 * MS_M},
	[JOB_DRILL] = {"15 5 * * 0", 0, 1 * MS_H},
};

#define NO_JITTER_YET (-1) /* until cfg_daemon_finish: the daemon's jitter */

static void schedule_clear(struct job_schedule *s)
{
	free(s->cron_text);
	cron_free(s->cron);
	s->cron_text = NULL;
	s->cron = NULL;
}

int cfg_daemon_defaults(struct daemon_settings *ds)
{
	memset(ds, 0, sizeof *ds);
	ds->supervise_members = true;
	ds->health_interval_ms = 5 * MS_S;
	ds->restart_limit = 5;
	ds->stop_members_on_exit = false;
	ds->jitter_ms = 0;
	ds->stop_timeout_ms = 30 * MS_S;
	ds->control_socket = rv_strdup("/run/regvault/regvault.sock");
	ds->metrics_listen = rv_strdup("127.0.0.1:9479");
	ds->leader_ttl_ms = 10 * MS_S;
	ds->continuous_flush_ms = 1 * MS_S;
	ds->continuous_merge_ms[0] = 5 * 60 * MS_S;
	ds->continuous_merge_ms[1] = 60 * 60 * MS_S;
	ds->continuous_merge_n = 2;
	for (int k = 0; k < JOB_KIND_COUNT; k++) {
		struct job_schedule *s = &ds->jobs[k];
		s->enabled = true;
		s->every_ms = job_defaults[k].every_ms;
		s->timeout_ms = job_defaults[k].timeout_ms;
		s->jitter_ms = NO_JITTER_YET;
		if (job_defaults[k].cron) {
			int r = cron_parse(job_defaults[k].cron, &s->cron);
			if (r < 0)
				return r;
			s->cron_text = rv_strdup(job_defaults[k].cron);
		}
	}
	return 0;
}

void cfg_daemon_finish(struct daemon_settings *ds)
{
	for (int k = 0; k < JOB_KIND_COUNT; k++)
		if (ds->jobs[k].jitter_ms == NO_JITTER_YET)
			ds->jobs[k].jitter_ms = ds->jitter_ms;
}

void cfg_daemon_free(struct daemon_settings *ds)
{
	for (int k = 0; k < JOB_KIND_COUNT; k++)
		schedule_clear(&ds->jobs[k]);
	free(ds->control_socket);
	free(ds->metrics_listen);
	free(ds->member);
	memset(ds, 0, sizeof *ds);
}

/* ---- daemon.jobs.<job> ---- */

struct job_load {
	struct job_schedule *s;
	yaml_node_t *cron_at, *every_at;
	char *cron_text;
	struct cron_expr *cron;
	int64_t every_ms;
};

static int job_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct job_load *jl = ud;
	int r;
	if (strcmp(key, "cron") == 0) {
		jl->cron_at = v;
		if ((r = cfg_string(d, path, v, &jl->cron_text)) < 0)
			return r;
		if ((r = cron_parse(jl->cron_text, &jl->cron)) < 0) {
			char why[512];
			snprintf(why, sizeof why, "%s", rv_errmsg(r));
			return cfg_fail(d, v, "%s is not a valid schedule: %s", path, why);
		}
		return 0;
	}
	if (strcmp(key, "every") == 0) {
		jl->every_at = v;
		return cfg_duration(d, path, v, 1 * MS_S, 31 * MS_D, &jl->every_ms);
	}
	if (strcmp(key, "jitter") == 0)
		return cfg_duration(d, path, v, 0, 1 * MS_D, &jl->s->jitter_ms);
	if (strcmp(key, "timeout") == 0)
		return cfg_duration(d, path, v, 0, 7 * MS_D, &jl->s->timeout_ms);
	if (strcmp(key, "enabled") == 0)
		return cfg_bool(d, path, v, &jl->s->enabled);
	return CFG_UNKNOWN;
}

struct jobs_load {
	struct daemon_settings *ds;
	yaml_node_t *map;
};

/* The key node whose value is v, for messages about the whole job. */
static yaml_node_t *key_of(struct cfg_doc *d, yaml_node_t *map, yaml_node_t *v)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
		if (cfg_node(d, p->value) == v)
			return cfg_node(d, p->key);
	return v;
}

static int jobs_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct jobs_load *js = ud;
	enum job_kind k = JOB_KIND_COUNT;
	for (int i = 0; i < JOB_KIND_COUNT; i++)
		if (strcmp(key, job_kind_name((enum job_kind)i)) == 0)
			k = (enum job_kind)i;
	if (k == JOB_KIND_COUNT)
		return CFG_UNKNOWN;

	struct job_schedule *s = &js->ds->jobs[k];
	struct job_load jl = {.s = s};
	s->enabled = true; /* a job the file names runs unless it says enabled: false */
	int r = cfg_each_pair(d, v, path, job_pair, &jl);
	if (r == 0 && jl.cron_at && jl.every_at) {
		yaml_node_t *later = cfg_line(jl.every_at) > cfg_line(jl.cron_at) ? jl.every_at : jl.cron_at;
		r = cfg_fail(d, later, "%s.cron and %s.every exclude each other; keep one", path, path);
	}
	if (r == 0 && s->enabled && !jl.cron_at && !jl.every_at)
		r = cfg_fail(d, key_of(d, js->map, v),
			     "%s needs a schedule: cron: (like \"0 * * * *\") or every: (like 5m), or enabled: false", path);
	if (r == 0 && jl.cron_at) {
		schedule_clear(s);
		s->cron_text = jl.cron_text;
		s->cron = jl.cron;
		s->every_ms = 0;
		jl.cron_text = NULL;
		jl.cron = NULL;
	} else if (r == 0 && jl.every_at) {
		schedule_clear(s);
		s->every_ms = jl.every_ms;
	}
	free(jl.cron_text);
	cron_free(jl.cron);
	return r;
}

/* ---- daemon ---- */

/* daemon.continuous.merge_windows: up to 4 durations from 1s (below a minute: for
 * tests) to 1d, each a whole multiple of the one before (so a window's segments
 * nest in the next one's). */
static int merge_windows(struct cfg_doc *d, const char *path, yaml_node_t *v, struct daemon_settings *ds)
{
	size_t max = RV_ARRAY_LEN(ds->continuous_merge_ms);
	if (v->type != YAML_SEQUENCE_NODE)
		return cfg_fail(d, v, "%s must be a list of durations, like [5m, 1h] ([] never merges)", path);
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > max)
		return cfg_fail(d, v, "%s holds %zu windows; at most %zu", path, n, max);
	for (size_t i = 0; i < n; i++) {
		char at[CFG_PATH_MAX];
		yaml_node_t *item = cfg_node(d, v->data.sequence.items.start[i]);
		snprintf(at, sizeof at, "%s[%zu]", path, i);
		int r = cfg_duration(d, at, item, MS_S, 24 * 60 * 60 * MS_S, &ds->continuous_merge_ms[i]);
		if (r < 0)
			return r;
		if (i > 0 && (ds->continuous_merge_ms[i] <= ds->continuous_merge_ms[i - 1] ||
			      ds->continuous_merge_ms[i] % ds->continuous_merge_ms[i - 1] != 0))
			return cfg_fail(d, item, "%s must be a whole multiple of the window before it, larger than it", at);
	}
	ds->continuous_merge_n = n;
	return 0;
}

static int continuous_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct daemon_settings *ds = ud;
	if (strcmp(key, "enabled") == 0)
		return cfg_bool(d, path, v, &ds->continuous_enabled);
	if (strcmp(key, "flush") == 0)
		return cfg_duration(d, path, v, 10, 10 * 60 * MS_S, &ds->continuous_flush_ms);
	if (strcmp(key, "merge_windows") == 0)
		return merge_windows(d, path, v, ds);
	return CFG_UNKNOWN;
}

/* host:port with a port in 1..65535 ("" was taken before). */
static bool host_port(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (!colon || !colon[1] || strlen(colon + 1) > 5 || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return false;
	long port = strtol(colon + 1, NULL, 10);
	return port >= 1 && port <= 65535;
}

static int daemon_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct daemon_settings *ds = ud;
	int r;
	if (strcmp(key, "supervise_members") == 0)
		return cfg_bool(d, path, v, &ds->supervise_members);
	if (strcmp(key, "health_interval") == 0)
		return cfg_duration(d, path, v, 100, 1 * MS_H, &ds->health_interval_ms);
	if (strcmp(key, "restart_limit") == 0)
		return cfg_int32(d, path, v, 0, 1000, &ds->restart_limit);
	if (strcmp(key, "stop_members_on_exit") == 0)
		return cfg_bool(d, path, v, &ds->stop_members_on_exit);
	if (strcmp(key, "jitter") == 0)
		return cfg_duration(d, path, v, 0, 1 * MS_D, &ds->jitter_ms);
	if (strcmp(key, "stop_timeout") == 0)
		return cfg_duration(d, path, v, 1 * MS_S, 1 * MS_H, &ds->stop_timeout_ms);
	if (strcmp(key, "control_socket") == 0) {
		struct sockaddr_un addr;
		if ((r = cfg_string(d, path, v, &ds->control_socket)) < 0)
			return r;
		if (strlen(ds->control_socket) >= sizeof addr.sun_path)
			return cfg_fail(d, v, "%s is %zu characters long; a socket's path may have at most %zu", path,
					strlen(ds->control_socket), sizeof addr.sun_path - 1);
		return 0;
	}
	if (strcmp(key, "metrics_listen") == 0) {
		if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0 && !cfg_is_null(v)) {
			free(ds->metrics_listen);
			ds->metrics_listen = rv_strdup(""); /* written as "": no metrics endpoint */
			return 0;
		}
		if ((r = cfg_string(d, path, v, &ds->metrics_listen)) < 0)
			return r;
		if (!host_port(ds->metrics_listen))
			return cfg_fail(d, v, "%s must be host:port like 127.0.0.1:9479, or \"\" for no metrics endpoint, not '%s'",
					path, ds->metrics_listen);
		return 0;
	}
	if (strcmp(key, "member") == 0)
		return cfg_string(d, path, v, &ds->member);
	/* etcd grants whole seconds; at least 3 so that a renewal at a third fits */
	if (strcmp(key, "leader_ttl") == 0)
		return cfg_duration(d, path, v, 3 * MS_S, 5 * 60 * MS_S, &ds->leader_ttl_ms);
	if (strcmp(key, "continuous") == 0)
		return cfg_each_pair(d, v, path, continuous_pair, ds);
	if (strcmp(key, "jobs") == 0) {
		struct jobs_load js = {ds, v};
		return cfg_each_pair(d, v, path, jobs_pair, &js);
	}
	return CFG_UNKNOWN;
}

int cfg_daemon_section(struct cfg_doc *d, const char *path, yaml_node_t *v, struct daemon_settings *ds)
{
	return cfg_each_pair(d, v, path, daemon_pair, ds);
}
