/* s3_xml.h - private to the snapshot module: reads the few flat XML answers S3
 * gives (ListObjectsV2, ListMultipartUploads, InitiateMultipartUpload, Error).
 * Not a general XML parser: elements are found by exact tag, text is unescaped. */
#ifndef REGVAULT_S3_XML_H
#define REGVAULT_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct s3_xml_span {
	const char *p;
	size_t n;
};

/* The next <tag>...</tag> in span at or after *pos; its inner text in *inner and
 * *pos moved past it. False when there is none. */
bool s3_xml_next(struct s3_xml_span span, size_t *pos, const char *tag, struct s3_xml_span *inner);
/* The text of the first <tag> in span, unescaped (malloc'd), or NULL. */
char *s3_xml_get(struct s3_xml_span span, const char *tag);
/* Unescape &amp; &lt; &gt; &quot; &apos; &#N; &#xN; (malloc'd). */
char *s3_xml_unescape(const char *p, size_t n);
/* "2026-11-21T21:52:13.000Z" -> unix seconds; -1 when it does not parse. */
int64_t s3_parse_iso8601(const char *s);

#endif
