/* perfcheck.c - etcdctl check perf, native: the load's number of clients put 1 KiB
 * values under a private prefix at the load's rate for the duration; then
 * throughput and latency, judged by etcd's own rules (throughput >= 90 % of the
 * target, slowest <= 0.5 s, stddev <= 0.1 s, no errors). Its keys are deleted
 * afterwards, also when the run is stopped early. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "maint/maint.h"

#define PERF_VALUE_SIZE 1024

static const struct maint_perf_load loads[] = {
	{"s", 150, 50},
	{"m", 1000, 200},
	{"l", 8000, 500},
	{"xl", 15000, 1000},
};

int maint_perf_load_find(const char *name, struct maint_perf_load *out)
{
	for (size_t i = 0; i < RV_ARRAY_LEN(loads); i++)
		if (name && strcmp(name, loads[i].name) == 0) {
			*out = loads[i];
			return 0;
		}
	return rv_fail(-EINVAL, "unknown load '%s': use s, m, l or xl", name ? name : "");
}

struct perf_run {
	etcd_client *c;
	const struct maint_perfcheck_opts *o;
	double start, end; /* monotonic seconds */
	atomic_llong next_slot;
	uint64_t run_id; /* in every key, so runs never collide */
	atomic_llong puts_done;
	atomic_int workers_done;
};

struct perf_worker {
	struct perf_run *run;
	pthread_t tid;
	double *lat;
	size_t n, cap;
	uint64_t errors;
	char first_error[256];
	double ended; /* when its last put returned */
};

static bool stopped(const struct perf_run *run)
{
	return rv_cancelled(run->o->cancel);
}

static void *worker(void *arg)
{
	struct perf_worker *w = arg;
	struct perf_run *run = w->run;
	const double rate = run->o->load.rate;
	char *value = rv_xcalloc(1, PERF_VALUE_SIZE);
	char key[128];

	while (!stopped(run)) {
		long long slot = atomic_fetch_add(&run->next_slot, 1);
		double at = run->start + (double)slot / rate;
		if (at >= run->end)
			break;
		/* Wait for this put's turn in small steps, so a stop is seen quickly. */
		for (double now = rv_now_mono(); now < at && !stopped(run); now = rv_now_mono()) {
			double left_ms = (at - now) * 1000;
			rv_sleep_ms(left_ms > 100 ? 100 : (int64_t)ceil(left_ms));
		}
		/* Like etcdctl, the run ends at its duration even when puts fall behind. */
		if (stopped(run) || rv_now_mono() >= run->end)
			break;
		int kl = snprintf(key, sizeof key, "%s%016llx-%012lld", MAINT_PERF_PREFIX,
				  (unsigned long long)run->run_id, slot);
		double t0 = rv_now_mono();
		int r = etcd_put(run->c, key, (size_t)kl, value, PERF_VALUE_SIZE, 0, NULL);
		double took = rv_now_mono() - t0;
		if (r < 0) {
			if (!w->errors++)
				snprintf(w->first_error, sizeof w->first_error, "%s", rv_errmsg(r));
			continue;
		}
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 256;
			w->lat = rv_xrealloc(w->lat, w->cap * sizeof *w->lat);
		}
		w->lat[w->n++] = took;
		atomic_fetch_add(&run->puts_done, 1);
	}
	free(value);
	w->ended = rv_now_mono();
	atomic_fetch_add(&run->workers_done, 1);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double percentile(const double *v, size_t n, double q)
{
	size_t rank = (size_t)ceil(q * (double)n);
	if (n == 0)
		return 0;
	if (rank < 1)
		rank = 1;
	return v[(rank > n ? n : rank) - 1];
}

static int delete_keys(etcd_client *c, int64_t *deleted)
{
	size_t end_len = 0;
	uint8_t *end = etcd_prefix_end(MAINT_PERF_PREFIX, strlen(MAINT_PERF_PREFIX), &end_len);
	int r = 0;
	for (int attempt = 0; attempt < 3; attempt++) {
		int64_t d = 0;
		r = etcd_delete_range(c, MAINT_PERF_PREFIX, strlen(MAINT_PERF_PREFIX), end, end_len, &d);
		if (r == 0) {
			*deleted += d;
			break;
		}
		rv_sleep_ms(500);
	}
	free(end);
	if (r < 0)
		return rv_fail_wrap(r, "cannot delete the perfcheck keys; delete them with 'etcdctl del --prefix %s'",
				    MAINT_PERF_PREFIX);
	return 0;
}

int maint_perfcheck(etcd_client *c, const struct maint_perfcheck_opts *o, struct maint_perfcheck_result *out)
{
	struct etcd_range_req rq = {0};
	struct etcd_range_resp rs;
	size_t end_len = 0;
	int r;

	memset(out, 0, sizeof *out);
	out->load = o->load;
	if (o->load.rate <= 0 || o->load.clients <= 0 || o->duration_ms <= 0)
		return rv_fail(-EINVAL, "the perfcheck load and duration must be positive");

	uint8_t *end = etcd_prefix_end(MAINT_PERF_PREFIX, strlen(MAINT_PERF_PREFIX), &end_len);
	rq.key = MAINT_PERF_PREFIX;
	rq.key_len = strlen(MAINT_PERF_PREFIX);
	rq.range_end = end;
	rq.range_end_len = end_len;
	rq.count_only = true;
	r = etcd_range(c, ETCD_ANY, &rq, &rs);
	free(end);
	if (r < 0)
		return rv_fail_wrap(r, "cannot check that the perfcheck prefix is empty");
	int64_t existing = rs.count;
	etcd_range_resp_free(&rs);
	if (existing > 0)
		return rv_fail(-EEXIST, "the perfcheck prefix %s already holds %lld keys (left by an earlier run?), so nothing was written; delete them with 'etcdctl del --prefix %s' and run again",
			       MAINT_PERF_PREFIX, (long long)existing, MAINT_PERF_PREFIX);

	struct perf_run run = {.c = c, .o = o};
	run.run_id = ((uint64_t)rv_now_unix() << 20) ^ (uint64_t)(rv_now_mono() * 1e6);
	atomic_init(&run.next_slot, 0);
	atomic_init(&run.puts_done, 0);
	atomic_init(&run.workers_done, 0);
	size_t n_workers = (size_t)o->load.clients;
	struct perf_worker *w = rv_xcalloc(n_workers, sizeof *w);
	size_t started = 0;
	rv_info("perfcheck: load %s, %d puts/s from %d clients for %.0f s", o->load.name, o->load.rate,
		o->load.clients, (double)o->duration_ms / 1000);
	run.start = rv_now_mono() + 0.05;
	run.end = run.start + (double)o->duration_ms / 1000;
	for (; started < n_workers; started++) {
		w[started].run = &run;
		if (pthread_create(&w[started].tid, NULL, worker, &w[started]) != 0)
			break;
	}
	/* Progress in bytes put, against what the load would put in the duration. */
	uint64_t planned = (uint64_t)((double)o->load.rate * (double)o->duration_ms / 1000) * PERF_VALUE_SIZE;
	while ((size_t)atomic_load(&run.workers_done) < started) {
		uint64_t put = (uint64_t)atomic_load(&run.puts_done) * PERF_VALUE_SIZE;
		if (o->progress)
			o->progress(o->progress_ud, "perfcheck", put < planned ? put : planned - 1, planned);
		rv_sleep_ms(100);
	}
	if (o->progress)
		o->progress(o->progress_ud, "perfcheck", planned, planned);
	double finished = run.start;
	for (size_t i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].ended > finished)
			finished = w[i].ended;
	}

	/* Gather. */
	size_t n = 0;
	for (size_t i = 0; i < started; i++)
		n += w[i].n;
	double *lat = rv_xmalloc((n ? n : 1) * sizeof *lat);
	size_t k = 0;
	for (size_t i = 0; i < started; i++) {
		memcpy(lat + k, w[i].lat, w[i].n * sizeof *lat);
		k += w[i].n;
		out->errors += w[i].errors;
		if (w[i].errors && !out->first_error[0])
			snprintf(out->first_error, sizeof out->first_error, "%s", w[i].first_error);
		free(w[i].lat);
	}
	free(w);
	qsort(lat, n, sizeof *lat, cmp_double);
	double sum = 0, sq = 0;
	for (size_t i = 0; i < n; i++)
		sum += lat[i];
	double mean = n ? sum / (double)n : 0;
	for (size_t i = 0; i < n; i++)
		sq += (lat[i] - mean) * (lat[i] - mean);
	out->interrupted = stopped(&run);
	out->seconds = finished - run.start;
	out->requests = n + out->errors;
	out->throughput = out->seconds > 0 ? (double)n / out->seconds : 0;
	out->p50_ms = percentile(lat, n, 0.50) * 1000;
	out->p95_ms = percentile(lat, n, 0.95) * 1000;
	out->p99_ms = percentile(lat, n, 0.99) * 1000;
	out->max_ms = n ? lat[n - 1] * 1000 : 0;
	out->mean_ms = mean * 1000;
	out->stddev_ms = n ? sqrt(sq / (double)n) * 1000 : 0;
	out->throughput_ok = out->throughput >= 0.9 * o->load.rate;
	out->slowest_ok = out->max_ms <= 500;
	out->stddev_ok = out->stddev_ms <= 100;
	out->errors_ok = out->errors == 0;
	out->pass = out->throughput_ok && out->slowest_ok && out->stddev_ok && out->errors_ok && !out->interrupted;
	free(lat);

	r = delete_keys(c, &out->deleted);
	if (r < 0)
		return r;
	if (out->interrupted)
		return rv_fail(-EINTR, "perfcheck was interrupted after %.1f s; its %lld keys were deleted",
			       out->seconds, (long long)out->deleted);
	if (started < n_workers)
		return rv_fail(-EAGAIN, "could start only %zu of %d client threads; its keys were deleted", started,
			       o->load.clients);
	return 0;
}
