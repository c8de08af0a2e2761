/* guard.c - signals held while the cluster is between its old and its new data. */
#include <signal.h>

#include "restore/restore_impl.h"

/* From the stop on, Ctrl-C, SIGTERM or a closed terminal must not leave the cluster
 * half restored: the restore finishes or rolls back first, then says it was asked
 * to stop. (SIGKILL cannot be caught: the journal covers that.) */
static volatile sig_atomic_t interrupted;
static void note_signal(int sig)
{
	interrupted = sig;
}

static const int guarded[3] = {SIGINT, SIGTERM, SIGHUP};

void rs_guard_on(struct rs_guard *g)
{
	struct sigaction sa = {0};
	sa.sa_handler = note_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	for (int i = 0; i < 3; i++)
		sigaction(guarded[i], &sa, &g->old[i]);
}

void rs_guard_off(struct rs_guard *g)
{
	for (int i = 0; i < 3; i++)
		sigaction(guarded[i], &g->old[i], NULL);
	if (interrupted)
		rv_warn("signal %d arrived during the restore; it was held until the restore %s", (int)interrupted,
			"finished or rolled back");
}

