/* Unit tests of the metrics object: what render says before and after updates,
 * escaping, NaN, the order of families, the textfile and reading it back, and the
 * listen address parser. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "scheduler/scheduler.h"
#include "tests/unit/unit.h"

static char *rendered(struct rv_metrics *m, bool textfile)
{
	struct rv_buf b = {0};
	if (textfile)
		rv_metrics_render_textfile(m, &b);
	else
		rv_metrics_render(m, &b);
	return b.data ? b.data : rv_strdup("");
}

/* The line of a series, exactly, in text: "name{labels} value\n". */
static bool has_line(const char *text, const char *line)
{
	size_t l = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += l)
		if ((p == text || p[-1] == '\n') && p[l] == '\n')
			return true;
	return false;
}

#define CHECK_LINE(text, line)                                                                \
	do {                                                                                  \
		if (!has_line(text, line)) {                                                  \
			unit_failed(__FILE__, __LINE__, "no line \"%s\" in:\n%s", line, text); \
			free(text);                                                           \
			return;                                                               \
		}                                                                             \
	} while (0)

TEST(metrics_every_series_exists_from_the_start)
{
	struct rv_metrics *m = rv_metrics_new();
	rv_metrics_job_declare(m, "snapshot");
	rv_metrics_member_declare(m, "etcd1");
	rv_metrics_diskcheck_declare(m, "/var/lib/etcd");
	char *t = rendered(m, false);
	CHECK_LINE(t, "regvault_build_info{version=\"" RV_VERSION "\"} 1");
	CHECK_LINE(t, "regvault_job_last_run_timestamp_seconds{job_name=\"snapshot\"} 0");
	CHECK_LINE(t, "regvault_job_last_success_timestamp_seconds{job_name=\"snapshot\"} 0");
	CHECK_LINE(t, "regvault_job_duration_seconds{job_name=\"snapshot\"} NaN");
	CHECK_LINE(t, "regvault_job_runs_total{job_name=\"snapshot\",result=\"success\"} 0");
	CHECK_LINE(t, "regvault_job_runs_total{job_name=\"snapshot\",result=\"failure\"} 0");
	CHECK_LINE(t, "regvault_job_runs_total{job_name=\"snapshot\",result=\"skipped\"} 0");
	CHECK_LINE(t, "regvault_job_runs_total{job_name=\"snapshot\",result=\"cancelled\"} 0");
	CHECK_LINE(t, "regvault_job_running{job_name=\"snapshot\"} 0");
	CHECK_LINE(t, "regvault_job_next_run_timestamp_seconds{job_name=\"snapshot\"} 0");
	CHECK_LINE(t, "regvault_snapshot_last_size_bytes NaN");
	CHECK_LINE(t, "regvault_snapshot_last_db_size_bytes NaN");
	CHECK_LINE(t, "regvault_snapshot_last_revision NaN");
	CHECK_LINE(t, "regvault_store_artifacts NaN");
	CHECK_LINE(t, "regvault_drill_recovery_point_seconds NaN");
	CHECK_LINE(t, "regvault_drill_recovery_time_seconds NaN");
	CHECK_LINE(t, "regvault_drill_last_result NaN");
	CHECK_LINE(t, "regvault_member_up{member=\"etcd1\"} NaN");
	CHECK_LINE(t, "regvault_member_is_leader{member=\"etcd1\"} NaN");
	CHECK_LINE(t, "regvault_member_db_size_bytes{member=\"etcd1\"} NaN");
	CHECK_LINE(t, "regvault_member_db_size_in_use_bytes{member=\"etcd1\"} NaN");
	CHECK_LINE(t, "regvault_member_restarts_total{member=\"etcd1\"} 0");
	CHECK_LINE(t, "regvault_member_alarm{member=\"etcd1\",alarm=\"NOSPACE\"} NaN");
	CHECK_LINE(t, "regvault_member_alarm{member=\"etcd1\",alarm=\"CORRUPT\"} NaN");
	CHECK_LINE(t, "regvault_hashcheck_consistent NaN");
	CHECK_LINE(t, "regvault_diskcheck_fdatasync_p99_seconds{dir=\"/var/lib/etcd\"} NaN");
	CHECK_LINE(t, "# TYPE regvault_job_runs_total counter");
	CHECK_LINE(t, "# TYPE regvault_member_restarts_total counter");
	CHECK_LINE(t, "# TYPE regvault_job_running gauge");
	/* Every family has HELP and TYPE, each sample follows its own family's. */
	const char *fam = NULL;
	size_t fl = 0, n_types = 0;
	for (const char *line = t; *line;) {
		const char *nl = strchr(line, '\n');
		CHECK(nl);
		if (strncmp(line, "# HELP ", 7) == 0) {
			fam = line + 7;
			fl = strcspn(fam, " ");
			CHECK(strncmp(nl + 1, "# TYPE ", 7) == 0 && strncmp(nl + 8, fam, fl) == 0);
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			n_types++;
		} else {
			CHECK(fam && strncmp(line, fam, fl) == 0 && (line[fl] == '{' || line[fl] == ' '));
		}
		line = nl + 1;
	}
	CHECK_INT(n_types, 22);
	free(t);
	rv_metrics_free(m);
}

TEST(metrics_families_in_a_stable_order)
{
	static const char *const order[] = {
		"regvault_build_info",
		"regvault_job_last_run_timestamp_seconds",
		"regvault_job_last_success_timestamp_seconds",
		"regvault_job_duration_seconds",
		"regvault_job_runs_total",
		"regvault_job_running",
		"regvault_job_next_run_timestamp_seconds",
		"regvault_snapshot_last_size_bytes",
		"regvault_snapshot_last_db_size_bytes",
		"regvault_snapshot_last_revision",
		"regvault_store_artifacts",
		"regvault_drill_recovery_point_seconds",
		"regvault_drill_recovery_time_seconds",
		"regvault_drill_last_result",
		"regvault_member_up",
		"regvault_member_is_leader",
		"regvault_member_db_size_bytes",
		"regvault_member_db_size_in_use_bytes",
		"regvault_member_restarts_total",
		"regvault_member_alarm",
		"regvault_hashcheck_consistent",
		"regvault_diskcheck_fdatasync_p99_seconds",
	};
	struct rv_metrics *m = rv_metrics_new();
	/* Declared in one order, updated in another: series keep the declaration's. */
	rv_metrics_job_declare(m, "snapshot");
	rv_metrics_job_declare(m, "defrag");
	rv_metrics_member_declare(m, "etcd2");
	rv_metrics_member_declare(m, "etcd1");
	rv_metrics_diskcheck_declare(m, "/b");
	rv_metrics_job_finished(m, "defrag", RV_JOB_SUCCESS, 10, 11);
	rv_metrics_member_restarts(m, "etcd1", 3);
	char *t = rendered(m, false), *again = rendered(m, false);
	CHECK_STR(t, again);
	const char *p = t;
	for (size_t i = 0; i < RV_ARRAY_LEN(order); i++) {
		char help[128];
		snprintf(help, sizeof help, "# HELP %s ", order[i]);
		const char *at = strstr(t, help);
		CHECK(at && at >= p);
		p = at;
	}
	CHECK(strstr(t, "job_name=\"snapshot\"} 0\nregvault_job_last_run_timestamp_seconds{job_name=\"defrag\"} 10\n"));
	CHECK(strstr(t, "{member=\"etcd2\"} 0\nregvault_member_restarts_total{member=\"etcd1\"} 3\n"));
	free(t);
	free(again);
	rv_metrics_free(m);
}

TEST(metrics_label_values_are_escaped)
{
	struct rv_metrics *m = rv_metrics_new();
	rv_metrics_diskcheck_declare(m, "/data/a\\b\"c\nd");
	rv_metrics_job_declare(m, "odd \"job\"");
	char *t = rendered(m, false);
	CHECK_LINE(t, "regvault_diskcheck_fdatasync_p99_seconds{dir=\"/data/a\\\\b\\\"c\\nd\"} NaN");
	CHECK_LINE(t, "regvault_job_running{job_name=\"odd \\\"job\\\"\"} 0");
	free(t);
	rv_metrics_free(m);
}

TEST(metrics_values_from_results)
{
	struct rv_metrics *m = rv_metrics_new();
	struct snap_info si = {.size = 123456};
	si.m.db_size = 9876543;
	si.m.revision = 4242;
	rv_metrics_job_started(m, "snapshot", 1700000000.5);
	char *t = rendered(m, false);
	CHECK_LINE(t, "regvault_job_running{job_name=\"snapshot\"} 1");
	CHECK_LINE(t, "regvault_job_last_run_timestamp_seconds{job_name=\"snapshot\"} 1700000000.5");
	free(t);
	rv_metrics_snapshot_saved(m, &si);
	rv_metrics_job_finished(m, "snapshot", RV_JOB_SUCCESS, 1700000000.5, 1700000002.25);
	rv_metrics_job_finished(m, "snapshot", "something else", 1700000100, 1700000101);
	rv_metrics_job_finished(m, "snapshot", RV_JOB_SKIPPED, 1700000200, 1700000200);
	rv_metrics_job_next_run(m, "snapshot", 1700003600);
	rv_metrics_store_artifacts(m, 7);
	t = rendered(m, false);
	CHECK_LINE(t, "regvault_job_running{job_name=\"snapshot\"} 0");
	CHECK_LINE(t, "regvault_job_last_success_timestamp_seconds{job_name=\"snapshot\"} 1700000002.25");
	/* The failure ran after it; the skipped run did not run at all. */
	CHECK_LINE(t, "regvault_job_last_run_timestamp_seconds{job_name=\"snapshot\"} 1700000100");
	CHECK_LINE(t, "regvault_job_duration_seconds{job_name=\"snapshot\"} 1");
	CHECK_LINE(t, "regvault_job_runs_total{job_name=\"snapshot\",result=\"success\"} 1");
	CHECK_LINE(t, "regvault_job_runs_total{job_name=\"snapshot\",result=\"failure\"} 1");
	CHECK_LINE(t, "regvault_job_runs_total{job_name=\"snapshot\",result=\"skipped\"} 1");
	CHECK_LINE(t, "regvault_job_next_run_timestamp_seconds{job_name=\"snapshot\"} 1700003600");
	CHECK_LINE(t, "regvault_snapshot_last_size_bytes 123456");
	CHECK_LINE(t, "regvault_snapshot_last_db_size_bytes 9876543");
	CHECK_LINE(t, "regvault_snapshot_last_revision 4242");
	CHECK_LINE(t, "regvault_store_artifacts 7");
	free(t);

	struct drill_report d = {.age_s = 3600.5, .recovery_time_s = -1, .passed = false};
	rv_metrics_drill(m, &d);
	struct member_row rows[2] = {0};
	snprintf(rows[0].name, sizeof rows[0].name, "etcd1");
	rows[0].h.reachable = true;
	rows[0].h.status.db_size = 2000;
	rows[0].h.status.db_size_in_use = 1000;
	snprintf(rows[0].h.alarms, sizeof rows[0].h.alarms, "NOSPACE");
	rows[0].is_leader = true;
	snprintf(rows[1].name, sizeof rows[1].name, "etcd2");
	rv_metrics_member(m, &rows[0]);
	rv_metrics_member(m, &rows[1]);
	struct maint_hash_row hr[2] = {{.ok = true}, {.ok = false}};
	struct maint_hash_report hrep = {.rows = hr, .n = 2, .consistent = true};
	rv_metrics_hashcheck(m, &hrep, -EAGAIN); /* nothing compared */
	t = rendered(m, false);
	CHECK_LINE(t, "regvault_hashcheck_consistent NaN");
	free(t);
	rv_metrics_hashcheck(m, &hrep, -EHOSTUNREACH);
	struct maint_diskcheck_result dr = {.dir = "/d", .p99_us = 2500};
	rv_metrics_diskcheck(m, &dr);
	t = rendered(m, false);
	CHECK_LINE(t, "regvault_drill_recovery_point_seconds 3600.5");
	CHECK_LINE(t, "regvault_drill_recovery_time_seconds NaN");
	CHECK_LINE(t, "regvault_drill_last_result 0");
	CHECK_LINE(t, "regvault_member_up{member=\"etcd1\"} 1");
	CHECK_LINE(t, "regvault_member_is_leader{member=\"etcd1\"} 1");
	CHECK_LINE(t, "regvault_member_db_size_bytes{member=\"etcd1\"} 2000");
	CHECK_LINE(t, "regvault_member_db_size_in_use_bytes{member=\"etcd1\"} 1000");
	CHECK_LINE(t, "regvault_member_alarm{member=\"etcd1\",alarm=\"NOSPACE\"} 1");
	CHECK_LINE(t, "regvault_member_alarm{member=\"etcd1\",alarm=\"CORRUPT\"} 0");
	/* A member that did not answer: down, and what it holds unknown. */
	CHECK_LINE(t, "regvault_member_up{member=\"etcd2\"} 0");
	CHECK_LINE(t, "regvault_member_is_leader{member=\"etcd2\"} 0");
	CHECK_LINE(t, "regvault_member_db_size_bytes{member=\"etcd2\"} NaN");
	CHECK_LINE(t, "regvault_member_alarm{member=\"etcd2\",alarm=\"NOSPACE\"} NaN");
	CHECK_LINE(t, "regvault_hashcheck_consistent 1");
	CHECK_LINE(t, "regvault_diskcheck_fdatasync_p99_seconds{dir=\"/d\"} 0.0025");
	free(t);
	/* NULL is "no metrics asked": nothing happens. */
	rv_metrics_job_started(NULL, "x", 1);
	rv_metrics_snapshot_saved(NULL, &si);
	rv_metrics_free(NULL);
	rv_metrics_free(m);
}

TEST(metrics_textfile_holds_what_was_touched_and_reads_back)
{
	char dir[] = "/tmp/rv-metrics-XXXXXX", path[64];
	CHECK(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/regvault.prom", dir);
	struct rv_metrics *m = rv_metrics_new();
	struct maint_diskcheck_result dr = {.dir = "/d\"x", .p99_us = 1500};
	rv_metrics_job_finished(m, "diskcheck", RV_JOB_SUCCESS, 100, 102);
	rv_metrics_diskcheck(m, &dr);
	char *t = rendered(m, true);
	CHECK(!strstr(t, "regvault_build_info"));
	CHECK(!strstr(t, "regvault_snapshot_"));
	CHECK(!strstr(t, "regvault_drill_"));
	CHECK(!strstr(t, "regvault_member_"));
	CHECK(!strstr(t, "regvault_job_next_run"));
	CHECK(!strstr(t, "regvault_hashcheck"));
	CHECK_LINE(t, "regvault_job_runs_total{job_name=\"diskcheck\",result=\"success\"} 1");
	free(t);
	CHECK_INT(rv_metrics_write_textfile(m, path), 0);
	rv_metrics_free(m);

	/* A second run that fails: counters go on, the last success stays. */
	m = rv_metrics_new();
	CHECK_INT(rv_metrics_load_textfile(m, path), 0);
	rv_metrics_job_finished(m, "diskcheck", RV_JOB_FAILURE, 200, 201);
	t = rendered(m, true);
	CHECK_LINE(t, "regvault_job_runs_total{job_name=\"diskcheck\",result=\"success\"} 1");
	CHECK_LINE(t, "regvault_job_runs_total{job_name=\"diskcheck\",result=\"failure\"} 1");
	CHECK_LINE(t, "regvault_job_last_success_timestamp_seconds{job_name=\"diskcheck\"} 102");
	CHECK_LINE(t, "regvault_job_last_run_timestamp_seconds{job_name=\"diskcheck\"} 200");
	CHECK_LINE(t, "regvault_diskcheck_fdatasync_p99_seconds{dir=\"/d\\\"x\"} 0.0015");
	free(t);
	CHECK_INT(rv_metrics_write_textfile(m, path), 0);
	rv_metrics_free(m);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);

	/* Missing is no error; a directory that is not there is one sentence. */
	m = rv_metrics_new();
	CHECK_INT(rv_metrics_load_textfile(m, "/nonexistent/regvault.prom"), 0);
	CHECK_INT(rv_metrics_write_textfile(m, "/nonexistent/regvault.prom"), -ENOENT);
	CHECK_CONTAINS(rv_errmsg(-ENOENT), "/nonexistent/regvault.prom");
	rv_metrics_free(m);
	unlink(path);
	rmdir(dir);
}

TEST(metrics_http_listen_refuses_bad_addresses)
{
	static const char *const bad[] = {"9479", "127.0.0.1", "::1:9479", "[::1]9479", "[]:9479", "127.0.0.1:99999",
					  "127.0.0.1:", "127.0.0.1:94x"};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		int fd;
		rv_err_clear();
		int r = rv_metrics_http_listen(bad[i], &fd);
		CHECK_INT(r, -EINVAL);
		CHECK_INT(fd, -1);
		CHECK_CONTAINS(rv_errmsg(r), bad[i]);
	}
	int fd, fd2;
	CHECK_INT(rv_metrics_http_listen("127.0.0.1:0", &fd), 0);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	CHECK(getsockname(fd, (struct sockaddr *)&ss, &sl) == 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	int r = rv_metrics_http_listen(addr, &fd2);
	CHECK_INT(r, -EADDRINUSE);
	CHECK_CONTAINS(rv_errmsg(r), addr);
	CHECK_CONTAINS(rv_errmsg(r), "in use");
	close(fd);
}

/* A job's thread updates while the main loop renders: the mutex keeps every
 * update and every render whole. */
static void *finish_many(void *m)
{
	for (int i = 0; i < 20000; i++)
		rv_metrics_job_finished(m, i % 2 ? "snapshot" : "prune", RV_JOB_SUCCESS, i, i + 1);
	return NULL;
}

TEST(metrics_updates_from_another_thread)
{
	struct rv_metrics *m = rv_metrics_new();
	pthread_t t;
	CHECK(pthread_create(&t, NULL, finish_many, m) == 0);
	for (int i = 0; i < 200; i++) {
		char *text = rendered(m, false);
		bool whole = strstr(text, "# TYPE regvault_diskcheck") == NULL && text[strlen(text) - 1] == '\n';
		free(text);
		CHECK(whole);
	}
	pthread_join(t, NULL);
	char *text = rendered(m, false);
	CHECK_LINE(text, "regvault_job_runs_total{job_name=\"snapshot\",result=\"success\"} 10000");
	CHECK_LINE(text, "regvault_job_runs_total{job_name=\"prune\",result=\"success\"} 10000");
	free(text);
	rv_metrics_free(m);
}
