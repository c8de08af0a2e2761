/* cmd_cluster.c - 'regvault cluster up|down|status': start, stop and inspect the
 * configured members on this host. Parses options and prints; registry/ does the work. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define DEFAULT_WAIT "60s"
#define DEFAULT_STOP_TIMEOUT "10s"

static const char usage_group[] =
	"usage: regvault cluster up|down|status [options]\n"
	"\n"
	"Start, stop and inspect the members configured under cluster.members on this host.\n"
	"\n"
	"  up       start every member that is not running and wait until all are healthy\n"
	"  down     stop the members regvault started (SIGTERM, then SIGKILL)\n"
	"  status   one row per member: id, version, db size, leader, raft term and index,\n"
	"           alarms, health (-o json for a JSON array)\n"
	"\n"
	"'regvault cluster SUBCOMMAND --help' for the options of each.\n"
	"Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.\n";

static const char usage_up[] =
	"usage: regvault cluster up [--wait DURATION]\n"
	"\n"
	"Start every configured member that is not running as a background etcd process\n"
	"(pid file <data_dir>.pid, log <data_dir>.log; members with control: systemd through\n"
	"systemctl), forming a new cluster on first start, then wait until every member is\n"
	"healthy and exactly one leader is elected. Members already running are left alone,\n"
	"so running it again changes nothing. When a member does not come up, the message\n"
	"names it and quotes the end of its log.\n"
	"\n"
	"Options:\n"
	"  --wait DURATION   how long to wait for health (default " DEFAULT_WAIT "; e.g. 90s, 2m)\n"
	"  -h, --help        this help\n"
	"\n"
	"Exit codes: 0 every member healthy, 1 a member failed to start or become healthy,\n"
	"2 usage or configuration error.\n";

static const char usage_down[] =
	"usage: regvault cluster down [--timeout DURATION]\n"
	"\n"
	"Stop the members regvault started (those with a pid file beside their data dir):\n"
	"SIGTERM, then SIGKILL when one is still running after the timeout. Members with\n"
	"control: systemd are stopped with systemctl. Data dirs are kept. Members that are\n"
	"not running are skipped, so running it again changes nothing.\n"
	"\n"
	"Options:\n"
	"  --timeout DURATION  time allowed after SIGTERM (default " DEFAULT_STOP_TIMEOUT ")\n"
	"  -h, --help          this help\n"
	"\n"
	"Exit codes: 0 every member stopped, 1 a member could not be stopped,\n"
	"2 usage or configuration error.\n";

static const char usage_status[] =
	"usage: regvault [-o table|json] cluster status\n"
	"\n"
	"Ask every configured member for its status, like 'etcdctl endpoint status -w table'\n"
	"with health: NAME, ENDPOINT, ID, VERSION, DB SIZE, IN USE, LEADER, RAFT TERM,\n"
	"RAFT INDEX, ALARMS, HEALTHY (and ERROR for a member that does not answer). A member\n"
	"is healthy when it answers within its deadline, sees a leader and has no alarm\n"
	"raised. A member that is down is a row that says so.\n"
	"\n"
	"With -o json: an array of objects with the keys name, endpoint, id (hex), version,\n"
	"db_size, db_size_in_use, is_leader, raft_term, raft_index, alarms (array),\n"
	"healthy, and error (only for a member that is not healthy).\n"
	"\n"
	"Exit codes: 0 every member healthy, 1 at least one member is not,\n"
	"2 usage or configuration error.\n";

/* getopt_long over a subcommand's argv (argv[0] is the subcommand). */
static int parse_duration_opt(const char *cmd, const char *opt, const char *val, int *ms)
{
	int64_t v;
	if (rv_parse_duration_ms(val, &v) < 0 || v <= 0 || v > INT_MAX)
		return cli_usage_error(cmd, "%s takes a duration such as 60s or 2m, not '%s'", opt, val);
	*ms = (int)v;
	return RV_EXIT_OK;
}

/* Parses --wait/--timeout (named opt) for up and down; rejects anything else. */
static int parse_sub_options(const char *cmd, const char *opt, int argc, char **argv, int *ms)
{
	const struct option longopts[] = {{opt + 2, required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
	int c;
	optind = 0; /* GNU: re-initialise */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
		if (c == 'd') {
			int r = parse_duration_opt(cmd, opt, optarg, ms);
			if (r)
				return r;
		} else
			return cli_option_error(cmd, c, argc, argv);
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return RV_EXIT_OK;
}

static bool show_progress(void)
{
	return !rv_progress_disabled && isatty(2);
}

/* ---- up ---- */

static int cluster_up_cmd(struct cli *cli, int argc, char **argv)
{
	struct rv_config cfg = {0};
	int wait_ms = 60000, rc;
	if ((rc = parse_sub_options("cluster up", "--wait", argc, argv, &wait_ms)))
		return rc;
	if ((rc = cli_load_config(cli, &cfg)))
		return rc;
	const struct cluster_spec *cs = &cfg.cluster;
	bool *was_running = rv_xcalloc(cs->n_members ? cs->n_members : 1, sizeof *was_running);
	pid_t *pids = rv_xcalloc(cs->n_members ? cs->n_members : 1, sizeof *pids);
	bool agents = config_uses_agents(&cfg);
	size_t to_start = 0;
	if (agents)
		agent_member_pids(&cfg, pids);
	for (size_t i = 0; i < cs->n_members; i++) {
		was_running[i] = (agents ? pids[i] : member_running_pid(&cs->members[i])) > 0;
		to_start += !was_running[i];
	}
	if (show_progress())
		fprintf(stderr, "regvault: %s%zu of %zu members, waiting up to %d s for the cluster to be healthy...\n",
			to_start ? "starting " : "checking ", to_start ? to_start : cs->n_members, cs->n_members,
			wait_ms / 1000);

	/* ^C keeps its default: nothing to undo */
	int r = agents ? agent_cluster_up(&cfg, wait_ms) : cluster_up(cs, wait_ms, NULL);
	if (r < 0) {
		rc = cli_fail(r);
		goto out;
	}
	if (agents)
		agent_member_pids(&cfg, pids);
	else
		for (size_t i = 0; i < cs->n_members; i++)
			pids[i] = member_running_pid(&cs->members[i]);
	if (cli->json) {
		cli_print_json(report_cluster_up_json(cs, was_running, pids));
	} else {
		for (size_t i = 0; i < cs->n_members; i++) {
			const struct member_spec *m = &cs->members[i];
			pid_t pid = pids[i];
			printf("%-10s %-28s %s", m->name, m->client_url, was_running[i] ? "already running" : "started");
			if (pid > 0)
				printf(" (pid %d)", (int)pid);
			putchar('\n');
		}
		printf("cluster %s: %zu members healthy\n", cs->name ? cs->name : "", cs->n_members);
	}
	rc = RV_EXIT_OK;
out:
	free(was_running);
	free(pids);
	config_free(&cfg);
	return rc;
}

/* ---- down ---- */

static int cluster_down_cmd(struct cli *cli, int argc, char **argv)
{
	struct rv_config cfg = {0};
	int timeout_ms = 10000, rc;
	if ((rc = parse_sub_options("cluster down", "--timeout", argc, argv, &timeout_ms)))
		return rc;
	if ((rc = cli_load_config(cli, &cfg)))
		return rc;
	const struct cluster_spec *cs = &cfg.cluster;
	pid_t *pids = rv_xcalloc(cs->n_members ? cs->n_members : 1, sizeof *pids);
	bool agents = config_uses_agents(&cfg);
	if (agents)
		agent_member_pids(&cfg, pids);
	else
		for (size_t i = 0; i < cs->n_members; i++)
			pids[i] = member_running_pid(&cs->members[i]);

	int r = agents ? agent_cluster_down(&cfg, timeout_ms) : cluster_down(cs, timeout_ms);
	if (r < 0) {
		rc = cli_fail(r);
		goto out;
	}
	pid_t *now = rv_xcalloc(cs->n_members ? cs->n_members : 1, sizeof *now);
	if (agents)
		agent_member_pids(&cfg, now);
	else
		for (size_t i = 0; i < cs->n_members; i++)
			now[i] = member_running_pid(&cs->members[i]);
	for (size_t i = 0; i < cs->n_members && !cli->json; i++) {
		const char *state = now[i] > 0 ? "running (not started by regvault)" : pids[i] > 0 ? "stopped" : "not running";
		if (pids[i] > 0 && now[i] == 0)
			printf("%-10s %s (pid %d)\n", cs->members[i].name, state, (int)pids[i]);
		else
			printf("%-10s %s\n", cs->members[i].name, state);
	}
	if (cli->json)
		cli_print_json(report_cluster_down_json(cs, pids, now));
	free(now);
	rc = RV_EXIT_OK;
out:
	free(pids);
	config_free(&cfg);
	return rc;
}

/* ---- status ---- */

enum { COL_NAME, COL_ENDPOINT, COL_ID, COL_VERSION, COL_DB, COL_INUSE, COL_LEADER, COL_TERM, COL_INDEX,
       COL_ALARMS, COL_HEALTHY, COL_HOST, COL_ERROR, N_COLS };
static const char *const col_title[N_COLS] = {"NAME",      "ENDPOINT",   "ID",     "VERSION",
					      "DB SIZE",   "IN USE",     "LEADER", "RAFT TERM",
					      "RAFT INDEX", "ALARMS",    "HEALTHY", "HOST",  "ERROR"};

static void status_cells(const struct member_row *row, const struct agent_host_row *host, char cells[N_COLS][300])
{
	const struct etcd_member_health *h = &row->h;
	snprintf(cells[COL_NAME], 300, "%s", row->name);
	snprintf(cells[COL_ENDPOINT], 300, "%s", row->endpoint);
	if (h->reachable) {
		snprintf(cells[COL_ID], 300, ETCD_ID_FMT, h->status.hdr.member_id);
		snprintf(cells[COL_VERSION], 300, "%s", h->status.version);
		rv_fmt_bytes((uint64_t)h->status.db_size, cells[COL_DB], 300);
		rv_fmt_bytes((uint64_t)h->status.db_size_in_use, cells[COL_INUSE], 300);
		snprintf(cells[COL_LEADER], 300, "%s", row->is_leader ? "true" : "false");
		snprintf(cells[COL_TERM], 300, "%" PRIu64, h->status.raft_term);
		snprintf(cells[COL_INDEX], 300, "%" PRIu64, h->status.raft_index);
	} else {
		for (int c = COL_ID; c <= COL_INDEX; c++)
			snprintf(cells[c], 300, "-");
	}
	snprintf(cells[COL_ALARMS], 300, "%s", h->alarms[0] ? h->alarms : "");
	snprintf(cells[COL_HEALTHY], 300, "%s", h->healthy ? "true" : "false");
	snprintf(cells[COL_ERROR], 300, "%s", h->healthy ? "" : h->reason);
	/* A member on another host: its host's answer, and the sentence when it has none. */
	if (!host || !host->asked)
		snprintf(cells[COL_HOST], 300, "%s", "local");
	else if (host->err == 0)
		snprintf(cells[COL_HOST], 300, "%s", host->st.hostname);
	else {
		snprintf(cells[COL_HOST], 300, "unreachable");
		char e[300];
		snprintf(e, sizeof e, "%s", cells[COL_ERROR]);
		snprintf(cells[COL_ERROR], 300, "%s%s%s", e, e[0] ? "; " : "", host->error);
	}
}

static void print_rule(const size_t *w, int n_cols)
{
	for (int c = 0; c < n_cols; c++) {
		putchar('+');
		for (size_t i = 0; i < w[c] + 2; i++)
			putchar('-');
	}
	puts("+");
}

static void print_status_table(const struct member_row *rows, const struct agent_host_row *hosts, size_t n)
{
	size_t w[N_COLS];
	int n_cols = COL_ERROR; /* the ERROR column only when a member has one */
	bool show_host = false;  /* the HOST column only with members on other hosts */
	for (size_t i = 0; i < n; i++) {
		show_host |= hosts && hosts[i].asked;
		if (!rows[i].h.healthy || (hosts && hosts[i].asked && hosts[i].err))
			n_cols = N_COLS;
	}
	char(*cells)[N_COLS][300] = rv_xcalloc(n ? n : 1, sizeof *cells);
	for (int c = 0; c < N_COLS; c++)
		w[c] = strlen(col_title[c]);
	for (size_t i = 0; i < n; i++) {
		status_cells(&rows[i], hosts ? &hosts[i] : NULL, cells[i]);
		for (int c = 0; c < N_COLS; c++)
			if (strlen(cells[i][c]) > w[c])
				w[c] = strlen(cells[i][c]);
	}
	if (!show_host) { /* drop the HOST column */
		for (int c = COL_HOST; c + 1 < N_COLS; c++)
			w[c] = w[c + 1];
		for (size_t i = 0; i < n; i++)
			memmove(cells[i][COL_HOST], cells[i][COL_HOST + 1], sizeof cells[i][0]);
		n_cols--;
	}
	const char *titles[N_COLS];
	for (int c = 0; c < N_COLS; c++)
		titles[c] = col_title[!show_host && c >= COL_HOST && c + 1 < N_COLS ? c + 1 : c];
	print_rule(w, n_cols);
	for (int c = 0; c < n_cols; c++) {
		/* centred titles, as etcdctl's tablewriter does */
		size_t pad = w[c] - strlen(titles[c]);
		printf("| %*s%s%*s ", (int)(pad / 2), "", titles[c], (int)(pad - pad / 2), "");
	}
	puts("|");
	print_rule(w, n_cols);
	for (size_t i = 0; i < n; i++) {
		for (int c = 0; c < n_cols; c++)
			printf("| %-*s ", (int)w[c], cells[i][c]);
		puts("|");
	}
	print_rule(w, n_cols);
	free(cells);
}

static int cluster_status_cmd(struct cli *cli, int argc, char **argv)
{
	struct rv_config cfg = {0};
	struct member_row *rows = NULL;
	size_t n = 0, unhealthy = 0;
	int rc;
	if (argc > 1)
		return cli_usage_error("cluster status", "unexpected argument '%s'", argv[1]);
	if ((rc = cli_load_config(cli, &cfg)))
		return rc;
	/* The hosts' agents are asked while the members are. */
	struct agent_status_batch *batch = config_uses_agents(&cfg) ? agent_status_begin(&cfg) : NULL;
	int r = cluster_status(&cfg.cluster, &rows, &n);
	struct agent_host_row *hosts = batch ? agent_status_end(batch) : NULL;
	if (r < 0) {
		free(hosts);
		config_free(&cfg);
		return cli_fail(r);
	}
	if (cli->json) {
		json_t *arr = report_cluster_status_json(rows, n);
		for (size_t i = 0; hosts && i < n && i < cfg.cluster.n_members; i++) {
			json_t *a = report_agent_host_json(&cfg.cluster.members[i], &hosts[i]);
			if (a)
				json_object_set_new(json_array_get(arr, i), "agent", a);
		}
		cli_print_json(arr);
	} else {
		print_status_table(rows, hosts, n);
	}
	fflush(stdout);
	struct rv_buf names = {0};
	for (size_t i = 0; i < n; i++) {
		if (rows[i].h.healthy)
			continue;
		unhealthy++;
		rv_buf_printf(&names, "%s%s", names.len ? ", " : "", rows[i].name);
		/* The table has an ERROR column; JSON readers get the reasons here too. */
		if (cli->json)
			fprintf(stderr, "regvault: member %s (%s) is not healthy: %s\n", rows[i].name,
				rows[i].endpoint, rows[i].h.reason[0] ? rows[i].h.reason : "no reason given");
	}
	size_t unreachable = 0;
	for (size_t i = 0; hosts && i < cfg.cluster.n_members; i++)
		if (hosts[i].asked && hosts[i].err) {
			unreachable++;
			fprintf(stderr, "regvault: %s\n", hosts[i].error);
		}
	free(hosts);
	if (unhealthy)
		fprintf(stderr, "regvault: %zu of %zu members are not healthy: %s\n", unhealthy, n, names.data);
	rv_buf_free(&names);
	free(rows);
	config_free(&cfg);
	return unhealthy || unreachable ? RV_EXIT_FAIL : RV_EXIT_OK;
}

int cmd_cluster(struct cli *cli, int argc, char **argv)
{
	static const struct {
		const char *name, *usage;
		int (*fn)(struct cli *, int, char **);
	} subs[] = {
		{"up", usage_up, cluster_up_cmd},
		{"down", usage_down, cluster_down_cmd},
		{"status", usage_status, cluster_status_cmd},
	};
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		bool help = argc >= 2;
		fputs(usage_group, help ? stdout : stderr);
		return help ? RV_EXIT_OK : RV_EXIT_USAGE;
	}
	for (size_t i = 0; i < RV_ARRAY_LEN(subs); i++) {
		if (strcmp(argv[1], subs[i].name) != 0)
			continue;
		if (cli_wants_help(argc - 1, argv + 1)) {
			fputs(subs[i].usage, stdout);
			return RV_EXIT_OK;
		}
		return subs[i].fn(cli, argc - 1, argv + 1);
	}
	return cli_usage_error("cluster", "unknown subcommand '%s'", argv[1]);
}
