/* daemon_merge.c - beside the recorder (daemon_continuous.c), on the leader only: a
 * thread that merges aged segments (snapshot/segment_merge.c) every so often, so a
 * day of recording is a few hundred objects, not 86,400. Its own store handle, so a
 * slow merge never holds up recording; a pass cut short by the daemon's stop leaves
 * the store as a pass cut short anywhere does (segment_merge.c says why that is safe). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/daemon_impl.h"
#include "snapshot/snapshot.h"

struct seg_merger {
	pthread_t thread;
	struct rv_cancel cancel;
	struct cfg_ref *cfg;
	char writer[64];
	pthread_mutex_t mu;
	uint64_t merged, merged_away, errors;
};

/* A quarter of the smallest window, from 1 s to a minute. */
static int64_t pass_every_ms(const struct daemon_settings *ds)
{
	int64_t ms = ds->continuous_merge_ms[0] / 4;
	return ms < 1000 ? 1000 : ms > 60000 ? 60000 : ms;
}

static void *merge_main(void *arg)
{
	struct seg_merger *m = arg;
	const struct rv_config *cfg = &m->cfg->cfg;
	const struct daemon_settings *ds = &cfg->daemon;
	/* A window is merged once a segment of it can no longer be on its way: its
	 * events are received within a flush and published just after. */
	int64_t grace = 2 * ds->continuous_flush_ms + 2000;
	struct store *s = NULL;
	char last_err[256] = "";
	double ratio = 0; /* the compression seen, from pass to pass */
	while (!rv_cancelled(&m->cancel)) {
		rv_sleep_cancellable(pass_every_ms(ds), &m->cancel);
		if (rv_cancelled(&m->cancel))
			break;
		int r = 0;
		if (!s && (r = store_open(&cfg->store, &s)) == 0)
			store_set_cancel(s, &m->cancel);
		struct seg_merge_report rep = {.ratio = ratio};
		if (r == 0)
			r = seg_merge_pass(s, ds->continuous_merge_ms, ds->continuous_merge_n, rv_now_unix_ms(), grace, m->writer,
					   cfg->snapshot.compression_level, &rep);
		if (rep.ratio > ratio)
			ratio = rep.ratio;
		pthread_mutex_lock(&m->mu);
		m->merged += rep.merged;
		m->merged_away += rep.deleted;
		m->errors += rep.errors + (r < 0 && !rep.errors);
		pthread_mutex_unlock(&m->mu);
		if (rep.merged || rep.covered)
			rv_info("continuous backup: merged %zu segments into %zu; %zu deleted (%zu were covered by another)",
				rep.segments_in, rep.merged, rep.deleted, rep.covered);
		if (r < 0 && !rv_cancelled(&m->cancel)) {
			const char *why = rv_errmsg(r);
			if (strncmp(why, last_err, sizeof last_err - 1) != 0) /* said once until it changes */
				rv_warn("continuous backup: merging segments: %s", why);
			snprintf(last_err, sizeof last_err, "%s", why);
		} else if (r == 0) {
			last_err[0] = 0;
		}
		rv_err_clear();
	}
	store_close(s);
	return NULL;
}

int seg_merger_start(struct cfg_ref *cfg, const char *writer, struct seg_merger **out)
{
	*out = NULL;
	if (cfg->cfg.daemon.continuous_merge_n == 0)
		return 0;
	struct seg_merger *m = rv_xcalloc(1, sizeof *m);
	pthread_mutex_init(&m->mu, NULL);
	m->cfg = cfg_ref_get(cfg);
	snprintf(m->writer, sizeof m->writer, "%s", writer);
	int e = pthread_create(&m->thread, NULL, merge_main, m);
	if (e != 0) {
		cfg_ref_put(m->cfg);
		pthread_mutex_destroy(&m->mu);
		free(m);
		return rv_fail(-e, "cannot start the thread that merges segments: %s", strerror(e));
	}
	*out = m;
	return 0;
}

void seg_merger_stop(struct seg_merger *m)
{
	if (!m)
		return;
	rv_cancel_request(&m->cancel);
	pthread_join(m->thread, NULL);
	cfg_ref_put(m->cfg);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

void seg_merger_stats(struct seg_merger *m, struct continuous_stats *into)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	into->merged = m->merged;
	into->merged_away = m->merged_away;
	into->merge_errors = m->errors;
	pthread_mutex_unlock(&m->mu);
}
