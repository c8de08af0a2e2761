/* segment_name.c - segment names and the listing of chains:
 * <chain>.seg-r<first>-r<last>-t<first_ms>-t<last_ms>-<writer>.rvseg.zst[.age], the
 * revisions zero-padded to 20 digits and the times to 13, so that the names of one
 * chain sort by revision. The chain is the base artifact's name without its suffix;
 * the writer (a member name) comes last because it may contain '-'. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/snapshot.h"

void seg_name_format(const char *chain, int64_t first, int64_t last, int64_t first_ms, int64_t last_ms,
		     const char *writer, char *out, size_t len)
{
	snprintf(out, len, "%s" SEG_NAME_MARK "%020lld-r%020lld-t%013lld-t%013lld-%s" SEG_SUFFIX, chain, (long long)first,
		 (long long)last, (long long)first_ms, (long long)last_ms, writer && *writer ? writer : "unknown");
}

static bool digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

int seg_name_parse(const char *name, struct seg_info *out)
{
	size_t len = strlen(name), sl;
	const char *mark = NULL, *p;
	bool enc = rv_str_has_suffix(name, SEG_SUFFIX_AGE);
	memset(out, 0, sizeof *out);
	sl = strlen(enc ? SEG_SUFFIX_AGE : SEG_SUFFIX);
	if (len <= sl || len >= sizeof out->name || (!enc && !rv_str_has_suffix(name, SEG_SUFFIX)))
		return -EINVAL;
	for (p = strstr(name, SEG_NAME_MARK); p; p = strstr(p + 1, SEG_NAME_MARK))
		mark = p;
	if (!mark || mark == name || (size_t)(mark - name) >= sizeof out->chain)
		return -EINVAL;
	p = mark + strlen(SEG_NAME_MARK);
	/* 20 digits -r 20 digits -t 13 -t 13 - writer */
	if (strlen(p) < 20 + 2 + 20 + 2 + 13 + 2 + 13 + 1 + 1 + sl || !digits(p, 20) || strncmp(p + 20, "-r", 2) ||
	    !digits(p + 22, 20) || strncmp(p + 42, "-t", 2) || !digits(p + 44, 13) || strncmp(p + 57, "-t", 2) ||
	    !digits(p + 59, 13) || p[72] != '-')
		return -EINVAL;
	out->first = strtoll(p, NULL, 10);
	out->last = strtoll(p + 22, NULL, 10);
	out->first_ms = strtoll(p + 44, NULL, 10);
	out->last_ms = strtoll(p + 59, NULL, 10);
	size_t wl = (size_t)(name + len - sl - (p + 73));
	if (wl == 0 || wl >= sizeof out->writer || out->first < 1 || out->last < out->first)
		return -EINVAL;
	memcpy(out->writer, p + 73, wl);
	memcpy(out->chain, name, (size_t)(mark - name));
	snprintf(out->name, sizeof out->name, "%s", name);
	out->encrypted = enc;
	return 0;
}

bool seg_is_name(const char *name)
{
	struct seg_info i;
	return seg_name_parse(name, &i) == 0;
}

static int by_chain_first(const void *a, const void *b)
{
	const struct seg_info *x = a, *y = b;
	int c = strcmp(x->chain, y->chain);
	if (c)
		return c;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if (x->last != y->last)
		return x->last < y->last ? -1 : 1;
	return strcmp(x->writer, y->writer);
}

void seg_sort(struct seg_info *v, size_t n)
{
	if (n)
		qsort(v, n, sizeof *v, by_chain_first);
}

int seg_list(struct store *st, struct seg_info **out, size_t *n)
{
	struct store_object *objs;
	size_t nobj, cnt = 0;
	int r = store_list(st, &objs, &nobj);
	if (r < 0)
		return r;
	struct seg_info *v = rv_xcalloc(nobj ? nobj : 1, sizeof *v);
	for (size_t i = 0; i < nobj; i++) {
		if (seg_name_parse(objs[i].name, &v[cnt]) == 0) {
			v[cnt].size = objs[i].size;
			cnt++;
		}
	}
	store_objects_free(objs, nobj);
	seg_sort(v, cnt);
	*out = v;
	*n = cnt;
	return 0;
}

void seg_chain_range(const struct seg_info *v, size_t n, const char *chain, size_t *start, size_t *count)
{
	size_t i = 0;
	while (i < n && strcmp(v[i].chain, chain) != 0)
		i++;
	*start = i;
	while (i < n && strcmp(v[i].chain, chain) == 0)
		i++;
	*count = i - *start;
}

int seg_chain_check(struct store *st, const struct seg_info *v, size_t n, int64_t base_revision,
		    bool verify_contents, const struct age_keys *keys, int64_t *reach, int64_t *reach_ms,
		    size_t *unchecked)
{
	int64_t at = base_revision, at_ms = 0;
	size_t skipped = 0;
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].first > at + 1) {
			r = rv_fail(-EBADMSG,
				    "chain %s has a hole: revisions %lld to %lld are in no segment (segment %s starts "
				    "after them); a restore can reach revision %lld at most",
				    v[i].chain, (long long)(at + 1), (long long)(v[i].first - 1), v[i].name,
				    (long long)at);
			break;
		}
		if (verify_contents && v[i].encrypted && !age_keys_can_decrypt(keys)) {
			skipped++; /* a host with only the recipients: the name is all it can check */
		} else if (verify_contents) {
			struct seg_contents c;
			if ((r = seg_read(st, v[i].name, keys, &c)) < 0)
				break;
			seg_contents_free(&c);
		}
		if (v[i].last > at) {
			at = v[i].last;
			at_ms = v[i].last_ms;
		}
	}
	if (reach)
		*reach = at;
	if (reach_ms)
		*reach_ms = at_ms;
	if (unchecked)
		*unchecked = skipped;
	return r;
}
