/* Unit tests for the JSON of a restore across hosts (scheduler/report_restore.c): every
 * key of a hosts[] row operators' scripts read is still there, and how each host got
 * the artifact (artifact_source, artifact_bytes, artifact_seconds) is added. */
#include <jansson.h>
#include <string.h>

#include "scheduler/scheduler.h"
#include "tests/unit/unit.h"

TEST(report_hosts_say_how_each_host_got_the_artifact)
{
	static struct agent_restore_report rep;
	memset(&rep, 0, sizeof rep);
	rep.n_hosts = 2;
	snprintf(rep.hosts[0].member, sizeof rep.hosts[0].member, "etcd1");
	snprintf(rep.hosts[0].agent, sizeof rep.hosts[0].agent, "10.0.0.1:9480");
	snprintf(rep.hosts[0].phase, sizeof rep.hosts[0].phase, "done");
	snprintf(rep.hosts[0].artifact_source, sizeof rep.hosts[0].artifact_source, "store");
	rep.hosts[0].artifact_bytes = 20512;
	rep.hosts[0].artifact_seconds = 0.25;
	snprintf(rep.hosts[1].member, sizeof rep.hosts[1].member, "etcd2");
	snprintf(rep.hosts[1].error, sizeof rep.hosts[1].error, "host 10.0.0.2 does not answer");
	json_t *j = report_agent_restore_json(&rep, 0, false);
	json_t *hs = json_object_get(j, "hosts");
	CHECK_INT((long)json_array_size(hs), 2);
	static const char *const keys[] = {"member", "agent", "phase", "old_data_dir", "error",
					   "artifact_source", "artifact_bytes", "artifact_seconds"};
	for (size_t i = 0; i < 2; i++)
		for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
			CHECK(json_object_get(json_array_get(hs, i), keys[k]) != NULL);
	json_t *h0 = json_array_get(hs, 0), *h1 = json_array_get(hs, 1);
	CHECK_STR(json_string_value(json_object_get(h0, "artifact_source")), "store");
	CHECK_INT((long)json_integer_value(json_object_get(h0, "artifact_bytes")), 20512);
	CHECK(json_real_value(json_object_get(h0, "artifact_seconds")) == 0.25);
	CHECK(json_is_null(json_object_get(h1, "artifact_source")));
	CHECK(json_is_null(json_object_get(h1, "artifact_bytes")));
	CHECK(json_is_null(json_object_get(h1, "artifact_seconds")));
	CHECK_STR(json_string_value(json_object_get(h1, "error")), "host 10.0.0.2 does not answer");
	json_decref(j);
}
