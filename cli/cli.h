/* cli.h - shared by the command files in cli/ (not a module API). Each command group
 * is one file with one entry point, like git's builtin/. The command files parse
 * options and print; the modules do the work and never print results. */
#ifndef REGVAULT_CLI_H
#define REGVAULT_CLI_H

#include <stdbool.h>

#include <jansson.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

struct cli {
	const char *config_path; /* --config, or NULL for the default chain */
	bool json;               /* -o json */
	bool verbose;
	/* --metrics-textfile FILE: the one-shot commands' run, written there when they
	 * end (main.c); the commands add what they measured to metrics (NULL when not
	 * asked, which the rv_metrics_* updates take as "do nothing"). */
	const char *metrics_textfile;
	struct rv_metrics *metrics;
};

/* Entry points: argv[0] is the command name ("cluster"), options follow. Each
 * returns an exit code (RV_EXIT_*). */
int cmd_cluster(struct cli *cli, int argc, char **argv);
int cmd_snapshot(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
int cmd_drill(struct cli *cli, int argc, char **argv);
int cmd_maint(struct cli *cli, int argc, char **argv);
int cmd_daemon(struct cli *cli, int argc, char **argv);
int cmd_jobs(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_registry(struct cli *cli, int argc, char **argv);
int cmd_member(struct cli *cli, int argc, char **argv);
int cmd_keygen(struct cli *cli, int argc, char **argv);
/* The registry group's subcommands (cmd_registry.c dispatches): validate and sync
 * in cmd_registry_sync.c, heartbeat and status in cmd_registry_heartbeat.c. argv[0]
 * is the subcommand's name. */
int cmd_registry_validate(struct cli *cli, int argc, char **argv);
int cmd_registry_sync(struct cli *cli, int argc, char **argv);
int cmd_registry_heartbeat(struct cli *cli, int argc, char **argv);
int cmd_registry_status(struct cli *cli, int argc, char **argv);
/* The commands on one prefix (cmd_prefix.c): 'snapshot diff' (argv[0] "diff") and
 * 'restore --prefix' (argv as cmd_restore got it). */
int cmd_snapshot_diff(struct cli *cli, int argc, char **argv);
int cmd_restore_prefix(struct cli *cli, int argc, char **argv);

/* The options of a restore or drill to a point (point_opts.c): opt one of these,
 * arg its argument; RV_EXIT_OK or the usage error printed. */
enum { CLI_OPT_TO_LATEST = 900, CLI_OPT_TO_REVISION, CLI_OPT_TO_TIME, CLI_OPT_BUMP_REVISION };
int cli_point_option(const char *cmd, int opt, const char *arg, struct restore_point_req *q);
/* A point named as one side of a diff: rev:R, rev:latest or time:T (RFC 3339); a usage
 * error (said) when it is malformed, RV_EXIT_USAGE unsaid when spec names no point. */
int cli_point_spec(const char *cmd, const char *spec, struct restore_point_req *q);
/* The point reached, events replayed and the replay's rate (nothing when not used). */
void cli_print_point(const struct restore_point_report *p);

/* Load the configuration the global options name; on failure print the message and
 * return RV_EXIT_USAGE (configuration errors are exit 2). */
int cli_load_config(struct cli *cli, struct rv_config *cfg);

/* Open the configured store, or the one --store URL names (store_url non-NULL).
 * On failure print the message and return RV_EXIT_USAGE for a configuration
 * problem (URL, credentials), else RV_EXIT_FAIL. */
int cli_open_store(const struct rv_config *cfg, const char *store_url, struct store **st);

/* Take job k's lock (state_dir/locks) for a one-shot command: shared with other
 * commands, refused while the daemon runs the job. Refusal is exit 1 with the
 * sentence naming the holder (a timer's run tries again next time); so is a
 * state_dir where the lock cannot be made. command is "regvault snapshot save". */
int cli_job_lock(const struct rv_config *cfg, enum job_kind k, const char *command, struct job_lock **l);

/* The job history (state_dir/jobs.jsonl, what the daemon computes a job's last
 * success from): a one-shot command's run of job k is appended once the command
 * ends (main.c), with the result from its exit code, the first error sentence
 * it printed and its report. cli_job_lock begins it; a command that runs a job
 * without its lock (snapshot prune) calls cli_job_begin. report_key: the report is
 * recorded as {report_key: report} ("save", "prune": the daemon's snapshot job
 * reports both), NULL: as is. */
void cli_job_begin(const struct rv_config *cfg, enum job_kind k, const char *report_key);
/* The run's report (takes a reference; cli_print_json hands it the JSON it prints;
 * a command whose table output builds no JSON may call it). */
void cli_job_report(json_t *report);
/* The run's error sentence when the command says it without cli_fail. */
void cli_job_error(const char *fmt, ...) RV_PRINTF(1, 2);

/* The command's cancellation: SIGINT, SIGTERM and SIGHUP request it once
 * cli_catch_interrupts() ran (commands whose long work looks at it; for the others
 * the signals keep their default and end the process). */
extern struct rv_cancel cli_cancel;
void cli_catch_interrupts(void);
/* The signal that requested it, 0 if none came. */
int cli_interrupt_signal(void);

/* A module's progress callback (snap_save_opts.progress...) drawn on stderr:
 * pass cli_progress_cb with a struct cli_progress {.label = "..."} as its ud,
 * and call cli_progress_end when the operation returns. */
struct cli_progress {
	const char *label;
	struct rv_progress p;
	bool started;
};
void cli_progress_cb(void *ud, const char *what, uint64_t done, uint64_t total);
void cli_progress_end(struct cli_progress *cp);

/* Every command's -o json: root on stdout, two-space indent, keys in insertion
 * order, reals the same way everywhere. Takes the reference. */
void cli_print_json(json_t *root);

/* Install the command line's wording of the modules' advice (cli/advice.c): the
 * flags and regvault commands that the modules' sentences never name. */
void cli_advice_install(void);

/* Print "regvault: <message>" for a failed call once, and return RV_EXIT_FAIL. */
int cli_fail(int r);
/* "regvault: " + the error's sentence on stderr, control characters escaped. */
void cli_say_error(const char *lead, int r);
/* Print a usage error and return RV_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) RV_PRINTF(2, 3);
/* The usage error for what getopt_long returned as ch ('?' or, with an optstring
 * starting with ':', ':' for a missing value): "option --from needs a value" or
 * "unknown option '--frm'". Returns RV_EXIT_USAGE. */
int cli_option_error(const char *cmd, int ch, int argc, char **argv);
/* True when argv holds -h/--help. */
bool cli_wants_help(int argc, char **argv);

/* 'regvault restore' across hosts, when the members have agents (cmd_restore_hosts.c). */
int cmd_restore_hosts(struct cli *cli, const struct rv_config *cfg, const struct agent_restore_opts *o, bool rollback,
		      bool resume);
/* A restore to a point across hosts: the events replayed on this host into a private
 * etcd (restore_point_db), then the replayed db restored on every host as a
 * --from-file one; a dry run resolves the point and asks the hosts about its base. */
int cmd_restore_hosts_point(struct cli *cli, const struct rv_config *cfg, struct store *st,
			    const struct restore_point_req *q, const char *replay_dir, bool force, bool dry_run,
			    int wait_ms);

#endif
