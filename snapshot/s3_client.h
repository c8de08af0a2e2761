/* s3_client.h - private to the snapshot module: signed S3 requests over libcurl,
 * retried with exponential backoff and jitter on 5xx, timeouts and dropped
 * connections; streaming GETs resume from the last byte received. */
#ifndef REGVAULT_S3_CLIENT_H
#define REGVAULT_S3_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "snapshot/snapshot.h"
#include "snapshot/s3_sigv4.h"

/* Where and how to reach one bucket; filled by store_s3.c, read-only afterwards
 * but for cancel, which store_set_cancel() changes between operations only. */
struct s3_cfg {
	char *base_url;   /* scheme://host[:port] requests go to (bucket host when virtual-hosted) */
	char *host;       /* Host header, the authority of base_url */
	char *endpoint;   /* for messages: the endpoint as configured */
	char *bucket;
	char *prefix;     /* "" or "dir/sub/" */
	char *region, *access_key, *secret_key, *session_token, *ca_file;
	bool path_style;
	int timeout_s;    /* a request that moves no byte for this long is retried */
	int max_attempts; /* per request */
	char *sse;        /* NULL, "AES256" or "aws:kms": asked for on every upload */
	char *kms_key_id; /* with aws:kms; NULL: the bucket's default key */
	/* Every client of the store looks at it: a request in flight or waiting to
	 * be retried ends within about a second with -EINTR. */
	const struct rv_cancel *cancel;
};

struct s3_client {
	const struct s3_cfg *cfg;
	void *curl; /* CURL *, reused so connections are kept alive */
};

struct s3_req {
	const char *method;              /* GET HEAD PUT POST DELETE */
	const char *key;                 /* full object key, NULL: the bucket */
	const struct s3_query *query;
	size_t nquery;
	const void *body;                /* PUT/POST body, in memory */
	size_t body_len;
	bool sign_body;                  /* sha256 the body instead of UNSIGNED-PAYLOAD */
	const char *content_type;
	/* GET: send 2xx bodies to sink instead of keeping them; with ranged, ask for
	 * [range_start, range_end] (range_end UINT64_MAX: to the end). */
	store_read_cb sink;
	void *ud;
	bool ranged;
	uint64_t range_start, range_end;
	const char *if_match;            /* ETag the object must still have */
	const char *what;                /* "uploading part 3 of NAME", for messages */
	/* Completing or aborting an upload: a cancel does not cut it (cut, nobody
	 * would know whether it happened). Started after a cancel, it gets one
	 * attempt of a few seconds, so a dead endpoint cannot hold the exit. */
	bool uncancellable;
	/* The request makes an object (PutObject, CreateMultipartUpload): it asks
	 * for the store's server-side encryption, if any (signed headers). */
	bool creates;
};

struct s3_resp {
	long status;
	struct rv_buf body;              /* the body unless it went to the sink */
	char etag[256];
	uint64_t content_length;
	bool have_length;
	int64_t last_modified;           /* unix seconds, -1 unknown */
	char sse[32];                    /* x-amz-server-side-encryption of the answer, "" none */
	uint64_t delivered;              /* bytes passed to the sink */
	int sink_error;                  /* what the sink returned when it stopped */
};

void s3_client_init(struct s3_client *c, const struct s3_cfg *cfg);
void s3_client_cleanup(struct s3_client *c);
/* 0 when S3 answered something final (check rs->status); a negative errno with a
 * message when retries ran out, TLS failed, the sink stopped or the cancel came
 * (-EINTR). */
int s3_request(struct s3_client *c, const struct s3_req *rq, struct s3_resp *rs);
void s3_resp_free(struct s3_resp *rs);
/* Record the sentence for a non-2xx answer and return its errno. obj names the
 * object for 404 NoSuchKey ("NAME in s3://bucket/prefix"). */
int s3_fail_status(const struct s3_client *c, const struct s3_resp *rs, const char *what);
/* s3_request, with any answer but 2xx turned into its sentence and errno. */
int s3_request_ok(struct s3_client *c, const struct s3_req *rq, struct s3_resp *rs, const char *what);
/* The S3 error code of an answer ("NoSuchKey"), or "" (malloc'd). */
char *s3_error_code(const struct s3_resp *rs);

#endif
