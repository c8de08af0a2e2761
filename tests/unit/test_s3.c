/* Unit tests of the S3 store's pieces: SigV4 against AWS's published example,
 * URI encoding, the XML extractor. */
#include <stdlib.h>

#include "snapshot/s3_sigv4.h"
#include "snapshot/s3_xml.h"
#include "unit.h"

/* "GET Bucket (List Objects)" example of the S3 SigV4 documentation. */
TEST(s3_sigv4_matches_aws_example)
{
	struct s3_query q[] = {{"prefix", "J"}, {"max-keys", "2"}};
	struct s3_sign_in in = {
		.method = "GET", .host = "examplebucket.s3.amazonaws.com", .path = "/", .query = q, .nquery = 2,
		.payload_hash = S3_EMPTY_SHA256, .region = "us-east-1", .access_key = "AKIAIOSFODNN7EXAMPLE",
		.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", .now = 1369353600 /* 20130524T000000Z */};
	struct s3_signed s;
	CHECK_INT(s3_sign(&in, &s), 0);
	CHECK_STR(s.amz_date, "20130524T000000Z");
	CHECK_STR(s.query, "max-keys=2&prefix=J");
	CHECK_STR(s.authorization,
		  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
		  "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
		  "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	s3_signed_free(&s);
}

TEST(s3_sigv4_encodes_and_sorts_query_and_path)
{
	struct s3_query q[] = {{"uploads", NULL}, {"prefix", "a b/+=&~"}, {"continuation-token", "1/x=="}};
	struct s3_sign_in in = {.method = "GET", .host = "h", .path = "/bkt/d ir/ü+x", .query = q, .nquery = 3,
				.payload_hash = S3_UNSIGNED_PAYLOAD, .region = "r", .access_key = "A",
				.secret_key = "S", .now = 0};
	struct s3_signed s;
	CHECK_INT(s3_sign(&in, &s), 0);
	CHECK_STR(s.query, "continuation-token=1%2Fx%3D%3D&prefix=a%20b%2F%2B%3D%26~&uploads=");
	CHECK_STR(s.path, "/bkt/d%20ir/%C3%BC%2Bx");
	CHECK(strstr(s.authorization, "S\n") == NULL);
	s3_signed_free(&s);
}

TEST(s3_uri_decode_undoes_listing_encoding)
{
	char *d = s3_uri_decode("p/a+b%2Bc%01%7f%C3%A9%0D~");
	CHECK_STR(d, "p/a b+c\x01\x7f\xc3\xa9\r~");
	free(d);
	d = s3_uri_decode("");
	CHECK_STR(d, "");
	free(d);
	CHECK(s3_uri_decode("bad%2") == NULL);
	CHECK(s3_uri_decode("bad%zz") == NULL);
	CHECK(s3_uri_decode("nul%00byte") == NULL);
}

TEST(s3_xml_extracts_and_unescapes)
{
	const char *x = "<ListBucketResult><IsTruncated>true</IsTruncated>"
			"<Contents><Key>p/a &amp; b&lt;&#233;&#x4E2D;</Key><Size>12</Size>"
			"<LastModified>2026-11-21T21:52:13.000Z</LastModified></Contents>"
			"<Contents><Key>p/c</Key><Size>3</Size></Contents>"
			"<NextContinuationToken>tok/==</NextContinuationToken></ListBucketResult>";
	struct s3_xml_span all = {x, strlen(x)}, c;
	size_t pos = 0;
	char *k;
	CHECK(s3_xml_next(all, &pos, "Contents", &c));
	k = s3_xml_get(c, "Key");
	CHECK_STR(k, "p/a & b<\xc3\xa9\xe4\xb8\xad");
	free(k);
	k = s3_xml_get(c, "LastModified");
	CHECK_INT(s3_parse_iso8601(k), 1795297933);
	free(k);
	CHECK(s3_xml_next(all, &pos, "Contents", &c));
	CHECK(!s3_xml_next(all, &pos, "Contents", &c));
	k = s3_xml_get(all, "NextContinuationToken");
	CHECK_STR(k, "tok/==");
	free(k);
	CHECK(s3_xml_get(all, "Missing") == NULL);
	CHECK_INT(s3_parse_iso8601("garbage"), -1);
}
