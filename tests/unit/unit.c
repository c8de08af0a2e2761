/* unit.c - runs every registered unit test (or those whose name contains argv[1]). */
#include <stdarg.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "common/common.h"
#include "tests/unit/unit.h"

static struct unit_test tests[512];
static size_t n_tests;
bool unit_current_failed;
static const char *current;

void unit_register(const char *name, void (*fn)(void))
{
	if (n_tests < RV_ARRAY_LEN(tests))
		tests[n_tests++] = (struct unit_test){name, fn};
}

void unit_failed(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	printf("FAIL unit/%s: %s:%d: ", current, file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	unit_current_failed = true;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	cli_advice_install(); /* the messages the tests check are the CLI's */
	for (size_t i = 0; i < n_tests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		current = tests[i].name;
		unit_current_failed = false;
		rv_err_clear();
		tests[i].fn();
		if (unit_current_failed)
			failed++;
		else {
			printf("PASS unit/%s\n", tests[i].name);
			passed++;
		}
		fflush(stdout);
	}
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
