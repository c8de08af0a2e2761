/* progress.c - bytes, rate and ETA on stderr, redrawn at most 5 times a second, and
 * only when stderr is a terminal (as git shows progress). */
#include <stdio.h>
#include <unistd.h>

#include "common/common.h"

bool rv_progress_disabled;

void rv_progress_start(struct rv_progress *p, const char *label, uint64_t total)
{
	p->label = label;
	p->total = total;
	p->done = 0;
	p->started = rv_now_mono();
	p->last_draw = 0;
	p->enabled = !rv_progress_disabled && isatty(STDERR_FILENO);
}

static void draw(struct rv_progress *p, bool final)
{
	char done[16], total[16], rate[16], eta[16];
	double el = rv_now_mono() - p->started;
	double bps = el > 0 ? (double)p->done / el : 0;
	rv_fmt_bytes(p->done, done, sizeof done);
	rv_fmt_bytes((uint64_t)bps, rate, sizeof rate);
	if (p->total && !final) {
		double left = bps > 0 ? (double)(p->total - (p->done < p->total ? p->done : p->total)) / bps : 0;
		fprintf(stderr, "\r\033[K%s: %s / %s (%3.0f%%), %s/s, ETA %s", p->label, done,
			rv_fmt_bytes(p->total, total, sizeof total), 100.0 * (double)p->done / (double)p->total,
			rate, rv_fmt_duration(left, eta, sizeof eta));
	} else {
		fprintf(stderr, "\r\033[K%s: %s, %s/s%s", p->label, done, rate, final ? "\n" : "");
	}
	fflush(stderr);
}

void rv_progress_update(struct rv_progress *p, uint64_t done)
{
	double now;
	p->done = done;
	if (!p->enabled)
		return;
	now = rv_now_mono();
	if (now - p->last_draw < 0.2)
		return;
	p->last_draw = now;
	draw(p, false);
}

void rv_progress_end(struct rv_progress *p)
{
	if (!p->enabled)
		return;
	/* Clear the line: the command prints its own summary. */
	fputs("\r\033[K", stderr);
	fflush(stderr);
}
