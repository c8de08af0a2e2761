/* Unit tests for scheduler/job_lock.c (two processes: the test forks) and
 * scheduler/job_history.c (append, read, last N, last success, rotation, a torn
 * line). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "scheduler/scheduler.h"
#include "tests/unit/unit.h"

static char dir[64];

static bool make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/rv-jobs-test-XXXXXX");
	return mkdtemp(dir) != NULL;
}

static void remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* ---- locks ---- */

/* In a child: close what fork copied but fd, above all the parent's lock
 * descriptors, which would otherwise keep the parent's locks alive (a flock
 * belongs to the open file, which parent and child now share). */
static void close_inherited(int keep)
{
	for (int fd = 3; fd < 1024; fd++)
		if (fd != keep)
			close(fd);
}

/* A child that tries the lock and writes the return code and message to fd. */
static pid_t child_try(int fd, enum job_kind k, bool shared, bool wait)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	close_inherited(fd);
	struct job_lock *l = NULL;
	int r = shared ? job_lock_take_shared(dir, k, "regvault snapshot save", &l)
		       : job_lock_take(dir, k, "regvault daemon", wait, NULL, &l);
	char msg[600];
	int n = snprintf(msg, sizeof msg, "%d %s", r, r < 0 ? rv_errmsg(r) : "taken");
	if (write(fd, msg, (size_t)n) < 0)
		_exit(3);
	job_lock_release(l);
	_exit(0);
}

/* What a child_try said. */
static int child_result(int fds[2], pid_t pid, char *msg, size_t len)
{
	int status;
	close(fds[1]);
	ssize_t n = read(fds[0], msg, len - 1);
	close(fds[0]);
	waitpid(pid, &status, 0);
	msg[n > 0 ? n : 0] = 0;
	return atoi(msg);
}

TEST(job_lock_excludes_another_process_and_names_the_holder)
{
	struct job_lock *l;
	char msg[600], want[128];
	int fds[2];
	CHECK(make_dir());
	CHECK_INT(job_lock_take(dir, JOB_SNAPSHOT, "regvault daemon", false, NULL, &l), 0);

	CHECK(pipe(fds) == 0);
	pid_t pid = child_try(fds[1], JOB_SNAPSHOT, false, false);
	CHECK_INT(child_result(fds, pid, msg, sizeof msg), -EBUSY);
	snprintf(want, sizeof want, "job snapshot is already running in regvault daemon (pid %ld, since 20",
		 (long)getpid());
	CHECK_CONTAINS(msg, want);
	CHECK_CONTAINS(msg, "Z); try again when it has finished");

	/* a one-shot command is refused too, and another job is free */
	CHECK(pipe(fds) == 0);
	pid = child_try(fds[1], JOB_SNAPSHOT, true, false);
	CHECK_INT(child_result(fds, pid, msg, sizeof msg), -EBUSY);
	CHECK_CONTAINS(msg, want);
	CHECK(pipe(fds) == 0);
	pid = child_try(fds[1], JOB_DEFRAG, false, false);
	CHECK_INT(child_result(fds, pid, msg, sizeof msg), 0);

	/* released: the next one takes it */
	job_lock_release(l);
	CHECK(pipe(fds) == 0);
	pid = child_try(fds[1], JOB_SNAPSHOT, false, false);
	CHECK_INT(child_result(fds, pid, msg, sizeof msg), 0);
	remove_dir();
}

TEST(job_lock_of_a_killed_holder_is_free)
{
	struct job_lock *l;
	int fds[2];
	CHECK(make_dir());
	CHECK(pipe(fds) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		close_inherited(fds[1]);
		if (job_lock_take(dir, JOB_DRILL, "regvault drill", false, NULL, &l) < 0)
			_exit(1);
		if (write(fds[1], "x", 1) < 0)
			_exit(1);
		alarm(30); /* should the test fail before it kills this */
		pause();   /* holds it until killed */
		_exit(0);
	}
	close(fds[1]);
	char c;
	CHECK(read(fds[0], &c, 1) == 1);
	close(fds[0]);
	int r = job_lock_take(dir, JOB_DRILL, "regvault daemon", false, NULL, &l);
	CHECK_INT(r, -EBUSY);
	CHECK_CONTAINS(rv_errmsg(r), "job drill is already running in regvault drill");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_INT(job_lock_take(dir, JOB_DRILL, "regvault daemon", false, NULL, &l), 0);
	job_lock_release(l);
	remove_dir();
}

/* One-shot commands share the lock among themselves and keep the daemon out. */
TEST(job_lock_shared_holders_run_together_and_keep_the_daemon_out)
{
	struct job_lock *l;
	char msg[600], want[128];
	int fds[2];
	CHECK(make_dir());
	CHECK_INT(job_lock_take_shared(dir, JOB_SNAPSHOT, "regvault snapshot save", &l), 0);
	CHECK(pipe(fds) == 0);
	pid_t pid = child_try(fds[1], JOB_SNAPSHOT, true, false);
	CHECK_INT(child_result(fds, pid, msg, sizeof msg), 0);
	CHECK(pipe(fds) == 0);
	pid = child_try(fds[1], JOB_SNAPSHOT, false, false);
	CHECK_INT(child_result(fds, pid, msg, sizeof msg), -EBUSY);
	snprintf(want, sizeof want, "job snapshot is already running in regvault snapshot save (pid %ld, since ",
		 (long)getpid());
	CHECK_CONTAINS(msg, want);
	job_lock_release(l);
	CHECK(pipe(fds) == 0);
	pid = child_try(fds[1], JOB_SNAPSHOT, false, false);
	CHECK_INT(child_result(fds, pid, msg, sizeof msg), 0);
	remove_dir();
}

TEST(job_lock_wait_takes_it_once_free_and_stops_when_cancelled)
{
	struct job_lock *l, *l2 = NULL;
	char msg[600];
	int fds[2];
	CHECK(make_dir());
	CHECK_INT(job_lock_take(dir, JOB_COMPACT, "regvault maint compact", false, NULL, &l), 0);
	CHECK(pipe(fds) == 0);
	pid_t pid = child_try(fds[1], JOB_COMPACT, false, true); /* waits */
	rv_sleep_ms(300);
	job_lock_release(l);
	CHECK_INT(child_result(fds, pid, msg, sizeof msg), 0);

	/* within one process a second descriptor conflicts as another process would */
	CHECK_INT(job_lock_take(dir, JOB_COMPACT, "regvault maint compact", false, NULL, &l), 0);
	struct rv_cancel cancel = {0};
	rv_cancel_request(&cancel);
	int r = job_lock_take(dir, JOB_COMPACT, "regvault daemon", true, &cancel, &l2);
	CHECK_INT(r, -EINTR);
	CHECK(l2 == NULL);
	CHECK_CONTAINS(rv_errmsg(r), "cancelled while waiting for job compact: job compact is already running in regvault maint compact");
	job_lock_release(l);
	remove_dir();
}

TEST(job_lock_record_and_unusable_state_dir)
{
	struct job_lock *l;
	char path[128], *text;
	size_t len;
	CHECK(make_dir());
	CHECK_INT(job_lock_take(dir, JOB_HASHCHECK, "regvault\nmaint hashcheck", false, NULL, &l), 0);
	snprintf(path, sizeof path, "%s/locks/hashcheck.lock", dir);
	CHECK_INT(rv_read_file(path, &text, &len, 0), 0);
	char want[64];
	snprintf(want, sizeof want, "%ld ", (long)getpid());
	CHECK(strncmp(text, want, strlen(want)) == 0);
	CHECK_CONTAINS(text, " regvault?maint hashcheck "); /* on one line */
	CHECK_INT(len, 256);
	free(text);
	job_lock_release(l);
	CHECK_INT(rv_read_file(path, &text, &len, 0), 0);
	CHECK_INT(len, 0); /* cleared on release */
	free(text);

	/* a lock file some other holder left: a dead pid is not named */
	int fd = open(path, O_WRONLY);
	CHECK(fd >= 0);
	static const char ghost[] = "999999999 1764633139 ghost\n";
	CHECK_INT(rv_write_all(fd, ghost, strlen(ghost)), 0);
	close(fd);
	CHECK_INT(job_lock_take(dir, JOB_HASHCHECK, "regvault daemon", false, NULL, &l), 0);
	job_lock_release(l);

	int r = job_lock_take("/dev/null/state", JOB_SNAPSHOT, "regvault daemon", false, NULL, &l);
	CHECK(r < 0);
	CHECK_CONTAINS(rv_errmsg(r), "cannot create the job lock directory /dev/null/state/locks: ");
	CHECK_CONTAINS(rv_errmsg(r), "set state_dir in the configuration to a directory regvault can write");
	remove_dir();
}

/* ---- history ---- */

static int append(enum job_kind k, int64_t start, const char *result, const char *error, size_t max)
{
	struct job_run r = {.kind = k, .start_ms = start, .end_ms = start + 1500, .result = result,
			    .error = (char *)error};
	if (k == JOB_SNAPSHOT && strcmp(result, "success") == 0)
		r.report = json_pack("{s:s, s:I}", "name", "registry-20261201T000000Z", "revision", (json_int_t)42);
	int rc = max ? job_history_append_max(dir, &r, max) : job_history_append(dir, &r);
	json_decref(r.report);
	return rc;
}

TEST(job_history_append_read_last_n_and_last_success)
{
	struct job_run *v;
	size_t n;
	int64_t end;
	CHECK(make_dir());
	/* nothing yet */
	CHECK_INT(job_history_read(dir, NULL, 0, &v, &n), 0);
	CHECK(v == NULL && n == 0);
	CHECK_INT(job_history_last_success(dir, JOB_SNAPSHOT, &end), 0);
	CHECK_INT(end, 0);

	CHECK_INT(append(JOB_SNAPSHOT, 1000, "success", NULL, 0), 0);
	CHECK_INT(append(JOB_HASHCHECK, 2000, "failure", "member etcd2 answered a different hash", 0), 0);
	CHECK_INT(append(JOB_SNAPSHOT, 3000, "failure", "no member answered", 0), 0);
	CHECK_INT(append(JOB_DEFRAG, 4000, "skipped", "job defrag is already running", 0), 0);
	CHECK_INT(append(JOB_SNAPSHOT, 5000, "cancelled", "the daemon stopped", 0), 0);

	CHECK_INT(job_history_read(dir, NULL, 0, &v, &n), 0);
	CHECK_INT(n, 5);
	CHECK_INT(v[0].kind, JOB_SNAPSHOT);
	CHECK_INT(v[0].start_ms, 1000);
	CHECK_INT(v[0].end_ms, 2500);
	CHECK_STR(v[0].result, "success");
	CHECK(v[0].error == NULL);
	CHECK(v[0].report != NULL);
	CHECK_STR(json_string_value(json_object_get(v[0].report, "name")), "registry-20261201T000000Z");
	CHECK_INT(v[1].kind, JOB_HASHCHECK);
	CHECK_STR(v[1].error, "member etcd2 answered a different hash");
	CHECK(v[1].report == NULL);
	CHECK_STR(v[3].result, "skipped");
	CHECK_STR(v[4].result, "cancelled");
	job_runs_free(v, n);

	/* one job, the last two, oldest first */
	CHECK_INT(job_history_read(dir, "snapshot", 2, &v, &n), 0);
	CHECK_INT(n, 2);
	CHECK_INT(v[0].start_ms, 3000);
	CHECK_INT(v[1].start_ms, 5000);
	job_runs_free(v, n);
	CHECK_INT(job_history_read(dir, "verify", 0, &v, &n), 0);
	CHECK_INT(n, 0);
	job_runs_free(v, n);
	int r = job_history_read(dir, "snapshots", 0, &v, &n);
	CHECK_INT(r, -EINVAL);
	CHECK_CONTAINS(rv_errmsg(r), "'snapshots' is not a job");

	CHECK_INT(job_history_last_success(dir, JOB_SNAPSHOT, &end), 0);
	CHECK_INT(end, 2500);
	CHECK_INT(job_history_last_success(dir, JOB_HASHCHECK, &end), 0);
	CHECK_INT(end, 0);

	/* one line a run, valid JSON each */
	char path[128], *text;
	size_t len;
	snprintf(path, sizeof path, "%s/jobs.jsonl", dir);
	CHECK_INT(rv_read_file(path, &text, &len, 0), 0);
	int lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	CHECK_INT(lines, 5);
	CHECK(strncmp(text, "{\"job\":\"snapshot\",\"start_ms\":1000,\"end_ms\":2500,\"result\":\"success\",\"error\":null,"
			    "\"report\":{",
		      strlen("{\"job\":\"snapshot\",\"start_ms\":1000,\"end_ms\":2500,\"result\":\"success\",\"error\":null,"
			     "\"report\":{")) == 0);
	free(text);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	remove_dir();
}

TEST(job_history_skips_a_torn_line_and_appends_after_it)
{
	struct job_run *v;
	size_t n;
	char path[128];
	CHECK(make_dir());
	CHECK_INT(append(JOB_SNAPSHOT, 1000, "success", NULL, 0), 0);
	snprintf(path, sizeof path, "%s/jobs.jsonl", dir);
	/* a crash in the middle of a write, and a line this version does not know */
	int fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	static const char unknown[] = "{\"job\":\"backup\",\"start_ms\":1,\"end_ms\":2,\"result\":\"success\"}\n";
	static const char torn[] = "{\"job\":\"snapshot\",\"start_ms\":2000,\"end_ms\":25";
	CHECK_INT(rv_write_all(fd, unknown, strlen(unknown)), 0);
	CHECK_INT(rv_write_all(fd, torn, strlen(torn)), 0);
	close(fd);
	CHECK_INT(job_history_read(dir, NULL, 0, &v, &n), 0);
	CHECK_INT(n, 1);
	job_runs_free(v, n);

	/* the next run starts on a line of its own */
	CHECK_INT(append(JOB_VERIFY, 3000, "success", NULL, 0), 0);
	CHECK_INT(job_history_read(dir, NULL, 0, &v, &n), 0);
	CHECK_INT(n, 2);
	CHECK_INT(v[0].start_ms, 1000);
	CHECK_INT(v[1].kind, JOB_VERIFY);
	CHECK_INT(v[1].start_ms, 3000);
	job_runs_free(v, n);
	remove_dir();
}

TEST(job_history_rotates_past_its_size_and_keeps_one_older_file)
{
	struct job_run *v;
	size_t n;
	char path[128], old[128];
	struct stat st;
	CHECK(make_dir());
	snprintf(path, sizeof path, "%s/jobs.jsonl", dir);
	snprintf(old, sizeof old, "%s/jobs.jsonl.1", dir);
	/* a line is about 110 bytes: about four fit in 500 */
	for (int i = 1; i <= 20; i++)
		CHECK_INT(append(JOB_HASHCHECK, i * 1000, "failure", "member etcd2 did not answer", 500), 0);
	CHECK(stat(path, &st) == 0 && st.st_size <= 500);
	CHECK(stat(old, &st) == 0 && st.st_size <= 500);
	CHECK_INT(job_history_read(dir, NULL, 0, &v, &n), 0);
	CHECK(n >= 4 && n < 10);
	for (size_t i = 0; i < n; i++)
		CHECK_INT(v[i].start_ms, (int64_t)(20 - n + 1 + i) * 1000); /* the newest, in order */
	job_runs_free(v, n);

	/* unwritable: the message names the file */
	int r = append(JOB_SNAPSHOT, 1, "success", NULL, 0);
	CHECK_INT(r, 0);
	struct job_run run = {.kind = JOB_SNAPSHOT, .result = "success"};
	r = job_history_append("/dev/null/state", &run);
	CHECK(r < 0);
	CHECK_CONTAINS(rv_errmsg(r), "/dev/null/state/locks");
	remove_dir();
}
