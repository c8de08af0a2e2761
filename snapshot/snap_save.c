/* snap_save.c - one snapshot of the cluster into a store: choose a member with
 * quorum (a leader, and caught up with it: a member cut off may hold old data),
 * ask it for its Status, stream its Maintenance.Snapshot through sha256 check -> artifact
 * (tar + zstd) -> store, publish, then write the sidecar manifest.
 *
 * The revision in the manifest is the source member's revision from a Status call
 * made just before the stream starts. etcd takes its snapshot when the stream
 * starts, so a write landing between the two calls can make the db slightly newer
 * than the recorded revision, never older. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

/* Sidecars older than this without their artifact are leftovers of a killed save
 * (a live save publishes its artifact right before its sidecar). */
#define ORPHAN_SIDECAR_AGE_S 600

struct save_ctx {
	struct store *st;
	const struct member_spec *member;
	struct snap_manifest *m;
	char name[256];
	int level;
	struct snap_stage *chain;
	struct store_writer *w;
	uint64_t done;
	bool store_failed;
	char *file_sha;
	const struct snap_save_opts *o;
};

static int interrupted(const struct member_spec *mem)
{
	return rv_fail(-EINTR, "snapshot save from member %s was interrupted; nothing was published", mem->name);
}

static int on_chunk(const uint8_t *data, size_t len, uint64_t total, void *ud)
{
	struct save_ctx *c = ud;
	int r;

	if (rv_cancelled(c->o->cancel)) {
		c->store_failed = true; /* no other member is tried */
		return interrupted(c->member);
	}
	if (!c->chain) {
		char where[200];
		struct snap_stage *art;
		c->m->db_size = (int64_t)total;
		art = snap_artifact_writer_new(c->w, c->m, total + 32, c->level, c->name, c->file_sha,
					       store_age_encrypt_keys(c->st));
		c->w = NULL; /* the artifact stage owns it now */
		if (!art) {
			c->store_failed = true;
			return rv_fail_wrap(-EIO, "cannot start %s in store %s", c->name, store_describe(c->st));
		}
		snprintf(where, sizeof where, "the snapshot stream from member %s", c->member->name);
		/* One thread: a writer thread for tar, zstd and the store was measured slower
		 * on two quiet cores (bench/RESULTS.md, 2026-12-03): etcd needs a core and more. */
		c->chain = snap_stage_sha256_new(c->m->sha256, where, art);
	}
	rv_test_point("snapshot-streaming");
	r = snap_stage_write(c->chain, data, len);
	if (r < 0) {
		c->store_failed = true;
		return r;
	}
	c->done += len;
	if (c->o->progress)
		c->o->progress(c->o->progress_ud, "snapshot", c->done, total + 32);
	return 0;
}

const char *snap_source_no_quorum(const struct etcd_status *sts, const bool *answered, size_t n, size_t i,
				  char *buf, size_t len)
{
	uint64_t lead = sts[i].leader, ref = 0, applied;

	if (!lead)
		return "has no leader";
	for (size_t j = 0; j < n; j++) {
		if (!answered[j])
			continue;
		if (sts[j].hdr.member_id == lead && sts[j].leader != lead)
			return "follows a leader that no longer leads";
		if (sts[j].leader == lead && sts[j].raft_index > ref)
			ref = sts[j].raft_index;
	}
	applied = sts[i].raft_applied_index ? sts[i].raft_applied_index : sts[i].raft_index;
	if (ref > applied && ref - applied > SNAP_MAX_APPLIED_LAG) {
		snprintf(buf, len, "is %llu raft entries behind the leader", (unsigned long long)(ref - applied));
		return buf;
	}
	return NULL;
}

/* Members by applied index, highest first: without quorum, the freshest first. */
static int by_applied(const void *a, const void *b, void *ud)
{
	const struct etcd_status *sts = ud;
	uint64_t x = sts[*(const int *)a].raft_applied_index, y = sts[*(const int *)b].raft_applied_index;
	return x == y ? *(const int *)a - *(const int *)b : (x > y ? -1 : 1);
}

/* The order to try members in: those with quorum first, in snapshot.source's
 * preference; with allow_no_quorum the members without it follow (freshest
 * first). quorum[k] says whether order[k] qualified. Members that do not answer
 * or lack quorum are skipped, with a line saying why when the save goes ahead. */
static int pick_sources(const struct cluster_spec *cs, etcd_client *ec, const struct snapshot_settings *set,
			bool allow_no_quorum, int *order, bool *quorum, size_t *n_order)
{
	struct etcd_status *sts = rv_xcalloc(cs->n_members, sizeof *sts);
	bool *answered = rv_xcalloc(cs->n_members, sizeof *answered);
	bool *up = rv_xcalloc(cs->n_members, sizeof *up), *ok = rv_xcalloc(cs->n_members, sizeof *ok);
	int *rest = rv_xcalloc(cs->n_members ? cs->n_members : 1, sizeof *rest);
	uint64_t leader = 0;
	size_t n = 0, n_rest = 0, n_unreachable = 0;
	struct rv_buf down = {0}, why = {0}, skipped = {0};
	int r = 0;

	for (size_t i = 0; i < cs->n_members; i++) {
		int e = etcd_status(ec, (int)i, &sts[i]);
		if (e < 0) {
			n_unreachable += e == -EHOSTUNREACH || e == -ETIMEDOUT;
			rv_buf_printf(&down, "%s%s", down.len ? "; " : "", rv_errmsg(e));
			rv_buf_printf(&why, "%s%s does not answer", why.len ? ", " : "", cs->members[i].name);
			rv_buf_printf(&skipped, "skipping member %s for the snapshot: it does not answer\n",
				      cs->members[i].name);
			rv_err_clear();
			continue;
		}
		answered[i] = true;
		up[i] = !sts[i].is_learner;
		if (sts[i].leader)
			leader = sts[i].leader;
	}
	for (size_t i = 0; i < cs->n_members; i++) {
		char buf[96];
		const char *no;
		if (!up[i])
			continue;
		no = snap_source_no_quorum(sts, answered, cs->n_members, i, buf, sizeof buf);
		ok[i] = !no;
		if (no) {
			rv_buf_printf(&why, "%s%s %s", why.len ? ", " : "", cs->members[i].name, no);
			if (set->source != SNAP_SOURCE_MEMBER)
				rv_buf_printf(&skipped, "skipping member %s for the snapshot: it %s\n",
					      cs->members[i].name, no);
			rest[n_rest++] = (int)i;
		}
	}
	if (set->source == SNAP_SOURCE_MEMBER) {
		size_t i;
		char buf[96];
		for (i = 0; i < cs->n_members; i++)
			if (set->source_member && strcmp(cs->members[i].name, set->source_member) == 0)
				break;
		if (i == cs->n_members) {
			r = rv_fail(-EINVAL, "snapshot.source names member '%s', which is not in cluster.members",
				    set->source_member ? set->source_member : "");
		} else if (!up[i]) {
			r = rv_fail(-EHOSTUNREACH, "snapshot.source names member %s, which does not answer; start it or choose another source",
				    cs->members[i].name);
		} else if (!ok[i] && !allow_no_quorum) {
			const char *no = snap_source_no_quorum(sts, answered, cs->n_members, i, buf, sizeof buf);
			r = rv_fail_advice(-EHOSTUNREACH, no == buf ? RV_ADVICE_SOURCE_CATCH_UP : RV_ADVICE_SOURCE_MEMBERS_DOWN,
					   "snapshot.source names member %s, which %s, so its data may not be current; %s",
					   cs->members[i].name, no,
					   no == buf ? "retry when it has caught up or choose another source"
						     : "start the members that are down");
		} else {
			quorum[n] = ok[i];
			order[n++] = (int)i;
		}
	} else {
		/* follower: followers first, the leader last; leader: the reverse. */
		bool want_leader = set->source == SNAP_SOURCE_LEADER;
		for (int pass = 0; pass < 2; pass++)
			for (size_t i = 0; i < cs->n_members; i++) {
				bool is_leader = leader && sts[i].hdr.member_id == leader;
				if (ok[i] && (is_leader == want_leader) == (pass == 0)) {
					quorum[n] = true;
					order[n++] = (int)i;
				}
			}
		if (allow_no_quorum) {
			qsort_r(rest, n_rest, sizeof *rest, by_applied, sts);
			for (size_t k = 0; k < n_rest; k++) {
				quorum[n] = false;
				order[n++] = rest[k];
			}
		}
		if (n == 0 && n_rest == 0 && n_unreachable == cs->n_members && n_unreachable)
			r = cluster_fail_none_answers(cs, -EHOSTUNREACH, "there is nothing to snapshot");
		else if (n == 0 && n_rest == 0)
			r = rv_fail(-EHOSTUNREACH, "no member of cluster %s answers, so there is nothing to snapshot: %s",
				    cs->name, down.data ? down.data : "no members configured");
		else if (n == 0)
			r = rv_fail_advice(-EHOSTUNREACH, RV_ADVICE_NO_QUORUM_SAVE, "cluster %s has no quorum, so no member can give a snapshot known to be current (%s); start the members that are down",
					   cs->name, why.data);
	}
	/* Why members were passed over, when a save goes ahead; a failure says it
	 * all in its one sentence. */
	if (r == 0)
		for (char *line = skipped.data, *nl; line && (nl = strchr(line, '\n')); line = nl + 1)
			rv_info("%.*s", (int)(nl - line), line);
	if (r == 0 && !quorum[0])
		rv_warn("cluster %s has no quorum (%s); saving from member %s anyway%s: its data may be older than what the cluster last committed",
			cs->name, why.data, cs->members[order[0]].name, rv_advice_text(RV_ADVICE_SAVED_WITHOUT_QUORUM));
	free(sts);
	free(answered);
	free(up);
	free(ok);
	free(rest);
	rv_buf_free(&down);
	rv_buf_free(&why);
	rv_buf_free(&skipped);
	*n_order = n;
	return r;
}

static void fill_manifest(const struct cluster_spec *cs, const struct member_spec *mem, const struct etcd_status *s,
			  const char *tag, bool quorum, struct snap_manifest *m, int64_t now)
{
	memset(m, 0, sizeof *m);
	m->format = SNAP_FORMAT;
	snprintf(m->regvault_version, sizeof m->regvault_version, "%s", RV_VERSION);
	snprintf(m->cluster_name, sizeof m->cluster_name, "%s", cs->name);
	m->cluster_id = s->hdr.cluster_id;
	snprintf(m->member_name, sizeof m->member_name, "%s", mem->name);
	m->member_id = s->hdr.member_id;
	snprintf(m->etcd_version, sizeof m->etcd_version, "%s", s->version);
	m->revision = s->hdr.revision;
	m->raft_term = s->raft_term;
	m->raft_index = s->raft_index;
	m->db_size = s->db_size;
	m->db_size_in_use = s->db_size_in_use;
	snprintf(m->compression, sizeof m->compression, "zstd");
	rv_utc_rfc3339(now, m->created_at);
	if (tag)
		snprintf(m->tag, sizeof m->tag, "%s", tag);
	m->quorum = quorum ? 1 : 0;
}

/* The name one millisecond later, for a commit whose name another save took;
 * ud is the save's name (256 bytes), which follows. */
static int next_name(const char *taken, char *next, size_t len, void *ud)
{
	int r = snap_name_next(taken, next, len, NULL);
	if (r == 0)
		snprintf(ud, 256, "%s", next);
	return r;
}

/* Leftovers of killed saves: temporary objects (the store knows them) and sidecars
 * whose artifact never got published. */
static void cleanup_leftovers(struct store *st)
{
	struct store_object *objs;
	size_t n;
	int64_t now = rv_now_unix();

	int r = store_cleanup(st);
	if (r == -EINTR)
		return; /* the save says it was interrupted */
	if (r < 0)
		rv_warn("%s", rv_errmsg(r));
	if (store_list(st, &objs, &n) < 0) {
		rv_err_clear();
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char art[300];
		struct store_object o;
		size_t l;
		if (!snap_is_sidecar(objs[i].name) || now - objs[i].mtime < ORPHAN_SIDECAR_AGE_S)
			continue;
		l = strlen(objs[i].name) - strlen(".manifest.json");
		snprintf(art, sizeof art, "%.*s%s", (int)l, objs[i].name, SNAP_SUFFIX);
		if (store_stat(st, art, &o) == 0) {
			free(o.name);
			continue;
		}
		snprintf(art, sizeof art, "%.*s%s", (int)l, objs[i].name, SNAP_SUFFIX_AGE);
		if (store_stat(st, art, &o) == 0) {
			free(o.name);
			continue;
		}
		rv_debug("removing orphan sidecar %s", objs[i].name);
		store_delete(st, objs[i].name);
	}
	rv_err_clear();
	store_objects_free(objs, n);
}

/* name: 256 bytes; it receives the name the artifact was published under. */
static int save_from(const struct cluster_spec *cs, etcd_client *ec, int ep, bool quorum, struct store *st,
		     const struct snap_save_opts *o, struct snap_manifest *m, char *name, bool *store_failed,
		     char *file_sha)
{
	const struct member_spec *mem = &cs->members[ep];
	struct etcd_status s;
	struct save_ctx c = {0};
	int64_t now_ms;
	int r;

	*store_failed = false;
	if ((r = etcd_status(ec, ep, &s)) < 0)
		return rv_fail_wrap(r, "snapshot from member %s", mem->name);
	now_ms = rv_now_unix_ms();
	fill_manifest(cs, mem, &s, o->tag, quorum, m, now_ms / 1000);
	snap_name_format(cs->name, now_ms, m->revision, o->tag, name, 256);
	if (store_age_encrypt_keys(st) && strlen(name) + 4 < 256)
		strcat(name, ".age");

	c.st = st;
	c.member = mem;
	c.m = m;
	c.file_sha = file_sha;
	c.o = o;
	c.level = o->settings ? o->settings->compression_level : 3;
	if (c.level == 0)
		c.level = 3;
	snprintf(c.name, sizeof c.name, "%s", name);
	if ((r = store_put_begin(st, name, 0, &c.w)) < 0) {
		*store_failed = true;
		return r == -EINTR && rv_cancelled(o->cancel) ? interrupted(mem) : r;
	}
	/* Two saves in one millisecond: the second takes the next free one. */
	store_put_set_next_name(c.w, next_name, name);
	if (o->progress)
		o->progress(o->progress_ud, "snapshot", 0, 0); /* starting over on another member */
	r = etcd_snapshot(ec, ep, o->timeout_ms ? o->timeout_ms : 3600 * 1000, o->cancel, on_chunk, &c);
	if (r < 0) {
		*store_failed = c.store_failed;
		if (r == -EINTR && rv_cancelled(o->cancel)) {
			/* cut in the stream or in the store: no other member is tried */
			*store_failed = true;
			r = interrupted(mem);
		} else if (!c.store_failed) {
			r = rv_fail_wrap(r, "snapshot from member %s failed", mem->name);
		}
		if (c.chain)
			snap_stage_abort(c.chain);
		else
			store_put_abort(c.w);
		return r;
	}
	if (!c.chain) { /* an empty stream: etcd always sends at least the trailer */
		store_put_abort(c.w);
		return rv_fail(-EPROTO, "member %s sent an empty snapshot stream", mem->name);
	}
	/* sha256 first: the artifact is committed only after the trailer matched. */
	r = snap_stage_finish(c.chain);
	if (r < 0 && r != -EBADMSG)
		*store_failed = true;
	if (r == -EINTR && rv_cancelled(o->cancel))
		r = interrupted(mem);
	return r;
}

int snap_save(const struct cluster_spec *cs, struct store *st, const struct snap_save_opts *o,
	      struct snap_info *out)
{
	static const struct snapshot_settings defaults = {.compression_level = 3};
	const struct snapshot_settings *set = o->settings ? o->settings : &defaults;
	etcd_client *ec = NULL;
	int *order = NULL;
	bool *quorum = NULL;
	size_t n_order = 0;
	struct snap_manifest m;
	char name[256], file_sha[65] = "";
	uint64_t file_size = 0;
	struct store_object so;
	int r, tried = 0, ep = -1;

	if (o->tag && (r = snap_tag_check(o->tag)) < 0)
		return r;
	if (set->compression_level < 0 || set->compression_level > 19)
		return rv_fail(-EINVAL, "snapshot.compression_level %d is out of range (1 to 19)",
			       set->compression_level);
	const struct rv_cancel *was = store_set_cancel(st, o->cancel);
	cleanup_leftovers(st);
	if (rv_cancelled(o->cancel)) {
		r = rv_fail(-EINTR, "snapshot save was interrupted before it started; nothing was published");
		goto out;
	}
	if ((r = cluster_client_new(cs, 0, &ec)) < 0)
		goto out;
	order = rv_xcalloc(cs->n_members ? cs->n_members : 1, sizeof *order);
	quorum = rv_xcalloc(cs->n_members ? cs->n_members : 1, sizeof *quorum);
	if ((r = pick_sources(cs, ec, set, o->allow_no_quorum, order, quorum, &n_order)) < 0)
		goto out;
	/* The chosen member, and once more on another if it fails mid-stream. */
	for (size_t k = 0; k < n_order && tried < 2; k++) {
		bool store_failed;
		ep = order[k];
		tried++;
		r = save_from(cs, ec, ep, quorum[k], st, o, &m, name, &store_failed, file_sha);
		if (r == 0 || store_failed)
			break;
		if (k + 1 < n_order && tried < 2)
			rv_warn("%s; trying member %s", rv_errmsg(r), cs->members[order[k + 1]].name);
	}
	if (r < 0)
		goto out;
	if (store_stat(st, name, &so) == 0) {
		file_size = so.size;
		free(so.name);
	}
	rv_err_clear();
	if ((r = snap_sidecar_write(st, name, &m, file_sha, file_size)) < 0) {
		rv_warn("%s (list will read the artifact's own manifest)", rv_errmsg(r));
		r = 0;
	}
	if (out) {
		memset(out, 0, sizeof *out);
		snprintf(out->name, sizeof out->name, "%s", name);
		out->m = m;
		out->size = file_size;
		rv_parse_rfc3339(m.created_at, &out->created);
	}
out:
	free(order);
	free(quorum);
	etcd_client_free(ec);
	store_set_cancel(st, was);
	return r;
}
