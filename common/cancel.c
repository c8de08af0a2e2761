/* cancel.c - one way to ask a long operation to stop. The edge (the CLI's signal
 * handler, the daemon's job runner) requests; the operation looks at its safe
 * points, stops there, cleans up what it made and returns -EINTR with a sentence
 * saying what is left. Library code never sees the signal itself. */
#include <errno.h>

#include "common/common.h"

/* How often a cancellable wait looks: "promptly" is within a second or so. */
#define CANCEL_POLL_MS 50

void rv_cancel_request(struct rv_cancel *c)
{
	if (c)
		atomic_store(&c->requested, 1); /* lock-free: safe in a signal handler */
}

bool rv_cancelled(const struct rv_cancel *c)
{
	return c && atomic_load(&c->requested) != 0;
}

int rv_sleep_cancellable(int64_t ms, const struct rv_cancel *c)
{
	double until = rv_now_mono() + (double)ms / 1000;
	for (;;) {
		if (rv_cancelled(c))
			return -EINTR;
		double left = until - rv_now_mono();
		if (left <= 0)
			return 0;
		rv_sleep_ms(left * 1000 < CANCEL_POLL_MS ? (int64_t)(left * 1000) + 1 : CANCEL_POLL_MS);
	}
}
