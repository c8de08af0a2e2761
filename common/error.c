/* error.c - one error sentence per thread, recorded where the cause is known and
 * printed once at the edge (systemd's "log with the error attached", made explicit). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

static _Thread_local char errmsg[2048];
static _Thread_local bool errset;

int rv_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	va_end(ap);
	errset = true;
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
	return code;
}

const char *rv_errmsg(int code)
{
	if (errset)
		return errmsg;
	return strerror(code < 0 ? -code : code);
}

void rv_err_clear(void)
{
	errset = false;
	errmsg[0] = 0;
}

bool rv_err_isset(void)
{
	return errset;
}
