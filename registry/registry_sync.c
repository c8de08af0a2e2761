/* registry_sync.c - the GitOps sync: one pass writes the capability manifests into
 * etcd and prunes the capabilities it wrote whose manifest is gone.
 *
 * Ownership is the inventory: <state>/inventory/<ns> is written in the same Txn
 * as the capability's keys, so the sync owns exactly the namespaces listed there
 * and never touches another key under the prefix. Since that Txn also rewrites
 * the inventory key, every key the sync wrote has a mod_revision at most the
 * inventory key's: a key whose mod_revision is above it, or an owned key that is
 * gone, was changed by hand (drift) and is put back. Every Txn compares the
 * mod_revisions read, so a concurrent writer is noticed, not overwritten blindly.
 * <prefix>/<ns>/health is the heartbeat's (under a lease) and is never compared,
 * rewritten or counted here. docs/reference/registry.md. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"
#include "registry/registry_git.h"

#define RANGE_PAGE 500
/* etcd takes requests up to 1.5 MiB (--max-request-bytes); keys and values of one
 * capability stay below this, with room for the compares and framing. */
#define TXN_MAX_BYTES (1400 * 1024)

enum leaf { LEAF_METADATA, LEAF_TYPE, LEAF_VERSION, LEAF_DEPENDENCIES, N_LEAVES };
static const char *const leaf_names[N_LEAVES] = {"metadata", "type", "version", "dependencies"};

const char *sync_action_name(enum sync_action a)
{
	static const char *const names[] = {"create", "update", "delete", "unchanged", "invalid", "drift",
					    "deferred"};
	return (unsigned)a < RV_ARRAY_LEN(names) ? names[a] : "?";
}

/* One key as read. */
struct stored {
	char *value; /* NUL-terminated copy */
	size_t len;
	int64_t mod; /* 0: absent */
};

/* What etcd holds for one namespace: its leaves, its inventory key, and whether
 * other keys are under <prefix>/<ns>/ (health, or anyone's). */
struct ns_state {
	char *ns;
	struct stored leaf[N_LEAVES];
	struct stored inv;
	bool other_keys;
	bool health;
};

struct sync_ctx {
	etcd_client *c;
	const struct registry_settings *rs;
	char *prefix;     /* "<prefix>/" */
	char *inv_prefix; /* "<state>/inventory/" */
	struct ns_state *st;
	size_t n_st, cap_st;
	bool sorted;
	int64_t revision;
	struct sync_report *out;
	size_t rows_cap;
	struct rv_buf warnings;
};

static void stored_set(struct stored *s, const struct etcd_kv *kv)
{
	free(s->value);
	s->value = rv_xmalloc(kv->value_len + 1);
	memcpy(s->value, kv->value, kv->value_len);
	s->value[kv->value_len] = 0;
	s->len = kv->value_len;
	s->mod = kv->mod_revision;
}

static void stored_free(struct stored *s)
{
	free(s->value);
	memset(s, 0, sizeof *s);
}

static void ns_state_free(struct ns_state *s)
{
	free(s->ns);
	for (int i = 0; i < N_LEAVES; i++)
		stored_free(&s->leaf[i]);
	stored_free(&s->inv);
}

static int cmp_state(const void *a, const void *b)
{
	return strcmp(((const struct ns_state *)a)->ns, ((const struct ns_state *)b)->ns);
}

static struct ns_state *find_state(struct sync_ctx *x, const char *ns)
{
	if (!x->sorted) {
		if (x->n_st)
			qsort(x->st, x->n_st, sizeof *x->st, cmp_state);
		x->sorted = true;
	}
	struct ns_state key = {.ns = (char *)ns};
	return x->n_st ? bsearch(&key, x->st, x->n_st, sizeof *x->st, cmp_state) : NULL;
}

/* The state for ns, made when new (while reading; the array is sorted after). */
static struct ns_state *get_state(struct sync_ctx *x, const char *ns, size_t ns_len)
{
	/* keys come in order, so the namespace just added is the likeliest */
	if (x->n_st && strlen(x->st[x->n_st - 1].ns) == ns_len && memcmp(x->st[x->n_st - 1].ns, ns, ns_len) == 0)
		return &x->st[x->n_st - 1];
	for (size_t i = 0; i < x->n_st; i++)
		if (strlen(x->st[i].ns) == ns_len && memcmp(x->st[i].ns, ns, ns_len) == 0)
			return &x->st[i];
	if (x->n_st == x->cap_st) {
		x->cap_st = x->cap_st ? x->cap_st * 2 : 64;
		x->st = rv_xrealloc(x->st, x->cap_st * sizeof *x->st);
	}
	struct ns_state *s = &x->st[x->n_st++];
	memset(s, 0, sizeof *s);
	s->ns = rv_xmalloc(ns_len + 1);
	memcpy(s->ns, ns, ns_len);
	s->ns[ns_len] = 0;
	x->sorted = false;
	return s;
}

/* ---- reading ---- */

/* A key under the prefix: <prefix>/<ns>/<leaf>. */
static int on_capability_key(const struct etcd_kv *kv, void *ud)
{
	struct sync_ctx *x = ud;
	size_t pl = strlen(x->prefix);
	const char *k = (const char *)kv->key + pl;
	size_t kl = kv->key_len - pl;
	const char *slash = memchr(k, '/', kl);
	if (!slash || slash == k)
		return 0; /* <prefix>/foo or <prefix>//x: not a capability's key */
	size_t nl = (size_t)(slash - k);
	char ns[256];
	if (nl >= sizeof ns)
		return 0;
	memcpy(ns, k, nl);
	ns[nl] = 0;
	if (!capability_namespace_valid(ns))
		return 0;
	const char *leaf = slash + 1;
	size_t ll = kl - nl - 1;
	struct ns_state *s = get_state(x, ns, nl);
	for (int i = 0; i < N_LEAVES; i++)
		if (strlen(leaf_names[i]) == ll && memcmp(leaf, leaf_names[i], ll) == 0) {
			stored_set(&s->leaf[i], kv);
			return 0;
		}
	if (ll == 6 && memcmp(leaf, "health", 6) == 0)
		s->health = true;
	else
		s->other_keys = true;
	return 0;
}

static int on_inventory_key(const struct etcd_kv *kv, void *ud)
{
	struct sync_ctx *x = ud;
	size_t pl = strlen(x->inv_prefix);
	const char *ns = (const char *)kv->key + pl;
	size_t nl = kv->key_len - pl;
	if (nl == 0 || nl >= 256 || memchr(ns, '/', nl))
		return 0;
	struct ns_state *s = get_state(x, ns, nl);
	if (!capability_namespace_valid(s->ns))
		return 0;
	stored_set(&s->inv, kv);
	return 0;
}

static int read_prefix(struct sync_ctx *x, const char *prefix, etcd_kv_cb cb, int64_t rev, int64_t *rev_out)
{
	size_t end_len;
	uint8_t *end = etcd_prefix_end(prefix, strlen(prefix), &end_len);
	struct etcd_range_req req = {
		.key = prefix,
		.key_len = strlen(prefix),
		.range_end = end,
		.range_end_len = end_len,
		.revision = rev,
	};
	int r = etcd_range_each(x->c, ETCD_ANY, &req, RANGE_PAGE, cb, x, rev_out);
	free(end);
	return r;
}

/* Everything under the prefix and the inventory, at one revision. */
static int read_all(struct sync_ctx *x)
{
	int r = read_prefix(x, x->prefix, on_capability_key, 0, &x->revision);
	if (r < 0)
		return rv_fail_wrap(r, "cannot read the capabilities under %s", x->prefix);
	if ((r = read_prefix(x, x->inv_prefix, on_inventory_key, x->revision, NULL)) < 0)
		return rv_fail_wrap(r, "cannot read the sync's inventory under %s", x->inv_prefix);
	return 0;
}

/* One namespace again, after a Txn found it changed: its keys and inventory key
 * read in one Txn, so they are of one revision. */
static int reread_one(struct sync_ctx *x, struct ns_state *s)
{
	char *kp = NULL, *ik = NULL;
	if (asprintf(&kp, "%s%s/", x->prefix, s->ns) < 0 || asprintf(&ik, "%s%s", x->inv_prefix, s->ns) < 0)
		abort();
	size_t end_len;
	uint8_t *end = etcd_prefix_end(kp, strlen(kp), &end_len);
	struct etcd_op ops[2] = {
		{.type = ETCD_OP_RANGE, .key = kp, .key_len = strlen(kp), .range_end = end, .range_end_len = end_len},
		{.type = ETCD_OP_RANGE, .key = ik, .key_len = strlen(ik)},
	};
	struct etcd_txn_req req = {.success = ops, .n_success = 2};
	struct etcd_txn_resp resp = {0};
	int r = etcd_txn(x->c, &req, &resp);
	if (r == 0) {
		for (int i = 0; i < N_LEAVES; i++)
			stored_free(&s->leaf[i]);
		stored_free(&s->inv);
		s->health = s->other_keys = false;
		for (size_t i = 0; i < resp.resps[0].n_kvs; i++)
			on_capability_key(&resp.resps[0].kvs[i], x);
		if (resp.resps[1].n_kvs)
			stored_set(&s->inv, &resp.resps[1].kvs[0]);
	}
	etcd_txn_resp_free(&resp);
	free(end);
	free(kp);
	free(ik);
	return r;
}

/* ---- the report ---- */

static struct sync_row *add_row(struct sync_ctx *x, const char *ns, enum sync_action a, const char *keys)
{
	struct sync_report *o = x->out;
	if (o->n_rows == x->rows_cap) {
		x->rows_cap = x->rows_cap ? x->rows_cap * 2 : 64;
		o->rows = rv_xrealloc(o->rows, x->rows_cap * sizeof *o->rows);
	}
	struct sync_row *row = &o->rows[o->n_rows++];
	memset(row, 0, sizeof *row);
	row->ns = rv_strdup(ns);
	row->action = a;
	row->keys = rv_strdup(keys ? keys : "");
	o->counts[a]++;
	return row;
}

static void warn(struct sync_ctx *x, const char *fmt, ...) RV_PRINTF(2, 3);
static void warn(struct sync_ctx *x, const char *fmt, ...)
{
	va_list ap;
	struct rv_buf one = {0};
	va_start(ap, fmt);
	rv_buf_vprintf(&one, fmt, ap);
	va_end(ap);
	/* the report joins warnings with "; ": none may hold one itself */
	for (char *p = one.data; p && (p = strstr(p, "; ")); p++)
		*p = ',';
	if (x->warnings.len)
		rv_buf_append(&x->warnings, "; ", 2);
	rv_buf_append(&x->warnings, one.data ? one.data : "", one.len);
	rv_buf_free(&one);
}

static int cmp_row(const void *a, const void *b)
{
	const struct sync_row *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);
	if (c)
		return c;
	c = strcmp(x->file ? x->file : "", y->file ? y->file : "");
	return c ? c : (int)x->action - (int)y->action;
}

/* ---- one capability ---- */

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');
	return b ? b + 1 : path;
}

/* The inventory value: which manifest, which version, and the commit it came from. */
static char *inventory_value(const struct capability *cap, const char *git_commit)
{
	json_t *o = json_object();
	json_object_set_new(o, "file", json_string(base_name(cap->file)));
	json_object_set_new(o, "version", json_string(cap->version));
	if (git_commit)
		json_object_set_new(o, "git_commit", json_string(git_commit));
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

/* The inventory key still says this manifest and version: then a new git commit
 * alone does not rewrite it (an unchanged pass writes nothing). */
static bool inventory_current(const struct stored *inv, const struct capability *cap)
{
	if (!inv->mod)
		return false;
	json_t *o = json_loads(inv->value, 0, NULL);
	const char *file = json_string_value(json_object_get(o, "file"));
	const char *version = json_string_value(json_object_get(o, "version"));
	bool same = file && version && strcmp(file, base_name(cap->file)) == 0 && strcmp(version, cap->version) == 0;
	json_decref(o);
	return same;
}

struct plan {
	const char *want[N_LEAVES];
	bool put[N_LEAVES];
	bool put_inventory;
	enum sync_action action;
	struct rv_buf keys, reason;
};

static void plan_free(struct plan *p)
{
	rv_buf_free(&p->keys);
	rv_buf_free(&p->reason);
}

static void make_plan(const struct capability *cap, const struct ns_state *s, struct plan *p)
{
	memset(p, 0, sizeof *p);
	p->want[LEAF_METADATA] = cap->metadata_json;
	p->want[LEAF_TYPE] = capability_type_name(cap->type);
	p->want[LEAF_VERSION] = cap->version;
	p->want[LEAF_DEPENDENCIES] = cap->dependencies_json;
	bool owned = s && s->inv.mod;
	bool any = false, drift = false;
	for (int i = 0; i < N_LEAVES; i++) {
		const struct stored *have = s ? &s->leaf[i] : NULL;
		bool same = have && have->mod && have->len == strlen(p->want[i]) &&
			    memcmp(have->value, p->want[i], have->len) == 0;
		if (!owned) {
			p->put[i] = true; /* a new capability, or one written by another sync before: all its keys */
			continue;
		}
		if (same)
			continue;
		p->put[i] = any = true;
		if (!have->mod || have->mod > s->inv.mod) {
			drift = true;
			rv_buf_printf(&p->reason, "%s%s %s by hand", p->reason.len ? ", " : "", leaf_names[i],
				      have->mod ? "changed" : "deleted");
		}
	}
	for (int i = 0; i < N_LEAVES; i++)
		if (p->put[i])
			rv_buf_printf(&p->keys, "%s%s", p->keys.len ? "," : "", leaf_names[i]);
	if (!owned) {
		p->action = SYNC_CREATE;
		p->put_inventory = true;
	} else if (any) {
		p->action = drift ? SYNC_DRIFT : SYNC_UPDATE;
		p->put_inventory = true;
	} else if (!inventory_current(&s->inv, cap)) {
		p->action = SYNC_UPDATE; /* the manifest was renamed, or the inventory edited */
		p->put_inventory = true;
		rv_buf_printf(&p->keys, "inventory");
	} else {
		p->action = SYNC_UNCHANGED;
	}
	if (!p->keys.data)
		rv_buf_append(&p->keys, "", 0);
}

/* The Txn of one plan: the compares on every mod_revision read (absent: 0) and
 * the puts. Returns 1 when the compares failed (someone wrote in between). */
static int write_plan(struct sync_ctx *x, const struct capability *cap, const struct ns_state *s,
		      const struct plan *p, const char *inv_value, int64_t *rev)
{
	char *keys[N_LEAVES + 1];
	struct etcd_compare cmp[N_LEAVES + 1];
	struct etcd_op ops[N_LEAVES + 1];
	size_t n_cmp = 0, n_ops = 0;
	for (int i = 0; i <= N_LEAVES; i++) {
		if (i < N_LEAVES) {
			if (asprintf(&keys[i], "%s%s/%s", x->prefix, cap->ns, leaf_names[i]) < 0)
				abort();
		} else if (asprintf(&keys[i], "%s%s", x->inv_prefix, cap->ns) < 0)
			abort();
		const struct stored *have = s ? (i < N_LEAVES ? &s->leaf[i] : &s->inv) : NULL;
		cmp[n_cmp++] = (struct etcd_compare){
			.key = keys[i],
			.key_len = strlen(keys[i]),
			.target = ETCD_CMP_MOD,
			.result = ETCD_CMP_EQUAL,
			.number = have ? have->mod : 0,
		};
		bool put = i < N_LEAVES ? p->put[i] : p->put_inventory;
		const char *v = i < N_LEAVES ? p->want[i] : inv_value;
		if (put)
			ops[n_ops++] = (struct etcd_op){
				.type = ETCD_OP_PUT,
				.key = keys[i],
				.key_len = strlen(keys[i]),
				.value = v,
				.value_len = strlen(v),
			};
	}
	struct etcd_txn_req req = {.cmp = cmp, .n_cmp = n_cmp, .success = ops, .n_success = n_ops};
	struct etcd_txn_resp resp = {0};
	int r = etcd_txn(x->c, &req, &resp);
	if (r == 0) {
		*rev = resp.hdr.revision;
		r = resp.succeeded ? 0 : 1;
	} else {
		r = rv_fail_wrap(r, "cannot write capability %s", cap->ns);
	}
	etcd_txn_resp_free(&resp);
	for (int i = 0; i <= N_LEAVES; i++)
		free(keys[i]);
	return r;
}

static size_t plan_bytes(const struct sync_ctx *x, const struct capability *cap, const struct plan *p,
			 const char *inv_value)
{
	size_t n = strlen(inv_value) + strlen(x->inv_prefix) + strlen(cap->ns);
	for (int i = 0; i < N_LEAVES; i++)
		n += 2 * (strlen(x->prefix) + strlen(cap->ns) + 16) + strlen(p->want[i]);
	return n;
}

static int sync_one(struct sync_ctx *x, const struct capability *cap, bool dry_run, const char *git_commit)
{
	struct ns_state *s = find_state(x, cap->ns);
	struct plan p;
	char *inv_value = inventory_value(cap, git_commit);
	int r = 0;

	for (int attempt = 0;; attempt++) {
		make_plan(cap, s, &p);
		if (p.action == SYNC_UNCHANGED)
			break;
		size_t bytes = plan_bytes(x, cap, &p, inv_value);
		if (bytes > TXN_MAX_BYTES) {
			struct sync_row *row = add_row(x, cap->ns, SYNC_INVALID, "");
			row->file = rv_strdup(cap->file);
			row->line = 1;
			if (asprintf(&row->reason, "its keys are %zu bytes together, more than etcd takes in one request "
						   "(1.5 MiB); make the metadata smaller",
				     bytes) < 0)
				abort();
			plan_free(&p);
			free(inv_value);
			return 0;
		}
		if (dry_run)
			break;
		int64_t rev = 0;
		rv_test_point("registry-sync-txn");
		r = write_plan(x, cap, s, &p, inv_value, &rev);
		if (r < 0)
			goto out;
		if (r == 0) {
			x->out->txns++;
			if (rev > x->revision)
				x->revision = rev;
			break;
		}
		/* someone wrote one of these keys after we read them: read again, once */
		plan_free(&p);
		if (attempt == 1) {
			struct sync_row *row = add_row(x, cap->ns, SYNC_DEFERRED, "");
			row->reason = rv_strdup("its keys changed while it was written; left for the next pass");
			warn(x, "capability %s changed while it was synced; left for the next pass", cap->ns);
			free(inv_value);
			return 0;
		}
		rv_log(RV_LOG_INFO, "registry sync: %s changed while it was written; reading it again", cap->ns);
		if (!s)
			s = get_state(x, cap->ns, strlen(cap->ns)), x->sorted = false;
		if ((r = reread_one(x, s)) < 0) {
			r = rv_fail_wrap(r, "cannot read capability %s again", cap->ns);
			free(inv_value);
			return r;
		}
		s = find_state(x, cap->ns); /* the array may have been sorted again */
	}
	struct sync_row *row = add_row(x, cap->ns, p.action, p.action == SYNC_UNCHANGED ? "" : p.keys.data);
	if (p.reason.len)
		row->reason = rv_strdup(p.reason.data);
	if (p.action == SYNC_DRIFT)
		rv_log(RV_LOG_WARN, "registry sync: %s: %s%s", cap->ns, p.reason.data,
		       dry_run ? "" : "; put back as the manifest says");
out:
	plan_free(&p);
	free(inv_value);
	return r < 0 ? r : 0;
}

/* ---- pruning ---- */

static bool in_manifests(const struct manifest_set *m, const char *ns)
{
	size_t lo = 0, hi = m->n_caps;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(m->caps[mid].ns, ns);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < m->n_problems; i++)
		if (m->problems[i].ns && strcmp(m->problems[i].ns, ns) == 0)
			return true; /* invalid now: kept as it is */
	return false;
}

static int prune_one(struct sync_ctx *x, const struct ns_state *s, bool dry_run)
{
	struct rv_buf keys = {0};
	for (int i = 0; i < N_LEAVES; i++)
		if (s->leaf[i].mod)
			rv_buf_printf(&keys, "%s%s", keys.len ? "," : "", leaf_names[i]);
	if (s->health)
		rv_buf_printf(&keys, "%shealth", keys.len ? "," : "");
	if (s->other_keys)
		rv_buf_printf(&keys, "%sothers", keys.len ? "," : "");
	int r = 0;
	if (!dry_run) {
		char *kp = NULL, *ik = NULL;
		/* the trailing '/': pruning foo never takes foobar/ or foo.bar/ with it */
		if (asprintf(&kp, "%s%s/", x->prefix, s->ns) < 0 || asprintf(&ik, "%s%s", x->inv_prefix, s->ns) < 0)
			abort();
		size_t end_len;
		uint8_t *end = etcd_prefix_end(kp, strlen(kp), &end_len);
		struct etcd_compare cmp = {.key = ik, .key_len = strlen(ik), .target = ETCD_CMP_MOD, .number = s->inv.mod};
		struct etcd_op ops[2] = {
			{.type = ETCD_OP_DELETE, .key = kp, .key_len = strlen(kp), .range_end = end, .range_end_len = end_len},
			{.type = ETCD_OP_DELETE, .key = ik, .key_len = strlen(ik)},
		};
		struct etcd_txn_req req = {.cmp = &cmp, .n_cmp = 1, .success = ops, .n_success = 2};
		struct etcd_txn_resp resp = {0};
		r = etcd_txn(x->c, &req, &resp);
		bool succeeded = r == 0 && resp.succeeded;
		if (r < 0) {
			r = rv_fail_wrap(r, "cannot prune capability %s", s->ns);
		} else if (!succeeded) {
			struct sync_row *row = add_row(x, s->ns, SYNC_DEFERRED, "");
			row->reason = rv_strdup("its inventory changed while it was pruned; left for the next pass");
			warn(x, "capability %s changed while it was pruned; left for the next pass", s->ns);
		} else {
			x->out->txns++;
			if (resp.hdr.revision > x->revision)
				x->revision = resp.hdr.revision;
		}
		etcd_txn_resp_free(&resp);
		free(end);
		free(kp);
		free(ik);
		if (r < 0 || !succeeded) {
			rv_buf_free(&keys);
			return r;
		}
	}
	add_row(x, s->ns, SYNC_DELETE, keys.data ? keys.data : "");
	rv_log(RV_LOG_INFO, "registry sync: %s: its manifest is gone; %s", s->ns,
	       dry_run ? "would be pruned" : "pruned");
	rv_buf_free(&keys);
	return 0;
}

static int prune(struct sync_ctx *x, const struct manifest_set *m, bool dry_run, const struct rv_cancel *cancel)
{
	const struct registry_settings *rs = x->rs;
	bool unknown_invalid = false;
	for (size_t i = 0; i < m->n_problems; i++)
		unknown_invalid |= m->problems[i].ns == NULL;
	bool empty = m->dir_err || (m->n_caps == 0 && m->n_problems == 0);
	size_t owned_gone = 0;
	for (size_t i = 0; i < x->n_st; i++)
		owned_gone += x->st[i].inv.mod && !in_manifests(m, x->st[i].ns);
	if (m->dir_err)
		warn(x, "%s", m->dir_msg);
	if (!owned_gone)
		return 0;
	if (empty && !rs->sync.allow_empty) {
		warn(x, "%s, so none of the %zu capabilities whose manifest is gone was pruned "
			"(registry.sync.allow_empty is false)",
		     m->dir_err ? "the manifests directory cannot be read" : "the manifests directory holds no manifest",
		     owned_gone);
		return 0;
	}
	if (unknown_invalid) {
		warn(x, "an invalid manifest's namespace cannot be told, so none of the %zu capabilities whose manifest "
			"is gone was pruned",
		     owned_gone);
		return 0;
	}
	size_t done = 0, deferred = 0;
	for (size_t i = 0; i < x->n_st; i++) {
		const struct ns_state *s = &x->st[i];
		if (!s->inv.mod || in_manifests(m, s->ns))
			continue;
		if (done >= (size_t)(rs->sync.max_deletes > 0 ? rs->sync.max_deletes : 0)) {
			struct sync_row *row = add_row(x, s->ns, SYNC_DEFERRED, "");
			row->reason = rv_strdup("its manifest is gone; pruned in a later pass (max_deletes)");
			deferred++;
			continue;
		}
		if (rv_cancelled(cancel))
			return rv_fail(-EINTR, "the sync was stopped before all removed capabilities were pruned; the next "
					       "pass prunes the rest");
		int r = prune_one(x, s, dry_run);
		if (r < 0)
			return r;
		done++;
	}
	if (deferred)
		warn(x, "%zu more capabilities whose manifest is gone wait for a later pass (at most %d are pruned in "
			"one, max_deletes)",
		     deferred, rs->sync.max_deletes);
	return 0;
}

/* ---- the pass ---- */

int registry_sync_pass(etcd_client *c, const struct cluster_spec *cs, const struct registry_settings *rs,
		       bool dry_run, const struct rv_cancel *cancel, sync_loaded_fn on_loaded, void *ud,
		       struct sync_report *out)
{
	bool loaded = false;
	struct sync_ctx x = {.c = c, .rs = rs, .out = out};
	struct manifest_set m = {0};
	char *state = registry_state_prefix(cs);
	int r = 0;

	memset(out, 0, sizeof *out);
	out->dry_run = dry_run;
	if (!rs->manifests_dir || !rs->prefix) {
		free(state);
		return rv_fail(-EINVAL, "the registry has no manifests directory or prefix configured");
	}
	if (asprintf(&x.prefix, "%s/", rs->prefix) < 0 || asprintf(&x.inv_prefix, "%s/inventory/", state) < 0)
		abort();

	if (rs->sync.git_remote && !dry_run) {
		r = registry_git_update(rs->manifests_dir, rs->sync.git_remote,
					rs->sync.git_branch ? rs->sync.git_branch : "main", cancel);
		if (r == -EINTR)
			goto out;
		if (r < 0) {
			warn(&x, "fetch failed, the last checkout is synced: %s", rv_errmsg(r));
			rv_log(RV_LOG_WARN, "registry sync: %s", rv_errmsg(r));
			rv_err_clear();
		}
	}
	if ((r = registry_git_head(rs->manifests_dir, cancel, &out->git_commit)) < 0)
		goto out;
	if ((r = manifest_load_dir(rs->manifests_dir, &m)) < 0)
		goto out;
	loaded = true;
	if ((r = read_all(&x)) < 0)
		goto out;

	for (size_t i = 0; i < m.n_problems; i++) {
		const struct manifest_problem *p = &m.problems[i];
		char *ns = p->ns ? NULL : rv_strdup(base_name(p->file));
		struct sync_row *row = add_row(&x, p->ns ? p->ns : ns, SYNC_INVALID, "");
		row->file = rv_strdup(p->file);
		row->line = p->line;
		row->reason = rv_strdup(p->what);
		free(ns);
		rv_log(RV_LOG_WARN, "registry sync: %s:%u: %s (skipped; its keys are kept as they are)", p->file,
		       p->line, p->what);
	}
	for (size_t i = 0; i < m.n_caps; i++)
		out->n_by_type[m.caps[i].type == CAPABILITY_SERVICE]++;
	for (size_t i = 0; i < m.n_caps; i++) {
		if (rv_cancelled(cancel)) {
			r = rv_fail(-EINTR, "the sync was stopped after %zu of %zu capabilities; the next pass writes the "
					    "rest",
				    i, m.n_caps);
			goto out;
		}
		if ((r = sync_one(&x, &m.caps[i], dry_run, out->git_commit)) < 0)
			goto out;
	}
	if ((r = prune(&x, &m, dry_run, cancel)) < 0)
		goto out;
	if (out->n_rows)
		qsort(out->rows, out->n_rows, sizeof *out->rows, cmp_row);
	out->revision = x.revision;
out:
	if (x.warnings.len)
		out->warnings = rv_strdup(x.warnings.data);
	rv_buf_free(&x.warnings);
	for (size_t i = 0; i < x.n_st; i++)
		ns_state_free(&x.st[i]);
	free(x.st);
	free(x.prefix);
	free(x.inv_prefix);
	free(state);
	if (loaded && on_loaded)
		on_loaded(&m, ud);
	manifest_set_free(&m);
	if (r < 0)
		sync_report_free(out);
	return r;
}

void sync_report_free(struct sync_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_rows; i++) {
		free(r->rows[i].ns);
		free(r->rows[i].keys);
		free(r->rows[i].file);
		free(r->rows[i].reason);
	}
	free(r->rows);
	free(r->git_commit);
	free(r->warnings);
	memset(r, 0, sizeof *r);
}
