/* health_check.c - one capability's health check within its timeout: an HTTP GET
 * answering 2xx (libcurl), or a command exiting 0 (the process runner). Safe from
 * several threads at once: the heartbeats run checks on their own threads. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "common/common.h"
#include "registry/heartbeat_impl.h"

#define DEFAULT_TIMEOUT_MS 5000
#define HTTP_BODY_MAX 4096 /* read and dropped; a health page needs no more */

static void fmt_timeout(int64_t ms, char *buf, size_t len)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRId64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRId64 "ms", ms);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct http_ud {
	size_t got;
	const struct rv_cancel *cancel;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct http_ud *u = ud;
	(void)p;
	u->got += size * n;
	/* the status is what counts: a page that goes on and on is not read to its end */
	return u->got > HTTP_BODY_MAX ? 0 : size * n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct http_ud *u = ud;
	(void)dt, (void)dn, (void)ut, (void)un;
	return rv_cancelled(u->cancel) ? 1 : 0;
}

static int check_http(const struct health_check *hc, int64_t timeout_ms, const struct rv_cancel *cancel,
		      char *detail, size_t len)
{
	struct http_ud u = {.cancel = cancel};
	char tbuf[32];
	long status = 0;
	int r;

	pthread_once(&curl_once, curl_init_once);
	CURL *h = curl_easy_init();
	if (!h) {
		snprintf(detail, len, "cannot make an HTTP request (out of memory)");
		return rv_fail(-ENOMEM, "health check %s: %s", hc->url, detail);
	}
	curl_easy_setopt(h, CURLOPT_URL, hc->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for the resolver */
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is not an answer of 2xx */
	curl_easy_setopt(h, CURLOPT_USERAGENT, "regvault/" RV_VERSION " health check");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &u);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &u);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	CURLcode cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);

	if (cc == CURLE_WRITE_ERROR && status > 0)
		cc = CURLE_OK; /* we stopped reading a long body: the status came */
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		fmt_timeout(timeout_ms, tbuf, sizeof tbuf);
		snprintf(detail, len, "timed out after %s", tbuf);
		r = -ETIMEDOUT;
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(detail, len, "cancelled");
		r = -EINTR;
	} else if (cc != CURLE_OK) {
		snprintf(detail, len, "%s", curl_easy_strerror(cc));
		r = cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
	} else if (status < 200 || status > 299) {
		snprintf(detail, len, "HTTP %ld", status);
		r = -EIO;
	} else {
		detail[0] = 0;
		return 0;
	}
	return rv_fail(r, "health check %s: %s", hc->url, detail);
}

/* The last line of a command's output, for the detail ("exit 1: connection refused"). */
static const char *last_line(const char *out, size_t *n)
{
	size_t len = strlen(out);
	while (len && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' '))
		len--;
	size_t start = len;
	while (start && out[start - 1] != '\n')
		start--;
	*n = len - start;
	return out + start;
}

static int check_command(const struct health_check *hc, int64_t timeout_ms, const struct rv_cancel *cancel,
			 char *detail, size_t len)
{
	struct rv_proc_opts o = {
		.argv = hc->argv,
		.what = hc->argv[0],
		.capture = true,
		.die_with_parent = true,
		.timeout_ms = timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms,
		.grace_ms = 500,
		.cancel = cancel,
	};
	char tbuf[32];
	int status = -1;
	char *out = NULL;
	int r = rv_proc_run(&o, &status, &out);
	if (r == 0) {
		detail[0] = 0;
		free(out);
		return 0;
	}
	if (r == -ETIMEDOUT) {
		fmt_timeout(timeout_ms, tbuf, sizeof tbuf);
		snprintf(detail, len, "timed out after %s", tbuf);
	} else if (r == -EINTR) {
		snprintf(detail, len, "cancelled");
	} else if (status != -1 && WIFEXITED(status)) {
		size_t n;
		const char *line = last_line(out ? out : "", &n);
		if (n)
			snprintf(detail, len, "exit %d: %.*s", WEXITSTATUS(status), (int)n, line);
		else
			snprintf(detail, len, "exit %d", WEXITSTATUS(status));
	} else if (status != -1 && WIFSIGNALED(status)) {
		snprintf(detail, len, "killed by signal %d", WTERMSIG(status));
	} else {
		snprintf(detail, len, "%s", rv_errmsg(r)); /* not found, cannot be run */
	}
	char buf[256];
	const char *p = rv_printable(detail, buf, sizeof buf); /* the command's own output may hold anything */
	if (p != detail)
		snprintf(detail, len, "%s", p);
	free(out);
	return rv_fail(r == -EIO ? -EIO : r, "health check %s: %s", hc->argv[0], detail);
}

int health_check_run(const struct health_check *hc, const struct rv_cancel *cancel, char *detail, size_t len)
{
	char dummy[8];
	if (!detail || !len)
		detail = dummy, len = sizeof dummy;
	detail[0] = 0;
	if (!hc || hc->kind == HEALTH_CHECK_NONE)
		return 0;
	int64_t timeout_ms = hc->timeout_ms > 0 ? hc->timeout_ms : DEFAULT_TIMEOUT_MS;
	if (hc->kind == HEALTH_CHECK_HTTP) {
		if (!hc->url || !*hc->url) {
			snprintf(detail, len, "no URL to check");
			return rv_fail(-EINVAL, "health check: %s", detail);
		}
		return check_http(hc, timeout_ms, cancel, detail, len);
	}
	if (!hc->argv || !hc->argv[0]) {
		snprintf(detail, len, "no command to run");
		return rv_fail(-EINVAL, "health check: %s", detail);
	}
	return check_command(hc, timeout_ms, cancel, detail, len);
}

void hb_check_copy(struct health_check *dst, const struct health_check *src)
{
	memset(dst, 0, sizeof *dst);
	if (!src)
		return;
	dst->kind = src->kind;
	dst->timeout_ms = src->timeout_ms;
	dst->url = rv_strdup(src->url);
	if (src->argv) {
		size_t n = 0;
		while (src->argv[n])
			n++;
		dst->argv = rv_xcalloc(n + 1, sizeof *dst->argv);
		for (size_t i = 0; i < n; i++)
			dst->argv[i] = rv_strdup(src->argv[i]);
		dst->argc = n;
	}
}

void hb_check_clear(struct health_check *hc)
{
	free(hc->url);
	for (size_t i = 0; hc->argv && hc->argv[i]; i++)
		free(hc->argv[i]);
	free(hc->argv);
	memset(hc, 0, sizeof *hc);
}

/* Two checks the same? (set_targets keeps a target whose check did not change.) */
bool hb_check_equal(const struct health_check *a, const struct health_check *b)
{
	if (a->kind != b->kind || a->timeout_ms != b->timeout_ms)
		return false;
	if ((a->url || b->url) && (!a->url || !b->url || strcmp(a->url, b->url) != 0))
		return false;
	size_t i = 0;
	for (; a->argv && b->argv && a->argv[i] && b->argv[i]; i++)
		if (strcmp(a->argv[i], b->argv[i]) != 0)
			return false;
	return (!a->argv || !a->argv[i]) && (!b->argv || !b->argv[i]);
}
