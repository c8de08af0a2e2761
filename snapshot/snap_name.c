/* snap_name.c - artifact names: <cluster>-<YYYYMMDDTHHMMSSZ>-r<revision>[-<tag>].tar.zst.
 * The time comes first after the cluster name so that names of one cluster sort by
 * time; the cluster name may itself contain '-', so parsing looks for the time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

void snap_name_format(const char *cluster, int64_t created, int64_t revision, const char *tag, char *out,
		      size_t len)
{
	char t[17];
	rv_utc_compact(created, t);
	if (tag && *tag)
		snprintf(out, len, "%s-%s-r%lld-%s%s", cluster, t, (long long)revision, tag, SNAP_SUFFIX);
	else
		snprintf(out, len, "%s-%s-r%lld%s", cluster, t, (long long)revision, SNAP_SUFFIX);
}

static bool is_compact_time(const char *p)
{
	/* YYYYMMDDTHHMMSSZ */
	for (int i = 0; i < 16; i++) {
		char c = p[i];
		if (i == 8) {
			if (c != 'T')
				return false;
		} else if (i == 15) {
			if (c != 'Z')
				return false;
		} else if (c < '0' || c > '9') {
			return false;
		}
	}
	return true;
}

bool snap_name_parse(const char *name, int64_t *created, int64_t *revision)
{
	size_t len = strlen(name);
	if (!rv_str_has_suffix(name, SNAP_SUFFIX) || len < strlen(SNAP_SUFFIX) + 20)
		return false;
	for (const char *p = strchr(name, '-'); p; p = strchr(p + 1, '-')) {
		char t[17], *end;
		long long rev;
		if (p == name || strlen(p) < 19 || !is_compact_time(p + 1) || p[17] != '-' || p[18] != 'r')
			continue;
		rev = strtoll(p + 19, &end, 10);
		if (end == p + 19 || (*end != '-' && strcmp(end, SNAP_SUFFIX) != 0))
			continue;
		memcpy(t, p + 1, 16);
		t[16] = '\0';
		if (created && rv_parse_utc_compact(t, created) < 0)
			continue;
		if (revision)
			*revision = rev;
		return true;
	}
	return false;
}

int snap_tag_check(const char *tag)
{
	size_t n = strlen(tag);
	if (n == 0 || n > 63)
		return rv_fail(-EINVAL, "tag '%s' must be 1 to 63 characters long", tag);
	for (size_t i = 0; i < n; i++) {
		char c = tag[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_'))
			return rv_fail(-EINVAL, "tag '%s' may only hold letters, digits, '.' and '_'", tag);
	}
	return 0;
}

void snap_sidecar_name(const char *name, char *out, size_t len)
{
	size_t n = strlen(name);
	if (rv_str_has_suffix(name, SNAP_SUFFIX))
		n -= strlen(SNAP_SUFFIX);
	snprintf(out, len, "%.*s.manifest.json", (int)n, name);
}

bool snap_is_sidecar(const char *name)
{
	return rv_str_has_suffix(name, ".manifest.json");
}
