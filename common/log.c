/* log.c - messages on stderr, one line each, with their priority where a reader
 * can use it: journald's "<N>" prefixes when stderr is the journal stream systemd
 * gave us, UTC timestamps for a long-running process writing to a file, plain
 * otherwise. Never pass secrets here. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

int rv_log_verbosity = RV_LOG_INFO;
static enum rv_log_format log_format = RV_LOG_FORMAT_PLAIN;

void rv_log_set_format(enum rv_log_format f)
{
	log_format = f;
}

/* systemd sets JOURNAL_STREAM=DEV:INODE for a unit's stdout/stderr; it applies only
 * while fd 2 is still that stream (a shell redirect inside the unit changes it). */
enum rv_log_format rv_log_format_from_env(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &sb) < 0)
		return RV_LOG_FORMAT_PLAIN;
	return (unsigned long long)sb.st_dev == dev && (unsigned long long)sb.st_ino == ino ? RV_LOG_FORMAT_JOURNAL
											       : RV_LOG_FORMAT_PLAIN;
}

void rv_log_begin_line(enum rv_log_level lvl, FILE *f)
{
	/* syslog priorities: err 3, warning 4, info 6, debug 7 */
	static const char *const journal[] = {"<3>", "<4>", "<6>", "<7>"};
	if (log_format == RV_LOG_FORMAT_JOURNAL) {
		fputs(journal[lvl], f);
	} else if (log_format == RV_LOG_FORMAT_TIMESTAMPS) {
		char ts[21];
		rv_utc_rfc3339(rv_now_unix(), ts);
		fprintf(f, "%s ", ts);
	}
}

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
	flockfile(stderr); /* the daemon logs from several threads: whole lines */
	rv_log_begin_line(lvl, stderr);
	fputs("regvault: ", stderr);
	fputs(prefix[lvl], stderr);
	/* one line per message, whatever names it quotes */
	rv_fputs_printable(msg.data ? msg.data : "", stderr);
	fputc('\n', stderr);
	funlockfile(stderr);
	rv_buf_free(&msg);
}
