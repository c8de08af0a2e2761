/* age.c - the age file format, version 1 (age-encryption.org/v1, the C2SP spec),
 * on OpenSSL's libcrypto.
 *
 *   age-encryption.org/v1
 *   -> X25519 <base64 ephemeral share>
 *   <base64 file key wrapped with HKDF(shared, share || recipient, "age-encryption.org/v1/X25519")>
 *   --- <base64 HMAC-SHA256(HKDF(file key, "", "header"), everything up to "---")>
 *   <16-byte nonce><payload: 64 KiB chunks, ChaCha20-Poly1305 with
 *    key HKDF(file key, nonce, "payload"), nonce = 11-byte counter || last flag>
 *
 * The decryptor holds one chunk back until it knows whether another follows, so
 * only authenticated plaintext reaches its sink and a cut at a chunk boundary is
 * caught (the last chunk carries the flag). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "common/common.h"
#include "snapshot/age_impl.h"

#define AGE_V1 "age-encryption.org/v1"
#define X25519_LABEL "age-encryption.org/v1/X25519"
#define SCRYPT_LABEL "age-encryption.org/v1/scrypt"
#define SCRYPT_LOG2N_WRITE 18 /* age's default: 256 MiB while it runs */
#define CT_CHUNK (AGE_CHUNK + AGE_TAG)

struct age_keys {
	uint8_t (*pub)[32]; /* recipients */
	size_t npub;
	uint8_t (*priv)[32]; /* identities */
	uint8_t (*priv_pub)[32];
	size_t npriv;
	char *pass; /* passphrase */
	size_t passlen;
};

/* ---- base64, standard alphabet, no padding ---- */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t age_b64_encode(const uint8_t *p, size_t n, char *out)
{
	size_t k = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[k++] = B64[v >> 18];
		out[k++] = B64[(v >> 12) & 63];
		out[k++] = B64[(v >> 6) & 63];
		out[k++] = B64[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[k++] = B64[v >> 18];
		out[k++] = B64[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[k++] = B64[v >> 18];
		out[k++] = B64[(v >> 12) & 63];
		out[k++] = B64[(v >> 6) & 63];
	}
	out[k] = '\0';
	return k;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(B64, c) : NULL;
	return p ? (int)(p - B64) : -1;
}

int age_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *n)
{
	size_t k = 0, i = 0;
	if (len % 4 == 1)
		return -EINVAL;
	for (; i + 4 <= len; i += 4) {
		int a = b64_val(s[i]), b = b64_val(s[i + 1]), c = b64_val(s[i + 2]), d = b64_val(s[i + 3]);
		if (a < 0 || b < 0 || c < 0 || d < 0 || k + 3 > cap)
			return -EINVAL;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[k++] = (uint8_t)(v >> 16);
		out[k++] = (uint8_t)(v >> 8);
		out[k++] = (uint8_t)v;
	}
	if (len - i >= 2) {
		int a = b64_val(s[i]), b = b64_val(s[i + 1]), c = len - i == 3 ? b64_val(s[i + 2]) : 0;
		if (a < 0 || b < 0 || c < 0)
			return -EINVAL;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
		if (len - i == 2) {
			if ((v & 0xffff) || k + 1 > cap) /* non-canonical: unused bits set */
				return -EINVAL;
			out[k++] = (uint8_t)(v >> 16);
		} else {
			if ((v & 0xff) || k + 2 > cap)
				return -EINVAL;
			out[k++] = (uint8_t)(v >> 16);
			out[k++] = (uint8_t)(v >> 8);
		}
	}
	*n = k;
	return 0;
}

/* ---- primitives ---- */
static int hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen, const char *info,
		uint8_t *out, size_t outlen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	int ok = c && EVP_PKEY_derive_init(c) > 0 && EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) > 0 &&
		 (saltlen == 0 || EVP_PKEY_CTX_set1_hkdf_salt(c, salt, (int)saltlen) > 0) &&
		 EVP_PKEY_CTX_set1_hkdf_key(c, ikm, (int)ikmlen) > 0 &&
		 EVP_PKEY_CTX_add1_hkdf_info(c, (const unsigned char *)info, (int)strlen(info)) > 0 &&
		 EVP_PKEY_derive(c, out, &outlen) > 0;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : rv_fail(-EIO, "HKDF-SHA256 failed in libcrypto");
}

/* ChaCha20-Poly1305: out gets n bytes and the 16-byte tag (seal), or n-16 bytes
 * (open, -EBADMSG without a message when the tag does not match). */
static int aead(EVP_CIPHER_CTX *c, bool seal, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in,
		size_t n, uint8_t *out)
{
	int l = 0, l2 = 0;
	if (seal) {
		if (EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce) <= 0 ||
		    (n && EVP_EncryptUpdate(c, out, &l, in, (int)n) <= 0) || EVP_EncryptFinal_ex(c, out + l, &l2) <= 0 ||
		    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, AGE_TAG, out + n) <= 0)
			return rv_fail(-EIO, "ChaCha20-Poly1305 failed in libcrypto");
		return 0;
	}
	if (n < AGE_TAG)
		return -EBADMSG;
	n -= AGE_TAG;
	if (EVP_DecryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce) <= 0 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, AGE_TAG, (void *)(in + n)) <= 0)
		return rv_fail(-EIO, "ChaCha20-Poly1305 failed in libcrypto");
	if ((n && EVP_DecryptUpdate(c, out, &l, in, (int)n) <= 0) || EVP_DecryptFinal_ex(c, out + l, &l2) <= 0) {
		explicit_bzero(out, n);
		return -EBADMSG;
	}
	return 0;
}

static int aead1(bool seal, const uint8_t key[32], const uint8_t *in, size_t n, uint8_t *out)
{
	static const uint8_t zero[12];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int r;
	if (!c)
		abort();
	r = aead(c, seal, key, zero, in, n, out);
	EVP_CIPHER_CTX_free(c);
	return r;
}

static int x25519_pub(const uint8_t priv[32], uint8_t pub[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	size_t len = 32;
	int ok = k && EVP_PKEY_get_raw_public_key(k, pub, &len) > 0 && len == 32;
	EVP_PKEY_free(k);
	return ok ? 0 : rv_fail(-EIO, "X25519 failed in libcrypto");
}

/* -EBADMSG (no message) when the result is all zero (a low-order point). */
static int x25519(const uint8_t priv[32], const uint8_t peer[32], uint8_t out[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
	EVP_PKEY_CTX *c = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	size_t len = 32;
	uint8_t acc = 0;
	int ok = c && p && EVP_PKEY_derive_init(c) > 0 && EVP_PKEY_derive_set_peer(c, p) > 0 &&
		 EVP_PKEY_derive(c, out, &len) > 0 && len == 32;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(p);
	EVP_PKEY_free(k);
	if (!ok)
		return -EBADMSG;
	for (int i = 0; i < 32; i++)
		acc |= out[i];
	return acc ? 0 : -EBADMSG;
}

static int scrypt_key(const char *pass, size_t passlen, const uint8_t salt[16], int log2n, uint8_t key[32])
{
	uint8_t s[sizeof SCRYPT_LABEL - 1 + 16];
	uint64_t N = (uint64_t)1 << log2n;
	memcpy(s, SCRYPT_LABEL, sizeof SCRYPT_LABEL - 1);
	memcpy(s + sizeof SCRYPT_LABEL - 1, salt, 16);
	if (EVP_PBE_scrypt(pass, passlen, s, sizeof s, N, 8, 1, 128 * 8 * N + (16u << 20), key, 32) <= 0)
		return rv_fail(-ENOMEM, "scrypt with work factor %d (%llu MiB) failed in libcrypto", log2n,
			       (unsigned long long)(N * 1024 >> 20));
	return 0;
}

/* ---- keys ---- */
static int parse_recipient(const char *s, uint8_t pub[32])
{
	char hrp[16];
	size_t n = 0;
	if (age_bech32_decode(s, hrp, sizeof hrp, pub, 32, &n) < 0 || strcmp(hrp, "age") != 0 || n != 32 ||
	    strncmp(s, "age1", 4) != 0)
		return -EINVAL;
	return 0;
}

static int parse_identity(const char *s, uint8_t priv[32])
{
	char hrp[32];
	size_t n = 0;
	int r = age_bech32_decode(s, hrp, sizeof hrp, priv, 32, &n);
	if (r < 0 || strcmp(hrp, "age-secret-key-") != 0 || n != 32 || strncmp(s, "AGE-SECRET-KEY-1", 16) != 0) {
		explicit_bzero(priv, 32);
		return -EINVAL;
	}
	return 0;
}

static void add_pub(struct age_keys *k, const uint8_t pub[32])
{
	k->pub = rv_xrealloc(k->pub, (k->npub + 1) * sizeof *k->pub);
	memcpy(k->pub[k->npub++], pub, 32);
}

static char *trim(char *s)
{
	size_t n;
	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int read_recipients_file(struct age_keys *k, const char *path)
{
	char *text, *save = NULL, *line;
	size_t len, lineno = 0;
	int r = rv_read_file(path, &text, &len, 1 << 20);
	if (r < 0)
		return rv_fail(-EINVAL, "cannot read recipients file %s: %s", path, strerror(-r));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uint8_t pub[32];
		char *t = trim(line);
		lineno++;
		if (!*t || *t == '#')
			continue;
		if (parse_recipient(t, pub) < 0) {
			r = rv_fail(-EINVAL, "recipients file %s holds something that is not an age X25519 recipient (age1...) on a line of its own: %.70s",
				    path, t);
			break;
		}
		add_pub(k, pub);
	}
	free(text);
	return r;
}

int age_keys_from_config(const struct store_encryption *e, struct age_keys **out)
{
	struct age_keys *k;
	int r = 0;
	*out = NULL;
	if (!e->n_recipients && !e->recipients_file && !e->identity_file && !e->passphrase_file)
		return 0;
	if (e->passphrase_file && (e->n_recipients || e->recipients_file))
		return rv_fail(-EINVAL, "store.encryption has both a passphrase_file and recipients; the age format allows a passphrase only alone, so give one or the other");
	k = rv_xcalloc(1, sizeof *k);
	for (size_t i = 0; i < e->n_recipients; i++) {
		uint8_t pub[32];
		if (parse_recipient(e->recipients[i], pub) < 0) {
			r = rv_fail(-EINVAL, "store.encryption.recipients holds \"%.70s\", which is not an age X25519 recipient (age1...)",
				    e->recipients[i]);
			goto fail;
		}
		add_pub(k, pub);
	}
	if (e->recipients_file && (r = read_recipients_file(k, e->recipients_file)) < 0)
		goto fail;
	if (e->recipients_file && !k->npub) {
		r = rv_fail(-EINVAL, "recipients file %s holds no recipient", e->recipients_file);
		goto fail;
	}
	if (e->passphrase_file) {
		char *p = NULL;
		r = rv_check_secret_file(e->passphrase_file, "passphrase file");
		if (r == 0) {
			struct stat st;
			if (stat(e->passphrase_file, &st) == 0 && (st.st_mode & (S_IRGRP | S_IWGRP)))
				r = rv_fail(-EPERM, "passphrase file %s is readable by its group (mode %04o); restrict it with: chmod 600 %s",
					    e->passphrase_file, (unsigned)(st.st_mode & 07777), e->passphrase_file);
		}
		if (r == 0)
			r = rv_read_secret_file(e->passphrase_file, "passphrase file", &p);
		if (r < 0)
			goto fail;
		if (!*p) {
			free(p);
			r = rv_fail(-EINVAL, "passphrase file %s is empty", e->passphrase_file);
			goto fail;
		}
		k->pass = p;
		k->passlen = strlen(p);
	}
	*out = k;
	return 0;
fail:
	age_keys_free(k);
	return r;
}

int age_keys_load_identity(struct age_keys *k, const char *path)
{
	struct stat st;
	char *text, *save = NULL, *line;
	size_t len, found = 0;
	int r;

	if (stat(path, &st) < 0)
		return rv_fail(-errno, "cannot read identity file %s: %s", path, strerror(errno));
	if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH))
		return rv_fail(-EPERM, "identity file %s may be read by other users (mode %04o); restrict it with: chmod 600 %s",
			       path, (unsigned)(st.st_mode & 07777), path);
	r = rv_read_file(path, &text, &len, 1 << 20);
	if (r < 0)
		return rv_fail(r, "cannot read identity file %s: %s", path, strerror(-r));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uint8_t priv[32], pub[32];
		char *t = trim(line);
		if (!*t || *t == '#')
			continue;
		if (parse_identity(t, priv) < 0) {
			r = rv_fail(-EINVAL, "identity file %s holds a line that is not an age X25519 identity (AGE-SECRET-KEY-1...)", path);
			break;
		}
		if ((r = x25519_pub(priv, pub)) < 0)
			break;
		k->priv = rv_xrealloc(k->priv, (k->npriv + 1) * sizeof *k->priv);
		k->priv_pub = rv_xrealloc(k->priv_pub, (k->npriv + 1) * sizeof *k->priv_pub);
		memcpy(k->priv[k->npriv], priv, 32);
		memcpy(k->priv_pub[k->npriv], pub, 32);
		k->npriv++;
		found++;
		explicit_bzero(priv, sizeof priv);
	}
	explicit_bzero(text, len);
	free(text);
	if (r == 0 && !found)
		r = rv_fail(-EINVAL, "identity file %s holds no identity", path);
	return r;
}

bool age_keys_can_encrypt(const struct age_keys *k)
{
	return k && (k->npub || k->pass);
}

bool age_keys_can_decrypt(const struct age_keys *k)
{
	return k && (k->npriv || k->pass);
}

void age_keys_free(struct age_keys *k)
{
	if (!k)
		return;
	if (k->priv)
		explicit_bzero(k->priv, k->npriv * sizeof *k->priv);
	if (k->pass)
		explicit_bzero(k->pass, k->passlen);
	free(k->pub);
	free(k->priv);
	free(k->priv_pub);
	free(k->pass);
	free(k);
}

int age_keygen(char *identity, size_t ilen, char *recipient, size_t rlen)
{
	uint8_t priv[32], pub[32];
	int r;
	if (RAND_bytes(priv, 32) != 1)
		return rv_fail(-EIO, "the random generator of libcrypto failed");
	r = x25519_pub(priv, pub);
	if (r == 0 && (age_bech32_encode("AGE-SECRET-KEY-", priv, 32, true, identity, ilen) < 0 ||
		       age_bech32_encode("age", pub, 32, false, recipient, rlen) < 0))
		r = rv_fail(-ENAMETOOLONG, "no room for the key");
	explicit_bzero(priv, sizeof priv);
	return r;
}

int age_identity_recipient(const char *identity, char *recipient, size_t rlen)
{
	uint8_t priv[32], pub[32];
	int r = parse_identity(identity, priv);
	if (r < 0)
		return rv_fail(-EINVAL, "that is not an age X25519 identity (AGE-SECRET-KEY-1...)");
	r = x25519_pub(priv, pub);
	explicit_bzero(priv, sizeof priv);
	if (r == 0 && age_bech32_encode("age", pub, 32, false, recipient, rlen) < 0)
		r = rv_fail(-ENAMETOOLONG, "no room for the recipient");
	return r;
}

/* ---- the payload (STREAM) ---- */
static void stream_nonce(uint64_t counter, bool last, uint8_t nonce[12])
{
	memset(nonce, 0, 12);
	for (int i = 0; i < 8; i++)
		nonce[10 - i] = (uint8_t)(counter >> (8 * i));
	nonce[11] = last ? 1 : 0;
}

/* ---- encryption ---- */
struct age_enc {
	age_sink_fn sink;
	void *ud;
	EVP_CIPHER_CTX *c;
	uint8_t key[32]; /* payload key */
	uint64_t counter;
	uint8_t *buf; /* plaintext chunk */
	size_t len;
	uint8_t *out; /* ciphertext chunk */
	bool finished;
};

static void body_lines(struct rv_buf *h, const uint8_t *body, size_t n)
{
	char b[512];
	size_t len = age_b64_encode(body, n, b), i = 0;
	for (;;) {
		size_t l = len - i < 64 ? len - i : 64;
		rv_buf_append(h, b + i, l);
		rv_buf_append(h, "\n", 1);
		i += l;
		if (l < 64)
			break;
	}
}

static int x25519_stanza(struct rv_buf *h, const uint8_t pub[32], const uint8_t file_key[16])
{
	uint8_t eph[32], share[32], shared[32], salt[64], wrap[32], body[32];
	char b[64];
	int r;
	if (RAND_bytes(eph, 32) != 1)
		return rv_fail(-EIO, "the random generator of libcrypto failed");
	if ((r = x25519_pub(eph, share)) < 0)
		goto out;
	if ((r = x25519(eph, pub, shared)) < 0) {
		r = rv_fail(-EINVAL, "an age recipient is not a usable X25519 public key");
		goto out;
	}
	memcpy(salt, share, 32);
	memcpy(salt + 32, pub, 32);
	if ((r = hkdf(shared, 32, salt, 64, X25519_LABEL, wrap, 32)) < 0 || (r = aead1(true, wrap, file_key, 16, body)) < 0)
		goto out;
	age_b64_encode(share, 32, b);
	rv_buf_printf(h, "-> X25519 %s\n", b);
	body_lines(h, body, 32);
out:
	explicit_bzero(eph, sizeof eph);
	explicit_bzero(shared, sizeof shared);
	explicit_bzero(wrap, sizeof wrap);
	return r;
}

static int scrypt_stanza(struct rv_buf *h, const struct age_keys *k, const uint8_t file_key[16])
{
	uint8_t salt[16], key[32], body[32];
	char b[32];
	int r;
	if (RAND_bytes(salt, 16) != 1)
		return rv_fail(-EIO, "the random generator of libcrypto failed");
	if ((r = scrypt_key(k->pass, k->passlen, salt, SCRYPT_LOG2N_WRITE, key)) == 0 &&
	    (r = aead1(true, key, file_key, 16, body)) == 0) {
		age_b64_encode(salt, 16, b);
		rv_buf_printf(h, "-> scrypt %s %d\n", b, SCRYPT_LOG2N_WRITE);
		body_lines(h, body, 32);
	}
	explicit_bzero(key, sizeof key);
	return r;
}

int age_enc_new(const struct age_keys *k, age_sink_fn sink, void *ud, struct age_enc **out)
{
	struct rv_buf h = {0};
	uint8_t file_key[16], mac_key[32], mac[32], nonce[16];
	unsigned maclen = 32;
	char b[64];
	struct age_enc *e;
	int r = 0;

	*out = NULL;
	if (!age_keys_can_encrypt(k))
		return rv_fail(-EINVAL, "no age recipient or passphrase to encrypt for");
	if (RAND_bytes(file_key, 16) != 1 || RAND_bytes(nonce, 16) != 1)
		return rv_fail(-EIO, "the random generator of libcrypto failed");
	rv_buf_printf(&h, "%s\n", AGE_V1);
	if (k->pass)
		r = scrypt_stanza(&h, k, file_key);
	for (size_t i = 0; r == 0 && !k->pass && i < k->npub; i++)
		r = x25519_stanza(&h, k->pub[i], file_key);
	if (r == 0)
		r = hkdf(file_key, 16, NULL, 0, "header", mac_key, 32);
	if (r < 0)
		goto out;
	rv_buf_append(&h, "---", 3);
	HMAC(EVP_sha256(), mac_key, 32, (const uint8_t *)h.data, h.len, mac, &maclen);
	age_b64_encode(mac, 32, b);
	rv_buf_printf(&h, " %s\n", b);
	rv_buf_append(&h, nonce, 16);

	e = rv_xcalloc(1, sizeof *e);
	e->sink = sink;
	e->ud = ud;
	e->c = EVP_CIPHER_CTX_new();
	if (!e->c)
		abort();
	e->buf = rv_xmalloc(AGE_CHUNK);
	e->out = rv_xmalloc(CT_CHUNK);
	if ((r = hkdf(file_key, 16, nonce, 16, "payload", e->key, 32)) < 0 || (r = sink(h.data, h.len, ud)) < 0) {
		age_enc_free(e);
		goto out;
	}
	*out = e;
out:
	explicit_bzero(file_key, sizeof file_key);
	explicit_bzero(mac_key, sizeof mac_key);
	rv_buf_free(&h);
	return r;
}

static int enc_chunk(struct age_enc *e, bool last)
{
	uint8_t nonce[12];
	int r;
	stream_nonce(e->counter, last, nonce);
	if ((r = aead(e->c, true, e->key, nonce, e->buf, e->len, e->out)) < 0)
		return r;
	if ((r = e->sink(e->out, e->len + AGE_TAG, e->ud)) < 0)
		return r;
	e->counter++;
	e->len = 0;
	return 0;
}

int age_enc_write(struct age_enc *e, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		size_t take;
		int r;
		if (e->len == AGE_CHUNK && (r = enc_chunk(e, false)) < 0) /* more follows: not the last */
			return r;
		take = AGE_CHUNK - e->len < n ? AGE_CHUNK - e->len : n;
		memcpy(e->buf + e->len, b, take);
		e->len += take;
		b += take;
		n -= take;
	}
	return 0;
}

int age_enc_finish(struct age_enc *e)
{
	if (e->finished)
		return 0;
	e->finished = true;
	return enc_chunk(e, true);
}

void age_enc_free(struct age_enc *e)
{
	if (!e)
		return;
	explicit_bzero(e->key, sizeof e->key);
	explicit_bzero(e->buf, AGE_CHUNK);
	EVP_CIPHER_CTX_free(e->c);
	free(e->buf);
	free(e->out);
	free(e);
}

/* ---- decryption ---- */
struct age_dec {
	const struct age_keys *k;
	char where[512];
	age_sink_fn sink;
	void *ud;
	EVP_CIPHER_CTX *c;
	struct rv_buf hdr; /* until the header is complete */
	size_t scanned;
	bool in_payload;
	uint8_t nonce[16];
	size_t nonce_len;
	uint8_t key[32];
	uint64_t counter;
	uint8_t *buf; /* one ciphertext chunk held back */
	size_t len;
	uint8_t *out;
	int err; /* a failure is final */
};

int age_dec_new(const struct age_keys *k, const char *where, age_sink_fn sink, void *ud, struct age_dec **out)
{
	struct age_dec *d = rv_xcalloc(1, sizeof *d);
	d->k = k;
	snprintf(d->where, sizeof d->where, "%s", where);
	d->sink = sink;
	d->ud = ud;
	d->c = EVP_CIPHER_CTX_new();
	if (!d->c)
		abort();
	d->buf = rv_xmalloc(CT_CHUNK);
	d->out = rv_xmalloc(AGE_CHUNK);
	*out = d;
	return 0;
}

void age_dec_free(struct age_dec *d)
{
	if (!d)
		return;
	explicit_bzero(d->key, sizeof d->key);
	explicit_bzero(d->out, AGE_CHUNK);
	EVP_CIPHER_CTX_free(d->c);
	rv_buf_free(&d->hdr);
	free(d->buf);
	free(d->out);
	free(d);
}

static int bad_header(struct age_dec *d, const char *why)
{
	return rv_fail(-EBADMSG, "%s is damaged: its age header %s", d->where, why);
}

struct stanza {
	const char *type;
	const char *args[4];
	int nargs;
	uint8_t body[128];
	size_t body_len;
	bool too_big;
};

/* One line starting at *p (ending before end): NUL-terminated in place. NULL when
 * there is no newline. */
static char *next_line(char **p, char *end)
{
	char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
	if (!nl)
		return NULL;
	*nl = '\0';
	*p = nl + 1;
	return s;
}

static bool arg_ok(const char *a)
{
	if (!*a)
		return false;
	for (; *a; a++)
		if ((unsigned char)*a < 33 || (unsigned char)*a > 126)
			return false;
	return true;
}

static int unwrap_x25519(struct age_dec *d, const struct stanza *s, uint8_t file_key[16], bool *found)
{
	uint8_t share[32], shared[32], salt[64], wrap[32];
	size_t n = 0;
	if (s->nargs != 1 || age_b64_decode(s->args[0], strlen(s->args[0]), share, 32, &n) < 0 || n != 32 ||
	    strlen(s->args[0]) != 43 || s->body_len != 32)
		return bad_header(d, "holds a malformed X25519 stanza");
	for (size_t i = 0; i < d->k->npriv && !*found; i++) {
		int r = x25519(d->k->priv[i], share, shared);
		if (r < 0)
			return bad_header(d, "holds an X25519 stanza with a share that is not a usable key");
		memcpy(salt, share, 32);
		memcpy(salt + 32, d->k->priv_pub[i], 32);
		if ((r = hkdf(shared, 32, salt, 64, X25519_LABEL, wrap, 32)) < 0)
			return r;
		if (aead1(false, wrap, s->body, 32, file_key) == 0)
			*found = true;
		else
			rv_err_clear();
	}
	explicit_bzero(shared, sizeof shared);
	explicit_bzero(wrap, sizeof wrap);
	return 0;
}

static int unwrap_scrypt(struct age_dec *d, const struct stanza *s, uint8_t file_key[16], bool *found)
{
	uint8_t salt[16], key[32];
	size_t n = 0;
	const char *w;
	int log2n = 0, r;
	if (s->nargs != 2 || age_b64_decode(s->args[0], strlen(s->args[0]), salt, 16, &n) < 0 || n != 16 ||
	    s->body_len != 32)
		return bad_header(d, "holds a malformed scrypt stanza");
	w = s->args[1];
	if (!isdigit((unsigned char)w[0]) || w[0] == '0' || strlen(w) > 2)
		return bad_header(d, "holds an scrypt stanza with a malformed work factor");
	for (; *w; w++) {
		if (!isdigit((unsigned char)*w))
			return bad_header(d, "holds an scrypt stanza with a malformed work factor");
		log2n = log2n * 10 + (*w - '0');
	}
	if (!d->k->pass)
		return 0;
	if (log2n > AGE_SCRYPT_MAX_LOG2N)
		return rv_fail(-EACCES, "%s is encrypted with a passphrase at scrypt work factor %d, more than the %d regvault accepts",
			       d->where, log2n, AGE_SCRYPT_MAX_LOG2N);
	if ((r = scrypt_key(d->k->pass, d->k->passlen, salt, log2n, key)) < 0)
		return r;
	if (aead1(false, key, s->body, 32, file_key) == 0)
		*found = true;
	explicit_bzero(key, sizeof key);
	return 0;
}

/* The header is hdr[0, len): parse, unwrap the file key, check the MAC. */
static int open_header(struct age_dec *d, size_t len, size_t mac_at)
{
	char *text = rv_xmalloc(len + 1), *p = text, *end = text + len, *line;
	struct stanza *st = NULL;
	size_t nst = 0;
	uint8_t file_key[16], mac_key[32], mac[32], want[32];
	unsigned maclen = 32;
	bool found = false, any_x25519 = false, any_scrypt = false;
	int r = 0;

	memcpy(text, d->hdr.data, len);
	text[len] = '\0';
	line = next_line(&p, end);
	if (!line || strcmp(line, AGE_V1) != 0) {
		r = bad_header(d, "does not start with the line age-encryption.org/v1");
		goto out;
	}
	for (;;) {
		struct stanza *s;
		char *save = NULL, *tok;
		line = next_line(&p, end);
		if (!line) {
			r = bad_header(d, "ends without its MAC line");
			goto out;
		}
		if (strncmp(line, "---", 3) == 0)
			break;
		if (strncmp(line, "-> ", 3) != 0) {
			r = bad_header(d, "holds a line that is neither a stanza nor the MAC");
			goto out;
		}
		st = rv_xrealloc(st, (nst + 1) * sizeof *st);
		s = &st[nst++];
		memset(s, 0, sizeof *s);
		if (line[strlen(line) - 1] == ' ' || strstr(line + 3, "  ") || line[3] == ' ') {
			r = bad_header(d, "holds a stanza with an empty argument");
			goto out;
		}
		for (tok = strtok_r(line + 3, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			if (!arg_ok(tok)) {
				r = bad_header(d, "holds a stanza with a malformed argument");
				goto out;
			}
			if (!s->type)
				s->type = tok;
			else if (s->nargs < 4)
				s->args[s->nargs++] = tok;
			else
				s->too_big = true;
		}
		if (!s->type) {
			r = bad_header(d, "holds a stanza without a type");
			goto out;
		}
		/* The body: base64 lines of 64 columns, the last one shorter. */
		for (;;) {
			uint8_t tmp[48];
			size_t l, n = 0;
			line = next_line(&p, end);
			if (!line) {
				r = bad_header(d, "ends inside a stanza");
				goto out;
			}
			l = strlen(line);
			if (l > 64 || age_b64_decode(line, l, tmp, sizeof tmp, &n) < 0) {
				r = bad_header(d, "holds a stanza body that is not canonical base64 in lines of 64 columns");
				goto out;
			}
			if (s->body_len + n > sizeof s->body)
				s->too_big = true;
			else
				memcpy(s->body + s->body_len, tmp, n);
			s->body_len += n;
			if (l < 64)
				break;
		}
		if (strcmp(s->type, "X25519") == 0)
			any_x25519 = true;
		if (strcmp(s->type, "scrypt") == 0)
			any_scrypt = true;
	}
	/* line is the MAC line: "--- " and 43 characters, at mac_at. */
	if (strncmp(line, "--- ", 4) != 0 || strlen(line) != 47 ||
	    age_b64_decode(line + 4, 43, want, 32, &(size_t){0}) < 0 || p != end) {
		r = bad_header(d, "has a malformed MAC line");
		goto out;
	}
	if (nst == 0) {
		r = bad_header(d, "holds no recipient stanza");
		goto out;
	}
	if (any_scrypt && nst != 1) {
		r = bad_header(d, "holds an scrypt stanza beside others, which the format forbids");
		goto out;
	}
	for (size_t i = 0; i < nst && !found; i++) {
		if (st[i].too_big && (strcmp(st[i].type, "X25519") == 0 || strcmp(st[i].type, "scrypt") == 0)) {
			r = bad_header(d, "holds an oversized stanza");
			goto out;
		}
		if (strcmp(st[i].type, "X25519") == 0)
			r = unwrap_x25519(d, &st[i], file_key, &found);
		else if (strcmp(st[i].type, "scrypt") == 0)
			r = unwrap_scrypt(d, &st[i], file_key, &found);
		if (r < 0)
			goto out;
	}
	if (!found) {
		if (any_scrypt && !d->k->pass)
			r = rv_fail(-EACCES, "%s is encrypted with a passphrase, and no passphrase is configured", d->where);
		else if (any_scrypt)
			r = rv_fail(-EACCES, "%s cannot be opened with the passphrase given: it is wrong, or the artifact is damaged", d->where);
		else if (!d->k->npriv)
			r = rv_fail(-EACCES, "%s is encrypted for age recipients, and no identity is configured to decrypt it", d->where);
		else
			r = rv_fail(-EACCES, "%s was not made for this key: no identity opens its age header (%s), or the header is damaged",
				    d->where, any_x25519 ? "X25519 recipients" : "no X25519 recipient");
		goto out;
	}
	if ((r = hkdf(file_key, 16, NULL, 0, "header", mac_key, 32)) < 0)
		goto out;
	HMAC(EVP_sha256(), mac_key, 32, (const uint8_t *)d->hdr.data, mac_at + 3, mac, &maclen);
	if (CRYPTO_memcmp(mac, want, 32) != 0) {
		r = rv_fail(-EBADMSG, "%s is damaged: its age header does not match its MAC", d->where);
		goto out;
	}
	memcpy(d->key, file_key, 16); /* the payload key comes once the nonce is in */
out:
	explicit_bzero(file_key, sizeof file_key);
	explicit_bzero(mac_key, sizeof mac_key);
	if (st)
		explicit_bzero(st, nst * sizeof *st);
	free(st);
	free(text);
	return r;
}

static int dec_chunk(struct age_dec *d, bool last)
{
	uint8_t nonce[12];
	int r;
	if (d->len < AGE_TAG)
		return rv_fail(-EBADMSG, "%s is truncated: its encrypted payload ends inside a chunk", d->where);
	if (last && d->len == AGE_TAG && d->counter > 0)
		return rv_fail(-EBADMSG, "%s is damaged: its encrypted payload ends with an empty chunk", d->where);
	stream_nonce(d->counter, last, nonce);
	r = aead(d->c, false, d->key, nonce, d->buf, d->len, d->out);
	if (r == -EBADMSG && last && d->len == CT_CHUNK) {
		/* A full chunk at the end that is not marked last: cut at a chunk boundary. */
		stream_nonce(d->counter, false, nonce);
		if (aead(d->c, false, d->key, nonce, d->buf, d->len, d->out) == 0) {
			explicit_bzero(d->out, AGE_CHUNK);
			return rv_fail(-EBADMSG, "%s is truncated: its encrypted payload stops after chunk %llu, which is not the last",
				       d->where, (unsigned long long)d->counter + 1);
		}
	}
	if (r == -EBADMSG)
		return rv_fail(-EBADMSG, "%s is damaged: chunk %llu of its encrypted payload (from byte %llu of the payload) fails authentication",
			       d->where, (unsigned long long)d->counter + 1, (unsigned long long)d->counter * CT_CHUNK);
	if (r < 0)
		return r;
	r = d->sink(d->out, d->len - AGE_TAG, d->ud);
	explicit_bzero(d->out, d->len - AGE_TAG);
	d->counter++;
	d->len = 0;
	return r;
}

static int dec_payload(struct age_dec *d, const uint8_t *b, size_t n)
{
	int r;
	if (d->nonce_len < 16) {
		size_t take = 16 - d->nonce_len < n ? 16 - d->nonce_len : n;
		memcpy(d->nonce + d->nonce_len, b, take);
		d->nonce_len += take;
		b += take;
		n -= take;
		if (d->nonce_len == 16) {
			uint8_t fk[16];
			memcpy(fk, d->key, 16);
			r = hkdf(fk, 16, d->nonce, 16, "payload", d->key, 32);
			explicit_bzero(fk, sizeof fk);
			if (r < 0)
				return r;
		}
	}
	while (n) {
		size_t take;
		if (d->len == CT_CHUNK && (r = dec_chunk(d, false)) < 0)
			return r;
		take = CT_CHUNK - d->len < n ? CT_CHUNK - d->len : n;
		memcpy(d->buf + d->len, b, take);
		d->len += take;
		b += take;
		n -= take;
	}
	return 0;
}

int age_dec_write(struct age_dec *d, const void *p, size_t n)
{
	const uint8_t *b = p;
	if (d->err)
		return d->err;
	if (!d->in_payload) {
		size_t old = d->hdr.len, room = AGE_MAX_HEADER + 64 - old, take = n < room ? n : room, from, cmp;
		char *m, *nl = NULL;
		rv_buf_append(&d->hdr, b, take);
		cmp = d->hdr.len < sizeof AGE_V1 - 1 ? d->hdr.len : sizeof AGE_V1 - 1;
		if (memcmp(d->hdr.data, AGE_V1, cmp) != 0)
			return d->err = rv_fail(-EBADMSG, "%s is damaged or not in the age format: it does not start with age-encryption.org/v1",
						d->where);
		from = old > 5 ? old - 5 : 0;
		m = memmem(d->hdr.data + from, d->hdr.len - from, "\n---", 4);
		if (m)
			nl = memchr(m + 1, '\n', d->hdr.len - (size_t)(m + 1 - d->hdr.data));
		if (!nl) {
			if (d->hdr.len > AGE_MAX_HEADER)
				return d->err = rv_fail(-EBADMSG, "%s is damaged: its age header does not end within %u bytes",
							d->where, AGE_MAX_HEADER);
			return 0;
		}
		size_t mac_at = (size_t)(m + 1 - d->hdr.data), hlen = (size_t)(nl - d->hdr.data) + 1;
		int r = open_header(d, hlen, mac_at);
		if (r < 0)
			return d->err = r;
		d->in_payload = true;
		rv_buf_free(&d->hdr);
		d->hdr = (struct rv_buf){0};
		b += hlen - old;
		n -= hlen - old;
	}
	return d->err = dec_payload(d, b, n);
}

int age_dec_finish(struct age_dec *d)
{
	if (d->err)
		return d->err;
	if (!d->in_payload)
		return d->err = rv_fail(-EBADMSG, "%s is truncated: it ends inside its age header", d->where);
	if (d->nonce_len < 16)
		return d->err = rv_fail(-EBADMSG, "%s is truncated: it ends before its encrypted payload", d->where);
	if (d->len == 0 && d->counter == 0)
		return d->err = rv_fail(-EBADMSG, "%s is truncated: it holds no encrypted payload", d->where);
	return d->err = dec_chunk(d, true);
}
