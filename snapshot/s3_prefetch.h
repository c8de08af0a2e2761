/* s3_prefetch.h - private to the snapshot module: ranges of one object fetched
 * ahead in parallel, each on its own connection, and served in order. A remote
 * S3 gives one connection far less than its bandwidth, so a restore that reads
 * its artifact range by range would otherwise wait on latency every 4 MiB. */
#ifndef REGVAULT_S3_PREFETCH_H
#define REGVAULT_S3_PREFETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "snapshot/s3_client.h"

/* One GET of [off, off+len) into cb on connection cl, with If-Match when
 * if_match is set; the answer's ETag goes to etag. Returns 0 or -errno with
 * the sentence recorded (416, nothing in range, is 0 with nothing delivered). */
typedef int (*s3_range_fn)(void *ctx, struct s3_client *cl, const char *name, uint64_t off, uint64_t len,
			   store_read_cb cb, void *ud, const char *if_match, char etag[256]);

struct s3_prefetch;

/* Start fetching n ranges of chunk bytes from off on. etag: the object's ETag
 * when known ("" otherwise; then the first answer's is required of the rest). */
struct s3_prefetch *s3_prefetch_new(const struct s3_cfg *cfg, int n, s3_range_fn fn, void *ctx, const char *name,
				    const char *etag, uint64_t off, uint64_t chunk);
/* If [off, off+len) of name is the next range fetched, wait for it, give it to
 * cb and set *served; returns 0, cb's nonzero verdict, or -errno when the
 * fetch failed. Otherwise *served is false and nothing happens: the caller
 * drops the prefetch and reads directly. */
int s3_prefetch_read(struct s3_prefetch *p, const char *name, uint64_t off, uint64_t len, store_read_cb cb,
		     void *ud, bool *served);
/* The object's ETag as given or as the first answer said ("" if none yet). */
const char *s3_prefetch_etag(const struct s3_prefetch *p);
void s3_prefetch_free(struct s3_prefetch *p);

#endif
