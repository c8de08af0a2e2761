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
		const char *answered; /* one char per member, 'y' or 'n'; NULL: every member */
		int rc;
		const char *agrees; /* one char per member */
		bool consistent, complete;
		const char *says;
	} cases[] = {
		{{7, 7, 7}, 3, NULL, 0, "yyy", true, true, ""},
		{{7, 7, 9}, 3, NULL, -EIO, "yyn", false, true, "possible corruption: m3 disagrees with the majority at revision 42; restore it"},
		{{9, 7, 7}, 3, NULL, -EIO, "nyy", false, true, "m1 disagrees"},
		{{1, 2, 3}, 3, NULL, -EIO, "nnn", false, true, "no majority of the members that answered agrees on the hash at revision 42 (m1, m2, m3)"},
		{{5, 5, 6, 6}, 4, NULL, -EIO, "nnnn", false, true, "no majority"},
		{{5, 5, 5, 6}, 4, NULL, -EIO, "yyyn", false, true, "m4 disagrees"},
		{{4, 8, 8, 8}, 4, NULL, -EIO, "nyyy", false, true, "m1 disagrees"},
		{{3}, 1, NULL, 0, "y", true, true, ""},
		/* A member down: the others are compared among themselves, not called corrupt. */
		{{7, 7, 0}, 3, "yyn", -EHOSTUNREACH, "yyn", true, false,
		 "the check is incomplete: m3 did not answer (m3 gave no answer); the members that answered (m1, m2) agree at revision 42; run the check again once it answers"},
		{{0, 7, 7}, 3, "nyy", -EHOSTUNREACH, "nyy", true, false, "m1 did not answer (m1: connection refused); the members that answered (m2, m3) agree"},
		{{7, 0, 0}, 3, "ynn", -EHOSTUNREACH, "ynn", true, false,
		 "m2, m3 did not answer (m2: connection refused; m3 gave no answer); the only member that answered (m1) has no other to be compared with at revision 42; run the check again once they answer"},
		{{5, 5, 6, 0}, 4, "yyyn", -EIO, "yynn", false, false, "possible corruption: m3 disagrees with the majority at revision 42 (m4 did not answer)"},
		{{5, 6, 0, 0}, 4, "yynn", -EIO, "nnnn", false, false, "no majority of the members that answered agrees on the hash at revision 42 (m1, m2) (m3, m4 did not answer)"},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		struct maint_hash_row rows[4] = {0};
		struct maint_hash_report rep = {.revision = 42, .rows = rows, .n = cases[i].n};
		for (size_t j = 0; j < cases[i].n; j++) {
			snprintf(rows[j].name, sizeof rows[j].name, "m%zu", j + 1);
			rows[j].ok = !cases[i].answered || cases[i].answered[j] == 'y';
			rows[j].hash = cases[i].hash[j];
			if (!rows[j].ok && j < 2)
				snprintf(rows[j].error, sizeof rows[j].error, "m%zu: connection refused", j + 1);
		}
		rv_err_clear();
		int rc = maint_hash_judge(&rep);
		CHECK_INT(rc, cases[i].rc);
		CHECK_INT(rep.consistent, cases[i].consistent);
		CHECK_INT(rep.complete, cases[i].complete);
		for (size_t j = 0; j < cases[i].n; j++)
			CHECK_INT(rows[j].agrees, cases[i].agrees[j] == 'y');
		if (rc)
			CHECK_CONTAINS(rv_errmsg(rc), cases[i].says);
		if (unit_current_failed)
			return;
	}
}
