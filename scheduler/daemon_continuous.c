/* daemon_continuous.c - the recorder of continuous backup (daemon.continuous), a
 * thread on the leader only: it watches the whole keyspace with previous values and
 * progress notifications and writes segments (snapshot.h) to the store, every
 * daemon.continuous.flush or every SEG_FLUSH_BYTES, whichever comes first.
 *
 * Where it starts is read from the store, never kept locally: the newest good full
 * artifact is the chain, and recording goes on from the highest revision a segment
 * of that chain holds + 1 (a restarted daemon, a new leader), else from the
 * artifact's revision + 1. That revision is the manifest's (a Status call just
 * before the snapshot stream, so the db holds that revision or a few more): the
 * chain then overlaps the db a little and a replay skips what the db holds, never a
 * hole. The persisted revision advances only when a segment is published, never on
 * a progress notification (etcd 3.4 can send one ahead of events not delivered).
 * A newer artifact (the scheduled snapshot) starts a new chain from its revision + 1;
 * a revision compacted away takes a full snapshot at once and reports the gap.
 * With store.encryption the chain's base and its segments are encrypted for the
 * recipients (seg_builder_publish); the recorder never needs the identity.
 * Aged segments are merged by a thread of their own (daemon_merge.c). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "etcd/etcd.h"
#include "registry/registry.h"
#include "scheduler/daemon_impl.h"
#include "snapshot/snapshot.h"

#define SEG_FLUSH_BYTES (4u << 20)
#define CHAIN_CHECK_MS 15000

struct continuous {
	pthread_t thread;
	struct rv_cancel cancel;
	struct cfg_ref *cfg;
	char writer[64];
	pthread_mutex_t mu; /* the numbers below, read by status and metrics */
	struct continuous_stats st;
	struct seg_merger *merger;
};

/* The newest good artifact: its chain name and manifest revision; -ENOENT none. */
static int newest_chain(struct store *s, char *chain, size_t len, int64_t *base_rev)
{
	struct snap_info *v;
	size_t n;
	int r = snap_list(s, &v, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (v[i].foreign)
			continue;
		size_t nl = strlen(v[i].name) - snap_suffix_len(v[i].name);
		snprintf(chain, len, "%.*s", (int)nl, v[i].name);
		*base_rev = v[i].m.revision;
		r = 0;
		break;
	}
	free(v);
	return r;
}

/* Where recording of chain goes on: the highest revision its segments hold + 1. */
static int resume_point(struct store *s, const char *chain, int64_t base_rev, int64_t *from, int64_t *from_ms)
{
	struct seg_info *v;
	size_t n;
	int r = seg_list_chain(s, chain, &v, &n);
	if (r < 0)
		return r;
	int64_t at = base_rev, at_ms = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].last > at) {
			at = v[i].last;
			at_ms = v[i].last_ms;
		}
	free(v);
	*from = at + 1;
	*from_ms = at_ms;
	return 0;
}

static void set_persisted(struct continuous *c, int64_t rev, int64_t ms, bool segment)
{
	pthread_mutex_lock(&c->mu);
	c->st.persisted_revision = rev;
	c->st.persisted_unix_ms = ms;
	if (segment) {
		c->st.segments_written++;
		c->st.pending_since_ms = 0;
	}
	pthread_mutex_unlock(&c->mu);
}

static void seg_event_from(struct seg_event *s, const struct etcd_event *e)
{
	memset(s, 0, sizeof *s);
	s->type = e->type == ETCD_EVENT_DELETE ? SEG_DELETE : SEG_PUT;
	s->revision = e->kv.mod_revision;
	s->create_revision = e->kv.create_revision;
	s->version = e->kv.version;
	s->lease = e->kv.lease;
	s->key = e->kv.key;
	s->key_len = e->kv.key_len;
	s->value = e->kv.value;
	s->value_len = e->kv.value_len;
	s->has_prev = e->has_prev_kv;
	if (e->has_prev_kv) {
		s->prev_create_revision = e->prev_kv.create_revision;
		s->prev_mod_revision = e->prev_kv.mod_revision;
		s->prev_version = e->prev_kv.version;
		s->prev_lease = e->prev_kv.lease;
		s->prev_value = e->prev_kv.value;
		s->prev_value_len = e->prev_kv.value_len;
	}
}

static int flush(struct continuous *c, struct seg_builder *b, struct store *s, int level)
{
	char name[384];
	if (!seg_builder_events(b))
		return 0;
	int r = seg_builder_publish(b, s, level, name, sizeof name);
	if (r < 0) {
		rv_warn("continuous backup: publishing a segment failed (kept in memory, tried again): %s", rv_errmsg(r));
		rv_err_clear();
		return r;
	}
	struct seg_info si;
	seg_name_parse(name, &si);
	set_persisted(c, si.last, si.last_ms, true);
	rv_debug("continuous backup: segment %s published", name);
	return 0;
}

/* The gap: the revision to go on from is gone. A full snapshot now begins a new chain. */
static void start_new_chain(struct continuous *c, struct store *s, int64_t from, int64_t compacted)
{
	const struct rv_config *cfg = &c->cfg->cfg;
	struct snap_save_opts o = {.tag = "continuous", .settings = &cfg->snapshot, .cancel = &c->cancel};
	struct snap_info info;
	pthread_mutex_lock(&c->mu);
	c->st.gaps++;
	pthread_mutex_unlock(&c->mu);
	/* from 0: a restored cluster, which the caller has said */
	if (from > 0 && compacted > 0)
		rv_log(RV_LOG_ERROR,
		       "continuous backup has a gap: revision %lld was compacted (the cluster keeps revisions from %lld) "
		       "before it was recorded; a full snapshot starts a new chain",
		       (long long)from, (long long)compacted);
	else if (from > 0)
		rv_log(RV_LOG_ERROR,
		       "continuous backup has a gap: revision %lld was compacted before it was recorded; a full snapshot "
		       "starts a new chain",
		       (long long)from);
	int r = snap_save(&cfg->cluster, s, &o, &info);
	if (r < 0) {
		rv_log(RV_LOG_ERROR, "continuous backup: the snapshot for a new chain failed: %s", rv_errmsg(r));
		rv_err_clear();
	} else {
		rv_info("continuous backup: new chain %s", info.name);
	}
}

/* One chain recorded until it ends (a newer artifact, an error, cancel). */
static void record_chain(struct continuous *c, struct store *s, etcd_client *ec, const char *chain,
			 int64_t base_rev)
{
	const struct rv_config *cfg = &c->cfg->cfg;
	int64_t from, from_ms, next_check = rv_now_unix_ms() + CHAIN_CHECK_MS;
	if (resume_point(s, chain, base_rev, &from, &from_ms) < 0)
		return;
	set_persisted(c, from - 1, from_ms, false);
	/* A cluster behind what the chain holds was restored (to a point, or from an
	 * artifact): its next revisions are a new history, which must never continue
	 * this chain. A watch from a revision not yet reached would simply wait. */
	struct etcd_status now_st;
	if (etcd_status(ec, ETCD_ANY, &now_st) == 0 && now_st.hdr.revision < from - 1) {
		rv_log(RV_LOG_ERROR,
		       "continuous backup: the cluster is at revision %lld, behind chain %s, which reaches %lld: it was "
		       "restored; a full snapshot starts a new chain",
		       (long long)now_st.hdr.revision, chain, (long long)(from - 1));
		start_new_chain(c, s, 0, 0);
		return;
	}
	rv_err_clear();
	struct etcd_watch_opts wo = {.key = "\0", .key_len = 1, .range_end = "\0", .range_end_len = 1,
				     .start_revision = from, .prev_kv = true, .progress_notify = true};
	etcd_watch *w;
	int r = etcd_watch_open(ec, ETCD_ANY, &wo, &w);
	if (r == -ERANGE) {
		rv_err_clear();
		start_new_chain(c, s, from, 0);
		return;
	}
	if (r < 0) {
		rv_warn("continuous backup: the watch from revision %lld did not open: %s", (long long)from,
			rv_errmsg(r));
		rv_err_clear();
		return;
	}
	rv_info("continuous backup: recording chain %s from revision %lld", chain, (long long)from);
	struct seg_builder *b = seg_builder_new(chain, base_rev, c->writer);
	int64_t deadline = 0;
	/* The flush interval bounds how long a change waits to be persisted, so a flush
	 * starts that much earlier than the interval as publishing takes (the last
	 * publishes' time, smoothed, at most half the interval). */
	int64_t publish_ms = 20;
	while (!rv_cancelled(&c->cancel)) {
		int64_t now = rv_now_unix_ms();
		int tmo = deadline ? (int)(deadline > now ? deadline - now : 0) : 1000;
		struct etcd_watch_resp resp;
		r = etcd_watch_read(w, tmo > 0 ? tmo : 1, &c->cancel, &resp);
		now = rv_now_unix_ms();
		if (r == 0) {
			for (size_t i = 0; i < resp.n_events && r == 0; i++) {
				struct seg_event se;
				seg_event_from(&se, &resp.events[i]);
				r = seg_builder_add(b, &se, now);
			}
			etcd_watch_resp_free(&resp);
			if (r < 0)
				break;
			if (seg_builder_events(b) && !deadline) {
				int64_t ahead = publish_ms + 10;
				if (ahead > cfg->daemon.continuous_flush_ms / 2)
					ahead = cfg->daemon.continuous_flush_ms / 2;
				deadline = now + cfg->daemon.continuous_flush_ms - ahead;
				pthread_mutex_lock(&c->mu);
				c->st.pending_since_ms = now;
				pthread_mutex_unlock(&c->mu);
			}
			if (seg_builder_bytes(b) >= SEG_FLUSH_BYTES && flush(c, b, s, cfg->snapshot.compression_level) == 0)
				deadline = 0;
		} else if (r == -ERANGE) {
			int64_t compacted = resp.compact_revision;
			flush(c, b, s, cfg->snapshot.compression_level);
			rv_err_clear();
			start_new_chain(c, s, seg_builder_last(b) + 1, compacted);
			break;
		} else if (r != -EAGAIN && r != -EINTR) {
			rv_warn("continuous backup: the watch broke (resumed from the last persisted revision): %s",
				rv_errmsg(r));
			rv_err_clear();
			break;
		}
		rv_err_clear();
		if (deadline && now >= deadline) {
			int64_t t0 = rv_now_unix_ms();
			if (flush(c, b, s, cfg->snapshot.compression_level) == 0) {
				deadline = 0;
				publish_ms = (publish_ms * 3 + (rv_now_unix_ms() - t0)) / 4;
			}
		}
		if (now >= next_check && !seg_builder_events(b)) {
			char newest[256];
			int64_t nb;
			next_check = now + CHAIN_CHECK_MS;
			if (newest_chain(s, newest, sizeof newest, &nb) == 0 && strcmp(newest, chain) != 0)
				break; /* a newer full artifact: a new chain from it */
			rv_err_clear();
		}
	}
	/* On a stop the store's transfers are cancelled: what is gathered is not
	 * persisted, and the next recorder (this daemon again, or the next leader)
	 * records it again from the last persisted revision. */
	if (!rv_cancelled(&c->cancel))
		flush(c, b, s, cfg->snapshot.compression_level);
	seg_builder_free(b);
	etcd_watch_close(w);
}

static void *continuous_main(void *arg)
{
	struct continuous *c = arg;
	const struct rv_config *cfg = &c->cfg->cfg;
	struct store *s = NULL;
	etcd_client *ec = NULL;
	bool told = false;
	while (!rv_cancelled(&c->cancel)) {
		char chain[256];
		int64_t base_rev;
		int r = 0;
		if (!s && (r = store_open(&cfg->store, &s)) == 0)
			store_set_cancel(s, &c->cancel);
		if (r == 0 && !ec)
			r = cluster_client_new(&cfg->cluster, 5000, &ec);
		if (r == 0)
			r = newest_chain(s, chain, sizeof chain, &base_rev);
		if (r == 0) {
			told = false;
			record_chain(c, s, ec, chain, base_rev);
		} else if (!told) {
			rv_warn("continuous backup waits: %s",
				r == -ENOENT ? "the store has no full artifact to start a chain from (run snapshot save)"
					     : rv_errmsg(r));
			told = true;
		}
		rv_err_clear();
		rv_sleep_cancellable(1000, &c->cancel);
	}
	etcd_client_free(ec);
	store_close(s);
	return NULL;
}

int continuous_start(struct cfg_ref *cfg, struct continuous **out)
{
	const struct rv_config *c0 = &cfg->cfg;
	*out = NULL;
	if (!c0->daemon.continuous_enabled)
		return 0;
	/* Recipients: each segment is encrypted for them (segment.c). A passphrase
	 * would cost scrypt's 256 MiB and about a second for every segment written and
	 * every one read back, once a second. */
	if (c0->store.enc.passphrase_file)
		return rv_fail(-EINVAL, "continuous backup does not run with store.encryption.passphrase_file: "
					"scrypt would take 256 MiB and about a second for every segment; use "
					"store.encryption.recipients instead, or set daemon.continuous.enabled: false");
	struct continuous *c = rv_xcalloc(1, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
	c->cfg = cfg_ref_get(cfg);
	if (daemon_own_member(c0, c->writer, sizeof c->writer) < 0) {
		rv_err_clear();
		snprintf(c->writer, sizeof c->writer, "unknown");
	}
	int r = seg_merger_start(cfg, c->writer, &c->merger);
	if (r < 0) {
		cfg_ref_put(c->cfg);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return r;
	}
	int e = pthread_create(&c->thread, NULL, continuous_main, c);
	if (e != 0) {
		seg_merger_stop(c->merger);
		cfg_ref_put(c->cfg);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return rv_fail(-e, "cannot start the continuous backup thread: %s", strerror(e));
	}
	*out = c;
	return 0;
}

void continuous_stop(struct continuous *c)
{
	if (!c)
		return;
	rv_cancel_request(&c->cancel);
	pthread_join(c->thread, NULL);
	seg_merger_stop(c->merger);
	cfg_ref_put(c->cfg);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void continuous_stats_get(struct continuous *c, struct continuous_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	pthread_mutex_unlock(&c->mu);
	seg_merger_stats(c->merger, out);
}

void continuous_observe(struct continuous *c)
{
	struct continuous_stats st;
	if (!c)
		return;
	continuous_stats_get(c, &st);
	observe_continuous(&st);
}
