/* agent_restore_lock.c - one coordinator at a time: each host's agent keeps a lock
 * naming the coordinator of the restore it takes part in. An etcd lease cannot be
 * the lock, since the cluster may be down or about to be stopped; so the lock lives
 * on every host (state_dir/coordinator-lock.json), taken by the coordinator in member
 * order before anything is fetched or stopped (two coordinators racing meet on the
 * first host, and one of them is refused there), renewed every 2 s by a thread per
 * host, and given up when the restore ends. A coordinator killed stops renewing:
 * its lock lapses after AGENT_LOCK_TTL_MS, so --rollback or --resume from any host
 * can take over. The agent answers one call at a time, so its side needs no mutex. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "scheduler/agent_impl.h"

#define LOCK_FILE "coordinator-lock.json"
#define RENEW_MS 2000

/* ---- the agent's side ---- */

static void lock_path(const struct rv_config *cfg, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", cfg->state_dir, LOCK_FILE);
}

/* The holder's id (empty: none, or lapsed) and how long ago it renewed. */
static void lock_read(const struct rv_config *cfg, char *holder, size_t len, int64_t *age_ms)
{
	char path[PATH_MAX];
	lock_path(cfg, path, sizeof path);
	holder[0] = 0;
	*age_ms = 0;
	json_t *o = json_load_file(path, 0, NULL);
	if (!o)
		return;
	const char *id = json_string_value(json_object_get(o, "coordinator"));
	*age_ms = rv_now_unix_ms() - (int64_t)json_integer_value(json_object_get(o, "renewed_ms"));
	if (id && *age_ms < AGENT_LOCK_TTL_MS && *age_ms > -AGENT_LOCK_TTL_MS)
		snprintf(holder, len, "%s", id);
	json_decref(o);
}

int agent_lock_hold(const struct rv_config *cfg, const char *own, const char *id)
{
	char holder[512], path[PATH_MAX];
	int64_t age;
	lock_read(cfg, holder, sizeof holder, &age);
	if (holder[0] && (!id || strcmp(holder, id) != 0))
		return rv_fail(-EBUSY, "member %s's host takes part in another coordinated restore, %s (renewed %.0f s ago); "
				       "wait until it has finished, or, if its coordinator is gone, %d s for its lock to lapse",
			       own, holder, (double)age / 1000, AGENT_LOCK_TTL_MS / 1000);
	if (!id || !*id)
		return 0;
	json_t *o = json_pack("{s:s s:I}", "coordinator", id, "renewed_ms", (json_int_t)rv_now_unix_ms());
	char *text = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	int r = rv_mkdir_p(cfg->state_dir, 0700);
	lock_path(cfg, path, sizeof path);
	r = r < 0 ? r : rv_write_file_atomic(path, text);
	free(text);
	if (r < 0)
		return rv_fail_wrap(r, "cannot record the coordinator lock of member %s's host in %s", own, path);
	if (!holder[0])
		rv_info("agent: member %s's host now takes part in %s", own, id);
	return 0;
}

void agent_lock_release(const struct rv_config *cfg, const char *id)
{
	char holder[512], path[PATH_MAX];
	int64_t age;
	lock_read(cfg, holder, sizeof holder, &age);
	if (holder[0] && (!id || strcmp(holder, id) != 0))
		return; /* another's, and alive */
	lock_path(cfg, path, sizeof path);
	if (unlink(path) == 0)
		rv_info("agent: the coordinator lock is given up (%s)", id && *id ? id : "lapsed");
}

int agent_lock_answer(const struct rv_config *cfg, const char *own, grpc_byte_buffer *in, grpc_byte_buffer **resp)
{
	Regvault__Agent__V1__RestoreLockRequest *rq =
		(void *)agent_unpack(&regvault__agent__v1__restore_lock_request__descriptor, in);
	if (!rq)
		return rv_fail(-EINVAL, "the restore lock request could not be read");
	int r = 0;
	if (rq->member && *rq->member && strcmp(rq->member, own) != 0)
		r = rv_fail(-EBUSY, "member %s is not on this host, whose member is %s", rq->member, own);
	else if (!rq->coordinator || !*rq->coordinator)
		r = rv_fail(-EINVAL, "the restore lock request names no coordinator");
	else if (rq->release)
		agent_lock_release(cfg, rq->coordinator);
	else
		r = agent_lock_hold(cfg, own, rq->coordinator);
	if (r == 0) {
		Regvault__Agent__V1__RestoreLockResponse a = REGVAULT__AGENT__V1__RESTORE_LOCK_RESPONSE__INIT;
		a.holder = rq->release ? "" : rq->coordinator;
		*resp = agent_pack(&a.base);
	}
	protobuf_c_message_free_unpacked(&rq->base, NULL);
	return r;
}

/* ---- the coordinator's side ---- */

struct renewer {
	struct agent_coord_lock *l;
	size_t idx;
	pthread_t t;
	bool started, held;
};

struct agent_coord_lock {
	const struct rv_config *c;
	char id[512];
	struct rv_cancel stop;
	struct renewer *r;
};

static int lock_call(const struct rv_config *c, size_t idx, const char *id, bool release, int64_t timeout_ms)
{
	Regvault__Agent__V1__RestoreLockRequest rq = REGVAULT__AGENT__V1__RESTORE_LOCK_REQUEST__INIT;
	rq.member = c->cluster.members[idx].name;
	rq.coordinator = (char *)id;
	rq.release = release;
	ProtobufCMessage *m = NULL;
	int r = agent_unary(c, idx, AGENT_RESTORE_LOCK, &rq.base, &regvault__agent__v1__restore_lock_response__descriptor,
			    timeout_ms, &m);
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	return r;
}

/* A host busy with a long step of ours does not answer in time: the step renews
 * the lock itself when it ends, so a missed renewal is only noted. */
static void *renew_main(void *arg)
{
	struct renewer *w = arg;
	while (rv_sleep_cancellable(RENEW_MS, &w->l->stop) == 0) {
		int r = lock_call(w->l->c, w->idx, w->l->id, false, RENEW_MS);
		if (r == 0)
			w->held = true; /* a host skipped at the start is back */
		if (r < 0) {
			rv_debug("renewing the coordinator lock: %s", rv_errmsg(r));
			rv_err_clear();
		}
	}
	return NULL;
}

static void make_id(const struct rv_config *c, char *out, size_t len)
{
	char own[128] = "", host[256] = "", when[21];
	if (config_own_member(c, own, sizeof own) < 0)
		rv_err_clear();
	gethostname(host, sizeof host - 1);
	rv_utc_rfc3339(rv_now_unix(), when);
	/* the nanoseconds make two coordinators of one second and pid apart */
	snprintf(out, len, "the restore coordinated from %s%s%s (pid %d, started %s, #%06ld)",
		 own[0] ? own : host, own[0] ? "'s host " : "", own[0] ? host : "", (int)getpid(), when,
		 (long)((int64_t)(rv_now_mono() * 1e9) % 1000000));
}

int agent_coord_lock(const struct rv_config *c, int wait_ms, bool skip_unreachable, const struct rv_cancel *cancel,
		     struct agent_coord_lock **out)
{
	size_t n = c->cluster.n_members;
	struct agent_coord_lock *l = rv_xcalloc(1, sizeof *l);
	l->c = c;
	l->r = rv_xcalloc(n, sizeof *l->r);
	make_id(c, l->id, sizeof l->id);
	*out = NULL;
	double until = rv_now_mono() + wait_ms / 1000.0;
	bool said = false;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		for (;;) {
			r = lock_call(c, i, l->id, false, 0);
			if (r != -EBUSY || rv_now_mono() >= until || rv_cancelled(cancel))
				break;
			if (!said)
				rv_info("%s; waiting up to %d s", rv_errmsg(r), wait_ms / 1000);
			said = true;
			rv_err_clear();
			rv_sleep_cancellable(1000, cancel);
		}
		l->r[i].held = r == 0;
		if (skip_unreachable && (r == -ETIMEDOUT || r == -ECONNREFUSED)) {
			rv_warn("%s; going on without its coordinator lock", rv_errmsg(r));
			rv_err_clear();
			r = 0;
		}
	}
	if (r < 0) {
		char msg[2048];
		snprintf(msg, sizeof msg, "%s", rv_errmsg(r));
		rv_err_clear();
		agent_coord_unlock(l);
		return rv_fail(r, "%s", msg);
	}
	for (size_t i = 0; i < n; i++) {
		l->r[i].l = l;
		l->r[i].idx = i;
		l->r[i].started = pthread_create(&l->r[i].t, NULL, renew_main, &l->r[i]) == 0;
	}
	*out = l;
	return 0;
}

const char *agent_coord_lock_id(const struct agent_coord_lock *l)
{
	return l ? l->id : "";
}

void agent_coord_unlock(struct agent_coord_lock *l)
{
	if (!l)
		return;
	rv_cancel_request(&l->stop);
	for (size_t i = 0; i < l->c->cluster.n_members; i++)
		if (l->r[i].started)
			pthread_join(l->r[i].t, NULL);
	for (size_t i = 0; i < l->c->cluster.n_members; i++) {
		int r = l->r[i].held ? lock_call(l->c, i, l->id, true, 0) : 0;
		if (r < 0) {
			rv_warn("%s; its coordinator lock lapses by itself in %d s", rv_errmsg(r), AGENT_LOCK_TTL_MS / 1000);
			rv_err_clear();
		}
	}
	free(l->r);
	free(l);
}
