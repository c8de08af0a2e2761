/* Unit tests for the agent: section and cluster.members[].agent (scheduler/config_agent.c). */
#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "scheduler/scheduler.h"
#include "tests/unit/unit.h"

/* Five lines; what follows starts on line 6. */
#define CLUSTER_A                                                                                \
	"cluster:\n"                                                                             \
	"  name: reg\n"                                                                          \
	"  members:\n"                                                                           \
	"    - {name: e1, client_url: http://10.0.0.1:2379, peer_url: http://10.0.0.1:2380, data_dir: /d/e1, agent: 10.0.0.1:9480}\n" \
	"    - {name: e2, client_url: http://10.0.0.2:2379, peer_url: http://10.0.0.2:2380, data_dir: /d/e2}\n"

static const struct {
	const char *what, *yaml, *msg;
} bad_cases[] = {
	{"member agent without the section", CLUSTER_A,
	 "line 4: cluster.members[0].agent needs an agent: section with ca_file, cert_file and key_file"},
	{"member agent without a port",
	 "cluster:\n  members:\n    - {name: e1, client_url: http://a:1, peer_url: http://a:2, data_dir: /d, agent: a}\n",
	 "line 3: cluster.members[0].agent must be host:port like 10.0.0.1:9480, not 'a'"},
	{"port out of range", CLUSTER_A "agent:\n  insecure: true\n  listen: :70000\n",
	 "line 8: agent.listen must be host:port like :9480 or 10.0.0.1:9480, not ':70000'"},
	{"missing key file", CLUSTER_A "agent:\n  ca_file: /ca\n  cert_file: /c\n",
	 "line 7: missing required key agent.key_file"},
	{"insecure with files", CLUSTER_A "agent:\n  insecure: true\n  cert_file: /c\n",
	 "agent.insecure: true and agent.ca_file, cert_file, key_file exclude each other"},
	{"unknown key", CLUSTER_A "agent:\n  port: 9480\n", "line 7: unknown key agent.port"},
	{"timeout too short", CLUSTER_A "agent:\n  insecure: true\n  timeout: 10ms\n", "agent.timeout must be between"},
};

TEST(config_agent_bad_input)
{
	for (size_t i = 0; i < RV_ARRAY_LEN(bad_cases); i++) {
		struct rv_config cfg;
		int r = config_parse(bad_cases[i].yaml, strlen(bad_cases[i].yaml), "t.yaml", &cfg);
		CHECK_INT(r, -EINVAL);
		const char *m = rv_errmsg(r);
		if (!strstr(m, bad_cases[i].msg))
			fprintf(stderr, "  %s: got '%s'\n", bad_cases[i].what, m);
		CHECK(strstr(m, bad_cases[i].msg) != NULL);
		rv_err_clear();
	}
}

TEST(config_agent_good)
{
	const char *y = CLUSTER_A "agent:\n  insecure: true\n  listen: :9490\n  timeout: 2s\n";
	struct rv_config c;
	CHECK_INT(config_parse(y, strlen(y), "t.yaml", &c), 0);
	CHECK(c.agent.configured && c.agent.insecure);
	CHECK_STR(c.agent.listen, ":9490");
	CHECK_INT(c.agent.timeout_ms, 2000);
	CHECK_STR(c.cluster.members[0].agent, "10.0.0.1:9480");
	CHECK(c.cluster.members[1].agent == NULL);
	CHECK(config_uses_agents(&c));
	CHECK(config_member_here(&c, 1)); /* no agent: this host */
	config_free(&c);

	const char *plain = "cluster:\n  name: reg\n  members:\n    - {name: e1, client_url: http://a:1, peer_url: http://a:2, data_dir: /d}\n";
	int pr = config_parse(plain, strlen(plain), "t.yaml", &c);
	if (pr < 0)
		fprintf(stderr, "  %s\n", rv_errmsg(pr));
	CHECK_INT(pr, 0);
	CHECK(!c.agent.configured && !config_uses_agents(&c));
	CHECK_INT(c.agent.timeout_ms, 5000);
	config_free(&c);
}

/* Which member is this host's: daemon.member; else the first without an agent:
 * (no address lookup: the daemon's sandbox may not allow one); else the first whose
 * client URL this host can bind. */
TEST(config_own_member)
{
	char own[64];
	struct rv_config c;
	const char *y = CLUSTER_A "agent:\n  insecure: true\n";
	CHECK_INT(config_parse(y, strlen(y), "t.yaml", &c), 0);
	CHECK_INT(config_own_member(&c, own, sizeof own), 0);
	CHECK_STR(own, "e2");
	config_free(&c);

	const char *all = "cluster:\n  name: reg\n  members:\n"
			  "    - {name: e1, client_url: http://192.0.2.1:2379, peer_url: http://192.0.2.1:2380, data_dir: /d/1, agent: 192.0.2.1:9480}\n"
			  "    - {name: e2, client_url: http://127.0.0.1:2379, peer_url: http://127.0.0.1:2380, data_dir: /d/2, agent: 127.0.0.1:9480}\n"
			  "agent:\n  insecure: true\n";
	CHECK_INT(config_parse(all, strlen(all), "t.yaml", &c), 0);
	CHECK_INT(config_own_member(&c, own, sizeof own), 0);
	CHECK_STR(own, "e2"); /* 192.0.2.1 (TEST-NET-1) is nobody's address here */
	config_free(&c);

	const char *none = "cluster:\n  name: reg\n  members:\n"
			   "    - {name: e1, client_url: http://192.0.2.1:2379, peer_url: http://192.0.2.1:2380, data_dir: /d/1, agent: 192.0.2.1:9480}\n"
			   "agent:\n  insecure: true\n";
	CHECK_INT(config_parse(none, strlen(none), "t.yaml", &c), 0);
	CHECK_INT(config_own_member(&c, own, sizeof own), -ENOENT);
	CHECK(strstr(rv_errmsg(-ENOENT), "set daemon.member") != NULL);
	rv_err_clear();
	config_free(&c);
}
