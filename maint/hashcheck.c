/* hashcheck.c - HashKV of every member at one common revision. Equal data gives an
 * equal hash; a member that disagrees with the majority may be corrupt. Hashes are
 * only comparable between members that compacted at the same revision, so a
 * compaction racing the check makes it start over at a fresh revision. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "maint/maint.h"

#define HASHCHECK_ATTEMPTS 5

/* HashKV at rev on one member; a member that has not applied rev yet gets a moment.
 * *compacted is set when rev is at or below the member's compaction (etcd refuses
 * to hash there), *hashed_at is the revision the member hashed at. */
static int hash_member(etcd_client *c, int ep, int64_t rev, struct maint_hash_row *row, bool *compacted,
		       int64_t *hashed_at)
{
	double until = rv_now_mono() + 5;
	struct etcd_header hdr = {0};
	int r;
	for (;;) {
		r = etcd_hashkv(c, ep, rev, &row->hash, &row->compact_revision, &hdr);
		if (r != -ERANGE)
			break;
		struct etcd_status st;
		if (etcd_status(c, ep, &st) == 0 && st.hdr.revision >= rev) {
			*compacted = true;
			break;
		}
		if (rv_now_mono() > until)
			break;
		rv_sleep_ms(100);
	}
	*hashed_at = rev ? rev : hdr.revision;
	row->ok = r == 0;
	if (r < 0)
		snprintf(row->error, sizeof row->error, "%s", rv_errmsg(r));
	return r;
}

/* One attempt. At the current revision when it can; right after a compaction to the
 * current revision etcd refuses that, so then at each member's latest revision, which
 * is comparable only when every member hashed the same one. */
static int one_round(etcd_client *c, const struct cluster_spec *cs, struct maint_hash_report *out, bool latest,
		     bool *retry, bool *compacted)
{
	struct etcd_status st;
	int r, first_err = 0;
	*retry = false;
	*compacted = false;
	if ((r = etcd_status(c, ETCD_ANY, &st)) < 0)
		return rv_fail_wrap(r, "cannot read the cluster's revision");
	out->revision = st.hdr.revision;
	for (size_t i = 0; i < cs->n_members; i++) {
		struct maint_hash_row *row = &out->rows[i];
		int64_t at = 0;
		memset(row, 0, sizeof *row);
		snprintf(row->name, sizeof row->name, "%s", cs->members[i].name);
		snprintf(row->endpoint, sizeof row->endpoint, "%s", cs->members[i].client_url);
		r = hash_member(c, (int)i, latest ? 0 : out->revision, row, compacted, &at);
		if (latest && r == 0 && at != out->revision) {
			out->revision = at;
			*retry = i > 0; /* members hashed different revisions */
		}
		if (r == -ERANGE)
			*retry = true;
		else if (r < 0 && !first_err)
			first_err = r;
	}
	for (size_t i = 1; i < cs->n_members; i++)
		if (out->rows[i].ok && out->rows[0].ok && out->rows[i].compact_revision != out->rows[0].compact_revision)
			*retry = true;
	if (*retry)
		rv_err_clear();
	return first_err;
}

int maint_hashcheck(etcd_client *c, const struct cluster_spec *cs, struct maint_hash_report *out)
{
	bool retry = false, compacted = false, latest = false;
	int r = 0;
	size_t n = cs->n_members;

	memset(out, 0, sizeof *out);
	out->rows = rv_xcalloc(n + 1, sizeof *out->rows);
	out->n = n;
	for (int attempt = 0; attempt < HASHCHECK_ATTEMPTS; attempt++) {
		r = one_round(c, cs, out, latest, &retry, &compacted);
		if (!retry)
			break;
		if (compacted)
			latest = true;
	}
	for (size_t i = 0; i < n; i++)
		if (!out->rows[i].ok)
			return rv_fail(r < 0 ? r : -EIO, "cannot hash member %s at revision %lld: %s",
				       out->rows[i].name, (long long)out->revision, out->rows[i].error);
	if (retry)
		return rv_fail(-EAGAIN, "the members kept moving (writes or compactions) during the check, so their hashes could not be compared; run it again");

	return maint_hash_judge(out);
}

int maint_hash_judge(struct maint_hash_report *out)
{
	size_t n = out->n;
	/* The majority hash: the one more than half of the members have. */
	uint32_t majority = 0;
	bool have_majority = false;
	for (size_t i = 0; i < n && !have_majority; i++) {
		size_t same = 0;
		for (size_t j = 0; j < n; j++)
			same += out->rows[j].hash == out->rows[i].hash;
		if (same * 2 > n) {
			majority = out->rows[i].hash;
			have_majority = true;
		}
	}
	char who[512] = "";
	size_t l = 0, n_bad = 0;
	for (size_t i = 0; i < n; i++) {
		out->rows[i].agrees = have_majority && out->rows[i].hash == majority;
		if (!out->rows[i].agrees) {
			n_bad++;
			l += (size_t)snprintf(who + l, sizeof who - l, "%s%s", l ? ", " : "", out->rows[i].name);
		}
	}
	out->consistent = n_bad == 0;
	if (out->consistent)
		return 0;
	if (!have_majority)
		return rv_fail(-EIO, "possible corruption: no majority of the members agrees on the hash at revision %lld (%s); do not restore from any member until it is understood",
			       (long long)out->revision, who);
	return rv_fail(-EIO, "possible corruption: %s %s with the majority at revision %lld; restore %s from a snapshot or from the healthy members",
		       who, n_bad > 1 ? "disagree" : "disagrees", (long long)out->revision, n_bad > 1 ? "them" : "it");
}

void maint_hash_report_free(struct maint_hash_report *r)
{
	free(r->rows);
	r->rows = NULL;
	r->n = 0;
}
