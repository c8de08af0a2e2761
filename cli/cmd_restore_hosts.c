/* cmd_restore_hosts.c - 'regvault restore' when the members have agents: the
 * restore coordinated across hosts (scheduler's agent_restore.c). Output only. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* --dry-run: what every host answered, one row a host. */
static void print_checks(FILE *f, const struct agent_restore_report *rep)
{
	const struct restore_plan *p = &rep->r.plan;
	char a[32], b[32];
	fprintf(f, "Restore plan across hosts\n");
	fprintf(f, "  artifact   %s (revision %" PRId64 ")\n", p->artifact, p->snapshot_revision);
	if (p->store[0])
		fprintf(f, "  store      %s\n", p->store);
	if (p->cluster_serving)
		fprintf(f, "  cluster    serving at revision %" PRId64 " (%zu of %zu members healthy)\n", p->cluster_revision,
			p->n_healthy, p->n_members);
	else
		fprintf(f, "  cluster    not serving (%zu of %zu members healthy)\n", p->n_healthy, p->n_members);
	fprintf(f, "  %-10s %-22s %-9s %-9s %-9s %s\n", "MEMBER", "AGENT", "DATA DIR", "FREE", "NEEDS", "COULD PREPARE");
	for (size_t i = 0; i < rep->n_hosts; i++) {
		const struct agent_restore_host *h = &rep->hosts[i];
		bool answered = h->need_bytes > 0; /* a host's answer always needs room */
		fprintf(f, "  %-10s %-22s %-9s %-9s %-9s %s%s%s\n", h->member, h->agent,
			!answered ? "?" : h->has_data ? "present" : "none",
			answered ? rv_fmt_bytes(h->disk_free_bytes, a, sizeof a) : "?",
			answered ? rv_fmt_bytes(h->need_bytes, b, sizeof b) : "?", h->could ? "yes" : "no",
			h->could ? "" : ": ", h->could ? "" : h->error);
	}
}

/* How each host got the artifact: fetched from its own store, or sent by this host. */
static void print_sources(FILE *f, const struct agent_restore_report *rep)
{
	char b[32];
	for (size_t i = 0; i < rep->n_hosts; i++) {
		const struct agent_restore_host *h = &rep->hosts[i];
		if (!h->artifact_source[0])
			continue;
		bool store = strcmp(h->artifact_source, "store") == 0;
		fprintf(f, "  %-10s %-22s %s %s in %.1f s\n", h->member, h->agent,
			store ? "fetched the artifact from the store:" : "was sent the snapshot by this host:",
			rv_fmt_bytes(h->artifact_bytes, b, sizeof b), h->artifact_seconds);
	}
}

/* A signal that came after the commit began was held until the restore was over. */
static void say_held_signal(int r)
{
	if (rv_cancelled(&cli_cancel) && r != -EINTR)
		rv_warn("signal %d arrived during the restore; it was held until the restore finished or rolled back, "
			"so the cluster is never left between its old and its new data", cli_interrupt_signal());
}

int cmd_restore_hosts(struct cli *cli, const struct rv_config *cfg, const struct agent_restore_opts *o, bool rollback,
		      bool resume)
{
	struct agent_restore_report *rep = rv_xcalloc(1, sizeof *rep);
	bool dry_run = o && o->dry_run;
	cli_catch_interrupts(); /* looked at until the commit; held from then on */
	int r = rollback || resume ? agent_restore_finish(cfg, rollback, o ? o->wait_ms : 0, rep)
				   : agent_restore_run(cfg, o, rep);
	say_held_signal(r);
	if (cli->json) {
		cli_print_json(report_agent_restore_json(rep, r, dry_run));
	} else if (dry_run && rep->hosts[0].checked) {
		print_checks(stdout, rep);
		if (r == 0)
			printf("\nThe artifact verified and every host could prepare. Dry run: nothing was changed.\n");
		if (r == 0 && rep->r.plan.cluster_serving && !o->force)
			printf("The cluster is healthy and serving: a restore needs --force.\n");
	} else if (r == 0 && rollback) {
		printf("Rolled back the restore of %s on every host: %s.\n", rep->r.plan.artifact, rep->r.rollback);
	} else if (r == 0 && o && o->point) {
		printf("Restored the cluster to revision %" PRId64 " (chain %s, %zu events replayed at %.0f events/s) on "
		       "every host: every member at revision %" PRId64 " with HashKV %08x.\n",
		       o->point->revision, o->point->chain, o->point->events, o->point->rate, rep->r.revision, rep->r.hash);
		printf("Clients that watched the old cluster past revision %" PRId64 " must list again (or restart).\n",
		       o->point->revision);
		print_sources(stdout, rep);
		printf("Old data dirs are kept as <data_dir>.before-restore-%s on each host.\n", rep->r.plan.stamp);
	} else if (r == 0) {
		printf("Restored %s on every host: every member at revision %" PRId64 " with HashKV %08x.\n",
		       rep->r.plan.artifact, rep->r.revision, rep->r.hash);
		print_sources(stdout, rep);
		printf("Old data dirs are kept as <data_dir>.before-restore-%s on each host.\n", rep->r.plan.stamp);
	}
	free(rep);
	return r < 0 ? cli_fail(r) : RV_EXIT_OK;
}

int cmd_restore_hosts_point(struct cli *cli, const struct rv_config *cfg, struct store *st,
			    const struct restore_point_req *q, const char *replay_dir, bool force, bool dry_run,
			    int wait_ms)
{
	struct restore_point_report pr = {0};
	char dir[PATH_MAX], db[PATH_MAX + 16], base[256] = "";
	snprintf(dir, sizeof dir, "%s/point-restore", cfg->state_dir);
	snprintf(db, sizeof db, "%s/replayed.db", dir);
	cli_catch_interrupts();
	int r = restore_point_db(&cfg->cluster, st, q, dir, replay_dir, db, dry_run, wait_ms, &cli_cancel, &pr, base,
				 sizeof base);
	if (r < 0) {
		if (!dry_run)
			(void)!rmdir(dir);
		return cli_fail(r);
	}
	/* a dry run asks the hosts about the base (the replayed db is as large) */
	struct agent_restore_opts ao = {.store = dry_run ? st : NULL, .from = dry_run ? base : NULL,
					.db_file = dry_run ? NULL : db, .force = force, .dry_run = dry_run,
					.wait_ms = wait_ms, .cancel = &cli_cancel, .point = &pr};
	int rc = cmd_restore_hosts(cli, cfg, &ao, false, false);
	if (!dry_run) {
		unlink(db);
		(void)!rmdir(dir);
	}
	return rc;
}
