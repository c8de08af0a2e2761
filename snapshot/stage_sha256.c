/* stage_sha256.c - checks etcd's trailer: the stream is the db bytes followed by 32
 * bytes of sha256 over them. The stage hashes everything but the last 32 bytes seen
 * (held back in a small window, since the end is only known at finish) and compares
 * at finish. Every byte, trailer included, goes on to the next stage. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

#define TRAILER 32

struct sha_stage {
	struct snap_stage base;
	EVP_MD_CTX *ctx;
	uint8_t tail[TRAILER];
	size_t tail_len;
	uint64_t total;
	char *hex_out;
	char where[128];
};

static int sha_write(struct snap_stage *st, const void *p, size_t n)
{
	struct sha_stage *s = (struct sha_stage *)st;
	const uint8_t *b = p;
	size_t n0 = n;

	s->total += n;
	if (n >= TRAILER) {
		/* The held-back tail and all but the last 32 new bytes are db bytes. */
		EVP_DigestUpdate(s->ctx, s->tail, s->tail_len);
		EVP_DigestUpdate(s->ctx, b, n - TRAILER);
		memcpy(s->tail, b + n - TRAILER, TRAILER);
		s->tail_len = TRAILER;
	} else {
		size_t over = s->tail_len + n > TRAILER ? s->tail_len + n - TRAILER : 0;
		EVP_DigestUpdate(s->ctx, s->tail, over);
		memmove(s->tail, s->tail + over, s->tail_len - over);
		s->tail_len -= over;
		memcpy(s->tail + s->tail_len, b, n);
		s->tail_len += n;
	}
	return st->next ? st->next->write(st->next, p, n0) : 0;
}

static int sha_finish(struct snap_stage *st)
{
	struct sha_stage *s = (struct sha_stage *)st;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char got[65], want[65];

	if (s->tail_len < TRAILER)
		return rv_fail(-EBADMSG, "%s ends after %llu bytes, too short for a db and its sha256 trailer",
			       s->where, (unsigned long long)s->total);
	EVP_DigestFinal_ex(s->ctx, md, &mdlen);
	rv_hex(md, 32, got);
	rv_hex(s->tail, 32, want);
	if (memcmp(md, s->tail, 32) != 0)
		return rv_fail(-EBADMSG, "%s is corrupt: the sha256 of its db bytes is %s but etcd's trailer says %s",
			       s->where, got, want);
	if (s->hex_out)
		memcpy(s->hex_out, got, 65);
	return 0;
}

static void sha_free(struct snap_stage *st)
{
	struct sha_stage *s = (struct sha_stage *)st;
	EVP_MD_CTX_free(s->ctx);
	free(s);
}

struct snap_stage *snap_stage_sha256_new(char *hex_out, const char *where, struct snap_stage *next)
{
	struct sha_stage *s = rv_xcalloc(1, sizeof *s);
	s->base.what = "sha256 check";
	s->base.write = sha_write;
	s->base.finish = sha_finish;
	s->base.abort = sha_free;
	s->base.free = sha_free;
	s->base.next = next;
	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx)
		abort();
	EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL);
	s->hex_out = hex_out;
	snprintf(s->where, sizeof s->where, "%s", where ? where : "the source");
	return &s->base;
}
