/* config_agent.c - the agent: section of the configuration and the members'
 * agent: addresses: where this host's agent listens, and its mutual TLS
 * (docs/reference/agent.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/config_yaml.h"
#include "scheduler/daemon_impl.h"
#include "scheduler/scheduler.h"

void cfg_agent_defaults(struct agent_settings *as)
{
	memset(as, 0, sizeof *as);
	as->timeout_ms = 5000;
}

void cfg_agent_free(struct agent_settings *as)
{
	free(as->listen);
	free(as->ca_file);
	free(as->cert_file);
	free(as->key_file);
	memset(as, 0, sizeof *as);
}

int cfg_check_hostport(struct cfg_doc *d, yaml_node_t *at, const char *path, const char *s, bool empty_host)
{
	const char *colon = strrchr(s, ':');
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;
	bool bracket_ok = s[0] != '[' || (colon && colon > s && colon[-1] == ']');
	if (!colon || (colon == s && !empty_host) || !colon[1] || *end || port < 1 || port > 65535 ||
	    !bracket_ok || strchr(s, '/') || strchr(s, ' '))
		return cfg_fail(d, at, "%s must be host:port like %s10.0.0.1:%d, not '%s'", path,
				empty_host ? ":9480 or " : "", AGENT_DEFAULT_PORT, s);
	return 0;
}

static int agent_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct agent_settings *as = ud;
	int r;
	if (strcmp(key, "listen") == 0) {
		if ((r = cfg_string(d, path, v, &as->listen)) < 0)
			return r;
		return cfg_check_hostport(d, v, path, as->listen, true);
	}
	if (strcmp(key, "ca_file") == 0)
		return cfg_string(d, path, v, &as->ca_file);
	if (strcmp(key, "cert_file") == 0)
		return cfg_string(d, path, v, &as->cert_file);
	if (strcmp(key, "key_file") == 0)
		return cfg_string(d, path, v, &as->key_file);
	if (strcmp(key, "insecure") == 0)
		return cfg_bool(d, path, v, &as->insecure);
	if (strcmp(key, "timeout") == 0)
		return cfg_duration(d, path, v, 100, 10 * 60 * 1000LL, &as->timeout_ms);
	return CFG_UNKNOWN;
}

int cfg_agent_section(struct cfg_doc *d, const char *path, yaml_node_t *v, struct agent_settings *as)
{
	as->configured = true;
	return cfg_each_pair(d, v, path, agent_pair, as);
}

int cfg_agent_check(struct cfg_doc *d, const struct rv_config *c, yaml_node_t *at_section,
		    yaml_node_t *at_member, size_t member_idx)
{
	const struct agent_settings *as = &c->agent;
	if (!as->configured) {
		if (at_member)
			return cfg_fail(d, at_member,
					"cluster.members[%zu].agent needs an agent: section with ca_file, cert_file and "
					"key_file (or insecure: true for plain text)",
					member_idx);
		return 0;
	}
	bool any_tls = as->ca_file || as->cert_file || as->key_file;
	if (as->insecure && any_tls)
		return cfg_fail(d, at_section,
				"agent.insecure: true and agent.ca_file, cert_file, key_file exclude each other; keep one");
	if (as->insecure)
		return 0;
	static const char *const names[] = {"ca_file", "cert_file", "key_file"};
	const char *const vals[] = {as->ca_file, as->cert_file, as->key_file};
	for (size_t i = 0; i < RV_ARRAY_LEN(names); i++)
		if (!vals[i])
			return cfg_fail(d, at_section,
					"missing required key agent.%s (agents talk mutual TLS; insecure: true for plain text)",
					names[i]);
	return 0;
}

int cfg_agent_files(struct cfg_doc *d, const struct agent_settings *as, yaml_node_t *key_at)
{
	if (!as->key_file)
		return 0;
	int r = rv_check_secret_file(as->key_file, "agent key file");
	if (r < 0)
		return rv_fail_wrap(r, "config %s line %lu (agent.key_file)", d->name, key_at ? cfg_line(key_at) : 0UL);
	return 0;
}

bool config_uses_agents(const struct rv_config *c)
{
	if (c->agent.configured)
		return true;
	for (size_t i = 0; i < c->cluster.n_members; i++)
		if (c->cluster.members[i].agent)
			return true;
	return false;
}

int config_own_member(const struct rv_config *c, char *buf, size_t len)
{
	return daemon_own_member(c, buf, len);
}

bool config_member_here(const struct rv_config *c, size_t i)
{
	if (i >= c->cluster.n_members)
		return false;
	if (!c->cluster.members[i].agent)
		return true;
	char own[128];
	if (daemon_own_member(c, own, sizeof own) < 0) {
		rv_err_clear();
		return false;
	}
	return strcmp(own, c->cluster.members[i].name) == 0;
}
