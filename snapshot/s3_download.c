/* s3_download.c - stat and reads of the S3 store: small sequential reads
 * through an 8 MiB read-ahead, large sequential ones (a restore reading its
 * artifact) fetched ahead parts_in_flight ranges at once, each read after an
 * object's first pinned to its ETag. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/s3_store.h"

#define RA_SIZE (8 * MiB)
#define RA_MAX_READ (1 * MiB) /* larger reads are few already: straight through */

/* A HEAD answer has no body; ask again with a 1-byte GET to learn S3's error code. */
static int explain_missing(struct s3_store *s, const char *key, const char *name, const char *what,
			   bool uncancellable)
{
	struct s3_resp rs;
	struct s3_req rq = {.method = "GET", .key = key, .ranged = true, .range_start = 0, .range_end = 0,
			    .what = what, .uncancellable = uncancellable};
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

int s3_store_stat_key(struct s3_store *s, const char *name, struct store_object *out, bool uncancellable,
		      char sse[32])
{
	char *key = s3_store_key(s, name);
	char what[512];
	struct s3_resp rs;
	int r;

	snprintf(what, sizeof(what), "looking up %s", name);
	struct s3_req rq = {.method = "HEAD", .key = key, .what = what, .uncancellable = uncancellable};
	r = s3_request(&s->cl, &rq, &rs);
	if (r == 0 && rs.status / 100 != 2) {
		r = explain_missing(s, key, name, what, uncancellable);
	} else if (r == 0) {
		out->name = rv_strdup(name);
		out->size = rs.have_length ? rs.content_length : 0;
		out->mtime = rs.last_modified;
		if (sse)
			snprintf(sse, 32, "%s", rs.sse);
	}
	s3_resp_free(&rs);
	free(key);
	return r;
}

int stat_s3(struct store *st, const char *name, struct store_object *out)
{
	struct s3_store *s = (struct s3_store *)st;
	int r = s3_store_check_name(s, name);
	memset(out, 0, sizeof(*out));
	return r < 0 ? r : s3_store_stat_key(s, name, out, false, NULL);
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
	char *key = s3_store_key(s, name);
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
void s3_store_forget_reads(struct s3_store *s, const char *name)
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

int get_s3(struct store *st, const char *name, uint64_t offset, uint64_t len, store_read_cb cb, void *ud)
{
	struct s3_store *s = (struct s3_store *)st;
	struct s3_resp rs;
	int r = s3_store_check_name(s, name);

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

void s3_store_reads_free(struct s3_store *s)
{
	pf_drop(s);
	free(s->seq_name);
	s->seq_name = NULL;
	ra_drop(s, NULL);
	free(s->ra.buf);
	s->ra.buf = NULL;
	s->ra.cap = 0;
}

/* ---- several small objects at once ---- */

#define GET_MANY_THREADS 8 /* small GETs wait on latency, not bandwidth */

struct get_many {
	struct s3_store *s;
	struct store_fetch *items;
	size_t n, next;
	pthread_mutex_t mu;
};

static void *get_many_thread(void *arg)
{
	struct get_many *g = arg;
	struct s3_client cl;

	s3_client_init(&cl, &g->s->cfg);
	for (;;) {
		struct store_fetch *f;
		struct s3_resp rs;
		pthread_mutex_lock(&g->mu);
		f = g->next < g->n ? &g->items[g->next++] : NULL;
		pthread_mutex_unlock(&g->mu);
		if (!f)
			break;
		f->result = s3_store_check_name(g->s, f->name);
		if (f->result == 0) {
			f->result = get_range(g->s, &cl, f->name, 0, 0, store_fetch_sink, f, NULL, &rs);
			s3_resp_free(&rs);
		}
		if (f->result < 0) {
			f->error = rv_strdup(rv_errmsg(f->result));
			rv_err_clear();
		}
	}
	s3_client_cleanup(&cl);
	return NULL;
}

int get_many_s3(struct store *st, struct store_fetch *items, size_t n)
{
	struct get_many g = {.s = (struct s3_store *)st, .items = items, .n = n};
	pthread_t th[GET_MANY_THREADS];
	size_t want = n < GET_MANY_THREADS ? n : GET_MANY_THREADS, started = 0;

	pthread_mutex_init(&g.mu, NULL);
	while (started < want && pthread_create(&th[started], NULL, get_many_thread, &g) == 0)
		started++;
	if (started == 0)
		get_many_thread(&g); /* no thread to be had: all here */
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&g.mu);
	return 0;
}

