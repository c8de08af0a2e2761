/* cmd_drill.c - 'regvault drill': restore an artifact into a scratch cluster and prove
 * it serves the snapshot's data; the configured members are never touched. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: regvault drill [--from NAME|latest] [--store URL] [--from-file FILE] [--timeout D] [--sample N] [-o json]\n"
	"       regvault drill --to-latest | --to-revision R | --to-time T [--store URL] [--timeout D] [-o json]\n"
	"\n"
	"Restores the artifact (default: the newest) into a scratch three-member cluster on free\n"
	"loopback ports under a temporary directory, checks health, one leader, equal revision and\n"
	"HashKV on all members, reads a sample of keys from each, counts the keys, and tears it all\n"
	"down. The report (recovery point = the snapshot's age, recovery time = time to a healthy\n"
	"restored cluster) is printed and saved as JSON under <state_dir>/drills/.\n"
	"\n"
	"  --from NAME|latest  the artifact to drill (default latest)\n"
	"  --from-file FILE    a plain etcd snapshot ('etcdctl snapshot save') instead\n"
	"  --to-latest         the newest recorded point: the newest chain's base, then its segments replayed\n"
	"  --to-revision R     revision R: the newest base at or before it, then its segments' events up to R\n"
	"  --to-time T         the last revision recorded at or before T (RFC 3339 UTC)\n"
	"  --store URL         read artifacts from this store instead of store.url\n"
	"  --timeout D         how long the scratch cluster may take to become healthy (default 60s)\n"
	"  --sample N          keys read from every member and compared (default 100)\n"
	"\n"
	"Exit codes: 0 the drill passed, 1 it failed (reasons in the report), 2 usage or configuration error.\n";

enum { OPT_FROM_FILE = 256, OPT_STORE, OPT_TIMEOUT, OPT_SAMPLE };

static const struct option options[] = {
	{"from", required_argument, NULL, 'f'},
	{"from-file", required_argument, NULL, OPT_FROM_FILE},
	{"store", required_argument, NULL, OPT_STORE},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"sample", required_argument, NULL, OPT_SAMPLE},
	{"to-latest", no_argument, NULL, CLI_OPT_TO_LATEST},
	{"to-revision", required_argument, NULL, CLI_OPT_TO_REVISION},
	{"to-time", required_argument, NULL, CLI_OPT_TO_TIME},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void print_table(const struct drill_report *d)
{
	char a[32], b[32];
	printf("Drill %s: %s\n", d->passed ? "PASS" : "FAIL", d->artifact);
	if (d->store[0])
		printf("  store            %s\n", d->store);
	if (d->age_s >= 0)
		printf("  recovery point   %s old (taken %s)\n", rv_fmt_duration(d->age_s, a, sizeof a), d->created_at);
	if (d->recovery_time_s >= 0)
		printf("  recovery time    %s to a healthy three-member cluster\n",
		       rv_fmt_duration(d->recovery_time_s, b, sizeof b));
	if (d->revision)
		printf("  revision         %" PRId64 " on every member, HashKV %08x\n", d->revision, d->hash);
	if (d->revision)
		printf("  keys             %" PRId64 " (%d read and compared on every member)\n", d->key_count,
		       d->sample_keys_read);
	if (d->point.used && d->point.revision) {
		char t[21];
		rv_utc_rfc3339(d->point.unix_ms / 1000, t);
		printf("  point            revision %" PRId64 " (recorded %.19s.%03dZ), chain %s\n", d->point.revision, t,
		       (int)(d->point.unix_ms % 1000), d->point.chain);
		printf("  replay           %zu events in %zu revisions after the db's revision %" PRId64 ", %.0f events/s\n",
		       d->point.events, d->point.revisions, d->point.db_revision, d->point.rate);
	}
	for (int i = 0; i < d->n_reasons; i++)
		printf("  reason           %s\n", d->reasons[i]);
	printf("  report           %s\n", d->report_path);
}

int cmd_drill(struct cli *cli, int argc, char **argv)
{
	const char *from = NULL, *from_file = NULL, *store_url = NULL;
	int64_t wait_ms = 0;
	long sample = 0;
	struct rv_config cfg = {0};
	struct store *st = NULL;
	struct drill_report *d;
	struct restore_point_req point = {0};
	int c, rc, r;

	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return RV_EXIT_OK;
	}
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:f:h", options, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'f': from = optarg; break;
		case OPT_FROM_FILE: from_file = optarg; break;
		case OPT_STORE: store_url = optarg; break;
		case OPT_TIMEOUT:
			if (rv_parse_duration_ms(optarg, &wait_ms) < 0 || wait_ms <= 0 || wait_ms > 3600000)
				return cli_usage_error("drill", "--timeout takes a duration up to 1h, like 60s or 2m, not '%s'", optarg);
			break;
		case OPT_SAMPLE:
			sample = strtol(optarg, &end, 10);
			if (*end || sample < 1 || sample > 100000)
				return cli_usage_error("drill", "--sample takes a number of keys from 1 to 100000, not '%s'", optarg);
			break;
		case CLI_OPT_TO_LATEST:
		case CLI_OPT_TO_REVISION:
		case CLI_OPT_TO_TIME:
			if ((rc = cli_point_option("drill", c, optarg, &point)) != RV_EXIT_OK)
				return rc;
			break;
		default:
			return cli_option_error("drill", c, argc, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("drill", "unexpected argument '%s'", argv[optind]);
	if (from && from_file)
		return cli_usage_error("drill", "--from and --from-file exclude each other");
	if ((from || from_file) && point.to != RESTORE_TO_NONE)
		return cli_usage_error("drill", "--from and --from-file exclude --to-latest, --to-revision and --to-time");

	rc = cli_load_config(cli, &cfg);
	if (rc != RV_EXIT_OK)
		return rc;
	struct job_lock *lock = NULL;
	if ((rc = cli_job_lock(&cfg, JOB_DRILL, "regvault drill", &lock)) != RV_EXIT_OK) {
		config_free(&cfg);
		return rc;
	}
	if (!from_file && (rc = cli_open_store(&cfg, store_url, &st)) != RV_EXIT_OK) {
		job_lock_release(lock);
		config_free(&cfg);
		return rc;
	}
	struct cli_progress prog = {.label = "fetch"};
	struct drill_opts o = {
		.cs = &cfg.cluster,
		.state_dir = cfg.state_dir,
		.store = st,
		.from = from ? from : "latest",
		.db_file = from_file,
		.wait_ms = (int)wait_ms,
		.sample_keys = (int)sample,
		.cancel = &cli_cancel,
		.progress = cli_progress_cb,
		.progress_ud = &prog,
		.point = point,
	};
	d = rv_xcalloc(1, sizeof *d);
	cli_catch_interrupts();
	r = restore_drill(&o, d);
	cli_progress_end(&prog);
	if (r == 0)
		r = report_drill_save(cfg.state_dir, d);
	if (r < 0) {
		rc = cli_fail(r);
	} else {
		rv_metrics_drill(cli->metrics, d);
		if (cli->json) {
			cli_print_json(report_drill_json(d));
		} else {
			json_t *rep = report_drill_json(d); /* for the job history */
			cli_job_report(rep);
			json_decref(rep);
			print_table(d);
		}
		if (!d->passed) {
			fprintf(stderr, "regvault: drill of %s failed: %s\n", d->artifact,
				d->n_reasons ? d->reasons[0] : "see the report");
			cli_job_error("the drill of %s failed: %s", d->artifact,
				      d->n_reasons ? d->reasons[0] : "see the report");
		}
		rc = d->passed ? RV_EXIT_OK : RV_EXIT_FAIL;
	}
	free(d);
	store_close(st);
	job_lock_release(lock);
	config_free(&cfg);
	return rc;
}
