/* log.c - plain messages on stderr. Never pass secrets here. */
#include <stdarg.h>
#include <stdio.h>

#include "common/common.h"

int rv_log_verbosity = RV_LOG_INFO;

void rv_log(enum rv_log_level lvl, const char *fmt, ...)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
	struct rv_buf msg = {0};
	va_list ap;
	if ((int)lvl > rv_log_verbosity)
		return;
	va_start(ap, fmt);
	rv_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	fputs("regvault: ", stderr);
	fputs(prefix[lvl], stderr);
	/* one line per message, whatever names it quotes */
	rv_fputs_printable(msg.data ? msg.data : "", stderr);
	fputc('\n', stderr);
	rv_buf_free(&msg);
}
