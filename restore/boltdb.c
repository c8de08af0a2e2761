/* boltdb.c - the revision an etcd snapshot really holds, read from its bbolt file.
 *
 * The manifest's revision comes from a Status call made just before the snapshot
 * stream starts, so a write in between makes the db newer than the manifest says.
 * The check after a restore needs the db's own revision: the main revision of the
 * last key in etcd's "key" bucket (keys are 8-byte big-endian main revision, '_',
 * 8-byte sub revision). Reading it walks one path down two B+trees: microseconds,
 * where `etcdctl snapshot status` reads the whole db.
 *
 * bbolt layout (go.etcd.io/bbolt, little-endian): every page starts with
 * {id u64, flags u16, count u16, overflow u32}; pages 0 and 1 hold a meta
 * {magic, version, page_size, flags u32; root {pgid, sequence u64}; freelist, pgid,
 * txid, checksum u64} whose checksum is FNV-1a 64 of the bytes before it; the valid
 * meta with the higher txid is current. Branch elements are {pos, ksize u32, pgid
 * u64}, leaf elements {flags, pos, ksize, vsize u32}; pos counts from the element.
 * A bucket's value is {root pgid, sequence u64}, followed by an inline page when
 * root is 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore/restore_impl.h"

#define BOLT_MAGIC 0xED0CDAEDu
#define PAGE_HDR 16
#define ELEM 16
#define F_BRANCH 0x01
#define F_LEAF 0x02
#define F_BUCKET 0x01

struct bolt {
	const uint8_t *p;
	size_t len;
	uint32_t page_size;
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

/* A page: its header and how many bytes of it are in the file. */
static const uint8_t *page_at(const struct bolt *b, uint64_t pgid, size_t *avail)
{
	if (b->page_size == 0 || pgid > b->len / b->page_size)
		return NULL;
	size_t off = (size_t)pgid * b->page_size;
	if (off + PAGE_HDR > b->len)
		return NULL;
	*avail = b->len - off;
	return b->p + off;
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

/* The value of bucket `name` in the tree rooted at pgid (or at an inline page). */
static bool find_bucket(const struct bolt *b, const uint8_t *pg, size_t avail, const char *name, const uint8_t **val,
			uint32_t *vlen, int depth)
{
	size_t nlen = strlen(name);
	if (depth > 64 || !pg)
		return false;
	uint16_t flags = u16(pg + 8), count = u16(pg + 10);
	if (flags & F_BRANCH) {
		/* The last child whose first key is <= name. */
		uint64_t target = 0;
		bool have = false;
		for (unsigned i = 0; i < count; i++) {
			const uint8_t *k, *v;
			uint32_t kl, vl, fl;
			uint64_t child;
			if (!element(pg, avail, i, false, &k, &kl, &v, &vl, &fl, &child))
				return false;
			int c = memcmp(k, name, kl < nlen ? kl : nlen);
			if (c == 0)
				c = kl < nlen ? -1 : kl > nlen ? 1 : 0;
			if (c <= 0) {
				target = child;
				have = true;
			}
		}
		size_t a2 = 0;
		const uint8_t *next = have ? page_at(b, target, &a2) : NULL;
		return next && find_bucket(b, next, a2, name, val, vlen, depth + 1);
	}
	if (!(flags & F_LEAF))
		return false;
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *k;
		uint32_t kl, fl;
		uint64_t child;
		if (!element(pg, avail, i, true, &k, &kl, val, vlen, &fl, &child))
			return false;
		if (kl == nlen && memcmp(k, name, nlen) == 0 && (fl & F_BUCKET))
			return *vlen >= 16;
	}
	return false;
}

/* The last key of the tree: always the last element, down to a leaf. */
static int last_key(const struct bolt *b, const uint8_t *pg, size_t avail, const uint8_t **key, uint32_t *klen,
		    int depth)
{
	if (depth > 64 || !pg)
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

int rs_db_last_revision(const char *path, int64_t *rev)
{
	struct stat sb;
	struct bolt b = {0};
	void *map;
	int fd, r = -EBADMSG;
	uint64_t best_tx = 0, root = 0;
	bool found = false;

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
	b.p = map;
	b.len = (size_t)sb.st_size;

	/* Meta pages: page 0 at offset 0, page 1 one page size later (page 0 says the
	 * page size even when its checksum is bad). */
	uint32_t ps0 = u32(b.p + PAGE_HDR) == BOLT_MAGIC ? u32(b.p + PAGE_HDR + 8) : 4096;
	size_t meta_off[2] = {0, ps0};
	for (int i = 0; i < 2; i++) {
		uint64_t tx, rt;
		uint32_t psz;
		if (meta_off[i] + PAGE_HDR + 64 > b.len)
			continue;
		if (meta_valid(b.p + meta_off[i] + PAGE_HDR, &tx, &rt, &psz) && (!found || tx > best_tx)) {
			found = true;
			best_tx = tx;
			root = rt;
			b.page_size = psz;
		}
	}
	if (found && b.page_size >= 512 && b.page_size <= (1u << 20)) {
		size_t avail = 0;
		const uint8_t *val, *key;
		uint32_t vlen, klen;
		const uint8_t *rootpg = page_at(&b, root, &avail);
		if (find_bucket(&b, rootpg, avail, "key", &val, &vlen, 0)) {
			uint64_t broot = u64(val);
			const uint8_t *bpg;
			if (broot == 0) { /* inline bucket: the page follows the header */
				bpg = val + 16;
				avail = vlen - 16;
				if (avail < PAGE_HDR)
					bpg = NULL;
			} else {
				bpg = page_at(&b, broot, &avail);
			}
			r = last_key(&b, bpg, avail, &key, &klen, 0);
			if (r == -ENOENT) {
				*rev = 1; /* no key was ever written: etcd starts at revision 1 */
				r = 0;
			} else if (r == 0 && klen >= 8) {
				uint64_t main = 0;
				for (int i = 0; i < 8; i++)
					main = main << 8 | key[i];
				*rev = (int64_t)main;
			} else {
				r = -EBADMSG;
			}
		}
	}
	munmap(map, b.len);
	if (r < 0)
		return rv_fail(r, "cannot find the revision in the etcd db %s (no valid bbolt meta page or no 'key' bucket)",
			       path);
	return 0;
}
