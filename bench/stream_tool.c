/* stream_tool.c - the floor under any snapshot save: read one member's Snapshot
 * stream through regvault's client and discard it (no checksum, compression or
 * store). bench/s3.sh and bench/snapshot.sh print it beside the real commands.
 *   stream-tool ENDPOINT   (http://host:port, no TLS, no auth)
 * Prints "BYTES SECONDS". Not installed. */
#include <stdio.h>

#include "common/common.h"
#include "etcd/etcd.h"

static int discard(const uint8_t *data, size_t len, uint64_t total, void *ud)
{
	(void)data;
	(void)total;
	*(uint64_t *)ud += len;
	return 0;
}

int main(int argc, char **argv)
{
	struct etcd_client_opts o = {0};
	etcd_client *c;
	uint64_t got = 0;
	double t0;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: stream-tool http://HOST:PORT\n");
		return 2;
	}
	o.endpoints = &argv[1];
	o.n_endpoints = 1;
	etcd_global_init();
	r = etcd_client_new(&o, &c);
	if (r == 0) {
		t0 = rv_now_mono();
		r = etcd_snapshot(c, 0, 0, NULL, discard, &got);
		if (r == 0)
			printf("%llu %.3f\n", (unsigned long long)got, rv_now_mono() - t0);
		etcd_client_free(c);
	}
	if (r < 0)
		fprintf(stderr, "stream-tool: %s\n", rv_errmsg(r));
	etcd_global_shutdown();
	return r < 0 ? 1 : 0;
}
