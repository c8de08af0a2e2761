/* member_step.c - one member's part of a restore coordinated across hosts: the steps
 * a host's agent runs for the coordinator (restore.h, "one member's steps"). Each
 * step reads this host's member journal first and does only what is not done yet,
 * so a step repeated after a crash or a lost answer does the right thing; the
 * journal is written before anything changes. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore/restore_impl.h"

struct mj {
	char phase[32], stamp[17], artifact[256], token[256], sha256[65];
	int64_t revision;
	char source[16];        /* how the db came: store, streamed */
	uint64_t bytes;
	double seconds;
	struct restore_plan p; /* one member */
};

static void mj_path(const char *state_dir, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", state_dir, RS_MEMBER_JOURNAL_NAME);
}

static int mj_write(const char *state_dir, const char *phase, struct mj *j)
{
	const struct restore_member_plan *m = &j->p.members[0];
	char path[PATH_MAX];
	json_t *o = json_pack("{s:s s:s s:s s:s s:s s:I s:s s:s s:s s:s s:b s:b s:s s:I s:f}", "phase", phase, "stamp",
			      j->stamp, "artifact", j->artifact, "token", j->token, "sha256", j->sha256, "revision",
			      (json_int_t)j->revision, "member", m->name, "data_dir", m->data_dir, "aside_dir",
			      m->aside_dir, "staged_dir", m->staged_dir, "had_data", m->has_data, "was_running",
			      m->running, "artifact_source", j->source, "artifact_bytes", (json_int_t)j->bytes,
			      "artifact_seconds", j->seconds);
	char *text = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	int r = rv_mkdir_p(state_dir, 0700);
	mj_path(state_dir, path, sizeof path);
	r = r < 0 ? rv_fail(r, "cannot create the state directory %s: %s", state_dir, strerror(-r))
		  : rv_write_file_atomic(path, text);
	free(text);
	if (r < 0)
		return rv_fail_wrap(r, "cannot record member %s's restore step", m->name);
	snprintf(j->phase, sizeof j->phase, "%s", phase);
	return 0;
}

static void cp(json_t *o, const char *k, char *out, size_t len)
{
	const char *s = json_string_value(json_object_get(o, k));
	snprintf(out, len, "%s", s ? s : "");
}

static int mj_read(const char *state_dir, struct mj *j, bool *found)
{
	char path[PATH_MAX];
	json_error_t err;
	memset(j, 0, sizeof *j);
	*found = false;
	mj_path(state_dir, path, sizeof path);
	if (!rv_path_exists(path))
		return 0;
	json_t *o = json_load_file(path, 0, &err);
	if (!o)
		return rv_fail(-EBADMSG, "the member restore journal %s cannot be read (%s); look at it, then move it away",
			       path, err.text);
	struct restore_member_plan *m = &j->p.members[0];
	cp(o, "phase", j->phase, sizeof j->phase);
	cp(o, "stamp", j->stamp, sizeof j->stamp);
	cp(o, "artifact", j->artifact, sizeof j->artifact);
	cp(o, "token", j->token, sizeof j->token);
	cp(o, "sha256", j->sha256, sizeof j->sha256);
	j->revision = json_integer_value(json_object_get(o, "revision"));
	cp(o, "artifact_source", j->source, sizeof j->source);
	j->bytes = (uint64_t)json_integer_value(json_object_get(o, "artifact_bytes"));
	j->seconds = json_number_value(json_object_get(o, "artifact_seconds"));
	cp(o, "member", m->name, sizeof m->name);
	cp(o, "data_dir", m->data_dir, sizeof m->data_dir);
	cp(o, "aside_dir", m->aside_dir, sizeof m->aside_dir);
	cp(o, "staged_dir", m->staged_dir, sizeof m->staged_dir);
	m->has_data = json_is_true(json_object_get(o, "had_data"));
	m->running = json_is_true(json_object_get(o, "was_running"));
	j->p.n_members = 1;
	snprintf(j->p.stamp, sizeof j->p.stamp, "%s", j->stamp);
	json_decref(o);
	*found = true;
	return 0;
}

static int mj_remove(const char *state_dir)
{
	char path[PATH_MAX];
	mj_path(state_dir, path, sizeof path);
	if (unlink(path) < 0 && errno != ENOENT)
		return rv_fail(-errno, "cannot remove the member restore journal %s: %s", path, strerror(errno));
	rv_fsync_dir(state_dir);
	return 0;
}

/* Member idx's part of a plan made with the coordinator's stamp. */
static int plan_one(const struct cluster_spec *cs, size_t idx, const char *stamp, struct restore_plan *p)
{
	const struct member_spec *m = &cs->members[idx];
	struct restore_member_plan *mp = &p->members[0];
	char parent[PATH_MAX];
	memset(p, 0, sizeof *p);
	if (!stamp || strlen(stamp) != 16)
		return rv_fail(-EINVAL, "the coordinator sent no valid restore stamp for member %s", m->name);
	snprintf(p->stamp, sizeof p->stamp, "%s", stamp);
	p->n_members = 1;
	snprintf(mp->name, sizeof mp->name, "%s", m->name);
	snprintf(mp->data_dir, sizeof mp->data_dir, "%s", m->data_dir);
	for (size_t n = strlen(mp->data_dir); n > 1 && mp->data_dir[n - 1] == '/'; n--)
		mp->data_dir[n - 1] = 0;
	snprintf(mp->aside_dir, sizeof mp->aside_dir, "%s.before-restore-%s", mp->data_dir, stamp);
	rs_parent(mp->data_dir, parent, sizeof parent);
	snprintf(p->staging_dir, sizeof p->staging_dir, "%s/%s", parent, RS_STAGING_NAME);
	snprintf(mp->staged_dir, sizeof mp->staged_dir, "%s/%s", p->staging_dir, mp->name);
	mp->has_data = rv_path_exists(mp->data_dir);
	mp->running = rs_member_running(cs, idx);
	return 0;
}

int restore_member_db_path(const struct cluster_spec *cs, size_t idx, char *out, size_t len)
{
	char parent[PATH_MAX];
	rs_parent(cs->members[idx].data_dir, parent, sizeof parent);
	int n = snprintf(out, len, "%s/%s/received-%s.db", parent, RS_STAGING_NAME, cs->members[idx].name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int restore_member_receive(const struct cluster_spec *cs, size_t idx, uint64_t offset, const void *data, size_t len)
{
	char path[PATH_MAX], dir[PATH_MAX];
	restore_member_db_path(cs, idx, path, sizeof path);
	rs_parent(path, dir, sizeof dir);
	int r = rv_mkdir_p(dir, 0700);
	if (r < 0)
		return rv_fail(r, "cannot create the staging directory %s: %s", dir, strerror(-r));
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (offset == 0 ? O_TRUNC : 0), 0600);
	if (fd < 0)
		return rv_fail(-errno, "cannot write the received snapshot %s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size != offset) {
		close(fd);
		return rv_fail(-ESPIPE, "the received snapshot %s has %lld bytes, not the %llu the coordinator sends after; "
					"send it again from the start",
			       path, (long long)sb.st_size, (unsigned long long)offset);
	}
	const char *b = data;
	while (len > 0) {
		ssize_t w = pwrite(fd, b, len, (off_t)offset);
		if (w < 0) {
			r = rv_fail(-errno, "cannot write the received snapshot %s: %s", path, strerror(errno));
			close(fd);
			return r;
		}
		b += w, len -= (size_t)w, offset += (uint64_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return rv_fail(-EIO, "cannot write the received snapshot %s", path);
	return 0;
}

/* A journal for another restore, or a one-host restore pending, refuses the step. */
static int refuse_other(const struct restore_member_req *q, const struct mj *j, bool found)
{
	if (found && strcmp(j->stamp, q->stamp) != 0)
		return rv_fail(-EBUSY, "member %s on this host is at step '%s' of another restore (%s, of %s); finish or "
				       "roll back that restore first",
			       j->p.members[0].name, j->phase, j->stamp, j->artifact);
	return 0;
}

/* This host fetches the artifact from its own store into db_path and checks it: the
 * fetch verified every byte (the db against etcd's trailer and the artifact's own
 * manifest); its trailer must be the sha256 the coordinator named. The db's own
 * revision raises the journaled one (the manifest's is the source's, never newer). */
static int fetch_from_store(const struct restore_member_req *q, struct mj *j, const char *db_path, uint64_t *size)
{
	const char *name = j->p.members[0].name, *where = store_describe(q->store);
	struct snap_manifest m = {0};
	char got[65] = "";
	int64_t rev = 0;
	char dir[PATH_MAX];
	double t0 = rv_now_mono();
	rs_parent(db_path, dir, sizeof dir);
	int r = rv_mkdir_p(dir, 0700);
	if (r < 0)
		return rv_fail(r, "cannot create the staging directory %s on member %s's host: %s", dir, name, strerror(-r));
	const struct rv_cancel *was = store_set_cancel(q->store, q->cancel);
	r = rs_fetch(q->store, q->artifact, NULL, db_path, &m, NULL, NULL);
	store_set_cancel(q->store, was);
	if (r < 0) {
		char why[1536];
		snprintf(why, sizeof why, "%s", rv_errmsg(r));
		unlink(db_path);
		if (r == -EBADMSG)
			return rv_fail(r, "member %s's host fetched artifact %s from %s but it is damaged: %s; nothing was "
					  "stopped", name, q->artifact, where, why);
		return rv_fail(r, "member %s's host cannot fetch artifact %s from its store %s: %s; on that host, fix "
				  "store.url, store.s3 and the store's credentials in its configuration or its way to the "
				  "store, or restore from a snapshot file on the coordinator, which sends it to every host",
			       name, q->artifact, where, why);
	}
	j->seconds = rv_now_mono() - t0;
	r = rs_check_staged(db_path, &m, size);
	if (r == 0)
		r = rs_trailer_hex(db_path, got);
	if (r == 0 && j->sha256[0] && strcasecmp(got, j->sha256) != 0)
		r = rv_fail(-EBADMSG, "artifact %s fetched from %s on member %s's host has sha256 %s, not the %s the "
				      "coordinator named from its manifest; the artifact in the store was replaced or is "
				      "damaged; nothing was stopped",
			    q->artifact, where, name, got, j->sha256);
	if (r == 0) {
		if (rs_db_last_revision(db_path, &rev) == 0 && rev > j->revision)
			j->revision = rev;
		rv_err_clear(); /* the revision is only a better one: the manifest's stays */
	}
	if (r < 0) {
		unlink(db_path);
		return r;
	}
	snprintf(j->source, sizeof j->source, "store");
	j->bytes = *size + 32;
	return 0;
}

int restore_member_prepare(const struct restore_member_req *q, struct restore_member_state *st)
{
	struct mj j;
	bool found;
	int lock = -1, r;
	char db_path[PATH_MAX];
	memset(st, 0, sizeof *st);
	if ((r = rs_lock(q->state_dir, &lock)) < 0)
		return r;
	if ((r = mj_read(q->state_dir, &j, &found)) < 0 || (r = refuse_other(q, &j, found)) < 0)
		goto out;
	if (found && strcmp(j.phase, "prepared") != 0) {
		r = rv_fail(-EBUSY, "member %s is already at step '%s' of restore %s; prepare again only after a rollback",
			    j.p.members[0].name, j.phase, j.stamp);
		goto out;
	}
	if (found && rv_path_exists(j.p.members[0].staged_dir))
		goto done; /* prepared before: the answer was lost */
	{
		struct restore_pending pend;
		bool pending = false;
		if (rs_journal_read(q->state_dir, pend.phase, sizeof pend.phase, &j.p, pend.started_at, &pending) == 0 &&
		    pending) {
			r = rv_fail(-EBUSY, "a restore on this host alone is pending at step '%s'; finish it first", pend.phase);
			goto out;
		}
	}
	if ((r = plan_one(q->cs, q->idx, q->stamp, &j.p)) < 0)
		goto out;
	snprintf(j.stamp, sizeof j.stamp, "%s", q->stamp);
	snprintf(j.artifact, sizeof j.artifact, "%s", q->artifact ? q->artifact : "");
	snprintf(j.token, sizeof j.token, "%s", q->token ? q->token : "");
	snprintf(j.sha256, sizeof j.sha256, "%s", q->sha256 ? q->sha256 : "");
	j.revision = q->revision;
	if (rv_path_exists(j.p.members[0].aside_dir)) {
		r = rv_fail(-EEXIST, "%s already exists; nothing was changed", j.p.members[0].aside_dir);
		goto out;
	}
	restore_member_db_path(q->cs, q->idx, db_path, sizeof db_path);
	uint64_t size = 0;
	if (q->store) {
		if ((r = fetch_from_store(q, &j, db_path, &size)) < 0)
			goto out;
	} else if (!rv_path_exists(db_path)) {
		r = rv_fail(-ENOENT, "member %s's host received no snapshot to prepare from", j.p.members[0].name);
		goto out;
	} else {
		r = rs_verify_db(db_path, j.sha256, &size, NULL, NULL);
		snprintf(j.source, sizeof j.source, "streamed");
		j.bytes = size + 32;
	}
	if (r == 0)
		r = rs_check_space(&j.p, size);
	if (r == 0)
		r = rs_find_tool(q->cs, j.p.tool, sizeof j.p.tool);
	if (r < 0)
		goto out;
	{
		char (*dirs)[PATH_MAX] = rv_xcalloc(q->cs->n_members, PATH_MAX);
		snprintf(dirs[q->idx], PATH_MAX, "%s", j.p.members[0].staged_dir);
		if (rv_path_exists(dirs[q->idx]))
			rs_rmtree(dirs[q->idx]);
		r = rs_restore_one(j.p.tool, q->cs, q->idx, db_path, j.token, dirs, lock, q->cancel);
		if (r == 0 && j.p.members[0].has_data)
			r = rs_chown_like(dirs[q->idx], j.p.members[0].data_dir);
		free(dirs);
	}
	if (r == 0)
		r = mj_write(q->state_dir, "prepared", &j);
	unlink(db_path);
	if (r < 0)
		goto out;
done:
	snprintf(st->phase, sizeof st->phase, "prepared");
	snprintf(st->stamp, sizeof st->stamp, "%s", j.stamp);
	st->revision = j.revision;
	snprintf(st->artifact_source, sizeof st->artifact_source, "%s", j.source);
	st->artifact_bytes = j.bytes;
	st->artifact_seconds = j.seconds;
	st->found = true;
out:
	rs_unlock(lock);
	return r;
}

void restore_quarantine_url(const char *url, char *out, size_t len)
{
	const char *colon = strrchr(url, ':');
	long port = colon ? strtol(colon + 1, NULL, 10) : 0;
	if (port <= 0) {
		snprintf(out, len, "%s", url);
		return;
	}
	long q = port + 10000 <= 65535 ? port + 10000 : port - 10000;
	snprintf(out, len, "%.*s:%ld", (int)(colon - url), url, q);
}

/* Start member idx on its quarantine client URL (quarantined) or its own. */
static int start_member(const struct cluster_spec *cs, size_t idx, bool quarantined)
{
	if (!quarantined)
		return rs_member_start(cs, idx);
	struct cluster_spec q = *cs;
	char url[512];
	q.members = rv_xcalloc(cs->n_members, sizeof *q.members);
	memcpy(q.members, cs->members, cs->n_members * sizeof *q.members);
	restore_quarantine_url(cs->members[idx].client_url, url, sizeof url);
	q.members[idx].client_url = url;
	int r = rs_member_start(&q, idx);
	free(q.members);
	return r;
}

static int load(const struct restore_member_req *q, struct mj *j, int *lock)
{
	bool found;
	int r = rs_lock(q->state_dir, lock);
	if (r == 0 && (r = mj_read(q->state_dir, j, &found)) == 0 && !found)
		r = rv_fail(-ENOENT, "member %s has no prepared restore on this host", q->cs->members[q->idx].name);
	if (r == 0 && q->stamp && *q->stamp)
		r = refuse_other(q, j, true);
	return r;
}

static void fill(struct restore_member_state *st, const struct mj *j)
{
	snprintf(st->phase, sizeof st->phase, "%s", j->phase);
	snprintf(st->stamp, sizeof st->stamp, "%s", j->stamp);
	snprintf(st->artifact, sizeof st->artifact, "%s", j->artifact);
	st->revision = j->revision;
	if (j->p.members[0].has_data)
		snprintf(st->old_data_dir, sizeof st->old_data_dir, "%s", j->p.members[0].aside_dir);
	st->found = true;
}

int restore_member_commit(const struct restore_member_req *q, struct restore_member_state *st)
{
	struct mj j;
	int lock = -1, r;
	memset(st, 0, sizeof *st);
	if ((r = load(q, &j, &lock)) < 0)
		goto out;
	const struct restore_member_plan *m = &j.p.members[0];
	if (strcmp(j.phase, "quarantined") == 0 && rs_member_running(q->cs, q->idx))
		goto done;
	if (strcmp(j.phase, "prepared") != 0 && strcmp(j.phase, "committing") != 0 && strcmp(j.phase, "quarantined") != 0) {
		r = rv_fail(-EBUSY, "member %s is at step '%s' of restore %s, past the commit", m->name, j.phase, j.stamp);
		goto out;
	}
	if ((r = mj_write(q->state_dir, "committing", &j)) < 0)
		goto out;
	rv_test_point("member-committing");
	if ((r = rs_member_stop(q->cs, q->idx)) < 0)
		goto out;
	if (m->has_data && !rv_path_exists(m->aside_dir) && rv_path_exists(m->data_dir) &&
	    (r = rs_rename(m->data_dir, m->aside_dir)) < 0)
		goto out;
	if (rv_path_exists(m->staged_dir)) {
		if (rv_path_exists(m->data_dir)) {
			r = rv_fail(-EEXIST, "%s is in the way of the restored data dir of member %s", m->data_dir, m->name);
			goto out;
		}
		if ((r = rs_rename(m->staged_dir, m->data_dir)) < 0)
			goto out;
	} else if (!rv_path_exists(m->data_dir)) {
		r = rv_fail(-ENOENT, "the restored data dir of member %s is gone from %s", m->name, m->staged_dir);
		goto out;
	}
	if ((r = start_member(q->cs, q->idx, true)) < 0)
		goto out;
	if ((r = mj_write(q->state_dir, "quarantined", &j)) < 0)
		goto out;
done:
	fill(st, &j);
out:
	rs_unlock(lock);
	return r;
}

int restore_member_open(const struct restore_member_req *q, struct restore_member_state *st)
{
	struct mj j;
	int lock = -1, r;
	memset(st, 0, sizeof *st);
	if ((r = load(q, &j, &lock)) < 0)
		goto out;
	if (strcmp(j.phase, "open") == 0 && rs_member_running(q->cs, q->idx))
		goto done;
	if (strcmp(j.phase, "quarantined") != 0 && strcmp(j.phase, "opening") != 0 && strcmp(j.phase, "open") != 0) {
		r = rv_fail(-EBUSY, "member %s is at step '%s' of restore %s, not quarantined", j.p.members[0].name,
			    j.phase, j.stamp);
		goto out;
	}
	if ((r = mj_write(q->state_dir, "opening", &j)) < 0)
		goto out;
	if ((r = rs_member_stop(q->cs, q->idx)) < 0 || (r = start_member(q->cs, q->idx, false)) < 0)
		goto out;
	if ((r = mj_write(q->state_dir, "open", &j)) < 0)
		goto out;
done:
	fill(st, &j);
out:
	rs_unlock(lock);
	return r;
}

int restore_member_rollback(const struct restore_member_req *q, struct restore_member_state *st)
{
	struct mj j;
	bool found;
	int lock = -1, r;
	char db_path[PATH_MAX];
	memset(st, 0, sizeof *st);
	if ((r = rs_lock(q->state_dir, &lock)) < 0)
		return r;
	/* a snapshot received for a prepare that never ran (an interrupted send) */
	if (restore_member_db_path(q->cs, q->idx, db_path, sizeof db_path) == 0)
		unlink(db_path);
	if ((r = mj_read(q->state_dir, &j, &found)) < 0 || !found)
		goto out; /* nothing (left) to undo */
	const struct restore_member_plan *m = &j.p.members[0];
	bool stopped_before = strcmp(j.phase, "prepared") != 0;
	if ((r = mj_write(q->state_dir, "rolling-back", &j)) < 0)
		goto out;
	if (stopped_before || rv_path_exists(m->aside_dir)) {
		if ((r = rs_member_stop(q->cs, q->idx)) < 0 || (r = rs_put_back_member(m, j.stamp, NULL, NULL)) < 0)
			goto out;
	}
	if (m->running && !rs_member_running(q->cs, q->idx) && (r = rs_member_start(q->cs, q->idx)) < 0)
		goto out;
	if (rv_path_exists(m->staged_dir))
		rs_rmtree(m->staged_dir);
	rv_err_clear();
	r = mj_remove(q->state_dir);
	snprintf(j.phase, sizeof j.phase, "rolled-back");
	fill(st, &j);
out:
	rs_unlock(lock);
	return r;
}

int restore_member_cleanup(const struct restore_member_req *q, struct restore_member_state *st)
{
	struct mj j;
	bool found;
	int lock = -1, r;
	memset(st, 0, sizeof *st);
	if ((r = rs_lock(q->state_dir, &lock)) < 0)
		return r;
	if ((r = mj_read(q->state_dir, &j, &found)) < 0 || !found)
		goto out;
	if (strcmp(j.phase, "open") != 0) {
		r = rv_fail(-EBUSY, "member %s is at step '%s' of restore %s; only an open restore is finished by cleanup "
				    "(roll it back otherwise)",
			    j.p.members[0].name, j.phase, j.stamp);
		goto out;
	}
	char dir[PATH_MAX];
	rs_parent(j.p.members[0].staged_dir, dir, sizeof dir);
	rs_rmtree(dir);
	rv_err_clear();
	r = mj_remove(q->state_dir);
	snprintf(j.phase, sizeof j.phase, "done");
	fill(st, &j);
out:
	rs_unlock(lock);
	return r;
}

int restore_member_status(const char *state_dir, struct restore_member_state *st)
{
	struct mj j;
	bool found;
	memset(st, 0, sizeof *st);
	int r = mj_read(state_dir, &j, &found);
	if (r == 0 && found)
		fill(st, &j);
	return r;
}
