/* store.c - picks a store implementation by URL and forwards to it. A path or
 * file:///path is local; s3://bucket/prefix is S3. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "snapshot/snap_impl.h"
#include "snapshot/store_impl.h"

int store_open(const struct store_spec *spec, struct store **out)
{
	const char *url = spec->url;
	const struct store_ops *ops;
	const char *location;
	struct age_keys *age = NULL;
	int r;

	if (!url || !*url)
		return rv_fail_advice(-EINVAL, RV_ADVICE_STORE_URL, "no store is configured; set store.url in the configuration");
	if (strncmp(url, "s3://", 5) == 0) {
		ops = &store_s3_ops;
		location = url + 5;
	} else if (strncmp(url, "file://", 7) == 0) {
		ops = &store_local_ops;
		location = url + 7;
	} else if (strstr(url, "://")) {
		return rv_fail(-EINVAL, "store URL %s has a scheme regvault does not know; use a path, file:///path or s3://bucket/prefix", url);
	} else {
		ops = &store_local_ops;
		location = url;
	}
	if (!*location)
		return rv_fail(-EINVAL, "store URL %s names no location", url);
	if ((r = age_keys_from_config(&spec->enc, &age)) < 0)
		return r;
	r = ops->open(spec, location, out);
	if (r < 0) {
		age_keys_free(age);
		return r;
	}
	(*out)->ops = ops;
	(*out)->describe = rv_strdup(url);
	(*out)->age = age;
	(*out)->identity_file = rv_strdup(spec->enc.identity_file);
	(*out)->identity_loaded = false;
	return 0;
}

void store_close(struct store *s)
{
	char *d;
	if (!s)
		return;
	d = s->describe;
	age_keys_free(s->age);
	free(s->identity_file);
	s->ops->close(s);
	free(d);
}

const char *store_describe(const struct store *s)
{
	return s->describe;
}

const struct rv_cancel *store_set_cancel(struct store *s, const struct rv_cancel *c)
{
	const struct rv_cancel *was = s->cancel;
	s->cancel = c;
	if (s->ops->set_cancel)
		s->ops->set_cancel(s, c);
	return was;
}

int store_put_begin(struct store *s, const char *name, uint64_t expected_size, struct store_writer **w)
{
	int r = s->ops->put_begin(s, name, expected_size, w);
	if (r == 0)
		(*w)->store = s;
	return r;
}

int store_put_write(struct store_writer *w, const void *p, size_t n)
{
	return w->store->ops->put_write(w, p, n);
}

int store_put_commit(struct store_writer *w)
{
	return w->store->ops->put_commit(w);
}

void store_put_abort(struct store_writer *w)
{
	if (w)
		w->store->ops->put_abort(w);
}

void store_put_set_next_name(struct store_writer *w, store_next_name_fn fn, void *ud)
{
	w->next_name = fn;
	w->next_name_ud = ud;
}

int store_get(struct store *s, const char *name, uint64_t offset, uint64_t len, store_read_cb cb, void *ud)
{
	return s->ops->get(s, name, offset, len, cb, ud);
}

int store_fetch_sink(const void *p, size_t n, void *ud)
{
	struct store_fetch *f = ud;
	if (f->data.len + n > f->max)
		return -EFBIG;
	return rv_buf_append(&f->data, p, n);
}

/* One after another, for stores where a read costs no round trip. */
static void get_many_in_turn(struct store *s, struct store_fetch *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct store_fetch *f = &items[i];
		f->result = s->ops->get(s, f->name, 0, 0, store_fetch_sink, f);
		if (f->result < 0) {
			f->error = rv_strdup(rv_errmsg(f->result));
			rv_err_clear();
		}
	}
}

int store_get_many(struct store *s, struct store_fetch *items, size_t n)
{
	if (s->ops->get_many)
		return s->ops->get_many(s, items, n);
	get_many_in_turn(s, items, n);
	return 0;
}

void store_fetches_free(struct store_fetch *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rv_buf_free(&items[i].data);
		free(items[i].error);
	}
	free(items);
}

int store_stat(struct store *s, const char *name, struct store_object *out)
{
	return s->ops->stat(s, name, out);
}

int store_list(struct store *s, struct store_object **objs, size_t *n)
{
	return s->ops->list(s, NULL, NULL, objs, n);
}

int store_list_from(struct store *s, const char *prefix, const char *start_after, struct store_object **objs,
		    size_t *n)
{
	return s->ops->list(s, prefix, start_after, objs, n);
}

void store_objects_free(struct store_object *objs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(objs[i].name);
	free(objs);
}

int store_delete(struct store *s, const char *name)
{
	return s->ops->del(s, name);
}

int store_cleanup(struct store *s)
{
	return s->ops->cleanup(s);
}

const struct age_keys *store_age_encrypt_keys(struct store *s)
{
	return age_keys_can_encrypt(s->age) ? s->age : NULL;
}

bool store_age_has_identity(const struct store *s)
{
	return s->identity_file || age_keys_can_decrypt(s->age);
}

int store_age_decrypt_keys(struct store *s, const char *name, const struct age_keys **out)
{
	int r;
	if (s->identity_file && !s->identity_loaded) {
		if ((r = age_keys_load_identity(s->age, s->identity_file)) < 0)
			return r;
		s->identity_loaded = true;
	}
	if (!age_keys_can_decrypt(s->age))
		return rv_fail(-EACCES, "artifact %s in store %s is encrypted (age), and no identity is configured to decrypt it (store.encryption.identity_file)",
			       name, s->describe);
	*out = s->age;
	return 0;
}

int store_read_keys(struct store *s, const struct age_keys **out)
{
	int r;
	*out = NULL;
	if (s->identity_file && !s->identity_loaded) {
		if ((r = age_keys_load_identity(s->age, s->identity_file)) < 0)
			return r;
		s->identity_loaded = true;
	}
	if (age_keys_can_decrypt(s->age))
		*out = s->age;
	return 0;
}
