/* cluster_status.c - `cluster status`: one row per configured member, asked one by
 * one; a member that does not answer is a row that says why, never an abort. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "registry/lifecycle_impl.h"
#include "registry/registry.h"

/* Deadline of one member's Status: a member slower than this is not healthy. */
#define STATUS_TIMEOUT_MS 3000

/* A local member that does not answer and has no process: say that, not how the
 * connection failed. */
static void explain_down(const struct member_spec *m, struct etcd_member_health *h)
{
	const struct member_control_ops *ops = member_control(m);
	if (!ops->known_stopped || !ops->known_stopped(m))
		return;
	snprintf(h->reason, sizeof h->reason, "not running%s", rv_advice_text(RV_ADVICE_START_MEMBER));
}

int cluster_status(const struct cluster_spec *cs, struct member_row **rows, size_t *n)
{
	etcd_client *c = NULL;
	*rows = NULL;
	*n = 0;
	int r = cluster_client_new(cs, STATUS_TIMEOUT_MS, &c);
	if (r < 0)
		return r;
	r = cluster_status_on(c, cs, rows, n);
	etcd_client_free(c);
	return r;
}

int cluster_status_on(etcd_client *c, const struct cluster_spec *cs, struct member_row **rows, size_t *n)
{
	int r;
	*rows = NULL;
	*n = 0;
	struct member_row *out = rv_xcalloc(cs->n_members, sizeof *out);
	/* The alarm list is the cluster's: read once for every member (each AlarmList is
	 * a raft round trip), from each member only when that fails. */
	static const struct etcd_alarm no_alarm; /* a list read, and empty */
	struct etcd_alarm *alarms = NULL;
	size_t n_alarms = 0;
	bool have_alarms = etcd_alarm_list(c, ETCD_ANY, &alarms, &n_alarms) == 0;
	rv_err_clear();
	for (size_t i = 0; i < cs->n_members; i++) {
		const struct member_spec *m = &cs->members[i];
		struct member_row *row = &out[i];
		snprintf(row->name, sizeof row->name, "%s", m->name);
		snprintf(row->endpoint, sizeof row->endpoint, "%s", m->client_url);
		for (int attempt = 0; attempt < 2; attempt++) {
			rv_err_clear();
			r = have_alarms ? etcd_member_health_with(c, (int)i, alarms ? alarms : &no_alarm, n_alarms, &row->h)
					: etcd_member_health(c, (int)i, &row->h);
			if (r < 0) {
				row->h.reachable = row->h.healthy = false;
				snprintf(row->h.reason, sizeof row->h.reason, "%s", rv_errmsg(r));
			}
			if (row->h.reachable)
				break;
			explain_down(m, &row->h);
			if (strstr(row->h.reason, "not running"))
				break;
			/* A connection attempt can fail once on a busy machine: ask again
			 * before calling the member down. */
			if (attempt == 0)
				rv_sleep_ms(200);
		}
		if (!row->h.healthy && !row->h.reason[0])
			snprintf(row->h.reason, sizeof row->h.reason, "not healthy");
		row->is_leader = row->h.reachable && row->h.status.leader != 0 &&
				 row->h.status.leader == row->h.status.hdr.member_id;
	}
	free(alarms);
	rv_err_clear();
	*rows = out;
	*n = cs->n_members;
	return 0;
}
