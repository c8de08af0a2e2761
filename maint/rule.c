/* rule.c - the defrag rule language: a small recursive-descent parser producing a
 * typed expression tree, and its evaluator.
 *
 *   rule    := or
 *   or      := and { "||" and }
 *   and     := not { "&&" not }
 *   not     := "!" not | cmp
 *   cmp     := sum [ ("<" | "<=" | ">" | ">=" | "==" | "!=") sum ]
 *   sum     := prod { ("+" | "-") prod }
 *   prod    := unary { ("*" | "/") unary }
 *   unary   := "-" unary | primary
 *   primary := NUMBER [UNIT] | VARIABLE | true | false | "(" rule ")"
 *   UNIT    := a unit of sizes in the configuration (rv_parse_size: B, kB, MB, ..., KiB, MiB, ...)
 *
 * Every node is a number or a condition, checked while parsing, so a rule such as
 * "dbSize && 1" or "dbSizeFree" (a number where a condition is needed) is refused
 * before any member is touched, with the position of the mistake. */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "maint/maint.h"

#define RULE_MAX_LEN 4096
#define RULE_MAX_DEPTH 64

enum node_kind { N_NUM, N_VAR, N_BOOL, N_NEG, N_NOT, N_ADD, N_SUB, N_MUL, N_DIV,
		 N_LT, N_LE, N_GT, N_GE, N_EQ, N_NE, N_AND, N_OR };
enum node_type { T_NUMBER, T_CONDITION };

struct node {
	enum node_kind kind;
	enum node_type type;
	double num; /* N_NUM, N_BOOL */
	int var;    /* N_VAR */
	int lhs, rhs;
	size_t pos; /* 1-based column of the operator or operand */
};

struct maint_rule {
	char *text;
	struct node *nodes;
	size_t n, cap;
	int root;
};

static const struct {
	const char *name;
	size_t offset;
} variables[] = {
	{"dbSize", offsetof(struct maint_rule_vars, db_size)},
	{"dbSizeInUse", offsetof(struct maint_rule_vars, db_size_in_use)},
	{"dbSizeFree", offsetof(struct maint_rule_vars, db_size_free)},
	{"dbQuota", offsetof(struct maint_rule_vars, db_quota)},
	{"dbQuotaUsage", offsetof(struct maint_rule_vars, db_quota_usage)},
};

/* Units are those of sizes in the configuration (rv_parse_size): one syntax everywhere. */
#define UNITS_HELP "the units are those of sizes in the configuration: B, kB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024)"

/* The bytes in one of word (len bytes) when it is a unit. rv_parse_size reads "1 "
 * and the word, so that a word such as "e5" or "xff" is never taken as part of the
 * number. */
static bool unit_multiplier(const char *word, size_t len, double *mult)
{
	char buf[40];
	uint64_t v;
	if (len == 0 || len + 3 > sizeof buf)
		return false;
	snprintf(buf, sizeof buf, "1 %.*s", (int)len, word);
	if (rv_parse_size(buf, &v) < 0)
		return false;
	*mult = (double)v;
	return true;
}

struct parser {
	struct maint_rule *r;
	const char *s;
	size_t i; /* offset into s */
	int depth;
	int err;
	size_t err_pos;
};

static int fail_at(struct parser *p, size_t offset, const char *fmt, ...) RV_PRINTF(3, 4);

static int fail_at(struct parser *p, size_t offset, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	if (p->err)
		return p->err;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	p->err = -EINVAL;
	p->err_pos = offset + 1;
	return rv_fail(-EINVAL, "the defrag rule \"%s\" does not parse at position %zu: %s", p->s,
		       p->err_pos, what);
}

static void skip_space(struct parser *p)
{
	while (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')
		p->i++;
}

/* A short description of what stands at offset i, for messages. */
static const char *found(const struct parser *p, size_t i, char *buf, size_t len)
{
	size_t n = 0;
	if (!p->s[i])
		return "the end of the rule";
	if (isalnum((unsigned char)p->s[i]) || p->s[i] == '_' || p->s[i] == '.') {
		while (n < 24 && (isalnum((unsigned char)p->s[i + n]) || p->s[i + n] == '_' || p->s[i + n] == '.'))
			n++;
	} else {
		n = (p->s[i + 1] && strchr("&|=<>", p->s[i + 1]) && strchr("&|=<>!", p->s[i])) ? 2 : 1;
	}
	snprintf(buf, len, "'%.*s'", (int)n, p->s + i);
	return buf;
}

static int new_node(struct parser *p, enum node_kind kind, enum node_type type, size_t offset)
{
	struct maint_rule *r = p->r;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->nodes = rv_xrealloc(r->nodes, r->cap * sizeof *r->nodes);
	}
	r->nodes[r->n] = (struct node){.kind = kind, .type = type, .lhs = -1, .rhs = -1, .pos = offset + 1};
	return (int)r->n++;
}

static enum node_type type_of(const struct parser *p, int n)
{
	return p->r->nodes[n].type;
}

static int parse_or(struct parser *p);

/* Both operands must have the type the operator takes. */
static int binary(struct parser *p, enum node_kind kind, enum node_type operand, enum node_type result,
		  int lhs, int rhs, size_t op_offset, const char *op)
{
	if (type_of(p, lhs) != operand || type_of(p, rhs) != operand) {
		bool left = type_of(p, lhs) != operand;
		if (operand == T_NUMBER)
			return fail_at(p, op_offset, "'%s' compares or computes numbers, but its %s side is a condition",
				       op, left ? "left" : "right");
		return fail_at(p, op_offset, "'%s' joins conditions, but its %s side is a number (compare it, e.g. dbSizeFree > 100MiB)",
			       op, left ? "left" : "right");
	}
	int n = new_node(p, kind, result, op_offset);
	p->r->nodes[n].lhs = lhs;
	p->r->nodes[n].rhs = rhs;
	return n;
}

static int parse_number(struct parser *p)
{
	size_t start = p->i;
	const char *s = p->s;
	char *end;
	bool digits = false;
	while (isdigit((unsigned char)s[p->i])) {
		p->i++;
		digits = true;
	}
	if (s[p->i] == '.') {
		p->i++;
		while (isdigit((unsigned char)s[p->i])) {
			p->i++;
			digits = true;
		}
	}
	if (!digits)
		return fail_at(p, start, "'.' is not a number");
	double v = strtod(s + start, &end);
	(void)end;
	/* A unit follows the number, attached ("200MiB") or after spaces ("200 MiB"). */
	size_t after = p->i;
	skip_space(p);
	if (isalpha((unsigned char)s[p->i])) {
		size_t u = p->i, len = 0;
		double mult;
		while (isalnum((unsigned char)s[u + len]) || s[u + len] == '_')
			len++;
		if (unit_multiplier(s + u, len, &mult)) {
			v *= mult;
			p->i = u + len;
		} else if (u == after)
			return fail_at(p, u, "unknown unit '%.*s' (" UNITS_HELP ")", (int)len, s + u);
		else
			p->i = after;
	} else {
		p->i = after;
	}
	int n = new_node(p, N_NUM, T_NUMBER, start);
	p->r->nodes[n].num = v;
	return n;
}

static int parse_name(struct parser *p)
{
	size_t start = p->i, len = 0;
	while (isalnum((unsigned char)p->s[start + len]) || p->s[start + len] == '_')
		len++;
	p->i = start + len;
	if ((len == 4 && strncmp(p->s + start, "true", 4) == 0) || (len == 5 && strncmp(p->s + start, "false", 5) == 0)) {
		int n = new_node(p, N_BOOL, T_CONDITION, start);
		p->r->nodes[n].num = len == 4;
		return n;
	}
	for (size_t k = 0; k < RV_ARRAY_LEN(variables); k++) {
		if (strlen(variables[k].name) == len && strncmp(p->s + start, variables[k].name, len) == 0) {
			int n = new_node(p, N_VAR, T_NUMBER, start);
			p->r->nodes[n].var = (int)k;
			return n;
		}
	}
	for (size_t k = 0; k < RV_ARRAY_LEN(variables); k++)
		if (strlen(variables[k].name) == len && strncasecmp(p->s + start, variables[k].name, len) == 0)
			return fail_at(p, start, "unknown variable '%.*s' (did you mean %s?)", (int)len, p->s + start,
				       variables[k].name);
	double ignored;
	if (unit_multiplier(p->s + start, len, &ignored))
		return fail_at(p, start, "the unit %.*s needs a number before it", (int)len, p->s + start);
	return fail_at(p, start,
		       "unknown variable '%.*s' (the variables are dbSize, dbSizeInUse, dbSizeFree, dbQuota, dbQuotaUsage)",
		       (int)len, p->s + start);
}

static int parse_unary(struct parser *p);

static int parse_primary(struct parser *p)
{
	char what[40];
	skip_space(p);
	char c = p->s[p->i];
	if (isdigit((unsigned char)c) || c == '.')
		return parse_number(p);
	if (isalpha((unsigned char)c) || c == '_')
		return parse_name(p);
	if (c == '(') {
		size_t open = p->i++;
		if (++p->depth > RULE_MAX_DEPTH)
			return fail_at(p, open, "parentheses nested deeper than %d", RULE_MAX_DEPTH);
		int n = parse_or(p);
		if (n < 0)
			return n;
		p->depth--;
		skip_space(p);
		if (p->s[p->i] != ')')
			return fail_at(p, p->i, "expected ')' to close the '(' at position %zu, found %s", open + 1,
				       found(p, p->i, what, sizeof what));
		p->i++;
		return n;
	}
	return fail_at(p, p->i, "expected a number, a variable or '(', found %s", found(p, p->i, what, sizeof what));
}

static int parse_unary(struct parser *p)
{
	skip_space(p);
	if (p->s[p->i] == '-') {
		size_t at = p->i++;
		if (++p->depth > RULE_MAX_DEPTH)
			return fail_at(p, at, "too many '-' in a row");
		int x = parse_unary(p);
		p->depth--;
		if (x < 0)
			return x;
		if (type_of(p, x) != T_NUMBER)
			return fail_at(p, at, "'-' needs a number, but a condition follows it");
		int n = new_node(p, N_NEG, T_NUMBER, at);
		p->r->nodes[n].lhs = x;
		return n;
	}
	return parse_primary(p);
}

static int parse_prod(struct parser *p)
{
	int lhs = parse_unary(p);
	while (lhs >= 0) {
		skip_space(p);
		char c = p->s[p->i];
		if (c != '*' && c != '/')
			break;
		size_t at = p->i++;
		int rhs = parse_unary(p);
		if (rhs < 0)
			return rhs;
		lhs = binary(p, c == '*' ? N_MUL : N_DIV, T_NUMBER, T_NUMBER, lhs, rhs, at, c == '*' ? "*" : "/");
	}
	return lhs;
}

static int parse_sum(struct parser *p)
{
	int lhs = parse_prod(p);
	while (lhs >= 0) {
		skip_space(p);
		char c = p->s[p->i];
		if (c != '+' && c != '-')
			break;
		size_t at = p->i++;
		int rhs = parse_prod(p);
		if (rhs < 0)
			return rhs;
		lhs = binary(p, c == '+' ? N_ADD : N_SUB, T_NUMBER, T_NUMBER, lhs, rhs, at, c == '+' ? "+" : "-");
	}
	return lhs;
}

static int parse_cmp(struct parser *p)
{
	static const struct {
		const char *op;
		enum node_kind kind;
	} ops[] = {{"<=", N_LE}, {">=", N_GE}, {"==", N_EQ}, {"!=", N_NE}, {"<", N_LT}, {">", N_GT}};
	int lhs = parse_sum(p);
	if (lhs < 0)
		return lhs;
	skip_space(p);
	const char *s = p->s + p->i;
	if (s[0] == '=' && s[1] != '=')
		return fail_at(p, p->i, "unknown operator '=' (did you mean '=='?)");
	for (size_t k = 0; k < RV_ARRAY_LEN(ops); k++) {
		size_t len = strlen(ops[k].op);
		if (strncmp(s, ops[k].op, len) != 0)
			continue;
		size_t at = p->i;
		p->i += len;
		int rhs = parse_sum(p);
		if (rhs < 0)
			return rhs;
		int n = binary(p, ops[k].kind, T_NUMBER, T_CONDITION, lhs, rhs, at, ops[k].op);
		if (n < 0)
			return n;
		skip_space(p);
		for (size_t j = 0; j < RV_ARRAY_LEN(ops); j++)
			if (strncmp(p->s + p->i, ops[j].op, strlen(ops[j].op)) == 0)
				return fail_at(p, p->i, "comparisons do not chain; join them with && (a < b && b < c)");
		return n;
	}
	return lhs;
}

static int parse_not(struct parser *p)
{
	skip_space(p);
	if (p->s[p->i] == '!' && p->s[p->i + 1] != '=') {
		size_t at = p->i++;
		if (++p->depth > RULE_MAX_DEPTH)
			return fail_at(p, at, "too many '!' in a row");
		int x = parse_not(p);
		p->depth--;
		if (x < 0)
			return x;
		if (type_of(p, x) != T_CONDITION)
			return fail_at(p, at, "'!' negates a condition, but a number follows it");
		int n = new_node(p, N_NOT, T_CONDITION, at);
		p->r->nodes[n].lhs = x;
		return n;
	}
	return parse_cmp(p);
}

static int parse_and(struct parser *p)
{
	int lhs = parse_not(p);
	while (lhs >= 0) {
		skip_space(p);
		if (p->s[p->i] == '&' && p->s[p->i + 1] != '&')
			return fail_at(p, p->i, "unknown operator '&' (did you mean '&&'?)");
		if (strncmp(p->s + p->i, "&&", 2) != 0)
			break;
		size_t at = p->i;
		p->i += 2;
		int rhs = parse_not(p);
		if (rhs < 0)
			return rhs;
		lhs = binary(p, N_AND, T_CONDITION, T_CONDITION, lhs, rhs, at, "&&");
	}
	return lhs;
}

static int parse_or(struct parser *p)
{
	int lhs = parse_and(p);
	while (lhs >= 0) {
		skip_space(p);
		if (p->s[p->i] == '|' && p->s[p->i + 1] != '|')
			return fail_at(p, p->i, "unknown operator '|' (did you mean '||'?)");
		if (strncmp(p->s + p->i, "||", 2) != 0)
			break;
		size_t at = p->i;
		p->i += 2;
		int rhs = parse_and(p);
		if (rhs < 0)
			return rhs;
		lhs = binary(p, N_OR, T_CONDITION, T_CONDITION, lhs, rhs, at, "||");
	}
	return lhs;
}

int maint_rule_parse(const char *text, maint_rule **out, size_t *err_pos)
{
	struct parser p = {0};
	char what[40];
	*out = NULL;
	if (err_pos)
		*err_pos = 0;
	if (!text)
		text = "";
	if (strlen(text) > RULE_MAX_LEN) {
		if (err_pos)
			*err_pos = RULE_MAX_LEN + 1;
		return rv_fail(-EINVAL, "the defrag rule is longer than %d characters", RULE_MAX_LEN);
	}
	p.r = rv_xcalloc(1, sizeof *p.r);
	p.s = text;
	skip_space(&p);
	if (!p.s[p.i]) {
		fail_at(&p, p.i, "the rule is empty (e.g. \"dbQuotaUsage > 0.8 || dbSizeFree > 200MiB\")");
	} else {
		int root = parse_or(&p);
		if (root >= 0) {
			skip_space(&p);
			if (p.s[p.i] == ')')
				fail_at(&p, p.i, "')' without a matching '('");
			else if (p.s[p.i])
				fail_at(&p, p.i, "expected an operator or the end of the rule, found %s",
					found(&p, p.i, what, sizeof what));
			else if (type_of(&p, root) != T_CONDITION)
				fail_at(&p, 0, "the rule is a number, not a condition (compare it, e.g. \"%s > 100MiB\")", text);
			p.r->root = root;
		}
	}
	if (p.err) {
		if (err_pos)
			*err_pos = p.err_pos;
		maint_rule_free(p.r);
		return p.err;
	}
	p.r->text = rv_strdup(text);
	*out = p.r;
	return 0;
}

const char *maint_rule_text(const maint_rule *r)
{
	return r ? r->text : "";
}

void maint_rule_free(maint_rule *r)
{
	if (!r)
		return;
	free(r->nodes);
	free(r->text);
	free(r);
}

static int eval(const maint_rule *r, int i, const struct maint_rule_vars *v, double *out)
{
	const struct node *n = &r->nodes[i];
	double a = 0, b = 0;
	int e;
	switch (n->kind) {
	case N_NUM:
	case N_BOOL:
		*out = n->num;
		return 0;
	case N_VAR:
		*out = *(const double *)((const char *)v + variables[n->var].offset);
		return 0;
	case N_NEG:
	case N_NOT:
		if ((e = eval(r, n->lhs, v, &a)) < 0)
			return e;
		*out = n->kind == N_NEG ? -a : (a == 0);
		return 0;
	case N_AND:
	case N_OR:
		/* Short-circuit, so "dbQuota > 0 && dbSize / dbQuota > 0.8" is safe. */
		if ((e = eval(r, n->lhs, v, &a)) < 0)
			return e;
		if ((n->kind == N_AND && a == 0) || (n->kind == N_OR && a != 0)) {
			*out = n->kind == N_OR;
			return 0;
		}
		if ((e = eval(r, n->rhs, v, &b)) < 0)
			return e;
		*out = b != 0;
		return 0;
	default:
		break;
	}
	if ((e = eval(r, n->lhs, v, &a)) < 0 || (e = eval(r, n->rhs, v, &b)) < 0)
		return e;
	switch (n->kind) {
	case N_ADD: *out = a + b; break;
	case N_SUB: *out = a - b; break;
	case N_MUL: *out = a * b; break;
	case N_DIV:
		if (b == 0)
			return rv_fail(-EDOM, "the defrag rule \"%s\" divides by zero at position %zu", r->text, n->pos);
		*out = a / b;
		break;
	case N_LT: *out = a < b; break;
	case N_LE: *out = a <= b; break;
	case N_GT: *out = a > b; break;
	case N_GE: *out = a >= b; break;
	case N_EQ: *out = a == b; break;
	case N_NE: *out = a != b; break;
	default: return rv_fail(-EINVAL, "the defrag rule holds an unknown operator");
	}
	return 0;
}

int maint_rule_eval(const maint_rule *r, const struct maint_rule_vars *v, bool *result)
{
	double x = 0;
	int e = eval(r, r->root, v, &x);
	if (e < 0)
		return e;
	*result = x != 0;
	return 0;
}

int64_t maint_effective_quota(int64_t configured)
{
	/* etcd's own default when --quota-backend-bytes is 0 or unset. */
	return configured > 0 ? configured : (int64_t)2 * 1024 * 1024 * 1024;
}

void maint_rule_vars_from_status(const struct etcd_status *st, int64_t quota, struct maint_rule_vars *v)
{
	quota = maint_effective_quota(quota);
	v->db_size = (double)st->db_size;
	v->db_size_in_use = (double)st->db_size_in_use;
	v->db_size_free = (double)(st->db_size - st->db_size_in_use);
	v->db_quota = (double)quota;
	v->db_quota_usage = (double)st->db_size / (double)quota;
}
