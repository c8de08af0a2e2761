/* snapshot.h - the snapshot module: the save pipeline (etcd stream -> sha256 check
 * -> tar framing -> zstd -> store), the artifact format, stores and retention.
 *
 * Stores: a store holds artifacts by name in one flat namespace. A write becomes
 * visible under its name only at store_put_commit(); an aborted or killed write
 * leaves nothing that store_list() shows, and store_cleanup() removes its leftovers.
 * store_local.c and store_s3.c implement it (store_impl.h); a store is chosen by URL:
 * a path or file:///path is local, s3://bucket/prefix is S3.
 */
#ifndef REGVAULT_SNAPSHOT_H
#define REGVAULT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

/* ---- store configuration (config keys store.*) ---- */
struct s3_opts {
	char *endpoint;          /* https://s3.eu-central-1.amazonaws.com; NULL = AWS by region */
	char *region;            /* default us-east-1 */
	char *access_key_id;     /* or from access_key_id_file / AWS_ACCESS_KEY_ID */
	char *secret_access_key; /* from secret_access_key_file / AWS_SECRET_ACCESS_KEY */
	char *session_token;     /* AWS_SESSION_TOKEN */
	int path_style;          /* -1 unset: true when an endpoint is given */
	char *ca_file;
	int timeout_s;           /* 300 */
};

struct store_spec {
	char *url; /* a path, file:///path, or s3://bucket/prefix */
	struct s3_opts s3;
};

struct store;

struct store_object {
	char *name;     /* relative to the store's root/prefix */
	uint64_t size;
	int64_t mtime;  /* unix seconds */
};

/* Fill s3 fields left NULL from AWS_* environment variables (config wins). */
void store_spec_apply_env(struct store_spec *spec);
int store_open(const struct store_spec *spec, struct store **out);
void store_close(struct store *s);
/* "/var/lib/regvault/backups" or "s3://bucket/prefix", for messages. */
const char *store_describe(const struct store *s);

struct store_writer;
/* expected_size is a hint (S3 part size); 0 = unknown. */
int store_put_begin(struct store *s, const char *name, uint64_t expected_size, struct store_writer **w);
int store_put_write(struct store_writer *w, const void *p, size_t n);
/* Publish atomically (local: fsync, rename, fsync dir; S3: complete the upload).
 * Frees w whatever the result. */
int store_put_commit(struct store_writer *w);
/* Discard everything written; frees w. */
void store_put_abort(struct store_writer *w);

/* Read [offset, offset+len) (len 0: to the end) through cb; cb returns 0 to go on. */
typedef int (*store_read_cb)(const void *p, size_t n, void *ud);
int store_get(struct store *s, const char *name, uint64_t offset, uint64_t len, store_read_cb cb, void *ud);
int store_stat(struct store *s, const char *name, struct store_object *out);
/* Every object in the store (any name), unsorted. */
int store_list(struct store *s, struct store_object **objs, size_t *n);
void store_objects_free(struct store_object *objs, size_t n);
int store_delete(struct store *s, const char *name);
/* Remove what killed writes left behind (temporary files, unfinished uploads). */
int store_cleanup(struct store *s);

/* ---- snapshot settings (config keys snapshot.*) ---- */
enum snap_source_kind { SNAP_SOURCE_FOLLOWER = 0, SNAP_SOURCE_LEADER, SNAP_SOURCE_MEMBER };
struct retention_policy {
	int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly; /* 0 = not used */
};
struct snapshot_settings {
	enum snap_source_kind source;
	char *source_member;   /* with SNAP_SOURCE_MEMBER */
	int compression_level; /* 3 */
	struct retention_policy retention;
};

#endif
