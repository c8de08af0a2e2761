/* config.c - the YAML configuration: which file, every key, defaults, and checks
 * across keys. Typed access to the YAML lives in config_yaml.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "maint/maint.h"
#include "scheduler/config_yaml.h"
#include "scheduler/scheduler.h"

#define DEFAULT_STATE_DIR "/var/lib/regvault"
#define DEFAULT_DEFRAG_RULE "dbQuotaUsage > 0.8 || dbSizeFree > 200MiB"

/* What parsing keeps besides the result: where keys were, and the secret files,
 * which are read only once the whole file has parsed. */
struct load {
	struct rv_config *cfg;
	bool file_public; /* the config file itself is readable by other users */
	yaml_node_t *root, *cluster, *members, *etcd, *tls, *auth, *s3, *source;
	yaml_node_t *password_file_at, *key_id_file_at, *secret_file_at, *inline_secret_at, *passphrase_at;
	yaml_node_t *sse_at, *kms_key_id_at;
	yaml_node_t *agent, *agent_key_at, *first_member_agent_at;
	size_t first_member_agent;
	char *password_file, *key_id_file, *secret_file, *source_name;
};

/* ---- cluster ---- */

struct member_load {
	struct load *L;
	struct member_spec *m;
	bool has_control;
};

static int member_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct member_load *ml = ud;
	struct member_spec *m = ml->m;
	if (strcmp(key, "name") == 0)
		return cfg_string(d, path, v, &m->name);
	if (strcmp(key, "client_url") == 0)
		return cfg_string(d, path, v, &m->client_url);
	if (strcmp(key, "peer_url") == 0)
		return cfg_string(d, path, v, &m->peer_url);
	if (strcmp(key, "data_dir") == 0)
		return cfg_string(d, path, v, &m->data_dir);
	if (strcmp(key, "unit") == 0)
		return cfg_string(d, path, v, &m->unit);
	if (strcmp(key, "agent") == 0) {
		int r = cfg_string(d, path, v, &m->agent);
		if (r == 0 && !ml->L->first_member_agent_at) {
			ml->L->first_member_agent_at = v;
			ml->L->first_member_agent = (size_t)(m - ml->L->cfg->cluster.members);
		}
		return r < 0 ? r : cfg_check_hostport(d, v, path, m->agent, false);
	}
	if (strcmp(key, "control") == 0) {
		char *s = NULL;
		int r = cfg_string(d, path, v, &s);
		if (r < 0)
			return r;
		if (strcmp(s, "local") == 0)
			m->control = MEMBER_CONTROL_LOCAL;
		else if (strcmp(s, "systemd") == 0)
			m->control = MEMBER_CONTROL_SYSTEMD;
		else
			r = cfg_fail(d, v, "%s must be local or systemd, not '%s'", path, s);
		free(s);
		return r;
	}
	return CFG_UNKNOWN;
}

/* Names end up in file names and in --initial-cluster "name=url,...". */
static int check_name(struct cfg_doc *d, yaml_node_t *at, const char *path, const char *name)
{
	for (const char *p = name; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
		    *p != '-' && *p != '_' && *p != '.')
			return cfg_fail(d, at, "%s '%s' may only hold letters, digits, '-', '_' and '.'", path, name);
	return 0;
}

static int check_url(struct cfg_doc *d, yaml_node_t *at, const char *path, const char *url)
{
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return cfg_fail(d, at, "%s must be a URL like http://127.0.0.1:2379, not '%s'", path, url);
	return 0;
}

static int parse_member(struct cfg_doc *d, struct load *L, size_t i, yaml_node_t *n)
{
	struct member_spec *m = &L->cfg->cluster.members[i];
	struct member_load ml = {L, m, false};
	char path[CFG_PATH_MAX];
	static const char *const required[] = {"name", "client_url", "peer_url", "data_dir"};

	snprintf(path, sizeof path, "cluster.members[%zu]", i);
	if (n->type != YAML_MAPPING_NODE)
		return cfg_fail(d, n, "%s must be a mapping with name, client_url, peer_url and data_dir", path);
	int r = cfg_each_pair(d, n, path, member_pair, &ml);
	if (r < 0)
		return r;
	char *const values[] = {m->name, m->client_url, m->peer_url, m->data_dir};
	for (size_t k = 0; k < RV_ARRAY_LEN(required); k++)
		if (!values[k])
			return cfg_fail(d, n, "missing required key %s.%s", path, required[k]);
	char kp[CFG_PATH_MAX];
	if ((r = check_name(d, n, cfg_join(kp, path, "name"), m->name)) < 0 ||
	    (r = check_url(d, n, cfg_join(kp, path, "client_url"), m->client_url)) < 0 ||
	    (r = check_url(d, n, cfg_join(kp, path, "peer_url"), m->peer_url)) < 0)
		return r;
	if (m->control == MEMBER_CONTROL_SYSTEMD && !m->unit)
		return cfg_fail(d, n, "missing required key %s.unit (the systemd unit, with control: systemd)",
				path);
	for (size_t j = 0; j < i; j++) {
		const struct member_spec *o = &L->cfg->cluster.members[j];
		if (strcmp(o->name, m->name) == 0)
			return cfg_fail(d, n, "member name %s is used twice (cluster.members[%zu] and [%zu])",
					m->name, j, i);
		if (strcmp(o->client_url, m->client_url) == 0 || strcmp(o->peer_url, m->peer_url) == 0 ||
		    strcmp(o->client_url, m->peer_url) == 0 || strcmp(o->peer_url, m->client_url) == 0)
			return cfg_fail(d, n, "members %s and %s share a URL; each member needs its own client and peer URLs",
					o->name, m->name);
		if (strcmp(o->data_dir, m->data_dir) == 0)
			return cfg_fail(d, n,
					"data_dir %s is used by two members (%s and %s); each member needs its own",
					m->data_dir, o->name, m->name);
	}
	return 0;
}

static int parse_members(struct cfg_doc *d, struct load *L, const char *path, yaml_node_t *v)
{
	struct cluster_spec *cs = &L->cfg->cluster;
	if (v->type != YAML_SEQUENCE_NODE)
		return cfg_fail(d, v, "%s must be a list of members (- name: ...), not %s", path,
				v->type == YAML_MAPPING_NODE ? "a mapping" : "a single value");
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n == 0)
		return cfg_fail(d, v, "%s needs at least one member", path);
	cs->members = rv_xcalloc(n, sizeof *cs->members);
	for (size_t i = 0; i < n; i++) {
		cs->n_members = i + 1; /* so that config_free frees what was parsed */
		int r = parse_member(d, L, i, cfg_node(d, v->data.sequence.items.start[i]));
		if (r < 0)
			return r;
	}
	return 0;
}

/* cluster.etcd.extra_args: a list of flags, each "--flag" or "--flag=value". The
 * flags regvault sets itself are refused: a second value would silently win. */
static int parse_extra_args(struct cfg_doc *d, const char *path, yaml_node_t *v, struct etcd_flags *e)
{
	static const char *const owned[] = {
		"--name", "--data-dir", "--listen-client-urls", "--advertise-client-urls", "--listen-peer-urls",
		"--initial-advertise-peer-urls", "--initial-cluster", "--initial-cluster-token",
		"--initial-cluster-state",
	};
	char item[CFG_PATH_MAX];
	size_t n;

	if (v->type != YAML_SEQUENCE_NODE)
		return cfg_fail(d, v, "%s must be a list of etcd flags, like [\"--auth-token-ttl=60\"]", path);
	for (size_t i = 0; i < e->n_extra_args; i++)
		free(e->extra_args[i]);
	free(e->extra_args);
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	e->extra_args = rv_xcalloc(n ? n : 1, sizeof(char *));
	e->n_extra_args = 0;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = cfg_node(d, v->data.sequence.items.start[i]);
		char *s = NULL;
		snprintf(item, sizeof item, "%s[%zu]", path, i);
		int r = cfg_string(d, item, it, &s);
		if (r < 0)
			return r;
		e->extra_args[e->n_extra_args++] = s;
		if (strncmp(s, "--", 2) != 0)
			return cfg_fail(d, it, "%s is '%s'; etcd flags start with --", item, s);
		for (size_t k = 0; k < RV_ARRAY_LEN(owned); k++) {
			size_t l = strlen(owned[k]);
			if (strncmp(s, owned[k], l) == 0 && (s[l] == 0 || s[l] == '='))
				return cfg_fail(d, it, "%s sets %s, which regvault sets from the member's configuration",
						item, owned[k]);
		}
	}
	return 0;
}

static int etcd_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct etcd_flags *e = ud;
	if (strcmp(key, "heartbeat_interval_ms") == 0)
		return cfg_int32(d, path, v, 1, 60000, &e->heartbeat_interval_ms);
	if (strcmp(key, "election_timeout_ms") == 0)
		return cfg_int32(d, path, v, 1, 600000, &e->election_timeout_ms);
	if (strcmp(key, "quota_backend_bytes") == 0)
		return cfg_size(d, path, v, &e->quota_backend_bytes);
	if (strcmp(key, "auto_compaction_retention") == 0)
		return cfg_string(d, path, v, &e->auto_compaction_retention);
	if (strcmp(key, "binary") == 0)
		return cfg_string(d, path, v, &e->binary);
	if (strcmp(key, "extra_args") == 0)
		return parse_extra_args(d, path, v, e);
	return CFG_UNKNOWN;
}

static int tls_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct etcd_tls_opts *t = ud;
	if (strcmp(key, "ca_file") == 0)
		return cfg_string(d, path, v, &t->ca_file);
	if (strcmp(key, "cert_file") == 0)
		return cfg_string(d, path, v, &t->cert_file);
	if (strcmp(key, "key_file") == 0)
		return cfg_string(d, path, v, &t->key_file);
	return CFG_UNKNOWN;
}

static int auth_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct load *L = ud;
	if (strcmp(key, "user") == 0)
		return cfg_string(d, path, v, &L->cfg->cluster.user);
	if (strcmp(key, "password_file") == 0) {
		L->password_file_at = v;
		return cfg_string(d, path, v, &L->password_file);
	}
	return CFG_UNKNOWN;
}

static int cluster_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct load *L = ud;
	struct cluster_spec *cs = &L->cfg->cluster;
	if (strcmp(key, "name") == 0)
		return cfg_string(d, path, v, &cs->name);
	if (strcmp(key, "token") == 0)
		return cfg_string(d, path, v, &cs->token);
	if (strcmp(key, "members") == 0) {
		L->members = v;
		return parse_members(d, L, path, v);
	}
	if (strcmp(key, "etcd") == 0) {
		L->etcd = v;
		return cfg_each_pair(d, v, path, etcd_pair, &cs->etcd);
	}
	if (strcmp(key, "tls") == 0) {
		L->tls = v;
		return cfg_each_pair(d, v, path, tls_pair, &cs->tls);
	}
	if (strcmp(key, "auth") == 0) {
		L->auth = v;
		return cfg_each_pair(d, v, path, auth_pair, L);
	}
	return CFG_UNKNOWN;
}

static int check_cluster(struct cfg_doc *d, struct load *L)
{
	struct cluster_spec *cs = &L->cfg->cluster;
	struct etcd_flags *e = &cs->etcd;
	if (!L->cluster)
		return cfg_fail(d, L->root, "missing required key cluster (the etcd members regvault manages)");
	if (!cs->name)
		return cfg_fail(d, L->cluster, "missing required key cluster.name");
	int r = check_name(d, L->cluster, "cluster.name", cs->name);
	if (r < 0)
		return r;
	if (!L->members)
		return cfg_fail(d, L->cluster, "missing required key cluster.members");
	if (!cs->token) {
		size_t n = strlen(cs->name) + sizeof "-cluster";
		cs->token = rv_xmalloc(n);
		snprintf(cs->token, n, "%s-cluster", cs->name);
	}
	/* etcd itself refuses an election timeout under five heartbeats; say so here. */
	if (e->election_timeout_ms < 5 * e->heartbeat_interval_ms)
		return cfg_fail(d, L->etcd ? L->etcd : L->cluster,
				"cluster.etcd.election_timeout_ms (%d) must be at least 5 times heartbeat_interval_ms (%d)",
				e->election_timeout_ms, e->heartbeat_interval_ms);
	if (!cs->tls.cert_file != !cs->tls.key_file)
		return cfg_fail(d, L->tls, "cluster.tls.cert_file and cluster.tls.key_file go together; set both or neither");
	if (cs->user && !L->password_file)
		return cfg_fail(d, L->auth, "missing required key cluster.auth.password_file (with cluster.auth.user)");
	if (!cs->user && L->password_file)
		return cfg_fail(d, L->auth, "missing required key cluster.auth.user (with cluster.auth.password_file)");
	return 0;
}

/* ---- store ---- */

static int s3_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct load *L = ud;
	struct s3_opts *s = &L->cfg->store.s3;
	if (strcmp(key, "endpoint") == 0)
		return cfg_string(d, path, v, &s->endpoint);
	if (strcmp(key, "region") == 0)
		return cfg_string(d, path, v, &s->region);
	if (strcmp(key, "access_key_id") == 0)
		return cfg_string(d, path, v, &s->access_key_id);
	if (strcmp(key, "access_key_id_file") == 0) {
		L->key_id_file_at = v;
		return cfg_string(d, path, v, &L->key_id_file);
	}
	if (strcmp(key, "secret_access_key_file") == 0) {
		L->secret_file_at = v;
		return cfg_string(d, path, v, &L->secret_file);
	}
	if (strcmp(key, "secret_access_key") == 0) {
		L->inline_secret_at = v;
		return cfg_string(d, path, v, &s->secret_access_key);
	}
	if (strcmp(key, "session_token") == 0)
		return cfg_string(d, path, v, &s->session_token);
	if (strcmp(key, "path_style") == 0) {
		bool b;
		int r = cfg_bool(d, path, v, &b);
		if (r == 0)
			s->path_style = b;
		return r;
	}
	if (strcmp(key, "ca_file") == 0)
		return cfg_string(d, path, v, &s->ca_file);
	if (strcmp(key, "timeout_s") == 0)
		return cfg_int32(d, path, v, 1, 86400, &s->timeout_s);
	if (strcmp(key, "parts_in_flight") == 0)
		return cfg_int32(d, path, v, 1, S3_PARTS_IN_FLIGHT_MAX, &s->parts_in_flight);
	if (strcmp(key, "sse") == 0) {
		L->sse_at = v;
		return cfg_string(d, path, v, &s->sse);
	}
	if (strcmp(key, "kms_key_id") == 0) {
		L->kms_key_id_at = v;
		return cfg_string(d, path, v, &s->kms_key_id);
	}
	return CFG_UNKNOWN;
}

static int encryption_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct load *L = ud;
	struct store_encryption *e = &L->cfg->store.enc;
	if (strcmp(key, "recipients") == 0) {
		char item[CFG_PATH_MAX];
		size_t n;
		if (v->type != YAML_SEQUENCE_NODE)
			return cfg_fail(d, v, "%s must be a list of age recipients, like [\"age1...\"]", path);
		for (size_t i = 0; i < e->n_recipients; i++)
			free(e->recipients[i]);
		free(e->recipients);
		n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
		e->recipients = rv_xcalloc(n ? n : 1, sizeof(char *));
		e->n_recipients = 0;
		for (size_t i = 0; i < n; i++) {
			yaml_node_t *it = cfg_node(d, v->data.sequence.items.start[i]);
			char *s = NULL;
			snprintf(item, sizeof item, "%s[%zu]", path, i);
			int r = cfg_string(d, item, it, &s);
			if (r < 0)
				return r;
			e->recipients[e->n_recipients++] = s;
			if (strncmp(s, "age1", 4) != 0)
				return cfg_fail(d, it, "%s is '%.70s'; an age recipient starts with age1", item, s);
		}
		return 0;
	}
	if (strcmp(key, "recipients_file") == 0)
		return cfg_string(d, path, v, &e->recipients_file);
	if (strcmp(key, "identity_file") == 0)
		return cfg_string(d, path, v, &e->identity_file);
	if (strcmp(key, "passphrase_file") == 0) {
		L->passphrase_at = v;
		return cfg_string(d, path, v, &e->passphrase_file);
	}
	return CFG_UNKNOWN;
}

static int store_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct load *L = ud;
	if (strcmp(key, "encryption") == 0)
		return cfg_each_pair(d, v, path, encryption_pair, L);
	if (strcmp(key, "url") == 0)
		return cfg_string(d, path, v, &L->cfg->store.url);
	if (strcmp(key, "s3") == 0) {
		L->s3 = v;
		return cfg_each_pair(d, v, path, s3_pair, L);
	}
	return CFG_UNKNOWN;
}

static int check_store(struct cfg_doc *d, struct load *L)
{
	struct s3_opts *s = &L->cfg->store.s3;
	const struct store_encryption *e = &L->cfg->store.enc;
	if (e->passphrase_file && (e->n_recipients || e->recipients_file || e->identity_file))
		return cfg_fail(d, L->passphrase_at,
				"store.encryption.passphrase_file goes alone: the age format allows a passphrase only without recipients, so drop recipients, recipients_file and identity_file or the passphrase");
	/* scrypt for every segment (one a second): 256 MiB and about a second each */
	if (e->passphrase_file && L->cfg->daemon.continuous_enabled)
		return cfg_fail(d, L->passphrase_at,
				"continuous backup (daemon.continuous.enabled) does not run with store.encryption.passphrase_file: scrypt would take 256 MiB and about a second for every segment; use store.encryption.recipients instead");
	const char *sse_problem = store_s3_sse_problem(s->sse, s->kms_key_id);
	if (sse_problem)
		return cfg_fail(d, store_s3_sse_problem(s->sse, NULL) ? L->sse_at : L->kms_key_id_at, "%s", sse_problem);
	if (s->access_key_id && L->key_id_file)
		return cfg_fail(d, L->key_id_file_at,
				"store.s3.access_key_id and store.s3.access_key_id_file exclude each other; keep one");
	if (s->secret_access_key && L->secret_file)
		return cfg_fail(d, L->secret_file_at,
				"store.s3.secret_access_key and store.s3.secret_access_key_file exclude each other; keep one");
	if (s->secret_access_key && L->file_public)
		return cfg_fail(d, L->inline_secret_at,
				"store.s3.secret_access_key is written inline but this file is readable by other users; "
				"chmod 600 it, or move the key to a file named by store.s3.secret_access_key_file");
	return 0;
}

/* ---- snapshot, maint ---- */

static int retention_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct retention_policy *p = ud;
	static const char *const keys[] = {"keep_last", "keep_hourly", "keep_daily", "keep_weekly",
					   "keep_monthly"};
	int *const fields[] = {&p->keep_last, &p->keep_hourly, &p->keep_daily, &p->keep_weekly,
			       &p->keep_monthly};
	for (size_t i = 0; i < RV_ARRAY_LEN(keys); i++)
		if (strcmp(key, keys[i]) == 0)
			return cfg_int32(d, path, v, 0, 1000000, fields[i]);
	if (strcmp(key, "keep_tagged") == 0)
		return cfg_bool(d, path, v, &p->keep_tagged);
	return CFG_UNKNOWN;
}

static int snapshot_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct load *L = ud;
	struct snapshot_settings *s = &L->cfg->snapshot;
	if (strcmp(key, "source") == 0) {
		L->source = v;
		return cfg_string(d, path, v, &L->source_name);
	}
	if (strcmp(key, "compression_level") == 0)
		return cfg_int32(d, path, v, 1, 19, &s->compression_level);
	if (strcmp(key, "retention") == 0)
		return cfg_each_pair(d, v, path, retention_pair, &s->retention);
	return CFG_UNKNOWN;
}

static int check_snapshot(struct cfg_doc *d, struct load *L)
{
	struct snapshot_settings *s = &L->cfg->snapshot;
	const struct cluster_spec *cs = &L->cfg->cluster;
	if (!L->source_name || strcmp(L->source_name, "follower") == 0) {
		s->source = SNAP_SOURCE_FOLLOWER;
		return 0;
	}
	if (strcmp(L->source_name, "leader") == 0) {
		s->source = SNAP_SOURCE_LEADER;
		return 0;
	}
	for (size_t i = 0; i < cs->n_members; i++)
		if (strcmp(cs->members[i].name, L->source_name) == 0) {
			s->source = SNAP_SOURCE_MEMBER;
			s->source_member = rv_strdup(L->source_name);
			return 0;
		}
	return cfg_fail(d, L->source, "snapshot.source must be follower, leader or a member named in cluster.members, not '%s'",
			L->source_name);
}

static int maint_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct maint_settings *m = ud;
	if (strcmp(key, "compact_keep_revisions") == 0)
		return cfg_int(d, path, v, 0, INT64_MAX, &m->compact_keep_revisions);
	if (strcmp(key, "defrag_rule") == 0) {
		int r = cfg_string(d, path, v, &m->defrag_rule);
		if (r < 0)
			return r;
		/* Parsed here so that every command refuses a bad rule, not only a defrag. */
		maint_rule *rule = NULL;
		if ((r = maint_rule_parse(m->defrag_rule, &rule, NULL)) < 0) {
			char why[1024];
			snprintf(why, sizeof why, "%s", rv_errmsg(r));
			return cfg_fail(d, v, "%s is not a valid rule: %s", path, why);
		}
		maint_rule_free(rule);
		return 0;
	}
	if (strcmp(key, "disarm_threshold") == 0)
		return cfg_double(d, path, v, 0, 1, &m->disarm_threshold);
	return CFG_UNKNOWN;
}

/* ---- the whole file ---- */

static int top_pair(struct cfg_doc *d, const char *path, const char *key, yaml_node_t *v, void *ud)
{
	struct load *L = ud;
	struct rv_config *c = L->cfg;
	if (strcmp(key, "cluster") == 0) {
		L->cluster = v;
		return cfg_each_pair(d, v, path, cluster_pair, L);
	}
	if (strcmp(key, "store") == 0)
		return cfg_each_pair(d, v, path, store_pair, L);
	if (strcmp(key, "snapshot") == 0)
		return cfg_each_pair(d, v, path, snapshot_pair, L);
	if (strcmp(key, "maint") == 0)
		return cfg_each_pair(d, v, path, maint_pair, &c->maint);
	if (strcmp(key, "state_dir") == 0)
		return cfg_string(d, path, v, &c->state_dir);
	if (strcmp(key, "daemon") == 0)
		return cfg_daemon_section(d, path, v, &c->daemon);
	if (strcmp(key, "registry") == 0)
		return cfg_registry_section(d, path, v, &c->registry);
	if (strcmp(key, "agent") == 0) {
		L->agent = v;
		if (v->type == YAML_MAPPING_NODE)
			for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
				yaml_node_t *k = cfg_node(d, p->key);
				if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, "key_file") == 0)
					L->agent_key_at = cfg_node(d, p->value);
			}
		return cfg_agent_section(d, path, v, &c->agent);
	}
	return CFG_UNKNOWN;
}

static int set_defaults(struct rv_config *c)
{
	c->cluster.etcd.heartbeat_interval_ms = 100;
	c->cluster.etcd.election_timeout_ms = 1000;
	c->cluster.etcd.quota_backend_bytes = 8589934592LL;
	c->store.s3.path_style = -1;
	c->store.s3.timeout_s = 300;
	c->snapshot.source = SNAP_SOURCE_FOLLOWER;
	c->snapshot.compression_level = 3;
	c->snapshot.retention.keep_tagged = true;
	c->maint.compact_keep_revisions = 1000;
	c->maint.disarm_threshold = 0.9;
	cfg_registry_defaults(&c->registry);
	cfg_agent_defaults(&c->agent);
	return cfg_daemon_defaults(&c->daemon);
}

static void default_string(char **s, const char *value)
{
	if (!*s)
		*s = rv_strdup(value);
}

/* Read one line from a file that is not secret (an access key id). */
static int read_line_file(const char *path, const char *what, char **out)
{
	size_t len;
	char *s;
	int r = rv_read_file(path, &s, &len, 65536);
	if (r < 0)
		return rv_fail(r, "cannot read %s %s: %s", what, path, strerror(-r));
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = 0;
	*out = s;
	return 0;
}

/* The secret files, once everything else is known to be right. */
static int read_files(struct cfg_doc *d, struct load *L)
{
	struct rv_config *c = L->cfg;
	int r;
	if (L->password_file) {
		r = rv_read_secret_file(L->password_file, "password file", &c->cluster.password);
		if (r == 0 && !*c->cluster.password)
			r = rv_fail(-EINVAL, "password file %s is empty", L->password_file);
		if (r < 0)
			return rv_fail_wrap(r, "config %s line %lu (cluster.auth.password_file)", d->name,
					    cfg_line(L->password_file_at));
	}
	if (L->key_id_file) {
		r = read_line_file(L->key_id_file, "access key id file", &c->store.s3.access_key_id);
		if (r < 0)
			return rv_fail_wrap(r, "config %s line %lu (store.s3.access_key_id_file)", d->name,
					    cfg_line(L->key_id_file_at));
	}
	if (L->secret_file) {
		r = rv_read_secret_file(L->secret_file, "secret access key file", &c->store.s3.secret_access_key);
		if (r == 0 && !*c->store.s3.secret_access_key)
			r = rv_fail(-EINVAL, "secret access key file %s is empty", L->secret_file);
		if (r < 0)
			return rv_fail_wrap(r, "config %s line %lu (store.s3.secret_access_key_file)", d->name,
					    cfg_line(L->secret_file_at));
	}
	return 0;
}

static int parse(const char *text, size_t len, const char *name, bool file_public, struct rv_config *out)
{
	struct cfg_doc d = {.name = name};
	struct load L = {.cfg = out, .file_public = file_public};
	int r;

	memset(out, 0, sizeof *out);
	out->path = rv_strdup(name);
	r = set_defaults(out);
	if (r == 0)
		r = cfg_doc_load(&d, text, len);
	if (r < 0)
		goto out;
	L.root = cfg_root(&d);
	if (L.root->type != YAML_MAPPING_NODE) {
		r = cfg_fail(&d, L.root, "the top level must be a mapping with cluster:, store:, ... sections");
		goto out;
	}
	r = cfg_each_pair(&d, L.root, "", top_pair, &L);
	if (r == 0)
		r = check_cluster(&d, &L);
	if (r == 0)
		r = check_store(&d, &L);
	if (r == 0)
		r = check_snapshot(&d, &L);
	if (r == 0 && out->daemon.member) {
		bool found = false;
		for (size_t i = 0; i < out->cluster.n_members; i++)
			found |= strcmp(out->cluster.members[i].name, out->daemon.member) == 0;
		if (!found)
			r = rv_fail(-EINVAL, "config %s: daemon.member is '%s', which is not one of cluster.members' names",
				    name, out->daemon.member);
	}
	if (r == 0)
		r = cfg_agent_check(&d, out, L.agent, L.first_member_agent_at, L.first_member_agent);
	if (r == 0)
		r = read_files(&d, &L);
	if (r == 0)
		r = cfg_agent_files(&d, &out->agent, L.agent_key_at);
out:
	cfg_doc_free(&d);
	free(L.password_file);
	free(L.key_id_file);
	free(L.secret_file);
	free(L.source_name);
	if (r < 0) {
		config_free(out);
		return r;
	}
	default_string(&out->cluster.etcd.auto_compaction_retention, "1h");
	default_string(&out->cluster.etcd.binary, "etcd");
	default_string(&out->maint.defrag_rule, DEFAULT_DEFRAG_RULE);
	default_string(&out->state_dir, DEFAULT_STATE_DIR);
	cfg_daemon_finish(&out->daemon);
	return 0;
}

int config_parse(const char *text, size_t len, const char *name, struct rv_config *out)
{
	/* Text from memory has no file mode: nothing to refuse an inline secret for. */
	return parse(text, len, name ? name : "(memory)", false, out);
}

int config_load(const char *path, struct rv_config *out)
{
	char how[256];
	char *text;
	size_t len;
	struct stat st;
	int r;

	memset(out, 0, sizeof *out);
	snprintf(how, sizeof how, "given%s", rv_advice_text(RV_ADVICE_CONFIG_GIVEN));
	if (!path || !*path) {
		path = getenv("REGVAULT_CONFIG");
		snprintf(how, sizeof how, "from $REGVAULT_CONFIG");
		if (!path || !*path) {
			path = RV_DEFAULT_CONFIG;
			snprintf(how, sizeof how, "the default%s", rv_advice_text(RV_ADVICE_CONFIG_DEFAULT));
		}
	}
	r = rv_read_file(path, &text, &len, 4 << 20);
	if (r == -EFBIG)
		return rv_fail(r, "config %s (%s) is larger than 4 MiB; is it the right file?", path, how);
	if (r < 0)
		return rv_fail(r, "cannot read config %s (%s): %s", path, how, strerror(-r));
	bool file_public = stat(path, &st) == 0 && (st.st_mode & S_IROTH);
	r = parse(text, len, path, file_public, out);
	free(text);
	return r;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void config_free(struct rv_config *c)
{
	if (!c)
		return;
	struct cluster_spec *cs = &c->cluster;
	for (size_t i = 0; i < cs->n_members; i++) {
		struct member_spec *m = &cs->members[i];
		free(m->name);
		free(m->client_url);
		free(m->peer_url);
		free(m->data_dir);
		free(m->unit);
		free(m->agent);
	}
	free(cs->members);
	free(cs->name);
	free(cs->token);
	free(cs->etcd.auto_compaction_retention);
	free(cs->etcd.binary);
	for (size_t i = 0; i < cs->etcd.n_extra_args; i++)
		free(cs->etcd.extra_args[i]);
	free(cs->etcd.extra_args);
	free(cs->tls.ca_file);
	free(cs->tls.cert_file);
	free(cs->tls.key_file);
	free(cs->user);
	free_secret(cs->password);
	struct s3_opts *s = &c->store.s3;
	free(c->store.url);
	for (size_t i = 0; i < c->store.enc.n_recipients; i++)
		free(c->store.enc.recipients[i]);
	free(c->store.enc.recipients);
	free(c->store.enc.recipients_file);
	free(c->store.enc.identity_file);
	free(c->store.enc.passphrase_file);
	free(s->endpoint);
	free(s->region);
	free(s->access_key_id);
	free_secret(s->secret_access_key);
	free_secret(s->session_token);
	free(s->ca_file);
	free(s->sse);
	free(s->kms_key_id);
	free(c->snapshot.source_member);
	free(c->maint.defrag_rule);
	free(c->state_dir);
	cfg_daemon_free(&c->daemon);
	cfg_registry_free(&c->registry);
	cfg_agent_free(&c->agent);
	free(c->path);
	memset(c, 0, sizeof *c);
}
