/* alarms.c - the cluster's alarms per member, named as etcd names them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "maint/maint.h"

static void add_alarm(struct maint_alarm_row *row, enum etcd_alarm_type t)
{
	size_t l = strlen(row->alarms);
	if (t == ETCD_ALARM_NONE)
		return;
	snprintf(row->alarms + l, sizeof row->alarms - l, "%s%s", l ? "," : "", etcd_alarm_name(t));
	if (t == ETCD_ALARM_NOSPACE)
		row->nospace = true;
	if (t == ETCD_ALARM_CORRUPT)
		row->corrupt = true;
}

int maint_alarms(etcd_client *c, const struct cluster_spec *cs, struct maint_alarm_row **rows, size_t *n)
{
	struct etcd_alarm *alarms = NULL;
	struct etcd_member *members = NULL;
	size_t n_alarms = 0, n_members = 0;
	int r;

	*rows = NULL;
	*n = 0;
	if ((r = etcd_alarm_list(c, ETCD_ANY, &alarms, &n_alarms)) < 0)
		return rv_fail_wrap(r, "cannot list the cluster's alarms");
	/* Member ids come from the member list, so a member that is down still has a row. */
	if ((r = etcd_member_list(c, ETCD_ANY, &members, &n_members)) < 0) {
		free(alarms);
		return rv_fail_wrap(r, "cannot list the cluster's members");
	}
	struct maint_alarm_row *out = rv_xcalloc(n_members + n_alarms + 1, sizeof *out);
	size_t k = 0;
	/* Configured members first, in configuration order, then any other member. */
	bool *used = rv_xcalloc(n_members + 1, sizeof *used);
	for (size_t j = 0; j < cs->n_members; j++)
		for (size_t i = 0; i < n_members; i++) {
			if (used[i] || strcmp(cs->members[j].name, members[i].name) != 0)
				continue;
			used[i] = true;
			out[k].id = members[i].id;
			snprintf(out[k].name, sizeof out[k].name, "%s", members[i].name);
			snprintf(out[k].endpoint, sizeof out[k].endpoint, "%s", cs->members[j].client_url);
			k++;
		}
	for (size_t i = 0; i < n_members; i++) {
		if (used[i])
			continue;
		out[k].id = members[i].id;
		snprintf(out[k].name, sizeof out[k].name, "%s", members[i].name[0] ? members[i].name : "(unstarted)");
		snprintf(out[k].endpoint, sizeof out[k].endpoint, "%s", members[i].client_url);
		k++;
	}
	free(used);
	for (size_t a = 0; a < n_alarms; a++) {
		size_t i;
		for (i = 0; i < k; i++)
			if (out[i].id == alarms[a].member_id)
				break;
		if (i == k) {
			/* An alarm of a member no longer in the cluster. */
			out[k].id = alarms[a].member_id;
			snprintf(out[k].name, sizeof out[k].name, ETCD_ID_FMT, alarms[a].member_id);
			k++;
		}
		add_alarm(&out[i], alarms[a].type);
	}
	free(alarms);
	free(members);
	*rows = out;
	*n = k;
	return 0;
}

int maint_alarms_disarm(etcd_client *c, size_t *n_disarmed)
{
	struct etcd_alarm *alarms = NULL;
	size_t n = 0;
	int r;
	if (n_disarmed)
		*n_disarmed = 0;
	if ((r = etcd_alarm_list(c, ETCD_ANY, &alarms, &n)) < 0)
		return rv_fail_wrap(r, "cannot list the cluster's alarms");
	for (size_t i = 0; i < n && r == 0; i++) {
		r = etcd_alarm_disarm(c, alarms[i].member_id, alarms[i].type);
		if (r < 0)
			r = rv_fail_wrap(r, "cannot disarm the %s alarm of member " ETCD_ID_FMT, etcd_alarm_name(alarms[i].type),
					 alarms[i].member_id);
		else if (n_disarmed)
			(*n_disarmed)++;
	}
	free(alarms);
	return r;
}
