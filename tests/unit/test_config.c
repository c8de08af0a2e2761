/* Unit tests for the configuration loader (scheduler/config.c): every kind of bad
 * input as a table (YAML -> rc and a piece of the message), good files with their
 * defaults, file resolution and secret-file permissions. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "scheduler/scheduler.h"
#include "tests/unit/unit.h"

/* One valid member list; cases append to or replace parts of it. */
#define CLUSTER                                                                                  \
	"cluster:\n"                                                                             \
	"  name: reg\n"                                                                          \
	"  members:\n"                                                                           \
	"    - {name: e1, client_url: http://127.0.0.1:1, peer_url: http://127.0.0.1:2, data_dir: /d/e1}\n" \
	"    - {name: e2, client_url: http://127.0.0.1:3, peer_url: http://127.0.0.1:4, data_dir: /d/e2}\n"
#define M1 "    - {name: e1, client_url: http://h:1, peer_url: http://h:2, data_dir: /d1}\n"

struct bad_case {
	const char *what;
	const char *yaml;
	int rc;
	const char *msg; /* a substring of the message */
};

static const struct bad_case bad_cases[] = {
	/* the file as a whole */
	{"empty file", "", -EINVAL, "config t.yaml is empty"},
	{"only comments", "# nothing here\n\n", -EINVAL, "is empty"},
	{"syntax: unclosed flow", "cluster:\n  name: [a\n", -EINVAL, "YAML syntax error"},
	{"syntax: bad indentation", "cluster:\n  name: a\n   token: b\n  x\n", -EINVAL, "line 3: YAML syntax error: mapping values are not allowed"},
	{"syntax: tab", "cluster:\n\tname: a\n", -EINVAL, "line 2: YAML syntax error"},
	{"two documents", CLUSTER "---\nstate_dir: /x\n", -EINVAL, "line 7: a second YAML document"},
	{"top level a list", "- cluster\n", -EINVAL, "line 1: the top level must be a mapping"},
	{"top level a scalar", "hello\n", -EINVAL, "the top level must be a mapping"},
	{"unknown top-level section", CLUSTER "backup:\n  x: 1\n", -EINVAL, "line 6: unknown key backup"},
	{"duplicate top-level key", CLUSTER "state_dir: /a\nstate_dir: /b\n", -EINVAL,
	 "line 7: duplicate key state_dir (first on line 6)"},
	{"duplicate nested key", "cluster:\n  name: a\n  name: b\n", -EINVAL, "line 3: duplicate key cluster.name (first on line 2)"},
	{"section not a mapping", CLUSTER "store: /backups\n", -EINVAL, "line 6: store must be a mapping"},
	{"section a list", CLUSTER "maint: [1, 2]\n", -EINVAL, "maint must be a mapping (key: value lines), not a list"},
	{"key not a name", CLUSTER "[a, b]: c\n", -EINVAL, "line 6: a key under the top level must be a name"},
	/* cluster */
	{"no cluster", "state_dir: /x\n", -EINVAL, "line 1: missing required key cluster"},
	{"no cluster.name", "cluster:\n  members:\n" M1, -EINVAL, "line 2: missing required key cluster.name"},
	{"no cluster.members", "cluster:\n  name: a\n", -EINVAL, "missing required key cluster.members"},
	{"members empty list", "cluster:\n  name: a\n  members: []\n", -EINVAL, "line 3: cluster.members needs at least one member"},
	{"members a string", "cluster:\n  name: a\n  members: e1\n", -EINVAL, "line 3: cluster.members must be a list of members (- name: ...), not a single value"},
	{"members a mapping", "cluster:\n  name: a\n  members:\n    name: e1\n", -EINVAL, "cluster.members must be a list of members (- name: ...), not a mapping"},
	{"member a string", "cluster:\n  name: a\n  members:\n    - e1\n", -EINVAL, "line 4: cluster.members[0] must be a mapping"},
	{"unknown member key", "cluster:\n  name: a\n  members:\n" M1
	 "    - name: e2\n      client_url: http://h:3\n      dataa_dir: /d2\n", -EINVAL,
	 "config t.yaml line 7: unknown key cluster.members[1].dataa_dir"},
	{"member without peer_url", "cluster:\n  name: a\n  members:\n    - {name: e1, client_url: http://h:1, data_dir: /d}\n",
	 -EINVAL, "line 4: missing required key cluster.members[0].peer_url"},
	{"member without name", "cluster:\n  name: a\n  members:\n" M1 "    - {client_url: http://h:1, peer_url: http://h:2, data_dir: /d2}\n",
	 -EINVAL, "line 5: missing required key cluster.members[1].name"},
	{"duplicate member names", "cluster:\n  name: a\n  members:\n" M1 "    - {name: e1, client_url: http://h:3, peer_url: http://h:4, data_dir: /d2}\n",
	 -EINVAL, "member name e1 is used twice (cluster.members[0] and [1])"},
	{"duplicate data dirs", "cluster:\n  name: a\n  members:\n" M1 "    - {name: e2, client_url: http://h:3, peer_url: http://h:4, data_dir: /d1}\n",
	 -EINVAL, "data_dir /d1 is used by two members (e1 and e2)"},
	{"member URL without scheme", "cluster:\n  name: a\n  members:\n    - {name: e1, client_url: 127.0.0.1:2379, peer_url: http://h:2, data_dir: /d}\n",
	 -EINVAL, "line 4: cluster.members[0].client_url must be a URL like http://127.0.0.1:2379, not '127.0.0.1:2379'"},
	{"members share a URL", "cluster:\n  name: a\n  members:\n" M1 "    - {name: e2, client_url: http://h:2, peer_url: http://h:4, data_dir: /d2}\n",
	 -EINVAL, "line 5: members e1 and e2 share a URL"},
	{"member name with a comma", "cluster:\n  name: a\n  members:\n    - {name: 'e,1', client_url: http://h:1, peer_url: http://h:2, data_dir: /d}\n",
	 -EINVAL, "cluster.members[0].name 'e,1' may only hold letters, digits, '-', '_' and '.'"},
	{"cluster name with a slash", "cluster:\n  name: reg/prod\n  members:\n" M1, -EINVAL,
	 "cluster.name 'reg/prod' may only hold letters, digits"},
	{"empty quoted string", "cluster:\n  name: \"\"\n", -EINVAL, "line 2: cluster.name is an empty string"},
	{"bad control", "cluster:\n  name: a\n  members:\n    - {name: e1, client_url: http://h:1, peer_url: http://h:2, data_dir: /d, control: docker}\n",
	 -EINVAL, "cluster.members[0].control must be local or systemd, not 'docker'"},
	{"systemd without unit", "cluster:\n  name: a\n  members:\n    - {name: e1, client_url: http://h:1, peer_url: http://h:2, data_dir: /d, control: systemd}\n",
	 -EINVAL, "missing required key cluster.members[0].unit"},
	{"name a list", "cluster:\n  name: [a, b]\n", -EINVAL, "line 2: cluster.name must be a string, not a list"},
	{"name a mapping", "cluster:\n  name: {a: b}\n", -EINVAL, "cluster.name must be a string, not a mapping"},
	{"name without value", "cluster:\n  name:\n", -EINVAL, "line 2: cluster.name has no value"},
	{"unknown cluster key", CLUSTER "  tokn: x\n", -EINVAL, "line 6: unknown key cluster.tokn"},
	{"heartbeat not a number", CLUSTER "  etcd:\n    heartbeat_interval_ms: abc\n", -EINVAL,
	 "line 7: cluster.etcd.heartbeat_interval_ms must be an integer, not 'abc'"},
	{"heartbeat a float", CLUSTER "  etcd: {heartbeat_interval_ms: 1.5}\n", -EINVAL, "must be an integer, not '1.5'"},
	{"heartbeat zero", CLUSTER "  etcd: {heartbeat_interval_ms: 0}\n", -EINVAL,
	 "cluster.etcd.heartbeat_interval_ms must be between 1 and 60000, not 0"},
	{"heartbeat huge", CLUSTER "  etcd: {heartbeat_interval_ms: 99999999999999999999}\n", -EINVAL, "must be between"},
	{"election under 5 heartbeats", CLUSTER "  etcd: {heartbeat_interval_ms: 300, election_timeout_ms: 1000}\n",
	 -EINVAL, "line 6: cluster.etcd.election_timeout_ms (1000) must be at least 5 times heartbeat_interval_ms (300)"},
	{"quota not a size", CLUSTER "  etcd: {quota_backend_bytes: lots}\n", -EINVAL,
	 "cluster.etcd.quota_backend_bytes must be a size in bytes like 8589934592 or 8GiB, not 'lots'"},
	{"quota zero", CLUSTER "  etcd: {quota_backend_bytes: 0}\n", -EINVAL, "quota_backend_bytes must be more than 0"},
	{"retention a list", CLUSTER "  etcd: {auto_compaction_retention: [1h]}\n", -EINVAL,
	 "cluster.etcd.auto_compaction_retention must be a string, not a list"},
	{"unknown etcd flag", CLUSTER "  etcd:\n    snapshot_count: 5\n", -EINVAL, "line 7: unknown key cluster.etcd.snapshot_count"},
	{"cert without key", CLUSTER "  tls:\n    cert_file: /c.pem\n", -EINVAL,
	 "line 7: cluster.tls.cert_file and cluster.tls.key_file go together"},
	{"key without cert", CLUSTER "  tls: {key_file: /k.pem, ca_file: /ca.pem}\n", -EINVAL, "go together"},
	{"unknown tls key", CLUSTER "  tls: {ca: /ca.pem}\n", -EINVAL, "unknown key cluster.tls.ca"},
	{"user without password_file", CLUSTER "  auth:\n    user: root\n", -EINVAL,
	 "line 7: missing required key cluster.auth.password_file"},
	{"password_file without user", CLUSTER "  auth: {password_file: /p}\n", -EINVAL, "missing required key cluster.auth.user"},
	{"inline password", CLUSTER "  auth: {user: root, password: hunter2}\n", -EINVAL, "unknown key cluster.auth.password"},
	/* store */
	{"store.url a list", CLUSTER "store:\n  url: [a]\n", -EINVAL, "line 7: store.url must be a string, not a list"},
	{"unknown store key", CLUSTER "store:\n  bucket: b\n", -EINVAL, "line 7: unknown key store.bucket"},
	{"unknown s3 key", CLUSTER "store:\n  s3:\n    bucket: b\n", -EINVAL, "line 8: unknown key store.s3.bucket"},
	{"path_style yes", CLUSTER "store:\n  s3: {path_style: yes}\n", -EINVAL, "store.s3.path_style must be true or false, not 'yes'"},
	{"path_style a list", CLUSTER "store:\n  s3: {path_style: [true]}\n", -EINVAL, "store.s3.path_style must be true or false, not a list"},
	{"timeout zero", CLUSTER "store:\n  s3: {timeout_s: 0}\n", -EINVAL, "store.s3.timeout_s must be between 1 and 86400"},
	{"parts in flight zero", CLUSTER "store:\n  s3: {parts_in_flight: 0}\n", -EINVAL, "store.s3.parts_in_flight must be between 1 and 8"},
	{"parts in flight too many", CLUSTER "store:\n  s3: {parts_in_flight: 9}\n", -EINVAL, "store.s3.parts_in_flight must be between 1 and 8"},
	{"sse unknown", CLUSTER "store:\n  s3: {sse: aes256}\n", -EINVAL, "line 7: store.s3.sse must be AES256 or aws:kms"},
	{"sse a list", CLUSTER "store:\n  s3: {sse: [AES256]}\n", -EINVAL, "store.s3.sse must be a string, not a list"},
	{"kms key without sse", CLUSTER "store:\n  s3: {kms_key_id: k1}\n", -EINVAL,
	 "line 7: store.s3.kms_key_id goes only with store.s3.sse: aws:kms"},
	{"kms key with AES256", CLUSTER "store:\n  s3:\n    sse: AES256\n    kms_key_id: k1\n", -EINVAL,
	 "line 9: store.s3.kms_key_id goes only with store.s3.sse: aws:kms"},
	{"kms key empty", CLUSTER "store:\n  s3: {sse: aws:kms, kms_key_id: \"\"}\n", -EINVAL, "store.s3.kms_key_id is an empty string"},
	{"key id twice", CLUSTER "store:\n  s3: {access_key_id: AK, access_key_id_file: /f}\n", -EINVAL,
	 "access_key_id and store.s3.access_key_id_file exclude each other"},
	{"secret twice", CLUSTER "store:\n  s3: {secret_access_key: SK, secret_access_key_file: /f}\n", -EINVAL,
	 "secret_access_key and store.s3.secret_access_key_file exclude each other"},
	/* snapshot */
	{"source unknown member", CLUSTER "snapshot:\n  source: e9\n", -EINVAL,
	 "line 7: snapshot.source must be follower, leader or a member named in cluster.members, not 'e9'"},
	{"compression 0", CLUSTER "snapshot: {compression_level: 0}\n", -EINVAL, "snapshot.compression_level must be between 1 and 19, not 0"},
	{"compression 20", CLUSTER "snapshot: {compression_level: 20}\n", -EINVAL, "between 1 and 19, not 20"},
	{"retention negative", CLUSTER "snapshot:\n  retention:\n    keep_daily: -1\n", -EINVAL,
	 "line 8: snapshot.retention.keep_daily must be between 0 and 1000000, not -1"},
	{"retention unknown", CLUSTER "snapshot:\n  retention: {keep_yearly: 1}\n", -EINVAL, "unknown key snapshot.retention.keep_yearly"},
	{"retention a list", CLUSTER "snapshot:\n  retention: [1, 2]\n", -EINVAL, "snapshot.retention must be a mapping"},
	{"keep_tagged no", CLUSTER "snapshot:\n  retention:\n    keep_tagged: no\n", -EINVAL,
	 "line 8: snapshot.retention.keep_tagged must be true or false, not 'no'"},
	/* cluster.etcd.extra_args */
	{"extra_args a string", CLUSTER "  etcd: {extra_args: --auth-token-ttl=5}\n", -EINVAL,
	 "cluster.etcd.extra_args must be a list of etcd flags"},
	{"extra_args not a flag", CLUSTER "  etcd: {extra_args: [auth-token-ttl=5]}\n", -EINVAL,
	 "cluster.etcd.extra_args[0] is 'auth-token-ttl=5'; etcd flags start with --"},
	{"extra_args owned flag", CLUSTER "  etcd: {extra_args: [--log-level=warn, --data-dir=/x]}\n", -EINVAL,
	 "cluster.etcd.extra_args[1] sets --data-dir, which regvault sets"},
	{"extra_args a mapping item", CLUSTER "  etcd: {extra_args: [{a: b}]}\n", -EINVAL,
	 "cluster.etcd.extra_args[0] must be a string"},
	/* maint, state_dir */
	{"disarm zero", CLUSTER "maint: {disarm_threshold: 0}\n", -EINVAL, "maint.disarm_threshold must be more than 0 and at most 1, not 0"},
	{"disarm 1.5", CLUSTER "maint: {disarm_threshold: 1.5}\n", -EINVAL, "at most 1, not 1.5"},
	{"disarm abc", CLUSTER "maint: {disarm_threshold: abc}\n", -EINVAL, "maint.disarm_threshold must be a number, not 'abc'"},
	{"keep revisions negative", CLUSTER "maint: {compact_keep_revisions: -1}\n", -EINVAL,
	 "maint.compact_keep_revisions must be at least 0, not -1"},
	{"unknown maint key", CLUSTER "maint:\n  defrag: always\n", -EINVAL, "line 7: unknown key maint.defrag"},
	{"defrag rule that does not parse", CLUSTER "maint:\n  compact_keep_revisions: 10\n  defrag_rule: \"dbQuotaUsage >> 1\"\n", -EINVAL,
	 "config t.yaml line 8: maint.defrag_rule is not a valid rule: the defrag rule \"dbQuotaUsage >> 1\" does not parse at position 15"},
	{"defrag rule with an unknown unit", CLUSTER "maint: {defrag_rule: dbSizeFree > 200XB}\n", -EINVAL,
	 "line 6: maint.defrag_rule is not a valid rule: the defrag rule \"dbSizeFree > 200XB\" does not parse at position 17: unknown unit 'XB'"},
	{"defrag rule a number", CLUSTER "maint:\n  defrag_rule: dbSizeFree\n", -EINVAL,
	 "line 7: maint.defrag_rule is not a valid rule: the defrag rule \"dbSizeFree\" does not parse at position 1: the rule is a number, not a condition"},
	{"state_dir a mapping", CLUSTER "state_dir: {a: b}\n", -EINVAL, "line 6: state_dir must be a string, not a mapping"},
};

TEST(config_bad_input)
{
	for (size_t i = 0; i < RV_ARRAY_LEN(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct rv_config cfg;
		rv_err_clear();
		int r = config_parse(c->yaml, strlen(c->yaml), "t.yaml", &cfg);
		if (r != c->rc) {
			unit_failed(__FILE__, __LINE__, "case '%s': rc %d, expected %d (%s)", c->what, r, c->rc,
				    rv_errmsg(r));
			if (r == 0)
				config_free(&cfg);
			return;
		}
		if (!strstr(rv_errmsg(r), c->msg)) {
			unit_failed(__FILE__, __LINE__, "case '%s': message \"%s\" does not contain \"%s\"", c->what,
				    rv_errmsg(r), c->msg);
			return;
		}
		CHECK(cfg.cluster.members == NULL && cfg.path == NULL); /* freed and zeroed */
	}
}

/* A rule's sizes are written as the file's other sizes are. */
TEST(config_defrag_rule_takes_the_size_units_of_the_file)
{
	static const char y[] = CLUSTER "  etcd: {quota_backend_bytes: 200MB}\n"
				"maint: {defrag_rule: \"dbSizeFree > 200MB || dbSize > 1.5GiB\"}\n";
	struct rv_config cfg;
	int r = config_parse(y, strlen(y), "t.yaml", &cfg);
	if (r < 0)
		unit_failed(__FILE__, __LINE__, "%s", rv_errmsg(r));
	CHECK_INT(r, 0);
	if (r < 0)
		return;
	CHECK_INT(cfg.cluster.etcd.quota_backend_bytes, 200000000);
	CHECK_STR(cfg.maint.defrag_rule, "dbSizeFree > 200MB || dbSize > 1.5GiB");
	config_free(&cfg);
}

TEST(config_etcd_extra_args)
{
	static const char y[] = CLUSTER "  etcd:\n    extra_args: [\"--auth-token-ttl=5\", --log-level=warn]\n";
	struct rv_config cfg;
	int r = config_parse(y, strlen(y), "t.yaml", &cfg);
	CHECK_INT(r, 0);
	CHECK_INT(cfg.cluster.etcd.n_extra_args, 2);
	CHECK_STR(cfg.cluster.etcd.extra_args[0], "--auth-token-ttl=5");
	CHECK_STR(cfg.cluster.etcd.extra_args[1], "--log-level=warn");
	config_free(&cfg);
}

TEST(config_minimal_defaults)
{
	static const char y[] = CLUSTER;
	struct rv_config c;
	CHECK_INT(config_parse(y, strlen(y), "t.yaml", &c), 0);
	CHECK_STR(c.path, "t.yaml");
	CHECK_STR(c.cluster.name, "reg");
	CHECK_STR(c.cluster.token, "reg-cluster");
	CHECK_INT(c.cluster.n_members, 2);
	CHECK_STR(c.cluster.members[1].name, "e2");
	CHECK_STR(c.cluster.members[1].client_url, "http://127.0.0.1:3");
	CHECK_STR(c.cluster.members[1].peer_url, "http://127.0.0.1:4");
	CHECK_STR(c.cluster.members[1].data_dir, "/d/e2");
	CHECK_INT(c.cluster.members[0].control, MEMBER_CONTROL_LOCAL);
	CHECK(c.cluster.members[0].unit == NULL);
	CHECK_INT(c.cluster.etcd.heartbeat_interval_ms, 100);
	CHECK_INT(c.cluster.etcd.election_timeout_ms, 1000);
	CHECK_INT(c.cluster.etcd.quota_backend_bytes, 8589934592LL);
	CHECK_STR(c.cluster.etcd.auto_compaction_retention, "1h");
	CHECK_STR(c.cluster.etcd.binary, "etcd");
	CHECK(!c.cluster.tls.ca_file && !c.cluster.tls.cert_file && !c.cluster.tls.key_file);
	CHECK(!c.cluster.user && !c.cluster.password);
	CHECK(c.store.url == NULL);
	CHECK(!c.store.s3.endpoint && !c.store.s3.access_key_id && !c.store.s3.secret_access_key);
	CHECK_INT(c.store.s3.path_style, -1);
	CHECK_INT(c.store.s3.timeout_s, 300);
	CHECK_INT(c.snapshot.source, SNAP_SOURCE_FOLLOWER);
	CHECK(c.snapshot.source_member == NULL);
	CHECK_INT(c.snapshot.compression_level, 3);
	CHECK_INT(c.snapshot.retention.keep_last + c.snapshot.retention.keep_daily, 0);
	CHECK(c.snapshot.retention.keep_tagged);
	CHECK_INT(c.maint.compact_keep_revisions, 1000);
	CHECK_STR(c.maint.defrag_rule, "dbQuotaUsage > 0.8 || dbSizeFree > 200MiB");
	CHECK(c.maint.disarm_threshold > 0.899 && c.maint.disarm_threshold < 0.901);
	CHECK_STR(c.state_dir, "/var/lib/regvault");
	config_free(&c);
	CHECK(c.path == NULL);
	config_free(&c); /* twice is harmless */
}

TEST(config_every_key)
{
	static const char y[] =
		"# every key regvault knows\n"
		"cluster:\n"
		"  name: registry\n"
		"  token: registry-cluster-1\n"
		"  members:\n"
		"    - name: etcd1\n"
		"      client_url: https://10.0.0.1:2379\n"
		"      peer_url: https://10.0.0.1:2380\n"
		"      data_dir: data/etcd1\n"
		"    - name: etcd2\n"
		"      client_url: https://10.0.0.2:2379\n"
		"      peer_url: https://10.0.0.2:2380\n"
		"      data_dir: /var/lib/etcd2\n"
		"      control: systemd\n"
		"      unit: etcd@2.service\n"
		"  etcd:\n"
		"    heartbeat_interval_ms: 200\n"
		"    election_timeout_ms: 2000\n"
		"    quota_backend_bytes: 2GiB\n"
		"    auto_compaction_retention: \"30m\"\n"
		"    binary: /usr/bin/etcd\n"
		"  tls: {ca_file: ca.pem, cert_file: /c.pem, key_file: /k.pem}\n"
		"store:\n"
		"  url: s3://bucket/prefix\n"
		"  s3:\n"
		"    endpoint: http://127.0.0.1:7480\n"
		"    region: eu-central-1\n"
		"    access_key_id: AKID\n"
		"    secret_access_key: SECRET\n"
		"    session_token: TOKEN\n"
		"    path_style: true\n"
		"    ca_file: /s3-ca.pem\n"
		"    timeout_s: 60\n"
		"    parts_in_flight: 3\n"
		"    sse: aws:kms\n"
		"    kms_key_id: arn:aws:kms:eu-central-1:111122223333:key/k1\n"
		"snapshot:\n"
		"  source: etcd2\n"
		"  compression_level: 19\n"
		"  retention: {keep_last: 5, keep_hourly: 24, keep_daily: 7, keep_weekly: 4, keep_monthly: 12,\n"
		"              keep_tagged: false}\n"
		"maint:\n"
		"  compact_keep_revisions: 0\n"
		"  defrag_rule: \"dbSizeFree > 1GiB\"\n"
		"  disarm_threshold: 1\n"
		"state_dir: state\n";
	struct rv_config c;
	int r = config_parse(y, strlen(y), "full.yaml", &c);
	if (r < 0)
		unit_failed(__FILE__, __LINE__, "%s", rv_errmsg(r));
	CHECK_INT(r, 0);
	CHECK_STR(c.cluster.token, "registry-cluster-1");
	CHECK_STR(c.cluster.members[0].data_dir, "data/etcd1"); /* relative paths stay as written */
	CHECK_INT(c.cluster.members[1].control, MEMBER_CONTROL_SYSTEMD);
	CHECK_STR(c.cluster.members[1].unit, "etcd@2.service");
	CHECK_INT(c.cluster.etcd.heartbeat_interval_ms, 200);
	CHECK_INT(c.cluster.etcd.election_timeout_ms, 2000);
	CHECK_INT(c.cluster.etcd.quota_backend_bytes, 2147483648LL);
	CHECK_STR(c.cluster.etcd.auto_compaction_retention, "30m");
	CHECK_STR(c.cluster.etcd.binary, "/usr/bin/etcd");
	CHECK_STR(c.cluster.tls.ca_file, "ca.pem");
	CHECK_STR(c.cluster.tls.cert_file, "/c.pem");
	CHECK_STR(c.cluster.tls.key_file, "/k.pem");
	CHECK_STR(c.store.url, "s3://bucket/prefix");
	CHECK_STR(c.store.s3.endpoint, "http://127.0.0.1:7480");
	CHECK_STR(c.store.s3.region, "eu-central-1");
	CHECK_STR(c.store.s3.access_key_id, "AKID");
	CHECK_STR(c.store.s3.secret_access_key, "SECRET"); /* from memory: no file mode to refuse */
	CHECK_STR(c.store.s3.session_token, "TOKEN");
	CHECK_INT(c.store.s3.path_style, 1);
	CHECK_STR(c.store.s3.ca_file, "/s3-ca.pem");
	CHECK_INT(c.store.s3.timeout_s, 60);
	CHECK_INT(c.store.s3.parts_in_flight, 3);
	CHECK_STR(c.store.s3.sse, "aws:kms");
	CHECK_STR(c.store.s3.kms_key_id, "arn:aws:kms:eu-central-1:111122223333:key/k1");
	CHECK_INT(c.snapshot.source, SNAP_SOURCE_MEMBER);
	CHECK_STR(c.snapshot.source_member, "etcd2");
	CHECK_INT(c.snapshot.compression_level, 19);
	CHECK_INT(c.snapshot.retention.keep_last, 5);
	CHECK_INT(c.snapshot.retention.keep_hourly, 24);
	CHECK_INT(c.snapshot.retention.keep_daily, 7);
	CHECK_INT(c.snapshot.retention.keep_weekly, 4);
	CHECK_INT(c.snapshot.retention.keep_monthly, 12);
	CHECK(!c.snapshot.retention.keep_tagged);
	CHECK_INT(c.maint.compact_keep_revisions, 0);
	CHECK_STR(c.maint.defrag_rule, "dbSizeFree > 1GiB");
	CHECK(c.maint.disarm_threshold == 1.0);
	CHECK_STR(c.state_dir, "state");
	config_free(&c);
}

TEST(config_small_variants)
{
	static const struct {
		const char *yaml;
		int source, path_style;
		int64_t quota;
	} cases[] = {
		{CLUSTER "snapshot: {source: leader}\n", SNAP_SOURCE_LEADER, -1, 8589934592LL},
		{CLUSTER "snapshot: {source: follower}\n", SNAP_SOURCE_FOLLOWER, -1, 8589934592LL},
		{CLUSTER "store:\n  s3: {path_style: false}\n", SNAP_SOURCE_FOLLOWER, 0, 8589934592LL},
		{CLUSTER "  etcd: {quota_backend_bytes: 1048576}\n", SNAP_SOURCE_FOLLOWER, -1, 1048576},
		{CLUSTER "  etcd: {quota_backend_bytes: \"8 GiB\"}\n", SNAP_SOURCE_FOLLOWER, -1, 8589934592LL},
		/* empty sections are fine */
		{CLUSTER "  etcd:\n  tls:\nstore:\nsnapshot: {}\nmaint: ~\n", SNAP_SOURCE_FOLLOWER, -1, 8589934592LL},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		struct rv_config c;
		int r = config_parse(cases[i].yaml, strlen(cases[i].yaml), "t.yaml", &c);
		if (r < 0) {
			unit_failed(__FILE__, __LINE__, "case %zu: %s", i, rv_errmsg(r));
			return;
		}
		int src = c.snapshot.source, ps = c.store.s3.path_style;
		int64_t q = c.cluster.etcd.quota_backend_bytes;
		config_free(&c);
		CHECK_INT(src, cases[i].source);
		CHECK_INT(ps, cases[i].path_style);
		CHECK_INT(q, cases[i].quota);
	}
}

/* ---- files: resolution and secrets ---- */

static char tmpdir[64];

static bool make_tmpdir(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/rv-config-test-XXXXXX");
	return mkdtemp(tmpdir) != NULL;
}

static void remove_tmpdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* Write tmpdir/name with mode; the path into buf. */
static const char *write_tmp(const char *name, const char *text, mode_t mode, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	int fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || rv_write_all(fd, text, strlen(text)) < 0 || fchmod(fd, mode) < 0)
		abort();
	close(fd);
	return buf;
}

TEST(config_load_resolution)
{
	struct rv_config c;
	char cfgpath[128];
	int r;
	CHECK(make_tmpdir());
	write_tmp("good.yaml", CLUSTER, 0644, cfgpath, sizeof cfgpath);

	/* missing file named with --config */
	r = config_load("/nonexistent/regvault.yaml", &c);
	CHECK_INT(r, -ENOENT);
	CHECK_CONTAINS(rv_errmsg(r), "cannot read config /nonexistent/regvault.yaml (given with --config): No such file");

	/* $REGVAULT_CONFIG when no path is given */
	setenv("REGVAULT_CONFIG", "/nonexistent/env.yaml", 1);
	r = config_load(NULL, &c);
	CHECK_INT(r, -ENOENT);
	CHECK_CONTAINS(rv_errmsg(r), "/nonexistent/env.yaml (from $REGVAULT_CONFIG)");
	setenv("REGVAULT_CONFIG", cfgpath, 1);
	r = config_load(NULL, &c);
	CHECK_INT(r, 0);
	CHECK_STR(c.path, cfgpath);
	config_free(&c);
	/* a path wins over the environment */
	setenv("REGVAULT_CONFIG", "/nonexistent/env.yaml", 1);
	r = config_load(cfgpath, &c);
	CHECK_INT(r, 0);
	config_free(&c);
	unsetenv("REGVAULT_CONFIG");

	/* the default, when it is not there on this machine */
	if (!rv_path_exists(RV_DEFAULT_CONFIG)) {
		r = config_load(NULL, &c);
		CHECK(r < 0);
		CHECK_CONTAINS(rv_errmsg(r), RV_DEFAULT_CONFIG " (the default; give another with --config or $REGVAULT_CONFIG)");
	}

	/* a directory is not a config */
	r = config_load(tmpdir, &c);
	CHECK(r < 0);
	CHECK_CONTAINS(rv_errmsg(r), "cannot read config");

	/* messages from a file name it */
	char bad[128];
	write_tmp("bad.yaml", CLUSTER "  members2: []\n", 0600, bad, sizeof bad);
	r = config_load(bad, &c);
	CHECK_INT(r, -EINVAL);
	CHECK_CONTAINS(rv_errmsg(r), "config ");
	CHECK_CONTAINS(rv_errmsg(r), "bad.yaml line 6: unknown key cluster.members2");
	remove_tmpdir();
}

TEST(config_password_file)
{
	struct rv_config c;
	char pw[128], cfgpath[128], y[512];
	int r;
	CHECK(make_tmpdir());
	write_tmp("pw", "s3cr3t-pass\n", 0600, pw, sizeof pw);
	snprintf(y, sizeof y, CLUSTER "  auth:\n    user: root\n    password_file: %s\n", pw);
	write_tmp("c.yaml", y, 0644, cfgpath, sizeof cfgpath);
	r = config_load(cfgpath, &c);
	CHECK_INT(r, 0);
	CHECK_STR(c.cluster.user, "root");
	CHECK_STR(c.cluster.password, "s3cr3t-pass"); /* newline stripped */
	config_free(&c);

	/* group-readable is fine; other-readable is refused */
	chmod(pw, 0640);
	r = config_load(cfgpath, &c);
	CHECK_INT(r, 0);
	config_free(&c);
	chmod(pw, 0644);
	r = config_load(cfgpath, &c);
	CHECK_INT(r, -EPERM);
	CHECK_CONTAINS(rv_errmsg(r), "line 8 (cluster.auth.password_file)");
	CHECK_CONTAINS(rv_errmsg(r), "readable by other users");
	CHECK_CONTAINS(rv_errmsg(r), "chmod 600");
	CHECK(!strstr(rv_errmsg(r), "s3cr3t"));
	CHECK(c.cluster.password == NULL);

	/* an empty one is refused */
	write_tmp("pw", "\n", 0600, pw, sizeof pw);
	r = config_load(cfgpath, &c);
	CHECK_INT(r, -EINVAL);
	CHECK_CONTAINS(rv_errmsg(r), "line 8 (cluster.auth.password_file): password file ");
	CHECK_CONTAINS(rv_errmsg(r), "/pw is empty");

	/* a missing password file names it */
	snprintf(y, sizeof y, CLUSTER "  auth: {user: root, password_file: %s/nope}\n", tmpdir);
	r = config_parse(y, strlen(y), "t.yaml", &c);
	CHECK_INT(r, -ENOENT);
	CHECK_CONTAINS(rv_errmsg(r), "cannot read password file");
	CHECK_CONTAINS(rv_errmsg(r), "/nope");
	remove_tmpdir();
}

TEST(config_s3_secrets)
{
	struct rv_config c;
	char sk[128], ak[128], cfgpath[128], y[768];
	int r;
	CHECK(make_tmpdir());
	write_tmp("sk", "SECRETKEY\n", 0600, sk, sizeof sk);
	write_tmp("ak", "AKIDFROMFILE\n", 0644, ak, sizeof ak);
	snprintf(y, sizeof y, CLUSTER "store:\n  url: s3://b/p\n  s3:\n    access_key_id_file: %s\n"
				      "    secret_access_key_file: %s\n", ak, sk);
	write_tmp("c.yaml", y, 0644, cfgpath, sizeof cfgpath);
	r = config_load(cfgpath, &c);
	if (r < 0)
		unit_failed(__FILE__, __LINE__, "%s", rv_errmsg(r));
	CHECK_INT(r, 0);
	CHECK_STR(c.store.s3.access_key_id, "AKIDFROMFILE"); /* not secret: any mode */
	CHECK_STR(c.store.s3.secret_access_key, "SECRETKEY");
	config_free(&c);

	chmod(sk, 0604);
	r = config_load(cfgpath, &c);
	CHECK_INT(r, -EPERM);
	CHECK_CONTAINS(rv_errmsg(r), "(store.s3.secret_access_key_file)");
	CHECK_CONTAINS(rv_errmsg(r), "readable by other users");
	CHECK(!strstr(rv_errmsg(r), "SECRETKEY"));

	/* an inline secret only in a file others cannot read */
	snprintf(y, sizeof y, CLUSTER "store:\n  s3:\n    secret_access_key: INLINESECRET\n");
	write_tmp("inline.yaml", y, 0644, cfgpath, sizeof cfgpath);
	r = config_load(cfgpath, &c);
	CHECK_INT(r, -EINVAL);
	CHECK_CONTAINS(rv_errmsg(r), "line 8: store.s3.secret_access_key is written inline but this file is readable by other users");
	CHECK(!strstr(rv_errmsg(r), "INLINESECRET"));
	chmod(cfgpath, 0640);
	r = config_load(cfgpath, &c);
	CHECK_INT(r, 0);
	CHECK_STR(c.store.s3.secret_access_key, "INLINESECRET");
	config_free(&c);
	remove_tmpdir();
}

TEST(config_store_encryption)
{
	static const char y[] = CLUSTER "store:\n  url: /b\n  encryption:\n"
				"    recipients: [age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj]\n"
				"    recipients_file: /etc/regvault/recipients\n    identity_file: /etc/regvault/id\n";
	static const char both[] = CLUSTER "store:\n  url: /b\n  encryption:\n"
				   "    recipients: [age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj]\n"
				   "    passphrase_file: /etc/regvault/pass\n";
	static const char notkey[] = CLUSTER "store:\n  url: /b\n  encryption:\n    recipients: [ssh-ed25519 AAAA]\n";
	struct rv_config cfg;
	int r = config_parse(y, strlen(y), "t.yaml", &cfg);
	CHECK_INT(r, 0);
	CHECK_INT(cfg.store.enc.n_recipients, 1);
	CHECK_STR(cfg.store.enc.recipients_file, "/etc/regvault/recipients");
	CHECK_STR(cfg.store.enc.identity_file, "/etc/regvault/id");
	config_free(&cfg);
	CHECK_INT(config_parse(both, strlen(both), "t.yaml", &cfg), -EINVAL);
	CHECK_CONTAINS(rv_errmsg(-EINVAL), "passphrase_file goes alone");
	CHECK_INT(config_parse(notkey, strlen(notkey), "t.yaml", &cfg), -EINVAL);
	CHECK_CONTAINS(rv_errmsg(-EINVAL), "starts with age1");
	rv_err_clear();
	/* continuous backup encrypts segments for recipients; a passphrase is refused */
	static const char cont_rcp[] = CLUSTER "store:\n  url: /b\n  encryption:\n"
				       "    recipients: [age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj]\n"
				       "daemon:\n  continuous:\n    enabled: true\n";
	static const char cont_pass[] = CLUSTER "store:\n  url: /b\n  encryption:\n"
					"    passphrase_file: /etc/regvault/pass\n"
					"daemon:\n  continuous:\n    enabled: true\n";
	CHECK_INT(config_parse(cont_rcp, strlen(cont_rcp), "t.yaml", &cfg), 0);
	config_free(&cfg);
	CHECK_INT(config_parse(cont_pass, strlen(cont_pass), "t.yaml", &cfg), -EINVAL);
	CHECK_CONTAINS(rv_errmsg(-EINVAL), "does not run with store.encryption.passphrase_file");
	rv_err_clear();
}
