/* daemon_observe.c - THE PLACE FOR METRICS: the daemon calls one function per event
 * here and nowhere else. The bodies are empty until the metrics module
 * (scheduler/metrics*.c) is merged: then each calls its rv_metrics update, and
 * observe_listen/observe_serve hand the loop rv_metrics_http_listen's socket and
 * rv_metrics_http_serve. Called from the loop thread, except observe_member_* (the
 * supervisor thread) and observe_job_started (a worker). */
#include <unistd.h>

#include "scheduler/daemon_impl.h"

void observe_daemon_started(const struct rv_config *cfg)
{
	(void)cfg; /* create every series at 0 here */
}

void observe_job_started(enum job_kind k, int64_t start_ms)
{
	(void)k;
	(void)start_ms;
}

void observe_job_finished(const struct job_run *r)
{
	(void)r; /* r->report holds the module's results as JSON */
}

void observe_job_next(enum job_kind k, int64_t next_wall_ms)
{
	(void)k;
	(void)next_wall_ms;
}

void observe_member_status(const char *member, const char *state, bool healthy)
{
	(void)member;
	(void)state;
	(void)healthy;
}

void observe_member_restarted(const char *member)
{
	(void)member;
}

int observe_listen(const struct daemon_settings *ds)
{
	(void)ds; /* rv_metrics_http_listen(ds->metrics_listen, ...) when set */
	return -1;
}

void observe_serve(int fd, bool healthy)
{
	(void)fd; /* rv_metrics_http_serve(fd, m, healthy) */
	(void)healthy;
}

void observe_close(int fd)
{
	if (fd >= 0)
		close(fd);
}
