/* progress.c - the modules' progress callbacks drawn on stderr, through the
 * drawing in common/progress.c (a terminal only, never with --no-progress).
 * Modules report bytes; only the edge draws. */
#include <string.h>

#include "cli/cli.h"

void cli_progress_cb(void *ud, const char *what, uint64_t done, uint64_t total)
{
	struct cli_progress *cp = ud;
	/* Each phase ("fetch", then "verify") gets its own line under its own name. */
	const char *label = what ? what : cp->label;
	/* (0, 0): the operation starts over (another member); a new total or phase too */
	if (!cp->started || total != cp->p.total || (done == 0 && total == 0) || strcmp(cp->p.label, label) != 0) {
		if (cp->started)
			rv_progress_end(&cp->p);
		cp->started = total != 0;
		if (!cp->started)
			return;
		rv_progress_start(&cp->p, label, total);
	}
	rv_progress_update(&cp->p, done);
	/* all there: the line goes now, before whatever the operation says next */
	if (done >= total) {
		rv_progress_end(&cp->p);
		cp->started = false;
	}
}

void cli_progress_end(struct cli_progress *cp)
{
	if (cp->started)
		rv_progress_end(&cp->p);
	cp->started = false;
}
