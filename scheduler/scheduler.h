/* scheduler.h - the scheduler module: configuration, the daemon and its metrics. */
#ifndef REGVAULT_SCHEDULER_H
#define REGVAULT_SCHEDULER_H

#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "maint/maint.h"
#include "registry/registry.h"
#include "restore/restore.h"
#include "snapshot/snapshot.h"

#define RV_DEFAULT_CONFIG "/etc/regvault/regvault.yaml"

struct rv_config {
	char *path; /* the file read */
	struct cluster_spec cluster;
	struct store_spec store;
	struct snapshot_settings snapshot;
	struct maint_settings maint;
	char *state_dir; /* /var/lib/regvault */
};

/* Load path, else $REGVAULT_CONFIG, else RV_DEFAULT_CONFIG. An unknown key, a wrong
 * type or a missing required key is -EINVAL with a message naming the key and its
 * line; a secret file readable by others is -EPERM. Defaults are filled in. */
int config_load(const char *path, struct rv_config *out);
/* Parse from memory (tests); name is used in messages. */
int config_parse(const char *text, size_t len, const char *name, struct rv_config *out);
void config_free(struct rv_config *c);

/* ---- reports as JSON (report*.c) ----
 * What each command prints with -o json, built from the module's report, so that the
 * daemon serves the same objects for its jobs. Each returns a new reference. */
json_t *report_cluster_status_json(const struct member_row *rows, size_t n);
/* was_running[i], pids[i]: member i before the start and now. */
json_t *report_cluster_up_json(const struct cluster_spec *cs, const bool *was_running, const pid_t *pids);
json_t *report_cluster_down_json(const struct cluster_spec *cs, const pid_t *pids_before, const pid_t *pids_now);

/* One artifact (save; also each entry of list). */
json_t *report_snapshot_save_json(const struct snap_info *si);
json_t *report_snapshot_list_json(const struct snap_info *v, size_t n);
/* ok false: si->name and si->problem say what is wrong. */
json_t *report_snapshot_verify_json(const struct snap_info *si, bool ok);
json_t *report_snapshot_fetch_json(const char *name, const char *file, const struct snap_manifest *m);
json_t *report_snapshot_delete_json(const char *name);
json_t *report_prune_json(const struct prune_decision *d, size_t n, bool dry_run);

json_t *report_compact_json(const struct maint_compact_report *rep);
/* rule_from: where the rule came from ("--rule", "maint.defrag_rule"); NULL: regvault chose it. */
json_t *report_defrag_json(const struct maint_defrag_report *rep, const char *rule, const char *rule_from,
			   bool dry_run);
json_t *report_alarms_json(const struct maint_alarm_row *rows, size_t n, bool disarmed, size_t n_disarmed);
json_t *report_recover_space_json(const struct maint_recover_report *rep, bool ok);
json_t *report_hashcheck_json(const struct maint_hash_report *rep);
/* One result per directory (members[i]: the members on it, or members NULL): the
 * worst directory's keys at the top, pass for all of them, every one under results. */
json_t *report_diskcheck_json(const struct maint_diskcheck_result *res, char *const *members, size_t n);
json_t *report_perfcheck_json(const struct maint_perfcheck_result *res);

/* r: what the restore (or rollback, resume) returned; its error is rv_errmsg(r). */
json_t *report_restore_json(const struct restore_report *rep, int r, bool dry_run);
json_t *report_restore_cleanup_json(const struct restore_leftover *v, size_t n, bool dry_run);
json_t *report_drill_json(const struct drill_report *d);
/* Write the drill's report to <state_dir>/drills/drill-<time>.json (atomically) and
 * set d->report_path; run after restore_drill() returned 0. */
int report_drill_save(const char *state_dir, struct drill_report *d);

/* How every report is written: two-space indent, keys in insertion order, reals with
 * 15 significant digits. dumps: malloc'd text without a final newline; write: the
 * text and a newline to f; save: the text to path, atomically. */
char *report_json_dumps(const json_t *root);
int report_json_write(const json_t *root, FILE *f);
int report_json_save(const json_t *root, const char *path);

/* The daemon's wording of the modules' advice (common.h, enum rv_advice): what to
 * change or look at, never a flag to type; "" for none. install: make it the wording
 * rv_errmsg() appends, once at the daemon's start. */
const char *report_advice_config_text(enum rv_advice a);
void report_advice_install_config(void);

#endif
