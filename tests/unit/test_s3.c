/* Unit tests of the S3 store's pieces: SigV4 against AWS's published example,
 * URI encoding, the XML extractor, and what a cancel does to waiting requests. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "snapshot/snapshot.h"

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

/* "PUT Object" example of the same page: extra signed headers (the way
 * x-amz-server-side-encryption is sent), sorted in among the fixed ones. */
TEST(s3_sigv4_signs_extra_headers_like_aws_example)
{
	struct s3_header h[] = {{"x-amz-storage-class", "REDUCED_REDUNDANCY"}, {"date", "Fri, 24 May 2013 00:00:00 GMT"}};
	struct s3_sign_in in = {
		.method = "PUT", .host = "examplebucket.s3.amazonaws.com", .path = "/test$file.text",
		.payload_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", .headers = h,
		.nheaders = 2, .region = "us-east-1", .access_key = "AKIAIOSFODNN7EXAMPLE",
		.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", .now = 1369353600};
	struct s3_signed s;
	CHECK_INT(s3_sign(&in, &s), 0);
	CHECK_STR(s.path, "/test%24file.text");
	CHECK_STR(s.authorization,
		  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
		  "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
		  "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	s3_signed_free(&s);
}

TEST(s3_sigv4_signs_sse_headers_after_the_session_token)
{
	struct s3_header h[] = {{"x-amz-server-side-encryption", "aws:kms"},
				{"x-amz-server-side-encryption-aws-kms-key-id", "k1"}};
	struct s3_sign_in in = {.method = "POST", .host = "h", .path = "/b/k", .payload_hash = S3_EMPTY_SHA256,
				.session_token = "T", .headers = h, .nheaders = 2, .region = "r", .access_key = "A",
				.secret_key = "S", .now = 0};
	struct s3_signed s;
	CHECK_INT(s3_sign(&in, &s), 0);
	CHECK(strstr(s.authorization, "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token;"
				      "x-amz-server-side-encryption;x-amz-server-side-encryption-aws-kms-key-id, ") != NULL);
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

/* ---- cancellation: what a cancel does to requests that wait ---- */

struct later_cancel {
	struct rv_cancel *c;
	int after_ms;
};

static void *cancel_later(void *arg)
{
	struct later_cancel *l = arg;
	rv_sleep_ms(l->after_ms);
	rv_cancel_request(l->c);
	return NULL;
}

/* store_list on an S3 store at 127.0.0.1:port, cancelled 300 ms in. */
static int list_cancelled(int port)
{
	char ep[64];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
	struct store_spec spec = {.url = "s3://bucket/p",
				  .s3 = {.endpoint = ep, .access_key_id = "AKID", .secret_access_key = "secret",
					 .path_style = -1, .timeout_s = 300}};
	struct rv_cancel c = {0};
	struct later_cancel l = {&c, 300};
	struct store *st;
	struct store_object *objs = NULL;
	size_t n = 0;
	pthread_t th;
	int r = store_open(&spec, &st);
	if (r < 0)
		return r;
	store_set_cancel(st, &c);
	pthread_create(&th, NULL, cancel_later, &l);
	r = store_list(st, &objs, &n);
	pthread_join(th, NULL);
	if (r == 0)
		store_objects_free(objs, n);
	store_close(st);
	return r;
}

/* A server that accepts and never answers (timeout_s is 300 s): the cancel
 * ends the wait. */
TEST(s3_cancel_ends_a_request_that_gets_no_answer)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int s = socket(AF_INET, SOCK_STREAM, 0), r;
	CHECK(s >= 0);
	CHECK(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 8) == 0);
	CHECK(getsockname(s, (struct sockaddr *)&a, &al) == 0);
	r = list_cancelled(ntohs(a.sin_port)); /* the kernel completes the handshake: no accept needed */
	close(s);
	CHECK_INT(r, -EINTR);
	CHECK(strstr(rv_errmsg(r), "was interrupted listing s3://bucket/p") != NULL);
	rv_err_clear();
}

/* Nothing listens: each attempt fails at once, and the cancel ends the
 * back-off between them (without it: about 8 s, then "unreachable"). */
TEST(s3_cancel_ends_the_back_off_between_attempts)
{
	int port, r;
	CHECK(rv_free_port(&port) == 0);
	r = list_cancelled(port);
	CHECK_INT(r, -EINTR);
	CHECK(strstr(rv_errmsg(r), "interrupted") != NULL);
	rv_err_clear();
}
