/* Unit tests for the daemon: section of the configuration (scheduler/config_daemon.c):
 * bad input as a table (line numbers in every message), the defaults, every key. */
#include <errno.h>

#include "common/common.h"
#include "scheduler/scheduler.h"
#include "tests/unit/unit.h"

/* Five lines; the daemon section starts on line 6. */
#define CLUSTER                                                                                  \
	"cluster:\n"                                                                             \
	"  name: reg\n"                                                                          \
	"  members:\n"                                                                           \
	"    - {name: e1, client_url: http://127.0.0.1:1, peer_url: http://127.0.0.1:2, data_dir: /d/e1}\n" \
	"    - {name: e2, client_url: http://127.0.0.1:3, peer_url: http://127.0.0.1:4, data_dir: /d/e2}\n"
#define JOBS CLUSTER "daemon:\n  jobs:\n" /* a job's name is on line 8 */

static const struct {
	const char *what, *yaml, *msg;
} bad_cases[] = {
	{"unknown daemon key", CLUSTER "daemon:\n  supervise: true\n", "line 7: unknown key daemon.supervise"},
	{"daemon a list", CLUSTER "daemon: [a]\n", "line 6: daemon must be a mapping"},
	{"duration without a unit", CLUSTER "daemon:\n  stop_timeout: 30\n",
	 "line 7: daemon.stop_timeout must be a duration with a unit, like 500ms, 5s, 2m or 1h, not '30'"},
	{"duration not a duration", CLUSTER "daemon:\n  health_interval: 5 seconds\n",
	 "line 7: daemon.health_interval must be a duration like 500ms, 5s, 2m or 1h, not '5 seconds'"},
	{"duration out of range", CLUSTER "daemon:\n  health_interval: 2h\n",
	 "line 7: daemon.health_interval must be between 100ms and 1h, not 2h"},
	{"duration empty", CLUSTER "daemon:\n  jitter:\n", "line 7: daemon.jitter has no value; it must be a duration"},
	{"negative duration", CLUSTER "daemon:\n  jitter: -5s\n", "daemon.jitter must be a duration like"},
	{"restart_limit negative", CLUSTER "daemon:\n  restart_limit: -1\n",
	 "line 7: daemon.restart_limit must be between 0 and 1000, not -1"},
	{"supervise_members not a bool", CLUSTER "daemon:\n  supervise_members: yes\n",
	 "daemon.supervise_members must be true or false, not 'yes'"},
	{"metrics_listen without a port", CLUSTER "daemon:\n  metrics_listen: localhost\n",
	 "line 7: daemon.metrics_listen must be host:port like 127.0.0.1:9479, or \"\" for no metrics endpoint, not 'localhost'"},
	{"metrics_listen port out of range", CLUSTER "daemon:\n  metrics_listen: 127.0.0.1:70000\n", "must be host:port"},
	{"control_socket too long", CLUSTER "daemon:\n  control_socket: /run/"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
	 "line 7: daemon.control_socket is 127 characters long; a socket's path may have at most 107"},
	{"jobs a list", CLUSTER "daemon:\n  jobs: [snapshot]\n", "line 7: daemon.jobs must be a mapping"},
	{"unknown job", JOBS "    backup:\n      every: 1h\n", "line 8: unknown key daemon.jobs.backup"},
	{"unknown job key", JOBS "    snapshot:\n      every: 1h\n      retries: 3\n",
	 "line 10: unknown key daemon.jobs.snapshot.retries"},
	{"job a string", JOBS "    snapshot: hourly\n", "line 8: daemon.jobs.snapshot must be a mapping"},
	{"bad cron field", JOBS "    defrag:\n      cron: \"0 25 * * *\"\n",
	 "line 9: daemon.jobs.defrag.cron is not a valid schedule: cron expression '0 25 * * *': the hour field '25' "
	 "is out of range 0-23"},
	{"cron with four fields", JOBS "    defrag:\n      cron: \"0 3 * *\"\n",
	 "line 9: daemon.jobs.defrag.cron is not a valid schedule: cron expression '0 3 * *' has 4 fields"},
	{"cron macro unknown", JOBS "    drill:\n      cron: \"@fortnightly\"\n", "is not one of @hourly, @daily"},
	{"cron macro unquoted", JOBS "    drill:\n      cron: @weekly\n",
	 "line 9: YAML syntax error: found character that cannot start any token"},
	{"both cron and every", JOBS "    snapshot:\n      cron: \"0 * * * *\"\n      every: 1h\n",
	 "line 10: daemon.jobs.snapshot.cron and daemon.jobs.snapshot.every exclude each other; keep one"},
	{"both, every first", JOBS "    snapshot: {every: 1h, cron: \"0 * * * *\"}\n",
	 "line 8: daemon.jobs.snapshot.cron and daemon.jobs.snapshot.every exclude each other"},
	{"neither", JOBS "    verify:\n      timeout: 5m\n",
	 "line 8: daemon.jobs.verify needs a schedule: cron: (like \"0 * * * *\") or every: (like 5m), or enabled: false"},
	{"neither, enabled", JOBS "    verify:\n      enabled: true\n", "line 8: daemon.jobs.verify needs a schedule"},
	{"neither, no value", JOBS "    verify:\n", "line 8: daemon.jobs.verify needs a schedule"},
	{"every too short", JOBS "    hashcheck:\n      every: 500ms\n",
	 "line 9: daemon.jobs.hashcheck.every must be between 1s and 31d, not 500ms"},
	{"timeout a number", JOBS "    hashcheck:\n      every: 5m\n      timeout: 60\n",
	 "line 10: daemon.jobs.hashcheck.timeout must be a duration with a unit"},
	{"enabled not a bool", JOBS "    drill:\n      enabled: sometimes\n",
	 "line 9: daemon.jobs.drill.enabled must be true or false, not 'sometimes'"},
	{"duplicate job", JOBS "    drill: {every: 1h}\n    drill: {every: 2h}\n",
	 "line 9: duplicate key daemon.jobs.drill (first on line 8)"},
};

TEST(config_daemon_bad_input)
{
	for (size_t i = 0; i < RV_ARRAY_LEN(bad_cases); i++) {
		struct rv_config cfg;
		rv_err_clear();
		int r = config_parse(bad_cases[i].yaml, strlen(bad_cases[i].yaml), "t.yaml", &cfg);
		if (r != -EINVAL) {
			unit_failed(__FILE__, __LINE__, "case '%s': rc %d, expected -EINVAL (%s)", bad_cases[i].what, r,
				    rv_errmsg(r));
			if (r == 0)
				config_free(&cfg);
			return;
		}
		if (!strstr(rv_errmsg(r), bad_cases[i].msg)) {
			unit_failed(__FILE__, __LINE__, "case '%s': message \"%s\" does not contain \"%s\"",
				    bad_cases[i].what, rv_errmsg(r), bad_cases[i].msg);
			return;
		}
		CHECK(cfg.daemon.control_socket == NULL && cfg.daemon.jobs[JOB_SNAPSHOT].cron == NULL); /* freed */
	}
}

TEST(config_daemon_defaults)
{
	static const char y[] = CLUSTER;
	struct rv_config c;
	CHECK_INT(config_parse(y, strlen(y), "t.yaml", &c), 0);
	const struct daemon_settings *d = &c.daemon;
	CHECK(d->supervise_members);
	CHECK_INT(d->health_interval_ms, 5000);
	CHECK_INT(d->restart_limit, 5);
	CHECK(!d->stop_members_on_exit);
	CHECK_INT(d->jitter_ms, 0);
	CHECK_INT(d->stop_timeout_ms, 30000);
	CHECK_STR(d->control_socket, "/run/regvault/regvault.sock");
	CHECK_STR(d->metrics_listen, "127.0.0.1:9479");
	static const struct {
		enum job_kind k;
		const char *cron;
		int64_t every_ms, timeout_ms;
	} want[] = {
		{JOB_SNAPSHOT, "0 * * * *", 0, 3600000},  {JOB_VERIFY, "20 4 * * *", 0, 3600000},
		{JOB_COMPACT, "15 3 * * *", 0, 600000},   {JOB_DEFRAG, "30 3 * * *", 0, 3600000},
		{JOB_HASHCHECK, NULL, 300000, 60000},     {JOB_DISKCHECK, "40 4 * * *", 0, 600000},
		{JOB_DRILL, "15 5 * * 0", 0, 3600000},
	};
	CHECK_INT(RV_ARRAY_LEN(want), JOB_KIND_COUNT);
	for (size_t i = 0; i < RV_ARRAY_LEN(want); i++) {
		const struct job_schedule *s = &d->jobs[want[i].k];
		CHECK(s->enabled);
		if (want[i].cron) {
			CHECK_STR(s->cron_text, want[i].cron);
			CHECK(s->cron != NULL);
		} else {
			CHECK(s->cron_text == NULL && s->cron == NULL);
		}
		CHECK_INT(s->every_ms, want[i].every_ms);
		CHECK_INT(s->timeout_ms, want[i].timeout_ms);
		CHECK_INT(s->jitter_ms, 0);
	}
	config_free(&c);
	CHECK(c.daemon.control_socket == NULL);
	config_free(&c);
}

TEST(config_daemon_every_key)
{
	static const char y[] = CLUSTER
		"daemon:\n"
		"  supervise_members: false\n"
		"  health_interval: 500ms\n"
		"  restart_limit: 0\n"
		"  stop_members_on_exit: true\n"
		"  jitter: 2m\n"
		"  stop_timeout: 1m30s\n"
		"  control_socket: /tmp/rv.sock\n"
		"  metrics_listen: \"[::1]:9100\"\n"
		"  jobs:\n"
		"    snapshot:\n"
		"      every: 15m\n"       /* every replaces the default cron */
		"      timeout: 0\n"
		"    hashcheck:\n"
		"      cron: \"*/10 * * * MON-FRI\"\n" /* cron replaces the default every */
		"      jitter: 0\n"
		"    defrag: {enabled: false}\n"
		"    drill: {cron: \"@monthly\", timeout: 2h, jitter: 10m}\n"
		"    verify: {cron: \"@daily\", enabled: true}\n";
	struct rv_config c;
	int r = config_parse(y, strlen(y), "t.yaml", &c);
	if (r < 0)
		unit_failed(__FILE__, __LINE__, "%s", rv_errmsg(r));
	CHECK_INT(r, 0);
	const struct daemon_settings *d = &c.daemon;
	CHECK(!d->supervise_members);
	CHECK_INT(d->health_interval_ms, 500);
	CHECK_INT(d->restart_limit, 0);
	CHECK(d->stop_members_on_exit);
	CHECK_INT(d->jitter_ms, 120000);
	CHECK_INT(d->stop_timeout_ms, 90000);
	CHECK_STR(d->control_socket, "/tmp/rv.sock");
	CHECK_STR(d->metrics_listen, "[::1]:9100");
	const struct job_schedule *s = &d->jobs[JOB_SNAPSHOT];
	CHECK(s->enabled && !s->cron && !s->cron_text);
	CHECK_INT(s->every_ms, 900000);
	CHECK_INT(s->timeout_ms, 0);
	CHECK_INT(s->jitter_ms, 120000); /* the daemon's, given after the jobs in no particular order */
	s = &d->jobs[JOB_HASHCHECK];
	CHECK_STR(s->cron_text, "*/10 * * * MON-FRI");
	CHECK(s->cron != NULL);
	CHECK_INT(s->every_ms, 0);
	CHECK_INT(s->jitter_ms, 0);
	CHECK_INT(s->timeout_ms, 60000); /* the default stays */
	s = &d->jobs[JOB_DEFRAG];
	CHECK(!s->enabled);
	CHECK_STR(s->cron_text, "30 3 * * *");
	s = &d->jobs[JOB_DRILL];
	CHECK_STR(s->cron_text, "@monthly");
	CHECK_INT(s->timeout_ms, 7200000);
	CHECK_INT(s->jitter_ms, 600000);
	CHECK(d->jobs[JOB_VERIFY].enabled);
	CHECK_STR(d->jobs[JOB_VERIFY].cron_text, "@daily");
	CHECK_STR(d->jobs[JOB_COMPACT].cron_text, "15 3 * * *"); /* not named: the default */
	config_free(&c);
}

TEST(config_daemon_small_variants)
{
	static const char *const ok[] = {
		CLUSTER "daemon:\n",
		CLUSTER "daemon: {}\n",
		CLUSTER "daemon:\n  jobs:\n",
		CLUSTER "daemon:\n  metrics_listen: \"\"\n",
		CLUSTER "daemon:\n  metrics_listen: \":9479\"\n",
		CLUSTER "daemon:\n  jitter: 0s\n  health_interval: 1h\n",
		JOBS "    verify: {enabled: false, every: 1h}\n",
		JOBS "    verify: {enabled: false, timeout: 5m}\n",
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(ok); i++) {
		struct rv_config c;
		int r = config_parse(ok[i], strlen(ok[i]), "t.yaml", &c);
		if (r < 0) {
			unit_failed(__FILE__, __LINE__, "case %zu: %s", i, rv_errmsg(r));
			return;
		}
		if (i == 3)
			CHECK_STR(c.daemon.metrics_listen, "");
		config_free(&c);
	}
}
