/* agent_restore_server.c - the agent's restore steps: unpack the request, check the
 * coordinator lock (agent_restore_lock.c), run the step on this host's member
 * (restore/member_step.c), answer the host's step. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "restore/restore.h"
#include "scheduler/agent_impl.h"

static int own_index(const struct rv_config *c, const char *own, const char *asked, size_t *idx)
{
	const char *name = asked && *asked ? asked : own;
	if (strcmp(name, own) != 0)
		return rv_fail(-EBUSY, "member %s is not on this host, whose member is %s", name, own);
	for (size_t i = 0; i < c->cluster.n_members; i++)
		if (strcmp(c->cluster.members[i].name, name) == 0) {
			*idx = i;
			return 0;
		}
	return rv_fail(-ENOENT, "no member %s in this host's configuration", name);
}

/* A step renews its coordinator's lock also when it ends: a long one (a prepare)
 * kept the agent from answering the renewals meanwhile. */
static void renew(const struct rv_config *c, const char *own, const char *coordinator)
{
	if (coordinator && *coordinator && agent_lock_hold(c, own, coordinator) < 0)
		rv_err_clear();
}

static grpc_byte_buffer *step_answer(const struct restore_member_state *st)
{
	Regvault__Agent__V1__RestoreStepResponse a = REGVAULT__AGENT__V1__RESTORE_STEP_RESPONSE__INIT;
	a.phase = (char *)(st->found ? st->phase : "");
	a.stamp = (char *)st->stamp;
	a.artifact = (char *)st->artifact;
	a.revision = st->revision;
	a.old_data_dir = (char *)st->old_data_dir;
	a.artifact_source = (char *)st->artifact_source;
	a.artifact_bytes = st->artifact_bytes;
	a.artifact_seconds = st->artifact_seconds;
	return agent_pack(&a.base);
}

static int receive(const struct rv_config *c, const char *own, grpc_byte_buffer *in, grpc_byte_buffer **resp)
{
	Regvault__Agent__V1__RestoreChunk *rq = (void *)agent_unpack(&regvault__agent__v1__restore_chunk__descriptor, in);
	if (!rq)
		return rv_fail(-EINVAL, "the restore chunk could not be read");
	size_t idx;
	int r = own_index(c, own, rq->member, &idx);
	if (r == 0)
		r = agent_lock_hold(c, own, rq->coordinator);
	if (r == 0)
		r = restore_member_receive(&c->cluster, idx, rq->offset, rq->data.data, rq->data.len);
	if (r == 0) {
		Regvault__Agent__V1__RestoreChunkResponse a = REGVAULT__AGENT__V1__RESTORE_CHUNK_RESPONSE__INIT;
		a.received = rq->offset + rq->data.len;
		*resp = agent_pack(&a.base);
	}
	protobuf_c_message_free_unpacked(&rq->base, NULL);
	return r;
}

/* "s3://b/p/" and "s3://b/p" name one store. */
static bool same_store(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	while (la > 0 && a[la - 1] == '/')
		la--;
	while (lb > 0 && b[lb - 1] == '/')
		lb--;
	return la == lb && strncmp(a, b, la) == 0;
}

/* The coordinator asks this host to fetch from the store: this host's own store
 * (its store.url and credentials; none come over the wire), the one the coordinator
 * restores from. */
static int own_store(const struct rv_config *c, const char *own, const char *wanted, struct store **out)
{
	*out = NULL;
	if (!c->store.url || !*c->store.url)
		return rv_fail(-EINVAL, "member %s's host has no store.url in its configuration, so it cannot fetch the "
				       "artifact from %s itself; set store.url and the store's credentials on this host "
				       "(file mode 0600), or restore from a snapshot file on the coordinator, which sends it to every host",
			       own, wanted);
	int r = store_open(&c->store, out);
	if (r < 0) {
		char why[1536];
		snprintf(why, sizeof why, "%s", rv_errmsg(r));
		return rv_fail(r, "member %s's host cannot open its store %s: %s; fix store.url and the store's "
				  "credentials in this host's configuration, or restore from a snapshot file on the coordinator",
			       own, c->store.url, why);
	}
	if (wanted && *wanted && !same_store(store_describe(*out), wanted)) {
		r = rv_fail(-EINVAL, "the coordinator restores from %s but member %s's host has store.url %s; give every "
				     "host the same store.url, or restore from a snapshot file on the coordinator",
			    wanted, own, store_describe(*out));
		store_close(*out);
		*out = NULL;
	}
	return r;
}

static int prepare(const struct rv_config *c, const char *own, grpc_byte_buffer *in, grpc_byte_buffer **resp)
{
	Regvault__Agent__V1__RestorePrepareRequest *rq =
		(void *)agent_unpack(&regvault__agent__v1__restore_prepare_request__descriptor, in);
	if (!rq)
		return rv_fail(-EINVAL, "the restore prepare request could not be read");
	size_t idx;
	struct restore_member_state st;
	int r = own_index(c, own, rq->member, &idx);
	if (r == 0)
		r = agent_lock_hold(c, own, rq->coordinator);
	char *ic = r == 0 ? cluster_initial_cluster(&c->cluster) : NULL;
	if (r == 0 && strcmp(ic, rq->initial_cluster) != 0)
		r = rv_fail(-EINVAL, "the coordinator restores the cluster %s but this host's configuration says %s; use the "
				     "same configuration on every host",
			    rq->initial_cluster, ic);
	struct store *from = NULL;
	if (r == 0 && rq->fetch_from_store)
		r = own_store(c, own, rq->store, &from);
	if (r == 0) {
		struct restore_member_req q = {.cs = &c->cluster, .idx = idx, .state_dir = c->state_dir, .stamp = rq->stamp,
					       .token = rq->token, .artifact = rq->artifact, .sha256 = rq->sha256,
					       .revision = rq->revision, .store = from};
		if (from)
			rv_info("agent: preparing member %s for the restore of %s (%s), fetching it from %s", own,
				rq->artifact, rq->stamp, store_describe(from));
		else
			rv_info("agent: preparing member %s for the restore of %s (%s)", own, rq->artifact, rq->stamp);
		r = restore_member_prepare(&q, &st);
		if (r == 0)
			renew(c, own, rq->coordinator);
		if (r == 0 && from)
			rv_info("agent: fetched %s from the store: %" PRIu64 " bytes in %.1f s", rq->artifact,
				st.artifact_bytes, st.artifact_seconds);
	}
	if (r < 0 && from)
		rv_warn("agent: the prepare of member %s failed: %s", own, rv_errmsg(r));
	store_close(from);
	if (r == 0)
		*resp = step_answer(&st);
	free(ic);
	protobuf_c_message_free_unpacked(&rq->base, NULL);
	return r;
}

/* --dry-run from S3: this host opens its own store and finds the artifact there. */
static int can_fetch(const struct rv_config *c, const char *own, const char *wanted, const char *artifact)
{
	struct store *st = NULL;
	struct store_object o;
	int r = own_store(c, own, wanted, &st);
	if (r < 0)
		return r;
	if ((r = store_stat(st, artifact, &o)) == 0) {
		free(o.name);
	} else {
		char why[1536];
		snprintf(why, sizeof why, "%s", rv_errmsg(r));
		r = rv_fail(r, "member %s's host cannot read artifact %s in its store %s: %s; on that host, fix store.url, "
			       "store.s3 and the store's credentials in its configuration or its way to the store, or "
			       "restore from a snapshot file on the coordinator, which sends it to every host",
			    own, artifact, wanted, why);
	}
	store_close(st);
	return r;
}

/* --dry-run: could this host prepare? Looks only (the lock too). */
static int check(const struct rv_config *c, const char *own, grpc_byte_buffer *in, grpc_byte_buffer **resp)
{
	Regvault__Agent__V1__RestoreCheckRequest *rq =
		(void *)agent_unpack(&regvault__agent__v1__restore_check_request__descriptor, in);
	if (!rq)
		return rv_fail(-EINVAL, "the restore check request could not be read");
	size_t idx;
	struct restore_member_check ck;
	int r = own_index(c, own, rq->member, &idx);
	if (r == 0)
		r = restore_member_check(&c->cluster, idx, c->state_dir, rq->db_size, &ck);
	if (r == 0) {
		char *ic = cluster_initial_cluster(&c->cluster);
		if (strcmp(ic, rq->initial_cluster) != 0) {
			ck.could = false;
			snprintf(ck.reason, sizeof ck.reason, "the coordinator restores the cluster %s but this host's "
				 "configuration says %s; use the same configuration on every host", rq->initial_cluster, ic);
		} else if (ck.could && agent_lock_hold(c, own, NULL) < 0) {
			ck.could = false;
			snprintf(ck.reason, sizeof ck.reason, "%s", rv_errmsg(-EBUSY));
			rv_err_clear();
		} else if (ck.could && rq->fetch_from_store) {
			int rs = can_fetch(c, own, rq->store, rq->artifact);
			if (rs < 0) {
				ck.could = false;
				snprintf(ck.reason, sizeof ck.reason, "%s", rv_errmsg(rs));
				rv_err_clear();
			}
		}
		free(ic);
		Regvault__Agent__V1__RestoreCheckResponse a = REGVAULT__AGENT__V1__RESTORE_CHECK_RESPONSE__INIT;
		a.could = ck.could;
		a.reason = ck.reason;
		a.data_dir = c->cluster.members[idx].data_dir;
		a.has_data = ck.has_data;
		a.disk_free_bytes = ck.free_bytes;
		a.need_bytes = ck.need_bytes;
		a.tool = ck.tool;
		a.etcd_binary = ck.etcd_binary;
		*resp = agent_pack(&a.base);
	}
	protobuf_c_message_free_unpacked(&rq->base, NULL);
	return r;
}

static int step(const struct rv_config *c, const char *own, int method, grpc_byte_buffer *in, grpc_byte_buffer **resp)
{
	Regvault__Agent__V1__RestoreStepRequest *rq =
		(void *)agent_unpack(&regvault__agent__v1__restore_step_request__descriptor, in);
	if (!rq)
		return rv_fail(-EINVAL, "the restore step request could not be read");
	size_t idx;
	struct restore_member_state st;
	int r = own_index(c, own, rq->member, &idx);
	if (r == 0 && method != AGENT_RESTORE_STATUS)
		r = agent_lock_hold(c, own, rq->coordinator);
	struct restore_member_req q = {.cs = &c->cluster, .idx = idx, .state_dir = c->state_dir, .stamp = rq->stamp};
	if (r == 0 && method != AGENT_RESTORE_STATUS)
		rv_info("agent: %s of member %s (restore %s) asked by the coordinator", agent_method_name[method], own,
			rq->stamp && *rq->stamp ? rq->stamp : "as journaled");
	if (r == 0) {
		switch (method) {
		case AGENT_RESTORE_COMMIT: r = restore_member_commit(&q, &st); break;
		case AGENT_RESTORE_OPEN: r = restore_member_open(&q, &st); break;
		case AGENT_RESTORE_ROLLBACK: r = restore_member_rollback(&q, &st); break;
		case AGENT_RESTORE_CLEANUP: r = restore_member_cleanup(&q, &st); break;
		default: r = restore_member_status(c->state_dir, &st); break;
		}
	}
	/* The restore is over on this host: the next coordinator may come. */
	if (r == 0 && (method == AGENT_RESTORE_ROLLBACK || method == AGENT_RESTORE_CLEANUP))
		agent_lock_release(c, rq->coordinator);
	else if (r == 0 && method != AGENT_RESTORE_STATUS)
		renew(c, own, rq->coordinator);
	if (r == 0)
		*resp = step_answer(&st);
	protobuf_c_message_free_unpacked(&rq->base, NULL);
	return r;
}

int agent_restore_answer(const struct rv_config *cfg, const char *own, int method, grpc_byte_buffer *in,
			 grpc_byte_buffer **resp)
{
	switch (method) {
	case AGENT_RESTORE_RECEIVE: return receive(cfg, own, in, resp);
	case AGENT_RESTORE_PREPARE: return prepare(cfg, own, in, resp);
	case AGENT_RESTORE_LOCK: return agent_lock_answer(cfg, own, in, resp);
	case AGENT_RESTORE_CHECK: return check(cfg, own, in, resp);
	default: return step(cfg, own, method, in, resp);
	}
}
