/* s3_sigv4.h - private to the snapshot module: AWS Signature Version 4 for S3
 * requests, computed with OpenSSL (curl 7.88's built-in signer gets unsorted or
 * reserved-character queries wrong, see etcd-wire.md). */
#ifndef REGVAULT_S3_SIGV4_H
#define REGVAULT_S3_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3_query {
	const char *key;
	const char *value; /* NULL or "" for a bare parameter like ?uploads */
};

/* A header sent and signed besides host and the x-amz-date/content-sha256/
 * security-token ones; name in lowercase, value trimmed. */
struct s3_header {
	const char *name;
	const char *value;
};

struct s3_sign_in {
	const char *method;
	const char *host;          /* the Host header exactly as sent */
	const char *path;          /* raw (unencoded) path: "/bucket/key" */
	const struct s3_query *query;
	size_t nquery;
	const char *payload_hash;  /* hex sha256 or S3_UNSIGNED_PAYLOAD */
	const char *session_token; /* NULL: none */
	const struct s3_header *headers;
	size_t nheaders;
	const char *region;
	const char *access_key;
	const char *secret_key;
	int64_t now;               /* unix seconds */
};

struct s3_signed {
	char amz_date[17];    /* 20130524T000000Z */
	char *authorization;  /* value of the Authorization header */
	char *path;           /* URI-encoded path for the URL (same as signed) */
	char *query;          /* canonical query string for the URL ("" when none) */
};

/* Append s URI-encoded by the AWS rules: only A-Z a-z 0-9 - _ . ~ stay as they are
 * ('/' too when keep_slash); everything else is %XX, uppercase. */
void s3_uri_encode(struct rv_buf *b, const char *s, bool keep_slash);
/* Undo the encoding of keys in listings asked for with encoding-type=url: %XX,
 * and '+' for a space (S3's form encoding). NULL when malformed or when it would
 * hold a NUL byte (malloc'd). */
char *s3_uri_decode(const char *s);
void s3_sha256_hex(const void *p, size_t n, char out[65]);
int s3_sign(const struct s3_sign_in *in, struct s3_signed *out);
void s3_signed_free(struct s3_signed *s);

#endif
