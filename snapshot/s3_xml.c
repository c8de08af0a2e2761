/* s3_xml.c - element extraction and unescaping for S3's XML answers. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "snapshot/s3_xml.h"

static const char *find(const char *p, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	if (m > n)
		return NULL;
	return memmem(p, n, needle, m);
}

bool s3_xml_next(struct s3_xml_span span, size_t *pos, const char *tag, struct s3_xml_span *inner)
{
	char open[96], close[96];
	const char *a, *b, *end = span.p + span.n;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	if (*pos > span.n)
		return false;
	a = find(span.p + *pos, span.n - *pos, open);
	if (!a)
		return false;
	a += strlen(open);
	b = find(a, (size_t)(end - a), close);
	if (!b)
		return false;
	inner->p = a;
	inner->n = (size_t)(b - a);
	*pos = (size_t)(b - span.p) + strlen(close);
	return true;
}

char *s3_xml_unescape(const char *p, size_t n)
{
	struct rv_buf b = {0};
	rv_buf_append(&b, "", 0);
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '&') {
			rv_buf_append(&b, p + i, 1);
			continue;
		}
		const char *semi = memchr(p + i, ';', n - i);
		size_t len = semi ? (size_t)(semi - (p + i)) + 1 : 0;
		const char *e = p + i;
		if (len == 5 && !strncmp(e, "&amp;", 5))
			rv_buf_append(&b, "&", 1);
		else if (len == 4 && !strncmp(e, "&lt;", 4))
			rv_buf_append(&b, "<", 1);
		else if (len == 4 && !strncmp(e, "&gt;", 4))
			rv_buf_append(&b, ">", 1);
		else if (len == 6 && !strncmp(e, "&quot;", 6))
			rv_buf_append(&b, "\"", 1);
		else if (len == 6 && !strncmp(e, "&apos;", 6))
			rv_buf_append(&b, "'", 1);
		else if (len > 3 && len < 12 && e[1] == '#') {
			unsigned long cp = e[2] == 'x' || e[2] == 'X' ? strtoul(e + 3, NULL, 16) : strtoul(e + 2, NULL, 10);
			unsigned char u[4];
			size_t k;
			if (cp < 0x80) {
				u[0] = (unsigned char)cp;
				k = 1;
			} else if (cp < 0x800) {
				u[0] = (unsigned char)(0xC0 | (cp >> 6));
				u[1] = (unsigned char)(0x80 | (cp & 0x3F));
				k = 2;
			} else if (cp < 0x10000) {
				u[0] = (unsigned char)(0xE0 | (cp >> 12));
				u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
				u[2] = (unsigned char)(0x80 | (cp & 0x3F));
				k = 3;
			} else {
				u[0] = (unsigned char)(0xF0 | ((cp >> 18) & 0x07));
				u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
				u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
				u[3] = (unsigned char)(0x80 | (cp & 0x3F));
				k = 4;
			}
			rv_buf_append(&b, u, k);
		} else {
			rv_buf_append(&b, "&", 1);
			continue;
		}
		i += len - 1;
	}
	return b.data;
}

char *s3_xml_get(struct s3_xml_span span, const char *tag)
{
	struct s3_xml_span in;
	size_t pos = 0;
	if (!s3_xml_next(span, &pos, tag, &in))
		return NULL;
	return s3_xml_unescape(in.p, in.n);
}

int64_t s3_parse_iso8601(const char *s)
{
	struct tm tm = {0};
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
			 &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}
