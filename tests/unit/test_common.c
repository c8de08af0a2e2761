/* Unit tests for common/: sizes, durations, time formats, errors. */
#include <errno.h>
#include <pthread.h>

#include "common/common.h"
#include "tests/unit/unit.h"

TEST(parse_size)
{
	static const struct {
		const char *in;
		uint64_t want;
		int rc;
	} cases[] = {
		{"2300", 2300, 0},          {"22MiB", 23068672, 0}, {"200MB", 200000000, 0},
		{"1.5GiB", 1610612736, 0},  {"8 GiB", 8589934592ULL, 0}, {"1k", 1000, 0},
		{"", 0, -EINVAL},           {"abc", 0, -EINVAL},   {"-5", 0, -EINVAL},
		{"5 parsecs", 0, -EINVAL},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		uint64_t v = 0;
		int r = rv_parse_size(cases[i].in, &v);
		CHECK_INT(r, cases[i].rc);
		if (r == 0)
			CHECK_INT(v, cases[i].want);
	}
}

TEST(parse_duration)
{
	static const struct {
		const char *in;
		int64_t want;
		int rc;
	} cases[] = {
		{"60s", 60000, 0}, {"500ms", 500, 0}, {"1h30m", 5400000, 0}, {"2d", 172800000, 0},
		{"90", 90000, 0},  {"", 0, -EINVAL},  {"5x", 0, -EINVAL},    {"s", 0, -EINVAL},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		int64_t v = 0;
		int r = rv_parse_duration_ms(cases[i].in, &v);
		CHECK_INT(r, cases[i].rc);
		if (r == 0)
			CHECK_INT(v, cases[i].want);
	}
}

TEST(utc_formats_round_trip)
{
	char c[17], r[21];
	int64_t t = 1795298733, back = 0; /* 2026-11-21T22:05:33Z */
	rv_utc_compact(t, c);
	CHECK_STR(c, "20261121T220533Z");
	CHECK_INT(rv_parse_utc_compact(c, &back), 0);
	CHECK_INT(back, t);
	rv_utc_rfc3339(t, r);
	CHECK_STR(r, "2026-11-21T22:05:33Z");
	CHECK_INT(rv_parse_rfc3339(r, &back), 0);
	CHECK_INT(back, t);
	CHECK_INT(rv_parse_rfc3339("2026-11-21 21:52", &back), -EINVAL);
}

TEST(error_wrap_keeps_cause)
{
	int r = rv_fail(-ENOENT, "artifact x not found");
	r = rv_fail_wrap(r, "restore failed");
	CHECK_INT(r, -ENOENT);
	CHECK_STR(rv_errmsg(r), "restore failed: artifact x not found");
	rv_err_clear();
	CHECK_STR(rv_errmsg(-ENOENT), "No such file or directory");
}

TEST(hex_round_trip)
{
	uint8_t in[4] = {0xde, 0xad, 0x00, 0x7f}, out[4];
	char h[9];
	rv_hex(in, 4, h);
	CHECK_STR(h, "dead007f");
	CHECK_INT(rv_unhex(h, out, 4), 0);
	CHECK(memcmp(in, out, 4) == 0);
	CHECK_INT(rv_unhex("zz", out, 1), -EINVAL);
}

TEST(printable_escapes_control_characters_but_keeps_quoted_log_lines)
{
	char buf[64], out[128] = {0};
	CHECK_STR(rv_printable("plain name", buf, sizeof buf), "plain name");
	CHECK_STR(rv_printable("evil\x1b[31m\nok\r\t\x7f", buf, sizeof buf), "evil\\x1b[31m\\nok\\r\\t\\x7f");
	CHECK_STR(rv_printable("\x01\x01\x01", buf, 6), "\\x01");
	FILE *f = fmemopen(out, sizeof out - 1, "w");
	rv_fputs_printable("failed; last lines:\n    port taken\nok  forged\x1b", f);
	fclose(f);
	CHECK_STR(out, "failed; last lines:\n    port taken\\nok  forged\\x1b");
}

TEST(edit_distance_counts_a_swap_as_one)
{
	static const struct {
		const char *a, *b;
		int d;
	} cases[] = {
		{"snapshot", "snapshot", 0}, {"snapshto", "snapshot", 1}, {"snapshots", "snapshot", 1},
		{"snapsht", "snapshot", 1},  {"clustr", "cluster", 1},    {"restroe", "restore", 1},
		{"mant", "maint", 1},        {"dril", "drill", 1},        {"status", "snapshot", 6},
		{"", "drill", 5},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK_INT(rv_edit_distance(cases[i].a, cases[i].b), cases[i].d);
}

TEST(log_lines_start_with_the_priority_the_format_asks_for)
{
	char out[64] = {0};
	FILE *f = fmemopen(out, sizeof out - 1, "w");
	rv_log_set_format(RV_LOG_FORMAT_JOURNAL);
	rv_log_begin_line(RV_LOG_ERROR, f);
	rv_log_begin_line(RV_LOG_WARN, f);
	rv_log_begin_line(RV_LOG_INFO, f);
	rv_log_begin_line(RV_LOG_DEBUG, f);
	rv_log_set_format(RV_LOG_FORMAT_PLAIN);
	rv_log_begin_line(RV_LOG_ERROR, f);
	fclose(f);
	CHECK_STR(out, "<3><4><6><7>");
	memset(out, 0, sizeof out);
	f = fmemopen(out, sizeof out - 1, "w");
	rv_log_set_format(RV_LOG_FORMAT_TIMESTAMPS);
	rv_log_begin_line(RV_LOG_INFO, f);
	rv_log_set_format(RV_LOG_FORMAT_PLAIN);
	fclose(f);
	int64_t t;
	out[20] = 0; /* "2026-12-01T22:00:00Z " */
	CHECK_INT(rv_parse_rfc3339(out, &t), 0);
}

static void *cancel_soon(void *arg)
{
	rv_sleep_ms(50);
	rv_cancel_request(arg);
	return NULL;
}

/* A cancellable sleep sleeps on the flag (no polling) and the request wakes it: a
 * 60 s sleep cancelled after 50 ms returns -EINTR long before its end; a sleep on a
 * flag already set returns at once; a NULL token sleeps the whole time. */
TEST(sleep_cancellable_wakes_on_the_request)
{
	struct rv_cancel c = {0};
	pthread_t t;
	double t0 = rv_now_mono();
	CHECK_INT(pthread_create(&t, NULL, cancel_soon, &c), 0);
	CHECK_INT(rv_sleep_cancellable(60000, &c), -EINTR);
	pthread_join(t, NULL);
	CHECK(rv_now_mono() - t0 < 30); /* far below the 60 s: woken, not timed out */
	CHECK_INT(rv_sleep_cancellable(60000, &c), -EINTR);
	struct rv_cancel idle = {0};
	t0 = rv_now_mono();
	CHECK_INT(rv_sleep_cancellable(30, &idle), 0);
	CHECK(rv_now_mono() - t0 >= 0.029);
	CHECK_INT(rv_sleep_cancellable(10, NULL), 0);
}
