/* registry_status.c - every capability's state for `registry status`: what the
 * manifests say (type, version), what etcd holds under the prefix (type, version,
 * the health key and the lease it is under), and who keeps each heartbeat (the
 * claims). Reads only. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registry/registry.h"

#define PAGE 500

/* What etcd holds for one namespace. */
struct seen {
	char *ns;
	char *type, *version, *health_json, *owner;
	int64_t health_lease;
	bool any; /* a capability key (not just a claim) */
};

struct seen_set {
	struct seen *v;
	size_t n, cap;
};

static struct seen *seen_get(struct seen_set *s, const char *ns, size_t len)
{
	/* keys come in order, so the namespace is most often the last one */
	if (s->n && strlen(s->v[s->n - 1].ns) == len && memcmp(s->v[s->n - 1].ns, ns, len) == 0)
		return &s->v[s->n - 1];
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->v[i].ns) == len && memcmp(s->v[i].ns, ns, len) == 0)
			return &s->v[i];
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = rv_xrealloc(s->v, s->cap * sizeof *s->v);
	}
	struct seen *e = &s->v[s->n++];
	memset(e, 0, sizeof *e);
	e->ns = rv_xmalloc(len + 1);
	memcpy(e->ns, ns, len);
	e->ns[len] = 0;
	return e;
}

static char *dup_n(const uint8_t *p, size_t n)
{
	char *s = rv_xmalloc(n + 1);
	memcpy(s, p, n);
	s[n] = 0;
	return s;
}

struct walk {
	struct seen_set *set;
	size_t skip; /* the prefix and its '/' */
	bool claims;
};

static int on_kv(const struct etcd_kv *kv, void *ud)
{
	struct walk *w = ud;
	if (kv->key_len <= w->skip)
		return 0;
	const char *rest = (const char *)kv->key + w->skip;
	size_t len = kv->key_len - w->skip;
	if (w->claims) { /* <state_prefix>/heartbeat/<ns> */
		if (memchr(rest, '/', len))
			return 0;
		struct seen *e = seen_get(w->set, rest, len);
		json_t *j = json_loadb((const char *)kv->value, kv->value_len, 0, NULL);
		const char *o = j ? json_string_value(json_object_get(j, "owner")) : NULL;
		free(e->owner);
		e->owner = o ? rv_strdup(o) : dup_n(kv->value, kv->value_len);
		json_decref(j);
		return 0;
	}
	const char *slash = memchr(rest, '/', len);
	if (!slash || slash == rest)
		return 0;
	size_t ns_len = (size_t)(slash - rest);
	const char *leaf = slash + 1;
	size_t leaf_len = len - ns_len - 1;
#define LEAF(name) (leaf_len == strlen(name) && memcmp(leaf, name, leaf_len) == 0)
	if (!LEAF("type") && !LEAF("version") && !LEAF("health") && !LEAF("metadata") && !LEAF("dependencies"))
		return 0;
	struct seen *e = seen_get(w->set, rest, ns_len);
	e->any = true;
	if (LEAF("type")) {
		free(e->type);
		e->type = dup_n(kv->value, kv->value_len);
	} else if (LEAF("version")) {
		free(e->version);
		e->version = dup_n(kv->value, kv->value_len);
	} else if (LEAF("health")) {
		free(e->health_json);
		e->health_json = dup_n(kv->value, kv->value_len);
		e->health_lease = kv->lease;
	}
#undef LEAF
	return 0;
}

static int read_prefix(etcd_client *c, const char *prefix, struct walk *w)
{
	char *p = NULL;
	if (asprintf(&p, "%s/", prefix) < 0)
		return rv_fail(-ENOMEM, "out of memory");
	size_t end_len;
	uint8_t *end = etcd_prefix_end(p, strlen(p), &end_len);
	struct etcd_range_req rq = {.key = p, .key_len = strlen(p), .range_end = end, .range_end_len = end_len};
	w->skip = strlen(p);
	int r = etcd_range_each(c, ETCD_ANY, &rq, PAGE, on_kv, w, NULL);
	if (r < 0)
		r = rv_fail_wrap(r, "cannot read the keys under %s", p);
	free(p);
	free(end);
	return r;
}

static const char *type_name(const char *s)
{
	if (s && strcmp(s, "service") == 0)
		return "service";
	if (s && strcmp(s, "pattern") == 0)
		return "pattern";
	return "";
}

static int cmp_seen(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->ns, ((const struct seen *)b)->ns);
}

static struct seen *seen_find(struct seen_set *s, const char *ns)
{
	struct seen key = {.ns = (char *)ns};
	return s->n ? bsearch(&key, s->v, s->n, sizeof *s->v, cmp_seen) : NULL;
}

static int cmp_row(const void *a, const void *b)
{
	return strcmp(((const struct registry_status_row *)a)->ns, ((const struct registry_status_row *)b)->ns);
}

/* The health key's fields into the row. */
static void fill_health(etcd_client *c, const struct registry_status_opts *o, const struct seen *e,
			struct registry_status_row *row)
{
	json_t *j = json_loads(e->health_json, 0, NULL);
	const char *status = j ? json_string_value(json_object_get(j, "status")) : NULL;
	const char *ts = j ? json_string_value(json_object_get(j, "timestamp")) : NULL;
	const char *detail = j ? json_string_value(json_object_get(j, "detail")) : NULL;
	json_t *count = j ? json_object_get(j, "heartbeat_count") : NULL;
	int64_t t;
	row->health = status && strcmp(status, "healthy") == 0 ? "healthy" : "unhealthy";
	if (!status || (strcmp(status, "healthy") && strcmp(status, "unhealthy")))
		row->detail = rv_strdup(status ? status : "the health key is not the heartbeat's JSON");
	else if (detail)
		row->detail = rv_strdup(detail);
	if (ts) {
		row->timestamp = rv_strdup(ts);
		if (rv_parse_rfc3339(ts, &t) == 0) {
			row->heartbeat_age_s = (double)(rv_now_unix_ms() - t * 1000) / 1000;
			if (row->heartbeat_age_s < 0)
				row->heartbeat_age_s = 0;
		}
	}
	if (json_is_integer(count))
		row->heartbeat_count = (int64_t)json_integer_value(count);
	/* no timestamp, or one older than the lease would live without renewal */
	if (isnan(row->heartbeat_age_s) || row->heartbeat_age_s * 1000 > (double)o->stale_after_ms)
		row->health = "stale";
	if (e->health_lease) {
		int64_t ttl = -1, granted = 0;
		if (etcd_lease_time_to_live(c, e->health_lease, &ttl, &granted) == 0)
			row->lease_ttl_s = ttl;
		rv_err_clear();
	}
	json_decref(j);
}

int registry_status_collect(etcd_client *c, const struct registry_status_opts *o, const struct manifest_set *ms,
			    struct registry_status_row **rows_out, size_t *n_out, bool *ok_out)
{
	struct seen_set set = {0};
	struct walk w = {.set = &set};
	int r = read_prefix(c, o->prefix, &w);
	if (r == 0 && o->state_prefix) {
		char *claims = NULL;
		if (asprintf(&claims, "%s/heartbeat", o->state_prefix) < 0)
			abort();
		w.claims = true;
		r = read_prefix(c, claims, &w);
		free(claims);
	}
	*rows_out = NULL;
	*n_out = 0;
	*ok_out = false;
	size_t n_ms = ms ? ms->n_caps : 0;
	struct registry_status_row *rows = rv_xcalloc(set.n + n_ms + 1, sizeof *rows);
	size_t n = 0;
	if (r < 0)
		goto out;
	if (set.n)
		qsort(set.v, set.n, sizeof *set.v, cmp_seen);
	for (size_t i = 0; i < n_ms; i++) {
		const struct capability *cap = &ms->caps[i];
		struct registry_status_row *row = &rows[n++];
		row->ns = rv_strdup(cap->ns);
		row->type = capability_type_name(cap->type);
		row->version = rv_strdup(cap->version);
		row->in_manifests = true;
	}
	/* the manifests' rows are sorted (manifest_load_dir sorts by namespace) */
	if (n)
		qsort(rows, n, sizeof *rows, cmp_row);
	for (size_t i = 0; i < set.n; i++) {
		struct seen *e = &set.v[i];
		struct registry_status_row key = {.ns = e->ns};
		struct registry_status_row *row = n_ms ? bsearch(&key, rows, n_ms, sizeof *rows, cmp_row) : NULL;
		if (!row && !e->any)
			continue; /* a claim alone: a heartbeat kept under another prefix */
		if (!row) {
			row = &rows[n++];
			row->ns = rv_strdup(e->ns);
			row->type = type_name(e->type);
			row->version = rv_strdup(e->version);
		}
		row->in_etcd = e->any;
		if (e->owner)
			row->kept_by = rv_strdup(e->owner);
	}
	/* health, now that every row is there */
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		struct registry_status_row *row = &rows[i];
		row->heartbeat_age_s = NAN;
		row->lease_ttl_s = -1;
		row->heartbeat_count = -1;
		const struct seen *e = seen_find(&set, row->ns);
		if (e && e->health_json)
			fill_health(c, o, e, row);
		else
			row->health = strcmp(row->type, "service") == 0 ? "missing" : "-";
		bool heartbeated = strcmp(row->type, "service") == 0 || (e && e->health_json);
		if (heartbeated && strcmp(row->health, "healthy") != 0)
			ok = false;
	}
	if (n)
		qsort(rows, n, sizeof *rows, cmp_row);
	*ok_out = ok;
	*rows_out = rows;
	*n_out = n;
	rows = NULL;
out:
	if (rows)
		registry_status_rows_free(rows, n);
	for (size_t i = 0; i < set.n; i++) {
		free(set.v[i].ns);
		free(set.v[i].type);
		free(set.v[i].version);
		free(set.v[i].health_json);
		free(set.v[i].owner);
	}
	free(set.v);
	return r;
}

void registry_status_rows_free(struct registry_status_row *rows, size_t n)
{
	if (!rows)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].ns);
		free(rows[i].version);
		free(rows[i].detail);
		free(rows[i].timestamp);
		free(rows[i].kept_by);
	}
	free(rows);
}
