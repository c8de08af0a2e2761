/* fuzz_rule.c - the defrag rule (maint/rule.c): parsed from the configuration or
 * --rule, then evaluated against each member's Status, including a member that
 * reports nothing (every variable 0, a division by zero) and huge sizes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "maint/maint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct maint_rule_vars vars[] = {
		{0, 0, 0, 0, 0},
		{25e6, 20e6, 5e6, 2147483648.0, 25e6 / 2147483648.0},
		{9.2e18, 1, 9.2e18, 1, 9.2e18},
	};
	char *text = malloc(size + 1);
	maint_rule *rule = NULL;
	size_t err_pos = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (maint_rule_parse(text, &rule, &err_pos) == 0) {
		if (strcmp(maint_rule_text(rule), text) != 0)
			abort();
		for (size_t i = 0; i < RV_ARRAY_LEN(vars); i++) {
			bool yes;
			maint_rule_eval(rule, &vars[i], &yes);
		}
		maint_rule_free(rule);
	} else if (err_pos > strlen(text) + 1) {
		abort(); /* the position of the mistake is outside the rule */
	}
	rv_err_clear();
	free(text);
	return 0;
}
