/* maint.h - the maint module: compaction, rolling defragmentation, alarms and NOSPACE
 * recovery, consistency (HashKV) and disk/performance checks. */
#ifndef REGVAULT_MAINT_H
#define REGVAULT_MAINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

/* ---- settings (config keys maint.*) ---- */
struct maint_settings {
	int64_t compact_keep_revisions; /* 1000 */
	char *defrag_rule;              /* "dbQuotaUsage > 0.8 || dbSizeFree > 200MiB" */
	double disarm_threshold;        /* 0.9 */
};

/* ---- the defrag rule language (rule.c) ----
 * Variables dbSize, dbSizeInUse, dbSizeFree, dbQuota, dbQuotaUsage (dbSize / dbQuota);
 * + - * /, < <= > >= == !=, && || !, parentheses, true, false, numbers with an
 * optional unit, the units of sizes in the configuration (rv_parse_size: 200MB is
 * 200 x 10^6, 200MiB is 200 x 2^20). A rule must be a condition. */
typedef struct maint_rule maint_rule;
struct maint_rule_vars {
	double db_size, db_size_in_use, db_size_free, db_quota, db_quota_usage;
};
/* -EINVAL with a message naming the 1-based position (*err_pos, optional) of the
 * first mistake. */
int maint_rule_parse(const char *text, maint_rule **out, size_t *err_pos);
/* -EDOM on a division by zero. */
int maint_rule_eval(const maint_rule *r, const struct maint_rule_vars *v, bool *result);
const char *maint_rule_text(const maint_rule *r);
void maint_rule_free(maint_rule *r);
/* The quota etcd enforces: the configured one, or etcd's default (2 GiB) for 0. */
int64_t maint_effective_quota(int64_t configured);
void maint_rule_vars_from_status(const struct etcd_status *st, int64_t quota, struct maint_rule_vars *v);

/* ---- health gate (health.c) ----
 * Every configured member answers Status, knows a leader, and no member has a
 * CORRUPT alarm; NOSPACE is allowed when allow_nospace. *leader_ep (optional) is
 * the leader's endpoint index. -EHOSTUNREACH / -EBUSY with a message otherwise. */
int maint_health_gate(etcd_client *c, const struct cluster_spec *cs, bool allow_nospace, int *leader_ep);

/* Sizes of one member at one moment (a row of several reports). */
struct maint_member_size {
	char name[64];
	bool ok; /* its Status answered */
	int64_t db_size, db_size_in_use;
};

/* ---- compact (compact.c) ---- */
struct maint_compact_opts {
	int64_t keep_revisions; /* used when revision is 0 */
	int64_t revision;       /* 0: the current revision minus keep_revisions */
	/* > 0: never past it (continuous backup's last persisted revision + 1, so the
	 * recorder can go on from there); the report's held_back says so */
	int64_t at_most;
};
struct maint_compact_report {
	int64_t current_revision;  /* the cluster's revision when it started */
	int64_t revision;          /* compacted to; 0 when there was nothing to compact */
	bool already_compacted;    /* revision was at or below an earlier compaction */
	bool held_back;            /* at_most lowered the revision */
	double seconds;
	struct maint_member_size *before, *after;
	size_t n;
};
int maint_compact(etcd_client *c, const struct cluster_spec *cs, const struct maint_compact_opts *o,
		  struct maint_compact_report *out);
void maint_compact_report_free(struct maint_compact_report *r);

/* ---- rolling defragmentation (defrag.c) ---- */
enum maint_defrag_outcome {
	MAINT_DEFRAG_NOT_REACHED = 0, /* an earlier member failed */
	MAINT_DEFRAG_SKIPPED,         /* the rule said no */
	MAINT_DEFRAG_WOULD,           /* --dry-run and the rule said yes */
	MAINT_DEFRAG_DONE,
	MAINT_DEFRAG_FAILED,
};
/* "not-reached", "skipped", "would-defragment", "defragmented", "failed" */
const char *maint_defrag_outcome_name(enum maint_defrag_outcome o);

struct maint_defrag_member {
	char name[64], endpoint[256];
	uint64_t id;
	bool leader; /* the leader when its turn came */
	enum maint_defrag_outcome outcome;
	int64_t size_before, in_use_before, size_after, in_use_after;
	double started, finished; /* unix time (fractional), 0 when not defragmented */
	double seconds;
	char error[512];
};
struct maint_defrag_opts {
	const maint_rule *rule; /* NULL: every member */
	int64_t quota_bytes;    /* cluster.etcd.quota_backend_bytes, for dbQuota */
	bool dry_run, move_leader, continue_on_error;
	int64_t pause_ms;       /* between members */
	int timeout_ms;         /* of one Defragment call; 0: 10 minutes */
	bool allow_nospace;     /* health gate: NOSPACE does not stop it (always true for the CLI) */
	const struct rv_cancel *cancel; /* looked at between members and in the pause: -EINTR,
					 * the member being defragmented is finished first */
};
struct maint_defrag_report {
	struct maint_defrag_member *members; /* in the order they were handled */
	size_t n;
	char leader_before[64];
	char leader_moved_to[64]; /* "" when leadership was not moved */
	size_t n_defragmented, n_skipped, n_failed;
};
/* 0 when no member failed (the report is filled in either case once the health gate
 * passed); otherwise the first failure, naming the state every member is left in. */
int maint_defrag(etcd_client *c, const struct cluster_spec *cs, const struct maint_defrag_opts *o,
		 struct maint_defrag_report *out);
void maint_defrag_report_free(struct maint_defrag_report *r);

/* ---- alarms (alarms.c) ---- */
struct maint_alarm_row {
	char name[64];      /* the member's name, or its id in hex when not a member */
	char endpoint[256]; /* "" when not configured */
	uint64_t id;
	char alarms[64];    /* "NOSPACE,CORRUPT" as etcd names them, or "" */
	bool nospace, corrupt;
};
/* One row per member (and one per unknown member id that has an alarm). */
int maint_alarms(etcd_client *c, const struct cluster_spec *cs, struct maint_alarm_row **rows, size_t *n);
/* Disarm every alarm, as etcdctl alarm disarm does; *n_disarmed (optional). */
int maint_alarms_disarm(etcd_client *c, size_t *n_disarmed);

/* ---- NOSPACE recovery (recover_space.c) ---- */
struct maint_step {
	const char *name; /* "alarms", "compact", "defrag", "disarm", "write" */
	bool done, ok;
	char detail[512];
	double seconds;
};
#define MAINT_RECOVER_STEPS 5
struct maint_recover_report {
	struct maint_step steps[MAINT_RECOVER_STEPS];
	struct maint_compact_report compact;
	struct maint_defrag_report defrag;
	bool nospace_before, disarmed;
	int64_t quota_bytes, limit_bytes; /* limit = quota * disarm_threshold */
};
int maint_recover_space(etcd_client *c, const struct cluster_spec *cs, const struct maint_settings *ms,
			struct maint_recover_report *out);
void maint_recover_report_free(struct maint_recover_report *r);

/* ---- consistency (hashcheck.c) ---- */
struct maint_hash_row {
	char name[64], endpoint[256];
	bool ok; /* answered */
	uint32_t hash;
	int64_t compact_revision; /* -1 when the member was never compacted (as etcd says) */
	bool agrees; /* with the majority of the members that answered */
	char error[256];
};
struct maint_hash_report {
	int64_t revision;
	struct maint_hash_row *rows;
	size_t n;
	bool consistent; /* the members that answered agree */
	bool complete;   /* every member answered */
};
/* 0 when every member answered with the same hash. -EIO naming the members that
 * disagree with the majority of those that answered (possible corruption);
 * -EHOSTUNREACH naming the members that did not answer when the others agree;
 * other errors when the check could not be made. */
int maint_hashcheck(etcd_client *c, const struct cluster_spec *cs, struct maint_hash_report *out);
/* The comparison itself: rows that did not answer (ok false) are left out of it and
 * named. Sets agrees, consistent and complete; returns as maint_hashcheck. */
int maint_hash_judge(struct maint_hash_report *r);
void maint_hash_report_free(struct maint_hash_report *r);

/* ---- disk check, fio's etcd test in C (diskcheck.c) ---- */
struct maint_diskcheck_opts {
	const char *dir;
	uint64_t size;        /* 22 MiB */
	uint64_t block_size;  /* 2300 */
	int64_t threshold_us; /* 10000 */
	const struct rv_cancel *cancel; /* optional: ends the check early (-EINTR) */
	rv_progress_fn progress;        /* optional: bytes written of the test's size */
	void *progress_ud;
};
struct maint_diskcheck_result {
	char dir[4096];
	uint64_t writes, bytes;
	double seconds, iops;
	double min_us, p50_us, p90_us, p99_us, p999_us, max_us; /* fdatasync latency */
	int64_t threshold_us;
	bool pass; /* p99 < threshold */
};
/* A DIR that does not exist or cannot be written is -ENOENT/-ENOTDIR/-EACCES/-EROFS
 * with a message, before anything is written. The test file is always removed. */
int maint_diskcheck(const struct maint_diskcheck_opts *o, struct maint_diskcheck_result *out);
/* The directories to test by default: one per filesystem holding a member's data dir
 * (the nearest existing ancestor when it does not exist yet); members[i] lists the
 * members on dirs[i] ("etcd1,etcd2"). Free both arrays with maint_strv_free. */
int maint_diskcheck_dirs(const struct cluster_spec *cs, char ***dirs, char ***members, size_t *n);
void maint_strv_free(char **v, size_t n);

/* ---- performance check, like etcdctl check perf (perfcheck.c) ---- */
struct maint_perf_load {
	const char *name; /* s, m, l, xl */
	int rate;         /* puts per second */
	int clients;
};
int maint_perf_load_find(const char *name, struct maint_perf_load *out);
#define MAINT_PERF_PREFIX "/regvault/perfcheck/"
struct maint_perfcheck_opts {
	struct maint_perf_load load;
	int64_t duration_ms;
	const struct rv_cancel *cancel; /* optional: ends the run early (-EINTR) */
	rv_progress_fn progress;        /* optional: bytes put of the run's planned bytes */
	void *progress_ud;
};
struct maint_perfcheck_result {
	struct maint_perf_load load;
	double seconds;
	uint64_t requests, errors;
	double throughput; /* successful puts per second */
	double p50_ms, p95_ms, p99_ms, max_ms, mean_ms, stddev_ms;
	bool throughput_ok, slowest_ok, stddev_ok, errors_ok, pass;
	bool interrupted;
	int64_t deleted; /* keys removed afterwards */
	char first_error[256];
};
/* Refuses (-EEXIST) when MAINT_PERF_PREFIX holds keys. Deletes its keys afterwards,
 * also when stopped early (then returns -EINTR with a message). 0 when the run
 * completed, pass or not. */
int maint_perfcheck(etcd_client *c, const struct maint_perfcheck_opts *o, struct maint_perfcheck_result *out);

#endif
