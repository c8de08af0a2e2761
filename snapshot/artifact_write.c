/* artifact_write.c - the artifact stage: tar framing (libarchive, pax) and zstd,
 * written to a store writer as it goes; nothing but one zstd output buffer is held.
 *
 * Layout of the compressed stream:
 *   frame 1: tar header + manifest.json (head manifest: every field known before the
 *            stream; sha256 and duration_s are null)
 *   frame 2: tar header + snapshot.db (the stream exactly as etcd sent it, trailer
 *            included), tar header + manifest.final.json (the complete manifest),
 *            the tar end-of-archive blocks
 * Every frame carries zstd's content checksum, so a flipped bit anywhere - tar
 * headers and padding included - fails decompression.
 *
 * Why two manifests: manifest.json must come first (list reads it from the first
 * frame without decompressing the db) but the sha256 is known only when the stream
 * has ended, and nothing may be buffered or rewritten (stores are streams). So the
 * first entry holds what is known up front and the last entry repeats it complete.
 * The store also gets the complete manifest as a sidecar object (snap_save.c),
 * with the sha256 of the whole artifact file: zstd ignores a few header bits (the
 * frame descriptor's unused bit, a window size that is larger than needed), so only
 * a hash of the file catches a flipped bit there.
 *
 * With store.encryption the compressed stream goes through the age encryptor
 * (age.c) on its way to the store: the store sees only ciphertext, and the
 * file's sha256 (the sidecar's artifact_sha256) is of the encrypted file, so a
 * host without the identity can still check it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <zstd.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

struct artifact_stage {
	struct snap_stage base;
	struct store_writer *w;
	struct snap_manifest *m;
	struct archive *a;
	ZSTD_CCtx *z;
	void *zout;
	size_t zout_len;
	uint64_t db_bytes, db_written;
	int err; /* first store error, returned from the libarchive callback path */
	double started;
	char name[256];
	bool committed, discarding;
	EVP_MD_CTX *file_sha;
	uint64_t file_size;
	char *file_sha_out;
	struct age_enc *age; /* NULL: not encrypted */
};

/* What goes into the store, encrypted or not. */
static int file_out(const void *p, size_t n, void *ud)
{
	struct artifact_stage *s = ud;
	EVP_DigestUpdate(s->file_sha, p, n);
	s->file_size += n;
	return store_put_write(s->w, p, n);
}

/* Compress what libarchive hands us and pass it to the store. */
static int z_push(struct artifact_stage *s, const void *p, size_t n, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = {p, n, 0};
	for (;;) {
		ZSTD_outBuffer out = {s->zout, s->zout_len, 0};
		size_t left = ZSTD_compressStream2(s->z, &out, &in, mode);
		int r;
		if (ZSTD_isError(left))
			return rv_fail(-EIO, "zstd failed while writing %s: %s", s->name, ZSTD_getErrorName(left));
		if (out.pos) {
			r = s->age ? age_enc_write(s->age, s->zout, out.pos) : file_out(s->zout, out.pos, s);
			if (r < 0)
				return r;
		}
		if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0)
			return 0;
	}
}

static la_ssize_t tar_out(struct archive *a, void *ud, const void *p, size_t n)
{
	struct artifact_stage *s = ud;
	int r;
	if (s->discarding) /* archive_write_free() closing an aborted archive */
		return (la_ssize_t)n;
	r = z_push(s, p, n, ZSTD_e_continue);
	if (r < 0) {
		s->err = r;
		archive_set_error(a, -r, "%s", rv_errmsg(r));
		return -1;
	}
	return (la_ssize_t)n;
}

static int la_fail(struct artifact_stage *s, const char *what)
{
	if (s->err)
		return s->err;
	return rv_fail(-EIO, "cannot write %s of %s: %s", what, s->name, archive_error_string(s->a));
}

static int add_file(struct artifact_stage *s, const char *path, int64_t size, int perm)
{
	struct archive_entry *e = archive_entry_new();
	int64_t t = 0;
	rv_parse_rfc3339(s->m->created_at, &t);
	archive_entry_set_pathname(e, path);
	archive_entry_set_size(e, size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, perm);
	archive_entry_set_mtime(e, (time_t)t, 0);
	int r = archive_write_header(s->a, e);
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : la_fail(s, path);
}

static int add_text(struct artifact_stage *s, const char *path, const char *text)
{
	size_t n = strlen(text);
	int r = add_file(s, path, (int64_t)n, 0644);
	if (r < 0)
		return r;
	if (archive_write_data(s->a, text, n) != (la_ssize_t)n)
		return la_fail(s, path);
	if (archive_write_finish_entry(s->a) != ARCHIVE_OK)
		return la_fail(s, path);
	return 0;
}

static int art_write(struct snap_stage *st, const void *p, size_t n)
{
	struct artifact_stage *s = (struct artifact_stage *)st;
	if (s->db_written + n > s->db_bytes)
		return rv_fail(-EBADMSG, "the snapshot stream is longer than the %llu bytes it announced",
			       (unsigned long long)s->db_bytes);
	if (archive_write_data(s->a, p, n) != (la_ssize_t)n)
		return la_fail(s, "snapshot.db");
	s->db_written += n;
	return 0;
}

static int art_finish(struct snap_stage *st)
{
	struct artifact_stage *s = (struct artifact_stage *)st;
	char *final;
	int r;

	if (s->db_written != s->db_bytes)
		return rv_fail(-EBADMSG, "the snapshot stream ended after %llu of the %llu bytes it announced",
			       (unsigned long long)s->db_written, (unsigned long long)s->db_bytes);
	if (archive_write_finish_entry(s->a) != ARCHIVE_OK)
		return la_fail(s, "snapshot.db");
	s->m->duration_s = rv_now_mono() - s->started;
	final = snap_manifest_to_json(s->m, true);
	r = add_text(s, "manifest.final.json", final);
	free(final);
	if (r < 0)
		return r;
	if (archive_write_close(s->a) != ARCHIVE_OK)
		return la_fail(s, "the end of the tar archive");
	if ((r = z_push(s, NULL, 0, ZSTD_e_end)) < 0)
		return r;
	if (s->age && (r = age_enc_finish(s->age)) < 0)
		return r;
	if (s->file_sha_out) {
		uint8_t md[EVP_MAX_MD_SIZE];
		unsigned len = 0;
		EVP_DigestFinal_ex(s->file_sha, md, &len);
		rv_hex(md, 32, s->file_sha_out);
	}
	s->committed = true; /* the writer is freed whatever commit says */
	return store_put_commit(s->w);
}

static void art_free(struct snap_stage *st)
{
	struct artifact_stage *s = (struct artifact_stage *)st;
	/* Free the archive first: on an unfinished one it writes its end through
	 * tar_out, which must not reach a writer that is gone. */
	s->discarding = true;
	archive_write_free(s->a);
	if (!s->committed)
		store_put_abort(s->w);
	ZSTD_freeCCtx(s->z);
	age_enc_free(s->age);
	EVP_MD_CTX_free(s->file_sha);
	free(s->zout);
	free(s);
}

static int art_open(struct artifact_stage *s, int level, const struct age_keys *enc)
{
	char *head;
	int r;

	if (enc && (r = age_enc_new(enc, file_out, s, &s->age)) < 0)
		return r;

	s->z = ZSTD_createCCtx();
	if (!s->z)
		abort();
	ZSTD_CCtx_setParameter(s->z, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(s->z, ZSTD_c_checksumFlag, 1);
	s->zout_len = ZSTD_CStreamOutSize();
	s->zout = rv_xmalloc(s->zout_len);

	s->a = archive_write_new();
	archive_write_set_format_pax_restricted(s->a);
	/* Unblocked: every byte goes straight to tar_out, so a frame can end right
	 * after the manifest entry. */
	archive_write_set_bytes_per_block(s->a, 0);
	if (archive_write_open2(s->a, s, NULL, tar_out, NULL, NULL) != ARCHIVE_OK)
		return la_fail(s, "the tar archive");
	head = snap_manifest_to_json(s->m, false);
	r = add_text(s, "manifest.json", head);
	free(head);
	if (r < 0)
		return r;
	if ((r = z_push(s, NULL, 0, ZSTD_e_end)) < 0)
		return r;
	return add_file(s, "snapshot.db", (int64_t)s->db_bytes, 0600);
}

struct snap_stage *snap_artifact_writer_new(struct store_writer *w, struct snap_manifest *m, uint64_t db_bytes,
					    int level, const char *name, char *file_sha_out, const struct age_keys *enc)
{
	struct artifact_stage *s = rv_xcalloc(1, sizeof *s);
	s->base.what = "artifact";
	s->base.write = art_write;
	s->base.finish = art_finish;
	s->base.abort = art_free;
	s->base.free = art_free;
	s->w = w;
	s->m = m;
	s->db_bytes = db_bytes;
	s->started = rv_now_mono();
	s->file_sha_out = file_sha_out;
	s->file_sha = EVP_MD_CTX_new();
	if (!s->file_sha)
		abort();
	EVP_DigestInit_ex(s->file_sha, EVP_sha256(), NULL);
	snprintf(s->name, sizeof s->name, "%s", name);
	if (art_open(s, level, enc) < 0) {
		art_free(&s->base);
		return NULL;
	}
	return &s->base;
}
