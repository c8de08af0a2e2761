/* defrag.c - rolling defragmentation: one member at a time, followers first, the
 * leader last (optionally after handing leadership to a member already done), each
 * decided by the rule on that member's fresh status just before its turn.
 *
 * Defragment blocks reads and writes on the member while it rewrites the db; doing
 * one member at a time keeps a quorum serving, and doing the leader last means the
 * cluster changes leader at most once. The leader is looked up again before every
 * turn, so an election during the run cannot put the leader anywhere but last. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "maint/maint.h"

const char *maint_defrag_outcome_name(enum maint_defrag_outcome o)
{
	switch (o) {
	case MAINT_DEFRAG_SKIPPED: return "skipped";
	case MAINT_DEFRAG_WOULD: return "would-defragment";
	case MAINT_DEFRAG_DONE: return "defragmented";
	case MAINT_DEFRAG_FAILED: return "failed";
	default: return "not-reached";
	}
}

static double unix_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct run {
	etcd_client *c;
	const struct cluster_spec *cs;
	const struct maint_defrag_opts *o;
	uint64_t *ids;
	bool *handled;
};

static int index_of_id(const struct run *run, uint64_t id)
{
	for (size_t i = 0; i < run->cs->n_members; i++)
		if (run->ids[i] == id)
			return (int)i;
	return -1;
}

/* The leader now, as an endpoint index; an election under way gets 10 s to end. */
static int current_leader(struct run *run, int *leader)
{
	double until = rv_now_mono() + 10;
	struct etcd_status st;
	int r;
	for (;;) {
		r = etcd_status(run->c, ETCD_ANY, &st);
		*leader = r == 0 ? index_of_id(run, st.leader) : -1;
		if (*leader >= 0) {
			rv_err_clear();
			return 0;
		}
		if (rv_now_mono() > until)
			break;
		rv_sleep_ms(200);
	}
	if (r < 0)
		return rv_fail_wrap(r, "cannot find the leader");
	return rv_fail(-EBUSY, "the cluster has had no leader among the configured members for 10 s");
}

/* After a Defragment or a leader move: the member answers and knows a leader. */
static int wait_member_ready(struct run *run, int ep, uint64_t want_leader, int wait_ms)
{
	double until = rv_now_mono() + wait_ms / 1000.0;
	int r;
	for (;;) {
		struct etcd_status st;
		r = etcd_status(run->c, ep, &st);
		if (r == 0 && st.leader != 0 && (!want_leader || st.leader == want_leader))
			return 0;
		if (rv_now_mono() > until)
			break;
		rv_sleep_ms(100);
	}
	if (r < 0)
		return rv_fail_wrap(r, "member %s did not come back within %d s", run->cs->members[ep].name, wait_ms / 1000);
	return rv_fail(-ETIMEDOUT, "member %s did not see the %s within %d s", run->cs->members[ep].name,
		       want_leader ? "new leader" : "leader", wait_ms / 1000);
}

/* Hand leadership from the leader to a member already done (defragmented, or else
 * skipped because it needed nothing). */
static int move_leader_away(struct run *run, struct maint_defrag_report *out, int leader, size_t n_done)
{
	int target = -1;
	for (size_t k = 0; k < n_done && target < 0; k++)
		if (out->members[k].outcome == MAINT_DEFRAG_DONE)
			target = index_of_id(run, out->members[k].id);
	for (size_t k = 0; k < n_done && target < 0; k++)
		if (out->members[k].outcome == MAINT_DEFRAG_SKIPPED)
			target = index_of_id(run, out->members[k].id);
	if (target < 0)
		return rv_fail(-EBUSY, "no follower is ready to take over leadership from %s", run->cs->members[leader].name);
	rv_info("defrag: handing leadership from %s to %s", run->cs->members[leader].name, run->cs->members[target].name);
	int r = etcd_move_leader(run->c, leader, run->ids[target]);
	if (r < 0)
		return rv_fail_wrap(r, "cannot hand leadership from %s to %s", run->cs->members[leader].name,
				    run->cs->members[target].name);
	if ((r = wait_member_ready(run, leader, run->ids[target], 15000)) < 0)
		return r;
	snprintf(out->leader_moved_to, sizeof out->leader_moved_to, "%s", run->cs->members[target].name);
	return 0;
}

/* One member's turn. Returns 0 or the failure (also recorded in m->error). */
static int one_member(struct run *run, struct maint_defrag_report *out, size_t k, int ep, bool is_leader)
{
	struct maint_defrag_member *m = &out->members[k];
	const struct maint_defrag_opts *o = run->o;
	struct etcd_status st;
	bool yes = true;
	int r;

	m->leader = is_leader;
	if ((r = etcd_status(run->c, ep, &st)) < 0)
		goto fail;
	m->size_before = m->size_after = st.db_size;
	m->in_use_before = m->in_use_after = st.db_size_in_use;
	if (o->rule) {
		struct maint_rule_vars v;
		maint_rule_vars_from_status(&st, o->quota_bytes, &v);
		if ((r = maint_rule_eval(o->rule, &v, &yes)) < 0)
			goto fail;
	}
	if (!yes) {
		m->outcome = MAINT_DEFRAG_SKIPPED;
		rv_info("defrag: %s: skipped (the rule is false)", m->name);
		return 0;
	}
	if (o->dry_run) {
		m->outcome = MAINT_DEFRAG_WOULD;
		return 0;
	}
	if (is_leader && o->move_leader && run->cs->n_members > 1) {
		if ((r = move_leader_away(run, out, ep, k)) < 0)
			goto fail;
	}
	rv_info("defrag: %s%s: defragmenting", m->name, is_leader ? " (leader)" : "");
	m->started = unix_now();
	double t0 = rv_now_mono();
	r = etcd_defragment(run->c, ep, o->timeout_ms);
	m->seconds = rv_now_mono() - t0;
	m->finished = unix_now();
	if (r < 0) {
		/* etcd goes on defragmenting after a deadline: let it finish before anything
		 * else happens, so that members are never defragmented at the same time. */
		int saved = r;
		char msg[512];
		snprintf(msg, sizeof msg, "%s", rv_errmsg(r));
		wait_member_ready(run, ep, 0, 60000);
		r = rv_fail(saved, "%s", msg);
		goto fail;
	}
	if ((r = wait_member_ready(run, ep, 0, 30000)) < 0)
		goto fail;
	if ((r = etcd_status(run->c, ep, &st)) == 0) {
		m->size_after = st.db_size;
		m->in_use_after = st.db_size_in_use;
	}
	rv_err_clear();
	m->outcome = MAINT_DEFRAG_DONE;
	return 0;
fail:
	m->outcome = MAINT_DEFRAG_FAILED;
	snprintf(m->error, sizeof m->error, "%s", rv_errmsg(r));
	return r;
}

/* "etcd1 defragmented, etcd2 failed, etcd3 not reached" */
static void describe_states(const struct maint_defrag_report *out, char *buf, size_t len)
{
	size_t l = 0;
	buf[0] = 0;
	for (size_t k = 0; k < out->n && l < len; k++)
		l += (size_t)snprintf(buf + l, len - l, "%s%s %s", k ? ", " : "", out->members[k].name,
				      maint_defrag_outcome_name(out->members[k].outcome));
}

int maint_defrag(etcd_client *c, const struct cluster_spec *cs, const struct maint_defrag_opts *o,
		 struct maint_defrag_report *out)
{
	struct run run = {.c = c, .cs = cs, .o = o};
	size_t n = cs->n_members, k = 0;
	int leader = -1, r, first_err = 0;
	char first_msg[1024] = "";

	memset(out, 0, sizeof *out);
	if ((r = maint_health_gate(c, cs, o->allow_nospace, &leader)) < 0)
		return r;
	run.ids = rv_xcalloc(n + 1, sizeof *run.ids);
	run.handled = rv_xcalloc(n + 1, sizeof *run.handled);
	for (size_t i = 0; i < n; i++) {
		struct etcd_status st;
		if ((r = etcd_status(c, (int)i, &st)) < 0) {
			r = rv_fail_wrap(r, "member %s stopped answering, so nothing was changed", cs->members[i].name);
			goto done;
		}
		run.ids[i] = st.hdr.member_id;
	}
	out->members = rv_xcalloc(n + 1, sizeof *out->members);
	out->n = n;
	snprintf(out->leader_before, sizeof out->leader_before, "%s", cs->members[leader].name);

	for (k = 0; k < n; k++) {
		int next = -1;
		if (k > 0 && rv_cancelled(o->cancel)) {
			first_err = -EINTR;
			snprintf(first_msg, sizeof first_msg, "maint defrag was interrupted after %zu of %zu members", k, n);
			break;
		}
		if ((r = current_leader(&run, &leader)) < 0)
			break;
		for (size_t i = 0; i < n && next < 0; i++)
			if (!run.handled[i] && (int)i != leader)
				next = (int)i;
		if (next < 0)
			next = leader;
		run.handled[next] = true;
		struct maint_defrag_member *m = &out->members[k];
		snprintf(m->name, sizeof m->name, "%s", cs->members[next].name);
		snprintf(m->endpoint, sizeof m->endpoint, "%s", cs->members[next].client_url);
		m->id = run.ids[next];
		r = one_member(&run, out, k, next, next == leader);
		if (m->outcome == MAINT_DEFRAG_DONE) {
			out->n_defragmented++;
			if (o->pause_ms > 0 && k + 1 < n)
				rv_sleep_cancellable(o->pause_ms, o->cancel);
		} else if (m->outcome == MAINT_DEFRAG_SKIPPED) {
			out->n_skipped++;
		}
		if (r < 0) {
			out->n_failed++;
			if (!first_err) {
				first_err = r;
				snprintf(first_msg, sizeof first_msg, "defragmenting %s failed: %s", m->name, rv_errmsg(r));
			}
			if (!o->continue_on_error) {
				k++;
				break;
			}
		}
	}
	/* Members never reached keep their place, followers before the leader. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n && k < n; i++) {
			if (run.handled[i] || ((int)i == leader) != (pass == 1))
				continue;
			struct maint_defrag_member *m = &out->members[k++];
			snprintf(m->name, sizeof m->name, "%s", cs->members[i].name);
			snprintf(m->endpoint, sizeof m->endpoint, "%s", cs->members[i].client_url);
			m->id = run.ids[i];
			m->leader = (int)i == leader;
			m->outcome = MAINT_DEFRAG_NOT_REACHED;
			run.handled[i] = true;
		}
	if (first_err) {
		char states[1024];
		describe_states(out, states, sizeof states);
		r = rv_fail(first_err, "%s; members left: %s (a member not defragmented keeps its db as it was)",
			    first_msg, states);
	} else if (r < 0) {
		char states[1024];
		describe_states(out, states, sizeof states);
		r = rv_fail_wrap(r, "defragmentation stopped (members left: %s)", states);
	}
done:
	free(run.ids);
	free(run.handled);
	return r;
}

void maint_defrag_report_free(struct maint_defrag_report *r)
{
	free(r->members);
	r->members = NULL;
	r->n = 0;
}
