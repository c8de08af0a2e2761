/* s3_upload.c - writers of the S3 store. A write streams through part buffers
 * into a multipart upload that becomes an object only at commit
 * (CompleteMultipartUpload); up to parts_in_flight parts go up at once, each
 * from its own thread and connection. Small writes are one PUT at commit. Abort
 * removes the upload. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/s3_store.h"
#include "snapshot/s3_xml.h"

#define PART_MIN (8 * MiB)      /* S3 needs >= 5 MiB; 8 halves the requests */
#define PART_MAX (5120 * MiB)
#define PARTS_PLANNED 9000      /* leave room under S3's 10,000 for a wrong estimate */
#define PARTS_LIMIT 10000

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

static size_t choose_part_size(uint64_t expected)
{
	uint64_t ps = PART_MIN;
	if (expected / PARTS_PLANNED + 1 > ps)
		ps = (expected / PARTS_PLANNED + MiB) / MiB * MiB;
	return ps > PART_MAX ? PART_MAX : (size_t)ps;
}

static int initiate(struct s3_writer *w);
static void writer_free(struct s3_writer *w);

/* What S3 answered for server-side encryption is what was asked for (nothing
 * asked: anything goes). A server that ignores the header would otherwise keep
 * the artifact unencrypted without a word. */
static int check_sse(struct s3_writer *w, const char *answered)
{
	const struct s3_cfg *cfg = &w->s->cfg;
	if (!cfg->sse || !strcmp(answered, cfg->sse))
		return 0;
	char said[64];
	if (*answered)
		snprintf(said, sizeof(said), "it said %s", answered);
	else
		snprintf(said, sizeof(said), "no x-amz-server-side-encryption header");
	return rv_fail(-EIO, "the S3 server did not confirm server-side encryption %s for %s (%s), so it was not published; check that the bucket and the server at %s support store.s3.sse: %s",
		       cfg->sse, w->name, said, cfg->endpoint, cfg->sse);
}

/* A 400 or 403 to a request that asked for encryption may be about the
 * encryption (RGW answers an unknown KMS key with 403 InvalidAccessKeyId, and
 * no KMS key at all with 400 InvalidArgument): say so besides the credentials. */
static int refused_with_sse(struct s3_writer *w, const struct s3_resp *rs, int r, const char *what)
{
	const struct s3_cfg *cfg = &w->s->cfg;
	if (r == 0 || !cfg->sse || (rs->status != 400 && rs->status != 403))
		return r;
	char *code = s3_error_code(rs);
	r = rv_fail(r, "S3 refused %s in bucket %s asking for server-side encryption %s%s%s%s: %ld%s%s; check that the server supports it and lets these credentials use %s (store.s3.sse, store.s3.kms_key_id), and the access key and secret key",
		    what, cfg->bucket, cfg->sse, cfg->kms_key_id ? " (KMS key " : "", cfg->kms_key_id ? cfg->kms_key_id : "",
		    cfg->kms_key_id ? ")" : "", rs->status, *code ? " " : "", code, cfg->kms_key_id ? "the key" : "it");
	free(code);
	return r;
}

/* Remove what an upload that must not stand (encryption not confirmed) put in
 * the bucket; a failure is only a warning besides the sentence already given. */
static void delete_unconfirmed(struct s3_writer *w, int code)
{
	char what[512];
	struct s3_resp rs;
	struct s3_req rq = {.method = "DELETE", .key = w->key, .what = what, .uncancellable = true};
	char *why = rv_strdup(rv_errmsg(code));

	snprintf(what, sizeof(what), "deleting %s, whose encryption was not confirmed", w->name);
	int r = s3_request(&w->cl, &rq, &rs);
	if (r < 0 || (rs.status / 100 != 2 && rs.status != 404))
		rv_warn("could not delete %s from %s, whose server-side encryption was not confirmed; delete it by hand",
			w->name, w->s->url);
	s3_resp_free(&rs);
	rv_fail(code, "%s", why); /* the sentence that matters, not the delete's */
	free(why);
}

int put_begin_s3(struct store *st, const char *name, uint64_t expected_size, struct store_writer **out)
{
	struct s3_store *s = (struct s3_store *)st;
	struct s3_writer *w;
	int r = s3_store_check_name(s, name);
	if (r < 0)
		return r;
	w = rv_xcalloc(1, sizeof(*w));
	w->s = s;
	w->name = rv_strdup(name);
	w->key = s3_store_key(s, name);
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
	struct s3_req rq = {.method = "POST", .key = w->key, .query = q, .nquery = 1, .what = what, .creates = true};
	int r;

	snprintf(what, sizeof(what), "starting the upload of %s", w->name);
	r = refused_with_sse(w, &rs, s3_request_ok(&w->cl, &rq, &rs, what), what);
	if (r == 0) {
		struct s3_xml_span sp = {rs.body.data ? rs.body.data : "", rs.body.len};
		w->upload_id = s3_xml_get(sp, "UploadId");
		if (!w->upload_id || !*w->upload_id)
			r = rv_fail(-EIO, "S3 endpoint %s answered %s without an UploadId", s->cfg.endpoint, what);
	}
	if (r == 0 && (r = check_sse(w, rs.sse)) < 0) {
		/* before any part: the upload goes, nothing was sent */
		char *why = rv_strdup(rv_errmsg(r));
		s3_store_abort_upload(s, &w->cl, w->key, w->upload_id, w->name);
		rv_fail(r, "%s", why);
		free(why);
	}
	if (r < 0) {
		free(w->upload_id);
		w->upload_id = NULL;
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

int put_write_s3(struct store_writer *ww, const void *p, size_t n)
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

void s3_store_abort_upload(struct s3_store *s, struct s3_client *cl, const char *key, const char *upload_id,
			 const char *name)
{
	struct s3_query q[] = {{"uploadId", upload_id}};
	char what[512];
	struct s3_resp rs;
	/* not cut by a cancel: it is what a cancel leaves behind to clean up */
	struct s3_req rq = {.method = "DELETE", .key = key, .query = q, .nquery = 1, .what = what,
			    .uncancellable = true};

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
	drain(w);
	for (int i = 0; i < w->n_jobs; i++) {
		free(w->jobs[i].buf);
		s3_client_cleanup(&w->jobs[i].cl);
	}
	s3_client_cleanup(&w->cl);
	free(w->name);
	free(w->key);
	free(w->buf);
	free(w->upload_id);
	rv_buf_free(&w->parts);
	free(w);
}

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
	/* the commit: once asked, S3 may have published, so a cancel does not cut it */
	struct s3_req rq = {.method = "POST", .key = w->key, .query = q, .nquery = 1, .body = body.data,
			    .body_len = body.len, .sign_body = true, .content_type = "application/xml", .what = what,
			    .uncancellable = true};
	r = s3_request(&w->cl, &rq, &rs);
	if (r == 0) {
		char *code = s3_error_code(&rs);
		/* A retried complete whose first try succeeded finds no upload: the
		 * object is there if its size is right. */
		if (rs.status == 404 && !strcmp(code, "NoSuchUpload")) {
			struct store_object o = {0};
			if (s3_store_stat_key(s, w->name, &o, true, NULL) == 0 && o.size == w->total)
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
	/* the commit of a small object (see complete) */
	struct s3_req rq = {.method = "PUT", .key = w->key, .body = w->buf, .body_len = w->len, .what = what,
			    .uncancellable = true, .creates = true};
	r = refused_with_sse(w, &rs, s3_request_ok(&w->cl, &rq, &rs, what), what);
	if (r == 0 && (r = check_sse(w, rs.sse)) < 0)
		delete_unconfirmed(w, r);
	s3_resp_free(&rs);
	return r;
}

/* The last moment a cancel leaves nothing: the commit itself is not cut. */
static int check_cancel(struct s3_writer *w)
{
	if (!rv_cancelled(w->s->cfg.cancel))
		return 0;
	return rv_fail(-EINTR, "the upload of %s to %s was interrupted before it was published", w->name, w->s->url);
}

int put_commit_s3(struct store_writer *ww)
{
	struct s3_writer *w = (struct s3_writer *)ww;
	int r = w->failed;

	s3_store_forget_reads(w->s, w->name);
	if (r == 0 && w->base.next_name) {
		/* S3 would replace an object silently, and an upload cannot be renamed:
		 * a name another save took meanwhile fails here, before publishing
		 * (a check, not a lock: two completions in the same instant still race). */
		struct store_object o = {0};
		if (s3_store_stat_key(w->s, w->name, &o, false, NULL) == 0)
			r = rv_fail(-EEXIST, "%s was published in store %s by another save while this one ran, so this one was not published (nothing was replaced); run it again",
				    w->name, store_describe(&w->s->base));
		else
			rv_err_clear();
		free(o.name);
	}
	if (r == 0 && w->upload_id && w->nparts == 0 && w->len == 0) {
		/* nothing was written: S3 completes no upload without parts */
		s3_store_abort_upload(w->s, &w->cl, w->key, w->upload_id, w->name);
		free(w->upload_id);
		w->upload_id = NULL;
	}
	if (r == 0 && !w->upload_id) {
		r = check_cancel(w);
		if (r == 0)
			r = put_single(w);
	} else if (r == 0) {
		if (w->len)
			r = start_part(w);
		if (r == 0)
			r = finish_all(w);
		if (r == 0)
			r = check_cancel(w);
		if (r == 0)
			r = complete(w);
	}
	if (r == 0 && w->upload_id) {
		/* check what S3 assembled before calling it published */
		struct store_object o = {0};
		char sse[32] = "";
		r = s3_store_stat_key(w->s, w->name, &o, true, sse);
		if (r == 0 && o.size != w->total)
			r = rv_fail(-EIO, "S3 assembled %s with %llu bytes, but %llu were uploaded", w->name,
				    (unsigned long long)o.size, (unsigned long long)w->total);
		/* asked for at the start and confirmed then; the object must carry it too */
		if (r == 0 && (r = check_sse(w, sse)) < 0)
			delete_unconfirmed(w, r);
		free(o.name);
	}
	if (r < 0 && w->upload_id) {
		drain(w);
		s3_store_abort_upload(w->s, &w->cl, w->key, w->upload_id, w->name);
	}
	writer_free(w);
	return r;
}

void put_abort_s3(struct store_writer *ww)
{
	struct s3_writer *w = (struct s3_writer *)ww;
	if (w->upload_id) {
		drain(w);
		s3_store_abort_upload(w->s, &w->cl, w->key, w->upload_id, w->name);
	}
	writer_free(w);
}
