/* time.c - clocks and the two UTC formats regvault writes: compact
 * (20261121T215213Z, in artifact names) and RFC 3339 (in manifests and JSON). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/common.h"

double rv_now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t rv_now_unix(void)
{
	return (int64_t)time(NULL);
}

void rv_sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void rv_utc_compact(int64_t unix_s, char out[17])
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void rv_utc_rfc3339(int64_t unix_s, char out[21])
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int from_tm(struct tm *tm, int64_t *unix_s)
{
	time_t t = timegm(tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*unix_s = (int64_t)t;
	return 0;
}

int rv_parse_rfc3339(const char *s, int64_t *unix_s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -EINVAL;
	if (*end == '.') /* fractional seconds */
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0)
		return -EINVAL;
	return from_tm(&tm, unix_s);
}

int rv_parse_utc_compact(const char *s, int64_t *unix_s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
	if (!end || *end)
		return -EINVAL;
	return from_tm(&tm, unix_s);
}

int64_t rv_now_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
