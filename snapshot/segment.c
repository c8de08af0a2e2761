/* segment.c - a segment's bytes: gathered in memory by the recorder, published as
 * one zstd-compressed object, read back and checked. The plain body is
 *   "RVSEG1\n", one line of JSON (the header), records, 'Z', sha256 of all before;
 * records are 'T' (revision, time) and 'E' (one event), integers little-endian
 * (docs/reference/continuous.md). A segment is a few MiB at most, so it is built
 * and read whole. With store.encryption the compressed object goes through the
 * age encryptor on its way to the store (name SEG_SUFFIX_AGE), as an artifact
 * does, and is decrypted as it is read: `age -d | zstd -d` gives the body. */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"

#define SEG_MAGIC "RVSEG1\n"
#define SEG_MAX_OBJECT (512u << 20) /* what seg_read accepts, compressed or not */

struct seg_builder {
	char chain[256], writer[64];
	int64_t base_revision;
	struct rv_buf rec; /* the records so far */
	size_t n_events, n_times;
	int64_t first, last, first_ms, last_ms;
};

static void put_u8(struct rv_buf *b, uint8_t v)
{
	rv_buf_append(b, &v, 1);
}

static void put_i64(struct rv_buf *b, int64_t v)
{
	uint8_t x[8];
	uint64_t u = (uint64_t)v;
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(u >> (8 * i));
	rv_buf_append(b, x, 8);
}

static void put_bytes(struct rv_buf *b, const uint8_t *p, size_t n)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)((uint32_t)n >> (8 * i));
	rv_buf_append(b, x, 4);
	if (n)
		rv_buf_append(b, p, n);
}

struct seg_builder *seg_builder_new(const char *chain, int64_t base_revision, const char *writer)
{
	struct seg_builder *b = rv_xcalloc(1, sizeof *b);
	snprintf(b->chain, sizeof b->chain, "%s", chain);
	snprintf(b->writer, sizeof b->writer, "%s", writer && *writer ? writer : "unknown");
	b->base_revision = base_revision;
	return b;
}

int seg_builder_add(struct seg_builder *b, const struct seg_event *e, int64_t unix_ms)
{
	if (e->revision < 1 || e->revision < b->last || e->key_len > UINT32_MAX || e->value_len > UINT32_MAX ||
	    e->prev_value_len > UINT32_MAX)
		return rv_fail(-EINVAL, "event at revision %lld cannot go into the segment of chain %s after revision %lld",
			       (long long)e->revision, b->chain, (long long)b->last);
	if (e->revision != b->last) {
		put_u8(&b->rec, 'T');
		put_i64(&b->rec, e->revision);
		put_i64(&b->rec, unix_ms);
		b->n_times++;
		if (!b->first) {
			b->first = e->revision;
			b->first_ms = unix_ms;
		}
		b->last = e->revision;
		b->last_ms = unix_ms;
	}
	put_u8(&b->rec, 'E');
	put_u8(&b->rec, (uint8_t)e->type);
	put_i64(&b->rec, e->revision);
	put_i64(&b->rec, e->create_revision);
	put_i64(&b->rec, e->version);
	put_i64(&b->rec, e->lease);
	put_bytes(&b->rec, e->key, e->key_len);
	put_bytes(&b->rec, e->value, e->value_len);
	put_u8(&b->rec, e->has_prev ? 1 : 0);
	if (e->has_prev) {
		put_i64(&b->rec, e->prev_create_revision);
		put_i64(&b->rec, e->prev_mod_revision);
		put_i64(&b->rec, e->prev_version);
		put_i64(&b->rec, e->prev_lease);
		put_bytes(&b->rec, e->prev_value, e->prev_value_len);
	}
	b->n_events++;
	return 0;
}

size_t seg_builder_events(const struct seg_builder *b)
{
	return b->n_events;
}

size_t seg_builder_bytes(const struct seg_builder *b)
{
	return b->rec.len;
}

int64_t seg_builder_last(const struct seg_builder *b)
{
	return b->last;
}

static void sha256(const void *p, size_t n, uint8_t md[32])
{
	unsigned int len = 32;
	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
}

static int seg_out(const void *p, size_t n, void *ud)
{
	return store_put_write(ud, p, n);
}

/* The compressed bytes to the store, through the encryptor when there is one. */
static int seg_put(struct store_writer *w, struct age_enc *ae, const void *p, size_t n)
{
	return ae ? age_enc_write(ae, p, n) : store_put_write(w, p, n);
}

/* Compression of the body as it is made: the records are not copied into one more
 * buffer of their size, and the output grows only to the compressed size (a merge's
 * builder holds megabytes of records: memory is what the daemon is measured on). */
struct seg_zout {
	ZSTD_CCtx *cc;
	EVP_MD_CTX *md;
	struct rv_buf z;
	int err;
};

/* end: the last piece, the sha256 itself (not hashed) */
static void zout_feed(struct seg_zout *o, const void *p, size_t n, bool end)
{
	ZSTD_inBuffer in = {p, n, 0};
	if (o->err)
		return;
	if (!end)
		EVP_DigestUpdate(o->md, p, n);
	for (;;) {
		uint8_t chunk[1 << 16];
		ZSTD_outBuffer out = {chunk, sizeof chunk, 0};
		size_t left = ZSTD_compressStream2(o->cc, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left)) {
			o->err = -EIO;
			return;
		}
		rv_buf_append(&o->z, chunk, out.pos);
		if (end ? left == 0 : in.pos == in.size)
			return;
	}
}

int seg_builder_publish(struct seg_builder *b, struct store *st, int level, char *name, size_t len)
{
	uint8_t md[32];
	unsigned mdlen = 0;
	char *hdr;
	json_t *j;
	int r;

	if (!b->n_events)
		return rv_fail(-EINVAL, "segment of chain %s has no events to publish", b->chain);
	j = json_pack("{s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:I}", "format", SEG_FORMAT, "chain", b->chain,
		      "base_revision", (json_int_t)b->base_revision, "first_revision", (json_int_t)b->first,
		      "last_revision", (json_int_t)b->last, "first_unix_ms", (json_int_t)b->first_ms,
		      "last_unix_ms", (json_int_t)b->last_ms, "writer", b->writer, "events", (json_int_t)b->n_events,
		      "times", (json_int_t)b->n_times);
	hdr = json_dumps(j, JSON_COMPACT);
	json_decref(j);

	struct seg_zout o = {.cc = ZSTD_createCCtx(), .md = EVP_MD_CTX_new()};
	ZSTD_CCtx_setParameter(o.cc, ZSTD_c_compressionLevel, level > 0 ? level : 3);
	ZSTD_CCtx_setParameter(o.cc, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setPledgedSrcSize(o.cc, strlen(SEG_MAGIC) + strlen(hdr) + 1 + b->rec.len + 1 + 32);
	EVP_DigestInit_ex(o.md, EVP_sha256(), NULL);
	zout_feed(&o, SEG_MAGIC, strlen(SEG_MAGIC), false);
	zout_feed(&o, hdr, strlen(hdr), false);
	zout_feed(&o, "\n", 1, false);
	free(hdr);
	zout_feed(&o, b->rec.data, b->rec.len, false);
	zout_feed(&o, "Z", 1, false);
	EVP_DigestFinal_ex(o.md, md, &mdlen); /* the sha256 covers everything before it */
	zout_feed(&o, md, 32, true);
	ZSTD_freeCCtx(o.cc);
	EVP_MD_CTX_free(o.md);
	if (o.err) {
		rv_buf_free(&o.z);
		return rv_fail(-EIO, "compressing the segment of chain %s failed", b->chain);
	}
	void *z = o.z.data;
	size_t zn = o.z.len;

	char nm[384];
	struct store_writer *w;
	const struct age_keys *enc = store_age_encrypt_keys(st);
	seg_name_format(b->chain, b->first, b->last, b->first_ms, b->last_ms, b->writer, nm, sizeof nm);
	if (enc && strlen(nm) + 4 >= sizeof nm) {
		free(z);
		return rv_fail(-ENAMETOOLONG, "the encrypted segment name of chain %s would be longer than %zu characters",
			       b->chain, sizeof nm - 1);
	}
	if (enc)
		strcat(nm, ".age");
	r = store_put_begin(st, nm, zn, &w);
	if (r == 0) {
		struct age_enc *ae = NULL;
		if (enc)
			r = age_enc_new(enc, seg_out, w, &ae);
		rv_test_point("segment-write");
		if (r == 0)
			r = seg_put(w, ae, z, zn / 2);
		if (r == 0) {
			rv_test_point("segment-half");
			r = seg_put(w, ae, (char *)z + zn / 2, zn - zn / 2);
		}
		if (r == 0 && ae)
			r = age_enc_finish(ae);
		age_enc_free(ae);
		if (r == 0)
			r = store_put_commit(w);
		else
			store_put_abort(w);
	}
	free(z);
	if (r < 0)
		return r;
	if (name)
		snprintf(name, len, "%s", nm);
	b->rec.len = 0;
	b->n_events = b->n_times = 0;
	b->first = b->first_ms = 0;
	/* b->last stays: the next segment goes on after it */
	return 0;
}

void seg_builder_free(struct seg_builder *b)
{
	if (!b)
		return;
	rv_buf_free(&b->rec);
	free(b);
}

/* ---- reading ---- */
struct zsink {
	ZSTD_DStream *z;
	struct rv_buf out;
	size_t frame_left;
	int err;
};

static int zsink_cb(const void *p, size_t n, void *ud)
{
	struct zsink *s = ud;
	ZSTD_inBuffer in = {p, n, 0};
	char tmp[65536];
	while (in.pos < in.size) {
		ZSTD_outBuffer o = {tmp, sizeof tmp, 0};
		size_t ret = ZSTD_decompressStream(s->z, &o, &in);
		if (ZSTD_isError(ret)) {
			s->err = 1;
			return -EBADMSG;
		}
		s->frame_left = ret;
		if (o.pos && rv_buf_append(&s->out, tmp, o.pos) < 0)
			return -ENOMEM;
		if (s->out.len > SEG_MAX_OBJECT)
			return -EFBIG;
	}
	/* drain what the decoder still holds */
	for (;;) {
		ZSTD_inBuffer none = {NULL, 0, 0};
		ZSTD_outBuffer o = {tmp, sizeof tmp, 0};
		size_t ret = ZSTD_decompressStream(s->z, &o, &none);
		if (ZSTD_isError(ret)) {
			s->err = 1;
			return -EBADMSG;
		}
		if (o.pos)
			rv_buf_append(&s->out, tmp, o.pos);
		if (o.pos < sizeof tmp)
			break;
	}
	return 0;
}

struct cursor {
	const uint8_t *p;
	size_t n, at;
	bool bad;
};

static uint8_t get_u8(struct cursor *c)
{
	if (c->at + 1 > c->n) {
		c->bad = true;
		return 0;
	}
	return c->p[c->at++];
}

static int64_t get_i64(struct cursor *c)
{
	uint64_t u = 0;
	if (c->at + 8 > c->n) {
		c->bad = true;
		return 0;
	}
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)c->p[c->at + i] << (8 * i);
	c->at += 8;
	return (int64_t)u;
}

static uint8_t *get_bytes(struct cursor *c, size_t *len)
{
	uint32_t n = 0;
	if (c->at + 4 > c->n) {
		c->bad = true;
		return NULL;
	}
	for (int i = 0; i < 4; i++)
		n |= (uint32_t)c->p[c->at + i] << (8 * i);
	c->at += 4;
	if (n > c->n - c->at) {
		c->bad = true;
		return NULL;
	}
	uint8_t *v = rv_xmalloc(n + 1);
	memcpy(v, c->p + c->at, n);
	v[n] = 0;
	c->at += n;
	*len = n;
	return v;
}

static void event_free(struct seg_event *e)
{
	free(e->key);
	free(e->value);
	free(e->prev_value);
}

void seg_contents_free(struct seg_contents *c)
{
	for (size_t i = 0; i < c->n_events; i++)
		event_free(&c->events[i]);
	free(c->events);
	free(c->times);
	memset(c, 0, sizeof *c);
}

static int parse_body(const char *name, const uint8_t *p, size_t n, struct seg_contents *out)
{
	uint8_t md[32];
	size_t ml = strlen(SEG_MAGIC), cap_e = 0, cap_t = 0;
	const uint8_t *nl;
	json_t *j;
	json_int_t first = 0, last = 0, base = 0, nev = -1;

	if (n < ml + 33 || memcmp(p, SEG_MAGIC, ml) != 0)
		return rv_fail(-EBADMSG, "segment %s is not a regvault segment (no RVSEG1 header)", name);
	sha256(p, n - 32, md);
	if (memcmp(md, p + n - 32, 32) != 0 || p[n - 33] != 'Z')
		return rv_fail(-EBADMSG, "segment %s is damaged: its sha256 does not match its contents", name);
	nl = memchr(p + ml, '\n', n - ml - 33);
	if (!nl)
		return rv_fail(-EBADMSG, "segment %s is damaged: no header line", name);
	j = json_loadb((const char *)p + ml, (size_t)(nl - p) - ml, 0, NULL);
	if (!j || json_unpack(j, "{s:I,s:I,s:I,s:I}", "first_revision", &first, "last_revision", &last,
			      "base_revision", &base, "events", &nev) != 0) {
		json_decref(j);
		return rv_fail(-EBADMSG, "segment %s is damaged: its header is not the expected JSON", name);
	}
	json_decref(j);
	out->base_revision = base;
	struct cursor c = {p, n - 33, (size_t)(nl - p) + 1, false};
	while (c.at < c.n && !c.bad) {
		uint8_t t = get_u8(&c);
		if (t == 'T') {
			if (out->n_times == cap_t) {
				cap_t = cap_t ? cap_t * 2 : 64;
				out->times = rv_xrealloc(out->times, cap_t * sizeof *out->times);
			}
			out->times[out->n_times].revision = get_i64(&c);
			out->times[out->n_times].unix_ms = get_i64(&c);
			out->n_times++;
		} else if (t == 'E') {
			if (out->n_events == cap_e) {
				cap_e = cap_e ? cap_e * 2 : 256;
				out->events = rv_xrealloc(out->events, cap_e * sizeof *out->events);
			}
			struct seg_event *e = &out->events[out->n_events];
			memset(e, 0, sizeof *e);
			e->type = get_u8(&c) ? SEG_DELETE : SEG_PUT;
			e->revision = get_i64(&c);
			e->create_revision = get_i64(&c);
			e->version = get_i64(&c);
			e->lease = get_i64(&c);
			e->key = get_bytes(&c, &e->key_len);
			e->value = get_bytes(&c, &e->value_len);
			e->has_prev = get_u8(&c) != 0;
			if (e->has_prev) {
				e->prev_create_revision = get_i64(&c);
				e->prev_mod_revision = get_i64(&c);
				e->prev_version = get_i64(&c);
				e->prev_lease = get_i64(&c);
				e->prev_value = get_bytes(&c, &e->prev_value_len);
			}
			out->n_events++;
			if (!c.bad && (e->revision < first || e->revision > last ||
				       (out->n_events > 1 && (e->revision < e[-1].revision ||
								 e->revision > e[-1].revision + 1))))
				return rv_fail(-EBADMSG, "segment %s is damaged: event at revision %lld is out of order or after a missing revision",
					       name, (long long)e->revision);
		} else {
			c.bad = true;
		}
	}
	if (c.bad || (json_int_t)out->n_events != nev || !out->n_events || out->events[0].revision != first ||
	    out->events[out->n_events - 1].revision != last)
		return rv_fail(-EBADMSG, "segment %s is damaged: its records do not match its header", name);
	return 0;
}

/* An encrypted segment: the file goes through age_dec, its plaintext to zsink. */
static int dec_cb(const void *p, size_t n, void *ud)
{
	return age_dec_write(ud, p, n);
}

int seg_read(struct store *st, const char *name, const struct age_keys *keys, struct seg_contents *out)
{
	struct zsink s = {0};
	struct age_dec *d = NULL;
	char where[512];
	int r;
	memset(out, 0, sizeof *out);
	if ((r = seg_name_parse(name, &out->info)) < 0)
		return rv_fail(-EINVAL, "%s in store %s is not a segment name", name, store_describe(st));
	if (out->info.encrypted && !age_keys_can_decrypt(keys))
		return rv_fail(-EACCES, "segment %s in store %s is encrypted (age), and no identity is configured to decrypt it (store.encryption.identity_file)",
			       name, store_describe(st));
	snprintf(where, sizeof where, "segment %s in store %s", name, store_describe(st));
	s.z = ZSTD_createDStream();
	ZSTD_initDStream(s.z);
	if (out->info.encrypted) {
		age_dec_new(keys, where, zsink_cb, &s, &d);
		r = store_get(st, name, 0, 0, dec_cb, d);
		if (r == 0)
			r = age_dec_finish(d);
		age_dec_free(d);
		if (r < 0 && !s.err && r != -EFBIG)
			goto out; /* age's or the store's sentence: damaged, not made for this key */
	} else {
		r = store_get(st, name, 0, 0, zsink_cb, &s);
	}
	if (r == -EBADMSG || (r == 0 && s.frame_left != 0))
		r = rv_fail(-EBADMSG, "segment %s in store %s is damaged: its zstd data is corrupt or cut short", name,
			    store_describe(st));
	else if (r == -EFBIG)
		r = rv_fail(-EFBIG, "segment %s in store %s is larger than %u MiB", name, store_describe(st),
			    SEG_MAX_OBJECT >> 20);
	if (r == 0)
		r = parse_body(name, (const uint8_t *)s.out.data, s.out.len, out);
	if (r == 0 && (out->events[0].revision != out->info.first ||
		       out->events[out->n_events - 1].revision != out->info.last))
		r = rv_fail(-EBADMSG, "segment %s is damaged: its name's revision range does not match its events",
			    name);
out:
	ZSTD_freeDStream(s.z);
	rv_buf_free(&s.out);
	if (r < 0)
		seg_contents_free(out);
	return r;
}

static bool same_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

bool seg_event_same(const struct seg_event *a, const struct seg_event *b)
{
	return a->type == b->type && a->revision == b->revision && same_bytes(a->key, a->key_len, b->key, b->key_len) &&
	       (a->type == SEG_DELETE || (a->create_revision == b->create_revision && a->version == b->version &&
					  a->lease == b->lease && same_bytes(a->value, a->value_len, b->value, b->value_len)));
}
