/* recover_space.c - etcd's NOSPACE runbook as one command: compact to the current
 * revision, defragment every member (leader last), disarm NOSPACE only once every
 * member is safely below the quota (else the alarm comes straight back), then prove
 * that a write works. Each step is reported; the first failure stops the run. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "maint/maint.h"

static const char *const step_names[MAINT_RECOVER_STEPS] = {"alarms", "compact", "defrag", "disarm", "write"};

static int step_alarms(etcd_client *c, const struct cluster_spec *cs, struct maint_recover_report *out,
		       struct maint_step *s)
{
	struct maint_alarm_row *rows = NULL;
	size_t n = 0, l = 0;
	int r = maint_alarms(c, cs, &rows, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (rows[i].corrupt)
			r = rv_fail_advice(-EBUSY, RV_ADVICE_HASHCHECK_FIRST,
					   "member %s has a CORRUPT alarm: space recovery does not touch a cluster that may be corrupt",
					   rows[i].name);
		if (rows[i].nospace) {
			out->nospace_before = true;
			l += (size_t)snprintf(s->detail + l, sizeof s->detail - l, "%s%s", l ? ", " : "NOSPACE on ",
					      rows[i].name);
		}
	}
	if (r == 0 && !out->nospace_before)
		snprintf(s->detail, sizeof s->detail, "no NOSPACE alarm (recovering space anyway)");
	free(rows);
	return r;
}

static int step_compact(etcd_client *c, const struct cluster_spec *cs, struct maint_recover_report *out,
			struct maint_step *s)
{
	struct maint_compact_opts o = {.keep_revisions = 0};
	int r = maint_compact(c, cs, &o, &out->compact);
	if (r == 0)
		snprintf(s->detail, sizeof s->detail, "%s revision %lld",
			 out->compact.already_compacted ? "already compacted at" : "compacted to",
			 (long long)out->compact.revision);
	return r;
}

static int step_defrag(etcd_client *c, const struct cluster_spec *cs, struct maint_recover_report *out,
		       struct maint_step *s)
{
	struct maint_defrag_opts o = {.quota_bytes = cs->etcd.quota_backend_bytes, .allow_nospace = true};
	int r = maint_defrag(c, cs, &o, &out->defrag);
	size_t l = 0;
	for (size_t i = 0; i < out->defrag.n && l < sizeof s->detail; i++) {
		const struct maint_defrag_member *m = &out->defrag.members[i];
		char a[16], b[16];
		if (m->outcome == MAINT_DEFRAG_DONE)
			l += (size_t)snprintf(s->detail + l, sizeof s->detail - l, "%s%s %s -> %s", l ? ", " : "", m->name,
					      rv_fmt_bytes((uint64_t)m->size_before, a, sizeof a),
					      rv_fmt_bytes((uint64_t)m->size_after, b, sizeof b));
	}
	return r;
}

static int step_disarm(etcd_client *c, const struct cluster_spec *cs, struct maint_recover_report *out,
		       struct maint_step *s)
{
	struct etcd_alarm *alarms = NULL;
	size_t n = 0, done = 0;
	char size[16], limit[16], quota[16];
	int r;

	rv_fmt_bytes((uint64_t)out->limit_bytes, limit, sizeof limit);
	rv_fmt_bytes((uint64_t)out->quota_bytes, quota, sizeof quota);
	for (size_t i = 0; i < cs->n_members; i++) {
		struct etcd_status st;
		if ((r = etcd_status(c, (int)i, &st)) < 0)
			return rv_fail_wrap(r, "cannot read the db size of %s", cs->members[i].name);
		if (st.db_size >= out->limit_bytes)
			return rv_fail(-ENOSPC, "member %s still has a %s db after defragmentation, not below %s (the quota %s times maint.disarm_threshold), so NOSPACE stays armed: delete data or raise cluster.etcd.quota_backend_bytes, then run recover-space again",
				       cs->members[i].name, rv_fmt_bytes((uint64_t)st.db_size, size, sizeof size), limit,
				       quota);
	}
	if ((r = etcd_alarm_list(c, ETCD_ANY, &alarms, &n)) < 0)
		return rv_fail_wrap(r, "cannot list the cluster's alarms");
	for (size_t i = 0; i < n && r == 0; i++) {
		if (alarms[i].type != ETCD_ALARM_NOSPACE)
			continue;
		r = etcd_alarm_disarm(c, alarms[i].member_id, ETCD_ALARM_NOSPACE);
		if (r == 0)
			done++;
	}
	free(alarms);
	if (r < 0)
		return rv_fail_wrap(r, "cannot disarm the NOSPACE alarm");
	out->disarmed = done > 0;
	snprintf(s->detail, sizeof s->detail, "%s; every member is below %s",
		 done ? "NOSPACE disarmed" : "no NOSPACE alarm to disarm", limit);
	return 0;
}

static int step_write(etcd_client *c, struct maint_step *s)
{
	char key[128];
	struct etcd_header hdr;
	int64_t deleted = 0;
	snprintf(key, sizeof key, "/regvault/maint/recover-space/%ld", (long)getpid());
	int r = etcd_put(c, key, strlen(key), "ok", 2, 0, &hdr);
	if (r < 0)
		return rv_fail_wrap(r, "the cluster still refuses writes");
	if ((r = etcd_delete_range(c, key, strlen(key), NULL, 0, &deleted)) < 0)
		return rv_fail_wrap(r, "the test write worked but deleting its key %s failed", key);
	snprintf(s->detail, sizeof s->detail, "a test write succeeded at revision %lld", (long long)hdr.revision);
	return 0;
}

int maint_recover_space(etcd_client *c, const struct cluster_spec *cs, const struct maint_settings *ms,
			struct maint_recover_report *out)
{
	int r = 0;
	memset(out, 0, sizeof *out);
	out->quota_bytes = maint_effective_quota(cs->etcd.quota_backend_bytes);
	double threshold = ms->disarm_threshold > 0 && ms->disarm_threshold <= 1 ? ms->disarm_threshold : 0.9;
	out->limit_bytes = (int64_t)((double)out->quota_bytes * threshold);
	for (size_t i = 0; i < MAINT_RECOVER_STEPS; i++)
		out->steps[i].name = step_names[i];
	for (size_t i = 0; i < MAINT_RECOVER_STEPS && r == 0; i++) {
		struct maint_step *s = &out->steps[i];
		double t0 = rv_now_mono();
		rv_info("recover-space: %s", s->name);
		switch (i) {
		case 0: r = step_alarms(c, cs, out, s); break;
		case 1: r = step_compact(c, cs, out, s); break;
		case 2: r = step_defrag(c, cs, out, s); break;
		case 3: r = step_disarm(c, cs, out, s); break;
		default: r = step_write(c, s); break;
		}
		s->done = true;
		s->ok = r == 0;
		s->seconds = rv_now_mono() - t0;
		if (r < 0) {
			snprintf(s->detail, sizeof s->detail, "%s", rv_errmsg(r));
			r = rv_fail_wrap(r, "recover-space stopped at step '%s'", s->name);
		}
	}
	return r;
}

void maint_recover_report_free(struct maint_recover_report *r)
{
	maint_compact_report_free(&r->compact);
	maint_defrag_report_free(&r->defrag);
}
