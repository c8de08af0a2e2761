/* restore.h - the restore module: coordinated restore of every member from one
 * artifact, with rollback, and drills into a scratch cluster.
 *
 * A restore runs in this order (docs/runbooks/restore.md):
 *   resolve + preflight  -> confirm (the caller's callback)
 *   fetch                   artifact -> plain etcd snapshot in a staging directory
 *                           beside the data dirs (same filesystem, so later moves
 *                           are renames), verified byte for byte on the way
 *   verify                  the staged file against the manifest (a --from-file
 *                           snapshot: sha256 of every byte against its trailer);
 *                           the revision the db really holds (boltdb.c)
 *   replay                  (to a point only) the chain's events replayed into a
 *                           private etcd of one member; its db is what is restored
 *   restore                 `etcdutl|etcdctl snapshot restore` per member, in
 *                           parallel, into the staging directory; the old cluster
 *                           still serves, so a failure here stops nothing
 *   stop                    every member (local: pid file, systemd: systemctl)
 *   swap                    data dir -> <data_dir>.before-restore-<stamp>, restored
 *                           dir -> data dir (renames; nothing is deleted)
 *   start                   every member, wait (bounded) for health and one leader
 *   check                   one leader, every member at the snapshot's revision or
 *                           later, the same HashKV at the snapshot's revision
 * From stop on, a journal in the state directory says where the restore is; any
 * failure rolls back (restored dirs moved to <data_dir>.failed-restore-<stamp>, old
 * dirs put back, old cluster started and checked). A restore killed outright leaves
 * the journal, and restore_pending() reports it until restore_rollback() or
 * restore_resume() finishes the job.
 */
#ifndef REGVAULT_RESTORE_H
#define REGVAULT_RESTORE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "maint/maint.h"
#include "snapshot/snapshot.h"

#define RESTORE_MAX_MEMBERS 16

/* One member as the plan sees it. */
struct restore_member_plan {
	char name[64];
	char data_dir[PATH_MAX];
	char aside_dir[PATH_MAX];  /* <data_dir>.before-restore-<stamp> */
	char staged_dir[PATH_MAX]; /* where the restored data dir is built */
	bool has_data;             /* the data dir exists now */
	bool running;              /* its etcd runs now */
	bool healthy;
	int64_t revision;          /* its revision now, 0 if it did not answer */
	bool kept_aside;           /* when the restore ended: the old data dir is at aside_dir */
};

struct restore_plan {
	char artifact[256];    /* artifact name, or the db file with restore_opts.db_file */
	char store[512];       /* store_describe(), or "" with a db file */
	struct snap_manifest m;  /* from the store's listing; m.revision is the snapshot's */
	int64_t snapshot_revision;
	int64_t cluster_revision; /* highest revision a member reported now; 0 if none */
	bool cluster_observed;    /* the preflight asked the members; else the cluster_*
				   * fields and n_healthy say nothing */
	bool cluster_serving;     /* a quorum of members healthy with a leader */
	size_t n_healthy;
	char stamp[17];           /* UTC time of this restore, 20261121T215213Z */
	char token[256];          /* the new --initial-cluster-token */
	char staging_dir[PATH_MAX];
	char tool[PATH_MAX];      /* etcdutl or etcdctl that will run the restores */
	int64_t point_revision;   /* a restore to a point: the revision replayed to (0: none) */
	bool point_replayed;      /* the staged data dirs hold the replayed db (the point's) */
	size_t n_members;
	struct restore_member_plan members[RESTORE_MAX_MEMBERS];
};

struct restore_phases {
	double fetch, verify, restore, stop, start, check, total; /* seconds */
	double replay; /* a restore to a point: the quarantined start, the replay and the stop */
};

/* ---- restoring to a point (point.c, replay.c, replay_scratch.c; continuous.md) ----
 * The newest base artifact at or before the point, then its chain's segments'
 * events up to the point, one Txn per original revision, into a private one-member
 * etcd before anything stops, whose db the members are then restored from (restore),
 * or into the scratch cluster (drill). */
enum restore_to { RESTORE_TO_NONE = 0, RESTORE_TO_LATEST, RESTORE_TO_REVISION, RESTORE_TO_TIME };
struct restore_point_req {
	enum restore_to to;
	int64_t revision; /* RESTORE_TO_REVISION */
	int64_t unix_ms;  /* RESTORE_TO_TIME: the last revision recorded at or before it */
	int64_t bump;     /* after the replay, advance the revision by this many (0: none, else >= 2) */
};
struct restore_point_report {
	bool used;               /* a restore to a point was asked for */
	char chain[256];         /* the base artifact's name without its suffix */
	int64_t revision;        /* the point reached */
	int64_t unix_ms;         /* when the original cluster had that revision (0: unknown) */
	int64_t db_revision;     /* the restored db's own revision: replay starts after it */
	size_t segments;         /* segments read */
	size_t events, revisions; /* replayed */
	size_t leases_kept;      /* leases of the base held alive during the replay */
	size_t leases_granted;   /* leases first seen in the segments, granted again under their id */
	double seconds, rate;    /* the replay's time and events per second */
	int64_t bumped_to;       /* with bump: the revision the cluster opened at */
	size_t resent;           /* Txns sent again after a timeout (guarded: never made twice) */
};

struct restore_report {
	struct restore_plan plan;
	struct restore_phases phases;
	bool done;              /* the cluster now runs the snapshot's data */
	int64_t revision;       /* the restored revision (the snapshot's, as its db holds it) */
	uint32_t hash;          /* HashKV at that revision, the same on every member */
	int64_t revision_now;   /* the cluster's revision at the check: higher only when
				 * clients wrote (or leases expired) after the start */
	bool rolled_back;       /* a failure after stop was undone */
	bool rollback_ok;       /* ... and the old cluster is healthy again */
	char failure[1024];     /* what failed, when !done */
	char rollback[1024];    /* what the rollback did or could not do */
	struct restore_point_report point;
};

typedef bool (*restore_confirm_fn)(const struct restore_plan *plan, void *ud);

struct restore_opts {
	const struct cluster_spec *cs;
	const char *state_dir;   /* journal, lock, drill reports */
	struct store *store;     /* any store (local, S3): read through the store API only */
	const char *from;        /* artifact name or "latest" */
	const char *db_file;     /* instead of store/from: a plain etcd snapshot file
				  * (`etcdctl snapshot save`, with its sha256 trailer) */
	bool force;              /* restore over a healthy, serving cluster */
	bool dry_run;            /* plan only: resolve, verify the artifact, preflight */
	int wait_ms;             /* bound on waiting for health; 0 = 60 s */
	restore_confirm_fn confirm; /* after preflight; false aborts (-ECANCELED) */
	void *confirm_ud;
	/* Looked at until the stop: a cancel ends the restore with nothing changed and
	 * the staging removed (-EINTR). From the stop on it is not looked at: the restore
	 * finishes or rolls back, so the cluster is never left in between. */
	const struct rv_cancel *cancel;
	snap_progress_fn progress; /* the fetch's bytes (optional; the CLI draws them) */
	void *progress_ud;
	struct restore_point_req point; /* to a point (then from and db_file are not used) */
	const char *replay_dir;  /* to a point: the private etcd's data under it (NULL: staging) */
};

/* The whole restore. Returns 0 when the cluster runs the snapshot's data; on a
 * failure before stop nothing has changed; on a failure after stop out->rolled_back
 * says the rollback ran and out->rollback_ok whether the old cluster is healthy. The
 * recorded message says what failed (and how the rollback went). out is filled as
 * far as the restore got, also on failure. */
int restore_run(const struct restore_opts *o, struct restore_report *out);
/* A restore to a point for members on other hosts: the point resolved and checked,
 * its base fetched into dir and the events replayed into a private etcd on this host
 * (replay_scratch.c); the replayed db, with etcd's sha256 trailer, left at out_db for
 * the hosts to restore as a --from-file one; dir is emptied first; the private etcd's
 * data goes under replay_dir (NULL: dir); wait_ms bounds its start (0: 60 s). resolve_only: the
 * point resolved and checked, nothing fetched (a dry run). base: the base artifact's
 * name. Nothing of the cluster is touched. */
int restore_point_db(const struct cluster_spec *cs, struct store *st, const struct restore_point_req *q,
		     const char *dir, const char *replay_dir, const char *out_db, bool resolve_only, int wait_ms,
		     const struct rv_cancel *cancel,
		     struct restore_point_report *rep, char *base, size_t base_len);

/* An interrupted restore (a journal in state_dir). */
struct restore_pending {
	char phase[32];          /* "stopping", "swapping", "starting", "checking", "rolling-back" */
	char artifact[256];
	char stamp[17];
	char started_at[21];
	char hint[1024];         /* what to run, in one sentence */
};
/* *found is false when no restore is pending. */
int restore_pending(const char *state_dir, struct restore_pending *out, bool *found);
/* For a supervisor that restarts members (the daemon): the restore lock taken
 * shared, without waiting, to look at and restart members under it; no restore,
 * rollback or cleanup begins while it is held (they wait a few seconds for it), and
 * none runs now when it was granted. *held is false (and *fd -1) when one of them
 * holds the lock now: leave the members alone. */
int restore_hold(const char *state_dir, int *fd, bool *held);
void restore_hold_release(int fd);
/* Undo an interrupted restore: stop the members, put the old data dirs back (restored
 * ones moved to .failed-restore-<stamp>), start what ran before, wait for health. */
int restore_rollback(const struct cluster_spec *cs, const char *state_dir, int wait_ms, struct restore_report *out);
/* Finish an interrupted restore from where the journal says it stopped (the staged
 * data dirs must still be there); rolls back on failure like restore_run. */
int restore_resume(const struct cluster_spec *cs, const char *state_dir, int wait_ms, struct restore_report *out);

/* Old data dirs kept by restores (<data_dir>.before-restore-*, .failed-restore-*) and
 * the staging directory. */
struct restore_leftover {
	char path[PATH_MAX];
	uint64_t bytes;
};
int restore_leftovers(const struct cluster_spec *cs, struct restore_leftover **out, size_t *n);
/* Remove them (refused while a restore is pending). */
int restore_cleanup(const struct cluster_spec *cs, const char *state_dir, struct restore_leftover **out, size_t *n);

/* ---- one member's steps of a restore coordinated across hosts (member_step.c) ----
 * The agent on a member's host runs these for the coordinator (scheduler's
 * agent_restore.c). Each is journaled in state_dir (member-restore-journal.json,
 * which restore_pending reports, so supervision and other restores leave the member
 * alone) and can be repeated: a step already done answers as done.
 *   prepare   the db (received with restore_member_receive, or fetched from store)
 *             checked against sha256, restored into staging with the coordinator's
 *             token; nothing stopped. A fetch this host cannot make, or a db whose
 *             sha256 is not the coordinator's, fails naming the member, the artifact
 *             (and both digests)
 *   commit    stop, data dir -> <data_dir>.before-restore-<stamp>, staged dir ->
 *             data dir, start quarantined: its client URL's port moved (+10000,
 *             restore_quarantine_url), so only regvault talks to it
 *   open      restart on its own client URL once the coordinator verified all
 *   rollback  stop, restored dir -> .failed-restore-<stamp>, old dir back, start
 *             what ran before; after a prepare only: staging removed
 *   cleanup   an open restore finished: journal and staging removed */
struct restore_member_req {
	const struct cluster_spec *cs;
	size_t idx;              /* this host's member */
	const char *state_dir;
	const char *stamp;       /* the coordinator's, the same on every host ("" after prepare: any) */
	const char *token;       /* the new --initial-cluster-token */
	const char *artifact;
	const char *sha256;      /* hex of the db's sha256 (its trailer) */
	int64_t revision;
	struct store *store;     /* prepare: fetch artifact from it (this host's own store);
				  * NULL: the db received with restore_member_receive */
	const struct rv_cancel *cancel;
};
struct restore_member_state {
	bool found;
	char phase[32];          /* prepared, committing, quarantined, opening, open, rolled-back, done */
	char stamp[17];
	char artifact[256];
	int64_t revision;            /* prepare from a store: at least the fetched db's own */
	char old_data_dir[PATH_MAX]; /* where the member's old data dir is kept ("" none) */
	char artifact_source[16];    /* prepare: "store" (fetched here) or "streamed" (received) */
	uint64_t artifact_bytes;     /* the db's bytes (with its trailer) */
	double artifact_seconds;     /* the fetch from the store (0 when received) */
};
int restore_member_db_path(const struct cluster_spec *cs, size_t idx, char *out, size_t len);
/* Append a chunk of the db the coordinator streams (offset 0 starts it again). */
int restore_member_receive(const struct cluster_spec *cs, size_t idx, uint64_t offset, const void *data, size_t len);
int restore_member_prepare(const struct restore_member_req *q, struct restore_member_state *st);
int restore_member_commit(const struct restore_member_req *q, struct restore_member_state *st);
int restore_member_open(const struct restore_member_req *q, struct restore_member_state *st);
int restore_member_rollback(const struct restore_member_req *q, struct restore_member_state *st);
int restore_member_cleanup(const struct restore_member_req *q, struct restore_member_state *st);
int restore_member_status(const char *state_dir, struct restore_member_state *st);
/* restore --dry-run across hosts (member_check.c): could this host prepare member idx
 * from a db of db_size bytes? Room beside the data dir for the received db and the
 * restored data dir, etcdutl or etcdctl and the member's etcd binary there, no other
 * restore journaled in state_dir. Looks only; out->reason says why not. */
struct restore_member_check {
	bool could;
	char reason[1024];
	bool has_data;              /* the data dir exists */
	uint64_t free_bytes, need_bytes;
	char tool[PATH_MAX], etcd_binary[PATH_MAX];
};
int restore_member_check(const struct cluster_spec *cs, size_t idx, const char *state_dir, uint64_t db_size,
			 struct restore_member_check *out);
/* The client URL a quarantined member listens on: its port + 10000 (- 10000 above 55535). */
void restore_quarantine_url(const char *url, char *out, size_t len);

/* ---- for the coordinator ---- */
/* Fetch (or copy) and verify the artifact into dir/snapshot.db as the one-host
 * restore does; the db's own revision and sha256 (hex of its trailer). */
int restore_fetch_verified(struct store *st, const char *artifact, const char *db_file, const char *dir,
			   char *db_path, size_t len, int64_t *revision, char sha256[65]);
/* rs_check_cluster for the coordinator: one leader, HashKV equal at revision. */
int restore_check_cluster(const struct cluster_spec *cs, int64_t revision, uint32_t *hash, int64_t *revision_now);
/* The plan's members, stamp and token, and the cluster as it runs now. */
int restore_plan_observe(const struct cluster_spec *cs, struct restore_plan *p);

/* ---- drills ---- */
struct drill_opts {
	const struct cluster_spec *cs; /* only for the etcd flags, auth and cluster name */
	const char *state_dir;         /* where the caller saves the report (report_drill_save) */
	struct store *store;
	const char *from;              /* name or "latest" (default) */
	const char *db_file;           /* instead of store/from */
	const char *scratch_parent;    /* temp dir parent; NULL: $TMPDIR or /tmp */
	int wait_ms;                   /* 0 = 60 s */
	int sample_keys;               /* keys read and compared; 0 = 100 */
	const struct rv_cancel *cancel; /* between phases: -EINTR, scratch removed, no report */
	snap_progress_fn progress;      /* the fetch's bytes (optional; the CLI draws them) */
	void *progress_ud;
	struct restore_point_req point; /* drill a point (then from and db_file are not used) */
};

#define DRILL_MAX_REASONS 8
struct drill_report {
	char artifact[256];
	char store[512];
	char created_at[21];      /* the snapshot's time (RFC 3339), "" if unknown */
	char drilled_at[21];
	double age_s;             /* recovery point: snapshot age at drill time; -1 unknown */
	double recovery_time_s;   /* start of drill to a healthy restored cluster; -1 never */
	int64_t snapshot_revision, revision;
	uint32_t hash;
	int64_t key_count;
	int sample_keys_read;
	struct restore_phases phases;
	bool passed;
	char reasons[DRILL_MAX_REASONS][512];
	int n_reasons;
	char report_path[PATH_MAX];
	struct restore_point_report point;
};
/* Run a drill. Returns 0 whenever it came to a verdict (pass or fail is in
 * out->passed), and the caller saves the report (scheduler's report_drill_save); a
 * negative errno when not even that was possible, or -ENOENT (no report to save)
 * when the named artifact or file does not exist. */
int restore_drill(const struct drill_opts *o, struct drill_report *out);
/* Remove what drills killed outright left under parent (NULL: $TMPDIR or /tmp): a
 * scratch directory whose owner process is gone, after stopping any of its members
 * still running. Only the scratch directories a drill marked as its own are ever
 * touched. restore_drill calls it first; a daemon at start. */
int restore_drill_cleanup(const char *parent, int *removed);

/* ---- one prefix: diff and surgical restore (prefix_keys.c, prefix_diff.c,
 * prefix_restore.c; docs/reference/restore-prefix.md) ----
 * The keys under a prefix from one source: an artifact (its db read in place, no
 * etcd started), a plain db file, or the live cluster (one read at one revision). */
struct rs_point;
struct prefix_keys {
	char what[320];           /* "artifact NAME", "the db file F", "the live cluster" */
	char artifact[256];       /* the artifact's name, "" for the others */
	const char *kind;         /* "artifact", "db-file", "live", "point" */
	int64_t revision;         /* the revision the keys are as of */
	struct snap_db_kv *kvs;   /* sorted by key */
	size_t n;
	struct snap_db *db;       /* artifact, db file, point: the keys point into it */
	uint8_t **owned;          /* live: one allocation per key (key then value) */
	struct rs_point *point;   /* point: the chain's events read (the keys point into them too) */
	char chain[256];          /* point: the chain it was read from, "" for the others */
	int64_t unix_ms;          /* point: when the original had that revision */
	size_t events;            /* point: events under the prefix applied to the base's keys */
};
/* name: a name or "latest". The artifact is fetched (verified) into a scratch file
 * under tmp_dir, mapped, and the file removed at once; the map stays until
 * prefix_keys_free. */
int prefix_keys_artifact(struct store *st, const char *name, const char *tmp_dir, const char *prefix, size_t len,
			 const struct rv_cancel *cancel, struct prefix_keys *out);
int prefix_keys_db_file(const char *path, const char *prefix, size_t len, const struct rv_cancel *cancel,
			struct prefix_keys *out);
int prefix_keys_live(etcd_client *c, const char *prefix, size_t len, struct prefix_keys *out);
/* The keys under the prefix as the original had them at a point of continuous backup
 * (q: to the latest, a revision or a time): the point's base artifact read in place,
 * then the events under the prefix of its chain's segments up to the point applied;
 * every segment read is checked as for a full restore to that point. */
int prefix_keys_point(struct store *st, const struct restore_point_req *q, const char *tmp_dir, const char *prefix,
		      size_t len, const struct rv_cancel *cancel, struct prefix_keys *out);
void prefix_keys_free(struct prefix_keys *k);

/* What differs between a and b (b is "the new side"): added = only in b, removed =
 * only in a, changed = in both with other values. Sorted by key; the kvs point into
 * a and b. */
enum prefix_change_kind { PREFIX_ADDED, PREFIX_REMOVED, PREFIX_CHANGED };
struct prefix_change {
	enum prefix_change_kind kind;
	const struct snap_db_kv *a, *b; /* NULL on the side that lacks the key */
};
struct prefix_diff {
	struct prefix_change *v;
	size_t n, added, removed, changed, unchanged;
};
void prefix_diff_compute(const struct prefix_keys *a, const struct prefix_keys *b, struct prefix_diff *out);
void prefix_diff_free(struct prefix_diff *d);
const char *prefix_change_name(enum prefix_change_kind k); /* "added", "removed", "changed" */
/* Bytes as text: printable ASCII as is, others (and the backslash) as \xNN; at most max
 * bytes of input (0: all) before "... (N bytes)". len >= 32. */
#define PREFIX_VALUE_SHOWN 60
const char *prefix_printable(const uint8_t *p, size_t n, size_t max, char *out, size_t len);

/* Make the keys under the prefix in the live cluster equal to source's: put the
 * missing and changed ones, delete those source lacks, in Txns within etcd's
 * limits (PREFIX_TXN_MAX_OPS ops, PREFIX_TXN_MAX_BYTES bytes), each op guarded by
 * the key's mod revision as the live read saw it (0: absent), so that a key a
 * client changed meanwhile is a conflict, not overwritten. Keys on a lease (in the
 * source, or live ones that would be changed) are skipped unless keep_lease_keys
 * (then put without a lease: theirs are gone). Nothing outside the prefix is
 * written. */
#define PREFIX_TXN_MAX_OPS 128
#define PREFIX_TXN_MAX_BYTES (1024 * 1024) /* under etcd's --max-request-bytes, 1.5 MiB */
struct prefix_restore_opts {
	etcd_client *c;
	const struct prefix_keys *source;
	const char *prefix;
	size_t prefix_len;
	bool dry_run;             /* read and plan only */
	bool no_delete;           /* keys the source lacks stay */
	bool overwrite_conflicts; /* a key changed meanwhile is written anyway (and listed) */
	bool keep_lease_keys;
	const struct rv_cancel *cancel; /* between Txns: -EINTR, the report says what was written */
};
enum prefix_skip_reason { PREFIX_SKIP_LEASE, PREFIX_SKIP_LIVE_LEASE, PREFIX_SKIP_NO_DELETE };
struct prefix_key_note {
	char *key;                /* malloc'd, NUL-terminated (keys may hold any byte: key_len) */
	size_t key_len;
	enum prefix_change_kind kind;   /* what the restore wanted to do to it */
	enum prefix_skip_reason reason; /* skipped */
	int64_t lease;                  /* skipped for a lease */
	int64_t expected_mod, found_mod; /* conflict: mod revision read, and found at the Txn (0: absent) */
	bool overwritten;               /* conflict written anyway */
};
struct prefix_restore_report {
	struct prefix_diff plan;         /* source (a) against live (b), before the restore */
	int64_t live_revision;           /* the live read's revision */
	size_t put, deleted, unchanged; /* a dry run: what it would put and delete */
	struct prefix_key_note *skipped, *conflicts;
	size_t n_skipped, n_conflicts;
	size_t txns;
	int64_t first_revision, last_revision; /* written (0, 0: nothing) */
	double seconds;
	struct prefix_keys live;
};
int prefix_restore(const struct prefix_restore_opts *o, struct prefix_restore_report *out);
void prefix_restore_report_free(struct prefix_restore_report *r);

#endif
