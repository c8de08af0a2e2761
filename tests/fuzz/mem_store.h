/* mem_store.h - for the fuzz targets: a store (snapshot/store_impl.h) holding one
 * object in memory, the fuzzer's input, under any name. It hands out ranges the
 * way the local store does (len 0: to the end), in small pieces so that the
 * readers' own buffering is exercised, and costs no file system call per input. */
#ifndef REGVAULT_FUZZ_MEM_STORE_H
#define REGVAULT_FUZZ_MEM_STORE_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/store_impl.h"

#define MEM_STORE_PIECE 7919 /* a prime: pieces never line up with zstd or tar blocks */

struct mem_store {
	struct store base;
	const uint8_t *data;
	size_t len;
};

static int mem_store_get(struct store *s, const char *name, uint64_t offset, uint64_t len, store_read_cb cb,
			 void *ud)
{
	struct mem_store *m = (struct mem_store *)s;
	(void)name;
	if (offset >= m->len)
		return 0;
	size_t left = m->len - (size_t)offset;
	if (len && len < left)
		left = (size_t)len;
	const uint8_t *p = m->data + offset;
	while (left) {
		size_t n = left < MEM_STORE_PIECE ? left : MEM_STORE_PIECE;
		int r = cb(p, n, ud);
		if (r != 0)
			return r;
		p += n;
		left -= n;
	}
	return 0;
}

static int mem_store_stat(struct store *s, const char *name, struct store_object *out)
{
	struct mem_store *m = (struct mem_store *)s;
	out->name = rv_strdup(name);
	out->size = m->len;
	out->mtime = 0;
	return 0;
}

static const struct store_ops mem_store_ops = {
	.kind = "memory",
	.get = mem_store_get,
	.stat = mem_store_stat,
};

static inline void mem_store_init(struct mem_store *m, const uint8_t *data, size_t len)
{
	memset(m, 0, sizeof *m);
	m->base.ops = &mem_store_ops;
	m->base.describe = (char *)"memory://fuzz";
	m->data = data;
	m->len = len;
}

#endif
