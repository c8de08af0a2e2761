/* prefix_restore.c - a surgical restore: the keys under one prefix in the live
 * cluster made equal to a source's, through guarded Txns.
 *
 * The plan is the diff of the source against one live read (at one revision). Each
 * write is a Txn of at most PREFIX_TXN_MAX_OPS ops and PREFIX_TXN_MAX_BYTES bytes;
 * every op has a compare "mod_revision == what the live read saw" (0 for a key that
 * was absent; etcd compares an absent key as all zero), so one Txn either applies
 * whole or not at all. When it does not, its failure branch reads the batch's keys
 * back: a key whose mod revision moved was changed by a client since the read, a
 * conflict (left alone, or written over with overwrite_conflicts); the others go in
 * the next try. A Txn that timed out may have been applied: it is sent again, and
 * a key found as the restore wanted it then counts as written. Keys outside the
 * prefix are never in an op. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "restore/restore_impl.h"

#define TRIES 8

struct op {
	const uint8_t *key, *value;
	size_t key_len, value_len;
	bool del;
	enum prefix_change_kind kind;
	int64_t expect;  /* mod revision the guard compares with */
	int conflict;    /* index+1 of its conflict note, 0 none */
};

static char *key_dup(const uint8_t *k, size_t n)
{
	char *s = rv_xcalloc(1, n + 1);
	memcpy(s, k, n);
	return s;
}

static struct prefix_key_note *note_add(struct prefix_key_note **v, size_t *n, const uint8_t *key, size_t key_len)
{
	if ((*n & (*n - 1)) == 0 || *n == 0) /* grow at powers of two */
		*v = rv_xrealloc(*v, (*n ? *n * 2 : 16) * sizeof **v);
	struct prefix_key_note *k = &(*v)[(*n)++];
	memset(k, 0, sizeof *k);
	k->key = key_dup(key, key_len);
	k->key_len = key_len;
	return k;
}

/* What each op costs in a request: the compare and the op each carry the key. */
static size_t op_bytes(const struct op *op)
{
	return 2 * op->key_len + op->value_len + 48;
}

static bool as_wanted(const struct op *op, const struct etcd_op_resp *now)
{
	if (op->del)
		return now->n_kvs == 0;
	return now->n_kvs == 1 && now->kvs[0].value_len == op->value_len &&
	       (op->value_len == 0 || memcmp(now->kvs[0].value, op->value, op->value_len) == 0);
}

static void note_written(const struct op *op, struct prefix_restore_report *out)
{
	if (op->del)
		out->deleted++;
	else
		out->put++;
}

static void note_revision(struct prefix_restore_report *out, int64_t rev)
{
	if (out->first_revision == 0 || rev < out->first_revision)
		out->first_revision = rev;
	if (rev > out->last_revision)
		out->last_revision = rev;
}

/* One batch until it is written or its every op is a conflict left alone. */
static int run_batch(const struct prefix_restore_opts *o, struct op **ops, size_t n, struct prefix_restore_report *out)
{
	struct etcd_compare cmp[PREFIX_TXN_MAX_OPS];
	struct etcd_op succ[PREFIX_TXN_MAX_OPS], fail[PREFIX_TXN_MAX_OPS];
	bool resent = false;

	for (int attempt = 0; n > 0; attempt++) {
		for (size_t k = 0; k < n; k++) {
			const struct op *op = ops[k];
			cmp[k] = (struct etcd_compare){.key = op->key, .key_len = op->key_len, .target = ETCD_CMP_MOD,
						       .result = ETCD_CMP_EQUAL, .number = op->expect};
			succ[k] = (struct etcd_op){.type = op->del ? ETCD_OP_DELETE : ETCD_OP_PUT, .key = op->key,
						   .key_len = op->key_len, .value = op->value, .value_len = op->value_len};
			fail[k] = (struct etcd_op){.type = ETCD_OP_RANGE, .key = op->key, .key_len = op->key_len};
		}
		struct etcd_txn_req req = {.cmp = cmp, .n_cmp = n, .success = succ, .n_success = n, .failure = fail,
					   .n_failure = n};
		struct etcd_txn_resp resp = {0};
		int r = etcd_txn(o->c, &req, &resp);
		if ((r == -ETIMEDOUT || r == -EHOSTUNREACH) && !resent) {
			/* Perhaps applied: the guards make sending it again safe. */
			resent = true;
			etcd_txn_resp_free(&resp);
			continue;
		}
		if (r < 0) {
			etcd_txn_resp_free(&resp);
			return r;
		}
		out->txns++;
		if (resp.succeeded) {
			for (size_t k = 0; k < n; k++)
				note_written(ops[k], out);
			note_revision(out, resp.hdr.revision);
			etcd_txn_resp_free(&resp);
			return 0;
		}
		if (resp.n_resps != n) {
			etcd_txn_resp_free(&resp);
			return rv_fail(-EPROTO, "etcd answered a transaction of %zu ops with %zu results", n, resp.n_resps);
		}
		size_t keep = 0;
		for (size_t k = 0; k < n; k++) {
			struct op *op = ops[k];
			const struct etcd_op_resp *now = &resp.resps[k];
			int64_t now_mod = now->n_kvs ? now->kvs[0].mod_revision : 0;
			if (now_mod == op->expect) {
				ops[keep++] = op; /* not the one that failed the guard */
			} else if (as_wanted(op, now)) {
				if (resent)
					note_written(op, out); /* the Txn sent again had been applied */
				else
					out->unchanged++; /* a client wrote what the source holds */
			} else {
				struct prefix_key_note *c;
				if (op->conflict) {
					c = &out->conflicts[op->conflict - 1];
				} else {
					c = note_add(&out->conflicts, &out->n_conflicts, op->key, op->key_len);
					c->kind = op->kind;
					c->expected_mod = op->expect;
					op->conflict = (int)out->n_conflicts;
				}
				c->found_mod = now_mod;
				if (o->overwrite_conflicts && attempt + 1 < TRIES) {
					c->overwritten = true;
					op->expect = now_mod;
					ops[keep++] = op;
				} else {
					c->overwritten = false;
				}
			}
		}
		etcd_txn_resp_free(&resp);
		n = keep;
		resent = false;
	}
	return 0;
}

static int cmp_note(const void *a, const void *b)
{
	const struct prefix_key_note *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);
	return c ? c : x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

int prefix_restore(const struct prefix_restore_opts *o, struct prefix_restore_report *out)
{
	double t0 = rv_now_mono();
	struct op *ops = NULL;
	size_t n_ops = 0;
	int r;

	memset(out, 0, sizeof *out);
	if ((r = prefix_keys_live(o->c, o->prefix, o->prefix_len, &out->live)) < 0)
		return r;
	out->live_revision = out->live.revision;
	prefix_diff_compute(o->source, &out->live, &out->plan);
	out->unchanged = out->plan.unchanged;

	ops = rv_xcalloc(out->plan.n ? out->plan.n : 1, sizeof *ops);
	for (size_t i = 0; i < out->plan.n; i++) {
		const struct prefix_change *ch = &out->plan.v[i];
		const struct snap_db_kv *src = ch->a, *live = ch->b, *any = src ? src : live;
		struct prefix_key_note *s = NULL;
		if (src && src->lease && !o->keep_lease_keys) {
			s = note_add(&out->skipped, &out->n_skipped, any->key, any->key_len);
			s->reason = PREFIX_SKIP_LEASE;
			s->lease = src->lease;
		} else if (live && live->lease && !o->keep_lease_keys) {
			s = note_add(&out->skipped, &out->n_skipped, any->key, any->key_len);
			s->reason = PREFIX_SKIP_LIVE_LEASE;
			s->lease = live->lease;
		} else if (!src && o->no_delete) {
			s = note_add(&out->skipped, &out->n_skipped, any->key, any->key_len);
			s->reason = PREFIX_SKIP_NO_DELETE;
		}
		if (s) {
			s->kind = ch->kind;
			continue;
		}
		/* In diff terms the source is a and live b: "removed" = only in the
		 * source (put back), "added" = only live (deleted). */
		ops[n_ops++] = (struct op){.key = any->key, .key_len = any->key_len, .value = src ? src->value : NULL,
					   .value_len = src ? src->value_len : 0, .del = !src, .kind = ch->kind,
					   .expect = live ? live->mod_revision : 0};
	}
	if (o->dry_run) {
		for (size_t i = 0; i < n_ops; i++)
			note_written(&ops[i], out);
		free(ops);
		out->seconds = rv_now_mono() - t0;
		return 0;
	}

	/* Between the read and the first write (a test makes a client write here). */
	rv_test_point("prefix-restore-write");
	struct op *batch[PREFIX_TXN_MAX_OPS];
	for (size_t i = 0; i < n_ops && r == 0;) {
		if (rv_cancelled(o->cancel)) {
			r = rv_fail(-EINTR,
				    "the restore of the keys under %s was interrupted after %zu puts and %zu deletes; "
				    "running it again finishes it",
				    o->prefix, out->put, out->deleted);
			break;
		}
		size_t n = 0, bytes = 0;
		while (i < n_ops && n < PREFIX_TXN_MAX_OPS && (n == 0 || bytes + op_bytes(&ops[i]) <= PREFIX_TXN_MAX_BYTES)) {
			bytes += op_bytes(&ops[i]);
			batch[n++] = &ops[i++];
		}
		r = run_batch(o, batch, n, out);
		if (r < 0)
			r = rv_fail_wrap(r, "cannot write the keys under %s (%zu put, %zu deleted so far)", o->prefix, out->put,
					 out->deleted);
	}
	free(ops);
	if (out->n_conflicts > 1)
		qsort(out->conflicts, out->n_conflicts, sizeof *out->conflicts, cmp_note);
	out->seconds = rv_now_mono() - t0;
	return r;
}

static void notes_free(struct prefix_key_note *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].key);
	free(v);
}

void prefix_restore_report_free(struct prefix_restore_report *r)
{
	prefix_diff_free(&r->plan);
	notes_free(r->skipped, r->n_skipped);
	notes_free(r->conflicts, r->n_conflicts);
	prefix_keys_free(&r->live);
	memset(r, 0, sizeof *r);
}
