/* agent_cluster.c - cluster up and down across hosts: members with an agent:
 * address through their host's agent, the others on this host. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

/* The members on this host (no agent: address), as a cluster of their own. */
static struct cluster_spec local_part(const struct cluster_spec *cs, struct member_spec *buf)
{
	struct cluster_spec l = *cs;
	l.members = buf;
	l.n_members = 0;
	for (size_t i = 0; i < cs->n_members; i++)
		if (!cs->members[i].agent)
			buf[l.n_members++] = cs->members[i];
	return l;
}

/* The cluster did not become healthy: when a member on another host is not running
 * there, its own log (through its agent) says why, as the local members' do. */
static int explain_remote(const struct rv_config *c, int code)
{
	struct agent_host_row *rows = agent_status_all(c);
	for (size_t i = 0; rows && i < c->cluster.n_members; i++) {
		const struct member_spec *m = &c->cluster.members[i];
		char *tail = NULL;
		if (!rows[i].asked || rows[i].err != 0 || rows[i].st.running)
			continue;
		if (agent_member_log_tail(c, i, 8, &tail) < 0) {
			rv_err_clear();
			continue;
		}
		/* indented like the local members' log lines */
		struct rv_buf b = {0};
		for (char *line = tail, *nl; line && *line; line = nl ? nl + 1 : NULL) {
			nl = strchr(line, '\n');
			int n = nl ? (int)(nl - line) : (int)strlen(line);
			rv_buf_printf(&b, "\n    %.*s%s", n > 200 ? 200 : n, line, n > 200 ? "..." : "");
		}
		char *first = rv_strdup(rv_errmsg(code));
		code = rv_fail(code, "%s; member %s is not running on its host (agent %s); last lines of its log there:%s",
			       first, m->name, m->agent, b.data ? b.data : " (empty)");
		free(first);
		rv_buf_free(&b);
		free(tail);
		break;
	}
	free(rows);
	return code;
}

int agent_cluster_up(const struct rv_config *c, int wait_ms)
{
	const struct cluster_spec *cs = &c->cluster;
	if (cs->n_members == 0)
		return rv_fail(-EINVAL, "the configuration has no cluster members");
	for (size_t i = 0; i < cs->n_members; i++) {
		const struct member_spec *m = &cs->members[i];
		int r;
		if (m->agent) {
			r = agent_member_start(c, i, NULL);
		} else if (member_running_pid(m) > 0) {
			continue;
		} else {
			r = member_start(cs, i);
		}
		if (r < 0)
			return rv_fail_wrap(r, "member %s was not started", m->name);
	}
	int r = cluster_wait_healthy(cs, wait_ms, NULL);
	if (r < 0)
		r = explain_remote(c, r);
	return r;
}

int agent_cluster_down(const struct rv_config *c, int timeout_ms)
{
	const struct cluster_spec *cs = &c->cluster;
	size_t n = cs->n_members;
	struct member_spec *buf = rv_xcalloc(n ? n : 1, sizeof *buf);
	struct cluster_spec l = local_part(cs, buf);
	int r = l.n_members ? cluster_down(&l, timeout_ms) : 0;
	free(buf);
	/* Followers first, the leader last, so that leadership moves once. */
	struct agent_host_row *rows = agent_status_all(c);
	uint64_t leader = 0;
	for (size_t i = 0; i < n; i++)
		if (rows[i].asked && rows[i].err == 0 && rows[i].st.etcd_answered && rows[i].st.etcd.leader)
			leader = rows[i].st.etcd.leader;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			if (!rows[i].asked)
				continue;
			bool is_leader = leader && rows[i].err == 0 && rows[i].st.etcd.hdr.member_id == leader;
			if (is_leader != (pass == 1))
				continue;
			int s = agent_member_stop(c, i, timeout_ms, NULL);
			if (s < 0 && r == 0)
				r = s;
			else if (s < 0)
				rv_err_clear();
		}
	free(rows);
	return r;
}

void agent_member_pids(const struct rv_config *c, pid_t *pids)
{
	struct agent_host_row *rows = agent_status_all(c);
	for (size_t i = 0; i < c->cluster.n_members; i++)
		pids[i] = rows[i].asked ? (rows[i].err == 0 && rows[i].st.running ? rows[i].st.pid : 0)
					: member_running_pid(&c->cluster.members[i]);
	free(rows);
}
