/* members.c - stopping and starting members the way they are run, through the
 * registry's lifecycle: `control: local` by pid file beside the data dir, `control:
 * systemd` by systemctl (the unit owns the flags; a restored data dir carries its
 * WAL, so etcd ignores --initial-cluster* on start whatever the unit passes). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "restore/restore_impl.h"

bool rs_member_running(const struct cluster_spec *cs, size_t i)
{
	return member_running_pid(&cs->members[i]) > 0;
}

int rs_member_start(const struct cluster_spec *cs, size_t i)
{
	return member_start(cs, i);
}

int rs_member_stop(const struct cluster_spec *cs, size_t i)
{
	return member_stop(cs, i, RS_STOP_TIMEOUT_MS);
}

/* The lifecycle's cluster down: followers together, the leader last (a leader
 * stopped together with its followers waits seconds for a hand-over that cannot
 * happen), so the downtime is about one member's stop. */
int rs_stop_all(const struct cluster_spec *cs)
{
	int r = cluster_down(cs, RS_STOP_TIMEOUT_MS);
	if (r < 0)
		return r;
	/* A member still running now would write into a data dir we are about to move. */
	for (size_t i = 0; i < cs->n_members; i++)
		if (rs_member_running(cs, i))
			return rv_fail(-EBUSY,
				       "member %s still runs after being stopped (pid %d, not started by regvault?); stop it "
				       "by hand and run again",
				       cs->members[i].name, (int)member_running_pid(&cs->members[i]));
	return 0;
}
