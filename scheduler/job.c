/* job.c - the jobs the daemon runs: their names, which exclude each other, and
 * when a schedule is next due. */
#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

static const char *const names[JOB_KIND_COUNT] = {
	[JOB_SNAPSHOT] = "snapshot", [JOB_VERIFY] = "verify",       [JOB_COMPACT] = "compact",
	[JOB_DEFRAG] = "defrag",     [JOB_HASHCHECK] = "hashcheck", [JOB_DISKCHECK] = "diskcheck",
	[JOB_DRILL] = "drill",
};

const char *job_kind_name(enum job_kind k)
{
	return (unsigned)k < JOB_KIND_COUNT ? names[k] : "unknown";
}

int job_kind_parse(const char *name, enum job_kind *out)
{
	for (int k = 0; k < JOB_KIND_COUNT; k++)
		if (name && strcmp(name, names[k]) == 0) {
			*out = (enum job_kind)k;
			return 0;
		}
	return rv_fail(-EINVAL, "'%s' is not a job; the jobs are snapshot, verify, compact, defrag, hashcheck, "
				"diskcheck and drill", name ? name : "");
}

bool job_kind_exclusive(enum job_kind k)
{
	/* verify reads the store and hashcheck asks for a hash: neither loads the members much. */
	return k == JOB_SNAPSHOT || k == JOB_COMPACT || k == JOB_DEFRAG || k == JOB_DRILL || k == JOB_DISKCHECK;
}

static int64_t floor_s(int64_t ms)
{
	return ms / 1000 - (ms % 1000 < 0);
}

int job_next_due(const struct job_schedule *s, int64_t after_ms, int64_t *due_ms)
{
	if (!s->enabled)
		return rv_fail(-ENOENT, "the job is disabled (enabled: false), so it is never due");
	if (s->cron) {
		int64_t next;
		int r = cron_next(s->cron, floor_s(after_ms), &next);
		if (r < 0)
			return r;
		*due_ms = next * 1000;
		return 0;
	}
	if (s->every_ms <= 0)
		return rv_fail(-EINVAL, "the job has neither a cron schedule nor an interval");
	*due_ms = after_ms + s->every_ms;
	return 0;
}

bool job_missed_at_start(const struct job_schedule *s, int64_t last_success_ms, int64_t now_ms)
{
	if (!s->enabled)
		return false;
	if (last_success_ms <= 0)
		return true;
	if (s->cron) {
		int64_t prev;
		if (cron_prev(s->cron, floor_s(now_ms), &prev) < 0) {
			rv_err_clear();
			return false;
		}
		return last_success_ms < prev * 1000;
	}
	return s->every_ms > 0 && now_ms - last_success_ms >= s->every_ms;
}
