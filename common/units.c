/* units.c - sizes and durations as operators write them, and as people read them. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"

int rv_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		double mult;
	} units[] = {
		{"", 1},       {"b", 1},          {"k", 1e3},        {"kb", 1e3},
		{"m", 1e6},    {"mb", 1e6},       {"g", 1e9},        {"gb", 1e9},
		{"t", 1e12},   {"tb", 1e12},      {"kib", 1024.0},   {"mib", 1048576.0},
		{"gib", 1073741824.0},            {"tib", 1099511627776.0},
	};
	char *end;
	double v;
	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || !isfinite(v))
		return -EINVAL;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < RV_ARRAY_LEN(units); i++) {
		if (strcasecmp(end, units[i].suffix) == 0) {
			double b = v * units[i].mult;
			if (b > 1.8e19)
				return -ERANGE;
			*out = (uint64_t)llround(b);
			return 0;
		}
	}
	return -EINVAL;
}

int rv_parse_duration_ms(const char *s, int64_t *out_ms)
{
	double total = 0;
	const char *p = s;
	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		char *end;
		double v;
		errno = 0;
		v = strtod(p, &end);
		if (errno || end == p || v < 0)
			return -EINVAL;
		p = end;
		double mult;
		if (strncmp(p, "ms", 2) == 0) {
			mult = 1;
			p += 2;
		} else if (*p == 's') {
			mult = 1000;
			p++;
		} else if (*p == 'm') {
			mult = 60000;
			p++;
		} else if (*p == 'h') {
			mult = 3600000;
			p++;
		} else if (*p == 'd') {
			mult = 86400000;
			p++;
		} else if (*p == 0 && p == end && total == 0) {
			mult = 1000; /* a bare number is seconds */
		} else {
			return -EINVAL;
		}
		total += v * mult;
	}
	if (total > 9.2e15)
		return -ERANGE;
	*out_ms = (int64_t)llround(total);
	return 0;
}

const char *rv_fmt_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const u[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)n;
	size_t i = 0;
	while (v >= 1000 && i + 1 < RV_ARRAY_LEN(u)) {
		v /= 1000;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, u[i]);
	return buf;
}

const char *rv_fmt_duration(double s, char *buf, size_t len)
{
	if (s < 60)
		snprintf(buf, len, "%.1f s", s);
	else if (s < 3600)
		snprintf(buf, len, "%dm%02ds", (int)s / 60, (int)s % 60);
	else
		snprintf(buf, len, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
	return buf;
}
