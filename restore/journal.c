/* journal.c - where a restore is, on disk, before each step that changes anything.
 * The journal is one small JSON file in the state directory, replaced atomically, so
 * that a restore killed outright (SIGKILL, power loss) leaves a record saying which
 * data dirs were moved where; the next run refuses to start and says how to finish
 * or undo, and rollback/resume read the same record. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "restore/restore_impl.h"

static void journal_path(const char *state_dir, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", state_dir, RS_JOURNAL_NAME);
}

int rs_journal_write(const char *state_dir, const char *phase, const struct restore_plan *p)
{
	char path[PATH_MAX], now[21];
	json_t *j = json_object(), *ms = json_array();
	char *text;
	int r;

	rv_utc_rfc3339(rv_now_unix(), now);
	json_object_set_new(j, "phase", json_string(phase));
	json_object_set_new(j, "written_at", json_string(now));
	json_object_set_new(j, "stamp", json_string(p->stamp));
	json_object_set_new(j, "artifact", json_string(p->artifact));
	json_object_set_new(j, "store", json_string(p->store));
	json_object_set_new(j, "snapshot_revision", json_integer(p->snapshot_revision));
	json_object_set_new(j, "token", json_string(p->token));
	if (p->point_revision)
		json_object_set_new(j, "point_revision", json_integer(p->point_revision));
	if (p->point_replayed)
		json_object_set_new(j, "point_replayed", json_true());
	json_object_set_new(j, "staging_dir", json_string(p->staging_dir));
	for (size_t i = 0; i < p->n_members; i++) {
		const struct restore_member_plan *m = &p->members[i];
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(m->name));
		json_object_set_new(o, "data_dir", json_string(m->data_dir));
		json_object_set_new(o, "aside_dir", json_string(m->aside_dir));
		json_object_set_new(o, "staged_dir", json_string(m->staged_dir));
		json_object_set_new(o, "had_data", json_boolean(m->has_data));
		json_object_set_new(o, "was_running", json_boolean(m->running));
		json_object_set_new(o, "was_healthy", json_boolean(m->healthy));
		json_array_append_new(ms, o);
	}
	json_object_set_new(j, "members", ms);
	text = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	journal_path(state_dir, path, sizeof path);
	r = rv_mkdir_p(state_dir, 0700);
	if (r < 0)
		r = rv_fail(r, "cannot create the state directory %s: %s", state_dir, strerror(-r));
	else
		r = rv_write_file_atomic(path, text);
	free(text);
	if (r < 0)
		return rv_fail_wrap(r, "cannot record the restore's progress");
	return 0;
}

static void copy_str(json_t *o, const char *key, char *out, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));
	snprintf(out, len, "%s", s ? s : "");
}

int rs_journal_read(const char *state_dir, char *phase, size_t phase_len, struct restore_plan *p, char started_at[21],
		    bool *found)
{
	char path[PATH_MAX];
	json_error_t err;
	json_t *j, *ms;

	*found = false;
	journal_path(state_dir, path, sizeof path);
	if (!rv_path_exists(path))
		return 0;
	j = json_load_file(path, 0, &err);
	if (!j)
		return rv_fail(-EBADMSG, "the restore journal %s cannot be read (%s); look at it, then move it away", path,
			       err.text);
	memset(p, 0, sizeof *p);
	copy_str(j, "phase", phase, phase_len);
	copy_str(j, "stamp", p->stamp, sizeof p->stamp);
	int64_t t0;
	if (rv_parse_utc_compact(p->stamp, &t0) == 0)
		rv_utc_rfc3339(t0, started_at);
	else
		copy_str(j, "written_at", started_at, 21);
	copy_str(j, "artifact", p->artifact, sizeof p->artifact);
	copy_str(j, "store", p->store, sizeof p->store);
	copy_str(j, "token", p->token, sizeof p->token);
	copy_str(j, "staging_dir", p->staging_dir, sizeof p->staging_dir);
	p->snapshot_revision = json_integer_value(json_object_get(j, "snapshot_revision"));
	p->point_revision = json_integer_value(json_object_get(j, "point_revision"));
	p->point_replayed = json_is_true(json_object_get(j, "point_replayed"));
	ms = json_object_get(j, "members");
	for (size_t i = 0; i < json_array_size(ms) && i < RESTORE_MAX_MEMBERS; i++) {
		json_t *o = json_array_get(ms, i);
		struct restore_member_plan *m = &p->members[i];
		copy_str(o, "name", m->name, sizeof m->name);
		copy_str(o, "data_dir", m->data_dir, sizeof m->data_dir);
		copy_str(o, "aside_dir", m->aside_dir, sizeof m->aside_dir);
		copy_str(o, "staged_dir", m->staged_dir, sizeof m->staged_dir);
		m->has_data = json_is_true(json_object_get(o, "had_data"));
		m->running = json_is_true(json_object_get(o, "was_running"));
		m->healthy = json_is_true(json_object_get(o, "was_healthy"));
		p->n_members++;
	}
	json_decref(j);
	*found = true;
	return 0;
}

int rs_journal_remove(const char *state_dir)
{
	char path[PATH_MAX];
	journal_path(state_dir, path, sizeof path);
	if (unlink(path) < 0 && errno != ENOENT)
		return rv_fail(-errno, "cannot remove the restore journal %s: %s", path, strerror(errno));
	rv_fsync_dir(state_dir);
	return 0;
}

/* A member's step of a restore across hosts (member_step.c) is pending too. */
static int member_pending(const char *state_dir, struct restore_pending *out, bool *found)
{
	struct restore_member_state st;
	int r = restore_member_status(state_dir, &st);
	if (r < 0 || !st.found)
		return r;
	*found = true;
	snprintf(out->phase, sizeof out->phase, "%s", st.phase);
	snprintf(out->artifact, sizeof out->artifact, "%s", st.artifact);
	snprintf(out->stamp, sizeof out->stamp, "%s", st.stamp);
	int64_t t0;
	if (rv_parse_utc_compact(st.stamp, &t0) == 0)
		rv_utc_rfc3339(t0, out->started_at);
	snprintf(out->hint, sizeof out->hint,
		 "a restore of %s across hosts (started %s) is at step '%s' on this host, which any host can finish.%s%s",
		 st.artifact, out->started_at, st.phase, rv_advice_text(RV_ADVICE_PENDING_ROLLBACK),
		 rv_advice_text(RV_ADVICE_PENDING_RESUME));
	return 0;
}

int restore_pending(const char *state_dir, struct restore_pending *out, bool *found)
{
	struct restore_plan *p = rv_xcalloc(1, sizeof *p);
	int r;

	memset(out, 0, sizeof *out);
	r = rs_journal_read(state_dir, out->phase, sizeof out->phase, p, out->started_at, found);
	if (r == 0 && *found) {
		snprintf(out->artifact, sizeof out->artifact, "%s", p->artifact);
		snprintf(out->stamp, sizeof out->stamp, "%s", p->stamp);
		bool can_resume = strcmp(out->phase, "rolling-back") != 0 && !rs_point_half_done(p, out->phase);
		for (size_t i = 0; i < p->n_members && can_resume; i++)
			if (!rv_path_exists(p->members[i].staged_dir) && !rv_path_exists(p->members[i].aside_dir))
				can_resume = false;
		snprintf(out->hint, sizeof out->hint,
			 "a restore of %s (started %s) was interrupted at step '%s'; the old data dirs are kept (as "
			 "<data_dir>.before-restore-%s once moved).%s%s",
			 p->artifact, out->started_at, out->phase, p->stamp, rv_advice_text(RV_ADVICE_PENDING_ROLLBACK),
			 can_resume ? rv_advice_text(RV_ADVICE_PENDING_RESUME) : "");
	}
	free(p);
	if (r == 0 && !*found)
		r = member_pending(state_dir, out, found);
	return r;
}

/* Only a journal of an earlier version, which replayed into the members after the
 * swap: its staged data is the base's, not the point's. Since the replay happens
 * before the stop (point_replayed), such a restore resumes as any other. */
bool rs_point_half_done(const struct restore_plan *p, const char *phase)
{
	return p->point_revision > 0 && !p->point_replayed &&
	       (strcmp(phase, "stopping") == 0 || strcmp(phase, "swapping") == 0 || strcmp(phase, "replaying") == 0);
}
