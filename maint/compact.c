/* compact.c - one physical compaction for the whole cluster (compaction goes through
 * raft, so one call compacts every member), keeping the newest revisions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "maint/maint.h"

/* Sizes of every member now; a member that does not answer is a row with ok false. */
static struct maint_member_size *member_sizes(etcd_client *c, const struct cluster_spec *cs)
{
	struct maint_member_size *s = rv_xcalloc(cs->n_members + 1, sizeof *s);
	for (size_t i = 0; i < cs->n_members; i++) {
		struct etcd_status st;
		snprintf(s[i].name, sizeof s[i].name, "%s", cs->members[i].name);
		if (etcd_status(c, (int)i, &st) == 0) {
			s[i].ok = true;
			s[i].db_size = st.db_size;
			s[i].db_size_in_use = st.db_size_in_use;
		}
	}
	rv_err_clear();
	return s;
}

int maint_compact(etcd_client *c, const struct cluster_spec *cs, const struct maint_compact_opts *o,
		  struct maint_compact_report *out)
{
	struct etcd_status st;
	int r;
	double t0;

	memset(out, 0, sizeof *out);
	if (o->revision < 0 || o->keep_revisions < 0)
		return rv_fail(-EINVAL, "the revision to compact to and the revisions to keep cannot be negative");
	if ((r = maint_health_gate(c, cs, true, NULL)) < 0)
		return r;
	/* The current revision from any member (every header carries it). */
	if ((r = etcd_status(c, ETCD_ANY, &st)) < 0)
		return rv_fail_wrap(r, "cannot read the cluster's revision");
	out->current_revision = st.hdr.revision;
	out->n = cs->n_members;
	out->before = member_sizes(c, cs);

	int64_t target = o->revision ? o->revision : st.hdr.revision - o->keep_revisions;
	if (o->revision > st.hdr.revision)
		return rv_fail(-ERANGE, "cannot compact to revision %lld: the cluster is only at revision %lld",
			       (long long)o->revision, (long long)st.hdr.revision);
	if (o->at_most > 0 && target > o->at_most) {
		rv_info("compaction held back to revision %lld, continuous backup's last persisted revision + 1 (not %lld)",
			(long long)o->at_most, (long long)target);
		target = o->at_most;
		out->held_back = true;
	}
	t0 = rv_now_mono();
	if (target >= 1) {
		r = etcd_compact(c, target, true);
		if (r == -ERANGE) {
			/* Already compacted at or beyond target: nothing left to do. */
			out->already_compacted = true;
			rv_err_clear();
			r = 0;
		} else if (r < 0) {
			return rv_fail_wrap(r, "compaction to revision %lld failed", (long long)target);
		}
		out->revision = target;
	}
	out->seconds = rv_now_mono() - t0;
	out->after = member_sizes(c, cs);
	return 0;
}

void maint_compact_report_free(struct maint_compact_report *r)
{
	free(r->before);
	free(r->after);
	r->before = r->after = NULL;
}
