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
 * is comparable only when every member hashed the same one. A member that does not
 * answer is left out of the comparison (its row says why), not a reason to retry. */
static int one_round(etcd_client *c, const struct cluster_spec *cs, struct maint_hash_report *out, bool latest,
		     bool *retry, bool *compacted)
{
	struct etcd_status st;
	int r, first_err = 0;
	const struct maint_hash_row *first_ok = NULL;
	*retry = false;
	*compacted = false;
	if ((r = etcd_status(c, ETCD_ANY, &st)) == -EHOSTUNREACH || r == -ETIMEDOUT)
		return cluster_fail_none_answers(cs, r, "there is nothing to compare");
	if (r < 0)
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
			*retry = first_ok != NULL; /* members hashed different revisions */
		}
		if (r == -ERANGE)
			*retry = true;
		else if (r < 0 && !first_err)
			first_err = r;
		if (r == 0) {
			if (first_ok && row->compact_revision != first_ok->compact_revision)
				*retry = true;
			if (!first_ok)
				first_ok = row;
		}
	}
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
	for (size_t i = 0; i < n; i++) { /* named even when no round gets to them */
		snprintf(out->rows[i].name, sizeof out->rows[i].name, "%s", cs->members[i].name);
		snprintf(out->rows[i].endpoint, sizeof out->rows[i].endpoint, "%s", cs->members[i].client_url);
	}
	for (int attempt = 0; attempt < HASHCHECK_ATTEMPTS; attempt++) {
		r = one_round(c, cs, out, latest, &retry, &compacted);
		if (!retry)
			break;
		if (compacted)
			latest = true;
	}
	if (retry)
		return rv_fail(-EAGAIN, "the members kept moving (writes or compactions) during the check, so their hashes could not be compared; run it again");
	bool any_ok = false;
	for (size_t i = 0; i < n; i++)
		any_ok |= out->rows[i].ok;
	if (!any_ok)
		return r < 0 ? r : rv_fail(-EIO, "no member answered HashKV at revision %lld", (long long)out->revision);
	rv_err_clear();
	return maint_hash_judge(out);
}

/* "etcd2, etcd3" of the rows whose ok is want, or (errors) their errors, each of
 * which names its member. */
static size_t list_rows(const struct maint_hash_report *out, bool want, bool errors, char *buf, size_t len)
{
	size_t l = 0, k = 0;
	buf[0] = 0;
	for (size_t i = 0; i < out->n; i++) {
		const struct maint_hash_row *row = &out->rows[i];
		if (row->ok != want || l >= len)
			continue;
		k++;
		if (errors && row->error[0])
			l += (size_t)snprintf(buf + l, len - l, "%s%s", l ? "; " : "", row->error);
		else if (errors)
			l += (size_t)snprintf(buf + l, len - l, "%s%s gave no answer", l ? "; " : "", row->name);
		else
			l += (size_t)snprintf(buf + l, len - l, "%s%s", l ? ", " : "", row->name);
	}
	return k;
}

int maint_hash_judge(struct maint_hash_report *out)
{
	size_t n = out->n, n_ok = 0;
	for (size_t i = 0; i < n; i++)
		n_ok += out->rows[i].ok;
	/* The majority hash: the one more than half of the members that answered have. */
	uint32_t majority = 0;
	bool have_majority = false;
	for (size_t i = 0; i < n && !have_majority; i++) {
		size_t same = 0;
		if (!out->rows[i].ok)
			continue;
		for (size_t j = 0; j < n; j++)
			same += out->rows[j].ok && out->rows[j].hash == out->rows[i].hash;
		if (same * 2 > n_ok) {
			majority = out->rows[i].hash;
			have_majority = true;
		}
	}
	char who[512] = "", silent[512], silent_why[1024];
	size_t l = 0, n_bad = 0;
	for (size_t i = 0; i < n; i++) {
		const struct maint_hash_row *row = &out->rows[i];
		out->rows[i].agrees = row->ok && have_majority && row->hash == majority;
		if (row->ok && !row->agrees) {
			n_bad++;
			l += (size_t)snprintf(who + l, sizeof who - l, "%s%s", l ? ", " : "", row->name);
		}
	}
	size_t n_silent = list_rows(out, false, false, silent, sizeof silent);
	out->consistent = n_ok > 0 && n_bad == 0;
	out->complete = n_silent == 0;
	char also[600] = "";
	if (n_silent)
		snprintf(also, sizeof also, " (%s did not answer)", silent);
	if (n_ok && !out->consistent && !have_majority)
		return rv_fail(-EIO, "possible corruption: no majority of the members that answered agrees on the hash at revision %lld (%s)%s; do not restore from any member until it is understood",
			       (long long)out->revision, who, also);
	if (n_ok && !out->consistent)
		return rv_fail(-EIO, "possible corruption: %s %s with the majority at revision %lld%s; restore %s from a snapshot or from the healthy members",
			       who, n_bad > 1 ? "disagree" : "disagrees", (long long)out->revision, also,
			       n_bad > 1 ? "them" : "it");
	if (n_silent) {
		char agreeing[512];
		list_rows(out, true, false, agreeing, sizeof agreeing);
		list_rows(out, false, true, silent_why, sizeof silent_why);
		return rv_fail(-EHOSTUNREACH, "the check is incomplete: %s did not answer (%s); %s (%s) %s at revision %lld; run the check again once %s",
			       silent, silent_why, n_ok == 1 ? "the only member that answered" : "the members that answered",
			       agreeing, n_ok == 1 ? "has no other to be compared with" : "agree", (long long)out->revision,
			       n_silent > 1 ? "they answer" : "it answers");
	}
	return 0;
}

void maint_hash_report_free(struct maint_hash_report *r)
{
	free(r->rows);
	r->rows = NULL;
	r->n = 0;
}
