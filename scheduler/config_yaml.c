/* config_yaml.c - typed access to a libyaml document for the config loader. Every
 * message names the key path and the line it is on. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "scheduler/config_yaml.h"

int cfg_fail(const struct cfg_doc *d, const yaml_node_t *at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (at)
		return rv_fail(-EINVAL, "config %s line %lu: %s", d->name, cfg_line(at), msg);
	return rv_fail(-EINVAL, "config %s: %s", d->name, msg);
}

static int syntax_error(struct cfg_doc *d, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "cannot parse";
	unsigned long line = (unsigned long)p->problem_mark.line + 1;
	if (p->error == YAML_READER_ERROR)
		return rv_fail(-EINVAL, "config %s: not valid YAML text: %s at byte %zu", d->name, problem,
			       p->problem_offset);
	if (p->context)
		return rv_fail(-EINVAL, "config %s line %lu: YAML syntax error: %s (%s on line %lu)", d->name,
			       line, problem, p->context, (unsigned long)p->context_mark.line + 1);
	return rv_fail(-EINVAL, "config %s line %lu: YAML syntax error: %s", d->name, line, problem);
}

int cfg_doc_load(struct cfg_doc *d, const char *text, size_t len)
{
	yaml_parser_t p;
	yaml_document_t extra;
	int r = 0;

	if (!yaml_parser_initialize(&p))
		return rv_fail(-ENOMEM, "config %s: out of memory", d->name);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &d->doc)) {
		r = syntax_error(d, &p);
		yaml_parser_delete(&p);
		memset(&d->doc, 0, sizeof d->doc);
		return r;
	}
	if (!yaml_document_get_root_node(&d->doc)) {
		r = rv_fail(-EINVAL, "config %s is empty; it needs at least a cluster section", d->name);
	} else if (!yaml_parser_load(&p, &extra)) {
		r = syntax_error(d, &p);
	} else {
		yaml_node_t *root2 = yaml_document_get_root_node(&extra);
		if (root2)
			r = rv_fail(-EINVAL, "config %s line %lu: a second YAML document; put everything in one",
				    d->name, cfg_line(root2));
		yaml_document_delete(&extra);
	}
	yaml_parser_delete(&p);
	if (r < 0)
		cfg_doc_free(d);
	return r;
}

void cfg_doc_free(struct cfg_doc *d)
{
	yaml_document_delete(&d->doc);
	memset(&d->doc, 0, sizeof d->doc);
}

yaml_node_t *cfg_root(struct cfg_doc *d)
{
	return yaml_document_get_root_node(&d->doc);
}

yaml_node_t *cfg_node(struct cfg_doc *d, int idx)
{
	return yaml_document_get_node(&d->doc, idx);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

bool cfg_is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = scalar(n);
	return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	       strcmp(s, "NULL") == 0;
}

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "a value";
	}
}

const char *cfg_join(char *buf, const char *path, const char *key)
{
	snprintf(buf, CFG_PATH_MAX, "%s%s%s", path, *path ? "." : "", key);
	return buf;
}

int cfg_each_pair(struct cfg_doc *d, yaml_node_t *map, const char *path, cfg_pair_fn fn, void *ud)
{
	if (cfg_is_null(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return cfg_fail(d, map, "%s must be a mapping (key: value lines), not %s", *path ? path : "the top level",
				map->type == YAML_SCALAR_NODE ? "a single value" : kind(map));
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(d, p->key), *v = cfg_node(d, p->value);
		char kp[CFG_PATH_MAX];
		if (k->type != YAML_SCALAR_NODE)
			return cfg_fail(d, k, "a key under %s must be a name, not %s", *path ? path : "the top level",
					kind(k));
		cfg_join(kp, path, scalar(k));
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = cfg_node(d, q->key);
			if (k2->type == YAML_SCALAR_NODE && strcmp(scalar(k2), scalar(k)) == 0)
				return cfg_fail(d, k, "duplicate key %s (first on line %lu)", kp, cfg_line(k2));
		}
		int r = fn(d, kp, scalar(k), v, ud);
		if (r == CFG_UNKNOWN)
			return cfg_fail(d, k, "unknown key %s", kp);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A non-null scalar, or a message naming what it is instead. */
static int need_scalar(struct cfg_doc *d, const char *path, yaml_node_t *n, const char *want)
{
	if (n->type != YAML_SCALAR_NODE)
		return cfg_fail(d, n, "%s must be %s, not %s", path, want, kind(n));
	if (cfg_is_null(n))
		return cfg_fail(d, n, "%s has no value; it must be %s", path, want);
	return 0;
}

int cfg_string(struct cfg_doc *d, const char *path, yaml_node_t *n, char **out)
{
	int r = need_scalar(d, path, n, "a string");
	if (r < 0)
		return r;
	if (!*scalar(n))
		return cfg_fail(d, n, "%s is an empty string; give it a value or leave the key out", path);
	free(*out);
	*out = rv_strdup(scalar(n));
	return 0;
}

int cfg_int(struct cfg_doc *d, const char *path, yaml_node_t *n, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;
	int r = need_scalar(d, path, n, "an integer");
	if (r < 0)
		return r;
	errno = 0;
	v = strtoll(scalar(n), &end, 10);
	if (end == scalar(n) || *end || (errno && errno != ERANGE))
		return cfg_fail(d, n, "%s must be an integer, not '%s'", path, scalar(n));
	if (errno == ERANGE || v < min || v > max)
		goto range;
	*out = v;
	return 0;
range:
	if (max == INT64_MAX)
		return cfg_fail(d, n, "%s must be at least %" PRId64 ", not %s", path, min, scalar(n));
	return cfg_fail(d, n, "%s must be between %" PRId64 " and %" PRId64 ", not %s", path, min, max,
			scalar(n));
}

int cfg_int32(struct cfg_doc *d, const char *path, yaml_node_t *n, int min, int max, int *out)
{
	int64_t v;
	int r = cfg_int(d, path, n, min, max, &v);
	if (r == 0)
		*out = (int)v;
	return r;
}

int cfg_bool(struct cfg_doc *d, const char *path, yaml_node_t *n, bool *out)
{
	int r = need_scalar(d, path, n, "true or false");
	if (r < 0)
		return r;
	if (strcasecmp(scalar(n), "true") == 0)
		*out = true;
	else if (strcasecmp(scalar(n), "false") == 0)
		*out = false;
	else
		return cfg_fail(d, n, "%s must be true or false, not '%s'", path, scalar(n));
	return 0;
}

int cfg_double(struct cfg_doc *d, const char *path, yaml_node_t *n, double min_excl, double max,
	       double *out)
{
	char *end;
	double v;
	int r = need_scalar(d, path, n, "a number");
	if (r < 0)
		return r;
	errno = 0;
	v = strtod(scalar(n), &end);
	if (errno || end == scalar(n) || *end || !isfinite(v))
		return cfg_fail(d, n, "%s must be a number, not '%s'", path, scalar(n));
	if (!(v > min_excl && v <= max))
		return cfg_fail(d, n, "%s must be more than %g and at most %g, not %s", path, min_excl, max,
				scalar(n));
	*out = v;
	return 0;
}

int cfg_size(struct cfg_doc *d, const char *path, yaml_node_t *n, int64_t *out)
{
	uint64_t v;
	int r = need_scalar(d, path, n, "a size");
	if (r < 0)
		return r;
	r = rv_parse_size(scalar(n), &v);
	if (r < 0 || v > (uint64_t)INT64_MAX)
		return cfg_fail(d, n, "%s must be a size in bytes like 8589934592 or 8GiB, not '%s'", path,
				scalar(n));
	if (v == 0)
		return cfg_fail(d, n, "%s must be more than 0", path);
	*out = (int64_t)v;
	return 0;
}

const char *cfg_fmt_ms(int64_t ms, char *buf, size_t len)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (ms % units[i].ms == 0 || units[i].ms == 1) {
			snprintf(buf, len, "%" PRId64 "%s", ms / units[i].ms, ms ? units[i].unit : "");
			return buf;
		}
	return buf;
}

int cfg_duration(struct cfg_doc *d, const char *path, yaml_node_t *n, int64_t min_ms, int64_t max_ms,
		 int64_t *out)
{
	int64_t v;
	char lo[24], hi[24];
	int r = need_scalar(d, path, n, "a duration");
	if (r < 0)
		return r;
	const char *s = scalar(n);
	bool bare = *s && strspn(s, "0123456789.") == strlen(s);
	if (bare && strtod(s, NULL) == 0) {
		v = 0;
	} else if (bare) {
		return cfg_fail(d, n, "%s must be a duration with a unit, like 500ms, 5s, 2m or 1h, not '%s'", path, s);
	} else if (rv_parse_duration_ms(s, &v) < 0) {
		return cfg_fail(d, n, "%s must be a duration like 500ms, 5s, 2m or 1h, not '%s'", path, s);
	}
	if (v < min_ms || v > max_ms)
		return cfg_fail(d, n, "%s must be between %s and %s, not %s", path, cfg_fmt_ms(min_ms, lo, sizeof lo),
				cfg_fmt_ms(max_ms, hi, sizeof hi), s);
	*out = v;
	return 0;
}
