/* cancel.c - one way to ask a long operation to stop. The edge (the CLI's signal
 * handler, the daemon's job runner) requests; the operation looks at its safe
 * points, stops there, cleans up what it made and returns -EINTR with a sentence
 * saying what is left. Library code never sees the signal itself. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"

/* A cancellable wait sleeps on the flag itself (a futex), so an idle daemon's
 * threads are not woken to look: the request wakes them. */
void rv_cancel_request(struct rv_cancel *c)
{
	if (!c)
		return;
	atomic_store(&c->requested, 1); /* lock-free, and the wake is a plain syscall: */
	syscall(SYS_futex, &c->requested, FUTEX_WAKE, INT_MAX, NULL, NULL, 0); /* safe in a signal handler */
}

bool rv_cancelled(const struct rv_cancel *c)
{
	return c && atomic_load(&c->requested) != 0;
}

int rv_sleep_cancellable(int64_t ms, const struct rv_cancel *c)
{
	double until = rv_now_mono() + (double)ms / 1000;
	if (!c) {
		rv_sleep_ms(ms);
		return 0;
	}
	for (;;) {
		if (rv_cancelled(c))
			return -EINTR;
		double left = until - rv_now_mono();
		if (left <= 0)
			return 0;
		struct timespec ts = {.tv_sec = (time_t)left, .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
		/* returns at once when the flag is no longer 0; EINTR, EAGAIN, ETIMEDOUT all
		 * just mean: look again */
		syscall(SYS_futex, &c->requested, FUTEX_WAIT, 0, &ts, NULL, 0);
	}
}
