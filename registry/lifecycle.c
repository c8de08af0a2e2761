/* lifecycle.c - the configured cluster as a whole: the --initial-cluster string,
 * `cluster up` (start what is not running, wait until every member is healthy under
 * one leader) and `cluster down` (stop what regvault started). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "registry/lifecycle_impl.h"
#include "registry/registry.h"

#define LOG_TAIL_LINES 15
/* The error sentence has room for about 2 KiB: the log tail gets what the
 * sentence leaves, never less than a few lines. */
#define ERRMSG_ROOM 1900
#define LOG_TAIL_MIN 400
#define LOG_LINE_MAX 200

char *cluster_initial_cluster(const struct cluster_spec *cs)
{
	struct rv_buf b = {0};
	for (size_t i = 0; i < cs->n_members; i++)
		rv_buf_printf(&b, "%s%s=%s", i ? "," : "", cs->members[i].name, cs->members[i].peer_url);
	if (!b.data)
		rv_buf_append(&b, "", 0);
	return b.data;
}

/* Record "<what>; last lines of <log>:\n    ..." as the error: the member's own
 * words are what tells the operator why (port taken, bad flag, corrupt WAL). */
static int fail_with_log(int code, const struct member_spec *m, const char *what)
{
	char path[PATH_MAX];
	char *tail = member_log_tail(m, LOG_TAIL_LINES);
	struct rv_buf lines = {0};

	member_control(m)->log_name(m, path, sizeof path);
	/* Only this start's lines: from the last line member_start wrote. */
	char *first = tail, *mark;
	for (char *p = tail; (mark = strstr(p, LOG_START_MARK)); p = mark + 1)
		if (mark == tail || mark[-1] == '\n')
			first = mark;
	/* Keep the newest lines that fit, each cut to a readable width. */
	size_t used = 0, budget = strlen(what) + strlen(path) + 40;
	budget = budget + LOG_TAIL_MIN < ERRMSG_ROOM ? ERRMSG_ROOM - budget : LOG_TAIL_MIN;
	char *end = first + strlen(first);
	while (end > first) {
		char *start = end;
		while (start > first && start[-1] != '\n')
			start--;
		size_t n = (size_t)(end - start);
		if (strncmp(start, "[WARNING] Deprecated '--logger", 30) == 0) {
			end = start > first ? start - 1 : first;
			continue; /* etcd 3.4 says it on every start */
		}
		if (n > LOG_LINE_MAX)
			n = LOG_LINE_MAX;
		if (used + n + 9 > budget)
			break;
		struct rv_buf line = {0};
		rv_buf_printf(&line, "\n    %.*s%s", (int)n, start, (size_t)(end - start) > n ? "..." : "");
		rv_buf_append(&line, lines.data ? lines.data : "", lines.len);
		rv_buf_free(&lines);
		lines = line;
		used += n + 9;
		end = start > first ? start - 1 : first;
	}
	free(tail);
	if (lines.len)
		code = rv_fail(code, "%s; last lines of %s:%s", what, path, lines.data);
	else
		code = rv_fail(code, "%s; its log %s is empty", what, path);
	rv_buf_free(&lines);
	return code;
}

/* A member regvault started whose process is gone: no point waiting for its health. */
static bool member_exited(const struct member_spec *m, pid_t *was)
{
	const struct member_control_ops *ops = member_control(m);
	return ops->exited && ops->exited(m, was);
}

/* Authentication or TLS refusals do not fix themselves by waiting. */
static bool hopeless(int r)
{
	return r == -EPERM || r == -EACCES || r == -EINVAL;
}

/* The sentence for a wait that was cancelled: who is not healthy yet. */
static int fail_cancelled(const struct cluster_spec *cs, const struct etcd_member_health *h, size_t upto)
{
	size_t healthy = 0;
	for (size_t i = 0; i < upto; i++)
		healthy += h[i].healthy;
	return rv_fail(-EINTR,
		       "the wait for the cluster's %zu members to become healthy was interrupted (%zu healthy when it "
		       "stopped); the members started keep running",
		       cs->n_members, healthy);
}

int cluster_wait_healthy(const struct cluster_spec *cs, int wait_ms, const struct rv_cancel *cancel)
{
	etcd_client *c = NULL;
	double deadline = rv_now_mono() + (wait_ms > 0 ? wait_ms : 60000) / 1000.0;
	size_t n = cs->n_members;
	struct etcd_member_health *h = rv_xcalloc(n, sizeof *h);
	int r = cluster_client_new(cs, 2000, &c);
	if (r < 0) {
		free(h);
		return r;
	}
	for (;;) {
		size_t healthy = 0, leaders = 0;
		uint64_t leader = 0;
		bool agree = true;
		for (size_t i = 0; i < n; i++) {
			const struct member_spec *m = &cs->members[i];
			pid_t was;
			char what[512];
			/* Each question below may take the client's 2 s: ask between them. */
			if (rv_cancelled(cancel)) {
				r = fail_cancelled(cs, h, i);
				goto out;
			}
			if (member_exited(m, &was)) {
				/* Let what it says on its way out reach the log first. */
				for (int t = 0; t < 40 && !member_pid_gone(was) && !rv_cancelled(cancel); t++)
					rv_sleep_ms(50);
				snprintf(what, sizeof what, "member %s (pid %d) exited while starting", m->name,
					 (int)was);
				r = fail_with_log(-ECHILD, m, what);
				goto out;
			}
			memset(&h[i], 0, sizeof h[i]);
			rv_err_clear();
			r = etcd_member_health(c, (int)i, &h[i]);
			if (r == 0 && !h[i].reachable) {
				/* Health keeps only the reason; ask once more for the error code. */
				struct etcd_status st;
				r = etcd_status(c, (int)i, &st);
				if (r == 0)
					continue; /* it just came up: next round */
			}
			if (r < 0) {
				if (hopeless(r)) {
					r = rv_fail_wrap(r, "cannot check the health of member %s", m->name);
					goto out;
				}
				h[i].reachable = h[i].healthy = false;
				snprintf(h[i].reason, sizeof h[i].reason, "%s", rv_errmsg(r));
				continue;
			}
			if (!h[i].healthy)
				continue;
			healthy++;
			if (h[i].status.leader && h[i].status.leader == h[i].status.hdr.member_id)
				leaders++;
			if (leader && h[i].status.leader != leader)
				agree = false;
			leader = h[i].status.leader;
		}
		if (healthy == n && leaders == 1 && agree) {
			r = 0;
			goto out;
		}
		if (rv_now_mono() >= deadline)
			break;
		if (rv_sleep_cancellable(250, cancel) < 0) {
			r = fail_cancelled(cs, h, n);
			goto out;
		}
	}
	/* Timed out: name the first member that is not healthy, with its own words. */
	for (size_t i = 0; i < n; i++) {
		if (h[i].healthy)
			continue;
		char what[768];
		snprintf(what, sizeof what, "member %s (%s) did not become healthy within %d s: %s",
			 cs->members[i].name, cs->members[i].client_url, (wait_ms > 0 ? wait_ms : 60000) / 1000,
			 h[i].reason[0] ? h[i].reason : "no answer");
		r = fail_with_log(-ETIMEDOUT, &cs->members[i], what);
		goto out;
	}
	r = rv_fail_advice(-ETIMEDOUT, RV_ADVICE_CHECK_CLUSTER_STATUS,
			   "the cluster's %zu members are healthy but do not agree on one leader after %d s", n,
			   (wait_ms > 0 ? wait_ms : 60000) / 1000);
out:
	etcd_client_free(c);
	free(h);
	return r;
}

int cluster_up(const struct cluster_spec *cs, int wait_ms, const struct rv_cancel *cancel)
{
	if (cs->n_members == 0)
		return rv_fail(-EINVAL, "the configuration has no cluster members");
	for (size_t i = 0; i < cs->n_members; i++) {
		const struct member_spec *m = &cs->members[i];
		pid_t pid = member_running_pid(m);
		if (pid > 0) {
			rv_debug("member %s is running (pid %d)", m->name, (int)pid);
			continue;
		}
		if (rv_cancelled(cancel))
			return rv_fail(-EINTR, "cluster up was interrupted before member %s was started; the members "
					       "started keep running", m->name);
		rv_debug("starting member %s", m->name);
		int r = member_start(cs, i);
		if (r < 0) {
			char what[1024];
			snprintf(what, sizeof what, "%s", rv_errmsg(r));
			return fail_with_log(r, m, what);
		}
	}
	return cluster_wait_healthy(cs, wait_ms, cancel);
}

/* The member id of the leader as seen by the local members, or 0. */
static uint64_t find_leader(const struct cluster_spec *cs, uint64_t *ids)
{
	etcd_client *c = NULL;
	uint64_t leader = 0;
	if (cluster_client_new(cs, 1000, &c) < 0) {
		rv_err_clear();
		return 0;
	}
	for (size_t i = 0; i < cs->n_members; i++) {
		struct etcd_status st;
		if (etcd_status(c, (int)i, &st) < 0)
			continue;
		ids[i] = st.hdr.member_id;
		if (st.leader)
			leader = st.leader;
	}
	etcd_client_free(c);
	rv_err_clear();
	return leader;
}

int cluster_down(const struct cluster_spec *cs, int timeout_ms)
{
	size_t n = cs->n_members, k = 0, n_followers;
	size_t *idx = rv_xcalloc(n ? n : 1, sizeof *idx);
	pid_t *pids = rv_xcalloc(n ? n : 1, sizeof *pids);
	uint64_t *ids = rv_xcalloc(n ? n : 1, sizeof *ids);
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		const struct member_spec *m = &cs->members[i];
		const struct member_control_ops *ops = member_control(m);
		if (!ops->signal_pid) {
			int s = ops->stop(cs, i, timeout_ms);
			if (s < 0 && r == 0)
				r = s;
			continue;
		}
		pid_t pid = ops->signal_pid(m);
		if (pid) {
			idx[k] = i;
			pids[k++] = pid;
		}
	}
	/* Followers together first, the leader last: a leader stopped while its
	 * followers run hands leadership over (quick); one stopped together with its
	 * followers waits for a transfer that cannot happen (7 s at default timings). */
	uint64_t leader = k > 1 ? find_leader(cs, ids) : 0;
	n_followers = k;
	for (size_t j = 0; leader && j < k; j++) {
		if (ids[idx[j]] != leader)
			continue;
		size_t ti = idx[j];
		pid_t tp = pids[j];
		idx[j] = idx[k - 1];
		pids[j] = pids[k - 1];
		idx[k - 1] = ti;
		pids[k - 1] = tp;
		n_followers = k - 1;
		break;
	}
	if (n_followers) {
		int s = member_terminate(cs, idx, pids, n_followers, timeout_ms);
		if (s < 0 && r == 0)
			r = s;
	}
	if (k > n_followers) {
		int s = member_terminate(cs, idx + n_followers, pids + n_followers, k - n_followers, timeout_ms);
		if (s < 0 && r == 0)
			r = s;
	}
	for (size_t i = 0; i < n; i++) {
		const struct member_control_ops *ops = member_control(&cs->members[i]);
		if (ops->forget)
			ops->forget(&cs->members[i]);
	}
	free(idx);
	free(pids);
	free(ids);
	return r;
}
