/* prefix_diff.c - what differs between the keys of a prefix in two sources: one
 * merge over two key-sorted lists. */
#include <stdlib.h>
#include <string.h>

#include "restore/restore_impl.h"

static int kv_keycmp(const struct snap_db_kv *x, const struct snap_db_kv *y)
{
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = n ? memcmp(x->key, y->key, n) : 0;
	return c ? c : x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static bool same_value(const struct snap_db_kv *x, const struct snap_db_kv *y)
{
	return x->value_len == y->value_len && (x->value_len == 0 || memcmp(x->value, y->value, x->value_len) == 0);
}

static void add(struct prefix_diff *d, size_t *cap, enum prefix_change_kind k, const struct snap_db_kv *a,
		const struct snap_db_kv *b)
{
	if (d->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		d->v = rv_xrealloc(d->v, *cap * sizeof *d->v);
	}
	d->v[d->n++] = (struct prefix_change){.kind = k, .a = a, .b = b};
	if (k == PREFIX_ADDED)
		d->added++;
	else if (k == PREFIX_REMOVED)
		d->removed++;
	else
		d->changed++;
}

void prefix_diff_compute(const struct prefix_keys *a, const struct prefix_keys *b, struct prefix_diff *out)
{
	size_t i = 0, j = 0, cap = 0;
	memset(out, 0, sizeof *out);
	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 : kv_keycmp(&a->kvs[i], &b->kvs[j]);
		if (c < 0) {
			add(out, &cap, PREFIX_REMOVED, &a->kvs[i++], NULL);
		} else if (c > 0) {
			add(out, &cap, PREFIX_ADDED, NULL, &b->kvs[j++]);
		} else {
			if (same_value(&a->kvs[i], &b->kvs[j]))
				out->unchanged++;
			else
				add(out, &cap, PREFIX_CHANGED, &a->kvs[i], &b->kvs[j]);
			i++;
			j++;
		}
	}
}

void prefix_diff_free(struct prefix_diff *d)
{
	free(d->v);
	memset(d, 0, sizeof *d);
}

const char *prefix_change_name(enum prefix_change_kind k)
{
	return k == PREFIX_ADDED ? "added" : k == PREFIX_REMOVED ? "removed" : "changed";
}

/* Bytes for a terminal or JSON: printable ASCII as is, any other byte as \xNN, at
 * most max input bytes, then "..." and the total. */
const char *prefix_printable(const uint8_t *p, size_t n, size_t max, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;
	for (i = 0; i < n && (max == 0 || i < max) && o + 5 < len; i++) {
		uint8_t c = p[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = 0;
	if (i < n && o + 24 < len)
		snprintf(out + o, len - o, "... (%zu bytes)", n);
	return out;
}
