/* heartbeat_pool.c - a few worker threads for the heartbeats: threads start when
 * work comes and none is idle, up to a maximum, and live until the pool ends (the
 * heartbeats want them again each interval). Small stacks: a process keeping a
 * thousand heartbeats should stay a few megabytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry/heartbeat_impl.h"

#define HB_THREAD_STACK (512 * 1024) /* curl, a fork and exec, gRPC calls: well within */

static void *worker(void *arg)
{
	struct hb_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->head)
			break; /* stop, and nothing left */
		struct hb_job *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->n_queued--;
		p->n_idle--;
		p->n_running++;
		pthread_mutex_unlock(&p->mu);
		j->fn(j->arg);
		free(j);
		pthread_mutex_lock(&p->mu);
		p->n_running--;
		p->n_idle++;
		if (!p->head && p->n_running == 0)
			pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

void hb_pool_init(struct hb_pool *p, size_t max_threads, const char *what)
{
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->max_threads = max_threads ? max_threads : 1;
	p->threads = rv_xcalloc(p->max_threads, sizeof *p->threads);
	p->what = what;
}

void hb_pool_submit(struct hb_pool *p, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&p->mu);
	/* a thread for it when every idle one already has a job waiting */
	if (p->n_queued >= p->n_idle && p->n_threads < p->max_threads) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, HB_THREAD_STACK);
		int rc = pthread_create(&p->threads[p->n_threads], &attr, worker, p);
		pthread_attr_destroy(&attr);
		if (rc == 0) {
			p->n_threads++;
			p->n_idle++;
		} else if (p->n_threads == 0) {
			/* no thread at all: run it here rather than never */
			pthread_mutex_unlock(&p->mu);
			rv_warn("cannot start a %s worker thread: %s; running its job on the caller's", p->what,
				strerror(rc));
			fn(arg);
			return;
		}
	}
	struct hb_job *j = rv_xcalloc(1, sizeof *j);
	j->fn = fn;
	j->arg = arg;
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->n_queued++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void hb_pool_drain(struct hb_pool *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->head || p->n_running > 0)
		pthread_cond_wait(&p->idle, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void hb_pool_destroy(struct hb_pool *p)
{
	hb_pool_drain(p);
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	memset(p, 0, sizeof *p);
}
