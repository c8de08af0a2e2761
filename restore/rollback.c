/* rollback.c - putting the old cluster back: whatever step a restore reached (or was
 * killed in), stop the members, move restored data dirs to
 * <data_dir>.failed-restore-<stamp>, rename <data_dir>.before-restore-<stamp> back,
 * start what ran before and wait for health. Every step is a rename that can be
 * repeated, so a rollback that is itself interrupted can simply run again. Also the
 * cleanup of what restores keep. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore/restore_impl.h"

static void add(struct rv_buf *b, const char *fmt, const char *a)
{
	rv_buf_printf(b, fmt, a);
}

static bool anything_moved(const struct restore_plan *p)
{
	for (size_t i = 0; i < p->n_members; i++)
		if (rv_path_exists(p->members[i].aside_dir) || (!p->members[i].has_data && rv_path_exists(p->members[i].data_dir)))
			return true;
	return false;
}

int rs_put_back_member(const struct restore_member_plan *m, const char *stamp, bool *moved, char *failed)
{
	char buf[PATH_MAX + 64], *f = failed ? failed : buf;
	int r;
	if (moved)
		*moved = false;
	snprintf(f, PATH_MAX + 64, "%s.failed-restore-%s", m->data_dir, stamp);
	bool aside = rv_path_exists(m->aside_dir), now = rv_path_exists(m->data_dir);
	/* The data dir holds a restored copy when the old one is aside, or when there
	 * was no old one and something is there now. */
	if (now && (aside || !m->has_data)) {
		if ((r = rs_rename(m->data_dir, f)) < 0)
			return r;
		if (moved)
			*moved = true;
	}
	return aside ? rs_rename(m->aside_dir, m->data_dir) : 0;
}

int rs_rollback(const struct cluster_spec *cs, const char *state_dir, const struct restore_plan *p, int wait_ms,
		struct restore_report *out)
{
	struct rv_buf msg = {0};
	int r, first = 0;
	size_t n_started = 0, n_was_running = 0;

	out->rolled_back = true;
	out->rollback_ok = false;
	r = rs_journal_write(state_dir, "rolling-back", p);
	if (r < 0)
		rv_warn("%s", rv_errmsg(r));
	rv_test_point("rolling-back");

	r = rs_stop_all(cs);
	if (r < 0 && !anything_moved(p)) {
		/* Nothing was moved: the old data dirs are in place, and what still runs
		 * is the old cluster. Start what was stopped. */
		rv_buf_printf(&msg, "%s; ", rv_errmsg(r));
		r = 0;
	}
	if (r < 0) {
		/* A member we cannot stop keeps its data dir open: moving dirs under it
		 * would not help. Say so and leave everything where it is. */
		snprintf(out->rollback, sizeof out->rollback,
			 "rollback stopped: %s; the old data dirs are still at <data_dir>.before-restore-%s%s", rv_errmsg(r),
			 p->stamp, rv_advice_text(RV_ADVICE_ROLLBACK_ONCE_STOPPED));
		return rv_fail(r, "%s", out->rollback);
	}
	for (size_t i = 0; i < p->n_members; i++) {
		char failed[PATH_MAX + 64];
		bool moved = false;
		r = rs_put_back_member(&p->members[i], p->stamp, &moved, failed);
		if (moved)
			add(&msg, "restored data dir moved to %s; ", failed);
		if (r < 0)
			goto fail_move;
	}
	for (size_t i = 0; i < p->n_members; i++) {
		if (!p->members[i].running)
			continue;
		n_was_running++;
		r = rs_member_running(cs, i) ? 0 : rs_member_start(cs, i);
		if (r < 0) {
			if (!first)
				first = r;
			add(&msg, "%s; ", rv_errmsg(r));
		} else {
			n_started++;
		}
	}
	/* The data dirs are as before the restore: the journal has done its job, and
	 * what is left in staging are copies. */
	r = rs_journal_remove(state_dir);
	if (r < 0)
		add(&msg, "%s; ", rv_errmsg(r));
	else
		rs_remove_staging(p);
	size_t n_was_healthy = 0;
	for (size_t i = 0; i < p->n_members; i++)
		n_was_healthy += p->members[i].healthy;
	if (n_was_running == 0) {
		rv_buf_printf(&msg, "old data dirs put back; no member ran before the restore, so none was started");
		out->rollback_ok = true;
	} else if (first) {
		rv_buf_printf(&msg, "old data dirs put back; started %zu of the %zu members that ran before", n_started,
			      n_was_running);
	} else if (n_was_healthy <= p->n_members / 2) {
		rv_buf_printf(&msg, "old data dirs put back and the %zu members that ran before started; the cluster was "
				    "not healthy before the restore, so its health was not awaited",
			      n_started);
		out->rollback_ok = true;
	} else {
		/* Wait for the members that ran before: those are the old cluster. */
		struct cluster_spec sub = *cs;
		sub.members = rv_xcalloc(cs->n_members, sizeof *sub.members);
		sub.n_members = 0;
		for (size_t i = 0; i < p->n_members; i++)
			if (p->members[i].running)
				sub.members[sub.n_members++] = cs->members[i];
		r = cluster_wait_healthy(&sub, wait_ms, NULL); /* rolling back: never half */
		free(sub.members);
		if (r < 0) {
			first = r;
			rv_buf_printf(&msg, "old data dirs put back and the old cluster started, but it is not healthy: %s",
				      rv_errmsg(r));
		} else {
			rv_buf_printf(&msg, "old data dirs put back; the old cluster is healthy again (%zu of %zu members, as "
					    "before the restore)",
				      n_started, p->n_members);
			out->rollback_ok = true;
		}
	}
	snprintf(out->rollback, sizeof out->rollback, "%s", msg.data ? msg.data : "");
	rv_buf_free(&msg);
	return first;

fail_move:
	snprintf(out->rollback, sizeof out->rollback,
		 "rollback stopped: %s; nothing was deleted: old data dirs are at <data_dir>.before-restore-%s or in place; "
		 "fix the cause%s",
		 rv_errmsg(r), p->stamp, rv_advice_text(RV_ADVICE_RUN_ROLLBACK));
	rv_buf_free(&msg);
	return rv_fail(r, "%s", out->rollback);
}

/* The journal must describe the configured members, or a rollback would move the
 * wrong directories. */
static int plan_matches(const struct cluster_spec *cs, const struct restore_plan *p)
{
	if (p->n_members != cs->n_members)
		return rv_fail(-EINVAL, "the restore journal lists %zu members but the configuration %zu; restore the "
					"configuration the restore ran with",
			       p->n_members, cs->n_members);
	for (size_t i = 0; i < cs->n_members; i++) {
		char dd[PATH_MAX];
		snprintf(dd, sizeof dd, "%s", cs->members[i].data_dir);
		for (size_t n = strlen(dd); n > 1 && dd[n - 1] == '/'; n--)
			dd[n - 1] = 0;
		if (strcmp(p->members[i].name, cs->members[i].name) != 0 || strcmp(p->members[i].data_dir, dd) != 0)
			return rv_fail(-EINVAL, "the restore journal names member %s with data dir %s, the configuration %s with "
						"%s; restore the configuration the restore ran with",
				       p->members[i].name, p->members[i].data_dir, cs->members[i].name, dd);
	}
	return 0;
}

int rs_load_pending(const struct cluster_spec *cs, const char *state_dir, struct restore_plan *p, char *phase, size_t len)
{
	char started[21];
	bool found;
	int r = rs_journal_read(state_dir, phase, len, p, started, &found);
	if (r < 0)
		return r;
	if (!found)
		return rv_fail(-ENOENT, "no interrupted restore to finish or undo (no journal in %s)", state_dir);
	return plan_matches(cs, p);
}

int restore_rollback(const struct cluster_spec *cs, const char *state_dir, int wait_ms, struct restore_report *out)
{
	int lock = -1, r;
	char phase[32];
	double t0 = rv_now_mono();

	memset(out, 0, sizeof *out);
	r = rs_lock(state_dir, &lock);
	if (r < 0)
		return r;
	r = rs_load_pending(cs, state_dir, &out->plan, phase, sizeof phase);
	if (r == 0)
		r = rs_rollback(cs, state_dir, &out->plan, wait_ms ? wait_ms : RS_DEFAULT_WAIT_MS, out);
	if (r < 0 && out->rollback[0])
		r = rv_fail(r, "%s", out->rollback);
	rs_note_kept_aside(&out->plan);
	out->phases.total = rv_now_mono() - t0;
	rs_unlock(lock);
	return r;
}

/* ---- leftovers ---- */

static void add_leftover(struct restore_leftover **v, size_t *n, const char *path)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i].path, path) == 0)
			return;
	*v = rv_xrealloc(*v, (*n + 1) * sizeof **v);
	snprintf((*v)[*n].path, sizeof(*v)[*n].path, "%s", path);
	(*v)[*n].bytes = rs_du(path);
	(*n)++;
}

int restore_leftovers(const struct cluster_spec *cs, struct restore_leftover **out, size_t *n)
{
	static const char *const kinds[] = {".before-restore-*", ".failed-restore-*"};
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < cs->n_members; i++) {
		char pat[PATH_MAX + 32], parent[PATH_MAX];
		const char *dd = cs->members[i].data_dir;
		for (size_t k = 0; k < RV_ARRAY_LEN(kinds); k++) {
			glob_t g;
			snprintf(pat, sizeof pat, "%s%s", dd, kinds[k]);
			if (glob(pat, GLOB_NOSORT, NULL, &g) == 0)
				for (size_t j = 0; j < g.gl_pathc; j++)
					add_leftover(out, n, g.gl_pathv[j]);
			globfree(&g);
		}
		rs_parent(dd, parent, sizeof parent);
		snprintf(pat, sizeof pat, "%s/%s", parent, RS_STAGING_NAME);
		if (rv_path_exists(pat))
			add_leftover(out, n, pat);
	}
	return 0;
}

int restore_cleanup(const struct cluster_spec *cs, const char *state_dir, struct restore_leftover **out, size_t *n)
{
	int lock = -1, r;
	struct restore_pending pend;
	bool found = false;

	*out = NULL;
	*n = 0;
	r = rs_lock(state_dir, &lock);
	if (r < 0)
		return r;
	r = restore_pending(state_dir, &pend, &found);
	if (r == 0 && found)
		r = rv_fail(-EBUSY, "cleanup refused: %s", pend.hint);
	if (r == 0)
		r = restore_leftovers(cs, out, n);
	for (size_t i = 0; r == 0 && i < *n; i++)
		r = rs_rmtree((*out)[i].path);
	rs_unlock(lock);
	return r;
}
