/* error.c - one error sentence per thread, recorded where the cause is known and
 * printed once at the edge (systemd's "log with the error attached", made explicit). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

static _Thread_local char errmsg[2048];
static _Thread_local bool errset;
/* The code the sentence was recorded with: a sentence labels only that code, so one
 * left over from an earlier failure can never describe a later one. */
static _Thread_local int errcode;

int rv_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	va_end(ap);
	errset = true;
	errcode = code;
	return code;
}

int rv_fail_wrap(int code, const char *fmt, ...)
{
	char prefix[1024], old[sizeof errmsg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	if (errset)
		snprintf(old, sizeof old, "%s", errmsg);
	else
		snprintf(old, sizeof old, "%s", strerror(code < 0 ? -code : code));
	snprintf(errmsg, sizeof errmsg, "%s: %s", prefix, old);
	errset = true;
	errcode = code;
	return code;
}

const char *rv_errmsg(int code)
{
	if (errset && errcode == code)
		return errmsg;
#ifdef RV_TEST_HOOKS
	if (errset && code != 0)
		fprintf(stderr, "BUG: the sentence of code %d asked for with code %d: %s\n", errcode, code, errmsg);
#endif
	return strerror(code < 0 ? -code : code);
}

void rv_err_clear(void)
{
	errset = false;
	errcode = 0;
	errmsg[0] = 0;
}

bool rv_err_isset(void)
{
	return errset;
}
