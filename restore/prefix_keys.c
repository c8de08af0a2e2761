/* prefix_keys.c - the keys under one prefix from one source: an artifact or a plain
 * db file (read in place by snapshot/boltdb.c, no etcd started), or the live cluster
 * (one paged read at one revision). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "restore/restore_impl.h"

static int from_db(const char *path, const char *prefix, size_t len, const struct rv_cancel *cancel,
		   struct prefix_keys *out)
{
	int r = snap_db_open(path, &out->db);
	if (r == 0)
		r = snap_db_revision(out->db, &out->revision);
	if (r == 0)
		r = snap_db_prefix(out->db, prefix, len, 0, cancel, &out->kvs, &out->n);
	return r;
}

int prefix_keys_db_file(const char *path, const char *prefix, size_t len, const struct rv_cancel *cancel,
			struct prefix_keys *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->what, sizeof out->what, "the db file %s", path);
	out->kind = "db-file";
	int r = from_db(path, prefix, len, cancel, out);
	if (r < 0)
		prefix_keys_free(out);
	return r;
}

int prefix_keys_artifact(struct store *st, const char *name, const char *tmp_dir, const char *prefix, size_t len,
			 const struct rv_cancel *cancel, struct prefix_keys *out)
{
	char dir[PATH_MAX], db[PATH_MAX + 16];
	int r;

	memset(out, 0, sizeof *out);
	out->kind = "artifact";
	if ((r = snap_resolve(st, name, out->artifact, sizeof out->artifact)) < 0)
		return r;
	snprintf(out->what, sizeof out->what, "artifact %s", out->artifact);
	if ((r = rv_mkdir_p(tmp_dir, 0700)) < 0)
		return r;
	/* A scratch file beside the state, not in /tmp (often a small tmpfs): the db is
	 * as large as the cluster's. Mapped, then removed at once, so nothing is left
	 * behind however the process ends after that. */
	snprintf(dir, sizeof dir, "%s/prefix-read-XXXXXX", tmp_dir);
	if (!mkdtemp(dir))
		return rv_fail(-errno, "cannot create a scratch directory under %s: %s", tmp_dir, strerror(errno));
	snprintf(db, sizeof db, "%s/snapshot.db", dir);
	const struct rv_cancel *was = store_set_cancel(st, cancel);
	r = snap_fetch(st, out->artifact, db, NULL);
	store_set_cancel(st, was);
	if (r == 0)
		r = from_db(db, prefix, len, cancel, out);
	unlink(db);
	rmdir(dir);
	if (r < 0) {
		char keep[256];
		snprintf(keep, sizeof keep, "%s", out->artifact);
		prefix_keys_free(out);
		snprintf(out->artifact, sizeof out->artifact, "%s", keep);
		out->kind = "artifact";
	}
	return r;
}

struct live_ctx {
	struct prefix_keys *k;
	size_t cap;
};

static int live_cb(const struct etcd_kv *kv, void *ud)
{
	struct live_ctx *c = ud;
	struct prefix_keys *k = c->k;
	if (k->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		k->kvs = rv_xrealloc(k->kvs, c->cap * sizeof *k->kvs);
		k->owned = rv_xrealloc(k->owned, c->cap * sizeof *k->owned);
	}
	uint8_t *mem = malloc(kv->key_len + kv->value_len + 1);
	if (!mem)
		return -ENOMEM;
	memcpy(mem, kv->key, kv->key_len);
	if (kv->value_len)
		memcpy(mem + kv->key_len, kv->value, kv->value_len);
	k->owned[k->n] = mem;
	k->kvs[k->n] = (struct snap_db_kv){
		.key = mem,
		.key_len = kv->key_len,
		.value = mem + kv->key_len,
		.value_len = kv->value_len,
		.create_revision = kv->create_revision,
		.mod_revision = kv->mod_revision,
		.version = kv->version,
		.lease = kv->lease,
	};
	k->n++;
	return 0;
}

int prefix_keys_live(etcd_client *c, const char *prefix, size_t len, struct prefix_keys *out)
{
	size_t end_len;
	memset(out, 0, sizeof *out);
	snprintf(out->what, sizeof out->what, "the live cluster");
	out->kind = "live";
	uint8_t *end = etcd_prefix_end(prefix, len, &end_len);
	struct etcd_range_req req = {.key = len ? prefix : "\0", .key_len = len ? len : 1, .range_end = end,
				     .range_end_len = end_len};
	struct live_ctx ctx = {.k = out};
	int r = etcd_range_each(c, ETCD_ANY, &req, 1000, live_cb, &ctx, &out->revision);
	free(end);
	if (r < 0) {
		prefix_keys_free(out);
		return r == -ENOMEM ? rv_fail(r, "out of memory reading the keys under %s", prefix)
				    : rv_fail_wrap(r, "cannot read the keys under %s from the live cluster", prefix);
	}
	return 0;
}

void prefix_keys_free(struct prefix_keys *k)
{
	if (k->owned)
		for (size_t i = 0; i < k->n; i++)
			free(k->owned[i]);
	free(k->owned);
	free(k->kvs);
	snap_db_close(k->db);
	if (k->point) {
		rs_point_free(k->point);
		free(k->point);
	}
	k->point = NULL;
	k->owned = NULL;
	k->kvs = NULL;
	k->db = NULL;
	k->n = 0;
}
