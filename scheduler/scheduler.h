/* scheduler.h - the scheduler module: configuration, the daemon and its metrics. */
#ifndef REGVAULT_SCHEDULER_H
#define REGVAULT_SCHEDULER_H

#include "maint/maint.h"
#include "registry/registry.h"
#include "restore/restore.h"
#include "snapshot/snapshot.h"
/* STAND-IN until the merge with sched, which declares these here itself. */
#include "scheduler/daemon_api.h"

#define RV_DEFAULT_CONFIG "/etc/regvault/regvault.yaml"

struct rv_config {
	char *path; /* the file read */
	struct cluster_spec cluster;
	struct store_spec store;
	struct snapshot_settings snapshot;
	struct maint_settings maint;
	char *state_dir; /* /var/lib/regvault */
	struct daemon_settings daemon;
};

/* Load path, else $REGVAULT_CONFIG, else RV_DEFAULT_CONFIG. An unknown key, a wrong
 * type or a missing required key is -EINVAL with a message naming the key and its
 * line; a secret file readable by others is -EPERM. Defaults are filled in. */
int config_load(const char *path, struct rv_config *out);
/* Parse from memory (tests); name is used in messages. */
int config_parse(const char *text, size_t len, const char *name, struct rv_config *out);
void config_free(struct rv_config *c);

/* ---- the daemon (daemon*.c): schedule, workers, supervision, control socket ----
 * One thread runs the loop (poll over signals, the control socket, an optional
 * metrics socket and a wake-up pipe); each job runs on a worker thread of its own;
 * a supervisor thread watches the local members. */
struct daemon_opts {
	const char *config_path; /* what SIGHUP reloads (NULL: the default chain) */
	int signal_fd;           /* a signalfd for SIGHUP, SIGTERM and SIGINT, which the
				  * caller blocked: the loop reads them as events */
};
/* Runs until SIGTERM/SIGINT; takes cfg (frees it). 0 after a clean stop; a negative
 * errno with a sentence when it could not start (a socket, another daemon). */
int daemon_run(struct rv_config *cfg, const struct daemon_opts *o);

/* The control socket's client: one request (a JSON object with "cmd"), one answer.
 * -ECONNREFUSED with the sentence saying no daemon answers when none does. */
int daemon_request(const char *socket_path, json_t *request, int timeout_ms, json_t **answer);

#endif
