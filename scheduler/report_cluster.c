/* report_cluster.c - the reports of the cluster commands as JSON: status (one object
 * per member, from registry's rows), up and down. */
#include <string.h>

#include "scheduler/scheduler.h"

json_t *report_cluster_status_json(const struct member_row *rows, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct member_row *row = &rows[i];
		const struct etcd_member_health *h = &row->h;
		json_t *o = json_object();
		json_t *alarms = json_array();
		char id[24];
		json_object_set_new(o, "name", json_string(row->name));
		json_object_set_new(o, "endpoint", json_string(row->endpoint));
		if (h->reachable) {
			snprintf(id, sizeof id, ETCD_ID_FMT, h->status.hdr.member_id);
			json_object_set_new(o, "id", json_string(id));
			json_object_set_new(o, "version", json_string(h->status.version));
			json_object_set_new(o, "db_size", json_integer(h->status.db_size));
			json_object_set_new(o, "db_size_in_use", json_integer(h->status.db_size_in_use));
			snprintf(id, sizeof id, ETCD_ID_FMT, h->status.leader);
			json_object_set_new(o, "leader", json_string(id));
		} else {
			json_object_set_new(o, "id", json_null());
			json_object_set_new(o, "version", json_null());
			json_object_set_new(o, "db_size", json_null());
			json_object_set_new(o, "db_size_in_use", json_null());
			json_object_set_new(o, "leader", json_null());
		}
		json_object_set_new(o, "is_leader", json_boolean(row->is_leader));
		json_object_set_new(o, "raft_term", h->reachable ? json_integer((json_int_t)h->status.raft_term) : json_null());
		json_object_set_new(o, "raft_index",
				    h->reachable ? json_integer((json_int_t)h->status.raft_index) : json_null());
		/* alarms: "NOSPACE,CORRUPT" -> ["NOSPACE", "CORRUPT"] */
		for (const char *p = h->alarms; *p;) {
			size_t len = strcspn(p, ",");
			if (len)
				json_array_append_new(alarms, json_stringn(p, len));
			p += len;
			if (*p == ',')
				p++;
		}
		json_object_set_new(o, "alarms", alarms);
		json_object_set_new(o, "reachable", json_boolean(h->reachable));
		json_object_set_new(o, "healthy", json_boolean(h->healthy));
		if (!h->healthy)
			json_object_set_new(o, "error", json_string(h->reason[0] ? h->reason : "not healthy"));
		json_array_append_new(arr, o);
	}
	return arr;
}

json_t *report_cluster_up_json(const struct cluster_spec *cs, const bool *was_running, const pid_t *pids)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < cs->n_members; i++) {
		const struct member_spec *m = &cs->members[i];
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:b}", "name", m->name, "endpoint", m->client_url,
						     "pid", (json_int_t)pids[i], "started", !was_running[i]));
	}
	return json_pack("{s:s, s:o, s:b}", "cluster", cs->name ? cs->name : "", "members", arr, "healthy", 1);
}

json_t *report_cluster_down_json(const struct cluster_spec *cs, const pid_t *pids_before, const pid_t *pids_now)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < cs->n_members; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:b}", "name", cs->members[i].name, "state",
						     pids_now[i] > 0 ? "running" : "stopped", "pid",
						     (json_int_t)pids_before[i], "was_running", pids_before[i] > 0));
	return arr;
}

json_t *report_agent_host_json(const struct member_spec *m, const struct agent_host_row *row)
{
	if (!row || !row->asked)
		return NULL;
	json_t *o = json_object();
	json_object_set_new(o, "address", json_string(m->agent));
	json_object_set_new(o, "reachable", json_boolean(row->err == 0));
	json_object_set_new(o, "error", row->err ? json_string(row->error) : json_null());
	if (row->err == 0) {
		const struct agent_host_status *s = &row->st;
		json_object_set_new(o, "hostname", json_string(s->hostname));
		json_object_set_new(o, "agent_pid", json_integer(s->agent_pid));
		json_object_set_new(o, "running", json_boolean(s->running));
		json_object_set_new(o, "pid", s->running ? json_integer(s->pid) : json_null());
		json_object_set_new(o, "data_dir", json_string(s->data_dir));
		json_object_set_new(o, "disk_free_bytes", s->disk_error[0] ? json_null() : json_integer((json_int_t)s->disk_free_bytes));
		json_object_set_new(o, "etcd_answered", json_boolean(s->etcd_answered));
	}
	return o;
}
