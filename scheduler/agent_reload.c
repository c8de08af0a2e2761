/* agent_reload.c - the agent across a SIGHUP: restarted when what it serves with
 * changed (the agent: section, this host's member, or the certificate files, which
 * an operator rotating keys replaces in place), kept as it is otherwise, so calls in
 * flight (a restore step) are not cut by a reload that does not concern them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "scheduler/daemon_impl.h"

static void add_file(char *buf, size_t len, const char *path)
{
	struct stat st;
	size_t off = strlen(buf);
	if (!path) {
		snprintf(buf + off, len - off, "|-");
		return;
	}
	if (stat(path, &st) == 0)
		snprintf(buf + off, len - off, "|%s:%llu:%lld:%lld.%09ld", path, (unsigned long long)st.st_ino,
			 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	else
		snprintf(buf + off, len - off, "|%s:?", path);
}

void agent_fingerprint(const struct rv_config *c, char *buf, size_t len)
{
	const struct agent_settings *a = &c->agent;
	char own[64] = "";
	if (!config_uses_agents(c)) {
		snprintf(buf, len, "none");
		return;
	}
	if (config_own_member(c, own, sizeof own) < 0)
		rv_err_clear();
	snprintf(buf, len, "%s|%s|%d|%lld", own, a->listen ? a->listen : "", a->insecure, (long long)a->timeout_ms);
	add_file(buf, len, a->ca_file);
	add_file(buf, len, a->cert_file);
	add_file(buf, len, a->key_file);
}

void agent_reload(struct daemon *d, struct cfg_ref *old)
{
	char fp[AGENT_FINGERPRINT_MAX];
	agent_fingerprint(&d->cfg->cfg, fp, sizeof fp);
	if (strcmp(fp, d->agent_fp) == 0)
		return;
	/* the port is the same one, most likely: the old server lets go of it first */
	agent_server_stop(d->agent);
	d->agent = NULL;
	int r = agent_server_start(d->cfg, &d->agent);
	if (r == 0) {
		snprintf(d->agent_fp, sizeof d->agent_fp, "%s", fp);
		if (d->agent)
			rv_info("agent: restarted with the new configuration");
		return;
	}
	rv_log(RV_LOG_ERROR, "agent: not restarted with the new configuration: %s; it goes on with the previous one",
	       rv_errmsg(r));
	rv_err_clear();
	if ((r = agent_server_start(old, &d->agent)) < 0) {
		rv_log(RV_LOG_ERROR, "agent: the previous configuration does not serve either: %s; the other hosts cannot "
				     "reach this one until the agent: section is fixed and the daemon reloaded", rv_errmsg(r));
		rv_err_clear();
		d->agent = NULL;
		d->agent_fp[0] = 0;
	}
}
