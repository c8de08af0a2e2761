/* manifest.c - manifest.json <-> struct snap_manifest (jansson). cluster_id and
 * member_id are 16-digit hex strings, as etcdctl prints them: a JSON integer in
 * jansson is signed 64-bit and many etcd ids are above 2^63. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

static const char *hex_id(uint64_t id, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)id);
	return out;
}

/* An id as a 16-digit hex string (etcd's own notation; JSON integers cannot hold
 * every uint64), or an integer. */
static int get_id(json_t *o, const char *key, uint64_t *dst, const char *where)
{
	json_t *v = json_object_get(o, key);
	char *end;
	if (v && json_is_integer(v)) {
		*dst = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!v || !json_is_string(v) || !*json_string_value(v))
		return rv_fail(-EBADMSG, "the manifest of %s lacks \"%s\"", where, key);
	*dst = strtoull(json_string_value(v), &end, 16);
	if (*end)
		return rv_fail(-EBADMSG, "the manifest of %s has a bad \"%s\"", where, key);
	return 0;
}

char *snap_manifest_to_json(const struct snap_manifest *m, bool complete)
{
	json_t *o = json_object();
	char cid[17], mid[17];
	char *text;

	json_object_set_new(o, "format", json_integer(m->format));
	json_object_set_new(o, "regvault_version", json_string(m->regvault_version));
	json_object_set_new(o, "cluster_name", json_string(m->cluster_name));
	json_object_set_new(o, "cluster_id", json_string(hex_id(m->cluster_id, cid)));
	json_object_set_new(o, "member_name", json_string(m->member_name));
	json_object_set_new(o, "member_id", json_string(hex_id(m->member_id, mid)));
	json_object_set_new(o, "etcd_version", json_string(m->etcd_version));
	json_object_set_new(o, "revision", json_integer(m->revision));
	json_object_set_new(o, "raft_term", json_integer((json_int_t)m->raft_term));
	json_object_set_new(o, "raft_index", json_integer((json_int_t)m->raft_index));
	json_object_set_new(o, "db_size", json_integer(m->db_size));
	json_object_set_new(o, "db_size_in_use", json_integer(m->db_size_in_use));
	json_object_set_new(o, "sha256", complete ? json_string(m->sha256) : json_null());
	json_object_set_new(o, "compression", json_string(m->compression));
	json_object_set_new(o, "created_at", json_string(m->created_at));
	json_object_set_new(o, "duration_s", complete ? json_real(m->duration_s) : json_null());
	json_object_set_new(o, "tag", m->tag[0] ? json_string(m->tag) : json_null());
	if (m->quorum >= 0)
		json_object_set_new(o, "quorum", json_boolean(m->quorum));
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!text)
		abort();
	/* One trailing newline, like any text file. */
	{
		size_t l = strlen(text);
		char *t = rv_xmalloc(l + 2);
		memcpy(t, text, l);
		t[l] = '\n';
		t[l + 1] = '\0';
		free(text);
		text = t;
	}
	return text;
}

static int get_str(json_t *o, const char *key, char *dst, size_t len, bool required, const char *where)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v)) {
		dst[0] = '\0';
		return required ? rv_fail(-EBADMSG, "the manifest of %s lacks \"%s\"", where, key) : 0;
	}
	if (!json_is_string(v) || strlen(json_string_value(v)) >= len)
		return rv_fail(-EBADMSG, "the manifest of %s has a bad \"%s\"", where, key);
	snprintf(dst, len, "%s", json_string_value(v));
	return 0;
}

static int get_int(json_t *o, const char *key, int64_t *dst, const char *where)
{
	json_t *v = json_object_get(o, key);
	if (!v || !json_is_integer(v))
		return rv_fail(-EBADMSG, "the manifest of %s lacks the integer \"%s\"", where, key);
	*dst = json_integer_value(v);
	return 0;
}

int snap_manifest_from_json(const char *text, size_t len, const char *where, struct snap_manifest *m)
{
	json_error_t jerr;
	json_t *o = json_loadb(text, len, 0, &jerr);
	int64_t v = 0;
	int r = 0;

	memset(m, 0, sizeof *m);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return rv_fail(-EBADMSG, "the manifest of %s is not valid JSON (line %d: %s)", where, jerr.line,
			       jerr.text);
	}
	if ((r = get_int(o, "format", &v, where)) < 0)
		goto out;
	m->format = (int)v;
	if (m->format != SNAP_FORMAT) {
		r = rv_fail(-EBADMSG, "the manifest of %s has format %d; this regvault reads format %d", where,
			    m->format, SNAP_FORMAT);
		goto out;
	}
#define INT_FIELD(key, dst, type)                                 \
	do {                                                      \
		if ((r = get_int(o, key, &v, where)) < 0)          \
			goto out;                                 \
		m->dst = (type)v;                                 \
	} while (0)
	if ((r = get_id(o, "cluster_id", &m->cluster_id, where)) < 0 ||
	    (r = get_id(o, "member_id", &m->member_id, where)) < 0)
		goto out;
	INT_FIELD("revision", revision, int64_t);
	INT_FIELD("raft_term", raft_term, uint64_t);
	INT_FIELD("raft_index", raft_index, uint64_t);
	INT_FIELD("db_size", db_size, int64_t);
	INT_FIELD("db_size_in_use", db_size_in_use, int64_t);
#undef INT_FIELD
	if ((r = get_str(o, "regvault_version", m->regvault_version, sizeof m->regvault_version, false, where)) < 0 ||
	    (r = get_str(o, "cluster_name", m->cluster_name, sizeof m->cluster_name, true, where)) < 0 ||
	    (r = get_str(o, "member_name", m->member_name, sizeof m->member_name, false, where)) < 0 ||
	    (r = get_str(o, "etcd_version", m->etcd_version, sizeof m->etcd_version, false, where)) < 0 ||
	    (r = get_str(o, "sha256", m->sha256, sizeof m->sha256, false, where)) < 0 ||
	    (r = get_str(o, "compression", m->compression, sizeof m->compression, true, where)) < 0 ||
	    (r = get_str(o, "created_at", m->created_at, sizeof m->created_at, true, where)) < 0 ||
	    (r = get_str(o, "tag", m->tag, sizeof m->tag, false, where)) < 0)
		goto out;
	{
		int64_t t;
		if (rv_parse_rfc3339(m->created_at, &t) < 0) {
			r = rv_fail(-EBADMSG, "the manifest of %s has a bad created_at \"%s\"", where, m->created_at);
			goto out;
		}
	}
	if (m->sha256[0] && strlen(m->sha256) != 64) {
		r = rv_fail(-EBADMSG, "the manifest of %s has a bad sha256", where);
		goto out;
	}
	{
		json_t *d = json_object_get(o, "duration_s");
		m->duration_s = d && json_is_number(d) ? json_number_value(d) : 0;
	}
	{
		json_t *q = json_object_get(o, "quorum");
		if (q && !json_is_boolean(q) && !json_is_null(q)) {
			r = rv_fail(-EBADMSG, "the manifest of %s has a bad \"quorum\"", where);
			goto out;
		}
		m->quorum = q && json_is_boolean(q) ? json_is_true(q) : -1;
	}
out:
	json_decref(o);
	return r;
}
