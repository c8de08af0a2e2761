/* s3_store.h - private to the snapshot module: the S3 store's state, shared by
 * store_s3.c (configuration, listing, deletion, cleanup), s3_upload.c (writers)
 * and s3_download.c (stat and reads). */
#ifndef REGVAULT_S3_STORE_H
#define REGVAULT_S3_STORE_H

#include "snapshot/s3_client.h"
#include "snapshot/s3_prefetch.h"
#include "snapshot/store_impl.h"

#define MiB (1024ull * 1024)

struct s3_store {
	struct store base;
	struct s3_cfg cfg;
	struct s3_client cl;
	int parts_in_flight; /* parts of an upload, ranges of a download */
	/* Large reads that follow each other (a restore reading its artifact) are
	 * fetched ahead, parts_in_flight ranges at once. */
	struct s3_prefetch *pf;
	char *seq_name;   /* the last large read: name, where it ended, its ETag */
	uint64_t seq_end;
	char seq_etag[256];
	char *url; /* s3://bucket/prefix, for messages */
	/* Read-ahead for small sequential ranged reads: one request per RA_SIZE
	 * instead of one per call. Reads above RA_MAX_READ bypass it. */
	struct {
		char *name;
		char etag[256];
		uint64_t off; /* object offset of buf[0] */
		size_t len;
		bool eof;     /* buf ends where the object ends */
		uint8_t *buf;
		size_t cap;
	} ra;
};

/* ---- store_s3.c ---- */
int s3_store_check_name(struct s3_store *s, const char *name);
char *s3_store_key(struct s3_store *s, const char *name); /* prefix + name, malloc'd */

/* ---- s3_upload.c ---- */
int put_begin_s3(struct store *st, const char *name, uint64_t expected_size, struct store_writer **out);
int put_write_s3(struct store_writer *ww, const void *p, size_t n);
int put_commit_s3(struct store_writer *ww);
void put_abort_s3(struct store_writer *ww);
/* AbortMultipartUpload; a failure is only a warning (cleanup retries later). */
void s3_store_abort_upload(struct s3_store *s, struct s3_client *cl, const char *key, const char *upload_id,
			   const char *name);

/* ---- s3_download.c ---- */
int get_s3(struct store *st, const char *name, uint64_t offset, uint64_t len, store_read_cb cb, void *ud);
int stat_s3(struct store *st, const char *name, struct store_object *out);
int get_many_s3(struct store *st, struct store_fetch *items, size_t n);
/* HEAD of name; uncancellable: the check that completes a commit (see s3_req).
 * sse (NULL: not wanted) gets the object's x-amz-server-side-encryption, "" none. */
int s3_store_stat_key(struct s3_store *s, const char *name, struct store_object *out, bool uncancellable,
		      char sse[32]);
/* name is written or deleted: nothing read of it before may be served again. */
void s3_store_forget_reads(struct s3_store *s, const char *name);
/* Free what reads keep between calls (read-ahead, prefetch), at close. */
void s3_store_reads_free(struct s3_store *s);

#endif
