/* snap_impl.h - private to the snapshot module: the pipeline stages, the artifact
 * writer and reader, manifests, artifact names and retention.
 *
 * The save path is a chain of stages with one interface (write bytes, finish,
 * abort): etcd stream -> sha256 check -> artifact (tar framing + zstd) -> store.
 * A stage forwards what it is given to the next one; finish flushes and checks in
 * order (the sha256 stage first, so nothing is published before the trailer
 * matched); abort propagates so nothing half-written is published.
 */
#ifndef REGVAULT_SNAP_IMPL_H
#define REGVAULT_SNAP_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapshot.h"

/* ---- stages (pipeline.c) ---- */
struct snap_stage {
	const char *what; /* "sha256 check", "artifact" */
	int (*write)(struct snap_stage *st, const void *p, size_t n);
	int (*finish)(struct snap_stage *st); /* flush, check, publish */
	void (*abort)(struct snap_stage *st); /* discard; frees the stage */
	void (*free)(struct snap_stage *st);  /* after finish */
	struct snap_stage *next;
};
int snap_stage_write(struct snap_stage *first, const void *p, size_t n);
/* Finish every stage in order; on failure the stages after the one that failed are
 * aborted. Frees the chain. */
int snap_stage_finish(struct snap_stage *first);
void snap_stage_abort(struct snap_stage *first);

/* sha256 of every byte but the last 32, compared with those 32 at finish (etcd's
 * trailer). On a match the hex digest goes to hex_out (65 bytes). Passes every
 * byte on. `where` names the stream for messages ("the snapshot stream from
 * member etcd2"). */
struct snap_stage *snap_stage_sha256_new(char *hex_out, const char *where, struct snap_stage *next);

/* The artifact writer: a tar (pax) archive compressed with zstd, written to a store
 * writer. manifest.json (m, sha256 and duration_s still unknown) is the first entry
 * and ends the first zstd frame, so its head can be read cheaply; snapshot.db
 * (db_bytes long, trailer included) follows; at finish manifest.sha256 and
 * duration_s are taken from m (the sha256 stage has filled them) and written as a
 * last entry `manifest.final.json`, then the store writer is committed. Takes w:
 * on failure (NULL, message recorded) w has been aborted. file_sha_out (65 bytes,
 * optional) receives the sha256 of the whole compressed artifact at finish. */
struct snap_stage *snap_artifact_writer_new(struct store_writer *w, struct snap_manifest *m, uint64_t db_bytes,
					    int level, const char *name, char *file_sha_out, const struct age_keys *enc);
/* enc (NULL: plain): the compressed stream is encrypted in the age format as it
 * goes, and file_sha_out is the sha256 of the encrypted file. */

/* ---- the store's age keys (store.c) ---- */
/* The keys new artifacts are encrypted for; NULL when store.encryption names no
 * recipient or passphrase. */
const struct age_keys *store_age_encrypt_keys(struct store *s);
/* The keys to decrypt artifact `name` with: the identity file is read the first
 * time. -EACCES with a sentence when no identity or passphrase is configured. */
int store_age_decrypt_keys(struct store *s, const char *name, const struct age_keys **out);
/* True when an identity or passphrase is configured (not yet read). */
bool store_age_has_identity(const struct store *s);

/* ---- manifests (manifest.c) ---- */
/* JSON text of m (malloc'd). complete=false leaves sha256 and duration_s null. */
char *snap_manifest_to_json(const struct snap_manifest *m, bool complete);
/* Parse; -EBADMSG with a message naming `where` when it is not a manifest. */
int snap_manifest_from_json(const char *text, size_t len, const char *where, struct snap_manifest *m);

/* ---- reading artifacts (artifact_read.c) ---- */
struct snap_read_result {
	struct snap_manifest head;  /* manifest.json */
	struct snap_manifest final; /* manifest.final.json (complete) */
	bool have_head, have_final;
	uint64_t db_bytes; /* snapshot.db size, trailer included */
	char db_sha256[65];
	char file_sha256[65]; /* of the whole artifact file as read */
	uint64_t file_size;
};
/* Read the artifact end to end through zstd and tar, check every frame checksum,
 * the tar structure, both manifests, and the sha256 of the db against its trailer
 * and the manifest. db_cb (optional) receives the snapshot.db bytes. -EBADMSG with
 * one sentence saying what is wrong and where. */
typedef int (*snap_db_cb)(const void *p, size_t n, void *ud);
int snap_artifact_read(struct store *st, const char *name, snap_db_cb db_cb, void *ud,
		       struct snap_read_result *res);
/* Only the first manifest (from the first zstd frame, a few KiB): cheap, for list. */
int snap_artifact_read_head(struct store *st, const char *name, struct snap_manifest *m);

/* ---- sidecars (snap_ops.c) ----
 * "<name without .tar.zst>.manifest.json": the complete manifest plus
 * "artifact_sha256" and "artifact_size" of the artifact file. */
int snap_sidecar_write(struct store *st, const char *name, const struct snap_manifest *m,
		       const char *artifact_sha256, uint64_t artifact_size);
/* -ENOENT (no message) when there is none. artifact_sha256 (65) may be NULL. */
int snap_sidecar_read(struct store *st, const char *name, struct snap_manifest *m, char *artifact_sha256);

/* ---- names (snap_name.c) ---- */
/* "<cluster>-<YYYYMMDDTHHMMSS.mmmZ>-r<revision>[-<tag>].tar.zst" */
void snap_name_format(const char *cluster, int64_t created_ms, int64_t revision, const char *tag, char *out,
		      size_t len);
struct snap_name_parts {
	char cluster[128];
	int64_t created_ms; /* unix milliseconds; a name without them: whole seconds */
	int64_t revision;
	char tag[64];       /* "" when none */
};
/* True for a name of that shape (or the older one without milliseconds); out
 * (optional) gets its parts. */
bool snap_name_parse(const char *name, struct snap_name_parts *out);
/* The same name one millisecond later: a store_next_name_fn (ud unused), so that
 * two saves in one millisecond both publish. */
int snap_name_next(const char *taken, char *next, size_t len, void *ud);
/* The sidecar object "<name without .tar.zst>.manifest.json". */
void snap_sidecar_name(const char *name, char *out, size_t len);
bool snap_is_sidecar(const char *name);

/* ---- choosing the source (snap_save.c) ---- */
/* How far a source's applied index may trail the leader's committed index: a
 * follower in step is a few entries behind; one that lags by more is catching up
 * (or cut off) and would give an old snapshot. */
#define SNAP_MAX_APPLIED_LAG 1000
/* Why member i of n (whose Status answered[i] says it answered) cannot be a
 * source with quorum ("has no leader"), or NULL when it can: it must have a
 * leader, the leader must still say so when it answers, and its applied index
 * must be within SNAP_MAX_APPLIED_LAG of the leader's committed index (of the
 * highest one reported, when the leader does not answer us). buf holds the
 * reason when it has a number in it. */
const char *snap_source_no_quorum(const struct etcd_status *sts, const bool *answered, size_t n, size_t i,
				  char *buf, size_t len);

/* ---- retention (retention.c) ---- */
struct retention_item {
	const char *name;
	int64_t created;
	bool good;   /* a regvault artifact with a readable manifest */
	bool tagged; /* saved with --tag */
};
/* Decide over items (any order): out[i] is for items[i]. Restic's semantics: newest
 * first, keep_last keeps the n newest, each keep_<period> keeps the newest artifact
 * of each of the n most recent UTC periods that have one; the newest good artifact is
 * always kept; no rule at all keeps everything; with keep_tagged every tagged
 * artifact is kept (reason "tagged"). */
void snap_retention_decide(const struct retention_policy *p, const struct retention_item *items, size_t n,
			   struct prune_decision *out);

#endif
