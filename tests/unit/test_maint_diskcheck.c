/* Unit tests for maint/diskcheck.c: numbers in order, file removed, bad input refused,
 * default directories one per filesystem. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "maint/maint.h"
#include "tests/unit/unit.h"

static char *scratch_dir(void)
{
	char tmpl[] = "/tmp/regvault-unit-diskcheck.XXXXXX";
	char *d = mkdtemp(tmpl);
	return d ? rv_strdup(d) : NULL;
}

static size_t entries(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
	FILE *p = popen(cmd, "r");
	size_t n = 99;
	if (p) {
		if (fscanf(p, "%zu", &n) != 1)
			n = 99;
		pclose(p);
	}
	return n;
}

TEST(diskcheck_measures_and_removes_its_file)
{
	char *dir = scratch_dir();
	CHECK(dir);
	struct maint_diskcheck_opts o = {.dir = dir, .size = 64 * 2300 + 100, .block_size = 2300, .threshold_us = 10000000};
	struct maint_diskcheck_result r;
	CHECK_INT(maint_diskcheck(&o, &r), 0);
	CHECK_INT(r.writes, 64);
	CHECK_INT(r.bytes, 64 * 2300);
	CHECK(r.min_us > 0);
	CHECK(r.min_us <= r.p50_us && r.p50_us <= r.p90_us && r.p90_us <= r.p99_us);
	CHECK(r.p99_us <= r.p999_us && r.p999_us <= r.max_us);
	CHECK(r.iops > 0);
	CHECK(r.pass);
	CHECK_STR(r.dir, dir);
	CHECK_INT(entries(dir), 0);
	o.threshold_us = 1; /* nothing fdatasyncs in under 1 us */
	o.size = 2300 * 4;
	CHECK_INT(maint_diskcheck(&o, &r), 0);
	CHECK(!r.pass);
	rmdir(dir);
	free(dir);
}

TEST(diskcheck_refuses_bad_input)
{
	struct maint_diskcheck_opts o = {.dir = "/tmp", .size = 1000, .block_size = 2300, .threshold_us = 10000};
	struct maint_diskcheck_result r;
	CHECK_INT(maint_diskcheck(&o, &r), -EINVAL);
	CHECK_CONTAINS(rv_errmsg(-EINVAL), "at least one block");
	o.size = 10000;
	o.block_size = 0;
	CHECK_INT(maint_diskcheck(&o, &r), -EINVAL);
	o.block_size = 2300;
	o.threshold_us = 0;
	CHECK_INT(maint_diskcheck(&o, &r), -EINVAL);
	o.threshold_us = 10000;
	o.dir = "/nonexistent/regvault";
	CHECK_INT(maint_diskcheck(&o, &r), -ENOENT);
	CHECK_CONTAINS(rv_errmsg(-ENOENT), "/nonexistent/regvault");
	o.dir = "/etc/hostname";
	CHECK_INT(maint_diskcheck(&o, &r), -ENOTDIR);
}

TEST(diskcheck_default_dirs_one_per_filesystem)
{
	char *dir = scratch_dir();
	CHECK(dir);
	char a[256], b[256];
	snprintf(a, sizeof a, "%s/etcd1", dir);
	snprintf(b, sizeof b, "%s/not/yet/etcd2", dir);
	mkdir(a, 0700);
	struct member_spec m[2] = {{.name = "etcd1", .data_dir = a}, {.name = "etcd2", .data_dir = b}};
	struct cluster_spec cs = {.members = m, .n_members = 2};
	char **dirs = NULL, **members = NULL;
	size_t n = 0;
	CHECK_INT(maint_diskcheck_dirs(&cs, &dirs, &members, &n), 0);
	CHECK_INT(n, 1);
	CHECK_STR(dirs[0], a);
	CHECK_STR(members[0], "etcd1,etcd2");
	maint_strv_free(dirs, n);
	maint_strv_free(members, n);
	rmdir(a);
	rmdir(dir);
	free(dir);
}
