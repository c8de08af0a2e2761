/* snap_ops.c - what is done with artifacts once they are in a store: list, resolve
 * a name, verify, fetch, delete, prune.
 *
 * list reads each artifact's sidecar "<name>.manifest.json" (the complete manifest,
 * a few hundred bytes); when it is missing (a save killed between publishing the
 * artifact and its sidecar) it reads manifest.json from the artifact's first zstd
 * frame. It never decompresses a whole artifact. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <openssl/evp.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"
#include "snapshot/store_impl.h"

#define SIDECAR_MAX (64u << 10)

int snap_sidecar_write(struct store *st, const char *name, const struct snap_manifest *m,
		       const char *artifact_sha256, uint64_t artifact_size)
{
	char side[300];
	struct store_writer *w;
	char *mj = snap_manifest_to_json(m, true), *json;
	json_t *o = json_loads(mj, 0, NULL);
	int r;

	free(mj);
	json_object_set_new(o, "artifact_sha256", json_string(artifact_sha256));
	json_object_set_new(o, "artifact_size", json_integer((json_int_t)artifact_size));
	json = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(o);
	snap_sidecar_name(name, side, sizeof side);
	r = store_put_begin(st, side, strlen(json), &w);
	if (r == 0 && (r = store_put_write(w, json, strlen(json))) < 0)
		store_put_abort(w);
	else if (r == 0)
		r = store_put_commit(w);
	free(json);
	return r;
}

/* The manifest in a sidecar's bytes b, as read with result r. */
static int sidecar_parse(struct store *st, const char *side, int r, const struct rv_buf *b,
			 struct snap_manifest *m, char *artifact_sha256)
{
	char where[600];

	if (r == -EFBIG)
		r = rv_fail(-EBADMSG, "sidecar %s in store %s is too large to be a manifest", side,
			    store_describe(st));
	snprintf(where, sizeof where, "sidecar %s in store %s", side, store_describe(st));
	if (r == 0)
		r = snap_manifest_from_json(b->data ? b->data : "", b->len, where, m);
	if (r == 0 && artifact_sha256) {
		json_t *j = json_loadb(b->data, b->len, 0, NULL);
		const char *h = json_string_value(json_object_get(j, "artifact_sha256"));
		snprintf(artifact_sha256, 65, "%s", h && strlen(h) == 64 ? h : "");
		json_decref(j);
	}
	return r;
}

int snap_sidecar_read(struct store *st, const char *name, struct snap_manifest *m, char *artifact_sha256)
{
	char side[300];
	struct store_object o;
	struct store_fetch f = {.name = side, .max = SIDECAR_MAX};
	int r;

	snap_sidecar_name(name, side, sizeof side);
	if (store_stat(st, side, &o) < 0) {
		rv_err_clear();
		return -ENOENT;
	}
	free(o.name);
	r = store_get(st, side, 0, 0, store_fetch_sink, &f);
	r = sidecar_parse(st, side, r, &f.data, m, artifact_sha256);
	rv_buf_free(&f.data);
	return r;
}

int snap_manifest_read(struct store *st, const char *name, struct snap_manifest *m)
{
	memset(m, 0, sizeof *m);
	return snap_sidecar_read(st, name, m, NULL);
}

static void info_from_manifest(struct snap_info *si, const struct snap_manifest *m)
{
	si->m = *m;
	rv_parse_rfc3339(m->created_at, &si->created);
}

static int by_newest(const void *a, const void *b)
{
	const struct snap_info *x = a, *y = b;
	if (x->foreign != y->foreign)
		return x->foreign ? 1 : -1;
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return strcmp(y->name, x->name);
}

static bool has_object(const struct store_object *objs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(objs[i].name, name) == 0)
			return true;
	return false;
}

/* The sidecars the listing shows, read all at once: against a distant S3 one
 * after another would wait on latency for every artifact. NULL entries: no
 * sidecar listed for that object. */
static struct store_fetch **fetch_sidecars(struct store *st, const struct store_object *objs, size_t nobj,
					   struct store_fetch **items_out, size_t *nitems, char (*sides)[300])
{
	struct store_fetch **of = rv_xcalloc(nobj ? nobj : 1, sizeof *of);
	struct store_fetch *items = rv_xcalloc(nobj ? nobj : 1, sizeof *items);
	size_t k = 0;

	for (size_t i = 0; i < nobj; i++) {
		if (snap_is_sidecar(objs[i].name) || !snap_is_artifact_name(objs[i].name))
			continue;
		snap_sidecar_name(objs[i].name, sides[i], sizeof sides[i]);
		if (!has_object(objs, nobj, sides[i]))
			continue;
		items[k] = (struct store_fetch){.name = sides[i], .max = SIDECAR_MAX};
		of[i] = &items[k++];
	}
	store_get_many(st, items, k);
	*items_out = items;
	*nitems = k;
	return of;
}

int snap_list(struct store *st, struct snap_info **out, size_t *n)
{
	struct store_object *objs;
	struct store_fetch *items, **of;
	char (*sides)[300];
	size_t nobj, cnt = 0, nitems = 0;
	struct snap_info *v;
	int r = store_list(st, &objs, &nobj);

	if (r < 0)
		return r;
	v = rv_xcalloc(nobj ? nobj : 1, sizeof *v);
	sides = rv_xcalloc(nobj ? nobj : 1, sizeof *sides);
	of = fetch_sidecars(st, objs, nobj, &items, &nitems, sides);
	for (size_t i = 0; i < nobj; i++) {
		const char *name = objs[i].name;
		struct snap_info *si = &v[cnt];
		struct snap_manifest m;

		if (snap_is_sidecar(name))
			continue; /* shown with its artifact; an orphan is snap_save's to clean */
		if (seg_is_name(name) || rv_str_has_suffix(name, SEG_INDEX_SUFFIX))
			continue; /* continuous backup's segments and chain indexes: seg_list() */
		memset(si, 0, sizeof *si);
		snprintf(si->name, sizeof si->name, "%s", name);
		si->size = objs[i].size;
		si->created = objs[i].mtime;
		cnt++;
		if (!snap_is_artifact_name(name)) {
			si->foreign = true;
			snprintf(si->problem, sizeof si->problem, "not a regvault artifact (foreign file)");
			continue;
		}
		r = -ENOENT;
		if (of[i] && of[i]->result == -ENOENT) {
			r = -ENOENT; /* gone since the listing: the artifact's own manifest */
		} else if (of[i] && of[i]->result < 0 && of[i]->result != -EFBIG) {
			r = rv_fail(of[i]->result, "%s", of[i]->error ? of[i]->error : "reading the sidecar failed");
		} else if (of[i]) {
			r = sidecar_parse(st, sides[i], of[i]->result, &of[i]->data, &m, NULL);
		}
		if (r == -ENOENT)
			r = snap_artifact_read_head(st, name, &m);
		if (r < 0) {
			si->foreign = true;
			snprintf(si->problem, sizeof si->problem, "%s", rv_errmsg(r));
			rv_err_clear();
			continue;
		}
		info_from_manifest(si, &m);
	}
	store_fetches_free(items, nitems);
	free(of);
	free(sides);
	store_objects_free(objs, nobj);
	qsort(v, cnt, sizeof *v, by_newest);
	*out = v;
	*n = cnt;
	return 0;
}

int snap_resolve(struct store *st, const char *name_or_latest, char *name, size_t len)
{
	struct store_object o;
	int r;

	if (strcmp(name_or_latest, "latest") == 0) {
		struct snap_info *v;
		size_t n;
		if ((r = snap_list(st, &v, &n)) < 0)
			return r;
		r = n && !v[0].foreign ? 0
				       : rv_fail_advice(-ENOENT, RV_ADVICE_SNAPSHOT_SAVE, "store %s holds no snapshot yet",
							store_describe(st));
		if (r == 0)
			snprintf(name, len, "%s", v[0].name);
		free(v);
		return r;
	}
	if (snap_is_artifact_name(name_or_latest))
		snprintf(name, len, "%s", name_or_latest);
	else
		snprintf(name, len, "%s%s", name_or_latest, SNAP_SUFFIX);
	if (store_stat(st, name, &o) == 0) {
		free(o.name);
		return 0;
	}
	if (!snap_is_artifact_name(name_or_latest)) { /* the encrypted one */
		snprintf(name, len, "%s%s", name_or_latest, SNAP_SUFFIX_AGE);
		if (store_stat(st, name, &o) == 0) {
			free(o.name);
			return 0;
		}
		snprintf(name, len, "%s%s", name_or_latest, SNAP_SUFFIX);
	}
	/* A foreign object named exactly so (verify reports it as foreign). */
	if (store_stat(st, name_or_latest, &o) == 0) {
		free(o.name);
		snprintf(name, len, "%s", name_or_latest);
		return 0;
	}
	return rv_fail_advice(-ENOENT, RV_ADVICE_SNAPSHOT_LIST, "there is no snapshot %s in store %s", name,
			      store_describe(st));
}

static int sha_cb(const void *p, size_t n, void *ud)
{
	EVP_DigestUpdate(ud, p, n);
	return 0;
}

/* Without the identity: the encrypted file against the sha256 its sidecar
 * recorded when it was written (age authenticates every chunk, but only the
 * identity can check that). */
static int verify_encrypted_file(struct store *st, const char *name, struct snap_info *out)
{
	char file_sha[65] = "", got[65], sn[300];
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	struct snap_manifest side;
	EVP_MD_CTX *c;
	int r;

	snap_sidecar_name(name, sn, sizeof sn);
	r = snap_sidecar_read(st, name, &side, file_sha);
	if (r == -ENOENT || (r == 0 && !file_sha[0]))
		r = rv_fail(-EBADMSG, "artifact %s in store %s is encrypted and has no sidecar with its sha256 (%s), so it can be checked only with the identity",
			    name, store_describe(st), sn);
	if (r == 0) {
		info_from_manifest(out, &side);
		c = EVP_MD_CTX_new();
		if (!c)
			abort();
		EVP_DigestInit_ex(c, EVP_sha256(), NULL);
		r = store_get(st, name, 0, 0, sha_cb, c);
		EVP_DigestFinal_ex(c, md, &len);
		EVP_MD_CTX_free(c);
		rv_hex(md, 32, got);
		if (r == 0 && strcmp(got, file_sha) != 0)
			r = rv_fail(-EBADMSG, "artifact %s in store %s is damaged: its sha256 is %s but %s recorded %s when it was written",
				    name, store_describe(st), got, sn, file_sha);
		out->hash_only = r == 0;
	}
	if (r < 0)
		snprintf(out->problem, sizeof out->problem, "%s", rv_errmsg(r));
	return r;
}

int snap_verify(struct store *st, const char *name, struct snap_info *out)
{
	struct snap_read_result *res;
	struct snap_manifest side;
	struct store_object o;
	int r;

	memset(out, 0, sizeof *out);
	snprintf(out->name, sizeof out->name, "%s", name);
	if ((r = store_stat(st, name, &o)) < 0)
		return r;
	out->size = o.size;
	out->created = o.mtime;
	free(o.name);
	if (!snap_is_artifact_name(name)) {
		out->foreign = true;
		r = rv_fail(-EBADMSG, "%s in store %s is not a regvault artifact (a foreign file); move it elsewhere",
			    name, store_describe(st));
		snprintf(out->problem, sizeof out->problem, "%s", rv_errmsg(r));
		return r;
	}
	if (snap_is_encrypted_name(name) && !store_age_has_identity(st))
		return verify_encrypted_file(st, name, out);
	res = rv_xcalloc(1, sizeof *res);
	r = snap_artifact_read(st, name, NULL, NULL, res);
	if (r == 0) {
		info_from_manifest(out, &res->final);
		char file_sha[65], sn[300];
		snap_sidecar_name(name, sn, sizeof sn);
		r = snap_sidecar_read(st, name, &side, file_sha);
		if (r == -ENOENT) {
			r = 0; /* optional: list falls back to the head manifest */
		} else if (r == 0 && strcmp(side.sha256, res->final.sha256) != 0) {
			r = rv_fail(-EBADMSG, "sidecar %s in store %s does not match artifact %s (sha256 %s, artifact %s)",
				    sn, store_describe(st), name, side.sha256, res->final.sha256);
		} else if (r == 0 && file_sha[0] && strcmp(file_sha, res->file_sha256) != 0) {
			r = rv_fail(-EBADMSG, "artifact %s in store %s is corrupt: its sha256 is %s but %s recorded %s when it was written (a changed byte that zstd does not check)",
				    name, store_describe(st), res->file_sha256, sn, file_sha);
		}
	}
	if (r < 0)
		snprintf(out->problem, sizeof out->problem, "%s", rv_errmsg(r));
	free(res);
	return r;
}

struct fetch_ctx {
	int fd;
	const char *tmp;
	snap_progress_fn progress;
	void *progress_ud;
	const struct snap_read_result *res; /* its head manifest comes before the db */
	uint64_t done;
};

static int fetch_write(const void *p, size_t n, void *ud)
{
	struct fetch_ctx *f = ud;
	int r = rv_write_all(f->fd, p, n);
	if (r < 0)
		return rv_fail(r, "cannot write %s: %s", f->tmp, strerror(-r));
	f->done += n;
	if (f->progress)
		f->progress(f->progress_ud, "fetch", f->done,
			    f->res->have_head && f->res->head.db_size > 0 ? (uint64_t)f->res->head.db_size + 32 : 0);
	return 0;
}

int snap_fetch(struct store *st, const char *name, const char *dest_path, struct snap_manifest *m)
{
	return snap_fetch_progress(st, name, dest_path, m, NULL, NULL);
}

int snap_fetch_progress(struct store *st, const char *name, const char *dest_path, struct snap_manifest *m,
			snap_progress_fn progress, void *progress_ud)
{
	struct snap_read_result *res;
	struct rv_buf tmp = {0};
	struct fetch_ctx f = {.progress = progress, .progress_ud = progress_ud};
	int r;

	if (rv_path_exists(dest_path))
		return rv_fail(-EEXIST, "%s already exists; remove it or choose another file", dest_path);
	rv_buf_printf(&tmp, "%s.tmp-%ld", dest_path, (long)getpid());
	f.tmp = tmp.data;
	f.fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f.fd < 0) {
		r = rv_fail(-errno, "cannot create %s: %s", tmp.data, strerror(errno));
		rv_buf_free(&tmp);
		return r;
	}
	res = rv_xcalloc(1, sizeof *res);
	f.res = res;
	r = snap_artifact_read(st, name, fetch_write, &f, res);
	if (r == 0 && fsync(f.fd) < 0)
		r = rv_fail(-errno, "cannot flush %s to disk: %s", tmp.data, strerror(errno));
	if (close(f.fd) < 0 && r == 0)
		r = rv_fail(-errno, "cannot close %s: %s", tmp.data, strerror(errno));
	/* link(), not rename(): never replace a file that appeared meanwhile. */
	if (r == 0 && link(tmp.data, dest_path) < 0)
		r = rv_fail(-errno, "cannot create %s: %s", dest_path, strerror(errno));
	unlink(tmp.data);
	if (r == 0)
		rv_fsync_parent(dest_path);
	if (r == 0 && m)
		*m = res->final;
	free(res);
	rv_buf_free(&tmp);
	return r;
}

int snap_delete(struct store *st, const char *name)
{
	char side[300];
	int r = store_delete(st, name);
	if (r < 0)
		return r;
	snap_sidecar_name(name, side, sizeof side);
	if (snap_is_artifact_name(name) && store_delete(st, side) < 0)
		rv_err_clear(); /* no sidecar: fine */
	return 0;
}
