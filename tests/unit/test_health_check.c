/* Unit tests for the heartbeats' health checks (registry/health_check.c): a command's
 * exit status and output in the detail, its timeout, an HTTP port nothing listens on,
 * no check at all, and the report's JSON of registry status. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/registry.h"
#include "scheduler/scheduler.h"
#include "tests/unit/unit.h"

static int run_cmd(char **argv, int64_t timeout_ms, char *detail, size_t len)
{
	size_t n = 0;
	while (argv[n])
		n++;
	struct health_check hc = {.kind = HEALTH_CHECK_COMMAND, .argv = argv, .argc = n, .timeout_ms = timeout_ms};
	return health_check_run(&hc, NULL, detail, len);
}

TEST(health_check_command_exit_status_is_the_detail)
{
	char detail[256];
	char *ok[] = {"true", NULL};
	CHECK_INT(run_cmd(ok, 5000, detail, sizeof detail), 0);
	CHECK_STR(detail, "");
	char *bad[] = {"false", NULL};
	CHECK(run_cmd(bad, 5000, detail, sizeof detail) < 0);
	CHECK_STR(detail, "exit 1");
	char *said[] = {"sh", "-c", "echo first; echo 'connection refused' >&2; exit 3", NULL};
	CHECK(run_cmd(said, 5000, detail, sizeof detail) < 0);
	CHECK_STR(detail, "exit 3: connection refused");
	char *missing[] = {"no-such-program-for-regvault", NULL};
	CHECK_INT(run_cmd(missing, 5000, detail, sizeof detail), -ENOENT);
	CHECK_CONTAINS(detail, "no-such-program-for-regvault");
}

TEST(health_check_command_times_out)
{
	char detail[256];
	char *slow[] = {"sleep", "5", NULL};
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	CHECK_INT(run_cmd(slow, 300, detail, sizeof detail), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK_STR(detail, "timed out after 300ms");
	CHECK((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 3000);
}

TEST(health_check_http_to_a_closed_port_is_unhealthy)
{
	int port;
	CHECK_INT(rv_free_port(&port), 0);
	char url[64], detail[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/health", port);
	struct health_check hc = {.kind = HEALTH_CHECK_HTTP, .url = url, .timeout_ms = 2000};
	CHECK(health_check_run(&hc, NULL, detail, sizeof detail) < 0);
	CHECK_CONTAINS(detail, "onnect");
	/* no check: healthy */
	struct health_check none = {.kind = HEALTH_CHECK_NONE};
	CHECK_INT(health_check_run(&none, NULL, detail, sizeof detail), 0);
	CHECK_INT(health_check_run(NULL, NULL, detail, sizeof detail), 0);
}

TEST(registry_status_json_has_every_key_and_null_for_unknown)
{
	struct registry_status_row rows[2] = {
		{.ns = "a.svc", .type = "service", .version = "1.0.0", .health = "unhealthy", .detail = "HTTP 503",
		 .timestamp = "2025-11-15T22:30:00Z", .kept_by = "regvault daemon on h (pid 1)", .heartbeat_age_s = 2.5,
		 .lease_ttl_s = 27, .heartbeat_count = 12, .in_manifests = true, .in_etcd = true},
		{.ns = "b.pat", .type = "", .health = "-", .heartbeat_age_s = NAN, .lease_ttl_s = -1,
		 .heartbeat_count = -1, .in_etcd = true},
	};
	json_t *j = report_registry_status_json(rows, 2, false);
	char *text = report_json_dumps(j);
	json_decref(j);
	CHECK_CONTAINS(text, "\"ok\": false");
	CHECK_CONTAINS(text, "\"count\": 2");
	CHECK_CONTAINS(text, "\"detail\": \"HTTP 503\"");
	CHECK_CONTAINS(text, "\"heartbeat_age_s\": 2.5");
	CHECK_CONTAINS(text, "\"lease_ttl_s\": 27");
	CHECK_CONTAINS(text, "\"type\": null");
	CHECK_CONTAINS(text, "\"heartbeat_age_s\": null");
	CHECK_CONTAINS(text, "\"last_heartbeat\": \"2025-11-15T22:30:00Z\"");
	free(text);
}
