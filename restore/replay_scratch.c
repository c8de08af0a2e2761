/* replay_scratch.c - a restore to a point replays the events into a private etcd of
 * one member, started from the base db under the staging directory on loopback
 * ports nobody else is told of, and saves its db: the members are then restored
 * from that db as from any artifact. One member commits a Txn with one fsync and no
 * replication (about twice the rate of the three members, measured), and the old
 * cluster keeps serving while the events are replayed: nothing is stopped until
 * the restored db is complete and verified. The scratch etcd is a real etcd process
 * (the configured binary), never an embedded one; it is this process's child and
 * dies with the thread that started it (struct cluster_spec's scratch). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore/restore_impl.h"

#define REPLAY_MEMBER "regvault-replay"
#define SNAPSHOT_TIMEOUT_MS (6 * 3600 * 1000)

struct db_out {
	int fd;
	const char *path;
};

static int write_db(const uint8_t *data, size_t len, uint64_t total, void *ud)
{
	(void)total;
	struct db_out *o = ud;
	while (len) {
		ssize_t w = write(o->fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return rv_fail(-errno, "cannot write the replayed db %s: %s", o->path, strerror(errno));
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

/* The scratch member's db streamed to out_db (with etcd's sha256 trailer), checked,
 * published by rename. */
static int save_db(etcd_client *c, const char *out_db, const struct rv_cancel *cancel)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof tmp, "%s.part", out_db);
	struct db_out o = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), .path = tmp};
	if (o.fd < 0)
		return rv_fail(-errno, "cannot create %s: %s", tmp, strerror(errno));
	int r = etcd_snapshot(c, 0, SNAPSHOT_TIMEOUT_MS, cancel, write_db, &o);
	if (r == 0 && fsync(o.fd) < 0)
		r = rv_fail(-errno, "cannot write the replayed db %s: %s", tmp, strerror(errno));
	close(o.fd);
	uint64_t size = 0;
	if (r == 0)
		r = rs_verify_db(tmp, NULL, &size, NULL, NULL);
	if (r == 0 && rename(tmp, out_db) < 0)
		r = rv_fail(-errno, "cannot publish the replayed db %s: %s", out_db, strerror(errno));
	if (r < 0)
		unlink(tmp);
	return r;
}

int rs_replay_scratch(const struct cluster_spec *cs, const char *tool, const char *base_db, const char *dir,
		      const struct rs_point *pt, int64_t bump, int wait_ms, const char *out_db, int lock_fd,
		      const struct rv_cancel *cancel, struct restore_point_report *rep)
{
	char client[64], peer[64], data[PATH_MAX], flags[2][64];
	char (*dirs)[PATH_MAX] = rv_xcalloc(1, PATH_MAX);
	int ports[2];
	etcd_client *c = NULL;
	int r;

	for (int i = 0; i < 2;) {
		if ((r = rv_free_port(&ports[i])) < 0) {
			free(dirs);
			return rv_fail(r, "cannot find a free loopback port for the replay's private etcd");
		}
		if (i == 0 || ports[1] != ports[0])
			i++;
	}
	snprintf(client, sizeof client, "http://127.0.0.1:%d", ports[0]);
	snprintf(peer, sizeof peer, "http://127.0.0.1:%d", ports[1]);
	snprintf(data, sizeof data, "%s/" REPLAY_MEMBER, dir);
	snprintf(dirs[0], PATH_MAX, "%s", data);
	struct member_spec m = {.name = REPLAY_MEMBER, .client_url = client, .peer_url = peer, .data_dir = data,
				.control = MEMBER_CONTROL_LOCAL};
	struct cluster_spec one = {.name = cs->name, .token = REPLAY_MEMBER, .members = &m, .n_members = 1,
				   .scratch = true, .user = cs->user, .password = cs->password};
	rs_replay_flags(&cs->etcd, pt, &one.etcd, flags);
	/* its own history is the original's: no compaction of its own while it replays */
	one.etcd.auto_compaction_retention = "0";

	rv_info("replaying into a private etcd (%s, data under %s) to revision %" PRId64, client, dir, pt->revision);
	rs_rmtree(data); /* a killed restore's: of no use now */
	rv_err_clear();
	r = rs_restore_members(tool, &one, base_db, REPLAY_MEMBER, dirs, true, lock_fd, cancel);
	if (r == 0)
		r = rs_member_start(&one, 0);
	if (r == 0)
		r = cluster_wait_healthy(&one, wait_ms, cancel);
	if (r == 0)
		r = cluster_client_new(&one, 30000, &c);
	if (r == 0)
		r = rs_replay(c, pt, bump, cancel, rep);
	if (r == 0) {
		rv_info("saving the replayed db (revision %" PRId64 ")", pt->revision + (bump > 0 ? bump : 0));
		r = save_db(c, out_db, cancel);
	}
	etcd_client_free(c);
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", r < 0 ? rv_errmsg(r) : "");
	pid_t pid = member_recorded_pid(&m);
	int s = cluster_down(&one, 10000);
	rv_proc_reap_pid(pid);
	if (s < 0) {
		rv_warn("the replay's private etcd under %s did not stop: %s", dir, rv_errmsg(s));
	} else {
		rs_rmtree(data);
		if (r == 0) { /* the restore tool's log; kept when something failed */
			char log[PATH_MAX + 8];
			snprintf(log, sizeof log, "%s.log", data);
			unlink(log);
		}
	}
	rv_err_clear();
	free(one.etcd.extra_args);
	free(dirs);
	return r < 0 ? rv_fail(r, "%s", msg) : 0;
}

static int point_db(const struct cluster_spec *cs, struct store *st, const struct restore_point_req *q,
		    const char *dir, const char *replay_dir, const char *out_db, bool resolve_only, int wait_ms,
		    const struct rv_cancel *cancel, struct restore_point_report *rep, char *base, size_t base_len)
{
	struct rs_point pt = {0};
	struct snap_manifest m = {0};
	char tool[PATH_MAX], base_db[PATH_MAX + 16];
	uint64_t size = 0;
	int64_t held = 0;
	int r;

	rep->used = true;
	if (q->bump == 1 || q->bump < 0)
		return rv_fail(-EINVAL, "the revision can be advanced by 2 or more, not %" PRId64, q->bump);
	if ((r = rs_point_resolve(st, q, &pt)) < 0)
		return r;
	snprintf(base, base_len, "%s", pt.artifact);
	snprintf(rep->chain, sizeof rep->chain, "%s", pt.chain);
	rep->revision = pt.revision;
	rep->unix_ms = pt.unix_ms;
	rep->segments = pt.n_segs;
	rv_info("restoring to revision %" PRId64 ": base %s and %zu events from %zu segments of chain %s", pt.revision,
		pt.artifact, pt.n_ev, pt.n_segs, pt.chain);
	if (resolve_only) {
		rs_point_free(&pt);
		return 0;
	}
	/* what a killed one left is of no use: the directory is this function's */
	rs_rmtree(dir);
	rv_err_clear();
	if (mkdir(dir, 0700) < 0) {
		rs_point_free(&pt);
		return rv_fail(-errno, "cannot create %s for the replay: %s", dir, strerror(errno));
	}
	snprintf(base_db, sizeof base_db, "%s/base.db", dir);
	if ((r = rs_find_tool(cs, tool, sizeof tool)) == 0 && (r = rs_fetch(st, pt.artifact, NULL, base_db, &m, NULL, NULL)) == 0)
		r = rs_check_staged(base_db, &m, &size);
	if (r == 0 && rs_db_last_revision(base_db, &held) < 0)
		rv_err_clear(); /* the replay reads the db's revision itself */
	else if (r == 0 && held > pt.revision)
		r = rv_fail(-ERANGE, "the base %s holds revision %" PRId64 ", past the point %" PRId64 "; choose a later point",
			    pt.artifact, held, pt.revision);
	if (r == 0)
		r = rs_replay_scratch(cs, tool, base_db, replay_dir ? replay_dir : dir, &pt, q->bump,
				      wait_ms > 0 ? wait_ms : RS_DEFAULT_WAIT_MS, out_db, -1, cancel, rep);
	unlink(base_db);
	rs_point_free(&pt);
	return r;
}

int restore_point_db(const struct cluster_spec *cs, struct store *st, const struct restore_point_req *q,
		     const char *dir, const char *replay_dir, const char *out_db, bool resolve_only, int wait_ms,
		     const struct rv_cancel *cancel, struct restore_point_report *rep, char *base, size_t base_len)
{
	/* the store's reads stop on cancel too (the base's fetch), as in restore_run */
	const struct rv_cancel *was = store_set_cancel(st, cancel);
	int r = point_db(cs, st, q, dir, replay_dir, out_db, resolve_only, wait_ms, cancel, rep, base, base_len);
	store_set_cancel(st, was);
	return r;
}
