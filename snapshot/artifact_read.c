/* artifact_read.c - the streaming artifact reader: store ranges -> zstd -> tar
 * (libarchive) -> manifest.json, snapshot.db (through a sha256 check), and
 * manifest.final.json. Memory is bounded by one compressed chunk and one zstd
 * output buffer, whatever the db size.
 *
 * zstd is decoded here rather than by libarchive's filter so that the reader knows
 * exactly where a frame fails or ends: a truncated artifact (the last frame not
 * complete) and bytes after the tar end are caught too, not only what libarchive
 * happens to read.
 *
 * zstd checks a frame's content checksum only at the frame's end, so a changed
 * byte anywhere in the second frame (snapshot.db, manifest.final.json, the tar
 * end) shows as one error at the end of the file. To say which entry the byte is
 * in, the frame is read once more with zstd's checksum ignored: the changed bytes
 * then reach the tar reader, the db's sha256 check and the manifest parser, and
 * whichever fails first names the entry.
 *
 * An encrypted artifact (.tar.zst.age) is decrypted first (age.c): only
 * authenticated chunks reach zstd, so a changed byte is the decryptor's to report
 * ("damaged or not made for this key"), and the file's sha256 is of the encrypted
 * bytes, as the sidecar records it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_d_forceIgnoreChecksum, for the second look */
#include <zstd.h>
#include <zstd_errors.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

#define HEAD_CHUNK (64u << 10)
#define CHUNK (4u << 20) /* one range request per 4 MiB: few requests on S3, bounded memory */

struct reader {
	struct store *st;
	const char *name;
	char where[512]; /* "artifact X in store S" */
	/* compressed input */
	uint8_t *in;
	size_t in_len, in_pos, in_cap;
	uint64_t in_off; /* file offset of in[0] + in_len, i.e. next to fetch */
	bool in_eof;
	/* zstd */
	ZSTD_DCtx *z;
	size_t frame_left; /* last ZSTD_decompressStream result: 0 = at a frame end */
	bool any_frame, out_full;
	uint8_t *out;
	size_t out_cap;
	uint64_t out_total;
	const char *entry; /* the tar entry being read, for messages: entry_name, between or a constant */
	char entry_name[128];
	char between[160]; /* "the tar header after manifest.json" */
	uint64_t entry_end; /* where the entry's data ends in the decompressed stream */
	uint64_t fail_at;   /* file offset where zstd failed */
	int frame;         /* 1-based number of the zstd frame being decoded */
	uint64_t frame_start; /* its file offset */
	bool checksum_wrong;  /* the failure was a frame's content checksum */
	bool ignore_checksum; /* the second look (see above) */
	EVP_MD_CTX *file_sha;
	int err;
	/* an encrypted artifact: the file goes through age_dec into in[] */
	struct age_dec *age;
	uint64_t raw_off, raw_got;
};

static int copy_cb(const void *p, size_t n, void *ud)
{
	struct reader *r = ud;
	if (r->in_len + n > r->in_cap)
		return -EOVERFLOW;
	memcpy(r->in + r->in_len, p, n);
	r->in_len += n;
	return 0;
}

/* The decrypted bytes of an encrypted artifact. */
static int dec_sink(const void *p, size_t n, void *ud)
{
	return copy_cb(p, n, ud);
}

static int raw_cb(const void *p, size_t n, void *ud)
{
	struct reader *r = ud;
	EVP_DigestUpdate(r->file_sha, p, n);
	r->raw_got += n;
	return age_dec_write(r->age, p, n);
}

/* At least one decrypted byte, or the end. */
static int fetch_more_encrypted(struct reader *r)
{
	int e;
	r->in_len = r->in_pos = 0;
	while (r->in_len == 0 && !r->in_eof) {
		size_t want = r->raw_off == 0 ? HEAD_CHUNK : CHUNK;
		r->raw_got = 0;
		if ((e = store_get(r->st, r->name, r->raw_off, want, raw_cb, r)) < 0)
			return e;
		r->raw_off += r->raw_got;
		if (r->raw_got < want) {
			r->in_eof = true;
			if ((e = age_dec_finish(r->age)) < 0)
				return e;
		}
	}
	r->in_off += r->in_len;
	return 0;
}

static int fetch_more(struct reader *r)
{
	size_t want = r->in_off == 0 ? HEAD_CHUNK : CHUNK;
	int e;
	if (r->age)
		return fetch_more_encrypted(r);
	r->in_len = r->in_pos = 0;
	e = store_get(r->st, r->name, r->in_off, want, copy_cb, r);
	if (e < 0)
		return e;
	r->in_off += r->in_len;
	EVP_DigestUpdate(r->file_sha, r->in, r->in_len);
	if (r->in_len < want)
		r->in_eof = true;
	return 0;
}

/* Decompress the next block; *n == 0 at the end of the input. */
static int next_block(struct reader *r, size_t *n)
{
	*n = 0;
	for (;;) {
		ZSTD_inBuffer in;
		ZSTD_outBuffer out = {r->out, r->out_cap, 0};
		size_t ret;
		/* A full output buffer may leave decoded bytes inside zstd: drain first. */
		if (r->in_pos == r->in_len && !r->out_full) {
			if (r->in_eof) {
				if (!r->any_frame)
					return rv_fail(-EBADMSG, "%s is empty or not zstd-compressed", r->where);
				if (r->frame_left != 0)
					return rv_fail(-EBADMSG, "%s is truncated: it ends after %llu bytes in the middle of a zstd frame (in %s%s)",
						       r->where, (unsigned long long)r->in_off,
						       r->entry == r->entry_name ? "entry " : "", r->entry);
				return 0;
			}
			int e = fetch_more(r);
			if (e < 0)
				return e;
			continue;
		}
		in = (ZSTD_inBuffer){r->in, r->in_len, r->in_pos};
		if (r->frame_left == 0) { /* a frame starts here */
			r->frame++;
			r->frame_start = r->in_off - r->in_len + in.pos;
		}
		ret = ZSTD_decompressStream(r->z, &out, &in);
		r->fail_at = r->in_off - r->in_len + in.pos;
		if (ZSTD_isError(ret) && ZSTD_getErrorCode(ret) == ZSTD_error_checksum_wrong) {
			r->checksum_wrong = true;
			return -EBADMSG; /* snap_artifact_read says where */
		}
		if (ZSTD_isError(ret)) {
			/* The block that failed starts within one output buffer (zstd may hold
			 * decoded bytes not yet handed out) of out_total: it is inside the
			 * entry when it ends before the entry does even so. */
			bool inside = r->frame == 1 || r->entry != r->entry_name ||
				      r->out_total + r->out_cap + ZSTD_BLOCKSIZE_MAX <= r->entry_end;
			return rv_fail(-EBADMSG, "%s is corrupt: zstd says \"%s\" near byte %llu of the file (in %s%s%s)",
				       r->where, ZSTD_getErrorName(ret), (unsigned long long)r->fail_at,
				       r->entry == r->entry_name ? "entry " : "", r->entry,
				       inside ? "" : " or an entry after it");
		}
		r->in_pos = in.pos;
		r->out_full = out.pos == out.size;
		r->any_frame = true;
		r->frame_left = ret;
		if (out.pos) {
			*n = out.pos;
			r->out_total += out.pos;
			return 0;
		}
	}
}

static la_ssize_t tar_in(struct archive *a, void *ud, const void **buf)
{
	struct reader *r = ud;
	size_t n;
	int e = next_block(r, &n);
	if (e < 0) {
		r->err = e;
		archive_set_error(a, EBADMSG, "%s", rv_errmsg(e));
		return -1;
	}
	*buf = r->out;
	return (la_ssize_t)n;
}

static int tar_fail(struct reader *r, struct archive *a, const char *what)
{
	if (r->err)
		return r->err;
	return rv_fail(-EBADMSG, "%s has a damaged tar structure %s: %s", r->where, what,
		       archive_error_string(a) ? archive_error_string(a) : "unknown error");
}

/* Read a small text entry (a manifest) into memory. */
static int read_text(struct reader *r, struct archive *a, struct archive_entry *e, char **out, size_t *len)
{
	int64_t size = archive_entry_size(e);
	char *buf;
	la_ssize_t got;
	if (size < 0 || size > (1 << 20))
		return rv_fail(-EBADMSG, "%s has a %s of %lld bytes, not a manifest", r->where,
			       archive_entry_pathname(e), (long long)size);
	buf = rv_xmalloc((size_t)size + 1);
	got = archive_read_data(a, buf, (size_t)size);
	if (got != (la_ssize_t)size) {
		free(buf);
		return got < 0 ? tar_fail(r, a, "in its manifest")
			       : rv_fail(-EBADMSG, "%s is truncated inside %s", r->where, archive_entry_pathname(e));
	}
	buf[size] = '\0';
	*out = buf;
	*len = (size_t)size;
	return 0;
}

static int read_manifest(struct reader *r, struct archive *a, struct archive_entry *e, struct snap_manifest *m)
{
	char *text = NULL, where[600];
	size_t len = 0;
	int rc = read_text(r, a, e, &text, &len);
	if (rc < 0)
		return rc;
	snprintf(where, sizeof where, "%s (%s)", r->where, archive_entry_pathname(e));
	rc = snap_manifest_from_json(text, len, where, m);
	free(text);
	return rc;
}

static int read_db(struct reader *r, struct archive *a, struct archive_entry *e, snap_db_cb cb, void *ud,
		   struct snap_read_result *res)
{
	char where[600];
	struct snap_stage *sha;
	uint64_t got = 0;
	int rc = 0;

	snprintf(where, sizeof where, "snapshot.db in %s", r->where);
	sha = snap_stage_sha256_new(res->db_sha256, where, NULL);
	for (;;) {
		const void *p;
		size_t n;
		la_int64_t off;
		int ar = archive_read_data_block(a, &p, &n, &off);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK) {
			rc = tar_fail(r, a, "inside snapshot.db");
			break;
		}
		if ((uint64_t)off != got) { /* a sparse hole: never written by regvault */
			rc = rv_fail(-EBADMSG, "%s has a sparse snapshot.db, which regvault never writes", r->where);
			break;
		}
		got += n;
		if ((rc = sha->write(sha, p, n)) < 0 || (cb && (rc = cb(p, n, ud)) < 0))
			break;
	}
	if (rc == 0 && got != (uint64_t)archive_entry_size(e))
		rc = rv_fail(-EBADMSG, "%s is truncated inside snapshot.db", r->where);
	if (rc == 0)
		rc = sha->finish(sha);
	sha->free(sha);
	res->db_bytes = got;
	return rc;
}

static int run(struct reader *r, bool head_only, snap_db_cb cb, void *ud, struct snap_read_result *res)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int idx = 0, rc = 0;
	bool seen_db = false;

	archive_read_support_format_tar(a);
	if (archive_read_open(a, r, NULL, tar_in, NULL) != ARCHIVE_OK) {
		rc = tar_fail(r, a, "at its start");
		goto out;
	}
	for (;; idx++) {
		const char *path;
		int ar;
		if (idx > 0) {
			snprintf(r->between, sizeof r->between, "the tar header after entry %s", r->entry_name);
			r->entry = r->between;
		}
		ar = archive_read_next_header(a, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			char in[200];
			snprintf(in, sizeof in, "in %s", r->between);
			rc = tar_fail(r, a, idx == 0 ? "at its first entry" : in);
			goto out;
		}
		path = archive_entry_pathname(e);
		snprintf(r->entry_name, sizeof r->entry_name, "%s", idx == 0 ? "manifest.json" : path ? path : "?");
		r->entry = r->entry_name;
		r->entry_end = (uint64_t)archive_filter_bytes(a, 0) + (uint64_t)archive_entry_size(e);
		if (idx == 0) {
			if (!path || strcmp(path, "manifest.json") != 0) {
				rc = rv_fail(-EBADMSG, "%s does not start with manifest.json (first entry: %s)", r->where,
					     path ? path : "?");
				goto out;
			}
			if ((rc = read_manifest(r, a, e, &res->head)) < 0)
				goto out;
			res->have_head = true;
			if (head_only)
				goto out;
		} else if (strcmp(path, "snapshot.db") == 0 && !seen_db) {
			seen_db = true;
			if ((rc = read_db(r, a, e, cb, ud, res)) < 0)
				goto out;
		} else if (strcmp(path, "manifest.final.json") == 0 && seen_db && !res->have_final) {
			if ((rc = read_manifest(r, a, e, &res->final)) < 0)
				goto out;
			res->have_final = true;
		} else {
			rc = rv_fail(-EBADMSG, "%s holds an unexpected entry %s", r->where, path);
			goto out;
		}
	}
	r->entry = "the tar end";
	if (!seen_db) {
		rc = rv_fail(-EBADMSG, "%s holds no snapshot.db", r->where);
		goto out;
	}
	if (!res->have_final) {
		rc = rv_fail(-EBADMSG, "%s lacks its final manifest (manifest.final.json)", r->where);
		goto out;
	}
	/* Whatever follows the tar end must still decompress cleanly (frame checksums,
	 * truncation) and be zero padding. */
	for (;;) {
		size_t n;
		if ((rc = next_block(r, &n)) < 0)
			goto out;
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++)
			if (r->out[i]) {
				rc = rv_fail(-EBADMSG, "%s has data after the end of its tar archive", r->where);
				goto out;
			}
	}
out:
	archive_read_free(a);
	return rc;
}

static int reader_init(struct reader *r, struct store *st, const char *name, bool ignore_checksum)
{
	memset(r, 0, sizeof *r);
	r->st = st;
	r->name = name;
	snprintf(r->where, sizeof r->where, "artifact %s in store %s", name, store_describe(st));
	if (snap_is_encrypted_name(name)) {
		const struct age_keys *k;
		int e = store_age_decrypt_keys(st, name, &k);
		if (e < 0)
			return e;
		age_dec_new(k, r->where, dec_sink, r, &r->age);
	}
	/* Room for one store chunk's plaintext and the age chunk held back before it. */
	r->in_cap = CHUNK + (128u << 10);
	r->in = rv_xmalloc(r->in_cap);
	r->z = ZSTD_createDCtx();
	if (!r->z)
		abort();
	r->ignore_checksum = ignore_checksum;
	if (ignore_checksum)
		ZSTD_DCtx_setParameter(r->z, ZSTD_d_forceIgnoreChecksum, ZSTD_d_ignoreChecksum);
	r->out_cap = ZSTD_DStreamOutSize();
	r->out = rv_xmalloc(r->out_cap);
	snprintf(r->entry_name, sizeof r->entry_name, "manifest.json");
	r->entry = r->entry_name;
	r->file_sha = EVP_MD_CTX_new();
	if (!r->file_sha)
		abort();
	EVP_DigestInit_ex(r->file_sha, EVP_sha256(), NULL);
	return 0;
}

static void reader_free(struct reader *r)
{
	age_dec_free(r->age);
	ZSTD_freeDCtx(r->z);
	EVP_MD_CTX_free(r->file_sha);
	free(r->in);
	free(r->out);
}

/* The complete manifest must agree with the head and with the db. */
static int cross_check(struct reader *r, struct snap_read_result *res)
{
	const struct snap_manifest *h = &res->head, *f = &res->final;
	if (strcmp(f->sha256, res->db_sha256) != 0)
		return rv_fail(-EBADMSG, "%s: the sha256 in its manifest (%s) differs from the sha256 of its snapshot.db (%s)",
			       r->where, f->sha256, res->db_sha256);
	if (h->revision != f->revision || h->cluster_id != f->cluster_id || h->db_size != f->db_size ||
	    strcmp(h->created_at, f->created_at) != 0 || strcmp(h->cluster_name, f->cluster_name) != 0)
		return rv_fail(-EBADMSG, "%s: manifest.json and manifest.final.json disagree", r->where);
	if ((uint64_t)f->db_size + 32 != res->db_bytes)
		return rv_fail(-EBADMSG, "%s: snapshot.db holds %llu bytes but the manifest says db_size %lld (+32 trailer)",
			       r->where, (unsigned long long)res->db_bytes, (long long)f->db_size);
	return 0;
}

/* Where a byte that failed a frame checksum is ("a byte in entry snapshot.db"):
 * read again ignoring zstd's checksums (nothing goes to the caller's callback)
 * and see what fails first. */
static const char *entry_of_changed_byte(struct store *st, const char *name, char *buf, size_t len)
{
	struct reader r;
	struct snap_read_result *res = rv_xcalloc(1, sizeof *res);
	int rc;

	if (reader_init(&r, st, name, true) < 0) {
		rv_err_clear();
		free(res);
		return snprintf(buf, len, "a byte somewhere"), buf;
	}
	rc = run(&r, false, NULL, NULL, res);
	if (rc == 0 && cross_check(&r, res) < 0) /* the db matched its trailer */
		snprintf(buf, len, "a byte in entry manifest.final.json");
	else if (rc == 0)
		snprintf(buf, len, "a byte outside every tar entry (tar padding or zstd framing)");
	else if (strcmp(r.entry, "the tar end") == 0)
		snprintf(buf, len, "a byte in the padding after the tar end");
	else if (r.entry != r.entry_name)
		snprintf(buf, len, "a byte in %s", r.entry);
	else
		snprintf(buf, len, "a byte in entry %s", r.entry);
	rv_err_clear();
	reader_free(&r);
	free(res);
	return buf;
}

/* The sentence for a frame whose content checksum failed. Frame 1 holds only
 * manifest.json. */
static int checksum_fail(struct reader *r)
{
	char entry[128];
	const char *in = r->frame == 1 ? "a byte in entry manifest.json"
				       : entry_of_changed_byte(r->st, r->name, entry, sizeof entry);
	return rv_fail(-EBADMSG, "%s is corrupt: %s has changed (the checksum of zstd frame %d, from byte %llu of the file, does not match)",
		       r->where, in, r->frame, (unsigned long long)r->frame_start);
}

int snap_artifact_read(struct store *st, const char *name, snap_db_cb db_cb, void *ud,
		       struct snap_read_result *res)
{
	struct reader r;
	int rc;
	memset(res, 0, sizeof *res);
	if ((rc = reader_init(&r, st, name, false)) < 0)
		return rc;
	rc = run(&r, false, db_cb, ud, res);
	if (rc == 0) {
		uint8_t md[EVP_MAX_MD_SIZE];
		unsigned len = 0;
		EVP_DigestFinal_ex(r.file_sha, md, &len);
		rv_hex(md, 32, res->file_sha256);
		res->file_size = r.age ? r.raw_off : r.in_off;
		rc = cross_check(&r, res);
	} else if (r.checksum_wrong) {
		rc = checksum_fail(&r);
	}
	reader_free(&r);
	return rc;
}

int snap_artifact_read_head(struct store *st, const char *name, struct snap_manifest *m)
{
	struct reader r;
	struct snap_read_result *res = rv_xcalloc(1, sizeof *res);
	int rc;
	if ((rc = reader_init(&r, st, name, false)) < 0) {
		free(res);
		return rc;
	}
	rc = run(&r, true, NULL, NULL, res);
	if (rc < 0 && r.checksum_wrong)
		rc = checksum_fail(&r);
	if (rc == 0)
		*m = res->head;
	reader_free(&r);
	free(res);
	return rc;
}
