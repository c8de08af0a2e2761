/* boltdb.c - the keys an etcd db (a snapshot's snapshot.db, or a member's db) holds,
 * read from its bbolt file without starting etcd.
 *
 * etcd keeps every revision in the bbolt bucket "key": the key of an entry is its
 * revision, 8-byte big-endian main revision, '_', 8-byte big-endian sub revision, and
 * a 't' after them when the entry is a tombstone (a delete); its value is the
 * mvccpb.KeyValue protobuf of the key as that revision left it (a tombstone's has
 * only the key). The state of the keyspace at revision R is, for each key, its entry
 * with the highest revision not beyond R, unless that one is a tombstone. The
 * bucket is in revision order, so a prefix's keys are found by walking all of it;
 * the walk touches each page once through a read-only map (the kernel pages it in
 * and out, so a large db costs address space, not memory), and what it returns
 * points into the map. A compaction removes the entries below its revision that
 * later ones hide: the bucket "meta" says up to where (finishedCompactRev), and a
 * state older than that cannot be read.
 *
 * bbolt layout (go.etcd.io/bbolt, little-endian): every page starts with
 * {id u64, flags u16, count u16, overflow u32}; a page spans overflow + 1 pages of
 * the file. Pages 0 and 1 hold a meta {magic, version, page_size, flags u32; root
 * {pgid, sequence u64}; freelist, pgid, txid, checksum u64} whose checksum is FNV-1a
 * 64 of the bytes before it; the valid meta with the higher txid is current. Branch
 * elements are {pos, ksize u32, pgid u64}, leaf elements {flags, pos, ksize, vsize
 * u32}; pos counts from the element. A bucket's value is {root pgid, sequence u64},
 * followed by an inline page when root is 0. Every offset, size and page id read
 * from the file is checked before use, and a walk visits at most as many pages as
 * the file has, so a damaged db is refused (-EBADMSG), never followed in a loop. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/snapshot.h"

#define BOLT_MAGIC 0xED0CDAEDu
#define PAGE_HDR 16
#define ELEM 16
#define F_BRANCH 0x01
#define F_LEAF 0x02
#define F_BUCKET 0x01
#define REV_LEN 17 /* main '_' sub */

struct bolt {
	const uint8_t *p;
	size_t len;
	uint32_t page_size;
};

struct snap_db {
	struct bolt b;
	char path[512];
	const uint8_t *keys; /* the "key" bucket's root page (NULL: empty bucket) */
	size_t keys_avail;
	const uint8_t *meta; /* the "meta" bucket's root page, NULL when absent */
	size_t meta_avail;
};

static uint16_t u16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static uint32_t u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static uint64_t u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}
static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* A page of the file: its header and how many bytes it spans (overflow pages
 * included, never beyond the file). NULL when pgid is outside the file or the page
 * does not say it is pgid. */
static const uint8_t *page_at(const struct bolt *b, uint64_t pgid, size_t *avail)
{
	if (b->page_size == 0 || pgid >= b->len / b->page_size)
		return NULL;
	size_t off = (size_t)pgid * b->page_size;
	const uint8_t *pg = b->p + off;
	if (off + PAGE_HDR > b->len || u64(pg) != pgid)
		return NULL;
	uint64_t span = ((uint64_t)u32(pg + 12) + 1) * b->page_size;
	*avail = span < b->len - off ? (size_t)span : b->len - off;
	return pg;
}

static bool meta_valid(const uint8_t *m, uint64_t *txid, uint64_t *root, uint32_t *page_size)
{
	/* FNV-1a 64 over the 56 bytes before the checksum. */
	uint64_t h = 0xcbf29ce484222325ULL;
	for (int i = 0; i < 56; i++) {
		h ^= m[i];
		h *= 0x100000001b3ULL;
	}
	if (u32(m) != BOLT_MAGIC || u32(m + 4) != 2 || h != u64(m + 56))
		return false;
	*page_size = u32(m + 8);
	*root = u64(m + 16);
	*txid = u64(m + 48);
	return true;
}

/* Element i of a page, checked to lie within avail bytes; key and value out. */
static bool element(const uint8_t *pg, size_t avail, unsigned i, bool leaf, const uint8_t **key, uint32_t *klen,
		    const uint8_t **val, uint32_t *vlen, uint32_t *flags, uint64_t *child)
{
	size_t e = PAGE_HDR + (size_t)i * ELEM;
	if (e + ELEM > avail)
		return false;
	const uint8_t *el = pg + e;
	uint32_t pos, ks, vs = 0;
	if (leaf) {
		*flags = u32(el);
		pos = u32(el + 4);
		ks = u32(el + 8);
		vs = u32(el + 12);
	} else {
		pos = u32(el);
		ks = u32(el + 4);
		*child = u64(el + 8);
	}
	if ((uint64_t)e + pos + ks + vs > avail)
		return false;
	*key = el + pos;
	*klen = ks;
	if (leaf) {
		*val = el + pos + ks;
		*vlen = vs;
	}
	return true;
}

static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : al < bl ? -1 : al > bl ? 1 : 0;
}

/* The leaf value of key in the tree at pg (bucket: only a bucket entry; else
 * only a plain one). 0, -ENOENT, or -EBADMSG. */
static int lookup(const struct bolt *b, const uint8_t *pg, size_t avail, const uint8_t *key, size_t klen,
		  bool bucket, const uint8_t **val, uint32_t *vlen, int depth)
{
	if (depth > 64 || !pg || avail < PAGE_HDR)
		return -EBADMSG;
	uint16_t flags = u16(pg + 8), count = u16(pg + 10);
	if (flags & F_BRANCH) {
		/* The last child whose first key is <= key. */
		uint64_t target = 0;
		bool have = false;
		for (unsigned i = 0; i < count; i++) {
			const uint8_t *k, *v;
			uint32_t kl, vl, fl;
			uint64_t child;
			if (!element(pg, avail, i, false, &k, &kl, &v, &vl, &fl, &child))
				return -EBADMSG;
			if (keycmp(k, kl, key, klen) > 0)
				break;
			target = child;
			have = true;
		}
		if (!have)
			return -ENOENT;
		size_t a2 = 0;
		const uint8_t *next = page_at(b, target, &a2);
		return next ? lookup(b, next, a2, key, klen, bucket, val, vlen, depth + 1) : -EBADMSG;
	}
	if (!(flags & F_LEAF))
		return -EBADMSG;
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *k;
		uint32_t kl, fl;
		uint64_t child;
		if (!element(pg, avail, i, true, &k, &kl, val, vlen, &fl, &child))
			return -EBADMSG;
		if (kl == klen && memcmp(k, key, klen) == 0 && !!(fl & F_BUCKET) == bucket)
			return 0;
	}
	return -ENOENT;
}

/* The root page of a bucket named name in the top-level tree: NULL page (and 0)
 * for an empty inline bucket's page, -ENOENT when there is no such bucket. */
static int bucket_root(const struct bolt *b, const uint8_t *root, size_t root_avail, const char *name,
		       const uint8_t **pg, size_t *avail)
{
	const uint8_t *val;
	uint32_t vlen;
	int r = lookup(b, root, root_avail, (const uint8_t *)name, strlen(name), true, &val, &vlen, 0);
	if (r < 0)
		return r;
	if (vlen < 16)
		return -EBADMSG;
	uint64_t broot = u64(val);
	if (broot == 0) { /* inline bucket: the page follows the header */
		if (vlen - 16 < PAGE_HDR)
			return -EBADMSG;
		*pg = val + 16;
		*avail = vlen - 16;
		return 0;
	}
	*pg = page_at(b, broot, avail);
	return *pg ? 0 : -EBADMSG;
}

/* Every leaf element of a tree, in key order. */
struct walk {
	const struct bolt *b;
	size_t budget; /* pages left to visit: more than the file has is a loop */
	int (*leaf)(const uint8_t *k, uint32_t kl, const uint8_t *v, uint32_t vl, uint32_t flags, void *ud);
	void *ud;
};

static int walk_page(struct walk *w, const uint8_t *pg, size_t avail, int depth)
{
	if (depth > 64 || !pg || avail < PAGE_HDR || w->budget == 0)
		return -EBADMSG;
	w->budget--;
	uint16_t flags = u16(pg + 8), count = u16(pg + 10);
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *k, *v = NULL;
		uint32_t kl, vl = 0, fl = 0;
		uint64_t child = 0;
		int r;
		if (flags & F_BRANCH) {
			size_t a2 = 0;
			if (!element(pg, avail, i, false, &k, &kl, &v, &vl, &fl, &child))
				return -EBADMSG;
			const uint8_t *next = page_at(w->b, child, &a2);
			if (!next)
				return -EBADMSG;
			r = walk_page(w, next, a2, depth + 1);
		} else if (flags & F_LEAF) {
			if (!element(pg, avail, i, true, &k, &kl, &v, &vl, &fl, &child))
				return -EBADMSG;
			r = w->leaf(k, kl, v, vl, fl, w->ud);
		} else {
			return -EBADMSG;
		}
		if (r)
			return r;
	}
	return 0;
}

/* The last key of the tree: always the last element, down to a leaf. */
static int last_key(const struct bolt *b, const uint8_t *pg, size_t avail, const uint8_t **key, uint32_t *klen,
		    int depth)
{
	if (depth > 64 || !pg || avail < PAGE_HDR)
		return -EBADMSG;
	uint16_t flags = u16(pg + 8), count = u16(pg + 10);
	const uint8_t *v;
	uint32_t vl, fl;
	uint64_t child;
	if (count == 0)
		return -ENOENT;
	if (flags & F_BRANCH) {
		size_t a2 = 0;
		if (!element(pg, avail, count - 1u, false, key, klen, &v, &vl, &fl, &child))
			return -EBADMSG;
		const uint8_t *next = page_at(b, child, &a2);
		return last_key(b, next, a2, key, klen, depth + 1);
	}
	if (!(flags & F_LEAF))
		return -EBADMSG;
	return element(pg, avail, count - 1u, true, key, klen, &v, &vl, &fl, &child) ? 0 : -EBADMSG;
}

static int bad_db(const char *path, const char *what)
{
	return rv_fail(-EBADMSG, "cannot read the etcd db %s: %s", path, what);
}

int snap_db_open(const char *path, struct snap_db **out)
{
	struct stat sb;
	struct snap_db *db;
	void *map;
	int fd, r;
	uint64_t best_tx = 0, root = 0;
	bool found = false;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return rv_fail(r, "cannot read %s: %s", path, strerror(-r));
	}
	if (sb.st_size < 2 * 4096) {
		close(fd);
		return rv_fail(-EBADMSG, "%s is too small to be an etcd db", path);
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return rv_fail(-errno, "cannot map %s: %s", path, strerror(errno));
	db = rv_xcalloc(1, sizeof *db);
	db->b.p = map;
	db->b.len = (size_t)sb.st_size;
	snprintf(db->path, sizeof db->path, "%s", path);

	/* Meta pages: page 0 at offset 0, page 1 one page size later (page 0 says the
	 * page size even when its checksum is bad). */
	const uint8_t *p = db->b.p;
	uint32_t ps0 = u32(p + PAGE_HDR) == BOLT_MAGIC ? u32(p + PAGE_HDR + 8) : 4096;
	size_t meta_off[2] = {0, ps0};
	for (int i = 0; i < 2; i++) {
		uint64_t tx, rt;
		uint32_t psz;
		if (meta_off[i] + PAGE_HDR + 64 > db->b.len)
			continue;
		if (meta_valid(p + meta_off[i] + PAGE_HDR, &tx, &rt, &psz) && (!found || tx > best_tx)) {
			found = true;
			best_tx = tx;
			root = rt;
			db->b.page_size = psz;
		}
	}
	if (!found || db->b.page_size < 512 || db->b.page_size > (1u << 20)) {
		snap_db_close(db);
		return bad_db(path, "no valid bbolt meta page (not an etcd db, or damaged)");
	}
	size_t root_avail = 0;
	const uint8_t *rootpg = page_at(&db->b, root, &root_avail);
	r = rootpg ? bucket_root(&db->b, rootpg, root_avail, "key", &db->keys, &db->keys_avail) : -EBADMSG;
	if (r == 0 && bucket_root(&db->b, rootpg, root_avail, "meta", &db->meta, &db->meta_avail) < 0)
		db->meta = NULL;
	if (r < 0) {
		snap_db_close(db);
		return bad_db(path, r == -ENOENT ? "it has no 'key' bucket (not an etcd db)"
						 : "its root page or 'key' bucket is damaged");
	}
	*out = db;
	return 0;
}

void snap_db_close(struct snap_db *db)
{
	if (!db)
		return;
	if (db->b.p)
		munmap((void *)db->b.p, db->b.len);
	free(db);
}

int snap_db_revision(struct snap_db *db, int64_t *rev)
{
	const uint8_t *key;
	uint32_t klen;
	int r = last_key(&db->b, db->keys, db->keys_avail, &key, &klen, 0);
	if (r == -ENOENT) {
		*rev = 1; /* no key was ever written: etcd starts at revision 1 */
		return 0;
	}
	if (r < 0 || klen < REV_LEN)
		return bad_db(db->path, "the last entry of its 'key' bucket is damaged");
	*rev = (int64_t)be64(key);
	return 0;
}

int snap_db_compact_revision(struct snap_db *db, int64_t *rev)
{
	const uint8_t *val;
	uint32_t vlen;
	static const char name[] = "finishedCompactRev";
	*rev = 0;
	if (!db->meta)
		return 0;
	int r = lookup(&db->b, db->meta, db->meta_avail, (const uint8_t *)name, sizeof name - 1, false, &val, &vlen, 0);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || vlen < 8)
		return bad_db(db->path, "its 'meta' bucket is damaged");
	*rev = (int64_t)be64(val);
	return 0;
}

int snap_db_last_revision(const char *path, int64_t *rev)
{
	struct snap_db *db;
	int r = snap_db_open(path, &db);
	if (r < 0)
		return r;
	r = snap_db_revision(db, rev);
	snap_db_close(db);
	return r;
}

/* ---- mvccpb.KeyValue ----
 * {key = 1 bytes, create_revision = 2, mod_revision = 3, version = 4 int64,
 * value = 5 bytes, lease = 6 int64}; unknown fields are skipped. */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t c = *(*p)++;
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return true;
	}
	return false;
}

static bool decode_kv(const uint8_t *p, size_t n, struct snap_db_kv *kv)
{
	const uint8_t *end = p + n;
	memset(kv, 0, sizeof *kv);
	kv->value = (const uint8_t *)"";
	while (p < end) {
		uint64_t tag, v;
		if (!varint(&p, end, &tag))
			return false;
		switch (tag & 7) {
		case 0:
			if (!varint(&p, end, &v))
				return false;
			switch (tag >> 3) {
			case 2: kv->create_revision = (int64_t)v; break;
			case 3: kv->mod_revision = (int64_t)v; break;
			case 4: kv->version = (int64_t)v; break;
			case 6: kv->lease = (int64_t)v; break;
			}
			break;
		case 2:
			if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			if (tag >> 3 == 1) {
				kv->key = p;
				kv->key_len = (size_t)v;
			} else if (tag >> 3 == 5) {
				kv->value = p;
				kv->value_len = (size_t)v;
			}
			p += v;
			break;
		case 1:
			if (end - p < 8)
				return false;
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				return false;
			p += 4;
			break;
		default:
			return false;
		}
	}
	return kv->key != NULL;
}

/* One entry of the prefix: the key as a revision left it. */
struct entry {
	struct snap_db_kv kv;
	uint64_t main, sub;
	bool tombstone;
};

struct collect {
	const uint8_t *prefix;
	size_t prefix_len;
	uint64_t upto; /* main revisions beyond are not looked at */
	struct entry *v;
	size_t n, cap;
	const struct rv_cancel *cancel;
	size_t seen;
};

static int collect_leaf(const uint8_t *k, uint32_t kl, const uint8_t *v, uint32_t vl, uint32_t flags, void *ud)
{
	struct collect *c = ud;
	struct entry e;
	if ((++c->seen & 0xffff) == 0 && rv_cancelled(c->cancel))
		return -EINTR;
	if (flags & F_BUCKET || (kl != REV_LEN && kl != REV_LEN + 1) || k[8] != '_')
		return -EBADMSG;
	e.main = be64(k);
	e.sub = be64(k + 9);
	e.tombstone = kl == REV_LEN + 1;
	if (e.tombstone && k[REV_LEN] != 't')
		return -EBADMSG;
	if (e.main > c->upto)
		return 0;
	if (!decode_kv(v, vl, &e.kv))
		return -EBADMSG;
	if (e.kv.key_len < c->prefix_len || memcmp(e.kv.key, c->prefix, c->prefix_len) != 0)
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->v = rv_xrealloc(c->v, c->cap * sizeof *c->v);
	}
	c->v[c->n++] = e;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = keycmp(x->kv.key, x->kv.key_len, y->kv.key, y->kv.key_len);
	if (c)
		return c;
	if (x->main != y->main)
		return x->main < y->main ? -1 : 1;
	return x->sub < y->sub ? -1 : x->sub > y->sub;
}

int snap_db_prefix(struct snap_db *db, const void *prefix, size_t prefix_len, int64_t revision,
		   const struct rv_cancel *cancel, struct snap_db_kv **out, size_t *n)
{
	struct collect c = {.prefix = prefix, .prefix_len = prefix_len, .cancel = cancel};
	int64_t last, compacted;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = snap_db_revision(db, &last)) < 0 || (r = snap_db_compact_revision(db, &compacted)) < 0)
		return r;
	if (revision > last)
		return rv_fail(-ERANGE, "the etcd db %s holds revisions up to %" PRId64 ", not %" PRId64, db->path, last,
			       revision);
	if (revision > 0 && revision < compacted)
		return rv_fail(-ERANGE,
			       "the etcd db %s was compacted at revision %" PRId64 ", so revision %" PRId64
			       " cannot be read from it",
			       db->path, compacted, revision);
	c.upto = revision > 0 ? (uint64_t)revision : UINT64_MAX;
	if (db->keys) {
		struct walk w = {.b = &db->b, .budget = db->b.len / db->b.page_size + 1, .leaf = collect_leaf, .ud = &c};
		r = walk_page(&w, db->keys, db->keys_avail, 0);
		if (r < 0) {
			free(c.v);
			return r == -EINTR ? rv_fail(r, "reading the etcd db %s was interrupted", db->path)
					   : bad_db(db->path, "its 'key' bucket is damaged");
		}
	}
	/* Key order, each key's revisions oldest first: the last one of each key is
	 * its state, gone when it is a tombstone. */
	if (c.n > 1)
		qsort(c.v, c.n, sizeof *c.v, entry_cmp);
	struct snap_db_kv *kvs = rv_xcalloc(c.n ? c.n : 1, sizeof *kvs);
	size_t k = 0;
	for (size_t i = 0; i < c.n; i++) {
		bool last_of_key = i + 1 == c.n || keycmp(c.v[i].kv.key, c.v[i].kv.key_len, c.v[i + 1].kv.key,
							  c.v[i + 1].kv.key_len) != 0;
		if (last_of_key && !c.v[i].tombstone)
			kvs[k++] = c.v[i].kv;
	}
	free(c.v);
	*out = kvs;
	*n = k;
	return 0;
}
