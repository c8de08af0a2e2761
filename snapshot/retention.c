/* retention.c - which artifacts prune keeps, with restic's semantics (forget
 * --keep-*): artifacts newest first; each rule has a count and remembers the last
 * bucket it kept; an artifact whose bucket differs from the rule's last one is kept
 * by that rule (the newest artifact of each bucket) until the count is used up.
 * keep_last's bucket is the artifact itself. Buckets are UTC periods: hour, day,
 * ISO week, month. As restic 0.16+, the oldest artifact is kept too by every rule
 * that still has counts left. On top of restic: the newest good artifact is always kept,
 * no rule at all keeps everything (restic refuses to forget without a policy), and
 * a tagged artifact is kept unless keep_tagged is off: a tag is how an operator
 * marks a snapshot to keep (restic's --keep-tag, for any tag). Tagged artifacts
 * still count in the other rules, so adding a tag never makes prune remove more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

struct rule {
	const char *name;
	const char *fmt; /* strftime bucket; NULL = keep_last */
	int count;
	char last[32];
};

static int by_newest(const void *a, const void *b, void *ud)
{
	const struct retention_item *items = ud;
	const struct retention_item *x = &items[*(const size_t *)a], *y = &items[*(const size_t *)b];
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return strcmp(y->name, x->name); /* stable for equal times */
}

static void add_reason(struct prune_decision *d, const char *r)
{
	size_t l = strlen(d->reason);
	snprintf(d->reason + l, sizeof d->reason - l, "%s%s", l ? ", " : "", r);
}

void snap_retention_decide(const struct retention_policy *p, const struct retention_item *items, size_t n,
			   struct prune_decision *out)
{
	struct rule rules[] = {
		{"keep_last", NULL, p->keep_last, ""},       {"keep_hourly", "%Y-%m-%d %H:00", p->keep_hourly, ""},
		{"keep_daily", "%Y-%m-%d", p->keep_daily, ""}, {"keep_weekly", "%G-W%V", p->keep_weekly, ""},
		{"keep_monthly", "%Y-%m", p->keep_monthly, ""},
	};
	bool any_rule = false, newest_seen = false;
	size_t last_good = SIZE_MAX;
	size_t *order = rv_xmalloc((n ? n : 1) * sizeof *order);

	for (size_t i = 0; i < RV_ARRAY_LEN(rules); i++)
		if (rules[i].count != 0)
			any_rule = true;
	for (size_t i = 0; i < n; i++) {
		order[i] = i;
		memset(&out[i], 0, sizeof out[i]);
		snprintf(out[i].name, sizeof out[i].name, "%s", items[i].name);
	}
	qsort_r(order, n, sizeof *order, by_newest, (void *)items);
	for (size_t k = 0; k < n; k++)
		if (items[order[k]].good)
			last_good = k;

	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		struct prune_decision *d = &out[i];
		time_t t = (time_t)items[i].created;
		struct tm tm;

		if (!items[i].good) { /* prune never deletes what it cannot read as ours */
			d->keep = true;
			add_reason(d, "not a readable regvault artifact (left alone)");
			continue;
		}
		if (!any_rule) {
			d->keep = true;
			add_reason(d, "no retention rule is configured");
			continue;
		}
		gmtime_r(&t, &tm);
		for (size_t r = 0; r < RV_ARRAY_LEN(rules); r++) {
			struct rule *ru = &rules[r];
			char bucket[32], why[64];
			if (ru->count == 0)
				continue;
			if (ru->fmt)
				strftime(bucket, sizeof bucket, ru->fmt, &tm);
			else
				snprintf(bucket, sizeof bucket, "#%zu", k);
			/* restic (0.16+) also keeps the oldest artifact while a rule has
			 * counts left, to keep the longest history the policy allows. */
			if (strcmp(bucket, ru->last) == 0 && k != last_good)
				continue;
			snprintf(ru->last, sizeof ru->last, "%s", bucket);
			if (ru->count > 0)
				ru->count--;
			d->keep = true;
			if (ru->fmt)
				snprintf(why, sizeof why, "%s %s", ru->name, bucket);
			else
				snprintf(why, sizeof why, "%s", ru->name);
			add_reason(d, why);
		}
		if (p->keep_tagged && items[i].tagged) {
			d->keep = true;
			add_reason(d, "tagged");
		}
		if (!newest_seen) {
			newest_seen = true;
			if (!d->keep) {
				d->keep = true;
				add_reason(d, "newest good artifact");
			}
		}
		if (!d->keep)
			add_reason(d, "not kept by any rule");
	}
	free(order);
}
