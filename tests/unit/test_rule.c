/* Unit tests for the defrag rule language (maint/rule.c): cases as data. */
#include <errno.h>

#include "common/common.h"
#include "maint/maint.h"
#include "tests/unit/unit.h"

#define MiB 1048576.0

/* A member with a 1000 MiB db, 700 MiB of it in use, quota 1200 MiB. */
static const struct maint_rule_vars vars = {
	.db_size = 1000 * MiB,
	.db_size_in_use = 700 * MiB,
	.db_size_free = 300 * MiB,
	.db_quota = 1200 * MiB,
	.db_quota_usage = 1000.0 / 1200.0,
};

TEST(rule_evaluates)
{
	static const struct {
		const char *rule;
		bool want;
	} cases[] = {
		{"dbQuotaUsage > 0.8 || dbSizeFree > 200MiB", true},
		{"dbQuotaUsage > 0.9 || dbSizeFree > 400MiB", false},
		{"dbSizeFree > 200 MiB", true},
		{"dbSizeFree >= 300MiB", true},
		{"dbSizeFree > 300MiB", false},
		{"dbSize == dbSizeInUse + dbSizeFree", true},
		{"dbSize != 1000MiB", false},
		{"dbSize <= 1GiB && dbSize < 1TiB", true},
		{"dbSizeInUse / dbSize < 0.75", true},
		{"dbSize - dbSizeInUse > 299 * 1024 * 1024", true},
		{"dbSize * 2 > 2 * dbQuota", false},
		{"!(dbSize > 1GiB)", true},
		{"!dbSize > 1KiB", false},
		{"true", true},
		{"false || false", false},
		{"true && !false", true},
		{"-dbSize < 0", true},
		{"--5 == 5", true},
		{"1 + 2 * 3 == 7", true},
		{"(1 + 2) * 3 == 9", true},
		{"10 - 4 - 3 == 3", true},
		{"16 / 4 / 2 == 2", true},
		{"1.5KiB == 1536", true},
		{".5 == 0.5", true},
		{"dbQuota == 1200MiB", true},
		{"false && 1 / 0 > 1", false}, /* short-circuit: no division */
		{"true || 1 / 0 > 1", true},
		{"  dbSize\t>\n0  ", true},
		{"false || true && false", false}, /* && binds tighter than || */
		{"((((dbSizeFree > 0))))", true},
		/* The units of configuration sizes: powers of 1000 and of 1024, any case. */
		{"200MB == 200000000", true},
		{"200MiB == 209715200", true},
		{"200 MB == 200 * 1000 * 1000", true},
		{"2kB == 2000 && 2KB == 2000 && 2k == 2000", true},
		{"1GB == 1000000000 && 1GiB == 1073741824", true},
		{"1TB == 1000GB", true},
		{"200mib == 200MiB && 200M == 200MB", true},
		{"1.5GiB == 1610612736", true},
		{"512B == 512 && 512 b == 512", true},
		{"dbSizeFree > 300MB", true},  /* 300 MiB free is 314.6 MB */
		{"dbSizeFree > 315MB", false},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		maint_rule *r = NULL;
		size_t pos = 99;
		bool got = !cases[i].want;
		int e = maint_rule_parse(cases[i].rule, &r, &pos);
		if (e < 0)
			unit_failed(__FILE__, __LINE__, "\"%s\" does not parse: %s", cases[i].rule, rv_errmsg(e));
		CHECK_INT(e, 0);
		CHECK_INT(pos, 0);
		CHECK_STR(maint_rule_text(r), cases[i].rule);
		e = maint_rule_eval(r, &vars, &got);
		maint_rule_free(r);
		if (e < 0 || got != cases[i].want)
			unit_failed(__FILE__, __LINE__, "\"%s\" is %d (rc %d), expected %d", cases[i].rule, got, e,
				    cases[i].want);
		if (unit_current_failed)
			return;
	}
}

TEST(rule_errors_name_the_position)
{
	static const struct {
		const char *rule;
		size_t pos;
		const char *says;
	} cases[] = {
		{"", 1, "empty"},
		{"   ", 4, "empty"},
		{"dbSize >", 9, "found the end of the rule"},
		{"dbSize > 200XB", 13, "unknown unit 'XB' (the units are those of sizes in the configuration: B, kB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024))"},
		{"dbSize > 2Mi", 11, "unknown unit 'Mi'"},
		{"dbSize > 1e5", 11, "unknown unit 'e5'"},   /* numbers are decimal, as before */
		{"dbSize > 0xff", 11, "unknown unit 'xff'"},
		{"dbsize > 1", 1, "did you mean dbSize?"},
		{"dbFoo > 1", 1, "unknown variable 'dbFoo'"},
		{"dbSize > 1 & dbSize < 2", 12, "did you mean '&&'?"},
		{"dbSize > 1 | true", 12, "did you mean '||'?"},
		{"dbSize = 1", 8, "did you mean '=='?"},
		{"(dbSize > 1", 12, "expected ')' to close the '(' at position 1"},
		{"dbSize > 1)", 11, "')' without a matching '('"},
		{"dbSize > 1 dbSize", 12, "expected an operator or the end"},
		{"dbSizeFree", 1, "is a number, not a condition"},
		{"dbSize + 1", 1, "is a number, not a condition"},
		{"dbSize && true", 8, "left side is a number"},
		{"true || 5", 6, "right side is a number"},
		{"(dbSize > 1) + 2 > 0", 14, "left side is a condition"},
		{"!dbSize", 1, "'!' negates a condition"},
		{"-true", 1, "'-' needs a number"},
		{"1 < dbSize < 3", 12, "comparisons do not chain"},
		{"MiB > 1", 1, "the unit MiB needs a number before it"},
		{"dbSize > MB", 10, "the unit MB needs a number before it"},
		{"dbSize > $", 10, "found '$'"},
		{"dbSize > .", 10, "'.' is not a number"},
		{"* 2", 1, "expected a number, a variable or '('"},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		maint_rule *r = (maint_rule *)1;
		size_t pos = 0;
		rv_err_clear();
		int e = maint_rule_parse(cases[i].rule, &r, &pos);
		if (e != -EINVAL || pos != cases[i].pos || !strstr(rv_errmsg(e), cases[i].says))
			unit_failed(__FILE__, __LINE__, "\"%s\": rc %d, position %zu (expected %zu), message \"%s\" (expected \"%s\")",
				    cases[i].rule, e, pos, cases[i].pos, rv_errmsg(e), cases[i].says);
		if (unit_current_failed)
			return;
		CHECK(r == NULL);
		char want[32];
		snprintf(want, sizeof want, "position %zu", cases[i].pos);
		CHECK_CONTAINS(rv_errmsg(e), want);
	}
}

TEST(rule_deep_nesting_is_refused_not_crashed)
{
	char text[1200];
	size_t n = 0;
	for (int i = 0; i < 500; i++)
		text[n++] = '(';
	text[n++] = '1';
	text[n] = 0;
	maint_rule *r = NULL;
	size_t pos = 0;
	CHECK_INT(maint_rule_parse(text, &r, &pos), -EINVAL);
	CHECK_CONTAINS(rv_errmsg(-EINVAL), "nested deeper");
	for (n = 0; n < 1000; n++)
		text[n] = '!';
	text[n] = 0;
	CHECK_INT(maint_rule_parse(text, &r, &pos), -EINVAL);
}

TEST(rule_division_by_zero_is_an_error)
{
	maint_rule *r = NULL;
	bool got;
	CHECK_INT(maint_rule_parse("dbSize / (dbSizeFree - 300MiB) > 1", &r, NULL), 0);
	CHECK_INT(maint_rule_eval(r, &vars, &got), -EDOM);
	CHECK_CONTAINS(rv_errmsg(-EDOM), "divides by zero at position 8");
	maint_rule_free(r);
}

TEST(rule_vars_from_status)
{
	struct etcd_status st = {.db_size = 800 * 1048576LL, .db_size_in_use = 200 * 1048576LL};
	struct maint_rule_vars v;
	maint_rule_vars_from_status(&st, 1000 * 1048576LL, &v);
	CHECK(v.db_size_free == 600 * MiB);
	CHECK(v.db_quota == 1000 * MiB);
	CHECK(v.db_quota_usage == 0.8);
	maint_rule_vars_from_status(&st, 0, &v); /* etcd's default quota */
	CHECK(v.db_quota == 2048 * MiB);
}
