/* Unit tests for retention: prune decisions, table-driven, over artifacts spread
 * across months. Each case lists artifacts (UTC times) and the subset kept. */
#include <stdlib.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"
#include "tests/unit/unit.h"

#define MAX_ITEMS 24

struct ret_case {
	const char *what;
	struct retention_policy p;
	const char *times[MAX_ITEMS]; /* RFC 3339; a leading '!' marks a bad artifact, '+' a tagged one */
	const char *kept;             /* indices of kept items, e.g. "0 1 4" */
	const char *reason_of_0;      /* optional: a substring of item 0's reason */
};

/* Artifacts over three months, listed in no particular order. */
#define SPREAD                                                                                          \
	"2026-09-01T10:00:00Z", "2026-09-15T10:00:00Z", "2026-09-30T23:59:59Z", "2026-10-01T00:00:00Z",  \
		"2026-10-10T08:00:00Z", "2026-10-10T20:00:00Z", "2026-11-02T01:00:00Z",                  \
		"2026-11-02T01:30:00Z", "2026-11-02T02:10:00Z", "2026-11-20T12:00:00Z",                  \
		"2026-11-21T09:00:00Z", "2026-11-21T21:00:00Z"

static const struct ret_case cases[] = {
	{"no rule keeps everything", {0}, {SPREAD}, "0 1 2 3 4 5 6 7 8 9 10 11", "no retention rule"},
	{"keep_last 3", {.keep_last = 3}, {SPREAD}, "9 10 11", NULL},
	{"keep_last 1 keeps only the newest", {.keep_last = 1}, {SPREAD}, "11", NULL},
	/* daily: newest of 21 Nov (11), 20 Nov (9), 2 Nov (8) */
	{"keep_daily 3", {.keep_daily = 3}, {SPREAD}, "8 9 11", NULL},
	/* monthly: newest of Nov (11), Oct (5), Sep (2) */
	{"keep_monthly 3", {.keep_monthly = 3}, {SPREAD}, "2 5 11", NULL},
	/* more counts than months: restic also keeps the oldest artifact */
	{"keep_monthly 12 keeps the oldest too", {.keep_monthly = 12}, {SPREAD}, "0 2 5 11", NULL},
	/* hourly: 21 Nov 21h (11), 21 Nov 09h (10) */
	{"keep_hourly 2", {.keep_hourly = 2}, {SPREAD}, "10 11", NULL},
	/* weeks (ISO): 2026-W47 = 16..22 Nov: 11; W45 = 2..8 Nov: 8; W41 = 5..11 Oct: 5 */
	{"keep_weekly 3", {.keep_weekly = 3}, {SPREAD}, "5 8 11", NULL},
	/* 30 Sep and 1 Oct share ISO week 40: one artifact for the week */
	{"keep_weekly across a month end", {.keep_weekly = 10}, {SPREAD}, "0 1 3 5 8 11", NULL},
	{"rules combine", {.keep_last = 2, .keep_monthly = 2}, {SPREAD}, "5 10 11", NULL},
	{"daily and monthly overlap", {.keep_daily = 2, .keep_monthly = 3}, {SPREAD}, "2 5 9 11", NULL},
	/* the newest good artifact survives even when no rule picks it... */
	{"newest good kept", {.keep_monthly = 1}, {"2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z"}, "1", NULL},
	/* ...and a bad (unreadable) artifact is never deleted, nor counted */
	{"bad artifacts are left alone", {.keep_last = 1},
	 {"!2026-11-21T23:00:00Z", "2026-11-21T22:00:00Z", "2026-11-21T21:00:00Z"}, "0 1", "left alone"},
	{"keep_daily 1 within one day", {.keep_daily = 1},
	 {"2026-11-21T00:00:01Z", "2026-11-21T12:00:00Z", "2026-11-21T23:59:59Z"}, "2", NULL},
	/* UTC buckets: 23:30 and 00:30 UTC are different days whatever the local zone */
	{"days are UTC days", {.keep_daily = 2}, {"2026-11-20T23:30:00Z", "2026-11-21T00:30:00Z"}, "0 1", NULL},
	{"empty store", {.keep_last = 3}, {NULL}, "", NULL},
	/* a tagged artifact (save --tag before-upgrade) is kept whatever the rules say... */
	{"tagged kept", {.keep_last = 1, .keep_tagged = true},
	 {"+2026-09-01T10:00:00Z", "2026-10-01T10:00:00Z", "2026-11-01T10:00:00Z"}, "0 2", "tagged"},
	{"tagged kept under keep_monthly", {.keep_monthly = 1, .keep_tagged = true},
	 {"+2026-11-01T10:00:00Z", "+2026-11-02T10:00:00Z", "2026-11-03T10:00:00Z", "2026-11-04T10:00:00Z"}, "0 1 3",
	 "tagged"},
	/* ...and still counts in the rules: it is the newest, so keep_last takes it */
	{"tagged newest counts in keep_last", {.keep_last = 1, .keep_tagged = true},
	 {"+2026-11-01T10:00:00Z", "2026-10-01T10:00:00Z"}, "0", "keep_last, tagged"},
	/* ...unless keep_tagged is off */
	{"keep_tagged off prunes tags", {.keep_last = 1, .keep_tagged = false},
	 {"+2026-09-01T10:00:00Z", "2026-10-01T10:00:00Z", "2026-11-01T10:00:00Z"}, "2", "not kept by any rule"},
};

static bool in_list(const char *list, size_t i)
{
	char *dup = rv_strdup(list), *save = NULL;
	bool found = false;
	for (char *t = strtok_r(dup, " ", &save); t; t = strtok_r(NULL, " ", &save))
		if ((size_t)atoi(t) == i)
			found = true;
	free(dup);
	return found;
}

TEST(retention_table)
{
	for (size_t c = 0; c < RV_ARRAY_LEN(cases); c++) {
		const struct ret_case *tc = &cases[c];
		struct retention_item items[MAX_ITEMS];
		struct prune_decision out[MAX_ITEMS];
		char names[MAX_ITEMS][32];
		size_t n = 0;

		for (; n < MAX_ITEMS && tc->times[n]; n++) {
			const char *t = tc->times[n];
			items[n].good = t[0] != '!';
			if (!items[n].good)
				t++;
			items[n].tagged = t[0] == '+';
			if (items[n].tagged)
				t++;
			if (rv_parse_rfc3339(t, &items[n].created) < 0) {
				unit_failed(__FILE__, __LINE__, "case '%s': bad time %s", tc->what, t);
				return;
			}
			snprintf(names[n], sizeof names[n], "a%zu", n);
			items[n].name = names[n];
		}
		snap_retention_decide(&tc->p, items, n, out);
		for (size_t i = 0; i < n; i++) {
			bool want = in_list(tc->kept, i);
			CHECK_STR(out[i].name, names[i]);
			if (out[i].keep != want) {
				unit_failed(__FILE__, __LINE__, "case '%s': item %zu (%s) %s, expected %s (reason: %s)",
					    tc->what, i, tc->times[i], out[i].keep ? "kept" : "removed",
					    want ? "kept" : "removed", out[i].reason);
				return;
			}
			if (!out[i].reason[0]) {
				unit_failed(__FILE__, __LINE__, "case '%s': item %zu has no reason", tc->what, i);
				return;
			}
		}
		if (tc->reason_of_0 && n)
			CHECK_CONTAINS(out[0].reason, tc->reason_of_0);
	}
}

TEST(retention_reasons)
{
	struct retention_policy p = {.keep_last = 1, .keep_daily = 2};
	struct retention_item items[3] = {
		{"old", 1795000000, true}, {"mid", 1795200000, true}, {"new", 1795297933, true}};
	struct prune_decision out[3];
	snap_retention_decide(&p, items, 3, out);
	CHECK_STR(out[2].reason, "keep_last, keep_daily 2026-11-21");
	CHECK_STR(out[1].reason, "keep_daily 2026-11-20");
	/* the oldest would be kept only while a rule had counts left */
	CHECK(!out[0].keep);
	CHECK_STR(out[0].reason, "not kept by any rule");
}
