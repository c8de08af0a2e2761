/* agent_restore_check.c - `restore --dry-run` across hosts, the coordinator's part:
 * the artifact was fetched and verified here; every host's agent is asked whether
 * it could prepare its member from it (RestoreCheck: room beside the data dir, the
 * restore tool and the member's etcd there, no other restore on the host; from S3
 * also that it opens its own store and finds the artifact there). Nothing
 * is sent, stopped or written on any host. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "scheduler/agent_impl.h"

struct check_job {
	const struct rv_config *c;
	size_t idx;
	uint64_t db_size;
	const char *ic;
	const char *store, *artifact; /* the host would fetch artifact from its own store */
	struct agent_restore_host *h;
	pthread_t t;
	bool started;
};

static void *check_main(void *arg)
{
	struct check_job *j = arg;
	struct agent_restore_host *h = j->h;
	Regvault__Agent__V1__RestoreCheckRequest rq = REGVAULT__AGENT__V1__RESTORE_CHECK_REQUEST__INIT;
	rq.member = j->c->cluster.members[j->idx].name;
	rq.db_size = j->db_size;
	rq.initial_cluster = (char *)j->ic;
	rq.fetch_from_store = j->store != NULL;
	rq.store = (char *)(j->store ? j->store : "");
	rq.artifact = (char *)(j->artifact ? j->artifact : "");
	ProtobufCMessage *m = NULL;
	/* looking the artifact up in S3 may retry for a while (store.s3's attempts) */
	int64_t timeout = j->store ? (j->c->agent.timeout_ms > 0 ? j->c->agent.timeout_ms : 5000) + 60000 : 0;
	int r = agent_unary(j->c, j->idx, AGENT_RESTORE_CHECK, &rq.base,
			    &regvault__agent__v1__restore_check_response__descriptor, timeout, &m);
	h->checked = true;
	if (r < 0) {
		snprintf(h->error, sizeof h->error, "%s", rv_errmsg(r));
		rv_err_clear();
		return NULL;
	}
	const Regvault__Agent__V1__RestoreCheckResponse *a = (void *)m;
	h->could = a->could;
	snprintf(h->error, sizeof h->error, "%s", a->could || !a->reason ? "" : a->reason);
	h->has_data = a->has_data;
	h->disk_free_bytes = a->disk_free_bytes;
	h->need_bytes = a->need_bytes;
	snprintf(h->tool, sizeof h->tool, "%s", a->tool ? a->tool : "");
	snprintf(h->etcd_binary, sizeof h->etcd_binary, "%s", a->etcd_binary ? a->etcd_binary : "");
	protobuf_c_message_free_unpacked(m, NULL);
	return NULL;
}

int agent_restore_check_all(const struct rv_config *c, const char *db_path, const char *ic, const char *from_store,
			    struct agent_restore_report *rep)
{
	size_t n = c->cluster.n_members;
	struct stat sb;
	if (stat(db_path, &sb) < 0)
		return rv_fail(-errno, "cannot read the fetched snapshot %s: %s", db_path, strerror(errno));
	struct check_job *jobs = rv_xcalloc(n, sizeof *jobs);
	for (size_t i = 0; i < n; i++) {
		jobs[i] = (struct check_job){.c = c, .idx = i, .db_size = (uint64_t)sb.st_size, .ic = ic,
					     .store = from_store, .artifact = rep->r.plan.artifact, .h = &rep->hosts[i]};
		jobs[i].started = pthread_create(&jobs[i].t, NULL, check_main, &jobs[i]) == 0;
		if (!jobs[i].started)
			check_main(&jobs[i]);
	}
	for (size_t i = 0; i < n; i++)
		if (jobs[i].started)
			pthread_join(jobs[i].t, NULL);
	free(jobs);
	for (size_t i = 0; i < n; i++) /* the report's old_data_dir: where it would be */
		rep->r.plan.members[i].has_data = rep->hosts[i].has_data;
	size_t bad = 0, first = n;
	for (size_t i = 0; i < n; i++)
		if (!rep->hosts[i].could && bad++ == 0)
			first = i;
	if (bad == 0)
		return 0;
	return rv_fail(-EBUSY, "the restore of %s could not go ahead: member %s's host (agent %s): %s%s; nothing was changed",
		       rep->r.plan.artifact, rep->hosts[first].member, rep->hosts[first].agent, rep->hosts[first].error,
		       bad > 1 ? " (more hosts could not: see the table)" : "");
}
