/* semver.c - SemVer 2.0.0 versions and npm-style ranges, for the versions and the
 * dependency ranges of capability manifests (docs/reference/registry.md).
 *
 * A range is comparator sets joined by "||"; a set is comparators joined by
 * spaces, all of which must hold. Each comparator is turned into one or two
 * primitive ones (op and a full version) the way npm does: "^1.2.3" is
 * ">=1.2.3 <2.0.0-0", "~1.2" is ">=1.2.0 <1.3.0-0", "=1.2" is ">=1.2.0 <1.3.0-0".
 * Partial versions (1, 1.2) and "*" are accepted as npm accepts them; the
 * "x" wildcards and hyphen ranges are not. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

/* ---- versions ---- */

/* A numeric part: digits, no leading zero (but "0"), fits in 53 bits so JSON
 * readers see the same number. Advances *p. */
static int parse_number(const char **p, uint64_t *out, const char *what, const char *text)
{
	const char *s = *p;
	if (!isdigit((unsigned char)*s))
		return rv_fail(-EINVAL, "'%s' is not a version: the %s part must be a number", text, what);
	if (s[0] == '0' && isdigit((unsigned char)s[1]))
		return rv_fail(-EINVAL, "'%s' is not a version: the %s part has a leading zero", text, what);
	uint64_t v = 0;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > (1ULL << 53))
			return rv_fail(-EINVAL, "'%s' is not a version: the %s part is too large", text, what);
		s++;
	}
	*p = s;
	*out = v;
	return 0;
}

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '-';
}

/* Dot-separated identifiers of [0-9A-Za-z-], none empty; numeric ones without a
 * leading zero when numeric_rule (pre-release, not build). */
static int parse_idents(const char **p, char *out, size_t cap, bool numeric_rule, const char *what,
			const char *text)
{
	const char *s = *p, *start = s;
	for (;;) {
		const char *id = s;
		bool all_digits = true;
		while (ident_char(*s)) {
			all_digits &= isdigit((unsigned char)*s) != 0;
			s++;
		}
		if (s == id)
			return rv_fail(-EINVAL, "'%s' is not a version: an empty %s identifier", text, what);
		if (numeric_rule && all_digits && s - id > 1 && id[0] == '0')
			return rv_fail(-EINVAL, "'%s' is not a version: the %s identifier '%.*s' has a leading zero",
				       text, what, (int)(s - id), id);
		if (*s != '.')
			break;
		s++;
	}
	if ((size_t)(s - start) >= cap)
		return rv_fail(-EINVAL, "'%s' is not a version: its %s is longer than %zu characters", text, what,
			       cap - 1);
	memcpy(out, start, (size_t)(s - start));
	out[s - start] = 0;
	*p = s;
	return 0;
}

/* parts: how many of major.minor.patch were given (1..3); a partial version has
 * neither pre-release nor build. allow_partial false: exactly three. */
static int parse_version(const char *text, const char *s, const char **end, struct semver *out, int *parts,
			 bool allow_partial)
{
	memset(out, 0, sizeof *out);
	uint64_t *nums[3] = {&out->major, &out->minor, &out->patch};
	static const char *const names[3] = {"major", "minor", "patch"};
	int n = 0, r;
	for (;;) {
		if ((r = parse_number(&s, nums[n], names[n], text)) < 0)
			return r;
		n++;
		if (n == 3 || *s != '.')
			break;
		s++;
	}
	if (n < 3 && !allow_partial)
		return rv_fail(-EINVAL, "'%s' is not a version: it needs major.minor.patch, such as 1.0.0", text);
	if (n == 3 && *s == '-') {
		s++;
		if ((r = parse_idents(&s, out->pre, sizeof out->pre, true, "pre-release", text)) < 0)
			return r;
	}
	if (n == 3 && *s == '+') {
		s++;
		if ((r = parse_idents(&s, out->build, sizeof out->build, false, "build", text)) < 0)
			return r;
	}
	*end = s;
	*parts = n;
	return 0;
}

int semver_parse(const char *text, struct semver *out)
{
	const char *end;
	int parts, r;
	if (!text || !*text)
		return rv_fail(-EINVAL, "an empty version; it needs major.minor.patch, such as 1.0.0");
	if (text[0] == 'v' || text[0] == 'V')
		return rv_fail(-EINVAL, "'%s' is not a version: SemVer has no leading 'v' (write %s)", text,
			       text + 1);
	if ((r = parse_version(text, text, &end, out, &parts, false)) < 0)
		return r;
	if (*end)
		return rv_fail(-EINVAL, "'%s' is not a version: unexpected '%c' after %.*s", text, *end,
			       (int)(end - text), text);
	return 0;
}

/* Pre-release precedence (SemVer 2.0.0 section 11): identifiers left to right,
 * numeric ones numerically and below alphanumeric ones, more of them wins. */
static int compare_pre(const char *a, const char *b)
{
	if (!*a || !*b)
		return !*a && !*b ? 0 : !*a ? 1 : -1; /* a release is above its pre-releases */
	while (*a && *b) {
		size_t la = strcspn(a, "."), lb = strcspn(b, ".");
		bool na = strspn(a, "0123456789") >= la, nb = strspn(b, "0123456789") >= lb;
		int c;
		if (na && nb)
			c = la != lb ? (la < lb ? -1 : 1) : strncmp(a, b, la); /* no leading zeros */
		else if (na || nb)
			c = na ? -1 : 1;
		else {
			c = strncmp(a, b, la < lb ? la : lb);
			if (c == 0 && la != lb)
				c = la < lb ? -1 : 1;
		}
		if (c)
			return c < 0 ? -1 : 1;
		a += la + (a[la] == '.');
		b += lb + (b[lb] == '.');
		if (!*a || !*b)
			return !*a && !*b ? 0 : !*a ? -1 : 1;
	}
	return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

int semver_compare(const struct semver *a, const struct semver *b)
{
	int c;
	if ((c = cmp_u64(a->major, b->major)) || (c = cmp_u64(a->minor, b->minor)) ||
	    (c = cmp_u64(a->patch, b->patch)))
		return c;
	return compare_pre(a->pre, b->pre);
}

/* ---- ranges ---- */

enum prim_op { P_LT, P_LE, P_GT, P_GE, P_EQ };
struct prim {
	enum prim_op op;
	struct semver v;
	bool pre_allows; /* written with a pre-release: lets that version's pre-releases in */
};

#define MAX_PRIMS 64

struct set {
	struct prim p[MAX_PRIMS];
	size_t n;
};

static int add_prim(struct set *s, enum prim_op op, const struct semver *v, bool pre_allows, const char *range)
{
	if (s->n >= MAX_PRIMS)
		return rv_fail(-EINVAL, "range '%s' has more than %d comparators in one set", range, MAX_PRIMS / 2);
	s->p[s->n++] = (struct prim){op, *v, pre_allows};
	return 0;
}

/* The version just above the given parts: 1 -> 2.0.0-0, 1.2 -> 1.3.0-0, as the
 * exclusive upper bound ("-0": below every pre-release of it as well). */
static struct semver bump(const struct semver *v, int parts)
{
	struct semver u = {0};
	if (parts == 1)
		u.major = v->major + 1;
	else if (parts == 2)
		u.major = v->major, u.minor = v->minor + 1;
	else
		u.major = v->major, u.minor = v->minor, u.patch = v->patch + 1;
	strcpy(u.pre, "0");
	return u;
}

/* One comparator token (operator and version, maybe split by spaces already
 * joined by the caller) into primitives. */
static int add_comparator(struct set *s, const char *tok, const char *range)
{
	const char *p = tok;
	char op[3] = "";
	if (strcmp(tok, "*") == 0)
		return 0; /* any version */
	if (*p == '>' || *p == '<') {
		op[0] = *p++;
		if (*p == '=')
			op[1] = *p++;
	} else if (*p == '=' || *p == '^' || *p == '~') {
		op[0] = *p++;
	}
	if (*p == 'v' || *p == 'V')
		return rv_fail(-EINVAL, "range '%s': '%s' has a leading 'v'; write the version without it", range, tok);
	if (!*p)
		return rv_fail(-EINVAL, "range '%s': '%s' has no version after it", range, tok);
	if (!isdigit((unsigned char)*p))
		return rv_fail(-EINVAL, "range '%s': '%s' is not a comparator (=, >, >=, <, <=, ^ or ~ and a version)",
			       range, tok);
	struct semver v;
	const char *end;
	int parts, r;
	if ((r = parse_version(p, p, &end, &v, &parts, true)) < 0)
		return rv_fail_wrap(r, "range '%s'", range);
	if (*end)
		return rv_fail(-EINVAL, "range '%s': unexpected '%c' in '%s'", range, *end, tok);
	bool pre = v.pre[0] != 0;
	struct semver hi;

	switch (op[0]) {
	case 0:
	case '=':
		if (parts == 3)
			return add_prim(s, P_EQ, &v, pre, range);
		hi = bump(&v, parts);
		if ((r = add_prim(s, P_GE, &v, false, range)) < 0)
			return r;
		return add_prim(s, P_LT, &hi, false, range);
	case '>':
		if (op[1] == '=')
			return add_prim(s, P_GE, &v, pre, range);
		if (parts == 3)
			return add_prim(s, P_GT, &v, pre, range);
		hi = bump(&v, parts); /* >1.2 is >=1.3.0 */
		hi.pre[0] = 0;
		return add_prim(s, P_GE, &hi, false, range);
	case '<':
		if (op[1] == '=') {
			if (parts == 3)
				return add_prim(s, P_LE, &v, pre, range);
			hi = bump(&v, parts); /* <=1.2 is <1.3.0-0 */
			return add_prim(s, P_LT, &hi, false, range);
		}
		if (parts < 3)
			strcpy(v.pre, "0"); /* <1.2 is <1.2.0-0 */
		return add_prim(s, P_LT, &v, pre, range);
	case '~':
		/* ~1.2.3 and ~1.2: same minor; ~1: same major */
		hi = bump(&v, parts == 1 ? 1 : 2);
		if ((r = add_prim(s, P_GE, &v, pre, range)) < 0)
			return r;
		return add_prim(s, P_LT, &hi, false, range);
	case '^':
		/* the left-most non-zero part stays; ^0.0.3 is exactly 0.0.3's patch,
		 * ^0.0 and ^0.0.x the minor, ^0 the major */
		if (v.major > 0 || parts == 1)
			hi = bump(&v, 1);
		else if (v.minor > 0 || parts == 2)
			hi = bump(&v, 2);
		else
			hi = bump(&v, 3);
		if ((r = add_prim(s, P_GE, &v, pre, range)) < 0)
			return r;
		return add_prim(s, P_LT, &hi, false, range);
	}
	return rv_fail(-EINVAL, "range '%s': '%s' is not a comparator", range, tok);
}

static bool is_op_only(const char *t)
{
	return strcmp(t, "=") == 0 || strcmp(t, ">") == 0 || strcmp(t, ">=") == 0 || strcmp(t, "<") == 0 ||
	       strcmp(t, "<=") == 0 || strcmp(t, "^") == 0 || strcmp(t, "~") == 0;
}

/* Parse the comparator set in [s, e) (no "||" in it). */
static int parse_set(const char *s, const char *e, struct set *out, const char *range)
{
	char tok[160], op[3] = "";
	memset(out, 0, sizeof *out);
	while (s < e) {
		while (s < e && isspace((unsigned char)*s))
			s++;
		if (s >= e)
			break;
		const char *t = s;
		while (s < e && !isspace((unsigned char)*s))
			s++;
		size_t n = (size_t)(s - t);
		if (n + sizeof op >= sizeof tok)
			return rv_fail(-EINVAL, "range '%s': a comparator is too long", range);
		memcpy(tok, t, n);
		tok[n] = 0;
		if (strcmp(tok, "-") == 0)
			return rv_fail(-EINVAL, "range '%s': hyphen ranges are not supported; write >=A <=B", range);
		if (is_op_only(tok)) { /* ">= 1.2.3": the operator and its version apart */
			if (*op)
				return rv_fail(-EINVAL, "range '%s': '%s' has no version after it", range, op);
			strcpy(op, tok);
			continue;
		}
		if (*op) {
			char joined[sizeof tok];
			snprintf(joined, sizeof joined, "%s%s", op, tok);
			op[0] = 0;
			int r = add_comparator(out, joined, range);
			if (r < 0)
				return r;
			continue;
		}
		int r = add_comparator(out, tok, range);
		if (r < 0)
			return r;
	}
	if (*op)
		return rv_fail(-EINVAL, "range '%s': '%s' has no version after it", range, op);
	return 0;
}

/* Calls fn for each set of the range; stops at the first that returns nonzero. */
static int each_set(const char *range, int (*fn)(const struct set *, void *), void *ud)
{
	if (!range)
		return rv_fail(-EINVAL, "no range");
	const char *s = range;
	struct set *set = rv_xmalloc(sizeof *set);
	int r = 0;
	for (;;) {
		const char *bar = strstr(s, "||");
		const char *e = bar ? bar : s + strlen(s);
		const char *q = s;
		while (q < e && isspace((unsigned char)*q))
			q++;
		if (q == e && (bar || s != range)) {
			r = rv_fail(-EINVAL, "range '%s': an empty set beside '||'", range);
			break;
		}
		if ((r = parse_set(s, e, set, range)) != 0)
			break;
		if ((r = fn(set, ud)) != 0)
			break;
		if (!bar)
			break;
		s = bar + 2;
	}
	free(set);
	return r;
}

static int check_only(const struct set *s, void *ud)
{
	(void)s, (void)ud;
	return 0;
}

int semver_range_check(const char *range)
{
	if (!range || !*range || strspn(range, " \t") == strlen(range))
		return rv_fail(-EINVAL, "an empty range");
	return each_set(range, check_only, NULL);
}

static bool prim_holds(const struct prim *p, const struct semver *v)
{
	int c = semver_compare(v, &p->v);
	switch (p->op) {
	case P_LT: return c < 0;
	case P_LE: return c <= 0;
	case P_GT: return c > 0;
	case P_GE: return c >= 0;
	case P_EQ: return c == 0;
	}
	return false;
}

struct satisfy {
	const struct semver *v;
	bool ok;
};

static int set_satisfies(const struct set *s, void *ud)
{
	struct satisfy *st = ud;
	const struct semver *v = st->v;
	for (size_t i = 0; i < s->n; i++)
		if (!prim_holds(&s->p[i], v))
			return 0;
	if (v->pre[0]) {
		/* npm: a pre-release only matches a set that names a pre-release of the
		 * same major.minor.patch ("^1.2.3-beta.1" lets 1.2.3-beta.2 in, not 1.3.0-rc) */
		bool allowed = false;
		for (size_t i = 0; i < s->n && !allowed; i++)
			allowed = s->p[i].pre_allows && s->p[i].v.major == v->major && s->p[i].v.minor == v->minor &&
				  s->p[i].v.patch == v->patch;
		if (!allowed)
			return 0;
	}
	st->ok = true;
	return 1; /* stop: one set is enough */
}

int semver_range_satisfies(const char *range, const struct semver *v, bool *ok)
{
	struct satisfy st = {v, false};
	int r = semver_range_check(range);
	if (r < 0)
		return r;
	r = each_set(range, set_satisfies, &st);
	if (r < 0)
		return r;
	*ok = st.ok;
	return 0;
}
