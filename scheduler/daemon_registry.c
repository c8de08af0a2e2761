/* daemon_registry.c - the registry services inside the daemon (a registry: section):
 * one thread runs the GitOps sync every registry.sync.interval and when the
 * manifests directory changes (inotify, debounced), and hands the Service-type
 * capabilities it finds to the heartbeats; a second thread runs the heartbeats
 * (registry/heartbeat.c), which keep every lease over one keep-alive stream.
 *
 * A reload that changes only the sync's settings keeps the heartbeats running (no
 * health key disappears); one that changes the prefix, the TTL, the interval or the
 * cluster restarts them. Stopping revokes the leases, so the health keys go at once. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "scheduler/daemon_impl.h"

#define RETRY_MS 5000

struct registry_services {
	pthread_mutex_t mu;
	struct cfg_ref *cfg;       /* the sync thread's; a reload replaces it */
	etcd_client *client;       /* for the cluster of the heartbeats' config */
	struct heartbeat *hb;      /* NULL: heartbeats disabled */
	char *state_prefix;
	pthread_t sync_thread, hb_thread;
	bool sync_started, hb_started;
	struct rv_cancel sync_cancel, hb_cancel;
	int wake_pipe[2];          /* wakes the sync thread: reload, stop */
	/* the last pass, for status */
	int64_t last_pass_ms, last_success_ms;
	int last_rc;
	char last_error[512];
	json_t *last_report;
	/* the Service-type capabilities last handed to the heartbeats */
	struct capability *targets;
	size_t n_targets;
};

static void free_targets(struct capability *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		capability_free(&t[i]);
	free(t);
}

/* The capabilities t as the heartbeats' targets (heartbeat_set_targets copies them). */
static void hand_targets(struct heartbeat *hb, const struct capability *t, size_t n)
{
	struct heartbeat_target *ht = rv_xcalloc(n ? n : 1, sizeof *ht);
	for (size_t i = 0; i < n; i++) {
		ht[i].ns = t[i].ns;
		ht[i].check = &t[i].check;
	}
	heartbeat_set_targets(hb, ht, n);
	free(ht);
}

/* The Service-type capabilities of s; a namespace whose manifest is broken now
 * keeps the heartbeat it had (as the sync keeps its keys). */
static void update_targets(struct registry_services *rs, const struct manifest_set *s)
{
	struct capability *t = NULL;
	size_t n = 0;
	for (size_t i = 0; i < s->n_caps; i++) {
		if (s->caps[i].type != CAPABILITY_SERVICE)
			continue;
		t = rv_xrealloc(t, (n + 1) * sizeof *t);
		t[n++] = s->caps[i];
		memset(&s->caps[i], 0, sizeof s->caps[i]); /* moved */
		s->caps[i].type = CAPABILITY_SERVICE;
	}
	for (size_t p = 0; p < s->n_problems; p++) {
		const char *ns = s->problems[p].ns;
		if (!ns)
			continue;
		for (size_t j = 0; j < rs->n_targets; j++)
			if (rs->targets[j].ns && strcmp(rs->targets[j].ns, ns) == 0) {
				t = rv_xrealloc(t, (n + 1) * sizeof *t);
				t[n++] = rs->targets[j];
				memset(&rs->targets[j], 0, sizeof rs->targets[j]);
			}
	}
	if (rs->hb)
		hand_targets(rs->hb, t, n);
	pthread_mutex_lock(&rs->mu);
	free_targets(rs->targets, rs->n_targets);
	rs->targets = t;
	rs->n_targets = n;
	pthread_mutex_unlock(&rs->mu);
}

/* The sync logs drift, retries and prunes as they happen; the daemon adds the
 * invalid manifests (which a one-shot prints in its table) and one line for a pass
 * that changed something. */
static void log_pass(const struct sync_report *r)
{
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct sync_row *w = &r->rows[i];
		if (w->action == SYNC_INVALID)
			rv_warn("registry sync: %s:%u: %s (capability %s left as it is in etcd)", w->file ? w->file : "?",
				w->line, w->reason ? w->reason : "invalid", w->ns ? w->ns : "?");
	}
	if (r->txns)
		rv_info("registry sync: %zu created, %zu updated, %zu deleted, %zu put back after a hand edit%s%s",
			r->counts[SYNC_CREATE], r->counts[SYNC_UPDATE], r->counts[SYNC_DELETE], r->counts[SYNC_DRIFT],
			r->git_commit ? " at commit " : "", r->git_commit ? r->git_commit : "");
	if (r->warnings)
		rv_warn("registry sync: %s", r->warnings);
}

/* The heartbeats and the metrics follow the very set the sync wrote from (read
 * once per pass, after its git fetch): a manifest removed between two reads can
 * no longer leave a heartbeat for keys the sync has just deleted. */
static void manifests_loaded(struct manifest_set *set, void *ud)
{
	observe_registry_capabilities(set);
	update_targets(ud, set);
}

static int one_pass(struct registry_services *rs, struct cfg_ref *ref)
{
	const struct rv_config *cfg = &ref->cfg;
	int64_t start = rv_now_unix_ms();

	if (!cfg->registry.sync.enabled) {
		struct manifest_set set = {0};
		if (manifest_load_dir(cfg->registry.manifests_dir, &set) == 0)
			manifests_loaded(&set, rs);
		manifest_set_free(&set);
		return 0;
	}

	struct sync_report rep = {0};
	int r = registry_sync_pass(rs->client, &cfg->cluster, &cfg->registry, false, &rs->sync_cancel,
				   manifests_loaded, rs, &rep);
	observe_registry_sync(r == 0 ? &rep : NULL, r == 0, (double)rv_now_unix_ms() / 1000.0);
	pthread_mutex_lock(&rs->mu);
	rs->last_pass_ms = start;
	rs->last_rc = r;
	json_decref(rs->last_report);
	rs->last_report = NULL;
	if (r == 0) {
		rs->last_success_ms = rv_now_unix_ms();
		rs->last_error[0] = 0;
		rs->last_report = report_registry_sync_json(&rep);
	} else {
		snprintf(rs->last_error, sizeof rs->last_error, "%s", rv_errmsg(r));
	}
	pthread_mutex_unlock(&rs->mu);
	if (r == 0)
		log_pass(&rep);
	else if (r != -EINTR)
		rv_warn("registry sync failed, the next pass tries again: %s", rv_errmsg(r));
	rv_err_clear();
	sync_report_free(&rep);
	return r;
}

/* An inotify watch on the manifests directory, or -1 (missing: the interval still runs). */
static int watch_dir(int ifd, const char *dir)
{
	if (ifd < 0)
		return -1;
	return inotify_add_watch(ifd, dir,
				 IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF |
					 IN_MOVE_SELF | IN_ATTRIB);
}

static void drain_fd(int fd)
{
	char buf[4096];
	while (read(fd, buf, sizeof buf) > 0)
		;
}

static void *sync_main(void *arg)
{
	struct registry_services *rs = arg;
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	int wd = -1;
	char watched[4096] = "";
	int64_t next_pass = 0, debounce_until = 0;

	while (!rv_cancelled(&rs->sync_cancel)) {
		pthread_mutex_lock(&rs->mu);
		struct cfg_ref *ref = cfg_ref_get(rs->cfg);
		pthread_mutex_unlock(&rs->mu);
		const struct registry_settings *reg = &ref->cfg.registry;
		if (wd < 0 || strcmp(watched, reg->manifests_dir) != 0) {
			if (wd >= 0)
				inotify_rm_watch(ifd, wd);
			wd = watch_dir(ifd, reg->manifests_dir);
			snprintf(watched, sizeof watched, "%s", wd >= 0 ? reg->manifests_dir : "");
		}
		int64_t now = daemon_mono_ms();
		if (now >= next_pass || (debounce_until && now >= debounce_until)) {
			int r = one_pass(rs, ref);
			debounce_until = 0;
			/* a cluster still starting, or down: try again sooner than the interval */
			next_pass = daemon_mono_ms() + (r < 0 && reg->sync.interval_ms > RETRY_MS ? RETRY_MS : reg->sync.interval_ms);
		}
		int64_t wait = next_pass - daemon_mono_ms();
		if (debounce_until && debounce_until - daemon_mono_ms() < wait)
			wait = debounce_until - daemon_mono_ms();
		int64_t debounce = reg->sync.debounce_ms;
		cfg_ref_put(ref);
		if (wait < 0)
			wait = 0;
		struct pollfd p[2] = {{.fd = rs->wake_pipe[0], .events = POLLIN}, {.fd = wd >= 0 ? ifd : -1, .events = POLLIN}};
		int n = poll(p, 2, wait > 60000 ? 60000 : (int)wait);
		if (n > 0 && p[0].revents) {
			drain_fd(rs->wake_pipe[0]);
			next_pass = 0; /* a reload: a pass with the new settings at once */
		}
		if (n > 0 && p[1].revents) {
			char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
			ssize_t len;
			while ((len = read(ifd, buf, sizeof buf)) > 0)
				for (char *e = buf; e < buf + len; e += sizeof(struct inotify_event) + ((struct inotify_event *)e)->len)
					if (((struct inotify_event *)e)->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
						wd = -1; /* the directory went: watch it again when it is back */
			if (!debounce_until)
				debounce_until = daemon_mono_ms() + debounce;
		}
	}
	if (ifd >= 0)
		close(ifd);
	return NULL;
}

static void *hb_main(void *arg)
{
	struct registry_services *rs = arg;
	heartbeat_run(rs->hb, &rs->hb_cancel);
	rv_err_clear();
	return NULL;
}

static char *owner_text(void)
{
	char host[256] = "localhost", *s = NULL;
	gethostname(host, sizeof host - 1);
	if (asprintf(&s, "regvault daemon on %s (pid %d)", host, (int)getpid()) < 0)
		return NULL;
	return s;
}

static int start_heartbeats(struct registry_services *rs, const struct rv_config *cfg)
{
	const struct registry_settings *reg = &cfg->registry;
	char *owner = owner_text();
	struct heartbeat_opts o = {.prefix = reg->prefix, .state_prefix = rs->state_prefix, .ttl_ms = reg->heartbeat.ttl_ms,
				   .interval_ms = reg->heartbeat.interval_ms, .owner = owner ? owner : "regvault daemon"};
	int r = heartbeat_new(rs->client, &o, &rs->hb);
	free(owner);
	if (r < 0)
		return r;
	memset(&rs->hb_cancel, 0, sizeof rs->hb_cancel);
	if ((r = pthread_create(&rs->hb_thread, NULL, hb_main, rs)) != 0) {
		heartbeat_free(rs->hb);
		rs->hb = NULL;
		return rv_fail(-r, "cannot start the registry heartbeat thread: %s", strerror(r));
	}
	rs->hb_started = true;
	/* the targets known so far, at once */
	hand_targets(rs->hb, rs->targets, rs->n_targets);
	return 0;
}

static void stop_heartbeats(struct registry_services *rs)
{
	if (rs->hb_started) {
		rv_cancel_request(&rs->hb_cancel);
		pthread_join(rs->hb_thread, NULL);
		rs->hb_started = false;
	}
	heartbeat_free(rs->hb);
	rs->hb = NULL;
}

static int open_client(struct registry_services *rs, const struct rv_config *cfg)
{
	free(rs->state_prefix);
	rs->state_prefix = registry_state_prefix(&cfg->cluster);
	return cluster_client_new(&cfg->cluster, 5000, &rs->client);
}

int registry_services_start(struct cfg_ref *cfg, struct registry_services **out)
{
	const struct rv_config *c = &cfg->cfg;
	*out = NULL;
	if (!c->registry.configured || (!c->registry.sync.enabled && !c->registry.heartbeat.enabled))
		return 0;
	struct registry_services *rs = rv_xcalloc(1, sizeof *rs);
	pthread_mutex_init(&rs->mu, NULL);
	rs->wake_pipe[0] = rs->wake_pipe[1] = -1;
	rs->cfg = cfg_ref_get(cfg);
	int r = open_client(rs, c);
	if (r == 0 && pipe2(rs->wake_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		r = rv_fail(-errno, "cannot create the registry thread's wake-up pipe: %s", strerror(errno));
	if (r == 0 && c->registry.heartbeat.enabled)
		r = start_heartbeats(rs, c);
	if (r == 0) {
		int e = pthread_create(&rs->sync_thread, NULL, sync_main, rs);
		if (e != 0)
			r = rv_fail(-e, "cannot start the registry sync thread: %s", strerror(e));
		else
			rs->sync_started = true;
	}
	if (r < 0) {
		registry_services_stop(rs);
		return r;
	}
	observe_registry_started();
	rv_info("registry services started: manifests %s into %s (sync %s, heartbeats %s)", c->registry.manifests_dir,
		c->registry.prefix, c->registry.sync.enabled ? "on" : "off", c->registry.heartbeat.enabled ? "on" : "off");
	*out = rs;
	return 0;
}

/* Whatever the heartbeats depend on changed: then they restart. */
static bool heartbeats_differ(const struct rv_config *a, const struct rv_config *b)
{
	const struct registry_settings *x = &a->registry, *y = &b->registry;
	if (x->heartbeat.enabled != y->heartbeat.enabled || x->heartbeat.ttl_ms != y->heartbeat.ttl_ms ||
	    x->heartbeat.interval_ms != y->heartbeat.interval_ms || strcmp(x->prefix, y->prefix) != 0 ||
	    strcmp(a->cluster.name ? a->cluster.name : "", b->cluster.name ? b->cluster.name : "") != 0 ||
	    a->cluster.n_members != b->cluster.n_members)
		return true;
	for (size_t i = 0; i < a->cluster.n_members; i++)
		if (strcmp(a->cluster.members[i].client_url, b->cluster.members[i].client_url) != 0)
			return true;
	return false;
}

int registry_services_reload(struct registry_services **rsp, struct cfg_ref *cfg)
{
	struct registry_services *rs = *rsp;
	const struct rv_config *c = &cfg->cfg;
	bool want = c->registry.configured && (c->registry.sync.enabled || c->registry.heartbeat.enabled);
	if (!rs)
		return want ? registry_services_start(cfg, rsp) : 0;
	if (!want || heartbeats_differ(&rs->cfg->cfg, c)) {
		registry_services_stop(rs);
		*rsp = NULL;
		return want ? registry_services_start(cfg, rsp) : 0;
	}
	pthread_mutex_lock(&rs->mu);
	struct cfg_ref *old = rs->cfg;
	rs->cfg = cfg_ref_get(cfg);
	pthread_mutex_unlock(&rs->mu);
	cfg_ref_put(old);
	daemon_wake(rs->wake_pipe[1]);
	return 0;
}

void registry_services_stop(struct registry_services *rs)
{
	if (!rs)
		return;
	if (rs->sync_started) {
		rv_cancel_request(&rs->sync_cancel);
		daemon_wake(rs->wake_pipe[1]);
		pthread_join(rs->sync_thread, NULL);
	}
	stop_heartbeats(rs);
	if (rs->wake_pipe[0] >= 0) {
		close(rs->wake_pipe[0]);
		close(rs->wake_pipe[1]);
	}
	etcd_client_free(rs->client);
	free_targets(rs->targets, rs->n_targets);
	json_decref(rs->last_report);
	free(rs->state_prefix);
	cfg_ref_put(rs->cfg);
	pthread_mutex_destroy(&rs->mu);
	free(rs);
}

json_t *registry_services_status_json(struct registry_services *rs)
{
	if (!rs)
		return json_null();
	json_t *o = json_object(), *sync = json_object(), *hbs = json_array();
	pthread_mutex_lock(&rs->mu);
	json_object_set_new(sync, "last_pass_ms", json_integer(rs->last_pass_ms));
	json_object_set_new(sync, "last_success_ms", json_integer(rs->last_success_ms));
	json_object_set_new(sync, "result", json_string(rs->last_pass_ms == 0 ? "none" : rs->last_rc == 0 ? "success" : "failure"));
	json_object_set_new(sync, "error", rs->last_error[0] ? json_string(rs->last_error) : json_null());
	json_object_set_new(sync, "report", rs->last_report ? json_incref(rs->last_report) : json_null());
	pthread_mutex_unlock(&rs->mu);
	json_object_set_new(o, "sync", sync);
	if (rs->hb) {
		struct heartbeat_stat *st = NULL;
		size_t n = 0;
		struct heartbeat_totals t = {0};
		if (heartbeat_stats(rs->hb, &st, &n, &t) == 0) {
			observe_registry_heartbeats(st, n, &t);
			for (size_t i = 0; i < n; i++) {
				json_t *h = json_object();
				json_object_set_new(h, "namespace", json_string(st[i].ns));
				json_object_set_new(h, "status", json_string(st[i].status ? st[i].status : "pending"));
				json_object_set_new(h, "detail", st[i].detail[0] ? json_string(st[i].detail) : json_null());
				json_object_set_new(h, "lease", json_integer(st[i].lease));
				json_object_set_new(h, "heartbeat_count", json_integer(st[i].count));
				json_object_set_new(h, "last_ms", json_integer(st[i].last_ms));
				json_array_append_new(hbs, h);
			}
			json_t *tot = json_object();
			json_object_set_new(tot, "renewals", json_integer((json_int_t)t.renewals));
			json_object_set_new(tot, "leases_lost", json_integer((json_int_t)t.leases_lost));
			json_object_set_new(tot, "writes", json_integer((json_int_t)t.writes));
			json_object_set_new(o, "heartbeat_totals", tot);
		}
		free(st);
	}
	json_object_set_new(o, "heartbeats", hbs);
	return o;
}

/* For the metrics between status requests: the loop calls it now and then. */
void registry_services_observe(struct registry_services *rs)
{
	if (!rs || !rs->hb)
		return;
	struct heartbeat_stat *st = NULL;
	size_t n = 0;
	struct heartbeat_totals t = {0};
	if (heartbeat_stats(rs->hb, &st, &n, &t) == 0)
		observe_registry_heartbeats(st, n, &t);
	free(st);
}
