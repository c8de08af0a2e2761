/* config_registry.c - the registry: section of the configuration: where the
 * capability manifests are, the prefix they go under, and the sync's and the
 * heartbeats' settings (docs/reference/registry.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/config_yaml.h"
#include "scheduler/scheduler.h"

#define MS_S 1000LL
#define MS_H (3600 * MS_S)

void cfg_registry_defaults(struct registry_settings *rs)
{
	memset(rs, 0, sizeof *rs);
	rs->sync.enabled = true;
	rs->sync.interval_ms = 60 * MS_S;
	rs->sync.debounce_ms = 1 * MS_S;
	rs->sync.allow_empty = false;
	rs->sync.max_deletes = 10;
	rs->heartbeat.enabled = true;
	rs->heartbeat.ttl_ms = 30 * MS_S;
	rs->heartbeat.interval_ms = 10 * MS_S;
}

static int git_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct registry_sync_settings *s = ud;
	if (strcmp(key, "remote") == 0)
		return cfg_string(d, path, v, &s->git_remote);
	if (strcmp(key, "branch") == 0)
		return cfg_string(d, path, v, &s->git_branch);
	return CFG_UNKNOWN;
}

static int sync_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct registry_sync_settings *s = ud;
	if (strcmp(key, "enabled") == 0)
		return cfg_bool(d, path, v, &s->enabled);
	if (strcmp(key, "interval") == 0)
		return cfg_duration(d, path, v, 1 * MS_S, 24 * MS_H, &s->interval_ms);
	if (strcmp(key, "debounce") == 0)
		return cfg_duration(d, path, v, 0, 60 * MS_S, &s->debounce_ms);
	if (strcmp(key, "allow_empty") == 0)
		return cfg_bool(d, path, v, &s->allow_empty);
	if (strcmp(key, "max_deletes") == 0)
		return cfg_int32(d, path, v, 0, 1000000, &s->max_deletes);
	if (strcmp(key, "git") == 0)
		return cfg_each_pair(d, v, path, git_pair, s);
	return CFG_UNKNOWN;
}

static int heartbeat_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct registry_heartbeat_settings *h = ud;
	if (strcmp(key, "enabled") == 0)
		return cfg_bool(d, path, v, &h->enabled);
	/* etcd grants leases in whole seconds, at least 2 here so a renewal fits in */
	if (strcmp(key, "ttl") == 0)
		return cfg_duration(d, path, v, 2 * MS_S, 24 * MS_H, &h->ttl_ms);
	if (strcmp(key, "interval") == 0)
		return cfg_duration(d, path, v, 100, 24 * MS_H, &h->interval_ms);
	return CFG_UNKNOWN;
}

struct reg_load {
	struct registry_settings *rs;
	yaml_node_t *at;
};

static int registry_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct registry_settings *rs = ud;
	if (strcmp(key, "manifests_dir") == 0)
		return cfg_string(d, path, v, &rs->manifests_dir);
	if (strcmp(key, "prefix") == 0)
		return cfg_string(d, path, v, &rs->prefix);
	if (strcmp(key, "sync") == 0)
		return cfg_each_pair(d, v, path, sync_pair, &rs->sync);
	if (strcmp(key, "heartbeat") == 0)
		return cfg_each_pair(d, v, path, heartbeat_pair, &rs->heartbeat);
	return CFG_UNKNOWN;
}

int cfg_registry_section(struct cfg_doc *d, const char *path, yaml_node_t *v, struct registry_settings *rs)
{
	int r = cfg_each_pair(d, v, path, registry_pair, rs);
	if (r < 0)
		return r;
	rs->configured = true;
	if (!rs->manifests_dir || !*rs->manifests_dir)
		return cfg_fail(d, v, "registry.manifests_dir is required in a registry: section (the directory of "
				      "capability manifests, one YAML file each)");
	if (!rs->prefix)
		rs->prefix = rv_strdup("/chora/capabilities");
	size_t n = strlen(rs->prefix);
	while (n > 1 && rs->prefix[n - 1] == '/')
		rs->prefix[--n] = 0;
	if (rs->prefix[0] != '/' || n < 2)
		return cfg_fail(d, v, "registry.prefix must be a key prefix starting with '/', such as "
				      "/chora/capabilities; it is '%s'", rs->prefix);
	if (rs->heartbeat.interval_ms >= rs->heartbeat.ttl_ms)
		return cfg_fail(d, v, "registry.heartbeat.interval (%" PRId64 " ms) must be shorter than "
				      "registry.heartbeat.ttl (%" PRId64 " ms), or the leases expire between heartbeats",
				rs->heartbeat.interval_ms, rs->heartbeat.ttl_ms);
	if (rs->sync.git_remote && !rs->sync.git_branch)
		rs->sync.git_branch = rv_strdup("main");
	return 0;
}

void cfg_registry_free(struct registry_settings *rs)
{
	free(rs->manifests_dir);
	free(rs->prefix);
	free(rs->sync.git_remote);
	free(rs->sync.git_branch);
	memset(rs, 0, sizeof *rs);
}
