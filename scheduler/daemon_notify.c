/* daemon_notify.c - systemd's notify protocol (Type=notify) through libsystemd.
 * Without $NOTIFY_SOCKET every call is a no-op, so the daemon runs the same outside
 * systemd. The members never see the variable (registry/member_process.c drops it):
 * an etcd that has it would send READY=1 in our name. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "scheduler/daemon_impl.h"

/* STATUS= is one line: a sentence with a line break would end it early. */
static void status_line(const char *status, char *buf, size_t len)
{
	snprintf(buf, len, "%s", status ? status : "");
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

void notify_ready(const char *status)
{
	char s[1024];
	status_line(status, s, sizeof s);
	sd_notifyf(0, "READY=1\nSTATUS=%s", s);
}

void notify_status(const char *status)
{
	char s[1024];
	status_line(status, s, sizeof s);
	sd_notifyf(0, "STATUS=%s", s);
}

void notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* systemd 253+ matches the reload to this timestamp; older ones ignore it. */
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
		   (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

int64_t notify_watchdog_interval_ms(void)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	int64_t ms = (int64_t)(usec / 2000u);
	return ms > 0 ? ms : 1;
}

void notify_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}
