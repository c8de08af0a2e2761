/* cluster_status.c - `cluster status`: one row per configured member, asked one by
 * one; a member that does not answer is a row that says why, never an abort. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "registry/lifecycle_impl.h"
#include "registry/registry.h"

/* Deadline of one member's Status: a member slower than this is not healthy. */
#define STATUS_TIMEOUT_MS 3000

/* For a local member that does not answer, say whether its process is there. */
static void explain_down(const struct member_spec *m, struct etcd_member_health *h)
{
	char more[160] = "";
	if (m->control == MEMBER_CONTROL_LOCAL && member_running_pid(m) == 0)
		snprintf(more, sizeof more, "not running (start it with 'regvault cluster up')");
	if (!more[0])
		return;
	if (!h->reason[0])
		snprintf(h->reason, sizeof h->reason, "%s", more);
	else if (!strstr(h->reason, "not running")) {
		char old[sizeof h->reason];
		snprintf(old, sizeof old, "%s", h->reason);
		snprintf(h->reason, sizeof h->reason, "%s: %s", more, old);
	}
}

int cluster_status(const struct cluster_spec *cs, struct member_row **rows, size_t *n)
{
	etcd_client *c = NULL;
	*rows = NULL;
	*n = 0;
	int r = cluster_client_new(cs, STATUS_TIMEOUT_MS, &c);
	if (r < 0)
		return r;
	struct member_row *out = rv_xcalloc(cs->n_members, sizeof *out);
	for (size_t i = 0; i < cs->n_members; i++) {
		const struct member_spec *m = &cs->members[i];
		struct member_row *row = &out[i];
		snprintf(row->name, sizeof row->name, "%s", m->name);
		snprintf(row->endpoint, sizeof row->endpoint, "%s", m->client_url);
		rv_err_clear();
		r = etcd_member_health(c, (int)i, &row->h);
		if (r < 0) {
			row->h.reachable = row->h.healthy = false;
			snprintf(row->h.reason, sizeof row->h.reason, "%s", rv_errmsg(r));
		}
		if (!row->h.reachable)
			explain_down(m, &row->h);
		if (!row->h.healthy && !row->h.reason[0])
			snprintf(row->h.reason, sizeof row->h.reason, "not healthy");
		row->is_leader = row->h.reachable && row->h.status.leader != 0 &&
				 row->h.status.leader == row->h.status.hdr.member_id;
	}
	rv_err_clear();
	etcd_client_free(c);
	*rows = out;
	*n = cs->n_members;
	return 0;
}
