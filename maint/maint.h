/* maint.h - the maint module: compaction, rolling defragmentation, alarms and NOSPACE
 * recovery, consistency (HashKV) and disk/performance checks. */
#ifndef REGVAULT_MAINT_H
#define REGVAULT_MAINT_H

#include <stdbool.h>
#include <stdint.h>

#include "registry/registry.h"

/* ---- settings (config keys maint.*) ---- */
struct maint_settings {
	int64_t compact_keep_revisions; /* 1000 */
	char *defrag_rule;              /* "dbQuotaUsage > 0.8 || dbSizeFree > 200MiB" */
	double disarm_threshold;        /* 0.9 */
};

#endif
