/* continuous_limit.c - how far regvault's own compaction may go while continuous
 * backup runs: not past the last revision a segment of the newest chain holds + 1
 * (the recorder goes on from there). Apart from daemon_continuous.c so that the CLI
 * and the compact job use it without the daemon. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/scheduler.h"
#include "snapshot/snapshot.h"

int continuous_compact_limit(const struct rv_config *cfg, int64_t *limit)
{
	struct store *st;
	struct snap_info *v;
	struct seg_info *segs;
	size_t n, ns;
	int r;

	*limit = 0;
	if (!cfg->daemon.continuous_enabled)
		return 0;
	if ((r = store_open(&cfg->store, &st)) < 0)
		return rv_fail_wrap(r, "continuous backup runs, so compaction must know its last persisted revision");
	if ((r = snap_list(st, &v, &n)) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (v[i].foreign)
				continue;
			char chain[256];
			size_t nl = strlen(v[i].name) - snap_suffix_len(v[i].name);
			snprintf(chain, sizeof chain, "%.*s", (int)nl, v[i].name);
			int64_t at = v[i].m.revision;
			if ((r = seg_list_chain(st, chain, &segs, &ns)) == 0) {
				for (size_t j = 0; j < ns; j++)
					if (segs[j].last > at)
						at = segs[j].last;
				free(segs);
			}
			*limit = at + 1;
			break;
		}
		free(v);
	}
	store_close(st);
	if (r < 0)
		return rv_fail_wrap(r, "continuous backup runs, so compaction must know its last persisted revision");
	return 0;
}
