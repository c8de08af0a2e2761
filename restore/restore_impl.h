/* restore_impl.h - what the files of the restore module share (not a public API). */
#ifndef REGVAULT_RESTORE_IMPL_H
#define REGVAULT_RESTORE_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"
#include "restore/restore.h"

#define RS_STAGING_NAME ".regvault-restore-staging"
#define RS_JOURNAL_NAME "restore-journal.json"
#define RS_LOCK_NAME "restore.lock"
#define RS_MEMBER_JOURNAL_NAME "member-restore-journal.json"
#define RS_DEFAULT_WAIT_MS 60000
#define RS_STOP_TIMEOUT_MS 15000
#define RS_LOCK_WAIT_MS 3000
/* etcdutl/etcdctl snapshot restore: a few seconds a GiB; what takes longer hangs. */
#define RS_TOOL_TIMEOUT_MS (30 * 60 * 1000)
#define RS_TOOL_GRACE_MS 2000

/* ---- paths and files (files.c) ---- */
/* dirname of path into out. */
void rs_parent(const char *path, char *out, size_t len);
/* rename with a message naming both paths; fsyncs both parents. */
int rs_rename(const char *from, const char *to);
/* One member's data dirs as before a restore (rollback.c): a restored copy in the data
 * dir (the old one is aside, or there was none) moved to <data_dir>.failed-restore-
 * <stamp>, the old one renamed back. *moved (optional) says whether a copy was moved,
 * failed (PATH_MAX + 64 bytes, optional) gets its new path. */
int rs_put_back_member(const struct restore_member_plan *m, const char *stamp, bool *moved, char *failed);
/* Remove a tree we own (staging, scratch clusters, cleaned-up leftovers). */
int rs_rmtree(const char *path);
/* Bytes under path (files only, not following links). */
uint64_t rs_du(const char *path);
/* Take the restore lock in state_dir (created if needed), waiting up to
 * RS_LOCK_WAIT_MS; -EBUSY with a message when another restore holds it. */
int rs_lock(const char *state_dir, int *fd);
void rs_unlock(int fd);
/* Write text to path atomically (temp, fsync, rename, fsync dir). */
/* As root: give tree the owner and group of like (an etcd run by a systemd unit as
 * its own user must be able to open its restored data dir). No-op otherwise. */
int rs_chown_like(const char *tree, const char *like);
/* Remove every member's staging dir (copies only; never a data dir). */
void rs_remove_staging(const struct restore_plan *p);
/* Set each member's kept_aside from what is on disk now (for the report). */
void rs_note_kept_aside(struct restore_plan *p);
/* True when path is a mount point (its parent is on another device). */
bool rs_is_mountpoint(const char *path);

/* ---- the plan (plan.c) ---- */
/* Fill the members part of the plan, the stamp, the token and the staging dir. */
int rs_plan_members(const struct cluster_spec *cs, struct restore_plan *p);
/* Ask every member for health and revision (fills running/healthy/revision and the
 * cluster_* fields). Never fails: a member that does not answer is down. */
void rs_preflight(const struct cluster_spec *cs, struct restore_plan *p);
/* The revision an etcd db (or snapshot file) holds: the last key of its "key" bucket,
 * read from the bbolt file directly (snapshot/boltdb.c's snap_db_last_revision). */
#define rs_db_last_revision snap_db_last_revision

/* ---- staging (stage.c) ---- */
/* Fetch the artifact (or copy the db file) to db_path, atomically; progress
 * (optional) hears of the artifact's db bytes as they are written. */
int rs_fetch(struct store *st, const char *artifact, const char *db_file, const char *db_path,
	     struct snap_manifest *m, snap_progress_fn progress, void *progress_ud);
/* Check a staged plain snapshot end to end: sha256 of the db bytes equals the trailer
 * (and expect_sha256 when not empty). */
int rs_verify_db(const char *db_path, const char *expect_sha256, uint64_t *db_size, rv_progress_fn progress,
		 void *progress_ud);
/* The staged file as snap_fetch left it (which verified every byte on the way: zstd
 * checksums, the db's sha256 against etcd's trailer and the manifest): its size,
 * trailer and manifest agree. Cheap, so it does not read the db again. */
int rs_check_staged(const char *db_path, const struct snap_manifest *m, uint64_t *db_size);
/* The hex of a db's last 32 bytes, etcd's sha256 trailer (coord.c). */
int rs_trailer_hex(const char *path, char out[65]);
/* Enough free space beside each data dir for its restored copy (and the db). */
int rs_check_space(const struct restore_plan *p, uint64_t db_size);

/* ---- etcdutl / etcdctl (etcdutl.c) ---- */
/* etcdutl beside the etcd binary or on PATH, else etcdctl. */
int rs_find_tool(const struct cluster_spec *cs, char *out, size_t len);
/* Restore every member of cs from db_path into dirs[i], all in parallel. Logs go to
 * <dir>.log beside each. skip_hash_check when the db was verified already. The
 * tools die with this process and hold lock_fd (the restore lock, or -1) while
 * they run. A cancel (or RS_TOOL_TIMEOUT_MS) stops them: -EINTR (-ETIMEDOUT). */
int rs_restore_members(const char *tool, const struct cluster_spec *cs, const char *db_path,
		       const char *token, char (*dirs)[PATH_MAX], bool skip_hash_check, int lock_fd,
		       const struct rv_cancel *cancel);

/* Only member idx into dirs[idx] (a restore coordinated across hosts; the db was verified). */
int rs_restore_one(const char *tool, const struct cluster_spec *cs, size_t idx, const char *db_path,
		   const char *token, char (*dirs)[PATH_MAX], int lock_fd, const struct rv_cancel *cancel);

/* ---- members (members.c) ---- */
bool rs_member_running(const struct cluster_spec *cs, size_t i);
int rs_member_start(const struct cluster_spec *cs, size_t i);
int rs_member_stop(const struct cluster_spec *cs, size_t i);
/* Stop every member, all of them even when one fails; returns the first error. */
int rs_stop_all(const struct cluster_spec *cs);

/* ---- checks of a running cluster (check.c) ---- */
struct rs_check {
	int64_t revision;      /* the lowest revision a member reports now */
	int64_t hash_revision; /* where HashKV was taken: the snapshot's revision */
	uint32_t hash;
	uint64_t leader;
	int64_t key_count;
	int sample_read;
};
/* One leader every member agrees on, every member at base_revision or later (clients
 * may write as soon as the cluster serves), and the same HashKV at base_revision on
 * every member: the same data as of the snapshot. sample > 0 also reads that many
 * keys at base_revision from every member alone, compares them, and counts the
 * keys. base_revision 0: HashKV at the lowest current revision. */
int rs_check_cluster(const struct cluster_spec *cs, int64_t want_revision, int sample, struct rs_check *out);

/* ---- journal (journal.c) ---- */
int rs_journal_write(const char *state_dir, const char *phase, const struct restore_plan *p);
int rs_journal_read(const char *state_dir, char *phase, size_t phase_len, struct restore_plan *p,
		    char started_at[21], bool *found);
int rs_journal_remove(const char *state_dir);
/* A restore to a point interrupted before its replay was over: its data dirs hold
 * part of the events, so it can only be rolled back (then restored again). */
bool rs_point_half_done(const struct restore_plan *p, const char *phase);

/* ---- rollback (rollback.c) ---- */
/* Read the journal for the configured members (-ENOENT with a message when none). */
int rs_load_pending(const struct cluster_spec *cs, const char *state_dir, struct restore_plan *p, char *phase,
		    size_t len);
/* Undo from a plan (as restore_run or the journal knows it); fills out->rollback. */
int rs_rollback(const struct cluster_spec *cs, const char *state_dir, const struct restore_plan *p, int wait_ms,
		struct restore_report *out);

/* ---- restoring to a point (point.c, replay.c) ---- */
struct rs_point {
	char artifact[256];      /* the base */
	char chain[256];
	int64_t base_revision;   /* the base's manifest revision */
	int64_t revision;        /* the point */
	int64_t unix_ms;         /* when the original had it (the base's time when no event) */
	struct seg_contents *segs; /* what was read; ev points into it */
	size_t n_segs;
	const struct seg_event **ev; /* base_revision < revision <= the point, one event list per revision */
	size_t n_ev, cap_ev, revisions;
	size_t max_ops;          /* events of the largest revision */
	uint64_t max_bytes;      /* and the bytes of the largest */
};
/* Choose the base and read (and check) its chain's segments up to the point. */
int rs_point_resolve(struct store *st, const struct restore_point_req *q, struct rs_point *pt);
void rs_point_free(struct rs_point *pt);
/* f with --max-txn-ops and --max-request-bytes raised for pt's largest revision
 * appended to its extra_args (out->extra_args malloc'd; the strings in buf). */
void rs_replay_flags(const struct etcd_flags *f, const struct rs_point *pt, struct etcd_flags *out, char buf[2][64]);
/* Replay pt's events after the db's own revision into the cluster c talks to, one Txn
 * per revision, the base's leases kept alive meanwhile; then bump (0 or >= 2) more
 * revisions on a private key. Fills rep. */
int rs_replay(etcd_client *c, const struct rs_point *pt, int64_t bump, const struct rv_cancel *cancel,
	      struct restore_point_report *rep);
/* A restore to a point (replay_scratch.c): base_db restored into a private one-member
 * etcd under dir, pt's events replayed into it (rs_replay), its db saved to out_db
 * and checked; the etcd is stopped and its data removed either way. cancel: -EINTR
 * between two revisions. */
int rs_replay_scratch(const struct cluster_spec *cs, const char *tool, const char *base_db, const char *dir,
		      const struct rs_point *pt, int64_t bump, int wait_ms, const char *out_db, int lock_fd,
		      const struct rv_cancel *cancel, struct restore_point_report *rep);

#endif
