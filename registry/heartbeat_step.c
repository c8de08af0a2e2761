/* heartbeat_step.c - the etcd work of one heartbeat target, run on an etcd worker
 * thread while the target is busy (heartbeat_impl.h): grant a lease and claim the
 * namespace, write the health key, look again at another owner's claim, revoke.
 *
 * The claim key (<state_prefix>/heartbeat/<ns>) and the health key are under the
 * same lease. Each heartbeat is one Txn: "if the claim key is still the one we
 * created (its mod_revision), put the health key under our lease, else read the
 * claim". A lease that expired or was revoked took the claim with it, so the Txn
 * tells us without another call, and a key never gets a second writer. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "registry/heartbeat_impl.h"

void hb_json_str(struct rv_buf *b, const char *s)
{
	rv_buf_append(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			rv_buf_printf(b, "\\%c", *p);
		else if (*p < 0x20)
			rv_buf_printf(b, "\\u%04x", *p);
		else
			rv_buf_append(b, p, 1);
	}
	rv_buf_append(b, "\"", 1);
}

bool hb_unreachable(int r)
{
	return r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -EPIPE || r == -ECONNREFUSED || r == -ECONNRESET ||
	       r == -EAGAIN;
}

void hb_note_etcd_result(struct heartbeat *h, int r)
{
	if (r < 0 && !hb_unreachable(r))
		return;
	pthread_mutex_lock(&h->mu);
	if (r == 0) {
		h->backoff_ms = 0;
	} else {
		/* etcd does not answer: the other targets wait a moment instead of each
		 * spending a timeout on it */
		int64_t cap = h->interval_ms < 5000 ? h->interval_ms : 5000;
		h->backoff_ms = h->backoff_ms ? h->backoff_ms * 2 : 250;
		if (h->backoff_ms > cap)
			h->backoff_ms = cap;
		h->backoff_until = rv_now_mono() + (double)h->backoff_ms / 1000;
	}
	pthread_mutex_unlock(&h->mu);
}

static double backoff_s(struct heartbeat *h)
{
	pthread_mutex_lock(&h->mu);
	int64_t ms = h->backoff_ms ? h->backoff_ms : 250;
	pthread_mutex_unlock(&h->mu);
	return (double)ms / 1000;
}

/* Set the published state; status NULL keeps it. */
static void publish(struct heartbeat *h, struct hb_target *t, const char *status, const char *detail)
{
	pthread_mutex_lock(&h->mu);
	if (status)
		t->st.status = status;
	if (detail)
		snprintf(t->st.detail, sizeof t->st.detail, "%s", detail);
	t->st.lease = t->lease;
	pthread_mutex_unlock(&h->mu);
}

static void claim_value(struct heartbeat *h, struct rv_buf *b)
{
	rv_buf_append(b, "{\"owner\":", 9);
	hb_json_str(b, h->owner);
	rv_buf_printf(b, ",\"pid\":%d,\"host\":", (int)h->pid);
	hb_json_str(b, h->host);
	rv_buf_append(b, "}", 1);
}

/* Who holds a claim, from its value: "OWNER" (or the raw text when it is not ours). */
struct claim_info {
	char owner[200];
	char host[128];
	long pid;
};
static void parse_claim(const struct etcd_kv *kv, struct claim_info *ci)
{
	memset(ci, 0, sizeof *ci);
	json_t *j = json_loadb((const char *)kv->value, kv->value_len, 0, NULL);
	const char *owner = j ? json_string_value(json_object_get(j, "owner")) : NULL;
	const char *host = j ? json_string_value(json_object_get(j, "host")) : NULL;
	if (owner)
		snprintf(ci->owner, sizeof ci->owner, "%s", owner);
	else
		snprintf(ci->owner, sizeof ci->owner, "%.*s", (int)(kv->value_len < 150 ? kv->value_len : 150),
			 (const char *)kv->value);
	if (host)
		snprintf(ci->host, sizeof ci->host, "%s", host);
	if (j && json_is_integer(json_object_get(j, "pid")))
		ci->pid = (long)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	char buf[200];
	const char *p = rv_printable(ci->owner, buf, sizeof buf);
	if (p != ci->owner)
		snprintf(ci->owner, sizeof ci->owner, "%s", buf);
}

/* A claim made on this host by a process that is gone (killed outright: its lease
 * lives on until the TTL) may be taken over at once. */
static bool claim_is_stale_for(const char *host, pid_t pid, const struct claim_info *ci)
{
	if (!ci->host[0] || strcmp(ci->host, host) != 0 || ci->pid <= 1 || ci->pid == (long)pid)
		return false;
	return kill((pid_t)ci->pid, 0) < 0 && errno == ESRCH;
}

static bool claim_is_stale(struct heartbeat *h, const struct claim_info *ci)
{
	return claim_is_stale_for(h->host, h->pid, ci);
}

static void revoke_quietly(struct heartbeat *h, int64_t lease)
{
	if (!lease)
		return;
	int r = etcd_lease_revoke(h->c, lease);
	if (r < 0 && r != -ENOENT)
		rv_debug("revoking lease %" PRIx64 ": %s", (uint64_t)lease, rv_errmsg(r));
}

static void set_claimed(struct heartbeat *h, struct hb_target *t, const struct claim_info *ci)
{
	if (strcmp(t->owner_seen, ci->owner) != 0 || t->state != HB_CLAIMED)
		rv_warn("heartbeat of %s: kept by %s; looking again every interval", t->ns, ci->owner);
	snprintf(t->owner_seen, sizeof t->owner_seen, "%s", ci->owner);
	t->state = HB_CLAIMED;
	t->lease = 0;
	t->claim_rev = 0;
	t->due = rv_now_mono() + (double)h->interval_ms / 1000;
	publish(h, t, "claimed", ci->owner);
}

/* The first heartbeats of many targets started together are spread over the
 * interval, so that a thousand do not all write in the same second forever. */
static double first_period_s(struct heartbeat *h, const char *ns)
{
	uint32_t x = 2166136261u;
	for (const char *p = ns; *p; p++)
		x = (x ^ (unsigned char)*p) * 16777619u;
	double u = (double)(x % 1000) / 1000;
	return (double)h->interval_ms / 1000 * (0.5 + 0.5 * u);
}

static void write_heartbeat(struct heartbeat *h, struct hb_target *t, int depth);

/* The claim Txn: create the claim key under our lease when nobody has it. */
static void claim(struct heartbeat *h, struct hb_target *t, int depth)
{
	struct rv_buf val = {0};
	claim_value(h, &val);
	struct etcd_compare cmp = {.key = t->claim_key,
				   .key_len = strlen(t->claim_key),
				   .target = ETCD_CMP_CREATE,
				   .result = ETCD_CMP_EQUAL,
				   .number = 0};
	struct etcd_op put = {.type = ETCD_OP_PUT,
			      .key = t->claim_key,
			      .key_len = strlen(t->claim_key),
			      .value = val.data,
			      .value_len = val.len,
			      .lease = t->lease};
	struct etcd_op get = {.type = ETCD_OP_RANGE, .key = t->claim_key, .key_len = strlen(t->claim_key)};
	struct etcd_txn_req req = {.cmp = &cmp, .n_cmp = 1, .success = &put, .n_success = 1, .failure = &get,
				   .n_failure = 1};
	struct etcd_txn_resp resp = {0};
	int r = etcd_txn(h->c, &req, &resp);
	rv_buf_free(&val);
	hb_note_etcd_result(h, r);
	if (r < 0) {
		/* it may have been applied: the next try revokes this lease first */
		rv_debug("heartbeat of %s: claiming: %s", t->ns, rv_errmsg(r));
		t->retry_at = rv_now_mono() + backoff_s(h);
		return;
	}
	if (resp.succeeded) {
		t->claim_rev = resp.hdr.revision;
		t->state = HB_HELD;
		if (t->ever_granted)
			rv_info("heartbeat of %s: lease %" PRIx64 " granted again (ttl %" PRId64 " s)", t->ns,
				(uint64_t)t->lease, h->ttl_s);
		else
			rv_info("heartbeat of %s: lease %" PRIx64 " granted (ttl %" PRId64 " s)", t->ns,
				(uint64_t)t->lease, h->ttl_s);
		t->ever_granted = true;
		t->owner_seen[0] = 0;
		etcd_txn_resp_free(&resp);
		pthread_mutex_lock(&h->mu);
		bool has_check = t->check.kind != HEALTH_CHECK_NONE, known = t->check_known;
		t->st.lease = t->lease;
		if (!strcmp(t->st.status, "claimed"))
			t->st.status = "pending", t->st.detail[0] = 0;
		pthread_mutex_unlock(&h->mu);
		if (!has_check || known) {
			/* the health key now, with what is known */
			t->due = rv_now_mono() + first_period_s(h, t->ns);
			write_heartbeat(h, t, depth + 1);
		} else {
			t->due = rv_now_mono(); /* the run loop starts the check and writes on its answer */
		}
		return;
	}
	/* somebody holds it */
	struct etcd_kv *kv = resp.n_resps && resp.resps[0].n_kvs ? &resp.resps[0].kvs[0] : NULL;
	if (!kv) { /* gone between the compare and the read: try again at once */
		etcd_txn_resp_free(&resp);
		if (depth < 3)
			claim(h, t, depth + 1);
		return;
	}
	if (kv->lease == t->lease) { /* ours: a timed-out try that was applied */
		t->claim_rev = kv->mod_revision;
		t->state = HB_HELD;
		etcd_txn_resp_free(&resp);
		write_heartbeat(h, t, depth + 1);
		return;
	}
	struct claim_info ci;
	parse_claim(kv, &ci);
	if (claim_is_stale(h, &ci) && depth < 3) {
		rv_info("heartbeat of %s: taking over the claim of %s, whose process is gone", t->ns, ci.owner);
		if (kv->lease)
			revoke_quietly(h, kv->lease);
		else
			etcd_delete_range(h->c, kv->key, kv->key_len, NULL, 0, NULL);
		etcd_txn_resp_free(&resp);
		claim(h, t, depth + 1);
		return;
	}
	etcd_txn_resp_free(&resp);
	revoke_quietly(h, t->lease);
	set_claimed(h, t, &ci);
}

/* No lease or no claim: grant, then claim. */
static void acquire(struct heartbeat *h, struct hb_target *t, int depth)
{
	if (t->lease_lost) {
		if (t->claim_lost)
			rv_warn("heartbeat of %s: lease %" PRIx64 " or its claim is gone (expired, revoked or deleted); "
				"granting a new one",
				t->ns, (uint64_t)t->lease);
		else
			rv_warn("heartbeat of %s: lease %" PRIx64 " is gone (expired or revoked); granting a new one",
				t->ns, (uint64_t)t->lease);
		t->lease_lost = false;
		t->claim_lost = false;
		pthread_mutex_lock(&h->mu);
		h->totals.leases_lost++;
		pthread_mutex_unlock(&h->mu);
	}
	/* the old lease may live on (a claim deleted by hand): its keys go with it */
	revoke_quietly(h, t->lease);
	t->lease = 0;
	t->claim_rev = 0;
	int64_t id = 0, granted = 0;
	int r = etcd_lease_grant(h->c, h->ttl_s, &id, &granted);
	hb_note_etcd_result(h, r);
	if (r < 0) {
		rv_debug("heartbeat of %s: granting a lease: %s", t->ns, rv_errmsg(r));
		t->retry_at = rv_now_mono() + backoff_s(h);
		publish(h, t, NULL, NULL);
		return;
	}
	t->lease = id;
	publish(h, t, NULL, NULL);
	claim(h, t, depth);
}

/* Another owner's claim: is it still there? */
static void look_again(struct heartbeat *h, struct hb_target *t)
{
	struct etcd_range_req rq = {.key = t->claim_key, .key_len = strlen(t->claim_key)};
	struct etcd_range_resp rs = {0};
	int r = etcd_range(h->c, ETCD_ANY, &rq, &rs);
	hb_note_etcd_result(h, r);
	if (r < 0) {
		rv_debug("heartbeat of %s: reading its claim: %s", t->ns, rv_errmsg(r));
		return;
	}
	struct claim_info ci;
	bool held = rs.n_kvs > 0;
	if (held)
		parse_claim(&rs.kvs[0], &ci);
	etcd_range_resp_free(&rs);
	if (held && !claim_is_stale(h, &ci)) {
		set_claimed(h, t, &ci);
		return;
	}
	rv_info("heartbeat of %s: %s; taking it", t->ns, held ? "the process that kept it is gone" : "no longer kept by another");
	t->state = HB_ACQUIRE;
	acquire(h, t, 0);
}

static void health_value(struct rv_buf *b, const char *ns, bool healthy, const char *detail, int64_t count)
{
	char ts[21];
	rv_utc_rfc3339(rv_now_unix(), ts);
	rv_buf_printf(b, "{\"status\":\"%s\",\"timestamp\":\"%s\",\"namespace\":", healthy ? "healthy" : "unhealthy", ts);
	hb_json_str(b, ns);
	rv_buf_printf(b, ",\"heartbeat_count\":%" PRId64, count);
	if (!healthy) {
		rv_buf_append(b, ",\"detail\":", 10);
		hb_json_str(b, detail);
	}
	rv_buf_append(b, "}", 1);
}

/* A heartbeat was written: publish it, log a change of health. */
static void written(struct heartbeat *h, struct hb_target *t, bool healthy, const char *detail, int64_t count)
{
	pthread_mutex_lock(&h->mu);
	t->st.count = count;
	t->st.last_ms = rv_now_unix_ms();
	t->st.status = healthy ? "healthy" : "unhealthy";
	snprintf(t->st.detail, sizeof t->st.detail, "%s", healthy ? "" : detail);
	t->st.lease = t->lease;
	h->totals.writes++;
	pthread_mutex_unlock(&h->mu);
	if (!healthy && (!t->written_healthy_known || t->written_healthy))
		rv_warn("heartbeat of %s: unhealthy: %s", t->ns, detail);
	else if (healthy && t->written_healthy_known && !t->written_healthy)
		rv_info("heartbeat of %s: healthy again", t->ns);
	t->written_healthy_known = true;
	t->written_healthy = healthy;
}

/* The heartbeat Txn of one target. */
static void write_heartbeat(struct heartbeat *h, struct hb_target *t, int depth)
{
	char detail[256];
	pthread_mutex_lock(&h->mu);
	bool has_check = t->check.kind != HEALTH_CHECK_NONE, known = t->check_known;
	bool healthy = !has_check || t->check_healthy;
	snprintf(detail, sizeof detail, "%s", t->check_detail);
	int64_t count = t->st.count + 1;
	pthread_mutex_unlock(&h->mu);
	if (has_check && !known)
		return; /* nothing to say yet: written when the first check answers */

	struct rv_buf val = {0};
	health_value(&val, t->ns, healthy, detail, count);
	struct etcd_compare cmp = {.key = t->claim_key,
				   .key_len = strlen(t->claim_key),
				   .target = ETCD_CMP_MOD,
				   .result = ETCD_CMP_EQUAL,
				   .number = t->claim_rev};
	struct etcd_op put = {.type = ETCD_OP_PUT,
			      .key = t->health_key,
			      .key_len = strlen(t->health_key),
			      .value = val.data,
			      .value_len = val.len,
			      .lease = t->lease};
	struct etcd_op get = {.type = ETCD_OP_RANGE, .key = t->claim_key, .key_len = strlen(t->claim_key)};
	struct etcd_txn_req req = {.cmp = &cmp, .n_cmp = 1, .success = &put, .n_success = 1, .failure = &get,
				   .n_failure = 1};
	struct etcd_txn_resp resp = {0};
	int r = etcd_txn(h->c, &req, &resp);
	rv_buf_free(&val);
	hb_note_etcd_result(h, r);
	if (r == -ENOENT) { /* "requested lease not found" */
		t->lease_lost = true;
		t->state = HB_ACQUIRE;
		if (depth < 3)
			acquire(h, t, depth + 1);
		return;
	}
	if (r < 0) {
		rv_debug("heartbeat of %s: writing: %s", t->ns, rv_errmsg(r));
		t->write_due = true; /* again when etcd answers */
		return;
	}
	if (!resp.succeeded) {
		struct etcd_kv *kv = resp.n_resps && resp.resps[0].n_kvs ? &resp.resps[0].kvs[0] : NULL;
		if (!kv) { /* the claim went with the lease */
			etcd_txn_resp_free(&resp);
			t->lease_lost = true;
			t->claim_lost = true;
			t->state = HB_ACQUIRE;
			if (depth < 3)
				acquire(h, t, depth + 1);
			return;
		}
		if (kv->lease == t->lease && depth < 3) { /* ours, rewritten by hand: go on with it */
			t->claim_rev = kv->mod_revision;
			etcd_txn_resp_free(&resp);
			write_heartbeat(h, t, depth + 1);
			return;
		}
		struct claim_info ci;
		parse_claim(kv, &ci);
		etcd_txn_resp_free(&resp);
		revoke_quietly(h, t->lease);
		set_claimed(h, t, &ci);
		return;
	}
	etcd_txn_resp_free(&resp);
	written(h, t, healthy, detail, count);
}

/* ---- many heartbeats in one Txn ----
 * In the steady state every claim still holds, so the heartbeats that come due
 * together are written by one Txn: "if every claim is still ours, put every health
 * key". When one compare fails (a lease lost, a claim taken) the Txn writes nothing
 * and each is written on its own, which finds out which and why. A Txn per
 * heartbeat would cost a thousand calls per interval for a thousand services. */
void hb_write_batch(struct heartbeat *h, struct hb_target **tv, size_t n)
{
	struct etcd_compare *cmp = rv_xcalloc(n, sizeof *cmp);
	struct etcd_op *put = rv_xcalloc(n, sizeof *put);
	struct rv_buf *val = rv_xcalloc(n, sizeof *val);
	bool *healthy = rv_xcalloc(n, sizeof *healthy);
	int64_t *count = rv_xcalloc(n, sizeof *count);
	char(*detail)[256] = rv_xcalloc(n, sizeof *detail);
	struct hb_target **in = rv_xcalloc(n, sizeof *in);
	size_t k = 0;

	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < n; i++) {
		struct hb_target *t = tv[i];
		bool has_check = t->check.kind != HEALTH_CHECK_NONE;
		if (t->state != HB_HELD || (has_check && !t->check_known))
			continue; /* nothing to write (yet) */
		in[k] = t;
		healthy[k] = !has_check || t->check_healthy;
		snprintf(detail[k], sizeof detail[k], "%s", t->check_detail);
		count[k] = t->st.count + 1;
		k++;
	}
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; i < k; i++) {
		struct hb_target *t = in[i];
		health_value(&val[i], t->ns, healthy[i], detail[i], count[i]);
		cmp[i] = (struct etcd_compare){.key = t->claim_key,
					       .key_len = strlen(t->claim_key),
					       .target = ETCD_CMP_MOD,
					       .result = ETCD_CMP_EQUAL,
					       .number = t->claim_rev};
		put[i] = (struct etcd_op){.type = ETCD_OP_PUT,
					  .key = t->health_key,
					  .key_len = strlen(t->health_key),
					  .value = val[i].data,
					  .value_len = val[i].len,
					  .lease = t->lease};
	}
	int r = 0;
	bool ok = false;
	if (k == 1) { /* alone: the Txn that also tells why it failed */
		rv_buf_free(&val[0]);
		write_heartbeat(h, in[0], 0);
		k = 0;
	} else if (k > 1) {
		struct etcd_txn_req req = {.cmp = cmp, .n_cmp = k, .success = put, .n_success = k};
		struct etcd_txn_resp resp = {0};
		r = etcd_txn(h->c, &req, &resp);
		hb_note_etcd_result(h, r);
		ok = r == 0 && resp.succeeded;
		if (r == 0)
			etcd_txn_resp_free(&resp);
	}
	for (size_t i = 0; i < k; i++) {
		if (ok)
			written(h, in[i], healthy[i], detail[i], count[i]);
		else if (r < 0 && hb_unreachable(r))
			in[i]->write_due = true; /* again when etcd answers */
		else
			write_heartbeat(h, in[i], 0); /* one of them failed: each on its own */
		rv_buf_free(&val[i]);
	}
	if (r < 0 && hb_unreachable(r))
		rv_debug("writing %zu heartbeats: %s", k, rv_errmsg(r));
	free(cmp);
	free(put);
	free(val);
	free(healthy);
	free(count);
	free(detail);
	free(in);
}

static void revoke_target(struct heartbeat *h, struct hb_target *t)
{
	if (!t->lease)
		goto done;
	pthread_mutex_lock(&h->mu);
	bool stopping = h->stopping, gave_up = h->revoke_gave_up;
	pthread_mutex_unlock(&h->mu);
	int r = gave_up ? -EHOSTUNREACH : etcd_lease_revoke(h->c, t->lease);
	if (r < 0 && r != -ENOENT) {
		pthread_mutex_lock(&h->mu);
		h->revoke_failed++;
		/* at the stop, etcd not answering: the rest go by their TTL, not by a
		 * timeout each */
		if (stopping && hb_unreachable(r) && !h->revoke_gave_up) {
			h->revoke_gave_up = true;
			pthread_mutex_unlock(&h->mu);
			rv_warn("cannot revoke the heartbeats' leases: %s; their keys go when their TTL runs out",
				rv_errmsg(r));
		} else {
			pthread_mutex_unlock(&h->mu);
		}
		if (!stopping)
			rv_warn("heartbeat of %s: cannot revoke lease %" PRIx64 ": %s; its keys go when its TTL runs out",
				t->ns, (uint64_t)t->lease, rv_errmsg(r));
	} else if (!stopping) {
		rv_info("heartbeat of %s: stopped, lease %" PRIx64 " revoked", t->ns, (uint64_t)t->lease);
	} else {
		rv_debug("heartbeat of %s: stopped, lease %" PRIx64 " revoked", t->ns, (uint64_t)t->lease);
	}
done:
	t->lease = 0;
	t->claim_rev = 0;
	t->remove_done = true;
	publish(h, t, NULL, NULL);
}

void hb_step(struct heartbeat *h, struct hb_target *t)
{
	if (t->removing) {
		revoke_target(h, t);
		return;
	}
	switch (t->state) {
	case HB_ACQUIRE:
		acquire(h, t, 0);
		break;
	case HB_CLAIMED:
		look_again(h, t);
		break;
	case HB_HELD:
		write_heartbeat(h, t, 0);
		break;
	}
}

int heartbeat_claim_owner(etcd_client *c, const char *state_prefix, const char *ns, bool *held, char *owner,
			  size_t len)
{
	char *key = NULL;
	*held = false;
	if (owner && len)
		owner[0] = 0;
	if (asprintf(&key, "%s/heartbeat/%s", state_prefix, ns) < 0)
		return rv_fail(-ENOMEM, "out of memory");
	struct etcd_range_req rq = {.key = key, .key_len = strlen(key)};
	struct etcd_range_resp rs = {0};
	int r = etcd_range(c, ETCD_ANY, &rq, &rs);
	free(key);
	if (r < 0)
		return rv_fail_wrap(r, "cannot read who keeps the heartbeat of %s", ns);
	if (rs.n_kvs) {
		struct claim_info ci;
		char host[256] = "localhost";
		gethostname(host, sizeof host - 1);
		parse_claim(&rs.kvs[0], &ci);
		/* a process of this host that is gone holds nothing: the service takes it over */
		*held = !claim_is_stale_for(host, getpid(), &ci);
		if (owner && len)
			snprintf(owner, len, "%s", ci.owner);
	}
	etcd_range_resp_free(&rs);
	return 0;
}
