/* snap_name.c - artifact names: <cluster>-<YYYYMMDDTHHMMSS.mmmZ>-r<revision>[-<tag>].tar.zst.
 * The time comes first after the cluster name so that names of one cluster sort by
 * time; milliseconds make two saves in one second two names. The cluster name and
 * the tag may both contain '-', so parsing looks for the time and the revision: the
 * tag is everything after "-r<revision>-". Names written before milliseconds were
 * added (YYYYMMDDTHHMMSSZ) still parse. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

void snap_name_format(const char *cluster, int64_t created_ms, int64_t revision, const char *tag, char *out,
		      size_t len)
{
	char t[17];
	int ms = (int)(created_ms % 1000);
	rv_utc_compact(created_ms / 1000, t);
	t[15] = '\0'; /* drop the Z: the milliseconds go before it */
	snprintf(out, len, "%s-%s.%03dZ-r%lld%s%s%s", cluster, t, ms, (long long)revision, tag && *tag ? "-" : "",
		 tag && *tag ? tag : "", SNAP_SUFFIX);
}

int snap_name_next(const char *taken, char *next, size_t len, void *ud)
{
	struct snap_name_parts p;
	(void)ud;
	if (!snap_name_parse(taken, &p))
		return -EINVAL;
	snap_name_format(p.cluster, p.created_ms + 1, p.revision, p.tag, next, len);
	if (rv_str_has_suffix(taken, SNAP_SUFFIX_AGE) && strlen(next) + 4 < len)
		strcat(next, ".age");
	return 0;
}

size_t snap_suffix_len(const char *name)
{
	if (rv_str_has_suffix(name, SNAP_SUFFIX_AGE))
		return strlen(SNAP_SUFFIX_AGE);
	if (rv_str_has_suffix(name, SNAP_SUFFIX))
		return strlen(SNAP_SUFFIX);
	return 0;
}

bool snap_is_artifact_name(const char *name)
{
	return snap_suffix_len(name) != 0;
}

bool snap_is_encrypted_name(const char *name)
{
	return rv_str_has_suffix(name, SNAP_SUFFIX_AGE);
}

static bool all_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* YYYYMMDDTHHMMSSZ or YYYYMMDDTHHMMSS.mmmZ at p: its length, 0 when neither. */
static size_t compact_time_len(const char *p)
{
	if (!all_digits(p, 8) || p[8] != 'T' || !all_digits(p + 9, 6))
		return 0;
	if (p[15] == 'Z')
		return 16;
	if (p[15] == '.' && all_digits(p + 16, 3) && p[19] == 'Z')
		return 20;
	return 0;
}

static bool tag_chars_ok(const char *tag, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = tag[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool snap_name_parse(const char *name, struct snap_name_parts *out)
{
	size_t len = strlen(name), body;
	struct snap_name_parts parts;

	if (!snap_suffix_len(name))
		return false;
	body = len - snap_suffix_len(name); /* name[body] is the suffix's '.' */
	for (const char *p = strchr(name, '-'); p && (size_t)(p - name) < body; p = strchr(p + 1, '-')) {
		size_t tl, cl = (size_t)(p - name);
		const char *rev, *end;
		char t[17];
		int64_t secs;

		if (cl == 0 || cl >= sizeof parts.cluster || (size_t)(p + 1 - name) + 19 > body)
			continue;
		tl = compact_time_len(p + 1);
		if (!tl || p[1 + tl] != '-' || p[2 + tl] != 'r')
			continue;
		rev = p + 3 + tl;
		for (end = rev; end < name + body && *end >= '0' && *end <= '9'; end++)
			;
		if (end == rev || end - rev > 18 || (end != name + body && *end != '-'))
			continue;
		memset(&parts, 0, sizeof parts);
		if (*end == '-') { /* the tag: the rest of the name */
			size_t n = (size_t)(name + body - end - 1);
			if (n == 0 || n >= sizeof parts.tag || !tag_chars_ok(end + 1, n))
				continue;
			memcpy(parts.tag, end + 1, n);
		}
		memcpy(t, p + 1, 15);
		t[15] = 'Z';
		t[16] = '\0';
		if (rv_parse_utc_compact(t, &secs) < 0)
			continue;
		memcpy(parts.cluster, name, cl);
		parts.created_ms = secs * 1000 + (tl == 20 ? atoi(p + 17) : 0);
		parts.revision = strtoll(rev, NULL, 10);
		if (out)
			*out = parts;
		return true;
	}
	return false;
}

int snap_tag_check(const char *tag)
{
	size_t n = strlen(tag);
	if (n == 0 || n > 63)
		return rv_fail(-EINVAL, "tag '%s' must be 1 to 63 characters long", tag);
	if (!tag_chars_ok(tag, n))
		return rv_fail(-EINVAL, "tag '%s' may only hold letters, digits, '.', '_' and '-'", tag);
	return 0;
}

void snap_sidecar_name(const char *name, char *out, size_t len)
{
	size_t n = strlen(name);
	n -= snap_suffix_len(name);
	snprintf(out, len, "%.*s.manifest.json", (int)n, name);
}

bool snap_is_sidecar(const char *name)
{
	return rv_str_has_suffix(name, ".manifest.json");
}
