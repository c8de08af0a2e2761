/* test_stage_thread.c - the writer-thread stage passes every byte on in order,
 * whatever the sizes of the writes, and carries the first error of the stages
 * behind it (with its sentence) back to the writer; an abort joins the thread. */
#include <errno.h>
#include <stdlib.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"
#include "tests/unit/unit.h"

struct collect {
	struct snap_stage base;
	uint8_t *got;
	size_t n, cap;
	size_t fail_after; /* 0: never */
	bool finished, freed;
};

static int col_write(struct snap_stage *st, const void *p, size_t n)
{
	struct collect *c = (struct collect *)st;
	if (c->fail_after && c->n + n > c->fail_after)
		return rv_fail(-ENOSPC, "the test store is full after %zu bytes", c->n);
	if (c->n + n > c->cap) {
		c->cap = (c->n + n) * 2;
		c->got = rv_xrealloc(c->got, c->cap);
	}
	memcpy(c->got + c->n, p, n);
	c->n += n;
	return 0;
}

static int col_finish(struct snap_stage *st)
{
	((struct collect *)st)->finished = true;
	return 0;
}

static void col_free(struct snap_stage *st)
{
	((struct collect *)st)->freed = true;
}

static void col_init(struct collect *c, size_t fail_after)
{
	memset(c, 0, sizeof *c);
	c->base.write = col_write;
	c->base.finish = col_finish;
	c->base.abort = col_free;
	c->base.free = col_free;
	c->fail_after = fail_after;
}

TEST(stage_thread_passes_every_byte_in_order)
{
	struct collect c;
	col_init(&c, 0);
	size_t total = 5 * 1024 * 1024 + 77;
	uint8_t *src = rv_xmalloc(total);
	for (size_t i = 0; i < total; i++)
		src[i] = (uint8_t)(i * 131 + (i >> 13));
	struct snap_stage *t = snap_stage_thread_new(&c.base);
	CHECK(t != NULL);
	size_t off = 0, step = 1;
	while (off < total) { /* writes of 1 byte to about 1 MiB */
		size_t n = step < total - off ? step : total - off;
		CHECK_INT(snap_stage_write(t, src + off, n), 0);
		off += n;
		step = step * 3 % (1 << 20) + 1;
	}
	CHECK_INT(snap_stage_finish(t), 0);
	CHECK(c.finished);
	CHECK_INT(c.n, total);
	CHECK(memcmp(c.got, src, total) == 0);
	free(src);
	free(c.got);
}

TEST(stage_thread_returns_the_first_error_with_its_sentence)
{
	struct collect c;
	col_init(&c, 1024 * 1024);
	static uint8_t chunk[32768];
	struct snap_stage *t = snap_stage_thread_new(&c.base);
	CHECK(t != NULL);
	int r = 0;
	for (int i = 0; i < 1000 && r == 0; i++)
		r = snap_stage_write(t, chunk, sizeof chunk);
	if (r == 0)
		r = snap_stage_finish(t); /* the error may land only once the last block is written */
	else
		snap_stage_abort(t);
	CHECK_INT(r, -ENOSPC);
	CHECK_CONTAINS(rv_errmsg(r), "the test store is full after");
	CHECK(!c.finished);
	rv_err_clear();
	free(c.got);
}

TEST(stage_thread_abort_joins_and_frees)
{
	struct collect c;
	col_init(&c, 0);
	static uint8_t chunk[100000];
	struct snap_stage *t = snap_stage_thread_new(&c.base);
	CHECK(t != NULL);
	for (int i = 0; i < 40; i++)
		CHECK_INT(snap_stage_write(t, chunk, sizeof chunk), 0);
	snap_stage_abort(t); /* aborts c too */
	CHECK(c.freed);
	CHECK(!c.finished);
	free(c.got);
}
