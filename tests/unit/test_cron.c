/* Unit tests for scheduler/cron.c and the schedules of scheduler/job.c: parse
 * errors as a table, next and previous runs in UTC, both 2026 clock changes in
 * Europe/Berlin, and a clock that jumps. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "common/common.h"
#include "scheduler/scheduler.h"
#include "tests/unit/unit.h"

/* TZ for one test; the previous one back with tz_restore. */
static char saved_tz[64];
static bool had_tz;

static void tz_set(const char *tz)
{
	const char *old = getenv("TZ");
	had_tz = old != NULL;
	snprintf(saved_tz, sizeof saved_tz, "%s", old ? old : "");
	setenv("TZ", tz, 1);
	tzset();
}

static void tz_restore(void)
{
	if (had_tz)
		setenv("TZ", saved_tz, 1);
	else
		unsetenv("TZ");
	tzset();
}

/* "2026-03-29T01:00:00Z" -> unix seconds */
static int64_t utc(const char *s)
{
	int64_t t = 0;
	if (rv_parse_rfc3339(s, &t) < 0)
		abort();
	return t;
}

static const char *fmt(int64_t t, char buf[21])
{
	rv_utc_rfc3339(t, buf);
	return buf;
}

TEST(cron_parse_errors)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{"0 25 * * *", "cron expression '0 25 * * *': the hour field '25' is out of range 0-23"},
		{"60 * * * *", "the minute field '60' is out of range 0-59"},
		{"0 0 0 * *", "the day-of-month field '0' is out of range 1-31"},
		{"0 0 * 13 *", "the month field '13' is out of range 1-12"},
		{"0 0 * * 8", "the day-of-week field '8' is out of range 0-7"},
		{"* * *", "cron expression '* * *' has 3 fields; it needs 5 (minute hour day-of-month month day-of-week)"},
		{"0 0 * * * *", "has 6 fields"},
		{"", "has 0 fields"},
		{"@often", "cron expression '@often' is not one of @hourly, @daily, @weekly, @monthly"},
		{"*/0 * * * *", "the minute field '*/0' has a step out of range"},
		{"*/x * * * *", "the minute field '*/x' has a step that is not a number"},
		{"5-2 * * * *", "the minute field '5-2' is a range that runs backwards"},
		{"5- * * * *", "the minute field '5-' has a range without an end"},
		{"1,,2 * * * *", "the minute field '1,,2' has an empty list item"},
		{"1, * * * *", "has an empty list item"},
		{"a * * * *", "the minute field 'a' is not a number"},
		{"0 0 * * FOO", "the day-of-week field 'FOO' is not a number or a day name (SUN-SAT)"},
		{"0 0 * JAN-XYZ *", "the month field 'JAN-XYZ' has a range without an end"},
		{"0 0 * MONDAY *", "the month field 'MONDAY' is not a number or a month name (JAN-DEC)"},
		{"0 0 1-2x * *", "the day-of-month field '1-2x' is not a number, a range, a list or a step"},
		{"0 0 31 2 *", "cron expression '0 0 31 2 *' never runs"},
		{"0 0 30,31 FEB *", "never runs"},
		{"99999999999 * * * *", "is out of range 0-59"},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		struct cron_expr *c = NULL;
		rv_err_clear();
		int r = cron_parse(cases[i].text, &c);
		if (r != -EINVAL || c) {
			unit_failed(__FILE__, __LINE__, "'%s': rc %d, expected -EINVAL", cases[i].text, r);
			cron_free(c);
			return;
		}
		if (!strstr(rv_errmsg(r), cases[i].msg)) {
			unit_failed(__FILE__, __LINE__, "'%s': \"%s\" does not contain \"%s\"", cases[i].text,
				    rv_errmsg(r), cases[i].msg);
			return;
		}
	}
}

/* Expressions that parse, and where each runs next and last, in UTC. */
TEST(cron_next_and_prev_in_utc)
{
	static const struct {
		const char *text, *from, *next, *prev; /* prev: the last run at or before from */
	} cases[] = {
		{"*/15 * * * *", "2026-06-10T10:07:30Z", "2026-06-10T10:15:00Z", "2026-06-10T10:00:00Z"},
		{"*/15 * * * *", "2026-06-10T10:15:00Z", "2026-06-10T10:30:00Z", "2026-06-10T10:15:00Z"},
		{"0 * * * *", "2026-12-31T23:00:01Z", "2027-01-01T00:00:00Z", "2026-12-31T23:00:00Z"},
		{"@hourly", "2026-06-10T10:59:59Z", "2026-06-10T11:00:00Z", "2026-06-10T10:00:00Z"},
		{"@daily", "2026-06-10T10:00:00Z", "2026-06-11T00:00:00Z", "2026-06-10T00:00:00Z"},
		/* 2026-06-12 is a Friday; @weekly is Sunday midnight */
		{"@weekly", "2026-06-12T10:00:00Z", "2026-06-14T00:00:00Z", "2026-06-07T00:00:00Z"},
		{"@monthly", "2026-02-15T00:00:00Z", "2026-03-01T00:00:00Z", "2026-02-01T00:00:00Z"},
		{"@yearly", "2026-02-15T00:00:00Z", "2027-01-01T00:00:00Z", "2026-01-01T00:00:00Z"},
		{"0 9 * * MON-FRI", "2026-06-12T10:00:00Z", "2026-06-15T09:00:00Z", "2026-06-12T09:00:00Z"},
		{"0 9 * * mon-fri", "2026-06-13T10:00:00Z", "2026-06-15T09:00:00Z", "2026-06-12T09:00:00Z"},
		{"0 9 * * 1-5", "2026-06-14T10:00:00Z", "2026-06-15T09:00:00Z", "2026-06-12T09:00:00Z"},
		/* 7 is Sunday as 0 is */
		{"0 0 * * 7", "2026-06-12T10:00:00Z", "2026-06-14T00:00:00Z", "2026-06-07T00:00:00Z"},
		{"0 0 * * 5-7", "2026-06-14T10:00:00Z", "2026-06-19T00:00:00Z", "2026-06-14T00:00:00Z"},
		/* both day fields restricted: either matches (the 13th, or a Friday) */
		{"0 0 13 * FRI", "2026-06-10T00:00:00Z", "2026-06-12T00:00:00Z", "2026-06-05T00:00:00Z"},
		{"0 0 13 * FRI", "2026-06-12T00:00:00Z", "2026-06-13T00:00:00Z", "2026-06-12T00:00:00Z"},
		/* a day field starting with '*' restricts with the other (Vixie's rule) */
		{"0 0 */10 * FRI", "2026-06-10T00:00:00Z", "2026-07-31T00:00:00Z", "2026-05-01T00:00:00Z"},
		{"0 8-18/5 * * *", "2026-06-10T08:00:00Z", "2026-06-10T13:00:00Z", "2026-06-10T08:00:00Z"},
		{"0 8-18/5 * * *", "2026-06-10T18:30:00Z", "2026-06-11T08:00:00Z", "2026-06-10T18:00:00Z"},
		{"30 4/12 * * *", "2026-06-10T05:00:00Z", "2026-06-10T16:30:00Z", "2026-06-10T04:30:00Z"},
		{"0,30 1,13 * * *", "2026-06-10T13:10:00Z", "2026-06-10T13:30:00Z", "2026-06-10T13:00:00Z"},
		{"0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z", "2024-02-29T00:00:00Z"},
		{"0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z", "2026-03-31T00:00:00Z"},
		{"0 12 * DEC *", "2026-06-10T00:00:00Z", "2026-12-01T12:00:00Z", "2025-12-31T12:00:00Z"},
		{"  15 3 * * *  ", "2026-06-10T00:00:00Z", "2026-06-10T03:15:00Z", "2026-06-09T03:15:00Z"},
	};
	tz_set("UTC");
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		struct cron_expr *c;
		int64_t next = 0, prev = 0;
		char a[21], b[21];
		int r = cron_parse(cases[i].text, &c);
		if (r < 0) {
			unit_failed(__FILE__, __LINE__, "'%s': %s", cases[i].text, rv_errmsg(r));
			break;
		}
		CHECK_STR(cron_text(c), cases[i].text);
		int rn = cron_next(c, utc(cases[i].from), &next), rp = cron_prev(c, utc(cases[i].from), &prev);
		cron_free(c);
		if (rn < 0 || rp < 0 || next != utc(cases[i].next) || prev != utc(cases[i].prev)) {
			unit_failed(__FILE__, __LINE__, "'%s' from %s: next %s (want %s), prev %s (want %s)", cases[i].text,
				    cases[i].from, fmt(next, a), cases[i].next, fmt(prev, b), cases[i].prev);
			break;
		}
	}
	tz_restore();
}

/* Where an expression runs from `from` on, as RFC 3339 instants. */
static int runs(const char *text, const char *from, int n, int64_t *out)
{
	struct cron_expr *c;
	int r = cron_parse(text, &c);
	int64_t t = utc(from);
	for (int i = 0; r == 0 && i < n; i++) {
		r = cron_next(c, t, &out[i]);
		t = out[i];
	}
	cron_free(c);
	return r;
}

#define CHECK_RUNS(text, from, ...)                                                                   \
	do {                                                                                          \
		static const char *const want_[] = {__VA_ARGS__};                                   \
		int64_t got_[RV_ARRAY_LEN(want_)];                                                   \
		char g_[21];                                                                          \
		CHECK_INT(runs(text, from, (int)RV_ARRAY_LEN(want_), got_), 0);                      \
		for (size_t i_ = 0; i_ < RV_ARRAY_LEN(want_); i_++)                                   \
			if (got_[i_] != utc(want_[i_])) {                                            \
				unit_failed(__FILE__, __LINE__, "'%s' run %zu is %s, expected %s", text, \
					    i_ + 1, fmt(got_[i_], g_), want_[i_]);                    \
				tz_restore();                                                         \
				return;                                                               \
			}                                                                             \
	} while (0)

/* 2026-03-29 in Berlin: at 02:00 CET (01:00 UTC) the clock jumps to 03:00 CEST. */
TEST(cron_spring_forward_in_berlin_runs_once_after_the_gap)
{
	tz_set("Europe/Berlin");
	/* 02:30 does not exist that night: it runs at 03:00 CEST, once, then as usual */
	CHECK_RUNS("30 2 * * *", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z");
	/* 03:00 itself is the first minute after the gap */
	CHECK_RUNS("0 3 * * *", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z");
	/* hourly: 01:00 CET, then 03:00 CEST (02:00 and 03:00 are one run), 04:00 CEST */
	CHECK_RUNS("0 * * * *", "2026-03-28T23:30:00Z", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z",
		   "2026-03-29T02:00:00Z");
	/* every 15 minutes: the four quarters of the skipped hour are the one run at 03:00 */
	CHECK_RUNS("*/15 * * * *", "2026-03-29T00:40:00Z", "2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z",
		   "2026-03-29T01:15:00Z");
	/* a night job outside the gap is not moved */
	CHECK_RUNS("30 3 * * *", "2026-03-28T12:00:00Z", "2026-03-29T01:30:00Z", "2026-03-30T01:30:00Z");

	/* the last run before a moment, across the gap */
	struct cron_expr *c;
	int64_t prev;
	char g[21];
	CHECK_INT(cron_parse("30 2 * * *", &c), 0);
	CHECK_INT(cron_prev(c, utc("2026-03-29T01:10:00Z"), &prev), 0);
	cron_free(c);
	if (prev != utc("2026-03-29T01:00:00Z")) {
		unit_failed(__FILE__, __LINE__, "prev is %s", fmt(prev, g));
		tz_restore();
		return;
	}
	tz_restore();
}

/* 2026-10-25 in Berlin: at 03:00 CEST (01:00 UTC) the clock goes back to 02:00 CET. */
TEST(cron_fall_back_in_berlin_runs_the_repeated_hour_once)
{
	tz_set("Europe/Berlin");
	/* 02:30 happens twice: the job runs at the first, 02:30 CEST */
	CHECK_RUNS("30 2 * * *", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z");
	/* hourly: 02:00 CEST, then 03:00 CET; the second 02:00 is not run again */
	CHECK_RUNS("0 * * * *", "2026-10-24T23:30:00Z", "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z",
		   "2026-10-25T03:00:00Z");
	/* started during the repeated hour, it waits for 03:00 CET */
	CHECK_RUNS("*/20 * * * *", "2026-10-25T01:05:00Z", "2026-10-25T02:00:00Z", "2026-10-25T02:20:00Z");

	struct cron_expr *c;
	int64_t prev;
	char g[21];
	/* during the second 02:xx, the last run of 02:30 is the first occurrence's */
	CHECK_INT(cron_parse("30 2 * * *", &c), 0);
	CHECK_INT(cron_prev(c, utc("2026-10-25T01:40:00Z"), &prev), 0);
	cron_free(c);
	if (prev != utc("2026-10-25T00:30:00Z")) {
		unit_failed(__FILE__, __LINE__, "prev is %s", fmt(prev, g));
		tz_restore();
		return;
	}
	tz_restore();
}

/* Over a whole day that has a clock change, every run is distinct and in order: 46
 * half hours in the 23-hour day, 48 (no more) in the 25-hour one. */
TEST(cron_days_with_clock_changes_neither_double_nor_skip)
{
	static const struct {
		const char *from, *to;
		int want;
	} days[] = {
		{"2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", 46}, /* local midnight to midnight */
		{"2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z", 48},
		{"2026-06-09T22:00:00Z", "2026-06-10T22:00:00Z", 48},
	};
	tz_set("Europe/Berlin");
	struct cron_expr *c;
	CHECK_INT(cron_parse("*/30 * * * *", &c), 0);
	for (size_t i = 0; i < RV_ARRAY_LEN(days); i++) {
		int64_t t = utc(days[i].from) - 1, end = utc(days[i].to), next;
		int n = 0;
		for (;;) {
			if (cron_next(c, t, &next) < 0 || next <= t) {
				unit_failed(__FILE__, __LINE__, "day %zu: runs out of order", i);
				break;
			}
			if (next >= end)
				break;
			n++;
			t = next;
		}
		if (n != days[i].want)
			unit_failed(__FILE__, __LINE__, "day %zu: %d runs, expected %d", i, n, days[i].want);
	}
	cron_free(c);
	tz_restore();
}

/* ---- schedules ---- */

static struct job_schedule cron_schedule(const char *text)
{
	struct job_schedule s = {.enabled = true, .cron_text = (char *)text};
	if (cron_parse(text, &s.cron) < 0)
		abort();
	return s;
}

TEST(job_schedule_next_due_and_missed_at_start)
{
	tz_set("UTC");
	struct job_schedule hourly = cron_schedule("0 * * * *");
	struct job_schedule every = {.enabled = true, .every_ms = 300000};
	struct job_schedule off = {.enabled = false, .every_ms = 300000};
	int64_t t = utc("2026-06-10T10:10:00Z") * 1000, due;

	CHECK_INT(job_next_due(&hourly, t, &due), 0);
	CHECK_INT(due, utc("2026-06-10T11:00:00Z") * 1000);
	CHECK_INT(job_next_due(&hourly, t + 500, &due), 0); /* milliseconds within a second */
	CHECK_INT(due, utc("2026-06-10T11:00:00Z") * 1000);
	CHECK_INT(job_next_due(&hourly, utc("2026-06-10T10:59:59Z") * 1000 + 999, &due), 0);
	CHECK_INT(due, utc("2026-06-10T11:00:00Z") * 1000);
	CHECK_INT(job_next_due(&every, t, &due), 0);
	CHECK_INT(due, t + 300000);
	int r = job_next_due(&off, t, &due);
	CHECK_INT(r, -ENOENT);
	CHECK_CONTAINS(rv_errmsg(r), "disabled");

	/* cron: missed when the last success is before the previous scheduled time */
	CHECK(job_missed_at_start(&hourly, 0, t));                                      /* never ran */
	CHECK(job_missed_at_start(&hourly, utc("2026-06-10T09:00:40Z") * 1000, t));      /* 10:00 missed */
	CHECK(!job_missed_at_start(&hourly, utc("2026-06-10T10:00:40Z") * 1000, t));     /* 10:00 ran */
	/* every: missed when the last success is an interval or more ago */
	CHECK(job_missed_at_start(&every, 0, t));
	CHECK(job_missed_at_start(&every, t - 300000, t));
	CHECK(!job_missed_at_start(&every, t - 299000, t));
	CHECK(!job_missed_at_start(&off, 0, t));
	cron_free(hourly.cron);
	tz_restore();
}

/* The daemon's loop as the header asks it to be written: due computed from the
 * later of now and the last run. A clock set forward five hours runs the job once,
 * not once per hour skipped; a clock set back runs nothing twice. */
TEST(job_schedule_clock_jumps_run_once)
{
	tz_set("UTC");
	struct job_schedule hourly = cron_schedule("0 * * * *");
	int64_t now = utc("2026-06-10T10:10:00Z") * 1000, last = 0, due;
	int ran = 0;
	CHECK_INT(job_next_due(&hourly, now, &due), 0);

	now = utc("2026-06-10T15:20:00Z") * 1000; /* the clock jumps forward */
	for (int tick = 0; tick < 10; tick++) {    /* the loop wakes up a few times */
		if (due <= now) {
			ran++;
			last = now;
			CHECK_INT(job_next_due(&hourly, now > last ? now : last, &due), 0);
		}
		now += 1000;
	}
	CHECK_INT(ran, 1);
	CHECK_INT(due, utc("2026-06-10T16:00:00Z") * 1000);

	/* it runs at 16:00, then the clock is set back to 15:05 */
	now = due;
	last = now;
	CHECK_INT(job_next_due(&hourly, last, &due), 0);
	now = utc("2026-06-10T15:05:00Z") * 1000;
	CHECK_INT(job_next_due(&hourly, now > last ? now : last, &due), 0);
	CHECK_INT(due, utc("2026-06-10T17:00:00Z") * 1000);
	cron_free(hourly.cron);
	tz_restore();
}

TEST(job_kind_names)
{
	enum job_kind k;
	for (int i = 0; i < JOB_KIND_COUNT; i++) {
		CHECK_INT(job_kind_parse(job_kind_name((enum job_kind)i), &k), 0);
		CHECK_INT(k, i);
	}
	CHECK_STR(job_kind_name(JOB_HASHCHECK), "hashcheck");
	int r = job_kind_parse("backup", &k);
	CHECK_INT(r, -EINVAL);
	CHECK_CONTAINS(rv_errmsg(r), "'backup' is not a job; the jobs are snapshot, verify, compact, defrag, hashcheck, diskcheck and drill");
	CHECK(job_kind_exclusive(JOB_SNAPSHOT) && job_kind_exclusive(JOB_COMPACT) && job_kind_exclusive(JOB_DEFRAG) &&
	      job_kind_exclusive(JOB_DRILL) && job_kind_exclusive(JOB_DISKCHECK));
	CHECK(!job_kind_exclusive(JOB_VERIFY) && !job_kind_exclusive(JOB_HASHCHECK));
}
