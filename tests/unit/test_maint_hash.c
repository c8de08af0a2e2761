/* Unit tests for the hashcheck verdict (maint_hash_judge): cases as data. */
#include <errno.h>

#include "common/common.h"
#include "maint/maint.h"
#include "tests/unit/unit.h"

TEST(hash_judge_names_the_members_that_disagree)
{
	static const struct {
		uint32_t hash[4];
		size_t n;
		int rc;
		const char *agrees; /* one char per member */
		const char *says;
	} cases[] = {
		{{7, 7, 7}, 3, 0, "yyy", ""},
		{{7, 7, 9}, 3, -EIO, "yyn", "possible corruption: m3 disagrees with the majority at revision 42; restore it"},
		{{9, 7, 7}, 3, -EIO, "nyy", "m1 disagrees"},
		{{1, 2, 3}, 3, -EIO, "nnn", "no majority of the members agrees on the hash at revision 42 (m1, m2, m3)"},
		{{5, 5, 6, 6}, 4, -EIO, "nnnn", "no majority"},
		{{5, 5, 5, 6}, 4, -EIO, "yyyn", "m4 disagrees"},
		{{4, 8, 8, 8}, 4, -EIO, "nyyy", "m1 disagrees"},
		{{3}, 1, 0, "y", ""},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		struct maint_hash_row rows[4] = {0};
		struct maint_hash_report rep = {.revision = 42, .rows = rows, .n = cases[i].n};
		for (size_t j = 0; j < cases[i].n; j++) {
			snprintf(rows[j].name, sizeof rows[j].name, "m%zu", j + 1);
			rows[j].ok = true;
			rows[j].hash = cases[i].hash[j];
		}
		rv_err_clear();
		int rc = maint_hash_judge(&rep);
		CHECK_INT(rc, cases[i].rc);
		CHECK_INT(rep.consistent, rc == 0);
		for (size_t j = 0; j < cases[i].n; j++)
			CHECK_INT(rows[j].agrees, cases[i].agrees[j] == 'y');
		if (rc)
			CHECK_CONTAINS(rv_errmsg(rc), cases[i].says);
	}
}
