/* pipeline.c - a chain of stages: write forwards down the chain (each stage passes
 * bytes to st->next itself), finish runs in order so a check (sha256) happens
 * before the artifact is published, abort discards everything. */
#include "snapshot/snap_impl.h"

int snap_stage_write(struct snap_stage *first, const void *p, size_t n)
{
	return first->write(first, p, n);
}

void snap_stage_abort(struct snap_stage *first)
{
	while (first) {
		struct snap_stage *next = first->next;
		first->abort(first);
		first = next;
	}
}

int snap_stage_finish(struct snap_stage *first)
{
	while (first) {
		struct snap_stage *next = first->next;
		int r = first->finish(first);
		if (r < 0) {
			first->abort(first);
			snap_stage_abort(next);
			return r;
		}
		first->free(first);
		first = next;
	}
	return 0;
}
