/* restore.c - the coordinated restore of every member from one snapshot (see the
 * order in restore.h). Everything that can fail on a bad artifact or a bad tool runs
 * while the old cluster still serves; from the stop on, a journal records each step
 * and any failure rolls back. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "restore/restore_impl.h"

static void db_path_of(const struct restore_plan *p, char *out, size_t len)
{
	snprintf(out, len, "%s/snapshot.db", p->staging_dir);
}

/* Name and manifest of the artifact to restore, without reading it. */
static int resolve(const struct restore_opts *o, const char *from, struct restore_plan *p)
{
	if (o->db_file) {
		snprintf(p->artifact, sizeof p->artifact, "%s", o->db_file);
		if (!rv_path_exists(o->db_file))
			return rv_fail(-ENOENT, "the snapshot file %s does not exist", o->db_file);
		int r = rs_db_last_revision(o->db_file, &p->snapshot_revision);
		p->m.revision = p->snapshot_revision;
		return r < 0 ? rv_fail_wrap(r, "%s is not an etcd snapshot", o->db_file) : 0;
	}
	if (!o->store)
		return rv_fail_advice(-EINVAL, RV_ADVICE_STORE_URL, "no store to restore from; configure store.url");
	snprintf(p->store, sizeof p->store, "%s", store_describe(o->store));
	int r = snap_resolve(o->store, from ? from : "latest", p->artifact, sizeof p->artifact);
	if (r < 0)
		return r;
	struct snap_info *list = NULL;
	size_t n = 0;
	r = snap_list(o->store, &list, &n);
	if (r < 0)
		return r;
	r = rv_fail(-ENOENT, "artifact %s is not listed in %s", p->artifact, p->store);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(list[i].name, p->artifact) != 0)
			continue;
		if (list[i].foreign || list[i].problem[0]) {
			r = rv_fail(-EBADMSG, "artifact %s in %s cannot be restored: %s", p->artifact, p->store,
				    list[i].problem[0] ? list[i].problem : "not a regvault artifact");
			break;
		}
		p->m = list[i].m;
		p->snapshot_revision = list[i].m.revision;
		rv_err_clear();
		r = 0;
		break;
	}
	free(list);
	return r;
}

/* A restore to a point: the chain and its events, read and checked now, while the
 * cluster still runs as it is. */
static int point_plan(const struct restore_opts *o, struct restore_plan *p, struct rs_point *pt,
		      struct restore_point_report *rep)
{
	rep->used = true;
	if (o->db_file || !o->store)
		return rv_fail(-EINVAL, "a restore to a point needs the store that holds the chain; nothing was changed");
	if (o->point.bump == 1 || o->point.bump < 0)
		return rv_fail(-EINVAL, "the revision can be advanced by 2 or more, not %" PRId64, o->point.bump);
	int r = rs_point_resolve(o->store, &o->point, pt);
	if (r < 0)
		return r;
	p->point_revision = pt->revision;
	snprintf(rep->chain, sizeof rep->chain, "%s", pt->chain);
	rep->revision = pt->revision;
	rep->unix_ms = pt->unix_ms;
	rep->segments = pt->n_segs;
	rv_info("restoring to revision %" PRId64 ": base %s and %zu events from %zu segments of chain %s", pt->revision,
		pt->artifact, pt->n_ev, pt->n_segs, pt->chain);
	return 0;
}

static int dry_run_verify(const struct restore_opts *o, struct restore_plan *p, struct restore_report *out)
{
	double t = rv_now_mono();
	int r;
	if (o->db_file) {
		r = rs_verify_db(o->db_file, NULL, NULL, o->progress, o->progress_ud);
	} else {
		struct snap_info info;
		r = snap_verify(o->store, p->artifact, &info);
	}
	out->phases.verify = rv_now_mono() - t;
	return r;
}

/* Move the old data dir aside and the restored one into its place. Can run again
 * after an interruption: what is already moved is left alone. */
static int swap_dirs(const struct restore_plan *p)
{
	for (size_t i = 0; i < p->n_members; i++) {
		const struct restore_member_plan *m = &p->members[i];
		int r;
		if (m->has_data && !rv_path_exists(m->aside_dir) && rv_path_exists(m->data_dir)) {
			r = rs_rename(m->data_dir, m->aside_dir);
			if (r < 0)
				return r;
		}
		if (rv_path_exists(m->staged_dir)) {
			if (rv_path_exists(m->data_dir))
				return rv_fail(-EEXIST, "%s is in the way of the restored data dir of member %s", m->data_dir,
					       m->name);
			r = rs_rename(m->staged_dir, m->data_dir);
			if (r < 0)
				return r;
		} else if (!rv_path_exists(m->data_dir)) {
			return rv_fail(-ENOENT, "the restored data dir of member %s is gone from %s", m->name, m->staged_dir);
		}
	}
	return 0;
}

static int start_all(const struct cluster_spec *cs, int wait_ms)
{
	for (size_t i = 0; i < cs->n_members; i++) {
		if (rs_member_running(cs, i))
			continue;
		int r = rs_member_start(cs, i);
		if (r < 0)
			return r;
	}
	/* Past the stop a signal is held: the cluster ends restored or rolled back. */
	return cluster_wait_healthy(cs, wait_ms, NULL);
}

/* Before the stop, a cancel ends the restore here; the caller removes the staging. */
static int check_cancel(const struct restore_opts *o, const char *when)
{
	if (!rv_cancelled(o->cancel))
		return 0;
	return rv_fail(-EINTR, "the restore was interrupted %s; nothing was stopped or changed", when);
}

enum step { STEP_STOP, STEP_SWAP, STEP_START, STEP_CHECK };
static const char *const step_names[] = {"stopping", "swapping", "starting", "checking"};

/* Steps stop..check from `from` on; on failure roll back and say both. A restore to
 * a point staged the replayed db already (replay_scratch.c): the same steps. */
static int execute(const struct cluster_spec *cs, const char *state_dir, struct restore_plan *p, enum step from,
		   int wait_ms, struct restore_report *out)
{
	struct rs_check chk;
	int64_t want;
	enum step s = from;
	double t;
	int r = 0;

	for (; s <= STEP_CHECK; s++) {
		r = rs_journal_write(state_dir, step_names[s], p);
		if (r < 0 && s == STEP_STOP && from == STEP_STOP)
			return rv_fail_wrap(r, "nothing was stopped or changed"); /* no journal, no stop */
		if (r < 0)
			break;
		rv_test_point(step_names[s]);
		t = rv_now_mono();
		switch (s) {
		case STEP_STOP:
			rv_info("stopping %zu members", p->n_members);
			r = rs_stop_all(cs);
			out->phases.stop = rv_now_mono() - t;
			break;
		case STEP_SWAP:
			rv_info("moving the old data dirs aside (to <data_dir>.before-restore-%s)", p->stamp);
			r = swap_dirs(p);
			out->phases.start = rv_now_mono() - t;
			break;
		case STEP_START:
			rv_info("starting the restored members");
			r = start_all(cs, wait_ms);
			out->phases.start += rv_now_mono() - t;
			break;
		case STEP_CHECK:
			want = p->point_revision ? p->point_revision : p->snapshot_revision;
			rv_info("checking revision and HashKV at revision %" PRId64 " on every member", want);
			r = rs_check_cluster(cs, want, 0, &chk);
			out->phases.check = rv_now_mono() - t;
			if (r == 0) {
				out->revision = chk.hash_revision;
				out->revision_now = chk.revision;
				out->hash = chk.hash;
			}
			break;
		}
		if (r < 0)
			break;
	}
	if (r == 0) {
		out->done = true;
		r = rs_journal_remove(state_dir);
		if (r < 0)
			rv_warn("%s", rv_errmsg(r));
		rs_remove_staging(p);
		return 0;
	}
	snprintf(out->failure, sizeof out->failure, "%s", rv_errmsg(r));
	rv_warn("restore failed while %s: %s; rolling back", step_names[s <= STEP_CHECK ? s : STEP_CHECK], out->failure);
	int rr = rs_rollback(cs, state_dir, p, wait_ms, out);
	return rv_fail(r, "restore of %s failed while %s: %s; %s%s", p->artifact, step_names[s <= STEP_CHECK ? s : STEP_CHECK],
		       out->failure, rr < 0 ? "the rollback failed too: " : "rolled back: ", out->rollback);
}

static int run(const struct restore_opts *o, struct restore_report *out)
{
	struct restore_plan *p = &out->plan;
	const struct cluster_spec *cs = o->cs;
	int wait_ms = o->wait_ms > 0 ? o->wait_ms : RS_DEFAULT_WAIT_MS;
	double t0 = rv_now_mono(), t;
	char db_path[PATH_MAX + 16];
	uint64_t db_size = 0;
	struct restore_pending pend;
	bool found = false, staged = false;
	struct rs_point pt = {0};
	bool to_point = o->point.to != RESTORE_TO_NONE;
	int lock = -1, r;

	memset(out, 0, sizeof *out);
	etcd_global_init();
	r = rs_lock(o->state_dir, &lock);
	if (r < 0)
		goto out;
	/* An interrupted restore first: its dirs moved aside in this same second would
	 * make the plan refuse with a worse message. Then the cluster as it is, so that
	 * any later refusal reports it too. */
	r = restore_pending(o->state_dir, &pend, &found);
	if (r == 0 && found)
		r = rv_fail(-EBUSY, "restore refused: %s", pend.hint);
	if (r == 0)
		r = rs_plan_members(cs, p);
	if (r == 0)
		rs_preflight(cs, p);
	if (r == 0)
		r = rs_find_tool(cs, p->tool, sizeof p->tool);
	if (r == 0 && to_point)
		r = point_plan(o, p, &pt, &out->point);
	if (r == 0 && to_point && rv_cancelled(o->cancel))
		r = check_cancel(o, "while it read the segments");
	if (r == 0)
		r = resolve(o, to_point ? pt.artifact : o->from, p);
	if (r < 0)
		goto out;
	if (p->cluster_serving && !o->force && !o->dry_run && p->point_revision) {
		r = rv_fail_advice(-EBUSY, RV_ADVICE_RESTORE_FORCE,
				   "the cluster is healthy and serving at revision %" PRId64 "; restoring it to revision %" PRId64
				   " would lose %s; nothing was changed",
				   p->cluster_revision, p->point_revision,
				   p->cluster_revision > p->point_revision ? "every write made since that revision" : "the current data");
		goto out;
	}
	if (p->cluster_serving && !o->force && !o->dry_run) {
		r = rv_fail_advice(-EBUSY, RV_ADVICE_RESTORE_FORCE,
			    "the cluster is healthy and serving at revision %" PRId64 "; restoring %s (revision %" PRId64
			    ") would lose %s; nothing was changed",
			    p->cluster_revision, p->artifact, p->snapshot_revision,
			    p->cluster_revision > p->snapshot_revision ? "every write made since the snapshot" : "the current data");
		goto out;
	}
	if (o->dry_run) {
		r = dry_run_verify(o, p, out);
		goto out;
	}
	if (o->confirm && !o->confirm(p, o->confirm_ud)) {
		r = rv_fail(-ECANCELED, "restore cancelled; nothing was changed");
		goto out;
	}
	if ((r = check_cancel(o, "before it fetched anything")) < 0)
		goto out;

	/* Leftovers of an earlier run that did not get this far are copies, and nobody
	 * writes into them: its tools died with it and we hold the lock they held. */
	for (size_t i = 0; i < p->n_members && r == 0; i++) {
		char dir[PATH_MAX];
		rs_parent(p->members[i].staged_dir, dir, sizeof dir);
		if (rv_path_exists(dir))
			rv_info("removing %s, left by a restore that ended before it stopped any member", dir);
		r = rs_rmtree(dir);
		if (r == 0 && (r = rv_mkdir_p(dir, 0700)) < 0)
			r = rv_fail(r, "cannot create the staging directory %s: %s", dir, strerror(-r));
	}
	if (r < 0)
		goto out;
	staged = true;

	rv_info("fetching %s into %s", p->artifact, p->staging_dir);
	db_path_of(p, db_path, sizeof db_path);
	t = rv_now_mono();
	struct snap_manifest fetched = {0};
	r = rs_fetch(o->store, p->artifact, o->db_file, db_path, &fetched, o->progress, o->progress_ud);
	out->phases.fetch = rv_now_mono() - t;
	if (r == -EINTR && rv_cancelled(o->cancel)) {
		r = check_cancel(o, "during the fetch");
		goto out;
	}
	if (r < 0) {
		r = rv_fail_wrap(r, "artifact %s refused before any member was stopped", p->artifact);
		goto out;
	}
	rv_test_point("fetched");
	if ((r = check_cancel(o, "after the fetch")) < 0)
		goto out;
	if (!o->db_file && fetched.revision)
		p->snapshot_revision = fetched.revision;
	/* The db can be a little newer than its manifest (the manifest's revision is
	 * read just before the stream starts): check against what the db holds. */
	if (!o->db_file) {
		int64_t held = 0;
		if (rs_db_last_revision(db_path, &held) == 0 && held >= p->snapshot_revision)
			p->snapshot_revision = held;
		else
			rv_warn("%s: the db's own revision could not be read; checking against the manifest's %" PRId64,
				p->artifact, p->snapshot_revision);
		rv_err_clear();
	}
	if (to_point && p->snapshot_revision > pt.revision) {
		r = rv_fail(-ERANGE, "the base %s holds revision %" PRId64 ", past the point %" PRId64 "; choose a later "
			    "point; nothing was stopped or changed", p->artifact, p->snapshot_revision, pt.revision);
		goto out;
	}

	t = rv_now_mono();
	/* An artifact was verified byte for byte as it was fetched; a plain file was
	 * only copied, so it is read again here. */
	r = o->db_file ? rs_verify_db(db_path, NULL, &db_size, o->progress, o->progress_ud) : rs_check_staged(db_path, &fetched, &db_size);
	out->phases.verify = rv_now_mono() - t;
	if (r == 0)
		r = rs_check_space(p, db_size);
	if (r < 0) {
		r = rv_fail_wrap(r, "artifact %s refused before any member was stopped", p->artifact);
		goto out;
	}

	rv_test_point("verified");
	if ((r = check_cancel(o, "after the artifact was verified")) < 0)
		goto out;
	if (to_point) { /* the members are restored from the replayed db: the point's own */
		char replayed[PATH_MAX + 16];
		snprintf(replayed, sizeof replayed, "%s/replayed.db", p->staging_dir);
		t = rv_now_mono();
		r = rs_replay_scratch(cs, p->tool, db_path, o->replay_dir ? o->replay_dir : p->staging_dir, &pt,
				      o->point.bump, wait_ms, replayed, lock, o->cancel, &out->point);
		out->phases.replay = rv_now_mono() - t;
		if (r == -EINTR && rv_cancelled(o->cancel)) {
			r = check_cancel(o, "during the replay");
			goto out;
		}
		if (r < 0) {
			r = rv_fail_wrap(r, "restore to revision %" PRId64 " failed before any member was stopped",
					 pt.revision);
			goto out;
		}
		rv_test_point("replayed");
		p->point_replayed = true; /* journaled: a resume finishes it as any restore */
		unlink(db_path);
		snprintf(db_path, sizeof db_path, "%s", replayed);
	}
	rv_info("restoring %zu members from %s with %s", p->n_members, to_point ? "the replayed db" : p->artifact,
		p->tool);
	t = rv_now_mono();
	{
		char (*dirs)[PATH_MAX] = rv_xcalloc(p->n_members, PATH_MAX);
		for (size_t i = 0; i < p->n_members; i++)
			snprintf(dirs[i], PATH_MAX, "%s", p->members[i].staged_dir);
		r = rs_restore_members(p->tool, cs, db_path, p->token, dirs, true, lock, o->cancel);
		for (size_t i = 0; r == 0 && i < p->n_members; i++)
			if (p->members[i].has_data)
				r = rs_chown_like(dirs[i], p->members[i].data_dir);
		free(dirs);
	}
	out->phases.restore = rv_now_mono() - t;
	if (r == -EINTR && rv_cancelled(o->cancel)) {
		/* The tools are stopped: the staging goes, as after any interrupt. */
		r = check_cancel(o, "while the members were restored into staging");
		goto out;
	}
	if (r < 0) {
		/* Keep the staging with the tools' logs the message points to; the next
		 * restore or --cleanup removes it. */
		staged = false;
		r = rv_fail_wrap(r, "nothing was stopped or changed");
		goto out;
	}
	unlink(db_path);
	/* The last moment a cancel leaves everything as it was. */
	rv_test_point("staged");
	if ((r = check_cancel(o, "after the members were restored into staging")) < 0)
		goto out;
	r = execute(cs, o->state_dir, p, STEP_STOP, wait_ms, out);
	staged = false; /* from the stop on, the journal decides what the staging holds */
out:
	if (staged && r < 0) {
		char msg[2048];
		snprintf(msg, sizeof msg, "%s", rv_errmsg(r));
		rs_remove_staging(p);
		rv_fail(r, "%s", msg);
	}
	rs_note_kept_aside(p);
	rs_point_free(&pt);
	out->phases.total = rv_now_mono() - t0;
	rs_unlock(lock);
	etcd_global_shutdown();
	return r;
}

/* The store's transfers look at the restore's cancel too (a fetch from S3 is
 * cut within a second); the store is read only before the stop. */
int restore_run(const struct restore_opts *o, struct restore_report *out)
{
	const struct rv_cancel *was = o->store ? store_set_cancel(o->store, o->cancel) : NULL;
	int r = run(o, out);
	if (o->store)
		store_set_cancel(o->store, was);
	return r;
}

int restore_resume(const struct cluster_spec *cs, const char *state_dir, int wait_ms, struct restore_report *out)
{
	char phase[32];
	double t0 = rv_now_mono();
	enum step from = STEP_STOP;
	int lock = -1, r;

	memset(out, 0, sizeof *out);
	etcd_global_init();
	r = rs_lock(state_dir, &lock);
	if (r == 0)
		r = rs_load_pending(cs, state_dir, &out->plan, phase, sizeof phase);
	if (r == 0 && strcmp(phase, "rolling-back") == 0)
		r = rv_fail_advice(-EINVAL, RV_ADVICE_FINISH_ROLLBACK, "the interrupted restore was rolling back");
	if (r == 0 && rs_point_half_done(&out->plan, phase))
		r = rv_fail_advice(-EINVAL, RV_ADVICE_PENDING_ROLLBACK,
				   "the interrupted restore to revision %" PRId64 " was %s, before its replay was over, so "
				   "it cannot be resumed (its members were never opened to clients).",
				   out->plan.point_revision, phase);
	/* Every step is safe to repeat (stop what runs, move what is not moved yet,
	 * start what is not running), so resume from the stop whatever the journal says:
	 * members started before the interruption are restarted, nothing else changes. */
	if (r == 0)
		r = execute(cs, state_dir, &out->plan, from, wait_ms > 0 ? wait_ms : RS_DEFAULT_WAIT_MS, out);
	rs_note_kept_aside(&out->plan);
	out->phases.total = rv_now_mono() - t0;
	rs_unlock(lock);
	etcd_global_shutdown();
	return r;
}
