/* registry.h - the registry module: the registry cluster as configured, its members
 * on this host and their lifecycle (start, stop, wait until healthy, status), and the
 * etcd client (etcd/etcd.h) made for those members. */
#ifndef REGVAULT_REGISTRY_H
#define REGVAULT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"
#include "etcd/etcd.h"

/* ---- the cluster as configured: members regvault manages on this host ---- */
enum member_control { MEMBER_CONTROL_LOCAL = 0, MEMBER_CONTROL_SYSTEMD = 1 };

struct member_spec {
	char *name;
	char *client_url, *peer_url;
	char *data_dir;
	enum member_control control;
	char *unit; /* systemd unit, with control: systemd */
	char *agent; /* host:port of the regvault agent on the member's host; NULL: this host */
};

struct etcd_flags {
	int heartbeat_interval_ms;       /* 100 */
	int election_timeout_ms;         /* 1000 */
	int64_t quota_backend_bytes;     /* 8 GiB */
	char *auto_compaction_retention; /* "1h" */
	char *binary;                    /* etcd binary, default "etcd" from PATH */
	char **extra_args;               /* more etcd flags, as given ("--auth-token-ttl=60") */
	size_t n_extra_args;
};

struct cluster_spec {
	char *name;  /* used in artifact names and metrics */
	char *token; /* initial cluster token */
	struct member_spec *members;
	size_t n_members;
	struct etcd_flags etcd;
	struct etcd_tls_opts tls;
	char *user;     /* auth.user */
	char *password; /* read from auth.password_file; never logged */
	/* A drill's scratch cluster: its local members are SIGKILLed when the thread
	 * that started them ends (so they never outlive a regvault killed outright),
	 * and stay children of this process, which reaps them once stopped
	 * (rv_proc_reap_pid on their recorded pids). */
	bool scratch;
};

/* A client for the configured members, endpoints in member order. */
int cluster_client_new(const struct cluster_spec *cs, int timeout_ms, etcd_client **out);

/* The one sentence for a cluster none of whose members answers: names them all once
 * and says what to run. consequence: "there is nothing to snapshot". Returns code. */
int cluster_fail_none_answers(const struct cluster_spec *cs, int code, const char *consequence);

/* "etcd1=http://127.0.0.1:2380,..." for --initial-cluster (malloc'd). */
char *cluster_initial_cluster(const struct cluster_spec *cs);

/* Files beside a member's data dir: <data_dir>.pid and <data_dir>.log. */
void member_pid_path(const struct member_spec *m, char *buf, size_t len);
void member_log_path(const struct member_spec *m, char *buf, size_t len);
/* Keep <data_dir>.log under max_bytes: past it, the log is copied to .log.1 (older
 * ones shift, keep files in all) and truncated in place, which a running etcd writing
 * with O_APPEND survives. *rotated says whether it did. */
#define MEMBER_LOG_MAX_BYTES ((uint64_t)64 << 20) /* at a start, and the daemon checks it */
#define MEMBER_LOG_KEEP 4
int member_log_rotate(const struct member_spec *m, uint64_t max_bytes, int keep, bool *rotated);
/* The pid of the running etcd of this member (checked in /proc), or 0. */
pid_t member_running_pid(const struct member_spec *m);
/* The pid its pid file records (local control), running or not; 0 when none. */
pid_t member_recorded_pid(const struct member_spec *m);

/* The command line member_start runs member idx's etcd with (control: local), for
 * running the member some other way with the same flags (a systemd unit that execs
 * it): argv[0] is the etcd binary (cluster.etcd.binary, else "etcd") as found in
 * PATH, the data dir absolute (relative to the working directory), then the member's
 * flags, the cluster.etcd settings and extra_args. NULL-terminated, malloc'd: free it
 * with member_argv_free. -ENOENT or -EACCES with a sentence when there is no such
 * binary. No secret is ever in it (TLS material is named by file). */
int member_etcd_argv(const struct cluster_spec *cs, size_t idx, char ***argv);
void member_argv_free(char **argv);
/* An etcd process of this member on this host, whatever its control: the pid in its
 * pid file, else one found in /proc whose --data-dir is the member's; 0 when none. */
pid_t member_process_pid(const struct member_spec *m);

/* Start one member in the background (local control) with its data dir as is:
 * forms a new cluster when the data dir is empty. Does not wait for health. */
int member_start(const struct cluster_spec *cs, size_t idx);
/* SIGTERM, then SIGKILL after timeout_ms; 0 when it was not running. */
int member_stop(const struct cluster_spec *cs, size_t idx, int timeout_ms);

/* cluster up: start what is not running, wait (bounded) until every member is
 * healthy. On failure the message names the member and quotes its log's tail. */
int cluster_up(const struct cluster_spec *cs, int wait_ms, const struct rv_cancel *cancel);
int cluster_down(const struct cluster_spec *cs, int timeout_ms);
/* Wait until every member is healthy and exactly one leader is seen. A cancel
 * (NULL: none) ends the wait within about a second: -EINTR, the members started
 * keep running. */
int cluster_wait_healthy(const struct cluster_spec *cs, int wait_ms, const struct rv_cancel *cancel);

/* One row of `cluster status`. */
struct member_row {
	char name[64];
	char endpoint[256];
	struct etcd_member_health h;
	bool is_leader;
};
/* One row per configured member; a member that is down is a row, not an error.
 * Returns 0, or a negative errno only when nothing could be asked at all. */
int cluster_status(const struct cluster_spec *cs, struct member_row **rows, size_t *n);
/* The same on a client made once for cs (cluster_client_new), as a long-running
 * process checks health every few seconds without a new channel each time. */
int cluster_status_on(etcd_client *c, const struct cluster_spec *cs, struct member_row **rows, size_t *n);

/* The last lines of a member's log, for error messages (malloc'd, maybe empty). */
char *member_log_tail(const struct member_spec *m, int lines);

/* ======================================================================
 * The registry services: capability manifests, the GitOps sync and the
 * heartbeats (capability_manifest.c, semver.c, registry_sync.c, heartbeat*.c).
 * docs/reference/registry.md. */

/* ---- configuration (the registry: section; scheduler's config loader fills it) ---- */
struct registry_sync_settings {
	bool enabled;        /* default true */
	int64_t interval_ms; /* registry.sync.interval, default 60s */
	int64_t debounce_ms; /* after an inotify event, default 1s */
	bool allow_empty;    /* default false: an empty/missing/unreadable dir prunes nothing */
	int max_deletes;     /* default 10 capabilities pruned per pass */
	char *git_remote;    /* registry.sync.git.remote; NULL: no fetch */
	char *git_branch;    /* registry.sync.git.branch; default "main" when remote set */
};
struct registry_heartbeat_settings {
	bool enabled;        /* default true */
	int64_t ttl_ms;      /* default 30s (etcd leases are whole seconds) */
	int64_t interval_ms; /* default 10s */
};
struct registry_settings {
	bool configured;     /* the file has a registry: section */
	char *manifests_dir; /* required when configured */
	char *prefix;        /* default "/chora/capabilities" (no trailing '/') */
	struct registry_sync_settings sync;
	struct registry_heartbeat_settings heartbeat;
};

/* regvault's own keys for a cluster: "/regvault/<cluster>/registry" (malloc'd,
 * no trailing '/'). Under it: inventory/<namespace> (the sync's), and
 * heartbeat/<namespace> (the claim of whoever keeps that heartbeat). */
char *registry_state_prefix(const struct cluster_spec *cs);

/* ---- SemVer 2.0.0 and npm-style ranges (semver.c) ---- */
struct semver {
	uint64_t major, minor, patch;
	char pre[64];   /* pre-release without '-', "" none */
	char build[64]; /* build metadata without '+', "" none (ignored by compare) */
};
/* Strict SemVer 2.0.0 ("1.2.3", "1.0.0-rc.1+b5"; no leading zeros, no 'v'):
 * -EINVAL with a sentence saying what is wrong. */
int semver_parse(const char *text, struct semver *out);
int semver_compare(const struct semver *a, const struct semver *b); /* <0, 0, >0 by precedence */
/* A range: comparators (=, >, >=, <, <=, ^, ~, or a bare version meaning =) joined by
 * spaces, all of which must hold; "||" between sets as npm allows. -EINVAL with a
 * sentence on a bad one. *ok: v satisfies it (pre-releases as npm: only when a
 * comparator of the same major.minor.patch has one). */
int semver_range_check(const char *range);
int semver_range_satisfies(const char *range, const struct semver *v, bool *ok);

/* ---- capability manifests (capability_manifest.c) ---- */
enum capability_type { CAPABILITY_PATTERN = 0, CAPABILITY_SERVICE = 1 };
const char *capability_type_name(enum capability_type t); /* "pattern", "service" */
enum health_check_kind { HEALTH_CHECK_NONE = 0, HEALTH_CHECK_HTTP, HEALTH_CHECK_COMMAND };
struct health_check {
	enum health_check_kind kind;
	char *url;        /* http: answering 2xx is healthy */
	char **argv;      /* command: NULL-terminated; exit 0 is healthy */
	size_t argc;
	int64_t timeout_ms; /* default 5s */
};
struct capability_dep {
	char *ns;
	char *range; /* NULL when none */
};
struct capability {
	char *file;   /* the manifest's path */
	char *ns;     /* namespace: dotted lower-case words ("chora.devex.registry") */
	char *version;
	enum capability_type type;
	char *metadata_json;     /* compact JSON object, keys in the file's order */
	char *dependencies_json; /* compact JSON array of {"namespace", "range"} */
	struct capability_dep *deps;
	size_t n_deps;
	struct health_check check; /* Service-type only; kind NONE when absent */
};
/* What is wrong with one manifest: "file:line: what". ns is the namespace when it
 * could be told (from the file or its name), else NULL: the sync keeps that
 * capability's keys as they are. */
struct manifest_problem {
	char *file;
	unsigned line;
	char *what;
	char *ns;
};
struct manifest_set {
	struct capability *caps; /* valid manifests, sorted by namespace */
	size_t n_caps;
	struct manifest_problem *problems; /* invalid ones, in file order */
	size_t n_problems;
	int dir_err;       /* 0, or the negative errno of a missing/unreadable directory */
	char dir_msg[512]; /* its sentence */
};
/* True for dotted lower-case words: [a-z][a-z0-9_-]* joined by '.'. */
bool capability_namespace_valid(const char *ns);
/* One manifest from memory; file names it in problems and gives the default
 * namespace (its base name without .yaml). 0, or -EINVAL with *problem filled. */
int manifest_parse(const char *text, size_t len, const char *file, struct capability *out,
		   struct manifest_problem *problem);
/* Every *.yaml and *.yml file of dir (not recursive; dot files skipped). Two
 * manifests with one namespace are both problems. Returns 0 even when some are
 * invalid or the directory is missing (see dir_err); a negative errno only for
 * lack of memory. */
int manifest_load_dir(const char *dir, struct manifest_set *out);
void capability_free(struct capability *c);
void manifest_problem_free(struct manifest_problem *p);
void manifest_set_free(struct manifest_set *s);

/* ---- the GitOps sync (registry_sync.c, registry_git.c) ---- */
enum sync_action { SYNC_CREATE, SYNC_UPDATE, SYNC_DELETE, SYNC_UNCHANGED, SYNC_INVALID, SYNC_DRIFT,
		   SYNC_DEFERRED /* a prune over max_deletes, left for a later pass */ };
const char *sync_action_name(enum sync_action a); /* "create", "update", ... */
struct sync_row {
	char *ns;
	enum sync_action action;
	char *keys;   /* the keys written or deleted, "metadata,version" ("" none) */
	char *file;   /* invalid: the manifest and line */
	unsigned line;
	char *reason; /* invalid: what is wrong; drift: what was changed by hand */
};
struct sync_report {
	struct sync_row *rows; /* sorted by namespace */
	size_t n_rows;
	size_t counts[SYNC_DEFERRED + 1];
	bool dry_run;
	int64_t revision;  /* the cluster's revision after the pass */
	size_t txns;       /* transactions written (0 for an unchanged pass) */
	char *git_commit;  /* the work tree's HEAD when manifests_dir is in one, else NULL */
	char *warnings;    /* "; "-joined (empty directory kept, deletes deferred, fetch failed), or NULL */
	size_t n_by_type[2]; /* the valid manifests by enum capability_type (for metrics) */
};
/* One pass: read the manifests, the keys under prefix and the inventory, write what
 * differs (one Txn per capability, each with its inventory key), prune owned
 * capabilities whose manifest is gone. 0 (invalid manifests are rows, not an
 * error), or a negative errno with a sentence when etcd could not be read or
 * written. cancel (NULL: none) stops between transactions (-EINTR). */
/* on_loaded (NULL: none) sees the manifests the pass read, after its writes (also
 * when they failed), so a caller acts on the same set the keys came from (a git
 * fetch happens inside the pass); it may move what it keeps out of the set. */
typedef void (*sync_loaded_fn)(struct manifest_set *m, void *ud);
int registry_sync_pass(etcd_client *c, const struct cluster_spec *cs, const struct registry_settings *rs,
		       bool dry_run, const struct rv_cancel *cancel, sync_loaded_fn on_loaded, void *ud,
		       struct sync_report *out);
void sync_report_free(struct sync_report *r);

/* ---- heartbeats (heartbeat.c, health_check.c) ----
 * One object keeps the health keys of many capabilities, each under a lease of its
 * own, over one LeaseKeepAlive stream. heartbeat_run() does the work on the
 * caller's thread until cancelled; heartbeat_set_targets() and heartbeat_stats()
 * may be called from other threads at any time. */
struct heartbeat_target {
	const char *ns;
	const struct health_check *check; /* NULL or kind NONE: always healthy */
};
struct heartbeat_opts {
	const char *prefix;       /* registry.prefix */
	const char *state_prefix; /* registry_state_prefix(): the claims */
	int64_t ttl_ms, interval_ms;
	const char *owner;        /* who keeps them, for claims: "regvault daemon on host (pid N)" */
};
struct heartbeat;
int heartbeat_new(etcd_client *c, const struct heartbeat_opts *o, struct heartbeat **out);
/* Replace the set kept (copied): new ones start at once, removed ones are revoked. */
int heartbeat_set_targets(struct heartbeat *h, const struct heartbeat_target *t, size_t n);
/* Until cancel is requested: then every lease is revoked (health keys gone at once)
 * and it returns 0. Outages are retried inside, never returned. */
int heartbeat_run(struct heartbeat *h, const struct rv_cancel *cancel);
struct heartbeat_stat {
	char ns[256];
	const char *status;  /* "healthy", "unhealthy", "claimed" (another keeps it), "pending" */
	char detail[256];    /* unhealthy: why; claimed: by whom */
	int64_t lease;       /* 0 when none */
	int64_t count;       /* heartbeats written */
	int64_t last_ms;     /* unix ms of the last written, 0 never */
};
struct heartbeat_totals {
	uint64_t renewals, leases_lost, writes;
};
/* A copy of each target's state (malloc'd array). */
int heartbeat_stats(struct heartbeat *h, struct heartbeat_stat **out, size_t *n, struct heartbeat_totals *t);
/* After heartbeat_run has returned (or before it ran); heartbeat_run may be called
 * again before it, with the targets last set. */
void heartbeat_free(struct heartbeat *h);
/* Run one health check (http or command) within its timeout: 0 healthy, or a
 * negative errno with detail filled ("HTTP 503", "exit 3", "timed out after 5s"). */
int health_check_run(const struct health_check *hc, const struct rv_cancel *cancel, char *detail, size_t len);
/* Whether someone keeps the heartbeat of ns (its claim key under state_prefix) and
 * who (the claim's owner, as written), for a foreground service that must not start
 * a second writer. A claim of a process of this host that is gone is not held (the
 * service takes it over). 0 (*held false when nobody), or a negative errno from etcd. */
int heartbeat_claim_owner(etcd_client *c, const char *state_prefix, const char *ns, bool *held, char *owner,
			  size_t len);

/* ---- every capability's state, for `registry status` (registry_status.c) ---- */
struct registry_status_row {
	char *ns;
	const char *type;     /* "service", "pattern", "" unknown */
	char *version;        /* NULL unknown */
	const char *health;   /* "healthy", "unhealthy", "missing" (no key), "stale", "-" (pattern) */
	char *detail;         /* unhealthy: the key's detail; else NULL */
	char *timestamp;      /* the last heartbeat's, as written; NULL none */
	char *kept_by;        /* the claim's owner; NULL none */
	double heartbeat_age_s; /* NaN: none */
	int64_t lease_ttl_s;    /* -1: none */
	int64_t heartbeat_count; /* -1: none */
	bool in_manifests, in_etcd;
};
struct registry_status_opts {
	const char *prefix;       /* registry.prefix */
	const char *state_prefix; /* registry_state_prefix(): the claims */
	int64_t stale_after_ms;   /* a heartbeat older than this is "stale" */
};
/* One row per capability in ms (NULL: none) or under prefix in etcd, sorted by
 * namespace. *ok: every Service-type capability (and every one with a health key)
 * has a fresh healthy heartbeat. 0, or a negative errno when etcd cannot be read. */
int registry_status_collect(etcd_client *c, const struct registry_status_opts *o, const struct manifest_set *ms,
			    struct registry_status_row **rows, size_t *n, bool *ok);
void registry_status_rows_free(struct registry_status_row *rows, size_t n);

#endif
