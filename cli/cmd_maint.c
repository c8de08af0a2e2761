/* cmd_maint.c - 'regvault maint': compaction, rolling defragmentation, alarms, NOSPACE
 * recovery, and the dispatch to every subcommand (the checks are in cmd_maint_checks.c).
 * Parses options, calls the maint module, prints a table or JSON. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cmd_maint.h"
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

/* ---- helpers ---- */

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

int cli_maint_open_cluster(struct cli *cli, struct rv_config *cfg, etcd_client **c)
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

void cli_maint_close_cluster(struct rv_config *cfg, etcd_client *c)
{
	etcd_client_free(c);
	config_free(cfg);
}

void cli_maint_opts_begin(void)
{
	optind = 0;
	opterr = 0;
}

int cli_maint_extra_args(const char *sub, int argc, char **argv)
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
	cli_maint_opts_begin();
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
	if (cli_maint_extra_args(sub, argc, argv))
		return RV_EXIT_USAGE;
	if (keep >= 0 && rev)
		return cli_usage_error(sub, "give --keep-revisions or --revision, not both");

	struct rv_config cfg = {0};
	etcd_client *c = NULL;
	int rc = cli_maint_open_cluster(cli, &cfg, &c);
	if (rc != RV_EXIT_OK)
		return rc;
	struct job_lock *lock = NULL;
	if ((rc = cli_job_lock(&cfg, JOB_COMPACT, "regvault maint compact", &lock)) != RV_EXIT_OK) {
		cli_maint_close_cluster(&cfg, c);
		return rc;
	}
	struct maint_compact_opts o = {.keep_revisions = keep >= 0 ? keep : cfg.maint.compact_keep_revisions,
				       .revision = rev};
	struct maint_compact_report rep = {0};
	int r = continuous_compact_limit(&cfg, &o.at_most);
	if (r == 0)
		r = maint_compact(c, &cfg.cluster, &o, &rep);
	if (r < 0) {
		rc = cli_fail(r);
	} else if (cli->json) {
		cli_print_json(report_compact_json(&rep));
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
		if (rep.held_back)
			printf("Held back: continuous backup has persisted revisions up to %lld only.\n",
			       (long long)(o.at_most - 1));
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
	job_lock_release(lock);
	cli_maint_close_cluster(&cfg, c);
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
	cli_maint_opts_begin();
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
	if (cli_maint_extra_args(sub, argc, argv))
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
	/* A dry run changes nothing: it may look while the daemon defragments. */
	struct job_lock *lock = NULL;
	if (!o.dry_run && (rc = cli_job_lock(&cfg, JOB_DEFRAG, "regvault maint defrag", &lock)) != RV_EXIT_OK) {
		maint_rule_free(rule);
		cli_maint_close_cluster(&cfg, c);
		return rc;
	}

	struct maint_defrag_report rep;
	o.cancel = &cli_cancel;
	cli_catch_interrupts(); /* the member in hand is finished, then the run stops */
	r = maint_defrag(c, &cfg.cluster, &o, &rep);
	if (rep.n) {
		const char *rule_from = rule_given ? "--rule" : "maint.defrag_rule";
		if (cli->json)
			cli_print_json(report_defrag_json(&rep, maint_rule_text(rule), rule_from, o.dry_run));
		else
			defrag_table(&rep, maint_rule_text(rule), rule_from, o.dry_run);
	}
	if (r < 0)
		rc = cli_fail(r);
	maint_defrag_report_free(&rep);
	maint_rule_free(rule);
	job_lock_release(lock);
	cli_maint_close_cluster(&cfg, c);
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
	cli_maint_opts_begin();
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(usage_alarms, stdout); return RV_EXIT_OK;
		case 'd': disarm = true; break;
		default: return cli_option_error(sub, ch, argc, argv);
		}
	}
	if (cli_maint_extra_args(sub, argc, argv))
		return RV_EXIT_USAGE;

	struct rv_config cfg = {0};
	etcd_client *c = NULL;
	int rc = cli_maint_open_cluster(cli, &cfg, &c);
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
		cli_print_json(report_alarms_json(rows, n, disarm, n_disarmed));
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
	cli_maint_close_cluster(&cfg, c);
	return rc;
}

int cli_maint_only_help_option(const char *sub, const char *usage, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int ch;
	cli_maint_opts_begin();
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(usage, stdout);
			return RV_EXIT_OK;
		}
		return cli_option_error(sub, ch, argc, argv);
	}
	if (cli_maint_extra_args(sub, argc, argv))
		return RV_EXIT_USAGE;
	return -1;
}

/* ---- recover-space ---- */

static int sub_recover(struct cli *cli, int argc, char **argv)
{
	int rc = cli_maint_only_help_option("maint recover-space", usage_recover, argc, argv);
	if (rc >= 0)
		return rc;

	struct rv_config cfg = {0};
	etcd_client *c = NULL;
	rc = cli_maint_open_cluster(cli, &cfg, &c);
	if (rc != RV_EXIT_OK)
		return rc;
	struct maint_recover_report rep;
	int r = maint_recover_space(c, &cfg.cluster, &cfg.maint, &rep);
	if (cli->json) {
		cli_print_json(report_recover_space_json(&rep, r == 0));
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
	cli_maint_close_cluster(&cfg, c);
	return rc;
}

/* ---- dispatch ---- */

static const struct {
	const char *name;
	int (*fn)(struct cli *, int, char **);
} subcommands[] = {
	{"compact", sub_compact},     {"defrag", sub_defrag},       {"alarms", sub_alarms},
	{"recover-space", sub_recover}, {"hashcheck", cli_maint_hashcheck}, {"diskcheck", cli_maint_diskcheck},
	{"perfcheck", cli_maint_perfcheck},
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
