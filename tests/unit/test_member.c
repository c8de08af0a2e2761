/* Unit tests for the member lifecycle pieces that need no etcd: --initial-cluster,
 * the files beside a data dir, the log tail, telling a stale pid file from a
 * running member, stopping what is not running, starting a missing binary. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <ftw.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "registry/registry.h"
#include "tests/unit/unit.h"

static char scratch[PATH_MAX];

static const char *scratch_dir(void)
{
	snprintf(scratch, sizeof scratch, "/tmp/regvault-unit-member-%d", (int)getpid());
	rv_mkdir_p(scratch, 0700);
	return scratch;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

__attribute__((destructor)) static void remove_scratch(void)
{
	if (scratch[0])
		nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static struct member_spec members[2] = {
	{.name = "etcd1", .client_url = "http://127.0.0.1:1", .peer_url = "http://127.0.0.1:2"},
	{.name = "etcd2", .client_url = "http://127.0.0.1:3", .peer_url = "http://127.0.0.1:4"},
};

TEST(member_initial_cluster)
{
	struct cluster_spec cs = {.members = members, .n_members = 2};
	char *s = cluster_initial_cluster(&cs);
	CHECK_STR(s, "etcd1=http://127.0.0.1:2,etcd2=http://127.0.0.1:4");
	free(s);
	cs.n_members = 0;
	s = cluster_initial_cluster(&cs);
	CHECK_STR(s, "");
	free(s);
}

TEST(member_files_beside_the_data_dir)
{
	char buf[PATH_MAX];
	struct member_spec m = {.name = "e", .data_dir = "/var/lib/regvault/etcd1/"};
	member_pid_path(&m, buf, sizeof buf);
	CHECK_STR(buf, "/var/lib/regvault/etcd1.pid");
	member_log_path(&m, buf, sizeof buf);
	CHECK_STR(buf, "/var/lib/regvault/etcd1.log");
}

TEST(member_log_tail_gives_the_last_lines)
{
	char dir[PATH_MAX], log[PATH_MAX + 8];
	snprintf(dir, sizeof dir, "%s/tail", scratch_dir());
	snprintf(log, sizeof log, "%s.log", dir);
	struct member_spec m = {.name = "e", .data_dir = dir};

	unlink(log);
	char *t = member_log_tail(&m, 3);
	CHECK_STR(t, ""); /* no log yet */
	free(t);

	write_text(log, "one\ntwo\nthree\nfour\nfive\n\n");
	t = member_log_tail(&m, 3);
	CHECK_STR(t, "three\nfour\nfive");
	free(t);
	t = member_log_tail(&m, 10);
	CHECK_STR(t, "one\ntwo\nthree\nfour\nfive");
	free(t);

	/* A large log: only its end is read, never a partial first line. */
	FILE *f = fopen(log, "w");
	CHECK(f != NULL);
	for (int i = 0; i < 20000; i++)
		fprintf(f, "line %d of a long etcd log\n", i);
	fclose(f);
	t = member_log_tail(&m, 2);
	CHECK_STR(t, "line 19998 of a long etcd log\nline 19999 of a long etcd log");
	free(t);
	unlink(log);
}

TEST(member_stale_pid_file_is_not_running)
{
	char dir[PATH_MAX], pid[PATH_MAX + 8], line[32];
	snprintf(dir, sizeof dir, "%s/stale", scratch_dir());
	snprintf(pid, sizeof pid, "%s.pid", dir);
	struct member_spec m = {.name = "e", .data_dir = dir};

	unlink(pid);
	CHECK_INT(member_running_pid(&m), 0);
	/* our own pid: alive, but no etcd of this data dir */
	snprintf(line, sizeof line, "%d\n", (int)getpid());
	write_text(pid, line);
	CHECK_INT(member_running_pid(&m), 0);
	write_text(pid, "not a pid\n");
	CHECK_INT(member_running_pid(&m), 0);
	write_text(pid, "-5\n");
	CHECK_INT(member_running_pid(&m), 0);

	/* stopping a member that is not running succeeds and clears the stale file */
	struct cluster_spec cs = {.members = &m, .n_members = 1};
	CHECK_INT(member_stop(&cs, 0, 1000), 0);
	CHECK(!rv_path_exists(pid));
	CHECK_INT(cluster_down(&cs, 1000), 0);
}

TEST(member_start_with_a_missing_binary_names_the_member)
{
	char dir[PATH_MAX], pid[PATH_MAX + 8], log[PATH_MAX + 8];
	snprintf(dir, sizeof dir, "%s/nobin/etcd1", scratch_dir());
	snprintf(pid, sizeof pid, "%s.pid", dir);
	snprintf(log, sizeof log, "%s.log", dir);
	struct member_spec m = {.name = "etcd1",
				.client_url = "http://127.0.0.1:1",
				.peer_url = "http://127.0.0.1:2",
				.data_dir = dir};
	struct cluster_spec cs = {.name = "t", .token = "t", .members = &m, .n_members = 1};
	cs.etcd.binary = "/nonexistent/regvault-test/etcd";

	int r = member_start(&cs, 0);
	CHECK_INT(r, -ENOENT);
	CHECK_CONTAINS(rv_errmsg(r), "member etcd1");
	CHECK_CONTAINS(rv_errmsg(r), "/nonexistent/regvault-test/etcd");
	CHECK(!rv_path_exists(pid));
	char *t = member_log_tail(&m, 5);
	CHECK_CONTAINS(t, "cannot run etcd binary");
	free(t);

	/* cluster up says the same, with the log's tail */
	r = cluster_up(&cs, 1000, NULL);
	CHECK_INT(r, -ENOENT);
	CHECK_CONTAINS(rv_errmsg(r), "last lines of");
	CHECK_CONTAINS(rv_errmsg(r), "cannot run etcd binary");
	unlink(log);
}

TEST(member_start_with_a_binary_that_is_no_program)
{
	char dir[PATH_MAX], bin[PATH_MAX + 8];
	snprintf(dir, sizeof dir, "%s/noexec/etcd1", scratch_dir());
	snprintf(bin, sizeof bin, "%s/noexec/etcd", scratch_dir());
	rv_mkdir_p(dir, 0700);
	write_text(bin, "\x7f" "ELF garbage");
	chmod(bin, 0755);
	struct member_spec m = {.name = "etcd1",
				.client_url = "http://127.0.0.1:1",
				.peer_url = "http://127.0.0.1:2",
				.data_dir = dir};
	struct cluster_spec cs = {.name = "t", .token = "t", .members = &m, .n_members = 1};
	cs.etcd.binary = bin;
	int r = member_start(&cs, 0);
	CHECK_INT(r, -ENOEXEC);
	CHECK_CONTAINS(rv_errmsg(r), "cannot start member etcd1: cannot execute");
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A running etcd keeps its log open with O_APPEND: after a rotation its next line
 * lands at the start of the truncated file, and the old lines are in .log.1, .log.2. */
TEST(member_log_rotates_under_an_open_appending_writer)
{
	char data[PATH_MAX], log[PATH_MAX], one[PATH_MAX + 8], two[PATH_MAX + 8], three[PATH_MAX + 8];
	snprintf(data, sizeof data, "%s/rot", scratch_dir());
	struct member_spec m = {.name = "etcd1", .data_dir = data};
	member_log_path(&m, log, sizeof log);
	snprintf(one, sizeof one, "%s.1", log);
	snprintf(two, sizeof two, "%s.2", log);
	snprintf(three, sizeof three, "%s.3", log);
	bool rotated = true;
	CHECK(member_log_rotate(&m, 100, 2, &rotated) == 0); /* no log yet */
	CHECK(!rotated);

	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	CHECK(fd >= 0);
	char first[300];
	memset(first, 'a', sizeof first);
	CHECK(rv_write_all(fd, first, sizeof first) == 0);
	CHECK(member_log_rotate(&m, 1000, 2, &rotated) == 0); /* under the limit */
	CHECK(!rotated);
	CHECK(member_log_rotate(&m, 100, 2, &rotated) == 0);
	CHECK(rotated);
	CHECK(file_size(log) == 0);
	CHECK(file_size(one) == (long)sizeof first);
	CHECK(rv_write_all(fd, "bbbb\n", 5) == 0);
	CHECK(file_size(log) == 5); /* no hole: O_APPEND writes at the new end */

	char second[200];
	memset(second, 'c', sizeof second);
	CHECK(rv_write_all(fd, second, sizeof second) == 0);
	CHECK(member_log_rotate(&m, 100, 2, &rotated) == 0);
	CHECK(rotated);
	CHECK(file_size(one) == 205);
	CHECK(file_size(two) == (long)sizeof first);
	CHECK(rv_write_all(fd, second, sizeof second) == 0);
	CHECK(member_log_rotate(&m, 100, 2, &rotated) == 0);
	CHECK(file_size(three) == -1); /* keep 2: the oldest is dropped */
	CHECK(file_size(two) == 205);
	close(fd);
}

static void *cancel_soon(void *arg)
{
	rv_sleep_ms(300);
	rv_cancel_request(arg);
	return NULL;
}

TEST(member_wait_healthy_ends_when_cancelled)
{
	/* Nothing listens on the member's port: without the cancel, a minute. */
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/cancel/etcd1", scratch_dir());
	int port = 0;
	CHECK_INT(rv_free_port(&port), 0);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	struct member_spec m = {.name = "etcd1", .client_url = url, .peer_url = "http://127.0.0.1:2", .data_dir = dir};
	struct cluster_spec cs = {.name = "t", .token = "t", .members = &m, .n_members = 1};
	struct rv_cancel c = {0};
	pthread_t t;
	etcd_global_init();
	CHECK_INT(pthread_create(&t, NULL, cancel_soon, &c), 0);
	int r = cluster_wait_healthy(&cs, 60000, &c);
	pthread_join(t, NULL);
	etcd_global_shutdown();
	CHECK_INT(r, -EINTR);
	CHECK_CONTAINS(rv_errmsg(r), "was interrupted");
}
