/* maint.c - 'regvault maint': compaction, rolling defragmentation, alarms, NOSPACE
 * recovery, consistency and disk/performance checks. Parses options, calls the
 * maint module, prints a table or JSON. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "maint/maint.h"

#define DEFAULT_RULE "dbQuotaUsage > 0.8 || dbSizeFree > 200MiB"

static const char usage[] =
	"usage: regvault maint SUBCOMMAND [options]\n"
	"\n"
	"Maintenance that is safe while the cluster serves traffic.\n"
	"\n"
	"Subcommands:\n"
	"  compact [--keep-revisions N | --revision REV]\n"
	"                  compact the whole cluster once (physically)\n"
	"  defrag [--rule EXPR] [--dry-run] [--move-leader] [--pause DURATION] [--continue-on-error]\n"
	"                  defragment one member at a time, the leader last\n"
	"  alarms [--disarm]\n"
	"                  list (or disarm) alarms per member\n"
	"  recover-space   the NOSPACE runbook: compact, defrag all, disarm, test a write\n"
	"  hashcheck       compare every member's HashKV at one revision\n"
	"  diskcheck [--dir DIR] [--size 22MiB] [--block-size 2300] [--threshold 10ms]\n"
	"                  fio's etcd disk test (fdatasync latency), native\n"
	"  perfcheck [--load s|m|l|xl] [--duration 60s]\n"
	"                  like etcdctl check perf\n"
	"\n"
	"'regvault maint SUBCOMMAND --help' for the options of one. Exit codes: 0 success,\n"
	"1 the operation or check failed, 2 usage or configuration error.\n";

static const char usage_compact[] =
	"usage: regvault maint compact [--keep-revisions N | --revision REV]\n"
	"\n"
	"Compacts the cluster once, physically, to REV or to the current revision minus N\n"
	"(default maint.compact_keep_revisions). Compacting to a revision that is already\n"
	"compacted is not an error. Reports the db sizes before and after; the space freed\n"
	"is reused by etcd, and returned to the filesystem by 'regvault maint defrag'.\n";

static const char usage_defrag[] =
	"usage: regvault maint defrag [--rule EXPR] [--dry-run] [--move-leader] [--pause DURATION]\n"
	"                             [--continue-on-error] [--timeout DURATION]\n"
	"\n"
	"Starts only when every member is healthy and none has a CORRUPT alarm (NOSPACE is\n"
	"allowed). Defragments followers one at a time and the leader last; each member only\n"
	"when the rule holds on its status just before its turn.\n"
	"\n"
	"  --rule EXPR          default maint.defrag_rule, e.g. '" DEFAULT_RULE "'\n"
	"                       variables dbSize dbSizeInUse dbSizeFree dbQuota dbQuotaUsage;\n"
	"                       + - * /, < <= > >= == !=, && || !, ( ), true, false,\n"
	"                       numbers with the size units of the configuration\n"
	"                       (200MB = 200 x 10^6 bytes, 200MiB = 200 x 2^20)\n"
	"  --dry-run            evaluate the rule, change nothing\n"
	"  --move-leader        hand leadership to a defragmented follower before the leader\n"
	"  --pause DURATION     wait between members (e.g. 30s)\n"
	"  --continue-on-error  go on with the next member after a failure\n"
	"  --timeout DURATION   of one member's defragmentation (default 10m)\n";

static const char usage_alarms[] =
	"usage: regvault maint alarms [--disarm]\n"
	"\n"
	"Lists the alarms of every member (NOSPACE, CORRUPT). --disarm disarms every alarm,\n"
	"as etcdctl alarm disarm does; for NOSPACE prefer 'regvault maint recover-space'.\n";

static const char usage_recover[] =
	"usage: regvault maint recover-space\n"
	"\n"
	"etcd's NOSPACE runbook as one command: compact to the current revision, defragment\n"
	"every member (leader last), disarm NOSPACE once every member is below the quota\n"
	"(cluster.etcd.quota_backend_bytes) times maint.disarm_threshold, then prove a write\n"
	"works. Each step is reported; the first failure stops.\n";

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

/* ---- helpers ---- */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* SIGINT/SIGTERM end the run early instead of the process, so cleanup runs. */
static void catch_stop_signals(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void print_json(json_t *root)
{
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	if (s) {
		puts(s);
		free(s);
	}
	json_decref(root);
}

static json_t *json_id(uint64_t id)
{
	char b[17];
	snprintf(b, sizeof b, ETCD_ID_FMT, id);
	return json_string(b);
}

static const char *fmt_size(int64_t n, char *buf, size_t len)
{
	return rv_fmt_bytes(n < 0 ? 0 : (uint64_t)n, buf, len);
}

static bool parse_int64(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return false;
	*out = v;
	return true;
}

/* Load the configuration and make a client for its members. */
static int open_cluster(struct cli *cli, struct rv_config *cfg, etcd_client **c)
{
	int rc = cli_load_config(cli, cfg);
	if (rc != RV_EXIT_OK)
		return rc;
	int r = cluster_client_new(&cfg->cluster, 0, c);
	if (r < 0) {
		config_free(cfg);
		cli_say_error("regvault: ", r);
		return RV_EXIT_USAGE;
	}
	return RV_EXIT_OK;
}

static void close_cluster(struct rv_config *cfg, etcd_client *c)
{
	etcd_client_free(c);
	config_free(cfg);
}

/* getopt_long from the start of a subcommand's argv, quietly (we say what went wrong). */
static void opts_begin(void)
{
	optind = 0;
	opterr = 0;
}

static int extra_args(const char *sub, int argc, char **argv)
{
	if (optind < argc)
		return cli_usage_error(sub, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* ---- compact ---- */

static int sub_compact(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"keep-revisions", required_argument, NULL, 'k'},
		{"revision", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *sub = "maint compact";
	int64_t keep = -1, rev = 0;
	int ch;
	opts_begin();
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(usage_compact, stdout); return RV_EXIT_OK;
		case 'k':
			if (!parse_int64(optarg, &keep))
				return cli_usage_error(sub, "--keep-revisions takes a number of revisions, not '%s'", optarg);
			break;
		case 'r':
			if (!parse_int64(optarg, &rev) || rev == 0)
				return cli_usage_error(sub, "--revision takes a revision (a number above 0), not '%s'", optarg);
			break;
		default: return cli_option_error(sub, ch, argc, argv);
		}
	}
	if (extra_args(sub, argc, argv))
		return RV_EXIT_USAGE;
	if (keep >= 0 && rev)
		return cli_usage_error(sub, "give --keep-revisions or --revision, not both");

	struct rv_config cfg = {0};
	etcd_client *c = NULL;
	int rc = open_cluster(cli, &cfg, &c);
	if (rc != RV_EXIT_OK)
		return rc;
	struct maint_compact_opts o = {.keep_revisions = keep >= 0 ? keep : cfg.maint.compact_keep_revisions,
				       .revision = rev};
	struct maint_compact_report rep;
	int r = maint_compact(c, &cfg.cluster, &o, &rep);
	if (r < 0) {
		rc = cli_fail(r);
	} else if (cli->json) {
		json_t *root = json_object(), *members = json_array();
		json_object_set_new(root, "current_revision", json_integer(rep.current_revision));
		json_object_set_new(root, "revision", json_integer(rep.revision));
		json_object_set_new(root, "already_compacted", json_boolean(rep.already_compacted));
		json_object_set_new(root, "seconds", json_real(rep.seconds));
		for (size_t i = 0; i < rep.n; i++) {
			json_t *m = json_object();
			json_object_set_new(m, "name", json_string(rep.before[i].name));
			json_object_set_new(m, "db_size_before", json_integer(rep.before[i].db_size));
			json_object_set_new(m, "db_size_in_use_before", json_integer(rep.before[i].db_size_in_use));
			json_object_set_new(m, "db_size_after", json_integer(rep.after[i].db_size));
			json_object_set_new(m, "db_size_in_use_after", json_integer(rep.after[i].db_size_in_use));
			json_array_append_new(members, m);
		}
		json_object_set_new(root, "members", members);
		print_json(root);
	} else {
		char a[16], b[16], d[16], e[16], t[16];
		if (rep.revision == 0)
			printf("Nothing to compact: the cluster is at revision %lld and keeps %lld revisions.\n",
			       (long long)rep.current_revision, (long long)o.keep_revisions);
		else if (rep.already_compacted)
			printf("Revision %lld was already compacted (the cluster is at revision %lld).\n",
			       (long long)rep.revision, (long long)rep.current_revision);
		else
			printf("Compacted to revision %lld (the cluster is at revision %lld) in %s.\n",
			       (long long)rep.revision, (long long)rep.current_revision,
			       rv_fmt_duration(rep.seconds, t, sizeof t));
		printf("%-16s %12s %12s %12s %12s\n", "MEMBER", "DB BEFORE", "IN USE", "DB AFTER", "IN USE");
		for (size_t i = 0; i < rep.n; i++)
			printf("%-16s %12s %12s %12s %12s\n", rep.before[i].name,
			       rep.before[i].ok ? fmt_size(rep.before[i].db_size, a, sizeof a) : "-",
			       rep.before[i].ok ? fmt_size(rep.before[i].db_size_in_use, b, sizeof b) : "-",
			       rep.after[i].ok ? fmt_size(rep.after[i].db_size, d, sizeof d) : "-",
			       rep.after[i].ok ? fmt_size(rep.after[i].db_size_in_use, e, sizeof e) : "-");
		printf("The space compaction frees is reused by etcd; 'regvault maint defrag' returns it to the filesystem.\n");
	}
	maint_compact_report_free(&rep);
	close_cluster(&cfg, c);
	return rc;
}

/* ---- defrag ---- */

/* The rule error, and the rule with a caret under the position. */
static int rule_error(const char *rule, size_t pos, int r)
{
	cli_say_error("regvault maint defrag: ", r);
	if (pos > 0 && strlen(rule) < 200 && !strchr(rule, '\n')) {
		fprintf(stderr, "  %s\n  %*s^\n", rule, (int)(pos - 1), "");
	}
	return RV_EXIT_USAGE;
}

/* rule_from: "--rule" or "maint.defrag_rule"; NULL when regvault chose the rule itself. */
static json_t *defrag_json(const struct maint_defrag_report *rep, const char *rule, const char *rule_from,
			   bool dry_run)
{
	json_t *root = json_object(), *members = json_array();
	json_object_set_new(root, "rule", json_string(rule));
	if (rule_from)
		json_object_set_new(root, "rule_from", json_string(rule_from));
	json_object_set_new(root, "dry_run", json_boolean(dry_run));
	json_object_set_new(root, "leader_before", json_string(rep->leader_before));
	json_object_set_new(root, "leader_moved_to", json_string(rep->leader_moved_to));
	json_object_set_new(root, "defragmented", json_integer((json_int_t)rep->n_defragmented));
	json_object_set_new(root, "skipped", json_integer((json_int_t)rep->n_skipped));
	json_object_set_new(root, "failed", json_integer((json_int_t)rep->n_failed));
	for (size_t i = 0; i < rep->n; i++) {
		const struct maint_defrag_member *m = &rep->members[i];
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(m->name));
		json_object_set_new(o, "endpoint", json_string(m->endpoint));
		json_object_set_new(o, "id", json_id(m->id));
		json_object_set_new(o, "leader", json_boolean(m->leader));
		json_object_set_new(o, "outcome", json_string(maint_defrag_outcome_name(m->outcome)));
		json_object_set_new(o, "db_size_before", json_integer(m->size_before));
		json_object_set_new(o, "db_size_in_use_before", json_integer(m->in_use_before));
		json_object_set_new(o, "db_size_after", json_integer(m->size_after));
		json_object_set_new(o, "db_size_in_use_after", json_integer(m->in_use_after));
		json_object_set_new(o, "started", json_real(m->started));
		json_object_set_new(o, "finished", json_real(m->finished));
		json_object_set_new(o, "seconds", json_real(m->seconds));
		json_object_set_new(o, "error", json_string(m->error));
		json_array_append_new(members, o);
	}
	json_object_set_new(root, "members", members);
	return root;
}

/* A dry run says so, and by which rule, so its table is not read as a real run's. */
static void defrag_table(const struct maint_defrag_report *rep, const char *rule, const char *rule_from,
			 bool dry_run)
{
	char a[16], b[16], d[16], t[16];
	printf("%-16s %-9s %-17s %12s %12s %12s %8s\n", "MEMBER", "ROLE", "RESULT", "DB BEFORE", "IN USE", "DB AFTER",
	       "TIME");
	for (size_t i = 0; i < rep->n; i++) {
		const struct maint_defrag_member *m = &rep->members[i];
		bool sized = m->outcome != MAINT_DEFRAG_NOT_REACHED && (m->size_before || m->outcome != MAINT_DEFRAG_FAILED);
		printf("%-16s %-9s %-17s %12s %12s %12s %8s\n", m->name, m->leader ? "leader" : "follower",
		       maint_defrag_outcome_name(m->outcome), sized ? fmt_size(m->size_before, a, sizeof a) : "-",
		       sized ? fmt_size(m->in_use_before, b, sizeof b) : "-",
		       m->outcome == MAINT_DEFRAG_DONE ? fmt_size(m->size_after, d, sizeof d) : "-",
		       m->outcome == MAINT_DEFRAG_DONE ? rv_fmt_duration(m->seconds, t, sizeof t) : "-");
	}
	if (rep->leader_moved_to[0])
		printf("Leadership moved from %s to %s before the leader was defragmented.\n", rep->leader_before,
		       rep->leader_moved_to);
	if (dry_run) {
		size_t would = 0;
		for (size_t i = 0; i < rep->n; i++)
			would += rep->members[i].outcome == MAINT_DEFRAG_WOULD;
		printf("Dry run, nothing was changed: %zu of %zu members would be defragmented by the rule \"%s\" (from %s).\n",
		       would, rep->n, rule, rule_from);
	}
}

static int sub_defrag(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"rule", required_argument, NULL, 'r'},
		{"dry-run", no_argument, NULL, 'n'},
		{"move-leader", no_argument, NULL, 'm'},
		{"pause", required_argument, NULL, 'p'},
		{"continue-on-error", no_argument, NULL, 'c'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *sub = "maint defrag";
	const char *rule_text = NULL;
	struct maint_defrag_opts o = {.allow_nospace = true};
	int64_t ms;
	int ch;
	opts_begin();
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(usage_defrag, stdout); return RV_EXIT_OK;
		case 'r': rule_text = optarg; break;
		case 'n': o.dry_run = true; break;
		case 'm': o.move_leader = true; break;
		case 'c': o.continue_on_error = true; break;
		case 'p':
			if (rv_parse_duration_ms(optarg, &ms) < 0)
				return cli_usage_error(sub, "--pause takes a duration such as 30s, not '%s'", optarg);
			o.pause_ms = ms;
			break;
		case 't':
			if (rv_parse_duration_ms(optarg, &ms) < 0 || ms <= 0 || ms > 86400000)
				return cli_usage_error(sub, "--timeout takes a duration such as 10m, not '%s'", optarg);
			o.timeout_ms = (int)ms;
			break;
		default: return cli_option_error(sub, ch, argc, argv);
		}
	}
	if (extra_args(sub, argc, argv))
		return RV_EXIT_USAGE;

	/* A rule given on the command line is checked before anything else. */
	maint_rule *rule = NULL;
	size_t pos = 0;
	int r;
	if (rule_text && (r = maint_rule_parse(rule_text, &rule, &pos)) < 0)
		return rule_error(rule_text, pos, r);
	bool rule_given = rule != NULL;

	struct rv_config cfg = {0};
	etcd_client *c = NULL;
	int rc = cli_load_config(cli, &cfg);
	if (rc != RV_EXIT_OK) {
		maint_rule_free(rule);
		return rc;
	}
	if (!rule) {
		rule_text = cfg.maint.defrag_rule && *cfg.maint.defrag_rule ? cfg.maint.defrag_rule : DEFAULT_RULE;
		if ((r = maint_rule_parse(rule_text, &rule, &pos)) < 0) {
			fprintf(stderr, "regvault: maint.defrag_rule in %s is not valid:\n", cfg.path ? cfg.path : "the configuration");
			rc = rule_error(rule_text, pos, r);
			config_free(&cfg);
			return rc;
		}
	}
	if ((r = cluster_client_new(&cfg.cluster, 0, &c)) < 0) {
		maint_rule_free(rule);
		config_free(&cfg);
		cli_say_error("regvault: ", r);
		return RV_EXIT_USAGE;
	}
	o.rule = rule;
	o.quota_bytes = cfg.cluster.etcd.quota_backend_bytes;

	struct maint_defrag_report rep;
	r = maint_defrag(c, &cfg.cluster, &o, &rep);
	if (rep.n) {
		const char *rule_from = rule_given ? "--rule" : "maint.defrag_rule";
		if (cli->json)
			print_json(defrag_json(&rep, maint_rule_text(rule), rule_from, o.dry_run));
		else
			defrag_table(&rep, maint_rule_text(rule), rule_from, o.dry_run);
	}
	if (r < 0)
		rc = cli_fail(r);
	maint_defrag_report_free(&rep);
	maint_rule_free(rule);
	close_cluster(&cfg, c);
	return rc;
}

/* ---- alarms ---- */

static int sub_alarms(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"disarm", no_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *sub = "maint alarms";
	bool disarm = false;
	int ch;
	opts_begin();
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(usage_alarms, stdout); return RV_EXIT_OK;
		case 'd': disarm = true; break;
		default: return cli_option_error(sub, ch, argc, argv);
		}
	}
	if (extra_args(sub, argc, argv))
		return RV_EXIT_USAGE;

	struct rv_config cfg = {0};
	etcd_client *c = NULL;
	int rc = open_cluster(cli, &cfg, &c);
	if (rc != RV_EXIT_OK)
		return rc;
	size_t n_disarmed = 0, n = 0;
	struct maint_alarm_row *rows = NULL;
	int r = disarm ? maint_alarms_disarm(c, &n_disarmed) : 0;
	if (r == 0)
		r = maint_alarms(c, &cfg.cluster, &rows, &n);
	if (r < 0) {
		rc = cli_fail(r);
	} else if (cli->json) {
		json_t *root = json_object(), *members = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *m = json_object(), *list = json_array();
			json_object_set_new(m, "name", json_string(rows[i].name));
			json_object_set_new(m, "id", json_id(rows[i].id));
			json_object_set_new(m, "endpoint", json_string(rows[i].endpoint));
			if (rows[i].nospace)
				json_array_append_new(list, json_string("NOSPACE"));
			if (rows[i].corrupt)
				json_array_append_new(list, json_string("CORRUPT"));
			json_object_set_new(m, "alarms", list);
			json_array_append_new(members, m);
		}
		json_object_set_new(root, "members", members);
		if (disarm)
			json_object_set_new(root, "disarmed", json_integer((json_int_t)n_disarmed));
		print_json(root);
	} else {
		size_t raised = 0;
		printf("%-16s %-16s %s\n", "MEMBER", "ID", "ALARMS");
		for (size_t i = 0; i < n; i++) {
			printf("%-16s %-16" PRIx64 " %s\n", rows[i].name, rows[i].id, rows[i].alarms[0] ? rows[i].alarms : "none");
			raised += rows[i].alarms[0] != 0;
		}
		if (disarm)
			printf("Disarmed %zu alarm%s.\n", n_disarmed, n_disarmed == 1 ? "" : "s");
		else if (!raised)
			printf("No alarms.\n");
	}
	free(rows);
	close_cluster(&cfg, c);
	return rc;
}

/* Subcommands whose only option is --help: an exit code when done (help printed,
 * or a usage error), -1 to go on. */
static int only_help_option(const char *sub, const char *usage, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int ch;
	opts_begin();
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(usage, stdout);
			return RV_EXIT_OK;
		}
		return cli_option_error(sub, ch, argc, argv);
	}
	if (extra_args(sub, argc, argv))
		return RV_EXIT_USAGE;
	return -1;
}

/* ---- recover-space ---- */

static int sub_recover(struct cli *cli, int argc, char **argv)
{
	int rc = only_help_option("maint recover-space", usage_recover, argc, argv);
	if (rc >= 0)
		return rc;

	struct rv_config cfg = {0};
	etcd_client *c = NULL;
	rc = open_cluster(cli, &cfg, &c);
	if (rc != RV_EXIT_OK)
		return rc;
	struct maint_recover_report rep;
	int r = maint_recover_space(c, &cfg.cluster, &cfg.maint, &rep);
	if (cli->json) {
		json_t *root = json_object(), *steps = json_array();
		json_object_set_new(root, "ok", json_boolean(r == 0));
		json_object_set_new(root, "nospace_before", json_boolean(rep.nospace_before));
		json_object_set_new(root, "disarmed", json_boolean(rep.disarmed));
		json_object_set_new(root, "quota_bytes", json_integer(rep.quota_bytes));
		json_object_set_new(root, "limit_bytes", json_integer(rep.limit_bytes));
		for (size_t i = 0; i < MAINT_RECOVER_STEPS; i++) {
			json_t *s = json_object();
			json_object_set_new(s, "step", json_string(rep.steps[i].name));
			json_object_set_new(s, "result", json_string(!rep.steps[i].done ? "not-run" : rep.steps[i].ok ? "ok" : "failed"));
			json_object_set_new(s, "detail", json_string(rep.steps[i].detail));
			json_object_set_new(s, "seconds", json_real(rep.steps[i].seconds));
			json_array_append_new(steps, s);
		}
		json_object_set_new(root, "steps", steps);
		if (rep.defrag.n)
			json_object_set_new(root, "defrag", defrag_json(&rep.defrag, "true", NULL, false));
		print_json(root);
	} else {
		char t[16];
		printf("%-8s %-8s %8s  %s\n", "STEP", "RESULT", "TIME", "DETAIL");
		for (size_t i = 0; i < MAINT_RECOVER_STEPS; i++) {
			const struct maint_step *s = &rep.steps[i];
			printf("%-8s %-8s %8s  %s\n", s->name, !s->done ? "not-run" : s->ok ? "ok" : "failed",
			       s->done ? rv_fmt_duration(s->seconds, t, sizeof t) : "-", s->done && s->ok ? s->detail : "");
		}
	}
	if (r < 0)
		rc = cli_fail(r);
	else if (!cli->json)
		printf("The cluster accepts writes again.\n");
	maint_recover_report_free(&rep);
	close_cluster(&cfg, c);
	return rc;
}

/* ---- hashcheck ---- */

/* A table of members none of which answered says nothing the error does not. */
static bool any_answered(const struct maint_hash_report *rep)
{
	for (size_t i = 0; i < rep->n; i++)
		if (rep->rows[i].ok)
			return true;
	return false;
}

static int sub_hashcheck(struct cli *cli, int argc, char **argv)
{
	int rc = only_help_option("maint hashcheck", usage_hashcheck, argc, argv);
	if (rc >= 0)
		return rc;

	struct rv_config cfg = {0};
	etcd_client *c = NULL;
	rc = open_cluster(cli, &cfg, &c);
	if (rc != RV_EXIT_OK)
		return rc;
	struct maint_hash_report rep;
	int r = maint_hashcheck(c, &cfg.cluster, &rep);
	if (cli->json) {
		json_t *root = json_object(), *members = json_array();
		json_object_set_new(root, "revision", json_integer(rep.revision));
		json_object_set_new(root, "consistent", json_boolean(rep.consistent));
		json_object_set_new(root, "complete", json_boolean(rep.complete));
		for (size_t i = 0; i < rep.n; i++) {
			const struct maint_hash_row *row = &rep.rows[i];
			json_t *m = json_object();
			char h[9];
			snprintf(h, sizeof h, "%08" PRIx32, row->hash);
			json_object_set_new(m, "name", json_string(row->name));
			json_object_set_new(m, "endpoint", json_string(row->endpoint));
			json_object_set_new(m, "hash", row->ok ? json_string(h) : json_null());
			json_object_set_new(m, "compact_revision", row->ok ? json_integer(row->compact_revision) : json_null());
			json_object_set_new(m, "agrees", json_boolean(row->agrees));
			json_object_set_new(m, "error", json_string(row->error));
			json_array_append_new(members, m);
		}
		json_object_set_new(root, "members", members);
		print_json(root);
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
	close_cluster(&cfg, c);
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

/* Microseconds to one decimal: more digits would only be noise. */
static json_t *json_us(double v)
{
	return json_real(round(v * 10) / 10);
}

static json_t *disk_json(const struct maint_diskcheck_result *d, const char *members)
{
	json_t *o = json_object();
	json_object_set_new(o, "dir", json_string(d->dir));
	if (members)
		json_object_set_new(o, "members", json_string(members));
	json_object_set_new(o, "writes", json_integer((json_int_t)d->writes));
	json_object_set_new(o, "iops", json_us(d->iops));
	json_object_set_new(o, "min_us", json_us(d->min_us));
	json_object_set_new(o, "p50_us", json_us(d->p50_us));
	json_object_set_new(o, "p90_us", json_us(d->p90_us));
	json_object_set_new(o, "p99_us", json_us(d->p99_us));
	json_object_set_new(o, "p999_us", json_us(d->p999_us));
	json_object_set_new(o, "max_us", json_us(d->max_us));
	json_object_set_new(o, "threshold_us", json_integer(d->threshold_us));
	json_object_set_new(o, "pass", json_boolean(d->pass));
	return o;
}

static const char *fmt_us(double us, char *buf, size_t len)
{
	if (us < 1000)
		snprintf(buf, len, "%.0f us", us);
	else
		snprintf(buf, len, "%.2f ms", us / 1000);
	return buf;
}

static int sub_diskcheck(struct cli *cli, int argc, char **argv)
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
	opts_begin();
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
	if (extra_args(sub, argc, argv))
		return RV_EXIT_USAGE;
	if (o.size < o.block_size)
		return cli_usage_error(sub, "--size (%llu bytes) must be at least one block (--block-size %llu)",
				       (unsigned long long)o.size, (unsigned long long)o.block_size);

	char **dirs = NULL, **members = NULL;
	size_t n = 0;
	struct rv_config cfg = {0};
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
		maint_diskcheck_dirs(&cfg.cluster, &dirs, &members, &n);
		if (n == 0) {
			config_free(&cfg);
			free(dirs);
			free(members);
			return cli_usage_error(sub, "the configuration has no members; pass --dir");
		}
	}

	catch_stop_signals();
	o.stop = &stop_requested;
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
		pass = pass && res[done].pass;
		if (res[done].p99_us > res[worst].p99_us)
			worst = done;
	}
	if (r < 0) {
		rc = cli_fail(r);
		/* A directory that cannot be used is a usage error, not a slow disk. */
		if (r == -ENOENT || r == -ENOTDIR || r == -EACCES || r == -EROFS || r == -EPERM)
			rc = RV_EXIT_USAGE;
	} else if (cli->json) {
		json_t *root = disk_json(&res[worst], members ? members[worst] : NULL);
		json_t *all = json_array();
		json_object_set(root, "pass", json_boolean(pass));
		for (size_t i = 0; i < n; i++)
			json_array_append_new(all, disk_json(&res[i], members ? members[i] : NULL));
		json_object_set_new(root, "results", all);
		print_json(root);
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
	if (have_cfg)
		config_free(&cfg);
	return rc;
}

/* ---- perfcheck ---- */

static int sub_perfcheck(struct cli *cli, int argc, char **argv)
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
	opts_begin();
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
	if (extra_args(sub, argc, argv))
		return RV_EXIT_USAGE;
	if (maint_perf_load_find(load, &o.load) < 0)
		return cli_usage_error(sub, "--load takes s, m, l or xl, not '%s'", load);

	struct rv_config cfg = {0};
	etcd_client *c = NULL;
	int rc = open_cluster(cli, &cfg, &c);
	if (rc != RV_EXIT_OK)
		return rc;
	catch_stop_signals();
	o.stop = &stop_requested;
	struct maint_perfcheck_result res;
	int r = maint_perfcheck(c, &o, &res);
	bool ran = res.requests > 0 || r == 0;
	if (ran && cli->json) {
		json_t *root = json_object(), *checks = json_object();
		json_object_set_new(root, "load", json_string(res.load.name));
		json_object_set_new(root, "target_rate", json_integer(res.load.rate));
		json_object_set_new(root, "clients", json_integer(res.load.clients));
		json_object_set_new(root, "seconds", json_real(res.seconds));
		json_object_set_new(root, "requests", json_integer((json_int_t)res.requests));
		json_object_set_new(root, "errors", json_integer((json_int_t)res.errors));
		json_object_set_new(root, "throughput", json_real(res.throughput));
		json_object_set_new(root, "p50_ms", json_real(res.p50_ms));
		json_object_set_new(root, "p95_ms", json_real(res.p95_ms));
		json_object_set_new(root, "p99_ms", json_real(res.p99_ms));
		json_object_set_new(root, "max_ms", json_real(res.max_ms));
		json_object_set_new(root, "mean_ms", json_real(res.mean_ms));
		json_object_set_new(root, "stddev_ms", json_real(res.stddev_ms));
		json_object_set_new(checks, "throughput", json_boolean(res.throughput_ok));
		json_object_set_new(checks, "slowest", json_boolean(res.slowest_ok));
		json_object_set_new(checks, "stddev", json_boolean(res.stddev_ok));
		json_object_set_new(checks, "errors", json_boolean(res.errors_ok));
		json_object_set_new(root, "checks", checks);
		json_object_set_new(root, "pass", json_boolean(res.pass));
		json_object_set_new(root, "interrupted", json_boolean(res.interrupted));
		json_object_set_new(root, "deleted", json_integer(res.deleted));
		json_object_set_new(root, "first_error", json_string(res.first_error));
		print_json(root);
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
	close_cluster(&cfg, c);
	return rc;
}

/* ---- dispatch ---- */

static const struct {
	const char *name;
	int (*fn)(struct cli *, int, char **);
} subcommands[] = {
	{"compact", sub_compact},     {"defrag", sub_defrag},       {"alarms", sub_alarms},
	{"recover-space", sub_recover}, {"hashcheck", sub_hashcheck}, {"diskcheck", sub_diskcheck},
	{"perfcheck", sub_perfcheck},
};

int cmd_maint(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? RV_EXIT_USAGE : RV_EXIT_OK;
	}
	for (size_t i = 0; i < RV_ARRAY_LEN(subcommands); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].fn(cli, argc - 1, argv + 1);
	return cli_usage_error("maint", "unknown subcommand '%s'", argv[1]);
}
