/* Unit tests for the age format (snapshot/age.c, bech32.c): Bech32 keys, the
 * X25519 and scrypt stanzas, STREAM chunk boundaries, and what a wrong key, a
 * changed header, a cut or a changed chunk give. Interop with the age tool itself
 * is in tests/it/25-encryption.sh. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "snapshot/age_impl.h"
#include "tests/unit/unit.h"

static int sink_buf(const void *p, size_t n, void *ud)
{
	return rv_buf_append(ud, p, n);
}

/* A keys object from one identity string (written to a 0600 file). */
static struct age_keys *keys_with(const char *recipient, const char *identity, const char *pass)
{
	struct store_encryption e = {0};
	char *rcp[1] = {(char *)recipient};
	char path[] = "/tmp/rv-unit-age-XXXXXX";
	struct age_keys *k = NULL;
	int fd;
	if (recipient) {
		e.recipients = rcp;
		e.n_recipients = 1;
	}
	if (pass) {
		fd = mkstemp(path);
		if (fd < 0 || write(fd, pass, strlen(pass)) < 0)
			abort();
		close(fd);
		e.passphrase_file = path;
	}
	if (age_keys_from_config(&e, &k) < 0)
		return NULL;
	if (pass)
		unlink(path);
	if (!k) {
		struct store_encryption none = {.identity_file = "x"};
		age_keys_from_config(&none, &k);
	}
	if (identity) {
		fd = mkstemp(path);
		if (fd < 0 || write(fd, identity, strlen(identity)) < 0 || write(fd, "\n", 1) < 0)
			abort();
		close(fd);
		int r = age_keys_load_identity(k, path);
		unlink(path);
		if (r < 0) {
			age_keys_free(k);
			return NULL;
		}
	}
	return k;
}

static int encrypt(const struct age_keys *k, const uint8_t *p, size_t n, struct rv_buf *out)
{
	struct age_enc *e;
	int r = age_enc_new(k, sink_buf, out, &e);
	if (r < 0)
		return r;
	/* In uneven pieces, to cross chunk boundaries mid-write. */
	for (size_t i = 0; r == 0 && i < n;) {
		size_t take = n - i < 7777 ? n - i : 7777;
		r = age_enc_write(e, p + i, take);
		i += take;
	}
	if (r == 0)
		r = age_enc_finish(e);
	age_enc_free(e);
	return r;
}

static int decrypt(const struct age_keys *k, const void *p, size_t n, size_t piece, struct rv_buf *out)
{
	struct age_dec *d;
	int r = age_dec_new(k, "test input", sink_buf, out, &d);
	for (size_t i = 0; r == 0 && i < n;) {
		size_t take = n - i < piece ? n - i : piece;
		r = age_dec_write(d, (const uint8_t *)p + i, take);
		i += take;
	}
	if (r == 0)
		r = age_dec_finish(d);
	age_dec_free(d);
	return r;
}

TEST(age_bech32)
{
	/* BIP 173's valid test strings. */
	static const char *valid[] = {"A12UEL5L", "a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
				      "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w"};
	char hrp[100], again[200];
	uint8_t data[100];
	size_t n;
	for (size_t i = 0; i < RV_ARRAY_LEN(valid); i++) {
		CHECK_INT(age_bech32_decode(valid[i], hrp, sizeof hrp, data, sizeof data, &n), 0);
	}
	CHECK(age_bech32_decode("A12UEL5L", hrp, sizeof hrp, data, sizeof data, &n) == 0);
	CHECK_STR(hrp, "a");
	CHECK(age_bech32_decode("a12uel5m", hrp, sizeof hrp, data, sizeof data, &n) < 0); /* checksum */
	CHECK(age_bech32_decode("A12uEL5L", hrp, sizeof hrp, data, sizeof data, &n) < 0); /* mixed case */
	CHECK(age_bech32_decode("pzry9x0s0muk", hrp, sizeof hrp, data, sizeof data, &n) < 0); /* no separator */
	/* age's keys: a generated identity gives the same recipient back. */
	char id[100], rcp[100], rcp2[100];
	CHECK_INT(age_keygen(id, sizeof id, rcp, sizeof rcp), 0);
	CHECK(strncmp(id, "AGE-SECRET-KEY-1", 16) == 0 && strlen(id) == 74);
	CHECK(strncmp(rcp, "age1", 4) == 0 && strlen(rcp) == 62);
	CHECK_INT(age_identity_recipient(id, rcp2, sizeof rcp2), 0);
	CHECK_STR(rcp, rcp2);
	CHECK_INT(age_bech32_decode(rcp, hrp, sizeof hrp, data, sizeof data, &n), 0);
	CHECK_INT(n, 32);
	CHECK_INT(age_bech32_encode("age", data, n, false, again, sizeof again), 0);
	CHECK_STR(again, rcp);
	/* A known pair from the age documentation (age-keygen's output format). */
	CHECK_INT(age_identity_recipient("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX",
					 rcp2, sizeof rcp2), 0);
	CHECK_STR(rcp2, "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj");
	rv_err_clear();
}

TEST(age_base64)
{
	uint8_t b[8];
	size_t n;
	char s[16];
	CHECK_INT(age_b64_encode((const uint8_t *)"ab", 2, s), 3);
	CHECK_STR(s, "YWI");
	CHECK_INT(age_b64_decode("YWI", 3, b, sizeof b, &n), 0);
	CHECK_INT(n, 2);
	CHECK(age_b64_decode("YWJ", 3, b, sizeof b, &n) < 0);  /* non-canonical */
	CHECK(age_b64_decode("YWI=", 4, b, sizeof b, &n) < 0); /* padding */
	CHECK(age_b64_decode("Y", 1, b, sizeof b, &n) < 0);
}

TEST(age_stream_boundaries)
{
	char id[100], rcp[100];
	static const size_t sizes[] = {0, 1, AGE_CHUNK - 1, AGE_CHUNK, AGE_CHUNK + 1, 2 * AGE_CHUNK, 3 * AGE_CHUNK + 5};
	struct age_keys *w, *r;
	uint8_t *plain = rv_xmalloc(3 * AGE_CHUNK + 5);
	for (size_t i = 0; i < 3 * AGE_CHUNK + 5; i++)
		plain[i] = (uint8_t)(i * 7 + (i >> 9));
	CHECK_INT(age_keygen(id, sizeof id, rcp, sizeof rcp), 0);
	w = keys_with(rcp, NULL, NULL);
	r = keys_with(NULL, id, NULL);
	CHECK(w && r);
	CHECK(age_keys_can_encrypt(w) && !age_keys_can_decrypt(w));
	CHECK(age_keys_can_decrypt(r));
	for (size_t s = 0; s < RV_ARRAY_LEN(sizes); s++) {
		struct rv_buf ct = {0}, pt = {0}, pt2 = {0};
		size_t nchunks = sizes[s] ? (sizes[s] + AGE_CHUNK - 1) / AGE_CHUNK : 1;
		CHECK_INT(encrypt(w, plain, sizes[s], &ct), 0);
		CHECK(strncmp(ct.data, "age-encryption.org/v1\n-> X25519 ", 32) == 0);
		char *mac = strstr(ct.data, "\n--- ");
		CHECK(mac);
		size_t hlen = (size_t)(mac - ct.data) + 1 + 48;
		CHECK_INT(ct.len, hlen + 16 + sizes[s] + nchunks * AGE_TAG);
		CHECK_INT(decrypt(r, ct.data, ct.len, 1000, &pt), 0);
		CHECK_INT(pt.len, sizes[s]);
		CHECK(sizes[s] == 0 || memcmp(pt.data, plain, sizes[s]) == 0);
		CHECK_INT(decrypt(r, ct.data, ct.len, ct.len, &pt2), 0); /* in one piece */
		CHECK_INT(pt2.len, sizes[s]);
		/* Cut anywhere in the payload: truncated, never a silent success. */
		if (sizes[s] > AGE_CHUNK) {
			struct rv_buf cut = {0};
			CHECK(decrypt(r, ct.data, hlen + 16 + (AGE_CHUNK + AGE_TAG), 4096, &cut) == -EBADMSG);
			CHECK_CONTAINS(rv_errmsg(-EBADMSG), "truncated");
			rv_buf_free(&cut);
		}
		rv_buf_free(&ct);
		rv_buf_free(&pt);
		rv_buf_free(&pt2);
	}
	age_keys_free(w);
	age_keys_free(r);
	free(plain);
	rv_err_clear();
}

TEST(age_tampering)
{
	char id[100], rcp[100], id2[100], rcp2[100];
	struct age_keys *w, *r, *other;
	uint8_t plain[100000];
	struct rv_buf ct = {0}, pt = {0};
	size_t hlen;
	memset(plain, 'x', sizeof plain);
	CHECK_INT(age_keygen(id, sizeof id, rcp, sizeof rcp), 0);
	CHECK_INT(age_keygen(id2, sizeof id2, rcp2, sizeof rcp2), 0);
	w = keys_with(rcp, NULL, NULL);
	r = keys_with(NULL, id, NULL);
	other = keys_with(NULL, id2, NULL);
	CHECK(w && r && other);
	CHECK_INT(encrypt(w, plain, sizeof plain, &ct), 0);
	hlen = (size_t)(strstr(ct.data, "\n--- ") - ct.data) + 1 + 48;
	/* the wrong key */
	CHECK_INT(decrypt(other, ct.data, ct.len, 65536, &pt), -EACCES);
	CHECK_CONTAINS(rv_errmsg(-EACCES), "not made for this key");
	CHECK_INT(pt.len, 0);
	/* no identity at all */
	CHECK_INT(decrypt(w, ct.data, ct.len, 65536, &pt), -EACCES);
	CHECK_CONTAINS(rv_errmsg(-EACCES), "no identity");
	/* a changed byte in the header's stanza body / its MAC */
	ct.data[hlen - 60] ^= 1;
	CHECK(decrypt(r, ct.data, ct.len, 65536, &pt) < 0);
	ct.data[hlen - 60] ^= 1;
	ct.data[hlen - 10] = ct.data[hlen - 10] == 'A' ? 'B' : 'A';
	CHECK_INT(decrypt(r, ct.data, ct.len, 65536, &pt), -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "does not match its MAC");
	rv_buf_free(&ct);
	CHECK_INT(encrypt(w, plain, sizeof plain, &ct), 0);
	/* a changed nonce, a changed byte in the first and the last chunk */
	size_t at[] = {hlen + 3, hlen + 16 + 100, ct.len - 5};
	for (size_t i = 0; i < RV_ARRAY_LEN(at); i++) {
		pt.len = 0;
		ct.data[at[i]] ^= 0x40;
		CHECK_INT(decrypt(r, ct.data, ct.len, 65536, &pt), -EBADMSG);
		CHECK_CONTAINS(rv_errmsg(-EBADMSG), "fails authentication");
		CHECK(pt.len <= AGE_CHUNK); /* nothing unauthenticated went out */
		ct.data[at[i]] ^= 0x40;
	}
	/* truncated: in the header, in the nonce, inside the last chunk */
	size_t cuts[] = {10, hlen - 1, hlen + 8, ct.len - 1, hlen + 16 + 10};
	for (size_t i = 0; i < RV_ARRAY_LEN(cuts); i++) {
		pt.len = 0;
		CHECK_INT(decrypt(r, ct.data, cuts[i], 65536, &pt), -EBADMSG);
	}
	/* bytes after the end */
	rv_buf_append(&ct, "zz", 2);
	CHECK_INT(decrypt(r, ct.data, ct.len, 65536, &pt), -EBADMSG);
	/* not age at all */
	CHECK_INT(decrypt(r, "hello world, this is a plain file", 33, 5, &pt), -EBADMSG);
	CHECK_CONTAINS(rv_errmsg(-EBADMSG), "not in the age format");
	rv_buf_free(&ct);
	rv_buf_free(&pt);
	age_keys_free(w);
	age_keys_free(r);
	age_keys_free(other);
	rv_err_clear();
}

TEST(age_scrypt)
{
	struct age_keys *k = keys_with(NULL, NULL, "correct horse"), *bad = keys_with(NULL, NULL, "wrong horse");
	struct rv_buf ct = {0}, pt = {0};
	CHECK(k && bad);
	CHECK_INT(encrypt(k, (const uint8_t *)"secret", 6, &ct), 0);
	CHECK(strncmp(ct.data, "age-encryption.org/v1\n-> scrypt ", 32) == 0);
	CHECK_INT(decrypt(k, ct.data, ct.len, 100, &pt), 0);
	CHECK_INT(pt.len, 6);
	CHECK_INT(decrypt(bad, ct.data, ct.len, 100, &pt), -EACCES);
	rv_buf_free(&ct);
	rv_buf_free(&pt);
	age_keys_free(k);
	age_keys_free(bad);
	/* a passphrase together with recipients is refused */
	struct store_encryption e = {0};
	char *rcp[1] = {"age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"};
	struct age_keys *x = NULL;
	e.recipients = rcp;
	e.n_recipients = 1;
	e.passphrase_file = "/nonexistent";
	CHECK_INT(age_keys_from_config(&e, &x), -EINVAL);
	rcp[0] = "age1notakey";
	e.passphrase_file = NULL;
	CHECK_INT(age_keys_from_config(&e, &x), -EINVAL);
	rv_err_clear();
}

TEST(age_identity_file_mode)
{
	char path[] = "/tmp/rv-unit-age-XXXXXX", id[100], rcp[100];
	struct age_keys *k = keys_with("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj", NULL, NULL);
	int fd = mkstemp(path);
	CHECK(fd >= 0 && k);
	CHECK_INT(age_keygen(id, sizeof id, rcp, sizeof rcp), 0);
	CHECK(write(fd, "# created: today\n", 17) == 17 && write(fd, id, strlen(id)) > 0);
	close(fd);
	chmod(path, 0644);
	CHECK_INT(age_keys_load_identity(k, path), -EPERM);
	CHECK_CONTAINS(rv_errmsg(-EPERM), "chmod 600");
	chmod(path, 0600);
	CHECK_INT(age_keys_load_identity(k, path), 0);
	CHECK(age_keys_can_decrypt(k));
	unlink(path);
	age_keys_free(k);
	rv_err_clear();
}

/* ---- the C2SP age test suite (tests/unit/age-testkit) ---- */
#include <dirent.h>
#include <openssl/evp.h>

static int write_secret(const char *text, char *path)
{
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
	return chmod(path, 0600);
}

/* 0 when the vector's outcome is what it expects; -1 with why otherwise. */
static int run_vector(const char *dir, const char *file, char *why, size_t len)
{
	char path[512], *text = NULL, ids[4096] = "", pass[256] = "", expect[64] = "", payload[65] = "";
	size_t n = 0, hdr_end;
	struct age_keys *k = NULL;
	struct rv_buf out = {0};
	int r, ok = -1;

	snprintf(path, sizeof path, "%s/%s", dir, file);
	if (rv_read_file(path, &text, &n, 1 << 20) < 0)
		return snprintf(why, len, "cannot read"), -1;
	char *blank = strstr(text, "\n\n");
	if (!blank)
		return free(text), snprintf(why, len, "no blank line"), -1;
	hdr_end = (size_t)(blank - text) + 2;
	for (char *line = text; line < blank + 1;) {
		char *nl = strchr(line, '\n');
		*nl = '\0';
		if (strncmp(line, "expect: ", 8) == 0)
			snprintf(expect, sizeof expect, "%s", line + 8);
		else if (strncmp(line, "payload: ", 9) == 0)
			snprintf(payload, sizeof payload, "%s", line + 9);
		else if (strncmp(line, "identity: ", 10) == 0)
			snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s\n", line + 10);
		else if (strncmp(line, "passphrase: ", 12) == 0)
			snprintf(pass, sizeof pass, "%s", line + 12);
		line = nl + 1;
	}
	{
		struct store_encryption e = {0};
		char pp[] = "/tmp/rv-unit-tk-XXXXXX", ip[] = "/tmp/rv-unit-tk-XXXXXX";
		if (pass[0]) {
			write_secret(pass, pp);
			e.passphrase_file = pp;
		} else {
			e.identity_file = ip;
		}
		r = age_keys_from_config(&e, &k);
		if (pass[0])
			unlink(pp);
		if (r == 0 && !pass[0]) {
			if (!ids[0]) { /* a vector without one: any identity */
				char rc[100];
				age_keygen(ids, sizeof ids - 1, rc, sizeof rc);
				strcat(ids, "\n");
			}
			write_secret(ids, ip);
			r = age_keys_load_identity(k, ip);
			unlink(ip);
		}
		if (r < 0) {
			snprintf(why, len, "keys: %s", rv_errmsg(r));
			goto out;
		}
	}
	r = decrypt(k, text + hdr_end, n - hdr_end, 4096, &out);
	if (strcmp(expect, "success") == 0) {
		uint8_t md[32];
		char hex[65];
		EVP_Digest(out.data ? out.data : "", out.len, md, NULL, EVP_sha256(), NULL);
		rv_hex(md, 32, hex);
		if (r < 0)
			snprintf(why, len, "expected success: %s", rv_errmsg(r));
		else if (payload[0] && strcmp(hex, payload) != 0)
			snprintf(why, len, "payload sha256 %s, expected %s", hex, payload);
		else
			ok = 0;
	} else if (r == 0) {
		snprintf(why, len, "expected %s, decrypted", expect);
	} else if (strcmp(expect, "no match") == 0 && r != -EACCES) {
		snprintf(why, len, "expected no match: %s", rv_errmsg(r));
	} else if (strcmp(expect, "payload failure") == 0 && r != -EBADMSG) {
		snprintf(why, len, "expected a payload failure: %s", rv_errmsg(r));
	} else {
		ok = 0;
	}
out:
	rv_err_clear();
	age_keys_free(k);
	rv_buf_free(&out);
	free(text);
	return ok;
}

TEST(age_c2sp_testkit)
{
	const char *dir = "tests/unit/age-testkit";
	DIR *d = opendir(dir);
	struct dirent *e;
	int count = 0, bad = 0;
	char why[600], first[800] = "";
	CHECK(d != NULL);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "LICENSE") == 0 || strcmp(e->d_name, "README") == 0)
			continue;
		count++;
		if (run_vector(dir, e->d_name, why, sizeof why) < 0) {
			if (!bad++)
				snprintf(first, sizeof first, "%s: %s", e->d_name, why);
			fprintf(stderr, "age testkit %s: %s\n", e->d_name, why);
		}
	}
	closedir(d);
	if (bad)
		unit_failed(__FILE__, __LINE__, "%d of %d vectors: first %s", bad, count, first);
	CHECK(count >= 60);
}
