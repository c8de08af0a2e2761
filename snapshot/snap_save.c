/* snap_save.c - one snapshot of the cluster into a store: choose a member, ask it
 * for its Status, stream its Maintenance.Snapshot through sha256 check -> artifact
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
	struct rv_progress prog;
	uint64_t done;
	bool store_failed;
	char label[128];
	char *file_sha;
};

static int on_chunk(const uint8_t *data, size_t len, uint64_t total, void *ud)
{
	struct save_ctx *c = ud;
	int r;

	if (!c->chain) {
		char where[200];
		struct snap_stage *art;
		c->m->db_size = (int64_t)total;
		art = snap_artifact_writer_new(c->w, c->m, total + 32, c->level, c->name, c->file_sha);
		c->w = NULL; /* the artifact stage owns it now */
		if (!art) {
			c->store_failed = true;
			return rv_fail_wrap(-EIO, "cannot start %s in store %s", c->name, store_describe(c->st));
		}
		snprintf(where, sizeof where, "the snapshot stream from member %s", c->member->name);
		c->chain = snap_stage_sha256_new(c->m->sha256, where, art);
		snprintf(c->label, sizeof c->label, "snapshot from %s", c->member->name);
		rv_progress_start(&c->prog, c->label, total + 32);
	}
	r = snap_stage_write(c->chain, data, len);
	if (r < 0) {
		c->store_failed = true;
		return r;
	}
	c->done += len;
	rv_progress_update(&c->prog, c->done);
	return 0;
}

/* The order to try members in; down members are skipped (with a debug line). */
static int pick_sources(const struct cluster_spec *cs, etcd_client *ec, const struct snapshot_settings *set,
			int *order, size_t *n_order)
{
	struct etcd_status *sts = rv_xcalloc(cs->n_members, sizeof *sts);
	bool *up = rv_xcalloc(cs->n_members, sizeof *up);
	uint64_t leader = 0;
	size_t n = 0;
	struct rv_buf down = {0};
	int r = 0;

	for (size_t i = 0; i < cs->n_members; i++) {
		int e = etcd_status(ec, (int)i, &sts[i]);
		if (e < 0) {
			rv_buf_printf(&down, "%s%s", down.len ? "; " : "", rv_errmsg(e));
			rv_info("skipping member %s for the snapshot: it does not answer", cs->members[i].name);
			rv_err_clear();
			continue;
		}
		up[i] = !sts[i].is_learner;
		if (sts[i].leader)
			leader = sts[i].leader;
	}
	if (set->source == SNAP_SOURCE_MEMBER) {
		size_t i;
		for (i = 0; i < cs->n_members; i++)
			if (set->source_member && strcmp(cs->members[i].name, set->source_member) == 0)
				break;
		if (i == cs->n_members)
			r = rv_fail(-EINVAL, "snapshot.source names member '%s', which is not in cluster.members",
				    set->source_member ? set->source_member : "");
		else if (!up[i])
			r = rv_fail(-EHOSTUNREACH, "snapshot.source names member %s, which does not answer; start it or choose another source",
				    cs->members[i].name);
		else
			order[n++] = (int)i;
	} else {
		/* follower: followers first, the leader last; leader: the reverse. */
		bool want_leader = set->source == SNAP_SOURCE_LEADER;
		for (int pass = 0; pass < 2; pass++)
			for (size_t i = 0; i < cs->n_members; i++) {
				bool is_leader = leader && sts[i].hdr.member_id == leader;
				if (up[i] && (is_leader == want_leader) == (pass == 0))
					order[n++] = (int)i;
			}
		if (n == 0)
			r = rv_fail(-EHOSTUNREACH, "no member of cluster %s answers, so there is nothing to snapshot: %s",
				    cs->name, down.data ? down.data : "no members configured");
	}
	free(sts);
	free(up);
	rv_buf_free(&down);
	*n_order = n;
	return r;
}

static void fill_manifest(const struct cluster_spec *cs, const struct member_spec *mem, const struct etcd_status *s,
			  const char *tag, struct snap_manifest *m, int64_t now)
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
}

/* Leftovers of killed saves: temporary objects (the store knows them) and sidecars
 * whose artifact never got published. */
static void cleanup_leftovers(struct store *st)
{
	struct store_object *objs;
	size_t n;
	int64_t now = rv_now_unix();

	int r = store_cleanup(st);
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
		rv_debug("removing orphan sidecar %s", objs[i].name);
		store_delete(st, objs[i].name);
	}
	rv_err_clear();
	store_objects_free(objs, n);
}

static int save_from(const struct cluster_spec *cs, etcd_client *ec, int ep, struct store *st,
		     const struct snap_save_opts *o, struct snap_manifest *m, char *name, size_t name_len,
		     bool *store_failed, char *file_sha)
{
	const struct member_spec *mem = &cs->members[ep];
	struct etcd_status s;
	struct save_ctx c = {0};
	int64_t now;
	int r;

	*store_failed = false;
	if ((r = etcd_status(ec, ep, &s)) < 0)
		return rv_fail_wrap(r, "snapshot from member %s", mem->name);
	now = rv_now_unix();
	fill_manifest(cs, mem, &s, o->tag, m, now);
	snap_name_format(cs->name, now, m->revision, o->tag, name, name_len);

	c.st = st;
	c.member = mem;
	c.m = m;
	c.file_sha = file_sha;
	c.level = o->settings ? o->settings->compression_level : 3;
	if (c.level == 0)
		c.level = 3;
	snprintf(c.name, sizeof c.name, "%s", name);
	if ((r = store_put_begin(st, name, 0, &c.w)) < 0) {
		*store_failed = true;
		return r;
	}
	r = etcd_snapshot(ec, ep, o->timeout_ms ? o->timeout_ms : 3600 * 1000, on_chunk, &c);
	if (c.chain && c.prog.enabled)
		rv_progress_end(&c.prog);
	if (r < 0) {
		*store_failed = c.store_failed;
		if (!c.store_failed)
			r = rv_fail_wrap(r, "snapshot from member %s failed", mem->name);
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
	return r;
}

int snap_save(const struct cluster_spec *cs, struct store *st, const struct snap_save_opts *o,
	      struct snap_info *out)
{
	static const struct snapshot_settings defaults = {.compression_level = 3};
	const struct snapshot_settings *set = o->settings ? o->settings : &defaults;
	etcd_client *ec = NULL;
	int *order = NULL;
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
	cleanup_leftovers(st);
	if ((r = cluster_client_new(cs, 0, &ec)) < 0)
		return r;
	order = rv_xcalloc(cs->n_members ? cs->n_members : 1, sizeof *order);
	if ((r = pick_sources(cs, ec, set, order, &n_order)) < 0)
		goto out;
	/* The chosen member, and once more on another if it fails mid-stream. */
	for (size_t k = 0; k < n_order && tried < 2; k++) {
		bool store_failed;
		ep = order[k];
		tried++;
		r = save_from(cs, ec, ep, st, o, &m, name, sizeof name, &store_failed, file_sha);
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
	etcd_client_free(ec);
	return r;
}
