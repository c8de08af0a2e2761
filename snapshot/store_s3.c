/* store_s3.c - the store on S3-compatible object storage: s3://bucket/prefix.
 * Configuration, listing, deletion and cleanup of unfinished uploads here;
 * writers in s3_upload.c, reads in s3_download.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/s3_store.h"
#include "snapshot/s3_xml.h"

#define MAX_ATTEMPTS 6
#define CLEANUP_AGE_S 3600      /* unfinished uploads younger than this may be a running save */

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

const char *store_s3_sse_problem(const char *sse, const char *kms_key_id)
{
	if (sse && strcmp(sse, "AES256") != 0 && strcmp(sse, "aws:kms") != 0)
		return "store.s3.sse must be AES256 or aws:kms";
	if (kms_key_id && (!sse || strcmp(sse, "aws:kms") != 0))
		return "store.s3.kms_key_id goes only with store.s3.sse: aws:kms";
	if (kms_key_id && !*kms_key_id)
		return "store.s3.kms_key_id is empty; name the KMS key or leave the key out for the bucket's default";
	return NULL;
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
	free(c->sse);
	free(c->kms_key_id);
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
	const char *sse_problem = store_s3_sse_problem(o->sse, o->kms_key_id);
	if (sse_problem)
		return rv_fail(-EINVAL, "%s", sse_problem);
	c->sse = o->sse ? rv_strdup(o->sse) : NULL;
	c->kms_key_id = o->kms_key_id ? rv_strdup(o->kms_key_id) : NULL;
	c->timeout_s = o->timeout_s > 0 ? o->timeout_s : 300;
	c->max_attempts = MAX_ATTEMPTS;
#ifdef RV_TEST_HOOKS
	const char *env_attempts = getenv("REGVAULT_S3_MAX_ATTEMPTS"); /* tests of giving up */
	if (env_attempts && atoi(env_attempts) > 0)
		c->max_attempts = atoi(env_attempts);
#endif

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

/* Reads ahead run between calls on threads that look at the token: stopped
 * first, so no thread reads it while it changes. */
static void set_cancel_s3(struct store *st, const struct rv_cancel *c)
{
	struct s3_store *s = (struct s3_store *)st;
	s3_store_reads_free(s);
	s->cfg.cancel = c;
}

static void close_s3(struct store *st)
{
	struct s3_store *s = (struct s3_store *)st;
	s3_store_reads_free(s);
	s3_client_cleanup(&s->cl);
	cfg_free(&s->cfg);
	free(s->url);
	free(s);
}

int s3_store_check_name(struct s3_store *s, const char *name)
{
	if (!name || !*name || name[0] == '/' || strlen(name) > 900)
		return rv_fail(-EINVAL, "'%s' is not a valid object name in %s", name ? name : "", s->url);
	return 0;
}

char *s3_store_key(struct s3_store *s, const char *name)
{
	struct rv_buf b = {0};
	rv_buf_printf(&b, "%s%s", s->cfg.prefix, name);
	return b.data;
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

static int list_s3(struct store *st, const char *prefix, const char *start_after, struct store_object **objs,
		   size_t *n)
{
	struct s3_store *s = (struct s3_store *)st;
	struct store_object *v = NULL;
	size_t cnt = 0, cap = 0, plen = strlen(s->cfg.prefix);
	char *token = NULL, what[512], *key_prefix = NULL, *after = NULL;
	int r = 0;

	if (asprintf(&key_prefix, "%s%s", s->cfg.prefix, prefix ? prefix : "") < 0 ||
	    (start_after && asprintf(&after, "%s%s", s->cfg.prefix, start_after) < 0))
		abort();
	snprintf(what, sizeof(what), "listing %s%s", s->url, prefix ? prefix : "");
	for (;;) {
		struct s3_query q[6] = {{"list-type", "2"},
					{"prefix", key_prefix},
					{"max-keys", "1000"},
					{"encoding-type", "url"}};
		size_t nq = 4;
		if (after && !token) /* the continuation token carries it on */
			q[nq++] = (struct s3_query){"start-after", after};
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
	free(key_prefix);
	free(after);
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
	int r = s3_store_check_name(s, name);

	if (r == 0)
		r = s3_store_stat_key(s, name, &o, false, NULL); /* S3 deletes missing objects silently; say so instead */
	free(o.name);
	if (r < 0)
		return r;
	s3_store_forget_reads(s, name);
	key = s3_store_key(s, name);
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
	bool age_from_test = false;
	int r = 0, aborted = 0;

#ifdef RV_TEST_HOOKS
	const char *env_age = getenv("REGVAULT_S3_CLEANUP_AGE_S"); /* tests of cleaning up */
	if (env_age && *env_age) {
		age = atoll(env_age);
		age_from_test = true;
	}
#endif
	if (age < 2LL * s->cfg.timeout_s && !age_from_test)
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
				s3_store_abort_upload(s, &s->cl, k, id, k);
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
	.get_many = get_many_s3,
	.list = list_s3,
	.del = del_s3,
	.cleanup = cleanup_s3,
	.set_cancel = set_cancel_s3,
};
