/* s3_client.c - one signed S3 request, with bounded retries. Never logs or
 * reports credentials: messages name the endpoint, bucket and object only. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "snapshot/s3_client.h"
#include "snapshot/s3_xml.h"

#define ERR_BODY_MAX (64 * 1024)
#define BACKOFF_BASE_MS 250
#define BACKOFF_CAP_MS 8000
#define AFTER_CANCEL_TIMEOUT_S 5 /* an uncancellable request started after a cancel */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void s3_client_init(struct s3_client *c, const struct s3_cfg *cfg)
{
	pthread_once(&curl_once, curl_init_once);
	c->cfg = cfg;
	c->curl = curl_easy_init();
}

void s3_client_cleanup(struct s3_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

void s3_resp_free(struct s3_resp *rs)
{
	rv_buf_free(&rs->body);
}

struct xfer {
	CURL *h;
	const struct s3_req *rq;
	struct s3_resp *rs;
	size_t body_off; /* upload position */
	long status;     /* of the current response (after 1xx) */
	curl_off_t last_dl, last_ul;
	double last_move; /* monotonic time a byte last moved */
	int timeout_s;
	bool stalled;
	const struct rv_cancel *cancel; /* NULL for an uncancellable request */
	bool cancelled;
};

/* curl's own low-speed check averages over several seconds, so a stall right
 * after a fast start goes unnoticed; this one times out when no byte moved.
 * curl calls it about once a second even while nothing moves (connecting, or
 * waiting on a server that does not answer), so a cancel is seen as soon. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = ud;
	double now = rv_now_mono();
	(void)dltotal;
	(void)ultotal;
	if (rv_cancelled(x->cancel)) {
		x->cancelled = true;
		return 1;
	}
	if (dlnow != x->last_dl || ulnow != x->last_ul || x->last_move == 0) {
		x->last_dl = dlnow;
		x->last_ul = ulnow;
		x->last_move = now;
		return 0;
	}
	if (now - x->last_move >= x->timeout_s) {
		x->stalled = true;
		return 1;
	}
	return 0;
}

static size_t on_read(char *dst, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t left = x->rq->body_len - x->body_off, n = size * nitems;
	if (n > left)
		n = left;
	memcpy(dst, (const char *)x->rq->body + x->body_off, n);
	x->body_off += n;
	return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct xfer *x = ud;
	if (origin != SEEK_SET || off < 0 || (size_t)off > x->rq->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->body_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t on_header(char *p, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nitems;
	char line[512];
	size_t m = n < sizeof(line) - 1 ? n : sizeof(line) - 1;

	memcpy(line, p, m);
	line[m] = 0;
	while (m && (line[m - 1] == '\r' || line[m - 1] == '\n'))
		line[--m] = 0;
	if (!strncmp(line, "HTTP/", 5)) {
		const char *sp = strchr(line, ' ');
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		x->rs->etag[0] = 0;
		x->rs->have_length = false;
		x->rs->last_modified = -1;
		x->rs->sse[0] = 0;
		return n;
	}
	char *colon = strchr(line, ':');
	if (!colon)
		return n;
	*colon = 0;
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (!strcasecmp(line, "etag"))
		snprintf(x->rs->etag, sizeof(x->rs->etag), "%s", v);
	else if (!strcasecmp(line, "content-length")) {
		x->rs->content_length = strtoull(v, NULL, 10);
		x->rs->have_length = true;
	} else if (!strcasecmp(line, "x-amz-server-side-encryption")) {
		snprintf(x->rs->sse, sizeof(x->rs->sse), "%s", v);
	} else if (!strcasecmp(line, "last-modified")) {
		time_t t = curl_getdate(v, NULL);
		x->rs->last_modified = t < 0 ? -1 : (int64_t)t;
	}
	return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	if (x->rq->sink && x->status / 100 == 2) {
		int r = x->rq->sink(p, n, x->rq->ud);
		if (r != 0) {
			x->rs->sink_error = r < 0 ? r : -ECANCELED;
			return 0; /* stops the transfer */
		}
		x->rs->delivered += n;
		return n;
	}
	if (x->rs->body.len + n <= ERR_BODY_MAX || x->status / 100 == 2)
		rv_buf_append(&x->rs->body, p, n);
	return n;
}

static bool tls_error(CURLcode e)
{
	return e == CURLE_SSL_CONNECT_ERROR || e == CURLE_PEER_FAILED_VERIFICATION || e == CURLE_SSL_CACERT_BADFILE ||
	       e == CURLE_SSL_CERTPROBLEM || e == CURLE_SSL_CIPHER || e == CURLE_SSL_ISSUER_ERROR ||
	       e == CURLE_SSL_CRL_BADFILE || e == CURLE_SSL_ENGINE_INITFAILED;
}

static bool retryable_transport(CURLcode e)
{
	return e == CURLE_COULDNT_CONNECT || e == CURLE_COULDNT_RESOLVE_HOST || e == CURLE_OPERATION_TIMEDOUT ||
	       e == CURLE_RECV_ERROR || e == CURLE_SEND_ERROR || e == CURLE_GOT_NOTHING ||
	       e == CURLE_PARTIAL_FILE || e == CURLE_HTTP2 || e == CURLE_HTTP2_STREAM || e == CURLE_WEIRD_SERVER_REPLY;
}

static bool retryable_status(long s)
{
	return s == 500 || s == 502 || s == 503 || s == 504 || s == 429;
}

/* Per-thread xorshift seeded from the clock and pid: processes retrying
 * together must not draw the same delays (random() is seeded alike everywhere). */
static uint64_t jitter_rand(void)
{
	static _Thread_local uint64_t x;
	if (!x)
		x = ((uint64_t)(rv_now_mono() * 1e9) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&x) | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

/* AWS answers 400 RequestTimeout when a body came in too slowly (a congested
 * link): the request itself was fine, so it is tried again like a 503. */
static bool request_timed_out(const struct s3_resp *rs)
{
	if (rs->status != 400)
		return false;
	char *code = s3_error_code(rs);
	bool yes = !strcmp(code, "RequestTimeout");
	free(code);
	return yes;
}

/* 0 after the delay, -EINTR as soon as c is cancelled. */
static int backoff(int attempt, const struct rv_cancel *c)
{
	int64_t cap = BACKOFF_BASE_MS << (attempt < 6 ? attempt - 1 : 5);
	if (cap > BACKOFF_CAP_MS)
		cap = BACKOFF_CAP_MS;
	/* "equal jitter": half the delay fixed, half random, so retries of many
	 * clients spread out but never come back at once */
	return rv_sleep_cancellable(cap / 2 + (int64_t)(jitter_rand() % (uint64_t)(cap / 2 + 1)), c);
}

/* One attempt: build, sign, perform. Returns the CURLcode; *cut says the cancel
 * ended it. */
static CURLcode perform(struct s3_client *c, const struct s3_req *rq, struct s3_resp *rs, char *errbuf,
			uint64_t resume_from, const char *if_match, long *status, bool *cut)
{
	const struct s3_cfg *cfg = c->cfg;
	CURL *h = c->curl;
	struct rv_buf path = {0}, url = {0}, hdr = {0};
	struct curl_slist *hl = NULL;
	struct s3_signed sg;
	struct s3_sign_in in = {0};
	char payload[65];
	struct xfer x = {.h = h, .rq = rq, .rs = rs, .timeout_s = cfg->timeout_s,
			 .cancel = rq->uncancellable ? NULL : cfg->cancel};
	bool after_cancel = rq->uncancellable && rv_cancelled(cfg->cancel);
	CURLcode e;

	if (cfg->path_style)
		rv_buf_printf(&path, "/%s/%s", cfg->bucket, rq->key ? rq->key : "");
	else
		rv_buf_printf(&path, "/%s", rq->key ? rq->key : "");
	if (rq->body && rq->sign_body)
		s3_sha256_hex(rq->body, rq->body_len, payload);
	else if (!rq->body || rq->body_len == 0)
		snprintf(payload, sizeof(payload), "%s", S3_EMPTY_SHA256);
	else
		snprintf(payload, sizeof(payload), "%s", S3_UNSIGNED_PAYLOAD);
	in.method = rq->method;
	in.host = cfg->host;
	in.path = path.data;
	in.query = rq->query;
	in.nquery = rq->nquery;
	in.payload_hash = payload;
	in.session_token = cfg->session_token;
	/* server-side encryption: signed, so a proxy cannot strip it unnoticed */
	struct s3_header sse[2];
	size_t nsse = 0;
	if (rq->creates && cfg->sse) {
		sse[nsse++] = (struct s3_header){"x-amz-server-side-encryption", cfg->sse};
		if (cfg->kms_key_id)
			sse[nsse++] = (struct s3_header){"x-amz-server-side-encryption-aws-kms-key-id", cfg->kms_key_id};
	}
	in.headers = sse;
	in.nheaders = nsse;
	in.region = cfg->region;
	in.access_key = cfg->access_key;
	in.secret_key = cfg->secret_key;
	in.now = rv_now_unix();
	s3_sign(&in, &sg);
	rv_buf_printf(&url, "%s%s%s%s", cfg->base_url, sg.path, *sg.query ? "?" : "", sg.query);

	rv_buf_printf(&hdr, "Host: %s", cfg->host);
	hl = curl_slist_append(hl, hdr.data);
	hdr.len = 0;
	rv_buf_printf(&hdr, "x-amz-date: %s", sg.amz_date);
	hl = curl_slist_append(hl, hdr.data);
	hdr.len = 0;
	rv_buf_printf(&hdr, "x-amz-content-sha256: %s", payload);
	hl = curl_slist_append(hl, hdr.data);
	hdr.len = 0;
	rv_buf_printf(&hdr, "Authorization: %s", sg.authorization);
	hl = curl_slist_append(hl, hdr.data);
	if (cfg->session_token) {
		hdr.len = 0;
		rv_buf_printf(&hdr, "x-amz-security-token: %s", cfg->session_token);
		hl = curl_slist_append(hl, hdr.data);
	}
	for (size_t i = 0; i < nsse; i++) {
		hdr.len = 0;
		rv_buf_printf(&hdr, "%s: %s", sse[i].name, sse[i].value);
		hl = curl_slist_append(hl, hdr.data);
	}
	if (rq->ranged || resume_from) {
		uint64_t a = rq->range_start + resume_from;
		hdr.len = 0;
		if (rq->ranged && rq->range_end != UINT64_MAX)
			rv_buf_printf(&hdr, "Range: bytes=%llu-%llu", (unsigned long long)a,
				      (unsigned long long)rq->range_end);
		else
			rv_buf_printf(&hdr, "Range: bytes=%llu-", (unsigned long long)a);
		hl = curl_slist_append(hl, hdr.data);
	}
	if (if_match && *if_match) {
		hdr.len = 0;
		rv_buf_printf(&hdr, "If-Match: %s", if_match);
		hl = curl_slist_append(hl, hdr.data);
	}
	hdr.len = 0;
	rv_buf_printf(&hdr, "Content-Type:%s%s", rq->content_type ? " " : "", rq->content_type ? rq->content_type : "");
	hl = curl_slist_append(hl, hdr.data);
	hl = curl_slist_append(hl, "Expect:");

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url.data);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)(cfg->timeout_s < 30 ? cfg->timeout_s : 30));
	/* small requests have a deadline too; transfers of data only the stall check */
	if (!rq->sink && rq->body_len < 1024 * 1024)
		curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)cfg->timeout_s);
	if (after_cancel && cfg->timeout_s > AFTER_CANCEL_TIMEOUT_S) {
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)AFTER_CANCEL_TIMEOUT_S);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)AFTER_CANCEL_TIMEOUT_S);
	}
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	if (cfg->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	if (!strcmp(rq->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(rq->method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &x);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
	} else if (!strcmp(rq->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->body_len : 0));
	} else if (strcmp(rq->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	}

	errbuf[0] = 0;
	e = curl_easy_perform(h);
	*cut = e == CURLE_ABORTED_BY_CALLBACK && x.cancelled;
	if (e == CURLE_ABORTED_BY_CALLBACK && x.stalled) {
		e = CURLE_OPERATION_TIMEDOUT;
		snprintf(errbuf, CURL_ERROR_SIZE, "no byte moved for %d s", cfg->timeout_s);
	}
	*status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	/* the Authorization header held a signature, not the secret; still, do not keep it */
	s3_signed_free(&sg);
	rv_buf_free(&path);
	rv_buf_free(&url);
	rv_buf_free(&hdr);
	return e;
}

static int interrupted(const struct s3_cfg *cfg, const char *what)
{
	return rv_fail(-EINTR, "S3 request to %s was interrupted %s", cfg->endpoint, what);
}

int s3_request(struct s3_client *c, const struct s3_req *rq, struct s3_resp *rs)
{
	const struct s3_cfg *cfg = c->cfg;
	char errbuf[CURL_ERROR_SIZE], etag[256] = "";
	const char *what = rq->what ? rq->what : rq->method;
	const struct rv_cancel *cancel = rq->uncancellable ? NULL : cfg->cancel;
	long status = 0;
	CURLcode e = CURLE_OK;
	bool cut = false;
	int attempt;

	memset(rs, 0, sizeof(*rs));
	rs->last_modified = -1;
	if (!c->curl)
		return rv_fail(-ENOMEM, "could not set up an HTTP client for S3 (%s)", what);
	for (attempt = 1; attempt <= cfg->max_attempts; attempt++) {
		uint64_t resumed = rs->delivered;
		if (rv_cancelled(cancel))
			return interrupted(cfg, what);
		rv_buf_free(&rs->body);
		rs->sink_error = 0;
		e = perform(c, rq, rs, errbuf, resumed, resumed && etag[0] ? etag : rq->if_match, &status, &cut);
		rs->status = status;
		if (rs->sink_error)
			return rs->sink_error;
		if (cut)
			return interrupted(cfg, what);
		if (rq->sink && rs->delivered && !etag[0])
			snprintf(etag, sizeof(etag), "%s", rs->etag);
		if (e == CURLE_OK && resumed && status == 200)
			return rv_fail(-EIO, "S3 endpoint %s ignored the Range header when resuming %s; the download cannot continue",
				       cfg->endpoint, what);
		if (e == CURLE_OK && !retryable_status(status) && !request_timed_out(rs))
			return 0;
		if (e != CURLE_OK && tls_error(e))
			return rv_fail(-EIO, "the TLS connection to S3 endpoint %s failed: %s; check store.s3.endpoint and store.s3.ca_file",
				       cfg->endpoint, errbuf[0] ? errbuf : curl_easy_strerror(e));
		if (e != CURLE_OK && !retryable_transport(e))
			return rv_fail(-EIO, "S3 request to %s failed %s: %s", cfg->endpoint, what,
				       errbuf[0] ? errbuf : curl_easy_strerror(e));
		if (e == CURLE_OK)
			rv_debug("s3: %s: %ld, attempt %d of %d", what, status, attempt, cfg->max_attempts);
		else
			rv_debug("s3: %s: %s, attempt %d of %d", what, errbuf[0] ? errbuf : curl_easy_strerror(e), attempt,
				 cfg->max_attempts);
		/* after a cancel, an uncancellable request is not tried again either */
		if (rv_cancelled(cfg->cancel))
			return interrupted(cfg, what);
		if (attempt < cfg->max_attempts && backoff(attempt, cancel) < 0)
			return interrupted(cfg, what);
	}
	if (e == CURLE_OK) {
		char *code = s3_error_code(rs);
		int r = rv_fail(-EIO, "S3 endpoint %s kept answering %ld%s%s %s (%d attempts); try again later",
				cfg->endpoint, status, *code ? " " : "", code, what, cfg->max_attempts);
		free(code);
		return r;
	}
	if (e == CURLE_COULDNT_CONNECT || e == CURLE_COULDNT_RESOLVE_HOST)
		return rv_fail(-EHOSTUNREACH, "S3 endpoint %s is unreachable (%s, %d attempts); check store.s3.endpoint and the network",
			       cfg->endpoint, errbuf[0] ? errbuf : curl_easy_strerror(e), cfg->max_attempts);
	if (e == CURLE_OPERATION_TIMEDOUT)
		return rv_fail(-ETIMEDOUT, "S3 endpoint %s stopped answering %s (no progress for %d s, %d attempts); check the endpoint or raise store.s3.timeout_s",
			       cfg->endpoint, what, cfg->timeout_s, cfg->max_attempts);
	return rv_fail(-EIO, "S3 endpoint %s kept dropping the connection %s (%s, %d attempts)", cfg->endpoint, what,
		       errbuf[0] ? errbuf : curl_easy_strerror(e), cfg->max_attempts);
}

char *s3_error_code(const struct s3_resp *rs)
{
	struct s3_xml_span sp = {rs->body.data ? rs->body.data : "", rs->body.len};
	char *code = s3_xml_get(sp, "Code");
	return code ? code : rv_strdup("");
}

static const char *reason(long status)
{
	switch (status) {
	case 400: return "BadRequest";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "NotFound";
	case 409: return "Conflict";
	case 412: return "PreconditionFailed";
	case 416: return "InvalidRange";
	default: return "";
	}
}

int s3_request_ok(struct s3_client *c, const struct s3_req *rq, struct s3_resp *rs, const char *what)
{
	int r = s3_request(c, rq, rs);
	if (r == 0 && rs->status / 100 != 2)
		r = s3_fail_status(c, rs, what);
	return r;
}

int s3_fail_status(const struct s3_client *c, const struct s3_resp *rs, const char *what)
{
	const struct s3_cfg *cfg = c->cfg;
	char *code = s3_error_code(rs);
	const char *cd = *code ? code : reason(rs->status);
	int r;

	if (rs->status == 403 || rs->status == 401 || !strcmp(cd, "SignatureDoesNotMatch") ||
	    !strcmp(cd, "InvalidAccessKeyId") || !strcmp(cd, "AccessDenied"))
		r = rv_fail(-EACCES, "S3 rejected the credentials for bucket %s: %ld %s; check the access key and secret key (store.s3.* or AWS_*)",
			    cfg->bucket, rs->status, cd);
	else if (!strcmp(cd, "NoSuchBucket"))
		r = rv_fail(-ENOENT, "S3 bucket %s does not exist at %s: %ld NoSuchBucket; create it or fix store.url",
			    cfg->bucket, cfg->endpoint, rs->status);
	else if (rs->status == 404)
		r = rv_fail(-ENOENT, "S3 found nothing %s in bucket %s: %ld %s", what, cfg->bucket, rs->status, cd);
	else
		r = rv_fail(-EIO, "S3 refused %s in bucket %s: %ld%s%s", what, cfg->bucket, rs->status, *cd ? " " : "", cd);
	free(code);
	return r;
}
