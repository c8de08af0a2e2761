/* main.c - regvault's command line: global options, then one command group. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: regvault [--config FILE] [-o table|json] [--no-progress] [-v] COMMAND [SUBCOMMAND] [options]\n"
	"\n"
	"Backup, restore and maintenance of a three-member etcd cluster.\n"
	"\n"
	"Commands:\n"
	"  cluster up|down|status      start, stop and inspect the configured members\n"
	"  snapshot save|list|verify|fetch|delete|prune|diff\n"
	"                              streamed, verified, compressed snapshots in a store\n"
	"  restore --from NAME|latest  restore every member from one snapshot, with rollback\n"
	"                              (--prefix P: one prefix back into the live cluster)\n"
	"  drill [--from NAME|latest]  prove a snapshot restores, in a scratch cluster\n"
	"  maint compact|defrag|alarms|recover-space|hashcheck|diskcheck|perfcheck\n"
	"                              maintenance that is safe while the cluster serves\n"
	"  member exec [--print] MEMBER\n"
	"                              run one member's etcd in place of regvault (systemd units)\n"
	"  daemon [status]             the long-running scheduler and supervisor, or its status\n"
	"  jobs [--job NAME] [--last N]  the history of the daemon's job runs\n"
	"  run JOB [--no-wait]         run a job now through the daemon\n"
	"  registry validate|sync|heartbeat|status\n"
	"                              the registry services: manifests into etcd, heartbeats\n"
	"  keygen FILE                 a new age identity for encrypted artifacts; prints its recipient\n"
	"\n"
	"Global options (before or after the command):\n"
	"  --config FILE    configuration (default $REGVAULT_CONFIG, else " RV_DEFAULT_CONFIG ")\n"
	"  -o, --output F   table (default) or json\n"
	"  --no-progress    no progress display on a terminal\n"
	"  -v, --verbose    say more on stderr\n"
	"  --metrics-textfile FILE\n"
	"                   write the run's metrics to FILE for node_exporter (snapshot save, verify,\n"
	"                   prune; maint compact, defrag, hashcheck, diskcheck; drill)\n"
	"  -h, --help       this help; 'regvault COMMAND --help' for a command\n"
	"  --version        print the version\n"
	"\n"
	"Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.\n";

static const struct {
	const char *name;
	int (*fn)(struct cli *, int, char **);
} commands[] = {
	{"cluster", cmd_cluster}, {"snapshot", cmd_snapshot}, {"restore", cmd_restore},
	{"drill", cmd_drill},     {"maint", cmd_maint},       {"daemon", cmd_daemon},
	{"jobs", cmd_jobs},       {"run", cmd_run},           {"registry", cmd_registry},
	{"member", cmd_member},   {"keygen", cmd_keygen},
};

/* ---- the one-shot run of a job, for the job history ---- */
static struct {
	bool on;
	enum job_kind kind;
	int64_t start_ms;
	char state_dir[PATH_MAX];
	const char *report_key;
	json_t *report;
	char error[1024];
} cli_run;

void cli_job_begin(const struct rv_config *cfg, enum job_kind k, const char *report_key)
{
	if (cli_run.on || !cfg->state_dir)
		return;
	cli_run.on = true;
	cli_run.kind = k;
	cli_run.start_ms = rv_now_unix_ms();
	snprintf(cli_run.state_dir, sizeof cli_run.state_dir, "%s", cfg->state_dir);
	cli_run.report_key = report_key;
}

void cli_job_report(json_t *report)
{
	if (!cli_run.on || !report)
		return;
	json_decref(cli_run.report);
	cli_run.report = json_incref(report);
}

void cli_job_error(const char *fmt, ...)
{
	va_list ap;
	if (!cli_run.on || cli_run.error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(cli_run.error, sizeof cli_run.error, fmt, ap);
	va_end(ap);
}

/* Exit 0 is a success, a run a signal ended is cancelled, anything else a failure
 * (as for --metrics-textfile). A history that cannot be written is a warning: the
 * command's own work is done. */
static void cli_job_finish(int rc)
{
	if (!cli_run.on)
		return;
	struct job_run run = {.kind = cli_run.kind, .start_ms = cli_run.start_ms, .end_ms = rv_now_unix_ms()};
	run.result = rc == RV_EXIT_OK ? RV_JOB_SUCCESS : cli_interrupt_signal() ? RV_JOB_CANCELLED : RV_JOB_FAILURE;
	char fallback[64];
	snprintf(fallback, sizeof fallback, "the command exited with status %d", rc);
	run.error = rc == RV_EXIT_OK ? NULL : cli_run.error[0] ? cli_run.error : fallback;
	if (cli_run.report && cli_run.report_key) {
		run.report = json_object();
		json_object_set(run.report, cli_run.report_key, cli_run.report);
	} else {
		run.report = json_incref(cli_run.report);
	}
	int r = job_history_append(cli_run.state_dir, &run);
	if (r < 0) {
		cli_say_error("regvault: warning: ", r);
		rv_err_clear();
	}
	json_decref(run.report);
	json_decref(cli_run.report);
	memset(&cli_run, 0, sizeof cli_run);
}

void cli_say_error(const char *lead, int r)
{
	if (cli_run.on && !cli_run.error[0] && !strstr(lead, "warning"))
		snprintf(cli_run.error, sizeof cli_run.error, "%s", rv_errmsg(r));
	rv_log_begin_line(RV_LOG_ERROR, stderr);
	fputs(lead, stderr);
	rv_fputs_printable(rv_errmsg(r), stderr);
	fputc('\n', stderr);
}

int cli_fail(int r)
{
	cli_say_error("regvault: ", r);
	return RV_EXIT_FAIL;
}

struct rv_cancel cli_cancel;
static volatile sig_atomic_t interrupt_signal;

static void on_interrupt(int sig)
{
	interrupt_signal = sig;
	rv_cancel_request(&cli_cancel);
}

int cli_interrupt_signal(void)
{
	return interrupt_signal;
}

void cli_catch_interrupts(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_interrupt;
	sa.sa_flags = SA_RESTART; /* the operation notices at its next safe point */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

void cli_print_json(json_t *root)
{
	/* The daemon's writer too, so both give the same bytes for one report. */
	cli_job_report(root);
	report_json_write(root, stdout);
	json_decref(root);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "regvault %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'regvault %s --help')\n", cmd);
	return RV_EXIT_USAGE;
}

int cli_option_error(const char *cmd, int ch, int argc, char **argv)
{
	const char *opt = optind > 0 && optind - 1 < argc ? argv[optind - 1] : "?";
	char letter[3] = {'-', (char)optopt, 0};
	/* A short option may stand inside a cluster ("-fx"): name the letter. */
	if (optopt > 0 && optopt < 128 && opt[0] == '-' && opt[1] != '-')
		opt = letter;
	if (ch == ':')
		return cli_usage_error(cmd, "option %s needs a value", opt);
	const char *eq = strchr(opt, '=');
	if (opt[0] == '-' && opt[1] == '-' && eq)
		return cli_usage_error(cmd, "option %.*s takes no value, or is unknown", (int)(eq - opt), opt);
	return cli_usage_error(cmd, "unknown option '%s'", opt);
}

/* The command closest to a mistyped one, if it is close enough to be meant. */
static const char *closest_command(const char *typed)
{
	const char *best = NULL;
	int best_d = 3;
	for (size_t i = 0; i < RV_ARRAY_LEN(commands); i++) {
		int d = rv_edit_distance(typed, commands[i].name);
		if (d < best_d && (size_t)d < strlen(commands[i].name) / 2 + 1) {
			best = commands[i].name;
			best_d = d;
		}
	}
	return best;
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

int cli_load_config(struct cli *cli, struct rv_config *cfg)
{
	int r = config_load(cli->config_path, cfg);
	if (r < 0) {
		cli_say_error("regvault: ", r);
		return RV_EXIT_USAGE;
	}
	return RV_EXIT_OK;
}

int cli_open_store(const struct rv_config *cfg, const char *store_url, struct store **st)
{
	struct store_spec spec = cfg->store;
	int r;
	if (store_url)
		spec.url = (char *)store_url;
	r = store_open(&spec, st);
	if (r == -EINVAL) { /* the URL or the store's settings: a configuration problem */
		cli_say_error("regvault: ", r);
		return RV_EXIT_USAGE;
	}
	if (r < 0)
		return cli_fail(r);
	return RV_EXIT_OK;
}

int cli_job_lock(const struct rv_config *cfg, enum job_kind k, const char *command, struct job_lock **l)
{
	int r = job_lock_take_shared(cfg->state_dir, k, command, l);
	if (r < 0)
		return cli_fail(r); /* refused: not a run */
	cli_job_begin(cfg, k, k == JOB_SNAPSHOT ? "save" : NULL);
	return RV_EXIT_OK;
}

/* Take the global options out of argv wherever they stand (before "--"), so
 * "regvault -o json cluster status" and "regvault cluster status -o json" agree.
 * Returns -1 on a usage error. */
static int take_global_options(struct cli *cli, int *argc, char **argv, bool *help, bool *version)
{
	int out = 1;
	bool seen_command = false;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		if (strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(a, "--config") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 ||
		    strcmp(a, "--metrics-textfile") == 0) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "regvault: option %s needs a value\n", a);
				return -1;
			}
			val = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			a = "--config";
			val = argv[i] + 9;
		} else if (strncmp(a, "--output=", 9) == 0) {
			a = "-o";
			val = argv[i] + 9;
		} else if (strncmp(a, "--metrics-textfile=", 19) == 0) {
			a = "--metrics-textfile";
			val = argv[i] + 19;
		}
		if (val && strcmp(a, "--config") == 0) {
			cli->config_path = val;
		} else if (val && strcmp(a, "--metrics-textfile") == 0) {
			if (!*val) {
				fprintf(stderr, "regvault: --metrics-textfile needs a file name\n");
				return -1;
			}
			cli->metrics_textfile = val;
		} else if (val) {
			if (strcmp(val, "json") == 0)
				cli->json = true;
			else if (strcmp(val, "table") == 0)
				cli->json = false;
			else {
				fprintf(stderr, "regvault: -o takes table or json, not '%s'\n", val);
				return -1;
			}
		} else if (strcmp(a, "--no-progress") == 0) {
			rv_progress_disabled = true;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			cli->verbose = true;
			rv_log_verbosity = RV_LOG_DEBUG;
		} else if (!seen_command && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
			*help = true;
		} else if (!seen_command && strcmp(a, "--version") == 0) {
			*version = true;
		} else {
			if (a[0] != '-')
				seen_command = true;
			else if (!seen_command) {
				fprintf(stderr, "regvault: unknown option '%s'; see 'regvault --help'.\n", a);
				return -1;
			}
			argv[out++] = argv[i];
		}
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

/* The one-shot commands --metrics-textfile applies to, and the job each is (the
 * daemon's names for the same work, so a dashboard reads both alike). */
static const struct {
	const char *group, *sub, *job;
} metric_jobs[] = {
	{"snapshot", "save", "snapshot"}, {"snapshot", "verify", "verify"}, {"snapshot", "prune", "prune"},
	{"maint", "compact", "compact"},  {"maint", "defrag", "defrag"},    {"maint", "hashcheck", "hashcheck"},
	{"maint", "diskcheck", "diskcheck"}, {"drill", NULL, "drill"},
};

static const char *metrics_job_of(int argc, char **argv)
{
	for (size_t i = 0; i < RV_ARRAY_LEN(metric_jobs); i++)
		if (strcmp(argv[1], metric_jobs[i].group) == 0 &&
		    (!metric_jobs[i].sub || (argc > 2 && strcmp(argv[2], metric_jobs[i].sub) == 0)))
			return metric_jobs[i].job;
	return NULL;
}

/* Run the command as a job of cli->metrics and write the textfile when it ends:
 * exit 0 is a success, a run a signal ended is cancelled, anything else a failure. */
static int run_with_metrics(struct cli *cli, int (*fn)(struct cli *, int, char **), int argc, char **argv)
{
	const char *job = metrics_job_of(argc, argv);
	if (!job) {
		fprintf(stderr, "regvault: --metrics-textfile applies to snapshot save|verify|prune, "
				"maint compact|defrag|hashcheck|diskcheck and drill, not to '%s%s%s'\n",
			argv[1], argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
		return RV_EXIT_USAGE;
	}
	if (cli_wants_help(argc, argv))
		return fn(cli, argc - 1, argv + 1);
	cli->metrics = rv_metrics_new();
	int r = rv_metrics_load_textfile(cli->metrics, cli->metrics_textfile);
	if (r < 0) { /* it is rewritten from this run alone */
		cli_say_error("regvault: warning: ", r);
		rv_err_clear();
	}
	rv_metrics_job_declare(cli->metrics, job);
	double start = (double)rv_now_unix_ms() / 1000;
	rv_metrics_job_started(cli->metrics, job, start);
	int rc = fn(cli, argc - 1, argv + 1);
	const char *result = rc == RV_EXIT_OK ? RV_JOB_SUCCESS : cli_interrupt_signal() ? RV_JOB_CANCELLED : RV_JOB_FAILURE;
	rv_metrics_job_finished(cli->metrics, job, result, start, (double)rv_now_unix_ms() / 1000);
	r = rv_metrics_write_textfile(cli->metrics, cli->metrics_textfile);
	if (r < 0) {
		cli_say_error("regvault: ", r);
		if (rc == RV_EXIT_OK)
			rc = RV_EXIT_FAIL;
	}
	rv_metrics_free(cli->metrics);
	cli->metrics = NULL;
	return rc;
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	bool help = false, version = false;

	rv_log_set_format(rv_log_format_from_env()); /* under systemd, priorities for the journal */
	cli_advice_install(); /* before anything can fail */
	if (take_global_options(&cli, &argc, argv, &help, &version) < 0)
		return RV_EXIT_USAGE;
	if (version) {
		printf("regvault %s\n", RV_VERSION);
		return RV_EXIT_OK;
	}
	if (argc < 2) {
		fputs(usage, help ? stdout : stderr);
		return help ? RV_EXIT_OK : RV_EXIT_USAGE;
	}
	for (size_t i = 0; i < RV_ARRAY_LEN(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0) {
			int rc = cli.metrics_textfile ? run_with_metrics(&cli, commands[i].fn, argc, argv)
						      : commands[i].fn(&cli, argc - 1, argv + 1);
			cli_job_finish(rc);
			return rc;
		}
	const char *meant = closest_command(argv[1]);
	fputs("regvault: '", stderr);
	rv_fputs_printable(argv[1], stderr);
	if (meant)
		fprintf(stderr, "' is not a command; did you mean '%s'? See 'regvault --help'.\n", meant);
	else
		fputs("' is not a command. See 'regvault --help'.\n", stderr);
	return RV_EXIT_USAGE;
}
