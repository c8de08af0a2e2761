/* etcd_tool.c - a test driver for the etcd client's Txn, Watch and lease streams
 * and for its memory over many calls (tests/it/14-etcd-streams.sh). Endpoints come
 * from $ETCD_ENDPOINTS (comma-separated); $ETCD_USER with $ETCD_PASSWORD_FILE log in,
 * $ETCD_CA_FILE, $ETCD_CERT_FILE, $ETCD_KEY_FILE set up TLS. Prints one line per answer; errors as
 * "error ENAME: sentence". Lease ids are hex, as etcdctl prints them.
 *
 *   etcd-tool txn [--if 'TARGET KEY OP ARG']... [--then OP]... [--else OP]...
 *       TARGET value|version|create|mod, OP = != < >;
 *       OP 'put KEY VALUE [prev]' | 'get KEY [prefix] [count]' | 'del KEY [prefix] [prev]'
 *   etcd-tool watch KEY [--ep N] [--prefix|--all] [--rev R] [--prev-kv] [--progress-notify]
 *       [--events N] [--timeout MS] [--after-open CMD] [--request-progress] [--cancel-after MS]
 *       [--reopen-on EP]   after a broken stream, a new one on EP from the revision after the last event
 *   etcd-tool keepalive --lease ID [--lease ID]... [--ep N] [--rounds N] [--interval MS]
 *       [--after-first CMD] [--timeout MS] [--reopen-on EP]
 *   etcd-tool lease grant TTL | ttl ID | revoke ID | keepalive-once ID
 *   etcd-tool soak STATUS SNAPSHOTS STREAMS [--ep N]   RSS after the first 10 and at the end
 *   etcd-tool threads N                                two threads sharing one client
 *   etcd-tool idle-then-streams MS                     log in, idle MS (the token expires), then
 *                                                      open a Watch and a KeepAlive stream
 * Exit 0 ok, 1 failed, 2 usage. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "etcd/etcd.h"

static etcd_client *cli;

static int usage(void)
{
	fprintf(stderr, "usage: etcd-tool txn|watch|keepalive|lease|soak|threads ... (see tests/tools/etcd_tool.c)\n");
	return 2;
}

static const char *errname(int r)
{
	static const struct {
		int e;
		const char *n;
	} names[] = {
		{EAGAIN, "EAGAIN"}, {EINTR, "EINTR"}, {ERANGE, "ERANGE"}, {ECANCELED, "ECANCELED"},
		{EHOSTUNREACH, "EHOSTUNREACH"}, {EPIPE, "EPIPE"}, {ETIMEDOUT, "ETIMEDOUT"}, {ENOENT, "ENOENT"},
		{EINVAL, "EINVAL"}, {EACCES, "EACCES"}, {EPERM, "EPERM"}, {EIO, "EIO"}, {EPROTO, "EPROTO"},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(names); i++)
		if (-r == names[i].e)
			return names[i].n;
	return "E?";
}

static int report(int r)
{
	printf("error %s: %s\n", errname(r), rv_errmsg(r));
	fflush(stdout);
	return 1;
}

static int open_client(void)
{
	const char *env = getenv("ETCD_ENDPOINTS");
	char *list, *save = NULL, *tok, *eps[16];
	struct etcd_client_opts o = {.endpoints = eps};
	char *password = NULL;
	int r;
	o.tls.ca_file = getenv("ETCD_CA_FILE");
	o.tls.cert_file = getenv("ETCD_CERT_FILE");
	o.tls.key_file = getenv("ETCD_KEY_FILE");
	o.user = getenv("ETCD_USER");
	if (o.user && (r = rv_read_secret_file(getenv("ETCD_PASSWORD_FILE") ? getenv("ETCD_PASSWORD_FILE") : "",
					       "ETCD_PASSWORD_FILE", &password)) < 0)
		return r;
	o.password = password;
	if (!env || !*env) {
		fprintf(stderr, "etcd-tool: set ETCD_ENDPOINTS\n");
		return -EINVAL;
	}
	list = rv_strdup(env);
	for (tok = strtok_r(list, ",", &save); tok && o.n_endpoints < RV_ARRAY_LEN(eps); tok = strtok_r(NULL, ",", &save))
		eps[o.n_endpoints++] = tok;
	r = etcd_client_new(&o, &cli);
	free(list);
	if (password) {
		memset(password, 0, strlen(password));
		free(password);
	}
	return r;
}

static void print_kv(const char *label, const struct etcd_kv *kv)
{
	printf("%s%.*s=%.*s", label, (int)kv->key_len, kv->key, (int)kv->value_len, kv->value);
}

/* ---- txn ---- */

/* Split s (modified) on spaces into at most max words. */
static int words(char *s, char **w, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(s, " ", &save); t && n < max; t = strtok_r(NULL, " ", &save))
		w[n++] = t;
	return n;
}

static int parse_cmp(char *s, struct etcd_compare *c)
{
	char *w[4];
	static const char *const targets[] = {"version", "create", "mod", "value"};
	static const char *const ops[] = {"=", ">", "<", "!="};
	if (words(s, w, 4) != 4)
		return -EINVAL;
	memset(c, 0, sizeof *c);
	c->key = w[1];
	c->key_len = strlen(w[1]);
	c->target = (enum etcd_cmp_target)-1;
	for (int i = 0; i < 4; i++) {
		if (!strcmp(w[0], targets[i]))
			c->target = (enum etcd_cmp_target)i;
		if (!strcmp(w[2], ops[i]))
			c->result = (enum etcd_cmp_result)i;
	}
	if ((int)c->target < 0)
		return -EINVAL;
	if (c->target == ETCD_CMP_VALUE) {
		c->value = w[3];
		c->value_len = strlen(w[3]);
	} else {
		c->number = strtoll(w[3], NULL, 10);
	}
	return 0;
}

static int parse_op(char *s, struct etcd_op *o)
{
	char *w[5];
	int n = words(s, w, 5);
	memset(o, 0, sizeof *o);
	if (n < 2)
		return -EINVAL;
	o->key = w[1];
	o->key_len = strlen(w[1]);
	int flags = 2;
	if (!strcmp(w[0], "put")) {
		if (n < 3)
			return -EINVAL;
		o->type = ETCD_OP_PUT;
		o->value = w[2];
		o->value_len = strlen(w[2]);
		flags = 3;
	} else if (!strcmp(w[0], "get")) {
		o->type = ETCD_OP_RANGE;
	} else if (!strcmp(w[0], "del")) {
		o->type = ETCD_OP_DELETE;
	} else {
		return -EINVAL;
	}
	for (int i = flags; i < n; i++) {
		if (!strcmp(w[i], "prev"))
			o->prev_kv = true;
		else if (!strcmp(w[i], "count"))
			o->count_only = true;
		else if (!strcmp(w[i], "prefix"))
			o->range_end = etcd_prefix_end(o->key, o->key_len, &o->range_end_len);
		else
			return -EINVAL;
	}
	return 0;
}

static int cmd_txn(int argc, char **argv)
{
	struct etcd_compare cmp[16];
	struct etcd_op succ[16], fail[16];
	struct etcd_txn_req req = {.cmp = cmp, .success = succ, .failure = fail};
	struct etcd_txn_resp resp;
	static const char *const types[] = {"range", "put", "delete"};
	int r = 0;

	for (int i = 0; i + 1 < argc && r == 0; i += 2) {
		if (!strcmp(argv[i], "--if") && req.n_cmp < 16)
			r = parse_cmp(argv[i + 1], &cmp[req.n_cmp++]);
		else if (!strcmp(argv[i], "--then") && req.n_success < 16)
			r = parse_op(argv[i + 1], &succ[req.n_success++]);
		else if (!strcmp(argv[i], "--else") && req.n_failure < 16)
			r = parse_op(argv[i + 1], &fail[req.n_failure++]);
		else
			r = -EINVAL;
	}
	if (r < 0 || argc % 2)
		return usage();
	r = etcd_txn(cli, &req, &resp);
	for (size_t i = 0; i < req.n_success; i++)
		free((void *)succ[i].range_end);
	for (size_t i = 0; i < req.n_failure; i++)
		free((void *)fail[i].range_end);
	if (r < 0)
		return report(r);
	printf("succeeded %s\nrevision %" PRId64 "\n", resp.succeeded ? "true" : "false", resp.hdr.revision);
	for (size_t i = 0; i < resp.n_resps; i++) {
		const struct etcd_op_resp *o = &resp.resps[i];
		printf("resp %zu %s revision=%" PRId64, i, types[o->type], o->hdr.revision);
		if (o->type == ETCD_OP_RANGE)
			printf(" count=%" PRId64, o->count);
		if (o->type == ETCD_OP_DELETE)
			printf(" deleted=%" PRId64, o->deleted);
		for (size_t j = 0; j < o->n_kvs; j++)
			print_kv(j ? "," : o->type == ETCD_OP_RANGE ? " kvs=" : " prev=", &o->kvs[j]);
		printf("\n");
	}
	printf("endpoint %d\n", resp.ep);
	etcd_txn_resp_free(&resp);
	return 0;
}

/* ---- watch ---- */

struct canceller {
	struct rv_cancel token;
	int after_ms;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;
	rv_sleep_ms(c->after_ms);
	rv_cancel_request(&c->token);
	return NULL;
}

static void print_events(const struct etcd_watch_resp *wr)
{
	for (size_t i = 0; i < wr->n_events; i++) {
		const struct etcd_event *e = &wr->events[i];
		if (e->type == ETCD_EVENT_PUT)
			print_kv("PUT ", &e->kv);
		else
			printf("DELETE %.*s", (int)e->kv.key_len, e->kv.key);
		printf(" mod=%" PRId64 " ver=%" PRId64, e->kv.mod_revision, e->kv.version);
		if (e->has_prev_kv)
			print_kv(" prev=", &e->prev_kv);
		printf("\n");
	}
}

static int cmd_watch(int argc, char **argv)
{
	struct etcd_watch_opts o = {0};
	const char *after = NULL;
	int ep = ETCD_ANY, want = 1, timeout = 20000, cancel_ms = 0, got = 0, reopen = -2, r;
	bool prefix = false, all = false, ask_progress = false;
	uint8_t *end = NULL;
	struct canceller cn = {0};
	pthread_t th;
	etcd_watch *w;

	if (argc < 1)
		return usage();
	o.key = argv[0];
	o.key_len = strlen(argv[0]);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--prefix")) prefix = true;
		else if (!strcmp(a, "--all")) all = true;
		else if (!strcmp(a, "--prev-kv")) o.prev_kv = true;
		else if (!strcmp(a, "--progress-notify")) o.progress_notify = true;
		else if (!strcmp(a, "--request-progress")) ask_progress = true;
		else if (v && !strcmp(a, "--ep")) ep = atoi(v), i++;
		else if (v && !strcmp(a, "--rev")) o.start_revision = strtoll(v, NULL, 10), i++;
		else if (v && !strcmp(a, "--events")) want = atoi(v), i++;
		else if (v && !strcmp(a, "--timeout")) timeout = atoi(v), i++;
		else if (v && !strcmp(a, "--after-open")) after = v, i++;
		else if (v && !strcmp(a, "--cancel-after")) cancel_ms = atoi(v), i++;
		else if (v && !strcmp(a, "--reopen-on")) reopen = atoi(v), i++;
		else return usage();
	}
	if (all) {
		o.key = "\0";
		o.key_len = 1;
		o.range_end = "\0";
		o.range_end_len = 1;
	} else if (prefix) {
		end = etcd_prefix_end(o.key, o.key_len, &o.range_end_len);
		o.range_end = end;
	}
	r = etcd_watch_open(cli, ep, &o, &w);
	free(end);
	if (r < 0)
		return report(r);
	printf("created ep=%d\n", etcd_watch_endpoint(w));
	fflush(stdout);
	if (after && system(after) != 0)
		fprintf(stderr, "etcd-tool: %s failed\n", after);
	if (ask_progress && (r = etcd_watch_request_progress(w)) < 0)
		goto out;
	if (cancel_ms) {
		cn.after_ms = cancel_ms;
		pthread_create(&th, NULL, cancel_later, &cn);
	}
	while (got < want || ask_progress) {
		struct etcd_watch_resp wr;
		r = etcd_watch_read(w, timeout, cancel_ms ? &cn.token : NULL, &wr);
		if (r == -ERANGE)
			printf("compact_revision %" PRId64 "\n", wr.compact_revision);
		if (r < 0 && reopen != -2 && r != -EAGAIN && r != -EINTR && r != -ERANGE) {
			/* what a caller does when the member goes away: report, and go on
			 * elsewhere from the revision after the last event seen */
			report(r);
			etcd_watch_close(w);
			r = etcd_watch_open(cli, reopen, &o, &w);
			reopen = -2;
			if (r < 0) {
				w = NULL;
				break;
			}
			printf("reopened ep=%d\n", etcd_watch_endpoint(w));
			fflush(stdout);
			continue;
		}
		if (r < 0)
			break;
		for (size_t i = 0; i < wr.n_events; i++)
			o.start_revision = wr.events[i].kv.mod_revision + 1;
		if (wr.n_events == 0) {
			printf("progress revision=%" PRId64 "\n", wr.hdr.revision);
			ask_progress = false;
		}
		print_events(&wr);
		fflush(stdout);
		got += (int)wr.n_events;
		etcd_watch_resp_free(&wr);
	}
	if (cancel_ms)
		pthread_join(th, NULL);
out:
	etcd_watch_close(w);
	if (r < 0)
		return report(r == -EAGAIN ? rv_fail(r, "nothing within %d ms", timeout) : r);
	return 0;
}

/* ---- leases ---- */

static int cmd_keepalive(int argc, char **argv)
{
	int64_t ids[16];
	size_t n = 0;
	int ep = ETCD_ANY, rounds = 1, interval = 500, timeout = 20000, reopen = -2, r = 0;
	const char *after = NULL;
	etcd_keepalive *k;

	for (int i = 0; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--lease") && n < 16) ids[n++] = (int64_t)strtoull(v, NULL, 16);
		else if (!strcmp(a, "--ep")) ep = atoi(v);
		else if (!strcmp(a, "--rounds")) rounds = atoi(v);
		else if (!strcmp(a, "--interval")) interval = atoi(v);
		else if (!strcmp(a, "--timeout")) timeout = atoi(v);
		else if (!strcmp(a, "--after-first")) after = v;
		else if (!strcmp(a, "--reopen-on")) reopen = atoi(v);
		else return usage();
	}
	if (!n || argc % 2)
		return usage();
	if ((r = etcd_keepalive_open(cli, ep, &k)) < 0)
		return report(r);
	printf("opened ep=%d\n", etcd_keepalive_endpoint(k));
	for (int round = 0; round < rounds && r >= 0; round++) {
		if (round)
			rv_sleep_ms(interval);
		for (size_t i = 0; i < n && r >= 0; i++)
			r = etcd_keepalive_send(k, ids[i]);
		for (size_t i = 0; i < n && r >= 0; i++) {
			int64_t id = 0, ttl = 0;
			r = etcd_keepalive_read(k, timeout, NULL, &id, &ttl, NULL);
			if (r == -ENOENT) {
				printf("gone id=%" PRIx64 "\n", (uint64_t)id);
				r = 0;
			} else if (r == 0) {
				printf("ka id=%" PRIx64 " ttl=%" PRId64 "\n", (uint64_t)id, ttl);
			}
		}
		if (r < 0 && reopen != -2 && r != -EAGAIN) {
			report(r);
			etcd_keepalive_close(k);
			if ((r = etcd_keepalive_open(cli, reopen, &k)) < 0)
				return report(r);
			printf("reopened ep=%d\n", etcd_keepalive_endpoint(k));
			reopen = -2;
			round--; /* this round again, on the new stream */
		}
		fflush(stdout);
		if (after && r >= 0 && system(after) != 0)
			fprintf(stderr, "etcd-tool: %s failed\n", after);
		after = NULL;
	}
	etcd_keepalive_close(k);
	if (r < 0)
		return report(r == -EAGAIN ? rv_fail(r, "no answer within %d ms", timeout) : r);
	return 0;
}

static int cmd_lease(int argc, char **argv)
{
	int64_t id, ttl = 0, granted = 0;
	int r;
	if (argc != 2)
		return usage();
	if (!strcmp(argv[0], "grant")) {
		r = etcd_lease_grant(cli, strtoll(argv[1], NULL, 10), &id, &granted);
		if (r == 0)
			printf("id=%" PRIx64 " ttl=%" PRId64 "\n", (uint64_t)id, granted);
		return r < 0 ? report(r) : 0;
	}
	id = (int64_t)strtoull(argv[1], NULL, 16);
	if (!strcmp(argv[0], "ttl")) {
		r = etcd_lease_time_to_live(cli, id, &ttl, &granted);
		if (r == 0)
			printf("ttl=%" PRId64 " granted=%" PRId64 "\n", ttl, granted);
	} else if (!strcmp(argv[0], "revoke")) {
		r = etcd_lease_revoke(cli, id);
		if (r == 0)
			printf("revoked\n");
	} else if (!strcmp(argv[0], "keepalive-once")) {
		r = etcd_lease_keepalive(cli, id, &ttl);
		if (r == 0)
			printf("ttl=%" PRId64 "\n", ttl);
	} else {
		return usage();
	}
	return r < 0 ? report(r) : 0;
}

/* ---- memory ---- */

static long rss_kb(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int discard(const uint8_t *data, size_t len, uint64_t total, void *ud)
{
	(void)data;
	(void)total;
	*(uint64_t *)ud += len;
	return 0;
}

/* One watch (open, a progress answer, close) and one keep-alive stream (open,
 * one renewal, close). */
static int stream_round(int ep, int64_t lease)
{
	struct etcd_watch_opts o = {.key = "/soak/", .key_len = 6, .range_end = "/soak0", .range_end_len = 6};
	struct etcd_watch_resp wr;
	etcd_watch *w;
	etcd_keepalive *k;
	int64_t id, ttl;
	int r = etcd_watch_open(cli, ep, &o, &w);
	if (r < 0)
		return r;
	if ((r = etcd_watch_request_progress(w)) == 0 && (r = etcd_watch_read(w, 10000, NULL, &wr)) == 0)
		etcd_watch_resp_free(&wr);
	etcd_watch_close(w);
	if (r < 0 || (r = etcd_keepalive_open(cli, ep, &k)) < 0)
		return r;
	if ((r = etcd_keepalive_send(k, lease)) == 0)
		r = etcd_keepalive_read(k, 10000, NULL, &id, &ttl, NULL);
	etcd_keepalive_close(k);
	return r;
}

static int cmd_soak(int argc, char **argv)
{
	int n_status, n_snap, n_streams, ep = 0, r = 0;
	int64_t lease, ttl;
	long after10 = 0;
	if (argc != 3 && !(argc == 5 && !strcmp(argv[3], "--ep")))
		return usage();
	n_status = atoi(argv[0]);
	n_snap = atoi(argv[1]);
	n_streams = atoi(argv[2]);
	if (argc == 5)
		ep = atoi(argv[4]);
	if ((r = etcd_lease_grant(cli, 600, &lease, &ttl)) < 0)
		return report(r);
	/* The first 10 of each warm the process up (gRPC's threads, the channel, the
	 * allocator's arenas); what comes after them must not grow. */
	int most = n_status > n_snap ? n_status : n_snap;
	most = most > n_streams ? most : n_streams;
	for (int i = 0; i < most && r == 0; i++) {
		struct etcd_status st;
		if (i < n_status)
			r = etcd_status(cli, ep, &st);
		if (r == 0 && i < n_snap) {
			uint64_t bytes = 0;
			r = etcd_snapshot(cli, ep, 0, NULL, discard, &bytes);
		}
		if (r == 0 && i < n_streams)
			r = stream_round(ep, lease);
		if (i == 9) {
			after10 = rss_kb();
			printf("rss_kb_after_10 %ld\n", after10);
			fflush(stdout);
		}
	}
	etcd_lease_revoke(cli, lease);
	if (r < 0)
		return report(r);
	if (!after10)
		after10 = rss_kb();
	long end = rss_kb();
	printf("rss_kb_end %ld\ngrowth_kb %ld\n", end, end - after10);
	printf("done status=%d snapshots=%d streams=%d\n", n_status, n_snap, n_streams);
	return 0;
}

/* ---- two threads, one client ---- */

struct worker {
	int id, rounds, err;
	char msg[512];
};

static int worker_round(struct worker *wk, int i)
{
	char key[64], val[32];
	struct etcd_status st;
	struct etcd_watch_opts o = {0};
	struct etcd_watch_resp wr;
	struct etcd_txn_resp tr;
	etcd_watch *w;
	etcd_keepalive *k;
	int64_t lease, ttl, id;
	int r;

	snprintf(key, sizeof key, "/threads/%d", wk->id);
	snprintf(val, sizeof val, "%d", i);
	if ((r = etcd_status(cli, ETCD_ANY, &st)) < 0)
		return r;
	o.key = key;
	o.key_len = strlen(key);
	if ((r = etcd_watch_open(cli, ETCD_ANY, &o, &w)) < 0)
		return r;
	struct etcd_op put = {.type = ETCD_OP_PUT, .key = key, .key_len = o.key_len, .value = val,
			      .value_len = strlen(val)};
	struct etcd_compare cmp = {.key = key, .key_len = o.key_len, .target = ETCD_CMP_VERSION,
				   .result = ETCD_CMP_EQUAL, .number = i};
	struct etcd_txn_req req = {.cmp = &cmp, .n_cmp = 1, .success = &put, .n_success = 1};
	r = etcd_txn(cli, &req, &tr);
	if (r == 0) {
		if (!tr.succeeded)
			r = rv_fail(-EPROTO, "thread %d: txn %d did not succeed", wk->id, i);
		etcd_txn_resp_free(&tr);
	}
	if (r == 0 && (r = etcd_watch_read(w, 10000, NULL, &wr)) == 0) {
		if (wr.n_events != 1 || wr.events[0].kv.value_len != strlen(val) ||
		    memcmp(wr.events[0].kv.value, val, strlen(val)))
			r = rv_fail(-EPROTO, "thread %d: watch saw something else than put %d", wk->id, i);
		etcd_watch_resp_free(&wr);
	}
	etcd_watch_close(w);
	if (r < 0 || (r = etcd_lease_grant(cli, 60, &lease, &ttl)) < 0)
		return r;
	if ((r = etcd_keepalive_open(cli, ETCD_ANY, &k)) == 0) {
		if ((r = etcd_keepalive_send(k, lease)) == 0)
			r = etcd_keepalive_read(k, 10000, NULL, &id, &ttl, NULL);
		if (r == 0 && id != lease)
			r = rv_fail(-EPROTO, "thread %d: keep-alive answered for another lease", wk->id);
		etcd_keepalive_close(k);
	}
	int r2 = etcd_lease_revoke(cli, lease);
	return r < 0 ? r : r2;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	for (int i = 0; i < wk->rounds && !wk->err; i++) {
		int r = worker_round(wk, i);
		if (r < 0) {
			wk->err = r;
			snprintf(wk->msg, sizeof wk->msg, "%s", rv_errmsg(r));
		}
	}
	return NULL;
}

static int cmd_threads(int argc, char **argv)
{
	struct worker wk[2];
	pthread_t th[2];
	int rc = 0;
	if (argc != 1)
		return usage();
	/* Each thread's key starts at version 0 for the compare. */
	etcd_delete_range(cli, "/threads/", 9, "/threads0", 9, NULL);
	for (int i = 0; i < 2; i++) {
		wk[i] = (struct worker){.id = i, .rounds = atoi(argv[0])};
		pthread_create(&th[i], NULL, worker_main, &wk[i]);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		if (wk[i].err) {
			printf("thread %d error %s: %s\n", i, errname(wk[i].err), wk[i].msg);
			rc = 1;
		} else {
			printf("thread %d ok rounds=%d\n", i, wk[i].rounds);
		}
	}
	return rc;
}

static int cmd_idle_then_streams(int argc, char **argv)
{
	struct etcd_watch_opts o = {.key = "/idle", .key_len = 5};
	struct etcd_watch_resp wr;
	struct etcd_status st;
	etcd_watch *w;
	etcd_keepalive *k;
	int64_t lease, id, ttl;
	int r;
	if (argc != 1)
		return usage();
	if ((r = etcd_lease_grant(cli, 60, &lease, &ttl)) < 0 || (r = etcd_status(cli, 0, &st)) < 0)
		return report(r);
	rv_sleep_ms(atoi(argv[0]));
	if ((r = etcd_watch_open(cli, 0, &o, &w)) < 0)
		return report(r);
	if ((r = etcd_watch_request_progress(w)) == 0 && (r = etcd_watch_read(w, 10000, NULL, &wr)) == 0) {
		printf("watch progress revision=%" PRId64 "\n", wr.hdr.revision);
		etcd_watch_resp_free(&wr);
	}
	etcd_watch_close(w);
	if (r < 0)
		return report(r);
	if ((r = etcd_keepalive_open(cli, 0, &k)) < 0)
		return report(r);
	if ((r = etcd_keepalive_send(k, lease)) == 0 && (r = etcd_keepalive_read(k, 10000, NULL, &id, &ttl, NULL)) == 0)
		printf("ka id=%" PRIx64 " ttl=%" PRId64 "\n", (uint64_t)id, ttl);
	etcd_keepalive_close(k);
	if (r == 0)
		r = etcd_lease_revoke(cli, lease);
	return r < 0 ? report(r) : 0;
}

int main(int argc, char **argv)
{
	int r, rc;
	if (argc < 2)
		return usage();
	if ((r = open_client()) < 0)
		return report(r);
	if (!strcmp(argv[1], "txn"))
		rc = cmd_txn(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "watch"))
		rc = cmd_watch(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "keepalive"))
		rc = cmd_keepalive(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "lease"))
		rc = cmd_lease(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "soak"))
		rc = cmd_soak(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "threads"))
		rc = cmd_threads(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "idle-then-streams"))
		rc = cmd_idle_then_streams(argc - 2, argv + 2);
	else
		rc = usage();
	fflush(stdout);
	etcd_client_free(cli);
	return rc;
}
