/* cmd_restore_hosts.c - 'regvault restore' when the members have agents: the
 * restore coordinated across hosts (scheduler's agent_restore.c). Output only. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static json_t *report_json(const struct agent_restore_report *rep, int r)
{
	return json_pack("{s:b s:s s:s s:I s:I s:s s:b s:b s:s* s:s*}", "ok", r == 0, "artifact", rep->artifact, "stamp",
			 rep->stamp, "revision", (json_int_t)rep->revision, "revision_now", (json_int_t)rep->revision_now,
			 "hash", "", "rolled_back", rep->rolled_back, "rollback_ok", rep->rollback_ok, "failure",
			 rep->failure[0] ? rep->failure : NULL, "rollback", rep->rollback[0] ? rep->rollback : NULL);
}

int cmd_restore_hosts(struct cli *cli, const struct rv_config *cfg, struct store *st, const char *from,
		      const char *from_file, bool force, bool rollback, bool resume, int wait_ms)
{
	struct agent_restore_report *rep = rv_xcalloc(1, sizeof *rep);
	cli_catch_interrupts(); /* held: the cluster is never left between its two data sets */
	int r = rollback || resume ? agent_restore_finish(cfg, rollback, wait_ms, rep)
				   : agent_restore_run(cfg, st, from, from_file, force, wait_ms, rep);
	if (cli->json) {
		json_t *j = report_json(rep, r);
		char h[16];
		snprintf(h, sizeof h, "%08x", rep->hash);
		json_object_set_new(j, "hash", json_string(h));
		cli_print_json(j);
	} else if (r == 0 && rollback) {
		printf("Rolled back the restore of %s on every host: %s.\n", rep->artifact, rep->rollback);
	} else if (r == 0) {
		printf("Restored %s on every host: every member at revision %" PRId64 " with HashKV %08x.\n", rep->artifact,
		       rep->revision, rep->hash);
		printf("Old data dirs are kept as <data_dir>.before-restore-%s on each host.\n", rep->stamp);
	}
	free(rep);
	return r < 0 ? cli_fail(r) : RV_EXIT_OK;
}
