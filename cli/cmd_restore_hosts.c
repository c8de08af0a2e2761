/* cmd_restore_hosts.c - 'regvault restore' when the members have agents: the
 * restore coordinated across hosts (scheduler's agent_restore.c). Output only. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	} else if (r == 0) {
		printf("Restored %s on every host: every member at revision %" PRId64 " with HashKV %08x.\n",
		       rep->r.plan.artifact, rep->r.revision, rep->r.hash);
		print_sources(stdout, rep);
		printf("Old data dirs are kept as <data_dir>.before-restore-%s on each host.\n", rep->r.plan.stamp);
	}
	free(rep);
	return r < 0 ? cli_fail(r) : RV_EXIT_OK;
}
