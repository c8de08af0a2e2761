/* capability_manifest.c - capability manifests: one YAML file per capability, read
 * with libyaml's document API (so every problem names its line) into struct
 * capability, whose metadata and dependencies are already the compact JSON the
 * sync writes into etcd. The format: docs/reference/registry.md. A directory of
 * them: manifest_dir.c. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "registry/registry.h"
#include "registry/manifest_impl.h"

/* Aliases let a small file expand into a huge tree ("billion laughs"): the JSON
 * made from metadata is bounded in nodes and depth. */
#define METADATA_MAX_NODES 100000
#define METADATA_MAX_DEPTH 64
#define HEALTH_TIMEOUT_DEFAULT_MS 5000
#define HEALTH_TIMEOUT_MAX_MS (10 * 60 * 1000)
/* Metadata and dependencies as etcd keeps them: the same bytes for the same file,
 * so an unchanged manifest compares equal to what the last pass wrote. */
#define JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

const char *capability_type_name(enum capability_type t)
{
	return t == CAPABILITY_SERVICE ? "service" : "pattern";
}

bool capability_namespace_valid(const char *ns)
{
	if (!ns || !*ns)
		return false;
	const char *p = ns;
	for (;;) {
		if (!(*p >= 'a' && *p <= 'z'))
			return false;
		p++;
		while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')
			p++;
		if (*p == 0)
			return p - ns < 200; /* keys stay short; heartbeat_stat.ns holds 256 */
		if (*p != '.')
			return false;
		p++;
	}
}

/* ---- one manifest ---- */

struct parse {
	yaml_document_t doc;
	struct manifest_problem *problem;
	size_t nodes; /* metadata nodes converted so far */
};

static unsigned node_line(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.line + 1 : 1;
}

/* Fill the problem (the first one wins) and return -EINVAL. */
static int problem(struct parse *p, unsigned line, const char *fmt, ...) RV_PRINTF(3, 4);
static int problem(struct parse *p, unsigned line, const char *fmt, ...)
{
	if (!p->problem->what) {
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(&p->problem->what, fmt, ap) < 0)
			p->problem->what = NULL;
		va_end(ap);
		p->problem->line = line;
	}
	return -EINVAL;
}

static const char *scalar_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n)
{
	if (!is_plain(n))
		return false;
	const char *s = scalar_text(n);
	return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	       strcmp(s, "NULL") == 0;
}

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return is_null(n) ? "empty" : "a single value";
	}
}

/* A non-empty scalar's text, or a problem naming the key. */
static int want_string(struct parse *p, const yaml_node_t *n, const char *key, const char **out)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return problem(p, node_line(n), "%s must be a single value, not %s", key, kind(n));
	*out = scalar_text(n);
	return 0;
}

/* The default namespace: the file's base name without .yaml or .yml (malloc'd). */
char *manifest_default_namespace(const char *file)
{
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	size_t n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
		n -= 5;
	else if (n > 4 && strcmp(base + n - 4, ".yml") == 0)
		n -= 4;
	char *s = rv_xmalloc(n + 1);
	memcpy(s, base, n);
	s[n] = 0;
	return s;
}

/* ---- metadata: YAML to JSON ---- */

/* YAML 1.2's core schema for plain scalars: null, booleans, integers, floats;
 * anything else (and every quoted scalar) is a string. */
static json_t *plain_scalar_json(const char *s)
{
	if (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
		return json_null();
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
		return json_true();
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
		return json_false();
	const char *d = s + (*s == '-' || *s == '+');
	if (*d && strspn(d, "0123456789") == strlen(d)) {
		errno = 0;
		char *end;
		long long v = strtoll(s, &end, 10);
		if (errno == 0 && !*end)
			return json_integer(v);
		/* too large for an integer: a number all the same */
	}
	/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
	const char *q = d;
	size_t intd = strspn(q, "0123456789");
	q += intd;
	size_t fracd = 0;
	if (*q == '.') {
		q++;
		fracd = strspn(q, "0123456789");
		q += fracd;
	}
	if (intd + fracd > 0 && (*q == 'e' || *q == 'E')) {
		const char *e = q + 1;
		e += (*e == '-' || *e == '+');
		size_t expd = strspn(e, "0123456789");
		if (expd)
			q = e + expd;
	}
	if (intd + fracd > 0 && !*q) {
		double v = strtod(s, NULL);
		if (isfinite(v))
			return json_real(v);
	}
	return json_string(s); /* .inf and .nan too: JSON has no such numbers */
}

static int node_json(struct parse *p, yaml_node_t *n, int depth, json_t **out);

static int mapping_json(struct parse *p, yaml_node_t *n, int depth, json_t **out)
{
	json_t *o = json_object();
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(&p->doc, pr->value);
		if (!k || !v || k->type != YAML_SCALAR_NODE) {
			json_decref(o);
			return problem(p, node_line(k), "metadata keys must be single values, not %s",
				       k ? kind(k) : "nothing");
		}
		const char *key = scalar_text(k);
		if (json_object_get(o, key)) {
			json_decref(o);
			return problem(p, node_line(k), "metadata has the key '%s' twice", key);
		}
		json_t *jv;
		int r = node_json(p, v, depth + 1, &jv);
		if (r < 0) {
			json_decref(o);
			return r;
		}
		json_object_set_new(o, key, jv);
	}
	*out = o;
	return 0;
}

static int node_json(struct parse *p, yaml_node_t *n, int depth, json_t **out)
{
	if (++p->nodes > METADATA_MAX_NODES)
		return problem(p, node_line(n), "metadata is too large (more than %d values, aliases counted)",
			       METADATA_MAX_NODES);
	if (depth > METADATA_MAX_DEPTH)
		return problem(p, node_line(n), "metadata is nested more than %d levels deep", METADATA_MAX_DEPTH);
	switch (n->type) {
	case YAML_SCALAR_NODE:
		*out = is_plain(n) ? plain_scalar_json(scalar_text(n)) : json_string(scalar_text(n));
		if (!*out) /* jansson refuses text that is not UTF-8 */
			return problem(p, node_line(n), "metadata holds text that is not valid UTF-8");
		return 0;
	case YAML_SEQUENCE_NODE: {
		json_t *a = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			json_t *jv;
			int r = node_json(p, yaml_document_get_node(&p->doc, *it), depth + 1, &jv);
			if (r < 0) {
				json_decref(a);
				return r;
			}
			json_array_append_new(a, jv);
		}
		*out = a;
		return 0;
	}
	case YAML_MAPPING_NODE:
		return mapping_json(p, n, depth, out);
	default:
		return problem(p, node_line(n), "metadata holds an empty node");
	}
}

static int parse_metadata(struct parse *p, yaml_node_t *v, struct capability *c)
{
	json_t *o;
	if (is_null(v))
		o = json_object();
	else if (v->type != YAML_MAPPING_NODE)
		return problem(p, node_line(v), "metadata must be a mapping (such as title: ..., creator: ...), not %s",
			       kind(v));
	else {
		int r = mapping_json(p, v, 0, &o);
		if (r < 0)
			return r;
	}
	c->metadata_json = json_dumps(o, JSON_FLAGS);
	json_decref(o);
	return c->metadata_json ? 0 : problem(p, node_line(v), "metadata cannot be written as JSON");
}

/* ---- dependencies ---- */

static int parse_dependency(struct parse *p, yaml_node_t *n, struct capability_dep *d)
{
	const char *text;
	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return problem(p, node_line(n),
			       "a dependency must be a namespace with an optional range (such as "
			       "'chora.base.core >=2.0.0 <3.0.0'), not %s",
			       kind(n));
	text = scalar_text(n);
	while (isspace((unsigned char)*text))
		text++;
	size_t nl = strcspn(text, " \t");
	d->ns = rv_xmalloc(nl + 1);
	memcpy(d->ns, text, nl);
	d->ns[nl] = 0;
	if (!capability_namespace_valid(d->ns))
		return problem(p, node_line(n),
			       "dependency '%s': '%s' is not a namespace (dotted lower-case words such as "
			       "chora.base.core)",
			       text, d->ns);
	const char *range = text + nl;
	while (isspace((unsigned char)*range))
		range++;
	if (*range) {
		size_t rl = strlen(range);
		while (rl && isspace((unsigned char)range[rl - 1]))
			rl--;
		d->range = rv_xmalloc(rl + 1);
		memcpy(d->range, range, rl);
		d->range[rl] = 0;
		int r = semver_range_check(d->range);
		if (r < 0) {
			problem(p, node_line(n), "dependency %s: %s", d->ns, rv_errmsg(r));
			rv_err_clear();
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_dependencies(struct parse *p, yaml_node_t *v, struct capability *c)
{
	json_t *a = json_array();
	int r = 0;
	if (!is_null(v) && v->type != YAML_SEQUENCE_NODE) {
		r = problem(p, node_line(v),
			    "dependencies must be a list (- chora.base.core >=2.0.0 <3.0.0), not %s", kind(v));
		goto out;
	}
	if (v->type == YAML_SEQUENCE_NODE) {
		size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
		c->deps = rv_xcalloc(n ? n : 1, sizeof *c->deps);
		for (size_t i = 0; i < n; i++) {
			yaml_node_t *it = yaml_document_get_node(&p->doc, v->data.sequence.items.start[i]);
			struct capability_dep *d = &c->deps[c->n_deps++];
			if ((r = parse_dependency(p, it, d)) < 0)
				goto out;
			for (size_t j = 0; j + 1 < c->n_deps; j++)
				if (strcmp(c->deps[j].ns, d->ns) == 0) {
					r = problem(p, node_line(it), "dependency %s is listed twice; join the ranges in one",
						    d->ns);
					goto out;
				}
			json_t *o = json_object();
			json_object_set_new(o, "namespace", json_string(d->ns));
			json_object_set_new(o, "range", d->range ? json_string(d->range) : json_null());
			json_array_append_new(a, o);
		}
	}
	c->dependencies_json = json_dumps(a, JSON_FLAGS);
	if (!c->dependencies_json)
		r = problem(p, node_line(v), "dependencies cannot be written as JSON");
out:
	json_decref(a);
	return r;
}

/* ---- chora_service and its health check ---- */

static int parse_command(struct parse *p, yaml_node_t *v, struct health_check *hc)
{
	if (v->type != YAML_SEQUENCE_NODE)
		return problem(p, node_line(v),
			       "health_check.command must be a list of arguments (such as [pg_isready, -q]), not %s; it "
			       "runs without a shell",
			       kind(v));
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n == 0)
		return problem(p, node_line(v), "health_check.command is an empty list; it needs the program at least");
	hc->argv = rv_xcalloc(n + 1, sizeof *hc->argv);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = yaml_document_get_node(&p->doc, v->data.sequence.items.start[i]);
		if (it->type != YAML_SCALAR_NODE)
			return problem(p, node_line(it), "health_check.command's arguments must be single values, not %s",
				       kind(it));
		hc->argv[i] = rv_strdup(scalar_text(it));
		hc->argc++;
	}
	if (!*hc->argv[0])
		return problem(p, node_line(v), "health_check.command starts with an empty program name");
	return 0;
}

static int parse_health_check(struct parse *p, yaml_node_t *v, struct health_check *hc)
{
	hc->timeout_ms = HEALTH_TIMEOUT_DEFAULT_MS;
	if (v->type != YAML_MAPPING_NODE)
		return problem(p, node_line(v),
			       "chora_service.health_check must be a mapping (http: URL or command: [...], and timeout), "
			       "not %s",
			       kind(v));
	for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
		yaml_node_t *val = yaml_document_get_node(&p->doc, pr->value);
		const char *key = k->type == YAML_SCALAR_NODE ? scalar_text(k) : "";
		const char *s = "";
		int r;
		if (strcmp(key, "http") == 0 || strcmp(key, "command") == 0) {
			if (hc->kind != HEALTH_CHECK_NONE)
				return problem(p, node_line(k), "health_check has both http and command (or one twice); it "
								"takes one of them");
		}
		if (strcmp(key, "http") == 0) {
			if ((r = want_string(p, val, "health_check.http", &s)) < 0)
				return r;
			if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
				return problem(p, node_line(val), "health_check.http must be an http:// or https:// URL, not '%s'",
					       s);
			hc->kind = HEALTH_CHECK_HTTP;
			hc->url = rv_strdup(s);
		} else if (strcmp(key, "command") == 0) {
			hc->kind = HEALTH_CHECK_COMMAND;
			if ((r = parse_command(p, val, hc)) < 0)
				return r;
		} else if (strcmp(key, "timeout") == 0) {
			int64_t ms;
			if ((r = want_string(p, val, "health_check.timeout", &s)) < 0)
				return r;
			if (rv_parse_duration_ms(s, &ms) < 0 || ms <= 0 || ms > HEALTH_TIMEOUT_MAX_MS) {
				rv_err_clear();
				return problem(p, node_line(val),
					       "health_check.timeout must be a duration such as 5s (at most 10m), not '%s'", s);
			}
			hc->timeout_ms = ms;
		} else {
			return problem(p, node_line(k), "health_check has an unknown key '%s' (it takes http, command and "
							"timeout)",
				       key);
		}
	}
	if (hc->kind == HEALTH_CHECK_NONE)
		return problem(p, node_line(v), "health_check needs http: URL or command: [...]");
	return 0;
}

static int parse_service(struct parse *p, yaml_node_t *v, struct capability *c)
{
	c->type = CAPABILITY_SERVICE;
	if (is_null(v))
		return 0; /* present and empty: a service without a check */
	if (v->type != YAML_MAPPING_NODE)
		return problem(p, node_line(v),
			       "chora_service must be a mapping (it may be empty, or hold a health_check), not %s", kind(v));
	for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
		yaml_node_t *val = yaml_document_get_node(&p->doc, pr->value);
		if (k->type != YAML_SCALAR_NODE)
			continue;
		const char *key = scalar_text(k);
		if (strcmp(key, "health_check") == 0) {
			if (c->check.kind != HEALTH_CHECK_NONE)
				return problem(p, node_line(k), "chora_service has health_check twice");
			int r = parse_health_check(p, val, &c->check);
			if (r < 0)
				return r;
		} else if (rv_edit_distance(key, "health_check") <= 2) {
			/* other keys are the service's own, for other tools; a near miss is a typo */
			return problem(p, node_line(k), "chora_service has '%s'; did you mean health_check?", key);
		}
	}
	return 0;
}

/* ---- the top level ---- */

static const char *const top_keys[] = {"namespace", "version", "metadata", "dependencies", "chora_service"};

static int unknown_top_key(struct parse *p, const yaml_node_t *k, const char *key)
{
	const char *best = NULL;
	int best_d = 3;
	for (size_t i = 0; i < RV_ARRAY_LEN(top_keys); i++) {
		int d = rv_edit_distance(key, top_keys[i]);
		if (d < best_d)
			best_d = d, best = top_keys[i];
	}
	if (best)
		return problem(p, node_line(k), "unknown key '%s'; did you mean %s?", key, best);
	return problem(p, node_line(k),
		       "unknown key '%s' (a manifest has namespace, version, metadata, dependencies and chora_service)",
		       key);
}

static int parse_root(struct parse *p, yaml_node_t *root, struct capability *c, char **ns_seen)
{
	yaml_node_t *seen[RV_ARRAY_LEN(top_keys)] = {0};
	int r;
	if (root->type != YAML_MAPPING_NODE)
		return problem(p, node_line(root), "a manifest must be a mapping (namespace:, version:, ...), not %s",
			       kind(root));
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(&p->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(&p->doc, pr->value);
		if (k->type != YAML_SCALAR_NODE)
			return problem(p, node_line(k), "keys must be single values, not %s", kind(k));
		const char *key = scalar_text(k);
		size_t i = 0;
		while (i < RV_ARRAY_LEN(top_keys) && strcmp(key, top_keys[i]) != 0)
			i++;
		if (i == RV_ARRAY_LEN(top_keys))
			return unknown_top_key(p, k, key);
		if (seen[i])
			return problem(p, node_line(k), "%s is given twice (first on line %u)", key, node_line(seen[i]));
		seen[i] = k;
		switch (i) {
		case 0: {
			const char *s;
			if ((r = want_string(p, v, "namespace", &s)) < 0)
				return r;
			if (!capability_namespace_valid(s))
				return problem(p, node_line(v),
					       "namespace '%s' is not dotted lower-case words (such as chora.devex.registry)",
					       s);
			free(c->ns);
			c->ns = rv_strdup(s);
			*ns_seen = rv_strdup(s);
			break;
		}
		case 1: {
			const char *s;
			struct semver sv;
			if ((r = want_string(p, v, "version", &s)) < 0)
				return r;
			if ((r = semver_parse(s, &sv)) < 0) {
				problem(p, node_line(v), "version: %s", rv_errmsg(r));
				rv_err_clear();
				return -EINVAL;
			}
			c->version = rv_strdup(s);
			break;
		}
		case 2:
			if ((r = parse_metadata(p, v, c)) < 0)
				return r;
			break;
		case 3:
			if ((r = parse_dependencies(p, v, c)) < 0)
				return r;
			break;
		case 4:
			if ((r = parse_service(p, v, c)) < 0)
				return r;
			break;
		}
	}
	if (!c->version)
		return problem(p, node_line(root), "version is missing (SemVer, such as version: 1.0.0)");
	if (!c->metadata_json)
		c->metadata_json = rv_strdup("{}");
	if (!c->dependencies_json)
		c->dependencies_json = rv_strdup("[]");
	return 0;
}

static int syntax_problem(struct parse *p, const yaml_parser_t *yp)
{
	const char *what = yp->problem ? yp->problem : "cannot be read";
	if (yp->error == YAML_READER_ERROR)
		return problem(p, 1, "not YAML text: %s at byte %zu", what, yp->problem_offset);
	if (yp->context)
		return problem(p, (unsigned)yp->problem_mark.line + 1, "YAML syntax error: %s (%s on line %lu)", what,
			       yp->context, (unsigned long)yp->context_mark.line + 1);
	return problem(p, (unsigned)yp->problem_mark.line + 1, "YAML syntax error: %s", what);
}

int manifest_parse(const char *text, size_t len, const char *file, struct capability *out,
		   struct manifest_problem *prob)
{
	struct parse p = {.problem = prob};
	yaml_parser_t yp;
	char *ns_seen = NULL;
	int r = 0;

	memset(out, 0, sizeof *out);
	memset(prob, 0, sizeof *prob);
	out->file = rv_strdup(file);
	out->ns = manifest_default_namespace(file);

	if (!yaml_parser_initialize(&yp))
		return rv_fail(-ENOMEM, "out of memory reading manifest %s", file);
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	if (!yaml_parser_load(&yp, &p.doc)) {
		memset(&p.doc, 0, sizeof p.doc);
		r = syntax_problem(&p, &yp);
		yaml_parser_delete(&yp);
		goto out;
	}
	yaml_node_t *root = yaml_document_get_root_node(&p.doc);
	if (!root) {
		r = problem(&p, 1, "the manifest is empty; it needs at least version: (SemVer)");
	} else {
		yaml_document_t extra;
		if (!yaml_parser_load(&yp, &extra)) {
			r = syntax_problem(&p, &yp);
		} else {
			yaml_node_t *root2 = yaml_document_get_root_node(&extra);
			if (root2)
				r = problem(&p, node_line(root2), "a second YAML document; a manifest is one");
			yaml_document_delete(&extra);
		}
		if (r == 0)
			r = parse_root(&p, root, out, &ns_seen);
		if (r == 0 && !capability_namespace_valid(out->ns))
			r = problem(&p, 1,
				    "the file name '%s' is not a namespace (dotted lower-case words); name the file after "
				    "its namespace or give namespace:",
				    out->ns);
	}
	yaml_document_delete(&p.doc);
	yaml_parser_delete(&yp);
out:
	if (r < 0) {
		/* which capability it is, for the sync to leave its keys alone */
		char *from_file = manifest_default_namespace(file);
		prob->ns = ns_seen ? ns_seen : capability_namespace_valid(from_file) ? rv_strdup(from_file) : NULL;
		if (prob->ns != ns_seen)
			free(ns_seen);
		free(from_file);
		prob->file = rv_strdup(file);
		if (!prob->what)
			prob->what = rv_strdup("cannot be read");
		capability_free(out);
		return -EINVAL;
	}
	free(ns_seen);
	return 0;
}

void capability_free(struct capability *c)
{
	if (!c)
		return;
	free(c->file);
	free(c->ns);
	free(c->version);
	free(c->metadata_json);
	free(c->dependencies_json);
	for (size_t i = 0; i < c->n_deps; i++) {
		free(c->deps[i].ns);
		free(c->deps[i].range);
	}
	free(c->deps);
	free(c->check.url);
	for (size_t i = 0; i < c->check.argc; i++)
		free(c->check.argv[i]);
	free(c->check.argv);
	memset(c, 0, sizeof *c);
}

void manifest_problem_free(struct manifest_problem *p)
{
	if (!p)
		return;
	free(p->file);
	free(p->what);
	free(p->ns);
	memset(p, 0, sizeof *p);
}

void manifest_set_free(struct manifest_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_caps; i++)
		capability_free(&s->caps[i]);
	free(s->caps);
	for (size_t i = 0; i < s->n_problems; i++)
		manifest_problem_free(&s->problems[i]);
	free(s->problems);
	memset(s, 0, sizeof *s);
}
