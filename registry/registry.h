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

#endif
