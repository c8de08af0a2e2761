/* job_shared.c - each cluster-wide job's last run, kept in etcd where every host's
 * `daemon status` can read it: /regvault/<cluster>/jobs/<job> holds the run as JSON
 * (job, result, started_at, finished_at, duration_s, error, member), written by the
 * daemon that ran it. The history proper stays in each host's jobs.jsonl; this is
 * only the latest run, so a leader's handover does not hide what the previous
 * leader did, and the new leader does not run at once what it has just run. Used
 * with several daemons: members on other hosts (agents), or daemon.member set. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "registry/registry.h"
#include "scheduler/daemon_impl.h"

static char *jobs_prefix(const struct rv_config *cfg)
{
	char *p = NULL;
	if (asprintf(&p, "/regvault/%s/jobs/", cfg->cluster.name ? cfg->cluster.name : "default") < 0)
		return NULL;
	return p;
}

int job_shared_publish(const struct rv_config *cfg, const char *member, const struct job_run *r)
{
	char *prefix = jobs_prefix(cfg), *key = NULL, *val = NULL;
	etcd_client *c = NULL;
	int ret = -ENOMEM;
	json_t *o = job_run_json(r);
	if (!prefix || !o)
		goto out;
	/* a one-shot prune is recorded as a snapshot run but saved nothing */
	if (r->kind == JOB_SNAPSHOT && json_is_object(r->report) && json_object_get(r->report, "prune") &&
	    !json_object_get(r->report, "save"))
		json_object_set_new(o, "prune_only", json_true());
	json_object_del(o, "report");
	json_object_set_new(o, "member", json_string(member));
	if (asprintf(&key, "%s%s", prefix, job_kind_name(r->kind)) < 0) {
		key = NULL;
		goto out;
	}
	if (!(val = json_dumps(o, JSON_COMPACT)))
		goto out;
	if ((ret = cluster_client_new(&cfg->cluster, 3000, &c)) < 0)
		goto out;
	ret = etcd_put(c, key, strlen(key), val, strlen(val), 0, NULL);
out:
	if (ret == -ENOMEM)
		rv_fail(ret, "out of memory recording the %s run in etcd", job_kind_name(r->kind));
	etcd_client_free(c);
	json_decref(o);
	free(prefix);
	free(key);
	free(val);
	return ret;
}

static int add_run(const struct etcd_kv *kv, void *ud)
{
	json_t *runs = ud, *o = json_loadb((const char *)kv->value, kv->value_len, 0, NULL);
	const char *job = o ? json_string_value(json_object_get(o, "job")) : NULL;
	if (job)
		json_object_set(runs, job, o);
	json_decref(o);
	return 0;
}

int job_shared_read(const struct rv_config *cfg, int timeout_ms, json_t **out)
{
	char *prefix = jobs_prefix(cfg);
	uint8_t *end = NULL;
	size_t end_len = 0;
	etcd_client *c = NULL;
	json_t *runs = json_object();
	int r = -ENOMEM;
	*out = NULL;
	if (!prefix || !runs || !(end = etcd_prefix_end(prefix, strlen(prefix), &end_len)))
		goto out;
	if ((r = cluster_client_new(&cfg->cluster, timeout_ms, &c)) < 0)
		goto out;
	struct etcd_range_req req = {.key = prefix, .key_len = strlen(prefix), .range_end = end, .range_end_len = end_len};
	if ((r = etcd_range_each(c, ETCD_ANY, &req, 100, add_run, runs, NULL)) < 0)
		goto out;
	*out = runs;
	runs = NULL;
out:
	if (r == -ENOMEM)
		rv_fail(r, "out of memory reading the jobs' last runs from etcd");
	etcd_client_free(c);
	json_decref(runs);
	free(prefix);
	free(end);
	return r;
}
