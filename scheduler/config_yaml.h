/* config_yaml.h - private to the config loader: typed access to a libyaml document
 * with messages that name the key path and its line. */
#ifndef REGVAULT_CONFIG_YAML_H
#define REGVAULT_CONFIG_YAML_H

#include <stdbool.h>
#include <stdint.h>
#include <yaml.h>

struct cfg_doc {
	yaml_document_t doc;
	const char *name; /* the file, for messages */
};

/* A value or a key, by path: "cluster.members[1].data_dir". */
#define CFG_PATH_MAX 256

/* 1-based line of a node. */
static inline unsigned long cfg_line(const yaml_node_t *n)
{
	return (unsigned long)n->start_mark.line + 1;
}

/* Record "config <name> line <n>: <message>" and return -EINVAL. */
int cfg_fail(const struct cfg_doc *d, const yaml_node_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Parse text into d->doc: -EINVAL with the line and libyaml's problem on a syntax
 * error or an empty document. */
int cfg_doc_load(struct cfg_doc *d, const char *text, size_t len);
void cfg_doc_free(struct cfg_doc *d);
yaml_node_t *cfg_root(struct cfg_doc *d);
yaml_node_t *cfg_node(struct cfg_doc *d, int idx);

/* A plain ~, null or empty scalar. */
bool cfg_is_null(const yaml_node_t *n);

/* Visit every pair of a mapping (a null value counts as an empty mapping). fn gets
 * the key's text and returns 0, a negative errno, or CFG_UNKNOWN for a key it does
 * not know (reported as "unknown key <path>.<key>"). Duplicate keys are refused. */
#define CFG_UNKNOWN 1
typedef int (*cfg_pair_fn)(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *val,
			   void *ud);
int cfg_each_pair(struct cfg_doc *d, yaml_node_t *map, const char *path, cfg_pair_fn fn, void *ud);

/* Typed values; path names the key in messages. Each replaces *out. */
int cfg_string(struct cfg_doc *d, const char *path, yaml_node_t *n, char **out);
int cfg_int(struct cfg_doc *d, const char *path, yaml_node_t *n, int64_t min, int64_t max, int64_t *out);
int cfg_int32(struct cfg_doc *d, const char *path, yaml_node_t *n, int min, int max, int *out);
int cfg_bool(struct cfg_doc *d, const char *path, yaml_node_t *n, bool *out);
/* A number in (min, max]. */
int cfg_double(struct cfg_doc *d, const char *path, yaml_node_t *n, double min_excl, double max,
	       double *out);
/* An integer byte count or a size like "8GiB". */
int cfg_size(struct cfg_doc *d, const char *path, yaml_node_t *n, int64_t *out);

/* A duration with a unit ("500ms", "5s", "2m", "1h", "1h30m", "2d"; a bare 0 is 0)
 * in [min_ms, max_ms]; a bare number other than 0 is refused, since it would be
 * ambiguous beside the _s and _ms keys. */
int cfg_duration(struct cfg_doc *d, const char *path, yaml_node_t *n, int64_t min_ms, int64_t max_ms,
		 int64_t *out);
/* "500ms", "30s", "5m", "2h", "1d": the largest unit that divides ms. buf >= 24. */
const char *cfg_fmt_ms(int64_t ms, char *buf, size_t len);

/* path + "." + key into buf (for nested messages). */
const char *cfg_join(char *buf, const char *path, const char *key);

/* The daemon: section (config_daemon.c). Defaults first, the section when the
 * file has one, then finish (jobs without a jitter of their own take the daemon's). */
struct daemon_settings;
int cfg_daemon_defaults(struct daemon_settings *ds);
int cfg_daemon_section(struct cfg_doc *d, const char *path, yaml_node_t *v, struct daemon_settings *ds);
void cfg_daemon_finish(struct daemon_settings *ds);
void cfg_daemon_free(struct daemon_settings *ds);

/* The registry: section (config_registry.c): defaults, the section, free. */
struct registry_settings;
void cfg_registry_defaults(struct registry_settings *rs);
int cfg_registry_section(struct cfg_doc *d, const char *path, yaml_node_t *v, struct registry_settings *rs);
void cfg_registry_free(struct registry_settings *rs);

/* The agent: section and cluster.members[].agent (config_agent.c). */
struct agent_settings;
struct rv_config;
void cfg_agent_defaults(struct agent_settings *as);
int cfg_agent_section(struct cfg_doc *d, const char *path, yaml_node_t *v, struct agent_settings *as);
/* "host:port" with a port in 1..65535 (host may be empty when empty_host). */
int cfg_check_hostport(struct cfg_doc *d, yaml_node_t *at, const char *path, const char *s, bool empty_host);
/* Across keys, once the file parsed: TLS files or insecure, a member's agent: needs
 * the section. at_section/at_member: where to point messages. */
int cfg_agent_check(struct cfg_doc *d, const struct rv_config *c, yaml_node_t *at_section,
		    yaml_node_t *at_member, size_t member_idx);
/* The key file: not readable by others. */
int cfg_agent_files(struct cfg_doc *d, const struct agent_settings *as, yaml_node_t *key_at);
void cfg_agent_free(struct agent_settings *as);
#endif
