/* daemon_leader.c - one leader among the daemons of a cluster, elected through etcd.
 *
 * Each daemon holds a lease (daemon.leader_ttl, 10 s) kept alive over one stream,
 * and tries a transaction that creates /regvault/<cluster>/leader with its member's
 * name under that lease only if the key does not exist (create revision 0), with
 * /regvault/<cluster>/leader-info (host, pid) beside it under the same lease. The
 * holder leads until its lease ends; the others watch the key and try again when it
 * is deleted. A leader that cannot renew its lease steps down before the lease can
 * have run out on the server (a third of the TTL kept in hand), so two daemons never
 * both believe they lead. Without quorum there is no leader: nobody can write the key.
 *
 * A daemon restarted on the host of the leader that died (SIGKILL, a crash) would
 * otherwise wait out the dead one's lease: when leader-info names this host and a
 * pid that no longer runs here, that lease is revoked and the election is held at
 * once; so is this daemon's own older lease, which a restore can bring back with the
 * key. Nothing else is ever revoked. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scheduler/daemon_impl.h"

struct leader_election {
	pthread_t thread;
	pthread_mutex_t mu;
	bool started;
	struct rv_cancel stop;
	int wake_fd;
	struct cfg_ref *cfg;
	char me[64];          /* this daemon's member */
	char leader[64];      /* the leader's member, "" none known */
	bool am_leader;
	char why[512];        /* why there is no leader, for status */
	int64_t since_ms;     /* unix ms the current leader was seen taking over */
	uint64_t changes;
};

static void set_state(struct leader_election *e, const char *leader, bool me, const char *why)
{
	pthread_mutex_lock(&e->mu);
	bool changed = strcmp(e->leader, leader) != 0 || e->am_leader != me;
	if (changed) {
		snprintf(e->leader, sizeof e->leader, "%s", leader);
		e->am_leader = me;
		e->since_ms = rv_now_unix_ms();
		e->changes++;
	}
	snprintf(e->why, sizeof e->why, "%s", why ? why : "");
	pthread_mutex_unlock(&e->mu);
	if (changed) {
		if (me)
			rv_info("this daemon (member %s) is the leader: it runs the cluster-wide jobs", e->me);
		else if (leader[0])
			rv_info("the daemon of member %s is the leader", leader);
		else if (rv_cancelled(&e->stop))
			rv_info("this daemon resigned as the leader");
		else
			rv_warn("no daemon is the leader%s%s", why && *why ? ": " : "", why ? why : "");
		daemon_wake(e->wake_fd);
	}
}

struct keys {
	char *leader, *info;
};

/* The dead leader of this host's lease, revoked (see the top). */
static void revoke_dead_local_leader(etcd_client *c, const struct keys *k, int64_t own_lease)
{
	struct etcd_range_req q = {.key = k->info, .key_len = strlen(k->info)};
	struct etcd_range_resp rr = {0};
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	if (etcd_range(c, ETCD_ANY, &q, &rr) == 0 && rr.n_kvs == 1) {
		json_t *j = json_loadb((const char *)rr.kvs[0].value, rr.kvs[0].value_len, 0, NULL);
		const char *h = json_string_value(json_object_get(j, "host"));
		json_int_t pid = json_integer_value(json_object_get(j, "pid"));
		/* this process's own older lease (etcd came back from a restore with it), or
		 * a dead daemon's of this host */
		bool own = pid == getpid(), dead = pid > 0 && !own && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
		if (h && strcmp(h, host) == 0 && (own || dead) && rr.kvs[0].lease && rr.kvs[0].lease != own_lease) {
			if (dead)
				rv_info("the leader's daemon of this host (pid %lld) is gone; its lease is revoked rather than "
					"waited out", (long long)pid);
			etcd_lease_revoke(c, rr.kvs[0].lease);
		}
		json_decref(j);
	}
	etcd_range_resp_free(&rr);
	rv_err_clear();
}

/* One try: 1 won, 0 another leads (*who), negative errno. */
static int campaign(etcd_client *c, const struct keys *k, const char *me, int64_t lease, char *who, size_t wlen,
		    int64_t *rev)
{
	char host[256] = "", *info = NULL;
	gethostname(host, sizeof host - 1);
	json_t *j = json_pack("{s:s, s:s, s:I}", "member", me, "host", host, "pid", (json_int_t)getpid());
	info = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	struct etcd_compare cmp = {.key = k->leader, .key_len = strlen(k->leader), .target = ETCD_CMP_CREATE,
				   .result = ETCD_CMP_EQUAL, .number = 0};
	struct etcd_op ok[2] = {
		{.type = ETCD_OP_PUT, .key = k->leader, .key_len = strlen(k->leader), .value = me, .value_len = strlen(me),
		 .lease = lease},
		{.type = ETCD_OP_PUT, .key = k->info, .key_len = strlen(k->info), .value = info, .value_len = strlen(info),
		 .lease = lease},
	};
	struct etcd_op get = {.type = ETCD_OP_RANGE, .key = k->leader, .key_len = strlen(k->leader)};
	struct etcd_txn_req req = {.cmp = &cmp, .n_cmp = 1, .success = ok, .n_success = 2, .failure = &get, .n_failure = 1};
	struct etcd_txn_resp resp = {0};
	int r = etcd_txn(c, &req, &resp);
	free(info);
	if (r < 0)
		return r;
	*rev = resp.hdr.revision;
	if (resp.succeeded) {
		snprintf(who, wlen, "%s", me);
		r = 1;
	} else {
		who[0] = 0;
		if (resp.n_resps == 1 && resp.resps[0].n_kvs == 1)
			snprintf(who, wlen, "%.*s", (int)resp.resps[0].kvs[0].value_len, (const char *)resp.resps[0].kvs[0].value);
		r = 0;
	}
	etcd_txn_resp_free(&resp);
	return r;
}

/* Renew the lease once over the stream: 0, -ENOENT gone, or the stream's error. */
static int renew(etcd_keepalive *ka, int64_t lease, int timeout_ms, const struct rv_cancel *stop)
{
	int64_t id = 0, ttl = 0;
	int r = etcd_keepalive_send(ka, lease);
	if (r < 0)
		return r;
	r = etcd_keepalive_read(ka, timeout_ms, stop, &id, &ttl, NULL);
	if (r == 0 && ttl <= 0)
		r = -ENOENT;
	return r;
}

/* Until the leader key is deleted (or ms pass, or the watch breaks). */
static void watch_for_delete(etcd_client *c, const struct keys *k, int64_t from_rev, int64_t ms, const struct rv_cancel *stop)
{
	struct etcd_watch_opts o = {.key = k->leader, .key_len = strlen(k->leader), .start_revision = from_rev + 1};
	etcd_watch *w = NULL;
	if (etcd_watch_open(c, ETCD_ANY, &o, &w) < 0) {
		rv_err_clear();
		rv_sleep_cancellable(ms < 1000 ? ms : 1000, stop);
		return;
	}
	int64_t end = daemon_mono_ms() + ms;
	while (!rv_cancelled(stop) && daemon_mono_ms() < end) {
		struct etcd_watch_resp wr = {0};
		int r = etcd_watch_read(w, 500, stop, &wr);
		bool deleted = false;
		for (size_t i = 0; r == 0 && i < wr.n_events; i++)
			deleted |= wr.events[i].type == ETCD_EVENT_DELETE;
		etcd_watch_resp_free(&wr);
		if (deleted || (r < 0 && r != -EAGAIN))
			break;
	}
	rv_err_clear();
	etcd_watch_close(w);
}

static void *election_main(void *arg)
{
	struct leader_election *e = arg;
	const struct rv_config *cfg = &e->cfg->cfg;
	char *state = NULL;
	struct keys k = {0};
	etcd_client *c = NULL;
	int64_t ttl_s = cfg->daemon.leader_ttl_ms / 1000;
	if (ttl_s < 3)
		ttl_s = 3;
	if (asprintf(&state, "/regvault/%s", cfg->cluster.name ? cfg->cluster.name : "default") < 0 ||
	    asprintf(&k.leader, "%s/leader", state) < 0 || asprintf(&k.info, "%s/leader-info", state) < 0)
		goto out;
	int cr = cluster_client_new(&cfg->cluster, 3000, &c);
	if (cr < 0) {
		set_state(e, "", false, rv_errmsg(cr));
		rv_err_clear();
		goto out;
	}

	while (!rv_cancelled(&e->stop)) {
		int64_t lease = 0, granted = 0;
		etcd_keepalive *ka = NULL;
		int r = etcd_lease_grant(c, ttl_s, &lease, &granted);
		if (r == 0)
			r = etcd_keepalive_open(c, ETCD_ANY, &ka);
		if (r < 0) {
			char why[400];
			snprintf(why, sizeof why, "etcd does not answer or has no quorum (%s)", rv_errmsg(r));
			set_state(e, "", false, why);
			rv_err_clear();
			if (lease)
				etcd_lease_revoke(c, lease);
			rv_sleep_cancellable(1000, &e->stop);
			continue;
		}
		int64_t last_renew = daemon_mono_ms(), period = ttl_s * 1000 / 3;
		bool tried_revoke = false;
		while (!rv_cancelled(&e->stop)) {
			char who[64] = "";
			int64_t rev = 0;
			r = campaign(c, &k, e->me, lease, who, sizeof who, &rev);
			if (r == 1) {
				set_state(e, e->me, true, NULL);
				/* lead while the lease is renewed; step down with a third of it in hand */
				while (!rv_cancelled(&e->stop)) {
					if (rv_sleep_cancellable(period, &e->stop) < 0)
						break;
					int rr = renew(ka, lease, (int)period, &e->stop);
					if (rr == 0) {
						last_renew = daemon_mono_ms();
						continue;
					}
					if (rr == -EINTR)
						break;
					rv_err_clear();
					if (rr == -ENOENT || daemon_mono_ms() - last_renew > 2 * period) {
						set_state(e, "", false, "this daemon's leader lease could not be renewed");
						break;
					}
				}
				break; /* a new lease and a new campaign */
			}
			if (r < 0) {
				char why[400];
				snprintf(why, sizeof why, "etcd does not answer or has no quorum (%s)", rv_errmsg(r));
				set_state(e, "", false, why);
				rv_err_clear();
				rv_sleep_cancellable(1000, &e->stop);
			} else {
				set_state(e, who, false, who[0] ? NULL : "the leader key is there without a name");
				if (!tried_revoke) {
					tried_revoke = true;
					revoke_dead_local_leader(c, &k, lease);
				}
				watch_for_delete(c, &k, rev, period, &e->stop);
			}
			/* our own lease, kept while we wait to lead */
			int rr = renew(ka, lease, (int)period, &e->stop);
			if (rr == 0)
				last_renew = daemon_mono_ms();
			else {
				rv_err_clear();
				if (rr != -EINTR)
					break;
			}
		}
		etcd_keepalive_close(ka);
		if (rv_cancelled(&e->stop) || !e->am_leader) {
			/* resign: the key goes with the lease, and another takes over at once */
			etcd_lease_revoke(c, lease);
			rv_err_clear();
		}
	}
	if (e->am_leader)
		set_state(e, "", false, "this daemon stopped");
out:
	etcd_client_free(c);
	free(k.leader);
	free(k.info);
	free(state);
	return NULL;
}

int leader_start(struct cfg_ref *cfg, int wake_fd, struct leader_election **out)
{
	struct leader_election *e = rv_xcalloc(1, sizeof *e);
	pthread_mutex_init(&e->mu, NULL);
	e->wake_fd = wake_fd;
	int r = daemon_own_member(&cfg->cfg, e->me, sizeof e->me);
	if (r < 0) {
		pthread_mutex_destroy(&e->mu);
		free(e);
		return r;
	}
	e->cfg = cfg_ref_get(cfg);
	snprintf(e->why, sizeof e->why, "the election has not been held yet");
	if ((r = pthread_create(&e->thread, NULL, election_main, e)) != 0) {
		cfg_ref_put(e->cfg);
		pthread_mutex_destroy(&e->mu);
		free(e);
		return rv_fail(-r, "cannot start the leader election thread: %s", strerror(r));
	}
	e->started = true;
	*out = e;
	return 0;
}

bool leader_is_me(struct leader_election *e)
{
	if (!e)
		return false;
	pthread_mutex_lock(&e->mu);
	bool me = e->am_leader;
	pthread_mutex_unlock(&e->mu);
	return me;
}

void leader_get(struct leader_election *e, char *leader, size_t len, char *why, size_t wlen)
{
	if (!e) {
		snprintf(leader, len, "%s", "");
		if (why)
			snprintf(why, wlen, "%s", "the election has not started");
		return;
	}
	pthread_mutex_lock(&e->mu);
	snprintf(leader, len, "%s", e->leader);
	if (why)
		snprintf(why, wlen, "%s", e->why);
	pthread_mutex_unlock(&e->mu);
}

const char *leader_member(struct leader_election *e)
{
	return e ? e->me : "";
}

void leader_stop(struct leader_election *e)
{
	if (!e)
		return;
	rv_cancel_request(&e->stop);
	if (e->started)
		pthread_join(e->thread, NULL);
	cfg_ref_put(e->cfg);
	pthread_mutex_destroy(&e->mu);
	free(e);
}
