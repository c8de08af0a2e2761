/* stage.c - the artifact as a plain etcd snapshot in the staging directory, checked
 * end to end before anything is stopped, and room for the restored copies. The
 * store is only read through the snapshot API, so a local store and S3 are alike. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore/restore_impl.h"

#define SHA_LEN 32
#define CHUNK (1u << 20)

static int copy_file(const char *from, const char *to, rv_progress_fn progress, void *progress_ud)
{
	char tmp[PATH_MAX + 16];
	char *buf;
	int in, out, r = 0;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return rv_fail(-errno, "cannot open the snapshot file %s: %s", from, strerror(errno));
	snprintf(tmp, sizeof tmp, "%s.tmp", to);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		r = rv_fail(-errno, "cannot create %s: %s", tmp, strerror(errno));
		close(in);
		return r;
	}
	buf = rv_xmalloc(CHUNK);
	struct stat sb;
	uint64_t done = 0, total = fstat(in, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	for (;;) {
		ssize_t n = read(in, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = rv_fail(-errno, "cannot read %s: %s", from, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if ((r = rv_write_all(out, buf, (size_t)n)) < 0) {
			r = rv_fail(r, "cannot write %s: %s", tmp, strerror(-r));
			break;
		}
		done += (uint64_t)n;
		if (progress)
			progress(progress_ud, "copy", done, total);
	}
	free(buf);
	close(in);
	if (r == 0 && fsync(out) < 0)
		r = rv_fail(-errno, "cannot write %s: %s", tmp, strerror(errno));
	close(out);
	if (r == 0)
		r = rs_rename(tmp, to);
	if (r < 0)
		unlink(tmp);
	return r;
}

int rs_fetch(struct store *st, const char *artifact, const char *db_file, const char *db_path, struct snap_manifest *m,
	     snap_progress_fn progress, void *progress_ud)
{
	if (db_file)
		return copy_file(db_file, db_path, progress, progress_ud);
	return snap_fetch_progress(st, artifact, db_path, m, progress, progress_ud);
}

int rs_verify_db(const char *db_path, const char *expect_sha256, uint64_t *db_size, rv_progress_fn progress,
		 void *progress_ud)
{
	struct stat sb;
	uint8_t trailer[SHA_LEN], digest[SHA_LEN];
	char hex[2 * SHA_LEN + 1];
	unsigned dlen = 0;
	uint64_t left;
	char *buf;
	int fd, r = 0;
	EVP_MD_CTX *ctx;

	fd = open(db_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		r = rv_fail(-errno, "cannot read the staged snapshot %s: %s", db_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	/* etcd's own test for a trailer (etcdctl snapshot restore does the same). */
	if (sb.st_size < 512 + SHA_LEN || (sb.st_size % 512) != SHA_LEN) {
		close(fd);
		return rv_fail(-EBADMSG,
			       "%s is not an etcd snapshot with its sha256 trailer (%lld bytes); the artifact is damaged or was "
			       "not made by etcd's snapshot stream",
			       db_path, (long long)sb.st_size);
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	buf = rv_xmalloc(CHUNK);
	left = (uint64_t)sb.st_size - SHA_LEN;
	while (left && r == 0) {
		size_t want = left < CHUNK ? (size_t)left : CHUNK, got = 0;
		r = rv_read_full(fd, buf, want, &got);
		if (r == 0 && got != want)
			r = -EIO;
		if (r < 0)
			break;
		EVP_DigestUpdate(ctx, buf, got);
		left -= got;
		if (progress)
			progress(progress_ud, "verify", (uint64_t)sb.st_size - SHA_LEN - left, (uint64_t)sb.st_size - SHA_LEN);
	}
	if (r == 0) {
		size_t got = 0;
		r = rv_read_full(fd, trailer, SHA_LEN, &got);
		if (r == 0 && got != SHA_LEN)
			r = -EIO;
	}
	EVP_DigestFinal_ex(ctx, digest, &dlen);
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
	if (r < 0)
		return rv_fail(r, "cannot read the staged snapshot %s: %s", db_path, strerror(-r));
	if (memcmp(digest, trailer, SHA_LEN) != 0)
		return rv_fail(-EBADMSG, "the staged snapshot %s fails its sha256 check (the db bytes do not match etcd's trailer); "
				       "the artifact is damaged",
			       db_path);
	rv_hex(trailer, SHA_LEN, hex);
	if (expect_sha256 && *expect_sha256 && strcasecmp(hex, expect_sha256) != 0)
		return rv_fail(-EBADMSG, "the staged snapshot %s has sha256 %s but its manifest says %s; the artifact is damaged",
			       db_path, hex, expect_sha256);
	if (db_size)
		*db_size = (uint64_t)sb.st_size - SHA_LEN;
	return 0;
}

int rs_check_space(const struct restore_plan *p, uint64_t db_size)
{
	/* Each restored member holds a copy of the db plus a WAL (64 MB preallocated). */
	const uint64_t per_member = db_size + (80u << 20);
	for (size_t i = 0; i < p->n_members; i++) {
		uint64_t need = 0, free_b = 0;
		char dir[PATH_MAX];
		rs_parent(p->members[i].staged_dir, dir, sizeof dir);
		for (size_t j = 0; j < p->n_members; j++) {
			char other[PATH_MAX];
			bool same = false;
			rs_parent(p->members[j].staged_dir, other, sizeof other);
			if (rv_same_fs(dir, other, &same) == 0 && same)
				need += per_member;
		}
		if (rv_fs_free_bytes(dir, &free_b) < 0)
			continue;
		if (free_b < need) {
			char a[32], b[32];
			return rv_fail(-ENOSPC, "not enough space for the restored data dirs beside %s: %s needed, %s free",
				       p->members[i].data_dir, rv_fmt_bytes(need, a, sizeof a), rv_fmt_bytes(free_b, b, sizeof b));
		}
	}
	return 0;
}

int rs_check_staged(const char *db_path, const struct snap_manifest *m, uint64_t *db_size)
{
	struct stat sb;
	uint8_t trailer[SHA_LEN];
	char hex[2 * SHA_LEN + 1];
	int fd, r;

	fd = open(db_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		r = rv_fail(-errno, "cannot read the staged snapshot %s: %s", db_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	r = sb.st_size >= 512 + SHA_LEN && (sb.st_size % 512) == SHA_LEN ? 0 : -EBADMSG;
	if (r == 0 && (pread(fd, trailer, SHA_LEN, sb.st_size - SHA_LEN) != SHA_LEN))
		r = -EIO;
	close(fd);
	if (r == -EIO)
		return rv_fail(r, "cannot read the trailer of the staged snapshot %s", db_path);
	if (r < 0)
		return rv_fail(r, "the staged snapshot %s is not an etcd snapshot with its sha256 trailer (%lld bytes)", db_path,
			       (long long)sb.st_size);
	rv_hex(trailer, SHA_LEN, hex);
	if (m->sha256[0] && strcasecmp(hex, m->sha256) != 0)
		return rv_fail(-EBADMSG, "the staged snapshot %s ends in sha256 %s but the manifest says %s", db_path, hex,
			       m->sha256);
	if (m->db_size > 0 && (uint64_t)sb.st_size - SHA_LEN != (uint64_t)m->db_size)
		return rv_fail(-EBADMSG, "the staged snapshot %s holds %lld db bytes but the manifest says %lld", db_path,
			       (long long)sb.st_size - SHA_LEN, (long long)m->db_size);
	if (db_size)
		*db_size = (uint64_t)sb.st_size - SHA_LEN;
	return 0;
}
