/* cmd_registry_heartbeat.c - `regvault registry heartbeat` (the heartbeat service in
 * the foreground) and `regvault registry status` (every capability's state). The
 * work is registry/'s (heartbeat*.c, registry_status.c); this parses and prints. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define CLIENT_TIMEOUT_MS 5000

static const char usage_heartbeat[] =
	"usage: regvault registry heartbeat [--namespace NS ...] [--auto-discover]\n"
	"                                   [--capabilities DIR] [--interval D] [--ttl D]\n"
	"\n"
	"Keep the health keys of Service-type capabilities, in the foreground, until SIGINT\n"
	"or SIGTERM: for each, a lease of the TTL renewed every interval (one keep-alive\n"
	"stream for all), and <prefix>/<namespace>/health = {\"status\", \"timestamp\",\n"
	"\"namespace\", \"heartbeat_count\"} written under it each interval, \"status\" from the\n"
	"manifest's health_check when it has one. A lease that is lost is granted again at\n"
	"once. On SIGINT or SIGTERM every lease is revoked, so the keys go at once; if the\n"
	"process is killed outright they go when the TTL runs out. One line is logged per\n"
	"event (lease granted, lost, a capability unhealthy or healthy again).\n"
	"\n"
	"It refuses to start for a capability whose heartbeat another regvault (the daemon)\n"
	"already keeps: a claim key under the lease says who, so a key never has two writers.\n"
	"\n"
	"Options:\n"
	"  --namespace NS       heartbeat this capability (repeatable); its health check is\n"
	"                       the manifest's when the manifests hold it\n"
	"  --auto-discover      every Service-type manifest in the capabilities directory,\n"
	"                       looked at again each interval (added ones start, removed stop)\n"
	"  --capabilities DIR   the manifests (default registry.manifests_dir)\n"
	"  --interval D         how often (default registry.heartbeat.interval, 10s)\n"
	"  --ttl D              the leases' TTL, whole seconds (default registry.heartbeat.ttl, 30s)\n"
	"                       D is a duration (10s, 1m) or bare seconds (10)\n"
	"  -h, --help           this help\n"
	"\n"
	"Exit codes: 0 stopped by SIGINT or SIGTERM, 1 another regvault keeps a heartbeat\n"
	"asked for, or nothing to heartbeat, or etcd refused, 2 usage or configuration error.\n";

static const char usage_status[] =
	"usage: regvault [-o table|json] registry status\n"
	"\n"
	"Every capability, from the manifests (registry.manifests_dir) and from etcd (the keys\n"
	"under registry.prefix): NAMESPACE, TYPE, VERSION, HEALTH (healthy, unhealthy, stale:\n"
	"older than the TTL, missing: a Service-type capability without a health key, '-' for\n"
	"a pattern), AGE of the last heartbeat, TTL left on its lease, COUNT of heartbeats,\n"
	"and DETAIL (why unhealthy, or who keeps the heartbeat).\n"
	"\n"
	"With -o json: {\"ok\", \"count\", \"capabilities\": [...]} with the keys namespace, type,\n"
	"version, health, detail, last_heartbeat, heartbeat_age_s, lease_ttl_s,\n"
	"heartbeat_count, kept_by, in_manifests and in_etcd (null when not known).\n"
	"\n"
	"Exit codes: 0 every Service-type capability has a fresh healthy heartbeat, 1 not\n"
	"(or etcd cannot be read), 2 usage or configuration error.\n";

static int parse_duration_opt(const char *opt, const char *val, int64_t *ms)
{
	int64_t v;
	if (rv_parse_duration_ms(val, &v) < 0 || v <= 0)
		return cli_usage_error("registry heartbeat", "%s takes a duration such as 10s or bare seconds (10), not '%s'",
				       opt, val);
	*ms = v;
	return RV_EXIT_OK;
}

struct hb_cmd {
	char **names; /* --namespace, in order */
	size_t n_names;
	bool auto_discover;
	const char *dir;
	int64_t interval_ms, ttl_ms;
};

/* The targets: the named capabilities (with their manifest's check when there is
 * one), then every Service-type manifest when discovering. set owns the checks. */
static void build_targets(const struct hb_cmd *o, const struct manifest_set *set, struct heartbeat_target **out,
			  size_t *n)
{
	struct heartbeat_target *t = rv_xcalloc(o->n_names + (set ? set->n_caps : 0) + 1, sizeof *t);
	size_t k = 0;
	for (size_t i = 0; i < o->n_names; i++) {
		t[k].ns = o->names[i];
		for (size_t j = 0; set && j < set->n_caps; j++)
			if (strcmp(set->caps[j].ns, o->names[i]) == 0)
				t[k].check = &set->caps[j].check;
		k++;
	}
	for (size_t j = 0; o->auto_discover && set && j < set->n_caps; j++) {
		if (set->caps[j].type != CAPABILITY_SERVICE)
			continue;
		bool named = false;
		for (size_t i = 0; i < o->n_names; i++)
			named |= strcmp(o->names[i], set->caps[j].ns) == 0;
		if (!named)
			t[k++] = (struct heartbeat_target){.ns = set->caps[j].ns, .check = &set->caps[j].check};
	}
	*out = t;
	*n = k;
}

static void warn_problems(const struct manifest_set *set, const char *dir)
{
	char buf[512];
	if (set->dir_err)
		rv_warn("cannot read the capability manifests in %s: %s", rv_printable(dir, buf, sizeof buf),
			set->dir_msg);
	for (size_t i = 0; i < set->n_problems; i++)
		rv_warn("%s:%u: %s (skipped)", set->problems[i].file, set->problems[i].line, set->problems[i].what);
}

/* Whether the Service-type set the manifests give changed (names and checks). */
static bool same_services(const struct manifest_set *a, const struct manifest_set *b)
{
	size_t i = 0, j = 0;
	for (;;) {
		while (i < a->n_caps && a->caps[i].type != CAPABILITY_SERVICE)
			i++;
		while (j < b->n_caps && b->caps[j].type != CAPABILITY_SERVICE)
			j++;
		if (i == a->n_caps || j == b->n_caps)
			return i == a->n_caps && j == b->n_caps;
		const struct health_check *x = &a->caps[i].check, *y = &b->caps[j].check;
		if (strcmp(a->caps[i].ns, b->caps[j].ns) != 0 || x->kind != y->kind || x->timeout_ms != y->timeout_ms ||
		    (x->url && y->url && strcmp(x->url, y->url) != 0) || x->argc != y->argc)
			return false;
		for (size_t k = 0; k < x->argc; k++)
			if (strcmp(x->argv[k], y->argv[k]) != 0)
				return false;
		i++, j++;
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct runner {
	struct heartbeat *hb;
	int rc;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;
	r->rc = heartbeat_run(r->hb, &cli_cancel);
	return NULL;
}

static int parse_heartbeat_args(int argc, char **argv, struct hb_cmd *o)
{
	enum { O_NS = 1, O_AUTO, O_DIR, O_INTERVAL, O_TTL, O_HELP };
	const struct option longopts[] = {{"namespace", required_argument, NULL, O_NS},
					  {"auto-discover", no_argument, NULL, O_AUTO},
					  {"capabilities", required_argument, NULL, O_DIR},
					  {"interval", required_argument, NULL, O_INTERVAL},
					  {"ttl", required_argument, NULL, O_TTL},
					  {"help", no_argument, NULL, O_HELP},
					  {NULL, 0, NULL, 0}};
	int c, rc;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_NS:
			if (!capability_namespace_valid(optarg))
				return cli_usage_error("registry heartbeat",
						       "--namespace takes a capability namespace (dotted lower-case words such "
						       "as chora.devex.registry), not '%s'",
						       optarg);
			o->names = rv_xrealloc(o->names, (o->n_names + 1) * sizeof *o->names);
			o->names[o->n_names++] = optarg;
			break;
		case O_AUTO:
			o->auto_discover = true;
			break;
		case O_DIR:
			o->dir = optarg;
			break;
		case O_INTERVAL:
			if ((rc = parse_duration_opt("--interval", optarg, &o->interval_ms)))
				return rc;
			break;
		case O_TTL:
			if ((rc = parse_duration_opt("--ttl", optarg, &o->ttl_ms)))
				return rc;
			if (o->ttl_ms % 1000)
				return cli_usage_error("registry heartbeat",
						       "--ttl takes whole seconds (etcd's leases are), not '%s'", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(usage_heartbeat, stdout);
			return -1;
		default:
			return cli_option_error("registry heartbeat", c, argc, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("registry heartbeat", "unexpected argument '%s'", argv[optind]);
	if (!o->n_names && !o->auto_discover)
		return cli_usage_error("registry heartbeat",
				       "name the capabilities to heartbeat with --namespace NS, or --auto-discover");
	return RV_EXIT_OK;
}

/* Refuse, before anything is written, a capability someone else keeps. */
static int refuse_claimed(etcd_client *c, const char *state_prefix, const struct heartbeat_target *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char owner[256];
		bool held = false;
		int r = heartbeat_claim_owner(c, state_prefix, t[i].ns, &held, owner, sizeof owner);
		if (r < 0) {
			rv_debug("%s", rv_errmsg(r)); /* etcd not answering: the service waits for it */
			return 0;
		}
		if (held) {
			fprintf(stderr,
				"regvault: the heartbeat of %s is kept by %s; not starting a second writer (stop that one "
				"first)\n",
				t[i].ns, owner);
			return RV_EXIT_FAIL;
		}
	}
	return 0;
}

int cmd_registry_heartbeat(struct cli *cli, int argc, char **argv)
{
	struct hb_cmd o = {0};
	struct rv_config cfg = {0};
	struct manifest_set set = {0};
	struct heartbeat_target *targets = NULL;
	struct heartbeat *hb = NULL;
	etcd_client *c = NULL;
	char *state_prefix = NULL, *owner = NULL;
	char **initial = NULL;
	size_t n_targets = 0, n_initial = 0;
	int rc = parse_heartbeat_args(argc, argv, &o), r;
	if (rc) {
		free(o.names);
		return rc < 0 ? RV_EXIT_OK : rc;
	}
	if ((rc = cli_load_config(cli, &cfg)))
		goto out;
	const struct registry_settings *rs = &cfg.registry;
	if (!o.interval_ms)
		o.interval_ms = rs->heartbeat.interval_ms;
	if (!o.ttl_ms)
		o.ttl_ms = rs->heartbeat.ttl_ms;
	if (o.ttl_ms < 2000) {
		rc = cli_usage_error("registry heartbeat", "--ttl must be at least 2s (etcd's leases are whole seconds)");
		goto out;
	}
	if (o.interval_ms >= o.ttl_ms) {
		rc = cli_usage_error("registry heartbeat",
				     "--interval (%" PRId64 " ms) must be shorter than --ttl (%" PRId64
				     " ms), or the leases expire between heartbeats",
				     o.interval_ms, o.ttl_ms);
		goto out;
	}
	if (!o.dir)
		o.dir = rs->manifests_dir;
	if (o.auto_discover && !o.dir) {
		rc = cli_usage_error("registry heartbeat",
				     "--auto-discover needs the manifests: --capabilities DIR, or registry.manifests_dir "
				     "in the configuration");
		goto out;
	}
	if (o.dir) {
		if ((r = manifest_load_dir(o.dir, &set)) < 0) {
			rc = cli_fail(r);
			goto out;
		}
		if (o.auto_discover)
			warn_problems(&set, o.dir);
	}
	build_targets(&o, &set, &targets, &n_targets);
	if (!n_targets) {
		fprintf(stderr, "regvault: no Service-type capability in %s (a manifest with chora_service); nothing to "
				"heartbeat\n",
			o.dir);
		rc = RV_EXIT_FAIL;
		goto out;
	}
	if ((r = cluster_client_new(&cfg.cluster, CLIENT_TIMEOUT_MS, &c)) < 0) {
		rc = cli_fail(r);
		goto out;
	}
	state_prefix = registry_state_prefix(&cfg.cluster);
	if ((rc = refuse_claimed(c, state_prefix, targets, n_targets)))
		goto out;
	char host[256] = "localhost";
	gethostname(host, sizeof host - 1);
	if (asprintf(&owner, "regvault registry heartbeat on %s (pid %d)", host, (int)getpid()) < 0)
		abort();
	struct heartbeat_opts ho = {.prefix = rs->prefix ? rs->prefix : "/chora/capabilities",
				    .state_prefix = state_prefix,
				    .ttl_ms = o.ttl_ms,
				    .interval_ms = o.interval_ms,
				    .owner = owner};
	if ((r = heartbeat_new(c, &ho, &hb)) < 0 || (r = heartbeat_set_targets(hb, targets, n_targets)) < 0) {
		rc = cli_fail(r);
		goto out;
	}
	initial = rv_xcalloc(n_targets, sizeof *initial);
	for (size_t i = 0; i < n_targets; i++)
		initial[n_initial++] = rv_strdup(targets[i].ns);

	cli_catch_interrupts();
	struct runner run = {.hb = hb};
	pthread_t th;
	if (pthread_create(&th, NULL, run_thread, &run) != 0) {
		fprintf(stderr, "regvault: cannot start the heartbeat thread\n");
		rc = RV_EXIT_FAIL;
		goto out;
	}
	rv_info("keeping the heartbeats of %zu capabilit%s every %" PRId64 " ms (lease TTL %" PRId64
		" s); SIGINT or SIGTERM stops and revokes them",
		n_targets, n_targets == 1 ? "y" : "ies", o.interval_ms, (o.ttl_ms + 999) / 1000);
	rc = RV_EXIT_OK;
	qsort(initial, n_initial, sizeof *initial, cmp_str);
	double next_scan = rv_now_mono() + (double)o.interval_ms / 1000;
	bool settled = false;
	while (!rv_cancelled(&cli_cancel)) {
		rv_sleep_cancellable(200, &cli_cancel);
		/* a capability asked for that another regvault took first (both started at
		 * once): refused as at the start, before it was ever written. Looked at
		 * until every one asked for has been written or refused. */
		if (!settled) {
			struct heartbeat_stat *st = NULL;
			size_t n = 0;
			heartbeat_stats(hb, &st, &n, NULL);
			settled = true;
			for (size_t i = 0; i < n && rc == RV_EXIT_OK; i++) {
				const char *ns = st[i].ns;
				if (!bsearch(&ns, initial, n_initial, sizeof *initial, cmp_str))
					continue;
				if (st[i].count == 0 && strcmp(st[i].status, "claimed") == 0) {
					fprintf(stderr, "regvault: the heartbeat of %s is kept by %s; not starting a second "
							"writer (stop that one first)\n",
						ns, st[i].detail);
					rc = RV_EXIT_FAIL;
					rv_cancel_request(&cli_cancel);
				} else if (st[i].count == 0) {
					settled = false;
				}
			}
			free(st);
		}
		if (o.auto_discover && rv_now_mono() >= next_scan) {
			next_scan = rv_now_mono() + (double)o.interval_ms / 1000;
			struct manifest_set now = {0};
			if (manifest_load_dir(o.dir, &now) == 0 && !same_services(&set, &now)) {
				struct heartbeat_target *t2;
				size_t n2;
				build_targets(&o, &now, &t2, &n2);
				rv_info("the manifests in %s changed: %zu capabilit%s to heartbeat", o.dir, n2,
					n2 == 1 ? "y" : "ies");
				heartbeat_set_targets(hb, t2, n2);
				free(targets);
				targets = t2;
				manifest_set_free(&set);
				set = now;
			} else {
				manifest_set_free(&now);
			}
		}
	}
	pthread_join(th, NULL);
out:
	heartbeat_free(hb);
	etcd_client_free(c);
	for (size_t i = 0; i < n_initial; i++)
		free(initial[i]);
	free(initial);
	free(targets);
	manifest_set_free(&set);
	free(state_prefix);
	free(owner);
	free(o.names);
	config_free(&cfg);
	return rc;
}

/* ---- status ---- */

static const char *fmt_age(double s, char *buf, size_t len)
{
	if (isnan(s))
		return "-";
	if (s < 120)
		snprintf(buf, len, "%.0fs", s);
	else
		rv_fmt_duration(s, buf, len);
	return buf;
}

int cmd_registry_status(struct cli *cli, int argc, char **argv)
{
	struct rv_config cfg = {0};
	struct manifest_set set = {0};
	struct registry_status_row *rows = NULL;
	size_t n = 0;
	etcd_client *c = NULL;
	char *state_prefix = NULL;
	bool ok = false;
	int rc, r;

	if (cli_wants_help(argc, argv)) {
		fputs(usage_status, stdout);
		return RV_EXIT_OK;
	}
	if (argc > 1)
		return cli_usage_error("registry status", "unexpected argument '%s'", argv[1]);
	if ((rc = cli_load_config(cli, &cfg)))
		return rc;
	const struct registry_settings *rs = &cfg.registry;
	if (rs->manifests_dir) {
		if ((r = manifest_load_dir(rs->manifests_dir, &set)) < 0) {
			rc = cli_fail(r);
			goto out;
		}
		if (set.dir_err)
			rv_warn("cannot read the capability manifests: %s; showing what etcd holds", set.dir_msg);
		if (set.n_problems)
			rv_warn("%zu capability manifest%s in %s %s invalid and left out", set.n_problems,
				set.n_problems == 1 ? "" : "s", rs->manifests_dir, set.n_problems == 1 ? "is" : "are");
	}
	if ((r = cluster_client_new(&cfg.cluster, CLIENT_TIMEOUT_MS, &c)) < 0) {
		rc = cli_fail(r);
		goto out;
	}
	state_prefix = registry_state_prefix(&cfg.cluster);
	int64_t stale = rs->heartbeat.ttl_ms;
	if (2 * rs->heartbeat.interval_ms > stale)
		stale = 2 * rs->heartbeat.interval_ms;
	struct registry_status_opts so = {.prefix = rs->prefix ? rs->prefix : "/chora/capabilities",
					  .state_prefix = state_prefix,
					  .stale_after_ms = stale};
	if ((r = registry_status_collect(c, &so, &set, &rows, &n, &ok)) < 0) {
		rc = cli_fail(r);
		goto out;
	}
	if (cli->json) {
		cli_print_json(report_registry_status_json(rows, n, ok));
	} else {
		size_t services = 0, healthy = 0, patterns = 0;
		printf("%-32s %-8s %-12s %-10s %6s %5s %7s  %s\n", "NAMESPACE", "TYPE", "VERSION", "HEALTH", "AGE", "TTL",
		       "COUNT", "DETAIL");
		for (size_t i = 0; i < n; i++) {
			const struct registry_status_row *row = &rows[i];
			char age[32], ttl[24], count[24], nsb[256], vb[64], db[300];
			if (row->lease_ttl_s >= 0)
				snprintf(ttl, sizeof ttl, "%" PRId64 "s", row->lease_ttl_s);
			else
				snprintf(ttl, sizeof ttl, "-");
			if (row->heartbeat_count >= 0)
				snprintf(count, sizeof count, "%" PRId64, row->heartbeat_count);
			else
				snprintf(count, sizeof count, "-");
			char detail[300] = "";
			if (row->detail)
				snprintf(detail, sizeof detail, "%s", row->detail);
			else if (row->kept_by)
				snprintf(detail, sizeof detail, "kept by %s", row->kept_by);
			printf("%-32s %-8s %-12s %-10s %6s %5s %7s  %s\n", rv_printable(row->ns, nsb, sizeof nsb),
			       *row->type ? row->type : "?", row->version ? rv_printable(row->version, vb, sizeof vb) : "-",
			       row->health, fmt_age(row->heartbeat_age_s, age, sizeof age), ttl, count,
			       rv_printable(detail, db, sizeof db));
			services += strcmp(row->type, "service") == 0;
			healthy += strcmp(row->type, "service") == 0 && strcmp(row->health, "healthy") == 0;
			patterns += strcmp(row->type, "pattern") == 0;
		}
		printf("%zu capabilit%s: %zu service%s (%zu with a fresh healthy heartbeat), %zu pattern%s\n", n,
		       n == 1 ? "y" : "ies", services, services == 1 ? "" : "s", healthy, patterns, patterns == 1 ? "" : "s");
	}
	rc = ok ? RV_EXIT_OK : RV_EXIT_FAIL;
out:
	registry_status_rows_free(rows, n);
	etcd_client_free(c);
	manifest_set_free(&set);
	free(state_prefix);
	config_free(&cfg);
	return rc;
}
