/* metrics_tool.c - the metrics endpoint in a poll() loop, as the daemon will run it,
 * for tests/it/56-metrics.sh; not installed.
 *
 *   metrics-tool LISTEN [--unhealthy] [--max N]
 *
 * Listens (port 0: a free one), prints "listening PORT" on stdout, then serves
 * until killed or N connections were handled, printing "served MS" (how long each
 * rv_metrics_http_serve call took) on stdout. Its metrics hold one job, one member
 * and one dir with characters that need escaping. Exit 2 when it cannot listen. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

int main(int argc, char **argv)
{
	bool healthy = true;
	long max = -1;
	int fd, r;
	if (argc < 2) {
		fprintf(stderr, "usage: metrics-tool LISTEN [--unhealthy] [--max N]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--unhealthy") == 0)
			healthy = false;
		else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc)
			max = atol(argv[++i]);
	}
	if ((r = rv_metrics_http_listen(argv[1], &fd)) < 0) {
		fprintf(stderr, "metrics-tool: %s\n", rv_errmsg(r));
		return 2;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	printf("listening %d\n", port);
	fflush(stdout);

	struct rv_metrics *m = rv_metrics_new();
	rv_metrics_job_declare(m, "snapshot");
	rv_metrics_job_finished(m, "snapshot", RV_JOB_SUCCESS, 1700000000, 1700000001.5);
	rv_metrics_job_next_run(m, "snapshot", 1700003600);
	rv_metrics_member_declare(m, "etcd1");
	rv_metrics_diskcheck_declare(m, "/var/lib/\"etcd\"\\data\n2");
	for (long served = 0; max < 0 || served < max;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, -1) <= 0)
			continue;
		double t0 = rv_now_mono();
		if ((r = rv_metrics_http_serve(fd, m, healthy)) < 0)
			fprintf(stderr, "metrics-tool: %s\n", rv_errmsg(r));
		printf("served %.0f\n", (rv_now_mono() - t0) * 1000);
		fflush(stdout);
		served++;
	}
	rv_metrics_free(m);
	close(fd);
	return 0;
}
