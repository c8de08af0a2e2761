/* segment_index.c - a chain's index, "<chain>.rvidx", so that the segments of one
 * chain are found without listing the store: a text object
 *
 *   RVIDX1 <chain>
 *   <segment name> <size>
 *   ...
 *
 * naming, in name order, the chain's settled segments: those merging is done with
 * (their hour closed, merged as far as they go), which nothing but the removal of
 * the whole chain deletes. The merge pass rewrites it as more settle. The segments
 * after the last one it names are listed from the store by name (one chain's,
 * from that name on: S3 lists them server-side), so a chain is its index plus a
 * short tail, however long it is. An index missing, unreadable or not this chain's
 * is ignored: the chain's segments are then all listed by prefix. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/snapshot.h"
#include "snapshot/store_impl.h" /* store_fetch_sink */

#define INDEX_MAGIC "RVIDX1 "
#define INDEX_MAX (8u << 20)

void seg_index_name(const char *chain, char *out, size_t len)
{
	snprintf(out, len, "%s" SEG_INDEX_SUFFIX, chain);
}

int seg_index_read(struct store *st, const char *chain, struct seg_info **out, size_t *n)
{
	char name[300];
	struct store_fetch f = {.name = name, .max = INDEX_MAX};
	*out = NULL;
	*n = 0;
	seg_index_name(chain, name, sizeof name);
	int r = store_get(st, name, 0, 0, store_fetch_sink, &f);
	if (r == -ENOENT) {
		rv_err_clear();
		rv_buf_free(&f.data);
		return 0;
	}
	if (r < 0) {
		rv_buf_free(&f.data);
		return r;
	}
	rv_buf_append(&f.data, "", 1);
	char *text = f.data.data, *save = NULL;
	struct seg_info *v = NULL;
	size_t cnt = 0, cap = 0;
	bool ok = false;
	char *line = strtok_r(text, "\n", &save);
	if (line && strncmp(line, INDEX_MAGIC, strlen(INDEX_MAGIC)) == 0 && strcmp(line + strlen(INDEX_MAGIC), chain) == 0) {
		ok = true;
		while (ok && (line = strtok_r(NULL, "\n", &save))) {
			char *sp = strrchr(line, ' ');
			if (!sp) {
				ok = false;
				break;
			}
			*sp = 0;
			if (cnt == cap) {
				cap = cap ? cap * 2 : 64;
				v = rv_xrealloc(v, cap * sizeof *v);
			}
			char *end;
			unsigned long long size = strtoull(sp + 1, &end, 10);
			ok = seg_name_parse(line, &v[cnt]) == 0 && strcmp(v[cnt].chain, chain) == 0 && *end == 0 &&
			     (cnt == 0 || strcmp(v[cnt - 1].name, v[cnt].name) < 0);
			v[cnt].size = size;
			cnt++;
		}
	}
	rv_buf_free(&f.data);
	if (!ok) { /* not one this version wrote: the listing alone */
		free(v);
		return 0;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int seg_list_chain(struct store *st, const char *chain, struct seg_info **out, size_t *n)
{
	struct seg_info *v;
	size_t cnt;
	int r = seg_index_read(st, chain, &v, &cnt);
	if (r < 0)
		return r;
	char prefix[300];
	snprintf(prefix, sizeof prefix, "%s" SEG_NAME_MARK, chain);
	struct store_object *objs;
	size_t nobj;
	if ((r = store_list_from(st, prefix, cnt ? v[cnt - 1].name : NULL, &objs, &nobj)) < 0) {
		free(v);
		return r;
	}
	v = rv_xrealloc(v, (cnt + nobj + 1) * sizeof *v);
	for (size_t i = 0; i < nobj; i++)
		if (seg_name_parse(objs[i].name, &v[cnt]) == 0 && strcmp(v[cnt].chain, chain) == 0) {
			v[cnt].size = objs[i].size;
			cnt++;
		}
	store_objects_free(objs, nobj);
	seg_sort(v, cnt);
	*out = v;
	*n = cnt;
	return 0;
}

int seg_index_write(struct store *st, const char *chain, const struct seg_info *v, size_t n)
{
	struct rv_buf b = {0};
	char name[300];
	rv_buf_printf(&b, INDEX_MAGIC "%s\n", chain);
	for (size_t i = 0; i < n; i++)
		rv_buf_printf(&b, "%s %llu\n", v[i].name, (unsigned long long)v[i].size);
	seg_index_name(chain, name, sizeof name);
	struct store_writer *w = NULL;
	int r = store_put_begin(st, name, b.len, &w);
	if (r == 0 && (r = store_put_write(w, b.data, b.len)) == 0)
		r = store_put_commit(w);
	else if (w)
		store_put_abort(w);
	rv_buf_free(&b);
	return r < 0 ? rv_fail_wrap(r, "writing the index of chain %s failed; its segments are listed instead", chain)
		     : 0;
}
