/* cmd_restore.c - 'regvault restore': restore every member from one snapshot, with
 * rollback; --rollback/--resume finish an interrupted restore; --cleanup removes the
 * old data dirs restores keep. Option parsing and output only: restore/ does the work. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: regvault restore --from NAME|latest [--store URL] [--yes] [--force] [--dry-run] [--timeout D] [-o json]\n"
	"       regvault restore --to-latest | --to-revision R | --to-time T [--bump-revision N] [--store URL] [--yes] [--force] ...\n"
	"       regvault restore --from-file FILE [--yes] [--force] [--dry-run]\n"
	"       regvault restore --rollback | --resume [--timeout D]\n"
	"       regvault restore --cleanup [--yes] [--dry-run]\n"
	"       regvault restore --prefix P [--from NAME|latest] [--dry-run] [--yes] ...  (see restore --prefix --help)\n"
	"\n"
	"Restores every configured member from one snapshot: fetch and verify it beside the data\n"
	"dirs, restore each member (in parallel, new cluster token), stop the members, keep the old\n"
	"data dirs as <data_dir>.before-restore-<UTC time>, start, and check that every member has\n"
	"the snapshot's revision and the same HashKV. Any failure after the stop rolls back.\n"
	"\n"
	"  --from NAME|latest  the artifact (a name from 'snapshot list', or the newest)\n"
	"  --from-file FILE    a plain etcd snapshot ('etcdctl snapshot save') instead of an artifact\n"
	"  --to-latest         the newest recorded point: the newest chain's base and all its segments\n"
	"  --to-revision R     revision R: the newest base at or before it, then its segments' events up to R\n"
	"  --to-time T         the last revision recorded at or before T (RFC 3339 UTC, 2026-12-02T10:15:00Z)\n"
	"  --bump-revision N   after the replay, advance the revision by N (>= 2) before opening the members\n"
	"  --replay-dir DIR    where the replay's private etcd keeps its data (default: the staging\n"
	"                      directory beside the data dirs; tmpfs makes the replay faster)\n"
	"  --store URL         read artifacts from this store instead of store.url\n"
	"  --yes               do not ask for confirmation (needed when stdin is not a terminal)\n"
	"  --force             restore even though the cluster is healthy and serving\n"
	"  --dry-run           show the plan and verify the artifact; change nothing\n"
	"  --timeout D         how long to wait for the members to become healthy (default 60s)\n"
	"  --rollback          undo an interrupted restore: old data dirs back, old cluster started\n"
	"  --resume            finish an interrupted restore\n"
	"  --cleanup           remove the old data dirs kept by earlier restores\n"
	"\n"
	"Exit codes: 0 restored, 1 failed or refused (rolled back when it got as far as the stop),\n"
	"2 usage or configuration error (including no --yes without a terminal).\n";

enum { OPT_FROM_FILE = 256, OPT_STORE, OPT_YES, OPT_FORCE, OPT_DRY_RUN, OPT_ROLLBACK, OPT_RESUME, OPT_CLEANUP, OPT_TIMEOUT,
       OPT_REPLAY_DIR };

static const struct option options[] = {
	{"from", required_argument, NULL, 'f'},
	{"from-file", required_argument, NULL, OPT_FROM_FILE},
	{"store", required_argument, NULL, OPT_STORE},
	{"yes", no_argument, NULL, OPT_YES},
	{"force", no_argument, NULL, OPT_FORCE},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	{"rollback", no_argument, NULL, OPT_ROLLBACK},
	{"resume", no_argument, NULL, OPT_RESUME},
	{"cleanup", no_argument, NULL, OPT_CLEANUP},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"to-latest", no_argument, NULL, CLI_OPT_TO_LATEST},
	{"to-revision", required_argument, NULL, CLI_OPT_TO_REVISION},
	{"to-time", required_argument, NULL, CLI_OPT_TO_TIME},
	{"bump-revision", required_argument, NULL, CLI_OPT_BUMP_REVISION},
	{"replay-dir", required_argument, NULL, OPT_REPLAY_DIR},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void print_plan(FILE *f, const struct restore_plan *p)
{
	fprintf(f, "Restore plan\n");
	fprintf(f, "  artifact   %s (revision %" PRId64 "%s%s)\n", p->artifact, p->snapshot_revision,
		p->m.created_at[0] ? ", taken " : "", p->m.created_at);
	if (p->point_revision)
		fprintf(f, "  point      revision %" PRId64 " (the artifact, then its chain's segments replayed)\n",
			p->point_revision);
	if (p->store[0])
		fprintf(f, "  store      %s\n", p->store);
	if (p->cluster_serving)
		fprintf(f, "  cluster    serving at revision %" PRId64 " (%zu of %zu members healthy)\n", p->cluster_revision,
			p->n_healthy, p->n_members);
	else
		fprintf(f, "  cluster    not serving (%zu of %zu members healthy)\n", p->n_healthy, p->n_members);
	fprintf(f, "  token      %s (new)\n", p->token);
	fprintf(f, "  tool       %s\n", p->tool);
	fprintf(f, "  staging    %s\n", p->staging_dir);
	fprintf(f, "  %-10s %-8s %s\n", "MEMBER", "NOW", "DATA DIR -> OLD DATA KEPT AS");
	for (size_t i = 0; i < p->n_members; i++) {
		const struct restore_member_plan *m = &p->members[i];
		fprintf(f, "  %-10s %-8s %s -> %s\n", m->name, m->healthy ? "healthy" : m->running ? "running" : "down",
			m->data_dir, m->has_data ? m->aside_dir : "(no data dir)");
	}
}

/* Ask on the terminal; stdin is a terminal here (checked before). */
static bool confirm_tty(const struct restore_plan *p, void *ud)
{
	char line[64];
	(void)ud;
	print_plan(stderr, p);
	fprintf(stderr, "\nThis stops all %zu members and replaces their data with the snapshot's (the old data is kept).\n"
			"Type 'yes' to restore: ",
		p->n_members);
	fflush(stderr);
	/* Wait for the answer in steps, so that Ctrl-C at the prompt is a no. */
	struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
	while (poll(&in, 1, 100) == 0 || (in.revents == 0 && errno == EINTR))
		if (rv_cancelled(&cli_cancel))
			return false;
	if (rv_cancelled(&cli_cancel) || !fgets(line, sizeof line, stdin))
		return false;
	line[strcspn(line, "\r\n")] = 0;
	return strcmp(line, "yes") == 0;
}

static void print_phases(const struct restore_phases *ph)
{
	char b[32];
	printf("  %-8s %s\n", "fetch", rv_fmt_duration(ph->fetch, b, sizeof b));
	printf("  %-8s %s\n", "verify", rv_fmt_duration(ph->verify, b, sizeof b));
	printf("  %-8s %s\n", "restore", rv_fmt_duration(ph->restore, b, sizeof b));
	printf("  %-8s %s\n", "stop", rv_fmt_duration(ph->stop, b, sizeof b));
	printf("  %-8s %s\n", "start", rv_fmt_duration(ph->start, b, sizeof b));
	if (ph->replay > 0)
		printf("  %-8s %s\n", "replay", rv_fmt_duration(ph->replay, b, sizeof b));
	printf("  %-8s %s\n", "check", rv_fmt_duration(ph->check, b, sizeof b));
	printf("  %-8s %s\n", "total", rv_fmt_duration(ph->total, b, sizeof b));
}

static int do_cleanup(struct cli *cli, const struct rv_config *cfg, bool yes, bool dry_run)
{
	struct restore_leftover *v = NULL;
	size_t n = 0;
	char b[32];
	int r;

	if (dry_run || !yes) {
		restore_leftovers(&cfg->cluster, &v, &n);
		if (!cli->json || !dry_run) {
			FILE *f = dry_run ? stdout : stderr;
			if (n == 0)
				fprintf(f, "Nothing to clean up: no old data dirs from restores.\n");
			for (size_t i = 0; i < n; i++)
				fprintf(f, "%s %s (%s)\n", dry_run ? "would remove" : "remove", v[i].path,
					rv_fmt_bytes(v[i].bytes, b, sizeof b));
		}
		if (n == 0 && !dry_run) {
			free(v);
			return RV_EXIT_OK;
		}
	}
	if (!dry_run && !yes) {
		char line[64];
		free(v);
		v = NULL;
		if (!isatty(STDIN_FILENO)) {
			fprintf(stderr, "regvault restore: --cleanup deletes these directories; add --yes to confirm (stdin is not a terminal)\n");
			return RV_EXIT_USAGE;
		}
		fprintf(stderr, "Type 'yes' to delete them: ");
		if (!fgets(line, sizeof line, stdin) || strncmp(line, "yes", 3) != 0) {
			fprintf(stderr, "regvault: cleanup cancelled; nothing was removed\n");
			return RV_EXIT_FAIL;
		}
	}
	if (!dry_run) {
		r = restore_cleanup(&cfg->cluster, cfg->state_dir, &v, &n);
		if (r < 0) {
			free(v);
			return cli_fail(r);
		}
	}
	if (cli->json) {
		cli_print_json(report_restore_cleanup_json(v, n, dry_run));
	} else if (!dry_run) {
		for (size_t i = 0; i < n; i++)
			printf("removed %s (%s)\n", v[i].path, rv_fmt_bytes(v[i].bytes, b, sizeof b));
	}
	free(v);
	return RV_EXIT_OK;
}

/* A signal that came after the stop was held until the restore was over. */
static void say_held_signal(int r)
{
	if (rv_cancelled(&cli_cancel) && r != -EINTR)
		rv_warn("signal %d arrived during the restore; it was held until the restore finished or rolled back, "
			"so the cluster is never left between its old and its new data", cli_interrupt_signal());
}

static int finish_pending(struct cli *cli, const struct rv_config *cfg, bool rollback, int wait_ms)
{
	struct restore_report *rep = rv_xcalloc(1, sizeof *rep);
	cli_catch_interrupts(); /* held: the cluster is never left between its two data sets */
	int r = rollback ? restore_rollback(&cfg->cluster, cfg->state_dir, wait_ms, rep)
			 : restore_resume(&cfg->cluster, cfg->state_dir, wait_ms, rep);
	say_held_signal(r);
	if (cli->json)
		cli_print_json(report_restore_json(rep, r, false));
	else if (r == 0 && rollback)
		printf("Rolled back the restore of %s: %s.\n", rep->plan.artifact, rep->rollback);
	else if (r == 0)
		printf("Restored %s: every member at revision %" PRId64 " with HashKV %08x.\n", rep->plan.artifact,
		       rep->revision, rep->hash);
	free(rep);
	return r < 0 ? cli_fail(r) : RV_EXIT_OK;
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	const char *from = NULL, *from_file = NULL, *store_url = NULL, *replay_dir = NULL;
	bool yes = false, force = false, dry_run = false, rollback = false, resume = false, cleanup = false;
	int64_t wait_ms = 0;
	struct rv_config cfg = {0};
	struct store *st = NULL;
	struct restore_report *rep;
	struct restore_point_req point = {0};
	int c, rc, r;

	for (int i = 1; i < argc; i++) /* one prefix, into the live cluster: cmd_prefix.c */
		if (strcmp(argv[i], "--prefix") == 0 || strncmp(argv[i], "--prefix=", 9) == 0)
			return cmd_restore_prefix(cli, argc, argv);
	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return RV_EXIT_OK;
	}
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:f:h", options, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case OPT_FROM_FILE: from_file = optarg; break;
		case OPT_STORE: store_url = optarg; break;
		case OPT_REPLAY_DIR: replay_dir = optarg; break;
		case OPT_YES: yes = true; break;
		case OPT_FORCE: force = true; break;
		case OPT_DRY_RUN: dry_run = true; break;
		case OPT_ROLLBACK: rollback = true; break;
		case OPT_RESUME: resume = true; break;
		case OPT_CLEANUP: cleanup = true; break;
		case OPT_TIMEOUT:
			if (rv_parse_duration_ms(optarg, &wait_ms) < 0 || wait_ms <= 0 || wait_ms > 3600000)
				return cli_usage_error("restore", "--timeout takes a duration up to 1h, like 60s or 2m, not '%s'", optarg);
			break;
		case CLI_OPT_TO_LATEST:
		case CLI_OPT_TO_REVISION:
		case CLI_OPT_TO_TIME:
		case CLI_OPT_BUMP_REVISION:
			if ((rc = cli_point_option("restore", c, optarg, &point)) != RV_EXIT_OK)
				return rc;
			break;
		default:
			return cli_option_error("restore", c, argc, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("restore", "unexpected argument '%s'", argv[optind]);
	int modes = (from || from_file) + rollback + resume + cleanup + (point.to != RESTORE_TO_NONE);
	if (modes == 0)
		return cli_usage_error("restore", "say what to restore: --from NAME|latest or --to-latest, --to-revision R, "
					       "--to-time T (or --rollback, --resume, --cleanup)");
	if (modes > 1 || (from && from_file))
		return cli_usage_error("restore", "--from, --from-file, --to-latest, --to-revision, --to-time, --rollback, "
					       "--resume and --cleanup exclude each other");
	if (replay_dir && point.to == RESTORE_TO_NONE)
		return cli_usage_error("restore", "--replay-dir goes with --to-latest, --to-revision or --to-time");
	if (point.bump && point.to == RESTORE_TO_NONE)
		return cli_usage_error("restore", "--bump-revision goes with --to-latest, --to-revision or --to-time");

	rc = cli_load_config(cli, &cfg);
	if (rc != RV_EXIT_OK)
		return rc;
	if (cleanup) {
		rc = do_cleanup(cli, &cfg, yes, dry_run);
		config_free(&cfg);
		return rc;
	}
	if ((rollback || resume) && config_uses_agents(&cfg)) {
		struct agent_restore_opts ao = {.wait_ms = (int)wait_ms};
		rc = cmd_restore_hosts(cli, &cfg, &ao, rollback, resume);
		config_free(&cfg);
		return rc;
	}
	if (rollback || resume) {
		rc = finish_pending(cli, &cfg, rollback, (int)wait_ms);
		config_free(&cfg);
		return rc;
	}
	if (!yes && !dry_run && !isatty(STDIN_FILENO)) {
		config_free(&cfg);
		fprintf(stderr, "regvault restore: a restore replaces the data of every member; add --yes to confirm "
				"(stdin is not a terminal, so regvault cannot ask)\n");
		return RV_EXIT_USAGE;
	}
	if (!from_file && (rc = cli_open_store(&cfg, store_url, &st)) != RV_EXIT_OK) {
		config_free(&cfg);
		return rc;
	}

	if (config_uses_agents(&cfg) && point.to != RESTORE_TO_NONE) {
		rc = cmd_restore_hosts_point(cli, &cfg, st, &point, replay_dir, force, dry_run, (int)wait_ms);
		store_close(st);
		config_free(&cfg);
		return rc;
	}
	if (config_uses_agents(&cfg)) {
		struct agent_restore_opts ao = {.store = st, .from = from, .db_file = from_file, .force = force,
						.dry_run = dry_run, .wait_ms = (int)wait_ms, .cancel = &cli_cancel};
		rc = cmd_restore_hosts(cli, &cfg, &ao, false, false);
		store_close(st);
		config_free(&cfg);
		return rc;
	}

	struct cli_progress prog = {.label = "fetch"};
	struct restore_opts o = {
		.cs = &cfg.cluster,
		.state_dir = cfg.state_dir,
		.store = st,
		.from = from,
		.db_file = from_file,
		.force = force,
		.dry_run = dry_run,
		.wait_ms = (int)wait_ms,
		.confirm = yes ? NULL : confirm_tty,
		.cancel = &cli_cancel,
		.progress = cli_progress_cb,
		.progress_ud = &prog,
		.point = point,
		.replay_dir = replay_dir,
	};
	rep = rv_xcalloc(1, sizeof *rep);
	cli_catch_interrupts();
	r = restore_run(&o, rep);
	cli_progress_end(&prog);
	say_held_signal(r);
	if (cli->json) {
		cli_print_json(report_restore_json(rep, r, dry_run));
	} else if (r == 0 && dry_run) {
		print_plan(stdout, &rep->plan);
		printf("\nThe artifact verified (%.1f s). Dry run: nothing was changed.\n", rep->phases.verify);
		if (rep->plan.cluster_serving && !force)
			printf("The cluster is healthy and serving: a restore needs --force.\n");
	} else if (r == 0) {
		printf("Restored %s into %zu members: every member at revision %" PRId64 " with HashKV %08x.\n",
		       rep->plan.artifact, rep->plan.n_members, rep->revision, rep->hash);
		print_phases(&rep->phases);
		cli_print_point(&rep->point);
		if (rep->point.used)
			printf("Clients that watched the old cluster past revision %" PRId64 " may miss the first new events: "
			       "restart them or have them list again. Take a full snapshot now, so that continuous "
			       "backup begins a new chain from this history.\n",
			       rep->point.revision);
		printf("Old data dirs are kept as <data_dir>.before-restore-%s; remove them with "
		       "'regvault restore --cleanup' once satisfied.\n",
		       rep->plan.stamp);
	} else if (rep->rolled_back) {
		print_phases(&rep->phases);
	}
	rc = r < 0 ? cli_fail(r) : RV_EXIT_OK;
	free(rep);
	store_close(st);
	config_free(&cfg);
	return rc;
}
