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
/* The advice recorded with the sentence, and the two put together for rv_errmsg(). */
static _Thread_local enum rv_advice erradvice;
static _Thread_local char rendered[sizeof errmsg + 512];
/* Set once by the edge before threads start, read only after. */
static const char *const *advice_texts;

static int vfail(int code, enum rv_advice advice, const char *fmt, va_list ap)
{
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	errset = true;
	errcode = code;
	erradvice = advice;
	return code;
}

int rv_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(code, RV_ADVICE_NONE, fmt, ap);
	va_end(ap);
	return code;
}

int rv_fail_advice(int code, enum rv_advice advice, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(code, advice, fmt, ap);
	va_end(ap);
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
	if (!errset)
		erradvice = RV_ADVICE_NONE; /* a wrapped sentence keeps its advice, at its end */
	snprintf(errmsg, sizeof errmsg, "%s: %s", prefix, old);
	errset = true;
	errcode = code;
	return code;
}

const char *rv_errmsg(int code)
{
	if (errset && errcode == code && !rv_advice_text(erradvice)[0])
		return errmsg;
	if (errset && errcode == code) {
		snprintf(rendered, sizeof rendered, "%s%s", errmsg, rv_advice_text(erradvice));
		return rendered;
	}
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
	erradvice = RV_ADVICE_NONE;
}

bool rv_err_isset(void)
{
	return errset;
}

enum rv_advice rv_erradvice(int code)
{
	return errset && errcode == code ? erradvice : RV_ADVICE_NONE;
}

void rv_advice_install(const char *const *texts)
{
	advice_texts = texts;
}

const char *rv_advice_text(enum rv_advice a)
{
	if (!advice_texts || a <= RV_ADVICE_NONE || a >= RV_ADVICE_COUNT || !advice_texts[a])
		return "";
	return advice_texts[a];
}
