/* log.c - plain messages on stderr. Never pass secrets here. */
#include <stdarg.h>
#include <stdio.h>

#include "common/common.h"

int rv_log_verbosity = RV_LOG_INFO;

void rv_log(enum rv_log_level lvl, const char *fmt, ...)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
	va_list ap;
	if ((int)lvl > rv_log_verbosity)
		return;
	fputs("regvault: ", stderr);
	fputs(prefix[lvl], stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
