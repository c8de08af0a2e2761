/* stage_thread.c - the stages after this one run on a thread of their own, so the
 * caller (the snapshot stream's receive loop) goes back to the transport while the
 * bytes before are hashed, compressed and written. The bytes are copied into a few
 * blocks and handed over a block at a time; when every block is full the writer
 * waits, so memory stays bounded. The worker's first error stops it writing; the
 * writer returns that error (its sentence carried over) from its next write or from
 * finish. finish hands over the last block and joins the worker: the stages after
 * this one are finished on the caller's thread, as without it. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

#define BLOCKS 8
#define BLOCK_BYTES (256 * 1024)

struct thread_stage {
	struct snap_stage base;
	pthread_t th;
	bool started, joined;
	pthread_mutex_t mu;
	pthread_cond_t can_fill, can_drain;
	uint8_t *blk[BLOCKS];
	size_t len[BLOCKS];
	size_t head, count; /* the worker drains blk[head]; count blocks are handed over */
	size_t fill_idx;    /* the block being filled (this thread's alone): (head + count) % BLOCKS */
	size_t fill;        /* and the bytes in it */
	bool done;          /* no more blocks: the worker ends when count is 0 */
	bool discard;       /* aborted, or the worker failed: blocks are dropped unwritten */
	atomic_int err;     /* the worker's first error */
	char *errmsg;
	enum rv_advice advice;
};

static void *worker(void *arg)
{
	struct thread_stage *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->count == 0 && !s->done)
			pthread_cond_wait(&s->can_drain, &s->mu);
		if (s->count == 0)
			break;
		size_t i = s->head;
		bool write = !s->discard;
		pthread_mutex_unlock(&s->mu);
		int r = write ? s->base.next->write(s->base.next, s->blk[i], s->len[i]) : 0;
		pthread_mutex_lock(&s->mu);
		if (r < 0 && !atomic_load(&s->err)) {
			s->errmsg = rv_strdup(rv_errmsg(r));
			s->advice = rv_erradvice(r);
			atomic_store(&s->err, r);
			s->discard = true;
		}
		s->head = (s->head + 1) % BLOCKS;
		s->count--;
		pthread_cond_signal(&s->can_fill);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* The worker's error, recorded again on this thread. */
static int worker_error(struct thread_stage *s)
{
	int r = atomic_load(&s->err);
	return rv_fail_advice(r, s->advice, "%s", s->errmsg ? s->errmsg : "the snapshot's writer failed");
}

/* Hand over the block being filled; wait for a free one. */
static void hand_over(struct thread_stage *s)
{
	pthread_mutex_lock(&s->mu);
	s->len[s->fill_idx] = s->fill;
	s->count++;
	pthread_cond_signal(&s->can_drain);
	while (s->count == BLOCKS)
		pthread_cond_wait(&s->can_fill, &s->mu);
	pthread_mutex_unlock(&s->mu);
	s->fill_idx = (s->fill_idx + 1) % BLOCKS;
	s->fill = 0;
}

static int thr_write(struct snap_stage *st, const void *p, size_t n)
{
	struct thread_stage *s = (struct thread_stage *)st;
	const uint8_t *b = p;
	while (n > 0) {
		if (atomic_load(&s->err))
			return worker_error(s);
		uint8_t *dst = s->blk[s->fill_idx];
		size_t k = BLOCK_BYTES - s->fill < n ? BLOCK_BYTES - s->fill : n;
		memcpy(dst + s->fill, b, k);
		s->fill += k;
		b += k;
		n -= k;
		if (s->fill == BLOCK_BYTES)
			hand_over(s);
	}
	return 0;
}

static void join(struct thread_stage *s, bool discard)
{
	if (!s->started || s->joined)
		return;
	pthread_mutex_lock(&s->mu);
	s->done = true;
	if (discard)
		s->discard = true;
	pthread_cond_signal(&s->can_drain);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	s->joined = true;
}

static int thr_finish(struct snap_stage *st)
{
	struct thread_stage *s = (struct thread_stage *)st;
	if (s->fill && !atomic_load(&s->err))
		hand_over(s);
	join(s, false);
	return atomic_load(&s->err) ? worker_error(s) : 0;
}

static void thr_free(struct snap_stage *st)
{
	struct thread_stage *s = (struct thread_stage *)st;
	join(s, true);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->can_fill);
	pthread_cond_destroy(&s->can_drain);
	for (size_t i = 0; i < BLOCKS; i++)
		free(s->blk[i]);
	free(s->errmsg);
	free(s);
}

struct snap_stage *snap_stage_thread_new(struct snap_stage *next)
{
	struct thread_stage *s = rv_xcalloc(1, sizeof *s);
	s->base.what = "writer thread";
	s->base.write = thr_write;
	s->base.finish = thr_finish;
	s->base.abort = thr_free;
	s->base.free = thr_free;
	s->base.next = next;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->can_fill, NULL);
	pthread_cond_init(&s->can_drain, NULL);
	for (size_t i = 0; i < BLOCKS; i++)
		s->blk[i] = rv_xmalloc(BLOCK_BYTES);
	atomic_init(&s->err, 0);
	s->started = pthread_create(&s->th, NULL, worker, s) == 0;
	if (!s->started) {
		thr_free(&s->base);
		return NULL;
	}
	return &s->base;
}
