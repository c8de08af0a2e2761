/* check.c - proof that a running cluster holds one consistent copy of the data:
 * every member at the same revision, one leader, the same HashKV at that revision
 * (etcd's own consistency check), and optionally the same keys read from each
 * member on its own (serializable reads pinned to the member). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore/restore_impl.h"

/* Read up to n keys (and values) from member ep, serializable, into a buffer that
 * can be compared byte for byte with the other members'. */
static int read_sample(etcd_client *c, int ep, int64_t rev, int n, struct rv_buf *out, int *got)
{
	struct etcd_range_req q = {.key = "\0", .key_len = 1, .range_end = "\0", .range_end_len = 1,
				   .limit = n, .revision = rev, .serializable = true};
	struct etcd_range_resp resp;
	int r = etcd_range(c, ep, &q, &resp);
	if (r < 0)
		return r;
	for (size_t i = 0; i < resp.n_kvs; i++) {
		uint64_t kl = resp.kvs[i].key_len, vl = resp.kvs[i].value_len;
		rv_buf_append(out, &kl, sizeof kl);
		rv_buf_append(out, resp.kvs[i].key, resp.kvs[i].key_len);
		rv_buf_append(out, &vl, sizeof vl);
		rv_buf_append(out, resp.kvs[i].value, resp.kvs[i].value_len);
		rv_buf_append(out, &resp.kvs[i].mod_revision, sizeof resp.kvs[i].mod_revision);
	}
	*got = (int)resp.n_kvs;
	etcd_range_resp_free(&resp);
	return 0;
}

static int count_keys(etcd_client *c, int ep, int64_t rev, int64_t *count)
{
	struct etcd_range_req q = {.key = "\0", .key_len = 1, .range_end = "\0", .range_end_len = 1,
				   .revision = rev, .count_only = true, .serializable = true};
	struct etcd_range_resp resp;
	int r = etcd_range(c, ep, &q, &resp);
	if (r < 0)
		return r;
	*count = resp.count;
	etcd_range_resp_free(&resp);
	return 0;
}

int rs_check_cluster(const struct cluster_spec *cs, int64_t base_revision, int sample, struct rs_check *out)
{
	etcd_client *c = NULL;
	struct etcd_status *st = rv_xcalloc(cs->n_members, sizeof *st);
	struct rv_buf first_sample = {0};
	int r;

	memset(out, 0, sizeof *out);
	r = cluster_client_new(cs, 5000, &c);
	if (r < 0)
		goto done;
	/* Right after an election the followers may still apply the last entries: ask a
	 * few times for one view. Clients that reconnect at once may write meanwhile, so
	 * equal revisions are not required: the proof is HashKV at the base revision. */
	for (int attempt = 0; attempt < 10; attempt++) {
		bool same = true;
		for (size_t i = 0; i < cs->n_members; i++) {
			r = etcd_status(c, (int)i, &st[i]);
			if (r < 0) {
				r = rv_fail_wrap(r, "member %s did not answer Status after the start", cs->members[i].name);
				goto done;
			}
			if (st[i].hdr.revision != st[0].hdr.revision || st[i].leader != st[0].leader)
				same = false;
		}
		if (same)
			break;
		rv_sleep_ms(200);
	}
	out->leader = st[0].leader;
	out->revision = st[0].hdr.revision;
	for (size_t i = 0; i < cs->n_members; i++) {
		if (st[i].leader == 0 || st[i].leader != st[0].leader) {
			r = rv_fail(-EIO, "members disagree on the leader (%s sees %" PRIx64 ", %s sees %" PRIx64 ")",
				    cs->members[0].name, st[0].leader, cs->members[i].name, st[i].leader);
			goto done;
		}
		if (base_revision > 0 && st[i].hdr.revision < base_revision) {
			r = rv_fail(-EIO, "member %s is at revision %" PRId64 ", below the snapshot's revision %" PRId64,
				    cs->members[i].name, st[i].hdr.revision, base_revision);
			goto done;
		}
		if (st[i].hdr.revision < out->revision)
			out->revision = st[i].hdr.revision;
	}
	bool leader_is_member = false;
	for (size_t i = 0; i < cs->n_members; i++)
		leader_is_member |= st[i].hdr.member_id == out->leader;
	if (!leader_is_member) {
		r = rv_fail(-EIO, "the leader %" PRIx64 " is none of the configured members", out->leader);
		goto done;
	}
	/* HashKV at one revision every member has: the snapshot's when known. */
	out->hash_revision = base_revision > 0 ? base_revision : out->revision;
	for (size_t i = 0; i < cs->n_members; i++) {
		uint32_t h;
		int64_t compact;
		struct etcd_header hdr;
		r = etcd_hashkv(c, (int)i, out->hash_revision, &h, &compact, &hdr);
		if (r < 0) {
			r = rv_fail_wrap(r, "HashKV at revision %" PRId64 " on member %s", out->hash_revision,
					 cs->members[i].name);
			goto done;
		}
		if (i == 0)
			out->hash = h;
		else if (h != out->hash) {
			r = rv_fail(-EIO, "members hold different data: HashKV at revision %" PRId64 " is %08x on %s and %08x on %s",
				    out->hash_revision, out->hash, cs->members[0].name, h, cs->members[i].name);
			goto done;
		}
	}
	if (sample > 0) {
		for (size_t i = 0; i < cs->n_members; i++) {
			struct rv_buf b = {0};
			int got = 0;
			int64_t count = 0;
			r = read_sample(c, (int)i, out->hash_revision, sample, &b, &got);
			if (r == 0)
				r = count_keys(c, (int)i, out->hash_revision, &count);
			if (r < 0) {
				rv_buf_free(&b);
				r = rv_fail_wrap(r, "reading keys from member %s", cs->members[i].name);
				goto done;
			}
			if (i == 0) {
				first_sample = b;
				out->sample_read = got;
				out->key_count = count;
				continue;
			}
			bool same = b.len == first_sample.len && (b.len == 0 || memcmp(b.data, first_sample.data, b.len) == 0);
			rv_buf_free(&b);
			if (!same || count != out->key_count) {
				r = rv_fail(-EIO, "member %s returns other keys than member %s (%" PRId64 " against %" PRId64 " keys)",
					    cs->members[i].name, cs->members[0].name, count, out->key_count);
				goto done;
			}
		}
	}
	r = 0;
done:
	rv_buf_free(&first_sample);
	free(st);
	etcd_client_free(c);
	return r;
}
