/* drill.c - proof that an artifact restores: the same fetch, verify and restore as a
 * real restore, into a scratch three-member cluster on free loopback ports under a
 * temporary directory (the configured members are never touched), then health, one
 * leader, equal revision and HashKV, a sample of keys read from every member, and the
 * key count. The report (recovery point = the snapshot's age, recovery time = time
 * to a healthy restored cluster) is saved by the caller under <state_dir>/drills/. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore/restore_impl.h"

#define DRILL_MEMBERS 3
#define SCRATCH_PREFIX "regvault-drill-"
/* In every scratch directory: "<pid> <start time>" of the process whose drill it
 * is, so a later drill (or a daemon starting) knows it for a leftover once that
 * process is gone, and never takes another directory for one. */
#define OWNER_FILE "regvault-drill.owner"

static void reason(struct drill_report *d, const char *fmt, ...) RV_PRINTF(2, 3);
static void reason(struct drill_report *d, const char *fmt, ...)
{
	va_list ap;
	d->passed = false;
	if (d->n_reasons >= DRILL_MAX_REASONS)
		return;
	va_start(ap, fmt);
	vsnprintf(d->reasons[d->n_reasons++], sizeof d->reasons[0], fmt, ap);
	va_end(ap);
}

struct scratch {
	char dir[PATH_MAX];
	struct cluster_spec cs;
	struct member_spec m[DRILL_MEMBERS];
	char urls[DRILL_MEMBERS][2][64];
	char names[DRILL_MEMBERS][16];
	char data[DRILL_MEMBERS][PATH_MAX];
	char token[64];
};

static const char *scratch_parent(const char *parent)
{
	if (!parent)
		parent = getenv("TMPDIR");
	return parent && *parent ? parent : "/tmp";
}

/* Field 22 of /proc/PID/stat, in clock ticks since boot: with the pid, it names a
 * process (a pid alone may be reused). 0 when the process is gone. */
static unsigned long long proc_start_time(pid_t pid)
{
	char path[64], *text;
	unsigned long long start = 0;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (rv_read_file(path, &text, NULL, 4096) < 0) {
		rv_err_clear();
		return 0;
	}
	const char *p = strrchr(text, ')');
	for (int field = 2; p && *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (p && sscanf(p, "%llu", &start) != 1)
		start = 0;
	free(text);
	return start;
}

static int write_owner(const char *dir)
{
	char path[PATH_MAX + 32], line[64];
	snprintf(path, sizeof path, "%s/" OWNER_FILE, dir);
	snprintf(line, sizeof line, "%d %llu\n", (int)getpid(), proc_start_time(getpid()));
	return rv_write_file_atomic(path, line);
}

/* Six distinct free ports, as URLs; the members use them moments later. */
static int scratch_init(struct scratch *s, const struct drill_opts *o, const char *stamp)
{
	int ports[2 * DRILL_MEMBERS];
	char tmpl[PATH_MAX];

	snprintf(tmpl, sizeof tmpl, "%s/" SCRATCH_PREFIX "XXXXXX", scratch_parent(o->scratch_parent));
	if (!mkdtemp(tmpl))
		return rv_fail(-errno, "cannot create a scratch directory %s: %s", tmpl, strerror(errno));
	snprintf(s->dir, sizeof s->dir, "%s", tmpl);
	int w = write_owner(tmpl);
	if (w < 0) {
		rs_rmtree(tmpl);
		return w;
	}
	for (int i = 0, tries = 0; i < 2 * DRILL_MEMBERS; tries++) {
		bool dup = false;
		int r = rv_free_port(&ports[i]);
		if (r < 0 || tries > 100)
			return rv_fail(r < 0 ? r : -EADDRINUSE, "cannot find free loopback ports for the scratch cluster");
		for (int j = 0; j < i; j++)
			dup |= ports[j] == ports[i]; /* the kernel may hand out a port twice */
		if (!dup)
			i++;
	}
	snprintf(s->token, sizeof s->token, "regvault-drill-%s", stamp);
	s->cs.name = o->cs && o->cs->name ? o->cs->name : "drill";
	s->cs.token = s->token;
	s->cs.members = s->m;
	s->cs.n_members = DRILL_MEMBERS;
	s->cs.scratch = true;
	if (o->cs) {
		s->cs.etcd = o->cs->etcd;
		/* The snapshot holds the source's users and roles: with auth on, the
		 * configured credentials are what opens it. */
		s->cs.user = o->cs->user;
		s->cs.password = o->cs->password;
	}
	if (!s->cs.etcd.heartbeat_interval_ms)
		s->cs.etcd.heartbeat_interval_ms = 100;
	if (!s->cs.etcd.election_timeout_ms)
		s->cs.etcd.election_timeout_ms = 1000;
	for (int i = 0; i < DRILL_MEMBERS; i++) {
		snprintf(s->names[i], sizeof s->names[i], "drill%d", i + 1);
		snprintf(s->urls[i][0], sizeof s->urls[i][0], "http://127.0.0.1:%d", ports[2 * i]);
		snprintf(s->urls[i][1], sizeof s->urls[i][1], "http://127.0.0.1:%d", ports[2 * i + 1]);
		snprintf(s->data[i], sizeof s->data[i], "%s/drill%d", tmpl, i + 1);
		s->m[i].name = s->names[i];
		s->m[i].client_url = s->urls[i][0];
		s->m[i].peer_url = s->urls[i][1];
		s->m[i].data_dir = s->data[i];
		s->m[i].control = MEMBER_CONTROL_LOCAL;
	}
	return 0;
}

static void scratch_teardown(struct scratch *s)
{
	pid_t pids[DRILL_MEMBERS];
	if (!s->dir[0])
		return;
	for (size_t i = 0; i < DRILL_MEMBERS; i++)
		pids[i] = member_recorded_pid(&s->m[i]);
	int r = cluster_down(&s->cs, 5000);
	/* The members are our children (struct cluster_spec's scratch): a member that
	 * exited early, or that cluster_down stopped, is reaped here. */
	for (size_t i = 0; i < DRILL_MEMBERS; i++)
		rv_proc_reap_pid(pids[i]);
	if (r < 0) {
		/* Keep the directory of a member that would not stop: it still uses it
		 * (and dies with this thread); the next drill removes it. */
		rv_warn("drill: scratch cluster under %s did not stop: %s", s->dir, rv_errmsg(r));
		return;
	}
	if (rs_rmtree(s->dir) < 0)
		rv_warn("%s", rv_errmsg(-EIO));
}

/* Is dir (a regvault-drill-* directory) the leftover of a drill whose process is
 * gone? Only a directory of ours with the owner file is ever one. */
static bool is_leftover(const char *dir)
{
	char path[PATH_MAX + 32], *text;
	struct stat sb;
	int pid = 0;
	unsigned long long start = 0;
	if (lstat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
		return false;
	snprintf(path, sizeof path, "%s/" OWNER_FILE, dir);
	if (rv_read_file(path, &text, NULL, 256) < 0) {
		rv_err_clear();
		return false;
	}
	bool parsed = sscanf(text, "%d %llu", &pid, &start) == 2 && pid > 0;
	free(text);
	if (!parsed)
		return false;
	unsigned long long now = proc_start_time((pid_t)pid);
	return now == 0 || now != start; /* gone, or its pid is another process now */
}

/* Stop what still runs of a leftover (its members' pid files: only an etcd with
 * that data dir is signalled) and remove the directory. */
static int remove_leftover(const char *dir)
{
	struct member_spec m[DRILL_MEMBERS] = {0};
	char names[DRILL_MEMBERS][16], data[DRILL_MEMBERS][PATH_MAX + 16];
	struct cluster_spec cs = {.name = "drill", .members = m, .n_members = DRILL_MEMBERS, .scratch = true};
	int r = 0;
	for (size_t i = 0; i < DRILL_MEMBERS; i++) {
		snprintf(names[i], sizeof names[i], "drill%zu", i + 1);
		snprintf(data[i], sizeof data[i], "%s/drill%zu", dir, i + 1);
		m[i].name = names[i];
		m[i].data_dir = data[i];
		m[i].control = MEMBER_CONTROL_LOCAL;
	}
	for (size_t i = 0; i < DRILL_MEMBERS && r == 0; i++) {
		pid_t pid = member_recorded_pid(&m[i]);
		r = member_stop(&cs, i, 2000);
		rv_proc_reap_pid(pid); /* ours only if this process started it */
	}
	if (r < 0)
		return rv_fail_wrap(r, "cannot stop the scratch cluster left under %s", dir);
	return rs_rmtree(dir);
}

int restore_drill_cleanup(const char *parent, int *removed)
{
	const char *p = scratch_parent(parent);
	DIR *d = opendir(p);
	struct dirent *e;
	int r = 0;
	*removed = 0;
	if (!d)
		return errno == ENOENT ? 0 : rv_fail(-errno, "cannot read %s: %s", p, strerror(errno));
	while ((e = readdir(d))) {
		char dir[PATH_MAX];
		if (strncmp(e->d_name, SCRATCH_PREFIX, strlen(SCRATCH_PREFIX)) != 0)
			continue;
		snprintf(dir, sizeof dir, "%s/%s", p, e->d_name);
		if (!is_leftover(dir))
			continue;
		int x = remove_leftover(dir);
		if (x < 0) {
			if (r == 0)
				r = x;
			continue;
		}
		rv_info("drill: removed the scratch cluster an interrupted drill left under %s", dir);
		(*removed)++;
	}
	closedir(d);
	return r;
}

/* Name, manifest and creation time of what is drilled. */
static int drill_resolve(const struct drill_opts *o, struct drill_report *d, struct snap_manifest *m,
			 int64_t *created)
{
	int r;
	*created = -1;
	if (o->db_file) {
		struct stat sb;
		snprintf(d->artifact, sizeof d->artifact, "%s", o->db_file);
		if (stat(o->db_file, &sb) < 0)
			return rv_fail(-errno, "cannot read the snapshot file %s: %s", o->db_file, strerror(errno));
		*created = sb.st_mtime;
		r = rs_db_last_revision(o->db_file, &m->revision);
		return r < 0 ? rv_fail_wrap(r, "%s is not an etcd snapshot", o->db_file) : 0;
	}
	if (!o->store)
		return rv_fail_advice(-EINVAL, RV_ADVICE_STORE_URL, "no store to drill from; configure store.url");
	snprintf(d->store, sizeof d->store, "%s", store_describe(o->store));
	r = snap_resolve(o->store, o->from ? o->from : "latest", d->artifact, sizeof d->artifact);
	if (r < 0)
		return r;
	struct snap_info *list = NULL;
	size_t n = 0;
	if (snap_list(o->store, &list, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(list[i].name, d->artifact) == 0 && !list[i].foreign) {
				*m = list[i].m;
				*created = list[i].created;
			}
		free(list);
	} else {
		rv_err_clear();
	}
	return 0;
}

/* Between phases: -EINTR (the scratch cluster is torn down, no report written). */
static int check_cancel(const struct drill_opts *o, const char *when)
{
	if (!rv_cancelled(o->cancel))
		return 0;
	return rv_fail(-EINTR, "the drill was interrupted %s; its scratch cluster is removed and no report written", when);
}

static int drill(const struct drill_opts *o, struct drill_report *d)
{
	struct scratch *s = rv_xcalloc(1, sizeof *s);
	struct snap_manifest m = {0};
	struct rs_check chk;
	char stamp[17], tool[PATH_MAX], db_path[PATH_MAX + 16];
	int64_t now = rv_now_unix(), created = -1;
	int wait_ms = o->wait_ms > 0 ? o->wait_ms : RS_DEFAULT_WAIT_MS;
	double t0 = rv_now_mono(), t;
	uint64_t db_size;
	int r;

	memset(d, 0, sizeof *d);
	d->passed = true;
	d->age_s = -1;
	d->recovery_time_s = -1;
	rv_utc_compact(now, stamp);
	rv_utc_rfc3339(now, d->drilled_at);
	etcd_global_init();

	struct rs_point pt = {0};
	bool to_point = o->point.to != RESTORE_TO_NONE;
	d->point.used = to_point;
	struct drill_opts po = *o;
	r = 0;
	if (to_point) {
		r = o->store ? rs_point_resolve(o->store, &o->point, &pt)
			     : rv_fail(-EINVAL, "a drill to a point needs the store that holds the chain");
		po.from = pt.artifact;
		po.db_file = NULL;
		snprintf(d->point.chain, sizeof d->point.chain, "%s", pt.chain);
		d->point.revision = pt.revision;
		d->point.unix_ms = pt.unix_ms;
	}
	r = to_point && r < 0 ? r : drill_resolve(&po, d, &m, &created);
	if (r == -EINTR && rv_cancelled(o->cancel)) {
		r = check_cancel(o, "while it looked for the artifact");
		rs_point_free(&pt);
		free(s);
		etcd_global_shutdown();
		return r;
	}
	if (r == -ENOENT && (o->db_file || (o->from && strcmp(o->from, "latest") != 0))) {
		/* A name or file that is not there is a typo, not a failed drill: no
		 * report (an empty store with "latest" is one, and gets its report). */
		r = rv_fail_wrap(r, "drill refused, no report written");
		rs_point_free(&pt);
		free(s);
		etcd_global_shutdown();
		return r;
	}
	if (r == 0)
		r = rs_find_tool(o->cs, tool, sizeof tool);
	if (r < 0) {
		reason(d, "%s", rv_errmsg(r));
		goto report;
	}
	d->snapshot_revision = m.revision;
	if (created >= 0) {
		rv_utc_rfc3339(created, d->created_at);
		d->age_s = (double)(now - created);
	}
	{
		int gone = 0; /* what a drill killed outright left (best effort) */
		if (restore_drill_cleanup(o->scratch_parent, &gone) < 0) {
			rv_warn("drill: %s", rv_errmsg(-EIO));
			rv_err_clear();
		}
	}
	r = scratch_init(s, o, stamp);
	if (r < 0) {
		reason(d, "%s", rv_errmsg(r));
		goto report;
	}
	rv_info("drill: restoring %s into a scratch cluster under %s", d->artifact, s->dir);

	snprintf(db_path, sizeof db_path, "%s/snapshot.db", s->dir);
	t = rv_now_mono();
	r = rs_fetch(o->store, d->artifact, o->db_file, db_path, &m, o->progress, o->progress_ud);
	d->phases.fetch = rv_now_mono() - t;
	if (r == -EINTR && rv_cancelled(o->cancel)) {
		r = check_cancel(o, "during the fetch");
		goto teardown;
	}
	if (r == 0) {
		t = rv_now_mono();
		r = o->db_file ? rs_verify_db(db_path, NULL, &db_size, o->progress, o->progress_ud) : rs_check_staged(db_path, &m, &db_size);
		d->phases.verify = rv_now_mono() - t;
	}
	if (r < 0) {
		reason(d, "the artifact is refused: %s", rv_errmsg(r));
		goto teardown;
	}
	rv_test_point("drill-fetched");
	if ((r = check_cancel(o, "after the fetch")) < 0)
		goto teardown;
	if (m.revision)
		d->snapshot_revision = m.revision;
	{
		int64_t held = 0;
		if (rs_db_last_revision(db_path, &held) == 0 && held >= d->snapshot_revision)
			d->snapshot_revision = held; /* the db can be newer than its manifest */
		rv_err_clear();
	}
	if (to_point) { /* as a restore does: replayed in a private etcd, then restored */
		char replayed[PATH_MAX + 16];
		snprintf(replayed, sizeof replayed, "%s/replayed.db", s->dir);
		t = rv_now_mono();
		r = rs_replay_scratch(&s->cs, tool, db_path, s->dir, &pt, 0, wait_ms, replayed, -1, o->cancel, &d->point);
		d->phases.replay = rv_now_mono() - t;
		if (r == -EINTR && rv_cancelled(o->cancel)) {
			r = check_cancel(o, "during the replay");
			goto teardown;
		}
		if (r < 0) {
			reason(d, "the replay to revision %" PRId64 " failed: %s", pt.revision, rv_errmsg(r));
			goto teardown;
		}
		unlink(db_path);
		snprintf(db_path, sizeof db_path, "%s", replayed);
	}

	t = rv_now_mono();
	r = rs_restore_members(tool, &s->cs, db_path, s->token, s->data, true, -1, o->cancel);
	d->phases.restore = rv_now_mono() - t;
	if (r == -EINTR && rv_cancelled(o->cancel)) {
		r = check_cancel(o, "while restoring into the scratch cluster");
		goto teardown;
	}
	if (r < 0) {
		reason(d, "%s", rv_errmsg(r));
		goto teardown;
	}
	if ((r = check_cancel(o, "after the restore into the scratch cluster")) < 0)
		goto teardown;
	t = rv_now_mono();
	for (size_t i = 0; i < s->cs.n_members && r == 0; i++)
		r = member_start(&s->cs, i);
	if (r == 0)
		r = cluster_wait_healthy(&s->cs, wait_ms, o->cancel);
	d->phases.start = rv_now_mono() - t;
	if (r == -EINTR && rv_cancelled(o->cancel)) {
		r = check_cancel(o, "while its scratch cluster was starting");
		goto teardown;
	}
	if (r < 0) {
		reason(d, "the restored cluster did not become healthy: %s", rv_errmsg(r));
		goto teardown;
	}
	d->recovery_time_s = rv_now_mono() - t0;
	rv_test_point("drill-started");
	if ((r = check_cancel(o, "after the scratch cluster started")) < 0)
		goto teardown;

	t = rv_now_mono();
	r = rs_check_cluster(&s->cs, to_point ? pt.revision : d->snapshot_revision,
			     o->sample_keys > 0 ? o->sample_keys : 100, &chk);
	d->phases.check = rv_now_mono() - t;
	d->revision = chk.hash_revision;
	d->hash = chk.hash;
	d->key_count = chk.key_count;
	d->sample_keys_read = chk.sample_read;
	if (r < 0)
		reason(d, "%s", rv_errmsg(r));

teardown:
	if (r == -EINTR && rv_cancelled(o->cancel)) {
		/* Interrupted is no verdict on the backup: no report, like a killed drill. */
		char msg[512];
		snprintf(msg, sizeof msg, "%s", rv_errmsg(r));
		scratch_teardown(s);
		r = rv_fail(-EINTR, "%s", msg);
		rs_point_free(&pt);
		free(s);
		etcd_global_shutdown();
		return r;
	}
	scratch_teardown(s);
report:
	rs_point_free(&pt);
	d->phases.total = rv_now_mono() - t0;
	rv_err_clear();
	r = 0; /* a verdict: the caller saves the report (report_drill_save) */
	free(s);
	etcd_global_shutdown();
	return r;
}

/* The store's transfers look at the drill's cancel too (a fetch from S3 is cut
 * within a second), and only for the drill. */
int restore_drill(const struct drill_opts *o, struct drill_report *d)
{
	const struct rv_cancel *was = o->store ? store_set_cancel(o->store, o->cancel) : NULL;
	int r = drill(o, d);
	if (o->store)
		store_set_cancel(o->store, was);
	return r;
}
