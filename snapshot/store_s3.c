/* store_s3.c - the store on S3-compatible object storage: s3://bucket/prefix.
 * Writes stream through one part buffer into a multipart upload that becomes an
 * object only at commit (CompleteMultipartUpload); small writes are one PUT at
 * commit. Abort removes the upload, cleanup removes uploads killed writers left. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/s3_client.h"
#include "snapshot/s3_prefetch.h"
#include "snapshot/s3_xml.h"
#include "snapshot/store_impl.h"

#define MiB (1024ull * 1024)
#define PART_MIN (8 * MiB)      /* S3 needs >= 5 MiB; 8 halves the requests */
#define PART_MAX (5120 * MiB)
#define PARTS_PLANNED 9000      /* leave room under S3's 10,000 for a wrong estimate */
#define PARTS_LIMIT 10000
#define MAX_ATTEMPTS 6
#define CLEANUP_AGE_S 3600      /* unfinished uploads younger than this may be a running save */

struct s3_store {
	struct store base;
	struct s3_cfg cfg;
	struct s3_client cl;
	int parts_in_flight; /* parts of an upload, ranges of a download */
	/* Large reads that follow each other (a restore reading its artifact) are
	 * fetched ahead, parts_in_flight ranges at once. */
	struct s3_prefetch *pf;
	char *seq_name;   /* the last large read: name, where it ended, its ETag */
	uint64_t seq_end;
	char seq_etag[256];
	char *url; /* s3://bucket/prefix, for messages */
	/* Read-ahead for small sequential ranged reads: one request per RA_SIZE
	 * instead of one per call. Reads above RA_MAX_READ bypass it. */
	struct {
		char *name;
		char etag[256];
		uint64_t off; /* object offset of buf[0] */
		size_t len;
		bool eof;     /* buf ends where the object ends */
		uint8_t *buf;
		size_t cap;
	} ra;
};

#define RA_SIZE (8 * MiB)
#define RA_MAX_READ (1 * MiB) /* larger reads are few already: straight through */

struct s3_writer;

/* A part being uploaded by its own thread and connection while the writer
 * fills the next. Up to parts_in_flight of them; slots are reused in turn, so
 * parts finish (and are recorded) in ascending order. */
struct part_job {
	struct s3_writer *w;
	struct s3_client cl;
	uint8_t *buf;
	size_t len, cap;
	int number;
	int result;
	char etag[256];
	char *err; /* the failed upload's sentence, moved to the writer's thread */
	pthread_t th;
	bool running, joinable;
};

struct s3_writer {
	struct store_writer base;
	struct s3_store *s;
	struct s3_client cl; /* the writer's own connection; parts have theirs */
	char *name, *key;
	uint8_t *buf;
	size_t len, cap, part_size;
	struct part_job jobs[S3_PARTS_IN_FLIGHT_MAX];
	int n_jobs;
	char *upload_id;
	struct rv_buf parts; /* <Part> elements for CompleteMultipartUpload */
	int nparts;          /* parts handed to upload */
	uint64_t total;
	int failed;          /* an earlier error: nothing more is sent */
};

/* ---- configuration ---- */

static void env_fill(char **field, const char *var)
{
	const char *v = getenv(var);
	if (!*field && v && *v)
		*field = rv_strdup(v);
}

void store_spec_apply_env(struct store_spec *spec)
{
	env_fill(&spec->s3.access_key_id, "AWS_ACCESS_KEY_ID");
	env_fill(&spec->s3.secret_access_key, "AWS_SECRET_ACCESS_KEY");
	env_fill(&spec->s3.session_token, "AWS_SESSION_TOKEN");
	env_fill(&spec->s3.region, "AWS_REGION");
	env_fill(&spec->s3.region, "AWS_DEFAULT_REGION");
	env_fill(&spec->s3.endpoint, "AWS_ENDPOINT_URL");
}

static void cfg_free(struct s3_cfg *c)
{
	free(c->base_url);
	free(c->host);
	free(c->endpoint);
	free(c->bucket);
	free(c->prefix);
	free(c->region);
	free(c->access_key);
	if (c->secret_key) {
		memset(c->secret_key, 0, strlen(c->secret_key));
		free(c->secret_key);
	}
	if (c->session_token) {
		memset(c->session_token, 0, strlen(c->session_token));
		free(c->session_token);
	}
	free(c->ca_file);
}

/* Frees what apply_env added to the copy (fields that differ from the original). */
static void env_copy_free(struct s3_opts *copy, const struct s3_opts *orig)
{
	char **c[] = {&copy->access_key_id, &copy->secret_access_key, &copy->session_token, &copy->region,
		      &copy->endpoint};
	char *const o[] = {orig->access_key_id, orig->secret_access_key, orig->session_token, orig->region,
			   orig->endpoint};
	for (size_t i = 0; i < RV_ARRAY_LEN(c); i++)
		if (*c[i] != o[i])
			free(*c[i]);
}

static bool valid_bucket(const char *b)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63)
		return false;
	for (const char *p = b; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
		      (*p >= 'A' && *p <= 'Z')))
			return false;
	return true;
}

static int build_cfg(const struct s3_opts *o, const char *location, struct s3_cfg *c)
{
	const char *slash = strchr(location, '/');
	const char *ep, *auth;
	size_t blen = slash ? (size_t)(slash - location) : strlen(location);
	struct rv_buf b = {0};

	memset(c, 0, sizeof(*c));
	c->bucket = strndup(location, blen);
	if (!valid_bucket(c->bucket))
		return rv_fail(-EINVAL, "store URL s3://%s does not name a valid bucket; use s3://bucket/prefix", location);
	/* prefix without leading/trailing slashes, then one trailing slash */
	const char *p = slash ? slash : "";
	while (*p == '/')
		p++;
	rv_buf_append(&b, p, strlen(p));
	while (b.len && b.data[b.len - 1] == '/')
		b.data[--b.len] = 0;
	if (b.len)
		rv_buf_append(&b, "/", 1);
	c->prefix = b.data;

	if (!o->access_key_id || !*o->access_key_id || !o->secret_access_key || !*o->secret_access_key)
		return rv_fail(-EINVAL, "the S3 store s3://%s has no credentials; set store.s3.access_key_id and store.s3.secret_access_key_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
			       location);
	c->access_key = rv_strdup(o->access_key_id);
	c->secret_key = rv_strdup(o->secret_access_key);
	c->session_token = o->session_token && *o->session_token ? rv_strdup(o->session_token) : NULL;
	c->region = rv_strdup(o->region && *o->region ? o->region : "us-east-1");
	c->ca_file = o->ca_file && *o->ca_file ? rv_strdup(o->ca_file) : NULL;
	c->timeout_s = o->timeout_s > 0 ? o->timeout_s : 300;
	c->max_attempts = MAX_ATTEMPTS;
	const char *env_attempts = getenv("REGVAULT_S3_MAX_ATTEMPTS"); /* tests of giving up */
	if (env_attempts && atoi(env_attempts) > 0)
		c->max_attempts = atoi(env_attempts);

	struct rv_buf e = {0};
	if (o->endpoint && *o->endpoint) {
		rv_buf_append(&e, o->endpoint, strlen(o->endpoint));
		c->path_style = o->path_style != 0; /* -1 (unset) means true with an endpoint */
	} else {
		rv_buf_printf(&e, "https://s3.%s.amazonaws.com", c->region);
		c->path_style = o->path_style == 1;
	}
	while (e.len && e.data[e.len - 1] == '/')
		e.data[--e.len] = 0;
	c->endpoint = e.data;
	/* BUCKET.host with a dotted bucket is several DNS labels: no wildcard
	 * certificate matches it over https. */
	if (!c->path_style && strchr(c->bucket, '.')) {
		if (o->path_style == 0 && !strncmp(c->endpoint, "https://", 8))
			return rv_fail(-EINVAL, "bucket %s has dots in its name, so virtual-hosted addressing over https cannot match the server's certificate; set store.s3.path_style: true",
				       c->bucket);
		if (o->path_style != 0)
			c->path_style = true;
	}
	ep = c->endpoint;
	if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8))
		return rv_fail(-EINVAL, "store.s3.endpoint %s must start with http:// or https://", ep);
	auth = strstr(ep, "://") + 3;
	if (!*auth || strchr(auth, '/') || strchr(auth, '?') || strchr(auth, '@'))
		return rv_fail(-EINVAL, "store.s3.endpoint %s must be scheme://host[:port] with no path", ep);
	if (c->path_style) {
		c->base_url = rv_strdup(ep);
		c->host = rv_strdup(auth);
	} else {
		struct rv_buf u = {0}, h = {0};
		rv_buf_printf(&u, "%.*s%s.%s", (int)(auth - ep), ep, c->bucket, auth);
		rv_buf_printf(&h, "%s.%s", c->bucket, auth);
		c->base_url = u.data;
		c->host = h.data;
	}
	return 0;
}

static int open_s3(const struct store_spec *spec, const char *location, struct store **out)
{
	struct store_spec copy = *spec;
	struct s3_store *s = rv_xcalloc(1, sizeof(*s));
	int r;

	store_spec_apply_env(&copy);
	r = build_cfg(&copy.s3, location, &s->cfg);
	env_copy_free(&copy.s3, &spec->s3);
	if (r < 0) {
		cfg_free(&s->cfg);
		free(s);
		return r;
	}
	s3_client_init(&s->cl, &s->cfg);
	s->parts_in_flight = spec->s3.parts_in_flight > 0 ? spec->s3.parts_in_flight : S3_PARTS_IN_FLIGHT_DEFAULT;
	if (s->parts_in_flight > S3_PARTS_IN_FLIGHT_MAX)
		s->parts_in_flight = S3_PARTS_IN_FLIGHT_MAX;
	struct rv_buf u = {0};
	rv_buf_printf(&u, "s3://%s/%s", s->cfg.bucket, s->cfg.prefix);
	if (u.len > 5 && u.data[u.len - 1] == '/')
		u.data[--u.len] = 0;
	s->url = u.data;
	rv_debug("S3 store %s at %s (%s addressing)", s->url, s->cfg.base_url,
		 s->cfg.path_style ? "path-style" : "virtual-hosted");
	*out = &s->base;
	return 0;
}

static void close_s3(struct store *st)
{
	struct s3_store *s = (struct s3_store *)st;
	s3_prefetch_free(s->pf);
	free(s->seq_name);
	s3_client_cleanup(&s->cl);
	cfg_free(&s->cfg);
	free(s->ra.name);
	free(s->ra.buf);
	free(s->url);
	free(s);
}

static int check_name(struct s3_store *s, const char *name)
{
	if (!name || !*name || name[0] == '/' || strlen(name) > 900)
		return rv_fail(-EINVAL, "'%s' is not a valid object name in %s", name ? name : "", s->url);
	return 0;
}

static char *key_of(struct s3_store *s, const char *name)
{
	struct rv_buf b = {0};
	rv_buf_printf(&b, "%s%s", s->cfg.prefix, name);
	return b.data;
}

/* ---- writing ---- */

static size_t choose_part_size(uint64_t expected)
{
	uint64_t ps = PART_MIN;
	if (expected / PARTS_PLANNED + 1 > ps)
		ps = (expected / PARTS_PLANNED + MiB) / MiB * MiB;
	return ps > PART_MAX ? PART_MAX : (size_t)ps;
}

static int initiate(struct s3_writer *w);
static void writer_free(struct s3_writer *w);

static int put_begin_s3(struct store *st, const char *name, uint64_t expected_size, struct store_writer **out)
{
	struct s3_store *s = (struct s3_store *)st;
	struct s3_writer *w;
	int r = check_name(s, name);
	if (r < 0)
		return r;
	w = rv_xcalloc(1, sizeof(*w));
	w->s = s;
	w->name = rv_strdup(name);
	w->key = key_of(s, name);
	w->part_size = w->cap = choose_part_size(expected_size);
	w->buf = rv_xmalloc(w->part_size);
	w->n_jobs = s->parts_in_flight;
	for (int i = 0; i < w->n_jobs; i++) {
		w->jobs[i].w = w;
		s3_client_init(&w->jobs[i].cl, &s->cfg);
	}
	s3_client_init(&w->cl, &s->cfg);
	/* Unless the object is known to be small, start the upload now: wrong
	 * credentials or a missing bucket show before anything is streamed. */
	if (expected_size == 0 || expected_size >= w->part_size) {
		r = initiate(w);
		if (r < 0) {
			writer_free(w);
			return r;
		}
	}
	*out = &w->base;
	return 0;
}

static int initiate(struct s3_writer *w)
{
	struct s3_store *s = w->s;
	struct s3_query q[] = {{"uploads", ""}};
	char what[512];
	struct s3_resp rs;
	struct s3_req rq = {.method = "POST", .key = w->key, .query = q, .nquery = 1, .what = what};
	int r;

	snprintf(what, sizeof(what), "starting the upload of %s", w->name);
	r = s3_request_ok(&w->cl, &rq, &rs, what);
	if (r == 0) {
		struct s3_xml_span sp = {rs.body.data ? rs.body.data : "", rs.body.len};
		w->upload_id = s3_xml_get(sp, "UploadId");
		if (!w->upload_id || !*w->upload_id)
			r = rv_fail(-EIO, "S3 endpoint %s answered %s without an UploadId", s->cfg.endpoint, what);
	}
	s3_resp_free(&rs);
	return r;
}

/* Part sizes grow when the artifact turns out much larger than expected, so it
 * still fits in S3's 10,000 parts. */
static size_t next_part_size(struct s3_writer *w)
{
	size_t ps = w->part_size;
	if (w->nparts >= PARTS_PLANNED && ps < PART_MAX && (w->nparts - PARTS_PLANNED) % 200 == 0) {
		ps = ps * 2 > PART_MAX ? PART_MAX : ps * 2;
	}
	return ps;
}

/* In the upload thread: PUT one part. */
static int send_part(struct part_job *j)
{
	struct s3_writer *w = j->w;
	char num[16], what[512];
	struct s3_query q[] = {{"partNumber", num}, {"uploadId", w->upload_id}};
	struct s3_resp rs;
	int r;

	snprintf(num, sizeof(num), "%d", j->number);
	snprintf(what, sizeof(what), "uploading part %d of %s", j->number, w->name);
	struct s3_req rq = {.method = "PUT", .key = w->key, .query = q, .nquery = 2, .body = j->buf,
			    .body_len = j->len, .what = what};
	r = s3_request_ok(&j->cl, &rq, &rs, what);
	if (r == 0 && !rs.etag[0])
		r = rv_fail(-EIO, "S3 endpoint %s answered %s without an ETag", w->s->cfg.endpoint, what);
	if (r == 0)
		snprintf(j->etag, sizeof(j->etag), "%s", rs.etag);
	else
		j->err = rv_strdup(rv_errmsg(r));
	s3_resp_free(&rs);
	return r;
}

static void *part_thread(void *arg)
{
	struct part_job *j = arg;
	j->result = send_part(j);
	return NULL;
}

/* Wait for the part in slot j; record its ETag or its error. */
static int finish_part(struct s3_writer *w, struct part_job *j)
{
	int r;

	if (!j->running)
		return 0;
	if (j->joinable)
		pthread_join(j->th, NULL);
	j->running = j->joinable = false;
	r = j->result;
	if (r < 0) {
		rv_fail(r, "%s", j->err ? j->err : "uploading a part failed");
		free(j->err);
		j->err = NULL;
		return r;
	}
	rv_buf_printf(&w->parts, "<Part><PartNumber>%d</PartNumber><ETag>", j->number);
	for (const char *p = j->etag; *p; p++) {
		if (*p == '&')
			rv_buf_printf(&w->parts, "&amp;");
		else if (*p == '<')
			rv_buf_printf(&w->parts, "&lt;");
		else if (*p == '>')
			rv_buf_printf(&w->parts, "&gt;");
		else
			rv_buf_append(&w->parts, p, 1);
	}
	rv_buf_printf(&w->parts, "</ETag></Part>");
	return 0;
}

/* After a failure: wait for the parts still in flight, keeping the first
 * failure's sentence (theirs would only repeat or hide it). */
static void drain(struct s3_writer *w)
{
	for (int i = 0; i < w->n_jobs; i++) {
		struct part_job *j = &w->jobs[i];
		if (j->running && j->joinable)
			pthread_join(j->th, NULL);
		j->running = j->joinable = false;
		free(j->err);
		j->err = NULL;
	}
}

/* Every part still in flight, oldest first; the first error wins. */
static int finish_all(struct s3_writer *w)
{
	int r = 0;
	for (int i = 0; i < w->n_jobs; i++) {
		int k = finish_part(w, &w->jobs[(w->nparts + i) % w->n_jobs]);
		if (r == 0)
			r = k;
	}
	return r;
}

/* Hand the filled buffer to the next slot's thread (after that slot's previous
 * part is up) and go on filling its old buffer: at most parts_in_flight + 1
 * parts in memory. */
static int start_part(struct s3_writer *w)
{
	struct part_job *j = &w->jobs[w->nparts % w->n_jobs];
	uint8_t *spare;
	size_t spare_cap;
	int r = finish_part(w, j);

	if (r < 0)
		return r;
	if (w->nparts + 1 > PARTS_LIMIT)
		return rv_fail(-EFBIG, "%s is too large for S3's 10,000 parts of %zu MiB", w->name,
			       w->part_size / (size_t)MiB);
	spare = j->buf;
	spare_cap = j->cap;
	j->buf = w->buf;
	j->cap = w->cap;
	j->len = w->len;
	j->number = ++w->nparts;
	w->part_size = next_part_size(w);
	if (!spare || spare_cap < w->part_size) {
		spare = rv_xrealloc(spare, w->part_size);
		spare_cap = w->part_size;
	}
	w->buf = spare;
	w->cap = spare_cap;
	w->len = 0;
	j->running = true;
	j->joinable = pthread_create(&j->th, NULL, part_thread, j) == 0;
	if (!j->joinable)
		part_thread(j); /* no thread to be had: upload here */
	return 0;
}

static int put_write_s3(struct store_writer *ww, const void *p, size_t n)
{
	struct s3_writer *w = (struct s3_writer *)ww;
	const uint8_t *src = p;
	int r;

	if (w->failed)
		return w->failed;
	while (n) {
		size_t k = w->part_size - w->len;
		if (k > n)
			k = n;
		memcpy(w->buf + w->len, src, k);
		w->len += k;
		w->total += k;
		src += k;
		n -= k;
		if (w->len == w->part_size) {
			r = w->upload_id ? 0 : initiate(w);
			if (r == 0)
				r = start_part(w);
			if (r < 0)
				return w->failed = r;
		}
	}
	return 0;
}

static void abort_upload(struct s3_store *s, struct s3_client *cl, const char *key, const char *upload_id,
			 const char *name)
{
	struct s3_query q[] = {{"uploadId", upload_id}};
	char what[512];
	struct s3_resp rs;
	struct s3_req rq = {.method = "DELETE", .key = key, .query = q, .nquery = 1, .what = what};

	snprintf(what, sizeof(what), "aborting the upload of %s", name);
	int r = s3_request(cl, &rq, &rs);
	if (r == 0 && rs.status / 100 != 2 && rs.status != 404)
		r = -EIO;
	if (r < 0)
		rv_warn("could not abort the unfinished upload of %s in %s; the next store cleanup removes it", name,
			s->url);
	s3_resp_free(&rs);
}

static void writer_free(struct s3_writer *w)
{
	for (int i = 0; i < w->n_jobs; i++) {
		struct part_job *j = &w->jobs[i];
		if (j->running && j->joinable)
			pthread_join(j->th, NULL);
		free(j->buf);
		free(j->err);
		s3_client_cleanup(&j->cl);
	}
	s3_client_cleanup(&w->cl);
	free(w->name);
	free(w->key);
	free(w->buf);
	free(w->upload_id);
	rv_buf_free(&w->parts);
	free(w);
}

static int stat_key(struct s3_store *s, const char *name, struct store_object *out);
static void forget_reads(struct s3_store *s, const char *name);

static int complete(struct s3_writer *w)
{
	struct s3_store *s = w->s;
	struct s3_query q[] = {{"uploadId", w->upload_id}};
	struct rv_buf body = {0};
	char what[512];
	struct s3_resp rs;
	int r;

	rv_buf_printf(&body, "<CompleteMultipartUpload>%s</CompleteMultipartUpload>", w->parts.data);
	snprintf(what, sizeof(what), "completing the upload of %s", w->name);
	struct s3_req rq = {.method = "POST", .key = w->key, .query = q, .nquery = 1, .body = body.data,
			    .body_len = body.len, .sign_body = true, .content_type = "application/xml", .what = what};
	r = s3_request(&w->cl, &rq, &rs);
	if (r == 0) {
		char *code = s3_error_code(&rs);
		/* A retried complete whose first try succeeded finds no upload: the
		 * object is there if its size is right. */
		if (rs.status == 404 && !strcmp(code, "NoSuchUpload")) {
			struct store_object o = {0};
			if (stat_key(s, w->name, &o) == 0 && o.size == w->total)
				r = 0;
			else
				r = rv_fail(-EIO, "S3 lost the upload of %s before it was completed (404 NoSuchUpload)",
					    w->name);
			free(o.name);
		} else if (rs.status / 100 != 2) {
			r = s3_fail_status(&w->cl, &rs, what);
		} else if (*code) {
			/* 200 with an <Error> body: S3 failed while completing */
			rs.status = 500;
			r = s3_fail_status(&w->cl, &rs, what);
		}
		free(code);
	}
	s3_resp_free(&rs);
	rv_buf_free(&body);
	return r;
}

static int put_single(struct s3_writer *w)
{
	char what[512];
	struct s3_resp rs;
	int r;

	snprintf(what, sizeof(what), "uploading %s", w->name);
	struct s3_req rq = {.method = "PUT", .key = w->key, .body = w->buf, .body_len = w->len, .what = what};
	r = s3_request_ok(&w->cl, &rq, &rs, what);
	s3_resp_free(&rs);
	return r;
}

static int put_commit_s3(struct store_writer *ww)
{
	struct s3_writer *w = (struct s3_writer *)ww;
	int r = w->failed;

	forget_reads(w->s, w->name);
	if (r == 0 && w->upload_id && w->nparts == 0 && w->len == 0) {
		/* nothing was written: S3 completes no upload without parts */
		abort_upload(w->s, &w->cl, w->key, w->upload_id, w->name);
		free(w->upload_id);
		w->upload_id = NULL;
	}
	if (r == 0 && !w->upload_id) {
		r = put_single(w);
	} else if (r == 0) {
		if (w->len)
			r = start_part(w);
		if (r == 0)
			r = finish_all(w);
		if (r == 0)
			r = complete(w);
	}
	if (r == 0 && w->upload_id) {
		/* check what S3 assembled before calling it published */
		struct store_object o = {0};
		r = stat_key(w->s, w->name, &o);
		if (r == 0 && o.size != w->total)
			r = rv_fail(-EIO, "S3 assembled %s with %llu bytes, but %llu were uploaded", w->name,
				    (unsigned long long)o.size, (unsigned long long)w->total);
		free(o.name);
	}
	if (r < 0 && w->upload_id) {
		drain(w);
		abort_upload(w->s, &w->cl, w->key, w->upload_id, w->name);
	}
	writer_free(w);
	return r;
}

static void put_abort_s3(struct store_writer *ww)
{
	struct s3_writer *w = (struct s3_writer *)ww;
	if (w->upload_id) {
		drain(w);
		abort_upload(w->s, &w->cl, w->key, w->upload_id, w->name);
	}
	writer_free(w);
}

/* ---- reading ---- */

/* A HEAD answer has no body; ask again with a 1-byte GET to learn S3's error code. */
static int explain_missing(struct s3_store *s, const char *key, const char *name, const char *what)
{
	struct s3_resp rs;
	struct s3_req rq = {.method = "GET", .key = key, .ranged = true, .range_start = 0, .range_end = 0,
			    .what = what};
	int r = s3_request(&s->cl, &rq, &rs);
	if (r == 0) {
		char *code = s3_error_code(&rs);
		if (rs.status == 404 && strcmp(code, "NoSuchBucket") != 0)
			r = rv_fail(-ENOENT, "%s has no object %s", s->url, name);
		else if (rs.status / 100 == 2)
			r = rv_fail(-EIO, "S3 endpoint %s could not say whether %s exists", s->cfg.endpoint, name);
		else
			r = s3_fail_status(&s->cl, &rs, what);
		free(code);
	}
	s3_resp_free(&rs);
	return r;
}

static int stat_key(struct s3_store *s, const char *name, struct store_object *out)
{
	char *key = key_of(s, name);
	char what[512];
	struct s3_resp rs;
	int r;

	snprintf(what, sizeof(what), "looking up %s", name);
	struct s3_req rq = {.method = "HEAD", .key = key, .what = what};
	r = s3_request(&s->cl, &rq, &rs);
	if (r == 0 && rs.status / 100 != 2) {
		r = explain_missing(s, key, name, what);
	} else if (r == 0) {
		out->name = rv_strdup(name);
		out->size = rs.have_length ? rs.content_length : 0;
		out->mtime = rs.last_modified;
	}
	s3_resp_free(&rs);
	free(key);
	return r;
}

static int stat_s3(struct store *st, const char *name, struct store_object *out)
{
	struct s3_store *s = (struct s3_store *)st;
	int r = check_name(s, name);
	memset(out, 0, sizeof(*out));
	return r < 0 ? r : stat_key(s, name, out);
}

static void ra_drop(struct s3_store *s, const char *name)
{
	if (s->ra.name && (!name || !strcmp(s->ra.name, name))) {
		free(s->ra.name);
		s->ra.name = NULL;
		s->ra.len = 0;
	}
}

/* One GET of [offset, offset+len) (len 0: to the end) into cb; reading at or
 * past the end delivers nothing, like pread. */
static int get_range(struct s3_store *s, struct s3_client *cl, const char *name, uint64_t offset, uint64_t len,
		     store_read_cb cb, void *ud, const char *if_match, struct s3_resp *rs)
{
	char what[512];
	char *key = key_of(s, name);
	int r;

	snprintf(what, sizeof(what), "reading %s", name);
	struct s3_req rq = {.method = "GET", .key = key, .sink = cb, .ud = ud, .what = what, .if_match = if_match,
			    .ranged = offset > 0 || len > 0, .range_start = offset,
			    .range_end = len ? offset + len - 1 : UINT64_MAX};
	r = s3_request(cl, &rq, rs);
	if (r == 0 && rs->status == 404) {
		char *code = s3_error_code(rs);
		r = strcmp(code, "NoSuchBucket") ? rv_fail(-ENOENT, "%s has no object %s", s->url, name)
						 : s3_fail_status(cl, rs, what);
		free(code);
	} else if (r == 0 && rs->status == 416) {
		rs->status = 206; /* nothing in range */
	} else if (r == 0 && rs->status == 412) {
		r = rv_fail(-EAGAIN, "%s in %s was replaced while it was being read; try again", name, s->url);
	} else if (r == 0 && rs->status / 100 != 2) {
		r = s3_fail_status(cl, rs, what);
	}
	free(key);
	return r;
}

/* get_range for the prefetch threads: their own connection, the ETag kept. */
static int prefetch_range(void *ctx, struct s3_client *cl, const char *name, uint64_t off, uint64_t len,
			  store_read_cb cb, void *ud, const char *if_match, char etag[256])
{
	struct s3_resp rs;
	int r = get_range(ctx, cl, name, off, len, cb, ud, if_match, &rs);
	snprintf(etag, 256, "%s", r == 0 ? rs.etag : "");
	s3_resp_free(&rs);
	return r;
}

static void pf_drop(struct s3_store *s)
{
	s3_prefetch_free(s->pf);
	s->pf = NULL;
}

/* name is written or deleted: nothing read of it before may be served again. */
static void forget_reads(struct s3_store *s, const char *name)
{
	ra_drop(s, name);
	if (s->seq_name && !strcmp(s->seq_name, name)) {
		pf_drop(s);
		free(s->seq_name);
		s->seq_name = NULL;
	}
}

/* A large read: from the prefetch when it is the next range, else directly
 * (and a read that continues the last one starts a prefetch). */
static int get_large(struct s3_store *s, const char *name, uint64_t offset, uint64_t len, store_read_cb cb,
		     void *ud)
{
	bool same_seq = s->seq_name && !strcmp(s->seq_name, name);
	bool served = false;
	char known[256];
	struct s3_resp rs;
	int r;

	/* every read of one object after the first names its ETag (If-Match): an
	 * object replaced half way fails the read instead of splicing two */
	if (same_seq && s->seq_etag[0])
		snprintf(known, sizeof(known), "%s", s->seq_etag);
	else if (s->ra.name && !strcmp(s->ra.name, name))
		snprintf(known, sizeof(known), "%s", s->ra.etag);
	else
		known[0] = 0;

	if (s->pf) {
		r = s3_prefetch_read(s->pf, name, offset, len, cb, ud, &served);
		if (served && r == 0)
			goto done;
		pf_drop(s);
		if (served)
			return r;
	}
	if (len > 0 && s->parts_in_flight > 1 && same_seq && offset == s->seq_end) {
		s->pf = s3_prefetch_new(&s->cfg, s->parts_in_flight, prefetch_range, s, name, known, offset, len);
		snprintf(known, sizeof(known), "%s", s3_prefetch_etag(s->pf));
		r = s3_prefetch_read(s->pf, name, offset, len, cb, ud, &served);
		if (r != 0)
			pf_drop(s);
		if (r != 0 || served)
			goto done;
	}
	r = get_range(s, &s->cl, name, offset, len, cb, ud, known[0] ? known : NULL, &rs);
	if (r == 0 && rs.etag[0])
		snprintf(known, sizeof(known), "%s", rs.etag);
	s3_resp_free(&rs);
done:
	if (r == 0 && len > 0) {
		if (!same_seq) {
			free(s->seq_name);
			s->seq_name = rv_strdup(name);
		}
		s->seq_end = offset + len;
		snprintf(s->seq_etag, sizeof(s->seq_etag), "%s", known);
	}
	return r;
}

static int ra_sink(const void *p, size_t n, void *ud)
{
	struct s3_store *s = ud;
	if (s->ra.len + n > s->ra.cap)
		return -EOVERFLOW;
	memcpy(s->ra.buf + s->ra.len, p, n);
	s->ra.len += n;
	return 0;
}

/* Refill the read-ahead buffer with [offset, offset+want). */
static int ra_fill(struct s3_store *s, const char *name, uint64_t offset, size_t want)
{
	struct s3_resp rs;
	bool same = s->ra.name && !strcmp(s->ra.name, name);
	char etag[256];
	int r;

	snprintf(etag, sizeof(etag), "%s", same ? s->ra.etag : "");
	if (!same) {
		ra_drop(s, NULL);
		s->ra.name = rv_strdup(name);
	}
	if (s->ra.cap < want) {
		s->ra.buf = rv_xrealloc(s->ra.buf, want);
		s->ra.cap = want;
	}
	s->ra.off = offset;
	s->ra.len = 0;
	s->ra.eof = false;
	r = get_range(s, &s->cl, name, offset, want, ra_sink, s, etag[0] ? etag : NULL, &rs);
	if (r == 0) {
		s->ra.eof = s->ra.len < want;
		snprintf(s->ra.etag, sizeof(s->ra.etag), "%s", rs.etag[0] ? rs.etag : etag);
	} else {
		ra_drop(s, NULL);
	}
	s3_resp_free(&rs);
	return r;
}

static int get_s3(struct store *st, const char *name, uint64_t offset, uint64_t len, store_read_cb cb, void *ud)
{
	struct s3_store *s = (struct s3_store *)st;
	struct s3_resp rs;
	int r = check_name(s, name);

	if (r < 0)
		return r;
	if (len > RA_MAX_READ)
		return get_large(s, name, offset, len, cb, ud);
	if (len == 0) {
		r = get_range(s, &s->cl, name, offset, len, cb, ud, NULL, &rs);
		s3_resp_free(&rs);
		return r;
	}
	while (len > 0) {
		bool same = s->ra.name && !strcmp(s->ra.name, name);
		uint64_t end = s->ra.off + s->ra.len;
		if (same && offset >= s->ra.off && offset < end) {
			size_t k = (size_t)(end - offset < len ? end - offset : len);
			if ((r = cb(s->ra.buf + (offset - s->ra.off), k, ud)) != 0)
				return r;
			offset += k;
			len -= k;
			continue;
		}
		if (same && offset >= end && s->ra.eof)
			return 0; /* past the end */
		/* a read that continues the last one is likely sequential: read ahead */
		bool sequential = same && offset == end;
		if ((r = ra_fill(s, name, offset, sequential ? RA_SIZE : (size_t)len)) < 0)
			return r;
		if (s->ra.len == 0)
			return 0;
	}
	return 0;
}

/* ---- listing ---- */

/* Listings ask for encoding-type=url: XML 1.0 cannot carry every byte a key may
 * hold (control characters), and a server that honours it says so in the answer. */
static bool url_encoded(struct s3_xml_span all)
{
	char *et = s3_xml_get(all, "EncodingType");
	bool yes = et && !strcmp(et, "url");
	free(et);
	return yes;
}

/* The text of <tag> in span, decoded when the listing is url-encoded (malloc'd);
 * NULL when absent or malformed. */
static char *listed_text(struct s3_xml_span span, const char *tag, bool encoded)
{
	char *t = s3_xml_get(span, tag), *d;
	if (!t || !encoded)
		return t;
	d = s3_uri_decode(t);
	if (!d)
		rv_warn("S3 listed a key that is not valid url encoding (%.80s); skipping it", t);
	free(t);
	return d;
}

static int list_s3(struct store *st, struct store_object **objs, size_t *n)
{
	struct s3_store *s = (struct s3_store *)st;
	struct store_object *v = NULL;
	size_t cnt = 0, cap = 0, plen = strlen(s->cfg.prefix);
	char *token = NULL, what[512];
	int r = 0;

	snprintf(what, sizeof(what), "listing %s", s->url);
	for (;;) {
		struct s3_query q[5] = {{"list-type", "2"},
					{"prefix", s->cfg.prefix},
					{"max-keys", "1000"},
					{"encoding-type", "url"}};
		size_t nq = 4;
		struct s3_resp rs;
		if (token)
			q[nq++] = (struct s3_query){"continuation-token", token};
		struct s3_req rq = {.method = "GET", .query = q, .nquery = nq, .what = what};
		r = s3_request_ok(&s->cl, &rq, &rs, what);
		if (r < 0) {
			s3_resp_free(&rs);
			break;
		}
		struct s3_xml_span all = {rs.body.data ? rs.body.data : "", rs.body.len}, c;
		size_t pos = 0;
		bool enc = url_encoded(all);
		while (s3_xml_next(all, &pos, "Contents", &c)) {
			char *k = listed_text(c, "Key", enc), *sz = s3_xml_get(c, "Size"), *lm = s3_xml_get(c, "LastModified");
			if (k && strlen(k) > plen && !strncmp(k, s->cfg.prefix, plen)) {
				if (cnt == cap) {
					cap = cap ? cap * 2 : 64;
					v = rv_xrealloc(v, cap * sizeof(*v));
				}
				v[cnt].name = rv_strdup(k + plen);
				v[cnt].size = sz ? strtoull(sz, NULL, 10) : 0;
				v[cnt].mtime = s3_parse_iso8601(lm);
				cnt++;
			}
			free(k);
			free(sz);
			free(lm);
		}
		char *trunc = s3_xml_get(all, "IsTruncated");
		free(token);
		token = trunc && !strcmp(trunc, "true") ? s3_xml_get(all, "NextContinuationToken") : NULL;
		free(trunc);
		s3_resp_free(&rs);
		if (!token)
			break;
		if (!*token) {
			r = rv_fail(-EIO, "S3 endpoint %s said the listing of %s goes on but gave no continuation token",
				    s->cfg.endpoint, s->url);
			break;
		}
	}
	free(token);
	if (r < 0) {
		store_objects_free(v, cnt);
		return r;
	}
	*objs = v;
	*n = cnt;
	return 0;
}

static int del_s3(struct store *st, const char *name)
{
	struct s3_store *s = (struct s3_store *)st;
	struct store_object o = {0};
	char what[512], *key;
	struct s3_resp rs;
	int r = check_name(s, name);

	if (r == 0)
		r = stat_key(s, name, &o); /* S3 deletes missing objects silently; say so instead */
	free(o.name);
	if (r < 0)
		return r;
	forget_reads(s, name);
	key = key_of(s, name);
	snprintf(what, sizeof(what), "deleting %s", name);
	struct s3_req rq = {.method = "DELETE", .key = key, .what = what};
	r = s3_request(&s->cl, &rq, &rs);
	if (r == 0 && rs.status / 100 != 2 && rs.status != 404)
		r = s3_fail_status(&s->cl, &rs, what);
	s3_resp_free(&rs);
	free(key);
	return r;
}

/* Abort unfinished multipart uploads under the prefix that are old enough not
 * to belong to a save still running. */
static int cleanup_s3(struct store *st)
{
	struct s3_store *s = (struct s3_store *)st;
	char *key_marker = NULL, *id_marker = NULL, what[512];
	int64_t age = CLEANUP_AGE_S, now = rv_now_unix();
	const char *env_age = getenv("REGVAULT_S3_CLEANUP_AGE_S"); /* tests */
	int r = 0, aborted = 0;

	if (env_age && *env_age)
		age = atoll(env_age);
	if (age < 2LL * s->cfg.timeout_s && !(env_age && *env_age))
		age = 2LL * s->cfg.timeout_s;
	snprintf(what, sizeof(what), "listing unfinished uploads in %s", s->url);
	for (;;) {
		/* No encoding-type=url here: RGW then encodes <Key> but neither says so
		 * nor encodes NextKeyMarker, so a key could not be told from its
		 * encoding. Control characters come as &#xN; references instead. */
		struct s3_query q[4] = {{"uploads", ""}, {"prefix", s->cfg.prefix}};
		size_t nq = 2;
		struct s3_resp rs;
		if (key_marker) {
			q[nq++] = (struct s3_query){"key-marker", key_marker};
			q[nq++] = (struct s3_query){"upload-id-marker", id_marker ? id_marker : ""};
		}
		struct s3_req rq = {.method = "GET", .query = q, .nquery = nq, .what = what};
		r = s3_request_ok(&s->cl, &rq, &rs, what);
		if (r < 0) {
			s3_resp_free(&rs);
			break;
		}
		struct s3_xml_span all = {rs.body.data ? rs.body.data : "", rs.body.len}, u;
		size_t pos = 0;
		while (s3_xml_next(all, &pos, "Upload", &u)) {
			char *k = s3_xml_get(u, "Key"), *id = s3_xml_get(u, "UploadId"), *ini = s3_xml_get(u, "Initiated");
			int64_t t = s3_parse_iso8601(ini);
			if (k && id && t >= 0 && now - t >= age) {
				rv_info("aborting the unfinished upload of %s started %lld s ago", k, (long long)(now - t));
				abort_upload(s, &s->cl, k, id, k);
				aborted++;
			}
			free(k);
			free(id);
			free(ini);
		}
		char *trunc = s3_xml_get(all, "IsTruncated");
		free(key_marker);
		free(id_marker);
		key_marker = id_marker = NULL;
		if (trunc && !strcmp(trunc, "true")) {
			key_marker = s3_xml_get(all, "NextKeyMarker");
			id_marker = s3_xml_get(all, "NextUploadIdMarker");
		}
		free(trunc);
		s3_resp_free(&rs);
		if (!key_marker || !*key_marker)
			break;
	}
	free(key_marker);
	free(id_marker);
	if (aborted)
		rv_debug("s3: aborted %d unfinished uploads in %s", aborted, s->url);
	return r;
}

const struct store_ops store_s3_ops = {
	.kind = "s3",
	.open = open_s3,
	.close = close_s3,
	.put_begin = put_begin_s3,
	.put_write = put_write_s3,
	.put_commit = put_commit_s3,
	.put_abort = put_abort_s3,
	.get = get_s3,
	.stat = stat_s3,
	.list = list_s3,
	.del = del_s3,
	.cleanup = cleanup_s3,
};
