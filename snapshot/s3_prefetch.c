/* s3_prefetch.c - n ranges of one object in flight, each fetched by its own
 * thread on its own connection into its own buffer; slots are served and
 * refilled in turn, so bytes come out in order. Memory: n buffers of chunk. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/s3_prefetch.h"

struct slot {
	struct s3_prefetch *p;
	struct s3_client cl;
	uint64_t off;
	uint8_t *buf;
	size_t len;
	int result;
	char etag[256];
	char *err; /* the failed fetch's sentence, for the reader's thread */
	pthread_t th;
	bool running, joinable;
};

struct s3_prefetch {
	s3_range_fn fn;
	void *ctx;
	char *name;
	char etag[256]; /* the object's; every range must come from it */
	uint64_t chunk, next_off;
	bool eof;       /* a range came back short: nothing after it to fetch */
	int n, head;    /* head: the slot holding the lowest offset */
	struct slot *slots;
};

static int slot_sink(const void *data, size_t n, void *ud)
{
	struct slot *sl = ud;
	if (sl->len + n > sl->p->chunk)
		return -EOVERFLOW;
	memcpy(sl->buf + sl->len, data, n);
	sl->len += n;
	return 0;
}

static void *slot_thread(void *arg)
{
	struct slot *sl = arg;
	struct s3_prefetch *p = sl->p;
	sl->result = p->fn(p->ctx, &sl->cl, p->name, sl->off, p->chunk, slot_sink, sl, p->etag[0] ? p->etag : NULL,
			   sl->etag);
	if (sl->result < 0)
		sl->err = rv_strdup(rv_errmsg(sl->result));
	return NULL;
}

static void slot_start(struct s3_prefetch *p, struct slot *sl)
{
	sl->off = p->next_off;
	p->next_off += p->chunk;
	sl->len = 0;
	sl->etag[0] = 0;
	sl->result = 0;
	sl->running = true;
	sl->joinable = pthread_create(&sl->th, NULL, slot_thread, sl) == 0;
	if (!sl->joinable)
		slot_thread(sl); /* no thread to be had: fetch here */
}

static void slot_wait(struct slot *sl)
{
	if (sl->running && sl->joinable)
		pthread_join(sl->th, NULL);
	sl->running = sl->joinable = false;
}

struct s3_prefetch *s3_prefetch_new(const struct s3_cfg *cfg, int n, s3_range_fn fn, void *ctx, const char *name,
				    const char *etag, uint64_t off, uint64_t chunk)
{
	struct s3_prefetch *p = rv_xcalloc(1, sizeof(*p));
	p->fn = fn;
	p->ctx = ctx;
	p->name = rv_strdup(name);
	snprintf(p->etag, sizeof(p->etag), "%s", etag ? etag : "");
	p->chunk = chunk;
	p->next_off = off;
	p->n = n;
	p->slots = rv_xcalloc((size_t)n, sizeof(*p->slots));
	for (int i = 0; i < n; i++) {
		struct slot *sl = &p->slots[i];
		sl->p = p;
		s3_client_init(&sl->cl, cfg);
		sl->buf = rv_xmalloc(chunk);
	}
	/* the first range alone: its answer names the ETag the others must match */
	slot_start(p, &p->slots[0]);
	if (!p->etag[0]) {
		slot_wait(&p->slots[0]);
		p->slots[0].running = true; /* done, not yet served */
		if (p->slots[0].result == 0)
			snprintf(p->etag, sizeof(p->etag), "%s", p->slots[0].etag);
		p->eof = p->slots[0].result < 0 || p->slots[0].len < chunk;
	}
	for (int i = 1; i < n && !p->eof; i++)
		slot_start(p, &p->slots[i]);
	return p;
}

int s3_prefetch_read(struct s3_prefetch *p, const char *name, uint64_t off, uint64_t len, store_read_cb cb,
		     void *ud, bool *served)
{
	struct slot *sl = &p->slots[p->head];
	int r;

	*served = false;
	if (strcmp(name, p->name) != 0 || len != p->chunk || !sl->running || off != sl->off)
		return 0;
	*served = true;
	slot_wait(sl);
	r = sl->result;
	if (r < 0) {
		r = rv_fail(r, "%s", sl->err ? sl->err : "reading ahead failed");
		free(sl->err);
		sl->err = NULL;
		return r;
	}
	if (p->etag[0] && sl->etag[0] && strcmp(p->etag, sl->etag) != 0)
		return rv_fail(-EAGAIN, "%s was replaced while it was being read; try again", p->name);
	if (sl->len < p->chunk)
		p->eof = true;
	r = sl->len ? cb(sl->buf, sl->len, ud) : 0;
	if (!p->eof)
		slot_start(p, sl); /* refill: it now holds the highest offset */
	p->head = (p->head + 1) % p->n;
	return r;
}

const char *s3_prefetch_etag(const struct s3_prefetch *p)
{
	return p->etag;
}

void s3_prefetch_free(struct s3_prefetch *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++) {
		struct slot *sl = &p->slots[i];
		slot_wait(sl);
		free(sl->err);
		free(sl->buf);
		s3_client_cleanup(&sl->cl);
	}
	free(p->slots);
	free(p->name);
	free(p);
}
