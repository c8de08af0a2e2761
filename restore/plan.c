/* plan.c - what a restore will touch: per member its data dir, where the old one
 * goes, where the restored one is built; and the preflight view of the cluster as it
 * runs now (who is healthy, at which revision). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "restore/restore_impl.h"

int rs_plan_members(const struct cluster_spec *cs, struct restore_plan *p)
{
	char parent[PATH_MAX];

	if (cs->n_members == 0)
		return rv_fail(-EINVAL, "the configuration lists no members to restore");
	if (cs->n_members > RESTORE_MAX_MEMBERS)
		return rv_fail(-EINVAL, "the configuration lists %zu members; a restore handles at most %d",
			       cs->n_members, RESTORE_MAX_MEMBERS);
	rv_utc_compact(rv_now_unix(), p->stamp);
	snprintf(p->token, sizeof p->token, "%s-restore-%s",
		 cs->token && *cs->token ? cs->token : cs->name && *cs->name ? cs->name : "etcd-cluster", p->stamp);
	rs_parent(cs->members[0].data_dir, parent, sizeof parent);
	snprintf(p->staging_dir, sizeof p->staging_dir, "%s/%s", parent, RS_STAGING_NAME);
	p->n_members = cs->n_members;
	for (size_t i = 0; i < cs->n_members; i++) {
		const struct member_spec *m = &cs->members[i];
		struct restore_member_plan *mp = &p->members[i];
		if (!m->data_dir || !*m->data_dir)
			return rv_fail(-EINVAL, "member %s has no data_dir in the configuration", m->name);
		snprintf(mp->name, sizeof mp->name, "%s", m->name);
		snprintf(mp->data_dir, sizeof mp->data_dir, "%s", m->data_dir);
		/* Trailing slashes would put the aside dir inside the data dir. */
		for (size_t n = strlen(mp->data_dir); n > 1 && mp->data_dir[n - 1] == '/'; n--)
			mp->data_dir[n - 1] = 0;
		snprintf(mp->aside_dir, sizeof mp->aside_dir, "%s.before-restore-%s", mp->data_dir, p->stamp);
		rs_parent(mp->data_dir, parent, sizeof parent);
		snprintf(mp->staged_dir, sizeof mp->staged_dir, "%s/%s/%s", parent, RS_STAGING_NAME, mp->name);
		mp->has_data = rv_path_exists(mp->data_dir);
		if (mp->has_data && rs_is_mountpoint(mp->data_dir))
			return rv_fail(-EINVAL,
				       "the data dir %s of member %s is a mount point; a restore moves data dirs aside by renaming, "
				       "so configure a data dir one level below the mount (see docs/runbooks/restore.md)",
				       mp->data_dir, mp->name);
		if (rv_path_exists(mp->aside_dir))
			return rv_fail(-EEXIST, "%s already exists; wait a second and run the restore again", mp->aside_dir);
	}
	return 0;
}

void rs_preflight(const struct cluster_spec *cs, struct restore_plan *p)
{
	etcd_client *c = NULL;
	p->cluster_revision = 0;
	p->n_healthy = 0;
	p->cluster_observed = true;
	for (size_t i = 0; i < p->n_members; i++) {
		p->members[i].running = rs_member_running(cs, i);
		p->members[i].healthy = false;
		p->members[i].revision = 0;
	}
	if (cluster_client_new(cs, 2000, &c) < 0) {
		rv_err_clear();
		p->cluster_serving = false;
		return;
	}
	for (size_t i = 0; i < p->n_members; i++) {
		struct etcd_member_health h;
		struct restore_member_plan *mp = &p->members[i];
		memset(&h, 0, sizeof h);
		if (etcd_member_health(c, (int)i, &h) < 0)
			rv_err_clear();
		if (h.reachable) {
			mp->running = true;
			mp->revision = h.status.hdr.revision;
			if (mp->revision > p->cluster_revision)
				p->cluster_revision = mp->revision;
		}
		mp->healthy = h.healthy;
		if (h.healthy)
			p->n_healthy++;
	}
	p->cluster_serving = p->n_healthy > p->n_members / 2;
	etcd_client_free(c);
}
