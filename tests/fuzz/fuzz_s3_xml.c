/* fuzz_s3_xml.c - S3's XML answers (snapshot/s3_xml.c, with s3_uri_decode from
 * s3_sigv4.c): each input is read the way the S3 store reads the answers to
 * ListObjectsV2, ListMultipartUploads, InitiateMultipartUpload and an error
 * (store_s3.c, s3_upload.c, s3_client.c), whose reading loops are static there. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/s3_sigv4.h"
#include "snapshot/s3_xml.h"

/* list_s3's listed_text. */
static char *listed_text(struct s3_xml_span span, const char *tag, bool encoded)
{
	char *t = s3_xml_get(span, tag), *d;
	if (!t || !encoded)
		return t;
	d = s3_uri_decode(t);
	free(t);
	return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3_xml_span all = {(const char *)data, size}, c;
	size_t pos = 0, keys = 0;
	uint64_t bytes = 0;
	int64_t newest = 0;
	char *et = s3_xml_get(all, "EncodingType");
	bool enc = et && !strcmp(et, "url");
	free(et);

	/* ListObjectsV2 */
	while (s3_xml_next(all, &pos, "Contents", &c)) {
		char *k = listed_text(c, "Key", enc), *sz = s3_xml_get(c, "Size"), *lm = s3_xml_get(c, "LastModified");
		if (k && strlen(k) > 0) {
			keys++;
			bytes += sz ? strtoull(sz, NULL, 10) : 0;
			int64_t t = s3_parse_iso8601(lm);
			if (t > newest)
				newest = t;
		}
		free(k);
		free(sz);
		free(lm);
	}
	char *trunc = s3_xml_get(all, "IsTruncated");
	char *token = trunc && !strcmp(trunc, "true") ? s3_xml_get(all, "NextContinuationToken") : NULL;
	free(trunc);
	free(token);

	/* ListMultipartUploads */
	pos = 0;
	while (s3_xml_next(all, &pos, "Upload", &c)) {
		char *k = s3_xml_get(c, "Key"), *id = s3_xml_get(c, "UploadId"), *ini = s3_xml_get(c, "Initiated");
		(void)s3_parse_iso8601(ini);
		free(k);
		free(id);
		free(ini);
	}
	free(s3_xml_get(all, "NextKeyMarker"));
	free(s3_xml_get(all, "NextUploadIdMarker"));

	/* InitiateMultipartUpload, an error */
	free(s3_xml_get(all, "UploadId"));
	free(s3_xml_get(all, "Code"));
	free(s3_xml_get(all, "Message"));

	/* The unescaper on the whole answer, and the url decoder on its text. */
	char *u = s3_xml_unescape(all.p, all.n);
	free(s3_uri_decode(u ? u : ""));
	free(u);
	(void)keys;
	(void)bytes;
	return 0;
}
