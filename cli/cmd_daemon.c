/* cmd_daemon.c - 'regvault daemon [status]', 'regvault jobs' and 'regvault run': the
 * long-running process and the commands that talk to it. The signal handling of the
 * daemon is here, at the edge: SIGHUP, SIGTERM and SIGINT are blocked in every
 * thread and handed to the loop as a signalfd. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"

static const char usage_daemon[] =
	"usage: regvault daemon [status] [-o json]\n"
	"\n"
	"Without a subcommand: run the daemon in the foreground (for systemd Type=notify; it never\n"
	"forks). It runs the jobs of daemon.jobs on their schedules, each on its own thread,\n"
	"supervises the local members (daemon.supervise_members) and answers on the control\n"
	"socket (daemon.control_socket). SIGHUP reloads the configuration; SIGTERM or SIGINT stop\n"
	"it: no new runs, running jobs cancelled (nothing is published half), exit 0.\n"
	"\n"
	"  status    members and their supervision, each job's last run, result, duration and\n"
	"            next run, from the running daemon\n"
	"\n"
	"See also 'regvault jobs' (the history) and 'regvault run JOB' (a run now).\n";

static const char usage_jobs[] =
	"usage: regvault jobs [--job NAME] [--last N] [-o json]\n"
	"\n"
	"The history of the daemon's job runs (state_dir/jobs.jsonl), oldest first: when, the job,\n"
	"its result (success, failure, skipped, cancelled), duration and error. Needs no daemon.\n"
	"\n"
	"  --job NAME   only this job (snapshot, verify, compact, defrag, hashcheck, diskcheck, drill)\n"
	"  --last N     only the last N runs (default 20; 0 for all)\n";

static const char usage_run[] =
	"usage: regvault run JOB [--no-wait] [-o json]\n"
	"\n"
	"Run JOB now through the daemon (snapshot, verify, compact, defrag, hashcheck, diskcheck,\n"
	"drill), with its lock, timeout and history as a scheduled run, and print its report.\n"
	"The exit code is the job's: 0 success, 1 failure (or skipped, or cancelled). A job that\n"
	"runs already is not started twice (exit 1).\n"
	"\n"
	"  --no-wait    return once the run has started\n";

static const char *socket_of(const struct rv_config *cfg)
{
	return cfg->daemon.control_socket && *cfg->daemon.control_socket ? cfg->daemon.control_socket
									  : "/run/regvault/regvault.sock";
}

/* ---- regvault daemon ---- */

static int run_daemon(struct cli *cli)
{
	struct rv_config cfg;
	sigset_t set;
	int rc = cli_load_config(cli, &cfg);
	if (rc != RV_EXIT_OK)
		return rc;
	if (rv_log_format_from_env() != RV_LOG_FORMAT_JOURNAL)
		rv_log_set_format(RV_LOG_FORMAT_TIMESTAMPS);
	/* Job reports and log lines advise what to change in the configuration, never a
	 * flag to type. */
	report_advice_install_config();
	/* Every job runs on a thread of its own; glibc would give each new thread an
	 * arena of its own (up to 8 per core) and keep them all. Two arenas are plenty
	 * for a loop, a supervisor and a few workers, and keep the idle RSS small. */
	mallopt(M_ARENA_MAX, 2);
	/* Before any thread exists, so that every thread inherits the mask and the
	 * signals reach only the signalfd. A client that hangs up is an error, not death. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		config_free(&cfg);
		fprintf(stderr, "regvault: cannot create a signalfd: %s\n", strerror(errno));
		return RV_EXIT_FAIL;
	}
	bool threads_left = false;
	struct daemon_opts o = {.config_path = cli->config_path, .signal_fd = sfd, .threads_left = &threads_left};
	int r = daemon_run(&cfg, &o);
	close(sfd);
	if (r == 0 && threads_left) {
		/* A cancelled job past daemon.stop_timeout still runs in its thread: end
		 * the process now, not through exit handlers that tear down what it uses. */
		fflush(NULL);
		_exit(RV_EXIT_OK);
	}
	return r < 0 ? cli_fail(r) : RV_EXIT_OK;
}

/* ---- regvault daemon status ---- */

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : dflt;
}

/* A refusal from the daemon, as one line. */
static int refused(json_t *ans)
{
	fputs("regvault: ", stderr);
	rv_fputs_printable(str_or(ans, "error", "the daemon refused the request"), stderr);
	fputc('\n', stderr);
	json_decref(ans);
	return RV_EXIT_FAIL;
}

static int ask(struct cli *cli, json_t *req, int timeout_ms, json_t **ans)
{
	struct rv_config cfg;
	int rc = cli_load_config(cli, &cfg);
	if (rc != RV_EXIT_OK) {
		json_decref(req);
		return rc;
	}
	int r = daemon_request(socket_of(&cfg), req, timeout_ms, ans);
	json_decref(req);
	config_free(&cfg);
	if (r < 0)
		return cli_fail(r);
	return RV_EXIT_OK;
}

/* The registry services' line: the last sync and the heartbeats by status. */
static void print_registry(json_t *reg)
{
	json_t *sync = json_object_get(reg, "sync"), *v;
	size_t i, by[4] = {0};
	static const char *const st[] = {"healthy", "unhealthy", "claimed", "pending"};
	if (!json_is_object(reg))
		return;
	json_array_foreach(json_object_get(reg, "heartbeats"), i, v)
		for (size_t k = 0; k < 4; k++)
			if (strcmp(str_or(v, "status", ""), st[k]) == 0)
				by[k]++;
	printf("registry: last sync %s; heartbeats %zu healthy, %zu unhealthy, %zu claimed elsewhere, %zu pending\n",
	       str_or(sync, "result", "none"), by[0], by[1], by[2], by[3]);
	if (json_is_string(json_object_get(sync, "error"))) {
		fputs("  ", stdout);
		rv_fputs_printable(str_or(sync, "error", ""), stdout);
		fputc('\n', stdout);
	}
}

static void print_status(json_t *ans)
{
	json_t *dm = json_object_get(ans, "daemon"), *sup = json_object_get(ans, "supervision");
	json_t *v;
	size_t i;
	printf("daemon pid %lld, started %s%s\n", (long long)json_integer_value(json_object_get(dm, "pid")),
	       str_or(dm, "started_at", "-"), json_is_true(json_object_get(dm, "ready")) ? "" : " (not ready yet)");
	if (json_is_string(json_object_get(ans, "leader")))
		printf("member %s; leader: the daemon of %s%s\n", str_or(ans, "member", "?"), str_or(ans, "leader", "?"),
		       json_is_true(json_object_get(ans, "is_leader")) ? " (this one): it runs the cluster-wide jobs" : "");
	else if (json_object_get(ans, "leader"))
		printf("member %s; no leader: %s; the cluster-wide jobs wait\n", str_or(ans, "member", "?"),
		       str_or(ans, "no_leader_reason", "?"));
	print_registry(json_object_get(ans, "registry"));
	if (json_is_true(json_object_get(sup, "paused")))
		printf("member supervision paused: %s\n", str_or(sup, "pause_reason", ""));
	else if (!json_is_true(json_object_get(sup, "enabled")))
		printf("members are not supervised (daemon.supervise_members is false)\n");
	printf("\n%-16s %-8s %-20s %-8s %8s %s\n", "MEMBER", "CONTROL", "SUPERVISION", "HEALTHY", "RESTARTS", "PID");
	json_array_foreach(json_object_get(sup, "members"), i, v) {
		json_t *pid = json_object_get(v, "pid");
		char pid_s[24] = "-";
		if (json_is_integer(pid))
			snprintf(pid_s, sizeof pid_s, "%lld", (long long)json_integer_value(pid));
		printf("%-16s %-8s %-20s %-8s %8lld %s\n", str_or(v, "name", "?"), str_or(v, "control", "?"),
		       str_or(v, "supervision", "?"), json_is_true(json_object_get(v, "healthy")) ? "yes" : "NO",
		       (long long)json_integer_value(json_object_get(v, "restarts_10m")), pid_s);
	}
	json_array_foreach(json_object_get(sup, "members"), i, v) {
		if (json_string_value(json_object_get(v, "reason"))) {
			fputs("  ", stdout);
			rv_fputs_printable(str_or(v, "reason", ""), stdout);
			fputc('\n', stdout);
		}
	}
	printf("\n%-10s %-8s %-14s %-9s %-21s %9s %-21s %s\n", "JOB", "STATE", "SCHEDULE", "LAST", "LAST RUN", "DURATION",
	       "NEXT RUN", "SKIPPED");
	json_array_foreach(json_object_get(ans, "jobs"), i, v) {
		json_t *last = json_object_get(v, "last_run");
		char dur[16] = "-";
		if (json_is_object(last))
			rv_fmt_duration(json_number_value(json_object_get(last, "duration_s")), dur, sizeof dur);
		printf("%-10s %-8s %-14s %-9s %-21s %9s %-21s %lld", str_or(v, "job", "?"),
		       json_is_true(json_object_get(v, "enabled")) ? str_or(v, "state", "?") : "off",
		       str_or(v, "schedule", "-"), json_is_object(last) ? str_or(last, "result", "-") : "-",
		       json_is_object(last) ? str_or(last, "started_at", "-") : "-", dur, str_or(v, "next_run", "-"),
		       (long long)json_integer_value(json_object_get(v, "skipped")));
		/* with hosts of their own: where the last run ran */
		if (json_is_object(last) && json_is_string(json_object_get(last, "member")))
			printf("  (ran on %s's host)", str_or(last, "member", "?"));
		fputc('\n', stdout);
	}
}

/* With members on other hosts: each job's last run wherever it ran (the newer of
 * this daemon's own and the one shared through etcd) and a row per host from its
 * agent. What cannot be read is said in the answer, not fatal: the local daemon's
 * view stands. */
static void add_cluster_view(const struct rv_config *cfg, json_t *ans)
{
	json_t *shared = NULL, *v, *hosts = json_array();
	size_t i;
	char own[64] = "";
	const char *leader = json_string_value(json_object_get(ans, "leader"));
	if (config_own_member(cfg, own, sizeof own) < 0)
		rv_err_clear();
	int r = job_shared_read(cfg, 3000, &shared);
	if (r < 0) {
		json_object_set_new(ans, "shared_runs_error", json_string(rv_errmsg(r)));
		rv_err_clear();
	}
	json_array_foreach(json_object_get(ans, "jobs"), i, v) {
		json_t *mine = json_object_get(v, "last_run");
		json_t *theirs = shared ? json_object_get(shared, json_string_value(json_object_get(v, "job"))) : NULL;
		if (json_is_object(mine))
			json_object_set_new(mine, "member", json_string(own));
		/* RFC 3339 UTC times of one format compare as strings */
		if (json_is_object(theirs) &&
		    (!json_is_object(mine) || strcmp(str_or(theirs, "started_at", ""), str_or(mine, "started_at", "")) > 0))
			json_object_set(v, "last_run", theirs);
	}
	json_decref(shared);

	struct agent_host_row *rows = agent_status_all(cfg);
	for (i = 0; i < cfg->cluster.n_members; i++) {
		const struct member_spec *m = &cfg->cluster.members[i];
		json_t *h = json_object(), *agent = rows ? report_agent_host_json(m, &rows[i]) : NULL;
		json_object_set_new(h, "member", json_string(m->name));
		json_object_set_new(h, "this_host", json_boolean(strcmp(m->name, own) == 0 || !m->agent));
		json_object_set_new(h, "leader", json_boolean(leader && strcmp(leader, m->name) == 0));
		json_object_set_new(h, "agent", agent ? agent : json_null());
		json_array_append_new(hosts, h);
	}
	free(rows);
	json_object_set_new(ans, "hosts", hosts);
}

static void print_hosts(json_t *ans)
{
	json_t *hosts = json_object_get(ans, "hosts"), *h;
	size_t i;
	if (!json_is_array(hosts))
		return;
	printf("\n%-16s %-24s %-10s %-10s %-8s %s\n", "MEMBER", "HOST", "DAEMON", "ETCD", "LEADER", "DISK FREE");
	json_array_foreach(hosts, i, h) {
		json_t *a = json_object_get(h, "agent");
		char daemon[24] = "-", etcd[24] = "-", disk[24] = "-";
		const char *host = json_is_true(json_object_get(h, "this_host")) ? "(this host)" : "-";
		if (json_is_object(a) && json_is_true(json_object_get(a, "reachable"))) {
			host = str_or(a, "hostname", host);
			snprintf(daemon, sizeof daemon, "pid %lld", (long long)json_integer_value(json_object_get(a, "agent_pid")));
			if (json_is_true(json_object_get(a, "running")))
				snprintf(etcd, sizeof etcd, "pid %lld", (long long)json_integer_value(json_object_get(a, "pid")));
			else
				snprintf(etcd, sizeof etcd, "stopped");
			if (json_is_integer(json_object_get(a, "disk_free_bytes")))
				rv_fmt_bytes((uint64_t)json_integer_value(json_object_get(a, "disk_free_bytes")), disk, sizeof disk);
		} else if (json_is_object(a)) {
			snprintf(daemon, sizeof daemon, "UNREACHABLE");
		}
		printf("%-16s %-24s %-10s %-10s %-8s %s\n", str_or(h, "member", "?"), host, daemon, etcd,
		       json_is_true(json_object_get(h, "leader")) ? "yes" : "", disk);
	}
	json_array_foreach(hosts, i, h) {
		json_t *a = json_object_get(h, "agent");
		if (json_is_object(a) && json_is_string(json_object_get(a, "error"))) {
			fputs("  ", stdout);
			rv_fputs_printable(str_or(a, "error", ""), stdout);
			fputc('\n', stdout);
		}
	}
	if (json_is_string(json_object_get(ans, "shared_runs_error"))) {
		fputs("  the other hosts' job runs could not be read: ", stdout);
		rv_fputs_printable(str_or(ans, "shared_runs_error", ""), stdout);
		fputc('\n', stdout);
	}
}

static int daemon_status(struct cli *cli)
{
	struct rv_config cfg;
	json_t *ans = NULL;
	int rc = cli_load_config(cli, &cfg);
	if (rc != RV_EXIT_OK)
		return rc;
	json_t *req = json_pack("{s:s}", "cmd", "status");
	int r = daemon_request(socket_of(&cfg), req, 10000, &ans);
	json_decref(req);
	if (r < 0) {
		config_free(&cfg);
		return cli_fail(r);
	}
	if (!json_is_true(json_object_get(ans, "ok"))) {
		config_free(&cfg);
		return refused(ans);
	}
	json_object_del(ans, "ok");
	if (config_uses_agents(&cfg))
		add_cluster_view(&cfg, ans);
	config_free(&cfg);
	if (cli->json) {
		cli_print_json(ans);
		return RV_EXIT_OK;
	}
	print_status(ans);
	print_hosts(ans);
	json_decref(ans);
	return RV_EXIT_OK;
}

int cmd_daemon(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(usage_daemon, stdout);
		return RV_EXIT_OK;
	}
	if (argc == 1)
		return run_daemon(cli);
	if (strcmp(argv[1], "status") == 0 && argc == 2)
		return daemon_status(cli);
	if (strcmp(argv[1], "status") == 0)
		return cli_usage_error("daemon status", "unexpected argument '%s'", argv[2]);
	if (argv[1][0] == '-')
		return cli_usage_error("daemon", "unknown option '%s'", argv[1]);
	return cli_usage_error("daemon", "unknown subcommand '%s'", argv[1]);
}

/* ---- regvault jobs ---- */

static void print_runs(const struct job_run *runs, size_t n)
{
	printf("%-21s %-10s %-9s %9s  %s\n", "STARTED", "JOB", "RESULT", "DURATION", "ERROR");
	for (size_t i = 0; i < n; i++) {
		char at[21], dur[16];
		rv_utc_rfc3339(runs[i].start_ms / 1000, at);
		rv_fmt_duration((double)(runs[i].end_ms - runs[i].start_ms) / 1000, dur, sizeof dur);
		printf("%-21s %-10s %-9s %9s  ", at, job_kind_name(runs[i].kind), runs[i].result, dur);
		rv_fputs_printable(runs[i].error ? runs[i].error : "", stdout);
		fputc('\n', stdout);
	}
	if (n == 0)
		printf("no runs recorded yet\n");
}

static json_t *run_json(const struct job_run *r)
{
	json_t *o = json_object();
	char a[21], b[21];
	rv_utc_rfc3339(r->start_ms / 1000, a);
	rv_utc_rfc3339(r->end_ms / 1000, b);
	json_object_set_new(o, "job", json_string(job_kind_name(r->kind)));
	json_object_set_new(o, "result", json_string(r->result));
	json_object_set_new(o, "started_at", json_string(a));
	json_object_set_new(o, "finished_at", json_string(b));
	json_object_set_new(o, "duration_s", json_real((double)(r->end_ms - r->start_ms) / 1000));
	json_object_set_new(o, "error", r->error ? json_string(r->error) : json_null());
	json_object_set_new(o, "report", r->report ? json_incref(r->report) : json_null());
	return o;
}

int cmd_jobs(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{"job", required_argument, NULL, 'j'}, {"last", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
	};
	const char *job = NULL;
	long last = 20;
	enum job_kind k;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'h': fputs(usage_jobs, stdout); return RV_EXIT_OK;
		case 'j':
			if (job_kind_parse(optarg, &k) < 0) {
				rv_err_clear();
				return cli_usage_error("jobs", "--job takes snapshot, verify, compact, defrag, hashcheck, diskcheck or drill, not '%s'", optarg);
			}
			job = optarg;
			break;
		case 'l':
			last = strtol(optarg, &end, 10);
			if (*end || end == optarg || last < 0 || last > 1000000)
				return cli_usage_error("jobs", "--last takes a number of runs (0 for all), not '%s'", optarg);
			break;
		default: return cli_option_error("jobs", c, argc, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("jobs", "unexpected argument '%s'", argv[optind]);
	struct rv_config cfg;
	int rc = cli_load_config(cli, &cfg);
	if (rc != RV_EXIT_OK)
		return rc;
	struct job_run *runs;
	size_t n;
	int r = job_history_read(cfg.state_dir, job, (size_t)last, &runs, &n);
	config_free(&cfg);
	if (r < 0)
		return cli_fail(r);
	if (cli->json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, run_json(&runs[i]));
		cli_print_json(a);
	} else {
		print_runs(runs, n);
	}
	job_runs_free(runs, n);
	return RV_EXIT_OK;
}

/* ---- regvault run ---- */

/* One line for a person; -o json has the whole report. */
static void print_run(json_t *run)
{
	json_t *rep = json_object_get(run, "report"), *save = json_object_get(rep, "save");
	char dur[16];
	rv_fmt_duration(json_number_value(json_object_get(run, "duration_s")), dur, sizeof dur);
	printf("job %s: %s in %s\n", str_or(run, "job", "?"), str_or(run, "result", "?"), dur);
	if (json_is_object(save))
		printf("  saved %s (revision %lld)\n", str_or(save, "name", "?"),
		       (long long)json_integer_value(json_object_get(save, "revision")));
	if (json_is_string(json_object_get(rep, "report_path")))
		printf("  report %s\n", str_or(rep, "report_path", ""));
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{"no-wait", no_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	bool wait = true;
	enum job_kind k;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(usage_run, stdout); return RV_EXIT_OK;
		case 'n': wait = false; break;
		default: return cli_option_error("run", c, argc, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("run", optind < argc ? "give one JOB" : "name the JOB to run");
	if (job_kind_parse(argv[optind], &k) < 0) {
		cli_say_error("regvault run: ", -EINVAL);
		return RV_EXIT_USAGE;
	}
	json_t *req = json_pack("{s:s,s:s,s:b}", "cmd", "run", "job", job_kind_name(k), "wait", wait), *ans;
	int rc = ask(cli, req, wait ? 0 : 10000, &ans);
	if (rc != RV_EXIT_OK)
		return rc;
	if (!json_is_true(json_object_get(ans, "ok")))
		return refused(ans);
	if (!wait) {
		if (cli->json)
			cli_print_json(json_pack("{s:s,s:b}", "job", job_kind_name(k), "started", 1));
		else
			printf("job %s started; 'regvault daemon status' shows it\n", job_kind_name(k));
		json_decref(ans);
		return RV_EXIT_OK;
	}
	json_t *run = json_incref(json_object_get(ans, "run"));
	json_decref(ans);
	const char *result = str_or(run, "result", "failure");
	rc = strcmp(result, "success") == 0 ? RV_EXIT_OK : RV_EXIT_FAIL;
	if (rc != RV_EXIT_OK) {
		fprintf(stderr, "regvault: the %s run %s: ", job_kind_name(k),
			strcmp(result, "failure") == 0 ? "failed" : strcmp(result, "skipped") == 0 ? "was skipped" : "was cancelled");
		rv_fputs_printable(str_or(run, "error", "no reason was recorded"), stderr);
		fputc('\n', stderr);
	}
	if (cli->json) {
		cli_print_json(run);
	} else {
		print_run(run);
		json_decref(run);
	}
	return rc;
}
