/* Unit tests for SemVer 2.0.0 versions and npm-style ranges (registry/semver.c). */
#include <errno.h>

#include "common/common.h"
#include "registry/registry.h"
#include "tests/unit/unit.h"

TEST(semver_parses_strictly)
{
	struct semver v;
	CHECK_INT(semver_parse("1.2.3", &v), 0);
	CHECK_INT(v.major, 1);
	CHECK_INT(v.minor, 2);
	CHECK_INT(v.patch, 3);
	CHECK_STR(v.pre, "");
	CHECK_INT(semver_parse("1.0.0-rc.1+b5.x-y", &v), 0);
	CHECK_STR(v.pre, "rc.1");
	CHECK_STR(v.build, "b5.x-y");
	CHECK_INT(semver_parse("0.0.0-0", &v), 0);
	CHECK_INT(semver_parse("1.0.0+0001", &v), 0); /* build identifiers may have leading zeros */

	static const struct {
		const char *text, *why;
	} bad[] = {
		{"", "empty"},
		{"1.2", "major.minor.patch"},
		{"1", "major.minor.patch"},
		{"v1.2.3", "leading 'v'"},
		{"01.2.3", "leading zero"},
		{"1.02.3", "leading zero"},
		{"1.2.3-01", "leading zero"},
		{"1.2.3-", "empty pre-release"},
		{"1.2.3-a..b", "empty pre-release"},
		{"1.2.3+", "empty build"},
		{"1.2.3.4", "unexpected '.'"},
		{"1.2.3 ", "unexpected ' '"},
		{"1.2.x", "must be a number"},
		{"1.2.3-a_b", "unexpected '_'"},
		{"99999999999999999999.0.0", "too large"},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		int r = semver_parse(bad[i].text, &v);
		if (r != -EINVAL) {
			unit_failed(__FILE__, __LINE__, "'%s' parsed", bad[i].text);
			return;
		}
		CHECK_CONTAINS(rv_errmsg(r), bad[i].why);
	}
	rv_err_clear();
}

TEST(semver_compares_by_precedence)
{
	/* SemVer 2.0.0 section 11's example, in ascending order */
	static const char *const order[] = {
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1",  "1.0.0",            "1.0.1",      "1.1.0",
		"1.10.0",       "2.0.0",
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(order); i++)
		for (size_t j = 0; j < RV_ARRAY_LEN(order); j++) {
			struct semver a, b;
			CHECK_INT(semver_parse(order[i], &a), 0);
			CHECK_INT(semver_parse(order[j], &b), 0);
			int c = semver_compare(&a, &b), want = i < j ? -1 : i > j;
			if ((c > 0) - (c < 0) != want) {
				unit_failed(__FILE__, __LINE__, "compare(%s, %s) = %d", order[i], order[j], c);
				return;
			}
		}
	struct semver a, b;
	semver_parse("1.0.0+a", &a);
	semver_parse("1.0.0+b", &b);
	CHECK_INT(semver_compare(&a, &b), 0); /* build metadata does not count */
}

TEST(semver_ranges_as_npm)
{
	static const struct {
		const char *range, *version;
		bool want;
	} cases[] = {
		{">=2.0.0 <3.0.0", "2.0.0", true},
		{">=2.0.0 <3.0.0", "2.9.9", true},
		{">=2.0.0 <3.0.0", "3.0.0", false},
		{">=2.0.0 <3.0.0", "1.9.9", false},
		{"1.2.3", "1.2.3", true},
		{"=1.2.3", "1.2.4", false},
		{">1.2.3", "1.2.3", false},
		{"<=1.2.3", "1.2.3", true},
		{"^1.2.3", "1.9.0", true},
		{"^1.2.3", "2.0.0", false},
		{"^1.2.3", "1.2.2", false},
		{"^0.2.3", "0.2.9", true},
		{"^0.2.3", "0.3.0", false},
		{"^0.0.3", "0.0.3", true},
		{"^0.0.3", "0.0.4", false},
		{"^0", "0.9.9", true},
		{"^1.2", "1.9.0", true},
		{"~1.2.3", "1.2.9", true},
		{"~1.2.3", "1.3.0", false},
		{"~1", "1.9.0", true},
		{"~1", "2.0.0", false},
		{"1.2", "1.2.7", true},
		{"1.2", "1.3.0", false},
		{">1.2", "1.2.9", false},
		{">1.2", "1.3.0", true},
		{"<1.2", "1.1.9", true},
		{"<1.2", "1.2.0", false},
		{"<=1.2", "1.2.9", true},
		{">= 2.0.0  < 3.0.0", "2.5.0", true},
		{"<1.0.0 || >=2.0.0", "0.5.0", true},
		{"<1.0.0 || >=2.0.0", "1.5.0", false},
		{"<1.0.0 || >=2.0.0", "2.0.0", true},
		{"*", "5.0.0", true},
		/* pre-releases only where a comparator of the same x.y.z names one */
		{"^1.2.3", "1.3.0-rc.1", false},
		{"^1.2.3-beta.1", "1.2.3-beta.2", true},
		{"^1.2.3-beta.1", "1.2.3-alpha", false},
		{"^1.2.3-beta.1", "1.3.0-beta", false},
		{">=1.0.0", "2.0.0-rc.1", false},
		{"<2.0.0", "2.0.0-rc.1", false},
		{"*", "1.0.0-rc.1", false},
		{"1.0.0-rc.1", "1.0.0-rc.1", true},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		struct semver v;
		bool ok = !cases[i].want;
		CHECK_INT(semver_parse(cases[i].version, &v), 0);
		CHECK_INT(semver_range_satisfies(cases[i].range, &v, &ok), 0);
		if (ok != cases[i].want) {
			unit_failed(__FILE__, __LINE__, "'%s' satisfies '%s': %d", cases[i].version, cases[i].range, ok);
			return;
		}
	}
}

TEST(semver_bad_ranges_say_why)
{
	static const struct {
		const char *range, *why;
	} bad[] = {
		{"", "empty range"},
		{"  ", "empty range"},
		{">=", "no version after"},
		{">= ", "no version after"},
		{">=v1.0.0", "leading 'v'"},
		{"1.2.3 - 2.0.0", "hyphen ranges"},
		{"=>1.0.0", "not a comparator"},
		{"1.x", "minor part must be a number"},
		{"|| 1.0.0", "empty set"},
		{"1.0.0 ||", "empty set"},
		{">=01.0.0", "leading zero"},
		{"latest", "not a comparator"},
		{"!1.0.0", "not a comparator"},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		int r = semver_range_check(bad[i].range);
		if (r != -EINVAL) {
			unit_failed(__FILE__, __LINE__, "range '%s' accepted", bad[i].range);
			return;
		}
		CHECK_CONTAINS(rv_errmsg(r), bad[i].why);
	}
	CHECK_INT(semver_range_check(">=2.0.0 <3.0.0"), 0);
	CHECK_INT(semver_range_check("^1.0.0 || ~2.1"), 0);
	rv_err_clear();
}
