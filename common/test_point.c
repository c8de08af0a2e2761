/* test_point.c - named points where the tests kill or signal the process (or stop
 * another, a member that hangs), to prove what each phase leaves behind. Only test builds (-DRV_TEST_HOOKS, which the ASan,
 * TSan and hooks builds set) have them: the packaged build never reads these
 * variables. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/common.h"

void rv_test_point(const char *point)
{
#ifdef RV_TEST_HOOKS
	const char *at = getenv("RV_TEST_CRASH_AT");
	if (at && strcmp(at, point) == 0)
		raise(SIGKILL);
	at = getenv("RV_TEST_SIGNAL_AT");
	if (at && strcmp(at, point) == 0) {
		kill(getpid(), SIGTERM); /* the process: a daemon reads it from its signalfd */
		/* A daemon acts on it from its loop, not at once: this lets it, before the
		 * phase goes on. */
		const char *pause = getenv("RV_TEST_SIGNAL_PAUSE_MS");
		if (pause)
			rv_sleep_ms(atol(pause));
	}
	/* "POINT:MS": sleep MS there, every time (a phase made slow on purpose, so a
	 * test does not depend on how fast the machine is) */
	at = getenv("RV_TEST_PAUSE_AT");
	const char *colon = at ? strrchr(at, ':') : NULL;
	if (colon && strlen(point) == (size_t)(colon - at) && strncmp(at, point, strlen(point)) == 0)
		rv_sleep_ms(atol(colon + 1));
	/* "POINT:PID": SIGSTOP process PID there, once */
	static bool stopped;
	at = getenv("RV_TEST_SIGSTOP_AT");
	colon = at ? strrchr(at, ':') : NULL;
	if (!stopped && colon && strlen(point) == (size_t)(colon - at) && strncmp(at, point, strlen(point)) == 0) {
		stopped = true;
		kill((pid_t)atoi(colon + 1), SIGSTOP);
	}
#else
	(void)point;
#endif
}

bool rv_test_fail_once(const char *point)
{
#ifdef RV_TEST_HOOKS
	static bool failed;
	const char *at = getenv("RV_TEST_FAIL_AT");
	if (failed || !at || strcmp(at, point) != 0)
		return false;
	failed = true;
	return true;
#else
	(void)point;
	return false;
#endif
}
