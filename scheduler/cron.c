/* cron.c - 5-field cron expressions in local time, and when they next run.
 *
 * The search walks the local calendar (wall-clock minutes, as if no clock ever
 * changed) and then maps a matching wall time to an instant: its first occurrence
 * when a fall-back repeats it, the end of the gap when a spring-forward skips it.
 * That mapping only ever moves forward with the wall time, so "the first run after
 * t" is the first matching wall time whose instant is after t, and a run is neither
 * doubled nor lost across a clock change (the rule cronie and systemd follow for
 * fixed times). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

struct cron_expr {
	char *text;
	uint64_t minute;             /* bit i: minute i */
	uint32_t hour, dom, month;   /* dom bits 1..31, month bits 1..12 */
	uint32_t dow;                /* bits 0..6, Sunday 0 */
	bool dom_star, dow_star;     /* the field starts with '*' (Vixie's day rule) */
};

/* How far a search goes before it says the expression never runs: long enough
 * for 29 February on a given weekday. */
#define SEARCH_YEARS 30
/* A fall-back repeats at most this much wall time (2 h has happened; 3 h is safe). */
#define MAX_FALL_BACK_S (3 * 3600)

static const struct field_def {
	const char *name;
	int min, max;
	const char *const *names; /* 3-letter names of min, min + 1, ..., or NULL */
	int n_names;
	const char *not_a_value;  /* what a bad value is told */
} fields[5] = {
	{"minute", 0, 59, NULL, 0, "is not a number"},
	{"hour", 0, 23, NULL, 0, "is not a number"},
	{"day-of-month", 1, 31, NULL, 0, "is not a number"},
	{"month", 1, 12, (const char *const[]){"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
					      "oct", "nov", "dec"},
	 12, "is not a number or a month name (JAN-DEC)"},
	{"day-of-week", 0, 7, (const char *const[]){"sun", "mon", "tue", "wed", "thu", "fri", "sat"}, 7,
	 "is not a number or a day name (SUN-SAT)"},
};

static const struct {
	const char *name, *fields;
} macros[] = {
	{"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
	{"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
};

/* ---- parsing ---- */

static int bad(const char *text, const struct field_def *f, const char *item, size_t len, const char *why)
{
	return rv_fail(-EINVAL, "cron expression '%s': the %s field '%.*s' %s", text, f->name, (int)len, item, why);
}

/* A number or a name of field f at *p, advancing p. */
static int value(const struct field_def *f, const char **p, int *out)
{
	const char *s = *p;
	if (isdigit((unsigned char)*s)) {
		long v = 0;
		for (int digits = 0; isdigit((unsigned char)*s); digits++)
			v = digits < 6 ? v * 10 + (*s++ - '0') : (s++, 1000000);
		if (v < f->min || v > f->max)
			return -ERANGE;
		*out = (int)v;
		*p = s;
		return 0;
	}
	if (f->names && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1]) &&
	    isalpha((unsigned char)s[2]) && !isalpha((unsigned char)s[3])) {
		for (int i = 0; i < f->n_names; i++)
			if (strncasecmp(s, f->names[i], 3) == 0) {
				*out = f->min + i;
				*p = s + 3;
				return 0;
			}
	}
	return -EINVAL;
}

/* One comma-separated item: a star, a star with a step (every N), A, A-B, A-B/N, or A/N (A to the end). */
static int item(const char *text, const struct field_def *f, const char *s, size_t len, uint64_t *bits)
{
	const char *p = s, *end = s + len;
	int lo = f->min, hi = f->max, step = 1, r;
	char range[32];
	snprintf(range, sizeof range, "is out of range %d-%d", f->min, f->max);

	if (*p == '*') {
		p++;
	} else {
		if ((r = value(f, &p, &lo)) < 0)
			return bad(text, f, s, len, r == -ERANGE ? range : f->not_a_value);
		hi = lo;
		if (p < end && *p == '-') {
			p++;
			if ((r = value(f, &p, &hi)) < 0)
				return bad(text, f, s, len, r == -ERANGE ? range : "has a range without an end");
			if (hi < lo)
				return bad(text, f, s, len, "is a range that runs backwards");
		} else if (p < end && *p == '/') {
			hi = f->max;
		}
	}
	if (p < end && *p == '/') {
		long v = 0;
		p++;
		if (p == end || !isdigit((unsigned char)*p))
			return bad(text, f, s, len, "has a step that is not a number");
		while (p < end && isdigit((unsigned char)*p) && v < 1000)
			v = v * 10 + (*p++ - '0');
		if (v < 1 || v > f->max)
			return bad(text, f, s, len, "has a step out of range");
		step = (int)v;
	}
	if (p != end)
		return bad(text, f, s, len, "is not a number, a range, a list or a step");
	for (int v = lo; v <= hi; v += step)
		*bits |= 1ull << v;
	return 0;
}

static int field(const char *text, const struct field_def *f, const char *s, size_t len, uint64_t *bits)
{
	*bits = 0;
	for (const char *p = s; p < s + len;) {
		const char *comma = memchr(p, ',', (size_t)(s + len - p));
		size_t n = comma ? (size_t)(comma - p) : (size_t)(s + len - p);
		if (n == 0)
			return bad(text, f, s, len, "has an empty list item");
		int r = item(text, f, p, n, bits);
		if (r < 0)
			return r;
		p += n + (comma != NULL);
		if (comma && p == s + len)
			return bad(text, f, s, len, "has an empty list item");
	}
	return 0;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : d[m - 1];
}

int cron_parse(const char *text, struct cron_expr **out)
{
	const char *spec = text;
	const char *start[5];
	size_t len[5];
	int n = 0;

	*out = NULL;
	if (!text)
		return rv_fail(-EINVAL, "no cron expression given");
	while (isspace((unsigned char)*spec))
		spec++;
	if (*spec == '@') {
		size_t l = strlen(spec);
		while (l && isspace((unsigned char)spec[l - 1]))
			l--;
		const char *found = NULL;
		for (size_t i = 0; i < RV_ARRAY_LEN(macros); i++)
			if (strlen(macros[i].name) == l && strncasecmp(spec, macros[i].name, l) == 0)
				found = macros[i].fields;
		if (!found)
			return rv_fail(-EINVAL, "cron expression '%s' is not one of @hourly, @daily, @weekly, @monthly, @yearly",
				       text);
		spec = found;
	}
	for (const char *p = spec; *p;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		const char *b = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (n < 5) {
			start[n] = b;
			len[n] = (size_t)(p - b);
		}
		n++;
	}
	if (n != 5)
		return rv_fail(-EINVAL, "cron expression '%s' has %d field%s; it needs 5 (minute hour day-of-month month "
				       "day-of-week) or one of @hourly, @daily, @weekly, @monthly",
			       text, n, n == 1 ? "" : "s");

	struct cron_expr *c = rv_xcalloc(1, sizeof *c);
	uint64_t bits[5];
	for (int i = 0; i < 5; i++) {
		int r = field(text, &fields[i], start[i], len[i], &bits[i]);
		if (r < 0) {
			free(c);
			return r;
		}
	}
	c->minute = bits[0];
	c->hour = (uint32_t)bits[1];
	c->dom = (uint32_t)bits[2];
	c->month = (uint32_t)bits[3];
	c->dow = (uint32_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday too */
	c->dom_star = start[2][0] == '*';
	c->dow_star = start[4][0] == '*';
	/* "0 0 31 2 *" would never run: say so now rather than never. */
	if (c->dow_star) {
		bool some = false;
		for (int m = 1; m <= 12 && !some; m++)
			for (int d = 1; d <= days_in_month(2000, m) && !some; d++)
				some = (c->month >> m & 1) && (c->dom >> d & 1);
		if (!some) {
			free(c);
			return rv_fail(-EINVAL, "cron expression '%s' never runs: none of the months it names has the days it names",
				       text);
		}
	}
	c->text = rv_strdup(text);
	*out = c;
	return 0;
}

void cron_free(struct cron_expr *c)
{
	if (c) {
		free(c->text);
		free(c);
	}
}

const char *cron_text(const struct cron_expr *c)
{
	return c->text;
}

/* ---- the local calendar as naive seconds (wall time as if it were UTC) ---- */

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

struct wall {
	int y, mo, d, h, mi, wday;
};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static void split(int64_t naive, struct wall *w)
{
	int64_t days = floor_div(naive, 86400), secs = naive - days * 86400;
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	w->d = (int)(doy - (153 * mp + 2) / 5 + 1);
	w->mo = (int)(mp < 10 ? mp + 3 : mp - 9);
	w->y = (int)(yoe + era * 400 + (w->mo <= 2));
	w->h = (int)(secs / 3600);
	w->mi = (int)(secs % 3600 / 60);
	w->wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
}

static int64_t naive_of(const struct wall *w)
{
	return days_from_civil(w->y, w->mo, w->d) * 86400 + w->h * 3600 + w->mi * 60;
}

static bool day_matches(const struct cron_expr *c, const struct wall *w)
{
	bool dm = c->dom >> w->d & 1, wm = c->dow >> w->wday & 1;
	if (c->dom_star || c->dow_star)
		return dm && wm;
	return dm || wm;
}

/* Which of the five checks fails first (0: all match); the caller jumps past the
 * whole unit that failed. */
static int mismatch(const struct cron_expr *c, const struct wall *w)
{
	if (!(c->month >> w->mo & 1))
		return 1;
	if (!day_matches(c, w))
		return 2;
	if (!(c->hour >> w->h & 1))
		return 3;
	if (!(c->minute >> w->mi & 1))
		return 4;
	return 0;
}

/* The first matching wall minute at or after *n (minute-aligned). */
static int wall_forward(const struct cron_expr *c, int64_t *n, int64_t limit)
{
	struct wall w;
	while (*n <= limit) {
		split(*n, &w);
		switch (mismatch(c, &w)) {
		case 0: return 0;
		case 1: *n = days_from_civil(w.mo == 12 ? w.y + 1 : w.y, w.mo == 12 ? 1 : w.mo + 1, 1) * 86400; break;
		case 2: *n = days_from_civil(w.y, w.mo, w.d) * 86400 + 86400; break;
		case 3: *n = naive_of(&w) - w.mi * 60 + 3600; break;
		default: *n += 60;
		}
	}
	return -ERANGE;
}

/* The last matching wall minute at or before *n. */
static int wall_backward(const struct cron_expr *c, int64_t *n, int64_t limit)
{
	struct wall w;
	while (*n >= limit) {
		split(*n, &w);
		switch (mismatch(c, &w)) {
		case 0: return 0;
		case 1: *n = days_from_civil(w.y, w.mo, 1) * 86400 - 60; break;
		case 2: *n = days_from_civil(w.y, w.mo, w.d) * 86400 - 60; break;
		case 3: *n = naive_of(&w) - w.mi * 60 - 60; break;
		default: *n -= 60;
		}
	}
	return -ERANGE;
}

/* ---- wall time to instants, across clock changes ---- */

static int64_t gmtoff(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		return 0;
	return tm.tm_gmtoff;
}

static int64_t naive_now(int64_t t)
{
	return t + gmtoff(t);
}

/* When the wall minute n runs: its first occurrence, or in a gap the first instant
 * after the gap. Offsets are sampled a day and a half either side, which covers one
 * change of offset around n (zones change at most twice a year). */
static int64_t run_instant(int64_t n)
{
	int64_t offs[3] = {gmtoff(n - 129600), gmtoff(n), gmtoff(n + 129600)};
	int64_t best = INT64_MAX, lo_off = offs[0], hi_off = offs[0];
	for (int i = 0; i < 3; i++) {
		int64_t t = n - offs[i];
		if (gmtoff(t) == offs[i] && t < best)
			best = t;
		if (offs[i] < lo_off)
			lo_off = offs[i];
		if (offs[i] > hi_off)
			hi_off = offs[i];
	}
	if (best != INT64_MAX)
		return best;
	/* In a gap: the wall clock passes n between n - hi_off and n - lo_off; find
	 * the first second at which it shows more than n. */
	int64_t lo = n - hi_off, hi = n - lo_off;
	if (naive_now(lo) > n || naive_now(hi) <= n)
		return n - offs[1]; /* not one simple gap: take the offset at n */
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (naive_now(mid) > n)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

int cron_next(const struct cron_expr *c, int64_t after, int64_t *next)
{
	/* Every wall minute up to the one 'after' shows has run by then (the mapping
	 * never runs a wall time later than its first occurrence). */
	int64_t n0 = floor_div(naive_now(after), 60) * 60, n = n0 + 60;
	int64_t limit = n0 + (int64_t)SEARCH_YEARS * 366 * 86400;
	for (;;) {
		if (wall_forward(c, &n, limit) < 0)
			return rv_fail(-ERANGE, "cron expression '%s' has no run in the next %d years", c->text,
				       SEARCH_YEARS);
		int64_t t = run_instant(n);
		if (t > after) {
			*next = t;
			return 0;
		}
		n += 60; /* a repeated wall time already run, or a gap already passed */
	}
}

int cron_prev(const struct cron_expr *c, int64_t at, int64_t *prev)
{
	/* A wall time up to a fall-back's length later than the clock shows now may have
	 * run already, at its first occurrence. */
	int64_t n0 = floor_div(naive_now(at), 60) * 60, n = n0 + MAX_FALL_BACK_S;
	int64_t limit = n0 - (int64_t)SEARCH_YEARS * 366 * 86400;
	for (;;) {
		if (wall_backward(c, &n, limit) < 0)
			return rv_fail(-ERANGE, "cron expression '%s' has no run in the last %d years", c->text,
				       SEARCH_YEARS);
		int64_t t = run_instant(n);
		if (t <= at) {
			*prev = t;
			return 0;
		}
		n -= 60;
	}
}
