/* health.c - the gate every maintenance run passes first: all members answer, agree
 * on one leader, and none is marked CORRUPT. Defragmenting or compacting a cluster
 * that is already degraded is how one lost member becomes a lost quorum. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "maint/maint.h"

/* After the first member did not answer: do the others not answer either? */
static bool none_answers(etcd_client *c, const struct cluster_spec *cs)
{
	struct etcd_status st;
	for (size_t i = 1; i < cs->n_members; i++) {
		int r = etcd_status(c, (int)i, &st);
		if (r != -EHOSTUNREACH && r != -ETIMEDOUT)
			return false;
	}
	return true;
}

int maint_health_gate(etcd_client *c, const struct cluster_spec *cs, bool allow_nospace, int *leader_ep)
{
	struct etcd_status st;
	struct etcd_alarm *alarms = NULL;
	uint64_t leader = 0;
	uint64_t *ids = rv_xcalloc(cs->n_members + 1, sizeof *ids);
	size_t n_alarms = 0;
	int r = 0, lead = -1;

	for (size_t i = 0; i < cs->n_members && r == 0; i++) {
		const char *name = cs->members[i].name;
		r = etcd_status(c, (int)i, &st);
		if (r == -EHOSTUNREACH || r == -ETIMEDOUT) {
			/* Once more: a first connection can be slow to come up. */
			rv_sleep_ms(500);
			r = etcd_status(c, (int)i, &st);
		}
		if ((r == -EHOSTUNREACH || r == -ETIMEDOUT) && i == 0 && none_answers(c, cs)) {
			r = cluster_fail_none_answers(cs, r, "nothing was changed");
			break;
		}
		if (r == -EHOSTUNREACH || r == -ETIMEDOUT) {
			r = rv_fail_wrap(r, "member %s is not healthy, so nothing was changed", name);
			break;
		}
		if (r < 0) {
			r = rv_fail_wrap(r, "cannot ask member %s for its status, so nothing was changed", name);
			break;
		}
		ids[i] = st.hdr.member_id;
		if (st.leader == 0)
			r = rv_fail_advice(-EBUSY, RV_ADVICE_CLUSTER_STATUS,
					   "member %s sees no leader, so nothing was changed; wait until the cluster has a leader", name);
		else if (leader && st.leader != leader)
			r = rv_fail(-EBUSY, "the members disagree on the leader (an election is under way), so nothing was changed; try again in a few seconds");
		leader = st.leader;
	}
	for (size_t i = 0; r == 0 && i < cs->n_members; i++)
		if (ids[i] == leader)
			lead = (int)i;
	if (r == 0 && lead < 0)
		r = rv_fail(-EBUSY, "the leader (member id " ETCD_ID_FMT ") is not one of the configured members, so nothing was changed; check cluster.members",
			    leader);
	if (r == 0) {
		r = etcd_alarm_list(c, ETCD_ANY, &alarms, &n_alarms);
		if (r < 0)
			r = rv_fail_wrap(r, "cannot read the cluster's alarms, so nothing was changed");
	}
	for (size_t a = 0; r == 0 && a < n_alarms; a++) {
		const char *who = "an unknown member";
		for (size_t i = 0; i < cs->n_members; i++)
			if (ids[i] == alarms[a].member_id)
				who = cs->members[i].name;
		if (alarms[a].type == ETCD_ALARM_CORRUPT)
			r = rv_fail_advice(-EBUSY, RV_ADVICE_FIND_DIVERGED,
					   "member %s has a CORRUPT alarm, so nothing was changed; find the member that diverged", who);
		else if (alarms[a].type == ETCD_ALARM_NOSPACE && !allow_nospace)
			r = rv_fail_advice(-EBUSY, RV_ADVICE_RUN_RECOVER_SPACE, "member %s has a NOSPACE alarm, so nothing was changed",
					   who);
	}
	free(alarms);
	free(ids);
	if (r == 0 && leader_ep)
		*leader_ep = lead;
	return r;
}
