/* put_tool.c - a steady writer for the benchmarks: RATE puts a second of SIZE-byte
 * values for SECONDS, from THREADS threads through regvault's client, each put paced
 * to its slot (a late one is sent at once, none is skipped). Prints the puts made,
 * the puts per second reached and the last acknowledged revision.
 *   put-tool ENDPOINTS RATE SIZE SECONDS [THREADS]   (endpoints comma-separated)
 * With PUT_TOOL_ACKS=FILE every put has a key of its own (/w/SLOT) and each
 * acknowledged one is written to FILE at the end as "KEY REVISION UNIX_MS", for tests
 * that check what a restore kept. Not installed. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "etcd/etcd.h"

static etcd_client *client;
static double rate, seconds, t0;
static size_t size;
static atomic_long next_slot, done, failed;
static atomic_llong last_rev;

static char random_pool[1 << 20];

/* PUT_TOOL_ACKS: the acknowledged puts, kept in memory until the end. */
struct ack {
	long slot;
	long long revision, at_ms;
};
static bool log_acks;
static pthread_mutex_t acks_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ack *acks;
static size_t n_acks, cap_acks;

static void ack_add(long slot, long long revision)
{
	pthread_mutex_lock(&acks_mu);
	if (n_acks == cap_acks) {
		cap_acks = cap_acks ? 2 * cap_acks : 4096;
		acks = rv_xrealloc(acks, cap_acks * sizeof *acks);
	}
	acks[n_acks++] = (struct ack){slot, revision, (long long)rv_now_unix_ms()};
	pthread_mutex_unlock(&acks_mu);
}

static int acks_write(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	for (size_t i = 0; i < n_acks; i++)
		fprintf(f, "/w/%ld %lld %lld\n", acks[i].slot, acks[i].revision, acks[i].at_ms);
	return fclose(f) == 0 ? 0 : -1;
}
static void fill_pool(void)
{
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(random_pool, 1, sizeof random_pool, f) != sizeof random_pool)
		for (size_t i = 0; i < sizeof random_pool; i++)
			random_pool[i] = (char)rand();
	if (f)
		fclose(f);
}

static void *writer(void *arg)
{
	(void)arg;
	/* Values as incompressible as real data can be: windows into one random pool. */
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, fill_pool);
	for (;;) {
		long slot = atomic_fetch_add(&next_slot, 1);
		double at = t0 + (double)slot / rate;
		double now = rv_now_mono();
		/* late slots are sent at once, but not past the end (a cluster that went
		 * away makes every put wait for its timeout) */
		if (at - t0 >= seconds || now - t0 >= seconds)
			break;
		if (at > now) {
			struct timespec ts = {(time_t)(at - now), (long)((at - now - (time_t)(at - now)) * 1e9)};
			nanosleep(&ts, NULL);
		}
		char key[64];
		int kl = log_acks ? snprintf(key, sizeof key, "/w/%ld", slot)
				  : snprintf(key, sizeof key, "/bench/put/%06ld", slot % 100000);
		struct etcd_header h;
		const char *val = random_pool + (size_t)slot * 7919 % (sizeof random_pool - size);
		if (etcd_put(client, key, (size_t)kl, val, size, 0, &h) == 0) {
			atomic_fetch_add(&done, 1);
			if (log_acks)
				ack_add(slot, (long long)h.revision);
			long long prev = atomic_load(&last_rev);
			while (h.revision > prev && !atomic_compare_exchange_weak(&last_rev, &prev, h.revision))
				;
		} else {
			atomic_fetch_add(&failed, 1);
			rv_err_clear();
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: put-tool ENDPOINTS RATE SIZE SECONDS [THREADS]\n");
		return 2;
	}
	char *eps[8];
	size_t n_eps = 0;
	for (char *tok = strtok(argv[1], ","); tok && n_eps < 8; tok = strtok(NULL, ","))
		eps[n_eps++] = tok;
	rate = atof(argv[2]);
	size = (size_t)atol(argv[3]);
	if (size < 1 || size >= sizeof random_pool) {
		fprintf(stderr, "put-tool: SIZE must be from 1 to %zu bytes\n", sizeof random_pool - 1);
		return 2;
	}
	seconds = atof(argv[4]);
	int threads = argc > 5 ? atoi(argv[5]) : 16;
	const char *acks_path = getenv("PUT_TOOL_ACKS");
	log_acks = acks_path && *acks_path;
	struct etcd_client_opts o = {.endpoints = eps, .n_endpoints = n_eps};
	etcd_global_init();
	if (etcd_client_new(&o, &client) < 0) {
		fprintf(stderr, "put-tool: %s\n", rv_errmsg(-1));
		return 1;
	}
	pthread_t th[64];
	if (threads < 1 || threads > 64)
		threads = 16;
	t0 = rv_now_mono();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, writer, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	double took = rv_now_mono() - t0;
	printf("%ld %.1f %lld %ld\n", (long)atomic_load(&done), (double)atomic_load(&done) / took,
	       (long long)atomic_load(&last_rev), (long)atomic_load(&failed));
	etcd_client_free(client);
	etcd_global_shutdown();
	if (log_acks && acks_write(acks_path) < 0) {
		fprintf(stderr, "put-tool: writing %s failed\n", acks_path);
		return 1;
	}
	free(acks);
	return 0;
}
