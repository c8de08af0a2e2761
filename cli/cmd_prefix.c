/* cmd_prefix.c - the commands on one prefix: 'regvault snapshot diff A B' and
 * 'regvault restore --prefix P' (cmd_snapshot.c and cmd_restore.c hand them over).
 * Option parsing and output only: restore/prefix_*.c does the work. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char diff_usage[] =
	"usage: regvault snapshot diff A B [--prefix P] [--store URL] [-o json]\n"
	"\n"
	"The keys added, removed and changed from A to B under P (default: every key), with\n"
	"their sizes, mod revisions and values shortened. A and B are artifacts (a name or\n"
	"'latest'), 'live' (the running cluster), or points recorded by continuous backup:\n"
	"'rev:R' (the keys as of revision R), 'rev:latest' (the newest recorded point) and\n"
	"'time:T' (the last revision recorded at or before T, RFC 3339 in UTC). Artifacts and\n"
	"segments are read in place: no etcd is started.\n";

static const char restore_usage[] =
	"usage: regvault restore --prefix P [--from NAME|latest | --from-file FILE | --to-latest | --to-revision R |\n"
	"                        --to-time T] [--store URL] [--dry-run] [--yes]\n"
	"                        [--no-delete] [--overwrite-conflicts] [--exact-prefix] [--keep-lease-keys] [-o json]\n"
	"\n"
	"Makes the keys under P in the live cluster equal to the snapshot's (default: the newest\n"
	"artifact): puts the missing and changed keys and deletes the ones the snapshot does not\n"
	"have, in transactions within etcd's limits. Nothing outside P is written, no member is\n"
	"stopped. Each write is guarded by the key's mod revision as read just before: a key a\n"
	"client changes meanwhile is reported as a conflict and left as the client wrote it.\n"
	"\n"
	"  --prefix P             the keys to restore; must end with '/' (not '' or '/')\n"
	"  --from NAME|latest     the artifact (default latest)\n"
	"  --from-file FILE       a plain etcd snapshot ('etcdctl snapshot save') instead\n"
	"  --to-revision R        the keys as the cluster had them at revision R (continuous backup):\n"
	"                         the newest base artifact at or before R and its chain's events\n"
	"  --to-time T            the keys at the last revision recorded at or before T (RFC 3339, UTC)\n"
	"  --to-latest            the keys at the newest recorded point\n"
	"  --store URL            read artifacts from this store instead of store.url\n"
	"  --dry-run              print the changes it would make; change nothing\n"
	"  --yes                  do not ask for confirmation (needed when stdin is not a terminal)\n"
	"  --no-delete            keep the keys under P that the snapshot does not have\n"
	"  --overwrite-conflicts  write keys that a client changed during the restore anyway\n"
	"  --exact-prefix         take P as given, without the trailing '/' (so /a/b also takes /a/bc)\n"
	"  --keep-lease-keys      restore keys that were on a lease, without one (their lease is gone);\n"
	"                         by default they, and live keys on a lease, are skipped and listed\n"
	"\n"
	"Exit codes: 0 restored, 1 failed or keys left in conflict, 2 usage or configuration error.\n";

#define SHOWN_LIMIT 50 /* keys listed in a table; -o json lists every one */

static const char *show(const uint8_t *p, size_t n, size_t max, char *buf, size_t len)
{
	return prefix_printable(p, n, max, buf, len);
}

static void print_kv_cell(const struct snap_db_kv *kv)
{
	if (kv)
		printf(" %8zu %8" PRId64, kv->value_len, kv->mod_revision);
	else
		printf(" %8s %8s", "-", "-");
}

static void print_changes(const struct prefix_diff *d, const char *a, const char *b)
{
	char k[512], va[PREFIX_VALUE_SHOWN * 4 + 64], vb[PREFIX_VALUE_SHOWN * 4 + 64];
	if (d->n == 0)
		return;
	printf("%-8s %-40s %8s %8s %8s %8s  %s\n", "CHANGE", "KEY", a, "MOD", b, "MOD", "VALUE");
	for (size_t i = 0; i < d->n && i < SHOWN_LIMIT; i++) {
		const struct prefix_change *c = &d->v[i];
		const struct snap_db_kv *any = c->a ? c->a : c->b;
		printf("%-8s %-40s", prefix_change_name(c->kind), show(any->key, any->key_len, 200, k, sizeof k));
		print_kv_cell(c->a);
		print_kv_cell(c->b);
		if (c->kind == PREFIX_CHANGED)
			printf("  %s -> %s\n", show(c->a->value, c->a->value_len, PREFIX_VALUE_SHOWN, va, sizeof va),
			       show(c->b->value, c->b->value_len, PREFIX_VALUE_SHOWN, vb, sizeof vb));
		else
			printf("  %s\n", show(any->value, any->value_len, PREFIX_VALUE_SHOWN, va, sizeof va));
	}
	if (d->n > SHOWN_LIMIT)
		printf("... and %zu more (-o json lists every one)\n", d->n - SHOWN_LIMIT);
}

static void print_side(const struct prefix_keys *k)
{
	if (k->chain[0]) /* a point's names its revision */
		printf("%s, %zu keys", k->what, k->n);
	else
		printf("%s (revision %" PRId64 ", %zu keys)", k->what, k->revision, k->n);
}

/* One side of a diff. */
static int open_side(const struct rv_config *cfg, struct store *st, etcd_client **c, const char *spec,
		     const char *prefix, struct prefix_keys *out)
{
	int r;
	if (strcmp(spec, "live") == 0) {
		if (!*c && (r = cluster_client_new(&cfg->cluster, 0, c)) < 0)
			return r;
		return prefix_keys_live(*c, prefix, strlen(prefix), out);
	}
	if (strncmp(spec, "rev:", 4) == 0 || strncmp(spec, "time:", 5) == 0) {
		struct restore_point_req q;
		if (cli_point_spec("snapshot diff", spec, &q) != RV_EXIT_OK)
			return -EINVAL; /* said already */
		return prefix_keys_point(st, &q, cfg->state_dir, prefix, strlen(prefix), &cli_cancel, out);
	}
	return prefix_keys_artifact(st, spec, cfg->state_dir, prefix, strlen(prefix), &cli_cancel, out);
}

int cmd_snapshot_diff(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{"prefix", required_argument, NULL, 'p'}, {"store", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *prefix = "", *store_url = NULL;
	struct rv_config cfg = {0};
	struct store *st = NULL;
	etcd_client *c = NULL;
	struct prefix_keys a = {0}, b = {0};
	struct prefix_diff d = {0};
	int ch, rc, r;

	if (cli_wants_help(argc, argv)) {
		fputs(diff_usage, stdout);
		return RV_EXIT_OK;
	}
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (ch == 'p')
			prefix = optarg;
		else if (ch == 's')
			store_url = optarg;
		else
			return cli_option_error("snapshot diff", ch, argc, argv);
	}
	if (argc - optind != 2)
		return cli_usage_error("snapshot diff", "give two things to compare: A B (artifact names, 'latest' or 'live')");
	const char *sa = argv[optind], *sb = argv[optind + 1];
	for (int i = 0; i < 2; i++) { /* a malformed point is a usage error, before anything is read */
		struct restore_point_req q;
		const char *s = i ? sb : sa;
		if ((strncmp(s, "rev:", 4) == 0 || strncmp(s, "time:", 5) == 0) &&
		    (rc = cli_point_spec("snapshot diff", s, &q)) != RV_EXIT_OK)
			return rc;
	}
	if ((rc = cli_load_config(cli, &cfg)) != RV_EXIT_OK)
		return rc;
	if ((strcmp(sa, "live") || strcmp(sb, "live")) && (rc = cli_open_store(&cfg, store_url, &st)) != RV_EXIT_OK)
		goto out;
	cli_catch_interrupts();
	r = open_side(&cfg, st, &c, sa, prefix, &a);
	if (r == 0)
		r = open_side(&cfg, st, &c, sb, prefix, &b);
	if (r < 0) {
		rc = cli_fail(r);
		goto out;
	}
	prefix_diff_compute(&a, &b, &d);
	if (cli->json) {
		cli_print_json(report_snapshot_diff_json(prefix, &a, &b, &d));
	} else {
		printf("Keys under '%s': A = ", prefix);
		print_side(&a);
		printf(", B = ");
		print_side(&b);
		printf("\n");
		print_changes(&d, "A SIZE", "B SIZE");
		printf("%zu added, %zu removed, %zu changed, %zu unchanged\n", d.added, d.removed, d.changed, d.unchanged);
	}
	rc = RV_EXIT_OK;
out:
	prefix_diff_free(&d);
	prefix_keys_free(&a);
	prefix_keys_free(&b);
	etcd_client_free(c);
	store_close(st);
	config_free(&cfg);
	return rc;
}

/* P and registry.prefix overlap: one holds the other. */
static bool overlaps(const char *p, const char *reg)
{
	size_t lp = strlen(p), lr = strlen(reg);
	while (lr > 0 && reg[lr - 1] == '/')
		lr--;
	if (lr == 0)
		return true;
	if (lp <= lr)
		return strncmp(reg, p, lp) == 0; /* P holds the registry */
	return strncmp(p, reg, lr) == 0 && p[lr] == '/';
}

static bool ask(const struct prefix_restore_report *rep, const char *prefix)
{
	char line[64];
	fprintf(stderr, "\nThis writes %zu puts and %zu deletes under %s in the live cluster. Type 'yes' to restore: ",
		rep->put, rep->deleted, prefix);
	fflush(stderr);
	if (!fgets(line, sizeof line, stdin))
		return false;
	line[strcspn(line, "\r\n")] = 0;
	return strcmp(line, "yes") == 0;
}

static void print_notes(const struct prefix_restore_report *rep)
{
	char k[512];
	for (size_t i = 0; i < rep->n_skipped && i < SHOWN_LIMIT; i++) {
		const struct prefix_key_note *n = &rep->skipped[i];
		const char *why = n->reason == PREFIX_SKIP_NO_DELETE ? "not deleted (--no-delete)"
				  : n->reason == PREFIX_SKIP_LEASE ? "was on a lease in the snapshot (--keep-lease-keys restores it)"
								   : "is on a live lease now (--keep-lease-keys writes it)";
		printf("skipped   %s: %s\n", show((const uint8_t *)n->key, n->key_len, 200, k, sizeof k), why);
	}
	if (rep->n_skipped > SHOWN_LIMIT)
		printf("... and %zu more skipped\n", rep->n_skipped - SHOWN_LIMIT);
	for (size_t i = 0; i < rep->n_conflicts && i < SHOWN_LIMIT; i++) {
		const struct prefix_key_note *n = &rep->conflicts[i];
		printf("conflict  %s: mod revision %" PRId64 " when read, %" PRId64 " when written; %s\n",
		       show((const uint8_t *)n->key, n->key_len, 200, k, sizeof k), n->expected_mod, n->found_mod,
		       n->overwritten ? "overwritten" : "left as the client wrote it");
	}
	if (rep->n_conflicts > SHOWN_LIMIT)
		printf("... and %zu more conflicts\n", rep->n_conflicts - SHOWN_LIMIT);
}

enum { P_PREFIX = 300, P_FROM_FILE, P_STORE, P_DRY, P_YES, P_NO_DELETE, P_OVERWRITE, P_EXACT, P_LEASE, P_FORCE,
       P_FROM };

int cmd_restore_prefix(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{"prefix", required_argument, NULL, P_PREFIX},
		{"from", required_argument, NULL, P_FROM},
		{"from-file", required_argument, NULL, P_FROM_FILE},
		{"store", required_argument, NULL, P_STORE},
		{"dry-run", no_argument, NULL, P_DRY},
		{"yes", no_argument, NULL, P_YES},
		{"no-delete", no_argument, NULL, P_NO_DELETE},
		{"overwrite-conflicts", no_argument, NULL, P_OVERWRITE},
		{"exact-prefix", no_argument, NULL, P_EXACT},
		{"keep-lease-keys", no_argument, NULL, P_LEASE},
		{"to-latest", no_argument, NULL, CLI_OPT_TO_LATEST},
		{"to-revision", required_argument, NULL, CLI_OPT_TO_REVISION},
		{"to-time", required_argument, NULL, CLI_OPT_TO_TIME},
		{"force", no_argument, NULL, P_FORCE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *prefix = NULL, *from = NULL, *from_file = NULL, *store_url = NULL;
	bool dry_run = false, yes = false, no_delete = false, overwrite = false, exact = false, keep_lease = false;
	struct rv_config cfg = {0};
	struct store *st = NULL;
	etcd_client *c = NULL;
	int hold_fd = -1;
	struct prefix_keys src = {0};
	struct prefix_restore_report rep = {0};
	struct restore_point_req point = {0};
	int ch, rc, r;

	if (cli_wants_help(argc, argv)) {
		fputs(restore_usage, stdout);
		return RV_EXIT_OK;
	}
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		switch (ch) {
		case P_PREFIX: prefix = optarg; break;
		case P_FROM: from = optarg; break;
		case P_FROM_FILE: from_file = optarg; break;
		case P_STORE: store_url = optarg; break;
		case P_DRY: dry_run = true; break;
		case P_YES: yes = true; break;
		case P_NO_DELETE: no_delete = true; break;
		case P_OVERWRITE: overwrite = true; break;
		case P_EXACT: exact = true; break;
		case P_LEASE: keep_lease = true; break;
		case CLI_OPT_TO_LATEST:
		case CLI_OPT_TO_REVISION:
		case CLI_OPT_TO_TIME:
			if ((rc = cli_point_option("restore", ch, optarg, &point)) != RV_EXIT_OK)
				return rc;
			break;
		case P_FORCE:
			return cli_usage_error("restore", "--force is for full restores; a prefix restore never stops the "
							  "cluster and guards each key (see --overwrite-conflicts)");
		default: return cli_option_error("restore", ch, argc, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("restore", "unexpected argument '%s'", argv[optind]);
	if (!prefix || prefix[0] == 0 || strcmp(prefix, "/") == 0)
		return cli_usage_error("restore", "--prefix '%s' would take every key: that is a full restore "
						  "(regvault restore --from NAME --force)", prefix ? prefix : "");
	if (!exact && prefix[strlen(prefix) - 1] != '/')
		return cli_usage_error("restore", "--prefix '%s' does not end with '/', so it would also take keys like "
						  "'%sX...'; add the '/' or give --exact-prefix", prefix, prefix);
	if (!!from + !!from_file + (point.to != RESTORE_TO_NONE) > 1)
		return cli_usage_error("restore", "--from, --from-file and a point (--to-latest, --to-revision, --to-time) "
						  "exclude each other: a point picks its own base artifact");
	if (!yes && !dry_run && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "regvault restore: a prefix restore writes into the live cluster; add --yes to confirm "
				"(stdin is not a terminal, so regvault cannot ask)\n");
		return RV_EXIT_USAGE;
	}
	if ((rc = cli_load_config(cli, &cfg)) != RV_EXIT_OK)
		return rc;
	if (cfg.registry.configured && cfg.registry.prefix && overlaps(prefix, cfg.registry.prefix))
		rv_warn("%s overlaps registry.prefix %s, which the GitOps sync owns: its next pass puts back what the "
			"manifests say (git is their source of truth); to keep the restored keys, set "
			"registry.sync.enabled: false and reload the daemon (systemctl reload regvault) first, or fix the "
			"manifests",
			prefix, cfg.registry.prefix);
	if (!from_file && (rc = cli_open_store(&cfg, store_url, &st)) != RV_EXIT_OK)
		goto out;
	cli_catch_interrupts();
	if (from_file)
		r = prefix_keys_db_file(from_file, prefix, strlen(prefix), &cli_cancel, &src);
	else if (point.to != RESTORE_TO_NONE)
		r = prefix_keys_point(st, &point, cfg.state_dir, prefix, strlen(prefix), &cli_cancel, &src);
	else
		r = prefix_keys_artifact(st, from ? from : "latest", cfg.state_dir, prefix, strlen(prefix), &cli_cancel,
					 &src);
	/* Not beside a full restore, rollback or cleanup: the restore lock, taken shared
	 * (one of those holds it whole; one that begins meanwhile waits, then fails). */
	if (r == 0 && !dry_run) {
		bool held = false;
		r = restore_hold(cfg.state_dir, &hold_fd, &held);
		if (r == 0 && !held)
			r = rv_fail(-EBUSY, "a full restore, rollback or cleanup of this cluster runs now (it holds the restore "
					    "lock in %s); restore the prefix once it has ended", cfg.state_dir);
	}
	if (r == 0)
		r = cluster_client_new(&cfg.cluster, 0, &c);
	struct prefix_restore_opts o = {.c = c, .source = &src, .prefix = prefix, .prefix_len = strlen(prefix),
					.dry_run = dry_run || !yes, .no_delete = no_delete,
					.overwrite_conflicts = overwrite, .keep_lease_keys = keep_lease,
					.cancel = &cli_cancel};
	if (r == 0)
		r = prefix_restore(&o, &rep);
	if (r == 0 && !dry_run && !yes) {
		/* Asked on a terminal: show the plan, then read and write afresh. */
		print_changes(&rep.plan, "SNAP", "LIVE");
		if (!ask(&rep, prefix)) {
			fprintf(stderr, "regvault: restore cancelled; nothing was changed\n");
			rc = RV_EXIT_FAIL;
			goto out;
		}
		prefix_restore_report_free(&rep);
		o.dry_run = false;
		r = prefix_restore(&o, &rep);
	}
	size_t left = 0;
	for (size_t i = 0; i < rep.n_conflicts; i++)
		left += !rep.conflicts[i].overwritten;
	if (cli->json) {
		cli_print_json(report_restore_prefix_json(prefix, &src, &rep, r, dry_run));
	} else if (r == 0 || rep.put + rep.deleted > 0) {
		char b[32];
		if (dry_run)
			print_changes(&rep.plan, "SNAP", "LIVE");
		print_notes(&rep);
		printf("%s %s under %s from %s", dry_run ? "Dry run:" : r == 0 ? "Restored" : "Partly restored",
		       dry_run ? "would restore" : "the keys", prefix, src.what);
		if (!src.chain[0]) /* a point's names its revision */
			printf(" (revision %" PRId64 ")", src.revision);
		printf(": %zu put, %zu deleted, %zu unchanged, %zu skipped, %zu in conflict", rep.put, rep.deleted,
		       rep.unchanged, rep.n_skipped, rep.n_conflicts);
		if (rep.first_revision)
			printf("; revisions %" PRId64 "..%" PRId64 " written in %zu transactions", rep.first_revision,
			       rep.last_revision, rep.txns);
		printf("; %s.\n", rv_fmt_duration(rep.seconds, b, sizeof b));
	}
	if (r < 0) {
		rc = cli_fail(r);
	} else if (left > 0) {
		fprintf(stderr, "regvault: %zu keys under %s were changed by a client during the restore and were left as "
				"the client wrote them; look at them, then run the restore again (or with "
				"--overwrite-conflicts)\n",
			left, prefix);
		rc = RV_EXIT_FAIL;
	} else {
		rc = RV_EXIT_OK;
	}
out:
	restore_hold_release(hold_fd);
	prefix_restore_report_free(&rep);
	prefix_keys_free(&src);
	etcd_client_free(c);
	store_close(st);
	config_free(&cfg);
	return rc;
}
