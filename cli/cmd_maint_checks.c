/* cmd_maint_checks.c - 'regvault maint hashcheck|diskcheck|perfcheck': the checks that
 * judge a cluster (consistency across members, the disk under each member, the
 * cluster's speed) without changing it. Parses options, calls the maint module,
 * prints a table or JSON. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cmd_maint.h"

static const char usage_hashcheck[] =
	"usage: regvault maint hashcheck\n"
	"\n"
	"HashKV of every member at one common revision. A member that disagrees with the\n"
	"majority is reported as possible corruption (exit 1). A member that does not answer\n"
	"is named (exit 1); the members that answered are still compared among themselves.\n";

static const char usage_diskcheck[] =
	"usage: regvault maint diskcheck [--dir DIR] [--size 22MiB] [--block-size 2300] [--threshold 10ms]\n"
	"\n"
	"The disk test etcd's operators run with fio (--rw=write --ioengine=sync --fdatasync=1\n"
	"--size=22m --bs=2300): sequential writes of the block size, fdatasync after each, on a\n"
	"test file in DIR (default: the filesystem of each member's data dir), removed\n"
	"afterwards. Passes when the 99th percentile of fdatasync latency is under the\n"
	"threshold (exit 1 otherwise).\n";

static const char usage_perfcheck[] =
	"usage: regvault maint perfcheck [--load s|m|l|xl] [--duration 60s]\n"
	"\n"
	"Like etcdctl check perf: puts 1 KiB values under " MAINT_PERF_PREFIX " at the load's\n"
	"rate (s: 150/s from 50 clients, m: 1000/s from 200, l: 8000/s from 500, xl: 15000/s\n"
	"from 1000) and judges by etcd's rules: throughput >= 90 % of the target, slowest\n"
	"request <= 0.5 s, stddev <= 0.1 s, no errors (exit 1 otherwise). Refuses to start\n"
	"when the prefix holds keys; deletes its keys afterwards, also when interrupted.\n";

/* ---- hashcheck ---- */

/* A table of members none of which answered says nothing the error does not. */
static bool any_answered(const struct maint_hash_report *rep)
{
	for (size_t i = 0; i < rep->n; i++)
		if (rep->rows[i].ok)
			return true;
	return false;
}

int cli_maint_hashcheck(struct cli *cli, int argc, char **argv)
{
	int rc = cli_maint_only_help_option("maint hashcheck", usage_hashcheck, argc, argv);
	if (rc >= 0)
		return rc;

	struct rv_config cfg = {0};
	etcd_client *c = NULL;
	rc = cli_maint_open_cluster(cli, &cfg, &c);
	if (rc != RV_EXIT_OK)
		return rc;
	struct job_lock *lock = NULL;
	if ((rc = cli_job_lock(&cfg, JOB_HASHCHECK, "regvault maint hashcheck", &lock)) != RV_EXIT_OK) {
		cli_maint_close_cluster(&cfg, c);
		return rc;
	}
	struct maint_hash_report rep;
	int r = maint_hashcheck(c, &cfg.cluster, &rep);
	rv_metrics_hashcheck(cli->metrics, &rep, r);
	if (cli->json) {
		cli_print_json(report_hashcheck_json(&rep));
	} else if (any_answered(&rep)) {
		printf("HashKV at revision %lld\n", (long long)rep.revision);
		printf("%-16s %-10s %16s  %s\n", "MEMBER", "HASH", "COMPACT REV", "RESULT");
		for (size_t i = 0; i < rep.n; i++) {
			const struct maint_hash_row *row = &rep.rows[i];
			char h[9] = "-", cr[24] = "-";
			if (row->ok)
				snprintf(h, sizeof h, "%08" PRIx32, row->hash);
			/* etcd says -1 for a member that was never compacted. */
			if (row->ok && row->compact_revision >= 0)
				snprintf(cr, sizeof cr, "%lld", (long long)row->compact_revision);
			printf("%-16s %-10s %16s  %s\n", row->name, h, cr,
			       !row->ok ? "no answer" : row->agrees ? "agrees" : "DISAGREES");
		}
		if (r == 0)
			printf("Every member has the same data.\n");
	}
	if (r < 0)
		rc = cli_fail(r);
	maint_hash_report_free(&rep);
	job_lock_release(lock);
	cli_maint_close_cluster(&cfg, c);
	return rc;
}

/* ---- diskcheck ---- */

/* "10ms", "500us", "0.5s" -> microseconds. */
static bool parse_threshold_us(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	double mult;
	if (errno || end == s || !(v > 0))
		return false;
	if (strcmp(end, "us") == 0)
		mult = 1;
	else if (strcmp(end, "ms") == 0)
		mult = 1e3;
	else if (strcmp(end, "s") == 0)
		mult = 1e6;
	else
		return false;
	if (v * mult < 1 || v * mult > 3.6e9)
		return false;
	*out = (int64_t)(v * mult + 0.5);
	return true;
}

static const char *fmt_us(double us, char *buf, size_t len)
{
	if (us < 1000)
		snprintf(buf, len, "%.0f us", us);
	else
		snprintf(buf, len, "%.2f ms", us / 1000);
	return buf;
}

int cli_maint_diskcheck(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"size", required_argument, NULL, 's'},
		{"block-size", required_argument, NULL, 'b'},
		{"threshold", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *sub = "maint diskcheck";
	struct maint_diskcheck_opts o = {.size = 22u << 20, .block_size = 2300, .threshold_us = 10000};
	int ch;
	cli_maint_opts_begin();
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(usage_diskcheck, stdout); return RV_EXIT_OK;
		case 'd':
			if (!*optarg)
				return cli_usage_error(sub, "--dir needs a directory");
			o.dir = optarg;
			break;
		case 's':
			if (rv_parse_size(optarg, &o.size) < 0 || o.size == 0 || o.size > (64ull << 30))
				return cli_usage_error(sub, "--size takes a size up to 64GiB such as 22MiB, not '%s'", optarg);
			break;
		case 'b':
			if (rv_parse_size(optarg, &o.block_size) < 0 || o.block_size == 0 || o.block_size > (64u << 20))
				return cli_usage_error(sub, "--block-size takes a size from 1 byte to 64MiB such as 2300, not '%s'",
						       optarg);
			break;
		case 't':
			if (!parse_threshold_us(optarg, &o.threshold_us))
				return cli_usage_error(sub, "--threshold takes a duration above 0 with a unit (us, ms, s) such as 10ms, not '%s'",
						       optarg);
			break;
		default: return cli_option_error(sub, ch, argc, argv);
		}
	}
	if (cli_maint_extra_args(sub, argc, argv))
		return RV_EXIT_USAGE;
	if (o.size < o.block_size)
		return cli_usage_error(sub, "--size (%llu bytes) must be at least one block (--block-size %llu)",
				       (unsigned long long)o.size, (unsigned long long)o.block_size);

	char **dirs = NULL, **members = NULL;
	size_t n = 0;
	struct rv_config cfg = {0};
	struct job_lock *lock = NULL;
	bool have_cfg = false;
	if (o.dir) {
		dirs = rv_xcalloc(2, sizeof *dirs);
		dirs[0] = rv_strdup(o.dir);
		n = 1;
	} else {
		int rc = cli_load_config(cli, &cfg);
		if (rc != RV_EXIT_OK)
			return rc;
		have_cfg = true;
		/* The members' disks are the job's; a --dir of one's own is not. */
		if ((rc = cli_job_lock(&cfg, JOB_DISKCHECK, "regvault maint diskcheck", &lock)) != RV_EXIT_OK) {
			config_free(&cfg);
			return rc;
		}
		maint_diskcheck_dirs(&cfg.cluster, &dirs, &members, &n);
		if (n == 0) {
			job_lock_release(lock);
			config_free(&cfg);
			free(dirs);
			free(members);
			return cli_usage_error(sub, "the configuration has no members; pass --dir");
		}
	}

	cli_catch_interrupts();
	struct cli_progress prog = {.label = "diskcheck"};
	o.progress = cli_progress_cb;
	o.progress_ud = &prog;
	o.cancel = &cli_cancel;
	struct maint_diskcheck_result *res = rv_xcalloc(n, sizeof *res);
	int rc = RV_EXIT_OK, r = 0;
	size_t done = 0, worst = 0;
	bool pass = true;
	for (; done < n; done++) {
		o.dir = dirs[done];
		rv_debug("diskcheck: %s (%llu writes of %llu bytes, fdatasync after each)", o.dir,
			(unsigned long long)(o.size / o.block_size), (unsigned long long)o.block_size);
		if ((r = maint_diskcheck(&o, &res[done])) < 0)
			break;
		rv_metrics_diskcheck(cli->metrics, &res[done]);
		pass = pass && res[done].pass;
		if (res[done].p99_us > res[worst].p99_us)
			worst = done;
	}
	cli_progress_end(&prog);
	if (r < 0) {
		rc = cli_fail(r);
		/* A directory that cannot be used is a usage error, not a slow disk. */
		if (r == -ENOENT || r == -ENOTDIR || r == -EACCES || r == -EROFS || r == -EPERM)
			rc = RV_EXIT_USAGE;
	} else if (cli->json) {
		cli_print_json(report_diskcheck_json(res, members, n));
	} else {
		char a[16], b[16], c2[16], d[16], e[16], f[16], t[16];
		for (size_t i = 0; i < n; i++) {
			const struct maint_diskcheck_result *x = &res[i];
			printf("%s%s%s%s\n", x->dir, members ? " (" : "", members ? members[i] : "", members ? ")" : "");
			printf("  %llu writes of %llu bytes, fdatasync after each: %.0f IOPS\n",
			       (unsigned long long)x->writes, (unsigned long long)o.block_size, x->iops);
			printf("  fdatasync latency: min %s, p50 %s, p90 %s, p99 %s, p99.9 %s, max %s\n",
			       fmt_us(x->min_us, a, sizeof a), fmt_us(x->p50_us, b, sizeof b), fmt_us(x->p90_us, c2, sizeof c2),
			       fmt_us(x->p99_us, d, sizeof d), fmt_us(x->p999_us, e, sizeof e), fmt_us(x->max_us, f, sizeof f));
			printf("  %s: p99 %s the threshold of %s\n", x->pass ? "PASS" : "FAIL", x->pass ? "is under" : "is not under",
			       fmt_us((double)x->threshold_us, t, sizeof t));
		}
	}
	if (r == 0 && !pass) {
		char p99[16], thr[16];
		fprintf(stderr, "regvault: the disk at %s is too slow for etcd: the 99th percentile of fdatasync latency is %s, not under %s\n",
			res[worst].dir, fmt_us(res[worst].p99_us, p99, sizeof p99),
			fmt_us((double)o.threshold_us, thr, sizeof thr));
		rc = RV_EXIT_FAIL;
	}
	free(res);
	maint_strv_free(dirs, n);
	maint_strv_free(members, members ? n : 0);
	job_lock_release(lock);
	if (have_cfg)
		config_free(&cfg);
	return rc;
}

/* ---- perfcheck ---- */

int cli_maint_perfcheck(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"load", required_argument, NULL, 'l'},
		{"duration", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *sub = "maint perfcheck";
	struct maint_perfcheck_opts o = {.duration_ms = 60000};
	const char *load = "s";
	int ch;
	cli_maint_opts_begin();
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(usage_perfcheck, stdout); return RV_EXIT_OK;
		case 'l': load = optarg; break;
		case 'd':
			if (rv_parse_duration_ms(optarg, &o.duration_ms) < 0 || o.duration_ms < 1000 || o.duration_ms > 3600000)
				return cli_usage_error(sub, "--duration takes a duration from 1s to 1h such as 60s, not '%s'", optarg);
			break;
		default: return cli_option_error(sub, ch, argc, argv);
		}
	}
	if (cli_maint_extra_args(sub, argc, argv))
		return RV_EXIT_USAGE;
	if (maint_perf_load_find(load, &o.load) < 0)
		return cli_usage_error(sub, "--load takes s, m, l or xl, not '%s'", load);

	struct rv_config cfg = {0};
	etcd_client *c = NULL;
	int rc = cli_maint_open_cluster(cli, &cfg, &c);
	if (rc != RV_EXIT_OK)
		return rc;
	cli_catch_interrupts();
	struct cli_progress pprog = {.label = "perfcheck"};
	o.progress = cli_progress_cb;
	o.progress_ud = &pprog;
	o.cancel = &cli_cancel;
	struct maint_perfcheck_result res;
	int r = maint_perfcheck(c, &o, &res);
	cli_progress_end(&pprog);
	bool ran = res.requests > 0 || r == 0;
	if (ran && cli->json) {
		cli_print_json(report_perfcheck_json(&res));
	} else if (ran) {
		printf("Load %s: %d puts/s of 1 KiB from %d clients for %.1f s: %llu requests, %llu errors\n",
		       res.load.name, res.load.rate, res.load.clients, res.seconds, (unsigned long long)res.requests,
		       (unsigned long long)res.errors);
		printf("%s: throughput %.1f puts/s (needs >= %.0f)\n", res.throughput_ok ? "PASS" : "FAIL", res.throughput,
		       0.9 * res.load.rate);
		printf("%s: slowest request %.1f ms (needs <= 500 ms); p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n",
		       res.slowest_ok ? "PASS" : "FAIL", res.max_ms, res.p50_ms, res.p95_ms, res.p99_ms);
		printf("%s: stddev %.1f ms (needs <= 100 ms)\n", res.stddev_ok ? "PASS" : "FAIL", res.stddev_ms);
		if (!res.errors_ok)
			printf("FAIL: %llu errors, the first: %s\n", (unsigned long long)res.errors, res.first_error);
		printf("%s\n", res.pass ? "PASS" : "FAIL");
	}
	if (r < 0)
		rc = cli_fail(r);
	else if (!res.pass)
		rc = RV_EXIT_FAIL;
	cli_maint_close_cluster(&cfg, c);
	return rc;
}
