/* cmd_registry_sync.c - `regvault registry validate` and `regvault registry sync`:
 * check the capability manifests, and write them into etcd once. Parses options and
 * prints; registry/ does the work (capability_manifest.c, registry_sync.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage_validate[] =
	"usage: regvault [-o table|json] registry validate [DIR]\n"
	"\n"
	"Check every capability manifest (*.yaml, *.yml) in DIR, by default\n"
	"registry.manifests_dir of the configuration; with DIR no configuration file and no\n"
	"cluster are needed, so the manifests repository's CI can run it. Each bad manifest\n"
	"is a line 'file:line: what is wrong'.\n"
	"\n"
	"With -o json: an object with ok, valid, invalid, error (an unreadable directory),\n"
	"capabilities (namespace, file, type, version, dependencies) and problems (file,\n"
	"line, what, namespace).\n"
	"\n"
	"Exit codes: 0 every manifest is valid, 2 one is not, the directory cannot be read,\n"
	"or a usage or configuration error.\n";

static const char usage_sync[] =
	"usage: regvault [-o table|json] registry sync [--dry-run]\n"
	"\n"
	"One pass of the GitOps sync: every valid manifest of registry.manifests_dir is\n"
	"written under registry.prefix (metadata, type, version, dependencies; one\n"
	"transaction per capability), keys changed by hand are put back, and capabilities\n"
	"the sync wrote whose manifest is gone are pruned (at most registry.sync.max_deletes\n"
	"a pass). Keys under the prefix the sync did not write are never touched. A pass that\n"
	"changes nothing writes nothing. A table: NAMESPACE, ACTION (create, update, delete,\n"
	"unchanged, invalid, drift, deferred), KEYS, DETAIL.\n"
	"\n"
	"Options:\n"
	"  --dry-run    say what would change, change nothing\n"
	"  -h, --help   this help\n"
	"\n"
	"With -o json: an object with dry_run, revision, txns, git_commit, counts (by action),\n"
	"capabilities (namespace, action, keys, and file, line, reason where they apply) and\n"
	"warnings.\n"
	"\n"
	"Exit codes: 0 synced, 1 a manifest was invalid (the valid ones are synced) or etcd\n"
	"could not be read or written, 2 usage or configuration error.\n";

/* "file:line: what" (no line when 0: the file itself could not be read). */
static void print_problem(FILE *f, const char *file, unsigned line, const char *what)
{
	char b1[512], b2[1024];
	if (line)
		fprintf(f, "%s:%u: %s\n", rv_printable(file, b1, sizeof b1), line, rv_printable(what, b2, sizeof b2));
	else
		fprintf(f, "%s: %s\n", rv_printable(file, b1, sizeof b1), rv_printable(what, b2, sizeof b2));
}

/* The configuration's registry: section, or a usage error saying it is missing. */
static int load_registry_config(struct cli *cli, const char *cmd, struct rv_config *cfg)
{
	int rc = cli_load_config(cli, cfg);
	if (rc != RV_EXIT_OK)
		return rc;
	if (!cfg->registry.configured) {
		fprintf(stderr, "regvault: %s: the configuration %s has no registry: section (registry.manifests_dir "
				"names the manifests directory)\n",
			cmd, cfg->path ? cfg->path : "");
		config_free(cfg);
		return RV_EXIT_USAGE;
	}
	return RV_EXIT_OK;
}

int cmd_registry_validate(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_validate, stdout);
			return RV_EXIT_OK;
		}
		return cli_option_error("registry validate", c, argc, argv);
	}
	if (argc - optind > 1)
		return cli_usage_error("registry validate", "unexpected argument '%s'", argv[optind + 1]);

	struct rv_config cfg = {0};
	bool have_cfg = false;
	const char *dir = optind < argc ? argv[optind] : NULL;
	if (!dir) {
		int rc = load_registry_config(cli, "registry validate", &cfg);
		if (rc != RV_EXIT_OK)
			return rc;
		have_cfg = true;
		dir = cfg.registry.manifests_dir;
	}

	struct manifest_set s;
	int r = manifest_load_dir(dir, &s), rc;
	if (r < 0) {
		rc = cli_fail(r);
		goto out;
	}
	if (cli->json) {
		cli_print_json(report_registry_validate_json(&s));
	} else {
		for (size_t i = 0; i < s.n_problems; i++)
			print_problem(stdout, s.problems[i].file, s.problems[i].line, s.problems[i].what);
		if (s.dir_err)
			fprintf(stderr, "regvault: %s\n", s.dir_msg);
		else if (s.n_problems)
			printf("%zu of %zu manifests in %s are invalid\n", s.n_problems, s.n_problems + s.n_caps, dir);
		else if (s.n_caps)
			printf("%zu manifests in %s are valid\n", s.n_caps, dir);
		else
			printf("no manifests (*.yaml, *.yml) in %s\n", dir);
	}
	rc = s.dir_err || s.n_problems ? RV_EXIT_USAGE : RV_EXIT_OK;
	manifest_set_free(&s);
out:
	if (have_cfg)
		config_free(&cfg);
	return rc;
}

static void print_sync_table(const struct sync_report *rep)
{
	int w = 9;
	for (size_t i = 0; i < rep->n_rows; i++) {
		int l = (int)strlen(rep->rows[i].ns);
		if (l > w && l < 80)
			w = l;
	}
	printf("%-*s  %-9s  %-36s  %s\n", w, "NAMESPACE", "ACTION", "KEYS", "DETAIL");
	for (size_t i = 0; i < rep->n_rows; i++) {
		const struct sync_row *row = &rep->rows[i];
		char nb[256], db[1024], fb[512];
		const char *keys = row->keys && *row->keys ? row->keys : "-";
		printf("%-*s  %-9s  %-36s  ", w, rv_printable(row->ns, nb, sizeof nb), sync_action_name(row->action), keys);
		if (row->file && row->reason)
			printf("%s:%u: %s", rv_printable(row->file, fb, sizeof fb), row->line,
			       rv_printable(row->reason, db, sizeof db));
		else if (row->reason)
			fputs(rv_printable(row->reason, db, sizeof db), stdout);
		putchar('\n');
	}
	const size_t *n = rep->counts;
	printf("%s%zu created, %zu updated, %zu deleted, %zu unchanged, %zu drift put back, %zu invalid, %zu deferred; ",
	       rep->dry_run ? "dry run, nothing written: would be " : "", n[SYNC_CREATE], n[SYNC_UPDATE], n[SYNC_DELETE],
	       n[SYNC_UNCHANGED], n[SYNC_DRIFT], n[SYNC_INVALID], n[SYNC_DEFERRED]);
	printf("%zu transactions, revision %lld", rep->txns, (long long)rep->revision);
	if (rep->git_commit)
		printf(", git commit %.12s", rep->git_commit);
	putchar('\n');
}

int cmd_registry_sync(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dry-run", no_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	bool dry_run = false;
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_sync, stdout);
			return RV_EXIT_OK;
		}
		if (c == 'n') {
			dry_run = true;
			continue;
		}
		return cli_option_error("registry sync", c, argc, argv);
	}
	if (optind < argc)
		return cli_usage_error("registry sync", "unexpected argument '%s'", argv[optind]);

	struct rv_config cfg = {0};
	int rc = load_registry_config(cli, "registry sync", &cfg);
	if (rc != RV_EXIT_OK)
		return rc;
	etcd_client *ec = NULL;
	int r = cluster_client_new(&cfg.cluster, 0, &ec);
	if (r < 0) {
		config_free(&cfg);
		cli_say_error("regvault: ", r);
		return RV_EXIT_USAGE;
	}
	struct sync_report rep;
	cli_catch_interrupts(); /* stops between two capabilities' transactions */
	r = registry_sync_pass(ec, &cfg.cluster, &cfg.registry, dry_run, &cli_cancel, NULL, NULL, &rep);
	if (r < 0) {
		rc = cli_fail(r);
		goto out;
	}
	if (rep.warnings) {
		const char *p = rep.warnings;
		while (*p) {
			const char *e = strstr(p, "; ");
			int n = e ? (int)(e - p) : (int)strlen(p);
			fprintf(stderr, "regvault: warning: %.*s\n", n, p);
			p += n + (e ? 2 : 0);
		}
	}
	if (cli->json)
		cli_print_json(report_registry_sync_json(&rep));
	else
		print_sync_table(&rep);
	rc = rep.counts[SYNC_INVALID] ? RV_EXIT_FAIL : RV_EXIT_OK;
	sync_report_free(&rep);
out:
	etcd_client_free(ec);
	config_free(&cfg);
	return rc;
}
