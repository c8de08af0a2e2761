/* store_impl.h - private to the snapshot module: what a store implementation
 * provides. Each implementation embeds struct store (or struct store_writer) as its
 * first member; store.c picks the implementation by URL and forwards calls. */
#ifndef REGVAULT_STORE_IMPL_H
#define REGVAULT_STORE_IMPL_H

#include "snapshot/snapshot.h"

struct store_ops {
	const char *kind; /* "local", "s3" */
	int (*open)(const struct store_spec *spec, const char *location, struct store **out);
	void (*close)(struct store *s);
	int (*put_begin)(struct store *s, const char *name, uint64_t expected_size, struct store_writer **w);
	int (*put_write)(struct store_writer *w, const void *p, size_t n);
	int (*put_commit)(struct store_writer *w);
	void (*put_abort)(struct store_writer *w);
	int (*get)(struct store *s, const char *name, uint64_t offset, uint64_t len, store_read_cb cb, void *ud);
	int (*stat)(struct store *s, const char *name, struct store_object *out);
	int (*get_many)(struct store *s, struct store_fetch *items, size_t n); /* optional */
	/* prefix (NULL: all) and start_after (NULL: from the first) narrow it, in the
	 * store's byte order, as S3's ListObjectsV2 prefix and start-after do. */
	int (*list)(struct store *s, const char *prefix, const char *start_after, struct store_object **objs,
		    size_t *n);
	int (*del)(struct store *s, const char *name);
	int (*cleanup)(struct store *s);
	void (*set_cancel)(struct store *s, const struct rv_cancel *c); /* optional */
};

struct store {
	const struct store_ops *ops;
	char *describe; /* set by store_open */
	const struct rv_cancel *cancel; /* store_set_cancel(); NULL: none */
	struct age_keys *age;       /* store.encryption; NULL: none */
	char *identity_file;        /* read into age at the first decryption */
	bool identity_loaded;
};

struct store_writer {
	struct store *store;
	store_next_name_fn next_name; /* store_put_set_next_name(); NULL: none */
	void *next_name_ud;
};

/* A store_read_cb that appends to a struct store_fetch (-EFBIG past its max). */
int store_fetch_sink(const void *p, size_t n, void *ud);

extern const struct store_ops store_local_ops;
extern const struct store_ops store_s3_ops;

#endif
