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

#include "common/common.h"
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
	int parts_in_flight;     /* parts uploading at once; 0 = S3_PARTS_IN_FLIGHT_DEFAULT */
	/* Server-side encryption asked for on every upload and required in the
	 * answer: NULL (none), "AES256" or "aws:kms" (then kms_key_id, or NULL for
	 * the bucket's default key). */
	char *sse;
	char *kms_key_id;
};

/* NULL when sse and kms_key_id go together, else what is wrong (one clause,
 * for config messages). */
const char *store_s3_sse_problem(const char *sse, const char *kms_key_id);

#define S3_PARTS_IN_FLIGHT_DEFAULT 2
#define S3_PARTS_IN_FLIGHT_MAX 8

/* store.encryption.*: artifacts in the age format (age-encryption.org/v1). */
struct store_encryption {
	char **recipients;     /* "age1..." X25519 public keys */
	size_t n_recipients;
	char *recipients_file; /* one a line, '#' comments, as age -R reads */
	char *identity_file;   /* AGE-SECRET-KEY-1... lines, as age -i reads; for reading */
	char *passphrase_file; /* instead of recipients: age's scrypt stanza */
};

struct store_spec {
	char *url; /* a path, file:///path, or s3://bucket/prefix */
	struct s3_opts s3;
	struct store_encryption enc;
};

struct store;

struct store_object {
	char *name;     /* relative to the store's root/prefix */
	uint64_t size;
	int64_t mtime;  /* unix seconds */
};

/* Fill s3 fields left NULL from AWS_* environment variables (config wins). */
void store_spec_apply_env(struct store_spec *spec);
/* A store handle is used by one thread at a time (the S3 store runs its own
 * transfer threads inside, each on its own connection); open one per thread.
 * -EINVAL only for a configuration problem (an unknown URL scheme, a bad bucket
 * or endpoint, missing credentials), which the CLI reports as exit 2; any other
 * error comes from the store itself. */
int store_open(const struct store_spec *spec, struct store **out);
void store_close(struct store *s);
/* "/var/lib/regvault/backups" or "s3://bucket/prefix", for messages. */
const char *store_describe(const struct store *s);
/* The cancel token the store's transfers look at from now on (NULL: none), on
 * every thread the store runs: a transfer or a retry's wait in progress ends
 * within about a second with -EINTR, and an upload cut so is aborted (S3: the
 * multipart upload removed), so nothing is published. What a cancel cannot leave
 * half done (S3's completion of an upload) is not cut. Set it between operations;
 * snap_save, restore and drill set it from their options and put back the one
 * there was. Returns the one there was. */
const struct rv_cancel *store_set_cancel(struct store *s, const struct rv_cancel *c);

struct store_writer;
/* expected_size is a hint (S3 part size); 0 = unknown. */
int store_put_begin(struct store *s, const char *name, uint64_t expected_size, struct store_writer **w);
int store_put_write(struct store_writer *w, const void *p, size_t n);
/* Publish atomically (local: fsync, rename, fsync dir; S3: complete the upload).
 * Frees w whatever the result. */
int store_put_commit(struct store_writer *w);
/* Discard everything written; frees w. */
void store_put_abort(struct store_writer *w);
/* When the name is taken at commit (another writer published it meanwhile), a
 * local store publishes under the name fn gives instead (fn: 0 with next filled in,
 * tried a few times); S3 cannot rename an upload and fails with -EEXIST before
 * publishing. An existing object is never replaced. Optional; before commit. */
typedef int (*store_next_name_fn)(const char *taken, char *next, size_t len, void *ud);
void store_put_set_next_name(struct store_writer *w, store_next_name_fn fn, void *ud);

/* Read [offset, offset+len) (len 0: to the end) through cb; cb returns 0 to go on. */
typedef int (*store_read_cb)(const void *p, size_t n, void *ud);
int store_get(struct store *s, const char *name, uint64_t offset, uint64_t len, store_read_cb cb, void *ud);
int store_stat(struct store *s, const char *name, struct store_object *out);
/* Several small objects read whole at once (S3: in parallel, each on its own
 * connection, where one after another would wait on latency each time). Each
 * item gets its bytes, or its result and error sentence; an object larger
 * than max is -EFBIG. Returns 0 when every item was tried. */
struct store_fetch {
	const char *name;
	size_t max;
	struct rv_buf data;
	int result;
	char *error; /* malloc'd sentence when result < 0 */
};
int store_get_many(struct store *s, struct store_fetch *items, size_t n);
void store_fetches_free(struct store_fetch *items, size_t n);
/* Every object in the store (any name), unsorted. */
int store_list(struct store *s, struct store_object **objs, size_t *n);
/* Only the names that start with prefix (NULL: any) and sort after start_after
 * (NULL: from the first; byte order): one chain's objects without the rest of the
 * store (S3 lists them server-side). */
int store_list_from(struct store *s, const char *prefix, const char *start_after, struct store_object **objs,
		    size_t *n);
void store_objects_free(struct store_object *objs, size_t n);
int store_delete(struct store *s, const char *name);
/* Remove what killed writes left behind (temporary files, unfinished uploads). */
int store_cleanup(struct store *s);

/* ---- age encryption (age.c) ----
 * The age format, version 1 (age-encryption.org/v1): X25519 recipients or one
 * scrypt passphrase stanza, the payload in 64 KiB ChaCha20-Poly1305 chunks. What
 * regvault writes, Debian's age tool opens, and the other way round. Secrets are
 * zeroed when freed and never appear in a message. */
struct age_keys;
/* Recipients (the list, the file) and the passphrase of e; the identity file is
 * read only by age_keys_load_identity(). -EINVAL with a sentence for a key that is
 * not one, or for a passphrase given together with recipients. *out is NULL when
 * e configures nothing. */
int age_keys_from_config(const struct store_encryption *e, struct age_keys **out);
/* Add the identities of an identity file (refused when group or others may read
 * it). */
int age_keys_load_identity(struct age_keys *k, const char *path);
bool age_keys_can_encrypt(const struct age_keys *k);
bool age_keys_can_decrypt(const struct age_keys *k);
void age_keys_free(struct age_keys *k);
/* The keys this store's encrypted objects are read with (seg_read,
 * seg_chain_check): the identity file is read the first time. *out is NULL when
 * store.encryption configures no identity or passphrase; < 0 with a sentence when
 * the identity file cannot be used. Owned by the store. */
int store_read_keys(struct store *s, const struct age_keys **out);
/* A new identity "AGE-SECRET-KEY-1..." (ilen >= 80) and its recipient "age1..."
 * (rlen >= 64). */
int age_keygen(char *identity, size_t ilen, char *recipient, size_t rlen);
/* The recipient of an identity string; -EINVAL when it is not one. */
int age_identity_recipient(const char *identity, char *recipient, size_t rlen);

typedef int (*age_sink_fn)(const void *p, size_t n, void *ud);
struct age_enc;
/* Writes the header to sink at once; then age_enc_write() the plaintext and
 * age_enc_finish() (the last chunk). */
int age_enc_new(const struct age_keys *k, age_sink_fn sink, void *ud, struct age_enc **out);
int age_enc_write(struct age_enc *e, const void *p, size_t n);
int age_enc_finish(struct age_enc *e);
void age_enc_free(struct age_enc *e);
/* Decrypt as bytes arrive: plaintext goes to sink only once its chunk is
 * authenticated. where names the input in messages ("artifact X in store S").
 * -EACCES when no identity (or passphrase) opens the header, -EBADMSG when it is
 * damaged or truncated, each with one sentence. */
struct age_dec;
int age_dec_new(const struct age_keys *k, const char *where, age_sink_fn sink, void *ud, struct age_dec **out);
int age_dec_write(struct age_dec *d, const void *p, size_t n);
int age_dec_finish(struct age_dec *d);
void age_dec_free(struct age_dec *d);

/* ---- snapshot settings (config keys snapshot.*) ---- */
enum snap_source_kind { SNAP_SOURCE_FOLLOWER = 0, SNAP_SOURCE_LEADER, SNAP_SOURCE_MEMBER };
struct retention_policy {
	int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly; /* 0 = not used */
	bool keep_tagged; /* keep every tagged artifact (the configuration's default: true) */
};
struct snapshot_settings {
	enum snap_source_kind source;
	char *source_member;   /* with SNAP_SOURCE_MEMBER */
	int compression_level; /* 3 */
	struct retention_policy retention;
};

/* ---- artifacts ----
 * One file <cluster>-<YYYYMMDDTHHMMSS.mmmZ>-r<revision>[-<tag>].tar.zst: a tar archive,
 * zstd-compressed (frames with checksums), holding manifest.json first and then
 * snapshot.db, the stream exactly as etcd sent it (trailer included). With
 * store.encryption the file is that, encrypted in the age format, named
 * <...>.tar.zst.age; its sidecar manifest stays plain. */
#define SNAP_FORMAT 1
#define SNAP_SUFFIX ".tar.zst"
/* The same, encrypted as a whole in the age format (store.encryption). */
#define SNAP_SUFFIX_AGE ".tar.zst.age"

struct snap_manifest {
	int format;
	char regvault_version[32];
	char cluster_name[128];
	uint64_t cluster_id;
	char member_name[64];
	uint64_t member_id;
	char etcd_version[32];
	int64_t revision;
	uint64_t raft_term, raft_index;
	int64_t db_size, db_size_in_use;
	char sha256[65]; /* hex of etcd's trailer = sha256 of the db bytes */
	char compression[16];
	char created_at[21]; /* RFC 3339 UTC */
	double duration_s;
	char tag[64];
	int quorum; /* 1: the source had a leader and was caught up; 0: saved without
		     * quorum (--allow-no-quorum); -1: not recorded (older artifacts) */
};

/* One artifact as list and verify see it. */
struct snap_info {
	char name[256];          /* file name, with SNAP_SUFFIX */
	struct snap_manifest m;
	uint64_t size;           /* artifact size in the store */
	int64_t created;         /* unix seconds (from the manifest) */
	bool foreign;            /* in the store but not a regvault artifact */
	char problem[256];       /* why it is foreign or bad, "" when fine */
	bool hash_only;          /* verify: encrypted and no identity, so only the file's
				  * sha256 against its sidecar was checked */
};

/* Progress of a long operation (common.h, rv_progress_fn). Modules never draw
 * progress; the CLI does, on a terminal. */
typedef rv_progress_fn snap_progress_fn;

struct snap_save_opts {
	const char *tag;                          /* NULL: none */
	const struct snapshot_settings *settings; /* source, compression level */
	int timeout_ms;                           /* whole stream; 0 = 1 hour */
	bool allow_no_quorum; /* with no member that has quorum, save from one without */
	/* Looked at every chunk, while the member sends nothing and in the store's
	 * transfers: -EINTR within about a second, nothing published. */
	const struct rv_cancel *cancel;
	/* Called as the stream arrives (NULL: not): bytes received of total (the db
	 * and its 32-byte trailer); (0, 0) when a member's stream starts, so done
	 * starts over when another member is tried. */
	snap_progress_fn progress;
	void *progress_ud;
};

/* A tag is 1-63 of [A-Za-z0-9._-]; -EINVAL with a message otherwise. */
int snap_tag_check(const char *tag);
/* Save one snapshot of the cluster into the store (the whole pipeline). */
int snap_save(const struct cluster_spec *cs, struct store *st, const struct snap_save_opts *o,
	      struct snap_info *out);
/* Artifacts newest first, foreign objects flagged (not an error). */
int snap_list(struct store *st, struct snap_info **out, size_t *n);
/* A name ending in SNAP_SUFFIX or SNAP_SUFFIX_AGE: the suffix's length, else 0. */
size_t snap_suffix_len(const char *name);
bool snap_is_artifact_name(const char *name);
bool snap_is_encrypted_name(const char *name);
/* "latest", a name, or a name without SNAP_SUFFIX -> the artifact's name. */
int snap_resolve(struct store *st, const char *name_or_latest, char *name, size_t len);
/* Read an artifact end to end and check everything; -EBADMSG with a message when bad.
 * An encrypted artifact is decrypted with the store's identity; with none
 * configured, only the encrypted file's sha256 is checked against its sidecar
 * (out->hash_only). -EACCES when the identity does not open it. */
int snap_verify(struct store *st, const char *name, struct snap_info *out);
/* Write the plain etcd snapshot (db + trailer), verified, to dest_path (atomically);
 * m (optional) receives the manifest. */
int snap_fetch(struct store *st, const char *name, const char *dest_path, struct snap_manifest *m);
/* The same, reporting the db bytes written of the db's size through progress. */
int snap_fetch_progress(struct store *st, const char *name, const char *dest_path, struct snap_manifest *m,
			snap_progress_fn progress, void *progress_ud);
int snap_delete(struct store *st, const char *name);
/* The manifest of artifact name as its sidecar says, without reading the artifact
 * (a coordinator that has the hosts fetch it themselves). -ENOENT, with no sentence,
 * when it has no sidecar. */
int snap_manifest_read(struct store *st, const char *name, struct snap_manifest *m);

/* ---- the keys in an etcd db (boltdb.c) ----
 * Read from the bbolt file of a plain snapshot (snap_fetch's output, or `etcdctl
 * snapshot save`'s) or a member's db, without starting etcd: mapped read-only,
 * so a large db costs address space, not memory. A damaged file is -EBADMSG with
 * a sentence naming it. */
struct snap_db;
int snap_db_open(const char *path, struct snap_db **out);
void snap_db_close(struct snap_db *db);
/* The revision the db holds: the main revision of its last entry (1 when empty). */
int snap_db_revision(struct snap_db *db, int64_t *rev);
/* The revision the db was compacted at (0: never); states before it are gone. */
int snap_db_compact_revision(struct snap_db *db, int64_t *rev);
/* snap_db_open + snap_db_revision + snap_db_close. */
int snap_db_last_revision(const char *path, int64_t *rev);
/* A key as the db holds it; key and value point into the db's map (valid until
 * snap_db_close). */
struct snap_db_kv {
	const uint8_t *key, *value;
	size_t key_len, value_len;
	int64_t create_revision, mod_revision, version, lease;
};
/* Every key starting with prefix (len 0: all) as it was at revision (0: the db's
 * last), sorted by key (memcmp order, as etcd's ranges). -ERANGE for a revision
 * beyond the db's or before its compaction; -EINTR when cancel fired (looked at
 * every 65536 entries). *out is malloc'd (free it before or after closing db). */
int snap_db_prefix(struct snap_db *db, const void *prefix, size_t len, int64_t revision,
		   const struct rv_cancel *cancel, struct snap_db_kv **out, size_t *n);

/* Retention keeps or removes whole chains (prune.c): an artifact's segments go
 * with it, removed before it (newest first, so a prune cut short leaves a shorter
 * chain, never a segment without its base); segments whose base is no longer in
 * the store (the recorder went on for a moment after its base was pruned) get a
 * decision of their own: name the chain, base_missing, removed. */
struct prune_decision {
	char name[256];   /* the artifact; with base_missing the chain (its name without suffix) */
	bool keep;
	char reason[128]; /* "keep_daily 2026-11-20", "tagged", "newest good artifact", "not kept by any rule" */
	size_t segments;  /* continuous backup: the chain's segments, kept or removed with it */
	uint64_t segment_bytes;
	int64_t segments_last_revision; /* the highest revision they hold; 0: none */
	bool base_missing;
};
int snap_prune(struct store *st, const struct retention_policy *p, bool dry_run, struct prune_decision **out,
	       size_t *n);

/* ---- continuous backup: segments (segment.c, segment_name.c) ----
 * A segment holds the events of a revision range [first, last] of one chain (a full
 * artifact, its base, and the segments that continue it), in revision order, with
 * the wall-clock time each revision was recorded. One object, zstd-compressed, its
 * plain body ending in the sha256 of everything before it; published atomically
 * through the store like an artifact. docs/reference/continuous.md is the format. */
#define SEG_SUFFIX ".rvseg.zst"
/* With store.encryption (recipients): the same bytes encrypted in the age format. */
#define SEG_SUFFIX_AGE ".rvseg.zst.age"
#define SEG_FORMAT 1
enum seg_event_type { SEG_PUT = 0, SEG_DELETE = 1 };
struct seg_event {
	enum seg_event_type type;
	int64_t revision; /* the event's mod_revision (a delete's: the delete's) */
	int64_t create_revision, version, lease; /* PUT */
	uint8_t *key, *value;
	size_t key_len, value_len;
	bool has_prev;
	int64_t prev_create_revision, prev_mod_revision, prev_version, prev_lease;
	uint8_t *prev_value;
	size_t prev_value_len;
};
struct seg_time {
	int64_t revision, unix_ms; /* when the recorder received this revision */
};
/* What a segment's name says (parsed without reading it). */
struct seg_info {
	char name[384];
	char chain[256]; /* the base artifact's name without its suffix */
	int64_t first, last;
	int64_t first_ms, last_ms;
	char writer[64]; /* the member name of the daemon that wrote it */
	uint64_t size;
	bool encrypted;  /* SEG_SUFFIX_AGE */
};
struct seg_contents {
	struct seg_info info;
	int64_t base_revision; /* the base artifact's revision as its manifest says */
	struct seg_event *events;
	size_t n_events;
	struct seg_time *times;
	size_t n_times;
};
bool seg_is_name(const char *name);
/* 0, or -EINVAL when the name is not a segment's. */
int seg_name_parse(const char *name, struct seg_info *out);
/* The plain name (SEG_SUFFIX); seg_builder_publish adds ".age" when it encrypts. */
void seg_name_format(const char *chain, int64_t first, int64_t last, int64_t first_ms, int64_t last_ms,
		     const char *writer, char *out, size_t len);

/* Events gathered in memory, then published as one segment. */
struct seg_builder;
struct seg_builder *seg_builder_new(const char *chain, int64_t base_revision, const char *writer);
/* Events must come in revision order; a revision already added before the last
 * one is refused (-EINVAL). unix_ms: when it was received. */
int seg_builder_add(struct seg_builder *b, const struct seg_event *e, int64_t unix_ms);
size_t seg_builder_events(const struct seg_builder *b);
size_t seg_builder_bytes(const struct seg_builder *b);
int64_t seg_builder_last(const struct seg_builder *b); /* 0 when empty */
/* Publish what was gathered as one segment (name filled in) and empty the builder;
 * on failure nothing is published and the events stay for the next try. With the
 * store's store.encryption recipients the object is encrypted as it is written
 * (SEG_SUFFIX_AGE): no plaintext reaches the store. */
int seg_builder_publish(struct seg_builder *b, struct store *st, int level, char *name, size_t len);
void seg_builder_free(struct seg_builder *b);

/* Every segment in the store, by chain then first revision. */
int seg_list(struct store *st, struct seg_info **out, size_t *n);
/* Sorted as seg_list sorts them. */
void seg_sort(struct seg_info *v, size_t n);
/* A chain's index (segment_index.c): "<chain>.rvidx" names its settled segments,
 * so that one chain's segments are its index plus the few listed after the last
 * one it names, not a listing of the store. */
#define SEG_NAME_MARK ".seg-r"
#define SEG_INDEX_SUFFIX ".rvidx"
void seg_index_name(const char *chain, char *out, size_t len);
/* One chain's segments, sorted (an index that cannot be read as this chain's is
 * passed over: then all of them are listed by prefix). */
int seg_list_chain(struct store *st, const char *chain, struct seg_info **out, size_t *n);
/* The segments the index names (*n 0 when it is missing or not usable). */
int seg_index_read(struct store *st, const char *chain, struct seg_info **out, size_t *n);
/* Name v[0, n) (sorted, of chain, settled) as the chain's index. */
int seg_index_write(struct store *st, const char *chain, const struct seg_info *v, size_t n);
/* The segments of one chain (from a seg_list result): [*start, *start + *count). */
void seg_chain_range(const struct seg_info *v, size_t n, const char *chain, size_t *start, size_t *count);
/* Read one segment, checking its zstd frames and sha256: -EBADMSG with a sentence
 * naming it when damaged. keys (store_read_keys; NULL when none): an encrypted
 * segment is decrypted with them, -EACCES with a sentence when they cannot (no
 * identity, or not made for it). */
int seg_read(struct store *st, const char *name, const struct age_keys *keys, struct seg_contents *out);
void seg_contents_free(struct seg_contents *c);
/* The same change: type, revision, key, and for a put its value, version, create
 * revision and lease (the previous value is not compared). */
bool seg_event_same(const struct seg_event *a, const struct seg_event *b);
/* A chain's segments, checked: every one reads and verifies, their ranges join
 * without a hole from base_revision + 1 (overlaps are allowed: a handover or a
 * resumed recorder writes some revisions twice, which must agree in event count).
 * *reach: the last revision reached without a hole, *reach_ms its time (0 when
 * none). -EBADMSG when one is damaged or a hole is found (the sentence says
 * where). verify_contents false: only the names are looked at. An encrypted
 * segment is read with keys; when keys cannot decrypt (NULL: no identity on this
 * host) only its name is looked at, and *unchecked (optional) counts them. */
int seg_chain_check(struct store *st, const struct seg_info *v, size_t n, int64_t base_revision,
		    bool verify_contents, const struct age_keys *keys, int64_t *reach, int64_t *reach_ms,
		    size_t *unchecked);

/* Merging as segments age (segment_merge.c): in every chain, runs of small segments
 * wholly inside one window (windows_ms ascending, e.g. 5 min then 1 h, aligned to the
 * epoch) ended grace_ms before now_ms, that join without a gap or an overlap are published as one segment
 * (writer: this daemon's member), then deleted; a segment another of its chain covers
 * with the same events is deleted. Chains encrypted for an identity this host does
 * not hold are left alone. Returns the last error; the pass goes on past it. */
struct seg_merge_report {
	size_t merged;      /* segments published by merging */
	size_t segments_in; /* segments they were made of */
	size_t deleted;     /* segments deleted (merged, or covered) */
	size_t covered;     /* of those, covered by another (a pass cut short before) */
	size_t chains_unreadable;
	size_t indexed;     /* chains whose index was rewritten */
	size_t errors;
	/* in and out: the most compressible segments' ratio (uncompressed / stored) seen
	 * so far; a caller that keeps it from pass to pass spares the next passes a read
	 * of a segment merged up to the memory bound (0: none known) */
	double ratio;
};
int seg_merge_pass(struct store *st, const int64_t *windows_ms, size_t n_windows, int64_t now_ms, int64_t grace_ms,
		   const char *writer, int level, struct seg_merge_report *rep);

#endif
