/* scheduler.h - the scheduler module: configuration, the daemon and its metrics. */
#ifndef REGVAULT_SCHEDULER_H
#define REGVAULT_SCHEDULER_H

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

#endif
