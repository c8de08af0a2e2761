/* s3_sigv4.c - AWS Signature Version 4 (header-based) for S3. The canonical
 * request is built from the same encoded path and query the URL uses, so what is
 * signed is exactly what is sent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "snapshot/s3_sigv4.h"

void s3_uri_encode(struct rv_buf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
			rv_buf_append(b, p, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			rv_buf_append(b, e, 3);
		}
	}
	if (!b->data)
		rv_buf_append(b, "", 0);
}

char *s3_uri_decode(const char *s)
{
	struct rv_buf b = {0};
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = rv_hex_nibble(p[1]), lo = hi < 0 ? -1 : rv_hex_nibble(p[2]);
			if (lo < 0 || (hi == 0 && lo == 0)) {
				rv_buf_free(&b);
				return NULL;
			}
			c = (char)(hi << 4 | lo);
			p += 2;
		}
		rv_buf_append(&b, &c, 1);
	}
	if (!b.data)
		rv_buf_append(&b, "", 0);
	return b.data;
}

void s3_sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	SHA256(p, n, md);
	rv_hex(md, sizeof(md), out);
}

static void hmac(const void *key, size_t klen, const char *msg, uint8_t out[32])
{
	unsigned int len = 32;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

struct enc_param {
	char *k, *v;
};

static int cmp_param(const void *a, const void *b)
{
	const struct enc_param *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	return c ? c : strcmp(x->v, y->v);
}

static int cmp_header(const void *a, const void *b)
{
	return strcmp(((const struct s3_header *)a)->name, ((const struct s3_header *)b)->name);
}

static char *encode(const char *s, bool keep_slash)
{
	struct rv_buf b = {0};
	s3_uri_encode(&b, s ? s : "", keep_slash);
	return b.data;
}

int s3_sign(const struct s3_sign_in *in, struct s3_signed *out)
{
	struct rv_buf q = {0}, creq = {0}, sts = {0}, key = {0};
	struct enc_param *ps = rv_xcalloc(in->nquery ? in->nquery : 1, sizeof(*ps));
	char date[9], scope[128], hash[65], sig[65];
	uint8_t k[32], k2[32];
	struct tm tm;
	time_t now = (time_t)in->now;

	memset(out, 0, sizeof(*out));
	gmtime_r(&now, &tm);
	strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm);
	memcpy(date, out->amz_date, 8);
	date[8] = 0;

	/* Canonical query: every key and value encoded, then sorted by key (then value). */
	for (size_t i = 0; i < in->nquery; i++) {
		ps[i].k = encode(in->query[i].key, false);
		ps[i].v = encode(in->query[i].value, false);
	}
	qsort(ps, in->nquery, sizeof(*ps), cmp_param);
	rv_buf_append(&q, "", 0);
	for (size_t i = 0; i < in->nquery; i++) {
		rv_buf_printf(&q, "%s%s=%s", i ? "&" : "", ps[i].k, ps[i].v);
		free(ps[i].k);
		free(ps[i].v);
	}
	free(ps);
	out->path = encode(in->path && *in->path ? in->path : "/", true);
	out->query = q.data;

	/* Signed headers, sorted by name: every header sent but Authorization and
	 * the few curl adds (Content-Type, Expect), which S3 does not require. */
	struct s3_header *hs = rv_xcalloc(in->nheaders + 4, sizeof(*hs));
	size_t nh = 0;
	hs[nh++] = (struct s3_header){"host", in->host};
	hs[nh++] = (struct s3_header){"x-amz-content-sha256", in->payload_hash};
	hs[nh++] = (struct s3_header){"x-amz-date", out->amz_date};
	if (in->session_token)
		hs[nh++] = (struct s3_header){"x-amz-security-token", in->session_token};
	for (size_t i = 0; i < in->nheaders; i++)
		hs[nh++] = in->headers[i];
	qsort(hs, nh, sizeof(*hs), cmp_header);
	rv_buf_printf(&creq, "%s\n%s\n%s\n", in->method, out->path, out->query);
	for (size_t i = 0; i < nh; i++)
		rv_buf_printf(&creq, "%s:%s\n", hs[i].name, hs[i].value);
	struct rv_buf signed_headers = {0};
	for (size_t i = 0; i < nh; i++)
		rv_buf_printf(&signed_headers, "%s%s", i ? ";" : "", hs[i].name);
	free(hs);
	rv_buf_printf(&creq, "\n%s\n%s", signed_headers.data, in->payload_hash);
	s3_sha256_hex(creq.data, creq.len, hash);

	snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", date, in->region);
	rv_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", out->amz_date, scope, hash);

	rv_buf_printf(&key, "AWS4%s", in->secret_key);
	hmac(key.data, key.len, date, k);
	hmac(k, 32, in->region, k2);
	hmac(k2, 32, "s3", k);
	hmac(k, 32, "aws4_request", k2);
	hmac(k2, 32, sts.data, k);
	rv_hex(k, 32, sig);
	OPENSSL_cleanse(key.data, key.len);
	OPENSSL_cleanse(k2, sizeof(k2));

	struct rv_buf auth = {0};
	rv_buf_printf(&auth, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", in->access_key,
		      scope, signed_headers.data, sig);
	rv_buf_free(&signed_headers);
	out->authorization = auth.data;
	rv_buf_free(&creq);
	rv_buf_free(&sts);
	rv_buf_free(&key);
	return 0;
}

void s3_signed_free(struct s3_signed *s)
{
	free(s->authorization);
	free(s->path);
	free(s->query);
	memset(s, 0, sizeof(*s));
}
