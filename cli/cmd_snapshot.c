/* cmd_snapshot.c - 'regvault snapshot save|list|verify|fetch|delete|prune': options and
 * output over the snapshot module. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"

static const char usage_group[] =
	"usage: regvault snapshot COMMAND [options]\n"
	"\n"
	"Streamed, verified, zstd-compressed snapshots of the cluster in a store.\n"
	"\n"
	"Commands:\n"
	"  save [--store URL] [--tag TAG]     take a snapshot from a member with quorum\n"
	"  list                               artifacts in the store, newest first\n"
	"  verify NAME|latest|--all           read artifacts end to end and check them\n"
	"  fetch NAME|latest FILE             write the plain etcd snapshot to FILE\n"
	"  delete NAME                        remove one artifact\n"
	"  prune [--dry-run]                  apply snapshot.retention\n"
	"  diff A B [--prefix P]              keys added, removed, changed between two artifacts or live\n"
	"\n"
	"Every command takes --store URL (default store.url) and -o json.\n"
	"'regvault snapshot COMMAND --help' for a command.\n";

static const struct {
	const char *name, *usage;
} helps[] = {
	{"save", "usage: regvault snapshot save [--store URL] [--tag TAG] [--allow-no-quorum] [-o json]\n"
		 "\n"
		 "Stream Maintenance.Snapshot from a member with quorum (snapshot.source: follower by\n"
		 "default, leader, or a member name), check etcd's sha256 trailer, compress with zstd (level\n"
		 "snapshot.compression_level) and publish\n"
		 "<cluster>-<UTC YYYYMMDDTHHMMSS.mmmZ>-r<revision>[-<tag>].tar.zst atomically in the store.\n"
		 "A member that is down, has no leader or lags behind the leader is skipped; if the member\n"
		 "fails while streaming, the save is retried once on another member. When no member has\n"
		 "quorum the save fails.\n"
		 "\n"
		 "  --store URL         a directory, file:///path or s3://bucket/prefix (default store.url)\n"
		 "  --tag TAG           appended to the name: letters, digits, '.', '_' and '-'\n"
		 "  --allow-no-quorum   when no member has quorum, save from one without it (a disaster\n"
		 "                      measure: its data may be old); the manifest says \"quorum\": false\n"},
	{"list", "usage: regvault snapshot list [--store URL] [-o json]\n"
		 "\n"
		 "Artifacts newest first: name, created, revision, db size, artifact size, source member,\n"
		 "quorum (no: saved with --allow-no-quorum), tag. Files that are not regvault artifacts are listed as foreign. Reads only manifests.\n"},
	{"verify", "usage: regvault snapshot verify NAME|latest|--all [--store URL] [-o json]\n"
		   "\n"
		   "Read artifacts end to end: zstd frames and checksums, the tar structure, the manifests,\n"
		   "the sha256 of snapshot.db against etcd's trailer and the manifest. Exit 1 when anything\n"
		   "is wrong (a foreign file in the store counts with --all). NAME may omit .tar.zst.\n"},
	{"fetch", "usage: regvault snapshot fetch NAME|latest FILE [--store URL] [-o json]\n"
		  "\n"
		  "Write the plain etcd snapshot (db + sha256 trailer, as 'etcdctl snapshot save' writes it),\n"
		  "verified, to FILE, which must not exist.\n"},
	{"delete", "usage: regvault snapshot delete NAME [--store URL] [-o json]\n"
		   "\n"
		   "Remove one artifact (and its sidecar manifest). NAME may omit .tar.zst.\n"},
	{"prune", "usage: regvault snapshot prune [--dry-run] [--store URL] [-o json]\n"
		  "\n"
		  "Apply snapshot.retention (keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly;\n"
		  "restic's semantics, UTC periods) and say what is kept and why. The newest good artifact\n"
		  "is never removed; files that are not regvault artifacts are left alone.\n"
		  "\n"
		  "  --dry-run     only show the decisions\n"},
};

static const char *help_of(const char *cmd)
{
	for (size_t i = 0; i < RV_ARRAY_LEN(helps); i++)
		if (strcmp(helps[i].name, cmd) == 0)
			return helps[i].usage;
	return usage_group;
}

/* Common options: --store, plus the command's own. Returns the index of the first
 * operand, or -1 after printing a usage error. */
struct opts {
	const char *store, *tag;
	bool dry_run, all, allow_no_quorum;
};

static int parse(const char *cmd, int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"store", required_argument, NULL, 's'}, {"tag", required_argument, NULL, 't'},
		{"dry-run", no_argument, NULL, 'n'},     {"all", no_argument, NULL, 'a'},
		{"allow-no-quorum", no_argument, NULL, 'q'}, {NULL, 0, NULL, 0},
	};
	char full[64];
	int c;
	snprintf(full, sizeof full, "snapshot %s", cmd);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case 's':
			o->store = optarg;
			break;
		case 't':
			o->tag = optarg;
			ok = strcmp(cmd, "save") == 0;
			break;
		case 'n':
			o->dry_run = true;
			ok = strcmp(cmd, "prune") == 0;
			break;
		case 'a':
			o->all = true;
			ok = strcmp(cmd, "verify") == 0;
			break;
		case 'q':
			o->allow_no_quorum = true;
			ok = strcmp(cmd, "save") == 0;
			break;
		default:
			return cli_option_error(full, c, argc, argv), -1;
		}
		if (!ok)
			return cli_usage_error(full, "option %s does not apply to '%s'", argv[optind - 1], cmd), -1;
	}
	return optind;
}

static void fmt_ago(const struct snap_info *si, char *buf, size_t len)
{
	snprintf(buf, len, "%s", si->m.created_at[0] ? si->m.created_at : "-");
}

static int do_save(struct cli *cli, struct rv_config *cfg, struct store *st, const struct opts *o)
{
	struct cli_progress prog = {.label = "snapshot"};
	struct snap_save_opts so = {.tag = o->tag, .settings = &cfg->snapshot, .allow_no_quorum = o->allow_no_quorum,
				    .cancel = &cli_cancel, .progress = cli_progress_cb, .progress_ud = &prog};
	struct snap_info si;
	char db[16], sz[16], dur[16], rate[16];
	cli_catch_interrupts();
	int r = snap_save(&cfg->cluster, st, &so, &si);
	double d;

	cli_progress_end(&prog);
	if (r < 0)
		return cli_fail(r);
	rv_metrics_snapshot_saved(cli->metrics, &si);
	if (cli->json) {
		cli_print_json(report_snapshot_save_json(&si));
		return RV_EXIT_OK;
	}
	{
		json_t *rep = report_snapshot_save_json(&si); /* for the job history */
		cli_job_report(rep);
		json_decref(rep);
	}
	d = si.m.duration_s > 0 ? si.m.duration_s : 1e-9;
	printf("saved %s\n", si.name);
	printf("  revision   %lld (member %s, etcd %s%s)\n", (long long)si.m.revision, si.m.member_name,
	       si.m.etcd_version, si.m.quorum == 0 ? ", WITHOUT QUORUM: its data may be old" : "");
	printf("  db size    %s\n", rv_fmt_bytes((uint64_t)si.m.db_size, db, sizeof db));
	printf("  artifact   %s (ratio %.2f)\n", rv_fmt_bytes(si.size, sz, sizeof sz),
	       si.size ? (double)si.m.db_size / (double)si.size : 0.0);
	printf("  duration   %s (%s/s)\n", rv_fmt_duration(si.m.duration_s, dur, sizeof dur),
	       rv_fmt_bytes((uint64_t)((double)si.m.db_size / d), rate, sizeof rate));
	printf("  sha256     %s\n", si.m.sha256);
	printf("  store      %s\n", store_describe(st));
	return RV_EXIT_OK;
}

/* Continuous backup: how far the chain of artifact `name` reaches (its segments,
 * by name only when !contents, else each read and checked; encrypted ones only by
 * name when keys is NULL, counted in unchecked). *n_seg 0: none. */
struct chain_reach {
	size_t n_seg, unchecked;
	int64_t reach, reach_ms;
	int result; /* seg_chain_check's */
};

static void chain_of(struct store *st, const struct seg_info *segs, size_t ns, const struct snap_info *si,
		     bool contents, const struct age_keys *keys, struct chain_reach *out)
{
	char chain[256];
	size_t s0, cnt;
	memset(out, 0, sizeof *out);
	snprintf(chain, sizeof chain, "%.*s", (int)(strlen(si->name) - snap_suffix_len(si->name)), si->name);
	seg_chain_range(segs, ns, chain, &s0, &cnt);
	out->n_seg = cnt;
	if (cnt)
		out->result = seg_chain_check(st, segs + s0, cnt, si->m.revision, contents, keys, &out->reach,
					      &out->reach_ms, &out->unchecked);
}

static void chain_json(json_t *o, const struct chain_reach *c)
{
	char t[21];
	if (!json_is_object(o) || !c->n_seg)
		return;
	rv_utc_rfc3339(c->reach_ms / 1000, t);
	json_object_set_new(o, "chain_segments", json_integer((json_int_t)c->n_seg));
	json_object_set_new(o, "chain_reach_revision", json_integer(c->reach));
	json_object_set_new(o, "chain_reach_time", json_string(t));
	json_object_set_new(o, "chain_ok", json_boolean(c->result == 0));
	if (c->unchecked)
		json_object_set_new(o, "chain_segments_unchecked", json_integer((json_int_t)c->unchecked));
}

static int do_list(struct cli *cli, struct store *st)
{
	struct snap_info *v;
	size_t n;
	int r = snap_list(st, &v, &n);
	if (r < 0)
		return cli_fail(r);
	struct seg_info *segs = NULL;
	size_t ns = 0;
	if (seg_list(st, &segs, &ns) < 0) {
		rv_err_clear(); /* the artifacts are listed still */
		ns = 0;
	}
	if (cli->json) {
		json_t *a = report_snapshot_list_json(v, n);
		for (size_t i = 0; i < n && json_is_array(a); i++) {
			struct chain_reach c;
			if (v[i].foreign)
				continue;
			chain_of(st, segs, ns, &v[i], false, NULL, &c);
			rv_err_clear();
			chain_json(json_array_get(a, i), &c);
		}
		cli_print_json(a);
	} else if (n == 0) {
		printf("no snapshots in %s\n", store_describe(st));
	} else {
		int w = 52; /* the NAME column: as wide as the longest name */
		for (size_t i = 0; i < n; i++) {
			char name[sizeof v[i].name * 4];
			int l = (int)strlen(rv_printable(v[i].name, name, sizeof name));
			w = l > w ? l : w;
		}
		printf("%-*s %-20s %10s %10s %10s %-8s %-6s %s\n", w, "NAME", "CREATED", "REVISION", "DB SIZE", "SIZE",
		       "MEMBER", "QUORUM", "TAG");
		for (size_t i = 0; i < n; i++) {
			char db[16], sz[16], when[32], name[sizeof v[i].name * 4];
			const struct snap_info *si = &v[i];
			if (si->foreign) {
				printf("%-*s %-20s %10s %10s %10s %-8s %-6s %s\n", w, rv_printable(si->name, name, sizeof name),
				       "-", "-", "-", rv_fmt_bytes(si->size, sz, sizeof sz), "-", "-", "(foreign)");
				continue;
			}
			fmt_ago(si, when, sizeof when);
			printf("%-*s %-20s %10lld %10s %10s %-8s %-6s %s\n", w, si->name, when, (long long)si->m.revision,
			       rv_fmt_bytes((uint64_t)si->m.db_size, db, sizeof db),
			       rv_fmt_bytes(si->size, sz, sizeof sz), si->m.member_name,
			       si->m.quorum < 0 ? "-" : (si->m.quorum ? "yes" : "NO"), si->m.tag[0] ? si->m.tag : "-");
		}
		for (size_t i = 0; i < n; i++) {
			struct chain_reach c;
			char t[21];
			if (v[i].foreign)
				continue;
			chain_of(st, segs, ns, &v[i], false, NULL, &c);
			if (!c.n_seg)
				continue;
			rv_utc_rfc3339(c.reach_ms / 1000, t);
			printf("chain %.*s: %zu segments, reaches revision %lld (%s)%s\n",
			       (int)(strlen(v[i].name) - snap_suffix_len(v[i].name)), v[i].name, c.n_seg,
			       (long long)c.reach, t, c.result ? "; it has a hole (snapshot verify says where)" : "");
			rv_err_clear();
		}
		for (size_t i = 0; i < n; i++)
			if (v[i].foreign)
				rv_warn("%s: %s", v[i].name, v[i].problem);
	}
	free(segs);
	free(v);
	return RV_EXIT_OK;
}

static int do_verify(struct cli *cli, struct store *st, const struct opts *o, int argc, char **argv, int first)
{
	struct snap_info *v = NULL;
	size_t n = 0;
	char name[256];
	int bad = 0, r;
	json_t *a = json_array();

	if (o->all) {
		if (first < argc)
			return json_decref(a), cli_usage_error("snapshot verify", "give NAME or --all, not both");
		if ((r = snap_list(st, &v, &n)) < 0)
			return json_decref(a), cli_fail(r);
	} else {
		if (first + 1 != argc)
			return json_decref(a), cli_usage_error("snapshot verify", "give one NAME, latest or --all");
		if ((r = snap_resolve(st, argv[first], name, sizeof name)) < 0)
			return json_decref(a), cli_fail(r);
		v = rv_xcalloc(1, sizeof *v);
		snprintf(v[0].name, sizeof v[0].name, "%s", name);
		n = 1;
	}
	struct seg_info *segs = NULL;
	const struct age_keys *keys = NULL;
	size_t ns = 0;
	bool any_encrypted = false;
	if ((r = seg_list(st, &segs, &ns)) == 0)
		for (size_t i = 0; i < ns; i++)
			any_encrypted |= segs[i].encrypted;
	if (r < 0 || (any_encrypted && (r = store_read_keys(st, &keys)) < 0)) {
		free(segs);
		json_decref(a);
		free(v);
		return cli_fail(r);
	}
	for (size_t i = 0; i < n; i++) {
		struct snap_info si;
		struct chain_reach c = {0};
		r = snap_verify(st, v[i].name, &si);
		if (r == 0) {
			chain_of(st, segs, ns, &si, true, keys, &c);
			if (c.result < 0) {
				bad++;
				cli_say_error("regvault: ", c.result);
				rv_err_clear();
			} else if (c.unchecked && !cli->json) {
				printf("ok  chain of %s: %zu segments, revisions from %lld to %lld without a hole; %zu encrypted "
				       "and no identity, so their contents were not checked (store.encryption.identity_file)\n",
				       si.name, c.n_seg, (long long)si.m.revision + 1, (long long)c.reach, c.unchecked);
			} else if (c.n_seg && !cli->json) {
				printf("ok  chain of %s: %zu segments, every sha256 and revision from %lld to %lld\n", si.name,
				       c.n_seg, (long long)si.m.revision + 1, (long long)c.reach);
			}
		}
		if (r < 0) {
			bad++;
			snprintf(si.name, sizeof si.name, "%s", v[i].name);
			snprintf(si.problem, sizeof si.problem, "%s", rv_errmsg(r));
			cli_say_error("regvault: ", r);
			rv_err_clear();
		} else if (!cli->json) {
			printf("ok  %s (revision %lld, sha256 %s)%s\n", si.name, (long long)si.m.revision, si.m.sha256,
			       si.hash_only ? "; encrypted, so only the file was checked against its sidecar: the identity checks its contents" : "");
		}
		if (cli->json) {
			json_t *e = report_snapshot_verify_json(&si, r == 0);
			chain_json(e, &c);
			json_array_append_new(a, e);
		}
	}
	free(segs);
	if (cli->json && o->all) {
		cli_print_json(a);
	} else if (cli->json) {
		json_t *e = json_incref(json_array_get(a, 0));
		json_decref(a);
		cli_print_json(e);
	} else {
		json_decref(a);
	}
	if (!cli->json && o->all && n == 0)
		printf("no snapshots in %s\n", store_describe(st));
	free(v);
	return bad ? RV_EXIT_FAIL : RV_EXIT_OK;
}

static int do_fetch(struct cli *cli, struct store *st, int argc, char **argv, int first)
{
	struct cli_progress prog = {.label = "fetch"};
	struct snap_manifest m;
	char name[256];
	int r;
	if (first + 2 != argc)
		return cli_usage_error("snapshot fetch", "give NAME|latest and FILE");
	if ((r = snap_resolve(st, argv[first], name, sizeof name)) < 0)
		return cli_fail(r);
	r = snap_fetch_progress(st, name, argv[first + 1], &m, cli_progress_cb, &prog);
	cli_progress_end(&prog);
	if (r < 0)
		return cli_fail(r);
	if (cli->json) {
		cli_print_json(report_snapshot_fetch_json(name, argv[first + 1], &m));
	} else {
		printf("wrote %s from %s (revision %lld, verified)\n", argv[first + 1], name, (long long)m.revision);
	}
	return RV_EXIT_OK;
}

static int do_delete(struct cli *cli, struct store *st, int argc, char **argv, int first)
{
	char name[256];
	int r;
	if (first + 1 != argc)
		return cli_usage_error("snapshot delete", "give one NAME");
	if (strcmp(argv[first], "latest") == 0)
		return cli_usage_error("snapshot delete", "name the artifact to delete; 'latest' is not accepted here");
	if ((r = snap_resolve(st, argv[first], name, sizeof name)) < 0)
		return cli_fail(r);
	if ((r = snap_delete(st, name)) < 0)
		return cli_fail(r);
	if (cli->json) {
		cli_print_json(report_snapshot_delete_json(name));
	} else {
		printf("deleted %s\n", name);
	}
	return RV_EXIT_OK;
}

static int do_prune(struct cli *cli, struct rv_config *cfg, struct store *st, const struct opts *o)
{
	struct prune_decision *d;
	size_t n, removed = 0;
	if (!o->dry_run) /* the prune the daemon's snapshot job makes after its save */
		cli_job_begin(cfg, JOB_SNAPSHOT, "prune");
	int r = snap_prune(st, &cfg->snapshot.retention, o->dry_run, &d, &n);
	if (r < 0)
		return cli_fail(r);
	size_t artifacts = 0, segs_removed = 0;
	for (size_t i = 0; i < n; i++) {
		removed += !d[i].keep;
		artifacts += !d[i].base_missing && (o->dry_run || d[i].keep);
		segs_removed += d[i].keep ? 0 : d[i].segments;
	}
	rv_metrics_store_artifacts(cli->metrics, artifacts);
	if (cli->json) {
		cli_print_json(report_prune_json(d, n, o->dry_run));
	} else {
		json_t *rep = report_prune_json(d, n, o->dry_run); /* for the job history */
		cli_job_report(rep);
		json_decref(rep);
		for (size_t i = 0; i < n; i++) {
			char name[sizeof d[i].name * 4], chain[96] = "";
			if (d[i].segments)
				snprintf(chain, sizeof chain, " (+ %zu segments to revision %lld)", d[i].segments,
					 (long long)d[i].segments_last_revision);
			printf("%-6s %-52s %s%s\n", d[i].keep ? "keep" : (o->dry_run ? "remove" : "removed"),
			       rv_printable(d[i].name, name, sizeof name), d[i].reason, chain);
		}
		printf("%zu kept, %zu %s", n - removed, removed, o->dry_run ? "would be removed" : "removed");
		if (segs_removed)
			printf(" with %zu segments of their chains", segs_removed);
		printf("%s\n", o->dry_run ? " (dry run)" : "");
	}
	free(d);
	return RV_EXIT_OK;
}

int cmd_snapshot(struct cli *cli, int argc, char **argv)
{
	struct rv_config cfg = {0};
	struct opts o = {0};
	struct store *st = NULL;
	const char *cmd;
	int first, rc;

	if (argc < 2 || (argv[1][0] == '-' && cli_wants_help(argc, argv))) {
		fputs(usage_group, argc < 2 ? stderr : stdout);
		return argc < 2 ? RV_EXIT_USAGE : RV_EXIT_OK;
	}
	cmd = argv[1];
	if (strcmp(cmd, "diff") == 0) /* cmd_prefix.c */
		return cmd_snapshot_diff(cli, argc - 1, argv + 1);
	if (strcmp(help_of(cmd), usage_group) == 0)
		return cli_usage_error("snapshot", "unknown command '%s'", cmd);
	if (cli_wants_help(argc - 1, argv + 1)) {
		fputs(help_of(cmd), stdout);
		return RV_EXIT_OK;
	}
	first = parse(cmd, argc - 1, argv + 1, &o);
	if (first < 0)
		return RV_EXIT_USAGE;
	first += 1; /* index into argv */
	if (o.tag && (rc = snap_tag_check(o.tag)) < 0) {
		cli_say_error("regvault snapshot save: ", rc);
		return RV_EXIT_USAGE;
	}
	if ((strcmp(cmd, "save") == 0 || strcmp(cmd, "list") == 0 || strcmp(cmd, "prune") == 0) && first < argc) {
		char full[64];
		snprintf(full, sizeof full, "snapshot %s", cmd);
		return cli_usage_error(full, "unexpected argument '%s'", argv[first]);
	}
	if ((rc = cli_load_config(cli, &cfg)) != RV_EXIT_OK)
		return rc;
	struct job_lock *lock = NULL;
	if (strcmp(cmd, "save") == 0 || strcmp(cmd, "verify") == 0) {
		bool save = strcmp(cmd, "save") == 0;
		rc = cli_job_lock(&cfg, save ? JOB_SNAPSHOT : JOB_VERIFY, save ? "regvault snapshot save" : "regvault snapshot verify",
				  &lock);
		if (rc != RV_EXIT_OK)
			goto out;
	}
	if ((rc = cli_open_store(&cfg, o.store, &st)) != RV_EXIT_OK)
		goto out;
	if (strcmp(cmd, "save") == 0)
		rc = do_save(cli, &cfg, st, &o);
	else if (strcmp(cmd, "list") == 0)
		rc = do_list(cli, st);
	else if (strcmp(cmd, "verify") == 0)
		rc = do_verify(cli, st, &o, argc, argv, first);
	else if (strcmp(cmd, "fetch") == 0)
		rc = do_fetch(cli, st, argc, argv, first);
	else if (strcmp(cmd, "delete") == 0)
		rc = do_delete(cli, st, argc, argv, first);
	else
		rc = do_prune(cli, &cfg, st, &o);
out:
	store_close(st);
	job_lock_release(lock);
	config_free(&cfg);
	return rc;
}
